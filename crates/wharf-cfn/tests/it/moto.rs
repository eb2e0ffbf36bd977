//! The baseline and data stacks created on the moto server through CloudFormation, then what
//! exists checked through the service APIs (EC2, ELBv2, ECS, ECR, Logs, DynamoDB, SSM, IAM,
//! S3, RDS), not the stack's word.
//!
//! moto's own shortcomings are worked around here, in the test, never in the templates:
//! - a `Ref` to an `AWS::RDS::DBParameterGroup` resolves to an object and moto answers 500, so
//!   the instance's `DBParameterGroupName` is dropped (the group itself is still created);
//! - `AWS::SSM::Parameter` tags are a map in CloudFormation, moto wants a list: dropped;
//! - `AWS::KMS::Key` tags are `Key`/`Value` in CloudFormation, moto reads KMS's own
//!   `TagKey`/`TagValue`: dropped.
//!
//! What moto creates but without some properties (measured with moto 5.2.5), so they are
//! asserted on the templates instead (`structure.rs`): security-group rule descriptions,
//! Container Insights and capacity providers, DynamoDB PITR, bucket versioning, public access
//! block and policy, ECR scan-on-push, subnets' MapPublicIpOnLaunch, load-balancer attributes.

use std::path::Path;

use serde_json::Value;
use wharf_testkit::{moto, tool, Cmd, TestDir};

const MANIFEST: &str = r#"
[app]
name = "pulse"

[environments.test]
target = "aws"
region = "us-east-1"
account = "123456789012"
azs = 2
log_retention = 14

[services.web]
image = "public.ecr.aws/pulse/web:1"
port = 8000
data = ["sessions", "config", "uploads", "db"]
secrets = { API = "ssm:/pulse/api" }

[services.worker]
image = "public.ecr.aws/pulse/worker:1"
port = 7000
public = false

[data.sessions]
type = "dynamodb"
partition_key = { name = "pk" }
sort_key = { name = "sk" }

[data.config]
type = "parameters"
path = "/pulse/config"
values = { "table-name" = "sessions", limit = 5 }

[data.uploads]
type = "s3"

[data.db]
type = "postgres"
"#;

/// Test-side adaptations for moto's bugs (see the module comment).
pub(crate) fn shim_for_moto(mut t: Value) -> Value {
    for (_, r) in t["Resources"]
        .as_object_mut()
        .expect("resources")
        .iter_mut()
    {
        match r["Type"].as_str() {
            Some("AWS::RDS::DBInstance") => {
                r["Properties"]
                    .as_object_mut()
                    .expect("props")
                    .remove("DBParameterGroupName");
            }
            Some("AWS::SSM::Parameter") | Some("AWS::KMS::Key") => {
                r["Properties"]
                    .as_object_mut()
                    .expect("props")
                    .remove("Tags");
            }
            _ => {}
        }
    }
    t
}

