//! hello as a real container: built static into a `FROM scratch` image, run on the Docker
//! Engine with a loopback-only port, checked over HTTP: deployment id, health switch, drain with
//! its secret, and a graceful SIGTERM that finishes the request in flight.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wharf_testkit::docker::{docker, host_port, labels, ContainerGuard, ImageGuard};
use wharf_testkit::http::{get, request, wait_for_status};
use wharf_testkit::{workspace_root, Cmd};

const DEPLOYMENT: &str = "test-20251027-122112Z";
const SECRET: &str = "s3cret-for-tests";

/// Builds the static binary (a no-op when it is up to date) and a uniquely tagged image, which
/// the returned guard removes.
fn image() -> ImageGuard {
    let dir = workspace_root().join("examples/hello");
    Cmd::new(dir.join("build-static.sh"))
        .current_dir(&dir)
        .run()
        .success();
    let file = Cmd::new("file").arg(dir.join(".build/hello")).run();
    if file.code == Some(0) {
        assert!(
            file.stdout.contains("static"),
            "hello must be static for FROM scratch\n{file}"
        );
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let tag = format!("wharf-test/hello:{}-{nanos}", std::process::id());
    let mut args = vec!["-q".to_owned(), "-t".into(), tag.clone()];
    args.extend(labels("hello", "test", "web", DEPLOYMENT));
    args.push(dir.display().to_string());
    wharf_testkit::docker::build(args).success();
    ImageGuard(tag)
}

/// Runs hello with `env`; returns the container guard and its loopback port.
fn run(image: &ImageGuard, env: &[(&str, &str)]) -> (ContainerGuard, u16) {
    let mut args: Vec<String> = vec![
        "run".into(),
        "-d".into(),
        "-p".into(),
        "127.0.0.1::8000".into(),
    ];
    args.extend(labels("hello", "test", "web", DEPLOYMENT));
    for (k, v) in env {
        args.push("-e".into());
        args.push(format!("{k}={v}"));
    }
    args.push(image.0.clone());
    let out = docker(args).success();
    let id = out.stdout.trim().to_owned();
    let port = host_port(&id, 8000);
    (ContainerGuard(id), port)
}

fn base_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("DEPLOYMENT_ID", DEPLOYMENT),
        ("HELLO_VERSION", "7"),
        ("DRAIN_SECRET", SECRET),
    ]
}

fn exit_code(id: &str) -> i64 {
    docker(["inspect", "--format", "{{.State.ExitCode}}", id])
        .success()
        .stdout
        .trim()
        .parse()
        .expect("an exit code")
}

#[test]
fn the_image_is_from_scratch_and_labelled() {
    let img = image();
    let out = docker([
        "image",
        "inspect",
        "--format",
        "{{len .RootFS.Layers}} {{index .Config.Labels \"wharf.app\"}}",
        &img.0,
    ])
    .success();
    assert_eq!(
        out.stdout.trim(),
        "1 hello",
        "one layer (the binary), labelled\n{out}"
    );
}

#[test]
fn answers_its_deployment_id_and_health() {
    let img = image();
    let (_c, port) = run(&img, &base_env());
    wait_for_status(port, "/_health", 200, Duration::from_secs(30)).expect("healthy");
    let r = get(port, "/").expect("GET /");
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains(&format!("\"deployment\":\"{DEPLOYMENT}\""))
            && r.body.contains("\"version\":\"7\""),
        "{}",
        r.body
    );
    assert_eq!(get(port, "/nope").expect("GET /nope").status, 404);
    // The benchmarks' large response: exactly the bytes asked for, capped at 8 MiB.
    let big = get(port, "/bytes?n=1048576").expect("GET /bytes");
    assert_eq!((big.status, big.body.len()), (200, 1 << 20));
    assert!(big.body.bytes().all(|b| b == b'x'));
    let capped = get(port, "/bytes?n=99999999").expect("GET /bytes");
    assert_eq!(capped.body.len(), 8 << 20);
}

#[test]
fn the_health_switch_and_drain_need_the_secret() {
    let img = image();
    let (_c, port) = run(&img, &base_env());
    wait_for_status(port, "/_health", 200, Duration::from_secs(30)).expect("healthy");
    let t = Duration::from_secs(5);
    assert_eq!(
        request(port, "POST", "/drain", &[], t)
            .expect("drain")
            .status,
        403
    );
    assert_eq!(
        request(port, "POST", "/drain", &[("X-Drain-Secret", "wrong")], t)
            .expect("drain")
            .status,
        403
    );
    assert_eq!(
        request(
            port,
            "POST",
            "/_health/fail",
            &[("X-Drain-Secret", SECRET)],
            t
        )
        .expect("fail")
        .status,
        200
    );
    assert_eq!(get(port, "/_health").expect("health").status, 503);
    assert_eq!(
        request(
            port,
            "POST",
            "/_health/ok",
            &[("X-Drain-Secret", SECRET)],
            t
        )
        .expect("ok")
        .status,
        200
    );
    assert_eq!(get(port, "/_health").expect("health").status, 200);
    let r = request(port, "POST", "/drain", &[("X-Drain-Secret", SECRET)], t).expect("drain");
    assert_eq!(r.status, 200);
    let h = get(port, "/_health").expect("health");
    assert_eq!((h.status, h.body.trim()), (503, "draining"));
    assert!(get(port, "/")
        .expect("GET /")
        .body
        .contains("\"draining\":true"));
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_0() {
    let img = image();
    let (c, port) = run(&img, &base_env());
    wait_for_status(port, "/_health", 200, Duration::from_secs(30)).expect("healthy");
    let slow = std::thread::spawn(move || {
        request(port, "GET", "/?delay_ms=2000", &[], Duration::from_secs(20))
    });
    std::thread::sleep(Duration::from_millis(500));
    docker(["stop", "-t", "20", &c.0]).success();
    let r = slow
        .join()
        .expect("the request thread")
        .expect("the in-flight request completes");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(exit_code(&c.0), 0, "graceful exit, not SIGKILL");
}

#[test]
fn fault_modes_for_rollout_tests() {
    let img = image();
    let mut env = base_env();
    env.push(("HELLO_MODE", "error500"));
    let (_c, port) = run(&img, &env);
    wait_for_status(port, "/_health", 200, Duration::from_secs(30)).expect("healthy");
    assert_eq!(get(port, "/").expect("GET /").status, 500);

    let mut env = base_env();
    env.push(("HELLO_MODE", "unhealthy"));
    let (_u, port) = run(&img, &env);
    wait_for_status(port, "/_health", 503, Duration::from_secs(30))
        .expect("unhealthy from the start");

    let mut env = base_env();
    env.push(("HELLO_MODE", "exit"));
    let x = run_no_port(&img, &env);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while docker(["inspect", "--format", "{{.State.Running}}", &x.0])
        .success()
        .stdout
        .trim()
        == "true"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "HELLO_MODE=exit container still running after 30s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(exit_code(&x.0), 1);
}

fn run_no_port(image: &ImageGuard, env: &[(&str, &str)]) -> ContainerGuard {
    let mut args: Vec<String> = vec!["run".into(), "-d".into()];
    args.extend(labels("hello", "test", "web", DEPLOYMENT));
    for (k, v) in env {
        args.push("-e".into());
        args.push(format!("{k}={v}"));
    }
    args.push(image.0.clone());
    let id = docker(args).success().stdout.trim().to_owned();
    ContainerGuard(id)
}
