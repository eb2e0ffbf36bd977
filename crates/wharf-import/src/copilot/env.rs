//! A Copilot environment manifest → `[environments.NAME]`: the VPC's CIDRs and subnets, flow
//! logs, certificates, access logs and the CDN. The account and region are not in the workspace
//! (Copilot keeps them in the app's SSM parameters): they come from the command line.

use serde_json::Value;
use wharf_manifest::cidr::{Cidr, DATABASE_SLOT};

use crate::doc::Tbl;
use crate::source::Src;

/// Names Copilot users give production; such an environment gets `prod = true`.
const PROD_NAMES: &[&str] = &["prod", "production", "prd", "live"];

/// Maps one environment manifest (`src` may be an empty document when the environment has none).
pub fn map(src: &mut Src<'_>, env: &str, t: &mut Tbl) {
    let to = format!("environments.{env}");
    if src.get("name").is_some() {
        src.mapped("name", &to);
    }
    if src.get("type").is_some() {
        src.mapped("type", &to);
    }
    if PROD_NAMES.contains(&env) {
        t.set("prod", true);
    }
    network(src, &to, t);
    http(src, &to, t);

    match src.bool("observability.container_insights") {
        Some(true) => src.mapped("observability.container_insights", &format!("{to} (Container Insights is always on)")),
        Some(false) => src.changed(
            "observability.container_insights",
            &to,
            "wharf turns Container Insights on in every environment (its dashboard and diagnosis read it)",
        ),
        None => {}
    }
}

fn network(src: &mut Src<'_>, to: &str, t: &mut Tbl) {
    if let Some(id) = src.str("network.vpc.id") {
        let why = format!("wharf makes the environment's own VPC (cidr, subnets) and does not deploy into an existing one ({id}); to reach resources in it, peer the two VPCs or move them into [data]");
        src.not_mapped("network.vpc.id", &why);
        if src.get("network.vpc.subnets").is_some() {
            src.not_mapped(
                "network.vpc.subnets",
                "subnets of the imported VPC: wharf lays out its own",
            );
        }
    } else {
        let vpc = src
            .str("network.vpc.cidr")
            .and_then(|c| c.parse::<Cidr>().ok());
        if let Some(c) = vpc {
            t.set("cidr", c.to_string());
            src.mapped("network.vpc.cidr", &format!("{to}.cidr"));
        }
        subnets(src, to, t, vpc);
    }
    match src.get("network.vpc.flow_logs") {
        Some(Value::Bool(b)) => {
            t.set("flow_logs", *b);
            src.mapped("network.vpc.flow_logs", &format!("{to}.flow_logs"));
        }
        Some(_) => {
            t.set("flow_logs", true);
            src.changed(
                "network.vpc.flow_logs",
                &format!("{to}.flow_logs"),
                "flow logs on, kept for the environment's log_retention",
            );
        }
        None => {}
    }
    if src.get("network.vpc.security_group").is_some() {
        src.not_mapped(
            "network.vpc.security_group",
            "wharf makes a security group per service and admits exactly its callers",
        );
    }
}

