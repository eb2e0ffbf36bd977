//! The images of deployments still present stay out of the repository's lifecycle count: a
//! deployment's image gets the tag `keep-{deployment}` when the deployment is provisioned
//! (a rollback's too, on the earlier image) and loses it when the deployment is retired; the
//! repository's first lifecycle rule claims every `keep-` image, so its `keep_images` rule
//! can never expire an image a deployment runs or may roll back to while it is present.

use aws_sdk_ecr::types::ImageIdentifier;
use wharf_engine::Record;
use wharf_manifest::Service;

use super::AwsTarget;
use crate::error::AwsError;

/// The tag that keeps deployment `id`'s image.
pub fn keep_tag(id: &str) -> String {
    format!("{}{id}", wharf_cfn::KEEP_TAG_PREFIX)
}

impl AwsTarget {
    /// The service's repository name, when the deployment's image is in it (a prebuilt image,
    /// or one pushed to another registry, is not wharf's to keep).
    fn own_repository(&self, service: &Service, image: &str) -> Option<String> {
        let uri = &self.out.service(&service.name).ok()?.repository_uri;
        let rest = image.strip_prefix(uri.as_str())?;
        if !rest.starts_with(':') && !rest.starts_with('@') {
            return None;
        }
        uri.split_once('/').map(|(_, name)| name.to_owned())
    }

    /// Tags the deployment's image `keep-{id}` (again: an existing tag is fine).
    pub(crate) async fn keep_image(
        &self,
        service: &Service,
        record: &Record,
    ) -> Result<(), AwsError> {
        let Some(repo) = self.own_repository(service, &record.image) else {
            return Ok(());
        };
        // By its pinned digest, else by the reference's tag (an image pushed there by CI).
        let id = match (&record.digest, record.image.rsplit_once(':')) {
            (Some(d), _) => ImageIdentifier::builder().image_digest(d).build(),
            (None, Some((_, tag))) if !tag.contains('/') => {
                ImageIdentifier::builder().image_tag(tag).build()
            }
            _ => return Ok(()),
        };
        let ecr = &self.clients.ecr;
        let action = format!("tag the image of {} to keep it", record.id);
        let got = ecr
            .batch_get_image()
            .repository_name(&repo)
            .image_ids(id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&action, e))?;
        let Some(image) = got.images().first() else {
            return Ok(());
        };
        let Some(manifest) = image.image_manifest() else {
            return Ok(());
        };
        let put = ecr
            .put_image()
            .repository_name(&repo)
            .image_manifest(manifest)
            .set_image_manifest_media_type(image.image_manifest_media_type().map(str::to_owned))
            .image_tag(keep_tag(&record.id))
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = AwsError::from_sdk(&action, e);
                let exists = matches!(
                    e.code.as_deref(),
                    Some("ImageAlreadyExistsException" | "ImageTagAlreadyExistsException")
                );
                if exists {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Removes the tag `keep-{deployment}` (only the tag: the image keeps its others); none is
    /// fine.
    pub(crate) async fn release_image(
        &self,
        service: &Service,
        image: &str,
        deployment: &str,
    ) -> Result<(), AwsError> {
        let Some(repo) = self.own_repository(service, image) else {
            return Ok(());
        };
        self.clients
            .ecr
            .batch_delete_image()
            .repository_name(&repo)
            .image_ids(
                ImageIdentifier::builder()
                    .image_tag(keep_tag(deployment))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("release the image of {deployment}"), e))?;
        Ok(())
    }
}
