//! YAML files read into `serde_json::Value`, the one tree every importer walks. Tags are dropped
//! and their values kept (`!Ref Table` reads as `"Table"`), which is what reading CloudFormation
//! addons for their resource types and properties needs.

use std::path::Path;

use serde_json::{Map, Number, Value};
use yaml_rust2::{Yaml, YamlLoader};

use crate::error::ImportError;

/// The file's first document as a JSON value (`null` for an empty file).
pub fn load(path: &Path) -> Result<Value, ImportError> {
    let text = crate::read(path)?;
    parse(&text).map_err(|message| ImportError::Syntax {
        path: path.to_path_buf(),
        message,
    })
}

/// Parses YAML text; the error is the parser's message with its line and column.
pub fn parse(text: &str) -> Result<Value, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    Ok(docs.into_iter().next().map(convert).unwrap_or(Value::Null))
}

fn convert(y: Yaml) -> Value {
    match y {
        Yaml::Real(s) => s
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::String(s)),
        Yaml::Integer(i) => Value::Number(i.into()),
        Yaml::String(s) => Value::String(s),
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Array(a) => Value::Array(a.into_iter().map(convert).collect()),
        Yaml::Hash(h) => {
            let mut m = Map::new();
            for (k, v) in h {
                let key = match k {
                    Yaml::String(s) | Yaml::Real(s) => s,
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    _ => continue,
                };
                m.insert(key, convert(v));
            }
            Value::Object(m)
        }
        Yaml::Alias(_) | Yaml::Null | Yaml::BadValue => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_keep_their_values_and_types_are_kept() {
        let v = parse("a: !Ref Table\nb: [1, 2.5, true]\nc:\n  d: '080'\n").unwrap();
        assert_eq!(v["a"], "Table");
        assert_eq!(v["b"], serde_json::json!([1, 2.5, true]));
        assert_eq!(v["c"]["d"], "080");
    }

    #[test]
    fn a_syntax_error_says_where() {
        let e = parse("a: [1, 2\nb: c\n").unwrap_err();
        assert!(e.contains("line"), "{e}");
    }
}
