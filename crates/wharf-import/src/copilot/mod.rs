//! `wharf import copilot`: a Copilot workspace (`copilot/.workspace`, each workload's
//! `manifest.yml` and `addons/`, `environments/*/manifest.yml`) → wharf.toml. Each workload is
//! read once per environment with that environment's overrides merged and `${COPILOT_*}` filled
//! in, so what differs per environment lands in the environment's overrides.

mod addons;
mod env;
mod http;
pub mod schedule;
pub mod service;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::assemble::{self, Workload};
use crate::doc::{Tbl, V};
use crate::report::{Entry, Outcome, Report};
use crate::source::{merge, Src};
use crate::{yaml, ImportError, Imported, PerEnv};
use service::Kind;

/// What `wharf import copilot` was given.
#[derive(Debug, Clone)]
pub struct Options {
    /// The directory holding `copilot/`.
    pub dir: PathBuf,
    pub accounts: PerEnv,
    pub regions: PerEnv,
}

struct Mapped {
    kind: Kind,
    name: String,
    file: String,
    per_env: Vec<(String, Tbl)>,
}

/// Reads the workspace under `o.dir` and returns the manifest and the report.
pub fn import(o: &Options) -> Result<Imported, ImportError> {
    let cop = o.dir.join("copilot");
    let ws_path = cop.join(".workspace");
    if !ws_path.is_file() {
        return Err(ImportError::NotCopilot { dir: o.dir.clone() });
    }
    let mut report = Report::default();
    let ws = yaml::load(&ws_path)?;
    let app_raw = ws
        .get("application")
        .and_then(Value::as_str)
        .ok_or_else(|| ImportError::Missing {
            path: ws_path.clone(),
            what: "`application`".into(),
            help: "a Copilot workspace names its application: `application: NAME`".into(),
        })?;
    let app = crate::name(app_raw, 16);
    {
        let mut src = Src::new("copilot/.workspace", &ws, &mut report);
        if app == app_raw {
            src.mapped("application", "app.name");
        } else {
            src.changed(
                "application",
                "app.name",
                &format!(
                    "wharf app names are at most 16 lowercase letters, digits and hyphens: `{app}`"
                ),
            );
        }
        src.finish();
    }

    let env_docs = environment_manifests(&cop)?;
    let workloads = workload_manifests(&cop)?;
    let mut env_names: BTreeSet<String> = env_docs.keys().cloned().collect();
    for (_, doc) in &workloads {
        if let Some(Value::Object(m)) = doc.get("environments") {
            env_names.extend(m.keys().cloned());
        }
    }
    let env_names: Vec<String> = env_names.into_iter().collect();

    // Each environment by its wharf name (at most 12 characters), with its Copilot name, which
    // its overrides and `${COPILOT_ENVIRONMENT_NAME}` (in SSM paths, say) keep.
    let mut envs = Vec::new();
    let mut origs: Vec<String> = Vec::new();
    for e in &env_names {
        let region = o.regions.get(e).ok_or_else(|| ImportError::NoRegion {
            env: e.clone(),
            why: "Copilot keeps it in the app's SSM parameters, not in the workspace".into(),
        })?;
        let account = o.accounts.get(e).ok_or_else(|| ImportError::NoAccount {
            env: e.clone(),
            why: "Copilot keeps it in the app's SSM parameters, not in the workspace".into(),
        })?;
        let mut t = Tbl::default();
        t.set("target", "aws");
        t.set("region", region);
        t.set("account", account);
        let doc = env_docs.get(e).cloned().unwrap_or(Value::Null);
        let doc = substitute(
            &doc,
            &vars(app_raw, Some(e), None, Some((region, account))),
            &mut Vec::new(),
        );
        let file = format!("copilot/environments/{e}/manifest.yml");
        let w = crate::name(e, 12);
        let mut src = Src::new(&file, &doc, &mut report);
        env::map(&mut src, &w, &mut t);
        src.finish();
        if w != *e {
            report.push(Entry {
                file,
                key: "(environment name)".into(),
                outcome: Outcome::Changed,
                to: Some(format!("environments.{w}")),
                reason: format!("wharf environment names are at most 12 lowercase letters, digits and hyphens: `{w}`"),
            });
        }
        envs.push((w, t));
        origs.push(e.clone());
    }

    let mut mapped: Vec<Mapped> = Vec::new();
    let mut data: Vec<(String, Tbl)> = Vec::new();
    for (dir, doc) in &workloads {
        let file = format!("copilot/{dir}/manifest.yml");
        let ty = doc.get("type").and_then(Value::as_str).unwrap_or_default();
        let kind = match Kind::of(ty) {
            Ok(k) => k,
            Err(why) => {
                report.push(Entry {
                    file: file.clone(),
                    key: "type".into(),
                    outcome: Outcome::NotMapped,
                    to: None,
                    reason: format!("{ty}: {why}"),
                });
                continue;
            }
        };
        let raw_name = doc.get("name").and_then(Value::as_str).unwrap_or(dir);
        // A service's target group is `{app}-{env}-{service}` (rolling): at most 32 characters.
        let longest_env = envs.iter().map(|(e, _)| e.len()).max().unwrap_or(0);
        let svc_max = 16
            .min(30usize.saturating_sub(app.len() + longest_env))
            .max(3);
        let (section, max) = if kind == Kind::Job {
            ("jobs", 24)
        } else {
            ("services", svc_max)
        };
        let name = crate::name(raw_name, max);
        if name != raw_name {
            report.push(Entry {
                file: file.clone(),
                key: "name".into(),
                outcome: Outcome::Changed,
                to: Some(format!("{section}.{name}")),
                reason: format!("wharf {section} names are lowercase letters, digits and hyphens, here at most {max} (a service's target groups, `{app}-ENV-{name}`, take 32 characters at most): `{name}`"),
            });
        }
        let to = format!("{section}.{name}");
        let mut base_doc = doc.clone();
        let overrides = base_doc
            .as_object_mut()
            .and_then(|m| m.remove("environments"))
            .unwrap_or(Value::Null);

        // The manifest as written: every key it has is reported from here.
        let mut subs = Vec::new();
        let base = substitute(
            &base_doc,
            &vars(app_raw, None, Some(raw_name), None),
            &mut subs,
        );
        report_substitutions(&mut report, &file, &subs, !env_names.is_empty());
        let mut src = Src::new(&file, &base, &mut report);
        let base_t = service::map(&mut src, kind, &to);
        src.finish();

        let mut per_env = Vec::new();
        for ((e, t), orig) in envs.iter().zip(&origs) {
            let over = overrides.get(orig).cloned().unwrap_or(Value::Null);
            let region = t.get("region").and_then(leaf_str).unwrap_or_default();
            let account = t.get("account").and_then(leaf_str).unwrap_or_default();
            let vs = vars(
                app_raw,
                Some(orig),
                Some(raw_name),
                Some((&region, &account)),
            );
            let merged = substitute(&merge(&base_doc, &over), &vs, &mut Vec::new());
            let over = substitute(&over, &vs, &mut Vec::new());
            let mut src = Src::new(&file, &merged, &mut report).for_env(orig, &over);
            let t = service::map(&mut src, kind, &to);
            src.finish();
            per_env.push((e.clone(), t));
        }
        if per_env.is_empty() {
            per_env.push((String::new(), base_t));
        }
        // Addons: stores bound to this workload.
        let addon_dir = cop.join(dir).join("addons");
        let mut bound = Vec::new();
        for (afile, adoc) in addon_templates(&addon_dir)? {
            let rel = format!("copilot/{dir}/addons/{afile}");
            let mut src = Src::new(&rel, &adoc, &mut report);
            for store in addons::map(&mut src, &adoc) {
                let mut n = store.name.clone();
                if data.iter().any(|(d, _)| *d == n) {
                    n = crate::name(&format!("{name}-{n}"), 48);
                }
                bound.push(n.clone());
                data.push((n, store.table));
            }
            src.finish();
        }
        if !bound.is_empty() {
            for (_, t) in &mut per_env {
                t.set("data", bound.clone());
            }
        }
        mapped.push(Mapped {
            kind,
            name,
            file,
            per_env,
        });
    }

    // Environment addons: stores no workload is bound to yet.
    for (afile, adoc) in addon_templates(&cop.join("environments").join("addons"))? {
        let rel = format!("copilot/environments/addons/{afile}");
        let mut src = Src::new(&rel, &adoc, &mut report);
        let stores = addons::map(&mut src, &adoc);
        src.finish();
        for store in stores {
            report.push(Entry {
                file: rel.clone(),
                key: format!("Resources ({})", store.name),
                outcome: Outcome::Changed,
                to: Some(format!("data.{}", store.name)),
                reason: "an environment addon is bound to no service: add it to data = [...] of the services that use it".into(),
            });
            data.push((store.name, store.table));
        }
    }

    wire_internal(&mut mapped, &mut report);
    for ((e, t), orig) in envs.iter_mut().zip(&origs) {
        let hosts: Vec<String> = mapped
            .iter()
            .filter_map(|m| m.per_env.iter().find(|(n, _)| n == e))
            .filter_map(|(_, t)| match t.get("routing") {
                Some(V::Table(r)) => match r.get("hosts") {
                    Some(V::Leaf(crate::doc::Leaf::List(h))) => h.first().and_then(|h| match h {
                        crate::doc::Leaf::Str(s) => Some(s.clone()),
                        _ => None,
                    }),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        env::domain_for_certificate(e, orig, t, &hosts, &mut report);
    }

    let header = vec![
        format!("Imported by `wharf import copilot` from the Copilot application `{app_raw}`."),
        "The report on standard error says what became of every key, and why.".to_owned(),
        "Rehearse it here with `wharf deploy --env local`; `wharf plan --env ENV` shows an AWS environment.".to_owned(),
    ];
    let workloads: Vec<Workload> = mapped
        .iter()
        .map(|m| Workload {
            section: if m.kind == Kind::Job {
                "jobs"
            } else {
                "services"
            },
            name: m.name.clone(),
            per_env: m.per_env.clone(),
        })
        .collect();
    let manifest = assemble::render(&header, &app, &envs, &workloads, &data);
    Ok(Imported {
        app,
        environments: envs.iter().map(|(e, _)| e.clone()).collect(),
        services: mapped
            .iter()
            .filter(|m| m.kind != Kind::Job)
            .map(|m| m.name.clone())
            .collect(),
        jobs: mapped
            .iter()
            .filter(|m| m.kind == Kind::Job)
            .map(|m| m.name.clone())
            .collect(),
        data: data.iter().map(|(d, _)| d.clone()).collect(),
        manifest,
        report,
    })
}

/// Copilot let every service reach every Backend Service (service discovery, Service Connect);
/// wharf admits callers by `talks_to`: every service calls every internal one, each internal
/// service on its own listener port.
fn wire_internal(mapped: &mut [Mapped], report: &mut Report) {
    let mut used = BTreeSet::new();
    let mut internal = Vec::new();
    for m in mapped.iter_mut().filter(|m| m.kind == Kind::Backend) {
        let is_internal = m
            .per_env
            .iter()
            .any(|(_, t)| t.get("internal") == Some(&V::from(true)));
        if !is_internal {
            continue;
        }
        let port = m
            .per_env
            .first()
            .and_then(|(_, t)| t.get("port"))
            .and_then(|v| match v {
                V::Leaf(crate::doc::Leaf::Int(p)) => Some(*p),
                _ => None,
            });
        let mut p = port.unwrap_or(8080);
        while used.contains(&p) {
            p += 1;
        }
        used.insert(p);
        if Some(p) != port {
            for (_, t) in &mut m.per_env {
                t.set("internal_port", p);
            }
            report.push(Entry {
                file: m.file.clone(),
                key: "image.port (listener)".into(),
                outcome: Outcome::Changed,
                to: Some(format!("services.{}.internal_port", m.name)),
                reason: format!("each internal service has its own listener port: {} is taken, so callers reach this one on {p} (its URL variable says so)", port.unwrap_or(8080)),
            });
        }
        internal.push(m.name.clone());
    }
    if internal.is_empty() {
        return;
    }
    for m in mapped.iter_mut().filter(|m| m.kind != Kind::Job) {
        let callees: Vec<String> = internal.iter().filter(|n| **n != m.name).cloned().collect();
        if callees.is_empty() {
            continue;
        }
        for (_, t) in &mut m.per_env {
            t.set("talks_to", callees.clone());
        }
        let urls: Vec<String> = callees
            .iter()
            .map(|c| format!("{}_URL", c.to_ascii_uppercase().replace('-', "_")))
            .collect();
        report.push(Entry {
            file: m.file.clone(),
            key: "(service discovery)".into(),
            outcome: Outcome::Changed,
            to: Some(format!("services.{}.talks_to", m.name)),
            reason: format!(
                "Copilot let every service call the Backend Services by name; wharf admits only the callers listed, so this lists them all — trim it to the ones it calls. The URLs are in {}",
                urls.join(", ")
            ),
        });
    }
}

fn leaf_str(v: &V) -> Option<String> {
    match v {
        V::Leaf(crate::doc::Leaf::Str(s)) => Some(s.clone()),
        _ => None,
    }
}

fn environment_manifests(cop: &Path) -> Result<BTreeMap<String, Value>, ImportError> {
    let mut out = BTreeMap::new();
    for dir in subdirs(&cop.join("environments"))? {
        let path = cop.join("environments").join(&dir).join("manifest.yml");
        if path.is_file() {
            out.insert(dir, yaml::load(&path)?);
        }
    }
    Ok(out)
}

fn workload_manifests(cop: &Path) -> Result<Vec<(String, Value)>, ImportError> {
    let mut out = Vec::new();
    for dir in subdirs(cop)? {
        if dir == "environments" || dir == "pipelines" || dir.starts_with('.') {
            continue;
        }
        let path = cop.join(&dir).join("manifest.yml");
        if path.is_file() {
            out.push((dir, yaml::load(&path)?));
        }
    }
    Ok(out)
}

/// Addon templates in a directory (`addons.parameters.yml` is their parameters, not a template).
fn addon_templates(dir: &Path) -> Result<Vec<(String, Value)>, ImportError> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    let mut files: Vec<String> = rd
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| {
            (f.ends_with(".yml") || f.ends_with(".yaml") || f.ends_with(".json"))
                && !f.starts_with("addons.parameters.")
        })
        .collect();
    files.sort();
    for f in files {
        let doc = yaml::load(&dir.join(&f))?;
        out.push((f, doc));
    }
    Ok(out)
}

fn subdirs(dir: &Path) -> Result<Vec<String>, ImportError> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut out: Vec<String> = rd
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    Ok(out)
}