#[test]
fn baseline_and_data_stacks_create_on_moto_and_the_apis_show_their_resources() {
    let m = moto();
    let (manifest, problems) = wharf_manifest::parse_str(MANIFEST, "wharf.toml", Path::new("."));
    let manifest = manifest.unwrap_or_else(|| panic!("{problems}"));
    let env = &manifest.environments["test"];
    let dir = TestDir::new();
    let mut args = Vec::new();
    for s in wharf_cfn::synthesize(&manifest, env).expect("aws") {
        let v = shim_for_moto(serde_json::to_value(&s.template).expect("json"));
        let file = dir.write(format!("{}.json", s.name), v.to_string());
        args.push(format!("{}={}", s.name, file.display()));
    }
    let python = tool("moto_server").with_file_name("python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/aws_inspect.py");
    let out = Cmd::new(python)
        .arg(script)
        .arg(m.endpoint())
        .arg("us-east-1")
        .args(args)
        .run()
        .success();
    let r = out.json();

    for stack in ["pulse-test-baseline", "pulse-test-data"] {
        assert_eq!(r["stacks"][stack]["status"], "CREATE_COMPLETE", "{stack}");
    }
    // Network: the seed layout, tagged.
    let vpc = &r["vpcs"][0];
    assert_eq!(vpc["cidr"], "10.0.0.0/16");
    assert_eq!(vpc["tags"]["wharf.app"], "pulse");
    let az_of = |name: &str| {
        r["subnets"]
            .as_array()
            .expect("subnets")
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| s["az"].clone())
    };
    assert_ne!(
        az_of("pulse-test-public-1"),
        az_of("pulse-test-public-2"),
        "one subnet per AZ"
    );
    assert_eq!(az_of("pulse-test-public-1"), az_of("pulse-test-private-1"));
    let subnets: Vec<&str> = r["subnets"]
        .as_array()
        .expect("subnets")
        .iter()
        .map(|s| s["cidr"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        subnets,
        [
            "10.0.1.0/24",
            "10.0.11.0/24",
            "10.0.12.0/24",
            "10.0.2.0/24",
            "10.0.21.0/24",
            "10.0.22.0/24"
        ]
    );
    assert_eq!(r["nat_gateways"], 1);
    // Security groups: the ALB takes 80 from anywhere; the web service only from the ALB's group.
    let groups = r["security_groups"].as_array().expect("groups");
    let alb_sg = groups
        .iter()
        .find(|g| {
            g["description"]
                .as_str()
                .unwrap_or_default()
                .contains("load balancer")
        })
        .expect("ALB SG");
    let alb_id = alb_sg["id"].as_str().expect("id");
    assert!(alb_sg["ingress"]
        .as_array()
        .expect("rules")
        .iter()
        .any(|p| p["from"] == 80 && p["cidrs"][0] == "0.0.0.0/0"));
    let web = groups
        .iter()
        .find(|g| {
            g["description"]
                .as_str()
                .unwrap_or_default()
                .contains("service web")
        })
        .expect("web SG");
    let web_in = web["ingress"].as_array().expect("rules");
    assert_eq!(web_in.len(), 1, "{web_in:?}");
    assert_eq!(
        (web_in[0]["from"].clone(), web_in[0]["groups"][0].clone()),
        (Value::from(8000), Value::from(alb_id))
    );
    let worker = groups
        .iter()
        .find(|g| {
            g["description"]
                .as_str()
                .unwrap_or_default()
                .contains("service worker")
        })
        .expect("worker SG");
    assert_eq!(
        worker["ingress"],
        serde_json::json!([]),
        "a worker (neither public nor internal) admits no one"
    );
    let db_sg = groups
        .iter()
        .find(|g| {
            g["description"]
                .as_str()
                .unwrap_or_default()
                .contains("PostgreSQL")
        })
        .expect("db SG");
    assert_eq!(db_sg["ingress"][0]["from"], 5432);
    assert_eq!(
        db_sg["ingress"][0]["groups"][0], web["id"],
        "the database admits only the web service"
    );
    // Load balancer: named per the table, HTTP answering the fixed 503.
    let lb = &r["load_balancers"][0];
    assert_eq!(lb["name"], "pulse-test-alb");
    assert_eq!(lb["scheme"], "internet-facing");
    assert_eq!(lb["listeners"][0]["port"], 80);
    assert_eq!(lb["listeners"][0]["status"][0], "503");
    // Cluster, repositories, logs.
    let cluster = &r["clusters"][0];
    assert_eq!(cluster["name"], "pulse-test");
    let repos: Vec<&str> = r["repositories"]
        .as_array()
        .expect("repos")
        .iter()
        .map(|x| x["name"].as_str().unwrap_or_default())
        .collect();
    assert!(
        repos.contains(&"pulse/test/web") && repos.contains(&"pulse/test/worker"),
        "{repos:?}"
    );
    assert!(r["repositories"]
        .as_array()
        .expect("repos")
        .iter()
        .all(|x| x["mutability"] == "IMMUTABLE"));
    assert_eq!(r["log_groups"]["/aws/pulse/test/web"], 14);
    // Tables: wharf's state table and the sessions table.
    assert_eq!(r["tables"]["pulse-test-wharf"]["keys"]["pk"], "HASH");
    assert_eq!(r["tables"]["pulse-test-sessions"]["keys"]["sk"], "RANGE");
    assert_eq!(
        r["tables"]["pulse-test-sessions"]["billing"],
        "PAY_PER_REQUEST"
    );
    // Parameters, roles, buckets, database.
    assert_eq!(r["parameters"]["/pulse/config/table-name"], "sessions");
    assert_eq!(r["parameters"]["/pulse/config/limit"], "5");
    for role in [
        "pulse-test-execution",
        "pulse-test-web-task",
        "pulse-test-worker-task",
    ] {
        assert!(
            r["roles"].get(role).is_some(),
            "role {role} missing: {}",
            r["roles"]
        );
    }
    // The execution role's own policy, and the data stack's grant of the database secret.
    assert_eq!(
        r["roles"]["pulse-test-execution"],
        serde_json::json!(["execution", "pulse-test-data-db-secret"])
    );
    assert!(r["roles"]["pulse-test-web-task"]
        .as_array()
        .expect("policies")
        .contains(&Value::from("pulse-test-data-sessions")));
    let bucket = &r["buckets"]["pulse-test-uploads-123456789012"];
    assert_eq!(bucket["encryption"], "aws:kms");
    let db = &r["databases"][0];
    assert_eq!(
        (db["id"].clone(), db["engine"].clone()),
        (Value::from("pulse-test-db"), Value::from("postgres"))
    );
    assert_eq!(
        (
            db["encrypted"].clone(),
            db["public"].clone(),
            db["backup_retention"].clone()
        ),
        (Value::Bool(true), Value::Bool(false), Value::from(7))
    );
    assert!(r["parameter_groups"]
        .as_array()
        .expect("groups")
        .contains(&Value::from("postgres17")));
    // Outputs the engine reads.
    let outputs = &r["stacks"]["pulse-test-baseline"]["outputs"];
    assert!(outputs["PrivateSubnets"]
        .as_str()
        .unwrap_or_default()
        .contains(','));
    assert_eq!(outputs["ClusterName"], "pulse-test");
}
