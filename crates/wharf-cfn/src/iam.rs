//! IAM policy documents, written statement by statement with explicit actions and resources,
//! and a walker that finds every policy in a template (for the least-privilege checks).

use serde_json::{json, Value};

use crate::template::Template;

/// One `Allow` statement.
pub fn allow(sid: &str, actions: &[&str], resources: Vec<Value>) -> Value {
    json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources })
}

/// A policy document.
pub fn document(statements: Vec<Value>) -> Value {
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// The trust policy letting an AWS service assume a role.
pub fn assume_role(service: &str) -> Value {
    document(vec![
        json!({ "Effect": "Allow", "Principal": { "Service": service }, "Action": ["sts:AssumeRole"] }),
    ])
}

/// An inline policy for a role's `Policies` list.
pub fn inline(name: &str, statements: Vec<Value>) -> Value {
    json!({ "PolicyName": name, "PolicyDocument": document(statements) })
}

/// A statement found in a template, with the resource that holds it.
#[derive(Debug, Clone)]
pub struct FoundStatement {
    pub resource: String,
    pub statement: Value,
}

impl FoundStatement {
    pub fn actions(&self) -> Vec<String> {
        list(&self.statement["Action"])
    }

    /// Resources as JSON text (intrinsics included).
    pub fn resources(&self) -> Vec<Value> {
        match &self.statement["Resource"] {
            Value::Array(a) => a.clone(),
            Value::Null => Vec::new(),
            other => vec![other.clone()],
        }
    }

    pub fn is_allow(&self) -> bool {
        self.statement["Effect"] == "Allow"
    }
}

fn list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Every statement of every policy document in the template: role inline policies, managed
/// and inline policy resources, bucket and topic policies, KMS key policies.
pub fn statements(t: &Template) -> Vec<FoundStatement> {
    let mut out = Vec::new();
    for (id, r) in &t.resources {
        let p = &r.properties;
        let mut docs: Vec<&Value> = Vec::new();
        if let Some(policies) = p["Policies"].as_array() {
            docs.extend(policies.iter().map(|x| &x["PolicyDocument"]));
        }
        for key in ["PolicyDocument", "KeyPolicy", "AssumeRolePolicyDocument"] {
            if p[key].is_object() {
                docs.push(&p[key]);
            }
        }
        for doc in docs {
            for s in doc["Statement"].as_array().into_iter().flatten() {
                out.push(FoundStatement {
                    resource: id.clone(),
                    statement: s.clone(),
                });
            }
        }
    }
    out
}
