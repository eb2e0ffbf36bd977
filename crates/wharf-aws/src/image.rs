//! The image a deployment runs on AWS: where it is pushed (the service's ECR repository, or a
//! registry standing in for ECR's data plane), the credentials ECR hands out for pushing
//! (GetAuthorizationToken), and the optional gate on the repository's scan findings
//! (DescribeImageScanFindings), waited for with a bound.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use aws_sdk_ecr::types::{ImageIdentifier, ScanStatus};
use serde::Serialize;
use wharf_manifest::ScanSeverity;

use crate::error::{AwsError, ErrorKind};

/// Where an image is pushed: `host[/path]/name` without a tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushTarget {
    /// `host[:port]` of the registry.
    pub registry: String,
    /// The repository's name inside it (what ECR calls `repositoryName`).
    pub name: String,
    /// The registry is the environment's own ECR: only then does the push carry ECR's token.
    /// Any other registry gets the credentials `docker login` left for it, or none.
    pub ecr: bool,
}

impl PushTarget {
    /// The service's repository (`ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME`), or the same
    /// name in `registry_override` (`host[:port]`).
    pub fn of(
        repository_uri: &str,
        registry_override: Option<&str>,
    ) -> Result<PushTarget, AwsError> {
        let (host, name) = repository_uri.split_once('/').ok_or_else(|| {
            AwsError::new(
                "read the service's repository",
                ErrorKind::Invalid,
                format!("{repository_uri:?} is not a repository URI (host/name)"),
            )
        })?;
        let registry = registry_override
            .map(|r| r.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| host.to_owned());
        Ok(PushTarget {
            ecr: registry.eq_ignore_ascii_case(host),
            registry,
            name: name.to_owned(),
        })
    }

    /// `registry/name`
    pub fn repository(&self) -> String {
        format!("{}/{}", self.registry, self.name)
    }
}

impl fmt::Display for PushTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository())
    }
}

/// What `docker login` to ECR would use.
#[derive(Clone)]
pub struct RegistryCredentials {
    pub username: String,
    pub password: String,
    /// `https://ACCOUNT.dkr.ecr.REGION.amazonaws.com`
    pub endpoint: String,
    /// Seconds since the epoch when the token stops working.
    pub expires_at: Option<i64>,
}

impl fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// A 12-hour push token for the account's registry (GetAuthorizationToken), decoded from its
/// `user:password` base64 form.
pub async fn authorization(ecr: &aws_sdk_ecr::Client) -> Result<RegistryCredentials, AwsError> {
    let action = "get an ECR authorization token";
    let out = ecr
        .get_authorization_token()
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(action, e))?;
    let data = out.authorization_data().first().ok_or_else(|| {
        AwsError::new(
            action,
            ErrorKind::Other,
            "ECR returned no authorization data",
        )
    })?;
    let token = data.authorization_token().unwrap_or_default();
    let decoded = aws_smithy_types::base64::decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            AwsError::new(
                action,
                ErrorKind::Other,
                "the token is not base64 of user:password",
            )
        })?;
    let (username, password) = decoded.split_once(':').ok_or_else(|| {
        AwsError::new(
            action,
            ErrorKind::Other,
            "the token is not of the form user:password",
        )
    })?;
    Ok(RegistryCredentials {
        username: username.to_owned(),
        password: password.to_owned(),
        endpoint: data.proxy_endpoint().unwrap_or_default().to_owned(),
        expires_at: data.expires_at().map(|t| t.secs()),
    })
}

/// One finding, as much of it as a person needs to act.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: String,
    /// The CVE or advisory id.
    pub name: String,
    /// The affected package and version, when the scan names them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

/// A completed scan of one image.
#[derive(Debug, Clone, Serialize)]
pub struct Findings {
    pub repository: String,
    pub digest: String,
    /// Findings per severity (CRITICAL, HIGH, …).
    pub counts: BTreeMap<String, i64>,
    /// The worst findings first (at most 10).
    pub worst: Vec<Finding>,
}

