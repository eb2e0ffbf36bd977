//! The image step's AWS side from ECR responses replayed into the real SDK client (moto has no
//! registry data plane and never scans): the push token decoded from GetAuthorizationToken, and
//! the scan gate waiting for a scan, starting one that never ran, blocking on findings at or
//! above its severity, refusing an image ECR cannot scan, and giving up after its bound. The
//! responses are shaped as the ECR API reference documents them.

use std::sync::Mutex;
use std::time::Duration;

use wharf_aws::image::{self, PushTarget, ScanError, ScanWait};
use wharf_manifest::ScanSeverity;
use wharf_testkit::Replay;

const REPO: &str = "pulse/test/web";
const DIGEST: &str = "sha256:4c1e8d5e2fa07d0bb4f5cd2d6ab06e4cf23c5e3a1bca4c0fbbfd5d3d12a1e0f7";

async fn ecr(replay: &Replay) -> aws_sdk_ecr::Client {
    aws_sdk_ecr::Client::new(&crate::common::replayed(replay).await)
}

fn fast() -> ScanWait {
    ScanWait {
        limit: Duration::from_secs(2),
        every: Duration::from_millis(50),
    }
}

fn status(status: &str, description: &str) -> String {
    format!(
        r#"{{"registryId":"123456789012","repositoryName":"{REPO}","imageId":{{"imageDigest":"{DIGEST}"}},"imageScanStatus":{{"status":"{status}","description":"{description}"}}}}"#
    )
}

