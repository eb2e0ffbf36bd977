//! What the replay-driven tests share: an SDK configuration pointed at a replay server, with
//! fixed test credentials and no retries (a recorded failure is seen once, as sent).

use wharf_testkit::Replay;

pub async fn replayed(replay: &Replay) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(replay.endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}
