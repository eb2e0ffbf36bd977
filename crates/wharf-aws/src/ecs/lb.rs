//! Target groups and listener rules. A deployment's target group carries wharf's tuned health
//! checks (the manifest's path, interval, thresholds and matcher, not ECS's 30 s × 5) and a
//! deregistration delay equal to the drain timeout (not 300 s). Rules are found by priority in
//! the service's block, so repeating a step modifies the rule it made instead of adding one.

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, ForwardActionConfig,
    HostHeaderConditionConfig, HttpHeaderConditionConfig, PathPatternConditionConfig, ProtocolEnum,
    RuleCondition, Tag, TargetGroupAttribute, TargetGroupStickinessConfig, TargetGroupTuple,
    TargetTypeEnum,
};
use aws_sdk_elasticloadbalancingv2::Client;
use wharf_manifest::Service;

use crate::ecs::env::EnvOutputs;
use crate::error::{AwsError, ErrorKind};

/// A listener rule as wharf reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleView {
    pub arn: String,
    pub priority: u32,
    /// Target groups the rule forwards to, with their weights.
    pub forward: Vec<(String, u32)>,
    /// The status of a fixed-response action.
    pub fixed: Option<u16>,
}

/// The target group named `name`, if it exists.
pub async fn find_tg(elb: &Client, name: &str) -> Result<Option<String>, AwsError> {
    match elb.describe_target_groups().names(name).send().await {
        Ok(out) => Ok(out
            .target_groups
            .unwrap_or_default()
            .into_iter()
            .find_map(|t| t.target_group_arn)),
        Err(e) => {
            let e = AwsError::from_sdk(format!("describe target group {name}"), e);
            if e.kind == ErrorKind::NotFound {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// Creates the target group (or finds it, checking it is this app's) with wharf's health checks
/// and deregistration delay.
pub async fn ensure_tg(
    elb: &Client,
    out: &EnvOutputs,
    name: &str,
    service: &Service,
    deployment: &str,
) -> Result<String, AwsError> {
    let action = format!("create target group {name}");
    let arn = match find_tg(elb, name).await? {
        Some(arn) => {
            let tags = elb
                .describe_tags()
                .resource_arns(&arn)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(format!("read the tags of {name}"), e))?;
            let app = tags
                .tag_descriptions()
                .iter()
                .flat_map(|d| d.tags())
                .find(|t| t.key() == Some("wharf.app"))
                .and_then(|t| t.value());
            if app != Some(out.app.as_str()) {
                return Err(AwsError::new(
                    action,
                    ErrorKind::Conflict,
                    format!(
                        "a target group named {name} exists and does not belong to app {} (its wharf.app tag: {})",
                        out.app,
                        app.unwrap_or("none")
                    ),
                ));
            }
            arn
        }
        None => {
            let h = &service.health;
            let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
            let created = elb
                .create_target_group()
                .name(name)
                .protocol(ProtocolEnum::Http)
                .port(i32::from(service.port))
                .vpc_id(&out.vpc_id)
                .target_type(TargetTypeEnum::Ip)
                .health_check_enabled(true)
                .health_check_protocol(ProtocolEnum::Http)
                .health_check_path(&h.path)
                .health_check_interval_seconds(h.interval.as_secs_ceil() as i32)
                .health_check_timeout_seconds(h.timeout.as_secs_ceil() as i32)
                .healthy_threshold_count(h.healthy as i32)
                .unhealthy_threshold_count(h.unhealthy as i32)
                .matcher(
                    aws_sdk_elasticloadbalancingv2::types::Matcher::builder()
                        .http_code(&h.matcher)
                        .build(),
                )
                .tags(tag("Name", name))
                .tags(tag("wharf.app", &out.app))
                .tags(tag("wharf.env", &out.env))
                .tags(tag("wharf.service", &service.name))
                .tags(tag("wharf.deployment", deployment))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(&action, e))?;
            created
                .target_groups
                .unwrap_or_default()
                .into_iter()
                .find_map(|t| t.target_group_arn)
                .ok_or_else(|| AwsError::new(&action, ErrorKind::Other, "no ARN returned"))?
        }
    };
    set_drain_delay(elb, &arn, name, service).await?;
    Ok(arn)
}

/// Sets the target group's deregistration delay to the service's drain timeout.
pub async fn set_drain_delay(
    elb: &Client,
    arn: &str,
    name: &str,
    service: &Service,
) -> Result<(), AwsError> {
    elb.modify_target_group_attributes()
        .target_group_arn(arn)
        .attributes(
            TargetGroupAttribute::builder()
                .key("deregistration_delay.timeout_seconds")
                .value(service.deploy.drain.timeout.as_secs_ceil().to_string())
                .build(),
        )
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("set the deregistration delay of {name}"), e))?;
    Ok(())
}

