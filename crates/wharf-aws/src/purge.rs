//! What `wharf down` must know before CloudFormation deletes an environment: wharf's own image
//! repositories and the buckets deleted with the stacks refuse deletion while they hold
//! anything. `down` lists what they hold and stops; `down --purge` empties them first (every
//! image; every object version and delete marker), then the stacks go.

use std::fmt;

use aws_sdk_ecr::types::ImageIdentifier;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use serde::Serialize;

use crate::error::{AwsError, ErrorKind};

/// A repository or bucket and how much it holds.
#[derive(Debug, Clone, Serialize)]
pub struct Holding {
    /// "repository" or "bucket"
    pub kind: &'static str,
    pub name: String,
    /// Images, or object versions and delete markers.
    pub items: usize,
}

impl fmt::Display for Holding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.kind == "repository" {
            "image(s)"
        } else {
            "object version(s)"
        };
        write!(f, "{} {} holds {} {what}", self.kind, self.name, self.items)
    }
}

fn not_found(e: &AwsError) -> bool {
    e.kind == ErrorKind::NotFound
        || e.code
            .as_deref()
            .is_some_and(|c| c == "NoSuchBucket" || c == "RepositoryNotFoundException")
}

/// Every image id in `repository` (none when it does not exist).
pub async fn images(
    ecr: &aws_sdk_ecr::Client,
    repository: &str,
) -> Result<Vec<ImageIdentifier>, AwsError> {
    let mut ids = Vec::new();
    let mut token = None;
    loop {
        let out = match ecr
            .list_images()
            .repository_name(repository)
            .set_next_token(token)
            .max_results(1000)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let e = AwsError::from_sdk(format!("list the images of {repository}"), e);
                return if not_found(&e) {
                    Ok(Vec::new())
                } else {
                    Err(e)
                };
            }
        };
        ids.extend(out.image_ids().iter().cloned());
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(ids);
        }
    }
}

/// Every object version and delete marker in `bucket` (none when it does not exist).
pub async fn objects(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Vec<ObjectIdentifier>, AwsError> {
    let mut ids = Vec::new();
    let (mut key, mut version) = (None, None);
    loop {
        let out = match s3
            .list_object_versions()
            .bucket(bucket)
            .set_key_marker(key)
            .set_version_id_marker(version)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let e = AwsError::from_sdk(format!("list the objects of bucket {bucket}"), e);
                return if not_found(&e) {
                    Ok(Vec::new())
                } else {
                    Err(e)
                };
            }
        };
        let id = |k: Option<&str>, v: Option<&str>| {
            ObjectIdentifier::builder()
                .key(k.unwrap_or_default())
                .set_version_id(v.map(str::to_owned))
                .build()
        };
        for v in out.versions() {
            ids.extend(id(v.key(), v.version_id()).ok());
        }
        for m in out.delete_markers() {
            ids.extend(id(m.key(), m.version_id()).ok());
        }
        if out.is_truncated() != Some(true) {
            return Ok(ids);
        }
        key = out.next_key_marker().map(str::to_owned);
        version = out.next_version_id_marker().map(str::to_owned);
    }
}

/// The repositories and buckets that hold something.
pub async fn holdings(
    ecr: &aws_sdk_ecr::Client,
    s3: &aws_sdk_s3::Client,
    repositories: &[String],
    buckets: &[String],
) -> Result<Vec<Holding>, AwsError> {
    let mut out = Vec::new();
    for r in repositories {
        let n = images(ecr, r).await?.len();
        if n > 0 {
            out.push(Holding {
                kind: "repository",
                name: r.clone(),
                items: n,
            });
        }
    }
    for b in buckets {
        let n = objects(s3, b).await?.len();
        if n > 0 {
            out.push(Holding {
                kind: "bucket",
                name: b.clone(),
                items: n,
            });
        }
    }
    Ok(out)
}

/// Deletes everything `holding` holds (images in batches of 100, objects of 1000).
pub async fn empty(
    ecr: &aws_sdk_ecr::Client,
    s3: &aws_sdk_s3::Client,
    holding: &Holding,
) -> Result<(), AwsError> {
    let name = &holding.name;
    if holding.kind == "repository" {
        let ids = images(ecr, name).await?;
        for chunk in ids.chunks(100) {
            let out = ecr
                .batch_delete_image()
                .repository_name(name)
                .set_image_ids(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(format!("delete the images of {name}"), e))?;
            if let Some(f) = out.failures().first() {
                return Err(AwsError::new(
                    format!("delete the images of {name}"),
                    ErrorKind::Other,
                    format!(
                        "{}: {}",
                        f.failure_code().map_or("failed", |c| c.as_str()),
                        f.failure_reason().unwrap_or("no reason given")
                    ),
                ));
            }
        }
    } else {
        empty_bucket(s3, name).await?;
    }
    Ok(())
}

/// Deletes every object version and delete marker of bucket `name`, 1000 at a time.
pub async fn empty_bucket(s3: &aws_sdk_s3::Client, name: &str) -> Result<(), AwsError> {
    let ids = objects(s3, name).await?;
    for chunk in ids.chunks(1000) {
        let delete = Delete::builder()
            .set_objects(Some(chunk.to_vec()))
            .quiet(true)
            .build()
            .map_err(|e| {
                AwsError::new(
                    format!("empty bucket {name}"),
                    ErrorKind::Invalid,
                    e.to_string(),
                )
            })?;
        let out = s3
            .delete_objects()
            .bucket(name)
            .delete(delete)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("empty bucket {name}"), e))?;
        if let Some(err) = out.errors().first() {
            return Err(AwsError::new(
                format!("empty bucket {name}"),
                ErrorKind::Other,
                format!(
                    "{}: {}",
                    err.key().unwrap_or("an object"),
                    err.message().unwrap_or("not deleted")
                ),
            ));
        }
    }
    Ok(())
}
