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
pub fn untemplate(v: &Value, path: &str, found: &mut Vec<Templated>) -> Value {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match v {
        Value::String(s) if s.contains("{{") => {
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(i) = rest.find("{{") {
                out.push_str(&rest[..i]);
                let Some(end) = rest[i..].find("}}") else {
                    out.push_str(&rest[i..]);
                    rest = "";
                    break;
                };
                let expr = rest[i + 2..i + end].trim().to_owned();
                let words = split_words(&expr.replace('`', "\""));
                let default = match words.as_slice() {
                    [f, _, d] if f == "env" => Some(d.clone()),
                    _ => None,
                };
                match &default {
                    Some(d) => out.push_str(d),
                    None => out.push_str(&rest[i..i + end + 2]),
                }
                found.push(Templated {
                    path: path.to_owned(),
                    expr,
                    default,
                });
                rest = &rest[i + end + 2..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), untemplate(v, &join(k), found)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, v)| untemplate(v, &join(&i.to_string()), found))
                .collect(),
        ),
        other => other.clone(),
    }
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
