//! Who the credentials are (and the account guard), the environment's stacks, and the load
//! balancer's certificate.

use std::collections::BTreeMap;

use wharf_manifest::{AwsEnv, Environment, Names};

use super::{Check, Context, Finding};
use crate::access::{check_guard, identity as whoami, Access, Identity};
use crate::stacks::now_secs;
use crate::stacks::Stacks;

/// The identity, with the guard checked; `None` when STS could not say.
pub(super) async fn identity(
    access: &Access,
    env: &Environment,
    aws: &AwsEnv,
    findings: &mut Vec<Finding>,
) -> Option<Identity> {
    match whoami(&access.sts()).await {
        Err(e) => {
            findings.push(Finding::failed(Check::Identity, "credentials", &e));
            None
        }
        Ok(id) => {
            match check_guard(&env.name, &aws.account, &id) {
                Ok(()) => findings.push(Finding::ok(
                    Check::Identity,
                    "account guard",
                    format!("{id}: the account environment `{}` allows", env.name),
                )),
                Err(g) => findings.push(Finding::error(
                    Check::Identity,
                    "account guard",
                    format!("{g}; nothing else was checked"),
                    format!(
                        "use credentials of account {} (--profile, AWS_PROFILE), or correct `account` in [environments.{}] if the manifest is wrong",
                        g.expected, g.env
                    ),
                )),
            }
            Some(id)
        }
    }
}

/// The stacks' states, and the outputs of those that can be read.
pub(super) async fn stacks(
    access: &Access,
    env: &Environment,
    names: &Names<'_>,
    findings: &mut Vec<Finding>,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let cfn = access.cloudformation();
    let quiet = |_| {};
    let stacks = Stacks::new(&cfn, &quiet);
    let mut outputs = BTreeMap::new();
    let mut wanted = vec![names.baseline_stack()];
    if !env.data.is_empty() {
        wanted.push(names.data_stack());
    }
    for name in wanted {
        match stacks.describe(&name).await {
            Err(e) => findings.push(Finding::failed(Check::Stacks, &name, &e)),
            Ok(None) => findings.push(Finding::skipped(
                Check::Stacks,
                &name,
                "does not exist yet: `wharf up` creates it",
            )),
            Ok(Some(info)) => {
                let status = info.status.as_str();
                if crate::stacks::needs_recovery(&info.status) {
                    findings.push(Finding::error(
                        Check::Stacks,
                        &name,
                        format!(
                            "is in {status}{}",
                            info.reason
                                .as_deref()
                                .map(|r| format!(" ({r})"))
                                .unwrap_or_default()
                        ),
                        "run `wharf recover --env E`: it shows what it will do and asks first",
                    ));
                } else if status.ends_with("_IN_PROGRESS") {
                    findings.push(Finding::warning(
                        Check::Stacks,
                        &name,
                        format!("is in {status}: a change is under way"),
                        "wait for it to finish (`wharf status`), then run the preflight again",
                    ));
                } else {
                    findings.push(Finding::ok(Check::Stacks, &name, status.to_owned()));
                }
                if status != "DELETE_COMPLETE" && status != "REVIEW_IN_PROGRESS" {
                    outputs.insert(name, info.outputs.into_iter().collect());
                }
            }
        }
    }
    outputs
}

