//! EC2's answers as typed documents, read with quick-xml's serde support: the four Describe*
//! answers page by page, and the error document. An element EC2 leaves out or sends empty is
//! `None` or an empty set. The error document is read by [`crate::wire`].

use serde::de::DeserializeOwned;
use serde::Deserialize;

pub(crate) use crate::wire::read;

/// `<fooSet><item>…</item>…</fooSet>`.
#[derive(Debug, Deserialize)]
pub(crate) struct Set<T> {
    #[serde(rename = "item", default = "Vec::new")]
    pub items: Vec<T>,
}

impl<T> Default for Set<T> {
    fn default() -> Self {
        Set { items: Vec::new() }
    }
}

/// A page of a Describe* answer: its items and the next page's token.
pub(crate) trait Page: DeserializeOwned {
    type Item;
    fn into_parts(self) -> (Vec<Self::Item>, Option<String>);
}

macro_rules! page {
    ($name:ident, $set:literal, $item:ty) => {
        #[derive(Debug, Deserialize)]
        pub(crate) struct $name {
            #[serde(rename = $set, default)]
            set: Set<$item>,
            #[serde(rename = "nextToken", default)]
            next: Option<String>,
        }

        impl Page for $name {
            type Item = $item;
            fn into_parts(self) -> (Vec<$item>, Option<String>) {
                (self.set.items, self.next.filter(|t| !t.trim().is_empty()))
            }
        }
    };
}

page!(RouteTables, "routeTableSet", RouteTable);
page!(NatGateways, "natGatewaySet", NatGateway);
page!(VpcEndpoints, "vpcEndpointSet", VpcEndpoint);
page!(SecurityGroups, "securityGroupInfo", SecurityGroup);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RouteTable {
    #[serde(default)]
    pub route_table_id: String,
    #[serde(default)]
    pub association_set: Set<Association>,
    #[serde(default)]
    pub route_set: Set<Route>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Association {
    #[serde(default)]
    pub main: Option<bool>,
    #[serde(default)]
    pub subnet_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Route {
    pub destination_cidr_block: Option<String>,
    pub destination_ipv6_cidr_block: Option<String>,
    pub destination_prefix_list_id: Option<String>,
    pub nat_gateway_id: Option<String>,
    pub gateway_id: Option<String>,
    pub transit_gateway_id: Option<String>,
    pub instance_id: Option<String>,
    pub network_interface_id: Option<String>,
    pub vpc_peering_connection_id: Option<String>,
    #[serde(default)]
    pub state: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NatGateway {
    #[serde(default)]
    pub nat_gateway_id: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub subnet_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VpcEndpoint {
    #[serde(default)]
    pub vpc_endpoint_id: String,
    #[serde(default)]
    pub service_name: String,
    #[serde(default)]
    pub vpc_endpoint_type: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub route_table_id_set: Set<String>,
    #[serde(default)]
    pub subnet_id_set: Set<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SecurityGroup {
    #[serde(default)]
    pub group_id: String,
    #[serde(default)]
    pub ip_permissions: Set<Permission>,
    #[serde(default)]
    pub ip_permissions_egress: Set<Permission>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Permission {
    #[serde(default)]
    pub ip_protocol: String,
    pub from_port: Option<i64>,
    pub to_port: Option<i64>,
    #[serde(default)]
    pub groups: Set<GroupPair>,
    #[serde(default)]
    pub ip_ranges: Set<IpRange>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupPair {
    #[serde(default)]
    pub group_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IpRange {
    #[serde(default)]
    pub cidr_ip: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_tables_read_with_their_sets_entities_and_token() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeRouteTablesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>a1</requestId>
  <routeTableSet>
    <item>
      <routeTableId>rtb-1</routeTableId>
      <routeSet>
        <item><destinationCidrBlock>0.0.0.0/0</destinationCidrBlock><natGatewayId>nat-1</natGatewayId><state>active</state></item>
        <item><destinationCidrBlock>10.0.0.0/16</destinationCidrBlock><gatewayId>local</gatewayId><state>active</state></item>
      </routeSet>
      <associationSet>
        <item><main>true</main></item>
        <item><main>false</main><subnetId>subnet-a &amp; b</subnetId></item>
      </associationSet>
    </item>
    <item><routeTableId>rtb-2</routeTableId><routeSet/><associationSet/></item>
  </routeTableSet>
  <nextToken>t2</nextToken>
</DescribeRouteTablesResponse>"#;
        let (tables, next) = read::<RouteTables>(xml).expect("reads").into_parts();
        assert_eq!(next.as_deref(), Some("t2"));
        assert_eq!(tables.len(), 2);
        let t = &tables[0];
        assert_eq!(t.route_table_id, "rtb-1");
        assert_eq!(t.route_set.items.len(), 2);
        assert_eq!(
            t.route_set.items[0].nat_gateway_id.as_deref(),
            Some("nat-1")
        );
        assert_eq!(t.association_set.items[0].main, Some(true));
        assert_eq!(
            t.association_set.items[1].subnet_id.as_deref(),
            Some("subnet-a & b")
        );
        assert!(tables[1].route_set.items.is_empty());
    }

    #[test]
    fn security_groups_and_errors_read() {
        let xml = r#"<DescribeSecurityGroupsResponse><securityGroupInfo><item>
          <groupId>sg-1</groupId>
          <ipPermissions><item><ipProtocol>tcp</ipProtocol><fromPort>8000</fromPort><toPort>8000</toPort>
            <groups><item><groupId>sg-alb</groupId></item></groups><ipRanges/></item></ipPermissions>
          <ipPermissionsEgress><item><ipProtocol>-1</ipProtocol><ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges></item></ipPermissionsEgress>
        </item></securityGroupInfo></DescribeSecurityGroupsResponse>"#;
        let (groups, next) = read::<SecurityGroups>(xml).expect("reads").into_parts();
        assert_eq!(next, None);
        let p = &groups[0].ip_permissions.items[0];
        assert_eq!((p.from_port, p.to_port), (Some(8000), Some(8000)));
        assert_eq!(p.groups.items[0].group_id, "sg-alb");
        let e = &groups[0].ip_permissions_egress.items[0];
        assert_eq!((e.ip_protocol.as_str(), e.from_port), ("-1", None));
        assert_eq!(e.ip_ranges.items[0].cidr_ip, "0.0.0.0/0");
    }
}
