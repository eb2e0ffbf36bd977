//! A deployment's CloudWatch alarms, feeding the engine's alarm gate and ECS's own rollback:
//! the share of its requests answered 5xx by its targets (metric math over RequestCount and
//! HTTPCode_Target_5XX_Count) above the manifest's limit, and unhealthy hosts in its target
//! group. Also the request counts the gate reads directly.

use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricStat, StateValue, Statistic, Tag,
};
use aws_sdk_cloudwatch::Client;
use aws_smithy_types::DateTime;
use wharf_manifest::Service;

use crate::ecs::env::EnvOutputs;
use crate::error::{AwsError, ErrorKind};

const NAMESPACE: &str = "AWS/ApplicationELB";

/// `arn:…:loadbalancer/app/name/id` → `app/name/id` (the metrics' dimension).
pub fn lb_dimension(arn: &str) -> &str {
    arn.split_once(":loadbalancer/").map_or(arn, |(_, d)| d)
}

/// `arn:…:targetgroup/name/id` → `targetgroup/name/id`.
pub fn tg_dimension(arn: &str) -> &str {
    arn.rsplit_once(':').map_or(arn, |(_, d)| d)
}

fn dims(lb_arn: &str, tg_arn: &str) -> Vec<Dimension> {
    vec![
        Dimension::builder()
            .name("LoadBalancer")
            .value(lb_dimension(lb_arn))
            .build(),
        Dimension::builder()
            .name("TargetGroup")
            .value(tg_dimension(tg_arn))
            .build(),
    ]
}

/// The alarm names of a deployment whose target group is `tg_name`.
pub fn names(tg_name: &str) -> [String; 2] {
    [format!("{tg_name}-5xx"), format!("{tg_name}-unhealthy")]
}

/// A sum over `period` of the target group's `metric`; `data`: returned, not only used in
/// an expression.
fn query(
    id: &str,
    lb_arn: &str,
    tg_arn: &str,
    metric: &str,
    period: i32,
    data: bool,
) -> MetricDataQuery {
    MetricDataQuery::builder()
        .id(id)
        .return_data(data)
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace(NAMESPACE)
                        .metric_name(metric)
                        .set_dimensions(Some(dims(lb_arn, tg_arn)))
                        .build(),
                )
                .period(period)
                .stat("Sum")
                .build(),
        )
        .build()
}

