//! `wharf init` writes a manifest that validates, and never clobbers one unasked.

use wharf_testkit::TestDir;

use crate::wharf;

#[test]
fn init_writes_a_valid_manifest_and_a_dockerfile() {
    let d = TestDir::new();
    let app = d.join("My Shop");
    std::fs::create_dir(&app).expect("mkdir");
    wharf()
        .arg("init")
        .current_dir(&app)
        .run()
        .success()
        .contains("wrote");
    assert!(d.read("My Shop/wharf.toml").contains("name = \"my-shop\""));
    assert!(d.read("My Shop/Dockerfile").contains("FROM"));
    wharf().arg("validate").current_dir(&app).run().success();
    wharf()
        .args(["plan", "--env", "local"])
        .current_dir(&app)
        .run()
        .success()
        .contains("service web");
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let d = TestDir::new();
    wharf()
        .args(["init", "--name", "shop"])
        .current_dir(d.path())
        .run()
        .success();
    wharf()
        .args(["init", "--name", "shop"])
        .current_dir(d.path())
        .run()
        .code(1)
        .contains("already exists")
        .contains("--force");
    wharf()
        .args(["init", "--name", "shop", "--force"])
        .current_dir(d.path())
        .run()
        .success();
    wharf()
        .args(["init", "--name", "shop", "--yes"])
        .current_dir(d.path())
        .run()
        .success();
}

#[test]
fn init_keeps_an_existing_dockerfile_and_knows_rust_projects() {
    let d = TestDir::new();
    d.write("Dockerfile", "FROM mine\n");
    d.write("Cargo.toml", "[package]\nname = \"shop\"\n");
    wharf()
        .args(["init", "--name", "shop", "--port", "3000"])
        .current_dir(d.path())
        .run()
        .success();
    assert_eq!(d.read("Dockerfile"), "FROM mine\n");
    let m = d.read("wharf.toml");
    assert!(
        m.contains("pre_build = \"./build-static.sh\"") && m.contains("port = 3000"),
        "{m}"
    );
}

#[test]
fn init_rejects_a_bad_name() {
    let d = TestDir::new();
    wharf()
        .args(["init", "--name", "Bad_Name"])
        .current_dir(d.path())
        .run()
        .code(2)
        .contains("cannot be an app name");
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = wharf().args(["completions", shell]).run().success();
        assert!(
            out.stdout.contains("wharf") && out.stdout.contains("validate"),
            "{shell}: {out}"
        );
    }
}

#[test]
fn help_everywhere() {
    for sub in [
        &["--help"][..],
        &["init", "--help"],
        &["validate", "--help"],
        &["plan", "--help"],
        &["completions", "--help"],
    ] {
        let out = wharf().args(sub.iter().copied()).run().success();
        assert!(out.stdout.contains("Usage: wharf"), "{out}");
    }
    wharf()
        .arg("--help")
        .run()
        .success()
        .contains("Exit codes: 0 success");
    wharf()
        .arg("--version")
        .run()
        .success()
        .contains("wharf 0.1.0");
}
