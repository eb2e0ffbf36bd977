//! A deployment rolled back end to end on AWS: version 1 of a canary service deployed on the
//! moto server; during version 2's bake its 5xx alarm is in ALARM (DescribeAlarms replayed as
//! the CloudWatch API reference shapes it; every other call goes on to moto), so `wharf deploy`
//! rolls back and exits 5 naming the alarm. The AWS APIs then show version 1 taking all the
//! traffic and nothing of version 2 left: no target group, ECS service or alarms. The failed
//! deploy printed its diagnosis; `wharf diagnose` then finds every rule the runtime triggers
//! ([`crate::aws_diagnose`]). Its notices went to an SNS topic: first one that does not exist
//! (a warning, the deploy goes on), then one with subscribers ([`crate::aws_notify`]).

use serde_json::Value;

use crate::aws_deploy::{ids, seen, UpEnv};
use crate::aws_notify;
use crate::no_panic;

/// One canary service.
pub const MANIFEST: &str = r#"
[app]
name = "pulse"

[environments.test]
target = "aws"
region = "us-east-1"
account = "123456789012"
azs = 2
egress = "endpoints"

[services.web]
image = "registry.example/pulse/web:1"
port = 8000
count = 2
routing = { paths = ["/*"], priority = 1 }
deploy = { strategy = "canary", canary = { percent = 20, bake = "1s" } }
"#;

const FIRING: &str = r#"<DescribeAlarmsResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">
  <DescribeAlarmsResult>
    <MetricAlarms>
      <member>
        <AlarmName>web-canary-5xx</AlarmName>
        <StateValue>ALARM</StateValue>
        <StateReason>Threshold Crossed: 1 out of the last 1 datapoints [12.5 (23/11/26 18:00:00)] was greater than the threshold (5.0) (minimum 1 datapoint for OK -&gt; ALARM transition).</StateReason>
        <Namespace>AWS/ApplicationELB</Namespace>
        <MetricName>HTTPCode_Target_5XX_Count</MetricName>
      </member>
    </MetricAlarms>
    <CompositeAlarms/>
  </DescribeAlarmsResult>
  <ResponseMetadata><RequestId>5c1b7f4e-1f0e-4d3a-9b1a-2f6c0d8e7a11</RequestId></ResponseMetadata>
</DescribeAlarmsResponse>"#;

#[test]
fn an_alarm_firing_in_the_canary_bake_rolls_the_deployment_back() {
    let manifest = format!("{MANIFEST}{}", aws_notify::NOTIFY);
    let env = UpEnv::new(&manifest);
    // The topic does not exist yet: a warning naming it, and the deployment goes on.
    let out = env.wharf().args(["deploy"]).run().success();
    no_panic(&out);
    assert!(
        out.stderr.contains(&format!(
            "warning: the started notice was not published to {}",
            aws_notify::TOPIC
        )),
        "{out}"
    );

    aws_notify::subscribe(&env);
    env.dir
        .write("wharf.toml", manifest.replace(":1\"", ":2\""));
    env.proxy.xml("DescribeAlarms", 200, FIRING);
    let out = env.wharf().args(["deploy"]).run();
    no_panic(&out);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(out.code, Some(5), "rolled back: {all}");
    assert!(all.contains("web-canary-5xx"), "the alarm is named: {all}");
    assert!(all.contains("Threshold Crossed"), "with its reason: {all}");
    for want in ["[alarm-5xx]", "fix: ", "timeline"] {
        assert!(
            out.stderr.contains(want),
            "the diagnosis is printed ({want}): {all}"
        );
    }

    let history: Value = env
        .wharf()
        .args(["history", "--output", "json"])
        .run()
        .success()
        .json();
    let ids = ids(&history, "web");
    assert_eq!(ids.len(), 2, "{history}");
    let outcomes: Vec<&Value> = history["deployments"]
        .as_array()
        .expect("list")
        .iter()
        .map(|d| &d["outcome"])
        .collect();
    assert_eq!(outcomes, ["succeeded", "rolled-back"], "{history}");

    // Version 1 takes all the traffic again; nothing of version 2 is left.
    let (v1, v2) = (format!("web-{}", ids[0]), format!("web-{}", ids[1]));
    let s = seen(&env.moto.endpoint());
    assert_eq!(
        s.rules.get(&199),
        Some(&vec![(v1.clone(), 100)]),
        "{:?}",
        s.rules
    );
    assert!(
        !s.rules.contains_key(&198),
        "no test route left: {:?}",
        s.rules
    );
    assert!(
        s.groups.contains_key(&v1) && !s.groups.contains_key(&v2),
        "{s:?}"
    );
    assert!(
        s.services.contains_key(&v1) && !s.services.contains_key(&v2),
        "{s:?}"
    );
    assert!(s.alarms.contains(&format!("{v1}-5xx")), "{:?}", s.alarms);
    assert!(
        !s.alarms.iter().any(|a| a.starts_with(&v2)),
        "{:?}",
        s.alarms
    );

    aws_notify::rolled_back_was_published(&env, &ids[1]);
    crate::aws_diagnose::every_rule_the_runtime_triggers(&env, &ids[1]);
}
