//! `[data.NAME]`: DynamoDB tables, PostgreSQL, Redis, S3 buckets, SSM parameter trees and
//! generated secrets, each with the settings of its type.

use std::collections::BTreeMap;

use crate::diag::{Problem, Rule};
use crate::model::{
    Billing, Bucket, Data, DataKind, DynamoTable, Gsi, Key, KeyType, Parameters, Postgres, Redis,
    SecretData,
};
use crate::reader::{Cx, Node, Tbl};

const TYPES: &[(&str, u8)] = &[
    ("dynamodb", 0),
    ("postgres", 1),
    ("redis", 2),
    ("s3", 3),
    ("parameters", 4),
    ("secret", 5),
];

pub(crate) fn read(cx: &mut Cx, name: &str, node: &Node<'_, '_>) -> Option<Data> {
    let mut t = cx.table(node)?;
    let ty = t
        .req(
            cx,
            "type",
            "one of dynamodb, postgres, redis, s3, parameters, secret",
        )
        .and_then(|n| cx.choice(&n, TYPES));
    let kind = match ty {
        Some(0) => dynamodb(cx, &mut t).map(DataKind::Dynamodb),
        Some(1) => postgres(cx, &mut t).map(DataKind::Postgres),
        Some(2) => redis(cx, &mut t).map(DataKind::Redis),
        Some(3) => {
            let versioning = t
                .get(cx, "versioning")
                .map_or(Some(true), |n| cx.boolean(&n));
            versioning.map(|versioning| DataKind::S3(Bucket { versioning }))
        }
        Some(4) => parameters(cx, &mut t, name).map(DataKind::Parameters),
        Some(5) => secret(cx, &mut t).map(DataKind::Secret),
        _ => {
            // Unknown type: accept every key so only the type is reported.
            t.entries();
            None
        }
    };
    t.finish(cx);
    Some(Data {
        name: name.to_owned(),
        kind: kind?,
    })
}

fn key(cx: &mut Cx, n: &Node<'_, '_>) -> Option<Key> {
    let mut t = cx.table(n)?;
    let name = t
        .req(cx, "name", "the attribute name")
        .and_then(|v| cx.string(&v));
    let ty = match t.get(cx, "type") {
        Some(v) => cx.choice(
            &v,
            &[("S", KeyType::S), ("N", KeyType::N), ("B", KeyType::B)],
        ),
        None => Some(KeyType::S),
    };
    t.finish(cx);
    let name = name?;
    if name.is_empty() || name.len() > 255 {
        cx.error(
            Rule::DataSettings,
            n.span.clone(),
            &n.path,
            "an attribute name has 1 to 255 characters",
        );
        return None;
    }
    Some(Key { name, ty: ty? })
}

