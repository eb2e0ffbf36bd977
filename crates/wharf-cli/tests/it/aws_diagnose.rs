//! `wharf diagnose` on AWS, every rule the runtime can trigger: a rolled-back deployment of a
//! canary service on the moto server, read back with the answers moto cannot give replayed as
//! the API references shape them — ECS DescribeServices (a FAILED rollout and the service's
//! events), ListTasks/DescribeTasks (stopped tasks, one per stop reason), ELBv2
//! DescribeTargetGroups/DescribeTargetHealth (one unhealthy target per reason code), CloudWatch
//! DescribeAlarms (three in ALARM), CloudFormation DescribeStacks/DescribeStackEvents (a stack
//! whose update rolled back, one failed resource per cause) — and the tasks' lines written into
//! CloudWatch Logs on moto. The rules only the engine's own gates trigger (a smoke check, a
//! hook, never healthy) are triggered by the engine on the simulator (wharf-diagnose's tests).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::aws_deploy::UpEnv;
use crate::no_panic;

/// Rules whose evidence is the engine's own reason, triggered on the simulator.
const ENGINE_ONLY: [&str; 3] = ["smoke-failed", "hook-failed", "never-healthy"];

const TD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/pulse-test-web:7";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn iso(ms: i64) -> String {
    wharf_manifest::names::utc(ms).replace(' ', "T")
}

/// Stopped tasks: (stoppedReason, stopCode, container reason, exit code).
const STOPPED: &[(&str, &str, Option<&str>, Option<i32>)] = &[
    ("CannotPullContainerError: pull image manifest has been retried 5 time(s): image Manifest does not contain descriptor matching platform 'linux/amd64'", "TaskFailedToStart", None, None),
    ("CannotPullContainerError: Error response from daemon: Get https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/: net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)", "TaskFailedToStart", None, None),
    ("CannotPullContainerError: inspect image has been retried 1 time(s): httpReaderSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/nginx/manifests/1: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit.", "TaskFailedToStart", None, None),
    ("CannotPullContainerError: pull access denied for 123456789012.dkr.ecr.us-east-1.amazonaws.com/pulse/web, repository does not exist or may require 'docker login': denied: User: arn:aws:sts::123456789012:assumed-role/pulse-test-exec/abc is not authorized to perform: ecr:BatchGetImage", "TaskFailedToStart", None, None),
    ("CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 123456789012.dkr.ecr.us-east-1.amazonaws.com/pulse/web:2: 123456789012.dkr.ecr.us-east-1.amazonaws.com/pulse/web:2: not found", "TaskFailedToStart", None, None),
    ("CannotPullContainerError: failed to register layer: Error processing tar file(exit status 1): write /usr/lib/x86_64-linux-gnu/libLLVM.so.15: no space left on device", "TaskFailedToStart", None, None),
    ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 5 time(s): RequestError: send request failed caused by: Post \"https://secretsmanager.us-east-1.amazonaws.com/\": dial tcp 10.0.0.12:443: i/o timeout", "TaskFailedToStart", None, None),
    ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): AccessDeniedException: Access to KMS is not allowed", "TaskFailedToStart", None, None),
    ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid parameters: /pulse/test/DATABASE_URL", "TaskFailedToStart", None, None),
    ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/pulse-test-exec/abc is not authorized to perform: secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:us-east-1:123456789012:secret:other-AbCdEf", "TaskFailedToStart", None, None),
    ("ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist.", "TaskFailedToStart", None, None),
    ("CannotStartContainerError: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"/app/serve\": stat /app/serve: no such file or directory: unknown", "TaskFailedToStart", None, None),
    ("Essential container in task exited", "EssentialContainerExited", Some("OutOfMemoryError: Container killed due to memory usage"), Some(137)),
    ("Essential container in task exited", "EssentialContainerExited", None, Some(0)),
    ("Task failed container health checks", "TaskFailedToStart", None, None),
    ("Your Spot Task was interrupted.", "SpotInterruption", None, None),
    ("Essential container in task exited", "EssentialContainerExited", None, Some(3)),
];

