//! Jobs' schedules on the simulator: `sync` makes the runtime's schedules match the manifest
//! (made, updated keeping when they were made, removed), and `status` shows each job's
//! schedule, next run and last run.

use std::path::Path;

use wharf_engine::job::JobImageError;
use wharf_engine::sim::JobBehaviour;
use wharf_engine::{schedules, EngineError, EnvStatus, JobSpec, Runner, Target, Trigger};
use wharf_manifest::{Environment, Names};

use crate::World;

fn env(jobs: &str) -> Environment {
    let src = format!(
        "[app]\nname = \"pulse\"\n[environments.test]\ntarget = \"local\"\n[services.web]\nimage = \"x:1\"\nport = 8000\n{jobs}\n"
    );
    let (m, problems) = wharf_manifest::parse_str(&src, "wharf.toml", Path::new("."));
    m.unwrap_or_else(|| panic!("{problems}")).environments["test"].clone()
}

const JOBS: &str = "[jobs.report]\nimage = \"report:1\"\nschedule = \"rate(1 hour)\"\n\
                    [jobs.nightly]\nimage = \"nightly:1\"\nschedule = \"cron(0 3 * * ? *)\"\n\
                    [jobs.migrate]\nimage = \"migrate:1\"\n";

#[tokio::test]
async fn deploy_makes_updates_and_removes_schedules_to_match_the_manifest() {
    let w = World::new();
    let names = Names::new("pulse", "test");
    let e = env(JOBS);
    let made_at = w.sim.clock_now();
    let done = schedules::sync(&w.sim, &w.sim.clock, &names, &e.jobs, None, &w.events)
        .await
        .expect("syncs");
    let jobs: Vec<&str> = done.scheduled.iter().map(|s| s.job.as_str()).collect();
    assert_eq!(jobs, ["nightly", "report"], "only the scheduled jobs");
    assert!(done.removed.is_empty());
    let report = &done.scheduled[1];
    assert_eq!(report.expression, "rate(1 hour)");
    assert_eq!(report.runs, "report:1");
    assert_eq!(report.since_ms, made_at);
    let text = done.to_string();
    assert!(
        text.contains("job report scheduled rate(1 hour), next run"),
        "{text}"
    );

    // Later: `report` changes its rate, `nightly` loses its schedule.
    w.sim.clock.advance(90 * 60_000);
    let e = env(
        "[jobs.report]\nimage = \"report:2\"\nschedule = \"rate(2 hours)\"\n[jobs.nightly]\nimage = \"nightly:1\"\n",
    );
    let done = schedules::sync(&w.sim, &w.sim.clock, &names, &e.jobs, None, &w.events)
        .await
        .expect("syncs again");
    assert_eq!(done.removed, ["nightly"]);
    let report = &done.scheduled[0];
    assert_eq!(
        (report.expression.as_str(), report.runs.as_str()),
        ("rate(2 hours)", "report:2")
    );
    assert_eq!(
        report.since_ms, made_at,
        "an update keeps when the schedule was made"
    );
    assert_eq!(
        report.next_run(w.sim.clock_now()),
        Some(made_at + 2 * 3_600_000),
        "the rate counts from when it was made"
    );
    let left = w.sim.schedules().await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
}

#[tokio::test]
async fn a_schedule_of_a_service_s_image_needs_a_serving_deployment() {
    let w = World::new();
    let e = env("[jobs.shell]\nservice = \"web\"\nschedule = \"rate(1 day)\"\n");
    let err = schedules::sync(
        &w.sim,
        &w.sim.clock,
        &Names::new("pulse", "test"),
        &e.jobs,
        None,
        &w.events,
    )
    .await
    .expect_err("nothing serves");
    assert!(
        matches!(
            err,
            JobImageError::Engine(EngineError::NoServingImage { .. })
        ),
        "{err}"
    );
    assert!(w.sim.schedules().await.unwrap().is_empty());
}

#[tokio::test]
async fn status_shows_each_job_s_schedule_next_and_last_run() {
    let w = World::new();
    let e = env(JOBS);
    let names = Names::new("pulse", "test");
    let made_at = w.sim.clock_now();
    schedules::sync(&w.sim, &w.sim.clock, &names, &e.jobs, None, &w.events)
        .await
        .expect("syncs");
    w.sim.behave_job(
        "report:1",
        JobBehaviour::Exits {
            after_ms: 3_000,
            code: 0,
        },
    );
    let runner = Runner {
        target: &w.sim,
        clock: &w.sim.clock,
        events: &w.events,
    };
    let spec = JobSpec {
        job: &e.jobs["report"],
        run: "test-run-1",
        image: "report:1",
        platform: None,
        command: None,
        env: Vec::new(),
        trigger: Trigger::Schedule,
    };
    let started = runner.start(&spec).await.expect("starts");
    runner
        .finish(&e.jobs["report"], &started, &|_| {})
        .await
        .expect("ends");

    let jobs: Vec<_> = e.jobs.values().collect();
    let now = w.sim.clock_now();
    let st = EnvStatus::of(&w.sim, "test", &[], &jobs, now)
        .await
        .expect("status");
    let by = |name: &str| st.jobs.iter().find(|j| j.job == name).expect(name);
    let report = by("report");
    assert_eq!(report.next_run_ms, Some(made_at + 3_600_000));
    let last = report.last_run.as_ref().expect("a last run");
    assert_eq!(last.trigger, Trigger::Schedule);
    assert_eq!(last.end.as_ref().and_then(|e| e.exit_code), Some(0));
    let migrate = by("migrate");
    assert!(migrate.scheduled.is_none() && migrate.last_run.is_none());
    let text = st.to_string();
    for want in [
        "schedule rate(1 hour)",
        "next run  ",
        "last run  ",
        "by its schedule: exit code 0",
        "schedule cron(0 3 * * ? *)",
        "not scheduled: runs by `wharf run` or as a hook",
    ] {
        assert!(text.contains(want), "{want:?} in:\n{text}");
    }
    let json = serde_json::to_value(&st).unwrap();
    assert_eq!(
        json["jobs"][2]["last_run"]["trigger"]["by"], "schedule",
        "{json}"
    );
}
