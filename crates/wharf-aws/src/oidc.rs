//! GitHub's OpenID Connect provider in the account, which the deploy roles of `[ci.github]`
//! trust. One per account, shared by every app and environment there, so it is made through
//! IAM (not in an environment's stack, whose `down` would take it from the others) and only
//! when the account has none; `down` never deletes it.

use aws_sdk_iam::types::Tag;
use serde::Serialize;

use crate::error::AwsError;

/// GitHub Actions' token issuer.
pub const GITHUB_URL: &str = "https://token.actions.githubusercontent.com";

/// The audience `aws-actions/configure-aws-credentials` asks tokens for.
pub const AUDIENCE: &str = "sts.amazonaws.com";

/// GitHub's certificate thumbprints. IAM no longer checks them for GitHub (it trusts the
/// issuer's CA), but the API still takes a list.
const THUMBPRINTS: [&str; 2] = [
    "6938fd4d98bab03faadb97b34396831e3780aea1",
    "1c58a3a8518e8759bf075b76b750d4f2df264fcd",
];

/// The provider and whether `up` made it.
#[derive(Debug, Clone, Serialize)]
pub struct Provider {
    pub arn: String,
    pub created: bool,
}

/// Finds the account's GitHub provider, or makes it (tagged as made by wharf for this app).
pub async fn ensure_github(
    iam: &aws_sdk_iam::Client,
    app: &str,
    env: &str,
) -> Result<Provider, AwsError> {
    let issuer = GITHUB_URL.trim_start_matches("https://");
    let listed = iam
        .list_open_id_connect_providers()
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("list the account's OIDC providers", e))?;
    if let Some(arn) = listed
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
        .find(|arn| arn.ends_with(&format!("oidc-provider/{issuer}")))
    {
        return Ok(Provider {
            arn: arn.to_owned(),
            created: false,
        });
    }
    let tag = |k: &str, v: &str| {
        Tag::builder()
            .key(k)
            .value(v)
            .build()
            .expect("key and value set")
    };
    let made = iam
        .create_open_id_connect_provider()
        .url(GITHUB_URL)
        .client_id_list(AUDIENCE)
        .set_thumbprint_list(Some(THUMBPRINTS.iter().map(|s| (*s).to_owned()).collect()))
        .tags(tag("wharf.app", app))
        .tags(tag("wharf.env", env))
        .tags(tag("wharf.shared", "github-oidc"))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("create GitHub's OIDC provider", e))?;
    Ok(Provider {
        arn: made
            .open_id_connect_provider_arn()
            .unwrap_or_default()
            .to_owned(),
        created: true,
    })
}
