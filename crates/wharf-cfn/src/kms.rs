//! The environment's customer-managed key (`kms = true`, the default in a prod environment):
//! one key with yearly rotation, made in the baseline and exported, used by the log groups,
//! the state table, and every data store and secret — DynamoDB tables, RDS (its storage, its
//! managed master secret, Performance Insights), ElastiCache, S3 buckets and Secrets Manager
//! secrets. The key policy lets the account administer it and CloudWatch Logs use it for the
//! environment's own log groups; the app's roles use it only through the services that hold
//! the data (`kms:ViaService`), by the grants next to their data.

use serde_json::{json, Value};

use crate::ctx::Ctx;
use crate::fns::{get_att, import, sub};
use crate::iam;
use crate::template::Template;

/// The key's logical id: the one it had when it encrypted only the log groups (`log_kms`),
/// so that those environments keep their key.
pub(crate) const KEY: &str = "LogKey";
/// The baseline output (and export) the data stack reads the key's ARN from.
pub(crate) const KEY_OUTPUT: &str = "KmsKeyArn";

/// Whether the environment has a key at all (for everything, or for its logs only).
pub(crate) fn has_key(cx: &Ctx<'_>) -> bool {
    cx.aws.kms || cx.aws.log_kms
}

/// The key's ARN as the baseline refers to it.
pub(crate) fn baseline_key() -> Value {
    get_att(KEY, "Arn")
}

/// The services the app's roles may use the key through, in `region`.
fn via_services() -> Value {
    json!([
        sub("dynamodb.${AWS::Region}.amazonaws.com"),
        sub("s3.${AWS::Region}.amazonaws.com"),
        sub("secretsmanager.${AWS::Region}.amazonaws.com"),
    ])
}

/// Encrypts what the template holds with the key: `key` is how this template refers to it.
fn encrypt(t: &mut Template, key: &Value) {
    for (id, r) in t.resources.iter_mut() {
        let p = &mut r.properties;
        match r.ty.as_str() {
            "AWS::DynamoDB::Table" => {
                p["SSESpecification"] =
                    json!({ "SSEEnabled": true, "SSEType": "KMS", "KMSMasterKeyId": key });
                r.unskip("CKV_AWS_119");
            }
            "AWS::RDS::DBInstance" => {
                p["KmsKeyId"] = key.clone();
                p["MasterUserSecret"] = json!({ "KmsKeyId": key });
                p["PerformanceInsightsKMSKeyId"] = key.clone();
                r.unskip("CKV_AWS_354");
            }
            "AWS::ElastiCache::ReplicationGroup" => {
                p["KmsKeyId"] = key.clone();
                r.unskip("CKV_AWS_191");
            }
            // The load balancer writes its access logs only to SSE-S3 buckets.
            "AWS::S3::Bucket" if id != "AccessLogsBucket" => {
                p["BucketEncryption"] = json!({ "ServerSideEncryptionConfiguration": [{
                    "ServerSideEncryptionByDefault": { "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key },
                    "BucketKeyEnabled": true,
                }] });
                r.unskip("CKV_AWS_145");
            }
            "AWS::SecretsManager::Secret" => {
                p["KmsKeyId"] = key.clone();
                r.unskip("CKV_AWS_149");
            }
            // The grants of the roles bound to a data store or secret: the key, through the
            // services that hold the data.
            "AWS::IAM::Policy" if id.ends_with("Grant") => {
                if let Some(statements) = p["PolicyDocument"]["Statement"].as_array_mut() {
                    statements.push(use_through_services(key));
                }
            }
            _ => {}
        }
    }
}

/// Decrypting and making data keys with the key, only as DynamoDB, S3 or Secrets Manager do
/// for the caller.
fn use_through_services(key: &Value) -> Value {
    let mut s = iam::allow(
        "UseEnvironmentKey",
        &["kms:Decrypt", "kms:GenerateDataKey"],
        vec![key.clone()],
    );
    s["Condition"] = json!({ "StringEquals": { "kms:ViaService": via_services() } });
    s
}

/// The baseline's share: its state table on the key.
pub(crate) fn encrypt_baseline(cx: &Ctx<'_>, t: &mut Template) {
    if cx.aws.kms {
        encrypt(t, &baseline_key());
    }
}

/// The data stack's share: every store, secret and grant on the key the baseline exports.
pub(crate) fn encrypt_data(cx: &Ctx<'_>, t: &mut Template) {
    if cx.aws.kms {
        encrypt(t, &import(&cx.baseline_export(KEY_OUTPUT)));
    }
}
