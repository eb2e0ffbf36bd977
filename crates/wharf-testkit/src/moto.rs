//! The moto server fixture: one server per test process on a free loopback port, its state
//! reset for each test, stopped when the process exits.
//!
//! Under cargo-nextest each test is its own process, so each gets its own server and tests run
//! in parallel without sharing state. Under `cargo test` the tests of a binary share one server:
//! [`moto()`] then also holds a lock for the test's duration, so a reset never wipes another
//! test's resources.
//!
//! The servers come from a zygote (`moto_zygote.py`): one Python process per user that has
//! imported moto, its backends and boto3 and forks a fresh server for each test process that
//! asks, on an abstract Unix socket, so a test no longer pays the 3 s of CPU a server's
//! imports and first calls cost (nor the 0.8 s of each [`Moto::boto3`] script). The first
//! test to ask starts it; it exits after a minute without a request. A server lives as long as
//! the connection its test process asked on: the process ending closes it, on a panic or a
//! SIGKILL too, and the server exits.
//!
//! moto starts no ECS tasks: the server runs with `MOTO_ECS_SERVICE_RUNNING=2`, so every ECS
//! service reports two running tasks and a COMPLETED rollout, as a healthy one on AWS would.

use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::tools::tool;

/// How long the server gets to answer after it starts (it usually takes ~3 s).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The zygote, run by moto's Python.
const ZYGOTE: &str = include_str!("moto_zygote.py");

/// How long the zygote waits for a request before it exits.
const ZYGOTE_IDLE: Duration = Duration::from_secs(60);

/// A running moto server.
#[derive(Debug)]
pub struct Moto {
    pub port: u16,
    pub pid: u32,
    /// The connection the server was asked for on: the server ends when it closes.
    _conn: UnixStream,
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
        let prelude = format!(
            "import boto3\ndef client(s):\n    return boto3.client(s, endpoint_url='{}', region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\n",
            self.endpoint()
        );
        let source = format!("{prelude}{script}");
        let mut request = format!("boto3 {}\n", source.len()).into_bytes();
        request.extend_from_slice(source.as_bytes());
        let (mut conn, line) = ask(&request);
        let mut words = line.split(' ').map(|w| w.parse::<usize>().ok());
        let (Some(Some(code)), Some(Some(out)), Some(Some(err))) =
            (words.next(), words.next(), words.next())
        else {
            panic!("the moto zygote answered {line:?} to a boto3 script");
        };
        let stdout = read_n(&mut conn, out);
        let stderr = read_n(&mut conn, err);
        assert!(
            code == 0,
            "boto3 script failed: {}\n{script}",
            String::from_utf8_lossy(&stderr)
        );
        String::from_utf8_lossy(&stdout).into_owned()
    }

    /// Wipes all state (`POST /moto-api/reset`).
    pub fn reset(&self) {
        let status = http(self.port, "POST", "/moto-api/reset")
            .unwrap_or_else(|e| panic!("moto reset failed: {e}"));
        assert_eq!(status, 200, "moto reset answered {status}");
    }
}

fn start() -> Moto {
    let (conn, line) = ask(b"server\n");
    let (port, pid) = line
        .split_once(' ')
        .and_then(|(port, pid)| Some((port.parse::<u16>().ok()?, pid.trim().parse().ok()?)))
        .unwrap_or_else(|| panic!("the moto zygote answered {line:?}, not a port and a PID"));
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
    // Closing this stops the server: it stays open as long as the process (the static).
    Moto {
        port,
        pid,
        _conn: conn,
    }
}

/// The abstract socket's name: this user's, this script's and this virtualenv's zygote (a
/// changed script or tool gets a new one).
fn zygote_name(python: &std::path::Path) -> String {
    let mut h = std::hash::DefaultHasher::new();
    ZYGOTE.hash(&mut h);
    python.hash(&mut h);
    #[allow(unsafe_code)]
    // SAFETY: getuid cannot fail and touches no memory.
    let uid = unsafe { libc::getuid() };
    format!("wharf-moto-zygote-{uid}-{:016x}", h.finish())
}

/// Sends a request to the zygote, starting it if none serves, and returns the connection and
/// the first line of the answer. A zygote leaving (idle) as the request arrives closes the
/// connection unanswered: the request is made again, to a new one.
fn ask(request: &[u8]) -> (UnixStream, String) {
    let python = tool("moto_server").with_file_name("python");
    let name = zygote_name(&python);
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("an abstract socket name");
    let deadline = Instant::now() + START_TIMEOUT;
    let mut started = false;
    loop {
        match UnixStream::connect_addr(&addr) {
            Ok(mut conn) => {
                conn.set_read_timeout(Some(START_TIMEOUT))
                    .expect("a read timeout");
                if conn.write_all(request).is_ok() {
                    let mut line = Vec::new();
                    let mut byte = [0u8; 1];
                    while let Ok(1) = conn.read(&mut byte) {
                        line.push(byte[0]);
                        if byte[0] == b'\n' {
                            break;
                        }
                    }
                    // A failure is `error: ` and a traceback, to the connection's end.
                    if line.starts_with(b"error") {
                        let _ = conn.read_to_end(&mut line);
                        panic!("the moto zygote failed: {}", String::from_utf8_lossy(&line));
                    }
                    if line.pop() == Some(b'\n') {
                        return (conn, String::from_utf8_lossy(&line).into_owned());
                    }
                }
            }
            Err(_) if !started => {
                spawn_zygote(&python, &name);
                started = true;
                continue;
            }
            Err(_) => {}
        }
        if Instant::now() > deadline {
            panic!("no moto zygote answered on @{name} within {START_TIMEOUT:?}");
        }
        started = false;
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the zygote in a process group of its own (a test killed by nextest must not take
/// every other test's server with it) and waits until it is ready or says another serves.
fn spawn_zygote(python: &std::path::Path, name: &str) {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(python);
    cmd.arg("-c")
        .arg(ZYGOTE)
        .arg(name)
        .arg(ZYGOTE_IDLE.as_secs().to_string())
        .env_clear()
        // ECS services report two running tasks and a COMPLETED rollout (moto starts no tasks).
        .env("MOTO_ECS_SERVICE_RUNNING", "2")
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for keep in ["PATH", "HOME", "TMPDIR"] {
        if let Some(v) = std::env::var_os(keep) {
            cmd.env(keep, v);
        }
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("failed to start {}: {e}", python.display()));
    let stdout = child.stdout.take().expect("piped stdout");
    let mut first = String::new();
    let _ = BufReader::new(stdout).read_line(&mut first);
    match first.trim() {
        "ready" => {}
        "taken" => {
            let _ = child.wait();
        }
        _ => {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let _ = child.wait();
            panic!("the moto zygote did not start: {err}");
        }
    }
}

/// Reads exactly `n` bytes.
fn read_n(conn: &mut UnixStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    conn.read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("the moto zygote's answer was cut short: {e}"));
    buf
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
