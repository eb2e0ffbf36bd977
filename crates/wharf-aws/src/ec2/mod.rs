//! The four EC2 reads the preflight makes (route tables, NAT gateways, VPC endpoints, security
//! groups) as SigV4-signed Query API requests over the SDK configuration's credentials, region
//! and endpoint ([`crate::wire`]). `aws-sdk-ec2` is not a dependency: its build alone takes
//! minutes on two cores, for four read-only calls.

mod xml;

use aws_config::SdkConfig;
use serde::Serialize;

use crate::error::{AwsError, ErrorKind};
use crate::wire::{Wire, EC2};
use xml::Page;

/// The Query API version every call names.
const VERSION: &str = "2016-11-15";

/// An EC2 client for the reads below.
#[derive(Debug, Clone)]
pub struct Ec2 {
    wire: Wire,
}

/// A route table and what it routes.
#[derive(Debug, Clone, Serialize)]
pub struct RouteTable {
    pub id: String,
    /// The VPC's main table (used by subnets with no explicit association).
    pub main: bool,
    pub subnets: Vec<String>,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// A CIDR block, or a prefix list (`pl-…`) for gateway endpoints.
    pub destination: String,
    /// `nat-…`, `igw-…`, `vpce-…`, `local`, …
    pub target: String,
    /// `active` or `blackhole` (its target is gone).
    pub state: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct NatGateway {
    pub id: String,
    pub state: String,
    pub subnet: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct VpcEndpoint {
    pub id: String,
    /// `com.amazonaws.REGION.ecr.dkr`, …
    pub service: String,
    /// `Interface` or `Gateway`.
    pub kind: String,
    /// `available`, `pending`, `deleted`, …
    pub state: String,
    pub route_tables: Vec<String>,
    pub subnets: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecurityGroup {
    pub id: String,
    pub ingress: Vec<Permission>,
    pub egress: Vec<Permission>,
}

/// One rule of a security group.
#[derive(Debug, Clone, Serialize)]
pub struct Permission {
    /// `tcp`, `udp`, `icmp` or `-1` (everything).
    pub protocol: String,
    pub from_port: Option<i64>,
    pub to_port: Option<i64>,
    pub groups: Vec<String>,
    pub cidrs: Vec<String>,
}

impl Permission {
    /// Whether this rule lets TCP on `port` through.
    pub fn allows_tcp(&self, port: u16) -> bool {
        match self.protocol.as_str() {
            "-1" => true,
            "tcp" | "6" => {
                let p = i64::from(port);
                self.from_port.is_none_or(|f| f <= p) && self.to_port.is_none_or(|t| p <= t)
            }
            _ => false,
        }
    }
}

impl Ec2 {
    /// A client for `config`'s region, credentials and endpoint (`AWS_ENDPOINT_URL_EC2`, then
    /// the configuration's endpoint override, then EC2's regional endpoint).
    pub fn new(config: &SdkConfig) -> Ec2 {
        Ec2 {
            wire: Wire::new(config, EC2),
        }
    }

    /// Every `item` of `set` across the pages of `action`.
    async fn paged<P: Page>(
        &self,
        action: &str,
        what: &str,
        params: &[(String, String)],
    ) -> Result<Vec<P::Item>, AwsError> {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        // A bound on pages, so a service answering the same token forever cannot hold us.
        for _ in 0..100 {
            let mut p = params.to_vec();
            if let Some(t) = &token {
                p.push(("NextToken".into(), t.clone()));
            }
            let text = self.wire.query(action, VERSION, what, &p).await?;
            let page: P = xml::read(&text).map_err(|e| {
                AwsError::new(
                    what,
                    ErrorKind::Other,
                    format!("an answer wharf cannot read ({e})"),
                )
            })?;
            let (more, next) = page.into_parts();
            items.extend(more);
            token = next;
            if token.is_none() {
                return Ok(items);
            }
        }
        Err(AwsError::new(
            what,
            ErrorKind::Other,
            format!("{action} kept answering another page after 100 pages"),
        ))
    }

    /// Every route table of `vpc`.
    pub async fn route_tables(&self, vpc: &str) -> Result<Vec<RouteTable>, AwsError> {
        let tables = self
            .paged::<xml::RouteTables>(
                "DescribeRouteTables",
                "list the route tables of the VPC (ec2:DescribeRouteTables)",
                &vpc_filter(vpc),
            )
            .await?;
        Ok(tables
            .into_iter()
            .map(|t| RouteTable {
                id: t.route_table_id,
                main: t.association_set.items.iter().any(|a| a.main == Some(true)),
                subnets: t
                    .association_set
                    .items
                    .into_iter()
                    .filter_map(|a| a.subnet_id)
                    .filter(|s| !s.is_empty())
                    .collect(),
                routes: t
                    .route_set
                    .items
                    .into_iter()
                    .map(|r| Route {
                        destination: first_of([
                            r.destination_cidr_block,
                            r.destination_ipv6_cidr_block,
                            r.destination_prefix_list_id,
                        ]),
                        target: first_of([
                            r.nat_gateway_id,
                            r.gateway_id,
                            r.transit_gateway_id,
                            r.instance_id,
                            r.network_interface_id,
                            r.vpc_peering_connection_id,
                        ]),
                        state: r.state,
                    })
                    .collect(),
            })
            .collect())
    }

    /// Every NAT gateway of `vpc`, in any state.
    pub async fn nat_gateways(&self, vpc: &str) -> Result<Vec<NatGateway>, AwsError> {
        let gateways = self
            .paged::<xml::NatGateways>(
                "DescribeNatGateways",
                "list the NAT gateways of the VPC (ec2:DescribeNatGateways)",
                &vpc_filter(vpc),
            )
            .await?;
        Ok(gateways
            .into_iter()
            .map(|n| NatGateway {
                id: n.nat_gateway_id,
                state: n.state,
                subnet: n.subnet_id,
            })
            .collect())
    }

    /// Every VPC endpoint of `vpc`.
    pub async fn vpc_endpoints(&self, vpc: &str) -> Result<Vec<VpcEndpoint>, AwsError> {
        let endpoints = self
            .paged::<xml::VpcEndpoints>(
                "DescribeVpcEndpoints",
                "list the VPC endpoints of the VPC (ec2:DescribeVpcEndpoints)",
                &vpc_filter(vpc),
            )
            .await?;
        Ok(endpoints
            .into_iter()
            .map(|e| VpcEndpoint {
                id: e.vpc_endpoint_id,
                service: e.service_name,
                kind: e.vpc_endpoint_type,
                state: e.state.to_lowercase(),
                route_tables: e.route_table_id_set.items,
                subnets: e.subnet_id_set.items,
            })
            .collect())
    }

    /// The security groups `ids`, with their rules.
    pub async fn security_groups(&self, ids: &[&str]) -> Result<Vec<SecurityGroup>, AwsError> {
        let params: Vec<(String, String)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (format!("GroupId.{}", i + 1), (*id).to_owned()))
            .collect();
        let groups = self
            .paged::<xml::SecurityGroups>(
                "DescribeSecurityGroups",
                "read the security groups (ec2:DescribeSecurityGroups)",
                &params,
            )
            .await?;
        let perms = |set: xml::Set<xml::Permission>| -> Vec<Permission> {
            set.items
                .into_iter()
                .map(|p| Permission {
                    protocol: p.ip_protocol,
                    from_port: p.from_port,
                    to_port: p.to_port,
                    groups: p.groups.items.into_iter().map(|g| g.group_id).collect(),
                    cidrs: p.ip_ranges.items.into_iter().map(|r| r.cidr_ip).collect(),
                })
                .collect()
        };
        Ok(groups
            .into_iter()
            .map(|g| SecurityGroup {
                id: g.group_id,
                ingress: perms(g.ip_permissions),
                egress: perms(g.ip_permissions_egress),
            })
            .collect())
    }
}

fn vpc_filter(vpc: &str) -> Vec<(String, String)> {
    vec![
        ("Filter.1.Name".into(), "vpc-id".into()),
        ("Filter.1.Value.1".into(), vpc.into()),
    ]
}

/// The first value EC2 gave, of the elements that may carry it.
fn first_of<const N: usize>(values: [Option<String>; N]) -> String {
    values
        .into_iter()
        .flatten()
        .find(|v| !v.is_empty())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_allow_ports_in_their_range() {
        let p = |proto: &str, f, t| Permission {
            protocol: proto.into(),
            from_port: f,
            to_port: t,
            groups: vec![],
            cidrs: vec![],
        };
        assert!(p("tcp", Some(8080), Some(8080)).allows_tcp(8080));
        assert!(!p("tcp", Some(80), Some(80)).allows_tcp(8080));
        assert!(p("-1", None, None).allows_tcp(8080));
        assert!(!p("udp", Some(0), Some(65535)).allows_tcp(8080));
    }
}
