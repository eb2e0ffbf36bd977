//! The Docker layer against the real engine: the hello image built through bollard (its
//! .dockerignore keeps only the binary), a labelled container on a loopback port with the
//! manifest's container health check (`hello --check`) reported healthy by Docker, stop, remove.

use std::collections::HashMap;
use std::time::Duration;

use wharf_docker::{
    BuildSpec, Docker, RunSpec, LABEL_APP, LABEL_DEPLOYMENT, LABEL_ENV, LABEL_SERVICE,
};
use wharf_testkit::http::wait_for_status;
use wharf_testkit::{workspace_root, Cmd};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_runs_lists_and_removes_a_labelled_container() {
    let dir = workspace_root().join("examples/hello");
    Cmd::new(dir.join("build-static.sh"))
        .current_dir(&dir)
        .run()
        .success();
    let docker = Docker::connect().await.expect("Docker is running");
    let unique = format!("t{}", std::process::id());
    let tag = format!("wharf/hello-test/web:{unique}");
    let labels: HashMap<String, String> = [
        (LABEL_APP, "hello-test"),
        (LABEL_ENV, "local"),
        (LABEL_SERVICE, "web"),
        (LABEL_DEPLOYMENT, unique.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut lines = Vec::new();
    docker
        .build(
            BuildSpec {
                context: &dir,
                dockerfile: std::path::Path::new("Dockerfile"),
                tag: &tag,
                labels: labels.clone(),
                args: HashMap::new(),
                target: None,
                platform: None,
                no_cache: false,
                private: &[],
            },
            |l| lines.push(l.to_owned()),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let network = format!("wharf-hello-test-{unique}");
    docker
        .ensure_network(&network, labels.clone())
        .await
        .expect("network");
    // The manifest's container check: `hello --check` asks its own /_health.
    let health = wharf_manifest::HealthCheck {
        path: "/_health".into(),
        interval: wharf_manifest::Duration::from_secs(1),
        timeout: wharf_manifest::Duration::from_secs(1),
        healthy: 2,
        unhealthy: 3,
        grace: None,
        matcher: "200".into(),
        command: Some(vec!["/hello".into(), "--check".into()]),
    };
    let id = docker
        .run(
            RunSpec {
                name: &format!("hello-test-web-{unique}-0"),
                image: &tag,
                port: Some(8000),
                env: vec![format!("DEPLOYMENT_ID={unique}")],
                labels: labels.clone(),
                cpu: 256,
                memory_mib: 128,
                stop_timeout_s: 5,
                command: None,
                health: wharf_docker::health_config(&health),
                hosts: vec![],
            },
            &network,
        )
        .await
        .expect("runs");
    let listed = docker
        .list(&[(LABEL_APP, "hello-test"), (LABEL_DEPLOYMENT, &unique)])
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    let port = listed[0].host_port.expect("published on 127.0.0.1");
    let r = tokio::task::spawn_blocking(move || {
        wait_for_status(port, "/", 200, Duration::from_secs(30))
    })
    .await
    .expect("join")
    .expect("answers");
    assert!(r.body.contains(&unique), "{}", r.body);
    // Docker runs the container's check and reports it healthy (bounded wait: 60 s).
    let mut status = String::new();
    for _ in 0..120 {
        let out = Cmd::new("docker")
            .args([
                "inspect",
                "--format",
                "{{json .Config.Healthcheck.Test}} {{.State.Health.Status}}",
                &id,
            ])
            .run()
            .success();
        status = out.stdout.trim().to_owned();
        if status.ends_with(" healthy") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(status, r#"["CMD","/hello","--check"] healthy"#);
    docker.stop_and_remove(&id, 5).await.expect("removed");
    assert!(docker
        .list(&[(LABEL_DEPLOYMENT, &unique)])
        .await
        .expect("list")
        .is_empty());
    docker
        .remove_network(&network)
        .await
        .expect("network removed");
    docker.remove_image(&tag).await.expect("image removed");
}

/// A service built for the platform its manifest asks for (Graviton's linux/arm64 here, on
/// whatever this machine is), the platform read back from the image; without one, the
/// Engine's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_is_built_for_the_platform_it_asks_for() {
    let dir = workspace_root().join("examples/hello");
    let docker = Docker::connect().await.expect("Docker is running");
    let build = wharf_manifest::Build {
        context: ".".into(),
        dockerfile: "Dockerfile".into(),
        target: None,
        args: Default::default(),
        platform: None,
        pre_build: Some(vec!["./build-static.sh".into()]),
    };
    let unique = format!("p{}", std::process::id());
    let engine = Cmd::new("docker")
        .args(["version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"])
        .run()
        .success()
        .stdout
        .trim()
        .to_owned();
    for (platform, want) in [
        (Some("linux/arm64"), "linux/arm64"),
        (Some("linux/amd64"), "linux/amd64"),
        (None, engine.as_str()),
    ] {
        let tag = format!("wharf/platform-test/web:{unique}");
        let spec = wharf_docker::ServiceBuild {
            root: &dir,
            app: "platform-test",
            env: "local",
            name: "web",
            build: &build,
            platform,
            id: &unique,
            private: &[],
        };
        let built = wharf_docker::build_service(&docker, &spec, &tag, &wharf_engine::Discard)
            .await
            .unwrap_or_else(|e| panic!("{platform:?}: {e}"));
        let inspected = Cmd::new("docker")
            .args([
                "image",
                "inspect",
                "--format",
                "{{.Os}}/{{.Architecture}}",
                &tag,
            ])
            .run()
            .success()
            .stdout
            .trim()
            .to_owned();
        docker.remove_image(&tag).await.expect("image removed");
        assert_eq!(
            (built.as_str(), inspected.as_str()),
            (want, want),
            "{platform:?}"
        );
    }
    // An image the engine kept untagged (a dangling one of these builds was seen after
    // whole-suite runs) is this test's by its labels: none is left behind.
    let left = docker
        .images(&[(LABEL_APP, "platform-test"), (LABEL_DEPLOYMENT, &unique)])
        .await
        .expect("list images");
    for id in &left {
        docker.remove_image(id).await.expect("image removed");
    }
    assert!(docker
        .images(&[(LABEL_DEPLOYMENT, &unique)])
        .await
        .expect("list images")
        .is_empty());
}
