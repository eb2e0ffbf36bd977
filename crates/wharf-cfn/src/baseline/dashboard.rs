//! The environment's CloudWatch dashboard (named like the cluster, `{app}-{env}`): the load
//! balancer's requests, 5xx and latency, healthy hosts per target group, and CPU and memory per
//! ECS service. Deployments come and go with their own target groups and ECS services, so the
//! per-deployment widgets are metric searches, not a fixed list: every deployment shows up by
//! itself. `wharf status` prints its URL.

use serde_json::{json, Value};

use crate::ctx::Ctx;
use crate::fns::get_att;
use crate::template::{Resource, Template};

use super::lb::ALB;

pub(crate) const DASHBOARD: &str = "Dashboard";

/// A metric widget at `(x, y)`, half the dashboard wide.
fn widget(x: u32, y: u32, title: &str, stat: &str, metrics: Value) -> Value {
    json!({
        "type": "metric", "x": x, "y": y, "width": 12, "height": 6,
        "properties": {
            "title": title, "region": "${AWS::Region}", "stat": stat, "period": 60,
            "view": "timeSeries", "metrics": metrics,
        }
    })
}

/// A widget of one metric search expression.
fn search(x: u32, y: u32, title: &str, expression: &str) -> Value {
    widget(
        x,
        y,
        title,
        "Average",
        json!([[{ "expression": expression, "id": "s", "period": 60 }]]),
    )
}

pub(crate) fn build(cx: &Ctx<'_>, t: &mut Template) {
    let name = cx.names.cluster();
    let lb = |metric: &str| json!(["AWS/ApplicationELB", metric, "LoadBalancer", "${Lb}"]);
    let widgets = json!([
        widget(0, 0, "Requests and 5xx (per minute)", "Sum", json!([
            lb("RequestCount"),
            lb("HTTPCode_Target_5XX_Count"),
            lb("HTTPCode_ELB_5XX_Count"),
        ])),
        widget(12, 0, "Latency (target response time, s)", "p99", json!([
            lb("TargetResponseTime"),
            ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", "${Lb}", { "stat": "p50" }],
        ])),
        search(0, 6, "Healthy hosts per target group (per deployment)",
            "SEARCH('{AWS/ApplicationELB,LoadBalancer,TargetGroup} MetricName=\"HealthyHostCount\" LoadBalancer=\"${Lb}\"', 'Minimum', 60)"),
        search(12, 6, "Unhealthy hosts per target group",
            "SEARCH('{AWS/ApplicationELB,LoadBalancer,TargetGroup} MetricName=\"UnHealthyHostCount\" LoadBalancer=\"${Lb}\"', 'Maximum', 60)"),
        search(0, 12, "CPU per ECS service (%)",
            "SEARCH('{AWS/ECS,ClusterName,ServiceName} MetricName=\"CPUUtilization\" ClusterName=\"${Cluster}\"', 'Average', 60)"),
        search(12, 12, "Memory per ECS service (%)",
            "SEARCH('{AWS/ECS,ClusterName,ServiceName} MetricName=\"MemoryUtilization\" ClusterName=\"${Cluster}\"', 'Average', 60)"),
    ]);
    let body = json!({ "widgets": widgets }).to_string();
    t.add(
        DASHBOARD,
        Resource::new(
            "AWS::CloudWatch::Dashboard",
            json!({
                "DashboardName": name,
                "DashboardBody": { "Fn::Sub": [body, {
                    "Lb": get_att(ALB, "LoadBalancerFullName"),
                    "Cluster": name,
                }] },
            }),
        ),
    );
}

/// The dashboard's address in the console.
pub fn url(region: &str, name: &str) -> String {
    format!("https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards/dashboard/{name}")
}
