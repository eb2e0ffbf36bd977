//! `wharf ci github` as a user runs it in a repository: the workflow's structure (triggers,
//! jobs, permissions, environments, concurrency, the pinned version), each deploy job's OIDC
//! subject matching the trust of the deploy role `wharf render` shows, no overwrite unasked,
//! a clear error without `[ci.github]`, and actionlint where it is installed.

use yaml_rust2::{Yaml, YamlLoader};

use wharf_testkit::{tool, TestDir};

use crate::wharf;

const MANIFEST: &str = r#"
[app]
name = "pulse"

[environments.local]
target = "local"

[environments.test]
target = "aws"
region = "eu-central-1"
account = "123456789012"

[environments.staging]
target = "aws"
region = "eu-central-1"
account = "123456789012"

[environments.prod]
target = "aws"
region = "eu-west-1"
account = "210987654321"
prod = true

[services.web]
image = "public.ecr.aws/pulse/web:1"
port = 8000

[ci.github]
repository = "acme/pulse"
branch = "release"
"#;

fn repo() -> TestDir {
    let d = TestDir::new();
    std::fs::create_dir(d.join(".git")).expect("a repository");
    std::fs::create_dir(d.join("app")).expect("mkdir");
    d.write("app/wharf.toml", MANIFEST);
    d
}

fn written(d: &TestDir) -> Yaml {
    let text = d.read(".github/workflows/wharf.yml");
    YamlLoader::load_from_str(&text).expect("YAML").remove(0)
}

fn strs(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        Yaml::String(s) => vec![s.clone()],
        _ => vec![],
    }
}

