//! `[notify]`: where deployment events go — a Slack-compatible webhook whose URL is a secret
//! reference, an SNS topic (its ARN, or a name in the environment's account and region), or
//! both — and which events (`started`, `succeeded`, `rolled-back`; all by default).

use crate::diag::{Problem, Rule};
use crate::model::{Notify, NotifyEvent};
use crate::reader::{Cx, Node};

use super::env::secret_ref;

pub(crate) fn read(cx: &mut Cx, node: &Node<'_, '_>) -> Option<Notify> {
    let mut t = cx.table(node)?;
    let webhook = t.get(cx, "webhook");
    let sns = t.get(cx, "sns");
    if webhook.is_none() && sns.is_none() {
        cx.push(
            Problem::error(
                Rule::MissingKey,
                t.header_span(),
                "notify",
                "`[notify]` names no destination: set `webhook`, `sns` or both",
            )
            .help(
                "webhook = \"ssm:/pulse/deploy-webhook\" (a secret reference to a \
                 Slack-compatible webhook's URL), sns = \"arn:aws:sns:eu-central-1:123456789012:deploys\"",
            ),
        );
    }
    // Each is None when absent, Some(None) when present but wrong (already reported).
    let webhook = webhook.map(|n| secret_ref(cx, &n));
    let sns = sns.map(|n| topic(cx, &n));
    let events = match t.get(cx, "events") {
        None => Some(NotifyEvent::ALL.to_vec()),
        Some(n) => {
            let items = cx.array(&n)?;
            let mut out = Vec::new();
            for i in &items {
                out.push(cx.choice(
                    i,
                    &[
                        ("started", NotifyEvent::Started),
                        ("succeeded", NotifyEvent::Succeeded),
                        ("rolled-back", NotifyEvent::RolledBack),
                    ],
                )?);
            }
            Some(out)
        }
    };
    t.finish(cx);
    if webhook.is_none() && sns.is_none() {
        return None;
    }
    Some(Notify {
        webhook: webhook.map_or(Some(None), |w| w.map(Some))?,
        sns: sns.map_or(Some(None), |s| s.map(Some))?,
        events: events?,
    })
}

/// An SNS topic: `arn:PARTITION:sns:REGION:ACCOUNT:NAME` or a bare NAME (1–256 letters, digits,
/// `-` and `_`, `.fifo` at the end of a FIFO topic).
fn topic(cx: &mut Cx, n: &Node<'_, '_>) -> Option<String> {
    let s = cx.string(n)?;
    let name = match s.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            match parts.as_slice() {
                [partition, "sns", region, account, name]
                    if partition.starts_with("aws")
                        && !region.is_empty()
                        && region
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                        && account.len() == 12
                        && account.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    Some(*name)
                }
                _ => None,
            }
        }
        None => Some(s.as_str()),
    };
    let ok = name.is_some_and(|name| {
        let base = name.strip_suffix(".fifo").unwrap_or(name);
        !base.is_empty()
            && name.len() <= 256
            && base
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    if !ok {
        cx.push(
            Problem::error(
                Rule::InvalidValue,
                n.span.clone(),
                &n.path,
                format!("`{s}` is not an SNS topic"),
            )
            .expected("\"arn:aws:sns:REGION:ACCOUNT:NAME\" or a topic name")
            .help(
                "a topic's ARN is on its page in the SNS console (`aws sns list-topics`); a \
                 bare name means that topic in the environment's own account and region",
            ),
        );
        return None;
    }
    Some(s)
}
