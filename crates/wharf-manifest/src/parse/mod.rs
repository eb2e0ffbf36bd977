//! From TOML text to a [`Manifest`]: syntax, then each section, then the per-environment view of
//! services, data and jobs with overrides merged, then the cross-section checks.

mod ci;
mod data;
mod deploy;
mod env;
mod environment;
mod health;
mod job;
mod names;
mod notify;
mod routing;
mod service;

use std::collections::BTreeMap;
use std::path::Path;

use toml::de::{DeTable, DeValue};

use crate::diag::{Problem, Problems, Rule};
use crate::model::{App, Data, Environment, Job, Manifest, Service};
use crate::reader::{merge, Cx, Node, Tbl};
use crate::validate;

pub(crate) use names::check_name;

/// Parses and validates `source`. Returns the manifest when there is no error (warnings may
/// remain), and every problem found either way.
pub fn parse(source: &str, file: &str, root: &Path) -> (Option<Manifest>, Problems) {
    let (doc, errors) = DeTable::parse_recoverable(source);
    if !errors.is_empty() {
        let problems = errors
            .iter()
            .map(|e| {
                let span = e.span().unwrap_or(0..0);
                Problem::error(
                    Rule::TomlSyntax,
                    span,
                    "",
                    format!("invalid TOML: {}", first_line(e.message())),
                )
            })
            .collect();
        return (None, Problems::new(file, source, problems));
    }
    let mut cx = Cx::default();
    let manifest = read_manifest(&mut cx, doc.get_ref(), doc.span(), root);
    let problems = Problems::new(file, source, cx.problems);
    if problems.has_errors() {
        (None, problems)
    } else {
        (manifest, problems)
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

/// The raw tables of a section (`services`, `data`, `jobs`) by name, with their key spans.
type Section<'a, 'i> = Vec<(String, std::ops::Range<usize>, Node<'a, 'i>)>;

fn read_manifest(
    cx: &mut Cx,
    doc: &DeTable<'_>,
    span: std::ops::Range<usize>,
    root: &Path,
) -> Option<Manifest> {
    let mut top = Tbl::new(doc, span.start..span.start, String::new());

    let app = top
        .req(cx, "app", "an [app] table with a name")
        .and_then(|n| read_app(cx, &n));
    let env_node = top.get(cx, "environments");
    let svc_node = top.get(cx, "services");
    let data_node = top.get(cx, "data");
    let job_node = top.get(cx, "jobs");
    let notify = top.get(cx, "notify").and_then(|n| notify::read(cx, &n));
    let ci_node = top.get(cx, "ci");
    top.finish(cx);

    let services_raw = section(cx, svc_node.as_ref());
    let data_raw = section(cx, data_node.as_ref());
    let jobs_raw = section(cx, job_node.as_ref());

    cx.data_names = data_raw.iter().map(|(name, _, _)| name.clone()).collect();
    let data: BTreeMap<String, Data> = read_all(cx, &data_raw, "data", data::read);
    let services: BTreeMap<String, Service> = read_all(cx, &services_raw, "service", service::read);
    let jobs: BTreeMap<String, Job> = read_all(cx, &jobs_raw, "job", job::read);

    let mut environments = BTreeMap::new();
    if env_node.is_none() {
        cx.push(
            Problem::error(
                Rule::MissingKey,
                0..0,
                "environments",
                "the manifest has no environment",
            )
            .help("add one, e.g. [environments.local] with target = \"local\""),
        );
    }
    let env_sections = section(cx, env_node.as_ref());
    let env_order: Vec<String> = env_sections.iter().map(|(n, _, _)| n.clone()).collect();
    for (name, key_span, node) in env_sections {
        check_name(cx, &name, key_span.clone(), &node.path, "environment", 12);
        let Some(mut t) = cx.table(&node) else {
            continue;
        };
        let target = environment::read(cx, &mut t, &name);
        let sections = Overrides::read(cx, &mut t);
        t.finish(cx);
        let env_services = resolve(
            cx,
            &name,
            &services_raw,
            &services,
            sections.services.as_ref(),
            "services",
            service::read,
        );
        let env_data = resolve(
            cx,
            &name,
            &data_raw,
            &data,
            sections.data.as_ref(),
            "data",
            data::read,
        );
        let env_jobs = resolve(
            cx,
            &name,
            &jobs_raw,
            &jobs,
            sections.jobs.as_ref(),
            "jobs",
            job::read,
        );
        let Some(target) = target else { continue };
        environments.insert(
            name.clone(),
            Environment {
                name,
                target,
                services: env_services,
                data: env_data,
                jobs: env_jobs,
            },
        );
    }

    let ci = ci_node.and_then(|n| ci::read(cx, &n, &environments, &env_order));
    let mut manifest = Manifest {
        app: app?,
        environments,
        services,
        data,
        jobs,
        notify,
        ci,
        root: root.to_path_buf(),
        file: root.join(crate::MANIFEST_FILE),
    };
    validate::check(cx, &mut manifest);
    Some(manifest)
}

fn read_app(cx: &mut Cx, node: &Node<'_, '_>) -> Option<App> {
    let mut t = cx.table(node)?;
    let name = t.req(cx, "name", "the app's name, e.g. \"pulse\"");
    t.finish(cx);
    let name_node = name?;
    let name = cx.string(&name_node)?;
    check_name(
        cx,
        &name,
        name_node.span.clone(),
        &name_node.path,
        "app",
        16,
    );
    Some(App { name })
}

fn section<'a, 'i>(cx: &mut Cx, node: Option<&Node<'a, 'i>>) -> Section<'a, 'i> {
    let Some(node) = node else { return Vec::new() };
    let Some(mut t) = cx.table(node) else {
        return Vec::new();
    };
    let mut entries = t.entries();
    entries.sort_by_key(|(_, span, _)| span.start);
    for (_, span, n) in &entries {
        cx.record(&n.path, span.clone());
    }
    entries
}

type Reader<T> = fn(&mut Cx, &str, &Node<'_, '_>) -> Option<T>;

fn read_all<T>(
    cx: &mut Cx,
    raw: &Section<'_, '_>,
    what: &str,
    read: Reader<T>,
) -> BTreeMap<String, T> {
    let mut out = BTreeMap::new();
    for (name, key_span, node) in raw {
        let max = if what == "service" { 16 } else { 24 };
        check_name(cx, name, key_span.clone(), &node.path, what, max);
        if let Some(v) = read(cx, name, node) {
            out.insert(name.clone(), v);
        }
    }
    out
}

/// `[environments.E.services|data|jobs.NAME]` tables.
struct Overrides<'a, 'i> {
    services: Option<Node<'a, 'i>>,
    data: Option<Node<'a, 'i>>,
    jobs: Option<Node<'a, 'i>>,
}

impl<'a, 'i> Overrides<'a, 'i> {
    fn read(cx: &mut Cx, t: &mut Tbl<'a, 'i>) -> Self {
        Overrides {
            services: t.get(cx, "services"),
            data: t.get(cx, "data"),
            jobs: t.get(cx, "jobs"),
        }
    }
}

/// The environment's view of a section: each entry with the environment's override merged over
/// it, re-read so that override mistakes are reported at the override.
fn resolve<T: Clone>(
    cx: &mut Cx,
    env: &str,
    raw: &Section<'_, '_>,
    base: &BTreeMap<String, T>,
    overrides: Option<&Node<'_, '_>>,
    section_key: &str,
    read: Reader<T>,
) -> BTreeMap<String, T> {
    let mut out = base.clone();
    let Some(over) = overrides else { return out };
    let Some(DeValue::Table(over_t)) = Some(over.value) else {
        cx.table(over);
        return out;
    };
    for (k, v) in over_t.iter() {
        let name = k.get_ref().to_string();
        let Some((_, _, base_node)) = raw.iter().find(|(n, _, _)| *n == name) else {
            let known: Vec<&str> = raw.iter().map(|(n, _, _)| n.as_str()).collect();
            let mut p = Problem::error(
                Rule::UnknownOverride,
                k.span(),
                format!("environments.{env}.{section_key}.{name}"),
                format!("environment `{env}` overrides `{section_key}.{name}`, which the manifest does not define"),
            );
            if let Some(m) = crate::reader::did_you_mean(&name, known.iter().copied()) {
                p = p.help(format!("did you mean `{m}`?"));
            } else {
                p = p.help(format!(
                    "define [{section_key}.{name}] or remove the override"
                ));
            }
            cx.push(p);
            continue;
        };
        let (DeValue::Table(base_t), DeValue::Table(o)) = (base_node.value, v.get_ref()) else {
            if !v.get_ref().is_table() {
                cx.table(&Node {
                    value: v.get_ref(),
                    span: v.span(),
                    path: format!("{}.{name}", over.path),
                });
            }
            continue;
        };
        let mut merged = base_t.clone();
        merge(&mut merged, o);
        let value = DeValue::Table(merged);
        let node = Node {
            value: &value,
            span: v.span(),
            path: format!("environments.{env}.{section_key}.{name}"),
        };
        match read(cx, &name, &node) {
            Some(t) => {
                out.insert(name, t);
            }
            None => {
                out.remove(&name);
            }
        }
    }
    out
}
