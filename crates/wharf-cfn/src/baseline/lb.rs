//! The load balancer and what guards it: security groups (the ALB takes 80/443 from the
//! internet; each public service only from the ALB's group on its port, each internal one
//! only from the internal load balancer's, a service that is neither from nowhere), the ALB itself, its listeners
//! (HTTP redirecting to HTTPS, HTTPS with TLS 1.2+, a fixed 503 until a deployment routes),
//! the certificate and DNS alias when a hosted zone is given, access logs and WAF.

use serde_json::{json, Value};

use crate::ctx::Ctx;
use crate::fns::{arn, get_att, r, sub};
use crate::iam;
use crate::template::{logical_id, Parameter, Resource, Template};

use super::network::{subnet_ids, VPC};

pub(crate) const ALB: &str = "LoadBalancer";
pub(crate) const ALB_SG: &str = "LoadBalancerSecurityGroup";
pub(crate) const HTTP_LISTENER: &str = "HttpListener";
pub(crate) const HTTPS_LISTENER: &str = "HttpsListener";
pub(crate) const HOSTED_ZONE_PARAM: &str = "HostedZoneId";
const TLS_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/// Logical id of a service's security group.
pub(crate) fn service_sg(service: &str) -> String {
    logical_id(&["service", service, "SecurityGroup"])
}

/// The hosted zone as the templates use it: the id given, or a parameter `wharf up` fills in
/// by looking the zone up by name (ACM's DNS validation takes only an id).
pub(crate) fn hosted_zone_id(cx: &Ctx<'_>) -> Option<Value> {
    let zone = cx.aws.hosted_zone.as_deref()?;
    let is_id = zone.starts_with('Z')
        && zone
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    Some(if is_id {
        Value::String(zone.to_owned())
    } else {
        r(HOSTED_ZONE_PARAM)
    })
}

