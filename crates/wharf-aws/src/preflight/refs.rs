//! What the services reference and the account must hold: their images (the repository a
//! built service is pushed to; an ECR image's tag or digest), the execution and task roles
//! (present, trusting ECS tasks), and each secret and parameter (present, not being deleted,
//! holding the JSON key asked for, readable by the execution role by IAM's policy simulator).
//! Secret values are read only to find a key and are never reported.

use wharf_manifest::{Egress, ImageSource, SecretRef};

use super::{Check, Context, Finding, Level};
use crate::ecs::env::{ssm_arn, ssm_name};
use crate::error::{AwsError, ErrorKind};

/// An image in ECR: `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO[:TAG|@DIGEST]`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct EcrImage {
    pub account: String,
    pub region: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

pub(super) fn parse_ecr(image: &str) -> Option<EcrImage> {
    let (host, rest) = image.split_once('/')?;
    let mut parts = host.split('.');
    let account = parts.next()?;
    if parts.next()? != "dkr" || parts.next()? != "ecr" {
        return None;
    }
    let region = parts.next()?;
    if !host.ends_with(".amazonaws.com") && !host.ends_with(".amazonaws.com.cn") {
        return None;
    }
    let (name, digest) = match rest.split_once('@') {
        Some((n, d)) => (n, Some(d.to_owned())),
        None => (rest, None),
    };
    let (repository, tag) = match name.rsplit_once(':') {
        Some((r, t)) if digest.is_none() => (r, Some(t.to_owned())),
        _ => (name, None),
    };
    Some(EcrImage {
        account: account.to_owned(),
        region: region.to_owned(),
        repository: repository.to_owned(),
        tag: if digest.is_none() && tag.is_none() {
            Some("latest".into())
        } else {
            tag
        },
        digest,
    })
}

/// The registry host of a non-ECR reference (Docker Hub when it names none).
fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

pub(super) async fn images(cx: &Context<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (name, s) in &cx.env.services {
        let subject = format!("service {name}");
        match &s.image {
            ImageSource::Build(_) => {
                if !cx.is_up() {
                    findings.push(cx.not_up(Check::Image, &subject));
                    continue;
                }
                let repo = cx.names.repository(name);
                let ecr = cx.access.ecr();
                match ecr
                    .describe_repositories()
                    .repository_names(&repo)
                    .send()
                    .await
                {
                    Ok(_) => findings.push(Finding::ok(
                        Check::Image,
                        &subject,
                        format!("built and pushed to ECR repository {repo}, which exists"),
                    )),
                    Err(e) => {
                        let e = AwsError::from_sdk(
                            format!("describe repository {repo} (ecr:DescribeRepositories)"),
                            e,
                        );
                        findings.push(if e.kind == ErrorKind::NotFound {
                            Finding::error(
                                Check::Image,
                                &subject,
                                format!("ECR repository {repo} does not exist"),
                                format!(
                                    "run `wharf up --env {}`: the baseline creates it",
                                    cx.env.name
                                ),
                            )
                        } else {
                            Finding::failed(Check::Image, &subject, &e)
                        });
                    }
                }
            }
            ImageSource::Image(image) => match parse_ecr(image) {
                Some(r) => findings.push(ecr_image(cx, &subject, image, &r).await),
                None => {
                    let registry = registry_of(image);
                    findings.push(if cx.aws.egress == Egress::Endpoints {
                        Finding::error(
                            Check::Image,
                            &subject,
                            format!("{image} is pulled from {registry}, which tasks cannot reach: egress = \"endpoints\" has no NAT, only AWS endpoints"),
                            "copy the image into ECR (or an ECR pull-through cache rule) and reference that, or set egress = \"nat\"",
                        )
                    } else {
                        Finding::skipped(
                            Check::Image,
                            &subject,
                            format!("{image} is not in ECR: ECS pulls it from {registry} through the NAT gateway; not checked here"),
                        )
                    });
                }
            },
        }
    }
    findings
}

