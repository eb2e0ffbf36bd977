//! The final report: text for a person, then the same as one JSON line for a machine.

use serde::Serialize;

use crate::load::Tally;

#[derive(Debug, Serialize)]
pub struct Report {
    pub table: String,
    pub run: String,
    pub planned: u64,
    pub started: u64,
    pub written: u64,
    pub duplicates_expected: u64,
    pub duplicates_rejected: u64,
    pub errors: u64,
    pub throttles: u64,
    pub retries: u64,
    /// Writes that neither landed nor were rejected as duplicates.
    pub lost: u64,
    pub read_back_sampled: u64,
    pub read_back_missing: u64,
    /// Items deleted afterwards (None: cleanup off).
    pub cleaned_up: Option<u64>,
    pub elapsed_s: f64,
    pub items_per_s: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// The pace writes were held to (None: the concurrency limit alone).
    pub rate_limit_per_s: Option<u64>,
    pub interrupted: bool,
    pub first_errors: Vec<String>,
}

/// The `q`-quantile (0–1) of sorted microseconds, in milliseconds.
pub fn quantile_ms(sorted_us: &[u64], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((sorted_us.len() as f64 * q).ceil() as usize).clamp(1, sorted_us.len()) - 1;
    sorted_us[i] as f64 / 1000.0
}

impl Report {
    pub fn new(
        table: &str,
        run: &str,
        planned: u64,
        expected_dups: u64,
        mut t: Tally,
        elapsed_s: f64,
    ) -> Report {
        t.latencies_us.sort_unstable();
        let done = t.written + t.rejected;
        Report {
            table: table.to_owned(),
            run: run.to_owned(),
            planned,
            started: t.started,
            written: t.written,
            duplicates_expected: expected_dups,
            duplicates_rejected: t.rejected,
            errors: t.errors,
            throttles: t.throttles,
            retries: t.retries,
            lost: t.started.saturating_sub(done),
            read_back_sampled: 0,
            read_back_missing: 0,
            cleaned_up: None,
            elapsed_s,
            items_per_s: if elapsed_s > 0.0 {
                done as f64 / elapsed_s
            } else {
                0.0
            },
            p50_ms: quantile_ms(&t.latencies_us, 0.50),
            p95_ms: quantile_ms(&t.latencies_us, 0.95),
            p99_ms: quantile_ms(&t.latencies_us, 0.99),
            rate_limit_per_s: None,
            interrupted: false,
            first_errors: t.first_errors,
        }
    }

    /// Whether every write is accounted for: written, or rejected as exactly the duplicates
    /// planned, and the sample read back whole.
    pub fn complete(&self) -> bool {
        self.lost == 0
            && self.read_back_missing == 0
            && !self.interrupted
            && self.duplicates_rejected == self.duplicates_expected
            && self.written + self.duplicates_rejected == self.planned
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "DynamoDB load test on {} (run {})", self.table, self.run)?;
        if self.interrupted {
            writeln!(
                f,
                "  INTERRUPTED (SIGTERM): {} of {} writes started",
                self.started, self.planned
            )?;
        }
        writeln!(f, "  written            {:>10}", self.written)?;
        writeln!(
            f,
            "  duplicates         {:>10} rejected of {} injected",
            self.duplicates_rejected, self.duplicates_expected
        )?;
        writeln!(f, "  errors             {:>10}", self.errors)?;
        writeln!(f, "  lost               {:>10}", self.lost)?;
        writeln!(f, "  throttles          {:>10}", self.throttles)?;
        writeln!(f, "  retries            {:>10}", self.retries)?;
        writeln!(
            f,
            "  read back          {:>10} sampled, {} missing",
            self.read_back_sampled, self.read_back_missing
        )?;
        match self.cleaned_up {
            Some(n) => writeln!(f, "  cleaned up         {n:>10} items")?,
            None => writeln!(
                f,
                "  cleaned up                 no (cleanup-after-test = false)"
            )?,
        }
        writeln!(
            f,
            "  items/s            {:>10.1} over {:.2} s",
            self.items_per_s, self.elapsed_s
        )?;
        match self.rate_limit_per_s {
            Some(r) => writeln!(f, "  paced to           {r:>10} writes/s")?,
            None => writeln!(
                f,
                "  paced to                   the concurrency limit (on-demand table)"
            )?,
        }
        writeln!(
            f,
            "  latency ms         p50 {:.2}  p95 {:.2}  p99 {:.2}",
            self.p50_ms, self.p95_ms, self.p99_ms
        )?;
        for e in &self.first_errors {
            writeln!(f, "  error: {e}")?;
        }
        write!(
            f,
            "  {}",
            if self.complete() {
                "COMPLETE: every item accounted for"
            } else {
                "INCOMPLETE: items lost or unaccounted for"
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_the_nearest_rank() {
        let us: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(quantile_ms(&us, 0.50), 50.0);
        assert_eq!(quantile_ms(&us, 0.99), 99.0);
        assert_eq!(quantile_ms(&[], 0.5), 0.0);
    }
}
