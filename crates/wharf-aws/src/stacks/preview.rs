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

/// Resources holding data that CloudFormation would delete and make anew, empty: a database,
/// a cache, a table, a bucket, a secret (whose value would be generated again).
const HOLDS_DATA: [&str; 5] = [
    "AWS::RDS::DBInstance",
    "AWS::ElastiCache::ReplicationGroup",
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::SecretsManager::Secret",
];

/// The changes that replace a resource holding data (`Replacement: True`).
pub fn data_replacements(changes: &[ResourceChange]) -> Vec<&ResourceChange> {
    changes
        .iter()
        .filter(|c| c.action == "Modify" && c.replacement.as_deref() == Some("True"))
        .filter(|c| HOLDS_DATA.contains(&c.resource_type.as_str()))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn change(action: &str, ty: &str, replacement: Option<&str>) -> ResourceChange {
        ResourceChange {
            action: action.into(),
            logical_id: "X".into(),
            resource_type: ty.into(),
            physical_id: None,
            replacement: replacement.map(str::to_owned),
        }
    }

    #[test]
    fn only_a_certain_replacement_of_a_resource_holding_data_counts() {
        let changes = [
            change("Modify", "AWS::RDS::DBInstance", Some("True")),
            change("Modify", "AWS::RDS::DBInstance", Some("Conditional")),
            change("Modify", "AWS::EC2::SecurityGroup", Some("True")),
            change("Add", "AWS::DynamoDB::Table", None),
            change("Modify", "AWS::SecretsManager::Secret", Some("True")),
        ];
        let hit: Vec<&str> = data_replacements(&changes)
            .iter()
            .map(|c| c.resource_type.as_str())
            .collect();
        assert_eq!(hit, ["AWS::RDS::DBInstance", "AWS::SecretsManager::Secret"]);
    }
}