/// Deletes a target group; gone already is fine.
pub async fn delete_tg(elb: &Client, arn: &str) -> Result<(), AwsError> {
    match elb.delete_target_group().target_group_arn(arn).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = AwsError::from_sdk(format!("delete target group {arn}"), e);
            if e.kind == ErrorKind::NotFound {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

/// What an action forwards to (target groups and weights), or its fixed response's status.
pub fn view_of(action: &Action) -> (Vec<(String, u32)>, Option<u16>) {
    let mut forward = Vec::new();
    if let Some(fc) = action.forward_config() {
        for t in fc.target_groups() {
            if let Some(arn) = t.target_group_arn() {
                forward.push((arn.to_owned(), t.weight().unwrap_or(1).max(0) as u32));
            }
        }
    } else if let Some(arn) = action.target_group_arn() {
        forward.push((arn.to_owned(), 1));
    }
    let fixed = action
        .fixed_response_config()
        .and_then(|f| f.status_code())
        .and_then(|s| s.parse::<u16>().ok());
    (forward, fixed)
}

/// The listener's rules (default rule excluded).
pub async fn rules(elb: &Client, listener: &str) -> Result<Vec<RuleView>, AwsError> {
    let mut views = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = elb
            .describe_rules()
            .listener_arn(listener)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("list the listener's rules", e))?;
        for r in out.rules() {
            let Some(priority) = r.priority().and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            let mut forward = Vec::new();
            let mut fixed = None;
            for a in r.actions() {
                let (to, status) = view_of(a);
                forward.extend(to);
                fixed = status.or(fixed);
            }
            views.push(RuleView {
                arn: r.rule_arn().unwrap_or_default().to_owned(),
                priority,
                forward,
                fixed,
            });
        }
        match out.next_marker {
            Some(m) if !m.is_empty() => marker = Some(m),
            _ => break,
        }
    }
    views.sort_by_key(|r| r.priority);
    Ok(views)
}

/// The conditions of a service's routing, plus `header` (name and values) when given.
pub fn conditions(service: &Service, header: Option<(&str, Vec<String>)>) -> Vec<RuleCondition> {
    let mut c = Vec::new();
    if let Some(r) = &service.routing {
        let paths: Vec<String> = if r.paths.is_empty() && r.hosts.is_empty() {
            vec!["/*".into()]
        } else {
            r.paths.clone()
        };
        c = host_and_path(&r.hosts, paths);
    }
    if let Some((name, values)) = header {
        c.push(header_condition(name, values));
    }
    c
}

/// An http-header condition: the header must carry one of `values`.
pub fn header_condition(name: &str, values: Vec<String>) -> RuleCondition {
    RuleCondition::builder()
        .field("http-header")
        .http_header_config(
            HttpHeaderConditionConfig::builder()
                .http_header_name(name)
                .set_values(Some(values))
                .build(),
        )
        .build()
}

/// A host-header condition (when `hosts` has any) and a path-pattern one (when `paths` has any).
pub fn host_and_path(hosts: &[String], paths: Vec<String>) -> Vec<RuleCondition> {
    let mut c = Vec::new();
    if !hosts.is_empty() {
        c.push(
            RuleCondition::builder()
                .field("host-header")
                .host_header_config(
                    HostHeaderConditionConfig::builder()
                        .set_values(Some(hosts.to_vec()))
                        .build(),
                )
                .build(),
        );
    }
    if !paths.is_empty() {
        c.push(
            RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(
                    PathPatternConditionConfig::builder()
                        .set_values(Some(paths))
                        .build(),
                )
                .build(),
        );
    }
    c
}

/// A fixed-response action: the load balancer answers `status` itself, in plain text.
pub fn fixed_response(status: u16) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(
            FixedResponseActionConfig::builder()
                .status_code(status.to_string())
                .content_type("text/plain")
                .message_body("Not Found\n")
                .build(),
        )
        .build()
}

