//! `wharf recover` and `wharf up` on stacks in states the moto server cannot reach, driven by
//! recorded AWS responses (shaped as the CloudFormation and STS API references document them)
//! replayed into the real SDK client: every recovery `wharf recover` makes — ROLLBACK_COMPLETE
//! and ROLLBACK_FAILED deleted, UPDATE_ROLLBACK_FAILED continued, DELETE_FAILED deleted again
//! retaining its blockers, an update stuck past an hour cancelled.

use wharf_testkit::{Replay, TestDir};

use crate::aws::{aws_wharf, MANIFEST};
use crate::no_panic;

const CFN: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";

fn identity(r: &Replay) {
    r.xml(
        "GetCallerIdentity",
        200,
        r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:iam::123456789012:user/deploy</Arn>
    <UserId>AIDASAMPLEUSERID</UserId>
    <Account>123456789012</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>"#,
    );
}

fn stack_in(status: &str, reason: &str) -> String {
    format!(
        r#"<DescribeStacksResponse xmlns="{CFN}">
  <DescribeStacksResult>
    <Stacks>
      <member>
        <StackName>pulse-test-baseline</StackName>
        <StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/pulse-test-baseline/5b3c2a10-c9a7-11f0-9d1e-0a1b2c3d4e5f</StackId>
        <CreationTime>2026-11-20T10:00:00.000Z</CreationTime>
        <LastUpdatedTime>2026-11-23T09:00:00.000Z</LastUpdatedTime>
        <StackStatus>{status}</StackStatus>
        <StackStatusReason>{reason}</StackStatusReason>
        <DisableRollback>false</DisableRollback>
      </member>
    </Stacks>
  </DescribeStacksResult>
  <ResponseMetadata><RequestId>b9b4b068-3a41-11e5-94eb-example</RequestId></ResponseMetadata>
</DescribeStacksResponse>"#
    )
}

fn missing_stack() -> String {
    format!(
        r#"<ErrorResponse xmlns="{CFN}">
  <Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id pulse-test-baseline does not exist</Message></Error>
  <RequestId>5ccc7dcd-744c-11e5-be70-example</RequestId>
</ErrorResponse>"#
    )
}

fn empty(op: &str) -> String {
    format!(
        r#"<{op}Response xmlns="{CFN}"><ResponseMetadata><RequestId>5ccc7dcd-744c-11e5-be70-example</RequestId></ResponseMetadata></{op}Response>"#
    )
}

/// CreateChangeSet's answer for change set `wharf-1` of the baseline.
fn change_set_created() -> String {
    format!(
        r#"<CreateChangeSetResponse xmlns="{CFN}"><CreateChangeSetResult><Id>arn:aws:cloudformation:us-east-1:123456789012:changeSet/wharf-1/1a2b</Id><StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/pulse-test-baseline/5b3c2a10</StackId></CreateChangeSetResult><ResponseMetadata><RequestId>c1</RequestId></ResponseMetadata></CreateChangeSetResponse>"#
    )
}

/// DescribeChangeSet's answer: change set `wharf-1` ready, with `changes` (its members).
fn change_set(changes: &str) -> String {
    format!(
        r#"<DescribeChangeSetResponse xmlns="{CFN}"><DescribeChangeSetResult><ChangeSetName>wharf-1</ChangeSetName><StackName>pulse-test-baseline</StackName><Status>CREATE_COMPLETE</Status><ExecutionStatus>AVAILABLE</ExecutionStatus><Changes>{changes}</Changes></DescribeChangeSetResult><ResponseMetadata><RequestId>d1</RequestId></ResponseMetadata></DescribeChangeSetResponse>"#
    )
}

fn no_events() -> String {
    format!(
        r#"<DescribeStackEventsResponse xmlns="{CFN}"><DescribeStackEventsResult><StackEvents/></DescribeStackEventsResult><ResponseMetadata><RequestId>e1</RequestId></ResponseMetadata></DescribeStackEventsResponse>"#
    )
}

