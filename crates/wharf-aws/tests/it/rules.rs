//! A listener rule whose CreateRule answer was lost: the rule was made, the retry is refused
//! with PriorityInUse (ELBv2's error, shaped as its API reference documents it). wharf reads
//! the listener's rules again and modifies the one at that priority instead of failing or
//! creating another.

use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, RuleCondition};
use wharf_aws::ecs::lb;
use wharf_testkit::Replay;

const NS: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";
const LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/pulse-test/50dc6c495c0c9188/f2f7dc8efc522ab2";
const RULE: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/pulse-test/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee";
const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-test-20261123-180000Z/73e2d6bc24d8a067";

/// CreateRule refused: the priority is taken.
fn priority_in_use(replay: &Replay) {
    replay.xml(
        "CreateRule",
        400,
        format!(r#"<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type><Code>PriorityInUse</Code><Message>Priority '199' is currently in use</Message></Error><RequestId>a1</RequestId></ErrorResponse>"#),
    );
}

fn forward() -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(TG)
        .build()
}

async fn elb(replay: &Replay) -> aws_sdk_elasticloadbalancingv2::Client {
    aws_sdk_elasticloadbalancingv2::Client::new(&crate::common::replayed(replay).await)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rule_created_before_its_answer_was_lost_is_modified_not_created_again() {
    let replay = Replay::start();
    priority_in_use(&replay);
    replay.xml(
        "DescribeRules",
        200,
        format!(r#"<DescribeRulesResponse xmlns="{NS}"><DescribeRulesResult><Rules><member><RuleArn>{RULE}</RuleArn><Priority>199</Priority><IsDefault>false</IsDefault><Conditions><member><Field>path-pattern</Field><Values><member>/*</member></Values></member></Conditions><Actions><member><Type>forward</Type><TargetGroupArn>{TG}</TargetGroupArn></member></Actions></member><member><RuleArn>{RULE}-default</RuleArn><Priority>default</Priority><IsDefault>true</IsDefault><Conditions/><Actions/></member></Rules></DescribeRulesResult><ResponseMetadata><RequestId>a2</RequestId></ResponseMetadata></DescribeRulesResponse>"#),
    );
    replay.xml(
        "ModifyRule",
        200,
        format!(r#"<ModifyRuleResponse xmlns="{NS}"><ModifyRuleResult><Rules><member><RuleArn>{RULE}</RuleArn><Priority>199</Priority></member></Rules></ModifyRuleResult><ResponseMetadata><RequestId>a3</RequestId></ResponseMetadata></ModifyRuleResponse>"#),
    );
    let client = elb(&replay).await;
    let conditions = vec![RuleCondition::builder()
        .field("path-pattern")
        .values("/*")
        .build()];
    let action = forward();
    let arn = lb::put_rule(
        &client,
        LISTENER,
        &[],
        199,
        conditions,
        action,
        &[("wharf.app", "pulse")],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(arn, RULE);
    assert_eq!(
        replay.operations(),
        ["CreateRule", "DescribeRules", "ModifyRule"],
        "one create, then the rule found and changed"
    );
    let modify = replay
        .log()
        .into_iter()
        .find(|r| r.operation == "ModifyRule")
        .expect("ModifyRule sent");
    assert!(modify.body.contains("RuleArn="), "{}", modify.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn priority_in_use_with_no_rule_there_is_still_an_error() {
    let replay = Replay::start();
    priority_in_use(&replay);
    replay.xml(
        "DescribeRules",
        200,
        format!(r#"<DescribeRulesResponse xmlns="{NS}"><DescribeRulesResult><Rules/></DescribeRulesResult><ResponseMetadata><RequestId>b2</RequestId></ResponseMetadata></DescribeRulesResponse>"#),
    );
    let client = elb(&replay).await;
    let action = forward();
    let e = lb::put_rule(&client, LISTENER, &[], 199, vec![], action, &[])
        .await
        .expect_err("nothing to modify");
    assert_eq!(e.code.as_deref(), Some("PriorityInUse"));
}
