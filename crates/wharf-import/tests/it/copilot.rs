//! A Copilot workspace with every workload type, environment overrides, `${COPILOT_*}`
//! substitutions, addons (DynamoDB, Aurora PostgreSQL, an S3 bucket and an SQS queue), secrets,
//! autoscaling and an imported VPC (`tests/fixtures/copilot`).

use std::time::Duration;

use serde_json::Value;
use wharf_import::copilot::{import, Options};
use wharf_import::{is_account, is_region, ImportError, Imported, Outcome, PerEnv};
use wharf_manifest::{Capacity, DataKind, ImageSource, JobImage, SecretRef, TargetSettings};

use super::{fixture, outcome, valid};

fn options(accounts: &[&str], regions: &[&str]) -> Options {
    let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Options {
        dir: fixture("copilot"),
        accounts: PerEnv::parse("account", &own(accounts), is_account, "123456789012").unwrap(),
        regions: PerEnv::parse("env-region", &own(regions), is_region, "eu-west-1").unwrap(),
    }
}

fn imported() -> Imported {
    import(&options(
        &["111111111111", "prod=222222222222"],
        &["us-east-2"],
    ))
    .unwrap()
}

fn ssm(path: &str) -> SecretRef {
    SecretRef::Ssm { path: path.into() }
}

