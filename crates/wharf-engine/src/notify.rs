//! Deployment notifications (`[notify]`): a deployment started, succeeded or was rolled back,
//! posted as JSON to a Slack-compatible webhook — `text` for people, the fields beside it for
//! programs. The webhook's URL is a secret, read through the target. A notification that
//! fails is the caller's to report; it never fails a deployment.

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

/// Posts notices to the webhook.
#[derive(Debug, Clone)]
pub struct Notifier {
    url: String,
    events: Vec<NotifyEvent>,
}

impl Notifier {
    /// Reads the webhook's URL through the target; Err says why no notice can be sent.
    pub async fn open<T: Target>(target: &T, notify: &Notify) -> Result<Notifier, String> {
        let url = target
            .secret_value(&notify.webhook)
            .await
            .map_err(|e| format!("the webhook's URL ({}) cannot be read: {e}", notify.webhook))?;
        wharf_http::parse_url(url.trim())
            .map_err(|e| format!("the webhook's URL in {} is not usable: {e}", notify.webhook))?;
        Ok(Notifier {
            url: url.trim().to_owned(),
            events: notify.events.clone(),
        })
    }

    /// Posts the notice when its event is wanted; Err names what failed (never the URL, which
    /// is a secret).
    pub async fn send(&self, notice: &Notice) -> Result<(), String> {
        if !self.events.contains(&notice.event) {
            return Ok(());
        }
        let (endpoint, path) = wharf_http::parse_url(&self.url).map_err(|e| e.to_string())?;
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
}
