//! How a service's new version is rolled out (`[services.NAME.deploy]`): the strategy and
//! its parameters, drain, rollback thresholds, approval, the scan gate, hooks and smoke checks.

use std::fmt;

use serde::Serialize;

use super::SecretRef;
use crate::duration::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyKind {
    Rolling,
    Canary,
    Linear,
    BlueGreen,
    Affinity,
}

impl StrategyKind {
    pub const ALL: [StrategyKind; 5] = [
        StrategyKind::Rolling,
        StrategyKind::Canary,
        StrategyKind::Linear,
        StrategyKind::BlueGreen,
        StrategyKind::Affinity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StrategyKind::Rolling => "rolling",
            StrategyKind::Canary => "canary",
            StrategyKind::Linear => "linear",
            StrategyKind::BlueGreen => "blue-green",
            StrategyKind::Affinity => "affinity",
        }
    }

    /// Whether each deployment gets its own target group, rule and ECS service.
    pub fn shifts_traffic(self) -> bool {
        self != StrategyKind::Rolling
    }
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a new version is rolled out, and what gates and undoes it.
#[derive(Debug, Clone, Serialize)]
pub struct Deploy {
    pub strategy: StrategyKind,
    pub rolling: RollingParams,
    pub canary: CanaryParams,
    pub linear: LinearParams,
    pub blue_green: BlueGreenParams,
    pub affinity: AffinityParams,
    pub drain: Drain,
    pub rollback: RollbackPolicy,
    /// Hold before the final traffic shift until `wharf promote`.
    pub approval: bool,
    /// On AWS: refuse an image whose ECR scan reports findings of this severity or worse.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan_gate: Option<ScanSeverity>,
    pub hooks: Hooks,
    pub smoke: Vec<SmokeCheck>,
}

/// A vulnerability severity as ECR's scans report it, from the worst down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ScanSeverity {
    Critical,
    High,
    Medium,
}

impl ScanSeverity {
    /// ECR's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanSeverity::Critical => "CRITICAL",
            ScanSeverity::High => "HIGH",
            ScanSeverity::Medium => "MEDIUM",
        }
    }

    /// Severities at least as bad as this one.
    pub fn and_worse(self) -> &'static [ScanSeverity] {
        match self {
            ScanSeverity::Critical => &[ScanSeverity::Critical],
            ScanSeverity::High => &[ScanSeverity::Critical, ScanSeverity::High],
            ScanSeverity::Medium => &[
                ScanSeverity::Critical,
                ScanSeverity::High,
                ScanSeverity::Medium,
            ],
        }
    }
}

impl fmt::Display for ScanSeverity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RollingParams {
    pub min_healthy_percent: u32,
    pub max_percent: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct CanaryParams {
    pub percent: u32,
    pub bake: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct LinearParams {
    pub step: u32,
    pub interval: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlueGreenParams {
    /// How long the old set is kept after the switch, for instant rollback.
    pub bake: Duration,
    /// Requests carrying this header reach the new set before the switch.
    pub test_header: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AffinityParams {
    /// Header the listener rules match (e.g. `X-Pulse-Render-Affinity`): a client that sends it back stays on its deployment.
    pub header: String,
    /// Cookie the proxy sets on a first response (defaults to the header name).
    pub cookie: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Drain {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretRef>,
    /// In-flight requests get this long; also the target group's deregistration delay.
    pub timeout: Duration,
    /// How many old deployments to keep (affinity).
    pub keep: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct RollbackPolicy {
    pub max_5xx_percent: f64,
    pub window: Duration,
    /// Fewer requests than this in a window do not trip the alarm.
    pub min_requests: u32,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Hooks {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_deploy: Option<Hook>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_scale_up: Option<Hook>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_traffic: Option<Hook>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_traffic: Option<Hook>,
}

impl Hooks {
    /// Every hook set, with its key.
    pub fn all(&self) -> impl Iterator<Item = (&'static str, &Hook)> {
        [
            ("pre_deploy", &self.pre_deploy),
            ("post_scale_up", &self.post_scale_up),
            ("pre_traffic", &self.pre_traffic),
            ("post_traffic", &self.post_traffic),
        ]
        .into_iter()
        .filter_map(|(k, h)| h.as_ref().map(|h| (k, h)))
    }
}

/// What a lifecycle hook runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    /// A command on the machine running wharf, from the manifest's directory.
    Command(Vec<String>),
    /// A job of the environment, as a task inside it (`{ job = "migrate" }`).
    Job(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct SmokeCheck {
    pub path: String,
    pub method: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
}
