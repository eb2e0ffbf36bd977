//! Bursts of ThrottlingException between wharf and AWS (the moto server behind a recording
//! proxy that answers the first n requests of an operation with AWS's throttling error): a
//! burst shorter than the retry budget is ridden out with backoff and the deploy completes with
//! nothing made twice; a longer one ends the command with exit code 8 and advice, after
//! exactly the configured number of attempts.

use wharf_testkit::Replay;

use crate::aws_deploy::{seen, UpEnv, MANIFEST};
use crate::no_panic;

fn canary_only() -> String {
    MANIFEST
        .split("[services.linear]")
        .next()
        .expect("head")
        .to_owned()
}

fn count(proxy: &Replay, op: &str) -> usize {
    proxy.operations().iter().filter(|o| *o == op).count()
}

#[test]
fn a_throttling_burst_within_the_retry_budget_is_ridden_out() {
    let env = UpEnv::new(&canary_only());
    let proxy = &env.proxy;

    // The calls that create something, each throttled 3 times (JSON and query protocols).
    proxy
        .throttle_burst("RegisterTaskDefinition", 3, true)
        .throttle_burst("CreateTargetGroup", 3, false)
        .throttle_burst("CreateRule", 3, false)
        .throttle_burst("PutMetricAlarm", 3, false)
        .throttle_burst("CreateService", 3, true)
        .throttle_burst("PutItem", 3, true);
    let out = env.wharf().args(["-q", "deploy"]).run().success();
    no_panic(&out);
    for op in [
        "RegisterTaskDefinition",
        "CreateTargetGroup",
        "CreateRule",
        "CreateService",
    ] {
        assert_eq!(count(proxy, op), 4, "{op}: 3 throttled, then once through");
    }
    let s = seen(&env.moto.endpoint());
    assert_eq!(s.services.len(), 1, "one ECS service: {:?}", s.services);
    assert_eq!(s.groups.len(), 1, "one target group: {:?}", s.groups);
    assert_eq!(s.rules.len(), 1, "one rule: {:?}", s.rules);
    assert_eq!(s.alarms.len(), 2, "{:?}", s.alarms);
}

#[test]
fn a_throttling_burst_beyond_the_retry_budget_fails_with_advice() {
    let env = UpEnv::new(&canary_only());
    let proxy = &env.proxy;

    proxy.throttle_burst("DescribeRules", 10, false);
    let out = env
        .wharf()
        .args(["status"])
        .env("AWS_MAX_ATTEMPTS", "3")
        .run()
        .code(8);
    no_panic(&out);
    assert_eq!(
        count(proxy, "DescribeRules"),
        3,
        "AWS_MAX_ATTEMPTS attempts, no more"
    );
    assert!(out.stderr.contains("Rate exceeded"), "AWS's message: {out}");
    assert!(
        out.stderr
            .contains("AWS kept throttling after retries with backoff"),
        "the advice: {out}"
    );
}
