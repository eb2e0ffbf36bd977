//! `wharf deploy` killed with SIGKILL in each phase of a canary on the real Docker Engine, then
//! `wharf deploy --resume` or `wharf abort` from a new process: the dead process's lock is
//! released at once, traffic ends on a healthy version, and no container is orphaned.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use wharf_testkit::docker::docker;
use wharf_testkit::TestDir;

use crate::local::{deploy_quietly, deployment_of, free_port, manifest, status_json, Down};
use crate::wharf;

/// Steps of a canary replacing a running version: provision, wait for healthy, shift 50%,
/// bake, shift 100%, retire previous.
const STEPS: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Then {
    Resume,
    Abort,
}

/// Starts `wharf deploy` and kills it (SIGKILL) shortly after it enters step `k`; answers the
/// new deployment's id.
fn deploy_killed_at(d: &TestDir, k: usize) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["deploy", "--env", "local", "--output", "json"])
        .current_dir(d.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn wharf deploy");
    let stdout = child.stdout.take().expect("stdout");
    let mut id = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read events");
        let Ok(e) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if e["event"] == "started" {
            id = e["id"].as_str().map(str::to_owned);
        }
        let reached = match k {
            0 => e["event"] == "started",
            _ => e["event"] == "step" && e["index"] == k,
        };
        if reached {
            // Into the step, not at its edge: a half-done provision, wait or bake. A shift and
            // a retire are quick: killed as soon as they are announced.
            if matches!(k, 0 | 1 | 3) {
                std::thread::sleep(Duration::from_millis(400));
            }
            child.kill().expect("SIGKILL");
            let status = child.wait().expect("reaped");
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                status.signal(),
                Some(9),
                "step {k}: wharf was killed, not finished ({status})"
            );
            return id.expect("a started event came first");
        }
    }
    let status = child.wait().expect("wait");
    panic!("wharf deploy ended ({status}) before step {k}");
}

/// The deployments whose containers exist (running or not), one entry per container.
fn containers_of(app: &str) -> Vec<(String, bool)> {
    let out = docker([
        "ps",
        "-a",
        "--filter",
        &format!("label=wharf.app={app}"),
        "--format",
        "{{.Label \"wharf.deployment\"}} {{.State}}",
    ])
    .success();
    let mut v: Vec<(String, bool)> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(d, s)| (d.to_owned(), s == "running"))
        .collect();
    v.sort();
    v
}

fn killed_then(k: usize, then: Then) {
    let d = TestDir::new();
    let app = format!("kill{}x{k}{}", std::process::id(), then as u8);
    let port = free_port();
    d.write("local.secrets", "ssm:/t/drain=s3cret\n");
    d.write(
        "wharf.toml",
        manifest(&app, port, "HELLO_VERSION = \"1\"", "3s")
            .replace("port = 8000\n", "port = 8000\ncount = 2\n"),
    );
    let _down = Down(&d);
    deploy_quietly(&d);
    let v1 = deployment_of(port);

    d.write(
        "wharf.toml",
        manifest(&app, port, "HELLO_VERSION = \"2\"", "3s")
            .replace("port = 8000\n", "port = 8000\ncount = 2\n"),
    );
    let v2 = deploy_killed_at(&d, k);

    // Whatever the phase, the service answers meanwhile (v1, v2, or both).
    let during = deployment_of(port);
    assert!(
        during == v1 || during == v2,
        "step {k}: answered by {during:?}"
    );
    // A plain deploy releases the dead process's lock, then is refused: there is an
    // unfinished deployment.
    wharf()
        .args(["deploy", "--env", "local"])
        .current_dir(d.path())
        .run()
        .code(6)
        .contains("which no longer runs")
        .contains("--resume");

    let out = match then {
        Then::Resume => wharf()
            .args(["deploy", "--env", "local", "--resume"])
            .current_dir(d.path())
            .run(),
        Then::Abort => wharf()
            .args(["abort", "--env", "local"])
            .current_dir(d.path())
            .run(),
    }
    .success();
    assert!(out.stderr.contains("resuming at"), "step {k}: {out}");
    // Abort after retiring v1 began finishes v2 instead: there is nothing to return to.
    let want = if then == Then::Abort && k < STEPS - 1 {
        &v1
    } else {
        &v2
    };
    for _ in 0..20 {
        assert_eq!(&deployment_of(port), want, "step {k} {then:?}: serving");
    }
    let st = status_json(&d);
    let deps = st["services"][0]["deployments"]
        .as_array()
        .expect("deployments")
        .clone();
    assert_eq!(deps.len(), 1, "step {k} {then:?}: {st}");
    assert_eq!(deps[0]["id"], want.as_str(), "{st}");
    assert_eq!(deps[0]["weight"], 100, "{st}");
    assert_eq!(deps[0]["healthy"], 2, "{st}");
    assert_eq!(
        containers_of(&app),
        vec![(want.clone(), true), (want.clone(), true)],
        "step {k} {then:?}: only the serving deployment's containers are left"
    );
}

macro_rules! killed {
    ($($name:ident: $k:expr, $then:expr;)*) => {
        $(
            #[test]
            fn $name() {
                killed_then($k, $then);
            }
        )*
    };
}

killed! {
    killed_at_provision_then_resumed: 0, Then::Resume;
    killed_at_provision_then_aborted: 0, Then::Abort;
    killed_waiting_for_health_then_resumed: 1, Then::Resume;
    killed_waiting_for_health_then_aborted: 1, Then::Abort;
    killed_at_shift_then_resumed: 2, Then::Resume;
    killed_at_shift_then_aborted: 2, Then::Abort;
    killed_during_bake_then_resumed: 3, Then::Resume;
    killed_during_bake_then_aborted: 3, Then::Abort;
    killed_at_full_shift_then_resumed: 4, Then::Resume;
    killed_at_full_shift_then_aborted: 4, Then::Abort;
    killed_while_retiring_then_resumed: 5, Then::Resume;
    killed_while_retiring_then_aborted: 5, Then::Abort;
}
