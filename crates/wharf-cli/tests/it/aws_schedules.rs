//! Scheduled jobs on an AWS environment on the moto server: `wharf deploy` creates the job's
//! EventBridge Scheduler schedule (read back through the Scheduler API: expression, the
//! cluster, the job's task definition, private subnets, security group, tags, and the role,
//! whose policy is read back through IAM: RunTask on the job's family only, PassRole of its two
//! roles to ECS tasks only); `status` shows its next run, and each job's last run — one
//! started by hand (its record) or by the schedule (found through ECS); a deploy after the
//! job lost its `schedule` removes it; `down` deletes the schedule group with what is in it.

use serde_json::Value;

use crate::aws_deploy::UpEnv;
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

[jobs.report]
image = "public.ecr.aws/pulse/report:1"
command = ["/report", "--daily"]
schedule = "rate(1 hour)"

[jobs.migrate]
image = "public.ecr.aws/pulse/migrate:3"
"#;

/// What the Scheduler API, IAM and CloudFormation say, as one JSON document.
fn read(up: &UpEnv) -> Value {
    let out = up.moto.boto3(
        r#"
import ast, json
sch, iam, cfn = client('scheduler'), client('iam'), client('cloudformation')
def doc(d):
    # moto's CloudFormation keeps an inline policy as the repr of a dict; AWS as JSON.
    if isinstance(d, str):
        try:
            return json.loads(d)
        except ValueError:
            return ast.literal_eval(d)
    return d
out = {}
try:
    s = sch.get_schedule(GroupName='pulse-test', Name='report')
    s.pop('ResponseMetadata', None)
    out['schedule'] = json.loads(json.dumps(s, default=str))
except sch.exceptions.ResourceNotFoundException:
    out['schedule'] = None
groups = sch.list_schedule_groups()['ScheduleGroups']
out['groups'] = [g['Name'] for g in groups]
for g in groups:
    if g['Name'] == 'pulse-test':
        out['group_tags'] = sch.list_tags_for_resource(ResourceArn=g['Arn'])['Tags']
role = iam.get_role(RoleName='pulse-test-report-schedule')['Role']
out['trust'] = doc(role['AssumeRolePolicyDocument'])
out['policy'] = doc(iam.get_role_policy(RoleName='pulse-test-report-schedule', PolicyName='schedule')['PolicyDocument'])
outs = cfn.describe_stacks(StackName='pulse-test-baseline')['Stacks'][0]['Outputs']
out['outputs'] = {o['OutputKey']: o['OutputValue'] for o in outs}
print(json.dumps(out))
"#,
    );
    serde_json::from_str(out.trim()).expect("JSON")
}

fn statements(policy: &Value) -> Vec<(Vec<String>, Vec<String>)> {
    let list = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().unwrap_or("").to_owned())
                .collect(),
            _ => Vec::new(),
        }
    };
    policy["Statement"]
        .as_array()
        .unwrap_or_else(|| panic!("statements in {policy}"))
        .iter()
        .map(|s| (list(&s["Action"]), list(&s["Resource"])))
        .collect()
}

