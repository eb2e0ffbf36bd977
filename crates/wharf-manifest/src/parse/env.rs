//! `env`, `secrets` and `bind`: environment variables, secret references (never literal
//! values: a value that looks like a secret is refused and not echoed) and data bindings.

use std::collections::BTreeMap;

use crate::diag::{Problem, Rule};
use crate::model::SecretRef;
use crate::reader::{Cx, Node, Tbl};

type EnvAndSecrets = (
    Option<BTreeMap<String, String>>,
    Option<BTreeMap<String, SecretRef>>,
);
/// `env = {...}` and `secrets = {...}`: valid names, no name in both, secrets only as references.
pub(crate) fn read_env_and_secrets(cx: &mut Cx, t: &mut Tbl<'_, '_>) -> EnvAndSecrets {
    let mut env = BTreeMap::new();
    let mut ok = true;
    if let Some(n) = t.get(cx, "env") {
        match cx.string_map(&n) {
            Some(items) => {
                for crate::reader::MapEntry {
                    key: k,
                    value: v,
                    key_span: kspan,
                } in items
                {
                    let path = format!("{}.{k}", n.path);
                    if !valid_env_name(&k) {
                        cx.error(
                            Rule::EnvVar,
                            kspan,
                            &path,
                            format!("`{k}` is not a valid environment variable name"),
                        )
                        .expected = Some("letters, digits and _, not starting with a digit".into());
                        ok = false;
                        continue;
                    }
                    if k == "DEPLOYMENT_ID" {
                        cx.error(
                            Rule::EnvVar,
                            kspan,
                            &path,
                            "DEPLOYMENT_ID is set by wharf to the deployment's id",
                        )
                        .help =
                            Some("remove it; every task gets DEPLOYMENT_ID automatically".into());
                        ok = false;
                        continue;
                    }
                    if looks_secret(&k) && !v.is_empty() {
                        cx.warning(Rule::SecretRef, kspan.clone(), &path, format!("`{k}` looks like a secret written in plain text"))
                            .help = Some(format!("move it to secrets = {{ {k} = \"ssm:/path\" }}, so its value never sits in the manifest or the task definition"));
                    }
                    env.insert(k, v);
                }
            }
            None => ok = false,
        }
    }
    let mut secrets = BTreeMap::new();
    if let Some(n) = t.get(cx, "secrets") {
        match cx.table(&n) {
            Some(mut st) => {
                for (k, kspan, vn) in st.entries() {
                    if !valid_env_name(&k) {
                        cx.error(
                            Rule::EnvVar,
                            kspan,
                            &vn.path,
                            format!("`{k}` is not a valid environment variable name"),
                        );
                        ok = false;
                        continue;
                    }
                    if env.contains_key(&k) {
                        cx.error(
                            Rule::EnvVar,
                            kspan,
                            &vn.path,
                            format!("`{k}` is set in both env and secrets"),
                        )
                        .help = Some("keep it in one of the two".into());
                        ok = false;
                        continue;
                    }
                    match secret_ref(cx, &vn) {
                        Some(r) => {
                            secrets.insert(k, r);
                        }
                        None => ok = false,
                    }
                }
            }
            None => ok = false,
        }
    }
    if ok {
        (Some(env), Some(secrets))
    } else {
        (None, None)
    }
}

fn valid_env_name(k: &str) -> bool {
    k.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn looks_secret(k: &str) -> bool {
    let k = k.to_ascii_uppercase();
    [
        "PASSWORD",
        "SECRET",
        "TOKEN",
        "PRIVATE_KEY",
        "API_KEY",
        "CREDENTIAL",
    ]
    .iter()
    .any(|w| k.contains(w))
}

/// `ssm:/path` or `secretsmanager:name[:key]`.
pub(crate) fn secret_ref(cx: &mut Cx, n: &Node<'_, '_>) -> Option<SecretRef> {
    let s = cx.string(n)?;
    let parsed = if let Some(path) = s.strip_prefix("ssm:") {
        let ok = path.starts_with('/')
            && path.len() > 1
            && path.len() <= 2048
            && !path.ends_with('/')
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_.-".contains(&b))
            && !path.contains("//");
        ok.then(|| SecretRef::Ssm {
            path: path.to_owned(),
        })
    } else if let Some(rest) = s.strip_prefix("secretsmanager:") {
        let (name, key) = match rest.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (rest, None),
        };
        let name_ok = !name.is_empty()
            && name.len() <= 512
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b));
        let key_ok = key.is_none_or(|k| !k.is_empty() && !k.contains(':'));
        (name_ok && key_ok).then(|| SecretRef::SecretsManager {
            name: name.to_owned(),
            key: key.map(str::to_owned),
        })
    } else {
        None
    };
    if parsed.is_none() {
        let looks_literal = !s.contains(':');
        let mut p = Problem::error(
            Rule::SecretRef,
            n.span.clone(),
            &n.path,
            format!("`{}` is not a secret reference", redact(&s)),
        )
        .expected("\"ssm:/path/to/parameter\" or \"secretsmanager:name[:json-key]\"");
        p = if looks_literal {
            p.help("secrets are never written in the manifest: store the value in SSM Parameter Store or Secrets Manager and reference it")
        } else {
            p.help("an SSM path starts with / and has no trailing /; a Secrets Manager name may carry one :json-key")
        };
        cx.push(p);
    }
    parsed
}

/// Shows at most a hint of a value that may be a secret.
fn redact(s: &str) -> String {
    if s.contains(':') || s.len() <= 4 {
        s.to_owned()
    } else {
        format!(
            "{}…",
            &s[..s.char_indices().nth(2).map_or(s.len(), |(i, _)| i)]
        )
    }
}

/// `data = [...]`: each name must be a data resource of the manifest.
pub(crate) fn read_bindings(cx: &mut Cx, t: &mut Tbl<'_, '_>) -> Option<Vec<String>> {
    let Some(n) = t.get(cx, "data") else {
        return Some(Vec::new());
    };
    let names = cx.string_list(&n)?;
    let mut ok = true;
    for (name, span) in &names {
        if cx.data_names.contains(name) {
            continue;
        }
        ok = false;
        let known = cx.data_names.clone();
        let mut p = Problem::error(
            Rule::DataBinding,
            span.clone(),
            &n.path,
            format!(
                "`{}` binds data `{name}`, which the manifest does not define",
                t.path
            ),
        );
        p = match crate::reader::did_you_mean(name, known.iter().map(String::as_str)) {
            Some(m) => p.help(format!("did you mean `{m}`?")),
            None => p.help(format!("add [data.{name}] or remove it from `data`")),
        };
        cx.push(p);
    }
    ok.then(|| names.into_iter().map(|(s, _)| s).collect())
}
