//! A rule of the catalog: a stable id, what it means, how to fix it, and what evidence it
//! recognises; and matching the evidence against the catalog, each line explained by the first
//! rule (the most specific) that recognises it.

use std::fmt;

use serde::Serialize;
use wharf_engine::{Clue, Source};
use wharf_manifest::Service;

use crate::stack::{classify, Cause};

/// How a rule recognises evidence.
pub enum Matcher {
    /// A line from one of `sources` (empty: any) whose lowercased text holds every one of `all`,
    /// at least one of `any` (when not empty), and none of `none`.
    Text {
        sources: &'static [Source],
        all: &'static [&'static str],
        any: &'static [&'static str],
        none: &'static [&'static str],
    },
    /// A line from one of `sources` holding one of `first` and one of `second`, and none of
    /// `none`.
    Both {
        sources: &'static [Source],
        first: &'static [&'static str],
        second: &'static [&'static str],
        none: &'static [&'static str],
    },
    /// A failed stack resource whose reason classifies as this cause.
    Stack(Cause),
    /// Code, for what words alone cannot tell (numbers compared with the manifest).
    /// Only evaluated for a service's evidence.
    Custom(fn(&Clue, &Service) -> bool),
}

impl Matcher {
    /// The same text match, also needing one of `more`.
    pub const fn and_any(self, more: &'static [&'static str]) -> Matcher {
        match self {
            Matcher::Text {
                sources, any, none, ..
            } => Matcher::Both {
                sources,
                first: any,
                second: more,
                none,
            },
            other => other,
        }
    }

    /// The same match, refusing text holding any of `words`.
    pub const fn without(self, words: &'static [&'static str]) -> Matcher {
        match self {
            Matcher::Text {
                sources, all, any, ..
            } => Matcher::Text {
                sources,
                all,
                any,
                none: words,
            },
            other => other,
        }
    }
}

/// One entry of the catalog.
pub struct Rule {
    /// Stable: scripts and docs refer to it.
    pub id: &'static str,
    /// The headline: what went wrong.
    pub title: &'static str,
    /// Why it happens.
    pub cause: &'static str,
    /// What to do.
    pub fix: &'static str,
    pub matcher: Matcher,
    /// A line of evidence as the runtime words it, which the rule must recognise (its test,
    /// and its example in docs/diagnose.md).
    pub example: (Source, &'static str),
    /// Pulls a detail out of the matched text (an exit code, the missing permission).
    pub detail: Option<fn(&str) -> Option<String>>,
}

impl Rule {
    pub fn matches(&self, clue: &Clue, service: Option<&Service>) -> bool {
        match &self.matcher {
            Matcher::Text {
                sources,
                all,
                any,
                none,
            } => {
                if !sources.is_empty() && !sources.contains(&clue.source) {
                    return false;
                }
                let t = clue.text.to_ascii_lowercase();
                all.iter().all(|w| t.contains(w))
                    && (any.is_empty() || any.iter().any(|w| t.contains(w)))
                    && !none.iter().any(|w| t.contains(w))
            }
            Matcher::Both {
                sources,
                first,
                second,
                none,
            } => {
                if !sources.is_empty() && !sources.contains(&clue.source) {
                    return false;
                }
                let t = clue.text.to_ascii_lowercase();
                first.iter().any(|w| t.contains(w))
                    && second.iter().any(|w| t.contains(w))
                    && !none.iter().any(|w| t.contains(w))
            }
            Matcher::Stack(cause) => clue.source == Source::Stack && classify(&clue.text) == *cause,
            Matcher::Custom(f) => service.is_some_and(|s| f(clue, s)),
        }
    }
}

/// A rule that matched, with the evidence it explains.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub title: &'static str,
    /// What the rule pulled out of the evidence (an exit code, the missing permission).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub cause: &'static str,
    pub fix: &'static str,
    pub evidence: Vec<Clue>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.id, self.title)?;
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        writeln!(f)?;
        writeln!(f, "    cause: {}", self.cause)?;
        writeln!(f, "    evidence:")?;
        for c in self.evidence.iter().take(EVIDENCE_SHOWN) {
            writeln!(f, "      {c}")?;
        }
        if self.evidence.len() > EVIDENCE_SHOWN {
            writeln!(
                f,
                "      … and {} more like these",
                self.evidence.len() - EVIDENCE_SHOWN
            )?;
        }
        write!(f, "    fix: {}", self.fix)
    }
}

/// How many lines of evidence a finding shows on screen (JSON has them all).
pub const EVIDENCE_SHOWN: usize = 5;

/// Matches the evidence against `rules`: every line goes to the first rule recognising it;
/// findings come in catalog order (the most specific first), each line once.
pub fn explain(rules: &[&'static Rule], clues: &[Clue], service: Option<&Service>) -> Vec<Finding> {
    let mut found: Vec<(usize, Finding)> = Vec::new();
    for clue in clues {
        let Some((at, rule)) = rules
            .iter()
            .enumerate()
            .find(|(_, r)| r.matches(clue, service))
        else {
            continue;
        };
        match found.iter_mut().find(|(i, _)| *i == at) {
            Some((_, f)) => {
                if !f.evidence.iter().any(|c| c.text == clue.text) {
                    f.evidence.push(clue.clone());
                }
            }
            None => found.push((
                at,
                Finding {
                    id: rule.id,
                    title: rule.title,
                    detail: rule.detail.and_then(|d| d(&clue.text)),
                    cause: rule.cause,
                    fix: rule.fix,
                    evidence: vec![clue.clone()],
                },
            )),
        }
    }
    found.sort_by_key(|(i, _)| *i);
    found.into_iter().map(|(_, f)| f).collect()
}