fn subnets(src: &mut Src<'_>, to: &str, t: &mut Tbl, vpc: Option<Cidr>) {
    let read = |kind: &str| -> Vec<Cidr> {
        src.get(&format!("network.vpc.subnets.{kind}"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.get("cidr").and_then(Value::as_str))
                    .filter_map(|c| c.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (public, private) = (read("public"), read("private"));
    if public.is_empty() && private.is_empty() {
        return;
    }
    let Some(vpc) = vpc else {
        src.not_mapped(
            "network.vpc.subnets",
            "subnets without the VPC's cidr: wharf lays out its own",
        );
        return;
    };
    let azs = public.len().min(private.len()).clamp(2, 3);
    if public.len() < 2 || private.len() < 2 {
        src.not_mapped(
            "network.vpc.subnets",
            "wharf needs a public and a private subnet in each of 2 or 3 AZs: it lays out its own",
        );
        return;
    }
    let mut s = Tbl::default();
    s.set(
        "public",
        public
            .iter()
            .take(azs)
            .map(Cidr::to_string)
            .collect::<Vec<_>>(),
    );
    s.set(
        "private",
        private
            .iter()
            .take(azs)
            .map(Cidr::to_string)
            .collect::<Vec<_>>(),
    );
    let taken: Vec<Cidr> = public.iter().chain(&private).copied().collect();
    let database: Vec<Cidr> = (DATABASE_SLOT..64)
        .filter_map(|slot| vpc.layout_subnet(slot))
        .filter(|c| !taken.iter().any(|t| t.overlaps(*c)))
        .take(azs)
        .collect();
    if database.len() == azs {
        s.set(
            "database",
            database.iter().map(Cidr::to_string).collect::<Vec<_>>(),
        );
    }
    t.set("azs", azs as i64);
    t.set("subnets", s);
    let note = format!(
        "{azs} AZs; the database subnets (which Copilot does not make) take free blocks of the VPC; AZs are chosen by wharf in order{}",
        if public.len().max(private.len()) > azs { ", and subnets past the third AZ are dropped" } else { "" }
    );
    src.changed("network.vpc.subnets", &format!("{to}.subnets"), &note);
}

fn http(src: &mut Src<'_>, to: &str, t: &mut Tbl) {
    if let Some(certs) = src
        .get("http.public.certificates")
        .and_then(Value::as_array)
    {
        let certs: Vec<&str> = certs.iter().filter_map(Value::as_str).collect();
        if let Some(first) = certs.first() {
            t.set("certificate", *first);
            if certs.len() == 1 {
                src.mapped("http.public.certificates", &format!("{to}.certificate"));
            } else {
                src.changed("http.public.certificates", &format!("{to}.certificate"), "wharf's listener takes one certificate: the first; add the others' names to it or use hosted_zone to have one issued");
            }
        }
    }
    match src.get("http.public.access_logs") {
        Some(Value::Bool(b)) => {
            t.set("access_logs", *b);
            src.mapped("http.public.access_logs", &format!("{to}.access_logs"));
        }
        Some(_) => {
            t.set("access_logs", true);
            src.changed("http.public.access_logs", &format!("{to}.access_logs"), "wharf writes access logs to a bucket of its own, expiring them after log_retention days; your bucket and prefix are not used");
        }
        None => {}
    }
    let edge_why = "wharf's edge stack (edge = true: CloudFront in front of the load balancer) needs the environment's domain and hosted_zone by name, which Copilot keeps outside the workspace: set both and edge = true";
    for k in ["cdn", "http.public.ingress.cdn"] {
        if src.get(k).is_some() {
            src.not_mapped(k, edge_why);
        }
    }
    for (k, why) in [
        ("http.public.ingress.source_ips", "wharf's load balancer admits everyone; waf = true adds AWS's managed rules"),
        ("http.public.ssl_policy", "wharf uses ELBSecurityPolicy-TLS13-1-2-2021-06"),
        ("http.public.security_groups", "wharf makes the load balancer's security group"),
        ("http.private", "wharf's internal load balancer speaks HTTP inside the VPC, for services with internal = true"),
    ] {
        if src.get(k).is_some() {
            src.not_mapped(k, why);
        }
    }
}

/// wharf serves HTTPS on the environment's `domain`, which the certificate must cover; Copilot
/// keeps the app's domain outside the workspace, so the first alias a service of the
/// environment answers is taken. Without one, the certificate cannot be used.
pub fn domain_for_certificate(
    env: &str,
    copilot_env: &str,
    t: &mut Tbl,
    hosts: &[String],
    report: &mut crate::report::Report,
) {
    use crate::report::{Entry, Outcome};
    if t.get("certificate").is_none() || t.get("domain").is_some() {
        return;
    }
    let file = format!("copilot/environments/{copilot_env}/manifest.yml");
    let key = "http.public.certificates (domain)".to_owned();
    match hosts.first() {
        Some(h) => {
            t.set("domain", h.as_str());
            report.push(Entry {
                file,
                key,
                outcome: Outcome::Changed,
                to: Some(format!("environments.{env}.domain")),
                reason: format!("wharf serves HTTPS on the environment's domain, which the certificate must cover: {h}, the first alias of its services"),
            });
        }
        None => {
            t.remove("certificate");
            report.push(Entry {
                file,
                key,
                outcome: Outcome::NotMapped,
                to: None,
                reason: "wharf serves HTTPS on the environment's domain, which Copilot keeps outside the workspace and no service alias names: set domain and certificate".into(),
            });
        }
    }
}
