//! What `wharf diagnose` shows: per deployment its timeline, the failing signal, the findings
//! and the tasks' last lines; for the environment, its failed stacks.

use std::fmt;

use serde::Serialize;
use wharf_engine::{Clue, Mark, Record, Source};
use wharf_manifest::names::utc;

use crate::rule::Finding;

/// How many of the tasks' last lines a report shows.
pub const LINES_SHOWN: usize = 10;

/// Words that make a log line worth showing first.
const ERROR_WORDS: &[&str] = &[
    "error",
    "fatal",
    "panic",
    "exception",
    "traceback",
    "failed",
    "refused",
    "denied",
    "killed",
];

/// One deployment, diagnosed.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub service: String,
    /// None: the service has no deployment yet.
    pub deployment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Where it stands: the step it is on, or how it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    pub timeline: Vec<Mark>,
    /// Why the deployment failed, as its record says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    pub findings: Vec<Finding>,
    /// The tasks' last lines worth reading (error lines first, else the last ones).
    pub last_lines: Vec<Clue>,
    /// Evidence no rule recognises (not counting log lines).
    pub unexplained: Vec<Clue>,
    /// What could not be read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Diagnosis {
    pub fn empty(service: &str) -> Diagnosis {
        Diagnosis {
            service: service.to_owned(),
            deployment: None,
            image: None,
            state: None,
            timeline: Vec::new(),
            signal: None,
            findings: Vec::new(),
            last_lines: Vec::new(),
            unexplained: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn new(
        service: &str,
        r: &Record,
        clues: Vec<Clue>,
        findings: Vec<Finding>,
        notes: Vec<String>,
    ) -> Diagnosis {
        let explained = |c: &Clue| findings.iter().any(|f| f.evidence.contains(c));
        let logs: Vec<&Clue> = clues.iter().filter(|c| c.source == Source::Log).collect();
        let errors: Vec<&Clue> = logs
            .iter()
            .copied()
            .filter(|c| {
                let t = c.text.to_ascii_lowercase();
                ERROR_WORDS.iter().any(|w| t.contains(w))
            })
            .collect();
        let shown = if errors.is_empty() { &logs } else { &errors };
        let last_lines = shown[shown.len().saturating_sub(LINES_SHOWN)..]
            .iter()
            .map(|c| (*c).clone())
            .collect();
        let unexplained = clues
            .iter()
            .filter(|c| c.source != Source::Log && !explained(c))
            .cloned()
            .collect();
        Diagnosis {
            service: service.to_owned(),
            deployment: Some(r.id.clone()),
            image: Some(r.image.clone()),
            state: Some(r.phase()),
            timeline: r.marks.clone(),
            signal: clues
                .iter()
                .find(|c| c.source == Source::Record)
                .map(|c| c.text.clone()),
            findings,
            last_lines,
            unexplained,
            notes,
        }
    }

    /// The first finding's headline, or the signal: what a notification or a summary says.
    pub fn headline(&self) -> Option<String> {
        match (self.findings.first(), &self.signal) {
            (Some(f), _) => Some(match &f.detail {
                Some(d) => format!("{} ({d}) [{}]", f.title, f.id),
                None => format!("{} [{}]", f.title, f.id),
            }),
            (None, Some(s)) => Some(s.clone()),
            (None, None) => None,
        }
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(id) = &self.deployment else {
            return writeln!(
                f,
                "{}: no deployment yet (`wharf deploy` makes one)",
                self.service
            );
        };
        write!(f, "{} {id}", self.service)?;
        if let Some(s) = &self.state {
            write!(f, ": {s}")?;
        }
        writeln!(f)?;
        if let Some(i) = &self.image {
            writeln!(f, "  image {i}")?;
        }
        if !self.timeline.is_empty() {
            writeln!(f, "  timeline")?;
            for m in &self.timeline {
                writeln!(f, "    {}  {}", utc(m.at_ms), m.what)?;
            }
        }
        if let Some(s) = &self.signal {
            writeln!(f, "  failed: {s}")?;
        }
        for finding in &self.findings {
            for (i, line) in finding.to_string().lines().enumerate() {
                let mark = if i == 0 { "✗ " } else { "" };
                writeln!(f, "  {mark}{line}")?;
            }
        }
        if self.findings.is_empty() && (self.signal.is_some() || !self.unexplained.is_empty()) {
            writeln!(f, "  no rule of the catalog recognises this evidence:")?;
            for c in &self.unexplained {
                writeln!(f, "    {c}")?;
            }
            writeln!(f, "  read the tasks' lines below and `wharf logs --deployment {id}`; docs/diagnose.md lists what wharf recognises")?;
        } else if !self.unexplained.is_empty() {
            writeln!(f, "  also seen:")?;
            for c in &self.unexplained {
                writeln!(f, "    {c}")?;
            }
        }
        if self.findings.is_empty() && self.signal.is_none() && self.unexplained.is_empty() {
            writeln!(f, "  nothing wrong found")?;
        }
        if !self.last_lines.is_empty() {
            writeln!(f, "  last lines of its tasks:")?;
            for c in &self.last_lines {
                let task = c.task.as_deref().map(wharf_engine::evidence::short_task);
                writeln!(f, "    {} | {}", task.unwrap_or("?"), c.text)?;
            }
        }
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        Ok(())
    }
}

/// An environment, diagnosed: its stacks, and the services looked at.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub environment: String,
    pub stacks: Vec<Finding>,
    pub services: Vec<Diagnosis>,
}

impl Report {
    /// Whether anything is wrong: a finding, or a deployment that failed.
    pub fn found_anything(&self) -> bool {
        !self.stacks.is_empty()
            || self
                .services
                .iter()
                .any(|d| !d.findings.is_empty() || d.signal.is_some())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.stacks.is_empty() {
            writeln!(f, "environment {}: a stack failed", self.environment)?;
            for finding in &self.stacks {
                for (i, line) in finding.to_string().lines().enumerate() {
                    let mark = if i == 0 { "✗ " } else { "" };
                    writeln!(f, "  {mark}{line}")?;
                }
            }
        }
        if self.services.is_empty() && self.stacks.is_empty() {
            writeln!(
                f,
                "environment {}: nothing to diagnose: every service's latest deployment succeeded (name one to look at it anyway)",
                self.environment
            )?;
        }
        for (i, d) in self.services.iter().enumerate() {
            if i > 0 || !self.stacks.is_empty() {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}
