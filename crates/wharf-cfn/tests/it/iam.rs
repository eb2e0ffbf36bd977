//! Every IAM policy of every template, walked statement by statement: no wildcard in any
//! action it allows (a Deny covers everything: the TLS-only bucket rule denies `s3:*`), and a
//! `*` resource only where AWS offers nothing narrower.

use crate::matrix::all_stacks;

/// Where `"Resource": "*"` is the only thing AWS accepts:
/// - `ecr:GetAuthorizationToken` has no resource-level permissions;
/// - nor have the Session Manager channels ECS Exec opens (`ssmmessages:*Channel`);
/// - in a KMS key policy, `*` means "this key" (a key policy cannot name its own ARN);
/// - the deploy role's reads and registrations AWS authorizes only on `*`, in its region only,
///   and the ECS listings limited to the environment's cluster by condition.
fn star_resource_allowed(stmt: &wharf_cfn::iam::FoundStatement, resource_type: &str) -> bool {
    let actions = stmt.actions();
    let unscoped = wharf_cfn::deploy_role::UNSCOPED_ACTIONS;
    let cond = &stmt.statement["Condition"];
    if stmt.resource == "DeployRole" {
        return (actions.iter().all(|a| unscoped.contains(&a.as_str()))
            && cond["StringEquals"]["aws:RequestedRegion"].is_string())
            || (actions == ["ecs:ListServices", "ecs:ListTasks"]
                && cond["ArnEquals"]["ecs:cluster"].is_object());
    }
    let channels = !actions.is_empty()
        && actions
            .iter()
            .all(|a| a.starts_with("ssmmessages:") && a.ends_with("Channel"));
    (actions == ["ecr:GetAuthorizationToken"]) || channels || resource_type == "AWS::KMS::Key"
}

