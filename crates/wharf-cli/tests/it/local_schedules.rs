//! A scheduled job on the local target, on real containers: `wharf deploy` builds the job
//! and gives its schedule to the environment's daemon, which runs it when it is due (the
//! shortest rate EventBridge takes, one minute after the deploy); `status` then shows the run
//! by the schedule with its exit code, and the next run; the run's output is in the job's
//! log under the state dir; the container is gone; `down` leaves nothing.

use std::time::{Duration, Instant};

use serde_json::Value;
use wharf_testkit::docker::docker;
use wharf_testkit::{workspace_root, TestDir};

use crate::local::{free_port, Down};
use crate::{no_panic, wharf};

fn manifest(app: &str, port: u16) -> String {
    let hello = workspace_root().join("examples/hello");
    format!(
        "[app]\nname = \"{app}\"\n[environments.local]\ntarget = \"local\"\nlisten = \"127.0.0.1:{port}\"\n\
         [jobs.tick]\nbuild = {{ context = \"{ctx}\", pre_build = \"{ctx}/build-static.sh\" }}\n\
         command = [\"--job\", \"exit=0\"]\nschedule = \"rate(1 minute)\"\ntimeout = \"30s\"\n\
         env = {{ GREETING = \"from the schedule\" }}\n",
        ctx = hello.display()
    )
}

fn tick(d: &TestDir) -> Value {
    let out = wharf()
        .args(["status", "--env", "local", "--output", "json"])
        .current_dir(d.path())
        .run()
        .success();
    let v: Value = serde_json::from_str(&out.stdout).expect("JSON");
    v["jobs"]
        .as_array()
        .and_then(|j| j.iter().find(|j| j["job"] == "tick").cloned())
        .unwrap_or_else(|| panic!("no job tick in {v}"))
}

#[test]
fn the_daemon_runs_a_scheduled_job_when_it_is_due_and_status_shows_the_run() {
    let d = TestDir::new();
    let app = format!("sched{}", std::process::id());
    d.write("wharf.toml", manifest(&app, free_port()));
    let _down = Down(&d);

    let out = wharf()
        .args(["deploy", "--env", "local"])
        .current_dir(d.path())
        .run()
        .success();
    no_panic(&out);
    assert!(
        out.stdout
            .contains("job tick scheduled rate(1 minute), next run"),
        "{out}"
    );
    let before = tick(&d);
    assert_eq!(before["scheduled"]["expression"], "rate(1 minute)");
    assert!(before.get("last_run").is_none(), "not run yet: {before}");
    let since = before["scheduled"]["since_ms"].as_i64().expect("since");
    assert_eq!(before["next_run_ms"].as_i64(), Some(since + 60_000));

    // Bounded: the turn comes a minute after the deploy; the build is cached.
    let deadline = Instant::now() + Duration::from_secs(180);
    let ran = loop {
        let t = tick(&d);
        if t["last_run"]["end"].is_object() {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "no run ended within 3 minutes: {t}\n{}",
            std::fs::read_to_string(d.path().join(".wharf/local/jobs/tick.log"))
                .unwrap_or_default()
        );
        std::thread::sleep(Duration::from_secs(2));
    };
    let last = &ran["last_run"];
    assert_eq!(last["trigger"]["by"], "schedule", "{ran}");
    assert_eq!(last["end"]["exit_code"], 0, "{ran}");
    assert!(
        last["started_ms"].as_i64().unwrap() >= since + 60_000,
        "not before its turn: {ran}"
    );
    assert!(
        ran["next_run_ms"].as_i64().unwrap() > last["started_ms"].as_i64().unwrap(),
        "{ran}"
    );

    let log = std::fs::read_to_string(d.path().join(".wharf/local/jobs/tick.log"))
        .expect("the job's log");
    for want in [
        "tick runs on its schedule rate(1 minute)",
        "hello job: greeting from the schedule",
        "hello job: done, exit 0",
    ] {
        assert!(log.contains(want), "{want:?} in\n{log}");
    }
    let text = wharf()
        .args(["status", "--env", "local"])
        .current_dir(d.path())
        .run()
        .success();
    assert!(
        text.stdout.contains("by its schedule: exit code 0"),
        "{text}"
    );
    let left = docker([
        "ps",
        "-a",
        "-q",
        "--filter",
        &format!("label=wharf.app={app}"),
        "--filter",
        "label=wharf.job",
    ]);
    assert_eq!(left.stdout.trim(), "", "the run's container is removed");

    wharf()
        .args(["down", "--env", "local"])
        .current_dir(d.path())
        .run()
        .success();
    assert!(!d.path().join(".wharf/local/schedules.json").exists());
}