const BLOCKER_REASON: &str = "Resource handler returned message: \"User: arn:aws:sts::123456789012:assumed-role/deploy/wharf is not authorized to perform: ecr:SetRepositoryPolicy on resource: arn:aws:ecr:us-east-1:123456789012:repository/pulse/web\" (Service: Ecr, Status Code: 400)";

fn resources() -> String {
    format!(
        r#"<DescribeStackResourcesResponse xmlns="{CFN}">
  <DescribeStackResourcesResult>
    <StackResources>
      <member>
        <StackName>pulse-test-baseline</StackName>
        <StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/pulse-test-baseline/5b3c2a10</StackId>
        <LogicalResourceId>Vpc</LogicalResourceId>
        <PhysicalResourceId>vpc-0a1b2c3d</PhysicalResourceId>
        <ResourceType>AWS::EC2::VPC</ResourceType>
        <Timestamp>2026-11-23T09:01:00.000Z</Timestamp>
        <ResourceStatus>UPDATE_COMPLETE</ResourceStatus>
      </member>
      <member>
        <StackName>pulse-test-baseline</StackName>
        <StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/pulse-test-baseline/5b3c2a10</StackId>
        <LogicalResourceId>ServiceWebRepository</LogicalResourceId>
        <PhysicalResourceId>pulse/web</PhysicalResourceId>
        <ResourceType>AWS::ECR::Repository</ResourceType>
        <Timestamp>2026-11-23T09:02:00.000Z</Timestamp>
        <ResourceStatus>UPDATE_FAILED</ResourceStatus>
        <ResourceStatusReason>{}</ResourceStatusReason>
      </member>
    </StackResources>
  </DescribeStackResourcesResult>
  <ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata>
</DescribeStackResourcesResponse>"#,
        BLOCKER_REASON.replace('"', "&quot;")
    )
}

#[test]
fn update_rollback_failed_blocks_up_and_recover_continues_the_rollback_skipping_the_blocker() {
    let r = Replay::start();
    identity(&r);
    let failed = stack_in(
        "UPDATE_ROLLBACK_FAILED",
        "The following resource(s) failed to update: [ServiceWebRepository].",
    );
    // up, recover without --yes, recover's plan, then the rollback's end.
    for _ in 0..3 {
        r.xml("DescribeStacks", 200, &failed);
    }
    r.xml(
        "DescribeStacks",
        200,
        stack_in("UPDATE_ROLLBACK_COMPLETE", "rolled back"),
    );
    r.xml("DescribeStackResources", 200, resources());
    r.xml(
        "ContinueUpdateRollback",
        200,
        empty("ContinueUpdateRollback"),
    );
    r.xml("DescribeStackEvents", 200, no_events());
    let dir = TestDir::new();
    dir.write("wharf.toml", MANIFEST);

    let out = aws_wharf(&dir, &r.endpoint())
        .arg("up")
        .run()
        .code(8)
        .contains("UPDATE_ROLLBACK_FAILED")
        .contains("wharf recover");
    no_panic(&out);
    assert!(!r.operations().iter().any(|o| o == "CreateChangeSet"));

    // It asks first: no terminal, no --yes, nothing done.
    aws_wharf(&dir, &r.endpoint())
        .arg("recover")
        .run()
        .code(1)
        .contains("not confirmed")
        .contains("ServiceWebRepository")
        .contains("not authorized to perform: ecr:SetRepositoryPolicy");
    assert!(!r.operations().iter().any(|o| o == "ContinueUpdateRollback"));

    let out = aws_wharf(&dir, &r.endpoint())
        .args(["recover", "--yes"])
        .run()
        .success();
    no_panic(&out);
    assert!(out.stdout.contains("skipping"), "{out}");
    assert!(out.stdout.contains("missing permission"), "{out}");
    assert!(
        out.stdout.contains("recovered: pulse-test-baseline"),
        "{out}"
    );
    let sent = r
        .log()
        .into_iter()
        .find(|q| q.operation == "ContinueUpdateRollback")
        .expect("ContinueUpdateRollback sent");
    assert!(
        sent.body
            .contains("ResourcesToSkip.member.1=ServiceWebRepository"),
        "{}",
        sent.body
    );
    assert!(sent.body.contains("StackName=pulse-test-baseline"));
}