#[test]
fn deploy_schedules_the_job_with_its_own_role_and_down_removes_the_schedule() {
    let up = UpEnv::new(MANIFEST).with_dns_hostnames();
    let out = up.wharf().args(["deploy"]).run().success();
    no_panic(&out);
    assert!(
        out.stdout
            .contains("job report scheduled rate(1 hour), next run"),
        "{out}"
    );

    let seen = read(&up);
    let s = &seen["schedule"];
    assert_eq!(s["ScheduleExpression"], "rate(1 hour)", "{seen}");
    assert_eq!(s["State"], "ENABLED");
    let target = &s["Target"];
    assert_eq!(
        target["Arn"],
        "arn:aws:ecs:us-east-1:123456789012:cluster/pulse-test"
    );
    let outputs = &seen["outputs"];
    assert_eq!(
        target["RoleArn"], outputs["JobReportScheduleRoleArn"],
        "the job's own schedule role"
    );
    let ecs = &target["EcsParameters"];
    let td = ecs["TaskDefinitionArn"].as_str().unwrap_or_default();
    assert!(
        td.contains(":task-definition/pulse-test-report:"),
        "the job's family: {td}"
    );
    assert_eq!(ecs["LaunchType"], "FARGATE");
    assert_eq!(ecs["TaskCount"], 1);
    let vpc = &ecs["NetworkConfiguration"]["awsvpcConfiguration"];
    assert_eq!(vpc["AssignPublicIp"], "DISABLED", "{ecs}");
    assert_eq!(
        vpc["SecurityGroups"],
        serde_json::json!([outputs["JobReportSecurityGroup"]])
    );
    assert_eq!(vpc["Subnets"].as_array().map(Vec::len), Some(2));
    assert_eq!(ecs["Tags"][0]["wharf.trigger"], "schedule", "{ecs}");
    assert_eq!(ecs["Tags"][0]["wharf.job"], "report");
    let tags = seen["group_tags"].to_string();
    assert!(
        tags.contains("wharf.app") && tags.contains("pulse"),
        "the group is wharf's: {tags}"
    );

    // The role: assumed by the Scheduler only; RunTask on the job's family (the task
    // definition the schedule runs is in it); PassRole of the job's two roles.
    assert_eq!(
        seen["trust"]["Statement"][0]["Principal"]["Service"],
        "scheduler.amazonaws.com"
    );
    let st = statements(&seen["policy"]);
    let run = st
        .iter()
        .find(|(a, _)| a == &["ecs:RunTask"])
        .unwrap_or_else(|| panic!("RunTask: {st:?}"));
    assert_eq!(run.1.len(), 1, "{st:?}");
    let family = run.1[0].strip_suffix('*').expect("a revision wildcard");
    assert!(
        family.ends_with(":task-definition/pulse-test-report:") && td.starts_with(family),
        "RunTask allowed on {family}, the schedule runs {td}"
    );
    let pass = st
        .iter()
        .find(|(a, _)| a == &["iam:PassRole"])
        .unwrap_or_else(|| panic!("PassRole: {st:?}"));
    assert_eq!(
        pass.1.len(),
        2,
        "the task role and the execution role: {st:?}"
    );
    assert!(
        pass.1
            .contains(&outputs["JobReportTaskRoleArn"].as_str().unwrap().to_owned()),
        "{st:?}"
    );
    let actions: Vec<&String> = st.iter().flat_map(|(a, _)| a).collect();
    assert!(
        actions
            .iter()
            .all(|a| ["ecs:RunTask", "ecs:TagResource", "iam:PassRole"].contains(&a.as_str())),
        "nothing else: {actions:?}"
    );

    // status: the schedule and its next run; no run yet.
    let st = up
        .wharf()
        .args(["status", "--output", "json"])
        .run()
        .success();
    let v: Value = serde_json::from_str(&st.stdout).expect("JSON");
    let report = v["jobs"]
        .as_array()
        .and_then(|j| j.iter().find(|j| j["job"] == "report"))
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(report["scheduled"]["expression"], "rate(1 hour)");
    let since = report["scheduled"]["since_ms"].as_i64().expect("since");
    let next = report["next_run_ms"].as_i64().expect("next");
    assert_eq!((next - since) % 3_600_000, 0, "{report}");
    assert!(next > since);
    assert!(report.get("last_run").is_none(), "no run yet: {report}");

    // A run by hand is the job's last run, recorded in the state table.
    let out = up
        .wharf()
        .args(["run", "migrate", "--detach"])
        .run()
        .success();
    no_panic(&out);
    let migrate = job_status(&up, "migrate");
    assert_eq!(migrate["last_run"]["trigger"]["by"], "manual", "{migrate}");
    assert!(migrate["last_run"]["task"]
        .as_str()
        .is_some_and(|t| t.contains(":task/pulse-test/")));

    // The schedule's turn, as the Scheduler takes it (RunTask with the schedule's own
    // parameters): status finds that run through ECS, though wharf did not start it.
    let arn = up.moto.boto3(
        r#"
sch, ecs = client('scheduler'), client('ecs')
p = sch.get_schedule(GroupName='pulse-test', Name='report')['Target']['EcsParameters']
net = p['NetworkConfiguration']['awsvpcConfiguration']
t = ecs.run_task(cluster='pulse-test', taskDefinition=p['TaskDefinitionArn'], launchType='FARGATE', count=1,
    networkConfiguration={'awsvpcConfiguration': {'subnets': net['Subnets'], 'securityGroups': net['SecurityGroups'], 'assignPublicIp': 'DISABLED'}},
    tags=[{'key': k, 'value': v} for k, v in p['Tags'][0].items()])['tasks'][0]['taskArn']
print(t)
"#,
    );
    let report = job_status(&up, "report");
    let last = &report["last_run"];
    assert_eq!(last["trigger"]["by"], "schedule", "{report}");
    assert_eq!(last["task"], arn.trim(), "{report}");
    assert!(last.get("end").is_none(), "it runs: {report}");
    up.moto.boto3(&format!(
        "client('ecs').stop_task(cluster='pulse-test', task='{}', reason='done')",
        arn.trim()
    ));
    let report = job_status(&up, "report");
    assert!(report["last_run"]["end"].is_object(), "it ended: {report}");
    let text = up.wharf().args(["status"]).run().success();
    assert!(text.stdout.contains("by its schedule"), "{text}");

    // The job loses its schedule: the next deploy removes it.
    up.dir.write(
        "wharf.toml",
        MANIFEST.replace("schedule = \"rate(1 hour)\"\n", ""),
    );
    let out = up.wharf().args(["deploy"]).run().success();
    assert!(
        out.stdout.contains("job report no longer scheduled"),
        "{out}"
    );
    assert_eq!(read_schedule(&up), Value::Null, "removed");

    // Scheduled again, then `down`: the group and its schedules go with the stacks.
    up.dir.write("wharf.toml", MANIFEST);
    up.wharf().args(["deploy"]).run().success();
    assert_ne!(read_schedule(&up), Value::Null);
    let out = up.wharf().args(["--yes", "down"]).run().success();
    no_panic(&out);
    assert!(out.stdout.contains("schedule group pulse-test"), "{out}");
    let groups = up.moto.boto3(
        "print([g['Name'] for g in client('scheduler').list_schedule_groups()['ScheduleGroups']])",
    );
    assert!(!groups.contains("pulse-test"), "{groups}");
}

/// One job's entry in `wharf status --output json`.
fn job_status(up: &UpEnv, job: &str) -> Value {
    let st = up
        .wharf()
        .args(["status", "--output", "json"])
        .run()
        .success();
    let v: Value = serde_json::from_str(&st.stdout).expect("JSON");
    v["jobs"]
        .as_array()
        .and_then(|j| j.iter().find(|j| j["job"] == job).cloned())
        .unwrap_or_else(|| panic!("no job {job} in {v}"))
}

fn read_schedule(up: &UpEnv) -> Value {
    let out = up.moto.boto3(
        r#"
import json
sch = client('scheduler')
try:
    s = sch.get_schedule(GroupName='pulse-test', Name='report')
    print(json.dumps(s['ScheduleExpression']))
except sch.exceptions.ResourceNotFoundException:
    print('null')
"#,
    );
    serde_json::from_str(out.trim()).expect("JSON")
}