pub(crate) fn build(cx: &Ctx<'_>, t: &mut Template) {
    let p = cx.prefix();
    let https = cx.aws.domain.is_some();
    if let Some(zone) = cx.aws.hosted_zone.as_deref() {
        if hosted_zone_id(cx) == Some(r(HOSTED_ZONE_PARAM)) {
            t.parameter(
                HOSTED_ZONE_PARAM,
                Parameter {
                    ty: "AWS::Route53::HostedZone::Id".into(),
                    description: format!(
                        "Id of the hosted zone {zone} (wharf up looks it up by name)"
                    ),
                    default: None,
                    allowed_pattern: None,
                },
            );
        }
    }
    security_groups(cx, t);

    let mut attributes = vec![
        json!({ "Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true" }),
        json!({ "Key": "deletion_protection.enabled", "Value": cx.aws.prod.to_string() }),
    ];
    if cx.aws.access_logs {
        access_logs_bucket(cx, t);
        attributes.push(json!({ "Key": "access_logs.s3.enabled", "Value": "true" }));
        attributes.push(json!({ "Key": "access_logs.s3.bucket", "Value": r("AccessLogsBucket") }));
    }
    let mut alb = Resource::new(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        json!({
            "Name": cx.names.load_balancer(),
            "Type": "application",
            "Scheme": "internet-facing",
            "IpAddressType": "ipv4",
            "Subnets": subnet_ids("Public", cx.aws.azs).iter().map(|s| r(s)).collect::<Vec<_>>(),
            "SecurityGroups": [r(ALB_SG)],
            "LoadBalancerAttributes": attributes,
            "Tags": cx.tags(&cx.names.load_balancer()),
        }),
    )
    .depends_on("InternetGatewayAttachment");
    if cx.aws.access_logs {
        alb = alb.depends_on("AccessLogsBucketPolicy");
    } else {
        alb = alb.skip_check(
            "CKV_AWS_91",
            "access logs are off by the manifest's choice (access_logs = false)",
        );
    }
    if !cx.aws.prod {
        alb = alb.skip_check(
            "CKV_AWS_150",
            "deletion protection is for prod environments (prod = false)",
        );
    }
    if !cx.aws.waf {
        alb = alb.skip_check(
            "CKV2_AWS_28",
            "WAF is off by the manifest's choice (waf = false)",
        );
    }
    alb = alb.skip_check(
        "CKV2_AWS_20",
        "the HTTP listener redirects to HTTPS when a domain is configured",
    );
    t.add(ALB, alb);

    let fixed_503 = json!({
        "Type": "fixed-response",
        "FixedResponseConfig": { "StatusCode": "503", "ContentType": "text/plain", "MessageBody": "no deployment yet" },
    });
    let http_default = if https {
        json!({ "Type": "redirect", "RedirectConfig": { "Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301" } })
    } else {
        fixed_503.clone()
    };
    let mut http = Resource::new(
        "AWS::ElasticLoadBalancingV2::Listener",
        json!({ "LoadBalancerArn": r(ALB), "Port": 80, "Protocol": "HTTP", "DefaultActions": [http_default] }),
    );
    if !https {
        http = http
            .skip_check(
                "CKV_AWS_2",
                "no domain is configured: the environment serves plain HTTP (wharf validate warns)",
            )
            .skip_check(
                "CKV_AWS_103",
                "no domain is configured: no TLS to configure",
            );
    }
    t.add(HTTP_LISTENER, http);

    if let Some(domain) = &cx.aws.domain {
        let certificate = match &cx.aws.certificate {
            Some(arn) => Value::String(arn.clone()),
            None => {
                let zone = hosted_zone_id(cx)
                    .expect("validation: a domain without certificate has a hosted zone");
                t.add(
                    "Certificate",
                    Resource::new(
                        "AWS::CertificateManager::Certificate",
                        {
                            let mut cert = json!({
                                "DomainName": domain,
                                "ValidationMethod": "DNS",
                                "DomainValidationOptions": [{ "DomainName": domain, "HostedZoneId": zone }],
                                "Tags": cx.tags(domain),
                            });
                            if cx.aws.edge {
                                let origin = crate::edge::origin_domain(domain);
                                cert["SubjectAlternativeNames"] = json!([origin]);
                                cert["DomainValidationOptions"]
                                    .as_array_mut()
                                    .expect("a list")
                                    .push(json!({ "DomainName": origin, "HostedZoneId": zone }));
                            }
                            cert
                        },
                    ),
                );
                r("Certificate")
            }
        };
        t.add(
            HTTPS_LISTENER,
            Resource::new(
                "AWS::ElasticLoadBalancingV2::Listener",
                json!({
                    "LoadBalancerArn": r(ALB),
                    "Port": 443,
                    "Protocol": "HTTPS",
                    "SslPolicy": TLS_POLICY,
                    "Certificates": [{ "CertificateArn": certificate }],
                    "DefaultActions": [fixed_503],
                }),
            ),
        );
        if let Some(zone) = hosted_zone_id(cx) {
            // With the edge on, the domain points at CloudFront (edge stack) and CloudFront
            // reaches the load balancer at origin.{domain}.
            let name = if cx.aws.edge {
                crate::edge::origin_domain(domain)
            } else {
                domain.clone()
            };
            t.add(
                "DomainRecord",
                Resource::new(
                    "AWS::Route53::RecordSet",
                    json!({
                        "HostedZoneId": zone,
                        "Name": name,
                        "Type": "A",
                        "AliasTarget": {
                            "DNSName": get_att(ALB, "DNSName"),
                            "HostedZoneId": get_att(ALB, "CanonicalHostedZoneID"),
                            "EvaluateTargetHealth": false,
                        },
                    }),
                ),
            );
        }
    }
    if cx.aws.waf {
        waf(cx, t, &p);
    }
}