#[test]
fn rollback_complete_is_deleted_so_up_can_create_it_again() {
    let r = Replay::start();
    identity(&r);
    let rolled_back = stack_in(
        "ROLLBACK_COMPLETE",
        "The following resource(s) failed to create: [Listener].",
    );
    r.xml("DescribeStacks", 200, &rolled_back);
    r.xml("DescribeStacks", 200, &rolled_back);
    r.xml("DescribeStacks", 400, missing_stack());
    r.xml("DeleteStack", 200, empty("DeleteStack"));
    r.xml("DescribeStackEvents", 400, missing_stack());
    let dir = TestDir::new();
    dir.write("wharf.toml", MANIFEST);
    let out = aws_wharf(&dir, &r.endpoint())
        .args(["recover", "--yes", "--output", "json"])
        .run()
        .success();
    no_panic(&out);
    let v = out.json();
    assert_eq!(v["plans"][0]["action"], "delete_and_recreate");
    assert_eq!(v["deleted"][0], "pulse-test-baseline");
    let ops = r.operations();
    let delete = ops
        .iter()
        .position(|o| o == "DeleteStack")
        .expect("deleted");
    assert!(
        ops[delete + 1..].iter().any(|o| o == "DescribeStacks"),
        "waited for the deletion: {ops:?}"
    );
}

