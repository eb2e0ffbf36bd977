//! Jobs on the simulator: a run's env and exit, its timeout, a task that never started, the
//! image of a service, and a job as a deployment's hook (a failing one rolls back).

use std::path::Path;

use wharf_engine::job::{job_image, run_id, JobImageError, TIMEOUT};
use wharf_engine::sim::JobBehaviour;
use wharf_engine::{EngineError, JobSpec, Options, Outcome, Runner, Store, Trigger};
use wharf_manifest::{Environment, Names};

use crate::{serves, World, STRATEGIES};

/// The `test` environment of a manifest with a two-task service `web` and the given jobs
/// (TOML), the service deployed with `deploy` settings.
fn env(strategy: &str, deploy: &str, jobs: &str) -> Environment {
    let src = format!(
        "[app]\nname = \"pulse\"\n[environments.test]\ntarget = \"local\"\n[services.web]\nimage = \"x:1\"\nport = 8000\ncount = 2\n\
         [services.web.deploy]\nstrategy = \"{strategy}\"\n{deploy}\n{jobs}\n"
    );
    let (m, problems) = wharf_manifest::parse_str(&src, "wharf.toml", Path::new("."));
    m.unwrap_or_else(|| panic!("{problems}")).environments["test"].clone()
}

const MIGRATE: &str = "[jobs.migrate]\nimage = \"migrate:1\"\ncommand = [\"/migrate\", \"up\"]\n\
                       env = { LEVEL = \"info\" }\nsecrets = { DB = \"ssm:/pulse/db\" }\ntimeout = \"30s\"\n";

fn runner(w: &World) -> Runner<'_, wharf_engine::sim::SimTarget, wharf_engine::sim::FakeClock> {
    Runner {
        target: &w.sim,
        clock: &w.sim.clock,
        events: &w.events,
    }
}

#[tokio::test]
async fn a_run_gets_its_env_secrets_and_arguments_and_ends_with_the_exit_code() {
    let e = env("rolling", "", MIGRATE);
    let job = &e.jobs["migrate"];
    let w = World::new();
    w.sim.behave_job(
        "migrate:1",
        JobBehaviour::Exits {
            after_ms: 2_000,
            code: 7,
        },
    );
    let run = run_id(&Names::new("pulse", "test"), w.sim.clock_now());
    let spec = JobSpec {
        job,
        run: &run,
        image: "migrate:1",
        platform: None,
        command: Some(vec!["/migrate".into(), "down".into()]),
        env: vec![("WHARF_RUN_ID".into(), run.clone())],
        trigger: Trigger::Manual,
    };
    let r = runner(&w);
    let started = r.start(&spec).await.expect("starts");
    let recorded = w.sim.last_run("migrate").await.unwrap().expect("recorded");
    assert_eq!(recorded.end, None, "a running run has no end yet");
    assert_eq!(recorded.task, started.task.id);
    let lines = std::sync::Mutex::new(Vec::new());
    let end = r
        .finish(job, &started, &|l| {
            lines.lock().unwrap().push(l.line.to_owned())
        })
        .await
        .expect("follows");
    assert_eq!(end.exit_code, Some(7));
    assert!(!end.succeeded());
    assert_eq!(end.stop_code, "EssentialContainerExited");
    let recorded = w.sim.last_run("migrate").await.unwrap().expect("recorded");
    assert_eq!(recorded.end.as_ref(), Some(&end), "the end is recorded");
    assert_eq!(recorded.trigger, Trigger::Manual);
    assert_eq!(recorded.ended_ms, Some(w.sim.clock_now()));
    assert!(
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("exit code 7")),
        "the log is streamed"
    );
    let runs = w.sim.job_runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].command.as_deref(),
        Some(&["/migrate".to_owned(), "down".to_owned()][..])
    );
    for want in [
        ("LEVEL", "info"),
        ("DB", "secret:ssm:/pulse/db"),
        ("WHARF_RUN_ID", run.as_str()),
    ] {
        assert!(
            runs[0].env.iter().any(|(k, v)| k == want.0 && v == want.1),
            "{want:?} in {:?}",
            runs[0].env
        );
    }
    assert!(
        run.starts_with("test-") && run.len() == "test-YYYYMMDD-HHMMSSZ-abcd".len(),
        "{run}"
    );
}

