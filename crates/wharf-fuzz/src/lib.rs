//! The fuzz targets' bodies, one per untrusted input, shared by `fuzz/` (libFuzzer, nightly)
//! and the corpus replay test (stable CI). Each must return for any bytes without panicking,
//! hanging or growing without bound; what it checks besides is said on each.

use std::path::Path;

/// The manifest reader: any text parses to a manifest or to problems; a problem's span lies
/// within the text.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (_, problems) = wharf_manifest::parse_str(text, "wharf.toml", Path::new("."));
    for p in &problems.problems {
        assert!(
            p.span.end <= text.len(),
            "span {:?} beyond the text",
            p.span
        );
    }
}

/// The daemon's control protocol: lines read with the bound, each parsed as a command; an
/// apply's routes are validated, and routes that pass are routed through.
pub fn control(data: &[u8]) {
    use wharf_local::control::{read_line, Command, MAX_LINE};
    thread_local! {
        static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
    }
    RT.with(|rt| {
        rt.block_on(async {
            let mut input = tokio::io::BufReader::new(data);
            let mut line = Vec::new();
            while let Ok(true) = read_line(&mut input, &mut line).await {
                assert!(line.len() <= MAX_LINE);
                if let Ok(Command::Apply { config, .. }) = serde_json::from_slice::<Command>(&line)
                {
                    if config.validate().is_ok() {
                        let headers = hyper::HeaderMap::new();
                        let _ = wharf_proxy::router::route(
                            &config.rules,
                            None,
                            Some("a"),
                            "/",
                            &headers,
                        );
                    }
                }
            }
        })
    });
}

/// The proxy's request path: a request line and headers as a client sends them; headers are
/// routed against a fixed set of rules, and the head a target would get encoded and parsed back.
pub fn request(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("/")
        .to_owned();
    let mut headers = hyper::HeaderMap::new();
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        if let (Ok(k), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(k.trim().as_bytes()),
            hyper::header::HeaderValue::from_str(v.trim()),
        ) {
            headers.append(k, v);
        }
    }
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let rules = rules();
    let _ = wharf_proxy::router::route(&rules, None, host.as_deref(), &path, &headers);
    let _ = wharf_proxy::router::cookie(&headers, "X-Wharf-Affinity-web");
    // The head a target would get: always one well-formed HTTP/1.1 request head, with
    // nothing a client may not pass on, one Host and one X-Forwarded-For.
    let mut req = hyper::Request::new(());
    if let Ok(uri) = path.parse::<hyper::Uri>() {
        *req.uri_mut() = uri;
    }
    *req.headers_mut() = headers;
    let (parts, ()) = req.into_parts();
    let fwd = wharf_proxy::server::Forwarded {
        client_ip: b"192.0.2.1",
        port: 80,
        request_id: "fuzz-1",
        authority: "127.0.0.1:8080",
    };
    for chunked in [false, true] {
        let mut head = Vec::new();
        wharf_proxy::server::encode_head(&mut head, &parts, &fwd, chunked);
        let mut fields = [httparse::EMPTY_HEADER; 256];
        let mut parsed = httparse::Request::new(&mut fields);
        match parsed.parse(&head) {
            Ok(httparse::Status::Complete(n)) => {
                assert_eq!(n, head.len(), "one head, nothing after")
            }
            other => panic!(
                "not a request head ({other:?}): {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
        let count = |name: &str| {
            parsed
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .count()
        };
        assert_eq!(count("host"), 1);
        assert_eq!(count("x-forwarded-for"), 1);
        assert_eq!(count("x-request-id"), 1);
        for h in parsed.headers.iter() {
            let n = h.name.to_ascii_lowercase();
            assert!(
                !n.contains('_') && n != "x-drain-secret" && n != "connection",
                "{n} passed"
            );
        }
    }
}

fn rules() -> Vec<wharf_proxy::RuleConfig> {
    let rule = |priority, hosts: &[&str], paths: &[&str]| wharf_proxy::RuleConfig {
        priority,
        listener: None,
        hosts: hosts.iter().map(|s| s.to_string()).collect(),
        paths: paths.iter().map(|s| s.to_string()).collect(),
        headers: vec![("x-wharf-test".into(), vec!["*".into()])],
        cookies: vec![(
            "X-Wharf-Affinity-web".into(),
            "test-20261129-120000Z".into(),
        )],
        forward: vec![("web".into(), 100)],
        affinity_cookie: None,
        fixed: None,
    };
    vec![
        rule(1, &["*.example.com"], &["/api/*", "/a?c/*"]),
        rule(2, &[], &["/*"]),
    ]
}
