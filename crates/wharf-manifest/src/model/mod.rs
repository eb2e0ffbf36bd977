//! The typed manifest: what `wharf.toml` describes once parsed, defaulted and validated.
//! Later crates read only these types.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::cidr::Cidr;
use crate::duration::Duration;

mod data;
mod deploy;
pub use data::*;
pub use deploy::*;

/// A whole manifest. `environments[e].services` holds each service with that environment's
/// overrides already merged; `services` holds them as written.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub app: App,
    pub environments: BTreeMap<String, Environment>,
    pub services: BTreeMap<String, Service>,
    pub data: BTreeMap<String, Data>,
    pub jobs: BTreeMap<String, Job>,
    /// Where deployment events are sent (`[notify]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify: Option<Notify>,
    /// Deploying from GitHub Actions (`[ci.github]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci: Option<GitHubCi>,
    /// Directory the manifest lives in; relative paths (build context, state dir) start here.
    #[serde(skip)]
    pub root: PathBuf,
    /// The manifest's file (`{root}/wharf.toml` unless it was loaded from another).
    #[serde(skip)]
    pub file: PathBuf,
}

/// `[ci.github]`: the repository whose workflow `wharf ci github` writes, and which alone the
/// environments' deploy roles trust (through GitHub's OIDC provider).
#[derive(Debug, Clone, Serialize)]
pub struct GitHubCi {
    /// `owner/name`.
    pub repository: String,
    /// Pushes to it deploy (default `main`).
    pub branch: String,
    /// AWS environments in deployment order: the first deploys on every push to `branch`, each
    /// later one after the previous, in a GitHub environment of its name (required reviewers
    /// there hold it for approval).
    pub environments: Vec<String>,
}

impl GitHubCi {
    /// The environment's deploy role (`{app}-{env}-deploy`).
    pub fn role_name(app: &str, env: &str) -> String {
        format!("{app}-{env}-deploy")
    }
}

/// `[notify]`: deployment events to a Slack-compatible webhook, an SNS topic, or both (at
/// least one).
#[derive(Debug, Clone, Serialize)]
pub struct Notify {
    /// The webhook's URL, a secret (it carries the token that lets anyone post).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<SecretRef>,
    /// The SNS topic: its ARN, or a topic name in the environment's account and region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sns: Option<String>,
    pub events: Vec<NotifyEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyEvent {
    Started,
    Succeeded,
    RolledBack,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 3] = [
        NotifyEvent::Started,
        NotifyEvent::Succeeded,
        NotifyEvent::RolledBack,
    ];
}

impl fmt::Display for NotifyEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotifyEvent::Started => "started",
            NotifyEvent::Succeeded => "succeeded",
            NotifyEvent::RolledBack => "rolled-back",
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct App {
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Aws,
    Local,
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetKind::Aws => "aws",
            TargetKind::Local => "local",
        })
    }
}

/// A named place to deploy, with its target and the services, data and jobs as resolved there.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub name: String,
    pub target: TargetSettings,
    pub services: BTreeMap<String, Service>,
    pub data: BTreeMap<String, Data>,
    pub jobs: BTreeMap<String, Job>,
}

impl Environment {
    pub fn kind(&self) -> TargetKind {
        match self.target {
            TargetSettings::Aws(_) => TargetKind::Aws,
            TargetSettings::Local(_) => TargetKind::Local,
        }
    }

    pub fn aws(&self) -> Option<&AwsEnv> {
        match &self.target {
            TargetSettings::Aws(a) => Some(a),
            TargetSettings::Local(_) => None,
        }
    }

    pub fn local(&self) -> Option<&LocalEnv> {
        match &self.target {
            TargetSettings::Local(l) => Some(l),
            TargetSettings::Aws(_) => None,
        }
    }

    /// What `service` calls by name: per internal service in its `talks_to`, the service,
    /// the variable and the URL (`api`, `API_URL`, `http://api.pulse.internal:8080`).
    pub fn callee_urls(&self, app: &str, service: &str) -> Vec<(String, String, String)> {
        let Some(s) = self.services.get(service) else {
            return vec![];
        };
        s.talks_to
            .iter()
            .filter_map(|c| {
                let callee = self.services.get(c)?;
                let port = callee.internal.as_ref()?.port;
                Some((
                    c.clone(),
                    internal_url_var(c),
                    format!("http://{}:{port}", internal_host(c, app)),
                ))
            })
            .collect()
    }

    /// Services in listener-rule priority order (then by name).
    pub fn services_by_priority(&self) -> Vec<&Service> {
        let mut v: Vec<&Service> = self.services.values().collect();
        v.sort_by_key(|s| {
            (
                s.routing.as_ref().map_or(u32::MAX, |r| r.priority),
                s.name.clone(),
            )
        });
        v
    }
}

