//! An environment too large for CloudFormation's inline template limit, on the moto server:
//! 20 services and data stores. `wharf up` uploads the baseline's template to the
//! environment's template bucket (made then: private, encrypted, versioned, a lifecycle rule,
//! tagged as wharf's — each setting read back through the S3 API) and creates
//! the stacks from its URL; `plan --remote` previews through the bucket too; `down` deletes
//! the stacks and then the bucket. A bucket of that name that wharf did not make is refused
//! by `up` before anything changes, and left alone by `down`.

use serde_json::Value;
use wharf_testkit::{moto, TestDir};

use crate::aws::{aws_wharf, stack};
use crate::no_panic;

const BUCKET: &str = "big-test-templates-123456789012";

fn manifest() -> String {
    let mut m = String::from(
        r#"
[app]
name = "big"

[environments.test]
target = "aws"
region = "us-east-1"
account = "123456789012"
azs = 2
egress = "endpoints"

[data.sessions]
type = "dynamodb"
partition_key = { name = "pk", type = "S" }

[data.uploads]
type = "s3"
"#,
    );
    for i in 1..=20 {
        m.push_str(&format!(
            "\n[services.s{i}]\nimage = \"registry.example/big/s{i}:1\"\nport = 8000\n\
             routing = {{ paths = [\"/s{i}/*\"], priority = {i} }}\ndata = [\"sessions\", \"uploads\"]\n"
        ));
    }
    m
}

/// The bucket as the S3 API shows it, or `null` when it does not exist.
fn bucket(m: &wharf_testkit::moto::MotoGuard) -> Value {
    let out = m.boto3(&format!(
        r#"
import json
s3 = client('s3'); b = '{BUCKET}'
if b not in [x['Name'] for x in s3.list_buckets()['Buckets']]:
    print('null')
else:
    def get(f, key):
        try:
            return f(Bucket=b)[key]
        except Exception as e:
            return 'error: ' + str(e)
    print(json.dumps({{
        'encryption': get(s3.get_bucket_encryption, 'ServerSideEncryptionConfiguration'),
        'versioning': s3.get_bucket_versioning(Bucket=b).get('Status'),
        'public': get(s3.get_public_access_block, 'PublicAccessBlockConfiguration'),
        'lifecycle': get(s3.get_bucket_lifecycle_configuration, 'Rules'),
        'tags': {{t['Key']: t['Value'] for t in get(s3.get_bucket_tagging, 'TagSet')}},
        'policy': get(s3.get_bucket_policy, 'Policy'),
        'keys': [o['Key'] for o in s3.list_objects_v2(Bucket=b).get('Contents', [])],
    }}, default=str))
"#
    ));
    serde_json::from_str(out.trim()).expect("JSON")
}

#[test]
fn twenty_services_go_up_plan_and_down_through_the_template_bucket() {
    let m = moto();
    let endpoint = m.endpoint();
    let dir = TestDir::new();
    dir.write("wharf.toml", manifest());

    let out = aws_wharf(&dir, &endpoint).args(["up"]).run().success();
    no_panic(&out);
    let url = format!("uploaded to https://{BUCKET}.s3.us-east-1.amazonaws.com/big-test-baseline/");
    assert!(out.stderr.contains(&url), "{out}");
    let size: usize = out
        .stderr
        .split("big-test-baseline: template of ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the size uploaded");
    assert!(size > 51_200, "{size}");
    assert!(out.stdout.contains("big-test-data: created"), "{out}");
    let (status, _, types) = stack(&endpoint, "big-test-baseline").expect("the baseline");
    assert_eq!(status, "CREATE_COMPLETE");
    let repos = types
        .iter()
        .filter(|t| *t == "AWS::ECR::Repository")
        .count();
    assert_eq!(repos, 20, "a repository per service: {types:?}");

    let b = bucket(&m);
    assert_eq!(
        b["encryption"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"], "AES256",
        "{b:#}"
    );
    assert_eq!(b["versioning"], "Enabled", "{b:#}");
    for k in [
        "BlockPublicAcls",
        "IgnorePublicAcls",
        "BlockPublicPolicy",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(b["public"][k], true, "{k}: {b:#}");
    }
    let rule = &b["lifecycle"][0];
    assert_eq!(rule["Status"], "Enabled", "{b:#}");
    assert_eq!(rule["Expiration"]["Days"], 30, "{b:#}");
    assert_eq!(
        rule["NoncurrentVersionExpiration"]["NoncurrentDays"], 1,
        "{b:#}"
    );
    assert_eq!(b["tags"]["wharf.app"], "big", "{b:#}");
    assert_eq!(b["tags"]["wharf.env"], "test", "{b:#}");
    // moto is reached over plain HTTP, which the TLS-only policy would lock out: none here
    // (the policy itself is checked in wharf-aws's unit tests).
    assert!(
        b["policy"]
            .as_str()
            .is_some_and(|p| p.contains("NoSuchBucketPolicy")),
        "{b:#}"
    );
    let keys = b["keys"].as_array().expect("keys");
    assert_eq!(
        keys.len(),
        1,
        "only the baseline's template is over the limit: {b:#}"
    );
    assert!(
        keys[0]
            .as_str()
            .is_some_and(|k| k.starts_with("big-test-baseline/") && k.ends_with(".json")),
        "{b:#}"
    );

    // The preview goes through the bucket as well.
    let out = aws_wharf(&dir, &endpoint)
        .args(["plan", "--remote", "--output", "json"])
        .run()
        .success();
    no_panic(&out);
    assert!(
        out.stderr
            .contains(r#"{"event":"uploaded","stack":"big-test-baseline""#)
            && out.stderr.contains(BUCKET),
        "the events as JSON lines: {out}"
    );
    let plan = out.json();
    let stacks: Vec<&str> = plan["stacks"]
        .as_array()
        .unwrap_or_else(|| panic!("{plan}"))
        .iter()
        .filter_map(|s| s["stack"].as_str())
        .collect();
    assert!(stacks.contains(&"big-test-baseline"), "{plan}");

    let out = aws_wharf(&dir, &endpoint)
        .args(["down", "--yes", "--purge"])
        .run()
        .success();
    no_panic(&out);
    assert!(out.stdout.contains(&format!("bucket {BUCKET}")), "{out}");
    assert!(stack(&endpoint, "big-test-baseline").is_none());
    assert_eq!(
        bucket(&m),
        Value::Null,
        "the bucket went with the environment"
    );

    // A bucket of that name that wharf did not make: `up` refuses before changing anything,
    // and `down` leaves it.
    // (Tagged as someone else's: moto keeps a deleted bucket's tags for a new one of its name.)
    m.boto3(&format!(
        "s3 = client('s3'); s3.create_bucket(Bucket='{BUCKET}')\n\
         s3.put_bucket_tagging(Bucket='{BUCKET}', Tagging={{'TagSet': [{{'Key': 'team', 'Value': 'data'}}]}})\n"
    ));
    let out = aws_wharf(&dir, &endpoint).args(["up"]).run();
    assert_eq!(out.code, Some(8), "{out}");
    assert!(out.stderr.contains("is not this environment's"), "{out}");
    assert!(
        stack(&endpoint, "big-test-baseline").is_none(),
        "nothing made"
    );
    let out = aws_wharf(&dir, &endpoint)
        .args(["down", "--yes"])
        .run()
        .success();
    assert!(out.stderr.contains("is not this environment's"), "{out}");
    assert_ne!(bucket(&m), Value::Null, "not wharf's: kept");
}
