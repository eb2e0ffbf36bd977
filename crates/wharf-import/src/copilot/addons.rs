//! A workload's `addons/` CloudFormation → `[data]` stores: DynamoDB tables, S3 buckets and
//! PostgreSQL (RDS or Aurora) are recognised by their resource types and properties; the access
//! policies, secrets and network pieces Copilot's templates carry for them are what wharf makes
//! by itself; anything else is listed as kept out.

use serde_json::Value;

use crate::doc::{Leaf, Tbl, V};
use crate::source::Src;

/// A store recognised in an addon template: its wharf name and table.
pub struct Store {
    pub name: String,
    pub table: Tbl,
}

/// Reads one addon template; stores found are returned, every resource is reported.
pub fn map(src: &mut Src<'_>, doc: &Value) -> Vec<Store> {
    let mut stores = Vec::new();
    let Some(resources) = doc.get("Resources").and_then(Value::as_object) else {
        return stores;
    };
    let has_db = resources
        .values()
        .any(|r| matches!(ty(r), "AWS::RDS::DBCluster" | "AWS::RDS::DBInstance"));
    for (id, r) in resources {
        let path = format!("Resources.{id}");
        let to = format!("data.{}", store_name(id));
        let mut t = Tbl::default();
        match ty(r) {
            "AWS::DynamoDB::Table" => {
                dynamodb(src, &path, &to, &mut t);
            }
            "AWS::S3::Bucket" => {
                t.set("type", "s3");
                src.mapped(&format!("{path}.Type"), &format!("{to}.type"));
                let v = src.str(&format!("{path}.Properties.VersioningConfiguration.Status"));
                t.set("versioning", v == Some("Enabled"));
                if v.is_some() {
                    src.mapped(
                        &format!("{path}.Properties.VersioningConfiguration"),
                        &format!("{to}.versioning"),
                    );
                } else {
                    src.changed(
                        &format!("{path}.Type"),
                        &format!("{to}.versioning"),
                        "versioning stays off as it was (wharf's default is on)",
                    );
                }
                for k in [
                    "BucketEncryption",
                    "PublicAccessBlockConfiguration",
                    "OwnershipControls",
                ] {
                    if src.get(&format!("{path}.Properties.{k}")).is_some() {
                        src.mapped(
                            &format!("{path}.Properties.{k}"),
                            &format!("{to} (private and encrypted always)"),
                        );
                    }
                }
            }
            "AWS::RDS::DBCluster" | "AWS::RDS::DBInstance" => {
                if !postgres(src, &path, &to, &mut t) {
                    continue;
                }
            }
            "AWS::IAM::ManagedPolicy" | "AWS::IAM::Policy" => {
                src.mapped(
                    &path,
                    "bindings: wharf grants each bound service access to its data",
                );
                continue;
            }
            "AWS::SecretsManager::Secret"
            | "AWS::SecretsManager::SecretTargetAttachment"
            | "AWS::RDS::DBSubnetGroup"
            | "AWS::EC2::SecurityGroup"
            | "AWS::EC2::SecurityGroupIngress"
            | "AWS::RDS::DBClusterParameterGroup"
            | "AWS::RDS::DBParameterGroup"
                if has_db =>
            {
                src.mapped(
                    &path,
                    "the database's own credentials, subnets and security group, which wharf makes",
                );
                continue;
            }
            other => {
                src.not_mapped(&path, &format!("{other} is kept out: keep it in a CloudFormation stack of your own and pass what the service needs in env"));
                continue;
            }
        }
        stores.push(Store {
            name: store_name(id),
            table: t,
        });
    }
    if let Some(outputs) = doc.get("Outputs").and_then(Value::as_object) {
        for (k, _) in outputs {
            src.changed(
                &format!("Outputs.{k}"),
                "bindings",
                &format!("Copilot gave the service `{}`; wharf gives each bound store its own variables (docs/manifest.md, bindings): read those", screaming(k)),
            );
        }
    }
    for k in [
        "Parameters",
        "Conditions",
        "Metadata",
        "AWSTemplateFormatVersion",
        "Description",
        "Mappings",
    ] {
        if doc.get(k).is_some() {
            src.mapped(k, "the data stack wharf renders");
        }
    }
    stores
}

fn ty(r: &Value) -> &str {
    r.get("Type").and_then(Value::as_str).unwrap_or_default()
}

