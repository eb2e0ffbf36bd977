//! A reader over the spanned TOML tree that converts values into typed settings while collecting
//! every problem (wrong type, unknown key with did-you-mean, missing key, out-of-range value)
//! instead of stopping at the first, as serde would.

use std::collections::HashMap;
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::diag::{Problem, Rule};
use crate::duration::Duration;

/// Collects problems and remembers where each key path was found, for cross-section checks.
#[derive(Default)]
pub(crate) struct Cx {
    pub problems: Vec<Problem>,
    spans: HashMap<String, Range<usize>>,
    /// Names under `[data]`, known before services and jobs are read, so bindings are checked
    /// even where a data resource itself has errors.
    pub data_names: Vec<String>,
}

impl Cx {
    pub fn push(&mut self, p: Problem) {
        self.problems.push(p);
    }

    pub fn error(
        &mut self,
        rule: Rule,
        span: Range<usize>,
        key: &str,
        msg: impl Into<String>,
    ) -> &mut Problem {
        self.problems.push(Problem::error(rule, span, key, msg));
        self.problems.last_mut().expect("just pushed")
    }

    pub fn warning(
        &mut self,
        rule: Rule,
        span: Range<usize>,
        key: &str,
        msg: impl Into<String>,
    ) -> &mut Problem {
        self.problems.push(Problem::warning(rule, span, key, msg));
        self.problems.last_mut().expect("just pushed")
    }

    /// Where `path` was found, if it was.
    pub fn span_of(&self, path: &str) -> Option<Range<usize>> {
        self.spans.get(path).cloned()
    }

    pub fn record(&mut self, path: &str, span: Range<usize>) {
        self.spans.insert(path.to_owned(), span);
    }

    fn wrong_type(&mut self, node: &Node<'_, '_>, want: &str) {
        let got = type_name(node.value);
        self.push(
            Problem::error(
                Rule::WrongType,
                node.span.clone(),
                &node.path,
                format!("`{}` must be {want}, found {got}", node.path),
            )
            .expected(want.to_owned()),
        );
    }