/// Where an environment runs and its settings there: its own AWS account and region, or this
/// machine.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "target", rename_all = "lowercase")]
pub enum TargetSettings {
    Aws(AwsEnv),
    Local(LocalEnv),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Egress {
    /// One NAT gateway for the VPC.
    Nat,
    /// One NAT gateway per AZ.
    NatPerAz,
    /// No NAT: VPC endpoints only.
    Endpoints,
}

impl fmt::Display for Egress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Egress::Nat => "nat",
            Egress::NatPerAz => "nat-per-az",
            Egress::Endpoints => "endpoints",
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AwsEnv {
    pub region: String,
    /// The only account wharf may change (the guard).
    pub account: String,
    /// AWS profile to use when none is given on the command line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    pub azs: u8,
    pub cidr: Cidr,
    pub subnets: Subnets,
    pub egress: Egress,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosted_zone: Option<String>,
    pub waf: bool,
    pub flow_logs: bool,
    pub access_logs: bool,
    pub edge: bool,
    /// Days; one of the values CloudWatch Logs accepts.
    pub log_retention: u32,
    /// Encrypt log groups with a customer-managed KMS key.
    pub log_kms: bool,
    /// One customer-managed key (rotated yearly) for the log groups, the state table, the
    /// data stores and the secrets (default: on in a prod environment).
    pub kms: bool,
    /// Images each ECR repository keeps (the newest); images of deployments still present
    /// are kept beyond that.
    pub keep_images: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_email: Option<String>,
    /// Production: deletion protection, Multi-AZ data stores.
    pub prod: bool,
}

/// Subnet blocks per tier, one per AZ in AZ order.
#[derive(Debug, Clone, Serialize)]
pub struct Subnets {
    pub public: Vec<Cidr>,
    pub private: Vec<Cidr>,
    pub database: Vec<Cidr>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LocalEnv {
    /// Where wharf's proxy listens (loopback by default).
    pub listen: String,
    /// Proxy state, deployment records and secrets, relative to the manifest's directory.
    pub state_dir: PathBuf,
    /// A `KEY=value` file the local target resolves secret references from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets_file: Option<PathBuf>,
    /// What the proxy allows a client (`[environments.NAME.proxy]`).
    pub proxy: ProxyLimits,
}

/// The local proxy's limits on clients, ALB-like by default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProxyLimits {
    /// ALB's idle timeout (60 s): a request's headers must arrive within it, a kept-alive
    /// connection may sit idle between requests this long, and a target must answer a
    /// forwarded request (its body included) within it, or the client gets 504.
    pub idle_timeout: Duration,
    /// Request line and headers together; more is answered 431 (ALB: 64 KiB; at least 8 KiB,
    /// the HTTP parser's smallest buffer).
    pub max_header_bytes: u32,
    /// Client connections open at once; one more is closed at once.
    pub max_connections: u32,
}

impl Default for ProxyLimits {
    fn default() -> Self {
        ProxyLimits {
            idle_timeout: Duration::from_millis(60_000),
            max_header_bytes: 64 * 1024,
            max_connections: 10_000,
        }
    }
}

/// A long-running container behind the load balancer (or internal).
#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub name: String,
    pub image: ImageSource,
    /// The platform its tasks run (`linux/amd64` or `linux/arm64`): `platform`, or
    /// `build.platform`; unset, the built image's own architecture decides.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    pub port: u16,
    pub cpu: u32,
    pub memory: u32,
    pub count: u32,
    pub health: HealthCheck,
    pub env: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, SecretRef>,
    /// Data resources this service binds to (gets their connection settings and grants).
    pub data: Vec<String>,
    /// Behind the public load balancer.
    pub public: bool,
    /// Behind the environment's internal load balancer, called by its stable name
    /// (`{service}.{app}.internal`) from the services that name it in `talks_to` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal: Option<Internal>,
    /// Internal services this one calls: it may reach them (and only them) and gets each
    /// one's URL as `{NAME}_URL`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub talks_to: Vec<String>,
    /// Listener rule: how requests reach this service (absent for a service that is neither
    /// public nor internal; an internal service's matches every request on its own listener).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing: Option<Routing>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    pub capacity: Capacity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// SIGTERM to SIGKILL.
    pub stop_timeout: Duration,
    pub deploy: Deploy,
}

/// How an internal service is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Internal {
    /// The internal load balancer's listener port for this service (`internal_port`,
    /// default: the service's `port`); one listener per internal service, so that security
    /// groups admit each caller to exactly the services it names.
    pub port: u16,
}

impl Service {
    /// Whether requests reach it through a load balancer (public or internal).
    pub fn routed(&self) -> bool {
        self.routing.is_some()
    }
}

