//! The local target from the command line, on the real Docker Engine: deploy, a broken version
//! rolled back by itself (exit 5) while the old one keeps serving, a concurrent deploy refused
//! naming the holder (exit 6), status, logs, and `down` leaving nothing behind.

use std::time::Duration;

use wharf_testkit::docker::docker;
use wharf_testkit::http::get;
use wharf_testkit::{workspace_root, TestDir};

use crate::wharf;

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub(crate) fn manifest(app: &str, port: u16, env: &str, bake: &str) -> String {
    let hello = workspace_root().join("examples/hello");
    format!(
        "[app]\nname = \"{app}\"\n[environments.local]\ntarget = \"local\"\nlisten = \"127.0.0.1:{port}\"\nsecrets_file = \"local.secrets\"\n\
         [services.web]\nbuild = {{ context = \"{ctx}\", pre_build = \"{ctx}/build-static.sh\" }}\nport = 8000\n\
         health = {{ path = \"/_health\" }}\nstop_timeout = \"5s\"\nenv = {{ {env} }}\n[services.web.deploy]\nstrategy = \"canary\"\n\
         canary = {{ percent = 50, bake = \"{bake}\" }}\ndrain = {{ secret = \"ssm:/t/drain\", timeout = \"2s\" }}\n",
        ctx = hello.display()
    )
}

/// Runs `wharf down` when the test ends, whatever happened.
pub(crate) struct Down<'a>(pub &'a TestDir);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = wharf()
            .args(["down", "--env", "local"])
            .current_dir(self.0.path())
            .run();
    }
}

/// `wharf deploy --env local -q` in `d`, which must succeed.
pub(crate) fn deploy_quietly(d: &TestDir) {
    wharf()
        .args(["deploy", "--env", "local", "-q"])
        .current_dir(d.path())
        .run()
        .success();
}

/// `wharf status --env local --output json` in `d`.
pub(crate) fn status_json(d: &TestDir) -> serde_json::Value {
    wharf()
        .args(["status", "--env", "local", "--output", "json"])
        .current_dir(d.path())
        .run()
        .success()
        .json()
}

