//! The four EC2 reads the preflight makes (route tables, NAT gateways, VPC endpoints, security
//! groups) as SigV4-signed Query API requests over the SDK configuration's credentials, region
//! and endpoint. `aws-sdk-ec2` is not a dependency: its build alone takes minutes on two cores,
//! for four read-only calls. Throttling and transient failures are retried with exponential
//! backoff and jitter, like the SDK's standard mode; errors carry EC2's code, classified.

mod transport;
mod xml;

use aws_config::SdkConfig;
use serde::Serialize;

use crate::error::AwsError;
use transport::Endpoint;
use xml::Node;

/// An EC2 client for the reads below.
#[derive(Debug, Clone)]
pub struct Ec2 {
    pub(crate) config: SdkConfig,
    pub(crate) endpoint: Endpoint,
    pub(crate) region: String,
    pub(crate) max_attempts: u32,
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
        let region = config
            .region()
            .map_or_else(|| "us-east-1".to_owned(), |r| r.to_string());
        let endpoint = std::env::var("AWS_ENDPOINT_URL_EC2")
            .ok()
            .and_then(|u| Endpoint::parse(&u))
            .or_else(|| config.endpoint_url().and_then(Endpoint::parse))
            .unwrap_or_else(|| Endpoint {
                https: true,
                host: if region.starts_with("cn-") {
                    format!("ec2.{region}.amazonaws.com.cn")
                } else {
                    format!("ec2.{region}.amazonaws.com")
                },
                port: 443,
                path: "/".into(),
            });
        let max_attempts = config.retry_config().map_or(3, |r| r.max_attempts()).max(1);
        Ec2 {
            config: config.clone(),
            endpoint,
            region,
            max_attempts,
        }
    }

    /// Every route table of `vpc`.
    pub async fn route_tables(&self, vpc: &str) -> Result<Vec<RouteTable>, AwsError> {
        let items = self
            .paged(
                "DescribeRouteTables",
                "list the route tables of the VPC (ec2:DescribeRouteTables)",
                &vpc_filter(vpc),
                "routeTableSet",
            )
            .await?;
        Ok(items
            .iter()
            .map(|t| RouteTable {
                id: t.text("routeTableId"),
                main: t.items("associationSet").any(|a| a.text("main") == "true"),
                subnets: t
                    .items("associationSet")
                    .map(|a| a.text("subnetId"))
                    .filter(|s| !s.is_empty())
                    .collect(),
                routes: t
                    .items("routeSet")
                    .map(|r| Route {
                        destination: first_of(
                            r,
                            &[
                                "destinationCidrBlock",
                                "destinationIpv6CidrBlock",
                                "destinationPrefixListId",
                            ],
                        ),
                        target: first_of(
                            r,
                            &[
                                "natGatewayId",
                                "gatewayId",
                                "transitGatewayId",
                                "instanceId",
                                "networkInterfaceId",
                                "vpcPeeringConnectionId",
                            ],
                        ),
                        state: r.text("state"),
                    })
                    .collect(),
            })
            .collect())
    }

    /// Every NAT gateway of `vpc`, in any state.
    pub async fn nat_gateways(&self, vpc: &str) -> Result<Vec<NatGateway>, AwsError> {
        let items = self
            .paged(
                "DescribeNatGateways",
                "list the NAT gateways of the VPC (ec2:DescribeNatGateways)",
                &vpc_filter(vpc),
                "natGatewaySet",
            )
            .await?;
        Ok(items
            .iter()
            .map(|n| NatGateway {
                id: n.text("natGatewayId"),
                state: n.text("state"),
                subnet: n.text("subnetId"),
            })
            .collect())
    }

    /// Every VPC endpoint of `vpc`.
    pub async fn vpc_endpoints(&self, vpc: &str) -> Result<Vec<VpcEndpoint>, AwsError> {
        let items = self
            .paged(
                "DescribeVpcEndpoints",
                "list the VPC endpoints of the VPC (ec2:DescribeVpcEndpoints)",
                &vpc_filter(vpc),
                "vpcEndpointSet",
            )
            .await?;
        Ok(items
            .iter()
            .map(|e| VpcEndpoint {
                id: e.text("vpcEndpointId"),
                service: e.text("serviceName"),
                kind: e.text("vpcEndpointType"),
                state: e.text("state").to_lowercase(),
                route_tables: e.items("routeTableIdSet").map(|i| i.text.clone()).collect(),
                subnets: e.items("subnetIdSet").map(|i| i.text.clone()).collect(),
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
        let items = self
            .paged(
                "DescribeSecurityGroups",
                "read the security groups (ec2:DescribeSecurityGroups)",
                &params,
                "securityGroupInfo",
            )
            .await?;
        let perms = |n: &Node, set: &str| -> Vec<Permission> {
            n.items(set)
                .map(|p| Permission {
                    protocol: p.text("ipProtocol"),
                    from_port: p.text("fromPort").parse().ok(),
                    to_port: p.text("toPort").parse().ok(),
                    groups: p.items("groups").map(|g| g.text("groupId")).collect(),
                    cidrs: p.items("ipRanges").map(|r| r.text("cidrIp")).collect(),
                })
                .collect()
        };
        Ok(items
            .iter()
            .map(|g| SecurityGroup {
                id: g.text("groupId"),
                ingress: perms(g, "ipPermissions"),
                egress: perms(g, "ipPermissionsEgress"),
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

fn first_of(n: &Node, names: &[&str]) -> String {
    names
        .iter()
        .map(|k| n.text(k))
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
