//! The writes. At most `concurrency_limit` requests are in flight, started no faster than the
//! write budget allows (a share of the table's provisioned write capacity per second; on-demand
//! tables: the concurrency limit alone). Every write is conditional on the key being new
//! (`attribute_not_exists(pk)`), so of a key written twice exactly one write is accepted and the
//! other counted as a rejected duplicate. Throttling and transient failures are retried with
//! capped exponential backoff and full jitter; a write whose answer was lost and whose retry
//! meets its own item counts as written, not as a duplicate.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use crate::config::Config;

/// Attempts per write before it counts as an error.
pub const MAX_ATTEMPTS: u32 = 12;
const BACKOFF_BASE: Duration = Duration::from_millis(25);
const BACKOFF_CAP: Duration = Duration::from_secs(5);

/// What the writes came to.
#[derive(Debug, Default)]
pub struct Tally {
    pub written: u64,
    pub rejected: u64,
    pub throttles: u64,
    pub retries: u64,
    pub errors: u64,
    /// The first few errors, as the service put them.
    pub first_errors: Vec<String>,
    /// Each accepted or rejected write, start to answer (retries included), microseconds.
    pub latencies_us: Vec<u64>,
    /// Writes started; fewer than planned when the run was interrupted.
    pub started: u64,
}

/// The key written by each write, in the order they are sent: the unique keys, and the
/// duplicates (a key each, never the same twice) shuffled in among them.
pub fn plan(cfg: &Config, seed: u64) -> Vec<u64> {
    let dups = cfg.duplicates();
    let unique = cfg.total_items - dups;
    let mut writes: Vec<u64> = (0..unique).collect();
    // Spread the duplicated keys over the whole key range.
    writes.extend((0..dups).map(|j| j * unique / dups.max(1)));
    fastrand::Rng::with_seed(seed).shuffle(&mut writes);
    writes
}

/// The item key of key number `k` in run `run`.
pub fn key(run: &str, k: u64) -> String {
    format!("{run}-{k:010}")
}

/// Paces the start of writes to `per_second` (None: no pacing).
struct Pacer {
    interval: Option<Duration>,
    next: Mutex<Instant>,
}

impl Pacer {
    fn new(per_second: Option<u64>) -> Pacer {
        Pacer {
            interval: per_second.map(|r| Duration::from_secs_f64(1.0 / r.max(1) as f64)),
            next: Mutex::new(Instant::now()),
        }
    }

    async fn wait(&self) {
        let Some(step) = self.interval else {
            return;
        };
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let at = (*next).max(Instant::now());
            *next = at + step;
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }
}

enum Answer {
    Written,
    Rejected,
}

/// Sends every planned write; stops starting new ones once `stop` is set.
pub async fn run(
    ddb: &Client,
    cfg: &Config,
    run_id: &str,
    writes: &[u64],
    per_second: Option<u64>,
    stop: Arc<AtomicBool>,
) -> Tally {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let permits = Arc::new(tokio::sync::Semaphore::new(cfg.concurrency_limit));
    let pacer = Arc::new(Pacer::new(per_second));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, k) in writes.iter().enumerate() {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        if stop.load(Ordering::SeqCst) {
            break;
        }
        pacer.wait().await;
        tally.lock().unwrap_or_else(|p| p.into_inner()).started += 1;
        let (ddb, table, tally) = (ddb.clone(), cfg.table_name.clone(), tally.clone());
        let pk = key(run_id, *k);
        tasks.spawn(async move {
            let started = Instant::now();
            let out = write(&ddb, &table, &pk, index as u64, &tally).await;
            let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
            match out {
                Ok(a) => {
                    match a {
                        Answer::Written => t.written += 1,
                        Answer::Rejected => t.rejected += 1,
                    }
                    t.latencies_us.push(started.elapsed().as_micros() as u64);
                }
                Err(e) => {
                    t.errors += 1;
                    if t.first_errors.len() < 5 {
                        t.first_errors.push(format!("{pk}: {e}"));
                    }
                }
            }
            drop(permit);
        });
        // Reap finished writes as we go: the set stays as small as the concurrency.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    Arc::try_unwrap(tally)
        .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
        .unwrap_or_else(|shared| {
            std::mem::take(&mut *shared.lock().unwrap_or_else(|p| p.into_inner()))
        })
}

