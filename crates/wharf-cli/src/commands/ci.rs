//! `wharf ci github`: writes `.github/workflows/wharf.yml` (at the repository's root, found by
//! its `.git`) from `[ci.github]`. Pull requests get `wharf validate` and `wharf plan` for every
//! listed environment — offline, no AWS access. Pushes to the branch deploy the first
//! environment, then each later one after the previous, in the GitHub environment of its name
//! (required reviewers there hold it), each through OIDC with the environment's deploy role
//! (made by `wharf up`), one run per environment at a time, wharf pinned to this version.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use wharf_manifest::{GitHubCi, Manifest, TargetSettings};

use crate::cli::{CiGithubArgs, Global};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::Printer;

/// Where the workflow is, relative to the repository's root.
pub const WORKFLOW: &str = ".github/workflows/wharf.yml";

/// What `wharf ci github` wrote.
#[derive(Debug, Serialize)]
pub struct Written {
    pub workflow: PathBuf,
    pub repository: String,
    pub branch: String,
    pub environments: Vec<Deploys>,
}

/// One environment the workflow deploys.
#[derive(Debug, Serialize)]
pub struct Deploys {
    pub environment: String,
    pub role: String,
    /// Deployed in the GitHub environment of its name (where reviewers approve).
    pub gated: bool,
}

impl fmt::Display for Written {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "wrote {}", self.workflow.display())?;
        writeln!(f, "\nnext:")?;
        let envs: Vec<&str> = self
            .environments
            .iter()
            .map(|d| d.environment.as_str())
            .collect();
        writeln!(
            f,
            "  1. wharf up --env ENV, for {} (as an administrator): makes each deploy role and GitHub's OIDC provider",
            envs.join(", ")
        )?;
        let gated: Vec<&Deploys> = self.environments.iter().filter(|d| d.gated).collect();
        let last = if gated.is_empty() { 2 } else { 3 };
        if !gated.is_empty() {
            writeln!(f, "  2. in {}'s settings, create the GitHub environment{} {} with required reviewers and deployment branch {}:", self.repository, if gated.len() == 1 { "" } else { "s" }, gated.iter().map(|d| d.environment.as_str()).collect::<Vec<_>>().join(", "), self.branch)?;
            for d in gated {
                writeln!(f, "       gh api -X PUT repos/{}/environments/{} -F 'reviewers[][type]=User' -F \"reviewers[][id]=$(gh api user -q .id)\" -F 'deployment_branch_policy[protected_branches]=false' -F 'deployment_branch_policy[custom_branch_policies]=true'", self.repository, d.environment)?;
                writeln!(f, "       gh api -X POST repos/{}/environments/{}/deployment-branch-policies -f name={}", self.repository, d.environment, self.branch)?;
            }
        }
        writeln!(
            f,
            "  {}. commit {} and push to {}",
            last,
            self.workflow.display(),
            self.branch
        )
    }
}

pub fn github(
    global: &Global,
    printer: &Printer,
    args: &CiGithubArgs,
) -> Result<ExitStatus, CliError> {
    let loaded = super::load(global, printer)?;
    let m = &loaded.manifest;
    let ci = m.ci.as_ref().ok_or(CliError::NoCi)?;
    let manifest = std::fs::canonicalize(&loaded.path).unwrap_or_else(|_| loaded.path.clone());
    let dir = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
    let root = dir
        .ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(&dir)
        .to_path_buf();
    let rel = manifest
        .strip_prefix(&root)
        .unwrap_or(&manifest)
        .to_string_lossy()
        .replace('\\', "/");
    let text = workflow(m, ci, &rel);
    if args.stdout {
        print!("{text}");
        return Ok(ExitStatus::Success);
    }
    let path = root.join(WORKFLOW);
    if path.exists() && !(args.force || global.yes) {
        return Err(CliError::AlreadyExists { path });
    }
    let write = |p: &Path, r: std::io::Result<()>| {
        r.map_err(|source| CliError::Write {
            path: p.to_path_buf(),
            source,
        })
    };
    let parent = path.parent().unwrap_or(&root);
    write(parent, std::fs::create_dir_all(parent))?;
    write(&path, std::fs::write(&path, &text))?;
    printer.result(&Written {
        workflow: path,
        repository: ci.repository.clone(),
        branch: ci.branch.clone(),
        environments: ci
            .environments
            .iter()
            .enumerate()
            .map(|(i, e)| Deploys {
                environment: e.clone(),
                role: role_arn(m, e),
                gated: i > 0,
            })
            .collect(),
    })?;
    Ok(ExitStatus::Success)
}

fn role_arn(m: &Manifest, env: &str) -> String {
    let account = match m.environments.get(env).map(|e| &e.target) {
        Some(TargetSettings::Aws(a)) => a.account.clone(),
        _ => String::new(),
    };
    format!(
        "arn:aws:iam::{account}:role/{}",
        GitHubCi::role_name(&m.app.name, env)
    )
}

