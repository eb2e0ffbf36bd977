//! `wharf deploy` of a service built from source on an AWS environment: the image is built by
//! the Docker Engine, tagged with the deployment id, pushed to a local `docker-registry`
//! standing in for ECR's data plane (moto has none) with the login `docker login` saved for it
//! (never ECR's token, which goes to ECR alone), its digest read back and pinned in the task
//! definition registered on moto; the scan gate, fed a replayed
//! DescribeImageScanFindings with a CRITICAL finding, stops the deployment before anything
//! runs.

use serde_json::Value;
use wharf_testkit::{Registry, TestDir};

use crate::aws_deploy::{config, rt, UpEnv};
use crate::no_panic;

const MANIFEST: &str = r#"
[app]
name = "pulse"

[environments.test]
target = "aws"
region = "us-east-1"
account = "123456789012"
azs = 2
egress = "endpoints"

[services.web]
build = { context = "web" }
port = 8000
count = 2
routing = { paths = ["/*"], priority = 1 }
health = { path = "/", grace = "20s", command = ["/srv/server", "--check"] }
"#;

/// The service's build context: a FROM-scratch image with one file (nothing to pull).
fn write_context(dir: &TestDir) {
    dir.write(
        "web/Dockerfile",
        "FROM scratch\nCOPY index.html /srv/index.html\nCMD [\"/srv/server\"]\n",
    );
    dir.write("web/index.html", "pulse\n");
}

/// Removes what a failed run may have left in Docker: images labelled for this app and env
/// and named for this test's registry (the other test's images are its own).
struct Images(String);

impl Drop for Images {
    fn drop(&mut self) {
        for id in labelled_images(&self.0) {
            let _ = std::process::Command::new("docker")
                .args(["rmi", "-f", &id])
                .output();
        }
    }
}

/// Ids of the images labelled for this app and env, pushed to `registry`.
fn labelled_images(registry: &str) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args([
            "images",
            "-q",
            "--filter",
            "label=wharf.app=pulse",
            "--filter",
            "label=wharf.env=test",
            "--filter",
            &format!("reference={registry}/pulse/test/web"),
        ])
        .output()
        .expect("docker images");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// The container of the task definition the ECS service `web` runs: its image, and its health
/// check's command, interval, timeout, retries and start period.
fn running_container(endpoint: &str) -> (String, Vec<String>, [i32; 4]) {
    rt().block_on(async {
        let ecs = aws_sdk_ecs::Client::new(&config(endpoint).await);
        let svc = ecs
            .describe_services()
            .cluster("pulse-test")
            .services("web")
            .send()
            .await
            .expect("describe services");
        let td = svc.services()[0]
            .task_definition()
            .expect("task definition")
            .to_owned();
        let def = ecs
            .describe_task_definition()
            .task_definition(td)
            .send()
            .await
            .expect("describe task definition");
        let c = &def.task_definition().expect("def").container_definitions()[0];
        let h = c.health_check().expect("a container health check");
        (
            c.image().expect("image").to_owned(),
            h.command().to_vec(),
            [
                h.interval().unwrap_or(-1),
                h.timeout().unwrap_or(-1),
                h.retries().unwrap_or(-1),
                h.start_period().unwrap_or(-1),
            ],
        )
    })
}

