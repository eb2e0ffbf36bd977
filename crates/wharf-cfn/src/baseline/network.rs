//! The VPC: public, private and (when a data store needs them) database subnets across the
//! configured AZs, the internet gateway, route tables per tier, egress by NAT gateway(s) or VPC
//! endpoints, and optional flow logs.

use serde_json::{json, Value};
use wharf_manifest::Egress;

use crate::ctx::Ctx;
use crate::fns::{arn, az, get_att, r, sub};
use crate::iam;
use crate::template::{Resource, Template};

pub(crate) const VPC: &str = "Vpc";
pub(crate) const ENDPOINT_SG: &str = "EndpointSecurityGroup";

/// Logical ids of a tier's subnets, in AZ order.
pub(crate) fn subnet_ids(tier: &str, azs: u8) -> Vec<String> {
    (0..azs).map(|i| format!("{tier}Subnet{}", i + 1)).collect()
}

pub(crate) fn build(cx: &Ctx<'_>, t: &mut Template) {
    let p = cx.prefix();
    let aws = cx.aws;
    let mut vpc = Resource::new(
        "AWS::EC2::VPC",
        json!({
            "CidrBlock": aws.cidr.to_string(),
            "EnableDnsHostnames": true,
            "EnableDnsSupport": true,
            "Tags": cx.tags(&p),
        }),
    );
    if !aws.flow_logs {
        vpc = vpc.skip_check(
            "CKV2_AWS_11",
            "VPC flow logs are off by the manifest's choice (flow_logs = false)",
        );
    }
    vpc = vpc.skip_check(
        "CKV2_AWS_12",
        "the default security group cannot be managed through CloudFormation; wharf attaches it to nothing",
    );
    t.add(VPC, vpc);
    t.add(
        "InternetGateway",
        Resource::new("AWS::EC2::InternetGateway", json!({ "Tags": cx.tags(&p) })),
    );
    t.add(
        "InternetGatewayAttachment",
        Resource::new(
            "AWS::EC2::VPCGatewayAttachment",
            json!({ "VpcId": r(VPC), "InternetGatewayId": r("InternetGateway") }),
        ),
    );

    // Public tier: the load balancer and NAT gateways.
    t.add("PublicRouteTable", route_table(cx, &format!("{p}-public")));
    t.add(
        "PublicDefaultRoute",
        Resource::new(
            "AWS::EC2::Route",
            json!({ "RouteTableId": r("PublicRouteTable"), "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": r("InternetGateway") }),
        )
        .depends_on("InternetGatewayAttachment"),
    );
    for (i, cidr) in aws.subnets.public.iter().enumerate() {
        let id = format!("PublicSubnet{}", i + 1);
        let sub = subnet(cx, &format!("{p}-public-{}", i + 1), i, &cidr.to_string(), true)
            .skip_check("CKV_AWS_130", "public subnets hold only the load balancer and NAT gateways, which need public addresses");
        t.add(&id, sub);
        associate(t, &id, "PublicRouteTable");
    }

    // Egress for the private tier.
    let nats: Vec<String> = match aws.egress {
        Egress::Nat => vec!["NatGateway1".into()],
        Egress::NatPerAz => (1..=aws.azs).map(|i| format!("NatGateway{i}")).collect(),
        Egress::Endpoints => Vec::new(),
    };
    for (i, nat) in nats.iter().enumerate() {
        let eip = format!("{nat}Eip");
        t.add(
            &eip,
            Resource::new(
                "AWS::EC2::EIP",
                json!({ "Domain": "vpc", "Tags": cx.tags(&format!("{p}-nat-{}", i + 1)) }),
            )
            .depends_on("InternetGatewayAttachment"),
        );
        t.add(
            nat,
            Resource::new(
                "AWS::EC2::NatGateway",
                json!({
                    "AllocationId": get_att(&eip, "AllocationId"),
                    "SubnetId": r(&format!("PublicSubnet{}", i + 1)),
                    "Tags": cx.tags(&format!("{p}-nat-{}", i + 1)),
                }),
            ),
        );
    }

    // Private tier: the services' tasks. One route table per AZ, so that a NAT gateway per AZ
    // serves its own AZ.
    for (i, cidr) in aws.subnets.private.iter().enumerate() {
        let id = format!("PrivateSubnet{}", i + 1);
        let rt = format!("PrivateRouteTable{}", i + 1);
        t.add(
            &id,
            subnet(
                cx,
                &format!("{p}-private-{}", i + 1),
                i,
                &cidr.to_string(),
                false,
            ),
        );
        t.add(&rt, route_table(cx, &format!("{p}-private-{}", i + 1)));
        associate(t, &id, &rt);
        if let Some(nat) = nats.get(i).or(nats.first()) {
            t.add(
                format!("PrivateDefaultRoute{}", i + 1),
                Resource::new("AWS::EC2::Route", json!({ "RouteTableId": r(&rt), "DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": r(nat) })),
            );
        }
    }

    // Database tier: no route out at all.
    if cx.has_database_subnets() {
        t.add(
            "DatabaseRouteTable",
            route_table(cx, &format!("{p}-database")),
        );
        for (i, cidr) in aws.subnets.database.iter().enumerate() {
            let id = format!("DatabaseSubnet{}", i + 1);
            t.add(
                &id,
                subnet(
                    cx,
                    &format!("{p}-database-{}", i + 1),
                    i,
                    &cidr.to_string(),
                    false,
                ),
            );
            associate(t, &id, "DatabaseRouteTable");
        }
    }

    if aws.egress == Egress::Endpoints {
        endpoints(cx, t);
    }
    if aws.flow_logs {
        flow_logs(cx, t);
    }
}

