//! `wharf import ecspresso`: an ecspresso config and the task and service definitions it names
//! (JSON or YAML, as `aws ecs` writes them) → one service in one AWS environment. ecspresso's
//! `{{ env "X" "default" }}` takes its default; other template functions (`must_env`, `tfstate`,
//! `ssm`) are resolved only when ecspresso runs, so the values are reported. Jsonnet files are
//! refused with the command that renders them.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::assemble::{self, Workload};
use crate::doc::Tbl;
use template::{note_templates, untemplate};

mod definitions;
mod template;
use crate::report::Report;
use crate::source::Src;
use crate::{yaml, ImportError, Imported, PerEnv};

/// What `wharf import ecspresso` was given.
#[derive(Debug, Clone)]
pub struct Options {
    pub config: PathBuf,
    /// The environment's name [default: the cluster's].
    pub env: Option<String>,
    pub accounts: PerEnv,
    pub regions: PerEnv,
}

/// Reads the config and its definitions and returns the manifest and the report.
pub fn import(o: &Options) -> Result<Imported, ImportError> {
    let dir = o.config.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut report = Report::default();
    let cfg_file = file_name(&o.config);
    let mut templated = Vec::new();
    let cfg = untemplate(&load(&o.config)?, &mut templated);
    note_templates(&mut report, &cfg_file, &templated);

    let missing = |what: &str, help: &str| ImportError::Missing {
        path: o.config.clone(),
        what: what.into(),
        help: help.into(),
    };
    let td_rel = cfg.get("task_definition").and_then(Value::as_str).ok_or_else(|| missing("`task_definition`", "ecspresso configs name the task definition file: task_definition: ecs-task-def.json"))?;
    let sd_rel = cfg.get("service_definition").and_then(Value::as_str);
    let cluster = cfg
        .get("cluster")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let service_raw = cfg.get("service").and_then(Value::as_str);

    let td_path = dir.join(td_rel);
    let mut templated = Vec::new();
    let td = untemplate(&load(&td_path)?, &mut templated);
    let td_file = file_name(&td_path);
    note_templates(&mut report, &td_file, &templated);
    let (sd, sd_file) = match sd_rel {
        Some(rel) => {
            let p = dir.join(rel);
            let mut templated = Vec::new();
            let v = untemplate(&load(&p)?, &mut templated);
            let f = file_name(&p);
            note_templates(&mut report, &f, &templated);
            (v, f)
        }
        None => (Value::Null, String::new()),
    };

    let containers = td
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let main = main_container(&containers).ok_or_else(|| ImportError::Missing {
        path: td_path.clone(),
        what: "a container definition".into(),
        help: "a task definition lists its containers under containerDefinitions".into(),
    })?;
    let env = match &o.env {
        Some(e) => crate::name(e, 12),
        None => crate::name(cluster, 12),
    };
    // The app is named after the service; its target groups take 32 characters at most:
    // `{app}-{env}-{service}` rolling, `{service}-{env}-YYYYMMDD-HHMMSSZ` blue-green.
    let blue_green = sd
        .pointer("/deploymentController/type")
        .and_then(Value::as_str)
        == Some("CODE_DEPLOY");
    let max = if blue_green {
        14usize.saturating_sub(env.len())
    } else {
        30usize.saturating_sub(env.len()) / 2
    };
    let service = crate::name(
        service_raw
            .or_else(|| containers[main].get("name").and_then(Value::as_str))
            .unwrap_or("web"),
        max.clamp(3, 16),
    );
    let image = containers[main]
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let region = o
        .regions
        .get(&env)
        .map(str::to_owned)
        .or_else(|| {
            cfg.get("region")
                .and_then(Value::as_str)
                .filter(|r| crate::is_region(r))
                .map(str::to_owned)
        })
        .or_else(|| ecr_part(image, 3))
        .ok_or_else(|| ImportError::NoRegion {
            env: env.clone(),
            why: "the config has no region (or only a template for it)".into(),
        })?;
    let account = o
        .accounts
        .get(&env)
        .map(str::to_owned)
        .or_else(|| ecr_part(image, 0))
        .or_else(|| {
            ["executionRoleArn", "taskRoleArn"]
                .iter()
                .find_map(|k| td.get(k).and_then(Value::as_str).and_then(arn_account))
        })
        .ok_or_else(|| ImportError::NoAccount {
            env: env.clone(),
            why: "neither an ECR image nor a role ARN in the task definition names it".into(),
        })?;

    // The config.
    let to = format!("services.{service}");
    {
        let mut src = Src::new(&cfg_file, &cfg, &mut report);
        src.mapped("region", &format!("environments.{env}.region"));
        let why = format!(
            "wharf's cluster is named after the app and environment; the environment is `{env}`"
        );
        src.changed("cluster", &format!("environments.{env}"), &why);
        if service_raw == Some(service.as_str()) {
            src.mapped("service", &to);
        } else {
            src.changed("service", &to, &format!("wharf names are lowercase letters, digits and hyphens, here at most {} (the target groups take 32 characters at most): `{service}`", service.len()));
        }
        src.mapped("task_definition", &to);
        if sd_rel.is_some() {
            src.mapped("service_definition", &to);
        }
        for (k, why) in [
            ("timeout", "wharf's waits have their own bounds and say what they wait for"),
            ("plugins", "values from Terraform state or other plugins are not resolved: the definitions' values are used as written"),
            ("required_version", "not needed: wharf is pinned by whoever installs it"),
            ("filter_command", "not needed"),
            ("ignore", "wharf owns the whole service definition"),
            ("codedeploy", "wharf shifts traffic itself with its blue-green strategy, without CodeDeploy"),
            ("appspec", "wharf shifts traffic itself with its blue-green strategy and runs hooks from deploy.hooks"),
        ] {
            if src.get(k).is_some() {
                src.not_mapped(k, why);
            }
        }
        src.finish();
    }

    let mut t = Tbl::default();
    {
        let mut src = Src::new(&td_file, &td, &mut report);
        definitions::task(&mut src, &containers, main, &to, &dir, &mut t);
        src.finish();
    }
    if !sd.is_null() {
        let mut src = Src::new(&sd_file, &sd, &mut report);
        definitions::service(&mut src, &to, &mut t);
        src.finish();
    } else {
        t.set("public", false);
    }

    let mut e = Tbl::default();
    e.set("target", "aws");
    e.set("region", region.as_str());
    e.set("account", account.as_str());
    let header = vec![
        format!("Imported by `wharf import ecspresso` from {cfg_file}."),
        "The report on standard error says what became of every key, and why.".to_owned(),
        format!("Rehearse it here with `wharf deploy --env local`; `wharf plan --env {env}` shows the AWS environment."),
    ];
    let app = crate::name(&service, 16);
    let manifest = assemble::render(
        &header,
        &app,
        &[(env.clone(), e)],
        &[Workload {
            section: "services",
            name: service.clone(),
            per_env: vec![(env.clone(), t)],
        }],
        &[],
    );
    Ok(Imported {
        app,
        environments: vec![env],
        services: vec![service],
        jobs: vec![],
        data: vec![],
        manifest,
        report,
    })
}

