//! `[notify]`: where deployment events go — a Slack-compatible webhook whose URL is a secret
//! reference — and which events (`started`, `succeeded`, `rolled-back`; all by default).

use crate::model::{Notify, NotifyEvent};
use crate::reader::{Cx, Node};

use super::env::secret_ref;

pub(crate) fn read(cx: &mut Cx, node: &Node<'_, '_>) -> Option<Notify> {
    let mut t = cx.table(node)?;
    let webhook = t.req(
        cx,
        "webhook",
        "the webhook's URL as a secret reference, e.g. \"ssm:/pulse/deploy-webhook\"",
    );
    let webhook = webhook.and_then(|n| secret_ref(cx, &n));
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
    Some(Notify {
        webhook: webhook?,
        events: events?,
    })
}