#[tokio::test]
async fn a_run_past_its_timeout_is_stopped_and_says_so() {
    let e = env("rolling", "", MIGRATE);
    let job = &e.jobs["migrate"];
    let w = World::new();
    w.sim.behave_job("migrate:1", JobBehaviour::Hangs);
    let spec = JobSpec {
        job,
        run: "test-run",
        image: "migrate:1",
        platform: None,
        command: None,
        env: Vec::new(),
        trigger: Trigger::Manual,
    };
    let r = runner(&w);
    let started = w.sim.clock_now();
    let task = r.start(&spec).await.expect("starts");
    let end = r.finish(job, &task, &|_| {}).await.expect("ends");
    assert_eq!(end.stop_code, TIMEOUT);
    assert!(!end.succeeded());
    assert!(end.reason.contains("30s"), "{end}");
    assert!(
        end.help.as_deref().unwrap_or("").contains("timeout"),
        "{end}"
    );
    assert!(
        w.sim.log().contains(&format!("stop job {}", task.task.id)),
        "the task was stopped"
    );
    let ran = w.sim.clock_now() - started;
    assert!(
        (30_000..31_000).contains(&ran),
        "stopped at the timeout, not later: {ran} ms"
    );
}

#[tokio::test]
async fn a_task_that_never_started_ends_with_the_runtime_s_reason() {
    let e = env("rolling", "", MIGRATE);
    let job = &e.jobs["migrate"];
    let w = World::new();
    w.sim.behave_job(
        "migrate:1",
        JobBehaviour::FailsToStart {
            reason: "CannotPullContainerError: pull access denied".into(),
        },
    );
    let spec = JobSpec {
        job,
        run: "test-run",
        image: "migrate:1",
        platform: None,
        command: None,
        env: Vec::new(),
        trigger: Trigger::Manual,
    };
    let r = runner(&w);
    let task = r.start(&spec).await.expect("starts");
    let end = r.finish(job, &task, &|_| {}).await.expect("ends");
    assert_eq!(end.exit_code, None);
    assert_eq!(end.stop_code, "TaskFailedToStart");
    assert!(
        end.to_string().contains("CannotPullContainerError"),
        "{end}"
    );
}

#[tokio::test]
async fn a_job_of_a_service_runs_the_image_serving_and_refuses_when_none_serves() {
    let e = env("rolling", "", "[jobs.shell]\nservice = \"web\"\n");
    let job = &e.jobs["shell"];
    let w = World::new();
    let none = job_image(&w.sim, job, "r", None, None, &w.events).await;
    assert!(
        matches!(
            none,
            Err(JobImageError::Engine(EngineError::NoServingImage { .. }))
        ),
        "{none:?}"
    );
    let w = World::with_v1(&e.services["web"]).await;
    let img = job_image(&w.sim, job, "r", None, None, &w.events)
        .await
        .expect("v1 serves");
    assert_eq!(img.reference, "img-1");
}

fn with_jobs(e: &Environment) -> Options {
    Options {
        jobs: e.jobs.clone(),
        ..Options::default()
    }
}

