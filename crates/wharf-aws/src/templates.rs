//! Where templates too large for a request body go. CloudFormation takes at most 51,200 bytes
//! inline; a larger template (about six services and up) is uploaded to an S3 bucket wharf owns,
//! one per environment, `{app}-{env}-templates-{account}`, and passed by URL (up to 1,000,000
//! bytes). The bucket is made the first time a template needs it: private (public access
//! blocked, owner-enforced objects, TLS only unless the endpoint itself is plain HTTP),
//! encrypted (SSE-S3), versioned, tagged
//! `wharf.app`/`wharf.env` — the proof that it is wharf's, checked before every use and
//! before `wharf down` deletes it — with a lifecycle rule expiring templates after 30 days and
//! replaced versions after one (CloudFormation keeps its own copy of what it applied).

use std::fmt::Write as _;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    BucketVersioningStatus, CreateBucketConfiguration, ExpirationStatus, LifecycleExpiration,
    LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration, ObjectOwnership,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
    VersioningConfiguration,
};
use sha2::{Digest as _, Sha256};

use crate::error::{AwsError, ErrorKind};

/// CloudFormation's limit for a template in the request body.
pub const MAX_BODY: usize = 51_200;
/// CloudFormation's limit for a template read from S3.
pub const MAX_URL: usize = 1_000_000;
/// Days a template stays in the bucket.
pub const KEEP_DAYS: i32 = 30;

/// The environment's template bucket.
pub struct TemplateBucket<'a> {
    pub s3: &'a aws_sdk_s3::Client,
    pub name: String,
    pub region: String,
    app: String,
    env: String,
    /// Whether the bucket refuses requests without TLS: always on AWS; not through an
    /// endpoint reached over plain HTTP (an emulator), which the policy would lock out.
    pub tls_only: bool,
}

/// The bucket's name for an environment.
pub fn bucket_name(app: &str, env: &str, account: &str) -> String {
    format!("{app}-{env}-templates-{account}")
}

impl<'a> TemplateBucket<'a> {
    pub fn new(
        s3: &'a aws_sdk_s3::Client,
        app: &str,
        env: &str,
        account: &str,
        region: &str,
    ) -> Self {
        TemplateBucket {
            s3,
            name: bucket_name(app, env, account),
            region: region.to_owned(),
            app: app.to_owned(),
            env: env.to_owned(),
            tls_only: true,
        }
    }

    /// Whether the bucket exists and is this environment's (by its tags); a bucket of that
    /// name that is not is refused, never used or deleted.
    pub async fn owned(&self) -> Result<bool, AwsError> {
        let action = format!(
            "read the tags of bucket {} (s3:GetBucketTagging)",
            self.name
        );
        let tags = match self.s3.get_bucket_tagging().bucket(&self.name).send().await {
            Ok(out) => out.tag_set,
            Err(e) => {
                let e = AwsError::from_sdk(&action, e);
                return match e.code.as_deref() {
                    Some("NoSuchBucket") => Ok(false),
                    Some("NoSuchTagSet") => Err(self.not_ours("it carries no tags")),
                    _ if e.kind == ErrorKind::AccessDenied => {
                        Err(self.not_ours("these credentials may not read it (another account's?)"))
                    }
                    _ => Err(e),
                };
            }
        };
        let tag = |k: &str| tags.iter().find(|t| t.key == k).map(|t| t.value.as_str());
        if tag("wharf.app") == Some(&self.app) && tag("wharf.env") == Some(&self.env) {
            Ok(true)
        } else {
            Err(self.not_ours("its wharf.app/wharf.env tags name another environment"))
        }
    }

    fn not_ours(&self, why: &str) -> AwsError {
        AwsError::new(
            format!("use bucket {} for templates", self.name),
            ErrorKind::Conflict,
            format!("the bucket exists but is not this environment's: {why}; wharf neither uses nor deletes it"),
        )
    }

    /// Makes the bucket when it does not exist, and (re)applies its settings; true when it was
    /// created now.
    pub async fn ensure(&self) -> Result<bool, AwsError> {
        let created = if self.owned().await? {
            false
        } else {
            self.create().await?;
            true
        };
        self.settle().await?;
        Ok(created)
    }

