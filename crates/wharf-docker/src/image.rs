//! Images: build from a context, push with a registry's credentials, pull when missing,
//! list and remove by label.

use std::collections::HashMap;
use std::path::Path;

use bollard::query_parameters::{BuildImageOptions, RemoveImageOptions};
use futures_util::StreamExt;

use crate::client::{api, label_filter, Docker};
use crate::context::context_tar;
use crate::error::DockerError;

/// What to build.
#[derive(Clone)]
pub struct BuildSpec<'a> {
    pub context: &'a Path,
    /// Relative to the context.
    pub dockerfile: &'a Path,
    pub tag: &'a str,
    pub labels: HashMap<String, String>,
    pub args: HashMap<String, String>,
    pub target: Option<&'a str>,
    /// `os/arch` to build for (`linux/arm64`); `None`: the Engine's own.
    pub platform: Option<&'a str>,
    /// Build every step again rather than reuse cached layers.
    pub no_cache: bool,
    /// Never sent, whatever `.dockerignore` says (wharf's state dirs, secrets files).
    pub private: &'a [std::path::PathBuf],
}

/// Credentials for a registry, as a `docker login` would give them.
#[derive(Clone, Default)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
    /// `host[:port]` of the registry.
    pub server: String,
    /// What a credential helper gives instead of a password (an OAuth refresh token).
    pub identity_token: Option<String>,
}

