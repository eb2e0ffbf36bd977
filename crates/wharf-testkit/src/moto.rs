//! The moto server fixture: one server per test process on a free loopback port, its state
//! reset for each test, stopped when the process exits.
//!
//! Under cargo-nextest each test is its own process, so each gets its own server and tests run
//! in parallel without sharing state. Under `cargo test` the tests of a binary share one server:
//! [`moto()`] then also holds a lock for the test's duration, so a reset never wipes another
//! test's resources.
//!
//! The server is spawned from a thread that lives as long as the process, with
//! `PR_SET_PDEATHSIG`, so the kernel stops it when the test process ends, even on a panic or a
//! SIGKILL; an `atexit` handler also stops it by its PID on a normal exit.
//!
//! moto starts no ECS tasks: the server runs with `MOTO_ECS_SERVICE_RUNNING=2`, so every ECS
//! service reports two running tasks and a COMPLETED rollout, as a healthy one on AWS would.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{mpsc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::tools::tool;

/// How long the server gets to answer after it starts (it usually takes ~3 s).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running moto server.
#[derive(Debug)]
pub struct Moto {
    pub port: u16,
    pub pid: u32,
}

/// Exclusive use of the process's moto server for one test, its state freshly reset.
pub struct MotoGuard {
    moto: &'static Moto,
    _lock: MutexGuard<'static, ()>,
}

impl std::ops::Deref for MotoGuard {
    type Target = Moto;
    fn deref(&self) -> &Moto {
        self.moto
    }
}

static SERVER: OnceLock<Moto> = OnceLock::new();
static LOCK: Mutex<()> = Mutex::new(());
static PID: AtomicI32 = AtomicI32::new(0);

/// The moto server of this test process, started on first use, reset now.
pub fn moto() -> MotoGuard {
    let lock = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let moto = SERVER.get_or_init(start);
    moto.reset();
    MotoGuard { moto, _lock: lock }
}

impl Moto {
    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Environment variables that point an AWS SDK or CLI at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// Runs a Python script with boto3 (from moto's own virtualenv) against this server, for a
    /// test's setup that wharf has no client for (EC2: wharf depends on no EC2 SDK). The
    /// script gets `client(service)` for a client pointed here; its stdout is returned.
    pub fn boto3(&self, script: &str) -> String {
        let python = tool("moto_server").with_file_name("python");
        let prelude = format!(
            "import boto3\ndef client(s):\n    return boto3.client(s, endpoint_url='{}', region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\n",
            self.endpoint()
        );
        let out = Command::new(&python)
            .arg("-c")
            .arg(format!("{prelude}{script}"))
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        assert!(
            out.status.success(),
            "boto3 script failed: {}\n{script}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wipes all state (`POST /moto-api/reset`).
    pub fn reset(&self) {
        let status = http(self.port, "POST", "/moto-api/reset")
            .unwrap_or_else(|e| panic!("moto reset failed: {e}"));
        assert_eq!(status, 200, "moto reset answered {status}");
    }
}

fn start() -> Moto {
    let bin = tool("moto_server");
    let (tx, rx) = mpsc::channel();
    // The spawning thread must outlive every test: PDEATHSIG fires when it exits.
    std::thread::Builder::new()
        .name("moto-server".into())
        .spawn(move || {
            let child = spawn(&bin);
            let _ = tx.send(child);
            loop {
                std::thread::park();
            }
        })
        .expect("spawn the moto thread");
    let mut child: Child = rx
        .recv()
        .expect("moto thread sends the child")
        .unwrap_or_else(|e| panic!("{e}"));
    let pid = child.id();
    PID.store(pid as i32, Ordering::SeqCst);
    register_atexit();

    // moto prints ` * Running on http://127.0.0.1:PORT` on stderr once it listens.
    let stderr = child.stderr.take().expect("piped stderr");
    let (ptx, prx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent {
                if let Some(port) = line
                    .split("http://127.0.0.1:")
                    .nth(1)
                    .and_then(|p| p.trim().parse::<u16>().ok())
                {
                    let _ = ptx.send(port);
                    sent = true;
                }
            }
        }
    });
    let port = prx.recv_timeout(START_TIMEOUT).unwrap_or_else(|_| {
        panic!("moto server (pid {pid}) did not report a port within {START_TIMEOUT:?}")
    });
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(200) = http(port, "GET", "/moto-api/data.json") {
            break;
        }
        if Instant::now() > deadline {
            panic!(
                "moto server on port {port} (pid {pid}) did not answer within {START_TIMEOUT:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(child); // dropping does not stop it: PDEATHSIG and atexit do
    Moto { port, pid }
}

#[allow(unsafe_code)]
fn spawn(bin: &std::path::Path) -> Result<Child, String> {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(bin);
    cmd.args(["-H", "127.0.0.1", "-p", "0"])
        .env("PYTHONUNBUFFERED", "1")
        // ECS services report two running tasks and a COMPLETED rollout (moto starts no tasks).
        .env("MOTO_ECS_SERVICE_RUNNING", "2")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
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
        .map_err(|e| format!("failed to start {}: {e}", bin.display()))
}

extern "C" fn stop_at_exit() {
    let pid = PID.swap(0, Ordering::SeqCst);
    if pid > 0 {
        kill(pid);
    }
}

#[allow(unsafe_code)]
fn kill(pid: i32) {
    // SAFETY: signalling a PID this process started and recorded.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}

#[allow(unsafe_code)]
fn register_atexit() {
    // SAFETY: the handler only reads an atomic and sends a signal.
    unsafe {
        libc::atexit(stop_at_exit);
    }
}

/// A minimal HTTP/1.1 request to the server's control API; returns the status code.
fn http(port: u16, method: &str, path: &str) -> Result<u16, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    write!(s, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).map_err(|e| e.to_string())?;
    buf.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad response: {buf:.80}"))
}