fn dynamodb(cx: &mut Cx, t: &mut Tbl<'_, '_>) -> Option<DynamoTable> {
    let pk = t
        .req(
            cx,
            "partition_key",
            "a key such as { name = \"pk\", type = \"S\" }",
        )
        .and_then(|n| key(cx, &n));
    let sk = t.get(cx, "sort_key").map(|n| key(cx, &n));
    let mut gsi = Vec::new();
    let mut ok = true;
    if let Some(n) = t.get(cx, "gsi") {
        for item in cx.array(&n).unwrap_or_default() {
            let Some(mut g) = cx.table(&item) else {
                ok = false;
                continue;
            };
            let name = g
                .req(cx, "name", "the index name")
                .and_then(|v| cx.string(&v));
            let gpk = g
                .req(cx, "partition_key", "the index's partition key")
                .and_then(|v| key(cx, &v));
            let gsk = g.get(cx, "sort_key").map(|v| key(cx, &v));
            let projection = match g.get(cx, "projection") {
                Some(v) => cx
                    .choice(&v, &[("all", "all"), ("keys-only", "keys-only")])
                    .map(str::to_owned),
                None => Some("all".to_owned()),
            };
            g.finish(cx);
            match (name, gpk, gsk, projection) {
                (Some(name), Some(partition_key), sk, Some(projection))
                    if sk.as_ref().is_none_or(Option::is_some) =>
                {
                    if gsi.iter().any(|x: &Gsi| x.name == name) {
                        cx.error(
                            Rule::DataSettings,
                            item.span.clone(),
                            &item.path,
                            format!("two indexes are named `{name}`"),
                        );
                        ok = false;
                    }
                    gsi.push(Gsi {
                        name,
                        partition_key,
                        sort_key: sk.flatten(),
                        projection,
                    })
                }
                _ => ok = false,
            }
        }
        if gsi.len() > 20 {
            cx.error(
                Rule::DataSettings,
                n.span.clone(),
                &n.path,
                "DynamoDB allows at most 20 global secondary indexes",
            );
            ok = false;
        }
    }
    let billing_n = t.get(cx, "billing");
    let billing = match &billing_n {
        Some(v) => cx.choice(v, &[("on-demand", false), ("provisioned", true)]),
        None => Some(false),
    };
    let rcu_n = t.get(cx, "rcu");
    let wcu_n = t.get(cx, "wcu");
    let rcu = rcu_n.as_ref().and_then(|n| cx.int(n, 1, 40_000));
    let wcu = wcu_n.as_ref().and_then(|n| cx.int(n, 1, 40_000));
    let billing = match billing? {
        true => match (rcu, wcu) {
            (Some(r), Some(w)) => Billing::Provisioned {
                rcu: r as u32,
                wcu: w as u32,
            },
            _ => {
                let span = billing_n.map(|n| n.span).unwrap_or_else(|| t.header_span());
                cx.push(
                    Problem::error(
                        Rule::DataSettings,
                        span,
                        &t.path,
                        "provisioned billing needs both `rcu` and `wcu`",
                    )
                    .help("add rcu = 5 and wcu = 5, or use billing = \"on-demand\""),
                );
                return None;
            }
        },
        false => {
            if let Some(n) = rcu_n.or(wcu_n) {
                cx.push(
                    Problem::error(
                        Rule::DataSettings,
                        n.span.clone(),
                        &n.path,
                        "rcu and wcu only apply to billing = \"provisioned\"",
                    )
                    .help("remove them, or set billing = \"provisioned\""),
                );
                return None;
            }
            Billing::OnDemand
        }
    };
    let ttl = t.get(cx, "ttl").and_then(|n| cx.string(&n));
    let pitr = t.get(cx, "pitr").map_or(Some(true), |n| cx.boolean(&n));
    if !ok {
        return None;
    }
    Some(DynamoTable {
        partition_key: pk?,
        sort_key: sk.flatten(),
        gsi,
        billing,
        ttl,
        pitr: pitr?,
    })
}

fn postgres(cx: &mut Cx, t: &mut Tbl<'_, '_>) -> Option<Postgres> {
    let version = t.get(cx, "version").map_or(Some("17".to_owned()), |n| {
        let v = match n.value {
            toml::de::DeValue::Integer(i) => i.as_str().to_owned(),
            _ => cx.string(&n)?,
        };
        let major = v.split('.').next().and_then(|m| m.parse::<u32>().ok());
        let minor_ok = v.split('.').count() <= 2 && v.split('.').skip(1).all(|m| m.parse::<u32>().is_ok());
        if !major.is_some_and(|m| (14..=17).contains(&m)) || !minor_ok {
            cx.error(Rule::DataSettings, n.span.clone(), &n.path, format!("PostgreSQL {v} is not an RDS engine version wharf supports"))
                .expected = Some("a major version from 14 to 17 (RDS no longer creates 13 and older), e.g. \"17\" or \"16.10\"".into());
            return None;
        }
        Some(v)
    });
    let instance = t
        .get(cx, "instance")
        .map_or(Some("db.t4g.micro".to_owned()), |n| {
            let v = cx.string(&n)?;
            if !v.starts_with("db.") || v.split('.').count() != 3 {
                cx.error(
                    Rule::DataSettings,
                    n.span.clone(),
                    &n.path,
                    format!("`{v}` is not an RDS instance class"),
                )
                .expected = Some("e.g. \"db.t4g.micro\" or \"db.m7g.large\"".into());
                return None;
            }
            Some(v)
        });
    let storage = t
        .get(cx, "storage")
        .map_or(Some(20), |n| cx.int(&n, 20, 65_536));
    let database = t.get(cx, "database").map_or(Some("app".to_owned()), |n| {
        let v = cx.string(&n)?;
        let ok = v.len() <= 63
            && v.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            cx.error(
                Rule::DataSettings,
                n.span.clone(),
                &n.path,
                format!("`{v}` is not a PostgreSQL database name"),
            )
            .expected = Some("letters, digits and _, starting with a letter".into());
            return None;
        }
        Some(v)
    });
    let multi_az = t.get(cx, "multi_az").and_then(|n| cx.boolean(&n));
    Some(Postgres {
        version: version?,
        instance: instance?,
        storage: storage? as u32,
        database: database?,
        multi_az,
    })
}

