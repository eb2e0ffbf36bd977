//! How the AWS target reads a failing deployment, from AWS responses replayed into the real
//! SDK clients (moto never starts tasks, runs health checks or trips a circuit breaker): the
//! circuit breaker's FAILED rollout, tasks stopped with CannotPullContainerError,
//! ResourceInitializationError, OutOfMemoryError or an essential container that exited, targets
//! unhealthy with Target.ResponseCodeMismatch and Target.Timeout, and a firing alarm. The
//! responses are shaped as the ECS, ELBv2 and CloudWatch API references document them.

use std::collections::BTreeMap;

use wharf_aws::ecs::{EnvOutputs, ServiceOutputs};
use wharf_aws::{AwsTarget, Clients, DynamoStore};
use wharf_engine::{Health, Target};
use wharf_testkit::Replay;

const ID: &str = "test-20261123-100000Z";
const TD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/pulse-test-web:7";

fn manifest_service() -> wharf_manifest::Service {
    let (m, _) = wharf_manifest::parse_str(
        "[app]\nname = \"pulse\"\n[environments.test]\ntarget = \"local\"\n[services.web]\nimage = \"registry.example/pulse/web:2\"\nport = 8000\ncount = 2\nrouting = { paths = [\"/*\"], priority = 1 }\ndeploy = { strategy = \"canary\" }\n",
        "wharf.toml",
        std::path::Path::new("."),
    );
    m.expect("valid").services["web"].clone()
}

fn target(replay: &Replay) -> AwsTarget {
    let rt = tokio::runtime::Handle::current();
    let config = tokio::task::block_in_place(|| rt.block_on(crate::common::replayed(replay)));
    let mut services = BTreeMap::new();
    services.insert("web".to_owned(), ServiceOutputs::default());
    let out = EnvOutputs {
        app: "pulse".into(),
        env: "test".into(),
        region: "us-east-1".into(),
        account: "123456789012".into(),
        cluster: "pulse-test".into(),
        load_balancer_arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/pulse-test-alb/50dc6c495c0c9188".into(),
        state_table: "pulse-test-wharf".into(),
        services,
        ..EnvOutputs::default()
    };
    AwsTarget::new(
        out,
        Clients::new(&config),
        DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), "pulse-test-wharf"),
        std::path::PathBuf::from("."),
        BTreeMap::new(),
    )
}

fn describe_services(state: &str, reason: &str, running: u32) -> String {
    format!(
        r#"{{"services":[{{"serviceName":"web-{ID}","status":"ACTIVE","taskDefinition":"{TD}","desiredCount":2,"runningCount":{running},"deployments":[{{"id":"ecs-svc/1","status":"PRIMARY","taskDefinition":"{TD}","desiredCount":2,"runningCount":{running},"failedTasks":3,"rolloutState":"{state}","rolloutStateReason":"{reason}"}}]}}],"failures":[]}}"#
    )
}