#[test]
fn no_wildcard_actions_and_star_resources_only_where_aws_requires() {
    let mut checked = 0;
    for (name, stack) in all_stacks() {
        for stmt in wharf_cfn::iam::statements(&stack.template) {
            let ty = &stack.template.resources[&stmt.resource].ty;
            let deny = stmt.statement["Effect"] == "Deny";
            if deny && stmt.statement["Sid"] == "DenyInsecureTransport" {
                assert_eq!(
                    stmt.actions(),
                    ["s3:*"],
                    "{name}: {} lets some S3 call through without TLS",
                    stmt.resource
                );
            }
            for a in stmt.actions().into_iter().filter(|_| !deny) {
                assert!(
                    !a.contains('*'),
                    "{name}: {} grants wildcard action {a}",
                    stmt.resource
                );
            }
            if stmt.statement.get("Principal").is_some() && stmt.statement.get("Resource").is_none()
            {
                continue; // a trust policy: who may assume the role
            }
            for r in stmt.resources() {
                if r == "*" {
                    assert!(
                        star_resource_allowed(&stmt, ty),
                        "{name}: {} ({ty}) grants {:?} on *",
                        stmt.resource,
                        stmt.actions()
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "walked only {checked} statements");
}

#[test]
fn task_roles_get_only_the_data_their_service_binds() {
    let stacks = all_stacks();
    let (_, data) = stacks
        .iter()
        .find(|(n, _)| n == "nat-per-az-3az-prod-everything-test-data")
        .expect("data stack");
    for (id, r) in data.template.of_type("AWS::IAM::Policy") {
        let roles = r.properties["Roles"].as_array().expect("roles");
        for role in roles {
            let role = role.as_str().expect("a role name");
            assert!(
                role == "pulse-test-web-task" || role == "pulse-test-execution",
                "{id} grants to {role}, but only web binds data"
            );
        }
    }
}

#[test]
fn the_execution_role_reads_exactly_the_referenced_secrets() {
    let stacks = all_stacks();
    let (_, base) = stacks
        .iter()
        .find(|(n, _)| n == "nat-2az-plain-http-test-baseline")
        .expect("baseline");
    let role = &base.template.resources["ExecutionRole"];
    let text = role.properties.to_string();
    assert!(
        text.contains("parameter/pulse/db-url") && text.contains("parameter/pulse/drain"),
        "{text}"
    );
    assert!(text.contains("secret:pulse/stripe-??????"), "{text}");
    assert!(!text.contains("secretsmanager:*") && !text.contains("ssm:*"));
}

/// The deploy role GitHub Actions assumes: trusted only by the repository's branch (first
/// environment) or its GitHub environment (later ones) with GitHub's audience; every statement
/// names this environment's resources (or is the region-bound `*` read), no action is a
/// wildcard, and no IAM, CloudFormation or data-plane write beyond what deploys do.
#[test]
fn the_deploy_role_is_trusted_by_the_repository_and_scoped_to_the_environment() {
    let case = crate::matrix::cases()
        .into_iter()
        .find(|c| c.name == "reference")
        .expect("reference");
    let m = crate::matrix::parse(&case);
    for (env, sub) in [
        ("test", "repo:acme/pulse:ref:refs/heads/main"),
        ("prod", "repo:acme/pulse:environment:prod"),
    ] {
        let stack = wharf_cfn::stack(&m, &m.environments[env], wharf_cfn::StackKind::Baseline)
            .expect("baseline");
        let role = &stack.template.resources["DeployRole"];
        let p = &role.properties;
        assert_eq!(p["RoleName"], format!("pulse-{env}-deploy"));
        let trust = &p["AssumeRolePolicyDocument"]["Statement"];
        assert_eq!(trust.as_array().map(Vec::len), Some(1));
        let t = &trust[0];
        assert_eq!(
            t["Action"],
            serde_json::json!(["sts:AssumeRoleWithWebIdentity"])
        );
        assert!(
            t["Principal"]["Federated"]
                .to_string()
                .contains("oidc-provider/token.actions.githubusercontent.com"),
            "{t}"
        );
        let eq = &t["Condition"]["StringEquals"];
        assert_eq!(
            eq["token.actions.githubusercontent.com:aud"],
            "sts.amazonaws.com"
        );
        assert_eq!(eq["token.actions.githubusercontent.com:sub"], sub, "{env}");
        let statements = p["Policies"][0]["PolicyDocument"]["Statement"]
            .as_array()
            .expect("statements")
            .clone();
        let e = &m.environments[env];
        let referenced: Vec<String> = e
            .services
            .values()
            .flat_map(|s| s.secrets.values().chain(s.deploy.drain.secret.iter()))
            .chain(e.jobs.values().flat_map(|j| j.secrets.values()))
            .chain(m.notify.iter().flat_map(|n| n.webhook.iter()))
            .map(|r| match r {
                wharf_manifest::SecretRef::Ssm { path } => format!("parameter{path}\""),
                wharf_manifest::SecretRef::SecretsManager { name, .. } => {
                    format!("secret:{name}-??????")
                }
            })
            .collect();
        assert!(statements.len() >= 15);
        for s in &statements {
            let sid = s["Sid"].as_str().unwrap_or_default();
            assert_eq!(s["Effect"], "Allow");
            let actions: Vec<&str> = s["Action"]
                .as_array()
                .expect("actions")
                .iter()
                .filter_map(|a| a.as_str())
                .collect();
            for a in &actions {
                assert!(!a.contains('*'), "{env} {sid}: wildcard action {a}");
                assert!(
                    !a.starts_with("cloudformation:")
                        || a.starts_with("cloudformation:Describe")
                        || a.starts_with("cloudformation:List"),
                    "{sid}: deploys never change stacks: {a}"
                );
                assert!(
                    !a.starts_with("iam:")
                        || ["iam:PassRole", "iam:GetRole", "iam:SimulatePrincipalPolicy"]
                            .contains(a),
                    "{sid}: {a}"
                );
                assert!(
                    !a.starts_with("s3:"),
                    "{sid}: deploys never touch buckets: {a}"
                );
            }
            for r in s["Resource"].as_array().expect("resources") {
                let text = r.to_string();
                let scoped = text.contains(&format!("pulse-{env}"))
                    || text.contains(&format!("pulse/{env}"))
                    || text.contains(&format!("-{env}-"))
                    || text.contains("scalable-target/")
                    || text.contains("secret:pulse/")
                    || text.contains("parameter/pulse/")
                    || text.contains(":key/")
                    || text.contains("LogKey")
                    || text.contains(":deploys");
                if sid.starts_with("ReadReferenced") {
                    assert!(
                        referenced.iter().any(|x| text.contains(x.as_str())),
                        "{env} {sid}: {text} is not referenced"
                    );
                } else if r == "*" {
                    assert!(
                        ["ReadWithoutResourceLevelPermissions", "ListInOwnCluster"].contains(&sid),
                        "{env} {sid}: * resource"
                    );
                    assert!(s["Condition"].is_object(), "{sid}: * only with a condition");
                } else {
                    assert!(scoped, "{env} {sid}: {text} is not this environment's");
                }
            }
        }
        if env == "prod" {
            assert!(
                statements
                    .iter()
                    .any(|s| s["Sid"] == "UseEnvironmentKeyThroughServices"),
                "prod has kms"
            );
        }
        let outputs = &stack.template.outputs;
        assert!(outputs.contains_key("DeployRoleArn"));
    }
    let plain = crate::matrix::cases()
        .into_iter()
        .find(|c| c.name == "nat-2az-plain-http")
        .expect("case");
    let m = crate::matrix::parse(&plain);
    let stack = wharf_cfn::stack(&m, &m.environments["test"], wharf_cfn::StackKind::Baseline)
        .expect("baseline");
    assert!(
        !stack.template.resources.contains_key("DeployRole"),
        "no [ci.github], no deploy role"
    );
}
