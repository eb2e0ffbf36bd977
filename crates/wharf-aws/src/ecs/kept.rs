//! The listeners' rules as this process last read or changed them. Only a service's own
//! deployment changes the rules in its block, holding the service's lock, and this process
//! makes its rule edits one at a time: what it last read or wrote is what the listener has
//! there, so an edit needs no DescribeRules first (a deployment's shifts, test route and retire
//! each read the listener before). A listener is read once per process; an edit that fails
//! forgets it, so the next one reads it again (a create refused with PriorityInUse reads it in
//! [`lb::put_rule`] itself).

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_elasticloadbalancingv2::types::{Action, RuleCondition};
use aws_sdk_elasticloadbalancingv2::Client;

use super::lb::{self, view_of, RuleView};
use crate::error::AwsError;

/// Per listener ARN, its rules (default rule excluded), by priority.
#[derive(Debug, Default)]
pub struct KeptRules(Mutex<HashMap<String, Vec<RuleView>>>);

impl KeptRules {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, Vec<RuleView>>) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The listener's rules: as kept, else read (and kept).
    pub async fn rules(&self, elb: &Client, listener: &str) -> Result<Vec<RuleView>, AwsError> {
        if let Some(kept) = self.with(|m| m.get(listener).cloned()) {
            return Ok(kept);
        }
        let read = lb::rules(elb, listener).await?;
        self.with(|m| m.insert(listener.to_owned(), read.clone()));
        Ok(read)
    }

    /// [`lb::put_rule`], then the rule at `priority` kept as the action made it.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_rule(
        &self,
        elb: &Client,
        listener: &str,
        existing: &[RuleView],
        priority: u32,
        conditions: Vec<RuleCondition>,
        action: Action,
        tags: &[(&str, &str)],
    ) -> Result<String, AwsError> {
        let (forward, fixed) = view_of(&action);
        let put = lb::put_rule(elb, listener, existing, priority, conditions, action, tags).await;
        let arn = self.after(listener, put)?;
        self.with(|m| {
            if let Some(rules) = m.get_mut(listener) {
                rules.retain(|r| r.priority != priority);
                rules.push(RuleView {
                    arn: arn.clone(),
                    priority,
                    forward,
                    fixed,
                });
                rules.sort_by_key(|r| r.priority);
            }
        });
        Ok(arn)
    }

    /// [`lb::set_forward`], then the rule kept with its new targets.
    pub async fn set_forward(
        &self,
        elb: &Client,
        rule: &RuleView,
        action: Action,
    ) -> Result<(), AwsError> {
        let (forward, fixed) = view_of(&action);
        let listener = self.listener_of(&rule.arn);
        let set = lb::set_forward(elb, rule, action).await;
        self.after(listener.as_deref().unwrap_or_default(), set)?;
        self.with(|m| {
            for r in m.values_mut().flatten().filter(|r| r.arn == rule.arn) {
                r.forward.clone_from(&forward);
                r.fixed = fixed;
            }
        });
        Ok(())
    }

    /// [`lb::delete_rule`], then the rule no longer kept.
    pub async fn delete_rule(&self, elb: &Client, rule: &RuleView) -> Result<(), AwsError> {
        let listener = self.listener_of(&rule.arn);
        let deleted = lb::delete_rule(elb, rule).await;
        self.after(listener.as_deref().unwrap_or_default(), deleted)?;
        self.with(|m| {
            for rules in m.values_mut() {
                rules.retain(|r| r.arn != rule.arn);
            }
        });
        Ok(())
    }

    fn listener_of(&self, rule: &str) -> Option<String> {
        self.with(|m| {
            m.iter()
                .find(|(_, rules)| rules.iter().any(|r| r.arn == rule))
                .map(|(l, _)| l.clone())
        })
    }

    /// An edit's result; a failed one forgets the listener (read again next time).
    fn after<T>(&self, listener: &str, r: Result<T, AwsError>) -> Result<T, AwsError> {
        if r.is_err() {
            self.with(|m| m.remove(listener));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_read_back_as_rules_are_read() {
        let fwd = lb::forward(&[("tg-a".into(), 90), ("tg-b".into(), 10)], Some(60));
        assert_eq!(
            view_of(&fwd),
            (vec![("tg-a".into(), 90), ("tg-b".into(), 10)], None)
        );
        assert_eq!(view_of(&lb::fixed_response(404)), (vec![], Some(404)));
    }

    #[test]
    fn a_failed_edit_forgets_the_listener() {
        let kept = KeptRules::default();
        kept.with(|m| {
            m.insert(
                "l".into(),
                vec![RuleView {
                    arn: "r".into(),
                    priority: 199,
                    forward: vec![],
                    fixed: None,
                }],
            )
        });
        assert_eq!(kept.listener_of("r").as_deref(), Some("l"));
        let failed: Result<(), AwsError> = Err(AwsError::new(
            "modify",
            crate::error::ErrorKind::NotFound,
            "gone",
        ));
        assert!(kept.after("l", failed).is_err());
        assert_eq!(kept.listener_of("r"), None);
    }
}
