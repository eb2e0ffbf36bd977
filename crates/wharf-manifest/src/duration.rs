//! Durations as the manifest writes them: `"500ms"`, `"5s"`, `"2m"`, `"1h30m"`, `"1d"`.

use std::fmt;

use serde::{Serialize, Serializer};

/// A duration with millisecond precision that displays the way it is written in a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    millis: u64,
}

impl Duration {
    pub const ZERO: Duration = Duration { millis: 0 };

    pub const fn from_secs(secs: u64) -> Self {
        Duration {
            millis: secs * 1000,
        }
    }

    pub const fn from_millis(millis: u64) -> Self {
        Duration { millis }
    }

    pub fn as_millis(self) -> u64 {
        self.millis
    }

    /// Whole seconds, rounded up (what AWS APIs that take seconds are given).
    pub fn as_secs_ceil(self) -> u64 {
        self.millis.div_ceil(1000)
    }

    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.millis)
    }

    /// Parses `"1h30m"`, `"5s"`, `"250ms"`; units d, h, m, s, ms; at least one component.
    pub fn parse(s: &str) -> Result<Duration, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("it is empty".into());
        }
        let mut total: u64 = 0;
        let mut rest = t;
        let mut last_unit_rank = u8::MAX;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(format!("expected a number at `{rest}`"));
            }
            let n: u64 = rest[..digits]
                .parse()
                .map_err(|_| "the number is too large".to_string())?;
            rest = &rest[digits..];
            let (unit_ms, rank, len) = if rest.starts_with("ms") {
                (1, 0, 2)
            } else if rest.starts_with('s') {
                (1000, 1, 1)
            } else if rest.starts_with('m') {
                (60_000, 2, 1)
            } else if rest.starts_with('h') {
                (3_600_000, 3, 1)
            } else if rest.starts_with('d') {
                (86_400_000, 4, 1)
            } else if rest.is_empty() {
                return Err(format!("`{n}` has no unit; write \"{n}s\" for seconds"));
            } else {
                return Err(format!("unknown unit at `{rest}` (use ms, s, m, h or d)"));
            };
            if rank >= last_unit_rank {
                return Err("units must go from largest to smallest, each once".into());
            }
            last_unit_rank = rank;
            rest = &rest[len..];
            total = n
                .checked_mul(unit_ms)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| "the duration is too large".to_string())?;
        }
        Ok(Duration { millis: total })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.millis == 0 {
            return f.write_str("0s");
        }
        let mut ms = self.millis;
        for (unit, size) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1000),
            ("ms", 1),
        ] {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays() {
        for (s, ms) in [
            ("5s", 5000),
            ("2m", 120_000),
            ("1h30m", 5_400_000),
            ("250ms", 250),
            ("1m30s", 90_000),
            ("0s", 0),
        ] {
            let d = Duration::parse(s).unwrap();
            assert_eq!(d.as_millis(), ms, "{s}");
            assert_eq!(d.to_string(), s);
        }
    }

    #[test]
    fn rejects_bad_forms() {
        for s in [
            "",
            "5",
            "s",
            "5x",
            "1s1m",
            "1m1m",
            "99999999999999999999s",
            "-1s",
            "1.5s",
        ] {
            assert!(Duration::parse(s).is_err(), "{s:?} should not parse");
        }
    }
}
