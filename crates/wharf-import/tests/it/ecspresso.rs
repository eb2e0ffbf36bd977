//! ecspresso configs as its documentation writes them: JSON definitions with template functions,
//! a YAML task definition, and a Jsonnet one that must be rendered first
//! (`tests/fixtures/ecspresso`).

use std::time::Duration;

use wharf_import::ecspresso::{import, Options};
use wharf_import::{ImportError, Outcome, PerEnv};
use wharf_manifest::{Capacity, ImageSource, SecretRef, StrategyKind, TargetSettings};

use super::{fixture, outcome, valid};

fn options(config: &str) -> Options {
    Options {
        config: fixture(config),
        env: None,
        accounts: PerEnv::default(),
        regions: PerEnv::default(),
    }
}

#[test]
fn a_json_config_maps_key_by_key() {
    let i = import(&options("ecspresso/json/ecspresso.yml")).unwrap();
    let m = valid(&i, &fixture("ecspresso/json"));
    assert_eq!(m.app.name, "myservice");
    let env = &m.environments["default"];
    let TargetSettings::Aws(a) = &env.target else {
        panic!("aws")
    };
    assert_eq!(
        (a.region.as_str(), a.account.as_str()),
        ("ap-northeast-1", "123456789012"),
        "the account from the ECR image"
    );
    let s = &env.services["myservice"];
    assert!(
        matches!(&s.image, ImageSource::Image(r) if r == "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/myservice:latest"),
        "{:?}",
        s.image
    );
    assert_eq!(s.platform.as_deref(), Some("linux/arm64"));
    assert_eq!((s.port, s.cpu, s.memory, s.count), (8080, 512, 1024, 2));
    assert!(s.public, "behind a load balancer");
    assert_eq!(s.env["LOG_LEVEL"], "info", "{{{{ env }}}}'s default");
    assert_eq!(s.env["PORT"], "8080");
    assert_eq!(
        s.secrets["DB_PASSWORD"],
        SecretRef::SecretsManager {
            name: "myservice/db".into(),
            key: Some("password".into())
        }
    );
    assert_eq!(
        s.secrets["API_TOKEN"],
        SecretRef::Ssm {
            path: "/myservice/api-token".into()
        }
    );
    assert_eq!(
        s.secrets["SENTRY_DSN"],
        SecretRef::Ssm {
            path: "/myservice/sentry-dsn".into()
        }
    );
    assert_eq!(
        s.command.as_deref(),
        Some(&["/app".to_owned(), "serve".into()][..])
    );
    assert_eq!(
        s.health.command.as_deref(),
        Some(&["/app".to_owned(), "health".into()][..])
    );
    assert_eq!(
        s.health.grace.map(|d| d.to_std()),
        Some(Duration::from_secs(30)),
        "the service's grace period wins over startPeriod"
    );
    assert_eq!(s.stop_timeout.to_std(), Duration::from_secs(20));
    assert_eq!(
        (
            s.deploy.rolling.min_healthy_percent,
            s.deploy.rolling.max_percent
        ),
        (50, 200)
    );
    assert_eq!(s.deploy.strategy, StrategyKind::Rolling);
    assert_eq!(s.capacity, Capacity::Fargate, "a mix keeps on-demand");

    let o = |file: &str, key: &str| outcome(&i, file, key);
    assert_eq!(
        o("ecs-task-def.json", "containerDefinitions.1"),
        Outcome::NotMapped,
        "the sidecar"
    );
    assert_eq!(
        o("ecs-task-def.json", "ulimits"),
        Outcome::NotMapped,
        "a key the importer does not know"
    );
    assert_eq!(
        o("ecs-task-def.json", "containerDefinitions.0.image"),
        Outcome::Changed
    );
    assert_eq!(
        o(
            "ecs-task-def.json",
            "containerDefinitions.0.logConfiguration"
        ),
        Outcome::Changed
    );
    assert_eq!(
        o("ecs-service-def.json", "networkConfiguration"),
        Outcome::NotMapped
    );
    assert_eq!(
        o("ecs-service-def.json", "capacityProviderStrategy"),
        Outcome::Changed
    );
    assert_eq!(o("ecs-service-def.json", "loadBalancers"), Outcome::Changed);
    assert_eq!(o("ecspresso.yml", "plugins"), Outcome::NotMapped);
    assert_eq!(o("ecspresso.yml", "cluster"), Outcome::Changed);
    assert_eq!(
        o(
            "ecs-task-def.json",
            "containerDefinitions.0.environment.0.value ({{ env `LOG_LEVEL` `info` }})"
        ),
        Outcome::Changed
    );
}

#[test]
fn a_yaml_task_definition_without_a_service_is_a_worker() {
    let mut o = options("ecspresso/yaml/ecspresso.yml");
    o.env = Some("staging".into());
    let i = import(&o).unwrap();
    let m = valid(&i, &fixture("ecspresso/yaml"));
    let TargetSettings::Aws(a) = &m.environments["staging"].target else {
        panic!("aws")
    };
    assert_eq!(
        (a.region.as_str(), a.account.as_str()),
        ("eu-west-1", "210987654321"),
        "the account from the role's ARN"
    );
    let s = &m.environments["staging"].services["worker"];
    assert!(!s.public && s.internal.is_none());
    assert!(matches!(&s.image, ImageSource::Image(r) if r == "public.ecr.aws/acme/worker:2.1.0"));
    assert_eq!((s.cpu, s.memory), (256, 512));
    assert_eq!(s.env["QUEUE"], "jobs");
    assert_eq!(
        s.command.as_deref(),
        Some(&["worker".to_owned(), "--concurrency".into(), "4".into()][..])
    );
}

#[test]
fn jsonnet_is_refused_with_the_command_that_renders_it() {
    let e = import(&options("ecspresso/jsonnet/ecspresso.yml")).unwrap_err();
    assert!(matches!(e, ImportError::Jsonnet { .. }), "{e}");
    let help = miette::Diagnostic::help(&e)
        .map(|h| h.to_string())
        .unwrap_or_default();
    assert!(help.contains("ecspresso render taskdef"), "{help}");
}
