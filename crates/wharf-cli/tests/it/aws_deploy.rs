//! `wharf deploy` and the day-two commands on an AWS environment, against the moto server with
//! the real SDK, through a recording proxy (the replay server forwarding to moto) so the
//! requests' order can be checked: every target group is on a listener rule before the ECS
//! service using it is created. Results are checked through the AWS APIs afterwards.

use std::collections::BTreeMap;

use serde_json::Value;
use wharf_testkit::{moto, Faults, Replay, TestDir};

use crate::aws::aws_wharf;
use crate::no_panic;

/// One service per strategy, each with its own routing block.
pub const MANIFEST: &str = r#"
[app]
name = "pulse"

[environments.test]
target = "aws"
region = "us-east-1"
account = "123456789012"
azs = 2
egress = "endpoints"

[services.canary]
image = "registry.example/pulse/canary:1"
platform = "linux/arm64"
port = 8000
count = 2
routing = { paths = ["/canary/*"], priority = 1 }
deploy = { strategy = "canary", canary = { percent = 20, bake = "1s" } }

[services.linear]
image = "registry.example/pulse/linear:1"
platform = "linux/amd64"
port = 8000
count = 2
routing = { paths = ["/linear/*"], priority = 2 }
deploy = { strategy = "linear", linear = { step = 50, interval = "1s" } }

[services.bluegreen]
image = "registry.example/pulse/bluegreen:1"
port = 8000
count = 2
routing = { paths = ["/bg/*"], priority = 3 }
deploy = { strategy = "blue-green", blue_green = { bake = "1s" } }

[services.affinity]
image = "registry.example/pulse/affinity:1"
port = 8000
count = 2
routing = { paths = ["/aff/*"], priority = 4 }
deploy = { strategy = "affinity", rollback = { window = "1s" }, drain = { path = "/aff/_drain" } }

[services.rolling]
image = "registry.example/pulse/rolling:1"
port = 8000
count = 2
routing = { paths = ["/roll/*"], priority = 5 }
"#;

pub use crate::aws_env::{config, moto_evaluates_outputs, rt, UpEnv};

/// A target group as read back: health check path, interval, healthy threshold, matcher,
/// tags, deregistration delay.
pub type Group = (String, i32, i32, String, BTreeMap<String, String>, String);

/// What the AWS APIs say about the environment's deployments.
#[derive(Debug, Default)]
pub struct Seen {
    /// Target groups by name.
    pub groups: BTreeMap<String, Group>,
    /// Rule priority → forwarded target group names with weights.
    pub rules: BTreeMap<u32, Vec<(String, i32)>>,
    /// Rule priority → (path patterns, status) of the rules answering themselves.
    pub fixed: BTreeMap<u32, (Vec<String>, String)>,
    /// Active ECS service name → task definition ARN.
    pub services: BTreeMap<String, String>,
    pub alarms: Vec<String>,
}