#[test]
fn a_stack_left_in_review_by_an_interrupted_preview_is_created_not_waited_on() {
    let r = Replay::start();
    identity(&r);
    r.xml(
        "DescribeStacks",
        200,
        stack_in("REVIEW_IN_PROGRESS", "User Initiated"),
    );
    r.xml(
        "DescribeStacks",
        200,
        stack_in("CREATE_COMPLETE", "created"),
    );
    r.xml("CreateChangeSet", 200, change_set_created());
    r.xml(
        "DescribeChangeSet",
        200,
        change_set(r#"<member><Type>Resource</Type><ResourceChange><Action>Add</Action><LogicalResourceId>Vpc</LogicalResourceId><ResourceType>AWS::EC2::VPC</ResourceType></ResourceChange></member>"#),
    );
    r.xml("ExecuteChangeSet", 200, empty("ExecuteChangeSet"));
    r.xml("DescribeStackEvents", 200, no_events());
    let dir = TestDir::new();
    dir.write("wharf.toml", MANIFEST);
    let out = aws_wharf(&dir, &r.endpoint())
        .args(["up", "--output", "json"])
        .run()
        .success();
    no_panic(&out);
    assert_eq!(out.json()["stacks"][0]["applied"], "created");
    let sent = r
        .log()
        .into_iter()
        .find(|q| q.operation == "CreateChangeSet")
        .expect("a change set");
    assert!(sent.body.contains("ChangeSetType=CREATE"), "{}", sent.body);
}

#[test]
fn rollback_failed_is_deleted_so_up_can_create_it_again() {
    let r = Replay::start();
    identity(&r);
    let failed = stack_in(
        "ROLLBACK_FAILED",
        "The following resource(s) failed to delete: [Vpc].",
    );
    // recover's plan, the deletion's own look, then the deletion's end.
    r.xml("DescribeStacks", 200, &failed);
    r.xml("DescribeStacks", 200, &failed);
    r.xml("DescribeStacks", 400, missing_stack());
    r.xml("DeleteStack", 200, empty("DeleteStack"));
    r.xml("DescribeStackEvents", 400, missing_stack());
    let dir = TestDir::new();
    dir.write("wharf.toml", MANIFEST);
    let out = aws_wharf(&dir, &r.endpoint())
        .args(["recover", "--yes", "--output", "json"])
        .run()
        .success();
    no_panic(&out);
    let v = out.json();
    assert_eq!(v["plans"][0]["status"], "ROLLBACK_FAILED", "{v}");
    assert_eq!(v["plans"][0]["action"], "delete_and_recreate", "{v}");
    assert_eq!(v["deleted"][0], "pulse-test-baseline", "{v}");
    let sent = r
        .log()
        .into_iter()
        .find(|q| q.operation == "DeleteStack")
        .expect("DeleteStack sent");
    assert!(
        sent.body.contains("StackName=pulse-test-baseline")
            && !sent.body.contains("RetainResources"),
        "{}",
        sent.body
    );
}

const DEPENDENT: &str = "resource sg-0a1b2c3d4e5f60718 has a dependent object (Service: Ec2, Status Code: 400, Request ID: 8e1a0d6c)";

fn delete_failed_resources() -> String {
    format!(
        r#"<DescribeStackResourcesResponse xmlns="{CFN}">
  <DescribeStackResourcesResult>
    <StackResources>
      <member>
        <StackName>pulse-test-baseline</StackName>
        <StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/pulse-test-baseline/5b3c2a10</StackId>
        <LogicalResourceId>Cluster</LogicalResourceId>
        <PhysicalResourceId>pulse-test</PhysicalResourceId>
        <ResourceType>AWS::ECS::Cluster</ResourceType>
        <Timestamp>2026-11-23T09:01:00.000Z</Timestamp>
        <ResourceStatus>DELETE_COMPLETE</ResourceStatus>
      </member>
      <member>
        <StackName>pulse-test-baseline</StackName>
        <StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/pulse-test-baseline/5b3c2a10</StackId>
        <LogicalResourceId>ServiceWebSecurityGroup</LogicalResourceId>
        <PhysicalResourceId>sg-0a1b2c3d4e5f60718</PhysicalResourceId>
        <ResourceType>AWS::EC2::SecurityGroup</ResourceType>
        <Timestamp>2026-11-23T09:02:00.000Z</Timestamp>
        <ResourceStatus>DELETE_FAILED</ResourceStatus>
        <ResourceStatusReason>{DEPENDENT}</ResourceStatusReason>
      </member>
    </StackResources>
  </DescribeStackResourcesResult>
  <ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata>
</DescribeStackResourcesResponse>"#
    )
}

#[test]
fn delete_failed_is_deleted_again_retaining_what_blocked_it() {
    let r = Replay::start();
    identity(&r);
    let failed = stack_in(
        "DELETE_FAILED",
        "The following resource(s) failed to delete: [ServiceWebSecurityGroup].",
    );
    r.xml("DescribeStacks", 200, &failed);
    r.xml("DescribeStacks", 200, &failed);
    r.xml("DescribeStacks", 400, missing_stack());
    r.xml("DescribeStackResources", 200, delete_failed_resources());
    r.xml("DeleteStack", 200, empty("DeleteStack"));
    r.xml("DescribeStackEvents", 400, missing_stack());
    let dir = TestDir::new();
    dir.write("wharf.toml", MANIFEST);
    let out = aws_wharf(&dir, &r.endpoint())
        .args(["recover", "--yes"])
        .run()
        .success();
    no_panic(&out);
    for want in [
        "pulse-test-baseline is DELETE_FAILED",
        "delete it again",
        "retaining (left in the account, delete them yourself)",
        "ServiceWebSecurityGroup (AWS::EC2::SecurityGroup): resource sg-0a1b2c3d4e5f60718 has a dependent object",
    ] {
        assert!(out.stdout.contains(want), "{want}: {out}");
    }
    assert!(
        !out.stdout.contains("Cluster (AWS::ECS::Cluster)"),
        "only the blocker is retained: {out}"
    );
    let sent = r
        .log()
        .into_iter()
        .find(|q| q.operation == "DeleteStack")
        .expect("DeleteStack sent");
    assert!(
        sent.body
            .contains("RetainResources.member.1=ServiceWebSecurityGroup")
            && !sent.body.contains("RetainResources.member.2"),
        "{}",
        sent.body
    );
}

#[test]
fn an_update_running_past_an_hour_is_cancelled_and_rolled_back() {
    let r = Replay::start();
    identity(&r);
    // Last changed 2026-11-23T09:00: days ago, far past the hour an update may take.
    r.xml(
        "DescribeStacks",
        200,
        stack_in("UPDATE_IN_PROGRESS", "User Initiated"),
    );
    r.xml("CancelUpdateStack", 200, empty("CancelUpdateStack"));
    r.xml("DescribeStackEvents", 200, no_events());
    let dir = TestDir::new();
    dir.write("wharf.toml", MANIFEST);

    // Without --yes it only says what it would do.
    aws_wharf(&dir, &r.endpoint())
        .arg("recover")
        .run()
        .code(1)
        .contains("cancel the update, which has run")
        .contains("not confirmed");
    assert!(!r.operations().iter().any(|o| o == "CancelUpdateStack"));

    // The plan's look, then the rollback the cancel starts, ending.
    r.clear("DescribeStacks");
    r.xml(
        "DescribeStacks",
        200,
        stack_in("UPDATE_IN_PROGRESS", "User Initiated"),
    );
    r.xml(
        "DescribeStacks",
        200,
        stack_in("UPDATE_ROLLBACK_COMPLETE", "cancelled"),
    );
    let out = aws_wharf(&dir, &r.endpoint())
        .args(["recover", "--yes", "--output", "json"])
        .run()
        .success();
    no_panic(&out);
    let v = out.json();
    assert_eq!(v["plans"][0]["action"], "cancel_update", "{v}");
    assert!(
        v["plans"][0]["running_s"]
            .as_u64()
            .is_some_and(|s| s > 3600),
        "{v}"
    );
    assert_eq!(v["recovered"][0], "pulse-test-baseline", "{v}");
    let sent = r
        .log()
        .into_iter()
        .find(|q| q.operation == "CancelUpdateStack")
        .expect("CancelUpdateStack sent");
    assert!(
        sent.body.contains("StackName=pulse-test-baseline"),
        "{}",
        sent.body
    );
}

#[test]
fn up_refuses_a_change_that_would_replace_a_database_unless_allowed() {
    let r = Replay::start();
    identity(&r);
    r.xml(
        "DescribeStacks",
        200,
        stack_in("UPDATE_COMPLETE", "updated"),
    );
    r.xml("CreateChangeSet", 200, change_set_created());
    r.xml(
        "DescribeChangeSet",
        200,
        change_set(r#"<member><Type>Resource</Type><ResourceChange><Action>Modify</Action><LogicalResourceId>DbInstance</LogicalResourceId><PhysicalResourceId>pulse-test-db</PhysicalResourceId><ResourceType>AWS::RDS::DBInstance</ResourceType><Replacement>True</Replacement></ResourceChange></member><member><Type>Resource</Type><ResourceChange><Action>Modify</Action><LogicalResourceId>DbSecurityGroup</LogicalResourceId><ResourceType>AWS::EC2::SecurityGroup</ResourceType><Replacement>False</Replacement></ResourceChange></member>"#),
    );
    r.xml("DeleteChangeSet", 200, empty("DeleteChangeSet"));
    r.xml("ExecuteChangeSet", 200, empty("ExecuteChangeSet"));
    r.xml("DescribeStackEvents", 200, no_events());
    let dir = TestDir::new();
    dir.write("wharf.toml", MANIFEST);
    let out = aws_wharf(&dir, &r.endpoint()).args(["up"]).run().code(8);
    no_panic(&out);
    assert!(
        out.stderr
            .contains("would replace DbInstance (AWS::RDS::DBInstance)")
            && out.stderr.contains("--allow-replace")
            && !out.stderr.contains("DbSecurityGroup"),
        "{out}"
    );
    let ops = r.operations();
    assert!(!ops.iter().any(|o| o == "ExecuteChangeSet"), "{ops:?}");
    assert!(
        ops.iter().any(|o| o == "DeleteChangeSet"),
        "the change set is discarded: {ops:?}"
    );

    // Asked for, it goes ahead.
    let out = aws_wharf(&dir, &r.endpoint())
        .args(["up", "--allow-replace"])
        .run()
        .success();
    no_panic(&out);
    assert!(r.operations().iter().any(|o| o == "ExecuteChangeSet"));
}