fn redis(cx: &mut Cx, t: &mut Tbl<'_, '_>) -> Option<Redis> {
    let version = t
        .get(cx, "version")
        .map_or(Some("7.1".to_owned()), |n| cx.string(&n));
    let node_type = t
        .get(cx, "node_type")
        .map_or(Some("cache.t4g.micro".to_owned()), |n| {
            let v = cx.string(&n)?;
            if !v.starts_with("cache.") {
                cx.error(
                    Rule::DataSettings,
                    n.span.clone(),
                    &n.path,
                    format!("`{v}` is not an ElastiCache node type"),
                )
                .expected = Some("e.g. \"cache.t4g.micro\"".into());
                return None;
            }
            Some(v)
        });
    let replicas = t.get(cx, "replicas").map_or(Some(1), |n| cx.int(&n, 0, 5));
    Some(Redis {
        version: version?,
        node_type: node_type?,
        replicas: replicas? as u32,
    })
}

fn parameters(cx: &mut Cx, t: &mut Tbl<'_, '_>, name: &str) -> Option<Parameters> {
    let path = t
        .req(
            cx,
            "path",
            "the parameter tree's root, e.g. \"/aws/dynamodb-load-test\"",
        )
        .and_then(|n| {
            let p = cx.string(&n)?;
            let ok = p.starts_with('/')
                && !p.ends_with('/')
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/_.-".contains(&b));
            let first = p.trim_start_matches('/').to_ascii_lowercase();
        if ok && (first.starts_with("aws") || first.starts_with("ssm")) {
            let suggestion = format!("/{}", p.trim_start_matches('/').split_once('/').map_or("app", |(_, rest)| rest));
            cx.push(
                Problem::error(Rule::DataSettings, n.span.clone(), &n.path, format!("SSM reserves parameter names starting with `aws` or `ssm`: `{p}` cannot be created"))
                    .help(format!("move the tree, e.g. path = \"{suggestion}\"; the keys under it stay as they are")),
            );
            return None;
        }
        if !ok {
                cx.error(
                    Rule::DataSettings,
                    n.span.clone(),
                    &n.path,
                    format!("`{p}` is not an SSM parameter path"),
                )
                .expected = Some("a path starting with / and without a trailing /".into());
                return None;
            }
            Some(p)
        });
    let values = match t.get(cx, "values") {
        Some(n) => {
            let items = cx.string_map(&n)?;
            let mut out = BTreeMap::new();
            for crate::reader::MapEntry {
                key: k,
                value: v,
                key_span: span,
            } in items
            {
                if k.is_empty()
                    || !k
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b))
                {
                    cx.error(
                        Rule::DataSettings,
                        span,
                        &n.path,
                        format!("`{k}` cannot be part of an SSM parameter name"),
                    );
                    return None;
                }
                if v.is_empty() {
                    cx.error(
                        Rule::DataSettings,
                        span,
                        &n.path,
                        format!("parameter `{k}` is empty; SSM parameters need a value"),
                    );
                    return None;
                }
                out.insert(k, v);
            }
            out
        }
        None => {
            cx.push(
                Problem::error(
                    Rule::MissingKey,
                    t.header_span(),
                    format!("data.{name}.values"),
                    "a parameter tree needs values",
                )
                .help("add values = { \"table-name\" = \"...\" }"),
            );
            return None;
        }
    };
    Some(Parameters {
        path: path?,
        values,
    })
}

fn secret(cx: &mut Cx, t: &mut Tbl<'_, '_>) -> Option<SecretData> {
    let length = t
        .get(cx, "length")
        .map_or(Some(32), |n| cx.int(&n, 16, 4096));
    let description = t.get(cx, "description").and_then(|n| cx.string(&n));
    Some(SecretData {
        length: length? as u32,
        description,
    })
}
