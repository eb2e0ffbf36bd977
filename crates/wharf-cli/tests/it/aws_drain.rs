//! The drain POST on AWS, on the moto server: when a canary retires version 1, wharf puts a
//! rule ahead of every service's block that forwards the drain path, for its random
//! `X-Wharf-Drain` value, to version 1's target group only, POSTs with the secret until each
//! running task has named itself, then removes the rule. moto's load balancer forwards
//! nothing, so the POSTs go to a stand-in listener (`WHARF_LB_CONNECT`) that answers as the
//! load balancer would, picking version 1's two tasks by turns; ECS's answers for those tasks
//! are replayed (moto runs none). The acknowledgements are in the progress and the record.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::aws_deploy::UpEnv;
use crate::no_panic;

const MANIFEST: &str = crate::aws_env::moto_manifest!(
    r#"

[services.web]
image = "registry.example/pulse/web:1"
port = 8000
count = 2
routing = { paths = ["/*"], priority = 1 }
deploy = { strategy = "canary", canary = { percent = 20, bake = "1s" }, drain = { path = "/drain", secret = "ssm:/pulse/drain", timeout = "5s" } }
"#
);

/// A listener answering like a load balancer in front of `tasks`: each connection goes to
/// the next task by turns (the first one twice, as a balancer may), which names itself.
/// Returns the requests' heads; stops when told or after a minute.
fn stand_in(
    tasks: Vec<String>,
    stop: Arc<AtomicBool>,
) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let handle = std::thread::spawn(move || {
        let mut heads = Vec::new();
        let order: Vec<&String> = std::iter::once(&tasks[0]).chain(tasks.iter()).collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stop.load(Ordering::SeqCst) && Instant::now() < deadline && heads.len() < 64 {
            let Ok((mut s, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            let _ = s.set_nonblocking(false);
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let task = order[heads.len() % order.len()];
            heads.push(String::from_utf8_lossy(&buf).into_owned());
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nX-Wharf-Task: {task}\r\nContent-Length: 9\r\nConnection: close\r\n\r\ndraining\n"
            );
        }
        heads
    });
    (port, handle)
}

#[test]
fn a_retiring_deployment_is_drained_through_the_load_balancer_until_each_task_answers() {
    let env = UpEnv::new(MANIFEST);
    env.moto.boto3(
        "client('ssm').put_parameter(Name='/pulse/drain', Value='s3cret', Type='SecureString')\n",
    );
    let out = env.wharf().args(["deploy"]).run().success();
    no_panic(&out);
    let v1 = env.deployments("web")[0].clone();
    let ecs_v1 = format!("web-{v1}");

    // ECS's word on version 1's tasks (moto runs none).
    let arn = |id: &str| format!("arn:aws:ecs:us-east-1:123456789012:task/pulse-test/{id}");
    let tasks = ["5d1e2a3b4c", "9f8e7d6c5b"];
    env.proxy.json(
        "ListTasks",
        200,
        serde_json::json!({ "taskArns": [arn(tasks[0]), arn(tasks[1])] }).to_string(),
    );
    let described: Vec<serde_json::Value> = tasks
        .iter()
        .enumerate()
        .map(|(i, id)| {
            serde_json::json!({
                "taskArn": arn(id),
                "group": format!("service:{ecs_v1}"),
                "lastStatus": "RUNNING",
                "desiredStatus": "RUNNING",
                "attachments": [{ "type": "ElasticNetworkInterface", "details": [
                    { "name": "privateIPv4Address", "value": format!("10.0.11.{}", 20 + i) },
                ] }],
            })
        })
        .collect();
    env.proxy.json(
        "DescribeTasks",
        200,
        serde_json::json!({ "tasks": described, "failures": [] }).to_string(),
    );

    let stop = Arc::new(AtomicBool::new(false));
    let (port, listener) = stand_in(
        tasks.iter().map(|t| (*t).to_owned()).collect(),
        stop.clone(),
    );
    env.dir
        .write("wharf.toml", MANIFEST.replace("web:1\"", "web:2\""));
    let out = env
        .wharf()
        .args(["deploy"])
        .env("WHARF_LB_CONNECT", format!("127.0.0.1:{port}"))
        .run()
        .success();
    no_panic(&out);
    stop.store(true, Ordering::SeqCst);
    let heads = listener.join().expect("the stand-in");
    assert!(
        out.stderr.contains(&format!(
            "{v1}: 2 of 2 tasks acknowledged the drain ({}, {})",
            tasks[0], tasks[1]
        )),
        "{out}"
    );
    // Three POSTs: the first task answered twice before the second did.
    assert_eq!(heads.len(), 3, "{heads:?}");
    let nonce = |h: &str| {
        h.lines()
            .find_map(|l| {
                l.strip_prefix("x-wharf-drain: ")
                    .or_else(|| l.strip_prefix("X-Wharf-Drain: "))
            })
            .map(str::to_owned)
    };
    for h in &heads {
        assert!(h.starts_with("POST /drain HTTP/1.1\r\n"), "{h}");
        assert!(
            h.to_ascii_lowercase().contains("x-drain-secret: s3cret"),
            "the secret: {h}"
        );
        assert_eq!(nonce(h), nonce(&heads[0]), "one drain value: {h}");
    }
    let nonce = nonce(&heads[0]).expect("a drain value");
    assert_eq!(nonce.len(), 32);

    // The rule that routed them: the drain path with that value, to version 1's target
    // group, ahead of the service's block; made before the POSTs and removed after.
    let log = env.proxy.log();
    let created = log
        .iter()
        .find(|q| q.operation == "CreateRule" && q.body.contains(&nonce))
        .expect("a drain rule");
    let body = urlencoding_decode(&created.body);
    assert!(
        body.contains("Priority=1&") || body.ends_with("Priority=1"),
        "{body}"
    );
    assert!(
        body.contains("/drain") && body.contains("X-Wharf-Drain"),
        "{body}"
    );
    assert!(body.contains(&format!("targetgroup/web-{v1}/")), "{body}");
    let ops: Vec<&str> = log.iter().map(|q| q.operation.as_str()).collect();
    let made = log
        .iter()
        .position(|q| q.operation == "CreateRule" && q.body.contains(&nonce))
        .expect("created");
    assert!(
        ops[made..].contains(&"DeleteRule"),
        "the drain rule is removed: {ops:?}"
    );

    // The record keeps who acknowledged.
    let history = env
        .wharf()
        .args(["history", "web", "--output", "json"])
        .run()
        .success()
        .json();
    let first = history["deployments"]
        .as_array()
        .and_then(|d| d.iter().find(|r| r["id"] == v1.as_str()))
        .cloned()
        .expect("version 1");
    assert_eq!(
        first["drained"],
        serde_json::json!({ "tasks": 2, "acknowledged": tasks }),
        "{first}"
    );
}

/// The form body as text (`%2F` → `/`, `+` → space).
fn urlencoding_decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("3F");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
