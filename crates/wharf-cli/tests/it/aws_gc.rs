//! `wharf gc` on an AWS environment, against the moto server: deployments beyond a lowered
//! `drain.keep` and resources of a deployment with no record (a target group, its alarm and an
//! ECS service made with wharf's names) are drained and removed; the serving deployment and
//! another app's same-shaped target group are left alone; `--dry-run` removes nothing. Each
//! deployment's ECS service has its target-tracking CPU policy while it lives.

use serde_json::Value;
use wharf_testkit::{moto, TestDir};

use crate::aws::aws_wharf;
use crate::aws_deploy::{config, ids, moto_evaluates_outputs, rt, seen};
use crate::no_panic;

const MANIFEST: &str = r#"
[app]
name = "pulse"

[environments.test]
target = "aws"
region = "us-east-1"
account = "123456789012"
azs = 2
egress = "endpoints"

[services.aff]
image = "registry.example/pulse/aff:1"
port = 8000
count = 2
routing = { paths = ["/*"], priority = 1 }
autoscaling = { min = 2, max = 6, cpu = 60 }
deploy = { strategy = "affinity", rollback = { window = "1s" }, drain = { keep = 3 } }
"#;

const ORPHAN: &str = "aff-test-20200101-000000Z";
const FOREIGN: &str = "aff-test-20200102-000000Z";

/// Resources named as wharf names a deployment's, with no record: a target group tagged for
/// this app, its 5xx alarm and an ECS service; and another app's target group of the same
/// shape.
fn make_leftovers(endpoint: &str) {
    rt().block_on(async {
        let c = config(endpoint).await;
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&c);
        let ecs = aws_sdk_ecs::Client::new(&c);
        let cw = aws_sdk_cloudwatch::Client::new(&c);
        let vpc = elb
            .describe_load_balancers()
            .send()
            .await
            .expect("lbs")
            .load_balancers()[0]
            .vpc_id()
            .expect("vpc")
            .to_owned();
        for (name, app) in [(ORPHAN, "pulse"), (FOREIGN, "other")] {
            elb.create_target_group()
                .name(name)
                .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
                .port(8000)
                .vpc_id(&vpc)
                .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Ip)
                .tags(
                    aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                        .key("wharf.app")
                        .value(app)
                        .build(),
                )
                .send()
                .await
                .expect("create target group");
        }
        cw.put_metric_alarm()
            .alarm_name(format!("{ORPHAN}-5xx"))
            .namespace("AWS/ApplicationELB")
            .metric_name("HTTPCode_Target_5XX_Count")
            .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
            .period(60)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(
                aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanOrEqualToThreshold,
            )
            .send()
            .await
            .expect("alarm");
        let td = ecs
            .list_task_definitions()
            .send()
            .await
            .expect("task definitions")
            .task_definition_arns()[0]
            .clone();
        ecs.create_service()
            .cluster("pulse-test")
            .service_name(ORPHAN)
            .task_definition(td)
            .desired_count(1)
            .send()
            .await
            .expect("create service");
    });
}

/// Scalable targets (resource, min, max) and target-tracking policies (resource, target), by
/// resource id.
#[allow(clippy::type_complexity)]
fn scaling(endpoint: &str) -> (Vec<(String, i32, i32)>, Vec<(String, f64)>) {
    use aws_sdk_applicationautoscaling::types::ServiceNamespace;
    rt().block_on(async {
        let aas = aws_sdk_applicationautoscaling::Client::new(&config(endpoint).await);
        let mut targets: Vec<(String, i32, i32)> = aas
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .send()
            .await
            .expect("scalable targets")
            .scalable_targets()
            .iter()
            .map(|t| {
                (
                    t.resource_id().to_owned(),
                    t.min_capacity(),
                    t.max_capacity(),
                )
            })
            .collect();
        targets.sort();
        let mut policies: Vec<(String, f64)> = aas
            .describe_scaling_policies()
            .service_namespace(ServiceNamespace::Ecs)
            .send()
            .await
            .expect("scaling policies")
            .scaling_policies()
            .iter()
            .map(|p| {
                (
                    p.resource_id().to_owned(),
                    p.target_tracking_scaling_policy_configuration()
                        .map_or(0.0, |c| c.target_value()),
                )
            })
            .collect();
        policies.sort_by(|a, b| a.0.cmp(&b.0));
        (targets, policies)
    })
}

