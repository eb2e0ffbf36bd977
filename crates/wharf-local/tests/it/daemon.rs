//! `wharf local serve`: the control socket (0600), applied routes serving traffic, and a
//! restart that restores them from the state dir; versioned route edits that two processes
//! make at once without losing either's; a corrupt routes file refused by name; routes that
//! would break the proxy refused; an over-long command line cut off.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use wharf_local::daemon::{serve, socket_path, Answer, Command, DaemonError, ProxyClient};
use wharf_proxy::{Config, HealthConfig, RuleConfig, TargetGroupConfig};
use wharf_testkit::http::request;
use wharf_testkit::TestDir;

/// A backend that answers "hello" to everything.
async fn backend() -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
                        .await;
                }
            });
        }
    });
    addr
}

fn config(target: std::net::SocketAddr) -> Config {
    Config {
        target_groups: vec![TargetGroupConfig {
            name: "web-v1".into(),
            deployment: Some("v1".into()),
            targets: vec![target],
            health: HealthConfig {
                path: "/".into(),
                interval_ms: 50,
                timeout_ms: 500,
                healthy: 2,
                unhealthy: 2,
                matcher: "200".into(),
            },
            deregistration_delay_ms: 1000,
        }],
        rules: vec![RuleConfig {
            priority: 199,
            listener: None,
            hosts: vec![],
            paths: vec!["/*".into()],
            headers: vec![],
            cookies: vec![],
            forward: vec![("web-v1".into(), 100)],
            affinity_cookie: None,
            fixed: None,
        }],
    }
}

