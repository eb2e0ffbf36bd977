//! Internal services on AWS, on the moto server: the security groups read back through EC2
//! admit an internal service's listener only from the services that name it in `talks_to`,
//! its name is a record for the internal load balancer, a canary of it runs on
//! its own listener (never the public one), and its caller's task definition carries its URL.

use serde_json::Value;

use crate::aws_deploy::UpEnv;
use crate::no_panic;

const MANIFEST: &str = crate::aws_env::moto_manifest!(
    r#"

[services.web]
image = "registry.example/pulse/web:1"
port = 8000
talks_to = ["api"]

[services.admin]
image = "registry.example/pulse/admin:1"
port = 8000
routing = { paths = ["/admin/*"], priority = 1 }

[services.worker]
image = "registry.example/pulse/worker:1"
port = 7000
public = false

[services.api]
image = "registry.example/pulse/api:1"
port = 8080
count = 2
internal = true
deploy = { strategy = "canary", canary = { percent = 20, bake = "1s" } }
"#
);

/// What EC2, Route 53 and ELBv2 say: ingress rules per security group (port and source
/// groups), the private zone's records, the rules of the internal and public listeners.
fn read_back(env: &UpEnv) -> Value {
    let out = env.moto.boto3(
        "import json\n\
         cfn, ec2, r53, elb = client('cloudformation'), client('ec2'), client('route53'), client('elbv2')\n\
         outs = {o['OutputKey']: o['OutputValue'] for o in cfn.describe_stacks(StackName='pulse-test-baseline')['Stacks'][0]['Outputs']}\n\
         names = {outs[k]: k for k in outs if k.endswith('SecurityGroup')}\n\
         ingress = {}\n\
         for g in ec2.describe_security_groups(GroupIds=list(names))['SecurityGroups']:\n    \
             ingress[names[g['GroupId']]] = sorted([p.get('FromPort'), names.get(s['GroupId'], s['GroupId'])] for p in g['IpPermissions'] for s in p.get('UserIdGroupPairs', []))\n\
         records = [[r['Name'], r['Type'], r.get('AliasTarget', {}).get('DNSName', '')] for z in r53.list_hosted_zones()['HostedZones'] for r in r53.list_resource_record_sets(HostedZoneId=z['Id'])['ResourceRecordSets'] if r['Type'] == 'A']\n\
         lbs = {l['LoadBalancerArn']: l for l in elb.describe_load_balancers()['LoadBalancers']}\n\
         ilb = lbs[outs['InternalLoadBalancerArn']]\n\
         def rules(listener):\n    \
             out = []\n    \
             for r in elb.describe_rules(ListenerArn=listener)['Rules']:\n        \
                 if r['IsDefault']: continue\n        \
                 fwd = [a for a in r['Actions'] if a['Type'] == 'forward']\n        \
                 groups = fwd[0].get('ForwardConfig', {}).get('TargetGroups', []) if fwd else []\n        \
                 out.append([int(r['Priority']), sorted([g['TargetGroupArn'].split('/')[1], g.get('Weight', 1)] for g in groups)])\n    \
             return sorted(out)\n\
         print(json.dumps({\n    \
             'ingress': ingress,\n    \
             'records': records,\n    \
             'ilb': [ilb['Scheme'], ilb['DNSName']],\n    \
             'internal_rules': rules(outs['ServiceApiListener']),\n    \
             'internal_port': elb.describe_listeners(ListenerArns=[outs['ServiceApiListener']])['Listeners'][0]['Port'],\n    \
             'public_rules': rules(outs['HttpListenerArn']),\n\
         }))\n",
    );
    serde_json::from_str(out.trim()).expect("JSON")
}