/// The stable name internal service `service` is called by, `{service}.{app}.internal`: on
/// AWS a private DNS zone's record for the internal load balancer, locally a name on the
/// environment's Docker network.
pub fn internal_host(service: &str, app: &str) -> String {
    format!("{service}.{}", internal_zone(app))
}

/// The private DNS zone of an app's internal services: `{app}.internal`.
pub fn internal_zone(app: &str) -> String {
    format!("{app}.internal")
}

/// The variable a caller gets an internal service's URL in: `api` → `API_URL`.
pub fn internal_url_var(service: &str) -> String {
    format!("{}_URL", service.to_ascii_uppercase().replace('-', "_"))
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageSource {
    Build(Build),
    Image(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct Build {
    /// Relative to the manifest's directory.
    pub context: PathBuf,
    pub dockerfile: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub args: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Run before `docker build`, in the manifest's directory (e.g. a static cargo build).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_build: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HealthCheck {
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub healthy: u32,
    pub unhealthy: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace: Option<Duration>,
    /// HTTP codes that count as healthy, ALB syntax: `200`, `200-399`, `200,204`.
    pub matcher: String,
    /// A command run inside the container (exec form; a string runs under `sh -c`), exit 0
    /// meaning healthy: the container's own health check (ECS replaces a task that fails
    /// it; Docker reports it), beside the load balancer's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
}

impl HealthCheck {
    /// The container health check's test as ECS and Docker take it: `CMD-SHELL` and the
    /// script for a string, `CMD` and the argv otherwise.
    pub fn container_test(&self) -> Option<Vec<String>> {
        let c = self.command.as_ref()?;
        Some(match c.as_slice() {
            [sh, dash_c, script] if sh == "sh" && dash_c == "-c" => {
                vec!["CMD-SHELL".to_owned(), script.clone()]
            }
            argv => std::iter::once("CMD".to_owned())
                .chain(argv.iter().cloned())
                .collect(),
        })
    }
}

/// Where a secret's value comes from. Never a literal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum SecretRef {
    /// `ssm:/path/to/param`
    Ssm { path: String },
    /// `secretsmanager:name` or `secretsmanager:name:json-key`
    SecretsManager {
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Ssm { path } => write!(f, "ssm:{path}"),
            SecretRef::SecretsManager { name, key: None } => write!(f, "secretsmanager:{name}"),
            SecretRef::SecretsManager { name, key: Some(k) } => {
                write!(f, "secretsmanager:{name}:{k}")
            }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Routing {
    pub hosts: Vec<String>,
    pub paths: Vec<String>,
    /// 1–499; the service's listener rules take priorities `priority*100 .. priority*100+99`.
    pub priority: u32,
}

/// Auto scaling of each deployment's tasks between `min` and `max`, by its policies (at
/// least one).
#[derive(Debug, Clone, Serialize)]
pub struct Autoscaling {
    pub min: u32,
    pub max: u32,
    /// Target tracking: average CPU utilisation, percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    /// Target tracking: average memory utilisation, percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<u32>,
    /// Target tracking: requests per task per minute through the load balancer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<u32>,
    /// Step scaling on average CPU: out above one threshold, in below the other.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<CpuSteps>,
}

/// Step scaling thresholds, CPU percent (seed 003: out above 70, in below 30).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CpuSteps {
    /// Above this: one task more (two when 20 points above).
    pub out: u32,
    /// Below this: one task fewer.
    #[serde(rename = "in")]
    pub scale_in: u32,
}

impl Autoscaling {
    /// The policies as short names, for plans (`cpu 60%`, `cpu steps out >70% in <30%`).
    pub fn policies(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(c) = self.cpu {
            v.push(format!("cpu {c}%"));
        }
        if let Some(m) = self.memory {
            v.push(format!("memory {m}%"));
        }
        if let Some(r) = self.requests {
            v.push(format!("{r} requests/task/min"));
        }
        if let Some(s) = self.step {
            v.push(format!("cpu steps out >{}% in <{}%", s.out, s.scale_in));
        }
        v
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capacity {
    Fargate,
    FargateSpot,
}

impl fmt::Display for Capacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Capacity::Fargate => "FARGATE",
            Capacity::FargateSpot => "FARGATE_SPOT",
        })
    }
}

/// A one-off or scheduled task.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub name: String,
    pub image: JobImage,
    /// As a service's `platform`; a job of a service's image runs that service's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    pub cpu: u32,
    pub memory: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    pub env: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, SecretRef>,
    pub data: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Local environments only (`network = "host"`): the job's container shares the host's
    /// network, so it reaches what listens on the machine's loopback (an emulator, a database
    /// started by hand) and nothing else changes.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub host_network: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobImage {
    Build(Build),
    Image(String),
    /// The image of a service's current deployment.
    Service(String),
}
