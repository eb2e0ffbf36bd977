//! The catalog's own checks: every rule recognises its example as the first rule would, ids are
//! unique and stable in form, there are enough of them, and docs/diagnose.md is current.

use crate::web;
use wharf_diagnose::{catalog, docs, explain};
use wharf_engine::Clue;

#[test]
fn every_rule_is_the_first_to_recognise_its_example() {
    let rules = catalog::rules();
    let service = web();
    for r in &rules {
        let clue = Clue::new(r.example.0, r.example.1);
        let found = explain(&rules, std::slice::from_ref(&clue), Some(&service));
        assert_eq!(
            found.first().map(|f| f.id),
            Some(r.id),
            "the example of {} ({}) is explained by another rule",
            r.id,
            r.example.1
        );
    }
}

#[test]
fn ids_are_unique_kebab_case_and_there_are_at_least_thirty() {
    let rules = catalog::rules();
    assert!(rules.len() >= 30, "{} rules", rules.len());
    let mut ids: Vec<&str> = rules.iter().map(|r| r.id).collect();
    for id in &ids {
        assert!(
            id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{id}"
        );
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), rules.len(), "duplicate ids");
}

/// `WHARF_BLESS=1 cargo nextest run -E 'test(docs_are_current)'` rewrites it.
#[test]
fn docs_are_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/diagnose.md");
    let want = docs::markdown();
    if std::env::var_os("WHARF_BLESS").is_some() {
        std::fs::write(path, &want).expect("write docs/diagnose.md");
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        have == want,
        "docs/diagnose.md is not the catalog: run `wharf diagnose --catalog > docs/diagnose.md` (or WHARF_BLESS=1 on this test)"
    );
}
