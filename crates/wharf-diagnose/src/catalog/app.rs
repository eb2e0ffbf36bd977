//! What the application itself says in its last log lines: the port it listens on, settings it
//! misses, dependencies it cannot reach, a crash.

use wharf_engine::{Clue, Source::*};
use wharf_manifest::Service;

use crate::rule::{Matcher, Rule};

const fn logged(any: &'static [&'static str]) -> Matcher {
    Matcher::Text {
        sources: &[Log],
        all: &[],
        any,
        none: &[],
    }
}

pub static RULES: &[Rule] = &[
    Rule {
        id: "port-mismatch",
        title: "the application listens on another port than the service's",
        cause: "the load balancer (and wharf's proxy) send traffic and health checks to the service's `port`, but the application says it listens on another one",
        fix: "set the service's `port` to the port the application listens on, or make the application listen on `port` (wharf sets PORT in its environment)",
        matcher: Matcher::Custom(port_mismatch),
        example: (Log, "Listening on http://0.0.0.0:3000"),
        detail: Some(listening_port),
    },
    Rule {
        id: "port-in-use",
        title: "the application could not bind its port",
        cause: "something else in the task already listens on the port (a sidecar, a second server in the same process), or the application binds a privileged port as a non-root user",
        fix: "give each process in the task its own port, or run the server on a port above 1024 and set the service's `port` to it",
        matcher: logged(&["address already in use", "eaddrinuse", "bind: permission denied", "eacces"]),
        example: (Log, "Error: listen EADDRINUSE: address already in use 0.0.0.0:8080"),
        detail: None,
    },
    Rule {
        id: "missing-setting",
        title: "the application misses a setting",
        cause: "the application reads an environment variable or secret that the service does not set in this environment",
        fix: "add it to the service's `env` or `secrets` (per environment under `[environments.E.services.S]`), then `wharf deploy`",
        matcher: Matcher::Text {
            sources: &[Log],
            all: &[],
            any: &["keyerror:", "environment variable", "env var", "is not set", "missing required", "must be set", "not defined in environment"],
            none: &[],
        },
        example: (Log, "KeyError: 'DATABASE_URL'"),
        detail: None,
    },
    Rule {
        id: "dependency-unreachable",
        title: "the application cannot reach something it depends on",
        cause: "a database, cache or other service the application connects to at start refuses or does not answer: a wrong address, a security group that does not admit the service, or the dependency is down",
        fix: "check the address the application uses (the data store's variables wharf sets, e.g. DATABASE_URL) and that the dependency admits the service's security group (`wharf up` manages those of wharf's data stores)",
        matcher: logged(&["econnrefused", "connection refused", "could not connect", "could not translate host name", "name or service not known", "no such host", "getaddrinfo", "connection timed out", "etimedout", "temporary failure in name resolution"]),
        example: (Log, "psycopg2.OperationalError: could not connect to server: Connection refused. Is the server running on host \"pulse-prod-db.abc.eu-west-1.rds.amazonaws.com\" and accepting TCP/IP connections on port 5432?"),
        detail: None,
    },
    Rule {
        id: "app-crashed",
        title: "the application crashed",
        cause: "the application stopped on an unhandled error; the lines below are its last words",
        fix: "fix the error the lines show; `wharf deploy --local` runs the same image on this machine to reproduce it",
        matcher: logged(&["panicked at", "traceback (most recent call last)", "unhandled exception", "unhandledpromiserejection", "exception in thread", "fatal error:", "segmentation fault", "uncaught"]),
        example: (Log, "thread 'main' panicked at src/main.rs:12:5: DATABASE_URL must be a URL"),
        detail: None,
    },
];

/// A port a log line says the application listens on (`listening on :3000`,
/// `Listening on http://0.0.0.0:3000`, `Started server on port 3000`).
fn listening_port(text: &str) -> Option<String> {
    port_in(text).map(|p| format!("listens on {p}"))
}

fn port_in(text: &str) -> Option<u16> {
    let t = text.to_ascii_lowercase();
    let at = [
        "listening on",
        "listening at",
        "server on port",
        "started on port",
        "bound to",
    ]
    .iter()
    .find_map(|w| t.find(w).map(|i| i + w.len()))?;
    let rest = &t[at..];
    let rest = rest.split_whitespace().next().unwrap_or(rest);
    let digits: String = rest
        .rsplit(':')
        .next()
        .unwrap_or(rest)
        .trim_start_matches("port")
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn port_mismatch(clue: &Clue, service: &Service) -> bool {
    if clue.source != Log {
        return false;
    }
    service.routing.is_some() && port_in(&clue.text).is_some_and(|p| p != service.port)
}