fn dynamodb(src: &mut Src<'_>, path: &str, to: &str, t: &mut Tbl) {
    let p = format!("{path}.Properties");
    t.set("type", "dynamodb");
    src.mapped(&format!("{path}.Type"), &format!("{to}.type"));
    let defs = src.get(&format!("{p}.AttributeDefinitions"));
    let attr_type = |name: &str| -> String {
        defs.and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .find(|d| d.get("AttributeName").and_then(Value::as_str) == Some(name))
            })
            .and_then(|d| d.get("AttributeType").and_then(Value::as_str))
            .unwrap_or("S")
            .to_owned()
    };
    let keys = |schema: Option<&Value>| -> (Option<Tbl>, Option<Tbl>) {
        let mut out = (None, None);
        for k in schema.and_then(Value::as_array).into_iter().flatten() {
            let name = k
                .get("AttributeName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let mut kt = Tbl::default();
            kt.set("name", name);
            kt.set("type", attr_type(name));
            match k.get("KeyType").and_then(Value::as_str) {
                Some("HASH") => out.0 = Some(kt),
                Some("RANGE") => out.1 = Some(kt),
                _ => {}
            }
        }
        out
    };
    let (pk, sk) = keys(src.get(&format!("{p}.KeySchema")));
    if let Some(pk) = pk {
        t.set("partition_key", pk);
    }
    if let Some(sk) = sk {
        t.set("sort_key", sk);
    }
    src.mapped(&format!("{p}.KeySchema"), &format!("{to}.partition_key"));
    src.mapped(
        &format!("{p}.AttributeDefinitions"),
        &format!("{to}.partition_key.type"),
    );
    if let Some(gsis) = src
        .get(&format!("{p}.GlobalSecondaryIndexes"))
        .and_then(Value::as_array)
    {
        let mut list = Vec::new();
        let mut changed = false;
        for g in gsis {
            let mut gt = Tbl::default();
            gt.set(
                "name",
                g.get("IndexName")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            );
            let (gpk, gsk) = keys(g.get("KeySchema"));
            if let Some(k) = gpk {
                gt.set("partition_key", k);
            }
            if let Some(k) = gsk {
                gt.set("sort_key", k);
            }
            let proj = match g
                .pointer("/Projection/ProjectionType")
                .and_then(Value::as_str)
            {
                Some("KEYS_ONLY") => "keys-only",
                Some("INCLUDE") => {
                    changed = true;
                    "all"
                }
                _ => "all",
            };
            gt.set("projection", proj);
            list.push(gt);
        }
        t.set(
            "gsi",
            V::Leaf(Leaf::List(list.into_iter().map(Leaf::Inline).collect())),
        );
        let to = format!("{to}.gsi");
        if changed {
            src.changed(&format!("{p}.GlobalSecondaryIndexes"), &to, "an INCLUDE projection becomes all (wharf projects all attributes or the keys only)");
        } else {
            src.mapped(&format!("{p}.GlobalSecondaryIndexes"), &to);
        }
    }
    match src.str(&format!("{p}.BillingMode")) {
        Some("PROVISIONED") => {
            t.set("billing", "provisioned");
            t.set(
                "rcu",
                src.int(&format!("{p}.ProvisionedThroughput.ReadCapacityUnits"))
                    .unwrap_or(5),
            );
            t.set(
                "wcu",
                src.int(&format!("{p}.ProvisionedThroughput.WriteCapacityUnits"))
                    .unwrap_or(5),
            );
            src.mapped(&format!("{p}.BillingMode"), &format!("{to}.billing"));
            src.mapped(
                &format!("{p}.ProvisionedThroughput"),
                &format!("{to}.rcu, wcu"),
            );
        }
        Some(_) => src.mapped(&format!("{p}.BillingMode"), &format!("{to}.billing")),
        None => {}
    }
    if src.bool(&format!("{p}.TimeToLiveSpecification.Enabled")) == Some(true) {
        if let Some(a) = src.str(&format!("{p}.TimeToLiveSpecification.AttributeName")) {
            t.set("ttl", a);
        }
        src.mapped(
            &format!("{p}.TimeToLiveSpecification"),
            &format!("{to}.ttl"),
        );
    }
    if let Some(b) = src.bool(&format!(
        "{p}.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled"
    )) {
        t.set("pitr", b);
        src.mapped(
            &format!("{p}.PointInTimeRecoverySpecification"),
            &format!("{to}.pitr"),
        );
    } else {
        t.set("pitr", false);
    }
    if src.get(&format!("{p}.TableName")).is_some() {
        src.changed(
            &format!("{p}.TableName"),
            &format!("{to} ({{app}}-{{env}}-{})", data_name_of(path)),
            "wharf names the table itself; the service reads the name from its bound variable",
        );
    }
    if src.get(&format!("{p}.SSESpecification")).is_some() {
        src.mapped(
            &format!("{p}.SSESpecification"),
            "environments.ENV.kms (encrypted always; with the environment's key when kms = true)",
        );
    }
    for (k, why) in [
        (
            "LocalSecondaryIndexes",
            "wharf makes global secondary indexes only: turn it into a gsi",
        ),
        (
            "StreamSpecification",
            "wharf does not enable DynamoDB Streams",
        ),
    ] {
        if src.get(&format!("{p}.{k}")).is_some() {
            src.not_mapped(&format!("{p}.{k}"), why);
        }
    }
}

