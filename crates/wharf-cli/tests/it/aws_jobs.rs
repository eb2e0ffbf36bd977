//! `wharf run` on an AWS environment on the moto server, through the recording proxy: the
//! run's task definition and RunTask call carry the job's subnets, security group, roles, env,
//! secrets and data bindings (read back through the ECS API and the request log); a task that
//! failed to start (DescribeTasks replayed as the API reference shapes it) exits non-zero with
//! its reason and the fix; the job's timeout stops the task with StopTask (exit 124); `down`
//! stops a detached run's task before it deletes the cluster.

use serde_json::Value;

use crate::aws_deploy::{config, rt, UpEnv};
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

[services.web]
image = "public.ecr.aws/pulse/web:1"
port = 8000

[data.sessions]
type = "dynamodb"
partition_key = { name = "pk" }

[jobs.migrate]
image = "public.ecr.aws/pulse/migrate:3"
command = ["/migrate", "up"]
cpu = 512
memory = 1024
timeout = "4s"
env = { LEVEL = "debug" }
secrets = { DB_PASSWORD = "ssm:/pulse/db-password" }
data = ["sessions"]
"#;

/// The baseline's outputs of the migrate job.
fn job_outputs(endpoint: &str) -> (String, String) {
    rt().block_on(async {
        let cfn = aws_sdk_cloudformation::Client::new(&config(endpoint).await);
        let d = cfn
            .describe_stacks()
            .stack_name("pulse-test-baseline")
            .send()
            .await
            .expect("baseline");
        let outs = d.stacks()[0].outputs();
        let get = |k: &str| {
            outs.iter()
                .find(|o| o.output_key() == Some(k))
                .and_then(|o| o.output_value())
                .unwrap_or_else(|| panic!("output {k}"))
                .to_owned()
        };
        (get("JobMigrateSecurityGroup"), get("JobMigrateTaskRoleArn"))
    })
}

/// The newest task definition of the job's family, as JSON-ish facts: roles, sizes, the
/// container's env, secrets and command.
fn task_definition(endpoint: &str) -> aws_sdk_ecs::types::TaskDefinition {
    rt().block_on(async {
        let ecs = aws_sdk_ecs::Client::new(&config(endpoint).await);
        ecs.describe_task_definition()
            .task_definition("pulse-test-migrate")
            .send()
            .await
            .expect("the job's task definition")
            .task_definition
            .expect("present")
    })
}

/// An environment up on moto, ready to run tasks.
fn up() -> UpEnv {
    UpEnv::new(MANIFEST).with_dns_hostnames()
}

fn body_of(proxy: &wharf_testkit::Replay, op: &str) -> Value {
    let r = proxy
        .log()
        .into_iter()
        .rev()
        .find(|r| r.operation == op)
        .unwrap_or_else(|| panic!("no {op} sent"));
    serde_json::from_str(&r.body).expect("JSON body")
}

