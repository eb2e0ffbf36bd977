//! The edge stack `{app}-{env}-edge` (optional, `edge = true`): CloudFront in front of the load
//! balancer, with a CLOUDFRONT-scope WAF, a certificate and the domain's alias record.
//!
//! CloudFront takes certificates and web ACLs only from us-east-1, so this stack is created in
//! us-east-1 whatever the environment's region. It reaches the load balancer over HTTPS at
//! `origin.{domain}`, a record (and certificate name) the baseline adds when the edge is on.

use serde_json::json;

use crate::baseline::hosted_zone_id;
use crate::ctx::Ctx;
use crate::fns::{get_att, r};
use crate::template::{Parameter, Resource, Template};

/// The region the edge stack is created in.
pub const EDGE_REGION: &str = "us-east-1";
/// CloudFront's hosted zone for alias records (the same in every account).
const CLOUDFRONT_ZONE: &str = "Z2FDTNDATAQYW2";
/// AWS's managed "SecurityHeadersPolicy" response headers policy.
const SECURITY_HEADERS_POLICY: &str = "67f7725c-6f97-4210-82d7-5512b31e9d03";
/// AWS's managed "CachingDisabled" cache policy and "AllViewer" origin request policy: an app
/// behind the edge decides its own caching.
const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
const ALL_VIEWER: &str = "216adef6-5c7f-47e4-b989-5492eafa07d3";

/// The name the load balancer answers on for CloudFront.
pub fn origin_domain(domain: &str) -> String {
    format!("origin.{domain}")
}

pub(crate) fn template(cx: &Ctx<'_>) -> Template {
    let p = cx.prefix();
    let domain = cx
        .aws
        .domain
        .clone()
        .expect("validation: the edge needs a domain");
    let zone = hosted_zone_id(cx).expect("validation: the edge needs a hosted zone");
    let mut t = Template::new(format!(
        "wharf edge of {} / {} (created in {EDGE_REGION}): CloudFront, WAF, DNS",
        cx.app(),
        cx.env.name
    ));
    if zone == r(crate::baseline::HOSTED_ZONE_PARAM) {
        t.parameter(
            crate::baseline::HOSTED_ZONE_PARAM,
            Parameter {
                ty: "AWS::Route53::HostedZone::Id".into(),
                description: "Id of the domain's hosted zone (wharf up looks it up by name)".into(),
                default: None,
                allowed_pattern: None,
            },
        );
    }
    t.add(
        "EdgeCertificate",
        Resource::new(
            "AWS::CertificateManager::Certificate",
            json!({
                "DomainName": domain,
                "ValidationMethod": "DNS",
                "DomainValidationOptions": [{ "DomainName": domain, "HostedZoneId": zone }],
                "Tags": cx.tags(&domain),
            }),
        ),
    );
    let managed = |name: &str, priority: u32| {
        json!({
            "Name": name, "Priority": priority, "OverrideAction": { "None": {} },
            "Statement": { "ManagedRuleGroupStatement": { "VendorName": "AWS", "Name": name } },
            "VisibilityConfig": { "SampledRequestsEnabled": true, "CloudWatchMetricsEnabled": true, "MetricName": name },
        })
    };
    t.add(
        "EdgeWebAcl",
        Resource::new(
            "AWS::WAFv2::WebACL",
            json!({
                "Name": format!("{p}-edge"),
                "Scope": "CLOUDFRONT",
                "DefaultAction": { "Allow": {} },
                "Rules": [
                    managed("AWSManagedRulesAmazonIpReputationList", 0),
                    managed("AWSManagedRulesCommonRuleSet", 1),
                    managed("AWSManagedRulesKnownBadInputsRuleSet", 2),
                ],
                "VisibilityConfig": { "SampledRequestsEnabled": true, "CloudWatchMetricsEnabled": true, "MetricName": format!("{p}-edge") },
                "Tags": cx.tags(&format!("{p}-edge")),
            }),
        )
        .skip_check("CKV2_AWS_31", "WAF logging for the edge is not configured by wharf; the regional WAF logs when waf = true"),
    );
    t.add(
        "Distribution",
        Resource::new(
            "AWS::CloudFront::Distribution",
            json!({
                "DistributionConfig": {
                    "Enabled": true,
                    "Comment": format!("{p} edge"),
                    "Aliases": [domain],
                    "HttpVersion": "http2and3",
                    "PriceClass": "PriceClass_100",
                    "WebACLId": get_att("EdgeWebAcl", "Arn"),
                    "ViewerCertificate": { "AcmCertificateArn": r("EdgeCertificate"), "SslSupportMethod": "sni-only", "MinimumProtocolVersion": "TLSv1.2_2021" },
                    "Origins": [{
                        "Id": "alb",
                        "DomainName": origin_domain(&domain),
                        "CustomOriginConfig": { "OriginProtocolPolicy": "https-only", "OriginSSLProtocols": ["TLSv1.2"], "HTTPSPort": 443 },
                    }],
                    "DefaultCacheBehavior": {
                        "TargetOriginId": "alb",
                        "ViewerProtocolPolicy": "redirect-to-https",
                        "AllowedMethods": ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
                        "CachePolicyId": CACHING_DISABLED,
                        "OriginRequestPolicyId": ALL_VIEWER,
                        "ResponseHeadersPolicyId": SECURITY_HEADERS_POLICY,
                        "Compress": true,
                    },
                },
                "Tags": cx.tags(&format!("{p}-edge")),
            }),
        )
        .skip_check("CKV_AWS_86", "CloudFront access logs are not configured by wharf; the load balancer's can be (access_logs = true)")
        .skip_check("CKV_AWS_310", "one origin: the environment's load balancer")
        .skip_check("CKV_AWS_305", "the app answers / itself; no default root object"),
    );
    t.add(
        "EdgeRecord",
        Resource::new(
            "AWS::Route53::RecordSet",
            json!({
                "HostedZoneId": zone,
                "Name": domain,
                "Type": "A",
                "AliasTarget": { "DNSName": get_att("Distribution", "DomainName"), "HostedZoneId": CLOUDFRONT_ZONE, "EvaluateTargetHealth": false },
            }),
        ),
    );
    t.output(
        "DistributionId",
        "The CloudFront distribution",
        r("Distribution"),
        None,
    );
    t.output(
        "DistributionDomainName",
        "CloudFront's name for the distribution",
        get_att("Distribution", "DomainName"),
        None,
    );
    t
}
