//! Matching a request to a rule: host, path pattern, header and cookie conditions, by priority.

use hyper::header::{COOKIE, HOST};
use hyper::HeaderMap;

use crate::config::RuleConfig;

/// The first rule of `listener` (by ascending priority) whose conditions all match.
pub fn route<'a>(
    rules: &'a [RuleConfig],
    listener: Option<&str>,
    host: Option<&str>,
    path: &str,
    headers: &HeaderMap,
) -> Option<&'a RuleConfig> {
    route_at(rules, listener, host, path, headers).map(|i| &rules[i])
}

/// [`route`]'s rule as its index in `rules`.
pub fn route_at(
    rules: &[RuleConfig],
    listener: Option<&str>,
    host: Option<&str>,
    path: &str,
    headers: &HeaderMap,
) -> Option<usize> {
    rules
        .iter()
        .position(|r| r.listener.as_deref() == listener && matches(r, host, path, headers))
}

fn matches(r: &RuleConfig, host: Option<&str>, path: &str, headers: &HeaderMap) -> bool {
    let host = host.map(|h| h.split(':').next().unwrap_or(h));
    (r.hosts.is_empty() || host.is_some_and(|h| r.hosts.iter().any(|p| glob_host(p, h))))
        && (r.paths.is_empty() || r.paths.iter().any(|p| glob(p, path)))
        && r.headers.iter().all(|(name, values)| {
            headers
                .get_all(name.as_str())
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| values.iter().any(|want| glob(want, v)))
        })
        && r.cookies
            .iter()
            .all(|(name, value)| cookie(headers, name).is_some_and(|v| v == *value))
}

/// The request's host: the Host header, or the URI's authority.
pub fn host(headers: &HeaderMap, uri: &hyper::Uri) -> Option<String> {
    headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.host().map(str::to_owned))
}

/// A cookie's value from the Cookie headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// ALB wildcard matching: `*` any run of characters, `?` one character; case-sensitive.
/// ASCII (nearly every path and pattern) is matched on bytes without allocating.
pub fn glob(pattern: &str, text: &str) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        wild(pattern.as_bytes(), text.as_bytes(), |a, b| a == b)
    } else {
        let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
        wild(&p, &t, |a, b| a == b)
    }
}

/// [`glob`] ignoring case, for host names.
fn glob_host(pattern: &str, host: &str) -> bool {
    if pattern.is_ascii() && host.is_ascii() {
        wild(pattern.as_bytes(), host.as_bytes(), |a, b| {
            a.eq_ignore_ascii_case(&b)
        })
    } else {
        glob(&pattern.to_lowercase(), &host.to_lowercase())
    }
}

/// Wildcard matching over characters (bytes or chars) with the given equality.
fn wild<T: Copy + PartialEq + From<u8>>(p: &[T], t: &[T], eq: impl Fn(T, T) -> bool) -> bool {
    let (star_c, any_c) = (T::from(b'*'), T::from(b'?'));
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == any_c || eq(p[pi], t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == star_c {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == star_c {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(priority: u32, hosts: &[&str], paths: &[&str]) -> RuleConfig {
        RuleConfig {
            priority,
            listener: None,
            hosts: hosts.iter().map(|s| s.to_string()).collect(),
            paths: paths.iter().map(|s| s.to_string()).collect(),
            headers: vec![],
            cookies: vec![],
            forward: vec![],
            affinity_cookie: None,
            fixed: None,
        }
    }

    #[test]
    fn globs() {
        assert!(glob("/api/*", "/api/v1/x"));
        assert!(glob("/*", "/"));
        assert!(glob("*.example.com", "a.example.com"));
        assert!(!glob("/api/*", "/apix"));
        assert!(glob("/a?c", "/abc") && !glob("/a?c", "/ac"));
        // `?` is one character, not one byte; case counts outside host names.
        assert!(glob("/caf?", "/café") && !glob("/caf?", "/café!"));
        assert!(glob("/é*", "/été") && !glob("/API/*", "/api/x"));
        assert!(glob_host("*.EXAMPLE.com", "a.example.COM") && glob_host("é.com", "É.com"));
    }

    #[test]
    fn first_match_by_priority_with_header_and_cookie_conditions() {
        let mut sticky = rule(100, &[], &["/*"]);
        sticky.cookies = vec![("aff".into(), "v1".into())];
        let mut test = rule(101, &[], &["/*"]);
        test.headers = vec![("x-wharf-test".into(), vec!["*".into()])];
        let rules = vec![sticky, test, rule(199, &[], &["/*"])];
        let mut h = HeaderMap::new();
        assert_eq!(
            route(&rules, None, None, "/", &h).map(|r| r.priority),
            Some(199)
        );
        h.insert(COOKIE, "a=1; aff=v1".parse().expect("header"));
        assert_eq!(
            route(&rules, None, None, "/", &h).map(|r| r.priority),
            Some(100)
        );
        let mut h = HeaderMap::new();
        h.insert("x-wharf-test", "1".parse().expect("header"));
        assert_eq!(
            route(&rules, None, None, "/x", &h).map(|r| r.priority),
            Some(101)
        );
        assert_eq!(
            route(
                &[rule(1, &["api.example.com"], &[])],
                None,
                Some("API.example.com:8080"),
                "/",
                &h
            )
            .map(|r| r.priority),
            Some(1)
        );
    }

    #[test]
    fn a_request_matches_only_the_rules_of_the_listener_it_came_in_on() {
        let mut internal = rule(5, &[], &["/*"]);
        internal.listener = Some("api".into());
        let rules = vec![internal, rule(9, &[], &["/*"])];
        let h = HeaderMap::new();
        assert_eq!(
            route(&rules, None, None, "/", &h).map(|r| r.priority),
            Some(9)
        );
        assert_eq!(
            route(&rules, Some("api"), None, "/", &h).map(|r| r.priority),
            Some(5)
        );
        assert!(route(&rules, Some("other"), None, "/", &h).is_none());
    }
}
