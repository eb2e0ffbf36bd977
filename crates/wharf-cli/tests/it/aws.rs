//! `wharf up`, `plan --remote` and `down` on an AWS environment, against the moto server with
//! the real SDK, checked afterwards through the CloudFormation API; the account guard refusing
//! before any change.

use serde_json::Value;
use wharf_testkit::{moto, Cmd, TestDir};

use crate::{no_panic, wharf};

pub const MANIFEST: &str = r#"
[app]
name = "pulse"

[environments.test]
target = "aws"
region = "us-east-1"
account = "123456789012"
azs = 2
egress = "endpoints"

[services.web]
image = "public.ecr.aws/pulse/web:1"
port = 8000
"#;

const SECOND_SERVICE: &str = r#"
[services.api]
image = "public.ecr.aws/pulse/api:1"
port = 9000
"#;

/// `wharf` pointed at the moto server, with test credentials and no profile of the machine's.
pub fn aws_wharf(dir: &TestDir, endpoint: &str) -> Cmd {
    let mut cmd = wharf().current_dir(dir.path());
    for (k, v) in aws_env(dir) {
        cmd = cmd.env(k, v);
    }
    // The tests' manifests pull from made-up registries, and moto's CloudFormation leaves the
    // private subnets without their route tables: the fast preflight would stop every deploy
    // at those. Its own tests (aws_preflight) take this away.
    cmd = cmd.env("WHARF_SKIP_PREFLIGHT", "1");
    cmd.env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .args(["--endpoint-url", endpoint, "--env", "test"])
}

/// The environment every AWS test's `wharf` runs in: test credentials, no configuration or
/// instance metadata from the machine (with `AWS_PROFILE` and `AWS_ENDPOINT_URL` removed).
pub fn aws_env(dir: &TestDir) -> [(&'static str, std::ffi::OsString); 5] {
    [
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_CONFIG_FILE", dir.path().join("no-aws-config").into()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.path().join("no-aws-credentials").into(),
        ),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

/// A stack as CloudFormation describes it: status, tags and resource types.
pub type Described = (String, Vec<(String, String)>, Vec<String>);

pub fn stack(endpoint: &str, name: &str) -> Option<Described> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_cloudformation::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load()
            .await;
        let cfn = aws_sdk_cloudformation::Client::new(&config);
        let out = cfn.describe_stacks().stack_name(name).send().await.ok()?;
        let s = out.stacks().first()?;
        let status = s.stack_status()?.as_str().to_owned();
        if status == "DELETE_COMPLETE" {
            return None;
        }
        let tags = s
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let res = cfn
            .describe_stack_resources()
            .stack_name(name)
            .send()
            .await
            .ok()?;
        let types = res
            .stack_resources()
            .iter()
            .map(|r| r.resource_type().unwrap_or_default().to_owned())
            .collect();
        Some((status, tags, types))
    })
}