fn tasks() -> (String, String) {
    let arn = |i: usize| format!("arn:aws:ecs:us-east-1:123456789012:task/pulse-test/{i:032x}");
    let list: Vec<String> = (0..STOPPED.len())
        .map(|i| format!("{:?}", arn(i)))
        .collect();
    let described: Vec<Value> = STOPPED
        .iter()
        .enumerate()
        .map(|(i, (reason, code, container, exit))| {
            let mut c = serde_json::json!({"name": "web", "lastStatus": "STOPPED"});
            if let Some(r) = container {
                c["reason"] = (*r).into();
            }
            if let Some(e) = exit {
                c["exitCode"] = (*e).into();
            }
            serde_json::json!({
                "taskArn": arn(i), "taskDefinitionArn": TD, "lastStatus": "STOPPED",
                "desiredStatus": "STOPPED", "stoppedReason": reason, "stopCode": code,
                "launchType": "FARGATE", "containers": [c]
            })
        })
        .collect();
    (
        format!("{{\"taskArns\": [{}]}}", list.join(", ")),
        serde_json::json!({"tasks": described, "failures": []}).to_string(),
    )
}

/// The service: its rollout FAILED by the circuit breaker, and its events.
fn service(now_s: f64) -> String {
    let events = [
        "(service pulse-test-web) was unable to place a task. Reason: Capacity is unavailable at this time. Please try again later or in a different availability zone.",
        "(service pulse-test-web) failed to launch a task with (error ENI provisioning failed: InsufficientFreeAddressesInSubnet: insufficient free addresses in subnet subnet-0abc)",
        "(service pulse-test-web) failed to launch a task with (error You've reached the limit on the number of vCPUs you can run concurrently)",
        "(service pulse-test-web) failed to launch a task with (error ECS was unable to assume the role 'arn:aws:iam::123456789012:role/pulse-test-web-task' that was provided for this task. Please verify that the role being passed has the proper trust relationship and permissions and that your IAM user has permissions to pass this role.)",
        "(service pulse-test-web) failed to launch a task with (error User: arn:aws:sts::123456789012:assumed-role/pulse-deploy/ci is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/pulse-test-web-task)",
        "(service pulse-test-web) failed to launch a task with (error Rate exceeded (Service: AmazonEC2; Status Code: 503; Error Code: RequestLimitExceeded))",
        "(service pulse-test-web) has reached a steady state.",
    ];
    let events: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, m)| serde_json::json!({"id": format!("e{i}"), "createdAt": now_s + 10.0 - i as f64, "message": m}))
        .collect();
    serde_json::json!({
        "services": [{
            "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/pulse-test/pulse-test-web",
            "serviceName": "pulse-test-web", "status": "ACTIVE", "taskDefinition": TD,
            "desiredCount": 2, "runningCount": 0, "pendingCount": 0, "launchType": "FARGATE",
            "deployments": [{
                "id": "ecs-svc/1234567890123456789", "status": "PRIMARY", "taskDefinition": TD,
                "desiredCount": 2, "runningCount": 0, "pendingCount": 0, "failedTasks": 17,
                "rolloutState": "FAILED",
                "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start."
            }],
            "events": events
        }],
        "failures": []
    })
    .to_string()
}

const ELB: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";
const TG: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-test/0123456789abcdef";

fn target_groups() -> String {
    format!(
        r#"<DescribeTargetGroupsResponse xmlns="{ELB}">
  <DescribeTargetGroupsResult>
    <TargetGroups>
      <member>
        <TargetGroupArn>{TG}</TargetGroupArn>
        <TargetGroupName>web-test</TargetGroupName>
        <Protocol>HTTP</Protocol>
        <Port>8000</Port>
        <TargetType>ip</TargetType>
      </member>
    </TargetGroups>
  </DescribeTargetGroupsResult>
  <ResponseMetadata><RequestId>70092c0e-f3a9-11e5-ae48-cff02092876b</RequestId></ResponseMetadata>
</DescribeTargetGroupsResponse>"#
    )
}

fn target_health() -> String {
    let members: Vec<String> = [
        ("Target.ResponseCodeMismatch", "Health checks failed with these codes: [404]"),
        ("Target.Timeout", "Request timed out"),
        ("Target.FailedHealthChecks", "Health checks failed"),
        ("Target.NotInUse", "Target group is not configured to receive traffic from the load balancer"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (reason, description))| {
        format!(
            "<member><HealthCheckPort>8000</HealthCheckPort><Target><Port>8000</Port><Id>10.0.1.{}</Id></Target>\
             <TargetHealth><State>unhealthy</State><Reason>{reason}</Reason><Description>{description}</Description></TargetHealth></member>",
            20 + i
        )
    })
    .collect();
    format!(
        r#"<DescribeTargetHealthResponse xmlns="{ELB}">
  <DescribeTargetHealthResult><TargetHealthDescriptions>{}</TargetHealthDescriptions></DescribeTargetHealthResult>
  <ResponseMetadata><RequestId>c534f810-f389-11e5-9192-3fff33344cfa</RequestId></ResponseMetadata>
</DescribeTargetHealthResponse>"#,
        members.join("")
    )
}

