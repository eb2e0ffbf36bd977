//! Every IAM policy of every template, walked statement by statement: no wildcard in any
//! action it allows (a Deny covers everything: the TLS-only bucket rule denies `s3:*`), and a
//! `*` resource only where AWS offers nothing narrower.

use crate::matrix::all_stacks;

/// Where `"Resource": "*"` is the only thing AWS accepts:
/// - `ecr:GetAuthorizationToken` has no resource-level permissions;
/// - nor have the Session Manager channels ECS Exec opens (`ssmmessages:*Channel`);
/// - in a KMS key policy, `*` means "this key" (a key policy cannot name its own ARN).
fn star_resource_allowed(stmt: &wharf_cfn::iam::FoundStatement, resource_type: &str) -> bool {
    let actions = stmt.actions();
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