pub fn seen(endpoint: &str) -> Seen {
    rt().block_on(async {
        let c = config(endpoint).await;
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&c);
        let ecs = aws_sdk_ecs::Client::new(&c);
        let cw = aws_sdk_cloudwatch::Client::new(&c);
        let mut s = Seen::default();
        let mut names = BTreeMap::new();
        for tg in elb
            .describe_target_groups()
            .send()
            .await
            .expect("target groups")
            .target_groups()
        {
            let arn = tg.target_group_arn().unwrap_or_default().to_owned();
            let name = tg.target_group_name().unwrap_or_default().to_owned();
            let tags = elb
                .describe_tags()
                .resource_arns(&arn)
                .send()
                .await
                .expect("tags")
                .tag_descriptions()
                .iter()
                .flat_map(|d| d.tags())
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_owned(),
                        t.value().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            let delay = elb
                .describe_target_group_attributes()
                .target_group_arn(&arn)
                .send()
                .await
                .expect("attributes")
                .attributes()
                .iter()
                .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
                .and_then(|a| a.value())
                .unwrap_or_default()
                .to_owned();
            s.groups.insert(
                name.clone(),
                (
                    tg.health_check_path().unwrap_or_default().to_owned(),
                    tg.health_check_interval_seconds().unwrap_or_default(),
                    tg.healthy_threshold_count().unwrap_or_default(),
                    tg.matcher()
                        .and_then(|m| m.http_code())
                        .unwrap_or_default()
                        .to_owned(),
                    tags,
                    delay,
                ),
            );
            names.insert(arn, name);
        }
        let lbs = elb.describe_load_balancers().send().await.expect("lbs");
        let lb = lbs.load_balancers().first().expect("the environment's ALB");
        let listeners = elb
            .describe_listeners()
            .load_balancer_arn(lb.load_balancer_arn().unwrap_or_default())
            .send()
            .await
            .expect("listeners");
        for l in listeners.listeners() {
            let rules = elb
                .describe_rules()
                .listener_arn(l.listener_arn().unwrap_or_default())
                .send()
                .await
                .expect("rules");
            for r in rules.rules() {
                let Some(p) = r.priority().and_then(|p| p.parse().ok()) else {
                    continue;
                };
                let fwd = r
                    .actions()
                    .iter()
                    .filter_map(|a| a.forward_config())
                    .flat_map(|f| f.target_groups())
                    .map(|t| {
                        (
                            names
                                .get(t.target_group_arn().unwrap_or_default())
                                .cloned()
                                .unwrap_or_else(|| "?".into()),
                            t.weight().unwrap_or(1),
                        )
                    })
                    .collect();
                s.rules.insert(p, fwd);
                if let Some(f) = r.actions().iter().find_map(|a| a.fixed_response_config()) {
                    let paths = r
                        .conditions()
                        .iter()
                        .filter_map(|c| c.path_pattern_config())
                        .flat_map(|c| c.values())
                        .cloned()
                        .collect();
                    let status = f.status_code().unwrap_or_default().to_owned();
                    s.fixed.insert(p, (paths, status));
                }
            }
        }
        let arns = ecs
            .list_services()
            .cluster("pulse-test")
            .send()
            .await
            .expect("services")
            .service_arns()
            .to_vec();
        if !arns.is_empty() {
            for svc in ecs
                .describe_services()
                .cluster("pulse-test")
                .set_services(Some(arns))
                .send()
                .await
                .expect("describe services")
                .services()
            {
                if svc.status() == Some("ACTIVE") {
                    s.services.insert(
                        svc.service_name().unwrap_or_default().to_owned(),
                        svc.task_definition().unwrap_or_default().to_owned(),
                    );
                }
            }
        }
        s.alarms = cw
            .describe_alarms()
            .send()
            .await
            .expect("alarms")
            .metric_alarms()
            .iter()
            .filter_map(|a| a.alarm_name().map(str::to_owned))
            .collect();
        s
    })
}

/// `%3A` → `:` (enough of form decoding for ARNs).
fn decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every CreateService's target group appeared in a CreateRule or ModifyRule sent before it.
fn assert_attached_before_create_service(proxy: &Replay) {
    let log = proxy.log();
    let mut creates = 0;
    for (i, r) in log.iter().enumerate() {
        if r.operation != "CreateService" || r.faulted {
            continue;
        }
        let body: Value = serde_json::from_str(&r.body).expect("CreateService is JSON");
        let Some(tg) = body["loadBalancers"][0]["targetGroupArn"].as_str() else {
            continue;
        };
        creates += 1;
        let attached = log[..i].iter().any(|e| {
            (e.operation == "CreateRule" || e.operation == "ModifyRule")
                && !e.faulted
                && decode(&e.body).contains(tg)
        });
        assert!(
            attached,
            "CreateService for {tg} was sent before any rule referenced it: {:?}",
            log.iter().map(|e| e.operation.as_str()).collect::<Vec<_>>()
        );
    }
    assert!(
        creates > 0,
        "no CreateService with a load balancer was sent"
    );
}