/// How a failed attempt is treated.
enum Failure {
    /// Refused before anything was written: try again.
    Throttled,
    /// The answer is unknown (the write may have happened): try again, then check.
    Unknown,
    Conditional,
    Fatal(String),
}

fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: &SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> Failure {
    match e {
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or_default();
            match code {
                "ConditionalCheckFailedException" => Failure::Conditional,
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "Throttling"
                | "TooManyRequestsException" => Failure::Throttled,
                _ if s.raw().status().as_u16() >= 500 => Failure::Unknown,
                _ => Failure::Fatal(short(e)),
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            Failure::Unknown
        }
        other => Failure::Fatal(short(other)),
    }
}

/// One line for an error: the service's code and message, or what went wrong on the way.
pub fn short<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: &SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> String {
    match e {
        SdkError::ServiceError(s) => format!(
            "{}: {}",
            s.err().code().unwrap_or("error"),
            s.err().message().unwrap_or("(no message)")
        ),
        SdkError::DispatchFailure(_) => "the connection failed".into(),
        SdkError::TimeoutError(_) => "timed out".into(),
        SdkError::ResponseError(_) => "the answer did not read".into(),
        other => aws_sdk_dynamodb::error::DisplayErrorContext(other).to_string(),
    }
}

/// Capped exponential backoff with full jitter before attempt `attempt` (1-based retries).
pub fn backoff(attempt: u32) -> Duration {
    let cap = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_CAP);
    cap.mul_f64(fastrand::f64())
}

