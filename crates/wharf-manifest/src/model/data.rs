//! The data stores and configuration a service or job binds to (`[data.NAME]`).

use std::collections::BTreeMap;

use serde::Serialize;

/// A data store or configuration a service can bind to.
#[derive(Debug, Clone, Serialize)]
pub struct Data {
    pub name: String,
    #[serde(flatten)]
    pub kind: DataKind,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum DataKind {
    Dynamodb(DynamoTable),
    Postgres(Postgres),
    Redis(Redis),
    S3(Bucket),
    Parameters(Parameters),
    Secret(SecretData),
}

impl DataKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            DataKind::Dynamodb(_) => "dynamodb",
            DataKind::Postgres(_) => "postgres",
            DataKind::Redis(_) => "redis",
            DataKind::S3(_) => "s3",
            DataKind::Parameters(_) => "parameters",
            DataKind::Secret(_) => "secret",
        }
    }

    /// Whether it lives in the VPC's database subnets.
    pub fn needs_database_subnets(&self) -> bool {
        matches!(self, DataKind::Postgres(_) | DataKind::Redis(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum KeyType {
    S,
    N,
    B,
}

#[derive(Debug, Clone, Serialize)]
pub struct Key {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: KeyType,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "billing", rename_all = "kebab-case")]
pub enum Billing {
    OnDemand,
    Provisioned { rcu: u32, wcu: u32 },
}

#[derive(Debug, Clone, Serialize)]
pub struct DynamoTable {
    pub partition_key: Key,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_key: Option<Key>,
    pub gsi: Vec<Gsi>,
    pub billing: Billing,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    pub pitr: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gsi {
    pub name: String,
    pub partition_key: Key,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_key: Option<Key>,
    /// `all`, `keys-only`
    pub projection: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Postgres {
    pub version: String,
    pub instance: String,
    /// GiB
    pub storage: u32,
    pub database: String,
    /// Defaults to the environment's prod flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_az: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Redis {
    pub version: String,
    pub node_type: String,
    pub replicas: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    pub versioning: bool,
}

/// An SSM parameter tree (e.g. `/dynamodb-load-test/table-name`, …): a job or service reads
/// its configuration from the tree.
#[derive(Debug, Clone, Serialize)]
pub struct Parameters {
    pub path: String,
    pub values: BTreeMap<String, String>,
}

/// A Secrets Manager secret wharf generates.
#[derive(Debug, Clone, Serialize)]
pub struct SecretData {
    pub length: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}
