//! What the tests share: an SDK configuration with fixed test credentials pointed at the moto
//! server, or at a replay server with no retries (a recorded failure is seen once, as sent).

use wharf_testkit::Replay;

fn defaults(endpoint: &str) -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
}

pub async fn replayed(replay: &Replay) -> aws_config::SdkConfig {
    defaults(&replay.endpoint())
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await
}

/// A configuration for the moto server at `endpoint`.
pub async fn moto_config(endpoint: &str) -> aws_config::SdkConfig {
    defaults(endpoint).load().await
}
