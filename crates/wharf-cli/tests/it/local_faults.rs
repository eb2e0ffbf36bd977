//! Faults on the local target, each with a clear message while the running deployment keeps
//! serving: an image build that fails (its log's tail shown, nothing deployed), an image that
//! does not exist, the manifest changed under an unfinished deployment, a corrupt state
//! database; and, with nothing running, Docker unreachable and the listen port taken.

use wharf_testkit::TestDir;

use crate::local::{deploy_quietly, deployment_of, free_port, manifest, Down};
use crate::{no_panic, wharf};

#[test]
fn each_fault_is_explained_and_the_running_version_keeps_serving() {
    let d = TestDir::new();
    let app = format!("flt{}", std::process::id());
    let port = free_port();
    d.write("local.secrets", "ssm:/t/drain=s3cret\n");
    let good = manifest(&app, port, "HELLO_VERSION = \"1\"", "1s");
    d.write("wharf.toml", &good);
    let _down = Down(&d);
    deploy_quietly(&d);
    let v1 = deployment_of(port);
    let deploy = || {
        wharf()
            .args(["deploy", "--env", "local"])
            .current_dir(d.path())
            .run()
    };

    // A build that fails: the end of its log, nothing deployed.
    d.write("broken/Dockerfile", "FROM scratch\nCOPY no-such-file /x\n");
    let broken = good.replace(
        &format!(
            "build = {{ context = \"{ctx}\", pre_build = \"{ctx}/build-static.sh\" }}",
            ctx = crate::hello_dir().display()
        ),
        &format!("build = {{ context = \"{}\" }}", d.join("broken").display()),
    );
    assert_ne!(broken, good, "the test rewrote the build");
    d.write("wharf.toml", &broken);
    let out = deploy().code(1);
    let out = out
        .contains("the image build failed")
        .contains("no-such-file")
        .contains("nothing was deployed");
    no_panic(&out);
    assert_eq!(deployment_of(port), v1);

    // An image that is not on this machine and cannot be pulled: rolled back, v1 serves.
    let missing = good.replace(
        &format!(
            "build = {{ context = \"{ctx}\", pre_build = \"{ctx}/build-static.sh\" }}",
            ctx = crate::hello_dir().display()
        ),
        "image = \"wharf-test/absent:1\"",
    );
    d.write("wharf.toml", &missing);
    deploy()
        .code(5)
        .contains("image wharf-test/absent:1 is not on this machine and could not be pulled");
    assert_eq!(deployment_of(port), v1);

    // The manifest changed under a deployment held at its approval gate: promote refuses,
    // abort rolls it back.
    d.write(
        "wharf.toml",
        good.replace("HELLO_VERSION = \"1\"", "HELLO_VERSION = \"2\"")
            .replace(
                "[services.web.deploy]\n",
                "[services.web.deploy]\napproval = true\n",
            ),
    );
    wharf()
        .args(["deploy", "--env", "local", "--no-wait", "-q"])
        .current_dir(d.path())
        .run()
        .success();
    // Status shows where it stands and what it waits for; --watch stops at once, as no
    // process moves a deployment held for approval.
    let out = wharf()
        .args(["status", "--env", "local", "--watch"])
        .current_dir(d.path())
        .run()
        .success();
    assert!(
        out.stdout
            .contains("waiting for approval: `wharf promote` continues")
            && out.stdout.contains("step "),
        "{out}"
    );
    assert!(out.stderr.contains("has no process moving it"), "{out}");
    d.write(
        "wharf.toml",
        good.replace("HELLO_VERSION = \"1\"", "HELLO_VERSION = \"3\"")
            .replace(
                "[services.web.deploy]\n",
                "[services.web.deploy]\napproval = true\n",
            ),
    );
    wharf()
        .args(["promote", "--env", "local"])
        .current_dir(d.path())
        .run()
        .code(6)
        .contains("changed since deployment")
        .contains("wharf abort");
    wharf()
        .args(["abort", "--env", "local"])
        .current_dir(d.path())
        .run()
        .success();
    assert_eq!(deployment_of(port), v1);
    d.write("wharf.toml", &good);

    // A corrupt state database: named, with what to do; the proxy keeps serving v1.
    let state = d.join(".wharf/local");
    let aside = d.join("state-aside");
    std::fs::create_dir_all(&aside).expect("mkdir");
    for f in ["state.db", "state.db-wal", "state.db-shm"] {
        if state.join(f).exists() {
            std::fs::rename(state.join(f), aside.join(f)).expect("move aside");
        }
    }
    std::fs::write(state.join("state.db"), vec![0x5a; 8192]).expect("garbage");
    let out = deploy()
        .code(1)
        .contains("state.db")
        .contains("move the file away");
    no_panic(&out);
    assert_eq!(deployment_of(port), v1);
    for f in ["state.db", "state.db-wal", "state.db-shm"] {
        let _ = std::fs::remove_file(state.join(f));
        if aside.join(f).exists() {
            std::fs::rename(aside.join(f), state.join(f)).expect("restore");
        }
    }
    wharf()
        .args(["status", "--env", "local"])
        .current_dir(d.path())
        .run()
        .success()
        .contains(&v1);
}

#[test]
fn docker_unreachable_and_a_taken_port_are_named() {
    let d = TestDir::new();
    let port = free_port();
    d.write(
        "wharf.toml",
        manifest(
            &format!("np{}", std::process::id()),
            port,
            "A = \"1\"",
            "1s",
        ),
    );
    let out = wharf()
        .args(["deploy", "--env", "local"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .current_dir(d.path())
        .run()
        .code(7)
        .contains("not reachable at unix:///nonexistent/docker.sock")
        .contains("DOCKER_HOST");
    no_panic(&out);

    let taken = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let out = wharf()
        .args(["up", "--env", "local"])
        .current_dir(d.path())
        .run()
        .code(7);
    out.contains(&format!("cannot listen on 127.0.0.1:{port}"))
        .contains("listen");
    drop(taken);
    let _ = std::fs::remove_dir_all(d.join(".wharf"));
}
