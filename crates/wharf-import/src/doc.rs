//! The manifest being written: ordered tables of values, rendered as TOML the way a person would
//! write it (short tables inline, long ones as their own section), plus the per-environment
//! split: what every environment shares goes in the base, the rest in overrides that the
//! manifest's key-by-key merge turns back into exactly each environment's value.

use std::fmt::Write;

/// A TOML value that is not a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Leaf {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    List(Vec<Leaf>),
    /// An inline table, inside a list (`gsi = [{ name = "by-user", … }]`).
    Inline(Tbl),
}

/// A value: a leaf or an ordered table.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Leaf(Leaf),
    Table(Tbl),
}

/// A table that keeps its keys in insertion order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tbl(pub Vec<(String, V)>);

impl From<&str> for V {
    fn from(s: &str) -> Self {
        V::Leaf(Leaf::Str(s.to_owned()))
    }
}
impl From<String> for V {
    fn from(s: String) -> Self {
        V::Leaf(Leaf::Str(s))
    }
}
impl From<i64> for V {
    fn from(i: i64) -> Self {
        V::Leaf(Leaf::Int(i))
    }
}
impl From<f64> for V {
    fn from(x: f64) -> Self {
        V::Leaf(Leaf::Float(x))
    }
}
impl From<bool> for V {
    fn from(b: bool) -> Self {
        V::Leaf(Leaf::Bool(b))
    }
}
impl From<Vec<String>> for V {
    fn from(v: Vec<String>) -> Self {
        V::Leaf(Leaf::List(v.into_iter().map(Leaf::Str).collect()))
    }
}
impl From<Tbl> for V {
    fn from(t: Tbl) -> Self {
        V::Table(t)
    }
}

impl Tbl {
    /// Sets a key, replacing its value where it already has one.
    pub fn set(&mut self, key: &str, v: impl Into<V>) {
        let v = v.into();
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = v,
            None => self.0.push((key.to_owned(), v)),
        }
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }

    /// The sub-table at `key`, made empty when absent.
    pub fn table(&mut self, key: &str) -> &mut Tbl {
        if !matches!(self.get(key), Some(V::Table(_))) {
            self.set(key, Tbl::default());
        }
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, V::Table(t))) => t,
            _ => unreachable!("just set"),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Drops sub-tables left empty.
    pub fn prune(&mut self) {
        for (_, v) in &mut self.0 {
            if let V::Table(t) = v {
                t.prune();
            }
        }
        self.0
            .retain(|(_, v)| !matches!(v, V::Table(t) if t.is_empty()));
    }
}

/// Keys treated as one value when environments are compared: merging a part of them over a base
/// could not take a key away, so they are shared whole or given whole per environment.
const WHOLE: &[&str] = &[
    "autoscaling",
    "routing",
    "build",
    "health",
    "rolling",
    "drain",
    "command",
    "schedule",
];

/// What every table shares: keys equal in all of them (sub-tables compared key by key, those in
/// [`WHOLE`] as one value).
pub fn common(all: &[&Tbl]) -> Tbl {
    let mut out = Tbl::default();
    let Some(first) = all.first() else { return out };
    for (k, v) in &first.0 {
        let others: Vec<&V> = all[1..].iter().filter_map(|t| t.get(k)).collect();
        if others.len() + 1 != all.len() {
            continue;
        }
        match v {
            V::Table(t) if !WHOLE.contains(&k.as_str()) => {
                let subs: Option<Vec<&Tbl>> = std::iter::once(Some(t))
                    .chain(others.iter().map(|o| match o {
                        V::Table(t) => Some(t),
                        V::Leaf(_) => None,
                    }))
                    .collect();
                if let Some(subs) = subs {
                    let c = common(&subs);
                    if !c.is_empty() {
                        out.set(k, c);
                    }
                }
            }
            _ if others.iter().all(|o| *o == v) => out.set(k, v.clone()),
            _ => {}
        }
    }
    out
}

/// What `t` has that `base` does not (or has otherwise): the override that, merged key by key
/// over `base`, gives `t`'s values.
pub fn minus(t: &Tbl, base: &Tbl) -> Tbl {
    let mut out = Tbl::default();
    for (k, v) in &t.0 {
        match (v, base.get(k)) {
            (V::Table(a), Some(V::Table(b))) if !WHOLE.contains(&k.as_str()) => {
                let d = minus(a, b);
                if !d.is_empty() {
                    out.set(k, d);
                }
            }
            (_, Some(b)) if b == v => {}
            _ => out.set(k, v.clone()),
        }
    }
    out
}