/// The variables Copilot fills in manifests.
fn vars(
    app: &str,
    env: Option<&str>,
    workload: Option<&str>,
    aws: Option<(&str, &str)>,
) -> Vec<(&'static str, String)> {
    let mut v = vec![("COPILOT_APPLICATION_NAME", app.to_owned())];
    if let Some(e) = env {
        v.push(("COPILOT_ENVIRONMENT_NAME", e.to_owned()));
    }
    if let Some(w) = workload {
        v.push(("COPILOT_SERVICE_NAME", w.to_owned()));
    }
    if let Some((region, account)) = aws {
        v.push(("AWS_REGION", region.to_owned()));
        v.push(("AWS_ACCOUNT_ID", account.to_owned()));
    }
    v
}

/// A `${NAME}` found: where, which, and whether it was filled in.
struct Sub {
    path: String,
    var: String,
    filled: bool,
}

/// Fills `${NAME}` in every string from `vars`; others are left as written and recorded.
fn substitute(v: &Value, vars: &[(&'static str, String)], found: &mut Vec<Sub>) -> Value {
    crate::source::expand(v, ("${", "}"), "", &mut |path, name| {
        let value = vars
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone());
        found.push(Sub {
            path: path.to_owned(),
            var: name.to_owned(),
            filled: value.is_some(),
        });
        value
    })
}

fn report_substitutions(report: &mut Report, file: &str, subs: &[Sub], have_envs: bool) {
    for s in subs {
        let per_env = s.var == "COPILOT_ENVIRONMENT_NAME"
            || s.var == "AWS_REGION"
            || s.var == "AWS_ACCOUNT_ID";
        let (outcome, reason) = if s.filled || (per_env && have_envs) {
            (Outcome::Mapped, "filled in for each environment".to_owned())
        } else if per_env {
            (
                Outcome::Changed,
                "no environment to fill it in for: written as it stands".to_owned(),
            )
        } else {
            (
                Outcome::Changed,
                format!("Copilot filled ${{{}}} from the shell when it deployed; wharf does not: replace it with the value (written as it stands)", s.var),
            )
        };
        report.push(Entry {
            file: file.to_owned(),
            key: format!("{} (${{{}}})", s.path, s.var),
            outcome,
            to: None,
            reason,
        });
    }
}
