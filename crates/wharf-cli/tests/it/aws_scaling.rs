//! Scaling on AWS, on the moto server: a new deployment of an autoscaled service starts at the
//! task count the serving deployment's ECS service has now (here moved by the test as
//! Application Auto Scaling would), within the service's bounds, not at the manifest's count.

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

[services.web]
image = "registry.example/pulse/web:1"
port = 8000
count = 1
autoscaling = { min = 1, max = 4, cpu = 60 }
routing = { paths = ["/*"], priority = 1 }
deploy = { strategy = "canary", canary = { percent = 20, bake = "1s" } }
"#;

/// The desired count of each ECS service of the cluster, by name.
fn desired(env: &UpEnv) -> Value {
    let out = env.moto.boto3(
        "import json\n\
         ecs = client('ecs')\n\
         arns = ecs.list_services(cluster='pulse-test')['serviceArns']\n\
         out = {s['serviceName']: s['desiredCount'] for s in ecs.describe_services(cluster='pulse-test', services=arns)['services'] if s['status'] == 'ACTIVE'} if arns else {}\n\
         print(json.dumps(out))\n",
    );
    serde_json::from_str(out.trim()).expect("JSON")
}

#[test]
fn a_new_deployment_of_an_autoscaled_service_starts_at_the_serving_count() {
    let env = UpEnv::new(MANIFEST);
    let out = env.wharf().args(["deploy"]).run().success();
    no_panic(&out);
    let v1 = format!("web-{}", env.deployments("web")[0]);
    assert_eq!(desired(&env)[&v1], 1, "the manifest's count first");

    // Under load, the scaler took version 1 to 2 tasks (moto reports 2 running for every
    // service, so a deployment of more would never be healthy there).
    env.moto.boto3(&format!(
        "client('ecs').update_service(cluster='pulse-test', service='{v1}', desiredCount=2)\n"
    ));
    env.dir
        .write("wharf.toml", MANIFEST.replace(":1\"", ":2\""));
    let out = env.wharf().args(["deploy"]).run().success();
    no_panic(&out);
    assert!(
        out.stderr.contains("starting at 2 tasks, as many as")
            && out.stderr.contains("(autoscaled; the manifest says 1)"),
        "{out}"
    );
    let v2 = format!("web-{}", env.deployments("web")[1]);
    let now = desired(&env);
    assert_eq!(now[&v2], 2, "{now}");
    assert!(now.get(&v1).is_none(), "version 1 retired: {now}");
}
