//! `[ci.github]`: the repository allowed to deploy (its deploy roles trust only it), the branch
//! whose pushes deploy, and the AWS environments in order.

use std::collections::BTreeMap;

use crate::diag::{Problem, Rule};
use crate::model::{Environment, GitHubCi, TargetSettings};
use crate::reader::{Cx, Node};

/// `order` is the environments' order in the manifest, the default deployment order (prod
/// ones last).
pub(crate) fn read(
    cx: &mut Cx,
    node: &Node<'_, '_>,
    envs: &BTreeMap<String, Environment>,
    order: &[String],
) -> Option<GitHubCi> {
    let mut ci = cx.table(node)?;
    let gh = ci.req(cx, "github", "a [ci.github] table with the repository");
    ci.finish(cx);
    let mut t = cx.table(&gh?)?;
    let repo_node = t.req(cx, "repository", "the GitHub repository, \"owner/name\"");
    let branch = match t.get(cx, "branch") {
        Some(n) => {
            let b = cx.string(&n)?;
            if b.is_empty() || b.contains(char::is_whitespace) || b.contains('*') {
                cx.error(
                    Rule::InvalidValue,
                    n.span.clone(),
                    &n.path,
                    format!("`{b}` is not a branch name"),
                );
                return None;
            }
            b
        }
        None => "main".to_owned(),
    };
    let envs_node = t.get(cx, "environments");
    let header = t.header_span();
    let path = t.path.clone();
    t.finish(cx);
    let repo_node = repo_node?;
    let repository = cx.string(&repo_node)?;
    let ok_part = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    match repository.split_once('/') {
        Some((o, n)) if ok_part(o) && ok_part(n) => {}
        _ => {
            cx.push(
                Problem::error(
                    Rule::InvalidValue,
                    repo_node.span.clone(),
                    &repo_node.path,
                    format!("`{repository}` is not a GitHub repository"),
                )
                .expected("\"owner/name\", e.g. \"acme/pulse\""),
            );
            return None;
        }
    }
    let is_aws = |e: &Environment| matches!(e.target, TargetSettings::Aws(_));
    let environments = match envs_node {
        Some(n) => {
            let list = cx.string_list(&n)?;
            let mut out = Vec::new();
            for (name, span) in list {
                match envs.get(&name) {
                    Some(e) if is_aws(e) => out.push(name),
                    Some(_) => cx.push(
                        Problem::error(Rule::TargetMismatch, span, &n.path, format!("`{name}` is a local environment: GitHub Actions deploys AWS environments"))
                            .help("list only environments with target = \"aws\""),
                    ),
                    None => cx.push(
                        Problem::error(Rule::UnknownKey, span, &n.path, format!("no environment `{name}`"))
                            .help(format!("environments: {}", envs.keys().cloned().collect::<Vec<_>>().join(", "))),
                    ),
                }
            }
            out
        }
        None => {
            let prod = |e: &Environment| matches!(&e.target, TargetSettings::Aws(a) if a.prod);
            let mut v: Vec<&Environment> = order
                .iter()
                .filter_map(|n| envs.get(n))
                .filter(|e| is_aws(e))
                .collect();
            v.sort_by_key(|e| prod(e));
            v.into_iter().map(|e| e.name.clone()).collect()
        }
    };
    if environments.is_empty() {
        cx.push(
            Problem::error(Rule::MissingKey, header, &path, "`[ci.github]` has no AWS environment to deploy")
                .help("add an environment with target = \"aws\", or list them: environments = [\"test\", \"prod\"]"),
        );
        return None;
    }
    Some(GitHubCi {
        repository,
        branch,
        environments,
    })
}
