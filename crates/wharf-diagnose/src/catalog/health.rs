//! Tasks that run but do not pass: the load balancer's target health reason codes, the
//! container's own health check, the deployment's alarms and wharf's gates.

use wharf_engine::Source::{self, *};

use super::detail::{exit_code, http_codes};
use crate::rule::{Matcher, Rule};

/// Where health is told: the targets' reasons (and the stop reasons that quote them), the
/// scheduler's events, the record's reason.
const HEALTH: &[Source] = &[TargetHealth, Stopped, Event, Record];

const fn seen(sources: &'static [Source], any: &'static [&'static str]) -> Matcher {
    Matcher::Text {
        sources,
        all: &[],
        any,
        none: &[],
    }
}

pub static RULES: &[Rule] = &[
    Rule {
        id: "health-wrong-status",
        title: "the health check gets an unexpected HTTP status",
        cause: "the application answers the health check path with a status the check does not accept (a 404 for a path it does not serve, a 301 to HTTPS, a 401 behind authentication, a 500 while a dependency is down)",
        fix: "point `health.path` at a path that answers 200 without authentication or redirects, or accept the status the application gives (`health.matcher = \"200-399\"`); `curl -i` the path from inside the task to see what it answers",
        matcher: seen(HEALTH, &["target.responsecodemismatch", "health checks failed with these codes"]),
        example: (TargetHealth, "target 10.0.1.23:8080 failed its health checks: Target.ResponseCodeMismatch (Health checks failed with these codes: [404])"),
        detail: Some(http_codes),
    },
    Rule {
        id: "health-timeout",
        title: "the health check times out",
        cause: "nothing answers the check in time on the target's port: the application listens on another port or only on 127.0.0.1, starts slower than the check allows, or the security group drops the load balancer's traffic",
        fix: "make the application listen on 0.0.0.0 and the service's `port`; give slow starts a `health.grace`; let wharf manage the security groups (`wharf up`)",
        matcher: seen(HEALTH, &["target.timeout", "request timed out"]),
        example: (TargetHealth, "target 10.0.1.23:8080 failed its health checks: Target.Timeout (Request timed out)"),
        detail: None,
    },
    Rule {
        id: "health-failed",
        title: "the target fails its health checks",
        cause: "the load balancer could not get a healthy answer: the connection was refused or reset (nothing listening on the port, the process crashed) or the check failed repeatedly",
        fix: "check that the application listens on 0.0.0.0 and the service's `port`, and that `health.path` answers quickly; the tasks' last log lines below show whether it started",
        matcher: seen(HEALTH, &["target.failedhealthchecks", "failed elb health checks", "health checks failed", "connection refused"]),
        example: (TargetHealth, "target 10.0.1.23:8080 failed its health checks: Target.FailedHealthChecks (Health checks failed)"),
        detail: None,
    },
    Rule {
        id: "health-not-in-use",
        title: "the target group is not used by the load balancer",
        cause: "the target group is not forwarded to by any listener rule, or the target is in an Availability Zone the load balancer is not enabled for",
        fix: "run `wharf up` to restore the listener rules and the load balancer's subnets; do not edit wharf's rules by hand",
        matcher: seen(HEALTH, &["target.notinuse", "target.notregistered", "target group is not configured to receive traffic", "target is in an availability zone that is not enabled"]),
        example: (TargetHealth, "target 10.0.1.23:8080 failed its health checks: Target.NotInUse (Target group is not configured to receive traffic from the load balancer)"),
        detail: None,
    },
    Rule {
        id: "container-health",
        title: "the container's own health check fails",
        cause: "the `health.command` the container runs exits non-zero: the command is missing in the image (no curl or wget in a distroless or scratch image), it checks the wrong port, or the application is unhealthy",
        fix: "make sure the command exists in the image and checks the service's port; or drop `health.command` and let the load balancer's HTTP check (`health.path`) decide",
        matcher: Matcher::Text {
            sources: &[ContainerHealth, Stopped, Event, Record],
            all: &[],
            any: &["failed container health checks", "health check failed", "unhealthy", "health check exited"],
            none: &[],
        },
        example: (Stopped, "Task failed container health checks"),
        detail: Some(exit_code),
    },
    Rule {
        id: "alarm-5xx",
        title: "the new version answers too many requests with 5xx",
        cause: "the deployment's targets answered a larger share of requests with server errors than the rollback policy allows: a bug in the new version, a setting it needs, or a dependency it cannot reach",
        fix: "read the deployment's error lines (`wharf logs --deployment ID --grep error`), fix, and deploy again; the previous version kept serving",
        matcher: Matcher::Text {
            sources: &[Alarm, Record],
            all: &[],
            any: &["-5xx", "answered 5xx", "httpcode_target_5xx"],
            none: &[],
        },
        example: (Record, "12.5% of 400 requests answered 5xx over 2m (limit 5%)"),
        detail: None,
    },
    Rule {
        id: "alarm-unhealthy-hosts",
        title: "the deployment's unhealthy-hosts alarm fired",
        cause: "targets of the deployment turned unhealthy after it had become healthy: the application degrades under traffic, runs out of a resource, or crashes on some requests",
        fix: "look at the stopped tasks and the error lines of the deployment (`wharf logs --deployment ID`); size `cpu`/`memory` for the traffic it took",
        matcher: seen(&[Alarm, Record], &["-unhealthy", "unhealthyhostcount"]),
        example: (Alarm, "pulse-prod-web-20261202-1010-unhealthy (Threshold Crossed: 1 datapoint [1.0 (02/12/26 10:14:00)] was greater than or equal to the threshold (1.0).)"),
        detail: None,
    },
    Rule {
        id: "alarm",
        title: "an alarm of the deployment is in ALARM",
        cause: "a CloudWatch alarm the rollback policy watches crossed its threshold while the deployment took traffic",
        fix: "the alarm's reason says which metric and value; fix what drives it, then deploy again",
        matcher: seen(&[Alarm, Record], &["alarm ", "threshold crossed"]),
        example: (Alarm, "pulse-prod-web-latency (Threshold Crossed: 3 datapoints were greater than the threshold (0.5).)"),
        detail: None,
    },
    Rule {
        id: "smoke-failed",
        title: "a smoke check failed",
        cause: "a request of `deploy.smoke` sent to the new version through the test route did not get the expected answer",
        fix: "the reason shows the request and what came back; try it yourself against the test route while a deployment waits (`wharf status` shows the header), fix, deploy again",
        matcher: seen(&[Record], &["smoke check"]),
        example: (Record, "smoke check GET /api/ping failed: expected 200, got 503"),
        detail: None,
    },
    Rule {
        id: "hook-failed",
        title: "a deployment hook failed",
        cause: "a `deploy.hooks` command (a migration before traffic, a check after it) exited non-zero or could not start",
        fix: "`wharf logs --run JOB` (or the hook's output above) shows why; fix it and deploy again; a migration must be safe to run twice, since a resumed deployment runs it again",
        matcher: seen(&[Record], &["hook failed"]),
        example: (Record, "the before-traffic hook failed: migrate exited with code 1"),
        detail: Some(exit_code),
    },
    Rule {
        id: "never-healthy",
        title: "the tasks ran but never became healthy in time",
        cause: "no task stopped, yet not enough targets passed their checks before the limit: a slow start, a health path that is slow or failing, or too few tasks placed",
        fix: "compare the health check with how long the application takes to start: raise `health.grace`, or lower `health.interval`/`healthy`; the target health lines above say which check failed",
        matcher: seen(&[Record], &["targets healthy after"]),
        example: (Record, "only 0 of 2 targets healthy after 95s"),
        detail: None,
    },
];
