//! Secret references as other tools write them (SSM parameter names and ARNs, Secrets Manager
//! names, ARNs and `name:json-key::` forms) → wharf's `ssm:/path` and `secretsmanager:name[:key]`.

use serde_json::Value;

/// A Copilot secret as a wharf reference, with why it changed when it did.
pub fn secret(v: &Value) -> Result<(String, Option<String>), &'static str> {
    if let Some(s) = v.as_str() {
        if let Some(rest) = s.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            return match parts.as_slice() {
                [_, "ssm", _, _, res] => match res.strip_prefix("parameter") {
                    Some(p) if p.starts_with('/') => Ok((
                        format!("ssm:{p}"),
                        Some("an SSM parameter ARN, written as wharf's reference by path".into()),
                    )),
                    _ => Err("not an SSM parameter ARN wharf can reference"),
                },
                [_, "secretsmanager", _, _, res] => {
                    let res = res.strip_prefix("secret:").unwrap_or(res);
                    let mut parts = res.split(':');
                    let name = without_suffix(parts.next().unwrap_or_default());
                    let r = match parts.next().filter(|k| !k.is_empty()) {
                        Some(k) => format!("secretsmanager:{name}:{k}"),
                        None => format!("secretsmanager:{name}"),
                    };
                    Ok((r, Some("a Secrets Manager ARN, written as wharf's reference by name (the ARN's random suffix dropped)".into())))
                }
                _ => Err("an ARN of a service wharf does not read secrets from"),
            };
        }
        if s.starts_with('/') {
            return Ok((format!("ssm:{s}"), None));
        }
        return Ok((
            format!("ssm:/{s}"),
            Some(format!("wharf reads SSM parameters by path: copy the parameter `{s}` to `/{s}` (aws ssm get-parameter / put-parameter) or change the reference")),
        ));
    }
    if let Some(sm) = v.get("secretsmanager").and_then(Value::as_str) {
        let mut parts = sm.split(':');
        let name = parts.next().unwrap_or_default();
        let key = parts.next().filter(|k| !k.is_empty());
        let stage = parts.next().filter(|k| !k.is_empty());
        let r = match key {
            Some(k) => format!("secretsmanager:{name}:{k}"),
            None => format!("secretsmanager:{name}"),
        };
        return Ok((
            r,
            stage.map(|_| {
                "wharf reads the current version (AWSCURRENT): the version stage/id is dropped"
                    .to_owned()
            }),
        ));
    }
    if v.get("from_cfn").is_some() {
        return Err(
            "a value from another stack's output (from_cfn): reference the secret by name instead",
        );
    }
    Err("not a secret reference the importer understands")
}

/// A secret's name without the six random characters Secrets Manager appends in its ARN.
fn without_suffix(name: &str) -> &str {
    match name.rsplit_once('-') {
        Some((base, s)) if s.len() == 6 && s.bytes().all(|b| b.is_ascii_alphanumeric()) => base,
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_become_references() {
        let s = |v: Value| secret(&v).map(|(r, why)| (r, why.is_some()));
        assert_eq!(s("/app/db".into()), Ok(("ssm:/app/db".into(), false)));
        assert_eq!(
            s("GITHUB_TOKEN".into()),
            Ok(("ssm:/GITHUB_TOKEN".into(), true))
        );
        assert_eq!(
            s(serde_json::json!({"secretsmanager": "demo/mysql:password::"})),
            Ok(("secretsmanager:demo/mysql:password".into(), false))
        );
        assert_eq!(
            s("arn:aws:ssm:us-east-1:123456789012:parameter/a/b".into()),
            Ok(("ssm:/a/b".into(), true))
        );
        assert_eq!(
            s(
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbC123:password::"
                    .into()
            ),
            Ok(("secretsmanager:prod/db:password".into(), true))
        );
        assert!(s(serde_json::json!({"from_cfn": "x"})).is_err());
    }
}
