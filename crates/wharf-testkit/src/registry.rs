//! A local OCI registry (Debian's `docker-registry`) standing in for ECR's data plane, which
//! the moto server does not have: one per test, on a free loopback port, its storage in a temp
//! dir, stopped by its PID when the guard drops (and by the kernel if the test process dies).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the registry gets to answer after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Where Debian's package installs the binary.
const BIN: &str = "/usr/bin/docker-registry";

/// The one account of a registry started with [`Registry::start_with_login`].
pub const LOGIN_USER: &str = "wharf";
pub const LOGIN_PASSWORD: &str = "wharf-push-secret";
/// `LOGIN_USER:LOGIN_PASSWORD` as bcrypt (what `htpasswd -B` writes; cost 6 keeps it quick).
const LOGIN_HTPASSWD: &str = "wharf:$2b$06$K5gIujYlQzJbK7f7mvHiTOSsHxP64y4XnH5/XrN4FX8/T26vVGyAq\n";
/// base64 of `LOGIN_USER:LOGIN_PASSWORD`, as `docker login` saves it and as Basic auth sends it.
const LOGIN_BASIC: &str = "d2hhcmY6d2hhcmYtcHVzaC1zZWNyZXQ=";

/// A running registry; dropping it stops the process and removes its storage.
pub struct Registry {
    pub port: u16,
    child: Child,
    login: bool,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry on 127.0.0.1 (Docker pushes to loopback registries over plain HTTP).
    pub fn start() -> Registry {
        Registry::launch(false)
    }

    /// Starts a registry that refuses anyone without [`LOGIN_USER`]'s password (htpasswd).
    pub fn start_with_login() -> Registry {
        Registry::launch(true)
    }

    fn launch(login: bool) -> Registry {
        assert!(
            Path::new(BIN).exists(),
            "{BIN} is missing: run `scripts/tools install` (it installs Debian's docker-registry)"
        );
        let dir = tempfile::tempdir().expect("a temp dir for the registry");
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            let config = dir.path().join("config.yml");
            let htpasswd = login.then(|| {
                let path = dir.path().join("htpasswd");
                std::fs::write(&path, LOGIN_HTPASSWD).expect("write the registry's htpasswd");
                path
            });
            std::fs::write(
                &config,
                config_yml(&dir.path().join("data"), port, htpasswd.as_deref()),
            )
            .expect("write the registry's config");
            let mut child = spawn(&config);
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    last_err = format!("docker-registry exited with {status} on port {port}");
                    break;
                }
                if let Ok((200 | 401, _)) = get(port, "/v2/", login) {
                    return Registry {
                        port,
                        child,
                        login,
                        _dir: dir,
                    };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "docker-registry on port {port} did not answer within {START_TIMEOUT:?}"
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("docker-registry did not start: {last_err}");
    }

    /// `127.0.0.1:PORT`, what `--registry` takes.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Writes `{dir}/config.json` as `docker login` would for this registry; point
    /// `DOCKER_CONFIG` at `dir` to use it.
    pub fn write_docker_config(&self, dir: &Path) {
        std::fs::create_dir_all(dir).expect("the Docker config dir");
        std::fs::write(
            dir.join("config.json"),
            format!(
                "{{\"auths\":{{\"{}\":{{\"auth\":\"{LOGIN_BASIC}\"}}}}}}",
                self.host()
            ),
        )
        .expect("write config.json");
    }

    /// The tags the registry holds for `repository` (empty when it holds none).
    pub fn tags(&self, repository: &str) -> Vec<String> {
        let (status, body) = get(
            self.port,
            &format!("/v2/{repository}/tags/list"),
            self.login,
        )
        .unwrap_or_else(|e| panic!("list tags of {repository}: {e}"));
        if status == 404 {
            return Vec::new();
        }
        assert_eq!(status, 200, "tags of {repository}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("tags JSON");
        v["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The digest of `repository:reference`'s manifest (`Docker-Content-Digest`).
    pub fn digest(&self, repository: &str, reference: &str) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(
            s,
            "HEAD /v2/{repository}/manifests/{reference} HTTP/1.1\r\nHost: 127.0.0.1\r\n{}Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json\r\nConnection: close\r\n\r\n",
            basic(self.login)
        )
        .ok()?;
        let mut buf = String::new();
        s.read_to_string(&mut buf).ok()?;
        buf.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("docker-content-digest")
                .then(|| v.trim().to_owned())
        })
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config_yml(data: &Path, port: u16, htpasswd: Option<&Path>) -> String {
    let auth = htpasswd
        .map(|p| {
            format!(
                "auth:\n  htpasswd:\n    realm: wharf-test\n    path: {}\n",
                p.display()
            )
        })
        .unwrap_or_default();
    format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
        data.display()
    )
}

/// The `Authorization` header line for a registry with a login, else nothing.
fn basic(login: bool) -> String {
    if login {
        format!("Authorization: Basic {LOGIN_BASIC}\r\n")
    } else {
        String::new()
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

#[allow(unsafe_code)]
fn spawn(config: &PathBuf) -> Child {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: prctl is async-signal-safe and touches only the child's own state.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
        .unwrap_or_else(|e| panic!("failed to start {BIN}: {e}"))
}

/// A GET on the registry's API: status and body.
fn get(port: u16, path: &str, login: bool) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{}Connection: close\r\n\r\n",
        basic(login)
    )
    .map_err(|e| e.to_string())?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).map_err(|e| e.to_string())?;
    let status = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line in {buf:?}"))?;
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
