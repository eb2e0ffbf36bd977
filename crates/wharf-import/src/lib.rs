//! `wharf import`: a Copilot workspace or an ecspresso config → `wharf.toml`, and a report of
//! every key of the source — mapped, changed (with how) or not mapped (with why and what to do).
//! Pure: it reads files and returns text; the CLI writes them.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod assemble;
pub mod copilot;
mod doc;
pub mod ecspresso;
mod error;
mod refs;
mod report;
mod source;
mod text;
mod yaml;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

pub use error::ImportError;
pub use report::{Entry, Outcome, Report};

/// What an import produced: the manifest's text and the report.
#[derive(Debug, Clone, Serialize)]
pub struct Imported {
    pub app: String,
    pub environments: Vec<String>,
    pub services: Vec<String>,
    pub jobs: Vec<String>,
    pub data: Vec<String>,
    #[serde(skip)]
    pub manifest: String,
    pub report: Report,
}

/// A flag given for every environment (`123456789012`) or for one (`prod=123456789012`).
#[derive(Debug, Clone, Default)]
pub struct PerEnv {
    all: Option<String>,
    by_env: BTreeMap<String, String>,
}

impl PerEnv {
    /// Parses `--account`/`--region` values; `check` says whether a value is well formed.
    pub fn parse(
        flag: &'static str,
        values: &[String],
        check: fn(&str) -> bool,
        example: &str,
    ) -> Result<PerEnv, ImportError> {
        let mut out = PerEnv::default();
        for v in values {
            let (env, value) = match v.split_once('=') {
                Some((e, x)) => (Some(e.trim()), x.trim()),
                None => (None, v.trim()),
            };
            if !check(value) {
                return Err(ImportError::BadFlag {
                    flag,
                    value: v.clone(),
                    help: format!("--{flag} {example} for every environment, or --{flag} ENV={example} for one"),
                });
            }
            match env {
                Some(e) => {
                    out.by_env.insert(e.to_owned(), value.to_owned());
                }
                None => out.all = Some(value.to_owned()),
            }
        }
        Ok(out)
    }

    pub fn get(&self, env: &str) -> Option<&str> {
        self.by_env
            .get(env)
            .or(self.all.as_ref())
            .map(String::as_str)
    }
}

/// Twelve digits.
pub fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `eu-west-1`, `us-gov-west-1`, `ap-southeast-2`.
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// A name as wharf takes names: lowercase letters, digits and hyphens, starting with a letter,
/// at most `max` characters.
pub fn name(raw: &str, max: usize) -> String {
    let mut out = String::new();
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut out = out.trim_end_matches('-').to_owned();
    if !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out.insert_str(0, "a-");
    }
    out.truncate(max);
    out.trim_end_matches('-').to_owned()
}

pub(crate) fn read(path: &Path) -> Result<String, ImportError> {
    std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_valid() {
        assert_eq!(name("My_App", 16), "my-app");
        assert_eq!(name("a-very-long-application-name", 16), "a-very-long-appl");
        assert_eq!(name("9lives", 16), "a-9lives");
        assert_eq!(name("front--end-", 32), "front-end");
    }

    #[test]
    fn flags_apply_to_one_environment_or_all() {
        let p = PerEnv::parse(
            "account",
            &["111111111111".into(), "prod=222222222222".into()],
            is_account,
            "123456789012",
        )
        .unwrap();
        assert_eq!(p.get("test"), Some("111111111111"));
        assert_eq!(p.get("prod"), Some("222222222222"));
        assert!(PerEnv::parse("account", &["prod=12".into()], is_account, "123456789012").is_err());
        assert!(is_region("us-gov-west-1") && !is_region("europe"));
    }
}
