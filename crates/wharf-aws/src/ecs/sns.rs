//! Deployment notices published to an SNS topic (`[notify] sns`). One message serves every
//! kind of subscriber (`MessageStructure=json`): e-mail and SMS get the line people read,
//! queues, functions and HTTP endpoints the notice's JSON; the subject is a short line for
//! e-mail; message attributes (`event`, `app`, `env`, `service`, `deployment`) let a
//! subscription filter (only rolled-back notices to the pager). A FIFO topic gets the
//! service as its message group (notices of one service stay in order) and one de-duplication
//! id per deployment and event.

use aws_sdk_sns::types::MessageAttributeValue;
use serde_json::json;
use wharf_engine::{Notice, TargetError};

use super::{terr, AwsTarget};
use crate::error::{AwsError, ErrorKind};

/// SNS's limit on a subject.
const SUBJECT_MAX: usize = 100;

impl AwsTarget {
    /// The topic's ARN (see [`topic_arn`]).
    pub(crate) fn topic_arn(&self, topic: &str) -> String {
        topic_arn(topic, &self.out.region, &self.out.account)
    }

    pub(crate) async fn publish_notice(
        &self,
        topic: &str,
        notice: &Notice,
    ) -> Result<(), TargetError> {
        let message = message(notice).map_err(|e| TargetError::new(e.to_string()))?;
        let mut call = self
            .clients
            .sns
            .publish()
            .topic_arn(topic)
            .message_structure("json")
            .message(message)
            .subject(subject(notice));
        for (name, value) in [
            ("event", notice.event.to_string()),
            ("app", notice.app.clone()),
            ("env", notice.env.clone()),
            ("service", notice.service.clone()),
            ("deployment", notice.deployment.clone()),
        ] {
            let attr = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| TargetError::new(e.to_string()))?;
            call = call.message_attributes(name, attr);
        }
        if topic.ends_with(".fifo") {
            call = call
                .message_group_id(format!("{}.{}.{}", notice.app, notice.env, notice.service))
                .message_deduplication_id(format!("{}.{}", notice.deployment, notice.event));
        }
        let mut customized = call.customize();
        if let Some(region) = elsewhere(topic, &self.out.region, self.clients.endpoint.as_deref()) {
            customized = customized.config_override(in_region(region));
        }
        match customized.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = AwsError::from_sdk(format!("publish to {topic}"), e);
                let help = match e.kind {
                    ErrorKind::AccessDenied => Some(
                        "the deploying identity needs sns:Publish on the topic (and, for an \
                         encrypted topic, kms:GenerateDataKey and kms:Decrypt on its key)",
                    ),
                    ErrorKind::NotFound => Some(
                        "no such topic: check the ARN in [notify] sns (a bare name means the \
                         environment's own account and region)",
                    ),
                    _ => None,
                };
                let mut err = terr(e);
                if let Some(h) = help {
                    err.help = Some(h.to_owned());
                }
                Err(err)
            }
        }
    }
}

/// The topic's ARN: itself when it is one, else the name in `account` and `region`.
pub(crate) fn topic_arn(topic: &str, region: &str, account: &str) -> String {
    if topic.starts_with("arn:") {
        return topic.to_owned();
    }
    format!("arn:{}:sns:{region}:{account}:{topic}", partition(region))
}

/// The topic's region when calls about it must go there rather than to `home` (never with an
/// emulator's endpoint, which serves every region).
pub(crate) fn elsewhere<'t>(arn: &'t str, home: &str, endpoint: Option<&str>) -> Option<&'t str> {
    let region = arn.split(':').nth(3).unwrap_or_default();
    (endpoint.is_none() && !region.is_empty() && region != home).then_some(region)
}

/// A configuration override for calls in `region`.
pub(crate) fn in_region(region: &str) -> aws_sdk_sns::config::Builder {
    aws_sdk_sns::config::Builder::default()
        .region(aws_sdk_sns::config::Region::new(region.to_owned()))
}

/// The message for each kind of subscriber: the text for people by default, the notice's
/// JSON for programs.
fn message(notice: &Notice) -> Result<String, serde_json::Error> {
    let data = serde_json::to_string(notice)?;
    serde_json::to_string(&json!({
        "default": notice.text,
        "email": notice.text,
        "sms": first_line(&notice.text),
        "email-json": data,
        "sqs": data,
        "lambda": data,
        "http": data,
        "https": data,
        "firehose": data,
    }))
}

/// `wharf: APP/ENV SERVICE EVENT`: printable ASCII on one line, at most 100 characters, as
/// SNS takes a subject.
fn subject(notice: &Notice) -> String {
    let s = format!(
        "wharf: {}/{} {} {}",
        notice.app, notice.env, notice.service, notice.event
    );
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    out.truncate(SUBJECT_MAX);
    out
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// The partition a region is in.
pub(crate) fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notice {
        Notice::started("pulse", "prod", "web", "prod-1", "canary", "img:1")
    }

    #[test]
    fn every_subscriber_kind_gets_a_message_people_or_programs_read() {
        let m: serde_json::Value = serde_json::from_str(&message(&notice()).unwrap()).unwrap();
        assert_eq!(m["default"], notice().text);
        assert_eq!(m["email"], notice().text);
        for kind in ["sqs", "lambda", "http", "https", "email-json", "firehose"] {
            let inner: serde_json::Value =
                serde_json::from_str(m[kind].as_str().expect(kind)).unwrap();
            assert_eq!(inner["event"], "started", "{kind}");
            assert_eq!(inner["deployment"], "prod-1", "{kind}");
        }
    }

    #[test]
    fn subjects_are_short_printable_ascii() {
        assert_eq!(subject(&notice()), "wharf: pulse/prod web started");
        let mut n = notice();
        n.service = "wé\nb".repeat(60);
        let s = subject(&n);
        assert!(s.len() <= SUBJECT_MAX && s.chars().all(|c| c.is_ascii_graphic() || c == ' '));
    }

    #[test]
    fn a_bare_name_is_a_topic_of_the_environment_and_others_are_called_where_they_are() {
        assert_eq!(
            topic_arn("deploys", "cn-north-1", "123456789012"),
            "arn:aws-cn:sns:cn-north-1:123456789012:deploys"
        );
        let other = "arn:aws:sns:eu-west-1:123456789012:deploys";
        assert_eq!(topic_arn(other, "us-east-1", "1"), other);
        assert_eq!(elsewhere(other, "us-east-1", None), Some("eu-west-1"));
        assert_eq!(elsewhere(other, "eu-west-1", None), None);
        assert_eq!(
            elsewhere(other, "us-east-1", Some("http://127.0.0.1:5000")),
            None
        );
    }

    #[test]
    fn partitions_follow_the_region() {
        assert_eq!(partition("eu-central-1"), "aws");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
    }
}