#[test]
fn every_workload_type_maps_key_by_key() {
    let i = imported();
    let m = valid(&i, &fixture("copilot"));
    assert_eq!(m.app.name, "pulse");
    assert_eq!(
        m.environments.keys().collect::<Vec<_>>(),
        ["local", "prod", "test"]
    );
    assert_eq!(
        m.services.keys().collect::<Vec<_>>(),
        ["api", "auth", "frontend", "orders-worker"],
        "RDWS and Static Site are left out"
    );
    let (test, prod) = (&m.environments["test"], &m.environments["prod"]);

    // Load Balanced Web Service → a public service.
    let web = &test.services["frontend"];
    let ImageSource::Build(b) = &web.image else {
        panic!("frontend builds: {:?}", web.image)
    };
    assert!(b.context.ends_with("frontend"), "{:?}", b.context);
    assert_eq!(b.dockerfile.to_str(), Some("Dockerfile"));
    assert_eq!(b.args["NODE_ENV"], "production");
    assert_eq!(
        b.platform.as_deref(),
        Some("linux/amd64"),
        "linux/x86_64 as Docker spells it"
    );
    assert_eq!((web.port, web.cpu, web.memory), (8080, 256, 512));
    assert!(web.public && web.internal.is_none());
    let h = &web.health;
    assert_eq!(
        (h.path.as_str(), h.matcher.as_str(), h.healthy, h.unhealthy),
        ("/_healthcheck", "200,301", 3, 2)
    );
    assert_eq!(
        (
            h.interval.to_std(),
            h.timeout.to_std(),
            h.grace.map(|d| d.to_std())
        ),
        (
            Duration::from_secs(15),
            Duration::from_secs(10),
            Some(Duration::from_secs(45))
        )
    );
    assert_eq!(
        web.deploy.drain.timeout.to_std(),
        Duration::from_secs(5),
        "deregistration_delay"
    );
    assert_eq!(web.count, 1, "test's count replaces the range");
    assert!(web.autoscaling.is_none());
    assert_eq!(
        (
            web.deploy.rolling.min_healthy_percent,
            web.deploy.rolling.max_percent
        ),
        (0, 100),
        "recreate"
    );
    assert_eq!(web.env["LOG_LEVEL"], "debug", "test's override");
    assert_eq!(web.env["APP_ENV"], "test", "${{COPILOT_ENVIRONMENT_NAME}}");
    assert_eq!(
        web.env["RELEASE"], "${RELEASE_TAG}",
        "a shell variable is written as it stands"
    );
    assert_eq!(web.secrets["GITHUB_TOKEN"], ssm("/GITHUB_TOKEN"));
    assert_eq!(
        web.secrets["API_KEY"],
        ssm("/copilot/pulse/test/secrets/api_key")
    );
    assert_eq!(
        web.secrets["DB_PASSWORD"],
        SecretRef::SecretsManager {
            name: "pulse/test/mysql".into(),
            key: Some("password".into())
        }
    );
    assert_eq!(
        web.talks_to,
        ["api", "auth"],
        "Copilot let every service call the backends"
    );
    let pweb = &prod.services["frontend"];
    let a = pweb.autoscaling.as_ref().expect("prod scales");
    assert_eq!(
        (pweb.count, a.min, a.max, a.cpu, a.requests),
        (2, 2, 20, Some(60), Some(30))
    );
    assert_eq!(
        pweb.routing.as_ref().map(|r| r.hosts.clone()),
        Some(vec!["pulse.example.com".to_owned()])
    );
    assert_eq!(pweb.env["LOG_LEVEL"], "info");
    assert_eq!(
        pweb.secrets["API_KEY"],
        ssm("/copilot/pulse/prod/secrets/api_key")
    );
    assert_eq!(
        (
            pweb.deploy.rolling.min_healthy_percent,
            pweb.deploy.rolling.max_percent
        ),
        (100, 200),
        "prod: rolling default"
    );

    // Backend Services → internal services, each on its own listener port.
    let api = &test.services["api"];
    assert_eq!(api.internal.as_ref().map(|i| i.port), Some(8080));
    assert!(!api.public);
    assert_eq!(
        (api.cpu, api.memory, api.count, prod.services["api"].count),
        (512, 1024, 2, 3)
    );
    assert_eq!(
        api.health.command.as_deref(),
        Some(
            &[
                "sh".to_owned(),
                "-c".into(),
                "curl -f http://localhost:8080/health || exit 1".into()
            ][..]
        )
    );
    assert_eq!(
        api.health.grace.map(|d| d.to_std()),
        Some(Duration::from_secs(30))
    );
    assert_eq!(api.data, ["db", "orders"]);
    assert_eq!(api.secrets["DB_URL"], ssm("/pulse/test/db-url"));
    assert_eq!(api.talks_to, ["auth"]);
    let auth = &test.services["auth"];
    assert_eq!(
        (auth.port, auth.internal.as_ref().map(|i| i.port)),
        (8080, Some(8081)),
        "8080 is api's listener"
    );
    assert_eq!(auth.health.path, "/healthz");

    // Worker Service → a service nobody reaches.
    let w = &test.services["orders-worker"];
    assert!(!w.public && w.internal.is_none());
    assert!(
        matches!(&w.image, ImageSource::Image(r) if r == "123456789012.dkr.ecr.us-east-2.amazonaws.com/pulse/worker:1.4.2"),
        "{:?}",
        w.image
    );
    assert_eq!(w.platform.as_deref(), Some("linux/arm64"));
    assert_eq!(w.capacity, Capacity::Fargate, "spot_from is not mapped");
    let a = w.autoscaling.as_ref().unwrap();
    assert_eq!((a.min, a.max), (1, 5));
    assert_eq!(
        w.command.as_deref(),
        Some(
            &[
                "./worker".to_owned(),
                "--queue".into(),
                "orders events".into()
            ][..]
        )
    );

    // Scheduled Job → a job with its schedule per environment.
    let job = &test.jobs["report"];
    assert_eq!(job.schedule.as_deref(), Some("cron(0 9 ? * MON-FRI *)"));
    assert_eq!(
        prod.jobs["report"].schedule.as_deref(),
        Some("cron(0 0 * * ? *)")
    );
    assert_eq!(
        job.timeout.map(|d| d.to_std()),
        Some(Duration::from_secs(5400))
    );
    assert!(matches!(&job.image, JobImage::Build(b) if b.context.ends_with("report")));
    assert_eq!(job.env["REPORT_BUCKET"], "reports");
    assert_eq!(job.secrets["SMTP_PASSWORD"], ssm("/pulse/smtp-password"));

    // Addons → data.
    let DataKind::Dynamodb(t) = &m.data["orders"].kind else {
        panic!("orders: {:?}", m.data["orders"])
    };
    assert_eq!(
        (
            t.partition_key.name.as_str(),
            t.sort_key.as_ref().map(|k| k.name.as_str())
        ),
        ("pk", Some("sk"))
    );
    assert_eq!(format!("{:?}", t.sort_key.as_ref().unwrap().ty), "N");
    assert_eq!(t.gsi.len(), 1);
    assert_eq!(
        (t.gsi[0].name.as_str(), t.gsi[0].projection.as_str()),
        ("by-user", "keys-only")
    );
    assert_eq!((t.ttl.as_deref(), t.pitr), (Some("expires_at"), true));
    let DataKind::Postgres(p) = &m.data["db"].kind else {
        panic!("db: {:?}", m.data["db"])
    };
    assert_eq!((p.version.as_str(), p.database.as_str()), ("14", "main"));
    let DataKind::S3(s) = &m.data["uploads"].kind else {
        panic!("uploads")
    };
    assert!(s.versioning);

    // Environments.
    let TargetSettings::Aws(t) = &test.target else {
        panic!("aws")
    };
    assert_eq!(
        (
            t.region.as_str(),
            t.account.as_str(),
            t.azs,
            t.flow_logs,
            t.prod
        ),
        ("us-east-2", "111111111111", 2, true, false)
    );
    assert_eq!(t.cidr.to_string(), "10.0.0.0/16");
    let s = |v: &[wharf_manifest::cidr::Cidr]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    assert_eq!(s(&t.subnets.public), ["10.0.0.0/24", "10.0.1.0/24"]);
    assert_eq!(s(&t.subnets.private), ["10.0.3.0/24", "10.0.4.0/24"]);
    assert_eq!(t.subnets.database.len(), 2);
    let TargetSettings::Aws(p) = &prod.target else {
        panic!("aws")
    };
    assert_eq!(
        (p.account.as_str(), p.prod, p.edge, p.access_logs),
        ("222222222222", true, false, true)
    );
    assert_eq!(
        p.domain.as_deref(),
        Some("pulse.example.com"),
        "the certificate's domain: the first alias"
    );
    assert_eq!(
        p.certificate.as_deref(),
        Some("arn:aws:acm:us-east-2:222222222222:certificate/13245665-c8f1-4df3-a7d0-adf876af9501"),
        "${{AWS_REGION}} and ${{AWS_ACCOUNT_ID}} filled in"
    );
    assert!(matches!(
        m.environments["local"].target,
        TargetSettings::Local(_)
    ));
}