#[test]
fn a_built_service_is_pushed_with_the_registrys_own_login_never_ecrs_token_and_pinned_by_digest() {
    let registry = Registry::start_with_login();
    let _images = Images(registry.host());
    let env = UpEnv::new(MANIFEST);
    write_context(&env.dir);
    let docker_config = env.dir.path().join("docker-config");
    registry.write_docker_config(&docker_config);
    let proxy = &env.proxy;

    let out = env
        .wharf()
        .env("DOCKER_CONFIG", &docker_config)
        .args(["deploy", "--registry", &registry.host()])
        .run()
        .success();
    no_panic(&out);
    let history: Value = env
        .wharf()
        .args(["--output", "json", "history"])
        .run()
        .success()
        .json();
    let d = &history["deployments"][0];
    let id = d["id"].as_str().expect("an id").to_owned();

    // The registry holds the image under the service's repository name, tagged with the id.
    let repo = "pulse/test/web";
    assert_eq!(registry.tags(repo), std::slice::from_ref(&id), "{out}");
    let digest = registry
        .digest(repo, &id)
        .expect("the pushed manifest's digest");
    assert!(digest.starts_with("sha256:"), "{digest}");
    // The record and the task definition pin that digest, not the tag.
    assert_eq!(d["digest"], digest.as_str(), "{history}");
    let (image, check, timings) = running_container(&env.moto.endpoint());
    assert_eq!(image, format!("{}/{repo}@{digest}", registry.host()));
    // The manifest's container check, with its interval, timeout, unhealthy threshold and
    // grace (the defaults 5 s, 3 s, 3; grace 20 s).
    assert_eq!(check, ["CMD", "/srv/server", "--check"]);
    assert_eq!(timings, [5, 3, 3, 20]);
    // The registry's own login pushed it (it refuses anyone else); ECR's token was never
    // even asked for, let alone sent to another host.
    let ops = proxy.operations();
    assert!(
        !ops.contains(&"GetAuthorizationToken".to_owned()),
        "{ops:?}"
    );
    assert!(
        out.stderr
            .contains("with the credentials `docker login` saved"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains(&format!("pushed {}/{repo}@{digest}", registry.host())),
        "{out}"
    );
    // Nothing of the build is left in this machine's image store.
    assert_eq!(
        labelled_images(&registry.host()),
        Vec::<String>::new(),
        "the pushed image was removed locally"
    );
}

#[test]
fn the_scan_gate_stops_an_image_with_a_critical_finding_before_anything_runs() {
    let registry = Registry::start();
    let _images = Images(registry.host());
    let env = UpEnv::new(&format!(
        "{MANIFEST}deploy = {{ scan_gate = \"critical\" }}\n"
    ));
    write_context(&env.dir);
    let proxy = &env.proxy;
    // moto keeps no images and never scans: ECR's answer for this image is replayed.
    proxy.json(
        "DescribeImageScanFindings",
        200,
        r#"{"registryId":"123456789012","repositoryName":"pulse/test/web","imageId":{"imageDigest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"},"imageScanStatus":{"status":"COMPLETE","description":"The scan was completed successfully."},"imageScanFindings":{"imageScanCompletedAt":1795428000.0,"findingSeverityCounts":{"CRITICAL":1,"MEDIUM":1},"findings":[{"name":"CVE-2024-3094","uri":"https://security-tracker.debian.org/tracker/CVE-2024-3094","severity":"CRITICAL","attributes":[{"key":"package_version","value":"5.6.0-0.2"},{"key":"package_name","value":"xz-utils"}]},{"name":"CVE-2023-4911","severity":"MEDIUM","attributes":[{"key":"package_name","value":"glibc"}]}]}}"#,
    );

    let no_login = env.dir.path().join("docker-config");
    std::fs::create_dir_all(&no_login).expect("an empty Docker config dir");
    let out = env
        .wharf()
        .env("DOCKER_CONFIG", &no_login)
        .args(["deploy", "--registry", &registry.host()])
        .run()
        .code(1);
    no_panic(&out);
    assert!(
        out.stderr
            .contains("CRITICAL CVE-2024-3094 in xz-utils 5.6.0-0.2"),
        "{out}"
    );
    assert!(
        out.stderr.contains("scan_gate"),
        "the help names the setting: {out}"
    );
    let ops = proxy.operations();
    let scan = ops
        .iter()
        .position(|o| o == "DescribeImageScanFindings")
        .expect("scan read");
    for never in [
        "RegisterTaskDefinition",
        "CreateTargetGroup",
        "CreateService",
    ] {
        assert!(
            !ops.contains(&never.to_owned()),
            "{never} was sent: {ops:?}"
        );
    }
    assert!(
        !ops.contains(&"GetAuthorizationToken".to_owned()),
        "ECR's token is for ECR only: {ops:?}"
    );
    assert!(out.stderr.contains("with no credentials"), "{out}");
    let scan_body = &proxy.log()[scan].body;
    assert!(
        scan_body.contains("\"repositoryName\":\"pulse/test/web\""),
        "{scan_body}"
    );
    assert_eq!(labelled_images(&registry.host()), Vec::<String>::new());
}
