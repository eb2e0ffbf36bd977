//! The environment's key: in a prod environment (`kms` by default) every store, secret, log
//! group and the state table use it and each data grant lets its roles use it only through
//! the service holding the data; `log_kms` alone keeps it for the log groups; without either
//! there is no key.

use serde_json::Value;
use wharf_cfn::{Stack, StackKind};

use crate::matrix::all_stacks;

fn stacks(case: &str) -> (Stack, Option<Stack>) {
    let all: Vec<Stack> = all_stacks()
        .into_iter()
        .filter(|(n, _)| n.starts_with(&format!("{case}-test-")))
        .map(|(_, s)| s)
        .collect();
    let baseline = all
        .iter()
        .find(|s| s.kind == StackKind::Baseline)
        .cloned()
        .expect("a baseline");
    let data = all.into_iter().find(|s| s.kind == StackKind::Data);
    (baseline, data)
}

const KEY_IMPORT: &str = "pulse-test-baseline-KmsKeyArn";

fn imports_key(v: &Value) -> bool {
    v["Fn::ImportValue"] == KEY_IMPORT
}

#[test]
fn a_prod_environment_encrypts_every_store_secret_log_and_its_state_with_its_own_key() {
    let (baseline, data) = stacks("nat-per-az-3az-prod-everything");
    let b = &baseline.template;
    let key = &b.resources["LogKey"];
    assert_eq!(key.ty, "AWS::KMS::Key");
    assert_eq!(key.properties["EnableKeyRotation"], true);
    assert_eq!(key.deletion_policy, Some("Retain"));
    assert!(key.properties["Description"]
        .as_str()
        .is_some_and(|d| d.contains("data stores and secrets")));
    let state = &b.resources["StateTable"].properties["SSESpecification"];
    assert_eq!(state["SSEType"], "KMS");
    assert_eq!(state["KMSMasterKeyId"]["Fn::GetAtt"][0], "LogKey");
    assert!(b.outputs.contains_key("KmsKeyArn"));
    for (id, lg) in b.of_type("AWS::Logs::LogGroup") {
        assert_eq!(lg.properties["KmsKeyId"]["Fn::GetAtt"][0], "LogKey", "{id}");
    }

    let d = data.expect("a data stack").template;
    let mut seen = std::collections::BTreeSet::new();
    for (id, r) in &d.resources {
        let p = &r.properties;
        let on_key = match r.ty.as_str() {
            "AWS::DynamoDB::Table" => {
                p["SSESpecification"]["SSEType"] == "KMS"
                    && imports_key(&p["SSESpecification"]["KMSMasterKeyId"])
            }
            "AWS::RDS::DBInstance" => {
                imports_key(&p["KmsKeyId"])
                    && imports_key(&p["MasterUserSecret"]["KmsKeyId"])
                    && imports_key(&p["PerformanceInsightsKMSKeyId"])
            }
            "AWS::ElastiCache::ReplicationGroup" => imports_key(&p["KmsKeyId"]),
            "AWS::S3::Bucket" => imports_key(
                &p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
                    ["ServerSideEncryptionByDefault"]["KMSMasterKeyID"],
            ),
            "AWS::SecretsManager::Secret" => imports_key(&p["KmsKeyId"]),
            _ => continue,
        };
        assert!(on_key, "{id} ({}) is not on the key: {p}", r.ty);
        // No encryption check is skipped any more.
        let skipped: Vec<String> = r.skipped_checks().into_iter().map(|(c, _)| c).collect();
        for check in ["CKV_AWS_119", "CKV_AWS_354", "CKV_AWS_191", "CKV_AWS_149"] {
            assert!(!skipped.iter().any(|s| s == check), "{id} skips {check}");
        }
        seen.insert(r.ty.clone());
    }
    assert_eq!(seen.len(), 5, "every kind of store: {seen:?}");
    // Each grant: the key only through the service holding the data.
    let grants: Vec<_> = d
        .of_type("AWS::IAM::Policy")
        .filter(|(id, _)| id.ends_with("Grant"))
        .collect();
    assert!(!grants.is_empty());
    for (id, g) in grants {
        let statements = g.properties["PolicyDocument"]["Statement"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let kms = statements
            .iter()
            .find(|s| s["Sid"] == "UseEnvironmentKey")
            .unwrap_or_else(|| panic!("{id} has no key statement"));
        assert!(imports_key(&kms["Resource"][0]), "{id}: {kms}");
        assert!(
            kms["Condition"]["StringEquals"]["kms:ViaService"].is_array(),
            "{id}: {kms}"
        );
    }
}

#[test]
fn log_kms_alone_keys_the_logs_only_and_no_key_is_made_without_either() {
    let (baseline, data) = stacks("nat-2az-log-kms-only");
    let b = &baseline.template;
    assert!(b.resources.contains_key("LogKey"));
    assert!(!b.outputs.contains_key("KmsKeyArn"));
    assert_eq!(
        b.resources["StateTable"].properties["SSESpecification"],
        serde_json::json!({ "SSEEnabled": true })
    );
    let d = data.expect("a data stack").template;
    assert!(!serde_json::to_string(&d.resources)
        .unwrap_or_default()
        .contains("KmsKeyArn"));

    let (plain, _) = stacks("endpoints-2az-hosted-zone-by-name");
    assert!(!plain.template.resources.contains_key("LogKey"));
    assert!(plain.template.of_type("AWS::KMS::Key").next().is_none());
}

const KMS_MANIFEST: &str = r#"
[app]
name = "pulse"

[environments.test]
target = "aws"
region = "us-east-1"
account = "123456789012"
azs = 2
kms = true

[services.web]
image = "public.ecr.aws/pulse/web:1"
port = 8000
data = ["sessions", "uploads", "token", "db"]

[data.sessions]
type = "dynamodb"
partition_key = { name = "pk" }

[data.uploads]
type = "s3"

[data.token]
type = "secret"

[data.db]
type = "postgres"
"#;

/// On moto: the key rotates, its policy has exactly its two statements, and the database and
/// the bucket report it. moto's CloudFormation drops a table's `SSESpecification` and makes no
/// Secrets Manager secret, so those are checked on the templates (above).
#[test]
fn on_moto_the_key_rotates_and_each_store_reports_it() {
    let m = wharf_testkit::moto();
    let (manifest, problems) =
        wharf_manifest::parse_str(KMS_MANIFEST, "wharf.toml", std::path::Path::new("."));
    let manifest = manifest.unwrap_or_else(|| panic!("{problems}"));
    let dir = wharf_testkit::TestDir::new();
    let mut create = String::new();
    for s in wharf_cfn::synthesize(&manifest, &manifest.environments["test"]).expect("aws") {
        let v = crate::moto::shim_for_moto(serde_json::to_value(&s.template).expect("json"));
        let file = dir.write(format!("{}.json", s.name), v.to_string());
        create.push_str(&format!(
            "cfn.create_stack(StackName='{}', TemplateBody=open('{}').read(), Capabilities=['CAPABILITY_NAMED_IAM'])\n",
            s.name,
            file.display()
        ));
    }
    let out = m.boto3(&format!(
        "import json\n\
         cfn = client('cloudformation')\n\
         {create}\
         outs = {{o['OutputKey']: o['OutputValue'] for o in cfn.describe_stacks(StackName='pulse-test-baseline')['Stacks'][0]['Outputs']}}\n\
         key = outs['KmsKeyArn']\n\
         kms = client('kms')\n\
         policy = kms.get_key_policy(KeyId=key, PolicyName='default')['Policy']\n\
         policy = json.loads(policy) if isinstance(policy, str) else policy\n\
         s3 = client('s3')\n\
         bucket = [b['Name'] for b in s3.list_buckets()['Buckets'] if b['Name'].startswith('pulse-test-uploads')][0]\n\
         enc = s3.get_bucket_encryption(Bucket=bucket)['ServerSideEncryptionConfiguration']['Rules'][0]['ApplyServerSideEncryptionByDefault']\n\
         db = client('rds').describe_db_instances(DBInstanceIdentifier='pulse-test-db')['DBInstances'][0]\n\
         print(json.dumps({{'key': key, 'rotation': kms.get_key_rotation_status(KeyId=key)['KeyRotationEnabled'],\n    \
             'sids': [s.get('Sid') for s in policy['Statement']],\n    \
             's3': [enc.get('SSEAlgorithm'), enc.get('KMSMasterKeyID')],\n    \
             'db': [db.get('StorageEncrypted'), db.get('KmsKeyId')]}}))\n"
    ));
    let r: Value = serde_json::from_str(out.trim()).expect("JSON");
    let key = r["key"].as_str().expect("the key's ARN");
    let key_id = key.rsplit('/').next().unwrap_or(key);
    assert_eq!(r["rotation"], true, "{r}");
    assert_eq!(
        r["sids"],
        serde_json::json!(["AccountAdministers", "LogsUseTheKey"]),
        "{r}"
    );
    let same = |v: &Value| v.as_str().is_some_and(|s| s == key || s.ends_with(key_id));
    assert_eq!(r["s3"][0], "aws:kms");
    assert!(same(&r["s3"][1]), "the bucket's key: {r}");
    assert_eq!(r["db"][0], true);
    assert!(same(&r["db"][1]), "the database's key: {r}");
}
