//! Jobs on the local target, on real containers: `wharf run` streams the job's log, passes its
//! exit code through and leaves nothing; its timeout stops it (exit 124); a job as a
//! pre-traffic hook that fails rolls the deployment back while the previous one serves.

use wharf_testkit::docker::docker;
use wharf_testkit::{workspace_root, TestDir};

use crate::local::{deployment_of, free_port, Down};
use crate::{no_panic, wharf};

/// A local environment with the hello service and a job `task` of the same build (its
/// command is the arguments of the image's entrypoint, `/hello`, as on ECS); `hook` makes it
/// web's pre-traffic hook.
fn manifest(app: &str, port: u16, job_args: &str, hook: bool) -> String {
    let hello = workspace_root().join("examples/hello");
    let build = format!(
        "build = {{ context = \"{ctx}\", pre_build = \"{ctx}/build-static.sh\" }}",
        ctx = hello.display()
    );
    let hook = if hook {
        "[services.web.deploy]\nstrategy = \"canary\"\ncanary = { percent = 50, bake = \"1s\" }\nhooks = { pre_traffic = { job = \"task\" } }\n"
    } else {
        ""
    };
    format!(
        "[app]\nname = \"{app}\"\n[environments.local]\ntarget = \"local\"\nlisten = \"127.0.0.1:{port}\"\nsecrets_file = \"local.secrets\"\n\
         [services.web]\n{build}\nport = 8000\nhealth = {{ path = \"/_health\" }}\nstop_timeout = \"2s\"\n{hook}\
         [jobs.task]\n{build}\ncommand = [\"--job\", {job_args}]\ntimeout = \"20s\"\n\
         env = {{ GREETING = \"hi\" }}\nsecrets = {{ JOB_SECRET = \"ssm:/t/job\" }}\n"
    )
}

/// Containers of the app's job runs, running or not.
fn job_containers(app: &str) -> String {
    docker([
        "ps",
        "-a",
        "-q",
        "--filter",
        &format!("label=wharf.app={app}"),
        "--filter",
        "label=wharf.job",
    ])
    .stdout
    .trim()
    .to_owned()
}

#[test]
fn run_streams_the_log_passes_the_exit_code_through_and_leaves_nothing() {
    let d = TestDir::new();
    let app = format!("job{}", std::process::id());
    let port = free_port();
    d.write("local.secrets", "ssm:/t/job=s3cret\n");
    d.write("wharf.toml", manifest(&app, port, "\"exit=3\"", false));
    let _down = Down(&d);

    let out = wharf()
        .args(["run", "task", "--env", "local"])
        .current_dir(d.path())
        .run()
        .code(3);
    no_panic(&out);
    for want in [
        "hello job: run local-",
        "hello job: greeting hi",
        "hello job: secret set",
        "hello job: done, exit 3",
    ] {
        assert!(out.stdout.contains(want), "{want:?} in\n{out}");
    }
    assert!(out.stderr.contains("exit code 3"), "{out}");
    assert!(
        !out.stdout.contains("s3cret") && !out.stderr.contains("s3cret"),
        "{out}"
    );
    assert_eq!(job_containers(&app), "", "the run's container is removed");

    // Arguments after `--` replace the command; JSON lines for the log, then the result.
    let out = wharf()
        .args([
            "run", "task", "--env", "local", "--output", "json", "--", "--job", "exit=0",
        ])
        .current_dir(d.path())
        .run()
        .success();
    assert!(
        out.stdout.contains("{\"container\":\"") && out.stdout.contains("hello job: done, exit 0"),
        "{out}"
    );
    assert!(out.stdout.contains("\"stop_code\": \"exited\""), "{out}");

    // Past its timeout: stopped, exit 124, said why; nothing left.
    d.write(
        "wharf.toml",
        manifest(&app, port, "\"sleep_ms=600000\"", false)
            .replace("timeout = \"20s\"", "timeout = \"3s\""),
    );
    let out = wharf()
        .args(["run", "task", "--env", "local"])
        .current_dir(d.path())
        .run()
        .code(124);
    assert!(out.stderr.contains("timeout of 3s"), "{out}");
    assert_eq!(
        job_containers(&app),
        "",
        "the stopped run's container is removed"
    );

    // --detach returns with the task still running; `down` removes it.
    let out = wharf()
        .args(["run", "task", "--env", "local", "--detach"])
        .current_dir(d.path())
        .run()
        .success();
    assert!(out.stderr.contains("goes on as"), "{out}");
    assert_ne!(job_containers(&app), "", "the detached run still runs");
    wharf()
        .args(["down", "--env", "local"])
        .current_dir(d.path())
        .run()
        .success();
    assert_eq!(job_containers(&app), "", "down removes job containers too");
}

#[test]
fn a_failing_pre_traffic_job_rolls_the_deployment_back_on_real_containers() {
    let d = TestDir::new();
    let app = format!("jobhook{}", std::process::id());
    let port = free_port();
    d.write("local.secrets", "ssm:/t/job=s3cret\n");
    d.write("wharf.toml", manifest(&app, port, "\"exit=0\"", true));
    let _down = Down(&d);
    let out = wharf()
        .args(["deploy", "--env", "local"])
        .current_dir(d.path())
        .run()
        .success();
    no_panic(&out);
    let v1 = deployment_of(port);
    assert!(
        out.stderr.contains("hello job: run local-")
            && out.stderr.contains(&format!("deployment {v1}")),
        "the hook job ran with the deployment's id: {out}"
    );

    d.write("wharf.toml", manifest(&app, port, "\"exit=4\"", true));
    let out = wharf()
        .args(["deploy", "--env", "local"])
        .current_dir(d.path())
        .run()
        .code(5);
    assert!(
        out.stderr.contains("pre-traffic hook failed") && out.stderr.contains("exit code 4"),
        "{out}"
    );
    assert_eq!(deployment_of(port), v1, "the previous deployment serves");
    assert_eq!(job_containers(&app), "", "the hook's container is removed");
}

#[test]
fn an_interrupted_run_without_a_terminal_stops_its_task() {
    let d = TestDir::new();
    let app = format!("jobint{}", std::process::id());
    let port = free_port();
    d.write("local.secrets", "ssm:/t/job=s3cret\n");
    d.write(
        "wharf.toml",
        manifest(&app, port, "\"sleep_ms=600000\"", false),
    );
    let _down = Down(&d);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["run", "task", "--env", "local"])
        .current_dir(d.path())
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("wharf starts");
    // Interrupt once the job says it runs (bounded: the build and start take seconds).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while job_containers(&app).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the job never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let out = child.wait_with_output().expect("wharf ends");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    // hello's job exits 143 on SIGTERM only: the task was asked to stop, and wharf passed its
    // exit code through.
    assert_eq!(
        out.status.code(),
        Some(143),
        "the job's SIGTERM exit\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("stopping") && stderr.contains("exit code 143"),
        "{stderr}"
    );
    assert_eq!(
        job_containers(&app),
        "",
        "the stopped run's container is removed"
    );
}