impl Findings {
    /// How many findings are at least as bad as `gate`.
    pub fn blocking(&self, gate: ScanSeverity) -> i64 {
        gate.and_worse()
            .iter()
            .map(|s| self.counts.get(s.as_str()).copied().unwrap_or(0))
            .sum()
    }
}

impl fmt::Display for Findings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        write!(
            f,
            "scan of {}@{}: {}",
            self.repository,
            self.digest,
            if counts.is_empty() {
                "no findings".to_owned()
            } else {
                counts.join(", ")
            }
        )?;
        for w in &self.worst {
            write!(f, "\n  {} {}", w.severity, w.name)?;
            if let Some(p) = &w.package {
                write!(f, " in {p}")?;
            }
            if let Some(u) = &w.uri {
                write!(f, " ({u})")?;
            }
        }
        Ok(())
    }
}

/// Why the scan gate stopped a deployment.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ScanError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Aws(#[from] AwsError),

    #[error("{blocking} finding(s) of severity {gate} or worse; the {findings}")]
    #[diagnostic(
        code(wharf::aws::scan_blocked),
        help("rebuild on a base image or with package versions that fix these (nothing was deployed), or lower `deploy.scan_gate` for this service if you accept the risk")
    )]
    Blocked {
        gate: ScanSeverity,
        blocking: i64,
        findings: Box<Findings>,
    },

    #[error("the scan of {repository}@{digest} did not complete: {status}: {description}")]
    #[diagnostic(
        code(wharf::aws::scan_unavailable),
        help("ECR could not scan this image (an unsupported base, or a scan that failed): check the repository's scan settings, or set `deploy.scan_gate = \"off\"` to deploy without the gate")
    )]
    Unavailable {
        repository: String,
        digest: String,
        status: String,
        description: String,
    },

    #[error("gave up waiting for the scan of {repository}@{digest} after {limit_s}s (last status: {status})")]
    #[diagnostic(
        code(wharf::aws::scan_timeout),
        help("scans usually finish within minutes: deploy again later (nothing was deployed), or set `deploy.scan_gate = \"off\"`")
    )]
    Timeout {
        repository: String,
        digest: String,
        status: String,
        limit_s: u64,
    },
}

/// How long the gate waits for a scan, and how often it asks.
#[derive(Debug, Clone, Copy)]
pub struct ScanWait {
    pub limit: Duration,
    pub every: Duration,
}

impl Default for ScanWait {
    fn default() -> Self {
        ScanWait {
            limit: Duration::from_secs(600),
            every: Duration::from_secs(5),
        }
    }
}

/// Waits for the scan of `repository@digest` to complete and refuses the image when it found
/// anything at least as bad as `gate`. A scan that has not started (scan on push disabled) is
/// started once. `waiting` hears what is being waited for.
pub async fn scan_gate(
    ecr: &aws_sdk_ecr::Client,
    repository: &str,
    digest: &str,
    gate: ScanSeverity,
    wait: ScanWait,
    waiting: &(dyn Fn(&str) + Sync),
) -> Result<Findings, ScanError> {
    let findings = scan_findings(ecr, repository, digest, wait, waiting).await?;
    let blocking = findings.blocking(gate);
    if blocking > 0 {
        return Err(ScanError::Blocked {
            gate,
            blocking,
            findings: Box::new(findings),
        });
    }
    Ok(findings)
}

