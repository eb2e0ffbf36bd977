//! Intrinsic functions and pseudo parameters, as the JSON CloudFormation reads.

use serde_json::{json, Value};

/// `{"Ref": id}`
pub fn r(id: &str) -> Value {
    json!({ "Ref": id })
}

/// `{"Fn::GetAtt": [id, attribute]}`
pub fn get_att(id: &str, attribute: &str) -> Value {
    json!({ "Fn::GetAtt": [id, attribute] })
}

/// `{"Fn::Sub": text}` (`${AWS::Region}`, `${Id}`, `${Id.Attr}`)
pub fn sub(text: &str) -> Value {
    json!({ "Fn::Sub": text })
}

/// `{"Fn::Join": [sep, items]}`
pub fn join(sep: &str, items: Vec<Value>) -> Value {
    json!({ "Fn::Join": [sep, items] })
}

/// `{"Fn::If": [condition, then, else]}`
pub fn if_(condition: &str, then: Value, otherwise: Value) -> Value {
    json!({ "Fn::If": [condition, then, otherwise] })
}

/// `{"Fn::Select": [index, list]}`
pub fn select(index: usize, list: Value) -> Value {
    json!({ "Fn::Select": [index.to_string(), list] })
}

/// The AZs of the stack's region.
pub fn get_azs() -> Value {
    json!({ "Fn::GetAZs": "" })
}

/// The `index`-th AZ of the stack's region.
pub fn az(index: usize) -> Value {
    select(index, get_azs())
}

/// `{"Fn::ImportValue": name}`
pub fn import(name: &str) -> Value {
    json!({ "Fn::ImportValue": name })
}

/// `{"Fn::Split": [sep, value]}`
pub fn split(sep: &str, value: Value) -> Value {
    json!({ "Fn::Split": [sep, value] })
}

/// `{"Fn::Equals": [a, b]}`
pub fn equals(a: Value, b: Value) -> Value {
    json!({ "Fn::Equals": [a, b] })
}

/// `{"Fn::Not": [c]}`
pub fn not(c: Value) -> Value {
    json!({ "Fn::Not": [c] })
}

/// `{"Ref": "AWS::NoValue"}`: removes the property where it stands.
pub fn no_value() -> Value {
    r("AWS::NoValue")
}

pub fn region() -> Value {
    r("AWS::Region")
}

pub fn account() -> Value {
    r("AWS::AccountId")
}

pub fn partition() -> Value {
    r("AWS::Partition")
}

/// An ARN in this stack's partition, region and account: `arn(service, resource)`.
pub fn arn(service: &str, resource: &str) -> Value {
    sub(&format!(
        "arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"
    ))
}
