//! A YAML emitter for templates. Strings are written JSON-style double-quoted, which YAML reads
//! the same way, so no value can change meaning; keys are plain where that is unambiguous.

use serde_json::Value;

/// Renders `v` as a YAML document.
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => write_seq(&mut out, a, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn write_map(out: &mut String, m: &serde_json::Map<String, Value>, indent: usize) {
    for (k, v) in m {
        out.push_str(&" ".repeat(indent));
        out.push_str(&key(k));
        out.push(':');
        write_value(out, v, indent);
    }
}

fn write_seq(out: &mut String, a: &[Value], indent: usize) {
    for v in a {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match v {
            Value::Object(m) if !m.is_empty() => {
                // First key on the dash's line, the rest aligned under it.
                let mut first = true;
                for (k, val) in m {
                    if first {
                        out.push(' ');
                        first = false;
                    } else {
                        out.push_str(&" ".repeat(indent + 2));
                    }
                    out.push_str(&key(k));
                    out.push(':');
                    write_value(out, val, indent + 2);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_seq(out, inner, indent + 2);
            }
            other => {
                out.push(' ');
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

/// Writes what follows `key:`.
fn write_value(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, indent + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(out, a, indent + 2);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        other => serde_json::to_string(other).expect("scalars serialize"),
    }
}

fn key(k: &str) -> String {
    let plain = !k.is_empty()
        && k.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b':' || b == b'_' || b == b'-' || b == b'.')
        && !k.ends_with(':')
        && !matches!(
            k.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
        );
    if plain {
        k.to_owned()
    } else {
        serde_json::to_string(k).expect("strings serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_nested_maps_and_lists() {
        let v = json!({
            "Resources": { "Bucket": { "Type": "AWS::S3::Bucket", "Properties": { "Tags": [{ "Key": "a", "Value": "b" }], "Empty": {} } } },
            "List": [["x", 1], true],
            "Fn::GetAtt": ["A", "Arn"],
            "yes": "no"
        });
        let y = to_yaml(&v);
        assert!(y.contains("Fn::GetAtt:\n  - \"A\"\n  - \"Arn\"\n"), "{y}");
        assert!(
            y.contains("      Tags:\n        - Key: \"a\"\n          Value: \"b\"\n"),
            "{y}"
        );
        assert!(y.contains("Empty: {}"), "{y}");
        assert!(y.contains("\"yes\": \"no\""), "{y}");
        assert!(
            y.contains("List:\n  -\n    - \"x\"\n    - 1\n  - true\n"),
            "{y}"
        );
    }
}
