//! Reads of CloudWatch kept while they are fresh. Alarms are evaluated and load-balancer
//! metrics published once a minute, so reading them on every poll of a bake (every second)
//! read the same answer sixty times: the alarm gate reads them at most every [`CLOUDWATCH_MS`],
//! which keeps it within seconds of CloudWatch and saves two calls on most polls.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a CloudWatch answer is used again.
pub const CLOUDWATCH_MS: u64 = 10_000;

/// Answers by key, each with when it was read.
#[derive(Debug)]
pub struct Fresh<T> {
    ttl: Duration,
    kept: Mutex<HashMap<String, (Instant, T)>>,
}

impl<T: Clone> Fresh<T> {
    pub fn new(ttl_ms: u64) -> Self {
        Fresh {
            ttl: Duration::from_millis(ttl_ms),
            kept: Mutex::new(HashMap::new()),
        }
    }

    /// The answer read for `key` less than the freshness ago.
    pub fn get(&self, key: &str) -> Option<T> {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    /// The answer for `key` while fresh, else what `read` answers (then kept).
    pub async fn get_or_read<E>(
        &self,
        key: &str,
        read: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        if let Some(kept) = self.get(key) {
            return Ok(kept);
        }
        let value = read.await?;
        self.put(key, value.clone());
        Ok(value)
    }

    pub fn put(&self, key: &str, value: T) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.retain(|_, (at, _)| at.elapsed() < self.ttl);
        kept.insert(key.to_owned(), (Instant::now(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_used_again_only_while_fresh() {
        let f = Fresh::new(60_000);
        assert_eq!(f.get("a"), None);
        f.put("a", 1);
        assert_eq!(f.get("a"), Some(1));
        assert_eq!(f.get("b"), None);
        let stale = Fresh::new(0);
        stale.put("a", 1);
        assert_eq!(stale.get("a"), None, "a zero freshness never reuses");
    }
}
