//! `[environments.NAME]`: the target (aws or local) and its settings. A local environment
//! rejects AWS-only settings, and the reverse, with a message saying which is which.

use std::path::PathBuf;

use crate::cidr::{Cidr, DATABASE_SLOT, PRIVATE_SLOT, PUBLIC_SLOT, VPC_PREFIX_RANGE};
use crate::diag::{Problem, Rule};
use crate::model::{AwsEnv, Egress, LocalEnv, ProxyLimits, Subnets, TargetSettings};
use crate::reader::{Cx, Node, Tbl};

const AWS_KEYS: &[&str] = &[
    "region",
    "account",
    "profile",
    "azs",
    "cidr",
    "subnets",
    "egress",
    "domain",
    "certificate",
    "hosted_zone",
    "waf",
    "flow_logs",
    "access_logs",
    "edge",
    "log_retention",
    "log_kms",
    "kms",
    "keep_images",
    "alarm_email",
    "prod",
];
const LOCAL_KEYS: &[&str] = &["listen", "state_dir", "secrets_file", "proxy"];

/// Retention values CloudWatch Logs accepts, in days.
pub const LOG_RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

pub(crate) fn read<'a, 'i>(cx: &mut Cx, t: &mut Tbl<'a, 'i>, name: &str) -> Option<TargetSettings> {
    let target_node = t.req(cx, "target", "\"aws\" or \"local\"")?;
    let kind = cx.choice(&target_node, &[("aws", true), ("local", false)])?;
    let (theirs, mine_label, their_label) = if kind {
        (LOCAL_KEYS, "an AWS", "a local")
    } else {
        (AWS_KEYS, "a local", "an AWS")
    };
    for key in theirs {
        if let Some(n) = t.get(cx, key) {
            cx.push(
                Problem::error(
                    Rule::TargetMismatch,
                    n.span.clone(),
                    &n.path,
                    format!("`{key}` is a setting of {their_label} environment; `{name}` is {mine_label} environment"),
                )
                .help(format!("remove `{key}`, or set target = \"{}\"", if kind { "local" } else { "aws" })),
            );
        }
    }
    if kind {
        read_aws(cx, t, name).map(TargetSettings::Aws)
    } else {
        Some(TargetSettings::Local(read_local(cx, t, name)))
    }
}

fn read_local(cx: &mut Cx, t: &mut Tbl<'_, '_>, name: &str) -> LocalEnv {
    let listen = match t.get(cx, "listen") {
        Some(n) => cx
            .string(&n)
            .filter(|s| check_listen(cx, &n, s))
            .unwrap_or_default(),
        None => "127.0.0.1:8080".to_owned(),
    };
    let state_dir = match t.get(cx, "state_dir") {
        Some(n) => cx
            .string(&n)
            .filter(|s| check_state_dir(cx, &n, s))
            .map(PathBuf::from)
            .unwrap_or_default(),
        None => PathBuf::from(format!(".wharf/{name}")),
    };
    let secrets_file = t
        .get(cx, "secrets_file")
        .and_then(|n| cx.string(&n))
        .map(PathBuf::from);
    let proxy = t
        .get(cx, "proxy")
        .map(|n| read_proxy_limits(cx, &n))
        .unwrap_or_default();
    LocalEnv {
        listen,
        state_dir,
        secrets_file,
        proxy,
    }
}

/// `[environments.NAME.proxy]`: the proxy's limits on clients.
fn read_proxy_limits(cx: &mut Cx, n: &Node<'_, '_>) -> ProxyLimits {
    let mut limits = ProxyLimits::default();
    let Some(mut t) = cx.table(n) else {
        return limits;
    };
    if let Some(d) = t.get(cx, "idle_timeout") {
        match cx.duration(&d) {
            Some(v) if (1_000..=4_000_000).contains(&v.as_millis()) => limits.idle_timeout = v,
            Some(v) => {
                cx.error(
                    Rule::InvalidValue,
                    d.span.clone(),
                    &d.path,
                    format!("an idle timeout of {v} is outside what ALB allows"),
                )
                .expected = Some("1s to 4000s".into());
            }
            None => {}
        }
    }
    if let Some(v) = t
        .get(cx, "max_header_bytes")
        .and_then(|b| cx.int(&b, 8 * 1024, 1024 * 1024))
    {
        limits.max_header_bytes = v as u32;
    }
    if let Some(v) = t
        .get(cx, "max_connections")
        .and_then(|c| cx.int(&c, 1, 1_000_000))
    {
        limits.max_connections = v as u32;
    }
    t.finish(cx);
    limits
}

