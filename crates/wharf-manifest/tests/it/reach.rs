//! Internal services and their callers: what `internal`, `internal_port` and `talks_to` give,
//! and each mistake reported with its fix.

use wharf_manifest::Rule;

use crate::{parse, LOCAL};

const API: &str = "[services.api]\nimage = \"x:1\"\nport = 8080\ninternal = true\n";
const WEB: &str = "[services.web]\nimage = \"x:1\"\nport = 8000\ntalks_to = [\"api\"]\n";

fn reach_errors(src: &str) -> Vec<String> {
    let (_, problems) = parse(src);
    problems
        .errors()
        .filter(|p| p.rule == Rule::Reach || p.rule == Rule::InvalidValue)
        .map(|p| format!("{} | {}", p.message, p.help.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn an_internal_service_is_not_public_and_takes_every_request_on_its_own_listener() {
    let (m, problems) = parse(&format!("{LOCAL}{API}{WEB}"));
    assert!(!problems.has_errors(), "{problems}");
    let m = m.expect("a manifest");
    let api = &m.environments["local"].services["api"];
    assert!(!api.public);
    assert_eq!(api.internal.as_ref().map(|i| i.port), Some(8080));
    let r = api.routing.as_ref().expect("an internal service is routed");
    assert!(r.hosts.is_empty());
    assert_eq!(r.paths, ["/*"]);
    assert!(r.priority > 0, "a priority is assigned");
    assert_eq!(
        wharf_manifest::internal_host(&api.name, "pulse"),
        "api.pulse.internal"
    );
    let web = &m.environments["local"].services["web"];
    assert!(web.public && web.internal.is_none());
    assert_eq!(web.talks_to, ["api"]);
    assert_ne!(web.routing.as_ref().map(|r| r.priority), Some(r.priority));
    assert_eq!(
        wharf_manifest::internal_url_var("order-api"),
        "ORDER_API_URL"
    );

    let (m, problems) = parse(&format!("{LOCAL}{API}internal_port = 9000\n{WEB}"));
    assert!(!problems.has_errors(), "{problems}");
    let api = &m.expect("a manifest").services["api"];
    assert_eq!(api.internal.as_ref().map(|i| i.port), Some(9000));
    assert_eq!(api.port, 8080);
}

#[test]
fn talks_to_names_internal_services_of_the_environment() {
    let missing = reach_errors(&format!(
        "{LOCAL}{API}{}",
        WEB.replace("[\"api\"]", "[\"apl\"]")
    ));
    assert!(
        missing
            .iter()
            .any(|e| e.contains("`apl`, which is not a service")
                && e.contains("did you mean `api`?")),
        "{missing:?}"
    );
    let public = reach_errors(&format!(
        "{LOCAL}{}{WEB}",
        API.replace("internal = true\n", "")
    ));
    assert!(
        public.iter().any(
            |e| e.contains("`api`, which is not internal") && e.contains("set internal = true")
        ),
        "{public:?}"
    );
    let worker = reach_errors(&format!(
        "{LOCAL}{}{WEB}",
        API.replace("internal = true", "public = false")
    ));
    assert!(
        worker
            .iter()
            .any(|e| e.contains("not internal") && e.contains("no name to be called by")),
        "{worker:?}"
    );
    let itself = reach_errors(&format!("{LOCAL}{API}talks_to = [\"api\"]\n"));
    assert!(
        itself.iter().any(|e| e.contains("names itself")),
        "{itself:?}"
    );
}

#[test]
fn internal_services_need_their_own_ports_and_no_public_route() {
    let twice = reach_errors(&format!("{LOCAL}{API}{}", API.replace("api", "auth")));
    assert!(
        twice
            .iter()
            .any(|e| e.contains("`api` and `auth` both listen on port 8080")
                && e.contains("set internal_port = 8081")),
        "{twice:?}"
    );
    let both = reach_errors(&format!("{LOCAL}{API}public = true\n"));
    assert!(
        both.iter().any(|e| e.contains("either public or internal")),
        "{both:?}"
    );
    let routed = reach_errors(&format!("{LOCAL}{API}routing = {{ path = \"/api/*\" }}\n"));
    assert!(
        routed.iter().any(|e| e.contains("has no routing")),
        "{routed:?}"
    );
    let stray = reach_errors(&format!("{LOCAL}{WEB}internal_port = 9000\n"));
    assert!(
        stray.iter().any(|e| e.contains("not internal")),
        "{stray:?}"
    );
    let smoke = reach_errors(&format!(
        "{LOCAL}{API}[[services.api.deploy.smoke]]\npath = \"/\"\n"
    ));
    assert!(
        smoke.iter().any(|e| e.contains("has smoke checks")),
        "{smoke:?}"
    );
}