/// A COMPLETE basic scan with one finding per (severity, name, package, version).
fn complete(findings: &[(&str, &str, &str, &str)]) -> String {
    let mut counts = std::collections::BTreeMap::new();
    let list: Vec<String> = findings
        .iter()
        .map(|(sev, name, pkg, ver)| {
            *counts.entry(*sev).or_insert(0) += 1;
            format!(
                r#"{{"name":"{name}","description":"a vulnerability","uri":"https://security-tracker.debian.org/tracker/{name}","severity":"{sev}","attributes":[{{"key":"package_version","value":"{ver}"}},{{"key":"package_name","value":"{pkg}"}},{{"key":"CVSS2_SCORE","value":"10"}}]}}"#
            )
        })
        .collect();
    let counts: Vec<String> = counts
        .iter()
        .map(|(s, n)| format!(r#""{s}":{n}"#))
        .collect();
    format!(
        r#"{{"registryId":"123456789012","repositoryName":"{REPO}","imageId":{{"imageDigest":"{DIGEST}","imageTag":"test-20261123-100000Z"}},"imageScanStatus":{{"status":"COMPLETE","description":"The scan was completed successfully."}},"imageScanFindings":{{"imageScanCompletedAt":1795428000.0,"vulnerabilitySourceUpdatedAt":1795400000.0,"findingSeverityCounts":{{{}}},"findings":[{}]}}}}"#,
        counts.join(","),
        list.join(",")
    )
}

type Heard = Mutex<Vec<String>>;

fn heard() -> (Heard, impl Fn(&Heard, &str)) {
    (Mutex::new(Vec::new()), |m: &Heard, s: &str| {
        m.lock().unwrap().push(s.to_owned())
    })
}

#[test]
fn the_push_target_keeps_the_repository_name_under_a_registry_override() {
    let uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/pulse/test/web";
    let ecr = PushTarget::of(uri, None).unwrap();
    assert_eq!(ecr.registry, "123456789012.dkr.ecr.us-east-1.amazonaws.com");
    assert_eq!(ecr.name, "pulse/test/web");
    assert_eq!(ecr.repository(), uri);
    assert!(ecr.ecr, "the environment's ECR gets ECR's token");
    let local = PushTarget::of(uri, Some("127.0.0.1:5000/")).unwrap();
    assert_eq!(local.repository(), "127.0.0.1:5000/pulse/test/web");
    assert!(!local.ecr, "another registry never gets ECR's token");
    let same = PushTarget::of(uri, Some("123456789012.dkr.ecr.us-east-1.amazonaws.com")).unwrap();
    assert!(same.ecr);
    let other = PushTarget::of(
        uri,
        Some("123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example"),
    )
    .unwrap();
    assert!(!other.ecr);
    assert!(PushTarget::of("no-slash", None).is_err());
}

#[tokio::test]
async fn the_push_token_is_decoded_from_get_authorization_token() {
    let replay = Replay::start();
    // base64("AWS:s3cr3t-token")
    replay.json(
        "GetAuthorizationToken",
        200,
        r#"{"authorizationData":[{"authorizationToken":"QVdTOnMzY3IzdC10b2tlbg==","expiresAt":1795471200.0,"proxyEndpoint":"https://123456789012.dkr.ecr.us-east-1.amazonaws.com"}]}"#,
    );
    let creds = image::authorization(&ecr(&replay).await).await.unwrap();
    assert_eq!(creds.username, "AWS");
    assert_eq!(creds.password, "s3cr3t-token");
    assert_eq!(
        creds.endpoint,
        "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"
    );
    assert_eq!(creds.expires_at, Some(1795471200));
    assert!(
        !format!("{creds:?}").contains("s3cr3t"),
        "the password never shows in debug output"
    );
}

#[tokio::test]
async fn critical_findings_block_the_deployment_after_the_scan_completes() {
    let replay = Replay::start();
    replay
        .json(
            "DescribeImageScanFindings",
            200,
            status("IN_PROGRESS", "The scan is in progress."),
        )
        .json(
            "DescribeImageScanFindings",
            200,
            complete(&[
                ("HIGH", "CVE-2024-6387", "openssh", "1:9.2p1-2"),
                ("CRITICAL", "CVE-2024-3094", "xz-utils", "5.6.0-0.2"),
                ("LOW", "CVE-2011-3374", "apt", "2.6.1"),
            ]),
        );
    let (log, push) = heard();
    let err = image::scan_gate(
        &ecr(&replay).await,
        REPO,
        DIGEST,
        ScanSeverity::Critical,
        fast(),
        &|s| push(&log, s),
    )
    .await
    .expect_err("a CRITICAL finding blocks");
    let ScanError::Blocked {
        blocking, findings, ..
    } = &err
    else {
        panic!("expected Blocked, got {err:?}");
    };
    assert_eq!(*blocking, 1);
    assert_eq!(findings.counts["CRITICAL"], 1);
    assert_eq!(findings.counts["HIGH"], 1);
    assert_eq!(findings.worst[0].name, "CVE-2024-3094", "worst first");
    assert_eq!(
        findings.worst[0].package.as_deref(),
        Some("xz-utils 5.6.0-0.2")
    );
    let text = err.to_string();
    assert!(
        text.contains("1 finding(s) of severity CRITICAL or worse"),
        "{text}"
    );
    assert!(
        text.contains("CRITICAL CVE-2024-3094 in xz-utils 5.6.0-0.2"),
        "{text}"
    );
    assert!(
        log.lock().unwrap()[0].contains("IN_PROGRESS"),
        "the wait says what it waits for: {:?}",
        log.lock().unwrap()
    );
    assert_eq!(
        replay.operations(),
        ["DescribeImageScanFindings", "DescribeImageScanFindings"]
    );
    let sent = &replay.log()[0].body;
    assert!(sent.contains(DIGEST) && sent.contains(REPO), "{sent}");
}

#[tokio::test]
async fn the_gate_passes_findings_below_its_severity_and_blocks_at_a_lower_one() {
    let replay = Replay::start();
    replay.json(
        "DescribeImageScanFindings",
        200,
        complete(&[
            ("HIGH", "CVE-2024-6387", "openssh", "1:9.2p1-2"),
            ("MEDIUM", "CVE-2023-4911", "glibc", "2.36-9"),
        ]),
    );
    let client = ecr(&replay).await;
    let ok = image::scan_gate(
        &client,
        REPO,
        DIGEST,
        ScanSeverity::Critical,
        fast(),
        &|_| {},
    )
    .await
    .expect("no CRITICAL finding");
    assert_eq!(ok.blocking(ScanSeverity::Critical), 0);
    assert!(ok.to_string().contains("1 HIGH, 1 MEDIUM"), "{ok}");
    let err = image::scan_gate(&client, REPO, DIGEST, ScanSeverity::High, fast(), &|_| {})
        .await
        .expect_err("HIGH blocks a high gate");
    assert!(
        matches!(err, ScanError::Blocked { blocking: 1, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_scan_that_never_ran_is_started_once() {
    let replay = Replay::start();
    replay
        .json(
            "DescribeImageScanFindings",
            400,
            format!(r#"{{"__type":"ScanNotFoundException","message":"Image scan does not exist for the image with '{{imageDigest:'{DIGEST}'}}' in the repository with name '{REPO}' in the registry with id '123456789012'"}}"#),
        )
        .json(
            "DescribeImageScanFindings",
            200,
            status("PENDING", "The scan is queued."),
        )
        .json("DescribeImageScanFindings", 200, complete(&[]))
        .json(
            "StartImageScan",
            200,
            format!(
                r#"{{"registryId":"123456789012","repositoryName":"{REPO}","imageId":{{"imageDigest":"{DIGEST}"}},"imageScanStatus":{{"status":"IN_PROGRESS","description":"The scan is in progress."}}}}"#
            ),
        );
    let ok = image::scan_gate(
        &ecr(&replay).await,
        REPO,
        DIGEST,
        ScanSeverity::Critical,
        fast(),
        &|_| {},
    )
    .await
    .expect("a clean scan passes");
    assert!(ok.counts.is_empty());
    assert!(ok.to_string().ends_with("no findings"), "{ok}");
    assert_eq!(
        replay.operations(),
        [
            "DescribeImageScanFindings",
            "StartImageScan",
            "DescribeImageScanFindings",
            "DescribeImageScanFindings"
        ]
    );
}

#[tokio::test]
async fn an_image_ecr_cannot_scan_is_refused_with_its_reason() {
    let replay = Replay::start();
    replay.json(
        "DescribeImageScanFindings",
        200,
        status(
            "UNSUPPORTED_IMAGE",
            "UnsupportedImageError: The operating system and/or package manager are not supported.",
        ),
    );
    let err = image::scan_gate(
        &ecr(&replay).await,
        REPO,
        DIGEST,
        ScanSeverity::Critical,
        fast(),
        &|_| {},
    )
    .await
    .expect_err("no scan, no pass");
    assert!(matches!(err, ScanError::Unavailable { .. }), "{err:?}");
    assert!(err.to_string().contains("UnsupportedImageError"), "{err}");
}

#[tokio::test]
async fn the_wait_for_a_scan_is_bounded() {
    let replay = Replay::start();
    replay.json(
        "DescribeImageScanFindings",
        200,
        status("IN_PROGRESS", "The scan is in progress."),
    );
    let wait = ScanWait {
        limit: Duration::from_millis(300),
        every: Duration::from_millis(50),
    };
    let err = image::scan_gate(
        &ecr(&replay).await,
        REPO,
        DIGEST,
        ScanSeverity::Critical,
        wait,
        &|_| {},
    )
    .await
    .expect_err("gives up");
    assert!(
        matches!(&err, ScanError::Timeout { status, .. } if status == "IN_PROGRESS"),
        "{err:?}"
    );
}