/// A YAML single-quoted scalar.
fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The workflow's text; `manifest` is the manifest's path from the repository's root.
pub fn workflow(m: &Manifest, ci: &GitHubCi, manifest: &str) -> String {
    let version = env!("CARGO_PKG_VERSION");
    let repo_url = env!("CARGO_PKG_REPOSITORY");
    let app = &m.app.name;
    let branch = &ci.branch;
    let first = ci
        .environments
        .first()
        .map(String::as_str)
        .unwrap_or_default();
    let later: Vec<&str> = ci.environments.iter().skip(1).map(String::as_str).collect();
    let mut y = String::new();
    let mut line = |s: &str| {
        y.push_str(s);
        y.push('\n');
    };
    line(&format!("# Written by `wharf ci github` from {manifest} ([ci.github]); write it again (--force) after"));
    line("# changing that section or the environments. Pull requests: validate and plan, offline.");
    if later.is_empty() {
        line(&format!(
            "# Pushes to {branch}: deploy {first} with its deploy role (made by `wharf up`)."
        ));
    } else {
        line(&format!(
            "# Pushes to {branch}: deploy {first}, then {}, each of those in the GitHub environment of its",
            later.join(", then ")
        ));
        line("# name, where required reviewers approve; each with its own deploy role (made by `wharf up`).");
    }
    line("name: wharf");
    line("");
    line("on:");
    line("  pull_request:");
    line("  push:");
    line(&format!("    branches: [{}]", q(branch)));
    line("  workflow_dispatch:");
    line("");
    line("permissions:");
    line("  contents: read");
    line("");
    line("env:");
    line(&format!("  WHARF_VERSION: {}", q(version)));
    line(&format!("  WHARF_MANIFEST: {}", q(manifest)));
    line("");
    line("jobs:");
    line("  check:");
    line("    name: validate and plan");
    line("    if: github.event_name == 'pull_request'");
    line("    runs-on: ubuntu-latest");
    line("    timeout-minutes: 30");
    line("    steps:");
    line("      - uses: actions/checkout@v5");
    install(&mut line, repo_url);
    line("      - name: Validate");
    line("        run: wharf validate");
    for e in &ci.environments {
        line(&format!("      - name: Plan {e}"));
        line(&format!("        run: wharf plan --env {e}"));
    }
    let mut prev: Option<&str> = None;
    for (i, e) in ci.environments.iter().enumerate() {
        let aws = match m.environments.get(e).map(|x| &x.target) {
            Some(TargetSettings::Aws(a)) => a,
            _ => continue,
        };
        line("");
        line(&format!("  deploy-{e}:"));
        line(&format!("    name: deploy {e}"));
        line(&format!(
            "    if: github.event_name != 'pull_request' && github.ref == {}",
            q(&format!("refs/heads/{branch}"))
        ));
        if let Some(p) = prev {
            line(&format!("    needs: deploy-{p}"));
        }
        line("    runs-on: ubuntu-latest");
        line("    timeout-minutes: 120");
        if i > 0 {
            line(&format!("    environment: {e}"));
        }
        line("    permissions:");
        line("      contents: read");
        line("      id-token: write");
        line("    concurrency:");
        line(&format!("      group: wharf-{app}-{e}"));
        line("      cancel-in-progress: false");
        line("    steps:");
        line("      - uses: actions/checkout@v5");
        install(&mut line, repo_url);
        line("      - uses: aws-actions/configure-aws-credentials@v6");
        line("        with:");
        line(&format!("          role-to-assume: {}", role_arn(m, e)));
        line(&format!("          aws-region: {}", aws.region));
        line(&format!(
            "          role-session-name: wharf-{e}-${{{{ github.run_id }}}}"
        ));
        line("          role-duration-seconds: 7200");
        line(&format!("      - name: Deploy {e}"));
        line(&format!("        run: wharf deploy --env {e} --yes"));
        prev = Some(e);
    }
    y
}

/// wharf at the pinned version, built once per runner OS and version and cached.
fn install(line: &mut impl FnMut(&str), repo_url: &str) {
    line("      - name: Cache wharf");
    line("        id: wharf-cache");
    line("        uses: actions/cache@v5");
    line("        with:");
    line("          path: ~/.cargo/bin/wharf");
    line("          key: wharf-${{ runner.os }}-${{ env.WHARF_VERSION }}");
    line("      - name: Install wharf");
    line("        if: steps.wharf-cache.outputs.cache-hit != 'true'");
    line(&format!("        run: cargo install --locked --git {repo_url} --tag \"v${{WHARF_VERSION}}\" wharf-cli"));
}