#[test]
fn an_internal_service_is_reached_only_from_its_callers_by_name_and_rolls_out_a_canary() {
    let env = UpEnv::new(MANIFEST);
    let seen = read_back(&env);
    let ingress = &seen["ingress"];
    assert_eq!(
        ingress["InternalLoadBalancerSecurityGroup"],
        serde_json::json!([[8080, "ServiceWebSecurityGroup"]]),
        "api's listener admits web, which names it, and neither admin nor worker: {seen}"
    );
    assert_eq!(
        ingress["ServiceApiSecurityGroup"],
        serde_json::json!([[8080, "InternalLoadBalancerSecurityGroup"]]),
        "api's tasks admit the internal load balancer only: {seen}"
    );
    assert_eq!(
        ingress["ServiceWebSecurityGroup"],
        serde_json::json!([[8000, "LoadBalancerSecurityGroup"]])
    );
    assert_eq!(
        ingress["ServiceWorkerSecurityGroup"],
        serde_json::json!([]),
        "a worker admits no one: {seen}"
    );
    // moto's CloudFormation makes every hosted zone public and names it after its logical
    // id: that the zone is private to the VPC and named pulse.internal is checked on the
    // template (wharf-cfn's structure tests); here, the record and where it points.
    assert_eq!(seen["ilb"][0], "internal");
    let records = seen["records"].as_array().expect("records");
    assert_eq!(records.len(), 1, "{seen}");
    assert!(
        records[0][0]
            .as_str()
            .is_some_and(|n| n.trim_end_matches('.') == "api.pulse.internal"),
        "{seen}"
    );
    assert_eq!(records[0][1], "A");
    assert_eq!(
        records[0][2].as_str().map(|d| d.trim_end_matches('.')),
        seen["ilb"][1].as_str(),
        "the name is the internal load balancer: {seen}"
    );
    assert_eq!(seen["internal_port"], 8080);

    // Version 1, then a canary of version 2: both on api's own listener.
    let out = env.wharf().args(["deploy", "api"]).run().success();
    no_panic(&out);
    env.dir
        .write("wharf.toml", MANIFEST.replace("api:1\"", "api:2\""));
    let out = env.wharf().args(["deploy", "api"]).run().success();
    no_panic(&out);
    assert!(
        out.stderr.contains("20%"),
        "the canary shifted 20% first: {out}"
    );
    let ids = env.deployments("api");
    assert_eq!(ids.len(), 2, "{ids:?}");
    let seen = read_back(&env);
    let internal = seen["internal_rules"].as_array().expect("rules");
    let base = internal.last().expect("a base rule");
    let groups = base[1].as_array().expect("groups");
    assert!(
        groups
            .iter()
            .any(|g| g[1] == 100 && g[0] == format!("api-{}", ids[1]).as_str()),
        "api's base rule on its listener forwards all to version 2: {seen}"
    );
    assert!(
        !seen["public_rules"].to_string().contains("api-test-"),
        "no rule of api on the public listener: {seen}"
    );

    // The caller gets api's URL.
    let out = env.wharf().args(["deploy", "web"]).run().success();
    no_panic(&out);
    let web = env.moto.boto3(
        "import json\n\
         ecs = client('ecs')\n\
         arn = ecs.list_task_definitions(familyPrefix='pulse-test-web')['taskDefinitionArns'][-1]\n\
         td = ecs.describe_task_definition(taskDefinition=arn)['taskDefinition']\n\
         print(json.dumps({e['name']: e['value'] for e in td['containerDefinitions'][0].get('environment', [])}))\n",
    );
    let vars: Value = serde_json::from_str(web.trim()).expect("JSON");
    assert_eq!(vars["API_URL"], "http://api.pulse.internal:8080", "{vars}");
}

const SWITCH: &str = crate::aws_env::moto_manifest!(
    r#"
[services.web]
image = "registry.example/pulse/web:1"
port = 8000
routing = { paths = ["/*"], priority = 2 }

[services.api]
image = "registry.example/pulse/api:1"
port = 8080
routing = { paths = ["/api/*"], priority = 1 }
deploy = { strategy = "canary", canary = { percent = 20, bake = "1s" } }
"#
);

/// The target groups each listener's rules forward to, by listener: public, then api's.
fn forwards(env: &UpEnv) -> Value {
    let out = env.moto.boto3(
        "import json\n\
         cfn, elb = client('cloudformation'), client('elbv2')\n\
         outs = {o['OutputKey']: o['OutputValue'] for o in cfn.describe_stacks(StackName='pulse-test-baseline')['Stacks'][0]['Outputs']}\n\
         def groups(listener):\n    \
             return sorted({g['TargetGroupArn'].split('/')[1] for r in elb.describe_rules(ListenerArn=listener)['Rules'] for a in r['Actions'] if a['Type'] == 'forward' for g in a.get('ForwardConfig', {}).get('TargetGroups', [])})\n\
         print(json.dumps({'public': groups(outs['HttpListenerArn']), 'internal': groups(outs['ServiceApiListener']) if 'ServiceApiListener' in outs else None}))\n",
    );
    serde_json::from_str(out.trim()).expect("JSON")
}

#[test]
fn a_public_service_made_internal_leaves_the_public_listener_when_its_old_deployment_retires() {
    let env = UpEnv::new(SWITCH);
    let out = env.wharf().args(["deploy", "api"]).run().success();
    no_panic(&out);
    let v1 = format!("api-{}", env.deployments("api")[0]);
    assert!(forwards(&env)["public"]
        .as_array()
        .is_some_and(|g| g.iter().any(|n| n == v1.as_str())));

    // api becomes internal (web calls it): up makes its listener, the next deploy moves it.
    let internal = SWITCH
        .replace(
            "routing = { paths = [\"/api/*\"], priority = 1 }\n",
            "internal = true\n",
        )
        .replace("priority = 2 }\n", "priority = 2 }\ntalks_to = [\"api\"]\n")
        .replace("api:1\"", "api:2\"");
    env.dir.write("wharf.toml", &internal);
    env.wharf().args(["-q", "up"]).run().success();
    crate::aws_env::moto_evaluates_outputs(&env.moto.endpoint());
    let out = env.wharf().args(["deploy", "api"]).run().success();
    no_panic(&out);
    let v2 = format!("api-{}", env.deployments("api")[1]);
    let now = forwards(&env);
    assert_eq!(now["internal"], serde_json::json!([v2]), "{now}");
    assert!(
        !now["public"].to_string().contains("api-"),
        "no rule of the public listener forwards to api any more: {now}"
    );
}
