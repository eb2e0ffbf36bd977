//! The moto fixture serves the real AWS SDK.

use aws_config::BehaviorVersion;
use wharf_testkit::moto;

async fn sdk_config(endpoint: String) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "wharf-test",
        ))
        .load()
        .await
}

#[tokio::test]
async fn sts_get_caller_identity_through_moto() {
    let m = moto();
    let config = sdk_config(m.endpoint()).await;
    let sts = aws_sdk_sts::Client::new(&config);
    let who = sts
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity through moto");
    assert_eq!(who.account(), Some("123456789012"));
    assert!(
        who.arn()
            .unwrap_or_default()
            .starts_with("arn:aws:sts::123456789012:"),
        "{:?}",
        who.arn()
    );
}

#[test]
fn the_server_runs_on_loopback_and_is_this_process_child() {
    let m = moto();
    assert!(m.endpoint().starts_with("http://127.0.0.1:"));
    let stat =
        std::fs::read_to_string(format!("/proc/{}/stat", m.pid)).expect("the moto process exists");
    let ppid: u32 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        ppid,
        std::process::id(),
        "moto is a child of the test process, so it dies with it"
    );
}