async fn wait_ping(client: &ProxyClient) -> std::net::SocketAddr {
    for _ in 0..200 {
        if let Ok(Answer::Pong { listen, .. }) = client.send(&Command::Ping).await {
            return listen;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the proxy did not answer on its socket within 4s");
}

async fn get_ok(port: u16) -> bool {
    tokio::task::spawn_blocking(move || {
        for _ in 0..100 {
            if request(port, "GET", "/", &[], Duration::from_secs(2))
                .is_ok_and(|r| r.status == 200 && r.body == "hello")
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        false
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_apply_serve_and_survive_a_restart() {
    let d = TestDir::new();
    let dir = d.path().to_path_buf();
    let target = backend().await;
    let first = tokio::spawn({
        let dir = dir.clone();
        async move { serve(&dir, "127.0.0.1:0").await }
    });
    let client = ProxyClient::new(&dir);
    let listen = wait_ping(&client).await;
    let mode = std::fs::metadata(socket_path(&dir))
        .expect("socket")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the control socket is for this user only");
    assert!(matches!(
        client
            .send(&Command::Apply {
                config: config(target),
                expect: None,
            })
            .await
            .expect("apply"),
        Answer::Applied { .. }
    ));
    assert!(
        get_ok(listen.port()).await,
        "traffic flows through the applied route"
    );

    client.send(&Command::Shutdown).await.expect("stops");
    first.await.expect("join").expect("served");
    // A new process restores the routes it had.
    let second = tokio::spawn({
        let dir = dir.clone();
        async move { serve(&dir, "127.0.0.1:0").await }
    });
    let listen = wait_ping(&client).await;
    let Answer::Status {
        config: restored, ..
    } = client.send(&Command::Status).await.expect("status")
    else {
        panic!("status")
    };
    assert_eq!(restored, config(target));
    assert!(get_ok(listen.port()).await, "restored routes serve");
    client.send(&Command::Shutdown).await.expect("stops");
    second.await.expect("join").expect("served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_and_a_missing_proxy_are_explained() {
    let d = TestDir::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let err = serve(d.path(), &addr).await.expect_err("port taken");
    assert!(
        matches!(err, DaemonError::Listen { .. }) && err.to_string().contains(&addr),
        "{err}"
    );
    let err = ProxyClient::new(d.path())
        .send(&Command::Ping)
        .await
        .expect_err("nothing runs");
    assert!(matches!(err, DaemonError::NotRunning { .. }), "{err}");
}

/// A proxy serving from `dir` on a free port, stopped by the caller.
async fn start(
    dir: &std::path::Path,
) -> (
    tokio::task::JoinHandle<Result<(), DaemonError>>,
    ProxyClient,
) {
    let task = tokio::spawn({
        let dir = dir.to_path_buf();
        async move { serve(&dir, "127.0.0.1:0").await }
    });
    let client = ProxyClient::new(dir);
    wait_ping(&client).await;
    (task, client)
}

async fn status(client: &ProxyClient) -> (Config, u64) {
    match client.send(&Command::Status).await.expect("status") {
        Answer::Status {
            config, version, ..
        } => (config, version),
        other => panic!("{other:?}"),
    }
}

fn group(name: &str) -> TargetGroupConfig {
    let mut g = config("127.0.0.1:9".parse().unwrap())
        .target_groups
        .remove(0);
    g.name = name.into();
    g.deployment = Some(name.into());
    g
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_naming_an_old_version_is_refused_and_changes_nothing() {
    let d = TestDir::new();
    let (task, client) = start(d.path()).await;
    let (mut cfg, v0) = status(&client).await;
    cfg.target_groups.push(group("web-a"));
    let Answer::Applied { version: v1 } = client
        .send(&Command::Apply {
            config: cfg.clone(),
            expect: Some(v0),
        })
        .await
        .expect("apply")
    else {
        panic!("applied")
    };
    assert_ne!(v0, v1);
    // A second writer still holding v0 would erase web-a: it is told to read again.
    let mut stale = Config::default();
    stale.target_groups.push(group("api-b"));
    let answer = client
        .send(&Command::Apply {
            config: stale,
            expect: Some(v0),
        })
        .await
        .expect("answer");
    assert!(
        matches!(answer, Answer::Conflict { version } if version == v1),
        "{answer:?}"
    );
    assert_eq!(status(&client).await, (cfg, v1));
    client.send(&Command::Shutdown).await.expect("stops");
    task.await.expect("join").expect("served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_editing_routes_at_once_lose_nothing() {
    let d = TestDir::new();
    let (task, client) = start(d.path()).await;
    // Two targets as two `wharf deploy` processes would have them: their own in-process
    // lock each, one proxy between them.
    let target = |_| {
        wharf_local::LocalTarget::new(
            wharf_local::LocalStore::open(d.path()).expect("store"),
            wharf_docker::Docker::lazy().expect("docker client"),
            ProxyClient::new(d.path()),
            "pulse",
            "local",
            None,
            Default::default(),
            d.path().to_path_buf(),
        )
    };
    let (web, api) = (target(0), target(1));
    async fn edits(t: &wharf_local::LocalTarget, service: &str) {
        for i in 0..25 {
            let name = format!("{service}-{i}");
            t.edit(|cfg| cfg.target_groups.push(group(&name)))
                .await
                .expect("edit");
        }
    }
    tokio::join!(edits(&web, "web"), edits(&api, "api"));
    let (cfg, _) = status(&client).await;
    let mut names: Vec<String> = cfg.target_groups.iter().map(|g| g.name.clone()).collect();
    names.sort();
    let mut want: Vec<String> = (0..25)
        .flat_map(|i| [format!("web-{i}"), format!("api-{i}")])
        .collect();
    want.sort();
    assert_eq!(names, want, "every edit of both writers is kept");
    client.send(&Command::Shutdown).await.expect("stops");
    task.await.expect("join").expect("served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_routes_file_stops_the_proxy_by_name_and_is_kept() {
    let d = TestDir::new();
    let (task, client) = start(d.path()).await;
    let mut cfg = Config::default();
    cfg.target_groups.push(group("web-a"));
    for expect in [None, None] {
        client
            .send(&Command::Apply {
                config: cfg.clone(),
                expect,
            })
            .await
            .expect("apply");
        cfg.target_groups.push(group("web-b"));
    }
    client.send(&Command::Shutdown).await.expect("stops");
    task.await.expect("join").expect("served");
    let good = std::fs::read(d.path().join("proxy.json.good")).expect("the previous routes");
    assert!(serde_json::from_slice::<Config>(&good).is_ok());

    // Half a file, as a crash without fsync or a bad edit leaves it.
    let path = d.path().join("proxy.json");
    let text = std::fs::read_to_string(&path).expect("routes");
    let cut = &text[..text.len() / 2];
    std::fs::write(&path, cut).expect("cut");
    let err = serve(d.path(), "127.0.0.1:0").await.expect_err("refused");
    assert!(matches!(err, DaemonError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("proxy.json"), "{err}");
    let help = miette::Diagnostic::help(&err)
        .map(|h| h.to_string())
        .unwrap_or_default();
    assert!(help.contains("proxy.json.good"), "{help}");
    assert_eq!(
        std::fs::read_to_string(&path).expect("kept"),
        cut,
        "left as it was"
    );
    assert!(!socket_path(d.path()).exists(), "nothing listens");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_that_would_break_the_proxy_are_refused() {
    let d = TestDir::new();
    let (task, client) = start(d.path()).await;
    let before = status(&client).await;
    let mut dup = config("127.0.0.1:9".parse().unwrap());
    let mut second = dup.rules[0].clone();
    second.forward.push(("web-v1".into(), 5));
    dup.rules.push(second);
    let mut spin = config("127.0.0.1:9".parse().unwrap());
    spin.target_groups[0].health.interval_ms = 0;
    for (bad, why) in [(dup, "priority 199"), (spin, "interval")] {
        let err = client
            .send(&Command::Apply {
                config: bad,
                expect: None,
            })
            .await
            .expect_err("refused");
        assert!(err.to_string().contains(why), "{err}");
    }
    assert_eq!(status(&client).await, before, "nothing changed");
    client.send(&Command::Shutdown).await.expect("stops");
    task.await.expect("join").expect("served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_command_line_is_cut_off_and_the_proxy_keeps_answering() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let d = TestDir::new();
    let (task, client) = start(d.path()).await;
    let mut s = tokio::net::UnixStream::connect(socket_path(d.path()))
        .await
        .expect("connect");
    // One byte over the limit, no newline: the proxy stops reading there and says why.
    let line = vec![b'x'; wharf_local::control::MAX_LINE + 1];
    s.write_all(&line).await.expect("written");
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut answer)).await;
    assert!(answer.contains("longer than"), "{answer}");
    assert!(matches!(
        client.send(&Command::Ping).await,
        Ok(Answer::Pong { .. })
    ));
    let mode = std::fs::metadata(d.path())
        .expect("dir")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700, "the state dir is this user's alone");
    client.send(&Command::Shutdown).await.expect("stops");
    task.await.expect("join").expect("served");
}
