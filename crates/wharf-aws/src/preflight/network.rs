//! The network a deployment needs: each private subnet's way out (a default route to an
//! available NAT gateway, or the VPC endpoints Fargate calls when the environment has no NAT),
//! and the security groups letting the load balancer (or the public services) reach each
//! service's port, in both directions the rules are written.

use std::collections::BTreeMap;

use wharf_manifest::{Egress, SecretRef};

use super::{Check, Context, Finding};
use crate::ec2::{Ec2, RouteTable};

pub(super) async fn egress(cx: &Context<'_>) -> Vec<Finding> {
    let (Some(vpc), Some(subnets)) = (cx.baseline("VpcId"), cx.baseline("PrivateSubnets")) else {
        return vec![cx.not_up(Check::Egress, "private subnets")];
    };
    let subnets: Vec<&str> = subnets.split(',').filter(|s| !s.is_empty()).collect();
    let ec2 = Ec2::new(&cx.access.config);
    let tables = match ec2.route_tables(vpc).await {
        Ok(t) => t,
        Err(e) => return vec![Finding::failed(Check::Egress, vpc, &e)],
    };
    let nats = match ec2.nat_gateways(vpc).await {
        Ok(n) => n,
        Err(e) => return vec![Finding::failed(Check::Egress, vpc, &e)],
    };
    let endpoints = match ec2.vpc_endpoints(vpc).await {
        Ok(e) => e,
        Err(e) => return vec![Finding::failed(Check::Egress, vpc, &e)],
    };
    let nat_state: BTreeMap<&str, &str> = nats
        .iter()
        .map(|n| (n.id.as_str(), n.state.as_str()))
        .collect();
    let recreate = format!(
        "run `wharf up --env {}` to put back what the baseline defines (it was changed outside CloudFormation)",
        cx.env.name
    );
    // What tasks must reach without a NAT: images, logs, and the secret stores referenced.
    let mut needed = vec![
        ("ecr.api", "pull images"),
        ("ecr.dkr", "pull images"),
        ("logs", "send logs"),
    ];
    let secrets: Vec<&SecretRef> = cx
        .env
        .services
        .values()
        .flat_map(|s| s.secrets.values())
        .collect();
    if secrets.iter().any(|r| matches!(r, SecretRef::Ssm { .. })) {
        needed.push(("ssm", "read parameters"));
    }
    if secrets
        .iter()
        .any(|r| matches!(r, SecretRef::SecretsManager { .. }))
    {
        needed.push(("secretsmanager", "read secrets"));
    }
    let mut findings = Vec::new();
    for subnet in subnets {
        let subject = format!("private subnet {subnet}");
        let Some(table) = table_of(&tables, subnet) else {
            findings.push(Finding::error(
                Check::Egress,
                &subject,
                "has no route table",
                recreate.clone(),
            ));
            continue;
        };
        let default = table.routes.iter().find(|r| r.destination == "0.0.0.0/0");
        match default {
            Some(r) if r.target.starts_with("nat-") => {
                let state = nat_state.get(r.target.as_str()).copied().unwrap_or("gone");
                if state == "available" && r.state != "blackhole" {
                    findings.push(Finding::ok(
                        Check::Egress,
                        &subject,
                        format!("0.0.0.0/0 through NAT gateway {} (available)", r.target),
                    ));
                } else {
                    findings.push(Finding::error(
                        Check::Egress,
                        &subject,
                        format!(
                            "routes 0.0.0.0/0 to NAT gateway {}, which is {}: tasks cannot pull images or reach AWS",
                            r.target,
                            if r.state == "blackhole" { "gone (a blackhole route)" } else { state }
                        ),
                        recreate.clone(),
                    ));
                }
            }
            Some(r) if r.target.starts_with("igw-") => findings.push(Finding::error(
                Check::Egress,
                &subject,
                format!("routes 0.0.0.0/0 to internet gateway {}, but tasks get no public IP: they cannot get out", r.target),
                recreate.clone(),
            )),
            Some(r) if r.state == "blackhole" => findings.push(Finding::error(
                Check::Egress,
                &subject,
                format!("routes 0.0.0.0/0 to {}, which is gone (a blackhole route)", r.target),
                recreate.clone(),
            )),
            Some(r) => findings.push(Finding::ok(
                Check::Egress,
                &subject,
                format!("0.0.0.0/0 through {}", r.target),
            )),
            None if cx.aws.egress != Egress::Endpoints => findings.push(Finding::error(
                Check::Egress,
                &subject,
                format!("has no default route, though egress = \"{}\": tasks cannot get out", cx.aws.egress),
                recreate.clone(),
            )),
            None => {
                let mut missing = Vec::new();
                for (svc, why) in &needed {
                    let name = format!("com.amazonaws.{}.{svc}", cx.region);
                    let found = endpoints.iter().any(|e| {
                        e.service == name
                            && e.state == "available"
                            && (e.subnets.is_empty() || e.subnets.iter().any(|s| s == subnet))
                    });
                    if !found {
                        missing.push(format!("{svc} (to {why})"));
                    }
                }
                let s3 = format!("com.amazonaws.{}.s3", cx.region);
                let s3_ok = endpoints.iter().any(|e| {
                    e.service == s3
                        && e.state == "available"
                        && (e.kind.eq_ignore_ascii_case("Interface")
                            || e.route_tables.contains(&table.id))
                });
                if !s3_ok {
                    missing.push("s3 (image layers)".into());
                }
                // `wharf exec` alone needs the Session Manager channels: a warning, not an error.
                let channels = format!("com.amazonaws.{}.ssmmessages", cx.region);
                if !endpoints
                    .iter()
                    .any(|e| e.service == channels && e.state == "available")
                {
                    findings.push(Finding::warning(
                        Check::Exec,
                        &subject,
                        "has no NAT and no available ssmmessages endpoint: `wharf exec` cannot open sessions",
                        recreate.clone(),
                    ));
                }
                findings.push(if missing.is_empty() {
                    Finding::ok(
                        Check::Egress,
                        &subject,
                        "no NAT; VPC endpoints for ECR, S3, logs and the secret stores used are available",
                    )
                } else {
                    Finding::error(
                        Check::Egress,
                        &subject,
                        format!("has no NAT and no available VPC endpoint for {}", missing.join(", ")),
                        recreate.clone(),
                    )
                });
            }
        }
    }
    findings
}

