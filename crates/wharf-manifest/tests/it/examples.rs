//! The shipped example and the seeds' layouts parse as intended: defaults, overrides, names.

use wharf_manifest::{DataKind, Names, StrategyKind, TargetKind};

use crate::parse;

fn hello() -> String {
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello/wharf.toml");
    std::fs::read_to_string(p).expect("the example manifest")
}

#[test]
fn the_hello_example_is_valid_without_warnings() {
    let (m, problems) = parse(&hello());
    assert!(problems.problems.is_empty(), "{problems}");
    let m = m.expect("valid");
    assert_eq!(m.environments["local"].kind(), TargetKind::Local);
    assert_eq!(m.environments["test"].kind(), TargetKind::Aws);
    let web = &m.services["web"];
    assert_eq!(web.deploy.strategy, StrategyKind::Canary);
    assert_eq!(web.deploy.canary.percent, 20);
}

#[test]
fn environment_overrides_merge_over_the_service() {
    let (m, _) = parse(&hello());
    let m = m.expect("valid");
    assert_eq!(m.services["web"].count, 1);
    assert_eq!(m.environments["local"].services["web"].count, 1);
    assert_eq!(m.environments["test"].services["web"].count, 2);
    // Everything not overridden is inherited.
    assert_eq!(
        m.environments["test"].services["web"].health.path,
        "/_health"
    );
}

#[test]
fn nested_overrides_merge_key_by_key() {
    let src = format!(
        "{}[services.web]\nimage = \"x:1\"\nport = 80\n[services.web.deploy]\nstrategy = \"canary\"\ncanary = {{ percent = 10, bake = \"5m\" }}\n[environments.local.services.web.deploy.canary]\nbake = \"0s\"\n",
        crate::LOCAL
    );
    let (m, problems) = parse(&src);
    let m = m.unwrap_or_else(|| panic!("{problems}"));
    let c = &m.environments["local"].services["web"].deploy.canary;
    assert_eq!((c.percent, c.bake.as_millis()), (10, 0));
}

#[test]
fn wharf_defaults_are_the_fast_ones() {
    let (m, _) = parse(&format!("{}{}", crate::LOCAL, crate::WEB));
    let web = &m.expect("valid").services["web"];
    assert_eq!(web.health.interval.as_millis(), 5_000);
    assert_eq!(web.health.timeout.as_millis(), 3_000);
    assert_eq!(web.health.healthy, 2);
    assert_eq!(web.deploy.drain.timeout.as_millis(), 15_000);
    assert!(web.health.grace.is_none());
}

fn seed_000_tree(root: &str) -> String {
    format!(
        "{}[data.load-test]\ntype = \"parameters\"\npath = \"{root}\"\n[data.load-test.values]\n\"table-name\" = \"dynamodb-load-test\"\n\"concurrency-limit\" = 50\n\"total-items\" = 100000\n\"max-concurrency-percentage\" = 80\n\"inject-duplicates\" = false\n\"cleanup-after-test\" = true\n\"read-capacity-units\" = 5\n\"write-capacity-units\" = 5\n",
        crate::LOCAL
    )
}

#[test]
fn seed_000_parameter_tree_works_as_written() {
    let (m, problems) = parse(&seed_000_tree("/dynamodb-load-test"));
    let m = m.unwrap_or_else(|| panic!("{problems}"));
    let DataKind::Parameters(p) = &m.data["load-test"].kind else {
        panic!("parameters")
    };
    assert_eq!(p.path, "/dynamodb-load-test");
    assert_eq!(p.values.len(), 8);
    assert_eq!(p.values["inject-duplicates"], "false");
}

#[test]
fn seed_000_aws_root_is_refused_with_the_fix() {
    // SSM refuses to create names under /aws (and /ssm): say so before AWS does.
    let (m, problems) = parse(&seed_000_tree("/aws/dynamodb-load-test"));
    assert!(m.is_none());
    let p = problems
        .problems
        .iter()
        .find(|p| p.rule == wharf_manifest::Rule::DataSettings)
        .expect("reserved prefix");
    assert!(
        p.help
            .as_deref()
            .unwrap_or_default()
            .contains("path = \"/dynamodb-load-test\""),
        "{p:?}"
    );
}

#[test]
fn seed_001_subnet_layout_for_three_azs() {
    let src = format!("{}azs = 3\n", crate::AWS);
    let (m, problems) = parse(&src);
    let m = m.unwrap_or_else(|| panic!("{problems}"));
    let aws = m.environments["test"].aws().cloned().expect("aws");
    let s =
        |v: &[wharf_manifest::cidr::Cidr]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(
        s(&aws.subnets.public),
        ["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"]
    );
    assert_eq!(
        s(&aws.subnets.private),
        ["10.0.11.0/24", "10.0.12.0/24", "10.0.13.0/24"]
    );
}

#[test]
fn a_single_service_gets_seed_002_rule_priorities() {
    let (m, _) = parse(&format!("{}{}", crate::LOCAL, crate::WEB));
    let m = m.expect("valid");
    let r = m.environments["local"].services["web"]
        .routing
        .as_ref()
        .expect("public service routes");
    let (base, deployments) = wharf_manifest::names::rule_block(r.priority);
    assert_eq!(*deployments.start(), 100);
    assert!(base > *deployments.end());
    assert_eq!(
        Names::new("pulse", "test").target_group("web", "test-20251027-122112Z"),
        "web-test-20251027-122112Z"
    );
}

#[test]
fn catch_all_routes_come_after_specific_ones() {
    let src = format!(
        "{}[services.web]\nimage = \"x:1\"\nport = 80\n[services.api]\nimage = \"x:1\"\nport = 80\nrouting = {{ path = \"/api/*\" }}\n",
        crate::LOCAL
    );
    let (m, problems) = parse(&src);
    let m = m.unwrap_or_else(|| panic!("{problems}"));
    let p = |s: &str| {
        m.environments["local"].services[s]
            .routing
            .as_ref()
            .expect("routed")
            .priority
    };
    assert!(p("api") < p("web"), "api {} web {}", p("api"), p("web"));
}

#[test]
fn a_container_health_command_becomes_ecs_and_docker_test_forms() {
    let (m, _) = parse(&hello());
    let web = &m.expect("valid").services["web"];
    assert_eq!(
        web.health.container_test().expect("hello has one"),
        ["CMD", "/hello", "--check"]
    );
    let src = format!(
        "{}[services.web]\nimage = \"x:1\"\nport = 80\nhealth = {{ command = \"curl -fs localhost/ || exit 1\" }}\n",
        crate::LOCAL
    );
    let (m, problems) = parse(&src);
    let web = &m.unwrap_or_else(|| panic!("{problems}")).services["web"];
    assert_eq!(
        web.health.container_test().expect("a shell command"),
        ["CMD-SHELL", "curl -fs localhost/ || exit 1"]
    );
    let (m, _) = parse(&format!("{}{}", crate::LOCAL, crate::WEB));
    assert!(m.expect("valid").services["web"]
        .health
        .container_test()
        .is_none());
    let (_, problems) = parse(&format!(
        "{}[services.web]\nimage = \"x:1\"\nport = 80\nhealth = {{ command = [] }}\n",
        crate::LOCAL
    ));
    assert!(
        problems.to_string().contains("cannot be empty"),
        "{problems}"
    );
}