fn alarms() -> String {
    let members: Vec<String> = [
        ("web-test-5xx", "Threshold Crossed: 1 out of the last 1 datapoints [12.5 (03/12/26 00:10:00)] was greater than the threshold (5.0)."),
        ("web-test-unhealthy", "Threshold Crossed: 1 datapoint [1.0 (03/12/26 00:10:00)] was greater than or equal to the threshold (1.0)."),
        ("pulse-test-web-latency", "Threshold Crossed: 3 datapoints [0.9 (03/12/26 00:10:00)] were greater than the threshold (0.5)."),
    ]
    .iter()
    .map(|(name, reason)| {
        format!("<member><AlarmName>{name}</AlarmName><StateValue>ALARM</StateValue><StateReason>{reason}</StateReason></member>")
    })
    .collect();
    format!(
        r#"<DescribeAlarmsResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">
  <DescribeAlarmsResult><MetricAlarms>{}</MetricAlarms><CompositeAlarms/></DescribeAlarmsResult>
  <ResponseMetadata><RequestId>5c1b7f4e-1f0e-4d3a-9b1a-2f6c0d8e7a12</RequestId></ResponseMetadata>
</DescribeAlarmsResponse>"#,
        members.join("")
    )
}

const CFN: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";

fn failed_stack(now: i64) -> String {
    format!(
        r#"<DescribeStacksResponse xmlns="{CFN}">
  <DescribeStacksResult><Stacks><member>
    <StackName>pulse-test-baseline</StackName>
    <StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/pulse-test-baseline/5b3c2a10</StackId>
    <CreationTime>2026-11-20T10:00:00Z</CreationTime>
    <LastUpdatedTime>{}</LastUpdatedTime>
    <StackStatus>UPDATE_ROLLBACK_COMPLETE</StackStatus>
  </member></Stacks></DescribeStacksResult>
  <ResponseMetadata><RequestId>b9b4b068-3a41-11e5-94eb-example</RequestId></ResponseMetadata>
</DescribeStacksResponse>"#,
        iso(now)
    )
}

fn stack_events(now: i64) -> String {
    let reasons = [
        "pulse-test-web already exists in stack arn:aws:cloudformation:us-east-1:123456789012:stack/old/1",
        "Resource handler returned message: \"User: arn:aws:sts::123456789012:assumed-role/deploy/x is not authorized to perform: iam:CreateRole on resource: arn:aws:iam::123456789012:role/pulse-test-exec\" (Service: Iam, Status Code: 403)",
        "The maximum number of addresses has been reached. (Service: Ec2, Status Code: 400, Request ID: x)",
        "Resource handler returned message: \"Rate exceeded (Service: ElasticLoadBalancingV2, Status Code: 400)\"",
        "No export named pulse-test-baseline-VpcId found. Rollback requested by user.",
        "Export pulse-test-baseline-VpcId cannot be deleted as it is in use by pulse-test-data",
        "The bucket you tried to delete is not empty (Service: S3, Status Code: 409)",
        "Certificate 'arn:aws:acm:us-east-1:123456789012:certificate/abc' not found (Service: ElasticLoadBalancingV2, Status Code: 400)",
        "Resource handler returned message: \"Exceeded attempts to wait\" (HandlerErrorCode: NotStabilized)",
        "Resource handler returned message: \"Invalid request provided: Invalid CPU or memory value specified\"",
        "Internal Failure",
        "Resource update cancelled",
    ];
    let members: Vec<String> = reasons
        .iter()
        .enumerate()
        .map(|(i, r)| {
            format!(
                "<member><StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/pulse-test-baseline/5b3c2a10</StackId>\
                 <EventId>R{i}-UPDATE_FAILED</EventId><StackName>pulse-test-baseline</StackName><LogicalResourceId>R{i}</LogicalResourceId>\
                 <ResourceType>AWS::EC2::Thing</ResourceType><Timestamp>{}</Timestamp><ResourceStatus>UPDATE_FAILED</ResourceStatus>\
                 <ResourceStatusReason>{}</ResourceStatusReason></member>",
                iso(now - 1000 * i as i64),
                r.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;")
            )
        })
        .collect();
    format!(
        r#"<DescribeStackEventsResponse xmlns="{CFN}">
  <DescribeStackEventsResult><StackEvents>{}</StackEvents></DescribeStackEventsResult>
  <ResponseMetadata><RequestId>e1</RequestId></ResponseMetadata>
</DescribeStackEventsResponse>"#,
        members.join("")
    )
}

