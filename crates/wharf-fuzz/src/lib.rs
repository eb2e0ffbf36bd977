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
/// stripped as for a backend and the request routed against a fixed set of rules.
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
    wharf_proxy::server::strip_client_headers(&mut headers);
    for k in headers.keys() {
        assert!(
            !k.as_str().contains('_') && k != "x-drain-secret",
            "{k} passed"
        );
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
