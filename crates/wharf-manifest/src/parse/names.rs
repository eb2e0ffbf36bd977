//! Names of apps, environments, services, data and jobs: they end up in AWS resource names,
//! so they are lowercase letters, digits and hyphens, start with a letter, and stay short.

use std::ops::Range;

use crate::diag::{Problem, Rule};
use crate::reader::Cx;

/// Reports a name AWS resource names cannot carry.
pub(crate) fn check_name(
    cx: &mut Cx,
    name: &str,
    span: Range<usize>,
    key: &str,
    what: &str,
    max: usize,
) {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let starts = name.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    let ends = !name.ends_with('-');
    if !ok_chars || !starts || !ends || name.contains("--") {
        let suggestion: String = name
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .trim_matches('-')
            .to_owned();
        let mut p = Problem::error(
            Rule::InvalidName,
            span,
            key,
            format!("{what} name `{name}` cannot be used in AWS resource names"),
        )
        .expected("lowercase letters, digits and single hyphens, starting with a letter");
        if !suggestion.is_empty() && suggestion.as_bytes()[0].is_ascii_lowercase() {
            p = p.help(format!("rename it, e.g. `{suggestion}`"));
        }
        cx.push(p);
    } else if name.len() > max {
        cx.push(
            Problem::error(Rule::NameLength, span, key, format!("{what} name `{name}` is {} characters long", name.len()))
                .expected(format!("at most {max} characters"))
                .help("AWS limits the names built from it (target groups and load balancers: 32 characters)"),
        );
    }
}