fn stopped_tasks(replay: &Replay, tasks: &[(&str, &str)]) {
    let arns: Vec<String> = (0..tasks.len())
        .map(|i| format!("\"arn:aws:ecs:us-east-1:123456789012:task/pulse-test/t{i}\""))
        .collect();
    replay.json(
        "ListTasks",
        200,
        format!(r#"{{"taskArns":[{}]}}"#, arns.join(",")),
    );
    let described: Vec<String> = tasks
        .iter()
        .enumerate()
        .map(|(i, (stopped, container))| {
            format!(
                r#"{{"taskArn":"arn:aws:ecs:us-east-1:123456789012:task/pulse-test/t{i}","group":"service:web-{ID}","lastStatus":"STOPPED","desiredStatus":"STOPPED","taskDefinitionArn":"{TD}","stopCode":"TaskFailedToStart","stoppedReason":"{stopped}","containers":[{container}]}}"#
            )
        })
        .collect();
    replay.json(
        "DescribeTasks",
        200,
        format!(r#"{{"tasks":[{}],"failures":[]}}"#, described.join(",")),
    );
}

fn elb(replay: &Replay, health: &str) {
    let ns = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";
    replay.xml(
        "DescribeTargetGroups",
        200,
        format!(
            r#"<DescribeTargetGroupsResponse xmlns="{ns}"><DescribeTargetGroupsResult><TargetGroups><member><TargetGroupArn>arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-{ID}/73e2d6bc24d8a067</TargetGroupArn><TargetGroupName>web-{ID}</TargetGroupName><Protocol>HTTP</Protocol><Port>8000</Port><TargetType>ip</TargetType></member></TargetGroups></DescribeTargetGroupsResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></DescribeTargetGroupsResponse>"#
        ),
    );
    replay.xml(
        "DescribeTargetHealth",
        200,
        format!(
            r#"<DescribeTargetHealthResponse xmlns="{ns}"><DescribeTargetHealthResult><TargetHealthDescriptions>{health}</TargetHealthDescriptions></DescribeTargetHealthResult><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></DescribeTargetHealthResponse>"#
        ),
    );
}

fn alarms(replay: &Replay, firing: bool) {
    let member = if firing {
        format!("<member><AlarmName>web-{ID}-5xx</AlarmName><StateValue>ALARM</StateValue><StateReason>Threshold Crossed: 1 datapoint [12.5 (23/11/26 10:05:00)] was greater than the threshold (5.0).</StateReason></member>")
    } else {
        String::new()
    };
    replay.xml(
        "DescribeAlarms",
        200,
        format!(
            r#"<DescribeAlarmsResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><DescribeAlarmsResult><MetricAlarms>{member}</MetricAlarms><CompositeAlarms/></DescribeAlarmsResult><ResponseMetadata><RequestId>r3</RequestId></ResponseMetadata></DescribeAlarmsResponse>"#
        ),
    );
}

fn health(replay: &Replay) -> Health {
    let t = target(replay);
    let service = manifest_service();
    let rt = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| rt.block_on(t.health(&service, ID))).expect("health")
}

fn unhealthy(ip: &str, reason: &str, description: &str) -> String {
    format!("<member><Target><Id>{ip}</Id><Port>8000</Port></Target><HealthCheckPort>8000</HealthCheckPort><TargetHealth><State>unhealthy</State><Reason>{reason}</Reason><Description>{description}</Description></TargetHealth></member>")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_circuit_breaker_stop_fails_the_deployment_with_the_tasks_reason() {
    let replay = Replay::start();
    replay.json(
        "DescribeServices",
        200,
        describe_services(
            "FAILED",
            "ECS deployment circuit breaker: tasks failed to start.",
            0,
        ),
    );
    stopped_tasks(
        &replay,
        &[
            ("CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref registry.example/pulse/web:2: not found", r#"{"name":"web","lastStatus":"STOPPED"}"#),
            ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm", r#"{"name":"web","lastStatus":"STOPPED"}"#),
        ],
    );
    elb(&replay, "");
    alarms(&replay, false);
    let h = health(&replay);
    let failed = h.failed.clone().expect("the circuit breaker's verdict");
    assert!(
        failed.contains("ECS deployment circuit breaker: tasks failed to start."),
        "{failed}"
    );
    assert!(
        failed.contains("ResourceInitializationError"),
        "names the last stopped task: {failed}"
    );
    assert!(
        h.stopped
            .iter()
            .any(|s| s.starts_with("CannotPullContainerError")),
        "{h:?}"
    );
    assert_eq!((h.running, h.healthy), (0, 0));
    assert_eq!(
        replay
            .operations()
            .iter()
            .filter(|o| *o == "DescribeServices")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stopped_tasks_and_failing_targets_are_explained() {
    let replay = Replay::start();
    replay.json(
        "DescribeServices",
        200,
        describe_services("IN_PROGRESS", "ECS deployment ecs-svc/1 in progress.", 1),
    );
    stopped_tasks(
        &replay,
        &[
            (
                "OutOfMemoryError: Container killed due to memory usage",
                r#"{"name":"web","lastStatus":"STOPPED","exitCode":137,"reason":"OutOfMemoryError: Container killed due to memory usage"}"#,
            ),
            (
                "Essential container in task exited",
                r#"{"name":"web","lastStatus":"STOPPED","exitCode":1}"#,
            ),
        ],
    );
    elb(
        &replay,
        &format!(
            "{}{}",
            unhealthy(
                "10.0.1.12",
                "Target.ResponseCodeMismatch",
                "Health checks failed with these codes: [500]"
            ),
            unhealthy("10.0.2.40", "Target.Timeout", "Request timed out"),
        ),
    );
    alarms(&replay, true);
    let h = health(&replay);
    assert_eq!(h.failed, None, "a rollout in progress is not given up");
    let all = h.stopped.join("\n");
    for want in [
        "web: OutOfMemoryError: Container killed due to memory usage",
        "Essential container in task exited; web: exited with code 1",
        "target 10.0.1.12:8000 failed its health checks: Target.ResponseCodeMismatch (Health checks failed with these codes: [500])",
        "target 10.0.2.40:8000 failed its health checks: Target.Timeout (Request timed out)",
    ] {
        assert!(all.contains(want), "{want:?} missing from:\n{all}");
    }
    assert_eq!(h.healthy, 0);
    assert_eq!(h.alarms.len(), 1, "{h:?}");
    assert!(
        h.alarms[0].contains("-5xx") && h.alarms[0].contains("Threshold Crossed"),
        "{h:?}"
    );
}
