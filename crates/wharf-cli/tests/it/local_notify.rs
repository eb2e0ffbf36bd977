//! Deployment notifications on the local target, on real containers: a webhook receiver on
//! loopback gets `started` and `succeeded` for a good deploy, `started` and `rolled-back` (with
//! the reason and the diagnosis's headline) for one whose containers exit at start, which also
//! prints its diagnosis, and `wharf diagnose` in another process finds the same from what the
//! removed containers left; a webhook that does not answer costs a warning, never the deploy;
//! the SNS topic the manifest also names is said once to get nothing from a local environment.

use serde_json::Value;
use wharf_testkit::TestDir;

use crate::local::{free_port, manifest, Down};
use crate::receiver::Receiver;
use crate::{no_panic, wharf};

#[test]
fn deploys_post_started_succeeded_and_rolled_back_with_its_diagnosis_and_a_dead_webhook_fails_nothing(
) {
    let hook = Receiver::start();
    let d = TestDir::new();
    let app = format!("notify{}", std::process::id());
    let port = free_port();
    let with_notify = |env: &str| {
        format!(
            "{}[notify]\nwebhook = \"ssm:/t/webhook\"\nsns = \"deploys\"\n",
            manifest(&app, port, env, "1s")
        )
    };
    let secrets = |url: &str| format!("ssm:/t/drain=d\nssm:/t/webhook={url}\n");
    d.write(
        "local.secrets",
        secrets(&format!("http://127.0.0.1:{}/hook", hook.port)),
    );
    d.write("wharf.toml", with_notify("GREETING = \"v1\""));
    let _down = Down(&d);

    let out = wharf()
        .args(["deploy", "--env", "local"])
        .current_dir(d.path())
        .run()
        .success();
    no_panic(&out);
    assert_eq!(
        out.stderr.matches("warning: no notices to the SNS topic deploys: SNS topics are published to from AWS environments only").count(),
        1,
        "said once that a local environment publishes to no SNS topic: {out}"
    );
    assert_eq!(
        hook.events(),
        [
            ("started".to_owned(), "web".to_owned()),
            ("succeeded".to_owned(), "web".to_owned())
        ],
        "{out}"
    );
    let started = hook.bodies.lock().unwrap()[0].clone();
    assert_eq!(started["app"], app.as_str());
    assert_eq!(started["env"], "local");
    assert_eq!(started["strategy"], "canary");
    let id = started["deployment"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(id.starts_with("local-"), "{started}");
    assert!(
        started["text"].as_str().unwrap_or_default().contains(&id),
        "a line for people: {started}"
    );

    // A version that exits at start: rolled back, said why, and diagnosed.
    d.write("wharf.toml", with_notify("HELLO_MODE = \"exit\""));
    let out = wharf()
        .args(["deploy", "--env", "local"])
        .current_dir(d.path())
        .run()
        .code(5);
    let events = hook.events();
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(events[3].0, "rolled-back");
    let rolled = hook.bodies.lock().unwrap()[3].clone();
    assert!(
        rolled["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{rolled}"
    );
    let said = "HELLO_MODE=exit, exiting at start";
    for want in ["[essential-exited]", "exit code 1", said, "fix: "] {
        assert!(
            out.stderr.contains(want),
            "the failed deploy diagnoses itself ({want}): {out}"
        );
    }
    assert!(
        rolled["diagnosis"]
            .as_str()
            .is_some_and(|h| h.contains("essential-exited")),
        "the notice carries the headline: {rolled}"
    );
    diagnosed_later(&d, said);

    // Nobody listens at the webhook: the deploy succeeds, with a warning.
    let dead = free_port();
    d.write(
        "local.secrets",
        secrets(&format!("http://127.0.0.1:{dead}/hook")),
    );
    d.write("wharf.toml", with_notify("GREETING = \"v2\""));
    let out = wharf()
        .args(["deploy", "--env", "local"])
        .current_dir(d.path())
        .run()
        .success();
    assert!(
        out.stderr
            .contains("warning: the started notice was not delivered"),
        "{out}"
    );
    assert!(
        !out.stderr.contains(&format!("127.0.0.1:{dead}/hook")),
        "the URL is a secret: {out}"
    );
    assert_eq!(
        hook.events().len(),
        4,
        "nothing more reached the first webhook"
    );
}

/// `wharf diagnose`, a process of its own: the containers that exited are gone, and what they
/// said was kept. Without a name it picks the service whose latest deployment failed.
fn diagnosed_later(d: &TestDir, said: &str) {
    let out = wharf()
        .args(["diagnose", "--env", "local"])
        .current_dir(d.path())
        .run()
        .success();
    for want in [
        "web local-",
        "rolled back",
        "timeline",
        "[essential-exited]",
        said,
    ] {
        assert!(out.stdout.contains(want), "{want}: {out}");
    }
    let out = wharf()
        .args(["diagnose", "web", "--env", "local", "--output", "json"])
        .current_dir(d.path())
        .run()
        .success();
    let v: Value = serde_json::from_str(&out.stdout).expect("JSON");
    let web = &v["services"][0];
    assert_eq!(web["findings"][0]["id"], "essential-exited", "{v}");
    assert_eq!(web["findings"][0]["detail"], "exit code 1", "{v}");
    assert!(
        web["findings"][0]["evidence"]
            .as_array()
            .is_some_and(|e| e.iter().any(|c| c["source"] == "stopped")),
        "{v}"
    );
    let marks: Vec<&str> = web["timeline"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["what"].as_str()).collect())
        .unwrap_or_default();
    assert!(marks.len() >= 3, "{marks:?}");
    assert!(
        marks.last().is_some_and(|m| m.starts_with("rolled back")),
        "{marks:?}"
    );
    assert!(
        web["last_lines"].as_array().is_some_and(|l| l
            .iter()
            .any(|c| c["text"].as_str().is_some_and(|t| t.contains(said)))),
        "the removed containers' last lines were kept: {v}"
    );
}
