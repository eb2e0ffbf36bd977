//! Credentials for a registry other than the environment's own ECR, the way the Docker CLI
//! finds them: `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`), its `credHelpers`
//! entry for the host, its `credsStore`, or the `auths` entry `docker login` wrote.

use crate::error::DockerError;
use crate::image::RegistryAuth;

/// What `docker login` left for `server` (`host[:port]`); `None` when nothing is configured,
/// so the push goes out anonymous as `docker push` would.
pub fn from_docker_config(server: &str) -> Result<Option<RegistryAuth>, DockerError> {
    use docker_credential::{CredentialRetrievalError as E, DockerCredential};
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker")));
    if !dir.is_some_and(|d| d.join("config.json").exists()) {
        // Never logged in anywhere: an anonymous push, as `docker push` would make.
        return Ok(None);
    }
    let keys = [
        server.to_owned(),
        format!("https://{server}"),
        format!("http://{server}"),
    ];
    for key in &keys {
        match docker_credential::get_credential(key) {
            Ok(DockerCredential::UsernamePassword(username, password)) => {
                return Ok(Some(RegistryAuth {
                    username,
                    password,
                    server: server.to_owned(),
                    identity_token: None,
                }))
            }
            Ok(DockerCredential::IdentityToken(token)) => {
                return Ok(Some(RegistryAuth {
                    server: server.to_owned(),
                    identity_token: Some(token),
                    ..RegistryAuth::default()
                }))
            }
            Err(E::NoCredentialConfigured | E::ConfigNotFound) => continue,
            Err(e) => {
                return Err(DockerError::Credentials {
                    server: server.to_owned(),
                    message: e.to_string(),
                })
            }
        }
    }
    Ok(None)
}