#[test]
fn run_on_moto_carries_the_job_s_network_roles_env_secrets_and_bindings_and_stops_at_its_timeout() {
    let up = up();
    let (sg, task_role) = job_outputs(&up.moto.endpoint());
    // moto's task runs until stopped: the job's 4 s timeout stops it.
    let out = up.wharf().args(["run", "migrate"]).run().code(124);
    no_panic(&out);
    assert!(out.stderr.contains("timeout of 4s"), "{out}");

    let run_task = body_of(&up.proxy, "RunTask");
    let vpc = &run_task["networkConfiguration"]["awsvpcConfiguration"];
    assert_eq!(vpc["securityGroups"], serde_json::json!([sg]), "{run_task}");
    assert_eq!(vpc["assignPublicIp"], "DISABLED");
    assert_eq!(
        vpc["subnets"].as_array().map(Vec::len),
        Some(2),
        "the private subnets"
    );
    assert_eq!(run_task["launchType"], "FARGATE");
    assert_eq!(run_task["cluster"], "pulse-test");
    let stop = body_of(&up.proxy, "StopTask");
    assert_eq!(
        stop["task"],
        run_task_arn(&up.proxy),
        "the timeout stops the task it started"
    );

    let td = task_definition(&up.moto.endpoint());
    assert_eq!(td.task_role_arn(), Some(task_role.as_str()));
    assert!(
        td.execution_role_arn()
            .is_some_and(|a| a.ends_with("pulse-test-execution")),
        "{td:?}"
    );
    assert_eq!((td.cpu(), td.memory()), (Some("512"), Some("1024")));
    let c = &td.container_definitions()[0];
    assert_eq!(c.image(), Some("public.ecr.aws/pulse/migrate:3"));
    assert_eq!(c.command(), ["/migrate", "up"]);
    let env: Vec<(&str, &str)> = c
        .environment()
        .iter()
        .map(|kv| (kv.name().unwrap_or(""), kv.value().unwrap_or("")))
        .collect();
    assert!(env.contains(&("LEVEL", "debug")), "{env:?}");
    assert!(env.contains(&("WHARF_JOB", "migrate")), "{env:?}");
    assert!(
        env.iter()
            .any(|(k, v)| *k == "WHARF_RUN_ID" && v.starts_with("test-")),
        "{env:?}"
    );
    assert!(
        env.iter()
            .any(|(k, v)| *k == "SESSIONS_TABLE" && v.contains("sessions")),
        "the binding: {env:?}"
    );
    let secrets: Vec<(&str, &str)> = c
        .secrets()
        .iter()
        .map(|s| (s.name(), s.value_from()))
        .collect();
    assert_eq!(
        secrets,
        [(
            "DB_PASSWORD",
            "arn:aws:ssm:us-east-1:123456789012:parameter/pulse/db-password"
        )]
    );
    let logs = c.log_configuration().expect("awslogs");
    assert!(
        logs.options().is_some_and(|o| o
            .get("awslogs-group")
            .is_some_and(|g| g.contains("migrate"))),
        "{logs:?}"
    );
}

fn run_task_arn(proxy: &wharf_testkit::Replay) -> String {
    // The proxy logs requests only; the task ARN is what StopTask and DescribeTasks name.
    let d = body_of(proxy, "DescribeTasks");
    d["tasks"][0].as_str().unwrap_or_default().to_owned()
}

/// DescribeTasks as the ECS API reference shapes it, for a task that never started.
fn stopped_task(arn: &str) -> String {
    serde_json::json!({
        "tasks": [{
            "taskArn": arn,
            "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/pulse-test",
            "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/pulse-test-migrate:1",
            "lastStatus": "STOPPED",
            "desiredStatus": "STOPPED",
            "launchType": "FARGATE",
            "stopCode": "TaskFailedToStart",
            "stoppedReason": "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref public.ecr.aws/pulse/migrate:3: not found",
            "containers": [{
                "containerArn": "arn:aws:ecs:us-east-1:123456789012:container/pulse-test/0f3d/1a2b",
                "name": "migrate",
                "lastStatus": "STOPPED"
            }],
            "tags": [{ "key": "wharf.deployment", "value": "test-20261129-230000Z-abcd" }]
        }],
        "failures": []
    })
    .to_string()
}

#[test]
fn a_task_that_failed_to_start_exits_non_zero_with_the_reason_and_the_fix() {
    let up = up();
    up.proxy.json(
        "DescribeTasks",
        200,
        stopped_task("arn:aws:ecs:us-east-1:123456789012:task/pulse-test/0f3d"),
    );
    let out = up.wharf().args(["run", "migrate"]).run().code(1);
    no_panic(&out);
    assert!(
        out.stderr.contains("TaskFailedToStart") && out.stderr.contains("CannotPullContainerError"),
        "{out}"
    );
    assert!(out.stderr.contains("reach ECR"), "the fix: {out}");
}

#[test]
fn down_stops_a_detached_run_before_deleting_the_cluster() {
    let up = up();
    let out = up
        .wharf()
        .args(["run", "migrate", "--detach"])
        .run()
        .success();
    assert!(out.stderr.contains("goes on as"), "{out}");
    let out = up.wharf().args(["--yes", "down"]).run().success();
    no_panic(&out);
    assert!(out.stdout.contains("stopped job task"), "{out}");
    let stop = body_of(&up.proxy, "StopTask");
    assert_eq!(stop["reason"], "stopped by wharf down", "{stop}");
    assert_eq!(stop["task"], run_task_arn(&up.proxy));
}
