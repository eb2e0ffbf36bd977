//! A stack's pending change, read from a change set: what `wharf plan --remote` shows.

use std::fmt;

use serde::Serialize;

/// One resource's change in a change set.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceChange {
    /// Add, Modify, Remove, Import or Dynamic.
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical_id: Option<String>,
    /// For a modification: True, False or Conditional.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}

/// A stack's pending change, from a change set.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub stack: String,
    /// The stack exists already (the change set is an update).
    pub exists: bool,
    pub changes: Vec<ResourceChange>,
}

impl fmt::Display for Preview {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.exists { "update" } else { "create" };
        if self.changes.is_empty() {
            return writeln!(f, "{}: no changes", self.stack);
        }
        writeln!(
            f,
            "{} ({verb}, {} change{}):",
            self.stack,
            self.changes.len(),
            if self.changes.len() == 1 { "" } else { "s" }
        )?;
        for c in &self.changes {
            let sign = match c.action.as_str() {
                "Add" => "+",
                "Remove" => "-",
                "Modify" => "~",
                _ => "?",
            };
            write!(f, "  {sign} {} ({})", c.logical_id, c.resource_type)?;
            match c.replacement.as_deref() {
                Some("True") => write!(f, "  REPLACEMENT")?,
                Some("Conditional") => write!(f, "  replacement possible")?,
                _ => {}
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