fn security_groups(cx: &Ctx<'_>, t: &mut Template) {
    let p = cx.prefix();
    let mut ingress = vec![json!({
        "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIp": "0.0.0.0/0",
        "Description": if cx.aws.domain.is_some() { "HTTP from the internet, redirected to HTTPS" } else { "HTTP from the internet" },
    })];
    if cx.aws.domain.is_some() {
        ingress.push(json!({ "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0", "Description": "HTTPS from the internet" }));
    }
    t.add(
        ALB_SG,
        Resource::new(
            "AWS::EC2::SecurityGroup",
            json!({
                "GroupDescription": format!("{p} load balancer: HTTP(S) from the internet, out only to the services"),
                "VpcId": r(VPC),
                "SecurityGroupIngress": ingress,
                // Replaced by the per-service egress rules below; this keeps the group closed
                // when there is no public service.
                "SecurityGroupEgress": [{ "IpProtocol": "icmp", "FromPort": 252, "ToPort": 86, "CidrIp": "255.255.255.255/32", "Description": "no egress except the per-service rules" }],
                "Tags": cx.tags(&format!("{p}-alb")),
            }),
        )
        .skip_check("CKV_AWS_260", "port 80 is open to the internet only to redirect to HTTPS (or, without a domain, to serve HTTP)"),
    );
    for s in cx.services() {
        let sg = service_sg(&s.name);
        let reach = if s.public {
            format!("port {} from the load balancer only", s.port)
        } else if s.internal.is_some() {
            format!("port {} from the internal load balancer only", s.port)
        } else {
            "no inbound (neither public nor internal)".to_owned()
        };
        t.add(
            &sg,
            Resource::new(
                "AWS::EC2::SecurityGroup",
                json!({
                    "GroupDescription": format!("{p} service {}: {reach}", s.name),
                    "VpcId": r(VPC),
                    "SecurityGroupEgress": [{ "IpProtocol": "-1", "CidrIp": "0.0.0.0/0", "Description": "AWS APIs, registries and the service's own dependencies" }],
                    "Tags": cx.service_tags(&format!("{p}-{}", s.name), &s.name),
                }),
            )
            .skip_check("CKV_AWS_382", "services call AWS APIs, registries and third-party APIs; ingress is what wharf restricts"),
        );
        let source = if s.public {
            Some((ALB_SG, "LoadBalancer", "the load balancer"))
        } else if s.internal.is_some() {
            Some((
                super::internal::ILB_SG,
                "InternalLoadBalancer",
                "the internal load balancer",
            ))
        } else {
            None
        };
        if let Some((src, short, what)) = source {
            t.add(
                logical_id(&["service", &s.name, "IngressFrom", short]),
                Resource::new(
                    "AWS::EC2::SecurityGroupIngress",
                    json!({
                        "GroupId": get_att(&sg, "GroupId"),
                        "IpProtocol": "tcp", "FromPort": s.port, "ToPort": s.port,
                        "SourceSecurityGroupId": get_att(src, "GroupId"),
                        "Description": format!("port {} from {what}", s.port),
                    }),
                ),
            );
            // The load balancer's group is closed outbound except for these rules.
            t.add(
                logical_id(&[&format!("{short}To"), &s.name]),
                Resource::new(
                    "AWS::EC2::SecurityGroupEgress",
                    json!({
                        "GroupId": get_att(src, "GroupId"),
                        "IpProtocol": "tcp", "FromPort": s.port, "ToPort": s.port,
                        "DestinationSecurityGroupId": get_att(&sg, "GroupId"),
                        "Description": format!("to service {} on port {} (traffic and health checks)", s.name, s.port),
                    }),
                ),
            );
        }
    }
}

/// The ELB account that writes access logs in regions launched before August 2022; newer
/// regions use the log delivery service principal.
fn elb_account(region: &str) -> Option<&'static str> {
    Some(match region {
        "us-east-1" => "127311923021",
        "us-east-2" => "033677994240",
        "us-west-1" => "027434742980",
        "us-west-2" => "797873946194",
        "af-south-1" => "098369216593",
        "ap-east-1" => "754344448648",
        "ap-southeast-3" => "589379963580",
        "ap-south-1" => "718504428378",
        "ap-northeast-3" => "383597477331",
        "ap-northeast-2" => "600734575887",
        "ap-southeast-1" => "114774131450",
        "ap-southeast-2" => "783225319266",
        "ap-northeast-1" => "582318560864",
        "ca-central-1" => "985666609251",
        "eu-central-1" => "054676820928",
        "eu-west-1" => "156460612806",
        "eu-west-2" => "652711504416",
        "eu-south-1" => "635631232127",
        "eu-west-3" => "009996457667",
        "eu-north-1" => "897822967062",
        "me-south-1" => "076674570225",
        "sa-east-1" => "507241528517",
        _ => return None,
    })
}