#[test]
fn the_report_says_what_became_of_unknown_and_unsupported_keys() {
    let i = imported();
    let o = |file: &str, key: &str| outcome(&i, file, key);
    let web = "copilot/frontend/manifest.yml";
    assert_eq!(o("copilot/site/manifest.yml", "type"), Outcome::NotMapped);
    assert_eq!(o("copilot/docs/manifest.yml", "type"), Outcome::NotMapped);
    assert_eq!(
        o(web, "experimental_feature.enabled"),
        Outcome::NotMapped,
        "a key nobody knows"
    );
    assert_eq!(o(web, "storage"), Outcome::NotMapped);
    assert_eq!(o(web, "http.path"), Outcome::Mapped);
    assert_eq!(o(web, "environments.prod.http.alias"), Outcome::Mapped);
    assert_eq!(o(web, "environments.prod.count.range"), Outcome::Mapped);
    assert_eq!(
        o(web, "secrets.GITHUB_TOKEN"),
        Outcome::Changed,
        "a flat SSM name"
    );
    assert_eq!(
        o(web, "variables.RELEASE (${RELEASE_TAG})"),
        Outcome::Changed
    );
    assert_eq!(
        o(web, "variables.APP_ENV (${COPILOT_ENVIRONMENT_NAME})"),
        Outcome::Mapped
    );
    assert_eq!(o(web, "http.stickiness"), Outcome::Changed);
    assert_eq!(o(web, "(service discovery)"), Outcome::Changed);
    let worker = "copilot/orders-worker/manifest.yml";
    assert_eq!(o(worker, "subscribe"), Outcome::NotMapped);
    assert_eq!(o(worker, "count.range.spot_from"), Outcome::NotMapped);
    assert_eq!(o(worker, "count.queue_delay"), Outcome::NotMapped);
    assert_eq!(
        o("copilot/auth/manifest.yml", "image.port (listener)"),
        Outcome::Changed
    );
    let job = "copilot/report/manifest.yml";
    assert_eq!(o(job, "retries"), Outcome::NotMapped);
    assert_eq!(o(job, "on.schedule"), Outcome::Changed);
    assert_eq!(o(job, "environments.prod.on.schedule"), Outcome::Mapped);
    let prod = "copilot/environments/prod/manifest.yml";
    assert_eq!(
        o(prod, "network.vpc.id"),
        Outcome::NotMapped,
        "an imported VPC"
    );
    assert_eq!(
        o(prod, "http.public.ingress.source_ips"),
        Outcome::NotMapped
    );
    assert_eq!(o(prod, "http.public.access_logs"), Outcome::Changed);
    assert_eq!(
        o(prod, "cdn"),
        Outcome::NotMapped,
        "the edge stack needs the zone's name"
    );
    assert_eq!(
        o(prod, "http.public.certificates (domain)"),
        Outcome::Changed
    );
    let db = "copilot/api/addons/db.yml";
    assert_eq!(
        o(db, "Resources.eventsQueue"),
        Outcome::NotMapped,
        "kept out"
    );
    assert_eq!(
        o(db, "Resources.dbDBCluster.Type"),
        Outcome::Changed,
        "Aurora → RDS"
    );
    assert_eq!(o(db, "Outputs.dbSecret"), Outcome::Changed);
    assert_eq!(
        o(
            "copilot/api/addons/orders.yml",
            "Resources.ordersTable.Properties.StreamSpecification"
        ),
        Outcome::NotMapped
    );
    assert!(i.report.entries.iter().all(|e| !e.reason.is_empty()));
}

