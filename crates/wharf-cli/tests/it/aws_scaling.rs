//! Scaling on AWS, on the moto server: a new deployment of an autoscaled service starts at the
//! task count the serving deployment's ECS service has now (here moved by the test as
//! Application Auto Scaling would), within the service's bounds, not at the manifest's count;
//! each kind of policy (CPU, memory, requests per target, CPU steps with their alarms) is put on
//! each deployment's ECS service, and the floor of a deployment taking traffic over is its
//! starting count until it has all of it.

use serde_json::Value;

use crate::aws_deploy::UpEnv;
use crate::no_panic;

const MANIFEST: &str = crate::aws_env::moto_manifest!(
    r#"

[services.web]
image = "registry.example/pulse/web:1"
port = 8000
count = 1
autoscaling = { min = 1, max = 4, cpu = 60 }
routing = { paths = ["/*"], priority = 1 }
deploy = { strategy = "canary", canary = { percent = 20, bake = "1s" } }
"#
);

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

const KINDS: &str = crate::aws_env::moto_manifest!(
    r#"

[services.web]
image = "registry.example/pulse/web:1"
port = 8000
count = 2
autoscaling = { min = 1, max = 4, cpu = 60, memory = 75, requests = 500 }
routing = { paths = ["/*"], priority = 1 }
deploy = { strategy = "canary", canary = { percent = 20, bake = "1s" } }

[services.steps]
image = "registry.example/pulse/steps:1"
port = 8000
count = 1
autoscaling = { min = 1, max = 3, step = { out = 70, in = 30 } }
routing = { paths = ["/steps/*"], priority = 2 }
"#
);

/// Application Auto Scaling's targets and policies, and the step alarms, as read back.
fn scaling(env: &UpEnv) -> Value {
    let out = env.moto.boto3(
        "import json\n\
         aas, cw = client('application-autoscaling'), client('cloudwatch')\n\
         targets = {t['ResourceId'].split('/')[-1]: [t['MinCapacity'], t['MaxCapacity']] for t in aas.describe_scalable_targets(ServiceNamespace='ecs')['ScalableTargets']}\n\
         policies = {}\n\
         for p in aas.describe_scaling_policies(ServiceNamespace='ecs')['ScalingPolicies']:\n    \
             t = p.get('TargetTrackingScalingPolicyConfiguration')\n    \
             s = p.get('StepScalingPolicyConfiguration')\n    \
             policies[p['PolicyName']] = {'type': p['PolicyType'], 'arn': p['PolicyARN'],\n        \
                 'target': t and t['TargetValue'], 'metric': t and t['PredefinedMetricSpecification']['PredefinedMetricType'],\n        \
                 'label': t and t['PredefinedMetricSpecification'].get('ResourceLabel', ''),\n        \
                 'steps': s and [[a.get('MetricIntervalLowerBound'), a.get('MetricIntervalUpperBound'), a['ScalingAdjustment']] for a in s['StepAdjustments']]}\n\
         alarms = {a['AlarmName']: [a['Threshold'], a['ComparisonOperator'], a['AlarmActions']] for a in cw.describe_alarms()['MetricAlarms'] if a['AlarmName'].endswith(('-cpu-high', '-cpu-low'))}\n\
         print(json.dumps({'targets': targets, 'policies': policies, 'alarms': alarms}))\n",
    );
    serde_json::from_str(out.trim()).expect("JSON")
}

#[test]
fn each_scaling_kind_is_a_policy_on_the_deployment_and_moves_with_its_traffic() {
    let env = UpEnv::new(KINDS);
    let out = env.wharf().args(["deploy"]).run().success();
    no_panic(&out);
    let web1 = format!("web-{}", env.deployments("web")[0]);
    let steps = "steps";
    let s = scaling(&env);
    let p = &s["policies"];
    assert_eq!(
        p[format!("{web1}-cpu")]["metric"],
        "ECSServiceAverageCPUUtilization",
        "{s}"
    );
    assert_eq!(p[format!("{web1}-cpu")]["target"], 60.0);
    assert_eq!(
        p[format!("{web1}-memory")]["metric"],
        "ECSServiceAverageMemoryUtilization"
    );
    assert_eq!(p[format!("{web1}-memory")]["target"], 75.0);
    let requests = &p[format!("{web1}-requests")];
    assert_eq!(requests["metric"], "ALBRequestCountPerTarget");
    assert_eq!(requests["target"], 500.0);
    let label = requests["label"].as_str().unwrap_or_default();
    assert!(
        label.starts_with("app/pulse-test-alb/")
            && label.contains(&format!("/targetgroup/{web1}/")),
        "the requests of version 1's own target group: {label}"
    );
    assert_eq!(p[format!("{steps}-cpu-out")]["type"], "StepScaling");
    assert_eq!(
        p[format!("{steps}-cpu-out")]["steps"],
        serde_json::json!([[0.0, 20.0, 1], [20.0, null, 2]])
    );
    assert_eq!(
        p[format!("{steps}-cpu-in")]["steps"],
        serde_json::json!([[null, 0.0, -1]])
    );
    let alarms = &s["alarms"];
    assert_eq!(alarms["steps-cpu-high"][0], 70.0, "{s}");
    assert_eq!(alarms["steps-cpu-high"][1], "GreaterThanThreshold");
    assert_eq!(alarms["steps-cpu-high"][2][0], p["steps-cpu-out"]["arn"]);
    assert_eq!(alarms["steps-cpu-low"][0], 30.0);
    assert_eq!(alarms["steps-cpu-low"][2][0], p["steps-cpu-in"]["arn"]);
    assert_eq!(
        s["targets"][&web1],
        serde_json::json!([1, 4]),
        "with all the traffic, min: {s}"
    );
    assert_eq!(s["targets"]["steps"], serde_json::json!([1, 3]));

    // Version 2 waits for approval at its canary share: its floor is its starting count, so
    // its policies cannot scale it in on 20% of the traffic; promoted, the floor is min again
    // and version 1's policies are gone with it.
    env.dir.write(
        "wharf.toml",
        KINDS
            .replace("web:1\"", "web:2\"")
            .replace("bake = \"1s\" }", "bake = \"1s\" }, approval = true"),
    );
    let out = env
        .wharf()
        .args(["deploy", "web", "--no-wait"])
        .run()
        .success();
    no_panic(&out);
    let web2 = format!("web-{}", env.deployments("web")[1]);
    let s = scaling(&env);
    assert_eq!(s["targets"][&web2], serde_json::json!([2, 4]), "{s}");
    let label = s["policies"][format!("{web2}-requests")]["label"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(label.contains(&format!("/targetgroup/{web2}/")), "{label}");
    env.wharf().args(["promote", "web"]).run().success();
    let s = scaling(&env);
    assert_eq!(s["targets"][&web2], serde_json::json!([1, 4]), "{s}");
    assert!(s["targets"].get(&web1).is_none(), "{s}");
    assert!(
        !s["policies"]
            .as_object()
            .expect("policies")
            .keys()
            .any(|k| k.starts_with(&web1)),
        "{s}"
    );
    // The step alarms go with their deployment's scaling.
    assert_eq!(s["alarms"].as_object().map(|a| a.len()), Some(2), "{s}");
}