async fn ecr_image(cx: &Context<'_>, subject: &str, image: &str, r: &EcrImage) -> Finding {
    let access = if r.region == cx.region {
        cx.access.clone()
    } else {
        cx.access.in_region(&r.region)
    };
    let mut id = aws_sdk_ecr::types::ImageIdentifier::builder();
    if let Some(d) = &r.digest {
        id = id.image_digest(d);
    }
    if let Some(t) = &r.tag {
        id = id.image_tag(t);
    }
    let result = access
        .ecr()
        .describe_images()
        .registry_id(&r.account)
        .repository_name(&r.repository)
        .image_ids(id.build())
        .send()
        .await;
    match result {
        Ok(out) if !out.image_details().is_empty() => {
            Finding::ok(Check::Image, subject, format!("{image} is in ECR"))
        }
        Ok(_) => Finding::error(
            Check::Image,
            subject,
            format!("{image} is not in repository {}", r.repository),
            "push the image (or correct its tag in the manifest)",
        ),
        Err(e) => {
            let e = AwsError::from_sdk(format!("find {image} (ecr:DescribeImages)"), e);
            let code = e.code.clone().unwrap_or_default();
            if code == "RepositoryNotFoundException" {
                Finding::error(
                    Check::Image,
                    subject,
                    format!(
                        "ECR repository {} does not exist in account {} ({})",
                        r.repository, r.account, r.region
                    ),
                    "correct the image reference, or create the repository and push the image",
                )
            } else if code == "ImageNotFoundException" {
                Finding::error(
                    Check::Image,
                    subject,
                    format!("{image} is not in repository {}", r.repository),
                    "push the image (or correct its tag in the manifest)",
                )
            } else if e.kind == ErrorKind::AccessDenied && r.account != cx.account {
                Finding::warning(
                    Check::Image,
                    subject,
                    format!("{image} is in account {}, which these credentials cannot read", r.account),
                    format!("make sure the repository's policy lets account {} pull (ecr:BatchGetImage, ecr:GetDownloadUrlForLayer)", cx.account),
                )
            } else {
                Finding::failed(Check::Image, subject, &e)
            }
        }
    }
}

pub(super) async fn roles(cx: &Context<'_>) -> Vec<Finding> {
    if !cx.is_up() {
        return vec![cx.not_up(Check::Role, "execution and task roles")];
    }
    let mut wanted: Vec<(String, Option<&str>)> =
        vec![("execution role".into(), cx.baseline("ExecutionRoleArn"))];
    for name in cx.env.services.keys() {
        wanted.push((
            format!("service {name} task role"),
            cx.service_output(name, "TaskRoleArn"),
        ));
    }
    let iam = aws_sdk_iam::Client::new(&cx.access.config);
    let mut findings = Vec::new();
    for (subject, arn) in wanted {
        let Some(arn) = arn else {
            findings.push(Finding::error(
                Check::Role,
                &subject,
                "the baseline stack has no output for it",
                format!(
                    "run `wharf up --env {}` (a service added since the last `up`?)",
                    cx.env.name
                ),
            ));
            continue;
        };
        let role = arn.rsplit('/').next().unwrap_or(arn);
        match iam.get_role().role_name(role).send().await {
            Ok(out) => {
                let trust = out
                    .role()
                    .map(|r| percent_decode(r.assume_role_policy_document().unwrap_or_default()))
                    .unwrap_or_default();
                findings.push(if trust.contains("ecs-tasks.amazonaws.com") {
                    Finding::ok(Check::Role, &subject, format!("{role} exists and trusts ECS tasks"))
                } else {
                    Finding::error(
                        Check::Role,
                        &subject,
                        format!("{role} does not let ECS tasks assume it"),
                        format!("run `wharf up --env {}` to restore its trust policy (principal ecs-tasks.amazonaws.com)", cx.env.name),
                    )
                });
            }
            Err(e) => {
                let e = AwsError::from_sdk(format!("read role {role} (iam:GetRole)"), e);
                findings.push(if e.kind == ErrorKind::NotFound {
                    Finding::error(
                        Check::Role,
                        &subject,
                        format!("role {role} does not exist"),
                        format!("run `wharf up --env {}`: the baseline creates it (it was deleted outside CloudFormation)", cx.env.name),
                    )
                } else {
                    Finding::failed(Check::Role, &subject, &e)
                });
            }
        }
    }
    findings
}

