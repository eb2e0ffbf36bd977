//! A source document being mapped, and the bookkeeping that makes the report complete: every key
//! the mapping reads is recorded with its outcome, and whatever it never read is reported as not
//! mapped when the document is finished — so a key the importer has never heard of still shows.

use serde_json::Value;

use crate::report::{Entry, Outcome, Report};

/// One document (or one environment's view of it) and the report it writes to.
pub struct Src<'a> {
    file: String,
    root: &'a Value,
    /// The environment whose overrides were merged into `root`, and those overrides: a key they
    /// set is reported as `environments.ENV.key`.
    over: Option<(&'a str, &'a Value)>,
    report: &'a mut Report,
    touched: Vec<String>,
}

impl<'a> Src<'a> {
    pub fn new(file: &str, root: &'a Value, report: &'a mut Report) -> Self {
        Src {
            file: file.to_owned(),
            root,
            over: None,
            report,
            touched: Vec::new(),
        }
    }

    /// The view of one environment: `root` is the merged document, `over` that environment's
    /// own overrides.
    pub fn for_env(mut self, env: &'a str, over: &'a Value) -> Self {
        self.over = Some((env, over));
        self
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    pub fn get(&self, path: &str) -> Option<&'a Value> {
        lookup(self.root, path).filter(|v| !v.is_null())
    }

    pub fn str(&self, path: &str) -> Option<&'a str> {
        self.get(path).and_then(Value::as_str)
    }

    /// A number, also when written as a string (`"256"`).
    pub fn int(&self, path: &str) -> Option<i64> {
        self.get(path).and_then(as_int)
    }

    pub fn bool(&self, path: &str) -> Option<bool> {
        self.get(path).and_then(Value::as_bool)
    }

    fn label(&self, path: &str) -> String {
        match self.over {
            Some((env, over)) if lookup(over, path).is_some() => {
                format!("environments.{env}.{path}")
            }
            _ => path.to_owned(),
        }
    }

    fn record(&mut self, path: &str, outcome: Outcome, to: Option<&str>, reason: &str) {
        self.touched.push(path.to_owned());
        let key = self.label(path);
        self.report.push(Entry {
            file: self.file.clone(),
            key,
            outcome,
            to: to.map(str::to_owned),
            reason: reason.to_owned(),
        });
    }

    /// Carried over with the same meaning.
    pub fn mapped(&mut self, path: &str, to: &str) {
        self.record(path, Outcome::Mapped, Some(to), "same meaning");
    }

    /// Carried over differently; `reason` says how.
    pub fn changed(&mut self, path: &str, to: &str, reason: &str) {
        self.record(path, Outcome::Changed, Some(to), reason);
    }

    /// Left out; `reason` says why and what to do instead.
    pub fn not_mapped(&mut self, path: &str, reason: &str) {
        self.record(path, Outcome::NotMapped, None, reason);
    }

    /// Maps a secret at `path` (see [`crate::refs::secret`]) into `out` as `name`, reported.
    pub fn secret(
        &mut self,
        path: &str,
        name: &str,
        v: &Value,
        to: &str,
        out: &mut crate::doc::Tbl,
    ) {
        let to = format!("{to}.secrets.{name}");
        match crate::refs::secret(v) {
            Ok((r, None)) => {
                out.set(name, r);
                self.mapped(path, &to);
            }
            Ok((r, Some(why))) => {
                out.set(name, r);
                self.changed(path, &to, &why);
            }
            Err(why) => self.not_mapped(path, why),
        }
    }

    /// Marks a key read without an entry of its own (its parts have theirs).
    pub fn read(&mut self, path: &str) {
        self.touched.push(path.to_owned());
    }

    /// Reports every key never read as not mapped: wharf has nothing the importer maps it to.
    pub fn finish(mut self) {
        let mut leaves = Vec::new();
        walk(self.root, String::new(), &mut leaves);
        for path in leaves {
            let covered = self
                .touched
                .iter()
                .any(|t| path == *t || path.starts_with(&format!("{t}.")));
            if !covered {
                self.record(
                    &path,
                    Outcome::NotMapped,
                    None,
                    "wharf has no equivalent the importer knows of; check whether you need it",
                );
            }
        }
    }
}

/// Every string of `v` with each `open … close` expression replaced by what `f` returns for it
/// (given the string's dotted path and the text between the delimiters), or kept as written
/// where it returns `None`; an unclosed expression stays as written.
pub fn expand(
    v: &Value,
    (open, close): (&str, &str),
    path: &str,
    f: &mut impl FnMut(&str, &str) -> Option<String>,
) -> Value {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match v {
        Value::String(s) if s.contains(open) => {
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(i) = rest.find(open) {
                out.push_str(&rest[..i]);
                let after = &rest[i + open.len()..];
                let Some(end) = after.find(close) else {
                    out.push_str(&rest[i..]);
                    rest = "";
                    break;
                };
                match f(path, &after[..end]) {
                    Some(value) => out.push_str(&value),
                    None => out.push_str(&rest[i..i + open.len() + end + close.len()]),
                }
                rest = &after[end + close.len()..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), expand(v, (open, close), &join(k), f)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, v)| expand(v, (open, close), &join(&i.to_string()), f))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The value at a dotted path.
pub fn lookup<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    if path.is_empty() {
        return Some(v);
    }
    path.split('.').try_fold(v, |v, k| match v {
        Value::Array(a) => k.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => v.get(k),
    })
}

/// A number, also when written as a string.
pub fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Every leaf's dotted path (lists are leaves).
fn walk(v: &Value, prefix: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                walk(v, p, out);
            }
        }
        Value::Null => {}
        _ if prefix.is_empty() => {}
        _ => out.push(prefix),
    }
}

/// Copilot's merge of an environment's overrides: maps merge key by key, anything else replaces.
pub fn merge(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                let merged = match out.get(k) {
                    Some(existing) => merge(existing, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (_, Value::Null) => base.clone(),
        _ => over.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_are_replaced_or_kept_with_their_paths() {
        let v = serde_json::json!({ "a": ["x ${A} ${B} y", "${open"], "b": { "c": "${A}${A}" } });
        let mut seen = Vec::new();
        let out = expand(&v, ("${", "}"), "", &mut |path, name| {
            seen.push(format!("{path}:{name}"));
            (name == "A").then(|| "1".to_owned())
        });
        assert_eq!(
            out,
            serde_json::json!({ "a": ["x 1 ${B} y", "${open"], "b": { "c": "11" } })
        );
        assert_eq!(seen, ["a.0:A", "a.0:B", "b.c:A", "b.c:A"]);
    }
}
