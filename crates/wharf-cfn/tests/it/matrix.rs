//! Manifests covering every egress mode, with and without a domain and a hosted zone, each data
//! type, WAF on and off, 2 and 3 AZs, prod and non-prod, and the optional features.

use std::path::Path;

use wharf_cfn::Stack;
use wharf_manifest::Manifest;

const SERVICES: &str = r#"
[services.web]
image = "public.ecr.aws/pulse/web:1"
port = 8000
talks_to = ["auth"]
secrets = { DATABASE_URL = "ssm:/pulse/db-url", STRIPE = "secretsmanager:pulse/stripe:key" }
[services.web.deploy]
strategy = "canary"
drain = { secret = "ssm:/pulse/drain" }

[services.api]
image = "public.ecr.aws/pulse/api:1"
port = 9000
routing = { host = "api.pulse.example.com", path = "/v1/*" }

[services.worker]
image = "public.ecr.aws/pulse/worker:1"
port = 7000
public = false

[services.auth]
image = "public.ecr.aws/pulse/auth:1"
port = 9100
internal = true
[services.auth.deploy]
strategy = "canary"
"#;

const ALL_DATA: &str = r#"
[data.sessions]
type = "dynamodb"
partition_key = { name = "pk" }
sort_key = { name = "sk", type = "N" }
gsi = [{ name = "by-user", partition_key = { name = "user" }, sort_key = { name = "sk", type = "N" }, projection = "keys-only" }]
billing = "provisioned"
rcu = 5
wcu = 5
ttl = "expires"

[data.events]
type = "dynamodb"
partition_key = { name = "id" }
pitr = false

[data.db]
type = "postgres"
version = "16"

[data.cache]
type = "redis"
replicas = 2

[data.uploads]
type = "s3"

[data.scratch]
type = "s3"
versioning = false

[data.config]
type = "parameters"
path = "/pulse/config"
values = { "table-name" = "sessions", limit = 50 }

[data.api-key]
type = "secret"
"#;

/// One case of the matrix: a name and a manifest.
pub struct Case {
    pub name: &'static str,
    pub manifest: String,
}

fn env(body: &str) -> String {
    format!("[app]\nname = \"pulse\"\n\n[environments.test]\ntarget = \"aws\"\naccount = \"123456789012\"\n{body}\n")
}

fn bind_all(services: &str) -> String {
    services.replacen("port = 8000\n", "port = 8000\ndata = [\"sessions\", \"events\", \"db\", \"cache\", \"uploads\", \"scratch\", \"config\", \"api-key\"]\n", 1)
}

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "nat-2az-plain-http",
            manifest: env("region = \"eu-central-1\"\negress = \"nat\"\nazs = 2") + SERVICES,
        },
        Case {
            name: "nat-per-az-3az-prod-everything",
            manifest: env(
                "region = \"eu-west-1\"\negress = \"nat-per-az\"\nazs = 3\ndomain = \"pulse.example.com\"\ncertificate = \"arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555\"\nwaf = true\nflow_logs = true\naccess_logs = true\nlog_kms = true\nalarm_email = \"ops@example.com\"\nprod = true\nlog_retention = 90\nkeep_images = 10",
            ) + &bind_all(SERVICES)
                + ALL_DATA
                + "[notify]\nwebhook = \"secretsmanager:pulse/hook\"\nsns = \"deploys\"\n[ci.github]\nrepository = \"acme/pulse\"\n",
        },
        Case {
            name: "endpoints-2az-hosted-zone-by-name",
            manifest: env("region = \"us-east-1\"\negress = \"endpoints\"\ndomain = \"pulse.example.com\"\nhosted_zone = \"example.com\"")
                + &bind_all(SERVICES)
                + ALL_DATA,
        },
        Case {
            name: "nat-3az-edge-waf-prod-zone-id",
            manifest: env(
                "region = \"us-west-2\"\nazs = 3\ndomain = \"pulse.example.com\"\nhosted_zone = \"Z0123456789ABCDEFGHIJ\"\nedge = true\nwaf = true\nprod = true",
            ) + SERVICES,
        },
        Case {
            name: "endpoints-3az-plain-prod-some-data",
            manifest: env("region = \"ap-southeast-2\"\negress = \"endpoints\"\nazs = 3\nprod = true\ncidr = \"172.16.0.0/20\"")
                + SERVICES
                + "[data.events]\ntype = \"dynamodb\"\npartition_key = { name = \"id\" }\n[data.files]\ntype = \"s3\"\nversioning = false\n[data.token]\ntype = \"secret\"\n",
        },
        Case {
            name: "nat-2az-log-kms-only",
            manifest: env("region = \"eu-central-1\"\nlog_kms = true")
                + SERVICES
                + "[data.events]\ntype = \"dynamodb\"\npartition_key = { name = \"id\" }\n",
        },
        Case {
            name: "new-region-access-logs-no-services",
            manifest: env("region = \"ap-southeast-7\"\naccess_logs = true\nflow_logs = true"),
        },
        Case {
            name: "hello-example",
            manifest: std::fs::read_to_string(workspace().join("examples/hello/wharf.toml")).expect("example"),
        },
        Case {
            name: "reference",
            manifest: std::fs::read_to_string(workspace().join("docs/reference.wharf.toml")).expect("reference"),
        },
    ]
}

pub fn workspace() -> std::path::PathBuf {
    wharf_testkit::workspace_root()
}

pub fn parse(case: &Case) -> Manifest {
    let (m, problems) = wharf_manifest::parse_str(
        &case.manifest,
        &format!("{}.toml", case.name),
        Path::new("."),
    );
    m.unwrap_or_else(|| panic!("matrix case {} is invalid:\n{problems}", case.name))
}

/// Every stack of every AWS environment of every case.
pub fn all_stacks() -> Vec<(String, Stack)> {
    let mut out = Vec::new();
    for case in cases() {
        let m = parse(&case);
        for env in m.environments.values().filter(|e| e.aws().is_some()) {
            for s in wharf_cfn::synthesize(&m, env).expect("aws environment") {
                out.push((format!("{}-{}-{}", case.name, env.name, s.kind), s));
            }
        }
    }
    out
}