async fn write(
    ddb: &Client,
    table: &str,
    pk: &str,
    index: u64,
    tally: &Mutex<Tally>,
) -> Result<Answer, String> {
    let mut unknown = false;
    for attempt in 1..=MAX_ATTEMPTS {
        let sent = ddb
            .put_item()
            .table_name(table)
            .item("pk", AttributeValue::S(pk.to_owned()))
            .item("w", AttributeValue::N(index.to_string()))
            .item("payload", AttributeValue::S(PAYLOAD.to_owned()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        let failure = match sent {
            Ok(_) => return Ok(Answer::Written),
            Err(e) => classify(&e),
        };
        match failure {
            Failure::Conditional if unknown => {
                // An earlier attempt's answer was lost: the item there may be this write's.
                return match writer_of(ddb, table, pk).await {
                    Ok(Some(w)) if w == index => Ok(Answer::Written),
                    Ok(_) => Ok(Answer::Rejected),
                    Err(e) => Err(format!(
                        "after a lost answer, cannot read the item back: {e}"
                    )),
                };
            }
            Failure::Conditional => return Ok(Answer::Rejected),
            Failure::Fatal(m) => return Err(m),
            Failure::Throttled => tally.lock().unwrap_or_else(|p| p.into_inner()).throttles += 1,
            Failure::Unknown => unknown = true,
        }
        if attempt < MAX_ATTEMPTS {
            tally.lock().unwrap_or_else(|p| p.into_inner()).retries += 1;
            tokio::time::sleep(backoff(attempt)).await;
        }
    }
    Err(format!(
        "still throttled or failing after {MAX_ATTEMPTS} attempts"
    ))
}

/// The write index stored in the item at `pk` (consistent read), retried like a write.
async fn writer_of(ddb: &Client, table: &str, pk: &str) -> Result<Option<u64>, String> {
    let mut attempt = 0;
    let got = loop {
        attempt += 1;
        let sent = ddb
            .get_item()
            .table_name(table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .consistent_read(true)
            .send()
            .await;
        match sent {
            Ok(got) => break got,
            Err(e) => match classify(&e) {
                Failure::Throttled | Failure::Unknown if attempt < MAX_ATTEMPTS => {
                    tokio::time::sleep(backoff(attempt)).await
                }
                _ => return Err(short(&e)),
            },
        }
    };
    Ok(got
        .item()
        .and_then(|i| i.get("w"))
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok()))
}

/// How many of `keys` are missing from the table (consistent reads).
pub async fn missing(ddb: &Client, table: &str, keys: &[String]) -> Result<u64, String> {
    let mut missing = 0;
    for pk in keys {
        if writer_of(ddb, table, pk).await?.is_none() {
            missing += 1;
        }
    }
    Ok(missing)
}

/// Deletes `keys` in batches of 25, retrying what DynamoDB leaves unprocessed; answers how
/// many were deleted.
pub async fn delete_all(ddb: &Client, table: &str, keys: &[String]) -> Result<u64, String> {
    use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
    let mut deleted = 0;
    for chunk in keys.chunks(25) {
        let mut pending: Vec<WriteRequest> = chunk
            .iter()
            .map(|pk| {
                let del = DeleteRequest::builder()
                    .key("pk", AttributeValue::S(pk.clone()))
                    .build()
                    .map_err(|e| e.to_string())?;
                Ok(WriteRequest::builder().delete_request(del).build())
            })
            .collect::<Result<_, String>>()?;
        let mut attempt = 0;
        while !pending.is_empty() {
            attempt += 1;
            let n = pending.len() as u64;
            let out = ddb
                .batch_write_item()
                .request_items(table, std::mem::take(&mut pending))
                .send()
                .await;
            match out {
                Ok(o) => {
                    let mut left: HashMap<String, Vec<WriteRequest>> =
                        o.unprocessed_items.unwrap_or_default();
                    pending = left.remove(table).unwrap_or_default();
                    deleted += n - pending.len() as u64;
                }
                Err(e) => match classify(&e) {
                    Failure::Throttled | Failure::Unknown if attempt < MAX_ATTEMPTS => {
                        pending = chunk
                            .iter()
                            .filter_map(|pk| {
                                DeleteRequest::builder()
                                    .key("pk", AttributeValue::S(pk.clone()))
                                    .build()
                                    .ok()
                                    .map(|d| WriteRequest::builder().delete_request(d).build())
                            })
                            .collect();
                    }
                    _ => return Err(short(&e)),
                },
            }
            if !pending.is_empty() {
                if attempt >= MAX_ATTEMPTS {
                    return Err(format!("{} deletes still unprocessed", pending.len()));
                }
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
    }
    Ok(deleted)
}

/// What each item carries besides its key: about 100 bytes, well within one write unit.
const PAYLOAD: &str =
    "wharf dynamodb load test: a payload of about one hundred bytes, padded to that size ....";

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(total: u64, dup: u32) -> Config {
        Config {
            table_name: "t".into(),
            concurrency_limit: 4,
            total_items: total,
            max_concurrency_percentage: 80,
            duplicate_percent: dup,
            cleanup_after_test: true,
            read_capacity_units: 0,
            write_capacity_units: 0,
        }
    }

    #[test]
    fn the_plan_writes_every_key_once_and_the_duplicates_once_more() {
        let c = cfg(1000, 15);
        let p = plan(&c, 7);
        assert_eq!(p.len(), 1000);
        let mut counts = std::collections::BTreeMap::<u64, u32>::new();
        for k in &p {
            *counts.entry(*k).or_default() += 1;
        }
        assert_eq!(counts.len() as u64, 1000 - c.duplicates(), "unique keys");
        assert_eq!(
            counts.values().filter(|n| **n == 2).count() as u64,
            c.duplicates(),
            "each duplicated key written exactly twice"
        );
        assert!(counts.values().all(|n| *n <= 2));
    }

    #[test]
    fn backoff_stays_under_its_cap() {
        for a in 1..40 {
            assert!(backoff(a) <= BACKOFF_CAP);
        }
    }
}