/// Every key of every source file has an entry: itself, or a key it sits under.
#[test]
fn the_report_is_complete() {
    let i = imported();
    let root = fixture("copilot");
    let mut files = vec![];
    collect(&root.join("copilot"), &mut files);
    assert!(files.len() >= 12, "{files:?}");
    for path in files {
        let rel = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&path).unwrap();
        let docs = yaml_rust2::YamlLoader::load_from_str(&text).unwrap();
        let mut leaves = vec![];
        walk(&docs[0], String::new(), &mut leaves);
        for leaf in leaves {
            let covered = i.report.entries.iter().any(|e| {
                e.file == rel
                    && (leaf == e.key
                        || leaf.starts_with(&format!("{}.", e.key))
                        || e.key.starts_with(&format!("{leaf} (")))
            }) || rel.ends_with("manifest.yml")
                && i.report
                    .get(&rel, "type")
                    .is_some_and(|e| e.outcome == Outcome::NotMapped);
            assert!(
                covered,
                "{rel}: no report entry covers `{leaf}`:\n{}",
                i.report
            );
        }
    }
}

fn collect(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn walk(y: &yaml_rust2::Yaml, prefix: String, out: &mut Vec<String>) {
    match y {
        yaml_rust2::Yaml::Hash(h) if !h.is_empty() => {
            for (k, v) in h {
                let k = k
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{k:?}"));
                walk(
                    v,
                    if prefix.is_empty() {
                        k
                    } else {
                        format!("{prefix}.{k}")
                    },
                    out,
                );
            }
        }
        yaml_rust2::Yaml::Null => {}
        _ => out.push(prefix),
    }
}

#[test]
fn accounts_and_regions_are_asked_for_by_name() {
    let e = import(&options(&["111111111111"], &[])).unwrap_err();
    assert!(
        matches!(&e, ImportError::NoRegion { env, .. } if env == "prod"),
        "{e}"
    );
    let e = import(&options(&["test=111111111111"], &["us-east-2"])).unwrap_err();
    assert!(
        matches!(&e, ImportError::NoAccount { env, .. } if env == "prod"),
        "{e}"
    );
    let e = import(&Options {
        dir: fixture("ecspresso"),
        ..options(&[], &[])
    })
    .unwrap_err();
    assert!(matches!(e, ImportError::NotCopilot { .. }));
}

#[test]
fn the_report_serializes_with_each_outcome() {
    let v: Value = serde_json::to_value(imported()).unwrap();
    let outcomes: std::collections::BTreeSet<&str> = v["report"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["outcome"].as_str())
        .collect();
    assert_eq!(
        outcomes.into_iter().collect::<Vec<_>>(),
        ["changed", "mapped", "not-mapped"]
    );
}

/// Copilot allows longer names than wharf: they are shortened, reported, and the overrides and
/// `${COPILOT_ENVIRONMENT_NAME}` keep the Copilot name (SSM paths use it).
#[test]
fn long_names_are_shortened_and_reported() {
    let d = tempfile::tempdir().expect("tempdir");
    let w = |rel: &str, text: &str| write(d.path(), rel, text);
    w("copilot/.workspace", "application: payments\n");
    w(
        "copilot/payments-gateway-service/manifest.yml",
        "name: payments-gateway-service\ntype: Load Balanced Web Service\nimage:\n  location: public.ecr.aws/acme/gw:1\n  port: 80\nsecrets:\n  KEY: /payments/${COPILOT_ENVIRONMENT_NAME}/key\nenvironments:\n  production-eu-west:\n    count: 3\n",
    );
    let o = Options {
        dir: d.path().to_path_buf(),
        ..options(&["123456789012"], &["eu-west-1"])
    };
    let i = import(&o).unwrap();
    let m = valid(&i, d.path());
    let env = &m.environments["production-e"];
    let s = &env.services["payments-g"];
    assert_eq!(s.count, 3, "the override of the Copilot name");
    assert_eq!(s.secrets["KEY"], ssm("/payments/production-eu-west/key"));
    let file = "copilot/payments-gateway-service/manifest.yml";
    assert_eq!(outcome(&i, file, "name"), Outcome::Changed);
    assert_eq!(
        outcome(&i, file, "environments.production-eu-west.count"),
        Outcome::Mapped
    );
}

/// A Copilot environment called `local` keeps its name; the rehearsal environment wharf adds
/// takes another.
#[test]
fn an_environment_named_local_keeps_its_name() {
    let d = tempfile::tempdir().expect("tempdir");
    let w = |rel: &str, text: &str| write(d.path(), rel, text);
    w("copilot/.workspace", "application: shop\n");
    w(
        "copilot/environments/local/manifest.yml",
        "name: local\ntype: Environment\n",
    );
    w("copilot/web/manifest.yml", "name: web\ntype: Load Balanced Web Service\nimage:\n  location: public.ecr.aws/acme/web:1\n  port: 80\n");
    let o = Options {
        dir: d.path().to_path_buf(),
        ..options(&["123456789012"], &["eu-west-1"])
    };
    let m = valid(&import(&o).unwrap(), d.path());
    assert!(matches!(
        m.environments["local"].target,
        TargetSettings::Aws(_)
    ));
    assert!(matches!(
        m.environments["rehearsal"].target,
        TargetSettings::Local(_)
    ));
}

/// Writes a file of a workspace made in a test, with its directories.
fn write(root: &std::path::Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("a parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}