    async fn create(&self) -> Result<(), AwsError> {
        let mut req = self
            .s3
            .create_bucket()
            .bucket(&self.name)
            .object_ownership(ObjectOwnership::BucketOwnerEnforced);
        if self.region != "us-east-1" {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(self.region.as_str()))
                    .build(),
            );
        }
        req.send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("create bucket {}", self.name), e))?;
        // The tags first: from here on the bucket is provably wharf's.
        let tagging = Tagging::builder()
            .tag_set(tag("wharf.app", &self.app)?)
            .tag_set(tag("wharf.env", &self.env)?)
            .build()
            .map_err(|e| self.invalid(e))?;
        self.s3
            .put_bucket_tagging()
            .bucket(&self.name)
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("tag bucket {}", self.name), e))?;
        Ok(())
    }

    /// Private, encrypted, versioned, TLS only, templates expiring.
    async fn settle(&self) -> Result<(), AwsError> {
        let b = &self.name;
        let fail = |what: &str| format!("{what} of bucket {b}");
        self.s3
            .put_public_access_block()
            .bucket(b)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .block_public_policy(true)
                    .ignore_public_acls(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(fail("block public access"), e))?;
        let sse = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::Aes256)
            .build()
            .map_err(|e| self.invalid(e))?;
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(sse)
            .build();
        self.s3
            .put_bucket_encryption()
            .bucket(b)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(rule)
                    .build()
                    .map_err(|e| self.invalid(e))?,
            )
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(fail("set the encryption"), e))?;
        self.s3
            .put_bucket_versioning()
            .bucket(b)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(fail("turn on versioning"), e))?;
        let rule = LifecycleRule::builder()
            .id("expire-templates")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .expiration(LifecycleExpiration::builder().days(KEEP_DAYS).build())
            .noncurrent_version_expiration(
                NoncurrentVersionExpiration::builder()
                    .noncurrent_days(1)
                    .build(),
            )
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(1)
                    .build(),
            )
            .build()
            .map_err(|e| self.invalid(e))?;
        self.s3
            .put_bucket_lifecycle_configuration()
            .bucket(b)
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .rules(rule)
                    .build()
                    .map_err(|e| self.invalid(e))?,
            )
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(fail("set the lifecycle rule"), e))?;
        if self.tls_only {
            self.s3
                .put_bucket_policy()
                .bucket(b)
                .policy(tls_only_policy(b, &self.region).to_string())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(fail("set the policy"), e))?;
        }
        Ok(())
    }

    /// Uploads a stack's template; the URL CloudFormation reads it from. The key is the
    /// stack and the template's SHA-256, so an unchanged template is the same object.
    pub async fn put(&self, stack: &str, body: &str) -> Result<String, AwsError> {
        let key = format!("{stack}/{}.json", sha256_hex(body.as_bytes()));
        self.s3
            .put_object()
            .bucket(&self.name)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(body.as_bytes().to_vec()))
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    format!("upload the template of {stack} to {}", self.name),
                    e,
                )
            })?;
        Ok(self.url(&key))
    }

    /// The object's virtual-hosted URL in the bucket's region.
    fn url(&self, key: &str) -> String {
        let domain = if self.region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        format!("https://{}.s3.{}.{domain}/{key}", self.name, self.region)
    }

    /// Deletes the bucket with every object version, when it is this environment's; false
    /// when there is none.
    pub async fn remove(&self) -> Result<bool, AwsError> {
        if !self.owned().await? {
            return Ok(false);
        }
        crate::purge::empty_bucket(self.s3, &self.name).await?;
        self.s3
            .delete_bucket()
            .bucket(&self.name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("delete bucket {}", self.name), e))?;
        Ok(true)
    }

    fn invalid(&self, e: impl std::fmt::Display) -> AwsError {
        AwsError::new(
            format!("configure bucket {}", self.name),
            ErrorKind::Invalid,
            e.to_string(),
        )
    }
}

/// Denies every request to the bucket that does not come over TLS.
fn tls_only_policy(bucket: &str, region: &str) -> serde_json::Value {
    let arn = format!("arn:{}:s3:::{bucket}", crate::ecs::sns::partition(region));
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, format!("{arn}/*")],
            "Condition": { "Bool": { "aws:SecureTransport": "false" } },
        }],
    })
}

fn tag(key: &str, value: &str) -> Result<Tag, AwsError> {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|e| AwsError::new("tag a bucket", ErrorKind::Invalid, e.to_string()))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_virtual_hosted_in_the_buckets_region() {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .build();
        let s3 = aws_sdk_s3::Client::from_conf(conf);
        let b = TemplateBucket::new(&s3, "pulse", "prod", "123456789012", "eu-central-1");
        assert_eq!(b.name, "pulse-prod-templates-123456789012");
        assert_eq!(
            b.url("pulse-prod-baseline/ab.json"),
            "https://pulse-prod-templates-123456789012.s3.eu-central-1.amazonaws.com/pulse-prod-baseline/ab.json"
        );
        let p = tls_only_policy(&b.name, "cn-north-1");
        assert_eq!(p["Statement"][0]["Effect"], "Deny");
        assert_eq!(
            p["Statement"][0]["Resource"][1],
            "arn:aws-cn:s3:::pulse-prod-templates-123456789012/*"
        );
        assert_eq!(
            p["Statement"][0]["Condition"]["Bool"]["aws:SecureTransport"],
            "false"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