pub(super) async fn secrets(cx: &Context<'_>) -> Vec<Finding> {
    let mut refs: Vec<(String, &SecretRef)> = Vec::new();
    for (name, s) in &cx.env.services {
        for (var, r) in &s.secrets {
            refs.push((format!("service {name} {var}"), r));
        }
        if let Some(r) = &s.deploy.drain.secret {
            refs.push((format!("service {name} drain secret"), r));
        }
    }
    if refs.is_empty() {
        return vec![Finding::skipped(
            Check::Secret,
            "services",
            "no service references a secret or parameter",
        )];
    }
    let ssm = crate::wire::ssm::Ssm::new(&cx.access.config);
    let sm = aws_sdk_secretsmanager::Client::new(&cx.access.config);
    let iam = aws_sdk_iam::Client::new(&cx.access.config);
    let role = cx.baseline("ExecutionRoleArn");
    let mut findings = Vec::new();
    for (subject, r) in refs {
        let subject = format!("{subject} ({r})");
        let (finding, resource, action) = match r {
            SecretRef::Ssm { path } => (
                parameter(cx, &ssm, &subject, &ssm_name(path)).await,
                Some(ssm_arn(&cx.region, &cx.account, path)),
                "ssm:GetParameters",
            ),
            SecretRef::SecretsManager { name, key } => {
                let (f, arn) = secret(cx, &sm, &subject, name, key.as_deref()).await;
                (f, arn, "secretsmanager:GetSecretValue")
            }
        };
        findings.push(match (finding.level, role, resource) {
            // IAM's simulator is the full preflight's: a deploy's own check stays fast.
            (Level::Ok, Some(role), Some(arn)) if cx.depth == super::Depth::Full => {
                role_reads(cx, &iam, finding, role, action, &arn).await
            }
            (_, _, _) => finding,
        });
    }
    findings
}

/// Whether the execution role (what reads secrets when a task starts) may read `arn`, by
/// IAM's policy simulator: a denial turns the finding into an error; a simulator the
/// credentials may not call leaves it as it was, saying so.
async fn role_reads(
    cx: &Context<'_>,
    iam: &aws_sdk_iam::Client,
    finding: Finding,
    role: &str,
    action: &str,
    arn: &str,
) -> Finding {
    let result = iam
        .simulate_principal_policy()
        .policy_source_arn(role)
        .action_names(action)
        .resource_arns(arn)
        .send()
        .await;
    match result {
        Ok(out) => {
            let decision = out
                .evaluation_results()
                .first()
                .map(|r| r.eval_decision().as_str().to_owned())
                .unwrap_or_else(|| "no decision".into());
            if decision == "allowed" {
                Finding {
                    message: format!("{}; the execution role may read it", finding.message),
                    ..finding
                }
            } else {
                Finding::error(
                    Check::Secret,
                    finding.subject,
                    format!("exists, but the execution role may not read it ({action} on {arn}: {decision}): tasks would stop with ResourceInitializationError"),
                    format!("run `wharf up --env {}`: the baseline grants the execution role exactly the secrets the manifest references (one added since the last `up`?)", cx.env.name),
                )
            }
        }
        Err(e) => {
            let e = AwsError::from_sdk(
                "simulate the execution role's access (iam:SimulatePrincipalPolicy)",
                e,
            );
            Finding {
                message: format!(
                    "{}; the execution role's access was not checked ({})",
                    finding.message, e.message
                ),
                ..finding
            }
        }
    }
}

async fn parameter(
    cx: &Context<'_>,
    ssm: &crate::wire::ssm::Ssm,
    subject: &str,
    name: &str,
) -> Finding {
    let what = format!("read parameter {name} (ssm:GetParameter)");
    match ssm.get_parameter(name, false, &what).await {
        Ok(_) => Finding::ok(Check::Secret, subject, "the parameter exists"),
        Err(e) => {
            if e.code.as_deref() == Some("ParameterNotFound") || e.kind == ErrorKind::NotFound {
                Finding::error(
                    Check::Secret,
                    subject,
                    format!("parameter {name} does not exist in {}", cx.region),
                    format!("create it: aws ssm put-parameter --region {} --name {name} --type SecureString --value …", cx.region),
                )
            } else if e.kind == ErrorKind::AccessDenied {
                Finding::warning(
                    Check::Secret,
                    subject,
                    format!("these credentials cannot read parameter {name}, so it was not checked"),
                    "run the preflight with a role that may call ssm:GetParameter on it; the task's execution role is granted it by the baseline",
                )
            } else {
                Finding::failed(Check::Secret, subject, &e)
            }
        }
    }
}

