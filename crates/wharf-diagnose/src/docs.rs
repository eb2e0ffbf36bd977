//! docs/diagnose.md, generated from the catalog (a test keeps the checked-in file current).

use std::fmt::Write as _;

use crate::catalog::sections;

/// The catalog as Markdown: every rule with its id, cause, fix and an example of the evidence
/// it recognises.
pub fn markdown() -> String {
    let mut out = String::new();
    let count: usize = sections().iter().map(|(_, r)| r.len()).sum();
    let _ = writeln!(
        out,
        "# What `wharf diagnose` recognises\n\n\
         <!-- Generated from crates/wharf-diagnose/src/catalog by `wharf diagnose --catalog`; \
         a test fails when it is not current. -->\n\n\
         `wharf diagnose [SERVICE] [--deployment ID]` reads a deployment's record (its \
         timeline and why it failed) and what the runtime still has of it — why its tasks \
         stopped, the scheduler's events, the load balancer's health reasons, its alarms, its \
         tasks' last log lines, the environment's failed stacks — and matches every line \
         against the {count} rules below, most specific first: a line is explained by the \
         first rule that recognises it. A failed `wharf deploy` (exit code 5) prints the same \
         diagnosis. Locally the same rules read Docker's state (exit codes, OOM kills, the \
         container's health-check output) and the containers' logs.\n\n\
         The ids are stable: refer to them in runbooks and scripts \
         (`wharf diagnose --output json` lists the findings with their ids).\n"
    );
    for (title, rules) in sections() {
        let _ = writeln!(out, "## {title}\n");
        for r in rules {
            let _ = writeln!(out, "### `{}`: {}\n", r.id, r.title);
            let _ = writeln!(out, "- **Cause:** {}", r.cause);
            let _ = writeln!(out, "- **Fix:** {}", r.fix);
            let _ = writeln!(
                out,
                "- **Recognises**, e.g. ({}): `{}`\n",
                r.example.0,
                r.example.1.replace('`', "'")
            );
        }
    }
    out
}