/// The table a subnet uses: its explicit association, else the VPC's main table.
fn table_of<'t>(tables: &'t [RouteTable], subnet: &str) -> Option<&'t RouteTable> {
    tables
        .iter()
        .find(|t| t.subnets.iter().any(|s| s == subnet))
        .or_else(|| tables.iter().find(|t| t.main))
}

pub(super) async fn security_groups(cx: &Context<'_>) -> Vec<Finding> {
    let Some(alb) = cx.baseline("LoadBalancerSecurityGroup") else {
        return vec![cx.not_up(Check::SecurityGroup, "load balancer")];
    };
    let ilb = cx.baseline("InternalLoadBalancerSecurityGroup");
    let mut ids = vec![alb.to_owned()];
    ids.extend(ilb.map(str::to_owned));
    let mut service_groups = BTreeMap::new();
    let mut findings = Vec::new();
    for name in cx.env.services.keys() {
        match cx.service_output(name, "SecurityGroup") {
            Some(sg) => {
                ids.push(sg.to_owned());
                service_groups.insert(name.as_str(), sg.to_owned());
            }
            None => findings.push(Finding::error(
                Check::SecurityGroup,
                format!("service {name}"),
                "the baseline stack has no security group for it",
                format!(
                    "run `wharf up --env {}` (a service added since the last `up`?)",
                    cx.env.name
                ),
            )),
        }
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let groups = match Ec2::new(&cx.access.config).security_groups(&refs).await {
        Ok(g) => g,
        Err(e) => {
            findings.push(Finding::failed(Check::SecurityGroup, "security groups", &e));
            return findings;
        }
    };
    let group = |id: &str| groups.iter().find(|g| g.id == id);
    let vpc_cidr = cx.baseline("VpcCidr").unwrap_or("");
    let from = |cidrs: &[String]| cidrs.iter().any(|c| c == "0.0.0.0/0" || c == vpc_cidr);
    let fix = format!(
        "run `wharf up --env {}` to restore the rule (it was removed outside CloudFormation)",
        cx.env.name
    );
    for (name, sg) in &service_groups {
        let s = &cx.env.services[*name];
        let subject = format!("service {name}");
        let Some(g) = group(sg) else {
            findings.push(Finding::error(
                Check::SecurityGroup,
                &subject,
                format!("security group {sg} does not exist"),
                fix.clone(),
            ));
            continue;
        };
        let (sources, what): (Vec<&str>, &str) = match (s.public, &s.internal, ilb) {
            (true, _, _) => (vec![alb], "the load balancer"),
            (false, Some(_), Some(ilb)) => (vec![ilb], "the internal load balancer"),
            (false, Some(_), None) => {
                findings.push(Finding::error(
                    Check::SecurityGroup,
                    &subject,
                    "internal, but the baseline has no internal load balancer",
                    format!("run `wharf up --env {}`", cx.env.name),
                ));
                continue;
            }
            (false, None, _) => {
                findings.push(Finding::skipped(
                    Check::SecurityGroup,
                    &subject,
                    "neither public nor internal: nothing calls it",
                ));
                continue;
            }
        };
        let mut problems = Vec::new();
        for src in &sources {
            let admitted = g.ingress.iter().any(|p| {
                p.allows_tcp(s.port) && (p.groups.iter().any(|x| x == src) || from(&p.cidrs))
            });
            if !admitted {
                problems.push(format!("{sg} does not admit port {} from {src}", s.port));
            }
            // The load balancer's group is closed outbound except for these rules.
            if let Some(out) = group(src) {
                let lets_out = out.egress.iter().any(|p| {
                    p.allows_tcp(s.port) && (p.groups.iter().any(|x| x == sg) || from(&p.cidrs))
                });
                if !lets_out {
                    problems.push(format!("{src} does not let port {} out to {sg}", s.port));
                }
            }
        }
        // Each caller reaches the internal listener's port.
        if let (Some(internal), Some(ilb)) = (&s.internal, ilb.and_then(group)) {
            for caller in cx
                .env
                .services
                .values()
                .filter(|c| c.talks_to.contains(&s.name))
            {
                let Some(csg) = service_groups.get(caller.name.as_str()) else {
                    continue;
                };
                let admitted = ilb
                    .ingress
                    .iter()
                    .any(|p| p.allows_tcp(internal.port) && p.groups.iter().any(|x| x == csg));
                if !admitted {
                    problems.push(format!(
                        "{} does not admit port {} from {csg} (service {})",
                        ilb.id, internal.port, caller.name
                    ));
                }
            }
        }
        findings.push(if problems.is_empty() {
            Finding::ok(
                Check::SecurityGroup,
                &subject,
                format!("port {} reachable from {what}", s.port),
            )
        } else {
            Finding::error(
                Check::SecurityGroup,
                &subject,
                format!(
                    "{}: health checks and traffic would time out (Target.Timeout)",
                    problems.join("; ")
                ),
                fix.clone(),
            )
        });
    }
    findings
}