/// The completed scan's findings, waiting (bounded) while it is pending or in progress.
pub async fn scan_findings(
    ecr: &aws_sdk_ecr::Client,
    repository: &str,
    digest: &str,
    wait: ScanWait,
    waiting: &(dyn Fn(&str) + Sync),
) -> Result<Findings, ScanError> {
    let action = format!("read the scan findings of {repository}@{digest}");
    let id = ImageIdentifier::builder().image_digest(digest).build();
    let deadline = Instant::now() + wait.limit;
    let mut started = false;
    let mut last;
    loop {
        let res = ecr
            .describe_image_scan_findings()
            .repository_name(repository)
            .image_id(id.clone())
            .max_results(100)
            .send()
            .await;
        match res {
            Ok(out) => {
                let status = out.image_scan_status();
                let state = status.and_then(|s| s.status());
                let code = state.map_or("PENDING", |s| s.as_str()).to_owned();
                match state {
                    Some(ScanStatus::Complete | ScanStatus::Active) => {
                        return Ok(read_findings(repository, digest, &out));
                    }
                    Some(
                        ScanStatus::Failed
                        | ScanStatus::UnsupportedImage
                        | ScanStatus::FindingsUnavailable,
                    ) => {
                        return Err(ScanError::Unavailable {
                            repository: repository.to_owned(),
                            digest: digest.to_owned(),
                            status: code,
                            description: status
                                .and_then(|s| s.description())
                                .unwrap_or("no description")
                                .to_owned(),
                        });
                    }
                    _ => last = code,
                }
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_scan_not_found_exception()) =>
            {
                if !started {
                    started = true;
                    ecr.start_image_scan()
                        .repository_name(repository)
                        .image_id(id.clone())
                        .send()
                        .await
                        .map_err(|e| {
                            AwsError::from_sdk(format!("start a scan of {repository}@{digest}"), e)
                        })?;
                }
                last = "not started".into();
            }
            Err(e) => return Err(AwsError::from_sdk(action, e).into()),
        }
        if Instant::now() + wait.every > deadline {
            return Err(ScanError::Timeout {
                repository: repository.to_owned(),
                digest: digest.to_owned(),
                status: last,
                limit_s: wait.limit.as_secs(),
            });
        }
        waiting(&format!(
            "the scan of {repository}@{digest} to complete (now {last})"
        ));
        tokio::time::sleep(wait.every).await;
    }
}

fn read_findings(
    repository: &str,
    digest: &str,
    out: &aws_sdk_ecr::operation::describe_image_scan_findings::DescribeImageScanFindingsOutput,
) -> Findings {
    let mut counts = BTreeMap::new();
    let mut worst = Vec::new();
    if let Some(f) = out.image_scan_findings() {
        for (sev, n) in f.finding_severity_counts().into_iter().flatten() {
            counts.insert(sev.as_str().to_owned(), i64::from(*n));
        }
        for x in f.findings() {
            let attr = |key: &str| {
                x.attributes()
                    .iter()
                    .find(|a| a.key() == key)
                    .and_then(|a| a.value())
                    .map(str::to_owned)
            };
            let package = match (attr("package_name"), attr("package_version")) {
                (Some(n), Some(v)) => Some(format!("{n} {v}")),
                (n, _) => n,
            };
            worst.push(Finding {
                severity: x.severity().map_or("UNDEFINED", |s| s.as_str()).to_owned(),
                name: x.name().unwrap_or("unnamed").to_owned(),
                package,
                uri: x.uri().map(str::to_owned),
            });
        }
        for x in f.enhanced_findings() {
            let details = x.package_vulnerability_details();
            let package = details
                .and_then(|d| d.vulnerable_packages().first())
                .map(|p| match p.version() {
                    Some(v) => format!("{} {v}", p.name().unwrap_or("a package")),
                    None => p.name().unwrap_or("a package").to_owned(),
                });
            worst.push(Finding {
                severity: x.severity().unwrap_or("UNDEFINED").to_owned(),
                name: details
                    .and_then(|d| d.vulnerability_id())
                    .or(x.title())
                    .unwrap_or("unnamed")
                    .to_owned(),
                package,
                uri: details.and_then(|d| d.source_url()).map(str::to_owned),
            });
        }
    }
    let rank = |s: &str| match s {
        "CRITICAL" => 0,
        "HIGH" => 1,
        "MEDIUM" => 2,
        "LOW" => 3,
        "INFORMATIONAL" => 4,
        _ => 5,
    };
    worst.sort_by_key(|f| rank(&f.severity));
    worst.truncate(10);
    Findings {
        repository: repository.to_owned(),
        digest: digest.to_owned(),
        counts,
        worst,
    }
}