fn runs(job: &Yaml) -> Vec<String> {
    job["steps"]
        .as_vec()
        .expect("steps")
        .iter()
        .filter_map(|s| s["run"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_workflow_checks_pull_requests_and_deploys_environment_after_environment() {
    let d = repo();
    wharf()
        .args(["ci", "github"])
        .current_dir(d.join("app"))
        .run()
        .success()
        .contains("wrote")
        .contains("GitHub environments staging, prod with required reviewers");
    let w = written(&d);
    let on = &w["on"];
    assert!(
        !on["pull_request"].is_badvalue(),
        "pull requests trigger it"
    );
    assert_eq!(strs(&on["push"]["branches"]), ["release"]);
    assert_eq!(w["permissions"]["contents"].as_str(), Some("read"));
    assert!(
        w["permissions"]["id-token"].is_badvalue(),
        "no OIDC token for the whole workflow"
    );
    assert_eq!(
        w["env"]["WHARF_VERSION"].as_str(),
        Some(env!("CARGO_PKG_VERSION")),
        "wharf pinned"
    );
    assert_eq!(
        w["env"]["WHARF_MANIFEST"].as_str(),
        Some("app/wharf.toml"),
        "from the repository's root"
    );

    let jobs = w["jobs"].as_hash().expect("jobs");
    let names: Vec<&str> = jobs.keys().filter_map(Yaml::as_str).collect();
    assert_eq!(
        names,
        ["check", "deploy-test", "deploy-staging", "deploy-prod"],
        "prod last by default"
    );
    let check = &w["jobs"]["check"];
    assert_eq!(
        check["if"].as_str(),
        Some("github.event_name == 'pull_request'")
    );
    assert!(check["permissions"].is_badvalue() && check["environment"].is_badvalue());
    let r = runs(check);
    assert!(r.contains(&"wharf validate".to_owned()), "{r:?}");
    for e in ["test", "staging", "prod"] {
        assert!(r.contains(&format!("wharf plan --env {e}")), "{r:?}");
    }
    assert!(
        !r.iter().any(|c| c.starts_with("wharf deploy")),
        "pull requests never deploy"
    );

    let mut prev: Option<&str> = None;
    for (e, region, account) in [
        ("test", "eu-central-1", "123456789012"),
        ("staging", "eu-central-1", "123456789012"),
        ("prod", "eu-west-1", "210987654321"),
    ] {
        let job = &w["jobs"][format!("deploy-{e}").as_str()];
        assert_eq!(
            job["if"].as_str(),
            Some("github.event_name != 'pull_request' && github.ref == 'refs/heads/release'")
        );
        assert_eq!(
            job["permissions"]["id-token"].as_str(),
            Some("write"),
            "{e}: OIDC"
        );
        assert_eq!(job["permissions"]["contents"].as_str(), Some("read"));
        assert_eq!(
            job["concurrency"]["group"].as_str(),
            Some(format!("wharf-pulse-{e}").as_str())
        );
        assert_eq!(
            job["concurrency"]["cancel-in-progress"].as_bool(),
            Some(false),
            "a deploy is never cancelled half-way"
        );
        assert_eq!(
            job["needs"].as_str(),
            prev.map(|p| format!("deploy-{p}")).as_deref()
        );
        assert_eq!(
            job["environment"].as_str(),
            if prev.is_some() { Some(e) } else { None },
            "later ones wait in their GitHub environment"
        );
        let creds = job["steps"]
            .as_vec()
            .expect("steps")
            .iter()
            .find(|s| {
                s["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("aws-actions/configure-aws-credentials@"))
            })
            .expect("credentials step");
        assert_eq!(
            creds["with"]["role-to-assume"].as_str(),
            Some(format!("arn:aws:iam::{account}:role/pulse-{e}-deploy").as_str())
        );
        assert_eq!(creds["with"]["aws-region"].as_str(), Some(region));
        assert!(
            creds["with"]["aws-access-key-id"].is_badvalue(),
            "no long-lived keys"
        );
        assert!(runs(job).contains(&format!("wharf deploy --env {e} --yes")));
        // The token's subject for this job is what the deploy role trusts.
        let sub = match job["environment"].as_str() {
            Some(env) => format!("repo:acme/pulse:environment:{env}"),
            None => "repo:acme/pulse:ref:refs/heads/release".to_owned(),
        };
        let out = wharf()
            .args([
                "render", "--env", e, "--stack", "baseline", "--format", "json",
            ])
            .current_dir(d.join("app"))
            .run()
            .success();
        let t: serde_json::Value = serde_json::from_str(&out.stdout).expect("template");
        let trust =
            &t["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
        assert_eq!(
            trust["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"], sub,
            "{e}"
        );
        prev = Some(e);
    }
}

#[test]
fn an_existing_workflow_is_kept_and_no_ci_section_says_what_to_add() {
    let d = repo();
    d.write(".github/workflows/wharf.yml", "# mine\n");
    wharf()
        .args(["ci", "github"])
        .current_dir(d.join("app"))
        .run()
        .code(1)
        .contains("already exists")
        .contains("--force");
    assert_eq!(d.read(".github/workflows/wharf.yml"), "# mine\n");
    wharf()
        .args(["ci", "github", "--force"])
        .current_dir(d.join("app"))
        .run()
        .success();
    assert!(d
        .read(".github/workflows/wharf.yml")
        .contains("deploy-prod"));
    let out = wharf()
        .args(["ci", "github", "--stdout"])
        .current_dir(d.join("app"))
        .run()
        .success();
    assert!(
        out.stdout.starts_with("# Written by `wharf ci github`"),
        "{out}"
    );

    let bare = TestDir::new();
    bare.write(
        "wharf.toml",
        MANIFEST.split("[ci.github]").next().expect("head"),
    );
    wharf()
        .args(["ci", "github"])
        .current_dir(bare.path())
        .run()
        .code(2)
        .contains("no [ci.github]")
        .contains("repository = ");
    assert!(!bare.join(".github").exists());
}

/// actionlint (from PyPI, as `scripts/tools install` gets it) finds nothing: syntax, expressions,
/// job dependencies, the actions' inputs and runtimes (an action on a retired runtime fails it).
#[test]
fn the_workflow_passes_actionlint() {
    let d = repo();
    wharf()
        .args(["ci", "github"])
        .current_dir(d.join("app"))
        .run()
        .success();
    let out = wharf_testkit::Cmd::new(tool("actionlint"))
        .arg(".github/workflows/wharf.yml")
        .current_dir(d.path())
        .run();
    assert_eq!(out.code, Some(0), "actionlint found problems:\n{out}");
}

/// The README's walkthrough: its `[ci.github]` block is what the workflow is written from, and
/// its commands are these (`up` on moto is `aws_ci`'s test).
#[test]
fn the_readme_walkthrough_runs_as_written() {
    let readme =
        std::fs::read_to_string(wharf_testkit::workspace_root().join("README.md")).expect("README");
    let section = readme
        .split("## Deploying from GitHub Actions")
        .nth(1)
        .expect("the section");
    let toml = section
        .split("```toml\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("the [ci.github] block");
    let block = crate::readme::block_after("ci-walkthrough");
    let cmds: Vec<Vec<&str>> = block
        .lines()
        .map(|l| {
            l.split('#')
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
        })
        .filter(|w| !w.is_empty())
        .collect();
    assert_eq!(cmds[0], ["wharf", "ci", "github"]);
    let d = TestDir::new();
    std::fs::create_dir(d.join(".git")).expect("a repository");
    d.write(
        "wharf.toml",
        format!(
            "{}\n{toml}",
            MANIFEST.split("[ci.github]").next().expect("head")
        ),
    );
    wharf()
        .args(&cmds[0][1..])
        .current_dir(d.path())
        .run()
        .success();
    assert!(d
        .read(".github/workflows/wharf.yml")
        .contains("deploy-prod"));
    for c in &cmds[1..] {
        assert_eq!(&c[..3], ["wharf", "up", "--env"], "{c:?}");
        wharf()
            .args(["plan", "--env", c[3]])
            .current_dir(d.path())
            .run()
            .success()
            .contains(&format!("pulse-{}-deploy", c[3]))
            .contains("token.actions.githubusercontent.com");
    }
}
