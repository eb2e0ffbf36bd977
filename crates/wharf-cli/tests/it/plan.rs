//! `wharf plan`: every resource with wharf's resource names, as text and as JSON (snapshot-tested).

use crate::{hello_dir, no_panic, wharf};

#[test]
fn plan_json_of_the_example_aws_environment() {
    let out = wharf()
        .args(["plan", "--env", "test", "--output", "json"])
        .current_dir(hello_dir())
        .run()
        .success();
    no_panic(&out);
    insta::assert_snapshot!("plan_hello_test_json", out.stdout);
}

#[test]
fn plan_json_of_the_example_local_environment() {
    let out = wharf()
        .args(["plan", "-e", "local", "--output", "json"])
        .current_dir(hello_dir())
        .run()
        .success();
    insta::assert_snapshot!("plan_hello_local_json", out.stdout);
}

#[test]
fn plan_text_names_resources_after_seed_002() {
    let out = wharf()
        .args(["plan", "--env", "test"])
        .current_dir(hello_dir())
        .run()
        .success();
    out.contains("cloudformation-stack hello-test-baseline")
        .contains("web-test-YYYYMMDD-HHMMSSZ")
        .contains("hello/test/web:test-YYYYMMDD-HHMMSSZ")
        .contains("priority 100–198")
        .contains("/aws/hello/test/web");
}

#[test]
fn plan_of_the_reference_covers_data_jobs_and_every_egress_resource() {
    let root = wharf_testkit::workspace_root();
    let out = wharf()
        .args([
            "plan",
            "-f",
            "docs/reference.wharf.toml",
            "--env",
            "test",
            "--output",
            "json",
        ])
        .current_dir(root)
        .run()
        .success();
    let v = out.json();
    let groups: Vec<&str> = v["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        groups,
        ["pulse-test-baseline", "pulse-test-data", "account"],
        "[ci.github] lists test: GitHub's OIDC provider is the account's"
    );
    let text = out.stdout;
    for want in [
        "AWS::RDS::DBInstance",
        "AWS::ElastiCache::ReplicationGroup",
        "AWS::WAFv2::WebACL",
        "NatGateway3",
        "AWS::Scheduler::Schedule",
    ] {
        assert!(text.contains(want), "missing {want}");
    }
}

#[test]
fn plan_needs_an_env_when_there_are_several() {
    let out = wharf().arg("plan").current_dir(hello_dir()).run().code(2);
    out.contains("which environment? the manifest has local, test")
        .contains("--env");
}

#[test]
fn wharf_env_selects_the_environment() {
    let out = wharf()
        .args(["plan", "--output", "json"])
        .env("WHARF_ENV", "local")
        .current_dir(hello_dir())
        .run()
        .success();
    assert_eq!(out.json()["environment"], "local");
}
