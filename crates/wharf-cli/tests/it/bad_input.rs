//! Bad input gets one clear screen and a documented exit code, never a panic.

use wharf_testkit::TestDir;

use crate::{no_panic, wharf};

#[test]
fn a_directory_without_a_manifest_says_how_to_make_one() {
    let d = TestDir::new();
    let out = wharf().arg("validate").current_dir(d.path()).run().code(4);
    no_panic(&out);
    let out = out.contains("no wharf.toml in").contains("wharf init");
    assert!(out.stdout.is_empty(), "errors go to stderr\n{out}");
}

#[test]
fn a_missing_manifest_path_is_named() {
    let d = TestDir::new();
    let out = wharf()
        .args(["plan", "-f", "nope.toml"])
        .current_dir(d.path())
        .run()
        .code(4);
    no_panic(&out);
    out.contains("failed to read manifest nope.toml")
        .contains("No such file");
}

#[test]
fn a_directory_given_as_manifest_is_refused() {
    let d = TestDir::new();
    std::fs::create_dir(d.join("sub")).expect("mkdir");
    let out = wharf()
        .args(["validate", "-f", "sub"])
        .current_dir(d.path())
        .run()
        .code(4);
    no_panic(&out);
    out.contains("sub is a directory");
}

#[test]
fn a_manifest_that_is_not_utf8_is_refused() {
    let d = TestDir::new();
    d.write("wharf.toml", [0xff, 0xfe, 0x00, 0x41]);
    let out = wharf().arg("validate").current_dir(d.path()).run().code(4);
    no_panic(&out);
    out.contains("not UTF-8");
}

#[test]
fn malformed_toml_is_located() {
    let d = TestDir::new();
    d.write(
        "wharf.toml",
        "[app]\nname = \"x\n[environments.local]\ntarget = \"local\"\n",
    );
    let out = wharf().arg("validate").current_dir(d.path()).run().code(3);
    no_panic(&out);
    out.contains("error[toml-syntax]").contains("wharf.toml:2:");
}

#[test]
fn wrong_types_and_unknown_keys_fail_plan_with_code_3() {
    let d = TestDir::new();
    d.write(
        "wharf.toml",
        "[app]\nname = \"x\"\n[environments.local]\ntarget = \"local\"\n[services.web]\nimage = \"x:1\"\nport = \"80\"\ncuont = 2\n",
    );
    let out = wharf()
        .args(["plan", "--env", "local"])
        .current_dir(d.path())
        .run()
        .code(3);
    no_panic(&out);
    out.contains("`services.web.port` must be an integer, found a string")
        .contains("did you mean `count`?")
        .contains("wharf.toml:8:1");
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    let out = wharf().args(["validate", "--frobnicate"]).run().code(2);
    no_panic(&out);
}

#[test]
fn errors_are_json_on_stdout_with_output_json() {
    let d = TestDir::new();
    let out = wharf()
        .args(["plan", "--output", "json"])
        .current_dir(d.path())
        .run()
        .code(4);
    let v = out.json();
    assert_eq!(v["error"]["code"], "wharf::manifest::not_found", "{out}");
    assert_eq!(v["error"]["exit_code"], 4);
    assert!(v["error"]["help"]
        .as_str()
        .unwrap_or_default()
        .contains("wharf init"));
}

#[test]
fn a_huge_file_is_refused_before_parsing() {
    let d = TestDir::new();
    d.write("wharf.toml", vec![b'#'; 5 * 1024 * 1024]);
    let out = wharf().arg("validate").current_dir(d.path()).run().code(4);
    out.contains("larger than 4 MiB");
}

#[test]
fn an_endless_device_is_refused_at_the_limit_without_reading_it_all() {
    // /dev/zero claims 0 bytes and never ends: the limit holds on what is read.
    let out = wharf().args(["-f", "/dev/zero", "validate"]).run().code(4);
    out.contains("larger than 4 MiB");
}

#[test]
fn a_secrets_file_open_to_other_users_is_warned_about_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let d = TestDir::new();
    d.write(
        "wharf.toml",
        "[app]\nname = \"perm\"\n[environments.local]\ntarget = \"local\"\nsecrets_file = \"local.secrets\"\n[services.web]\nimage = \"x:1\"\nport = 80\n",
    );
    d.write("local.secrets", "ssm:/perm/db=hunter2\n");
    let path = d.path().join("local.secrets");
    let history = || {
        wharf()
            .args(["history", "--env", "local"])
            .current_dir(d.path())
            .run()
            .success()
    };
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = history()
        .contains("is open to other users (mode 644)")
        .contains("chmod 600");
    assert!(!out.stderr.contains("hunter2") && !out.stdout.contains("hunter2"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let out = history();
    assert!(!out.stderr.contains("open to other users"), "{out}");
}