    pub fn string(&mut self, node: &Node<'_, '_>) -> Option<String> {
        match node.value {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.wrong_type(node, "a string");
                None
            }
        }
    }

    pub fn boolean(&mut self, node: &Node<'_, '_>) -> Option<bool> {
        match node.value {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(node, "true or false");
                None
            }
        }
    }

    /// An integer within `min..=max`.
    pub fn int(&mut self, node: &Node<'_, '_>, min: i64, max: i64) -> Option<i64> {
        let DeValue::Integer(i) = node.value else {
            self.wrong_type(node, "an integer");
            return None;
        };
        match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(v) if (min..=max).contains(&v) => Some(v),
            _ => {
                self.push(
                    Problem::error(
                        Rule::InvalidValue,
                        node.span.clone(),
                        &node.path,
                        format!("`{}` is out of range", node.path),
                    )
                    .expected(format!("an integer from {min} to {max}")),
                );
                None
            }
        }
    }

    /// An integer with a custom rule for the range problem.
    pub fn int_rule(
        &mut self,
        node: &Node<'_, '_>,
        min: i64,
        max: i64,
        rule: Rule,
        help: &str,
    ) -> Option<i64> {
        let before = self.problems.len();
        let v = self.int(node, min, max);
        if let Some(p) = self.problems.get_mut(before) {
            if p.rule == Rule::InvalidValue {
                p.rule = rule;
                if !help.is_empty() {
                    p.help = Some(help.to_owned());
                }
            }
        }
        v
    }

    /// A number (integer or float) within `min..=max`.
    pub fn number(&mut self, node: &Node<'_, '_>, min: f64, max: f64) -> Option<f64> {
        let v = match node.value {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .map(|v| v as f64),
            DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
            _ => {
                self.wrong_type(node, "a number");
                return None;
            }
        };
        match v {
            Some(v) if v.is_finite() && v >= min && v <= max => Some(v),
            _ => {
                self.push(
                    Problem::error(
                        Rule::InvalidValue,
                        node.span.clone(),
                        &node.path,
                        format!("`{}` is out of range", node.path),
                    )
                    .expected(format!("a number from {min} to {max}")),
                );
                None
            }
        }
    }

    pub fn duration(&mut self, node: &Node<'_, '_>) -> Option<Duration> {
        let DeValue::String(s) = node.value else {
            let mut p = Problem::error(
                Rule::Duration,
                node.span.clone(),
                &node.path,
                format!("`{}` must be a duration string", node.path),
            )
            .expected("a duration such as \"5s\", \"2m\" or \"1h30m\"");
            if let DeValue::Integer(i) = node.value {
                p = p.help(format!("write the unit: \"{}s\"", i.as_str()));
            }
            self.push(p);
            return None;
        };
        match Duration::parse(s) {
            Ok(d) => Some(d),
            Err(why) => {
                self.push(
                    Problem::error(
                        Rule::Duration,
                        node.span.clone(),
                        &node.path,
                        format!("`{s}` is not a duration: {why}"),
                    )
                    .expected("a duration such as \"5s\", \"2m\" or \"1h30m\""),
                );
                None
            }
        }
    }

    /// One of a fixed set of strings, with did-you-mean.
    pub fn choice<T: Copy>(&mut self, node: &Node<'_, '_>, options: &[(&str, T)]) -> Option<T> {
        let s = self.string(node)?;
        if let Some((_, v)) = options.iter().find(|(name, _)| *name == s) {
            return Some(*v);
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let mut p = Problem::error(
            Rule::InvalidValue,
            node.span.clone(),
            &node.path,
            format!("`{s}` is not a valid value for `{}`", node.path),
        )
        .expected(format!("one of {}", quote_list(&names)));
        if let Some(m) = did_you_mean(&s, names.iter().copied()) {
            p = p.help(format!("did you mean \"{m}\"?"));
        }
        self.push(p);
        None
    }

    pub fn table<'a, 'i>(&mut self, node: &Node<'a, 'i>) -> Option<Tbl<'a, 'i>> {
        match node.value {
            DeValue::Table(t) => Some(Tbl::new(t, node.span.clone(), node.path.clone())),
            _ => {
                self.wrong_type(node, "a table");
                None
            }
        }
    }

    pub fn array<'a, 'i>(&mut self, node: &Node<'a, 'i>) -> Option<Vec<Node<'a, 'i>>> {
        match node.value {
            DeValue::Array(a) => Some(
                a.iter()
                    .enumerate()
                    .map(|(i, v)| Node {
                        value: v.get_ref(),
                        span: v.span(),
                        path: format!("{}[{i}]", node.path),
                    })
                    .collect(),
            ),
            _ => {
                self.wrong_type(node, "an array");
                None
            }
        }
    }

    pub fn string_list(&mut self, node: &Node<'_, '_>) -> Option<Vec<(String, Range<usize>)>> {
        let items = self.array(node)?;
        Some(
            items
                .iter()
                .filter_map(|n| self.string(n).map(|s| (s, n.span.clone())))
                .collect(),
        )
    }

    /// A string, or an array of strings (commands: `"echo hi"` or `["echo", "hi"]`).
    pub fn command(&mut self, node: &Node<'_, '_>) -> Option<Vec<String>> {
        match node.value {
            DeValue::String(s) => Some(vec!["sh".into(), "-c".into(), s.to_string()]),
            DeValue::Array(_) => {
                let v: Vec<String> = self
                    .string_list(node)?
                    .into_iter()
                    .map(|(s, _)| s)
                    .collect();
                if v.is_empty() {
                    self.error(
                        Rule::InvalidValue,
                        node.span.clone(),
                        &node.path,
                        "a command cannot be empty",
                    );
                    return None;
                }
                Some(v)
            }
            _ => {
                self.wrong_type(node, "a string or an array of strings");
                None
            }
        }
    }

    /// A table of scalar values rendered as strings (environment variables, build args).
    pub fn string_map<'a, 'i>(&mut self, node: &Node<'a, 'i>) -> Option<Vec<MapEntry>> {
        let DeValue::Table(t) = node.value else {
            self.wrong_type(node, "a table of strings");
            return None;
        };
        let mut out = Vec::new();
        for (k, v) in t.iter() {
            let path = format!("{}.{}", node.path, k.get_ref());
            self.record(&path, k.span());
            let value = match v.get_ref() {
                DeValue::String(s) => s.to_string(),
                DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                    Ok(n) => n.to_string(),
                    Err(_) => i.as_str().to_owned(),
                },
                DeValue::Float(f) => f.as_str().to_owned(),
                DeValue::Boolean(b) => b.to_string(),
                other => {
                    let n = Node {
                        value: other,
                        span: v.span(),
                        path,
                    };
                    self.wrong_type(&n, "a string, number or boolean");
                    continue;
                }
            };
            out.push(MapEntry {
                key: k.get_ref().to_string(),
                value,
                key_span: k.span(),
            });
        }
        Some(out)
    }
}

/// One entry of a table of scalars, its value rendered as a string.
pub(crate) struct MapEntry {
    pub key: String,
    pub value: String,
    pub key_span: Range<usize>,
}

/// One value in the tree with where it is and its key path.
#[derive(Clone)]
pub(crate) struct Node<'a, 'i> {
    pub value: &'a DeValue<'i>,
    pub span: Range<usize>,
    pub path: String,
}