/// `down` removes the state dir's files and then the dir: it must be a folder of its own below
/// the manifest's directory, never the directory itself, a parent or an absolute path.
fn check_state_dir(cx: &mut Cx, n: &Node<'_, '_>, s: &str) -> bool {
    use std::path::Component;
    let path = std::path::Path::new(s);
    let why = if s.trim().is_empty() {
        Some("is empty")
    } else if path.has_root() || path.components().any(|c| matches!(c, Component::Prefix(_))) {
        Some("is absolute")
    } else if path.components().any(|c| c == Component::ParentDir) {
        Some("climbs out with `..`")
    } else if !path.components().any(|c| matches!(c, Component::Normal(_))) {
        Some("is the manifest's own directory")
    } else {
        None
    };
    let Some(why) = why else { return true };
    let p = cx.error(
        Rule::StateDir,
        n.span.clone(),
        &n.path,
        format!("state_dir `{s}` {why}; `wharf down` removes the state dir"),
    );
    p.expected = Some("a relative folder of wharf's own, such as \".wharf/local\"".into());
    p.help = Some("name a folder below the manifest's directory that holds nothing else".into());
    false
}

fn check_listen(cx: &mut Cx, n: &Node<'_, '_>, s: &str) -> bool {
    match s.parse::<std::net::SocketAddr>() {
        Ok(addr) if addr.port() == 0 => {
            cx.error(
                Rule::PortRange,
                n.span.clone(),
                &n.path,
                "the proxy needs a fixed port to listen on",
            )
            .expected = Some("an address such as \"127.0.0.1:8080\"".into());
            false
        }
        Ok(addr) => {
            if !addr.ip().is_loopback() {
                cx.warning(
                    Rule::InvalidValue,
                    n.span.clone(),
                    &n.path,
                    format!("the proxy will listen on {addr}, beyond this machine"),
                )
                .help = Some("use 127.0.0.1 unless other machines must reach it".into());
            }
            true
        }
        Err(_) => {
            cx.error(
                Rule::InvalidValue,
                n.span.clone(),
                &n.path,
                format!("`{s}` is not an address and port"),
            )
            .expected = Some("an address such as \"127.0.0.1:8080\"".into());
            false
        }
    }
}

