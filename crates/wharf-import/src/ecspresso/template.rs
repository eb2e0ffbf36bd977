//! ecspresso's Go templates in configs and definitions: `{{ env "X" "default" }}` takes its
//! default; every other expression stays as written and is reported.

use serde_json::Value;

use crate::report::{Entry, Outcome, Report};
use crate::text::split_words;

/// A `{{ … }}` found in a value: where, what, and what it was replaced by.
pub struct Templated {
    path: String,
    expr: String,
    default: Option<String>,
}

/// Replaces `{{ env "X" "default" }}` by its default; other expressions are kept as written.
pub fn untemplate(v: &Value, found: &mut Vec<Templated>) -> Value {
    crate::source::expand(v, ("{{", "}}"), "", &mut |path, inner| {
        let expr = inner.trim().to_owned();
        let default = match split_words(&expr.replace('`', "\"")).as_slice() {
            [f, _, d] if f == "env" => Some(d.clone()),
            _ => None,
        };
        found.push(Templated {
            path: path.to_owned(),
            expr,
            default: default.clone(),
        });
        default
    })
}

pub fn note_templates(report: &mut Report, file: &str, found: &[Templated]) {
    for t in found {
        let (outcome, reason) = match &t.default {
            Some(d) => (Outcome::Changed, format!("ecspresso took it from the environment when it ran; its default `{d}` is written")),
            None => (Outcome::Changed, "resolved only when ecspresso runs: the value is written as it stands where it is used, else reported below".to_owned()),
        };
        report.push(Entry {
            file: file.to_owned(),
            key: format!("{} ({{{{ {} }}}})", t.path, t.expr),
            outcome,
            to: None,
            reason,
        });
    }
}