/// Never prints the password.
impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("server", &self.server)
            .field(
                "identity_token",
                &self.identity_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Docker {
    /// Builds an image; `line` receives the build output. On failure the error carries the
    /// log's tail.
    ///
    /// The classic builder reuses cached layers it does not hold: when another client removes
    /// one mid-build (`docker rmi`, `docker image prune`, another app's `wharf down`), the
    /// engine fails the build with "failed to get digest" or "No such image". Such a build is
    /// started again, up to [`LOST_LAYER_RETRIES`] times, and then rebuilds the layer.
    pub async fn build(
        &self,
        spec: BuildSpec<'_>,
        mut line: impl FnMut(&str),
    ) -> Result<(), DockerError> {
        let mut attempt = 0;
        loop {
            match self.build_once(&spec, &mut line).await {
                Err(DockerError::BuildFailed { message, .. })
                    if attempt < LOST_LAYER_RETRIES && lost_layer(&message) =>
                {
                    attempt += 1;
                    line(&format!(
                        "(a cached layer was removed while building: {message}; building again)"
                    ));
                }
                other => return other,
            }
        }
    }

    async fn build_once(
        &self,
        spec: &BuildSpec<'_>,
        line: &mut impl FnMut(&str),
    ) -> Result<(), DockerError> {
        let BuildSpec {
            context,
            dockerfile,
            tag,
            labels,
            args,
            target,
            platform,
            no_cache,
            private,
        } = spec;
        let (labels, args) = (labels.clone(), args.clone());
        let tar = context_tar(context, dockerfile, private)?;
        let tar = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(tar));
        let options = BuildImageOptions {
            dockerfile: dockerfile.to_string_lossy().into_owned(),
            t: Some((*tag).to_owned()),
            rm: true,
            forcerm: true,
            labels: Some(labels),
            buildargs: Some(args),
            target: target.unwrap_or_default().to_owned(),
            platform: platform.unwrap_or_default().to_owned(),
            nocache: *no_cache,
            ..Default::default()
        };
        let mut stream = self
            .d
            .build_image(options, None, Some(bollard::body_try_stream(tar)));
        let mut tail: Vec<String> = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(s) = info.stream.as_deref() {
                        for l in s.lines().filter(|l| !l.trim().is_empty()) {
                            line(l);
                            tail.push(l.to_owned());
                        }
                    }
                    if let Some(err) = info.error_detail.and_then(|e| e.message) {
                        return Err(DockerError::BuildFailed {
                            message: err,
                            tail: last(&tail),
                        });
                    }
                }
                Err(e) => {
                    return Err(DockerError::BuildFailed {
                        message: e.to_string(),
                        tail: last(&tail),
                    })
                }
            }
            if tail.len() > 200 {
                tail.drain(..100);
            }
        }
        Ok(())
    }

    /// Pushes `repository:tag` and returns the digest the registry gave the manifest
    /// (`sha256:…`), read from the push's final status line and checked against the image's
    /// repo digests afterwards. `line` receives the push's progress statuses.
    pub async fn push(
        &self,
        repository: &str,
        tag: &str,
        auth: Option<&RegistryAuth>,
        mut line: impl FnMut(&str),
    ) -> Result<String, DockerError> {
        let image = format!("{repository}:{tag}");
        let failed = |message: String| DockerError::PushFailed {
            image: image.clone(),
            message,
        };
        let credentials = auth.map(|a| bollard::auth::DockerCredentials {
            username: (!a.username.is_empty()).then(|| a.username.clone()),
            password: (!a.password.is_empty()).then(|| a.password.clone()),
            serveraddress: Some(a.server.clone()),
            identitytoken: a.identity_token.clone(),
            ..Default::default()
        });
        let options = bollard::query_parameters::PushImageOptions {
            tag: Some(tag.to_owned()),
            platform: None,
        };
        let mut stream = self.d.push_image(repository, Some(options), credentials);
        let mut digest = None;
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| failed(e.to_string()))?;
            if let Some(e) = info.error_detail.and_then(|d| d.message) {
                return Err(failed(e));
            }
            if let Some(status) = info.status.as_deref() {
                // "<tag>: digest: sha256:<hex> size: <n>"
                if let Some(d) = status.split("digest: ").nth(1) {
                    digest = d.split_whitespace().next().map(str::to_owned);
                }
                line(status);
            }
        }
        let digest = digest.ok_or_else(|| {
            failed("the registry reported no digest for the pushed manifest".into())
        })?;
        let inspect = self
            .d
            .inspect_image(&image)
            .await
            .map_err(api(format!("inspect image {image}")))?;
        let known = inspect
            .repo_digests
            .unwrap_or_default()
            .iter()
            .any(|r| r == &format!("{repository}@{digest}"));
        if !known {
            return Err(failed(format!(
                "the registry answered digest {digest}, which Docker does not list for {repository}"
            )));
        }
        Ok(digest)
    }

    /// Makes sure `image` is present, pulling it when it is not (as `docker run` would).
    pub async fn ensure_image(&self, image: &str) -> Result<(), DockerError> {
        match self.d.inspect_image(image).await {
            Ok(_) => return Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(source) => {
                return Err(DockerError::Api {
                    action: format!("inspect image {image}"),
                    source,
                })
            }
        }
        let opts = bollard::query_parameters::CreateImageOptions {
            from_image: Some(image.to_owned()),
            ..Default::default()
        };
        let mut pull = self.d.create_image(Some(opts), None, None);
        while let Some(item) = pull.next().await {
            match item {
                Ok(info) => {
                    if let Some(e) = info.error_detail.and_then(|d| d.message) {
                        return Err(DockerError::ImageMissing {
                            image: image.to_owned(),
                            reason: e,
                        });
                    }
                }
                Err(e) => {
                    return Err(DockerError::ImageMissing {
                        image: image.to_owned(),
                        reason: e.to_string(),
                    })
                }
            }
        }
        Ok(())
    }

    /// The platform the Engine itself runs on (`linux/amd64`): what it builds for by default.
    pub async fn engine_platform(&self) -> Result<String, DockerError> {
        let v = self
            .d
            .version()
            .await
            .map_err(api("read the Docker Engine's version".to_owned()))?;
        match (v.os, v.arch) {
            (Some(os), Some(arch)) => Ok(format!("{os}/{arch}")),
            _ => Err(DockerError::ImageMissing {
                image: "the Docker Engine".into(),
                reason: "it answered no OS or architecture".into(),
            }),
        }
    }

    /// The platform the image is for, `os/arch` as Docker names it (`linux/arm64`).
    pub async fn image_platform(&self, image: &str) -> Result<String, DockerError> {
        let info = self
            .d
            .inspect_image(image)
            .await
            .map_err(api(format!("inspect image {image}")))?;
        match (info.os, info.architecture) {
            (Some(os), Some(arch)) => Ok(format!("{os}/{arch}")),
            _ => Err(DockerError::ImageMissing {
                image: image.to_owned(),
                reason: "Docker answered no OS or architecture for it".into(),
            }),
        }
    }

    /// The image's id (`sha256:…`), which names it whatever tags move later.
    pub async fn image_id(&self, image: &str) -> Result<String, DockerError> {
        let info = self
            .d
            .inspect_image(image)
            .await
            .map_err(api(format!("inspect image {image}")))?;
        info.id.ok_or_else(|| DockerError::ImageMissing {
            image: image.to_owned(),
            reason: "Docker answered no id for it".into(),
        })
    }

    pub async fn remove_image(&self, tag: &str) -> Result<(), DockerError> {
        match self
            .d
            .remove_image(
                tag,
                Some(RemoveImageOptions {
                    force: true,
                    ..Default::default()
                }),
                None,
            )
            .await
        {
            Ok(_)
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(api(format!("remove image {tag}"))(e)),
        }
    }

    /// Images carrying every given label.
    pub async fn images(&self, labels: &[(&str, &str)]) -> Result<Vec<String>, DockerError> {
        let opts = bollard::query_parameters::ListImagesOptions {
            filters: Some(label_filter(labels)),
            ..Default::default()
        };
        let list = self
            .d
            .list_images(Some(opts))
            .await
            .map_err(api("list images"))?;
        Ok(list.into_iter().map(|i| i.id).collect())
    }
}

/// How many times a build that lost a cached layer to another client is started again.
pub const LOST_LAYER_RETRIES: u32 = 2;

/// Whether a build failed because the engine lost a layer it was reusing (see [`Docker::build`]).
fn lost_layer(message: &str) -> bool {
    message.contains("failed to get digest")
        || (message.contains("No such image") && message.contains("sha256:"))
}

fn last(lines: &[String]) -> String {
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_lost_to_another_client_is_told_from_a_failing_build() {
        assert!(lost_layer("failed to get digest sha256:4f1a: open /var/lib/docker/image/fuse-overlayfs/imagedb/content/sha256/4f1a: no such file or directory"));
        assert!(lost_layer("No such image: sha256:4f1a"));
        assert!(!lost_layer(
            "The command '/bin/sh -c make' returned a non-zero code: 2"
        ));
        assert!(!lost_layer("COPY failed: file not found in build context"));
    }

    #[test]
    fn registry_auth_debug_hides_the_password() {
        let a = RegistryAuth {
            username: "AWS".into(),
            password: "hunter2-token".into(),
            server: "r.example".into(),
            identity_token: Some("refresh-s3cret".into()),
        };
        let shown = format!("{a:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret") && shown.contains("AWS"),
            "{shown}"
        );
    }
}