/// A table being read: tracks the keys asked for, so the rest can be reported as unknown.
pub(crate) struct Tbl<'a, 'i> {
    table: &'a DeTable<'i>,
    pub span: Range<usize>,
    pub path: String,
    known: Vec<&'static str>,
    /// Keys handled by the caller itself (dynamic names such as services.NAME).
    open: bool,
}

impl<'a, 'i> Tbl<'a, 'i> {
    pub fn new(table: &'a DeTable<'i>, span: Range<usize>, path: String) -> Self {
        Tbl {
            table,
            span,
            path,
            known: Vec::new(),
            open: false,
        }
    }

    fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The value under `key`, if present; records the key as known.
    pub fn get(&mut self, cx: &mut Cx, key: &'static str) -> Option<Node<'a, 'i>> {
        self.known.push(key);
        let (k, v) = self.table.get_key_value(key)?;
        let path = self.child_path(key);
        cx.record(&path, k.span());
        Some(Node {
            value: v.get_ref(),
            span: v.span(),
            path,
        })
    }

    /// Like [`get`](Self::get), but reports a missing key.
    pub fn req(&mut self, cx: &mut Cx, key: &'static str, what: &str) -> Option<Node<'a, 'i>> {
        let n = self.get(cx, key);
        if n.is_none() {
            let path = self.child_path(key);
            let p = Problem::error(
                Rule::MissingKey,
                self.header_span(),
                &path,
                format!(
                    "`{}` is missing `{key}`",
                    if self.path.is_empty() {
                        "the manifest"
                    } else {
                        &self.path
                    }
                ),
            )
            .expected(what.to_owned())
            .help(format!(
                "add `{key} = …` {}",
                if self.path.is_empty() {
                    String::new()
                } else {
                    format!("under [{}]", self.path)
                }
            ));
            cx.push(p);
        }
        n
    }

    pub fn has(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    /// Span of the table's first line (its header), where a missing key is reported.
    pub fn header_span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// Every entry, for tables whose keys are names chosen by the user.
    pub fn entries(&mut self) -> Vec<(String, Range<usize>, Node<'a, 'i>)> {
        self.open = true;
        self.table
            .iter()
            .map(|(k, v)| {
                let name = k.get_ref().to_string();
                let path = self.child_path(&name);
                (
                    name,
                    k.span(),
                    Node {
                        value: v.get_ref(),
                        span: v.span(),
                        path,
                    },
                )
            })
            .collect()
    }

    /// Reports every key that was never asked for, with a did-you-mean.
    pub fn finish(self, cx: &mut Cx) {
        if self.open {
            return;
        }
        for (k, _) in self.table.iter() {
            let key = k.get_ref().as_ref();
            if self.known.contains(&key) {
                continue;
            }
            let path = self.child_path(key);
            let mut p = Problem::error(
                Rule::UnknownKey,
                k.span(),
                &path,
                format!(
                    "unknown key `{key}` in {}",
                    if self.path.is_empty() {
                        "the manifest".to_owned()
                    } else {
                        format!("`{}`", self.path)
                    }
                ),
            )
            .expected(format!("one of {}", quote_list(&self.known)));
            if let Some(m) = did_you_mean(key, self.known.iter().copied()) {
                p = p.help(format!("did you mean `{m}`?"));
            }
            cx.push(p);
        }
    }
}

/// The closest candidate by Jaro-Winkler similarity, if it is close enough to be a typo.
pub fn did_you_mean<'c>(word: &str, candidates: impl Iterator<Item = &'c str>) -> Option<&'c str> {
    let word_l = word.to_ascii_lowercase().replace('_', "-");
    candidates
        .map(|c| {
            (
                strsim::jaro_winkler(&word_l, &c.to_ascii_lowercase().replace('_', "-")),
                c,
            )
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

fn quote_list(items: &[&str]) -> String {
    let mut v: Vec<&str> = items.to_vec();
    v.dedup();
    v.iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// Deep-merges `over` onto `base`: tables merge key by key, anything else is replaced.
pub(crate) fn merge<'i>(base: &mut DeTable<'i>, over: &DeTable<'i>) {
    for (k, v) in over.iter() {
        match (base.get_mut(k.get_ref().as_ref()), v.get_ref()) {
            (Some(existing), DeValue::Table(o)) if existing.get_ref().is_table() => {
                if let DeValue::Table(b) = existing.get_mut() {
                    merge(b, o);
                }
            }
            _ => {
                base.remove(k.get_ref().as_ref());
                base.insert(k.clone(), Spanned::new(v.span(), v.get_ref().clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_finds_typos_only() {
        let keys = ["strategy", "canary", "linear"];
        assert_eq!(
            did_you_mean("stratgy", keys.iter().copied()),
            Some("strategy")
        );
        assert_eq!(did_you_mean("zzz", keys.iter().copied()), None);
    }
}