/// A TOML document: a comment header, then sections in order.
#[derive(Debug, Default)]
pub struct Doc {
    pub header: Vec<String>,
    pub sections: Vec<(String, Tbl)>,
}

impl Doc {
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.header {
            let _ = writeln!(out, "# {line}");
        }
        for (path, t) in &self.sections {
            section(&mut out, path, t);
        }
        out
    }
}

fn section(out: &mut String, path: &str, t: &Tbl) {
    let _ = write!(out, "\n[{path}]\n");
    let mut later = Vec::new();
    for (k, v) in &t.0 {
        match v {
            V::Leaf(l) => {
                let _ = writeln!(out, "{} = {}", key(k), leaf(l));
            }
            V::Table(sub) => {
                let inline = inline(sub);
                if inline.len() + k.len() <= 96
                    && !sub
                        .0
                        .iter()
                        .any(|(_, v)| matches!(v, V::Table(t) if t.0.len() > 2))
                {
                    let _ = writeln!(out, "{} = {inline}", key(k));
                } else {
                    later.push((k, sub));
                }
            }
        }
    }
    for (k, sub) in later {
        section(out, &format!("{path}.{}", key(k)), sub);
    }
}

fn inline(t: &Tbl) -> String {
    let parts: Vec<String> =
        t.0.iter()
            .map(|(k, v)| match v {
                V::Leaf(l) => format!("{} = {}", key(k), leaf(l)),
                V::Table(s) => format!("{} = {}", key(k), inline(s)),
            })
            .collect();
    if parts.is_empty() {
        "{}".into()
    } else {
        format!("{{ {} }}", parts.join(", "))
    }
}

/// A key, bare when TOML allows it.
pub fn key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_owned()
    } else {
        quote(k)
    }
}

fn leaf(l: &Leaf) -> String {
    match l {
        Leaf::Str(s) => quote(s),
        Leaf::Int(i) => i.to_string(),
        Leaf::Float(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.1}"),
        Leaf::Float(x) => x.to_string(),
        Leaf::Bool(b) => b.to_string(),
        Leaf::List(v) => format!("[{}]", v.iter().map(leaf).collect::<Vec<_>>().join(", ")),
        Leaf::Inline(t) => inline(t),
    }
}

/// A TOML basic string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(pairs: &[(&str, V)]) -> Tbl {
        let mut t = Tbl::default();
        for (k, v) in pairs {
            t.set(k, v.clone());
        }
        t
    }

    #[test]
    fn base_and_overrides_give_back_each_environment() {
        let env = |n: i64, level: &str| {
            t(&[
                ("port", 8080.into()),
                ("count", n.into()),
                (
                    "env",
                    t(&[("A", "1".into()), ("LEVEL", level.into())]).into(),
                ),
                (
                    "autoscaling",
                    t(&[("min", n.into()), ("max", 4.into())]).into(),
                ),
            ])
        };
        let (a, b) = (env(1, "debug"), env(3, "info"));
        let base = common(&[&a, &b]);
        assert_eq!(
            base,
            t(&[
                ("port", 8080.into()),
                ("env", t(&[("A", "1".into())]).into())
            ])
        );
        let over = minus(&b, &base);
        assert_eq!(over.get("count"), Some(&3.into()));
        assert_eq!(
            over.get("env"),
            Some(&t(&[("LEVEL", "info".into())]).into())
        );
        assert_eq!(
            over.get("autoscaling"),
            b.get("autoscaling"),
            "whole, never a part"
        );
    }

    #[test]
    fn rendering_parses_back_as_toml_with_every_value() {
        let mut doc = Doc::default();
        let mut s = t(&[
            ("port", 8080.into()),
            ("quote", "a \"b\" \\ c\n".into()),
            ("ratio", 1.0.into()),
            ("list", vec!["x".to_owned(), "y".to_owned()].into()),
        ]);
        let long: Vec<(String, V)> = (0..8)
            .map(|i| (format!("VAR_{i}"), V::from(format!("value-{i}"))))
            .collect();
        s.set("env", Tbl(long));
        s.set("odd.key", true);
        doc.sections.push(("services.web".into(), s));
        let text = doc.render();
        let v: toml::Table = toml::from_str(&text).unwrap();
        let web = &v["services"]["web"];
        assert_eq!(web["quote"].as_str(), Some("a \"b\" \\ c\n"));
        assert_eq!(web["ratio"].as_float(), Some(1.0));
        assert_eq!(web["env"]["VAR_7"].as_str(), Some("value-7"));
        assert_eq!(web["odd.key"].as_bool(), Some(true));
        assert!(text.contains("[services.web.env]"), "{text}");
    }
}