fn read_aws(cx: &mut Cx, t: &mut Tbl<'_, '_>, _name: &str) -> Option<AwsEnv> {
    let region = t
        .req(cx, "region", "an AWS region such as \"eu-central-1\"")
        .and_then(|n| {
            let s = cx.string(&n)?;
            if !is_region(&s) {
                cx.push(
                    Problem::error(
                        Rule::AwsAccount,
                        n.span.clone(),
                        &n.path,
                        format!("`{s}` is not an AWS region name"),
                    )
                    .expected("a region such as \"eu-central-1\""),
                );
                return None;
            }
            Some(s)
        });
    let account = t
        .req(
            cx,
            "account",
            "the 12-digit AWS account id wharf may change",
        )
        .and_then(|n| {
            let s = match n.value {
                toml::de::DeValue::Integer(_) => {
                    cx.push(
                        Problem::error(
                            Rule::AwsAccount,
                            n.span.clone(),
                            &n.path,
                            "the account id must be a string",
                        )
                        .help("quote it: leading zeros matter, e.g. account = \"012345678901\""),
                    );
                    return None;
                }
                _ => cx.string(&n)?,
            };
            if s.len() != 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
                cx.push(
                    Problem::error(
                        Rule::AwsAccount,
                        n.span.clone(),
                        &n.path,
                        format!("`{s}` is not an AWS account id"),
                    )
                    .expected("12 digits, e.g. \"123456789012\""),
                );
                return None;
            }
            Some(s)
        });
    let profile = t.get(cx, "profile").and_then(|n| cx.string(&n));
    let azs = match t.get(cx, "azs") {
        Some(n) => cx
            .int_rule(
                &n,
                2,
                3,
                Rule::AzCount,
                "an ALB needs 2 AZs; wharf lays out at most 3",
            )
            .map(|v| v as u8),
        None => Some(2),
    };
    let cidr_node = t.get(cx, "cidr");
    let cidr = match &cidr_node {
        Some(n) => parse_vpc_cidr(cx, n),
        None => Some("10.0.0.0/16".parse().expect("valid default")),
    };
    // Read even when the block or AZ count is wrong, so its own mistakes are reported too.
    let subnets = read_subnets(
        cx,
        t,
        cidr.unwrap_or_else(|| "10.0.0.0/16".parse().expect("valid")),
        azs.unwrap_or(2),
    );
    let egress = match t.get(cx, "egress") {
        Some(n) => cx.choice(
            &n,
            &[
                ("nat", Egress::Nat),
                ("nat-per-az", Egress::NatPerAz),
                ("endpoints", Egress::Endpoints),
            ],
        ),
        None => Some(Egress::Nat),
    };
    let domain = t.get(cx, "domain").and_then(|n| {
        let s = cx.string(&n)?;
        if !is_domain(&s) {
            cx.error(
                Rule::InvalidValue,
                n.span.clone(),
                &n.path,
                format!("`{s}` is not a domain name"),
            )
            .expected = Some("a name such as \"test.example.com\"".into());
        }
        Some(s)
    });
    let certificate_node = t.get(cx, "certificate");
    let certificate = certificate_node.as_ref().and_then(|n| cx.string(n));
    let hosted_zone = t.get(cx, "hosted_zone").and_then(|n| cx.string(&n));
    let flag = |cx: &mut Cx, t: &mut Tbl<'_, '_>, key: &'static str, default: bool| {
        t.get(cx, key)
            .and_then(|n| cx.boolean(&n))
            .unwrap_or(default)
    };
    let waf = flag(cx, t, "waf", false);
    let flow_logs = flag(cx, t, "flow_logs", false);
    let access_logs = flag(cx, t, "access_logs", false);
    let edge = flag(cx, t, "edge", false);
    let log_kms = flag(cx, t, "log_kms", false);
    let prod = flag(cx, t, "prod", false);
    let kms = flag(cx, t, "kms", prod);
    let log_retention = match t.get(cx, "log_retention") {
        Some(n) => match cx.int(&n, 1, 3653) {
            None => None,
            Some(v) if !LOG_RETENTION_DAYS.contains(&(v as u32)) => {
                let closest = LOG_RETENTION_DAYS
                    .iter()
                    .min_by_key(|d| (**d as i64 - v).abs())
                    .copied()
                    .unwrap_or(30);
                cx.push(
                    Problem::error(Rule::LogRetention, n.span.clone(), &n.path, format!("CloudWatch Logs cannot keep logs for {v} days"))
                        .expected("1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, … 3653")
                        .help(format!("the closest allowed value is {closest}")),
                );
                None
            }
            Some(v) => Some(v as u32),
        },
        None => Some(30),
    };
    let keep_images = t
        .get(cx, "keep_images")
        .map_or(Some(50), |n| cx.int(&n, 1, 1000).map(|v| v as u32));
    let alarm_email = t.get(cx, "alarm_email").and_then(|n| {
        let s = cx.string(&n)?;
        if !s.contains('@') || s.starts_with('@') || s.ends_with('@') {
            cx.error(
                Rule::InvalidValue,
                n.span.clone(),
                &n.path,
                format!("`{s}` is not an email address"),
            );
        }
        Some(s)
    });
    if let (Some(n), Some(cert)) = (&certificate_node, &certificate) {
        check_certificate(cx, n, cert, region.as_deref(), account.as_deref());
    }
    Some(AwsEnv {
        region: region?,
        account: account?,
        profile,
        azs: azs?,
        cidr: cidr?,
        subnets: subnets?,
        egress: egress?,
        domain,
        certificate,
        hosted_zone,
        waf,
        flow_logs,
        access_logs,
        edge,
        log_retention: log_retention?,
        log_kms,
        kms,
        keep_images: keep_images?,
        alarm_email,
        prod,
    })
}

fn parse_vpc_cidr(cx: &mut Cx, n: &Node<'_, '_>) -> Option<Cidr> {
    let s = cx.string(n)?;
    let cidr = match s.parse::<Cidr>() {
        Ok(c) => c,
        Err(why) => {
            cx.push(
                Problem::error(
                    Rule::CidrSyntax,
                    n.span.clone(),
                    &n.path,
                    format!("`{s}` is not a CIDR block: {why}"),
                )
                .expected("an IPv4 block such as \"10.0.0.0/16\""),
            );
            return None;
        }
    };
    let (lo, hi) = VPC_PREFIX_RANGE;
    if cidr.prefix() < lo || cidr.prefix() > hi {
        cx.push(
            Problem::error(Rule::CidrSize, n.span.clone(), &n.path, format!("a /{} VPC is outside what wharf lays out", cidr.prefix()))
                .expected(format!("a prefix from /{lo} to /{hi}"))
                .help("AWS allows /16 at the largest; wharf needs room for 3 tiers × 3 AZs of subnets of /27 or more"),
        );
        return None;
    }
    Some(cidr)
}

