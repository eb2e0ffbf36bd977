//! Every validation rule, each with a manifest that breaks it and one that does not.

use wharf_manifest::{Rule, Severity};

use crate::{parse, AWS, LOCAL, WEB};

struct Case {
    rule: Rule,
    bad: String,
    good: String,
}

fn case(rule: Rule, bad: impl Into<String>, good: impl Into<String>) -> Case {
    Case {
        rule,
        bad: bad.into(),
        good: good.into(),
    }
}

fn local(extra: &str) -> String {
    format!("{LOCAL}{extra}")
}

fn local_web(extra: &str) -> String {
    format!("{LOCAL}{WEB}{extra}")
}

fn aws(env_extra: &str, rest: &str) -> String {
    format!("{AWS}{env_extra}\n{WEB}{rest}")
}

fn service(body: &str) -> String {
    local(&format!("[services.web]\nimage = \"hello:1\"\n{body}\n"))
}

fn cases() -> Vec<Case> {
    vec![
        case(Rule::TomlSyntax, "[app\nname = \"pulse\"", local_web("")),
        case(Rule::UnknownKey, service("prot = 8000"), service("port = 8000")),
        case(Rule::WrongType, service("port = \"8000\""), service("port = 8000")),
        case(Rule::MissingKey, service(""), service("port = 8000")),
        case(Rule::InvalidValue, service("port = 8000\ncapacity = \"fargate-spto\""), service("port = 8000\ncapacity = \"fargate-spot\"")),
        case(Rule::InvalidName, local("[services.Web_1]\nimage = \"x:1\"\nport = 80\n"), local("[services.web-1]\nimage = \"x:1\"\nport = 80\n")),
        case(Rule::Duration, service("port = 8000\nstop_timeout = 30"), service("port = 8000\nstop_timeout = \"30s\"")),
        case(Rule::FargateSize, service("port = 8000\ncpu = 256\nmemory = 4096"), service("port = 8000\ncpu = 1024\nmemory = 4096")),
        case(Rule::PortRange, service("port = 0"), service("port = 80")),
        case(Rule::CidrSyntax, aws("cidr = \"10.0.0/16\"", ""), aws("cidr = \"10.0.0.0/16\"", "")),
        case(Rule::CidrSize, aws("cidr = \"10.0.0.0/24\"", ""), aws("cidr = \"10.0.0.0/20\"", "")),
        case(
            Rule::SubnetOverlap,
            aws("subnets = { public = [\"10.0.1.0/24\", \"10.0.1.128/25\"] }", ""),
            aws("subnets = { public = [\"10.0.1.0/24\", \"10.0.2.0/24\"] }", ""),
        ),
        case(Rule::AzCount, aws("azs = 1", ""), aws("azs = 3", "")),
        case(
            Rule::NameLength,
            AWS.replace("environments.test", "environments.staging")
                + "[services.checkout-api]\nimage = \"x:1\"\nport = 80\n[services.checkout-api.deploy]\nstrategy = \"canary\"\n",
            AWS.replace("environments.test", "environments.stg")
                + "[services.checkout]\nimage = \"x:1\"\nport = 80\n[services.checkout.deploy]\nstrategy = \"canary\"\n",
        ),
        case(
            Rule::StrategyParams,
            local_web("[services.web.deploy]\nstrategy = \"linear\"\nlinear = { step = 60, interval = \"1m\" }\n"),
            local_web("[services.web.deploy]\nstrategy = \"linear\"\nlinear = { step = 25, interval = \"1m\" }\n"),
        ),
        case(
            Rule::RulePriority,
            local("[services.a]\nimage = \"x:1\"\nport = 80\nrouting = { path = \"/a/*\", priority = 5 }\n[services.b]\nimage = \"x:1\"\nport = 80\nrouting = { path = \"/b/*\", priority = 5 }\n"),
            local("[services.a]\nimage = \"x:1\"\nport = 80\nrouting = { path = \"/a/*\", priority = 5 }\n[services.b]\nimage = \"x:1\"\nport = 80\nrouting = { path = \"/b/*\", priority = 6 }\n"),
        ),
        case(Rule::SecretRef, service("port = 80\nsecrets = { DB = \"ssm:relative/path\" }"), service("port = 80\nsecrets = { DB = \"ssm:/pulse/db\" }")),
        case(
            Rule::DataBinding,
            service("port = 80\ndata = [\"sessions\"]"),
            service("port = 80\ndata = [\"sessions\"]\n[data.sessions]\ntype = \"dynamodb\"\npartition_key = { name = \"pk\" }"),
        ),
        case(Rule::TargetMismatch, local_web("").replace("target = \"local\"", "target = \"local\"\nregion = \"eu-west-1\""), local_web("")),
        case(Rule::AwsAccount, aws("", "").replace("\"123456789012\"", "\"1234\""), aws("", "")),
        case(
            Rule::HealthCheck,
            service("port = 80\nhealth = { interval = \"5s\", timeout = \"5s\" }"),
            service("port = 80\nhealth = { interval = \"5s\", timeout = \"4s\" }"),
        ),
        case(Rule::LogRetention, aws("log_retention = 10", ""), aws("log_retention = 14", "")),
        case(Rule::Tls, aws("", "").replace("hosted_zone = \"example.com\"\n", ""), aws("", "")),
        case(
            Rule::Autoscaling,
            service("port = 80\nautoscaling = { min = 3, max = 2 }"),
            service("port = 80\nautoscaling = { min = 1, max = 3 }"),
        ),
        case(Rule::ImageSource, service("port = 80\nbuild = { context = \".\" }"), service("port = 80")),
        case(Rule::EnvVar, service("port = 80\nenv = { 1BAD = \"x\" }"), service("port = 80\nenv = { GOOD = \"x\" }")),
        case(
            Rule::UnknownOverride,
            local_web("[environments.local.services.wbe]\ncount = 2\n"),
            local_web("[environments.local.services.web]\ncount = 2\n"),
        ),
        case(
            Rule::Schedule,
            local_web("[jobs.nightly]\nservice = \"web\"\nschedule = \"every day\"\n"),
            local_web("[jobs.nightly]\nservice = \"web\"\nschedule = \"rate(1 day)\"\n"),
        ),
        case(
            Rule::DataSettings,
            local("[data.t]\ntype = \"dynamodb\"\npartition_key = { name = \"pk\" }\nbilling = \"provisioned\"\n"),
            local("[data.t]\ntype = \"dynamodb\"\npartition_key = { name = \"pk\" }\nbilling = \"provisioned\"\nrcu = 5\nwcu = 5\n"),
        ),
        case(
            Rule::UnusedSetting,
            local_web("[services.web.deploy]\nstrategy = \"rolling\"\ncanary = { percent = 5 }\n"),
            local_web("[services.web.deploy]\nstrategy = \"canary\"\ncanary = { percent = 5 }\n"),
        ),
        case(
            Rule::StateDir,
            local_web("").replace("target = \"local\"", "target = \"local\"\nstate_dir = \"..\""),
            local_web("").replace("target = \"local\"", "target = \"local\"\nstate_dir = \".wharf/mine\""),
        ),
        case(
            Rule::Reach,
            local("[services.web]\nimage = \"x:1\"\nport = 80\ntalks_to = [\"api\"]\n[services.api]\nimage = \"x:1\"\nport = 80\n"),
            local("[services.web]\nimage = \"x:1\"\nport = 80\ntalks_to = [\"api\"]\n[services.api]\nimage = \"x:1\"\nport = 80\ninternal = true\n"),
        ),
    ]
}

