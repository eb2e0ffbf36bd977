//! What the stacks contain, checked on the model: the seeds' subnet layout, security-group
//! reach, listeners by TLS setting, egress modes, outputs the engine needs, determinism.

use serde_json::Value;
use wharf_cfn::StackKind;

use crate::matrix::{all_stacks, cases, parse};

fn stack(name: &str) -> wharf_cfn::Stack {
    all_stacks()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no stack {name}"))
        .1
}

fn cidrs(t: &wharf_cfn::Template, prefix: &str) -> Vec<String> {
    t.resources
        .iter()
        .filter(|(id, r)| r.ty == "AWS::EC2::Subnet" && id.starts_with(prefix))
        .map(|(_, r)| {
            r.properties["CidrBlock"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[test]
fn subnets_follow_the_seed_layout() {
    let t = stack("nat-per-az-3az-prod-everything-test-baseline").template;
    assert_eq!(
        cidrs(&t, "Public"),
        ["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"]
    );
    assert_eq!(
        cidrs(&t, "Private"),
        ["10.0.11.0/24", "10.0.12.0/24", "10.0.13.0/24"]
    );
    assert_eq!(
        cidrs(&t, "Database"),
        ["10.0.21.0/24", "10.0.22.0/24", "10.0.23.0/24"]
    );
    // No database tier without a data store that needs it.
    assert!(cidrs(
        &stack("nat-2az-plain-http-test-baseline").template,
        "Database"
    )
    .is_empty());
}

#[test]
fn egress_modes() {
    let count = |t: &wharf_cfn::Template, ty: &str| t.of_type(ty).count();
    let one = stack("nat-2az-plain-http-test-baseline").template;
    assert_eq!(
        (
            count(&one, "AWS::EC2::NatGateway"),
            count(&one, "AWS::EC2::VPCEndpoint")
        ),
        (1, 0)
    );
    let per_az = stack("nat-per-az-3az-prod-everything-test-baseline").template;
    assert_eq!(count(&per_az, "AWS::EC2::NatGateway"), 3);
    let ep = stack("endpoints-2az-hosted-zone-by-name-test-baseline").template;
    assert_eq!(
        (
            count(&ep, "AWS::EC2::NatGateway"),
            count(&ep, "AWS::EC2::VPCEndpoint")
        ),
        (0, 9)
    );
}

#[test]
fn services_are_reachable_only_from_their_load_balancer_and_internal_ones_only_from_their_callers()
{
    let t = stack("nat-2az-plain-http-test-baseline").template;
    let mut seen = Vec::new();
    for (id, r) in t.of_type("AWS::EC2::SecurityGroupIngress") {
        let group = r.properties["GroupId"]["Fn::GetAtt"][0]
            .as_str()
            .unwrap_or_default();
        let src = r.properties["SourceSecurityGroupId"]["Fn::GetAtt"][0]
            .as_str()
            .unwrap_or_default();
        let port = r.properties["FromPort"].as_u64().unwrap_or_default();
        seen.push((group.to_owned(), src.to_owned(), port));
        assert!(
            r.properties["Description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{id} has no description"
        );
    }
    seen.sort();
    let rule = |g: &str, s: &str, p: u64| (g.to_owned(), s.to_owned(), p);
    assert_eq!(
        seen,
        [
            // auth's listener (its port, 9100) admits web, which names it, and no one else.
            rule(
                "InternalLoadBalancerSecurityGroup",
                "ServiceWebSecurityGroup",
                9100
            ),
            rule("ServiceApiSecurityGroup", "LoadBalancerSecurityGroup", 9000),
            rule(
                "ServiceAuthSecurityGroup",
                "InternalLoadBalancerSecurityGroup",
                9100
            ),
            rule("ServiceWebSecurityGroup", "LoadBalancerSecurityGroup", 8000),
        ],
        "a worker (neither public nor internal) is reached from nowhere"
    );
    let egress: Vec<(String, String)> = t
        .of_type("AWS::EC2::SecurityGroupEgress")
        .map(|(_, r)| {
            let g = |k: &str| {
                r.properties[k]["Fn::GetAtt"][0]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            };
            (g("GroupId"), g("DestinationSecurityGroupId"))
        })
        .filter(|(g, _)| g.starts_with("Internal"))
        .collect();
    assert_eq!(
        egress,
        [(
            "InternalLoadBalancerSecurityGroup".to_owned(),
            "ServiceAuthSecurityGroup".to_owned()
        )]
    );
    let ilb = &t.resources["InternalLoadBalancer"].properties;
    assert_eq!(ilb["Scheme"], "internal");
    assert!(ilb["Subnets"].as_array().is_some_and(|s| s
        .iter()
        .all(|x| x["Ref"].as_str().is_some_and(|r| r.starts_with("Private")))));
    let listener = &t.resources["ServiceAuthListener"].properties;
    assert_eq!(listener["Port"], 9100);
    assert_eq!(listener["LoadBalancerArn"]["Ref"], "InternalLoadBalancer");
    assert_eq!(
        t.of_type("AWS::ElasticLoadBalancingV2::Listener").count(),
        2,
        "HTTP + auth's"
    );
    let zone = &t.resources["InternalZone"].properties;
    assert_eq!(zone["Name"], "pulse.internal");
    assert_eq!(zone["VPCs"][0]["VPCId"]["Ref"], "Vpc");
    let record = &t.resources["ServiceAuthRecord"].properties;
    assert_eq!(record["Name"], "auth.pulse.internal");
    assert_eq!(
        record["AliasTarget"]["DNSName"]["Fn::GetAtt"][0],
        "InternalLoadBalancer"
    );
    assert_eq!(t.of_type("AWS::Route53::RecordSet").count(), 1);
    // Every inline rule has a description too.
    for (id, r) in t.of_type("AWS::EC2::SecurityGroup") {
        for rule in ["SecurityGroupIngress", "SecurityGroupEgress"]
            .iter()
            .flat_map(|k| r.properties[*k].as_array().cloned().unwrap_or_default())
        {
            assert!(
                rule["Description"].as_str().is_some_and(|d| !d.is_empty()),
                "{id}: rule without description"
            );
        }
    }
}

#[test]
fn listeners_follow_the_tls_settings() {
    let plain = stack("nat-2az-plain-http-test-baseline").template;
    assert!(!plain.resources.contains_key("HttpsListener"));
    assert_eq!(
        plain.resources["HttpListener"].properties["DefaultActions"][0]["Type"],
        "fixed-response"
    );
    let tls = stack("nat-per-az-3az-prod-everything-test-baseline").template;
    assert_eq!(
        tls.resources["HttpListener"].properties["DefaultActions"][0]["Type"],
        "redirect"
    );
    let https = &tls.resources["HttpsListener"].properties;
    assert_eq!(
        https["DefaultActions"][0]["FixedResponseConfig"]["StatusCode"],
        "503"
    );
    assert!(https["SslPolicy"]
        .as_str()
        .unwrap_or_default()
        .contains("TLS13-1-2"));
    assert!(
        !tls.resources.contains_key("Certificate"),
        "a given certificate is used, not issued"
    );
    let zone = stack("endpoints-2az-hosted-zone-by-name-test-baseline").template;
    assert!(
        zone.resources.contains_key("Certificate") && zone.resources.contains_key("DomainRecord")
    );
    assert!(
        zone.parameters.contains_key("HostedZoneId"),
        "a zone given by name becomes a parameter wharf up fills"
    );
    let alb_attrs = tls.resources["LoadBalancer"].properties["LoadBalancerAttributes"].to_string();
    assert!(alb_attrs.contains("drop_invalid_header_fields.enabled\",\"Value\":\"true"));
    assert!(
        alb_attrs.contains("deletion_protection.enabled\",\"Value\":\"true"),
        "prod protects its ALB"
    );
}

#[test]
fn the_engine_finds_what_it_needs_in_the_outputs() {
    let t = stack("nat-per-az-3az-prod-everything-test-baseline").template;
    for o in [
        "VpcId",
        "PrivateSubnets",
        "PublicSubnets",
        "DatabaseSubnets",
        "HttpsListenerArn",
        "HttpListenerArn",
        "ClusterName",
        "ExecutionRoleArn",
        "StateTableName",
        "ServiceWebSecurityGroup",
        "LoadBalancerSecurityGroup",
    ] {
        let out = t
            .outputs
            .get(o)
            .unwrap_or_else(|| panic!("output {o} missing"));
        assert_eq!(
            out.export.as_ref().map(|e| e["Name"].clone()),
            Some(Value::String(format!("pulse-test-baseline-{o}")))
        );
    }
    // What only wharf reads is an output without an export (an export per service would
    // grow the template and pin the value for every other stack).
    for o in [
        "ServiceWebRepositoryUri",
        "ServiceWebLogGroup",
        "ServiceWebTaskRoleArn",
    ] {
        let out = t
            .outputs
            .get(o)
            .unwrap_or_else(|| panic!("output {o} missing"));
        assert!(out.export.is_none(), "{o} is exported");
    }
}

#[test]
fn every_repository_shares_one_lifecycle_policy_written_once() {
    let t = stack("nat-2az-plain-http-test-baseline").template;
    let repos: Vec<_> = t.of_type("AWS::ECR::Repository").collect();
    assert!(repos.len() >= 3, "{}", repos.len());
    for (id, r) in repos {
        assert_eq!(
            r.properties["LifecyclePolicy"]["LifecyclePolicyText"],
            serde_json::json!({ "Fn::FindInMap": ["Ecr", "Lifecycle", "Text"] }),
            "{id}"
        );
    }
    let text = t.mappings["Ecr"]["Lifecycle"]["Text"]
        .as_str()
        .expect("the policy's text");
    assert!(
        text.contains("keep-") && text.contains("\"countNumber\":50"),
        "{text}"
    );
}

#[test]
fn optional_features_appear_only_when_asked_for() {
    let everything = stack("nat-per-az-3az-prod-everything-test-baseline").template;
    for ty in [
        "AWS::WAFv2::WebACL",
        "AWS::EC2::FlowLog",
        "AWS::SNS::Topic",
        "AWS::KMS::Key",
        "AWS::S3::Bucket",
    ] {
        assert!(everything.of_type(ty).next().is_some(), "{ty} missing");
    }
    let plain = stack("nat-2az-plain-http-test-baseline").template;
    for ty in [
        "AWS::WAFv2::WebACL",
        "AWS::EC2::FlowLog",
        "AWS::SNS::Topic",
        "AWS::KMS::Key",
        "AWS::S3::Bucket",
    ] {
        assert!(
            plain.of_type(ty).next().is_none(),
            "{ty} present without being asked for"
        );
    }
}

#[test]
fn repositories_keep_the_newest_images_and_every_image_a_present_deployment_runs() {
    for (name, keep) in [
        ("nat-per-az-3az-prod-everything-test-baseline", 10),
        ("nat-2az-plain-http-test-baseline", 50),
    ] {
        let t = stack(name).template;
        let repos: Vec<_> = t.of_type("AWS::ECR::Repository").collect();
        assert!(!repos.is_empty(), "{name}");
        for (id, r) in repos {
            let at = &r.properties["LifecyclePolicy"]["LifecyclePolicyText"]["Fn::FindInMap"];
            let text = t.mappings[at[0].as_str().unwrap_or_default()]
                [at[1].as_str().unwrap_or_default()][at[2].as_str().unwrap_or_default()]
            .as_str()
            .expect("policy text");
            let p: Value = serde_json::from_str(text).expect("JSON");
            let rules = p["rules"].as_array().expect("rules");
            assert_eq!(rules.len(), 2, "{name} {id}: {p}");
            // First, the images tagged keep-…: claimed by a rule no count reaches, so the
            // count rule after it cannot expire them.
            assert_eq!(rules[0]["rulePriority"], 1);
            assert_eq!(rules[0]["selection"]["tagStatus"], "tagged");
            assert_eq!(
                rules[0]["selection"]["tagPrefixList"],
                serde_json::json!([wharf_cfn::KEEP_TAG_PREFIX])
            );
            assert_eq!(rules[1]["rulePriority"], 2);
            assert_eq!(rules[1]["selection"]["tagStatus"], "any");
            assert_eq!(rules[1]["selection"]["countNumber"], keep, "{name} {id}");
        }
    }
}

#[test]
fn the_edge_stack_exists_only_with_edge_on_and_points_dns_at_cloudfront() {
    let stacks = all_stacks();
    let edges: Vec<&String> = stacks
        .iter()
        .filter(|(_, s)| s.kind == StackKind::Edge)
        .map(|(n, _)| n)
        .collect();
    assert_eq!(edges, ["nat-3az-edge-waf-prod-zone-id-test-edge"]);
    let base = stack("nat-3az-edge-waf-prod-zone-id-test-baseline").template;
    assert_eq!(
        base.resources["DomainRecord"].properties["Name"],
        "origin.pulse.example.com"
    );
    let edge = stack("nat-3az-edge-waf-prod-zone-id-test-edge").template;
    assert_eq!(
        edge.resources["EdgeRecord"].properties["Name"],
        "pulse.example.com"
    );
}

#[test]
fn data_stores_admit_only_their_services() {
    let t = stack("nat-per-az-3az-prod-everything-test-data").template;
    let sg = &t.resources["DbSecurityGroup"].properties;
    let ingress = sg["SecurityGroupIngress"].as_array().expect("rules");
    assert_eq!(ingress.len(), 1, "only web binds db");
    assert_eq!(ingress[0]["FromPort"], 5432);
    assert_eq!(
        ingress[0]["SourceSecurityGroupId"]["Fn::ImportValue"],
        "pulse-test-baseline-ServiceWebSecurityGroup"
    );
    let db = &t.resources["DbDatabase"];
    assert_eq!(db.properties["MultiAZ"], true, "prod is Multi-AZ");
    assert_eq!(db.properties["StorageEncrypted"], true);
    assert_eq!(db.properties["ManageMasterUserPassword"], true);
    assert_eq!(db.properties["BackupRetentionPeriod"], 7);
    assert_eq!(db.properties["EngineVersion"], "16.10");
    let cache = &t.resources["CacheCache"].properties;
    assert_eq!(
        (
            cache["TransitEncryptionEnabled"].clone(),
            cache["NumCacheClusters"].clone()
        ),
        (Value::Bool(true), Value::from(3))
    );
    let bucket = t.resources["UploadsBucketPolicy"].properties.to_string();
    assert!(
        bucket.contains("aws:SecureTransport"),
        "TLS-only bucket policy"
    );
}

#[test]
fn rendering_is_deterministic() {
    for case in cases() {
        let m = parse(&case);
        for env in m.environments.values().filter(|e| e.aws().is_some()) {
            let a = wharf_cfn::synthesize(&m, env).expect("aws");
            let b = wharf_cfn::synthesize(&m, env).expect("aws");
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(x.template.to_json(), y.template.to_json());
                assert_eq!(x.template.to_yaml(), y.template.to_yaml());
            }
        }
    }
}

#[test]
fn a_local_environment_has_no_stacks() {
    let m = parse(
        &cases()
            .into_iter()
            .find(|c| c.name == "hello-example")
            .expect("hello"),
    );
    let err = wharf_cfn::synthesize(&m, &m.environments["local"]).expect_err("local");
    assert!(err.to_string().contains("local environment"));
}

#[test]
fn bound_services_get_env_vars_from_outputs_that_exist() {
    let case = cases()
        .into_iter()
        .find(|c| c.name == "nat-per-az-3az-prod-everything")
        .expect("case");
    let m = parse(&case);
    let env = &m.environments["test"];
    let data = wharf_cfn::stack(&m, env, StackKind::Data).expect("data stack");
    let bindings = wharf_cfn::bindings::for_service(&m, env, "web");
    let names: Vec<&str> = bindings.iter().map(|b| b.name.as_str()).collect();
    for want in [
        "SESSIONS_TABLE",
        "DB_HOST",
        "DB_PASSWORD",
        "CACHE_AUTH_TOKEN",
        "UPLOADS_BUCKET",
        "CONFIG_PATH",
        "API_KEY",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for b in &bindings {
        match &b.source {
            wharf_cfn::bindings::Source::Output { stack, output }
            | wharf_cfn::bindings::Source::RdsMasterSecret {
                stack,
                instance_output: output,
                ..
            } => {
                assert_eq!(stack, "pulse-test-data");
                assert!(
                    data.template.outputs.contains_key(output),
                    "{b}: no output {output}"
                );
            }
            wharf_cfn::bindings::Source::Value { .. } => {}
        }
    }
    let secrets: Vec<&str> = bindings
        .iter()
        .filter(|b| b.secret)
        .map(|b| b.name.as_str())
        .collect();
    assert_eq!(
        secrets,
        ["DB_USER", "DB_PASSWORD", "CACHE_AUTH_TOKEN", "API_KEY"]
    );
    assert!(
        wharf_cfn::bindings::for_service(&m, env, "worker").is_empty(),
        "worker binds nothing"
    );
}

#[test]
fn each_job_gets_a_log_group_a_role_a_closed_security_group_and_its_grants() {
    let t = stack("reference-test-baseline").template;
    let has = |id: &str| t.resources.contains_key(id);
    // load-test is built from source: its own repository; migrate runs web's image: none.
    assert!(has("JobLoadTestRepository") && !has("JobMigrateRepository"));
    for job in ["LoadTest", "Migrate"] {
        for part in ["LogGroup", "TaskRole", "SecurityGroup"] {
            assert!(has(&format!("Job{job}{part}")), "Job{job}{part}");
        }
        let sg = &t.resources[&format!("Job{job}SecurityGroup")].properties;
        assert!(
            sg.get("SecurityGroupIngress").is_none(),
            "nothing reaches a job"
        );
        assert!(
            !t.resources
                .values()
                .any(|r| r.ty == "AWS::EC2::SecurityGroupIngress"
                    && r.properties["GroupId"]
                        .to_string()
                        .contains(&format!("Job{job}SecurityGroup"))),
            "no ingress rule names the job's group"
        );
        for out in ["LogGroup", "TaskRoleArn", "SecurityGroup"] {
            assert!(
                t.outputs.contains_key(&format!("Job{job}{out}")),
                "output Job{job}{out}"
            );
        }
    }
    assert!(t.outputs.contains_key("JobLoadTestRepositoryUri"));
    // The execution role pulls the job's image and writes its logs, nothing more.
    let exec = t.resources["ExecutionRole"].properties.to_string();
    assert!(exec.contains("JobLoadTestRepository") && !exec.contains("JobMigrateRepository"));
    assert!(exec.contains("JobLoadTestLogGroup") && exec.contains("JobMigrateLogGroup"));
    // The job's own parameter, read by its role.
    let role = t.resources["JobLoadTestTaskRole"].properties.to_string();
    assert!(
        role.contains("parameter/dynamodb-load-test/table-name"),
        "{role}"
    );

    // The data stack grants the jobs what they bind, and admits them to the database.
    let d = stack("reference-test-data").template;
    let grants: String = d
        .resources
        .values()
        .filter(|r| r.ty == "AWS::IAM::Policy")
        .map(|r| r.properties["Roles"].to_string())
        .collect();
    assert!(grants.contains("pulse-test-load-test-task"), "{grants}");
    assert!(grants.contains("pulse-test-migrate-task"), "{grants}");
    let db = d.resources["DbSecurityGroup"].properties["SecurityGroupIngress"].to_string();
    assert!(
        db.contains("pulse-test-baseline-JobMigrateSecurityGroup"),
        "{db}"
    );
}

#[test]
fn a_scheduled_job_gets_a_scheduler_role_allowed_to_run_its_family_and_pass_its_roles_only() {
    let t = stack("reference-test-baseline").template;
    // load-test has a schedule, migrate does not.
    assert!(t.resources.contains_key("JobLoadTestScheduleRole"));
    assert!(!t.resources.contains_key("JobMigrateScheduleRole"));
    assert!(t.outputs.contains_key("JobLoadTestScheduleRoleArn"));
    let role = &t.resources["JobLoadTestScheduleRole"].properties;
    let trust = role["AssumeRolePolicyDocument"].to_string();
    assert!(
        trust.contains("scheduler.amazonaws.com") && trust.contains("aws:SourceAccount"),
        "{trust}"
    );
    let found: Vec<_> = wharf_cfn::iam::statements(&t)
        .into_iter()
        .filter(|s| {
            s.resource == "JobLoadTestScheduleRole" && s.statement.get("Principal").is_none()
        })
        .collect();
    let actions: Vec<String> = found.iter().flat_map(|s| s.actions()).collect();
    assert_eq!(actions, ["ecs:RunTask", "ecs:TagResource", "iam:PassRole"]);
    for s in &found {
        let text = s.statement.to_string();
        match s.actions()[0].as_str() {
            "ecs:RunTask" => assert!(
                text.contains("task-definition/pulse-test-load-test:*")
                    && text.contains("ecs:cluster"),
                "only the job's family, in the environment's cluster: {text}"
            ),
            "iam:PassRole" => assert!(
                text.contains("JobLoadTestTaskRole")
                    && text.contains("ExecutionRole")
                    && text.contains("iam:PassedToService")
                    && !text.contains("JobMigrateTaskRole"),
                "the job's two roles, to ECS tasks only: {text}"
            ),
            _ => assert!(text.contains("task/pulse-test/*"), "{text}"),
        }
    }
}

#[test]
fn the_dashboard_shows_every_deployment_by_searching_its_metrics() {
    let t = stack("nat-2az-plain-http-test-baseline").template;
    let dashboards: Vec<_> = t.of_type("AWS::CloudWatch::Dashboard").collect();
    assert_eq!(dashboards.len(), 1);
    let (_, d) = dashboards[0];
    assert_eq!(d.properties["DashboardName"], "pulse-test");
    let sub = &d.properties["DashboardBody"]["Fn::Sub"];
    let body: serde_json::Value =
        serde_json::from_str(sub[0].as_str().expect("a body")).expect("the body is JSON");
    let text = body.to_string();
    for want in [
        "RequestCount",
        "HTTPCode_Target_5XX_Count",
        "TargetResponseTime",
        "MetricName=\\\"HealthyHostCount\\\"",
        "MetricName=\\\"CPUUtilization\\\"",
        "MetricName=\\\"MemoryUtilization\\\"",
    ] {
        assert!(text.contains(want), "{want} in {text}");
    }
    assert_eq!(body["widgets"].as_array().map(Vec::len), Some(6));
    assert_eq!(sub[1]["Lb"]["Fn::GetAtt"][1], "LoadBalancerFullName");
}
