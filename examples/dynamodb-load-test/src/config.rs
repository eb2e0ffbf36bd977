//! The test's configuration: an SSM parameter tree (`{path}table-name`, `{path}total-items`,
//! …), each value overridable by an environment variable (`LOADTEST_TABLE_NAME`, …). The table
//! may also come from `LOADTEST_TABLE`: what wharf binds a `dynamodb` data store named
//! `loadtest` as, so the table the data stack made is used whatever name it got.

use std::collections::BTreeMap;

/// The parameter names under the tree, as seed 000 lays them out.
pub const KEYS: &[&str] = &[
    "table-name",
    "concurrency-limit",
    "total-items",
    "max-concurrency-percentage",
    "inject-duplicates",
    "cleanup-after-test",
    "read-capacity-units",
    "write-capacity-units",
];

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Config {
    pub table_name: String,
    /// Requests in flight at most.
    pub concurrency_limit: usize,
    /// Writes to make, duplicates included.
    pub total_items: u64,
    /// Share of the table's provisioned write capacity to use per second, 1–100.
    pub max_concurrency_percentage: u32,
    /// Share of the writes, in percent, that reuse a key written before (0: none).
    pub duplicate_percent: u32,
    pub cleanup_after_test: bool,
    /// Capacity of the table when the test has to create it (0 and 0: on demand).
    pub read_capacity_units: i64,
    pub write_capacity_units: i64,
}

/// A setting that does not read, named with where it came from.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The table of a `dynamodb` data store named `loadtest`, as wharf binds it.
pub const BOUND_TABLE: &str = "LOADTEST_TABLE";

/// The environment variable overriding `key`.
pub fn env_name(key: &str) -> String {
    format!("LOADTEST_{}", key.to_ascii_uppercase().replace('-', "_"))
}

impl Config {
    /// Reads the settings from `params` (parameter name below the tree → value), each
    /// replaced by its environment variable when `env` has it.
    pub fn from_sources(
        params: &BTreeMap<String, String>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let get = |key: &str| -> Option<(String, String)> {
            let var = env_name(key);
            env(&var).map(|v| (v, var)).or_else(|| {
                params
                    .get(key)
                    .map(|v| (v.clone(), format!("parameter {key}")))
            })
        };
        fn num<T: std::str::FromStr>(
            v: Option<(String, String)>,
            default: T,
            ok: impl Fn(&T) -> bool,
            what: &str,
        ) -> Result<T, ConfigError> {
            match v {
                None => Ok(default),
                Some((v, from)) => match v.trim().parse::<T>() {
                    Ok(n) if ok(&n) => Ok(n),
                    _ => Err(ConfigError(format!("{from} = {v:?}: expected {what}"))),
                },
            }
        }
        let table_name = get("table-name")
            .or_else(|| env(BOUND_TABLE).map(|v| (v, BOUND_TABLE.to_owned())))
            .map(|(v, _)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                ConfigError(format!(
                    "no table name: set the parameter table-name or {}",
                    env_name("table-name")
                ))
            })?;
        let duplicate_percent = match get("inject-duplicates") {
            None => 0,
            Some((v, from)) => match v.trim().to_ascii_lowercase().as_str() {
                "false" | "no" | "0" => 0,
                "true" | "yes" => 10,
                other => match other.trim_end_matches('%').parse::<u32>() {
                    Ok(p) if p <= 50 => p,
                    _ => {
                        return Err(ConfigError(format!(
                            "{from} = {v:?}: expected true, false or a percentage from 0 to 50"
                        )))
                    }
                },
            },
        };
        let cleanup_after_test = match get("cleanup-after-test") {
            None => true,
            Some((v, from)) => match v.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => true,
                "false" | "no" | "0" => false,
                _ => {
                    return Err(ConfigError(format!(
                        "{from} = {v:?}: expected true or false"
                    )))
                }
            },
        };
        Ok(Config {
            table_name,
            concurrency_limit: num(
                get("concurrency-limit"),
                16,
                |n| (1..=1024).contains(n),
                "1 to 1024",
            )?,
            total_items: num(
                get("total-items"),
                1000,
                |n| (1..=100_000_000).contains(n),
                "1 to 100,000,000",
            )?,
            max_concurrency_percentage: num(
                get("max-concurrency-percentage"),
                80,
                |n| (1..=100).contains(n),
                "1 to 100",
            )?,
            duplicate_percent,
            cleanup_after_test,
            read_capacity_units: num(get("read-capacity-units"), 0, |n| *n >= 0, "0 or more")?,
            write_capacity_units: num(get("write-capacity-units"), 0, |n| *n >= 0, "0 or more")?,
        })
    }

    /// How many of the writes reuse a key: exactly this many are rejected.
    pub fn duplicates(&self) -> u64 {
        self.total_items * u64::from(self.duplicate_percent) / 100
    }
}

/// Every parameter below `path` (recursive, decrypted), by its name relative to `path`.
pub async fn read_tree(
    ssm: &aws_sdk_ssm::Client,
    path: &str,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let prefix = if path.ends_with('/') {
        path.to_owned()
    } else {
        format!("{path}/")
    };
    let mut out = BTreeMap::new();
    let mut next: Option<String> = None;
    loop {
        let page = ssm
            .get_parameters_by_path()
            .path(prefix.trim_end_matches('/'))
            .recursive(true)
            .with_decryption(true)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| {
                ConfigError(format!(
                    "cannot read the parameters under {prefix}: {}",
                    aws_sdk_ssm::error::DisplayErrorContext(e)
                ))
            })?;
        for p in page.parameters() {
            if let (Some(name), Some(value)) = (p.name(), p.value()) {
                let key = name.strip_prefix(&prefix).unwrap_or(name);
                out.insert(key.to_owned(), value.to_owned());
            }
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parameters_are_read_and_the_environment_overrides_them() {
        let p = params(&[
            ("table-name", "t1"),
            ("total-items", "500"),
            ("inject-duplicates", "20"),
            ("concurrency-limit", "8"),
        ]);
        let env = |k: &str| (k == "LOADTEST_CONCURRENCY_LIMIT").then(|| "4".to_owned());
        let c = Config::from_sources(&p, &env).expect("valid");
        assert_eq!(c.table_name, "t1");
        assert_eq!(c.concurrency_limit, 4, "the environment wins");
        assert_eq!((c.total_items, c.duplicates()), (500, 100));
        assert!(c.cleanup_after_test, "cleans up unless told not to");
    }

    #[test]
    fn the_bound_table_is_used_when_the_tree_names_none() {
        let env = |k: &str| (k == BOUND_TABLE).then(|| "loadtest-test-loadtest".to_owned());
        let c = Config::from_sources(&params(&[]), &env).expect("valid");
        assert_eq!(c.table_name, "loadtest-test-loadtest");
    }

    #[test]
    fn a_bad_value_names_its_source() {
        let p = params(&[("table-name", "t"), ("total-items", "many")]);
        let e = Config::from_sources(&p, &|_| None).expect_err("refused");
        assert!(e.0.contains("parameter total-items"), "{e}");
        let e = Config::from_sources(&params(&[]), &|_| None).expect_err("no table");
        assert!(e.0.contains("LOADTEST_TABLE_NAME"), "{e}");
    }
}
