//! The load test as a process against moto's DynamoDB and SSM on loopback: configured from
//! the parameter tree, every write accounted for (written, or rejected as exactly the
//! duplicates injected), cleanup leaving the table empty, throttling and dropped connections
//! (a proxy in front of moto) ridden out with nothing lost, SIGTERM ending it with a report.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use wharf_testkit::{moto, Faults, Moto, Replay};

const BIN: &str = env!("CARGO_BIN_EXE_dynamodb-load-test");

/// Writes the parameter tree under /lt/ (name → value).
fn parameters(m: &Moto, pairs: &[(&str, &str)]) {
    let puts: String = pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "ssm.put_parameter(Name='/lt/{k}', Value='{v}', Type='String', Overwrite=True)\n"
            )
        })
        .collect();
    m.boto3(&format!("ssm = client('ssm')\n{puts}"));
}

fn table(m: &Moto, name: &str, wcu: u32) {
    m.boto3(&format!(
        "client('dynamodb').create_table(TableName='{name}', KeySchema=[{{'AttributeName':'pk','KeyType':'HASH'}}], \
         AttributeDefinitions=[{{'AttributeName':'pk','AttributeType':'S'}}], \
         ProvisionedThroughput={{'ReadCapacityUnits':100,'WriteCapacityUnits':{wcu}}})\n"
    ));
}

fn items(m: &Moto, name: &str) -> u64 {
    m.boto3(&format!(
        "d = client('dynamodb')\nn = 0\nkw = {{'TableName': '{name}', 'Select': 'COUNT'}}\n\
         while True:\n    r = d.scan(**kw)\n    n += r['Count']\n    if 'LastEvaluatedKey' not in r: break\n    kw['ExclusiveStartKey'] = r['LastEvaluatedKey']\nprint(n)\n"
    ))
    .trim()
    .parse()
    .expect("a count")
}

fn tables(m: &Moto) -> String {
    m.boto3("print(client('dynamodb').list_tables()['TableNames'])")
}

/// Runs the program against `endpoint`; answers its exit code and its JSON report.
fn run(m: &Moto, endpoint: &str, env: &[(&str, &str)]) -> (i32, Value, String) {
    let out = Command::new(BIN)
        .args(["--config-path", "/lt"])
        .envs(m.env())
        .env("AWS_ENDPOINT_URL", endpoint)
        .envs(env.iter().copied())
        .output()
        .expect("the load test runs");
    report(out)
}

fn report(out: std::process::Output) -> (i32, Value, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let text = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let json = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON report:\n{text}"));
    (out.status.code().unwrap_or(-1), json, text)
}

#[test]
fn every_item_is_written_or_an_exact_duplicate_and_cleanup_empties_the_table() {
    let m = moto();
    table(&m, "lt-table", 1000);
    parameters(
        &m,
        &[
            ("table-name", "lt-table"),
            ("total-items", "600"),
            ("concurrency-limit", "16"),
            ("max-concurrency-percentage", "80"),
            ("inject-duplicates", "10"),
            ("cleanup-after-test", "true"),
        ],
    );
    let (code, j, text) = run(&m, &m.endpoint(), &[]);
    let r = &j["report"];
    assert_eq!(code, 0, "{text}");
    assert_eq!(j["complete"], true, "{text}");
    assert_eq!(r["written"], 540, "{text}");
    assert_eq!(r["duplicates_expected"], 60, "10% of 600");
    assert_eq!(
        r["duplicates_rejected"], 60,
        "exactly the injected share: {text}"
    );
    assert_eq!(
        (r["lost"].as_u64(), r["errors"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(r["read_back_missing"], 0);
    assert_eq!(r["read_back_sampled"], 100);
    assert_eq!(r["rate_limit_per_s"], 800, "80% of 1,000 write units");
    assert_eq!(r["cleaned_up"], 540);
    assert_eq!(items(&m, "lt-table"), 0, "cleanup leaves the table empty");
    assert!(
        text.contains("COMPLETE: every item accounted for"),
        "{text}"
    );
}

#[test]
fn throttling_and_dropped_connections_are_ridden_out_with_nothing_lost() {
    let m = moto();
    table(&m, "lt-throttled", 5000);
    parameters(
        &m,
        &[
            ("table-name", "lt-throttled"),
            ("total-items", "400"),
            ("concurrency-limit", "8"),
            ("inject-duplicates", "25"),
            ("cleanup-after-test", "false"),
        ],
    );
    let proxy = Replay::start();
    proxy.forward_to(m.port).throttle_burst("PutItem", 20, true);
    proxy.faults(Faults {
        throttle_every: 7,
        drop_every: 11,
    });
    let (code, j, text) = run(&m, &proxy.endpoint(), &[]);
    let r = &j["report"];
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        (r["written"].as_u64(), r["duplicates_rejected"].as_u64()),
        (Some(300), Some(100)),
        "{text}"
    );
    assert_eq!(r["lost"], 0, "{text}");
    assert!(
        r["throttles"].as_u64() >= Some(20),
        "the burst was counted: {text}"
    );
    assert!(
        r["retries"].as_u64() > r["throttles"].as_u64(),
        "dropped connections retried too: {text}"
    );
    assert_eq!(r["cleaned_up"], Value::Null);
    assert_eq!(items(&m, "lt-throttled"), 300, "every unique item is there");
}

#[test]
fn a_missing_table_is_made_from_the_configured_capacity_and_removed_after() {
    let m = moto();
    parameters(
        &m,
        &[
            ("table-name", "lt-made"),
            ("total-items", "50"),
            ("read-capacity-units", "5"),
            ("write-capacity-units", "400"),
        ],
    );
    // The environment overrides the tree.
    let (code, j, text) = run(&m, &m.endpoint(), &[("LOADTEST_TOTAL_ITEMS", "80")]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(j["report"]["written"], 80, "{text}");
    assert_eq!(
        j["report"]["rate_limit_per_s"], 320,
        "80% (the default) of 400"
    );
    assert!(
        !tables(&m).contains("lt-made"),
        "the table it made is gone: {}",
        tables(&m)
    );
}

#[test]
fn bad_configuration_is_refused_naming_the_parameter() {
    let m = moto();
    parameters(&m, &[("table-name", "t"), ("concurrency-limit", "lots")]);
    let out = Command::new(BIN)
        .args(["--config-path", "/lt"])
        .envs(m.env())
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("parameter concurrency-limit") && err.contains("1 to 1024"),
        "{err}"
    );
}

#[test]
fn sigterm_stops_new_writes_and_still_reports_every_one_started() {
    let m = moto();
    table(&m, "lt-slow", 10);
    parameters(
        &m,
        &[
            ("table-name", "lt-slow"),
            ("total-items", "1000"),
            ("cleanup-after-test", "true"),
        ],
    );
    let child = Command::new(BIN)
        .args(["--config-path", "/lt"])
        .envs(m.env())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    // Paced to 8 writes/s: 1,000 would take two minutes. Wait for the first writes.
    std::thread::sleep(Duration::from_secs(3));
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let (code, j, text) = report(child.wait_with_output().expect("ends"));
    let r = &j["report"];
    assert_eq!(code, 143, "{text}");
    assert_eq!(r["interrupted"], true);
    let started = r["started"].as_u64().unwrap_or(0);
    assert!(started > 0 && started < 1000, "{text}");
    assert_eq!(
        r["written"].as_u64(),
        Some(started),
        "every started write finished: {text}"
    );
    assert_eq!(items(&m, "lt-slow"), 0, "cleanup ran: {text}");
}