#[test]
fn gc_removes_deployments_beyond_keep_and_orphaned_resources_on_moto() {
    let m = moto();
    let endpoint = m.endpoint();
    let dir = TestDir::new();
    dir.write("wharf.toml", MANIFEST);
    aws_wharf(&dir, &endpoint)
        .args(["-q", "up"])
        .run()
        .success();
    moto_evaluates_outputs(&endpoint);
    for v in ["1", "2", "3"] {
        dir.write("wharf.toml", MANIFEST.replace(":1\"", &format!(":{v}\"")));
        no_panic(
            &aws_wharf(&dir, &endpoint)
                .args(["-q", "deploy"])
                .run()
                .success(),
        );
    }
    let history: Value = aws_wharf(&dir, &endpoint)
        .args(["--output", "json", "history"])
        .run()
        .success()
        .json();
    let ids = ids(&history, "aff");
    assert_eq!(ids.len(), 3, "{history}");
    make_leftovers(&endpoint);
    let before = seen(&endpoint);
    for id in &ids {
        assert!(
            before.groups.contains_key(&format!("aff-{id}")),
            "{before:?}"
        );
    }

    // keep lowered to 1: the oldest goes, the middle one stays for its users.
    dir.write(
        "wharf.toml",
        MANIFEST
            .replace(":1\"", ":3\"")
            .replace("keep = 3", "keep = 1"),
    );
    let dry: Value = aws_wharf(&dir, &endpoint)
        .args(["--output", "json", "gc", "--dry-run"])
        .run()
        .success()
        .json();
    let listed: Vec<(&str, &str)> = dry["removed"]
        .as_array()
        .expect("removed")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or(""),
                c["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let orphan_id = ORPHAN.trim_start_matches("aff-");
    assert_eq!(listed.len(), 2, "{dry}");
    assert!(
        listed
            .iter()
            .any(|(id, why)| *id == ids[0] && why.contains("drain.keep")),
        "{dry}"
    );
    assert!(
        listed
            .iter()
            .any(|(id, why)| *id == orphan_id && why.contains("no deployment record")),
        "{dry}"
    );
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        seen(&endpoint).groups.len(),
        before.groups.len(),
        "a dry run removes nothing"
    );

    let out = aws_wharf(&dir, &endpoint).args(["gc"]).run().success();
    no_panic(&out);
    assert!(
        out.stdout.contains(&format!("removed aff {orphan_id}")),
        "{out}"
    );
    let after = seen(&endpoint);
    let (old, kept, new) = (&ids[0], &ids[1], &ids[2]);
    for gone in [format!("aff-{old}"), ORPHAN.to_owned()] {
        assert!(
            !after.groups.contains_key(&gone),
            "{gone} removed: {after:?}"
        );
        assert!(
            !after.services.contains_key(&gone),
            "{gone}'s service removed: {after:?}"
        );
        assert!(
            !after.alarms.contains(&format!("{gone}-5xx")),
            "{:?}",
            after.alarms
        );
    }
    for stays in [format!("aff-{kept}"), format!("aff-{new}")] {
        assert!(
            after.groups.contains_key(&stays),
            "{stays} stays: {after:?}"
        );
        assert!(
            after.services.contains_key(&stays),
            "{stays}'s service stays"
        );
    }
    assert!(
        after.groups.contains_key(FOREIGN),
        "another app's group is not touched"
    );
    // The base rule: everything to the newest, the kept one still attached at weight 0.
    assert_eq!(
        after.rules.get(&199),
        Some(&vec![
            (format!("aff-{new}"), 100),
            (format!("aff-{kept}"), 0)
        ]),
        "{:?}",
        after.rules
    );
    let history: Value = aws_wharf(&dir, &endpoint)
        .args(["--output", "json", "history"])
        .run()
        .success()
        .json();
    assert_eq!(history["deployments"][0]["outcome"], "retired", "{history}");
    // Auto scaling: the two remaining deployments' services each have a scalable target
    // (2..6 tasks) and a CPU policy at 60%; the removed one's went with it.
    let (targets, policies) = scaling(&endpoint);
    let expected: Vec<String> = [kept, new]
        .iter()
        .map(|id| format!("service/pulse-test/aff-{id}"))
        .collect();
    assert_eq!(
        targets
            .iter()
            .map(|(r, _, _)| r.clone())
            .collect::<Vec<_>>(),
        expected
    );
    assert!(
        targets.iter().all(|(_, min, max)| (*min, *max) == (2, 6)),
        "{targets:?}"
    );
    assert_eq!(
        policies,
        expected
            .iter()
            .map(|r| (r.clone(), 60.0))
            .collect::<Vec<_>>()
    );

    // Nothing left to collect.
    let again = aws_wharf(&dir, &endpoint).args(["gc"]).run().success();
    assert!(again.stdout.contains("nothing to collect"), "{again}");
}