#[test]
fn up_plan_and_down_on_moto_through_change_sets() {
    let m = moto();
    let endpoint = m.endpoint();
    let dir = TestDir::new();
    dir.write("wharf.toml", MANIFEST);

    let out = aws_wharf(&dir, &endpoint)
        .args(["up", "--output", "json"])
        .run()
        .success();
    no_panic(&out);
    let up = out.json();
    assert_eq!(up["identity"]["account"], "123456789012");
    assert_eq!(up["stacks"][0]["stack"], "pulse-test-baseline");
    assert_eq!(up["stacks"][0]["applied"], "created");
    let (status, tags, types) = stack(&endpoint, "pulse-test-baseline").expect("stack");
    assert_eq!(status, "CREATE_COMPLETE");
    assert!(
        tags.contains(&("wharf.app".into(), "pulse".into())),
        "{tags:?}"
    );
    assert!(
        tags.contains(&("wharf.env".into(), "test".into())),
        "{tags:?}"
    );
    for t in [
        "AWS::EC2::VPC",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::ECS::Cluster",
        "AWS::ECR::Repository",
    ] {
        assert!(types.iter().any(|x| x == t), "no {t} in {types:?}");
    }
    assert_eq!(
        up["stacks"][0]["changes"].as_u64(),
        Some(types.len() as u64),
        "every resource created was in the change set"
    );

    // Nothing changed: an empty change set, reported as unchanged, not an error.
    let again = aws_wharf(&dir, &endpoint)
        .args(["up", "--output", "json"])
        .run()
        .success()
        .json();
    assert_eq!(again["stacks"][0]["applied"], "unchanged");

    // A second service: the preview lists its resources as additions and changes nothing.
    dir.write("wharf.toml", format!("{MANIFEST}{SECOND_SERVICE}"));
    let plan = aws_wharf(&dir, &endpoint)
        .args(["plan", "--remote", "--output", "json"])
        .run()
        .success()
        .json();
    let changes = plan["stacks"][0]["changes"].as_array().expect("changes");
    let added: Vec<&str> = changes
        .iter()
        .filter(|c| c["action"] == "Add")
        .map(|c| c["logical_id"].as_str().unwrap_or_default())
        .collect();
    assert!(added.contains(&"ServiceApiRepository"), "{changes:?}");
    assert!(added.contains(&"ServiceApiSecurityGroup"), "{changes:?}");
    assert!(plan["stacks"][0]["exists"].as_bool().unwrap_or(false));
    let (_, _, unchanged) = stack(&endpoint, "pulse-test-baseline").expect("stack");
    assert_eq!(unchanged.len(), types.len(), "the preview changed nothing");
    let text = aws_wharf(&dir, &endpoint)
        .args(["plan", "--remote"])
        .run()
        .success();
    assert!(
        text.stdout
            .contains("+ ServiceApiRepository (AWS::ECR::Repository)"),
        "{text}"
    );

    let updated = aws_wharf(&dir, &endpoint)
        .args(["up", "--output", "json"])
        .run()
        .success()
        .json();
    assert_eq!(updated["stacks"][0]["applied"], "updated");
    let (status, _, types2) = stack(&endpoint, "pulse-test-baseline").expect("stack");
    assert_eq!(status, "UPDATE_COMPLETE");
    assert_eq!(types2.len(), types.len() + added.len());

    // down asks first: without a terminal and without --yes it changes nothing.
    aws_wharf(&dir, &endpoint)
        .arg("down")
        .run()
        .code(1)
        .contains("not confirmed");
    assert!(stack(&endpoint, "pulse-test-baseline").is_some());
    let down = aws_wharf(&dir, &endpoint)
        .args(["down", "--yes", "--output", "json"])
        .run()
        .success()
        .json();
    assert_eq!(down["deleted"], Value::from(vec!["pulse-test-baseline"]));
    assert!(stack(&endpoint, "pulse-test-baseline").is_none());
}

#[test]
fn the_account_guard_refuses_before_any_change() {
    let m = moto();
    let endpoint = m.endpoint();
    let dir = TestDir::new();
    dir.write(
        "wharf.toml",
        MANIFEST.replace("123456789012", "111111111111"),
    );
    let out = aws_wharf(&dir, &endpoint)
        .arg("up")
        .run()
        .code(8)
        .contains("allows only account 111111111111")
        .contains("123456789012");
    no_panic(&out);
    assert!(stack(&endpoint, "pulse-test-baseline").is_none());
}

#[test]
fn aws_unreachable_is_one_clear_error() {
    let dir = TestDir::new();
    dir.write("wharf.toml", MANIFEST);
    // A loopback port nothing listens on; one attempt so the test does not wait on backoff.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let out = aws_wharf(&dir, &format!("http://127.0.0.1:{port}"))
        .env("AWS_MAX_ATTEMPTS", "1")
        .arg("up")
        .run()
        .code(8)
        .contains("failed to identify the caller")
        .contains("endpoint");
    no_panic(&out);
}
