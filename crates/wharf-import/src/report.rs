//! The import report: every key of the source, what became of it and why. Printed on standard
//! error by `wharf import` (JSON with `--output json`), so the manifest on standard output stays
//! clean.

use std::fmt;

use serde::Serialize;

/// What became of one source key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Carried over with the same meaning.
    Mapped,
    /// Carried over, but wharf does it differently: the reason says how.
    Changed,
    /// Left out: the reason says why and what to do instead.
    NotMapped,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Mapped => "mapped",
            Outcome::Changed => "changed",
            Outcome::NotMapped => "not mapped",
        })
    }
}

/// One source key and its fate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The file it came from, relative to the directory imported.
    pub file: String,
    /// The key's dotted path in that file (`http.healthcheck.path`, `environments.prod.count`).
    pub key: String,
    pub outcome: Outcome,
    /// Where it went in wharf.toml, when it went somewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub reason: String,
}

/// Every entry of one import, in source order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub entries: Vec<Entry>,
}

impl Report {
    pub(crate) fn push(&mut self, e: Entry) {
        if !self
            .entries
            .iter()
            .any(|x| x.file == e.file && x.key == e.key)
        {
            self.entries.push(e);
        }
    }

    /// How many entries had this outcome.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.entries.iter().filter(|e| e.outcome == outcome).count()
    }

    /// The entry for a key of a file, if the report has one.
    pub fn get(&self, file: &str, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.file == file && e.key == key)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut file = "";
        for e in &self.entries {
            if e.file != file {
                file = &e.file;
                writeln!(f, "{file}")?;
            }
            let to =
                e.to.as_deref()
                    .map(|t| format!(" → {t}"))
                    .unwrap_or_default();
            write!(f, "  {:<10} {}{to}", e.outcome.to_string(), e.key)?;
            if e.outcome == Outcome::Mapped {
                writeln!(f)?;
            } else {
                writeln!(f, "\n             {}", e.reason)?;
            }
        }
        writeln!(
            f,
            "{} mapped, {} changed, {} not mapped",
            self.count(Outcome::Mapped),
            self.count(Outcome::Changed),
            self.count(Outcome::NotMapped)
        )
    }
}