/// Subnets: derived from the VPC block unless given as `subnets = { public = [...], ... }`.
fn read_subnets(cx: &mut Cx, t: &mut Tbl<'_, '_>, vpc: Cidr, azs: u8) -> Option<Subnets> {
    let derive = |slot: u32| -> Vec<Cidr> {
        (0..azs as u32)
            .filter_map(|i| vpc.layout_subnet(slot + i))
            .collect()
    };
    let mut subnets = Subnets {
        public: derive(PUBLIC_SLOT),
        private: derive(PRIVATE_SLOT),
        database: derive(DATABASE_SLOT),
    };
    let Some(node) = t.get(cx, "subnets") else {
        return Some(subnets);
    };
    let mut st = cx.table(&node)?;
    let mut given: Vec<(Cidr, std::ops::Range<usize>, String)> = Vec::new();
    let mut ok = true;
    for (key, slot) in [
        ("public", &mut subnets.public),
        ("private", &mut subnets.private),
        ("database", &mut subnets.database),
    ] {
        let Some(n) = st.get(cx, key) else { continue };
        let Some(list) = cx.string_list(&n) else {
            ok = false;
            continue;
        };
        if list.len() != azs as usize {
            cx.push(
                Problem::error(
                    Rule::SubnetOverlap,
                    n.span.clone(),
                    &n.path,
                    format!("{} {key} subnets for {azs} AZs", list.len()),
                )
                .expected(format!("one subnet per AZ: {azs}")),
            );
            ok = false;
        }
        let mut parsed = Vec::new();
        for (s, span) in list {
            match s.parse::<Cidr>() {
                Ok(c) if !vpc.contains(c) => {
                    cx.push(
                        Problem::error(
                            Rule::SubnetOverlap,
                            span,
                            &n.path,
                            format!("subnet {c} is outside the VPC block {vpc}"),
                        )
                        .help("subnets must lie inside the VPC's `cidr`"),
                    );
                    ok = false;
                }
                Ok(c) if c.prefix() > 28 => {
                    cx.push(
                        Problem::error(
                            Rule::CidrSize,
                            span,
                            &n.path,
                            format!("subnet {c} is too small"),
                        )
                        .expected("a /28 or larger (an ALB needs /27 or larger)"),
                    );
                    ok = false;
                }
                Ok(c) => {
                    given.push((c, span, n.path.clone()));
                    parsed.push(c);
                }
                Err(why) => {
                    cx.push(Problem::error(
                        Rule::CidrSyntax,
                        span,
                        &n.path,
                        format!("`{s}` is not a CIDR block: {why}"),
                    ));
                    ok = false;
                }
            }
        }
        *slot = parsed;
    }
    st.finish(cx);
    for i in 0..given.len() {
        for j in 0..i {
            if given[i].0.overlaps(given[j].0) {
                cx.push(
                    Problem::error(
                        Rule::SubnetOverlap,
                        given[i].1.clone(),
                        &given[i].2,
                        format!("subnet {} overlaps {}", given[i].0, given[j].0),
                    )
                    .help("give each subnet its own block"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(subnets)
}

fn check_certificate(
    cx: &mut Cx,
    n: &Node<'_, '_>,
    cert: &str,
    region: Option<&str>,
    account: Option<&str>,
) {
    let parts: Vec<&str> = cert.split(':').collect();
    let well_formed = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "acm"
        && parts[5].starts_with("certificate/")
        && parts[5].len() > "certificate/".len();
    if !well_formed {
        cx.push(
            Problem::error(Rule::Tls, n.span.clone(), &n.path, format!("`{cert}` is not an ACM certificate ARN"))
                .expected("arn:aws:acm:REGION:ACCOUNT:certificate/ID")
                .help("or set hosted_zone and leave certificate out: wharf then issues a DNS-validated certificate"),
        );
        return;
    }
    if let Some(r) = region {
        if parts[3] != r {
            cx.push(
                Problem::error(
                    Rule::Tls,
                    n.span.clone(),
                    &n.path,
                    format!("the certificate is in {}, the environment in {r}", parts[3]),
                )
                .help("an ALB can only use a certificate from its own region"),
            );
        }
    }
    if let Some(a) = account {
        if parts[4] != a {
            cx.push(
                Problem::error(
                    Rule::Tls,
                    n.span.clone(),
                    &n.path,
                    format!("the certificate belongs to account {}, not {a}", parts[4]),
                )
                .help("use a certificate of the environment's account"),
            );
        }
    }
}

fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

pub(crate) fn is_domain(s: &str) -> bool {
    let s = s.strip_prefix("*.").unwrap_or(s);
    s.len() <= 253
        && s.contains('.')
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}