pub fn ids(history: &Value, service: &str) -> Vec<String> {
    history["deployments"]
        .as_array()
        .expect("deployments")
        .iter()
        .filter(|d| d["service"] == service)
        .map(|d| d["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn every_strategy_deploys_on_moto_with_target_groups_attached_before_their_services() {
    let m = moto();
    let proxy = Replay::start();
    proxy.forward_to(m.port);
    let endpoint = proxy.endpoint();
    let dir = TestDir::new();
    dir.write("wharf.toml", MANIFEST);
    aws_wharf(&dir, &endpoint)
        .args(["-q", "up"])
        .run()
        .success();
    moto_evaluates_outputs(&m.endpoint());

    // Version 1: a first deployment of each takes all traffic at once.
    let out = aws_wharf(&dir, &endpoint).args(["deploy"]).run().success();
    no_panic(&out);
    let v1 = aws_wharf(&dir, &endpoint)
        .args(["history", "--output", "json"])
        .run()
        .success()
        .json();
    assert_eq!(v1["deployments"].as_array().map(Vec::len), Some(5), "{v1}");
    for d in v1["deployments"].as_array().expect("list") {
        assert_eq!(d["outcome"], "succeeded", "{d}");
    }

    // Version 2 through each strategy.
    dir.write("wharf.toml", MANIFEST.replace(":1\"", ":2\""));
    let out = aws_wharf(&dir, &endpoint).args(["deploy"]).run().success();
    no_panic(&out);
    let history = aws_wharf(&dir, &endpoint)
        .args(["history", "--output", "json"])
        .run()
        .success()
        .json();
    let s = seen(&m.endpoint());

    // Each task definition runs where its image does: Graviton for the canary, X86_64 for
    // linear as asked, and Fargate's default where the manifest says nothing.
    let platforms: Value = serde_json::from_str(
        m.boto3(
            "import json\n\
             ecs = client('ecs'); out = {}\n\
             for svc in ['canary', 'linear', 'rolling']:\n    \
             arns = ecs.list_task_definitions(familyPrefix='pulse-test-' + svc)['taskDefinitionArns']\n    \
             out[svc] = ecs.describe_task_definition(taskDefinition=arns[-1])['taskDefinition'].get('runtimePlatform')\n\
             print(json.dumps(out))\n",
        )
        .trim(),
    )
    .expect("JSON");
    assert_eq!(
        platforms,
        serde_json::json!({
            "canary": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
            "linear": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
            "rolling": null,
        }),
        "{platforms}"
    );

    for (svc, prio) in [("canary", 1), ("linear", 2), ("bluegreen", 3)] {
        let ids = ids(&history, svc);
        assert_eq!(ids.len(), 2, "two records of {svc} in the state table");
        let (old, new) = (&ids[0], &ids[1]);
        let (tg_old, tg_new) = (format!("{svc}-{old}"), format!("{svc}-{new}"));
        assert!(
            !s.groups.contains_key(&tg_old),
            "{svc}: {tg_old} retired: {s:?}"
        );
        let (path, interval, healthy, matcher, tags, delay) = s
            .groups
            .get(&tg_new)
            .unwrap_or_else(|| panic!("{tg_new} in {s:?}"));
        assert_eq!((path.as_str(), *interval, *healthy), ("/", 5, 2));
        assert_eq!(matcher, "200-399");
        assert_eq!(delay, "15", "deregistration delay = the drain timeout");
        assert_eq!(tags.get("wharf.app").map(String::as_str), Some("pulse"));
        assert_eq!(tags.get("wharf.service").map(String::as_str), Some(svc));
        assert_eq!(tags.get("wharf.deployment"), Some(new));
        // The base rule at p*100+99 sends everything to the new deployment.
        assert_eq!(
            s.rules.get(&(prio * 100 + 99)),
            Some(&vec![(tg_new.clone(), 100)]),
            "{svc}: {:?}",
            s.rules
        );
        assert!(
            !s.rules.contains_key(&(prio * 100 + 98)),
            "{svc}: test route removed"
        );
        assert!(s.services.contains_key(&format!("{svc}-{new}")), "{s:?}");
        assert!(!s.services.contains_key(&format!("{svc}-{old}")), "{s:?}");
        assert!(
            s.alarms.contains(&format!("{tg_new}-5xx")),
            "{:?}",
            s.alarms
        );
        assert!(
            !s.alarms.contains(&format!("{tg_old}-5xx")),
            "{:?}",
            s.alarms
        );
    }

    // Affinity: both deployments stay, new users go to the new one, each keeps its sticky
    // rules (cookie and header) from the block's start.
    let aff = ids(&history, "affinity");
    let (tg_old, tg_new) = (
        format!("affinity-{}", aff[0]),
        format!("affinity-{}", aff[1]),
    );
    assert!(s.groups.contains_key(&tg_old) && s.groups.contains_key(&tg_new));
    assert_eq!(
        s.rules.get(&499),
        Some(&vec![(tg_new.clone(), 100), (tg_old.clone(), 0)]),
        "{:?}",
        s.rules
    );
    assert_eq!(s.rules.get(&401), Some(&vec![(tg_old.clone(), 1)]));
    assert_eq!(s.rules.get(&402), Some(&vec![(tg_old.clone(), 1)]));
    assert_eq!(s.rules.get(&403), Some(&vec![(tg_new.clone(), 1)]));
    assert_eq!(s.rules.get(&404), Some(&vec![(tg_new.clone(), 1)]));
    // Its drain path sits inside its routing: the block's first rule answers it with a 404.
    // The other services' paths never reach /drain: no guard hides it from anyone else.
    assert_eq!(
        s.fixed,
        BTreeMap::from([(400, (vec!["/aff/_drain".to_owned()], "404".to_owned()))]),
        "{:?}",
        s.rules
    );

    // Rolling: one ECS service and one target group, now on version 2's task definition.
    assert!(s.groups.contains_key("pulse-test-rolling"), "{s:?}");
    assert_eq!(
        s.rules.get(&599),
        Some(&vec![("pulse-test-rolling".to_owned(), 100)])
    );
    let td = s.services.get("rolling").expect("the rolling service");
    assert!(td.contains("task-definition/pulse-test-rolling:2"), "{td}");

    assert_attached_before_create_service(&proxy);

    // Day two: drain the old affinity deployment; its rules and target group go.
    let out = aws_wharf(&dir, &endpoint)
        .args(["drain", "--service", "affinity", &aff[0]])
        .run()
        .success();
    no_panic(&out);
    let s = seen(&m.endpoint());
    assert!(!s.groups.contains_key(&tg_old), "{s:?}");
    assert_eq!(s.rules.get(&499), Some(&vec![(tg_new.clone(), 100)]));
    assert!(!s.rules.contains_key(&401) && !s.rules.contains_key(&402));
    assert!(
        s.fixed.contains_key(&400),
        "the guard stays with the service"
    );

    // Rollback of the canary service: the previous version serves again.
    let out = aws_wharf(&dir, &endpoint)
        .args(["rollback", "canary"])
        .run()
        .success();
    no_panic(&out);
    let after = aws_wharf(&dir, &endpoint)
        .args(["history", "canary", "--output", "json"])
        .run()
        .success()
        .json();
    let back = after["deployments"]
        .as_array()
        .and_then(|d| d.last())
        .cloned()
        .expect("the rollback's record");
    assert_eq!(back["image"], "registry.example/pulse/canary:1", "{after}");
    let s = seen(&m.endpoint());
    let tg_back = format!("canary-{}", back["id"].as_str().unwrap_or_default());
    assert_eq!(
        s.rules.get(&199),
        Some(&vec![(tg_back, 100)]),
        "{:?}",
        s.rules
    );

    // An approval gate: deploy --no-wait stops at it with the canary's share, promote finishes
    // it; a second one is aborted and traffic goes back.
    let gated = MANIFEST.replace(
        "canary = { percent = 20, bake = \"1s\" } }",
        "canary = { percent = 20, bake = \"1s\" }, approval = true }",
    );
    assert_ne!(gated, MANIFEST);
    // The newest canary record and its target group.
    let latest = || -> (String, Value) {
        let h = aws_wharf(&dir, &endpoint)
            .args(["history", "canary", "--output", "json"])
            .run()
            .success()
            .json();
        let d = h["deployments"]
            .as_array()
            .and_then(|d| d.last())
            .cloned()
            .expect("a canary record");
        (
            format!("canary-{}", d["id"].as_str().unwrap_or_default()),
            d,
        )
    };
    for (version, act, outcome) in [("3", "promote", "succeeded"), ("4", "abort", "aborted")] {
        let previous = latest().0;
        dir.write(
            "wharf.toml",
            gated.replace("canary:1\"", &format!("canary:{version}\"")),
        );
        let out = aws_wharf(&dir, &endpoint)
            .args(["deploy", "canary", "--no-wait"])
            .run()
            .success();
        no_panic(&out);
        let (tg, d) = latest();
        assert_eq!(d["status"], "awaiting-approval", "{d}");
        let s = seen(&m.endpoint());
        assert_eq!(
            s.rules.get(&199),
            Some(&vec![(tg.clone(), 20), (previous.clone(), 80)]),
            "the canary's share while it waits: {:?}",
            s.rules
        );
        aws_wharf(&dir, &endpoint)
            .args([act, "canary"])
            .run()
            .success();
        let (_, d) = latest();
        assert_eq!(d["outcome"], outcome, "{d}");
        let s = seen(&m.endpoint());
        let now = if act == "promote" { &tg } else { &previous };
        assert_eq!(
            s.rules.get(&199),
            Some(&vec![(now.clone(), 100)]),
            "{:?}",
            s.rules
        );
    }

    // status reads weights and health back from AWS.
    let status = aws_wharf(&dir, &endpoint)
        .args(["status", "affinity", "--output", "json"])
        .run()
        .success()
        .json();
    let d = &status["services"][0]["deployments"][0];
    assert_eq!(d["weight"], 100, "{status}");
    assert_eq!(d["healthy"], 2, "{status}");
}

#[test]
fn deploys_complete_through_throttling_and_dropped_connections_without_duplicates() {
    let m = moto();
    let proxy = Replay::start();
    proxy.forward_to(m.port);
    let endpoint = proxy.endpoint();
    let dir = TestDir::new();
    let one = MANIFEST.split("[services.linear]").next().expect("head");
    dir.write("wharf.toml", one);
    aws_wharf(&dir, &endpoint)
        .args(["-q", "up"])
        .run()
        .success();
    moto_evaluates_outputs(&m.endpoint());

    // Every 5th request throttled, every 7th connection dropped before it reaches AWS.
    proxy.faults(Faults {
        throttle_every: 5,
        drop_every: 7,
    });
    for version in ["1", "2"] {
        dir.write("wharf.toml", one.replace(":1\"", &format!(":{version}\"")));
        let out = aws_wharf(&dir, &endpoint)
            .args(["-q", "deploy"])
            .env("AWS_MAX_ATTEMPTS", "10")
            .run()
            .success();
        no_panic(&out);
    }
    let faulted = proxy.log().iter().filter(|r| r.faulted).count();
    assert!(faulted >= 5, "faults were injected ({faulted})");

    let s = seen(&m.endpoint());
    let live: Vec<&String> = s.services.keys().collect();
    assert_eq!(
        live.len(),
        1,
        "one ECS service, none twice or orphaned: {live:?}"
    );
    let groups: Vec<&String> = s.groups.keys().collect();
    assert_eq!(groups.len(), 1, "one target group: {groups:?}");
    let tg = groups[0].clone();
    assert_eq!(
        format!("{tg}"),
        live[0].to_string(),
        "the target group and the service are the same deployment's"
    );
    let rules: Vec<&u32> = s.rules.keys().collect();
    assert_eq!(rules, [&199], "one rule: {:?}", s.rules);
    assert_eq!(
        s.alarms.len(),
        2,
        "the live deployment's two alarms: {:?}",
        s.alarms
    );
}