/// The load balancer's certificate: the given one, or the one the baseline requested.
pub(super) async fn certificate(cx: &Context<'_>) -> Vec<Finding> {
    let Some(domain) = &cx.aws.domain else {
        return vec![Finding::skipped(
            Check::Certificate,
            "listener",
            "no domain: the load balancer serves HTTP only",
        )];
    };
    let arn = match &cx.aws.certificate {
        Some(arn) => arn.clone(),
        None => {
            if !cx.is_up() {
                return vec![Finding::skipped(
                    Check::Certificate,
                    domain,
                    "`wharf up` will request a DNS-validated certificate in the hosted zone",
                )];
            }
            let cfn = cx.access.cloudformation();
            let quiet = |_| {};
            let stacks = Stacks::new(&cfn, &quiet);
            match stacks
                .physical_ids(
                    &cx.names.baseline_stack(),
                    "AWS::CertificateManager::Certificate",
                )
                .await
            {
                Err(e) => return vec![Finding::failed(Check::Certificate, domain, &e)],
                Ok(ids) => match ids.into_iter().find(|i| !i.is_empty()) {
                    Some(arn) => arn,
                    None => {
                        return vec![Finding::error(
                            Check::Certificate,
                            domain,
                            "the baseline stack holds no certificate for the domain",
                            format!("run `wharf up --env {}`", cx.env.name),
                        )]
                    }
                },
            }
        }
    };
    let acm = aws_sdk_acm::Client::new(&cx.access.config);
    let described = match acm
        .describe_certificate()
        .certificate_arn(&arn)
        .send()
        .await
    {
        Ok(d) => d,
        Err(e) => {
            let e = crate::error::AwsError::from_sdk(
                format!("describe certificate {arn} (acm:DescribeCertificate)"),
                e,
            );
            let fix = if e.kind == crate::ErrorKind::NotFound {
                format!(
                    "the certificate must be in {} (the load balancer's region) and account {}: request or import it there and set `certificate` to its ARN",
                    cx.region, cx.account
                )
            } else {
                e.advice().to_owned()
            };
            return vec![Finding::error(Check::Certificate, &arn, e.to_string(), fix)];
        }
    };
    let Some(cert) = described.certificate() else {
        return vec![Finding::error(
            Check::Certificate,
            &arn,
            "ACM described no certificate",
            "check the ARN in `certificate`",
        )];
    };
    let mut findings = Vec::new();
    let status = cert
        .status()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default();
    if status != "ISSUED" {
        let fix = match status.as_str() {
            "PENDING_VALIDATION" => {
                let records: Vec<String> = cert
                    .domain_validation_options()
                    .iter()
                    .filter_map(|o| o.resource_record())
                    .map(|r| format!("{} {} {}", r.name(), r.r#type().as_str(), r.value()))
                    .collect();
                if records.is_empty() {
                    "complete the certificate's validation (ACM console: the records or e-mails it asks for)".to_owned()
                } else {
                    format!(
                        "add the validation record(s) to the domain's DNS: {}; ACM issues the certificate minutes after",
                        records.join("; ")
                    )
                }
            }
            _ => format!(
                "a {status} certificate cannot serve: request a new one for {domain} (DNS validation) and set `certificate` to it, or remove `certificate` so `wharf up` requests one"
            ),
        };
        findings.push(Finding::error(
            Check::Certificate,
            &arn,
            format!("is {status}, not ISSUED"),
            fix,
        ));
    }
    let mut names: Vec<String> = cert.subject_alternative_names().to_vec();
    if let Some(d) = cert.domain_name() {
        names.push(d.to_owned());
    }
    let mut wanted = vec![domain.clone()];
    for s in cx.env.services.values() {
        if let Some(r) = &s.routing {
            wanted.extend(r.hosts.iter().filter(|h| !h.contains('*')).cloned());
        }
    }
    wanted.sort();
    wanted.dedup();
    let uncovered: Vec<&String> = wanted.iter().filter(|w| !covers(&names, w)).collect();
    if !uncovered.is_empty() {
        findings.push(Finding::error(
            Check::Certificate,
            &arn,
            format!(
                "does not cover {} (it names {})",
                uncovered.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                names.join(", ")
            ),
            "request a certificate whose names (or a *.wildcard) cover the domain and every routed host, and set `certificate` to it",
        ));
    }
    if let Some(not_after) = cert.not_after() {
        let days = (not_after.secs() - now_secs()) / 86_400;
        let renews = cert.r#type().is_some_and(|t| t.as_str() == "AMAZON_ISSUED");
        if days < 30 && !renews {
            findings.push(Finding::warning(
                Check::Certificate,
                &arn,
                format!("expires in {days} day(s) and ACM does not renew an imported certificate"),
                "import the renewed certificate into the same ARN (acm import-certificate --certificate-arn) before it expires",
            ));
        }
    }
    if findings.is_empty() {
        findings.push(Finding::ok(
            Check::Certificate,
            &arn,
            format!("ISSUED, covers {}", wanted.join(", ")),
        ));
    }
    findings
}

/// Whether a certificate's names cover `host`: exactly, or by a wildcard for one label.
pub(super) fn covers(names: &[String], host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    names.iter().any(|n| {
        let n = n.to_ascii_lowercase();
        match n.strip_prefix("*.") {
            Some(suffix) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
            None => n == host,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn wildcards_cover_one_label() {
        let names = vec!["*.example.com".to_owned(), "example.com".to_owned()];
        assert!(covers(&names, "api.example.com"));
        assert!(covers(&names, "EXAMPLE.com"));
        assert!(!covers(&names, "a.b.example.com"));
        assert!(!covers(&names, "example.org"));
    }
}