#[test]
fn every_rule_has_a_failing_and_a_passing_manifest() {
    let cases = cases();
    for rule in Rule::ALL {
        assert!(
            cases.iter().any(|c| c.rule == *rule),
            "rule {rule} has no test case"
        );
    }
}

#[test]
fn each_failing_manifest_breaks_its_rule_and_each_passing_one_is_clean() {
    for c in cases() {
        let (_, bad) = parse(&c.bad);
        let hit = bad.problems.iter().find(|p| p.rule == c.rule);
        let hit = hit.unwrap_or_else(|| {
            panic!(
                "rule {}: the failing manifest does not report it.\n{}\n---\n{bad}",
                c.rule, c.bad
            )
        });
        assert!(
            hit.line >= 1 && hit.column >= 1,
            "rule {}: no position: {hit:?}",
            c.rule
        );
        if hit.severity == Severity::Error {
            assert!(bad.has_errors());
        }
        let (good_manifest, good) = parse(&c.good);
        assert!(
            !good.problems.iter().any(|p| p.rule == c.rule) && !good.has_errors(),
            "rule {}: the passing manifest has problems:\n{}\n---\n{good}",
            c.rule,
            c.good
        );
        assert!(
            good_manifest.is_some(),
            "rule {}: the passing manifest yields no manifest",
            c.rule
        );
    }
}

