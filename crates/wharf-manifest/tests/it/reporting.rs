//! How problems are reported: all at once, located, with a caret, a key path and a fix.

use wharf_manifest::Rule;

use crate::{parse, LOCAL};

#[test]
fn every_problem_is_reported_at_once() {
    let src = format!(
        "{LOCAL}
[services.web]
image = \"x:1\"
port = 0
cpu = 300
stop_timeout = 5
secrets = {{ TOKEN = \"plain-value\" }}
data = [\"sesions\"]
[services.web.deploy]
strategy = \"canery\"
"
    );
    let (m, problems) = parse(&src);
    assert!(m.is_none());
    let rules: Vec<Rule> = problems.problems.iter().map(|p| p.rule).collect();
    for want in [
        Rule::PortRange,
        Rule::FargateSize,
        Rule::Duration,
        Rule::SecretRef,
        Rule::InvalidValue,
    ] {
        assert!(
            rules.contains(&want),
            "missing {want} in {rules:?}\n{problems}"
        );
    }
}

#[test]
fn unknown_keys_and_values_get_did_you_mean() {
    let src = format!("{LOCAL}[services.web]\nimage = \"x:1\"\nport = 80\n[services.web.deploy]\nstrategy = \"blue-gren\"\ndrian = {{}}\n");
    let (_, problems) = parse(&src);
    let text = problems.render(false);
    assert!(text.contains("did you mean \"blue-green\"?"), "{text}");
    assert!(text.contains("did you mean `drain`?"), "{text}");
}

#[test]
fn rendering_points_at_file_line_column_with_a_caret() {
    let src = "[app]\nname = \"pulse\"\n[environments.local]\ntarget = \"locl\"\n";
    let (_, problems) = parse(src);
    let text = problems.render(false);
    assert!(text.contains("--> wharf.toml:4:10"), "{text}");
    assert!(
        text.contains("4 | target = \"locl\"\n  |          ^^^^^^"),
        "{text}"
    );
    assert!(text.contains("= key: environments.local.target"), "{text}");
    assert!(text.contains("expected one of `aws`, `local`"), "{text}");
}

#[test]
fn problems_serialize_with_rule_location_and_help() {
    let (_, problems) =
        parse("[app]\nname = \"pulse\"\nextra = 1\n[environments.local]\ntarget = \"local\"\n");
    let json = serde_json::to_value(&problems).expect("serializes");
    let p = &json["problems"][0];
    assert_eq!(p["rule"], "unknown-key");
    assert_eq!(p["severity"], "error");
    assert_eq!(p["line"], 3);
    assert_eq!(p["column"], 1);
    assert_eq!(p["key"], "app.extra");
}

#[test]
fn syntax_errors_are_located() {
    let (m, problems) = parse("[app]\nname = \"pulse\n");
    assert!(m.is_none());
    let p = &problems.problems[0];
    assert_eq!(p.rule, Rule::TomlSyntax);
    assert_eq!(p.line, 2);
}

#[test]
fn a_manifest_without_environments_says_how_to_add_one() {
    let (_, problems) = parse("[app]\nname = \"pulse\"\n");
    let p = problems
        .problems
        .iter()
        .find(|p| p.rule == Rule::MissingKey)
        .expect("missing environments");
    assert!(p
        .help
        .as_deref()
        .unwrap_or_default()
        .contains("[environments.local]"));
}

#[test]
fn warnings_do_not_make_a_manifest_invalid() {
    let src = format!(
        "{LOCAL}[services.web]\nimage = \"x:1\"\nport = 80\nenv = {{ API_TOKEN = \"abc\" }}\n"
    );
    let (m, problems) = parse(&src);
    assert!(m.is_some());
    assert_eq!(problems.warnings().count(), 1, "{problems}");
    assert!(!problems.has_errors());
}