/// A forward action to `groups` with their weights; `sticky_s` keeps a client on the target
/// group it first reached for that many seconds (ALB's group stickiness).
pub fn forward(groups: &[(String, u32)], sticky_s: Option<u32>) -> Action {
    let mut fc = ForwardActionConfig::builder().set_target_groups(Some(
        groups
            .iter()
            .map(|(arn, w)| {
                TargetGroupTuple::builder()
                    .target_group_arn(arn)
                    .weight(*w as i32)
                    .build()
            })
            .collect(),
    ));
    if let Some(s) = sticky_s {
        fc = fc.target_group_stickiness_config(
            TargetGroupStickinessConfig::builder()
                .enabled(true)
                .duration_seconds(s as i32)
                .build(),
        );
    }
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .forward_config(fc.build())
        .build()
}

/// Creates the rule at `priority`, or changes the one there. A create whose answer was lost
/// (the rule made, the retry refused with PriorityInUse) reads the listener again and changes
/// the rule it finds there: nothing is created twice, nothing is left half-made.
pub async fn put_rule(
    elb: &Client,
    listener: &str,
    existing: &[RuleView],
    priority: u32,
    conditions: Vec<RuleCondition>,
    action: Action,
    tags: &[(&str, &str)],
) -> Result<String, AwsError> {
    if let Some(r) = existing.iter().find(|r| r.priority == priority) {
        return modify_rule(elb, r, priority, conditions, action).await;
    }
    let created = elb
        .create_rule()
        .listener_arn(listener)
        .priority(priority as i32)
        .set_conditions(Some(conditions.clone()))
        .actions(action.clone())
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
                .collect(),
        ))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("create the rule at priority {priority}"), e));
    match created {
        Ok(out) => Ok(out
            .rules()
            .first()
            .and_then(|r| r.rule_arn())
            .unwrap_or_default()
            .to_owned()),
        Err(e) if e.code.as_deref() == Some("PriorityInUse") => {
            let now = rules(elb, listener).await?;
            match now.iter().find(|r| r.priority == priority) {
                Some(r) => modify_rule(elb, r, priority, conditions, action).await,
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

async fn modify_rule(
    elb: &Client,
    r: &RuleView,
    priority: u32,
    conditions: Vec<RuleCondition>,
    action: Action,
) -> Result<String, AwsError> {
    elb.modify_rule()
        .rule_arn(&r.arn)
        .set_conditions(Some(conditions))
        .actions(action)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("modify the rule at priority {priority}"), e))?;
    Ok(r.arn.clone())
}

pub async fn set_forward(elb: &Client, rule: &RuleView, action: Action) -> Result<(), AwsError> {
    elb.modify_rule()
        .rule_arn(&rule.arn)
        .actions(action)
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk(format!("modify the rule at priority {}", rule.priority), e)
        })?;
    Ok(())
}

pub async fn delete_rule(elb: &Client, rule: &RuleView) -> Result<(), AwsError> {
    match elb.delete_rule().rule_arn(&rule.arn).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = AwsError::from_sdk(format!("delete the rule at priority {}", rule.priority), e);
            if e.kind == ErrorKind::NotFound {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

/// Names of the target groups starting with `prefix` that carry `wharf.app = app`, through
/// every page.
pub async fn tg_names(elb: &Client, prefix: &str, app: &str) -> Result<Vec<String>, AwsError> {
    let action = format!("list the target groups named {prefix}*");
    let mut candidates = Vec::new();
    let mut marker = None;
    loop {
        let out = elb
            .describe_target_groups()
            .set_marker(marker)
            .page_size(400)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(action.clone(), e))?;
        for tg in out.target_groups() {
            if let (Some(name), Some(arn)) = (tg.target_group_name(), tg.target_group_arn()) {
                if name.starts_with(prefix) {
                    candidates.push((name.to_owned(), arn.to_owned()));
                }
            }
        }
        marker = out.next_marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    let mut names = Vec::new();
    // DescribeTags takes at most 20 resources.
    for chunk in candidates.chunks(20) {
        let tags = elb
            .describe_tags()
            .set_resource_arns(Some(chunk.iter().map(|(_, a)| a.clone()).collect()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("read the tags of {prefix}*"), e))?;
        for d in tags.tag_descriptions() {
            let ours = d
                .tags()
                .iter()
                .any(|t| t.key() == Some("wharf.app") && t.value() == Some(app));
            if let Some((name, _)) = chunk
                .iter()
                .find(|(_, a)| Some(a.as_str()) == d.resource_arn())
                .filter(|_| ours)
            {
                names.push(name.clone());
            }
        }
    }
    Ok(names)
}
