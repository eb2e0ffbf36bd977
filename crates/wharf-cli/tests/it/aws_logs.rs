//! `wharf logs` on an AWS environment on the moto server, reading CloudWatch Logs: the test
//! writes the tasks' streams as awslogs names them (PutLogEvents), then reads them with every
//! flag — merged by time across tasks and prefixed by the task, one deployment, one task, the
//! last N, a moment (a duration back or a time), a text, JSON lines, a job's run — and follows
//! them across several polls while lines arrive (one of them late, stamped before the newest
//! line shown): each shows once, none is missing.

use std::io::Read as _;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::aws_deploy::UpEnv;
use crate::no_panic;

pub const MANIFEST: &str = r#"
[app]
name = "pulse"

[environments.test]
target = "aws"
region = "us-east-1"
account = "123456789012"
azs = 2
egress = "endpoints"

[services.web]
image = "public.ecr.aws/pulse/web:1"
port = 8000

[jobs.migrate]
image = "public.ecr.aws/pulse/migrate:3"
"#;

const D1: &str = "test-20261202-100000Z/web/aaaa1111aaaa1111aaaa1111aaaa1111";
const D2: &str = "test-20261202-110000Z/web/bbbb2222bbbb2222bbbb2222bbbb2222";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Writes `(stream, ms, message)` events into the log group of `output` (a baseline output
/// naming it), making the streams as needed.
pub fn put(up: &UpEnv, output: &str, events: &[(&str, i64, &str)]) {
    let list: Vec<String> = events
        .iter()
        .map(|(s, t, m)| format!("('{s}', {t}, {m:?})"))
        .collect();
    up.moto.boto3(&format!(
        r#"
logs, cfn = client('logs'), client('cloudformation')
outs = cfn.describe_stacks(StackName='pulse-test-baseline')['Stacks'][0]['Outputs']
group = [o['OutputValue'] for o in outs if o['OutputKey'] == '{output}'][0]
made = {{s['logStreamName'] for s in logs.describe_log_streams(logGroupName=group)['logStreams']}}
for stream, ts, message in [{}]:
    if stream not in made:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        made.add(stream)
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[{{'timestamp': ts, 'message': message}}])
"#,
        list.join(", ")
    ));
}

fn lines(up: &UpEnv, args: &[&str]) -> Vec<String> {
    let out = up.wharf().arg("logs").args(args).run().success();
    no_panic(&out);
    out.stdout.lines().map(str::to_owned).collect()
}

#[test]
fn logs_read_cloudwatch_with_every_flag_and_follow_without_gaps_or_repeats() {
    let up = UpEnv::new(MANIFEST);
    let t0 = now_ms() - 5 * 60_000;
    put(
        &up,
        "ServiceWebLogGroup",
        &[
            (D1, t0, "d1 start"),
            (D2, t0 + 500, "d2 start"),
            (D1, t0 + 1000, "d1 ERROR boom"),
            (D2, t0 + 1500, "d2 ERROR bad"),
            (D1, t0 + 2000, "d1 ok"),
            (D2, t0 + 2500, "d2 ok"),
        ],
    );

    // Merged by time across tasks, prefixed by the task.
    assert_eq!(
        lines(&up, &["web"]),
        [
            "aaaa1111aaaa | d1 start",
            "bbbb2222bbbb | d2 start",
            "aaaa1111aaaa | d1 ERROR boom",
            "bbbb2222bbbb | d2 ERROR bad",
            "aaaa1111aaaa | d1 ok",
            "bbbb2222bbbb | d2 ok",
        ]
    );
    let text = |args: &[&str]| -> Vec<String> {
        lines(&up, args)
            .into_iter()
            .map(|l| l.split(" | ").nth(1).unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(
        text(&["web", "--deployment", "test-20261202-100000Z"]),
        ["d1 start", "d1 ERROR boom", "d1 ok"]
    );
    assert_eq!(
        text(&["web", "--task", "bbbb2222"]),
        ["d2 start", "d2 ERROR bad", "d2 ok"]
    );
    assert_eq!(text(&["web", "--tail", "2"]), ["d1 ok", "d2 ok"]);
    assert_eq!(
        text(&["web", "--grep", "ERROR"]),
        ["d1 ERROR boom", "d2 ERROR bad"]
    );
    assert_eq!(
        text(&["web", "--grep", "ERROR", "--tail", "1"]),
        ["d2 ERROR bad"]
    );
    let iso = |ms: i64| {
        let s = ms / 1000;
        format!(
            "{}.{:03}Z",
            wharf_manifest::names::utc(ms)
                .trim_end_matches('Z')
                .replace(' ', "T"),
            ms - s * 1000
        )
    };
    assert_eq!(
        text(&["web", "--since", &iso(t0 + 1500)]),
        ["d2 ERROR bad", "d1 ok", "d2 ok"]
    );
    assert!(text(&["web", "--since", "1m"]).is_empty(), "all older");
    assert_eq!(text(&["web", "--since", "10m"]).len(), 6);

    // JSON lines: the task, the line, the time.
    let out = up
        .wharf()
        .args(["logs", "web", "--tail", "1", "--output", "json"])
        .run()
        .success();
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON line");
    assert_eq!(v["container"], "bbbb2222bbbb");
    assert_eq!(v["line"], "d2 ok");
    assert_eq!(v["timestamp_ms"], t0 + 2500);

    // A job's run.
    put(
        &up,
        "JobMigrateLogGroup",
        &[
            ("test-run-1/migrate/cccc3333", t0, "migrating"),
            ("test-run-2/migrate/dddd4444", t0 + 10, "other run"),
        ],
    );
    assert_eq!(text(&["migrate", "--run", "test-run-1"]), ["migrating"]);
    let bad = up.wharf().args(["logs", "nope"]).run().code(2);
    assert!(bad.stderr.contains("services: web; jobs: migrate"), "{bad}");

    // Follow: lines arrive between polls, one stamped before the newest already shown.
    let out_path = up.dir.path().join("follow.out");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wharf"));
    child
        .current_dir(up.dir.path())
        .env("NO_COLOR", "1")
        .envs(crate::aws::aws_env(&up.dir))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .args(["--endpoint-url", &up.proxy.endpoint(), "--env", "test"])
        .args(["logs", "web", "--follow", "--tail", "2"])
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::process::Stdio::piped());
    let mut child = child.spawn().expect("wharf logs --follow");
    let wait_for = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = std::fs::read_to_string(&out_path).unwrap_or_default();
            if got.lines().count() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "waited for {n} lines: {got}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_for(2);
    let t1 = now_ms();
    put(&up, "ServiceWebLogGroup", &[(D1, t1, "f1")]);
    wait_for(3);
    put(
        &up,
        "ServiceWebLogGroup",
        &[(D2, t1 - 3000, "late"), (D1, now_ms(), "f2")],
    );
    wait_for(5);
    // Two more polls with nothing new: nothing is shown again.
    std::thread::sleep(Duration::from_secs(5));
    let pid = child.id() as i32;
    // SIGINT, as Ctrl-C: the follow ends cleanly.
    let _ = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let status = child.wait().expect("ends");
    let mut err = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    assert!(status.success(), "{status}: {err}");
    let got: Vec<String> = std::fs::read_to_string(&out_path)
        .unwrap()
        .lines()
        .map(|l| l.split(" | ").nth(1).unwrap_or_default().to_owned())
        .collect();
    assert_eq!(got, ["d1 ok", "d2 ok", "f1", "late", "f2"], "{err}");
}
