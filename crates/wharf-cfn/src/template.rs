//! The template model: parameters, conditions, resources, outputs and exports, rendered
//! deterministically (keys sorted, logical ids stable) as JSON or YAML.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Map, Value};

/// A CloudFormation template.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Template {
    #[serde(rename = "AWSTemplateFormatVersion")]
    pub format_version: &'static str,
    pub description: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Parameter>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub conditions: BTreeMap<String, Value>,
    /// Values every resource of a kind shares, written once (`Fn::FindInMap`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub mappings: BTreeMap<String, Value>,
    pub resources: BTreeMap<String, Resource>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, Output>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parameter {
    #[serde(rename = "Type")]
    pub ty: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_pattern: Option<String>,
}

/// One resource. `Metadata` carries checkov skips with their justification.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    #[serde(rename = "Type")]
    pub ty: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_replace_policy: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    pub properties: Value,
}

impl Resource {
    pub fn new(ty: &str, properties: Value) -> Self {
        Resource {
            ty: ty.to_owned(),
            condition: None,
            depends_on: Vec::new(),
            deletion_policy: None,
            update_replace_policy: None,
            metadata: None,
            properties,
        }
    }

    pub fn depends_on(mut self, id: impl Into<String>) -> Self {
        self.depends_on.push(id.into());
        self
    }

    /// Keeps the resource (and its data) when the stack deletes or replaces it.
    pub fn retain(mut self) -> Self {
        self.deletion_policy = Some("Retain");
        self.update_replace_policy = Some("Retain");
        self
    }

    /// Takes a final snapshot (RDS, ElastiCache) when the stack deletes or replaces it.
    pub fn snapshot(mut self) -> Self {
        self.deletion_policy = Some("Snapshot");
        self.update_replace_policy = Some("Snapshot");
        self
    }

    pub fn delete(mut self) -> Self {
        self.deletion_policy = Some("Delete");
        self.update_replace_policy = Some("Delete");
        self
    }

    /// Records a checkov check this resource deliberately does not meet, and why.
    pub fn skip_check(mut self, id: &str, why: &str) -> Self {
        let meta = self.metadata.get_or_insert_with(|| json!({}));
        let skips = meta
            .as_object_mut()
            .expect("metadata is an object")
            .entry("checkov")
            .or_insert_with(|| json!({ "skip": [] }))["skip"]
            .as_array_mut()
            .expect("skip is a list");
        skips.push(json!({ "id": id, "comment": why }));
        self
    }

    /// Takes back a skipped check the resource now meets.
    pub fn unskip(&mut self, id: &str) {
        if let Some(skips) = self
            .metadata
            .as_mut()
            .and_then(|m| m["checkov"]["skip"].as_array_mut())
        {
            skips.retain(|s| s["id"] != id);
        }
    }

    /// The checkov checks skipped on this resource, with their justification.
    pub fn skipped_checks(&self) -> Vec<(String, String)> {
        self.metadata
            .as_ref()
            .and_then(|m| m["checkov"]["skip"].as_array())
            .map(|v| {
                v.iter()
                    .map(|s| {
                        (
                            s["id"].as_str().unwrap_or_default().to_owned(),
                            s["comment"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn when(mut self, condition: &str) -> Self {
        self.condition = Some(condition.to_owned());
        self
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Output {
    pub description: String,
    pub value: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<Value>,
}

impl Template {
    pub fn new(description: impl Into<String>) -> Self {
        Template {
            format_version: "2010-09-09",
            description: description.into(),
            ..Default::default()
        }
    }

    /// Adds a resource. Logical ids are derived from names, so a clash is a bug.
    pub fn add(&mut self, id: impl Into<String>, r: Resource) -> String {
        let id = id.into();
        assert!(is_logical_id(&id), "invalid logical id {id}");
        let clash = self.resources.insert(id.clone(), r);
        assert!(clash.is_none(), "logical id {id} used twice");
        id
    }

    /// Adds an output exported as `{export_prefix}-{id}`.
    pub fn output(
        &mut self,
        id: &str,
        description: &str,
        value: Value,
        export_prefix: Option<&str>,
    ) {
        let export = export_prefix.map(|p| json!({ "Name": format!("{p}-{id}") }));
        self.outputs.insert(
            id.to_owned(),
            Output {
                description: description.to_owned(),
                value,
                export,
            },
        );
    }

    /// Puts `value` in mapping `map` at `key`.`name` and returns the expression reading it.
    pub fn mapping(&mut self, map: &str, key: &str, name: &str, value: Value) -> Value {
        self.mappings
            .entry(map.to_owned())
            .or_insert_with(|| json!({}))[key][name] = value;
        json!({ "Fn::FindInMap": [map, key, name] })
    }

    pub fn parameter(&mut self, id: &str, p: Parameter) {
        self.parameters.insert(id.to_owned(), p);
    }

    pub fn condition(&mut self, id: &str, expr: Value) {
        self.conditions.insert(id.to_owned(), expr);
    }

    /// The template as pretty JSON (deterministic: keys sorted).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a template always serializes");
        s.push('\n');
        s
    }

    /// The template as YAML (intrinsics in their long form, `Fn::GetAtt: [...]`).
    pub fn to_yaml(&self) -> String {
        crate::yaml::to_yaml(&serde_json::to_value(self).expect("a template always serializes"))
    }

    /// Every resource of a type, with its logical id.
    pub fn of_type<'a>(
        &'a self,
        ty: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a Resource)> + 'a {
        self.resources.iter().filter(move |(_, r)| r.ty == ty)
    }
}

/// Alphanumeric, starting with a letter, at most 255 characters.
pub fn is_logical_id(id: &str) -> bool {
    id.len() <= 255
        && id.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A logical id from name parts: `["service", "checkout-api", "Repository"]` →
/// `ServiceCheckoutApiRepository`.
pub fn logical_id(parts: &[&str]) -> String {
    let mut out = String::new();
    for part in parts {
        for word in part
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                out.push(first.to_ascii_uppercase());
                out.extend(chars);
            }
        }
    }
    out
}

/// CloudFormation tags: `[{Key, Value}]`, sorted by key.
pub fn tags(pairs: &[(&str, &str)]) -> Value {
    let mut v: Vec<(&str, &str)> = pairs.to_vec();
    v.sort();
    Value::Array(
        v.into_iter()
            .map(|(k, val)| json!({ "Key": k, "Value": val }))
            .collect(),
    )
}

/// A JSON object from pairs, for properties assembled conditionally.
pub fn object(pairs: Vec<(&str, Value)>) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert(k.to_owned(), v);
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_ids_are_camel_case_alphanumerics() {
        assert_eq!(
            logical_id(&["service", "checkout-api", "Repository"]),
            "ServiceCheckoutApiRepository"
        );
        assert!(is_logical_id(&logical_id(&["a", "b-c_d"])));
    }

    #[test]
    fn skips_are_recorded_in_metadata() {
        let r = Resource::new("AWS::S3::Bucket", json!({})).skip_check("CKV_AWS_18", "log bucket");
        assert_eq!(
            r.skipped_checks(),
            vec![("CKV_AWS_18".to_owned(), "log bucket".to_owned())]
        );
    }

    #[test]
    #[should_panic(expected = "used twice")]
    fn duplicate_ids_are_a_bug() {
        let mut t = Template::new("t");
        t.add("A", Resource::new("AWS::SNS::Topic", json!({})));
        t.add("A", Resource::new("AWS::SNS::Topic", json!({})));
    }
}