async fn secret(
    cx: &Context<'_>,
    sm: &aws_sdk_secretsmanager::Client,
    subject: &str,
    name: &str,
    key: Option<&str>,
) -> (Finding, Option<String>) {
    let described = match sm.describe_secret().secret_id(name).send().await {
        Ok(d) => d,
        Err(e) => {
            let e = AwsError::from_sdk(
                format!("describe secret {name} (secretsmanager:DescribeSecret)"),
                e,
            );
            let f = if e.kind == ErrorKind::NotFound {
                Finding::error(
                    Check::Secret,
                    subject,
                    format!("secret {name} does not exist in {}", cx.region),
                    format!("create it: aws secretsmanager create-secret --region {} --name {name} --secret-string …", cx.region),
                )
            } else if e.kind == ErrorKind::AccessDenied {
                Finding::warning(
                    Check::Secret,
                    subject,
                    format!("these credentials cannot describe secret {name}, so it was not checked"),
                    "run the preflight with a role that may call secretsmanager:DescribeSecret on it",
                )
            } else {
                Finding::failed(Check::Secret, subject, &e)
            };
            return (f, None);
        }
    };
    let arn = described.arn().map(str::to_owned);
    if described.deleted_date().is_some() {
        return (
            Finding::error(
                Check::Secret,
                subject,
                format!("secret {name} is scheduled for deletion"),
                format!(
                    "restore it: aws secretsmanager restore-secret --region {} --secret-id {name}",
                    cx.region
                ),
            ),
            None,
        );
    }
    let Some(key) = key else {
        return (
            Finding::ok(Check::Secret, subject, "the secret exists"),
            arn,
        );
    };
    let f = match sm.get_secret_value().secret_id(name).send().await {
        Ok(v) => {
            let has = v
                .secret_string()
                .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                .is_some_and(|j| j.get(key).is_some());
            if has {
                Finding::ok(
                    Check::Secret,
                    subject,
                    format!("the secret exists and holds key {key}"),
                )
            } else {
                Finding::error(
                    Check::Secret,
                    subject,
                    format!("secret {name} is not a JSON object with key {key}: tasks would stop with ResourceInitializationError"),
                    format!("add {key} to the secret's JSON (aws secretsmanager put-secret-value), or correct the key in the manifest"),
                )
            }
        }
        Err(e) => {
            let e = AwsError::from_sdk(
                format!("read secret {name} (secretsmanager:GetSecretValue)"),
                e,
            );
            if e.kind == ErrorKind::AccessDenied {
                Finding::warning(
                    Check::Secret,
                    subject,
                    format!("the secret exists, but these credentials cannot read it to find key {key}"),
                    "run the preflight with a role that may call secretsmanager:GetSecretValue on it",
                )
            } else {
                Finding::failed(Check::Secret, subject, &e)
            }
        }
    };
    (f, arn)
}

/// IAM answers policy documents URL-encoded.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_references_are_recognised() {
        let r = parse_ecr("123456789012.dkr.ecr.eu-west-1.amazonaws.com/pulse/api:v3").unwrap();
        assert_eq!(
            (
                r.account.as_str(),
                r.region.as_str(),
                r.repository.as_str(),
                r.tag.as_deref()
            ),
            ("123456789012", "eu-west-1", "pulse/api", Some("v3"))
        );
        let r = parse_ecr("123456789012.dkr.ecr.us-east-1.amazonaws.com/api@sha256:ab").unwrap();
        assert_eq!((r.tag, r.digest.as_deref()), (None, Some("sha256:ab")));
        assert_eq!(
            parse_ecr("123456789012.dkr.ecr.us-east-1.amazonaws.com/api")
                .unwrap()
                .tag
                .as_deref(),
            Some("latest")
        );
        assert!(parse_ecr("registry.example/pulse/api:1").is_none());
        assert!(parse_ecr("nginx:1.27").is_none());
    }

    #[test]
    fn registries_are_named() {
        assert_eq!(registry_of("nginx:1.27"), "docker.io");
        assert_eq!(registry_of("library/nginx"), "docker.io");
        assert_eq!(registry_of("ghcr.io/o/r:1"), "ghcr.io");
        assert_eq!(registry_of("localhost:5000/r"), "localhost:5000");
    }

    #[test]
    fn policy_documents_are_decoded() {
        assert_eq!(percent_decode("%7B%22a%22%3A1%7D"), "{\"a\":1}");
        assert_eq!(percent_decode("{\"a\":1}"), "{\"a\":1}");
        assert_eq!(percent_decode("50%"), "50%");
    }
}
