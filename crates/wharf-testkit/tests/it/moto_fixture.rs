//! The moto fixture serves the real AWS SDK.

use aws_config::BehaviorVersion;
use wharf_testkit::moto;

async fn sdk_config(endpoint: String) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "wharf-test",
        ))
        .load()
        .await
}

#[tokio::test]
async fn sts_get_caller_identity_through_moto() {
    let m = moto();
    let config = sdk_config(m.endpoint()).await;
    let sts = aws_sdk_sts::Client::new(&config);
    let who = sts
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity through moto");
    assert_eq!(who.account(), Some("123456789012"));
    assert!(
        who.arn()
            .unwrap_or_default()
            .starts_with("arn:aws:sts::123456789012:"),
        "{:?}",
        who.arn()
    );
}

/// Set in the copy of this test binary that
/// `a_server_is_its_process_own_and_ends_with_it` runs.
const HELPER: &str = "WHARF_TESTKIT_MOTO_HELPER";

/// Whether `/proc/PID` names a process that has not exited (a zombie has).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .and_then(|s| s.split_whitespace().next())
            != Some("Z")
    })
}

#[test]
fn a_server_is_its_process_own_and_ends_with_it() {
    if std::env::var_os(HELPER).is_some() {
        // The helper: holds a server until it is killed.
        let m = moto();
        println!("moto-server {} {}", m.port, m.pid);
        std::thread::sleep(std::time::Duration::from_secs(120));
        return;
    }
    let mine = moto();
    assert!(mine.endpoint().starts_with("http://127.0.0.1:"));
    let name = "moto_fixture::a_server_is_its_process_own_and_ends_with_it";
    let mut helper = std::process::Command::new(std::env::current_exe().expect("this binary"))
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(HELPER, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run the helper");
    let stdout = helper.stdout.take().expect("piped");
    // libtest prints the test's name before its output, on the same line.
    let line = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map_while(Result::ok)
        .find_map(|l| l.split_once("moto-server ").map(|(_, s)| s.to_owned()))
        .expect("the helper prints its server");
    let mut words = line
        .split(' ')
        .map(|w| w.trim().parse::<u32>().expect("a number"));
    let (port, pid) = (words.next().expect("a port"), words.next().expect("a PID"));
    assert_ne!(
        (port, pid),
        (u32::from(mine.port), mine.pid),
        "a server of its own"
    );
    assert!(alive(pid), "the helper's server runs while the helper does");

    helper.kill().expect("kill the helper");
    helper.wait().expect("reap the helper");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while alive(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "the server (pid {pid}) outlived the process that asked for it by 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(alive(mine.pid), "this process's server is not the helper's");
    mine.reset();
}

#[test]
fn boto3_scripts_run_against_the_server_and_a_failure_shows_its_error() {
    let m = moto();
    let out = m.boto3(
        "s = client('sqs')\ns.create_queue(QueueName='zygote')\nprint(len(s.list_queues()['QueueUrls']))\n",
    );
    assert_eq!(out.trim(), "1");
    let failed =
        std::panic::catch_unwind(|| m.boto3("client('sqs').get_queue_url(QueueName='absent')\n"))
            .expect_err("a failing script panics");
    let message = failed.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("NonExistentQueue") || message.contains("QueueDoesNotExist"),
        "{message}"
    );
}
