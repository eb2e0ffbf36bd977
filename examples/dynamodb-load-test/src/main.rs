//! A DynamoDB write load test, run as a wharf job (seed 000's workload).
//!
//! `dynamodb-load-test [--config-path /dynamodb-load-test/]` reads its settings from the SSM
//! parameter tree at that path (`LOADTEST_CONFIG_PATH`, which is also what wharf binds a
//! `parameters` data store named `loadtest-config` as; `-` reads none), each overridable by
//! `LOADTEST_<NAME>` (see [`config`]); makes sure the table exists (creating it with the
//! configured capacity when it does not, and removing it afterwards); writes `total-items`
//! items, a known share of them duplicates; reads a sample back; deletes what it wrote when
//! `cleanup-after-test` is true; prints the report as text and as one JSON line.
//!
//! Exit codes: 0 every item accounted for; 1 items lost (or duplicates miscounted); 2 bad
//! configuration; 3 the table could not be reached or made; 143 stopped by SIGTERM (after the
//! in-flight writes finished and the report was printed).

mod config;
mod load;
mod report;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ProvisionedThroughput,
    ScalarAttributeType, TableStatus,
};

/// Seed 000 used `/aws/dynamodb-load-test/`, but SSM reserves names starting with `aws`.
const DEFAULT_PATH: &str = "/dynamodb-load-test/";
/// How long a table the test created gets to become active.
const TABLE_WAIT: Duration = Duration::from_secs(120);
/// Items read back to check they landed.
const SAMPLE: u64 = 100;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    std::process::exit(rt.block_on(run()));
}

fn config_path() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    let mut path = std::env::var("LOADTEST_CONFIG_PATH").unwrap_or_else(|_| DEFAULT_PATH.into());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config-path" => path = args.next().ok_or("--config-path needs a value")?,
            "-h" | "--help" => {
                return Err(format!(
                    "usage: dynamodb-load-test [--config-path PATH]  (default {DEFAULT_PATH}; - for none)\nsettings: {}; each overridable by LOADTEST_<NAME>",
                    config::KEYS.join(", ")
                ))
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(path)
}

async fn run() -> i32 {
    let path = match config_path() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        // Retries are the test's own: counted, with backoff and jitter.
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(10))
                .build(),
        )
        .load()
        .await;
    let params = if path == "-" {
        Default::default()
    } else {
        match config::read_tree(&aws_sdk_ssm::Client::new(&sdk), &path).await {
            Ok(p) => p,
            Err(e) => {
                eprintln!("configuration: {e}");
                return 2;
            }
        }
    };
    let cfg = match config::Config::from_sources(&params, &|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration: {e}");
            return 2;
        }
    };
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let (created, wcu) = match ensure_table(&ddb, &cfg).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("table {}: {e}", cfg.table_name);
            return 3;
        }
    };
    let per_second =
        (wcu > 0).then(|| (wcu as u64 * u64::from(cfg.max_concurrency_percentage) / 100).max(1));

    let stop = Arc::new(AtomicBool::new(false));
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            if term.recv().await.is_some() {
                eprintln!("SIGTERM: no new writes; finishing those in flight");
                stop.store(true, Ordering::SeqCst);
            }
        });
    }

    let run_id = format!(
        "run{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let writes = load::plan(&cfg, fastrand::u64(..));
    eprintln!(
        "writing {} items ({} duplicates) to {} with at most {} in flight{}",
        cfg.total_items,
        cfg.duplicates(),
        cfg.table_name,
        cfg.concurrency_limit,
        per_second.map_or(String::new(), |r| format!(", {r} writes/s"))
    );
    let started = Instant::now();
    let tally = load::run(&ddb, &cfg, &run_id, &writes, per_second, stop.clone()).await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut report = report::Report::new(
        &cfg.table_name,
        &run_id,
        cfg.total_items,
        cfg.duplicates(),
        tally,
        elapsed,
    );
    report.rate_limit_per_s = per_second;
    report.interrupted = stop.load(Ordering::SeqCst);

    let unique = cfg.total_items - cfg.duplicates();
    let step = (unique / SAMPLE).max(1);
    let sample: Vec<String> = (0..unique)
        .step_by(step as usize)
        .take(SAMPLE as usize)
        .map(|k| load::key(&run_id, k))
        .collect();
    if !report.interrupted {
        match load::missing(&ddb, &cfg.table_name, &sample).await {
            Ok(m) => {
                report.read_back_sampled = sample.len() as u64;
                report.read_back_missing = m;
            }
            Err(e) => report.first_errors.push(format!("read back: {e}")),
        }
    }
    if cfg.cleanup_after_test {
        let keys: Vec<String> = (0..unique).map(|k| load::key(&run_id, k)).collect();
        match load::delete_all(&ddb, &cfg.table_name, &keys).await {
            Ok(n) => report.cleaned_up = Some(n),
            Err(e) => report.first_errors.push(format!("cleanup: {e}")),
        }
        if created {
            if let Err(e) = ddb.delete_table().table_name(&cfg.table_name).send().await {
                report.first_errors.push(format!(
                    "delete the table the test made: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                ));
            }
        }
    }
    println!("{report}");
    println!(
        "{}",
        serde_json::json!({ "report": &report, "complete": report.complete() })
    );
    match (report.interrupted, report.complete()) {
        (true, _) => 143,
        (false, true) => 0,
        (false, false) => 1,
    }
}

/// The table's provisioned write capacity (0: on demand), creating the table when it does not
/// exist; answers whether it was created here.
async fn ensure_table(
    ddb: &aws_sdk_dynamodb::Client,
    cfg: &config::Config,
) -> Result<(bool, i64), String> {
    let show = |e: &dyn std::fmt::Display| e.to_string();
    match ddb
        .describe_table()
        .table_name(&cfg.table_name)
        .send()
        .await
    {
        Ok(d) => {
            let t = d.table().ok_or("DescribeTable answered no table")?;
            let on_demand = t
                .billing_mode_summary()
                .and_then(|b| b.billing_mode())
                .is_some_and(|m| *m == BillingMode::PayPerRequest);
            let wcu = if on_demand {
                0
            } else {
                t.provisioned_throughput()
                    .and_then(|p| p.write_capacity_units())
                    .unwrap_or(0)
            };
            Ok((false, wcu))
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            let mut create = ddb
                .create_table()
                .table_name(&cfg.table_name)
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name("pk")
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .map_err(|e| show(&e))?,
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name("pk")
                        .key_type(KeyType::Hash)
                        .build()
                        .map_err(|e| show(&e))?,
                );
            let wcu = cfg.write_capacity_units;
            create = if wcu == 0 || cfg.read_capacity_units == 0 {
                create.billing_mode(BillingMode::PayPerRequest)
            } else {
                create
                    .billing_mode(BillingMode::Provisioned)
                    .provisioned_throughput(
                        ProvisionedThroughput::builder()
                            .read_capacity_units(cfg.read_capacity_units)
                            .write_capacity_units(wcu)
                            .build()
                            .map_err(|e| show(&e))?,
                    )
            };
            create
                .send()
                .await
                .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
            let deadline = Instant::now() + TABLE_WAIT;
            loop {
                let d = ddb
                    .describe_table()
                    .table_name(&cfg.table_name)
                    .send()
                    .await
                    .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
                if d.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "created, but not active within {} s",
                        TABLE_WAIT.as_secs()
                    ));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Ok((true, if cfg.read_capacity_units == 0 { 0 } else { wcu }))
        }
        Err(e) => Err(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()),
    }
}
