//! Who holds a deployment lock: the user, the host, the machine's process namespace, the
//! process and a random nonce. Two processes never share a lock by looking alike (two CI
//! runners both called `runner` with the same pid), and a holder that died on this machine is
//! recognised, so its lock is released at once instead of after the lease.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub user: String,
    pub host: String,
    /// This machine's boot and process namespace (empty when unknown): a pid means something
    /// only where this matches.
    #[serde(default)]
    pub machine: String,
    pub pid: u32,
    /// Random, chosen when the process starts.
    #[serde(default)]
    pub nonce: String,
}

impl Holder {
    /// The running process.
    pub fn this_process() -> Holder {
        Holder {
            user: std::env::var("USER").unwrap_or_else(|_| "someone".into()),
            host: hostname(),
            machine: machine(),
            pid: std::process::id(),
            nonce: nonce(),
        }
    }

    /// A holder known by its name only (tests, and locks written before holders were typed):
    /// never taken for a process of this machine.
    pub fn named(name: &str) -> Holder {
        Holder {
            user: name.to_owned(),
            host: String::new(),
            machine: String::new(),
            pid: 0,
            nonce: String::new(),
        }
    }

    /// The form stores keep: JSON, compared as a whole by conditional writes.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads [`Holder::encode`]'s form; anything else is a holder known by name.
    pub fn decode(stored: &str) -> Holder {
        serde_json::from_str(stored).unwrap_or_else(|_| Holder::named(stored))
    }

    /// A process of this machine that no longer runs (killed, crashed): its lock can go.
    /// Another machine's holder, or one whose machine is unknown, is never dead from here.
    pub fn is_dead_here(&self) -> bool {
        !self.machine.is_empty()
            && self.machine == machine()
            && self.pid != std::process::id()
            && self.pid != 0
            && !alive(self.pid)
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.is_empty() {
            return f.write_str(&self.user);
        }
        write!(f, "{}@{} pid {}", self.user, self.host, self.pid)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The kernel's boot id and this process's pid namespace: equal exactly for processes that
/// can see each other's pids. Empty off Linux (no holder is then taken for dead).
fn machine() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let ns = std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if boot.trim().is_empty() || ns.is_empty() {
        return String::new();
    }
    format!("{}/{ns}", boot.trim())
}

/// Whether process `pid` of this machine still runs.
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn nonce() -> String {
    random_hex::<8>()
}

/// `N` random bytes as hex, from the system's random source (the time and pid if it cannot
/// be read): a lock holder's nonce, a drain request's routing value.
pub fn random_hex<const N: usize>() -> String {
    use std::io::Read;
    let mut bytes = [0u8; N];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if random.is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seed = (t ^ u128::from(std::process::id()).rotate_left(64)).to_le_bytes();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = seed[i % seed.len()];
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_round_trip_and_differ_by_nonce() {
        let a = Holder::this_process();
        let b = Holder::this_process();
        assert_eq!(Holder::decode(&a.encode()), a);
        assert_ne!(a, b, "same user, host and pid, another nonce");
        assert_eq!(
            a.to_string(),
            format!("{}@{} pid {}", a.user, a.host, a.pid)
        );
    }

    #[test]
    fn a_plain_string_is_a_named_holder() {
        let h = Holder::decode("ana@ci pid 1");
        assert_eq!(h, Holder::named("ana@ci pid 1"));
        assert_eq!(h.to_string(), "ana@ci pid 1");
        assert!(!h.is_dead_here());
    }

    #[test]
    fn only_a_gone_process_of_this_machine_is_dead() {
        let me = Holder::this_process();
        assert!(!me.is_dead_here(), "this process runs");
        let gone = Holder {
            pid: u32::MAX - 1,
            ..me.clone()
        };
        assert_eq!(gone.is_dead_here(), !me.machine.is_empty());
        let elsewhere = Holder {
            machine: "another-boot/pid:[1]".into(),
            ..gone
        };
        assert!(!elsewhere.is_dead_here(), "same host name, another machine");
    }
}