/// Creates (or updates) both alarms of a deployment.
pub async fn ensure(
    cw: &Client,
    out: &EnvOutputs,
    service: &Service,
    deployment: &str,
    tg_name: &str,
    tg_arn: &str,
) -> Result<Vec<String>, AwsError> {
    let [five, unhealthy] = names(tg_name);
    let lb = out.load_balancer_of(service);
    let policy = &service.deploy.rollback;
    let period = 60;
    let tags = [
        ("wharf.app", out.app.as_str()),
        ("wharf.env", out.env.as_str()),
        ("wharf.service", service.name.as_str()),
        ("wharf.deployment", deployment),
    ]
    .map(|(k, v)| Tag::builder().key(k).value(v).build());
    cw.put_metric_alarm()
        .alarm_name(&five)
        .alarm_description(format!(
            "{}: more than {}% of {deployment}'s requests answered 5xx",
            service.name, policy.max_5xx_percent
        ))
        .metrics(query("requests", lb, tg_arn, "RequestCount", period, false))
        .metrics(query(
            "errors",
            lb,
            tg_arn,
            "HTTPCode_Target_5XX_Count",
            period,
            false,
        ))
        .metrics(
            MetricDataQuery::builder()
                .id("share")
                .expression("IF(requests > 0, 100 * errors / requests, 0)")
                .label("5xx %")
                .return_data(true)
                .build(),
        )
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .threshold(policy.max_5xx_percent)
        .evaluation_periods(1)
        .treat_missing_data("notBreaching")
        .set_alarm_actions(out.alarm_topic.clone().map(|t| vec![t]))
        .set_tags(Some(tags.to_vec()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("create alarm {five}"), e))?;
    cw.put_metric_alarm()
        .alarm_name(&unhealthy)
        .alarm_description(format!(
            "{}: unhealthy targets of {deployment}",
            service.name
        ))
        .namespace(NAMESPACE)
        .metric_name("UnHealthyHostCount")
        .set_dimensions(Some(dims(lb, tg_arn)))
        .statistic(Statistic::Maximum)
        .period(period)
        .evaluation_periods(2)
        .threshold(0.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .treat_missing_data("notBreaching")
        .set_alarm_actions(out.alarm_topic.clone().map(|t| vec![t]))
        .set_tags(Some(tags.to_vec()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("create alarm {unhealthy}"), e))?;
    Ok(vec![five, unhealthy])
}

/// The alarms among `names` in ALARM state, each with its reason.
pub async fn firing(cw: &Client, names: &[String]) -> Result<Vec<String>, AwsError> {
    let out = cw
        .describe_alarms()
        .set_alarm_names(Some(names.to_vec()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("read the deployment's alarms", e))?;
    Ok(out
        .metric_alarms()
        .iter()
        .filter(|a| a.state_value() == Some(&StateValue::Alarm))
        .map(|a| {
            format!(
                "{} ({})",
                a.alarm_name().unwrap_or_default(),
                a.state_reason().unwrap_or("in ALARM")
            )
        })
        .collect())
}

pub async fn delete(cw: &Client, names: &[String]) -> Result<(), AwsError> {
    match cw
        .delete_alarms()
        .set_alarm_names(Some(names.to_vec()))
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = AwsError::from_sdk("delete the deployment's alarms", e);
            if e.kind == ErrorKind::NotFound {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

/// Requests and 5xx answers of a target group of load balancer `lb_arn` over the last
/// `window_ms` (whole minutes): both sums in one GetMetricData call.
pub async fn requests(
    cw: &Client,
    lb_arn: &str,
    tg_arn: &str,
    now_ms: i64,
    window_ms: u64,
) -> Result<(u64, u64), AwsError> {
    let period = (window_ms.div_ceil(60_000).max(1) * 60) as i32;
    let start = DateTime::from_millis(now_ms - i64::from(period) * 1000);
    let end = DateTime::from_millis(now_ms);
    let ids = ["requests", "errors"];
    let mut call = cw.get_metric_data().start_time(start).end_time(end);
    for (id, metric) in ids
        .into_iter()
        .zip(["RequestCount", "HTTPCode_Target_5XX_Count"])
    {
        call = call.metric_data_queries(query(id, lb_arn, tg_arn, metric, period, true));
    }
    let mut sums = [0u64; 2];
    let mut token = None;
    loop {
        let got = call
            .clone()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("read the request metrics", e))?;
        for r in got.metric_data_results() {
            if let Some(i) = ids.iter().position(|id| r.id() == Some(*id)) {
                sums[i] += r.values().iter().sum::<f64>().max(0.0) as u64;
            }
        }
        match got.next_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    Ok((sums[0], sums[1]))
}

/// Names of the alarms starting with `prefix`, through every page.
pub async fn with_prefix(cw: &Client, prefix: &str) -> Result<Vec<String>, AwsError> {
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let out = cw
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("list the alarms named {prefix}*"), e))?;
        names.extend(
            out.metric_alarms()
                .iter()
                .filter_map(|a| a.alarm_name().map(str::to_owned)),
        );
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(names);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimensions_come_from_arns() {
        assert_eq!(
            lb_dimension("arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/pulse-test-alb/50dc6c495c0c9188"),
            "app/pulse-test-alb/50dc6c495c0c9188"
        );
        assert_eq!(
            tg_dimension("arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/web-test-20261123-101500Z/73e2d6bc24d8a067"),
            "targetgroup/web-test-20261123-101500Z/73e2d6bc24d8a067"
        );
    }
}