/// The container that takes traffic (the first with a port), else the first essential one.
fn main_container(c: &[Value]) -> Option<usize> {
    c.iter()
        .position(|c| {
            c.get("portMappings")
                .and_then(Value::as_array)
                .is_some_and(|p| !p.is_empty())
        })
        .or_else(|| {
            c.iter()
                .position(|c| c.get("essential") != Some(&Value::Bool(false)))
        })
        .or(if c.is_empty() { None } else { Some(0) })
}

fn load(path: &Path) -> Result<Value, ImportError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    if ext == "jsonnet" || ext == "libsonnet" {
        return Err(ImportError::Jsonnet {
            path: path.to_path_buf(),
        });
    }
    if ext == "json" {
        let text = crate::read(path)?;
        return serde_json::from_str(&text).map_err(|e| ImportError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        });
    }
    yaml::load(path)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A part of an ECR image reference's host: 0 the account, 3 the region.
fn ecr_part(image: &str, i: usize) -> Option<String> {
    let host = image.split('/').next()?;
    let parts: Vec<&str> = host.split('.').collect();
    (parts.len() >= 6 && parts[1] == "dkr" && parts[2] == "ecr")
        .then(|| parts[i].to_owned())
        .filter(|p| !p.contains("{{"))
}

fn arn_account(arn: &str) -> Option<String> {
    arn.split(':')
        .nth(4)
        .filter(|a| crate::is_account(a))
        .map(str::to_owned)
}

/// A Dockerfile's directory near the config (it, or up to two parents), as a path relative to it.
pub(crate) fn find_dockerfile(dir: &Path) -> Option<String> {
    let mut rel = String::from(".");
    let mut d = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir.to_path_buf()
    };
    for _ in 0..3 {
        if d.join("Dockerfile").is_file() {
            return Some(rel);
        }
        d = d.join("..");
        rel = if rel == "." {
            "..".into()
        } else {
            format!("{rel}/..")
        };
    }
    None
}