/// The ids `wharf diagnose --catalog` lists.
fn catalog(env: &UpEnv) -> BTreeSet<String> {
    let out = env.wharf().args(["diagnose", "--catalog"]).run().success();
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("### `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect()
}

/// Every rule but the engine's own is found in the diagnosis of `deployment`, rolled back.
pub fn every_rule_the_runtime_triggers(env: &UpEnv, deployment: &str) {
    let now = now_ms();
    // The tasks' lines, in CloudWatch Logs on moto.
    let stream = format!("{deployment}/web/cccc3333cccc3333cccc3333cccc3333");
    let lines = [
        "exec /app/server: exec format error",
        "Listening on http://0.0.0.0:3000",
        "Error: listen EADDRINUSE: address already in use 0.0.0.0:8000",
        "KeyError: 'DATABASE_URL'",
        "psycopg2.OperationalError: could not connect to server: Connection refused",
        "Traceback (most recent call last): ValueError: bad config",
    ];
    let events: Vec<(&str, i64, &str)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (stream.as_str(), now - 60_000 + i as i64, *l))
        .collect();
    crate::aws_logs::put(env, "ServiceWebLogGroup", &events);

    let p = &env.proxy;
    let (list, described) = tasks();
    p.json("DescribeServices", 200, service(now as f64 / 1000.0))
        .json("ListTasks", 200, list)
        .json("DescribeTasks", 200, described)
        .xml("DescribeTargetGroups", 200, target_groups())
        .xml("DescribeTargetHealth", 200, target_health());
    p.clear("DescribeAlarms")
        .xml("DescribeAlarms", 200, alarms());
    p.xml("DescribeStackEvents", 200, stack_events(now));
    // Opening the target reads the stacks' outputs from moto; then the baseline has failed.
    let stacks_fail_after_open = || {
        p.clear("DescribeStacks")
            .forward("DescribeStacks")
            .forward("DescribeStacks")
            .xml("DescribeStacks", 200, failed_stack(now));
    };
    stacks_fail_after_open();

    let out = env
        .wharf()
        .args([
            "diagnose",
            "web",
            "--deployment",
            deployment,
            "--output",
            "json",
        ])
        .run()
        .success();
    no_panic(&out);
    let v: Value = serde_json::from_str(&out.stdout).expect("JSON");
    let mut found: BTreeSet<String> = BTreeSet::new();
    for f in v["stacks"]
        .as_array()
        .into_iter()
        .chain(v["services"][0]["findings"].as_array())
        .flatten()
    {
        found.insert(f["id"].as_str().unwrap_or_default().to_owned());
    }
    let want: BTreeSet<String> = catalog(env)
        .into_iter()
        .filter(|id| !ENGINE_ONLY.contains(&id.as_str()))
        .collect();
    let missing: Vec<&String> = want.difference(&found).collect();
    assert!(missing.is_empty(), "not triggered: {missing:?}\n{v:#}");
    assert_eq!(v["services"][0]["deployment"], deployment, "{v}");
    assert!(
        v["services"][0]["timeline"]
            .as_array()
            .is_some_and(|t| t.len() >= 3),
        "{v}"
    );
    // Details pulled out of the evidence.
    let detail = |id: &str| -> String {
        v["stacks"]
            .as_array()
            .into_iter()
            .chain(v["services"][0]["findings"].as_array())
            .flatten()
            .find(|f| f["id"] == id)
            .and_then(|f| f["detail"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(detail("essential-exited"), "exit code 3");
    assert_eq!(detail("pull-denied"), "missing ecr:BatchGetImage");
    assert_eq!(detail("health-wrong-status"), "got 404");
    assert_eq!(detail("port-mismatch"), "listens on 3000");
    assert_eq!(detail("stack-permissions"), "missing iam:CreateRole");

    // On screen: the headline rules with their fixes, the events, the last lines.
    stacks_fail_after_open();
    let out = env
        .wharf()
        .args(["diagnose", "web", "--deployment", deployment])
        .run()
        .success();
    for want in [
        "environment test: a stack failed",
        "✗ [stack-name-taken]",
        "timeline",
        "✗ [pull-platform]",
        "fix: ",
        "last lines of its tasks:",
        "cccc3333cccc | Traceback (most recent call last)",
    ] {
        assert!(out.stdout.contains(want), "{want}: {}", out.stdout);
    }
    assert!(
        !out.stdout.contains("has reached a steady state"),
        "ECS's routine events are left out: {}",
        out.stdout
    );
}
