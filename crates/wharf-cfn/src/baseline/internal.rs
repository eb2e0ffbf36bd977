//! Internal services: one internal load balancer in the private subnets (made only when a
//! service is internal), one HTTP listener per internal service on its own port, and a
//! private DNS zone `{app}.internal` with a record per internal service. The load balancer's
//! security group admits each listener's port from the security groups of the services that
//! name it in `talks_to`, and nothing else; it reaches each internal service on its
//! container port only (that rule, like the public load balancer's, is made beside the
//! service's security group in `lb.rs`).
//!
//! Why a load balancer and not ECS Service Connect: wharf gives each deployment of a
//! traffic-shifting service its own ECS service, and Service Connect routes a name to one ECS
//! service, so it cannot split a name's traffic between deployments by weight or keep an
//! affinity header on its deployment. Listener rules can, exactly as on the public load
//! balancer, so every strategy works the same for an internal service.

use serde_json::json;
use wharf_manifest::{internal_host, internal_zone, Service};

use crate::ctx::Ctx;
use crate::fns::{get_att, r};
use crate::template::{logical_id, Resource, Template};

use super::lb::service_sg;
use super::network::{subnet_ids, VPC};

pub(crate) const ILB: &str = "InternalLoadBalancer";
pub(crate) const ILB_SG: &str = "InternalLoadBalancerSecurityGroup";
const ZONE: &str = "InternalZone";

/// Logical id (and output key) of an internal service's listener.
pub(crate) fn listener_id(service: &str) -> String {
    logical_id(&["service", service, "Listener"])
}

/// The internal services, in name order.
pub(crate) fn internal<'a>(cx: &Ctx<'a>) -> Vec<&'a Service> {
    cx.services().filter(|s| s.internal.is_some()).collect()
}

/// The services that call `service` (name it in `talks_to`).
fn callers<'a>(cx: &Ctx<'a>, service: &str) -> Vec<&'a Service> {
    cx.services()
        .filter(|c| c.talks_to.iter().any(|t| t == service))
        .collect()
}

pub(crate) fn build(cx: &Ctx<'_>, t: &mut Template) {
    let services = internal(cx);
    if services.is_empty() {
        return;
    }
    let p = cx.prefix();
    let name = cx.names.internal_load_balancer();
    t.add(
        ILB_SG,
        Resource::new(
            "AWS::EC2::SecurityGroup",
            json!({
                "GroupDescription": format!("{p} internal load balancer: each internal service port from its callers only"),
                "VpcId": r(VPC),
                // Replaced by the per-service egress rules below.
                "SecurityGroupEgress": [{ "IpProtocol": "icmp", "FromPort": 252, "ToPort": 86, "CidrIp": "255.255.255.255/32", "Description": "no egress except the per-service rules" }],
                "Tags": cx.tags(&format!("{p}-int")),
            }),
        ),
    );
    let mut alb = Resource::new(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        json!({
            "Name": name,
            "Type": "application",
            "Scheme": "internal",
            "IpAddressType": "ipv4",
            "Subnets": subnet_ids("Private", cx.aws.azs).iter().map(|s| r(s)).collect::<Vec<_>>(),
            "SecurityGroups": [r(ILB_SG)],
            "LoadBalancerAttributes": [
                { "Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true" },
                { "Key": "deletion_protection.enabled", "Value": cx.aws.prod.to_string() },
            ],
            "Tags": cx.tags(&name),
        }),
    )
    .skip_check(
        "CKV_AWS_91",
        "internal load balancer: its callers are the app's own services, whose requests the service logs",
    )
    .skip_check(
        "CKV2_AWS_28",
        "internal load balancer: not reachable from the internet, only from the named callers' security groups",
    )
    .skip_check(
        "CKV2_AWS_20",
        "internal load balancer: plain HTTP inside the VPC between the app's own services",
    );
    if !cx.aws.prod {
        alb = alb.skip_check(
            "CKV_AWS_150",
            "deletion protection is for prod environments (prod = false)",
        );
    }
    t.add(ILB, alb);
    t.add(
        ZONE,
        Resource::new(
            "AWS::Route53::HostedZone",
            json!({
                "Name": internal_zone(cx.app()),
                "HostedZoneConfig": { "Comment": format!("{p}: names of the internal services") },
                "VPCs": [{ "VPCId": r(VPC), "VPCRegion": r("AWS::Region") }],
                "HostedZoneTags": cx.tags(&internal_zone(cx.app())),
            }),
        )
        .skip_check("CKV2_AWS_38", "a private zone: DNSSEC signing applies to public zones only")
        .skip_check("CKV2_AWS_39", "a private zone of the app's own service names; Resolver query logging is the account's choice"),
    );
    for s in services {
        let port = s.internal.as_ref().expect("internal").port;
        t.add(
            listener_id(&s.name),
            Resource::new(
                "AWS::ElasticLoadBalancingV2::Listener",
                json!({
                    "LoadBalancerArn": r(ILB),
                    "Port": port,
                    "Protocol": "HTTP",
                    "DefaultActions": [{
                        "Type": "fixed-response",
                        "FixedResponseConfig": { "StatusCode": "503", "ContentType": "text/plain", "MessageBody": "no deployment yet" },
                    }],
                }),
            )
            .skip_check("CKV_AWS_2", "internal listener: plain HTTP inside the VPC, admitted from the named callers only")
            .skip_check("CKV_AWS_103", "internal listener: plain HTTP, no TLS to configure"),
        );
        t.add(
            logical_id(&["service", &s.name, "Record"]),
            Resource::new(
                "AWS::Route53::RecordSet",
                json!({
                    "HostedZoneId": r(ZONE),
                    "Name": internal_host(&s.name, cx.app()),
                    "Type": "A",
                    "AliasTarget": {
                        "DNSName": get_att(ILB, "DNSName"),
                        "HostedZoneId": get_att(ILB, "CanonicalHostedZoneID"),
                        "EvaluateTargetHealth": false,
                    },
                }),
            ),
        );
        for c in callers(cx, &s.name) {
            t.add(
                logical_id(&["service", &s.name, "CalledBy", &c.name]),
                Resource::new(
                    "AWS::EC2::SecurityGroupIngress",
                    json!({
                        "GroupId": get_att(ILB_SG, "GroupId"),
                        "IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                        "SourceSecurityGroupId": get_att(&service_sg(&c.name), "GroupId"),
                        "Description": format!("service {} calls {} on port {port}", c.name, s.name),
                    }),
                ),
            );
        }
    }
}