#[test]
fn a_state_dir_down_could_not_remove_safely_is_refused() {
    for bad in [
        "",
        ".",
        "./",
        "./.",
        "..",
        "../state",
        "a/../../b",
        "/tmp/wharf",
        "/",
    ] {
        let text = local_web("").replace(
            "target = \"local\"",
            &format!("target = \"local\"\nstate_dir = {bad:?}"),
        );
        let (_, problems) = parse(&text);
        assert!(
            problems.errors().any(|p| p.rule == Rule::StateDir),
            "{bad:?} accepted: {problems:?}"
        );
    }
    for good in [".wharf/local", "state", "./run/wharf", "a/b/c"] {
        let text = local_web("").replace(
            "target = \"local\"",
            &format!("target = \"local\"\nstate_dir = {good:?}"),
        );
        let (m, problems) = parse(&text);
        assert!(
            m.is_some() && problems.errors().next().is_none(),
            "{good:?} refused: {problems:?}"
        );
    }
}

#[test]
fn every_local_state_dir_and_secrets_file_is_private() {
    let text = local_web("").replace(
        "target = \"local\"",
        "target = \"local\"\nstate_dir = \"run/state\"\nsecrets_file = \"local.secrets\"",
    );
    let (m, problems) = parse(&text);
    let m = m.unwrap_or_else(|| panic!("{problems}"));
    let private = m.private_paths();
    for p in [".wharf", "run/state", "local.secrets"] {
        assert!(
            private.contains(&m.root.join(p)),
            "{p} missing: {private:?}"
        );
    }
}

#[test]
fn the_proxy_limits_are_read_and_bounded() {
    let with = |limits: &str| {
        parse(&local_web("").replace(
            "target = \"local\"",
            &format!("target = \"local\"\nproxy = {{ {limits} }}"),
        ))
    };
    let (m, problems) =
        with("idle_timeout = \"5s\", max_header_bytes = 9000, max_connections = 50");
    let m = m.unwrap_or_else(|| panic!("{problems}"));
    let l = &m.environments["local"].local().expect("local").proxy;
    assert_eq!(
        (
            l.idle_timeout.as_millis(),
            l.max_header_bytes,
            l.max_connections
        ),
        (5_000, 9000, 50)
    );
    let (m, _) = with("");
    let l = &m.expect("valid").environments["local"]
        .local()
        .expect("local")
        .proxy
        .clone();
    assert_eq!(*l, wharf_manifest::ProxyLimits::default());
    for bad in [
        "idle_timeout = \"0s\"",
        "idle_timeout = \"2h\"",
        "max_header_bytes = 4096",
        "max_connections = 0",
        "max_conections = 5",
    ] {
        let (_, problems) = with(bad);
        assert!(problems.has_errors(), "{bad} accepted");
    }
}

#[test]
fn a_job_may_not_take_a_services_name() {
    let (_, problems) = parse(&local_web("[jobs.web]\nservice = \"web\"\n"));
    assert!(
        problems
            .errors()
            .any(|p| p.rule == Rule::InvalidName && p.message.contains("name of a service")),
        "{problems}"
    );
    let (m, problems) = parse(&local_web("[jobs.web-migrate]\nservice = \"web\"\n"));
    assert!(
        m.is_some() && problems.errors().next().is_none(),
        "{problems}"
    );
}

