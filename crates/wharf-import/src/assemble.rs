//! The written manifest: `[app]`, a local environment to rehearse in, the AWS environments with
//! their overrides, then services, jobs and data — each workload's shared settings in its own
//! section and what differs per environment in `[environments.ENV.services.NAME]`.

use crate::doc::{common, minus, Doc, Tbl};

/// A service or job as each environment sees it.
pub struct Workload {
    /// `services` or `jobs`.
    pub section: &'static str,
    pub name: String,
    /// Its table per environment, in the environments' order; one entry named "" when the
    /// source has no environments.
    pub per_env: Vec<(String, Tbl)>,
}

/// Keys a workload's own section must hold to be valid without any override (the local
/// environment sees it so): taken from the first environment when every environment sets one
/// but they differ (an environment without the key would inherit it, so then it stays out).
const REQUIRED: &[&str] = &[
    "port",
    "build",
    "image",
    "service",
    "public",
    "internal",
    "internal_port",
];

/// The manifest's text.
pub fn render(
    header: &[String],
    app: &str,
    envs: &[(String, Tbl)],
    workloads: &[Workload],
    data: &[(String, Tbl)],
) -> String {
    let mut doc = Doc {
        header: header.to_vec(),
        sections: Vec::new(),
    };
    let mut a = Tbl::default();
    a.set("name", app);
    doc.sections.push(("app".into(), a));
    let mut local = Tbl::default();
    local.set("target", "local");
    // A source environment may be called `local` already: the rehearsal one then gets another name.
    let local_name = if envs.iter().any(|(e, _)| e == "local") {
        "rehearsal"
    } else {
        "local"
    };
    doc.sections
        .push((format!("environments.{local_name}"), local));

    let mut bases = Vec::new();
    let mut overrides: Vec<(String, String, Tbl)> = Vec::new();
    for w in workloads {
        let tables: Vec<&Tbl> = w.per_env.iter().map(|(_, t)| t).collect();
        let mut base = common(&tables);
        if let Some(first) = tables.first() {
            for k in REQUIRED {
                if base.get(k).is_none() && tables.iter().all(|t| t.get(k).is_some()) {
                    if let Some(v) = first.get(k) {
                        base.set(k, v.clone());
                    }
                }
            }
        }
        base.prune();
        for (env, t) in &w.per_env {
            let mut o = minus(t, &base);
            o.prune();
            if !env.is_empty() && !o.is_empty() {
                overrides.push((
                    env.clone(),
                    format!("{}.{}", w.section, crate::doc::key(&w.name)),
                    o,
                ));
            }
        }
        bases.push((format!("{}.{}", w.section, crate::doc::key(&w.name)), base));
    }
    for (env, t) in envs {
        doc.sections
            .push((format!("environments.{env}"), t.clone()));
        for (e, path, o) in &overrides {
            if e == env {
                doc.sections
                    .push((format!("environments.{env}.{path}"), o.clone()));
            }
        }
    }
    doc.sections.extend(bases);
    for (name, t) in data {
        doc.sections
            .push((format!("data.{}", crate::doc::key(name)), t.clone()));
    }
    doc.render()
}