fn access_logs_bucket(cx: &Ctx<'_>, t: &mut Template) {
    let p = cx.prefix();
    let name = format!("{p}-alb-logs-{}", cx.aws.account);
    t.add(
        "AccessLogsBucket",
        Resource::new(
            "AWS::S3::Bucket",
            json!({
                "BucketName": name,
                "BucketEncryption": { "ServerSideEncryptionConfiguration": [{ "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" } }] },
                "PublicAccessBlockConfiguration": { "BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true },
                "OwnershipControls": { "Rules": [{ "ObjectOwnership": "BucketOwnerEnforced" }] },
                "VersioningConfiguration": { "Status": "Enabled" },
                "LifecycleConfiguration": { "Rules": [{ "Id": "expire-access-logs", "Status": "Enabled", "ExpirationInDays": cx.aws.log_retention, "NoncurrentVersionExpiration": { "NoncurrentDays": 1 } }] },
                "Tags": cx.tags(&name),
            }),
        )
        .retain()
        .skip_check("CKV_AWS_18", "this bucket holds the load balancer's access logs; logging it would recurse")
        .skip_check("CKV_AWS_145", "ALB access logs can only be written to SSE-S3 (AES-256) buckets")
        .skip_check("CKV2_AWS_62", "nothing consumes events of the access-log bucket"),
    );
    let writer = match elb_account(&cx.aws.region) {
        Some(acct) => json!({ "AWS": format!("arn:aws:iam::{acct}:root") }),
        None => json!({ "Service": "logdelivery.elasticloadbalancing.amazonaws.com" }),
    };
    t.add(
        "AccessLogsBucketPolicy",
        Resource::new(
            "AWS::S3::BucketPolicy",
            json!({
                "Bucket": r("AccessLogsBucket"),
                "PolicyDocument": iam::document(vec![
                    json!({
                        "Sid": "LoadBalancerWritesLogs", "Effect": "Allow", "Principal": writer,
                        "Action": ["s3:PutObject"],
                        "Resource": [sub(&format!("arn:${{AWS::Partition}}:s3:::{name}/AWSLogs/${{AWS::AccountId}}/*"))],
                    }),
                    deny_insecure_transport(&name),
                ]),
            }),
        ),
    );
}

/// The statement that refuses every request to a bucket not made over TLS.
pub(crate) fn deny_insecure_transport(bucket: &str) -> Value {
    json!({
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": { "AWS": "*" },
        "Action": "s3:*",
        "Resource": [
            sub(&format!("arn:${{AWS::Partition}}:s3:::{bucket}")),
            sub(&format!("arn:${{AWS::Partition}}:s3:::{bucket}/*")),
        ],
        "Condition": { "Bool": { "aws:SecureTransport": "false" } },
    })
}

fn waf(cx: &Ctx<'_>, t: &mut Template, p: &str) {
    let managed = |name: &str, priority: u32| {
        json!({
            "Name": name,
            "Priority": priority,
            "OverrideAction": { "None": {} },
            "Statement": { "ManagedRuleGroupStatement": { "VendorName": "AWS", "Name": name } },
            "VisibilityConfig": { "SampledRequestsEnabled": true, "CloudWatchMetricsEnabled": true, "MetricName": name },
        })
    };
    t.add(
        "WebAcl",
        Resource::new(
            "AWS::WAFv2::WebACL",
            json!({
                "Name": p,
                "Scope": "REGIONAL",
                "DefaultAction": { "Allow": {} },
                "Rules": [
                    managed("AWSManagedRulesAmazonIpReputationList", 0),
                    managed("AWSManagedRulesCommonRuleSet", 1),
                    managed("AWSManagedRulesKnownBadInputsRuleSet", 2),
                ],
                "VisibilityConfig": { "SampledRequestsEnabled": true, "CloudWatchMetricsEnabled": true, "MetricName": p },
                "Tags": cx.tags(p),
            }),
        ),
    );
    t.add(
        "WebAclAssociation",
        Resource::new(
            "AWS::WAFv2::WebACLAssociation",
            json!({ "ResourceArn": r(ALB), "WebACLArn": get_att("WebAcl", "Arn") }),
        ),
    );
    // WAF only logs to groups whose name starts with aws-waf-logs-.
    let group = format!("aws-waf-logs-{p}");
    let lg = super::log_group(cx, &group, cx.tags(&group));
    t.add("WebAclLogGroup", lg);
    t.add(
        "WebAclLogging",
        Resource::new(
            "AWS::WAFv2::LoggingConfiguration",
            json!({ "ResourceArn": get_att("WebAcl", "Arn"), "LogDestinationConfigs": [arn("logs", &format!("log-group:{group}"))] }),
        )
        .depends_on("WebAclLogGroup"),
    );
}