#[test]
fn notify_takes_a_secret_webhook_an_sns_topic_and_known_events() {
    let ok = format!("{LOCAL}[notify]\nwebhook = \"ssm:/pulse/hook\"\n");
    let (m, problems) = parse(&ok);
    let n = m
        .unwrap_or_else(|| panic!("{problems}"))
        .notify
        .expect("notify");
    assert_eq!(
        n.events,
        wharf_manifest::NotifyEvent::ALL,
        "all three by default"
    );
    for (good, webhook, sns) in [
        (
            "[notify]\nsns = \"arn:aws:sns:eu-central-1:123456789012:deploys\"\n",
            false,
            Some("arn:aws:sns:eu-central-1:123456789012:deploys"),
        ),
        (
            "[notify]\nwebhook = \"ssm:/pulse/hook\"\nsns = \"deploys.fifo\"\n",
            true,
            Some("deploys.fifo"),
        ),
        ("[notify]\nwebhook = \"ssm:/pulse/hook\"\n", true, None),
    ] {
        let (m, problems) = parse(&format!("{LOCAL}{good}"));
        let n = m
            .unwrap_or_else(|| panic!("{good}: {problems}"))
            .notify
            .expect("notify");
        assert_eq!(
            (n.webhook.is_some(), n.sns.as_deref()),
            (webhook, sns),
            "{good}"
        );
    }
    for (bad, want) in [
        (
            "[notify]\nevents = [\"started\"]\n",
            "names no destination: set `webhook`, `sns` or both",
        ),
        (
            "[notify]\nwebhook = \"https://hooks.slack.com/x\"\n",
            "secret",
        ),
        (
            "[notify]\nwebhook = \"ssm:/pulse/hook\"\nevents = [\"rolled_back\"]\n",
            "did you mean \"rolled-back\"",
        ),
        (
            "[notify]\nwebhook = \"ssm:/pulse/hook\"\nsns = \"arn:aws:sns:eu-central-1:1:t\"\n",
            "`arn:aws:sns:eu-central-1:1:t` is not an SNS topic",
        ),
        (
            "[notify]\nsns = \"arn:aws:sqs:eu-central-1:123456789012:q\"\n",
            "is not an SNS topic",
        ),
        ("[notify]\nsns = \"deploys now\"\n", "is not an SNS topic"),
        (
            "[notify]\nsns = \"deploys\"\nwebhok = \"ssm:/x\"\n",
            "webhook",
        ),
    ] {
        let (m, problems) = parse(&format!("{LOCAL}{bad}"));
        let text = problems.to_string();
        assert!(m.is_none() && text.contains(want), "{bad}: {text}");
    }
}

#[test]
fn platform_is_one_fargate_runs_and_agrees_with_build_and_capacity() {
    let svc = |keys: &str| format!("{LOCAL}\n[services.web]\nport = 8000\n{keys}\n");
    for (keys, want) in [
        (
            "image = \"x:1\"\nplatform = \"linux/arm64\"",
            Some("linux/arm64"),
        ),
        (
            "build = { context = \".\", platform = \"linux/arm64\" }",
            Some("linux/arm64"),
        ),
        (
            "build = { context = \".\" }\nplatform = \"linux/amd64\"",
            Some("linux/amd64"),
        ),
        ("image = \"x:1\"", None),
    ] {
        let (m, problems) = parse(&svc(keys));
        let m = m.unwrap_or_else(|| panic!("{keys}: {problems}"));
        assert_eq!(m.services["web"].platform.as_deref(), want, "{keys}");
    }
    let (m, _) = parse(&format!(
        "{LOCAL}\n[jobs.migrate]\nimage = \"x:1\"\nplatform = \"linux/arm64\"\n"
    ));
    assert_eq!(
        m.expect("valid").jobs["migrate"].platform.as_deref(),
        Some("linux/arm64")
    );
    for (keys, want) in [
        (
            "image = \"x:1\"\nplatform = \"windows/amd64\"",
            "Fargate cannot run platform `windows/amd64`: wharf deploys Linux tasks only",
        ),
        (
            "image = \"x:1\"\nplatform = \"linux/arm/v7\"",
            "Fargate cannot run platform `linux/arm/v7`",
        ),
        (
            "build = { context = \".\", platform = \"linux/386\" }",
            "Fargate cannot run platform `linux/386`",
        ),
        (
            "build = { context = \".\", platform = \"linux/arm64\" }\nplatform = \"linux/amd64\"",
            "`platform` is linux/amd64 but `build.platform` is linux/arm64",
        ),
        (
            "image = \"x:1\"\nplatform = \"linux/arm64\"\ncapacity = \"fargate-spot\"",
            "Fargate Spot does not run linux/arm64 tasks",
        ),
    ] {
        let (m, problems) = parse(&svc(keys));
        let text = problems.to_string();
        assert!(m.is_none() && text.contains(want), "{keys}: {text}");
    }
}

#[test]
fn keep_images_defaults_to_50_and_stays_within_what_ecr_rules_take() {
    let (m, problems) = parse(AWS);
    let m = m.unwrap_or_else(|| panic!("{problems}"));
    assert_eq!(m.environments["test"].aws().expect("aws").keep_images, 50);
    let (m, problems) = parse(&format!("{AWS}keep_images = 10\n"));
    let m = m.unwrap_or_else(|| panic!("{problems}"));
    assert_eq!(m.environments["test"].aws().expect("aws").keep_images, 10);
    for bad in ["keep_images = 0", "keep_images = 5000"] {
        let (m, problems) = parse(&format!("{AWS}{bad}\n"));
        assert!(
            m.is_none() && problems.to_string().contains("keep_images"),
            "{bad}: {problems}"
        );
    }
}
