//! The catalog: every rule `wharf diagnose` knows, most specific first (a line of evidence is
//! explained by the first rule that recognises it). docs/diagnose.md is generated from it.

pub mod app;
pub mod capacity;
pub mod detail;
pub mod health;
pub mod stack;
pub mod tasks;

use crate::rule::Rule;

/// The sections of the catalog, in matching order, with their headings in the docs.
pub fn sections() -> [(&'static str, &'static [Rule]); 5] {
    [
        ("Tasks that do not start or stop at once", tasks::RULES),
        ("Tasks that run but do not pass", health::RULES),
        ("Capacity, quotas and permissions", capacity::RULES),
        ("What the application says", app::RULES),
        ("The environment's stacks", stack::RULES),
    ]
}

/// Every rule, in matching order.
pub fn rules() -> Vec<&'static Rule> {
    sections().iter().flat_map(|(_, r)| r.iter()).collect()
}