fn route_table(cx: &Ctx<'_>, name: &str) -> Resource {
    Resource::new(
        "AWS::EC2::RouteTable",
        json!({ "VpcId": r(VPC), "Tags": cx.tags(name) }),
    )
}

fn subnet(cx: &Ctx<'_>, name: &str, az_index: usize, cidr: &str, public: bool) -> Resource {
    Resource::new(
        "AWS::EC2::Subnet",
        json!({
            "VpcId": r(VPC),
            "CidrBlock": cidr,
            "AvailabilityZone": az(az_index),
            "MapPublicIpOnLaunch": public,
            "Tags": cx.tags(name),
        }),
    )
}

fn associate(t: &mut Template, subnet: &str, table: &str) {
    t.add(
        format!("{subnet}RouteTableAssociation"),
        Resource::new(
            "AWS::EC2::SubnetRouteTableAssociation",
            json!({ "SubnetId": r(subnet), "RouteTableId": r(table) }),
        ),
    );
}

/// Interface endpoints for what Fargate tasks call (ECR, logs, SSM, Secrets Manager, STS) and
/// gateway endpoints for S3 (image layers) and DynamoDB.
fn endpoints(cx: &Ctx<'_>, t: &mut Template) {
    let p = cx.prefix();
    t.add(
        ENDPOINT_SG,
        Resource::new(
            "AWS::EC2::SecurityGroup",
            json!({
                "GroupDescription": format!("{p} VPC interface endpoints: HTTPS from inside the VPC"),
                "VpcId": r(VPC),
                "SecurityGroupIngress": [{
                    "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": cx.aws.cidr.to_string(),
                    "Description": "HTTPS to AWS APIs from the VPC's tasks",
                }],
                "SecurityGroupEgress": [{
                    "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": cx.aws.cidr.to_string(),
                    "Description": "answers stay inside the VPC",
                }],
                "Tags": cx.tags(&format!("{p}-endpoints")),
            }),
        ),
    );
    let private: Vec<Value> = subnet_ids("Private", cx.aws.azs)
        .iter()
        .map(|s| r(s))
        .collect();
    for svc in [
        "ecr.api",
        "ecr.dkr",
        "logs",
        "ssm",
        "ssmmessages",
        "secretsmanager",
        "sts",
    ] {
        t.add(
            crate::template::logical_id(&["endpoint", svc]),
            Resource::new(
                "AWS::EC2::VPCEndpoint",
                json!({
                    "VpcId": r(VPC),
                    "ServiceName": crate::fns::sub(&format!("com.amazonaws.${{AWS::Region}}.{svc}")),
                    "VpcEndpointType": "Interface",
                    "PrivateDnsEnabled": true,
                    "SubnetIds": private,
                    "SecurityGroupIds": [r(ENDPOINT_SG)],
                }),
            ),
        );
    }
    let tables: Vec<Value> = (1..=cx.aws.azs)
        .map(|i| r(&format!("PrivateRouteTable{i}")))
        .collect();
    for svc in ["s3", "dynamodb"] {
        t.add(
            crate::template::logical_id(&["endpoint", svc]),
            Resource::new(
                "AWS::EC2::VPCEndpoint",
                json!({
                    "VpcId": r(VPC),
                    "ServiceName": crate::fns::sub(&format!("com.amazonaws.${{AWS::Region}}.{svc}")),
                    "VpcEndpointType": "Gateway",
                    "RouteTableIds": tables,
                }),
            ),
        );
    }
}

fn flow_logs(cx: &Ctx<'_>, t: &mut Template) {
    let p = cx.prefix();
    let group = format!("/aws/{}/{}/vpc-flow-logs", cx.app(), cx.env.name);
    let lg = super::log_group(cx, &group, cx.tags(&group));
    t.add("FlowLogGroup", lg);
    t.add(
        "FlowLogRole",
        Resource::new(
            "AWS::IAM::Role",
            json!({
                // Only flow logs of this account may act as the role (the confused deputy).
                "AssumeRolePolicyDocument": iam::document(vec![json!({
                    "Effect": "Allow",
                    "Principal": { "Service": "vpc-flow-logs.amazonaws.com" },
                    "Action": ["sts:AssumeRole"],
                    "Condition": { "StringEquals": { "aws:SourceAccount": sub("${AWS::AccountId}") } },
                })]),
                "Policies": [iam::inline("flow-logs", vec![iam::allow(
                    "WriteFlowLogs",
                    &["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    vec![arn("logs", &format!("log-group:{group}:*"))],
                )])],
                "Tags": cx.tags(&format!("{p}-flow-logs")),
            }),
        ),
    );
    t.add(
        "FlowLog",
        Resource::new(
            "AWS::EC2::FlowLog",
            json!({
                "ResourceId": r(VPC),
                "ResourceType": "VPC",
                "TrafficType": "ALL",
                "LogDestinationType": "cloud-watch-logs",
                "LogGroupName": r("FlowLogGroup"),
                "DeliverLogsPermissionArn": get_att("FlowLogRole", "Arn"),
                "Tags": cx.tags(&format!("{p}-flow-logs")),
            }),
        ),
    );
}