pub(crate) fn deployment_of(port: u16) -> String {
    let r = get(port, "/").expect("the service answers");
    r.body
        .split("\"deployment\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn deploy_roll_back_lock_status_and_down() {
    let d = TestDir::new();
    let app = format!("cli{}", std::process::id());
    let port = free_port();
    d.write("local.secrets", "ssm:/t/drain=s3cret\n");
    d.write(
        "wharf.toml",
        manifest(&app, port, "HELLO_VERSION = \"1\"", "2s"),
    );
    let _down = Down(&d);

    // With -vv: wharf's debug logs, and never the secret the container gets.
    let out = wharf()
        .args(["-vv", "deploy", "--env", "local"])
        .current_dir(d.path())
        .run()
        .success();
    assert!(
        out.stdout
            .contains(&format!("open http://127.0.0.1:{port}/")),
        "{out}"
    );
    assert!(
        !out.stdout.contains("s3cret") && !out.stderr.contains("s3cret"),
        "a secret in the output: {out}"
    );
    let v1 = deployment_of(port);
    assert!(v1.starts_with("local-"), "{v1}");
    let logs = wharf()
        .args(["logs", "--env", "local", "--deployment", &v1])
        .current_dir(d.path())
        .run()
        .success();
    assert!(
        logs.stdout.contains(&format!("hello: deployment {v1}")) && logs.stdout.contains(" | "),
        "{logs}"
    );
    // The same flags as on AWS: text, the last N, a moment, JSON lines with the time.
    let grep = wharf()
        .args([
            "logs",
            "--env",
            "local",
            "--grep",
            "hello: deployment",
            "--tail",
            "1",
        ])
        .current_dir(d.path())
        .run()
        .success();
    assert_eq!(grep.stdout.lines().count(), 1, "{grep}");
    assert!(
        grep.stdout.contains(&format!("hello: deployment {v1}")),
        "{grep}"
    );
    let json = wharf()
        .args([
            "logs", "--env", "local", "--since", "1h", "--output", "json",
        ])
        .current_dir(d.path())
        .run()
        .success();
    let first: serde_json::Value =
        serde_json::from_str(json.stdout.lines().next().unwrap_or_default()).expect("JSON");
    assert!(first["timestamp_ms"].as_i64().is_some(), "{json}");
    let none = wharf()
        .args(["logs", "--env", "local", "--since", "2099-01-01T00:00:00Z"])
        .current_dir(d.path())
        .run()
        .success();
    assert_eq!(none.stdout, "", "nothing written after 2099: {none}");
    wharf()
        .args(["logs", "--env", "local", "--since", "last tuesday"])
        .current_dir(d.path())
        .run()
        .code(2)
        .contains("neither a duration nor a time");

    // wharf exec: one command in a container of the serving deployment, its output and its
    // exit code passed through; no such task and no docker client are clear errors.
    let exec = |args: &[&str]| {
        wharf()
            .args(["exec", "--env", "local"])
            .args(args)
            .current_dir(d.path())
    };
    let out = exec(&["--", "/hello", "--job", "exit=3"]).run().code(3);
    assert!(
        out.stdout
            .contains(&format!("hello job: run - deployment {v1}")),
        "the command ran in {v1}'s container: {out}"
    );
    assert!(out.stderr.contains("web: entering "), "{out}");
    exec(&["--deployment", &v1, "--", "/hello", "--job"])
        .run()
        .success();
    exec(&["--task", "no-such-task", "--", "/hello", "--job"])
        .run()
        .code(1)
        .contains("no running task of web matching task no-such-task");
    exec(&["--", "/hello", "--job"])
        .env("PATH", "/nonexistent")
        .run()
        .code(1)
        .contains("`docker` is not installed");

    // A version that exits at start: rolled back by itself, v1 keeps serving.
    d.write(
        "wharf.toml",
        manifest(&app, port, "HELLO_MODE = \"exit\"", "2s"),
    );
    let out = wharf()
        .args(["deploy", "--env", "local"])
        .current_dir(d.path())
        .run()
        .code(5);
    out.contains("was rolled back")
        .contains("tasks keep stopping");
    assert_eq!(deployment_of(port), v1);

    // A deploy holding the lock: a second one is refused, naming it.
    d.write(
        "wharf.toml",
        manifest(&app, port, "HELLO_VERSION = \"2\"", "15s"),
    );
    let mut first = std::process::Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(["deploy", "--env", "local", "-q"])
        .current_dir(d.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let h = wharf()
            .args(["history", "--env", "local", "--output", "json"])
            .current_dir(d.path())
            .run()
            .success()
            .json();
        if h["deployments"]
            .as_array()
            .expect("list")
            .iter()
            .any(|r| r["status"] == "in-progress" && r["weight"] == 50)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first deploy never reached its canary"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = wharf()
        .args(["deploy", "--env", "local"])
        .current_dir(d.path())
        .run()
        .code(6);
    out.contains("is being deployed by").contains("pid");
    assert!(first.wait().expect("first deploy").success());
    assert_ne!(deployment_of(port), v1, "the new version serves");

    let st = status_json(&d);
    let deps = st["services"][0]["deployments"]
        .as_array()
        .expect("deployments")
        .clone();
    assert_eq!(deps.len(), 1, "{st}");
    assert_eq!(deps[0]["weight"], 100);

    // Rollbacks whose second's deployment id is taken (a deploy or rollback a moment ago) get
    // fresh ids, and each one serves: the id is chosen by the engine, as on every target.
    d.write(
        "wharf.toml",
        manifest(&app, port, "HELLO_VERSION = \"2\"", "1s"),
    );
    let store = wharf_local::LocalStore::open(&d.path().join(".wharf/local")).expect("state");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let names = wharf_manifest::Names::new(&app, "local");
    let newest = rt
        .block_on(wharf_engine::Store::list(&store, "web"))
        .expect("records")
        .pop()
        .expect("v2");
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64;
    let taken: Vec<String> = (start..start + 4).map(|s| names.deployment_id(s)).collect();
    for id in &taken {
        let mut r = newest.clone();
        r.id = id.clone();
        r.outcome = Some(wharf_engine::Outcome::Aborted);
        rt.block_on(wharf_engine::Store::save(&store, &r))
            .expect("save");
    }
    let rollback = || {
        let out = wharf()
            .args(["rollback", "--env", "local"])
            .current_dir(d.path())
            .run()
            .success();
        // `web {id}: {phase}`
        let id = out.stdout.split_whitespace().nth(1).expect("an id");
        id.trim_end_matches(':').to_owned()
    };
    let first = rollback();
    assert!(!taken.contains(&first), "{first} was taken");
    assert_eq!(deployment_of(port), first, "the rollback serves");
    let second = rollback();
    assert!(!taken.contains(&second) && second != first, "{second}");
    assert_eq!(deployment_of(port), second);

    // `down` removes wharf's own files and leaves a file of the user's, with its folder.
    d.write(".wharf/local/notes.txt", "mine");
    wharf()
        .args(["down", "--env", "local"])
        .current_dir(d.path())
        .run()
        .success()
        .contains("is down")
        .contains("1 file(s) wharf did not make: notes.txt");
    assert_eq!(d.read(".wharf/local/notes.txt"), "mine");
    for gone in ["state.db", "proxy.json", "proxy.log", "proxy.pid"] {
        assert!(
            !d.path().join(".wharf/local").join(gone).exists(),
            "{gone} left"
        );
    }
    let left = docker(["ps", "-aq", "--filter", &format!("label=wharf.app={app}")]).success();
    assert!(
        left.stdout.trim().is_empty(),
        "containers left: {}",
        left.stdout
    );
    let images = docker([
        "images",
        "-q",
        "--filter",
        &format!("label=wharf.app={app}"),
    ])
    .success();
    assert!(
        images.stdout.trim().is_empty(),
        "images left: {}",
        images.stdout
    );
    assert!(get(port, "/").is_err(), "the proxy stopped");
}

/// The ids of the app's running containers, sorted.
fn running_ids(app: &str) -> Vec<String> {
    let out = docker([
        "ps",
        "-q",
        "--no-trunc",
        "--filter",
        &format!("label=wharf.app={app}"),
    ])
    .success();
    let mut ids: Vec<String> = out.stdout.lines().map(str::to_owned).collect();
    ids.sort();
    ids
}

#[test]
fn proxy_killed_and_restarted_restores_routes_without_touching_containers() {
    let d = TestDir::new();
    let app = format!("px{}", std::process::id());
    let port = free_port();
    d.write("local.secrets", "ssm:/t/drain=s3cret\n");
    d.write(
        "wharf.toml",
        manifest(&app, port, "HELLO_VERSION = \"1\"", "1s"),
    );
    let _down = Down(&d);
    deploy_quietly(&d);
    let serving = deployment_of(port);
    let containers = running_ids(&app);
    assert!(!containers.is_empty());

    // The proxy dies the hard way.
    let pid = d.read(".wharf/local/proxy.pid");
    let pid = pid.trim();
    let killed = std::process::Command::new("kill")
        .args(["-KILL", pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while get(port, "/").is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the proxy still answers"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(running_ids(&app), containers, "the containers keep running");

    // `wharf up` starts it again from its saved state: same routes, same containers.
    wharf()
        .args(["up", "--env", "local"])
        .current_dir(d.path())
        .run()
        .success()
        .contains(&format!("http://127.0.0.1:{port}/"));
    assert_ne!(d.read(".wharf/local/proxy.pid").trim(), pid, "a new proxy");
    wharf_testkit::http::wait_for_status(port, "/", 200, Duration::from_secs(20))
        .expect("the service answers through the restarted proxy");
    for _ in 0..10 {
        assert_eq!(deployment_of(port), serving);
    }
    assert_eq!(running_ids(&app), containers, "no container was replaced");
    let st = status_json(&d);
    assert_eq!(st["services"][0]["deployments"][0]["weight"], 100, "{st}");
    // `listen` changed in the manifest: the proxy moves there with its routes.
    let moved = free_port();
    d.write(
        "wharf.toml",
        manifest(&app, moved, "HELLO_VERSION = \"1\"", "1s"),
    );
    wharf()
        .args(["up", "--env", "local"])
        .current_dir(d.path())
        .run()
        .success()
        .contains(&format!("http://127.0.0.1:{moved}/"));
    wharf_testkit::http::wait_for_status(moved, "/", 200, Duration::from_secs(20))
        .expect("the service answers on the new address");
    assert_eq!(deployment_of(moved), serving);
    assert!(get(port, "/").is_err(), "the old address is closed");
    assert_eq!(running_ids(&app), containers, "no container was replaced");

    // The proxy's limits changed in the manifest: it starts again with them, routes kept.
    let before = d.read(".wharf/local/proxy.pid");
    d.write(
        "wharf.toml",
        manifest(&app, moved, "HELLO_VERSION = \"1\"", "1s").replace(
            "secrets_file = \"local.secrets\"\n",
            "secrets_file = \"local.secrets\"\nproxy = { max_header_bytes = 8192 }\n",
        ),
    );
    wharf()
        .args(["up", "--env", "local"])
        .current_dir(d.path())
        .run()
        .success();
    assert_ne!(d.read(".wharf/local/proxy.pid"), before, "a new proxy");
    wharf_testkit::http::wait_for_status(moved, "/", 200, Duration::from_secs(20))
        .expect("the service answers through the proxy with its new limits");
    let big = "x".repeat(12_000);
    let r = wharf_testkit::http::request(
        moved,
        "GET",
        "/",
        &[("x-big", big.as_str())],
        Duration::from_secs(5),
    )
    .expect("an answer");
    assert_eq!(
        r.status, 431,
        "12,000 bytes of headers over the 8,192 allowed"
    );
    assert_eq!(deployment_of(moved), serving);
    assert_eq!(running_ids(&app), containers, "no container was replaced");

    // A deploy after all that works as ever.
    d.write(
        "wharf.toml",
        manifest(&app, moved, "HELLO_VERSION = \"2\"", "1s"),
    );
    deploy_quietly(&d);
    assert_ne!(deployment_of(moved), serving);
}
