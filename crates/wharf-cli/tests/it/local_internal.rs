//! An internal service locally, on the real Docker Engine: `web` calls `api` by its name
//! (`API_URL`, resolved on the environment's network to wharf's proxy, which routes it with
//! api's weights) under continuous load while a canary of `api` rolls out, with no failed
//! request; the public listener never reaches `api`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wharf_testkit::http::request;
use wharf_testkit::{workspace_root, TestDir};

use crate::local::{free_port, Down};
use crate::wharf;

fn manifest(app: &str, port: u16, version: &str) -> String {
    let hello = workspace_root().join("examples/hello");
    let build = format!(
        "build = {{ context = \"{ctx}\", pre_build = \"{ctx}/build-static.sh\" }}\nport = 8000\nhealth = {{ path = \"/_health\" }}\nstop_timeout = \"5s\"\n",
        ctx = hello.display()
    );
    format!(
        "[app]\nname = \"{app}\"\n[environments.local]\ntarget = \"local\"\nlisten = \"127.0.0.1:{port}\"\nsecrets_file = \"local.secrets\"\n\
         [services.web]\n{build}talks_to = [\"api\"]\n\
         [services.api]\n{build}internal = true\ncount = 2\nenv = {{ HELLO_VERSION = \"{version}\" }}\n\
         [services.api.deploy]\nstrategy = \"canary\"\ncanary = {{ percent = 50, bake = \"3s\" }}\n\
         drain = {{ secret = \"ssm:/t/drain\", timeout = \"2s\" }}\n"
    )
}

/// A field of hello's JSON answer.
fn field<'a>(body: &'a str, after: &str) -> &'a str {
    body.split(after)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("?")
}

#[test]
fn web_calls_api_by_name_through_a_canary_of_api_without_a_failed_request() {
    let d = TestDir::new();
    let app = format!("int{}", std::process::id());
    let port = free_port();
    d.write("local.secrets", "ssm:/t/drain=s3cret\n");
    d.write("wharf.toml", manifest(&app, port, "1"));
    let _down = Down(&d);
    let deploy = |service: &str| {
        wharf()
            .args(["deploy", service, "--env", "local", "-q"])
            .current_dir(d.path())
            .run()
            .success()
    };
    deploy("api");
    deploy("web");
    let call = request(port, "GET", "/call", &[], Duration::from_secs(10)).expect("web answers");
    assert_eq!(call.status, 200, "{}", call.body);
    let api_v1 = field(
        &call.body,
        "\"upstream\":{\"app\":\"hello\",\"deployment\":\"",
    )
    .to_owned();
    let web = field(&call.body, "\"via\":\"").to_owned();
    assert!(
        api_v1.starts_with("local-") && api_v1 != web,
        "{}",
        call.body
    );

    // The public listener has no route to api, whatever the Host says.
    let public = {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        write!(
            s,
            "GET / HTTP/1.1\r\nHost: api.{app}.internal:8000\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out
    };
    assert_eq!(field(&public, "\"deployment\":\""), web, "{public}");

    let stop = Arc::new(AtomicBool::new(false));
    let load = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let (mut seen, mut failed) = (BTreeMap::<String, u64>::new(), Vec::new());
            let deadline = Instant::now() + Duration::from_secs(180);
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                match request(port, "GET", "/call", &[], Duration::from_secs(10)) {
                    Ok(r) if r.status == 200 => {
                        *seen
                            .entry(
                                field(&r.body, "\"upstream\":{\"app\":\"hello\",\"deployment\":\"")
                                    .to_owned(),
                            )
                            .or_default() += 1;
                    }
                    Ok(r) => failed.push(format!("{} {}", r.status, r.body.trim())),
                    Err(e) => failed.push(e),
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            (seen, failed)
        }
    });
    std::thread::sleep(Duration::from_secs(1));
    d.write("wharf.toml", manifest(&app, port, "2"));
    deploy("api");
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::SeqCst);
    let (seen, failed) = load.join().expect("the load thread");
    assert!(
        failed.is_empty(),
        "failed requests: {failed:?}; answered: {seen:?}"
    );
    assert!(seen.get(&api_v1).is_some_and(|n| *n > 0), "{seen:?}");
    let api_v2 = seen
        .keys()
        .find(|k| **k != api_v1)
        .unwrap_or_else(|| panic!("version 2 never answered: {seen:?}"))
        .clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let after = request(port, "GET", "/call", &[], Duration::from_secs(10)).expect("web answers");
    assert_eq!(
        field(
            &after.body,
            "\"upstream\":{\"app\":\"hello\",\"deployment\":\""
        ),
        api_v2,
        "{}",
        after.body
    );
}
