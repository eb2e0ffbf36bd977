//! The one place AWS configuration is resolved: credentials through the standard chain (profiles
//! including SSO, environment variables, process credentials, instance and container roles),
//! the region, an endpoint override for emulators, retries and timeouts. Then the account
//! guard, checked through STS before anything changes.

use std::fmt;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde::Serialize;

use crate::error::AwsError;

/// How to reach AWS; every field falls back to the standard chain when empty.
#[derive(Debug, Clone, Default)]
pub struct AccessOptions {
    /// A profile of `~/.aws/config` (SSO profiles included).
    pub profile: Option<String>,
    pub region: Option<String>,
    /// An endpoint for every service (an emulator); `AWS_ENDPOINT_URL` is also honoured.
    pub endpoint_url: Option<String>,
    /// Attempts per call, the first included [default: AWS_MAX_ATTEMPTS, else 6].
    pub max_attempts: Option<u32>,
}

/// A resolved SDK configuration, from which each service's client is made.
#[derive(Debug, Clone)]
pub struct Access {
    pub config: SdkConfig,
}

/// Resolves the configuration. Retries are the SDK's standard mode: exponential backoff with
/// full jitter on throttling, transient and timeout errors, from 200 ms up to 20 s.
pub async fn connect(opts: &AccessOptions) -> Access {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(opts.max_attempts.unwrap_or_else(|| {
                    // The standard variable, honoured as the SDK would.
                    std::env::var("AWS_MAX_ATTEMPTS")
                        .ok()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(6)
                }))
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(20)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(60))
                .build(),
        );
    if let Some(p) = &opts.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &opts.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(u) = &opts.endpoint_url {
        loader = loader.endpoint_url(u);
    }
    Access {
        config: loader.load().await,
    }
}

impl Access {
    pub fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.config)
    }

    pub fn cloudformation(&self) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.config)
    }

    pub fn ecr(&self) -> aws_sdk_ecr::Client {
        aws_sdk_ecr::Client::new(&self.config)
    }

    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::new(&self.config)
    }

    pub fn scheduler(&self) -> aws_sdk_scheduler::Client {
        aws_sdk_scheduler::Client::new(&self.config)
    }

    /// S3, addressing buckets by path when an endpoint is given (an emulator on an address
    /// has no per-bucket host names).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let path_style = self.config.endpoint_url().is_some();
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.config)
                .force_path_style(path_style)
                .build(),
        )
    }

    /// The same configuration in another region (CloudFront's stack lives in us-east-1).
    pub fn in_region(&self, region: &str) -> Access {
        Access {
            config: self
                .config
                .to_builder()
                .region(Region::new(region.to_owned()))
                .build(),
        }
    }
}

/// Who the credentials belong to.
#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    pub account: String,
    pub arn: String,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (account {})", self.arn, self.account)
    }
}

/// The credentials' identity, from STS GetCallerIdentity.
pub async fn identity(sts: &aws_sdk_sts::Client) -> Result<Identity, AwsError> {
    let out = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("identify the caller (sts:GetCallerIdentity)", e))?;
    Ok(Identity {
        account: out.account().unwrap_or_default().to_owned(),
        arn: out.arn().unwrap_or_default().to_owned(),
    })
}

/// The credentials are for another account than the manifest allows.
#[derive(Debug, Clone, Serialize, thiserror::Error, miette::Diagnostic)]
#[error("refusing to change account {actual}: environment `{env}` allows only account {expected} (the credentials are {arn})")]
#[diagnostic(
    code(wharf::aws::account_guard),
    help("use credentials of account {expected} (--profile, AWS_PROFILE), or correct `account` in [environments.{env}] if the manifest is wrong")
)]
pub struct GuardError {
    pub env: String,
    pub expected: String,
    pub actual: String,
    pub arn: String,
}

/// Checks the account guard: `Ok` only when the credentials are for `expected`.
pub fn check_guard(env: &str, expected: &str, id: &Identity) -> Result<(), GuardError> {
    if id.account == expected {
        Ok(())
    } else {
        Err(GuardError {
            env: env.to_owned(),
            expected: expected.to_owned(),
            actual: id.account.clone(),
            arn: id.arn.clone(),
        })
    }
}
