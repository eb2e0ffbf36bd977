//! The preflight's check of `[notify]`: the webhook's URL read with these credentials as
//! `wharf deploy` reads it, and usable; the SNS topic there. A notice that cannot be sent
//! never fails a deploy, so what is wrong here is a warning, with its fix.

use wharf_manifest::{Notify, SecretRef};

use super::{Check, Context, Finding};
use crate::ecs::sns::{elsewhere, in_region, topic_arn};
use crate::ecs::Clients;
use crate::error::{AwsError, ErrorKind};

pub(super) async fn notify(cx: &Context<'_>, notify: Option<&Notify>) -> Vec<Finding> {
    let Some(n) = notify else {
        return vec![Finding::skipped(
            Check::Notify,
            "notify",
            "the manifest sends no notices",
        )];
    };
    let clients = Clients::new(&cx.access.config);
    let mut out = Vec::new();
    if let Some(secret) = &n.webhook {
        out.push(webhook(cx, &clients, secret).await);
    }
    if let Some(topic) = &n.sns {
        out.push(sns(cx, &clients, topic).await);
    }
    out
}

async fn webhook(cx: &Context<'_>, clients: &Clients, secret: &SecretRef) -> Finding {
    let subject = format!("webhook ({secret})");
    let e = match crate::ecs::taskdef::read_secret(clients, secret).await {
        Ok(url) => {
            return match wharf_http::parse_url(url.trim()) {
                Ok(_) => Finding::ok(Check::Notify, subject, "its URL reads and is usable"),
                Err(e) => Finding::warning(
                    Check::Notify,
                    subject,
                    format!("its value is not a usable URL ({e}): no notices would be posted"),
                    format!("store the webhook's https:// URL in {secret}"),
                ),
            };
        }
        Err(e) => e,
    };
    let fix = match (e.kind, secret) {
        (ErrorKind::NotFound, SecretRef::Ssm { path }) => format!(
            "create it: aws ssm put-parameter --region {} --name {path} --type SecureString \
             --value https://hooks.example/…",
            cx.region
        ),
        (ErrorKind::NotFound, SecretRef::SecretsManager { name, .. }) => format!(
            "create it: aws secretsmanager create-secret --region {} --name {name} \
             --secret-string https://hooks.example/…",
            cx.region
        ),
        (ErrorKind::AccessDenied, SecretRef::Ssm { .. }) => {
            "the deploying identity needs ssm:GetParameter (and kms:Decrypt on its key)".into()
        }
        (ErrorKind::AccessDenied, SecretRef::SecretsManager { .. }) => {
            "the deploying identity needs secretsmanager:GetSecretValue on it".into()
        }
        _ => e.advice().into(),
    };
    Finding::warning(
        Check::Notify,
        subject,
        format!(
            "its URL cannot be read, so no notices would be posted: {}",
            e.message
        ),
        fix,
    )
}

async fn sns(cx: &Context<'_>, clients: &Clients, topic: &str) -> Finding {
    let arn = topic_arn(topic, &cx.region, &cx.account);
    let subject = format!("sns topic {arn}");
    let mut call = clients
        .sns
        .get_topic_attributes()
        .topic_arn(&arn)
        .customize();
    if let Some(region) = elsewhere(&arn, &cx.region, clients.endpoint.as_deref()) {
        call = call.config_override(in_region(region));
    }
    let e = match call.send().await {
        Ok(_) => {
            return Finding::ok(
                Check::Notify,
                subject,
                "the topic exists; deploys publish to it (sns:Publish)",
            )
        }
        Err(e) => AwsError::from_sdk(format!("read topic {arn} (sns:GetTopicAttributes)"), e),
    };
    let name = arn.rsplit(':').next().unwrap_or(topic);
    let region = arn.split(':').nth(3).unwrap_or(&cx.region);
    let (message, fix) = match e.kind {
        ErrorKind::NotFound => (
            "there is no such topic: no notices would be published".to_owned(),
            format!(
                "create it (aws sns create-topic --region {region} --name {name}) and subscribe \
                 to it, or correct [notify] sns"
            ),
        ),
        ErrorKind::AccessDenied => (
            "these credentials cannot read the topic, so it was not checked".to_owned(),
            "run the preflight with a role that may call sns:GetTopicAttributes on it; deploys \
             need sns:Publish"
                .to_owned(),
        ),
        _ => (e.to_string(), e.advice().to_owned()),
    };
    Finding::warning(Check::Notify, subject, message, fix)
}
