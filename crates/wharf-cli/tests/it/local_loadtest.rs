//! The seed 000 load test as a job, `wharf run load-test --env local`, against the moto
//! server on loopback: its container shares the host's network (`network = "host"`), gets
//! the table from its `dynamodb` binding and its secret key from the secrets file; every item
//! is written or counted as an exact duplicate, the table it made is removed, nothing is left.
//!
//! The image holds the workspace's own build of the program with the shared libraries it
//! links (copied from this machine), so the suite does not pay for the static release build
//! the example's Dockerfile uses; the program is the same.

use std::path::{Path, PathBuf};

use wharf_testkit::docker::{docker, ImageGuard};
use wharf_testkit::{moto, workspace_root, Cmd, TestDir};

use crate::local::{free_port, Down};
use crate::wharf;

/// The workspace's build of the load test, beside the `wharf` binary (built when missing).
fn load_test_binary() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_wharf")).with_file_name("dynamodb-load-test");
    if !bin.exists() {
        Cmd::new(env!("CARGO"))
            .args(["build", "-q", "-p", "dynamodb-load-test"])
            .current_dir(workspace_root())
            .run()
            .success();
    }
    bin
}

/// An image with the program, the libraries `ldd` says it needs at their paths, and the
/// machine's CA bundle.
fn image(app: &str) -> ImageGuard {
    let bin = load_test_binary();
    let ctx = TestDir::new();
    std::fs::copy(&bin, ctx.join("dynamodb-load-test")).expect("copy the program");
    let ldd = Cmd::new("ldd").arg(&bin).run().success();
    for lib in ldd.stdout.split_whitespace().filter(|w| w.starts_with('/')) {
        let to = ctx.join(lib.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().expect("a directory")).expect("mkdir");
        std::fs::copy(lib, &to).unwrap_or_else(|e| panic!("copy {lib}: {e}"));
    }
    // The SDK's TLS wants a trust store even for plain HTTP, as the example's image has.
    let certs = ctx.join("etc/ssl/certs");
    std::fs::create_dir_all(&certs).expect("mkdir");
    std::fs::copy(
        "/etc/ssl/certs/ca-certificates.crt",
        certs.join("ca-certificates.crt"),
    )
    .expect("the machine's CA bundle");
    ctx.write(
        "Dockerfile",
        "FROM scratch\nCOPY . /\nUSER 65534:65534\nENTRYPOINT [\"/dynamodb-load-test\"]\n",
    );
    let tag = format!("wharf-test/{app}-load-test:1");
    let mut args = vec!["-q".to_owned(), "-t".into(), tag.clone()];
    args.extend(wharf_testkit::docker::labels(
        app,
        "local",
        "load-test",
        "test",
    ));
    args.push(ctx.path().display().to_string());
    wharf_testkit::docker::build(args).success();
    ImageGuard(tag)
}

#[test]
fn wharf_run_load_test_locally_writes_every_item_and_counts_duplicates_exactly() {
    let m = moto();
    let app = format!("lt{}", std::process::id());
    let img = image(&app);
    let d = TestDir::new();
    d.write("local.secrets", "ssm:/lt/emulator-key=testing\n");
    d.write(
        "wharf.toml",
        format!(
            "[app]\nname = \"{app}\"\n[environments.local]\ntarget = \"local\"\nlisten = \"127.0.0.1:{port}\"\nsecrets_file = \"local.secrets\"\n\
             [data.loadtest]\ntype = \"dynamodb\"\npartition_key = {{ name = \"pk\" }}\n\
             [jobs.load-test]\nimage = \"{image}\"\ndata = [\"loadtest\"]\ntimeout = \"5m\"\n\
             [environments.local.jobs.load-test]\nnetwork = \"host\"\n\
             env = {{ AWS_ENDPOINT_URL = \"{endpoint}\", AWS_REGION = \"us-east-1\", AWS_ACCESS_KEY_ID = \"testing\", LOADTEST_CONFIG_PATH = \"-\", LOADTEST_TOTAL_ITEMS = \"400\", LOADTEST_INJECT_DUPLICATES = \"10\", LOADTEST_CONCURRENCY_LIMIT = \"8\" }}\n\
             secrets = {{ AWS_SECRET_ACCESS_KEY = \"ssm:/lt/emulator-key\" }}\n",
            port = free_port(),
            image = img.0,
            endpoint = m.endpoint(),
        ),
    );
    let _down = Down(&d);
    let out = wharf()
        .args(["run", "load-test", "--env", "local"])
        .current_dir(d.path())
        .run()
        .success();
    let report: serde_json::Value = out
        .stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON report\n{out}"));
    let r = &report["report"];
    let table = format!("{app}-local-loadtest");
    assert_eq!(
        r["table"],
        table.as_str(),
        "the binding named the table: {out}"
    );
    assert_eq!(r["written"], 360, "{out}");
    assert_eq!(r["duplicates_rejected"], 40, "exactly 10% of 400: {out}");
    assert_eq!(
        (r["lost"].as_u64(), r["errors"].as_u64()),
        (Some(0), Some(0)),
        "{out}"
    );
    assert!(
        !m.boto3("print(client('dynamodb').list_tables()['TableNames'])")
            .contains(&table),
        "the table it made is gone"
    );
    let left = docker([
        "ps",
        "-a",
        "-q",
        "--filter",
        &format!("label=wharf.app={app}"),
    ]);
    assert_eq!(left.stdout.trim(), "", "the run's container is removed");
}