/// RDS or Aurora PostgreSQL → `type = "postgres"`; false (reported) for other engines and for
/// Aurora's member instances, which belong to their cluster.
fn postgres(src: &mut Src<'_>, path: &str, to: &str, t: &mut Tbl) -> bool {
    let p = format!("{path}.Properties");
    let cluster = src.str(&format!("{path}.Type")) == Some("AWS::RDS::DBCluster");
    if !cluster && src.get(&format!("{p}.DBClusterIdentifier")).is_some() {
        src.mapped(
            path,
            "the cluster's instance: wharf runs one RDS instance per store",
        );
        return false;
    }
    let engine = src.str(&format!("{p}.Engine")).unwrap_or("postgres");
    if !engine.contains("postgres") {
        src.not_mapped(
            path,
            &format!(
                "engine {engine}: wharf's databases are PostgreSQL; keep it in a stack of your own"
            ),
        );
        return false;
    }
    t.set("type", "postgres");
    if cluster {
        src.changed(&format!("{path}.Type"), &format!("{to}.type"), "Aurora PostgreSQL becomes an RDS PostgreSQL instance (db.t4g.micro unless set): move the data with pg_dump/pg_restore or a snapshot");
    } else {
        src.mapped(&format!("{path}.Type"), &format!("{to}.type"));
    }
    src.mapped(&format!("{p}.Engine"), &format!("{to}.type"));
    if src.get(&format!("{p}.EngineMode")).is_some() {
        src.changed(
            &format!("{p}.EngineMode"),
            &format!("{to}.instance"),
            "Aurora Serverless becomes a provisioned instance",
        );
    }
    if src
        .get(&format!("{p}.ServerlessV2ScalingConfiguration"))
        .is_some()
    {
        src.changed(
            &format!("{p}.ServerlessV2ScalingConfiguration"),
            &format!("{to}.instance"),
            "Aurora Serverless v2 becomes a provisioned instance: size it with instance",
        );
    }
    if let Some(v) = src
        .get(&format!("{p}.EngineVersion"))
        .map(crate::text::scalar_text)
    {
        let major = v.split('.').next().unwrap_or_default().to_owned();
        match major.parse::<u32>() {
            Ok(m) if (14..=17).contains(&m) => {
                t.set("version", major.as_str());
                src.changed(
                    &format!("{p}.EngineVersion"),
                    &format!("{to}.version"),
                    "the major version: RDS applies its minor versions",
                );
            }
            _ => src.not_mapped(
                &format!("{p}.EngineVersion"),
                "RDS creates PostgreSQL 14 to 17: wharf uses 17 unless set",
            ),
        }
    }
    if let Some(c) = src.str(&format!("{p}.DBInstanceClass")) {
        t.set("instance", c);
        src.mapped(&format!("{p}.DBInstanceClass"), &format!("{to}.instance"));
    }
    if let Some(s) = src.int(&format!("{p}.AllocatedStorage")) {
        t.set("storage", s);
        src.mapped(&format!("{p}.AllocatedStorage"), &format!("{to}.storage"));
    }
    let db = src
        .str(&format!("{p}.DatabaseName"))
        .or_else(|| src.str(&format!("{p}.DBName")));
    if let Some(db) = db {
        let key = if src.get(&format!("{p}.DatabaseName")).is_some() {
            "DatabaseName"
        } else {
            "DBName"
        };
        t.set("database", db);
        src.mapped(&format!("{p}.{key}"), &format!("{to}.database"));
    }
    if let Some(m) = src.bool(&format!("{p}.MultiAZ")) {
        t.set("multi_az", m);
        src.mapped(&format!("{p}.MultiAZ"), &format!("{to}.multi_az"));
    }
    for k in [
        "MasterUsername",
        "MasterUserPassword",
        "ManageMasterUserPassword",
        "DBSubnetGroupName",
        "VpcSecurityGroupIds",
        "StorageEncrypted",
        "KmsKeyId",
        "DeletionProtection",
        "BackupRetentionPeriod",
    ] {
        if src.get(&format!("{p}.{k}")).is_some() {
            src.mapped(
                &format!("{p}.{k}"),
                &format!("{to} (credentials, network, encryption and protection made by wharf)"),
            );
        }
    }
    true
}

fn data_name_of(path: &str) -> String {
    store_name(path.trim_start_matches("Resources."))
}

/// A store's name from its logical id, without the type Copilot's templates append:
/// `ordersTable` → `orders`, `dbDBCluster` → `db`.
fn store_name(id: &str) -> String {
    for suffix in ["DBCluster", "DBInstance", "Cluster", "Table", "Bucket"] {
        if let Some(base) = id.strip_suffix(suffix).filter(|b| !b.is_empty()) {
            return data_name(base);
        }
    }
    data_name(id)
}

/// A CloudFormation logical id as a wharf data name: `myTable` → `my-table`.
pub fn data_name(id: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in id.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('-');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_owned();
    if out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out
    } else {
        format!("d-{out}")
    }
}

/// Copilot's environment variable for an output: `myTableName` → `MY_TABLE_NAME`.
fn screaming(id: &str) -> String {
    data_name(id).to_ascii_uppercase().replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_ids_become_names_and_variables() {
        assert_eq!(data_name("myTable"), "my-table");
        assert_eq!(data_name("ordersDB2"), "orders-db2");
        assert_eq!(data_name("S3Bucket"), "s3-bucket");
        assert_eq!(screaming("myTableName"), "MY_TABLE_NAME");
        assert_eq!(store_name("ordersTable"), "orders");
        assert_eq!(store_name("dbDBCluster"), "db");
        assert_eq!(store_name("Table"), "table");
    }
}