#[tokio::test]
async fn a_failing_pre_traffic_job_rolls_the_deployment_back() {
    for s in STRATEGIES {
        let e = env(
            s,
            "hooks = { pre_traffic = { job = \"migrate\" } }",
            MIGRATE,
        );
        let svc = &e.services["web"];
        let w = World::new();
        let v1 = w
            .deploy(svc, "v1", "img-1", with_jobs(&e))
            .await
            .expect("v1");
        assert_eq!(v1.outcome, Some(Outcome::Succeeded), "{s}: {v1:?}");
        // v1's own run passed; the next one fails.
        w.sim.behave_job(
            "migrate:1",
            JobBehaviour::Exits {
                after_ms: 1_000,
                code: 3,
            },
        );
        let r = w
            .deploy(svc, "v2", "img-2", with_jobs(&e))
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(r.outcome, Some(Outcome::RolledBack), "{s}: {r:?}");
        let reason = r.reason.unwrap_or_default();
        assert!(
            reason.contains("pre-traffic hook failed")
                && reason.contains("job migrate")
                && reason.contains("exit code 3"),
            "{s}: {reason}"
        );
        assert_eq!(serves(&w), "v1", "{s}: traffic is back on v1");
        assert_eq!(w.sim.present(), ["v1"], "{s}: v2 is removed");
        let run = w.sim.job_runs().pop().expect("the job ran");
        for want in [
            ("DEPLOYMENT_ID", "v2"),
            ("WHARF_SERVICE", "web"),
            ("WHARF_HOOK", "pre-traffic"),
        ] {
            assert!(
                run.env.iter().any(|(k, v)| k == want.0 && v == want.1),
                "{s}: {want:?} in {:?}",
                run.env
            );
        }
        // No traffic reached v2 before the job ran.
        let log = w.sim.log();
        let ran = log
            .iter()
            .position(|l| l.starts_with("start job migrate"))
            .expect("ran");
        assert!(
            !log[..ran]
                .iter()
                .any(|l| l.starts_with("weights") && l.contains("v2=") && !l.contains("v2=0")),
            "{s}: v2 got traffic before its pre-traffic job: {log:?}"
        );
    }
}

#[tokio::test]
async fn a_passing_hook_job_of_the_service_s_image_runs_the_new_image() {
    let e = env(
        "canary",
        "hooks = { pre_traffic = { job = \"migrate\" } }",
        "[jobs.migrate]\nservice = \"web\"\ncommand = [\"/app\", \"migrate\"]\n",
    );
    let svc = &e.services["web"];
    let w = World::new();
    let r = w
        .deploy(svc, "v1", "img-1", with_jobs(&e))
        .await
        .expect("deploys");
    assert_eq!(r.outcome, Some(Outcome::Succeeded), "{r:?}");
    let runs = w.sim.job_runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].image, "img-1", "the deployment's own image");
    let recorded = w.sim.last_run("migrate").await.unwrap().expect("recorded");
    assert_eq!(
        recorded.trigger,
        Trigger::Hook {
            service: "web".into(),
            deployment: "v1".into(),
            hook: "pre-traffic".into()
        }
    );
    assert!(recorded.end.is_some_and(|e| e.succeeded()));
}

#[test]
fn a_hook_naming_no_job_is_refused_by_validation() {
    let src = "[app]\nname = \"pulse\"\n[environments.test]\ntarget = \"local\"\n[services.web]\nimage = \"x:1\"\nport = 8000\n\
               [services.web.deploy]\nhooks = { pre_traffic = { job = \"migrat\" } }\n[jobs.migrate]\nimage = \"m:1\"\n";
    let (m, problems) = wharf_manifest::parse_str(src, "wharf.toml", Path::new("."));
    assert!(m.is_none());
    let text = problems.to_string();
    assert!(
        text.contains("runs job `migrat`") && text.contains("did you mean `migrate`"),
        "{text}"
    );
}

#[test]
fn a_pinned_image_runs_by_its_digest_whatever_its_tag_and_registry_port() {
    use wharf_engine::Image;
    let pin = |r: &str, d: Option<&str>| {
        Image {
            reference: r.into(),
            digest: d.map(Into::into),
            platform: None,
        }
        .pinned()
    };
    assert_eq!(
        pin("123.dkr.ecr.x/pulse/web:v1", Some("sha256:ab")),
        "123.dkr.ecr.x/pulse/web@sha256:ab"
    );
    assert_eq!(
        pin("127.0.0.1:5000/pulse/web:v1", Some("sha256:ab")),
        "127.0.0.1:5000/pulse/web@sha256:ab"
    );
    assert_eq!(
        pin("127.0.0.1:5000/pulse/web", Some("sha256:ab")),
        "127.0.0.1:5000/pulse/web@sha256:ab"
    );
    assert_eq!(pin("pulse/web:v1", None), "pulse/web:v1");
}
