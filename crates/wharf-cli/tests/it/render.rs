//! `wharf render`: the templates as YAML or JSON, one stack or all, to stdout or files.

use wharf_testkit::{workspace_root, TestDir};

use crate::{hello_dir, no_panic, wharf};

#[test]
fn renders_the_baseline_as_yaml_by_default() {
    let out = wharf()
        .args(["render", "--env", "test"])
        .current_dir(hello_dir())
        .run()
        .success();
    no_panic(&out);
    assert!(
        out.stdout
            .starts_with("AWSTemplateFormatVersion: \"2010-09-09\""),
        "{}",
        &out.stdout[..80]
    );
    assert!(out
        .stdout
        .contains("Type: \"AWS::ElasticLoadBalancingV2::LoadBalancer\""));
}

#[test]
fn renders_json_that_parses_and_every_stack_of_the_reference() {
    let out = wharf()
        .args([
            "render",
            "-f",
            "docs/reference.wharf.toml",
            "--env",
            "test",
            "--format",
            "json",
            "--output",
            "json",
        ])
        .current_dir(workspace_root())
        .run()
        .success();
    let v = out.json();
    let names: Vec<&str> = v["stacks"]
        .as_array()
        .expect("stacks")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["pulse-test-baseline", "pulse-test-data"]);
    assert!(v["stacks"][1]["template"]["Resources"]["DbDatabase"].is_object());
}

#[test]
fn one_stack_to_a_directory() {
    let d = TestDir::new();
    wharf()
        .args([
            "render",
            "--env",
            "test",
            "--stack",
            "baseline",
            "--format",
            "json",
            "--out-dir",
        ])
        .arg(d.path())
        .current_dir(hello_dir())
        .run()
        .success()
        .contains("wrote");
    let t: serde_json::Value =
        serde_json::from_str(&d.read("hello-test-baseline.json")).expect("JSON template");
    assert_eq!(t["AWSTemplateFormatVersion"], "2010-09-09");
}

#[test]
fn a_stack_the_environment_does_not_have_is_explained() {
    let out = wharf()
        .args(["render", "--env", "test", "--stack", "data"])
        .current_dir(hello_dir())
        .run()
        .code(2);
    out.contains("has no data stack").contains("[data.NAME]");
}

#[test]
fn a_local_environment_has_no_templates() {
    wharf()
        .args(["render", "--env", "local"])
        .current_dir(hello_dir())
        .run()
        .code(2)
        .contains("local environment");
}
