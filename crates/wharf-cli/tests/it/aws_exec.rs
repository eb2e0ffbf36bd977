//! `wharf exec` on AWS: a service (the logs test's environment) deployed on the moto server, its running task answered by
//! replayed ListTasks/DescribeTasks (moto starts no tasks) and ECS's ExecuteCommand answered as
//! the ECS API reference shapes it. Checked: the ExecuteCommand request (cluster, task,
//! container, interactive, the command as one line), the Session Manager plugin invoked as the
//! AWS CLI invokes it (a stand-in plugin on the PATH records its arguments; its exit code is
//! wharf's), the message when the plugin is missing, and a task started without ECS Exec.

use serde_json::Value;

use crate::aws_deploy::UpEnv;
use crate::aws_logs::MANIFEST;
use crate::no_panic;

const TASK: &str =
    "arn:aws:ecs:us-east-1:123456789012:task/pulse-test/0123456789abcdef0123456789abcdef";
const RUNTIME_ID: &str = "0123456789abcdef0123456789abcdef-1234567890";

fn described(exec_enabled: bool) -> String {
    serde_json::json!({
        "tasks": [{
            "taskArn": TASK,
            "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/pulse-test",
            "lastStatus": "RUNNING",
            "desiredStatus": "RUNNING",
            "launchType": "FARGATE",
            "enableExecuteCommand": exec_enabled,
            "containers": [{
                "containerArn": "arn:aws:ecs:us-east-1:123456789012:container/pulse-test/0123456789abcdef0123456789abcdef/1a2b3c4d",
                "taskArn": TASK,
                "name": "web",
                "runtimeId": RUNTIME_ID,
                "lastStatus": "RUNNING",
                "managedAgents": [{ "name": "ExecuteCommandAgent", "lastStatus": "RUNNING" }]
            }],
            "tags": []
        }],
        "failures": []
    })
    .to_string()
}

const SESSION: &str = r#"{
  "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/pulse-test",
  "containerArn": "arn:aws:ecs:us-east-1:123456789012:container/pulse-test/0123456789abcdef0123456789abcdef/1a2b3c4d",
  "containerName": "web",
  "interactive": true,
  "session": {
    "sessionId": "ecs-execute-command-0a1b2c3d4e5f6a7b8",
    "streamUrl": "wss://ssmmessages.us-east-1.amazonaws.com/v1/data-channel/ecs-execute-command-0a1b2c3d4e5f6a7b8?role=publish_subscribe&cell-number=AAEAAQ",
    "tokenValue": "AAEAAHjvExampleToken"
  },
  "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/pulse-test/0123456789abcdef0123456789abcdef"
}"#;

#[test]
fn exec_opens_an_ecs_exec_session_and_hands_it_to_the_session_manager_plugin() {
    let env = UpEnv::new(MANIFEST);
    let out = env.wharf().args(["deploy"]).run().success();
    no_panic(&out);
    // The environment's dashboard, where status says.
    let status = env
        .wharf()
        .args(["status", "--output", "json"])
        .run()
        .success()
        .json();
    assert_eq!(
        status["dashboard"],
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/pulse-test"
    );

    let p = &env.proxy;
    p.json("ListTasks", 200, format!("{{\"taskArns\": [\"{TASK}\"]}}"));
    for enabled in [true, true, false] {
        p.json("DescribeTasks", 200, described(enabled));
    }
    p.json("ExecuteCommand", 200, SESSION);

    // A stand-in plugin: records its arguments, one a line, and exits 7.
    let bin = env.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let plugin = bin.join("session-manager-plugin");
    let record = env.dir.path().join("plugin-args");
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\nexit 7\n",
            record.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());

    let out = env
        .wharf()
        .env("PATH", &path)
        .args(["exec", "web", "--", "ls", "-la", "/app dir"])
        .run()
        .code(7);
    no_panic(&out);
    assert!(
        out.stderr.contains("web: entering 0123456789abcdef"),
        "{out}"
    );

    let sent = p
        .log()
        .into_iter()
        .find(|r| r.operation == "ExecuteCommand")
        .expect("ExecuteCommand sent");
    let sent: Value = serde_json::from_str(&sent.body).expect("JSON body");
    assert_eq!(sent["task"], TASK, "{sent}");
    assert_eq!(sent["container"], "web", "{sent}");
    assert_eq!(sent["interactive"], true, "{sent}");
    assert_eq!(sent["command"], "ls -la '/app dir'", "{sent}");
    assert!(
        sent["cluster"]
            .as_str()
            .is_some_and(|c| c.ends_with("pulse-test")),
        "{sent}"
    );
    let listed = p
        .log()
        .into_iter()
        .find(|r| {
            r.operation == "ListTasks"
                && r.body.contains("serviceName")
                && r.body.contains("RUNNING")
        })
        .expect("the running tasks listed");
    let listed: Value = serde_json::from_str(&listed.body).expect("JSON body");
    assert_eq!(
        listed["serviceName"], "web",
        "the rolling service's ECS service: {listed}"
    );
    assert_eq!(listed["desiredStatus"], "RUNNING", "{listed}");

    let args: Vec<String> = std::fs::read_to_string(&record)
        .expect("the plugin ran")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(args.len(), 6, "{args:?}");
    let session: Value = serde_json::from_str(&args[0]).expect("the session as JSON");
    assert_eq!(
        session["SessionId"],
        "ecs-execute-command-0a1b2c3d4e5f6a7b8"
    );
    assert_eq!(session["TokenValue"], "AAEAAHjvExampleToken");
    assert!(session["StreamUrl"]
        .as_str()
        .is_some_and(|u| u.starts_with("wss://ssmmessages.us-east-1.amazonaws.com/")));
    assert_eq!(&args[1..4], ["us-east-1", "StartSession", ""]);
    let target: Value = serde_json::from_str(&args[4]).expect("the parameters as JSON");
    assert_eq!(
        target["Target"],
        format!("ecs:pulse-test_0123456789abcdef0123456789abcdef_{RUNTIME_ID}")
    );
    assert_eq!(
        args[5],
        env.proxy.endpoint(),
        "the endpoint the session was opened at"
    );

    // Without the plugin: what to install, and nothing started.
    env.wharf()
        .env("PATH", "/nonexistent")
        .args(["exec", "web"])
        .run()
        .code(1)
        .contains("`session-manager-plugin` is not installed")
        .contains("session-manager-working-with-install-plugin");

    // A task started before ECS Exec was enabled.
    env.wharf()
        .env("PATH", &path)
        .args(["exec", "web"])
        .run()
        .code(1)
        .contains("was started without ECS Exec")
        .contains("deploy again");
}
