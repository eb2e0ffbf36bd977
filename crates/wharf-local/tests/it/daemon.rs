//! `wharf local serve`: the control socket (0600), applied routes serving traffic, and a
//! restart that restores them from the state dir.

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
            hosts: vec![],
            paths: vec!["/*".into()],
            headers: vec![],
            cookies: vec![],
            forward: vec![("web-v1".into(), 100)],
            affinity_cookie: None,
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
                config: config(target)
            })
            .await
            .expect("apply"),
        Answer::Applied
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
