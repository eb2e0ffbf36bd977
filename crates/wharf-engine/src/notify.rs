//! Deployment notifications (`[notify]`): a deployment started, succeeded or was rolled back,
//! posted as JSON to a Slack-compatible webhook — `text` for people, the fields beside it for
//! programs — and published to an SNS topic through the target. The webhook's URL is a secret,
//! read through the target. A notification that fails is the caller's to report; it never
//! fails a deployment.

use std::time::Duration;

use serde::Serialize;
use wharf_manifest::{Notify, NotifyEvent};

use crate::record::{Outcome, Record};
use crate::target::Target;

/// How long one post may take.
pub const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// What is posted.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    /// One line for people (Slack shows it).
    pub text: String,
    pub event: NotifyEvent,
    pub app: String,
    pub env: String,
    pub service: String,
    pub deployment: String,
    pub strategy: String,
    pub image: String,
    /// Why it was rolled back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The diagnosis's headline for a rolled-back deployment: the cause wharf recognised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<String>,
}

impl Notice {
    /// A deployment about to roll out.
    pub fn started(
        app: &str,
        env: &str,
        service: &str,
        id: &str,
        strategy: &str,
        image: &str,
    ) -> Notice {
        Notice {
            text: format!("{app}/{env}: deploying {service} {id} ({strategy}), image {image}"),
            event: NotifyEvent::Started,
            app: app.into(),
            env: env.into(),
            service: service.into(),
            deployment: id.into(),
            strategy: strategy.into(),
            image: image.into(),
            reason: None,
            diagnosis: None,
        }
    }

    /// A finished deployment: succeeded or rolled back (None for other ends).
    pub fn finished(r: &Record) -> Option<Notice> {
        let (event, text) = match r.outcome? {
            Outcome::Succeeded => (
                NotifyEvent::Succeeded,
                format!("{}/{}: {} {} is live", r.app, r.env, r.service, r.id),
            ),
            Outcome::RolledBack => (
                NotifyEvent::RolledBack,
                format!(
                    "{}/{}: {} {} was rolled back: {}",
                    r.app,
                    r.env,
                    r.service,
                    r.id,
                    r.reason.as_deref().unwrap_or("no reason recorded")
                ),
            ),
            _ => return None,
        };
        Some(Notice {
            text,
            event,
            app: r.app.clone(),
            env: r.env.clone(),
            service: r.service.clone(),
            deployment: r.id.clone(),
            strategy: r.strategy.to_string(),
            image: r.image.clone(),
            reason: r
                .reason
                .clone()
                .filter(|_| event == NotifyEvent::RolledBack),
            diagnosis: None,
        })
    }

    /// Adds the diagnosis's headline (to the text too, where people read it).
    pub fn diagnosed(mut self, headline: Option<String>) -> Notice {
        if let Some(h) = headline {
            self.text = format!("{}\nlikely cause: {h}", self.text);
            self.diagnosis = Some(h);
        }
        self
    }
}

/// Sends notices to the manifest's destinations: the webhook and the SNS topic.
#[derive(Debug)]
pub struct Notifier {
    /// The webhook's URL (a secret: never printed).
    url: Option<String>,
    /// The SNS topic's ARN.
    topic: Option<String>,
    events: Vec<NotifyEvent>,
}

impl Notifier {
    /// Opens the destinations `[notify]` names: reads the webhook's URL and resolves the topic
    /// through the target. A destination that cannot be opened is left out and said why in the
    /// returned warnings; the others still get every notice.
    pub async fn open<T: Target>(target: &T, notify: &Notify) -> (Notifier, Vec<String>) {
        let mut warnings = Vec::new();
        let mut url = None;
        if let Some(secret) = &notify.webhook {
            match target.secret_value(secret).await {
                Err(e) => warnings.push(format!(
                    "no notices to the webhook: its URL ({secret}) cannot be read: {e}"
                )),
                Ok(u) => match wharf_http::parse_url(u.trim()) {
                    Err(e) => warnings.push(format!(
                        "no notices to the webhook: the URL in {secret} is not usable: {e}"
                    )),
                    Ok(_) => url = Some(u.trim().to_owned()),
                },
            }
        }
        let mut topic = None;
        if let Some(t) = &notify.sns {
            match target.topic(t).await {
                Ok(arn) => topic = Some(arn),
                Err(e) => warnings.push(format!("no notices to the SNS topic {t}: {e}")),
            }
        }
        let notifier = Notifier {
            url,
            topic,
            events: notify.events.clone(),
        };
        (notifier, warnings)
    }

    /// Whether any destination is open.
    pub fn is_open(&self) -> bool {
        self.url.is_some() || self.topic.is_some()
    }

    /// Sends the notice to every destination when its event is wanted; each failure is one
    /// warning naming the destination (never the webhook's URL, which is a secret).
    pub async fn send<T: Target>(&self, target: &T, notice: &Notice) -> Vec<String> {
        let mut failures = Vec::new();
        if !self.events.contains(&notice.event) {
            return failures;
        }
        if let Some(url) = &self.url {
            if let Err(e) = post(url, notice).await {
                failures.push(e);
            }
        }
        if let Some(topic) = &self.topic {
            let sent = tokio::time::timeout(POST_TIMEOUT, target.publish(topic, notice)).await;
            match sent {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.push(format!(
                    "the {} notice was not published to {topic}: {e}",
                    notice.event
                )),
                Err(_) => failures.push(format!(
                    "the {} notice was not published to {topic} within {}s",
                    notice.event,
                    POST_TIMEOUT.as_secs()
                )),
            }
        }
        failures
    }
}

/// Posts the notice to the webhook; Err names what failed.
async fn post(url: &str, notice: &Notice) -> Result<(), String> {
    let (endpoint, path) = wharf_http::parse_url(url).map_err(|e| e.to_string())?;
    let body = serde_json::to_vec(notice).map_err(|e| e.to_string())?;
    let req = wharf_http::post_json(&path, &endpoint.host, body).map_err(|e| e.to_string())?;
    let limits = wharf_http::Limits {
        timeout: POST_TIMEOUT,
        ..wharf_http::Limits::default()
    };
    let answer = wharf_http::send(&endpoint, req, limits)
        .await
        .map_err(|e| format!("the {} notice was not delivered: {e}", notice.event))?;
    if (200..300).contains(&answer.status) {
        Ok(())
    } else {
        Err(format!(
            "the webhook answered the {} notice with HTTP {}",
            notice.event, answer.status
        ))
    }
}
