//! `wharf validate`: every problem, located, in text or JSON; exit codes 0 and 3.

use wharf_testkit::TestDir;

use crate::{hello_dir, no_panic, wharf};

const BAD: &str = r#"[app]
name = "pulse"

[environments.local]
target = "local"
region = "eu-west-1"

[services.web]
image = "x:1"
port = 70000
cpu = 256
memory = 4096
secrets = { DB = "hunter2" }
"#;

#[test]
fn the_example_is_valid() {
    let out = wharf()
        .arg("validate")
        .current_dir(hello_dir())
        .run()
        .success();
    no_panic(&out);
    assert!(
        out.stdout
            .contains("wharf.toml is valid: environments local, test; services web"),
        "{out}"
    );
}

#[test]
fn the_load_test_example_is_valid_and_plans_its_job_with_the_table_and_the_tree() {
    let root = wharf_testkit::workspace_root().join("examples/dynamodb-load-test");
    let out = wharf().arg("validate").current_dir(&root).run().success();
    assert!(
        out.stdout
            .contains("wharf.toml is valid: environments local, test"),
        "{out}"
    );
    assert!(!out.stderr.contains("warning"), "no warnings: {out}");
    let plan = wharf()
        .args(["plan", "--env", "test"])
        .current_dir(&root)
        .run()
        .success();
    for want in ["load-test", "loadtest-config", "/dynamodb-load-test"] {
        assert!(plan.stdout.contains(want), "{want:?} in {plan}");
    }
    // The host's network is for local environments only.
    let bad = std::fs::read_to_string(root.join("wharf.toml"))
        .unwrap()
        .replace(
            "[environments.local.jobs.load-test]",
            "[environments.test.jobs.load-test]",
        );
    let d = wharf_testkit::TestDir::new();
    d.write("wharf.toml", bad);
    let out = wharf().arg("validate").current_dir(d.path()).run().code(3);
    assert!(out.stdout.contains("asks for the host's network"), "{out}");
}

#[test]
fn the_reference_manifest_is_valid() {
    let root = wharf_testkit::workspace_root();
    wharf()
        .args(["validate", "-f", "docs/reference.wharf.toml"])
        .current_dir(root)
        .run()
        .success();
}

#[test]
fn every_problem_is_shown_with_a_caret_and_exit_3() {
    let d = TestDir::new();
    d.write("wharf.toml", BAD);
    let out = wharf().arg("validate").current_dir(d.path()).run().code(3);
    no_panic(&out);
    let out = out
        .contains("error[target-mismatch]")
        .contains("error[port-range]")
        .contains("error[fargate-size]")
        .contains("error[secret-ref]")
        .contains("--> wharf.toml:10:8")
        .contains("10 | port = 70000\n   |        ^^^^^");
    assert!(
        !out.stdout.contains("hunter2"),
        "secret values are never echoed\n{out}"
    );
}

#[test]
fn json_lists_problems_with_positions() {
    let d = TestDir::new();
    d.write("wharf.toml", BAD);
    let out = wharf()
        .args(["validate", "--output", "json"])
        .current_dir(d.path())
        .run()
        .code(3);
    let v = out.json();
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"], 4, "{out}");
    let problems = v["problems"]["problems"].as_array().expect("problems");
    let port = problems
        .iter()
        .find(|p| p["rule"] == "port-range")
        .expect("port-range");
    assert_eq!(
        (port["line"].as_u64(), port["column"].as_u64()),
        (Some(10), Some(8))
    );
    assert_eq!(port["key"], "services.web.port");
}

#[test]
fn strict_turns_warnings_into_failure() {
    let d = TestDir::new();
    d.write(
        "wharf.toml",
        "[app]\nname = \"x\"\n[environments.local]\ntarget = \"local\"\n[services.web]\nimage = \"x:1\"\nport = 80\nenv = { API_TOKEN = \"abc\" }\n",
    );
    wharf()
        .arg("validate")
        .current_dir(d.path())
        .run()
        .success()
        .contains("warning[secret-ref]");
    wharf()
        .args(["validate", "--strict"])
        .current_dir(d.path())
        .run()
        .code(3);
}

#[test]
fn color_only_when_asked_for_and_never_with_no_color() {
    let d = TestDir::new();
    d.write("wharf.toml", BAD);
    // Not a terminal: no escape codes, whatever the flags.
    let out = wharf().arg("validate").current_dir(d.path()).run().code(3);
    assert!(
        !out.stdout.contains('\x1b') && !out.stderr.contains('\x1b'),
        "{out}"
    );
    let out = wharf()
        .args(["validate", "--no-color"])
        .env_remove("NO_COLOR")
        .current_dir(d.path())
        .run()
        .code(3);
    assert!(!out.stdout.contains('\x1b'), "{out}");
}

#[test]
fn an_unknown_env_is_a_usage_error_with_did_you_mean() {
    let out = wharf()
        .args(["validate", "--env", "tset"])
        .current_dir(hello_dir())
        .run()
        .code(2);
    out.contains("no environment `tset`")
        .contains("did you mean `test`?");
}

#[test]
fn a_platform_fargate_does_not_run_is_refused_with_the_ones_it_does() {
    let d = TestDir::new();
    d.write(
        "wharf.toml",
        "[app]\nname = \"pulse\"\n[environments.test]\ntarget = \"aws\"\nregion = \"eu-west-1\"\n\
         account = \"123456789012\"\n[services.web]\nimage = \"x:1\"\nport = 8000\n\
         platform = \"linux/arm64\"\ncapacity = \"fargate-spot\"\n[services.api]\n\
         build = { context = \".\", platform = \"windows/amd64\" }\nport = 8000\n",
    );
    let out = wharf().arg("validate").current_dir(d.path()).run().code(3);
    no_panic(&out);
    for want in [
        "Fargate Spot does not run linux/arm64 tasks",
        "Fargate cannot run platform `windows/amd64`",
        "\"linux/amd64\" (X86_64) or \"linux/arm64\" (ARM64, Graviton)",
    ] {
        assert!(
            out.stderr.contains(want) || out.stdout.contains(want),
            "{want}: {out}"
        );
    }
}
