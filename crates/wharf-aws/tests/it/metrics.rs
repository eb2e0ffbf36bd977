//! The alarm gate's request counts on the moto server: a target group's requests and 5xx
//! answers over the window, both read by one GetMetricData call, other target groups' not
//! counted.

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use wharf_aws::ecs::alarms;
use wharf_testkit::moto;

const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/pulse-test/50dc6c495c0c9188";
const TG: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pulse-test-web-a/73e2d6bc24d8a067";
const OTHER: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pulse-test-web-b/83e2d6bc24d8a067";

fn datum(metric: &str, tg: &str, sum: f64, at_ms: i64) -> MetricDatum {
    let dim = |n: &str, v: &str| Dimension::builder().name(n).value(v).build();
    MetricDatum::builder()
        .metric_name(metric)
        .dimensions(dim("LoadBalancer", alarms::lb_dimension(LB)))
        .dimensions(dim("TargetGroup", alarms::tg_dimension(tg)))
        .value(sum)
        .unit(StandardUnit::Count)
        .timestamp(DateTime::from_millis(at_ms))
        .build()
}

#[tokio::test]
async fn requests_and_5xx_of_one_target_group_come_from_one_call() {
    let m = moto();
    let cw = aws_sdk_cloudwatch::Client::new(&crate::common::moto_config(&m.endpoint()).await);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    cw.put_metric_data()
        .namespace("AWS/ApplicationELB")
        .metric_data(datum("RequestCount", TG, 30.0, now - 20_000))
        .metric_data(datum("RequestCount", TG, 12.0, now - 10_000))
        .metric_data(datum("HTTPCode_Target_5XX_Count", TG, 5.0, now - 10_000))
        .metric_data(datum("RequestCount", OTHER, 1000.0, now - 10_000))
        .metric_data(datum(
            "HTTPCode_Target_5XX_Count",
            OTHER,
            900.0,
            now - 10_000,
        ))
        .send()
        .await
        .expect("metrics put");
    let got = alarms::requests(&cw, LB, TG, now, 60_000)
        .await
        .expect("metrics read");
    assert_eq!(got, (42, 5));
    let none = alarms::requests(
        &cw,
        LB,
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pulse-test-web-c/1",
        now,
        60_000,
    )
    .await
    .expect("metrics read");
    assert_eq!(none, (0, 0));
}
