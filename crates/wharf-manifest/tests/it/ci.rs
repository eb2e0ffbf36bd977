//! `[ci.github]`: the repository, branch and environment order the workflow and the deploy roles
//! follow, with each mistake reported and its fix.

use crate::parse;

const ENVS: &str = "[app]\nname = \"pulse\"\n\n[environments.local]\ntarget = \"local\"\n\n[environments.prod]\ntarget = \"aws\"\nregion = \"eu-west-1\"\naccount = \"123456789012\"\nprod = true\n\n[environments.test]\ntarget = \"aws\"\nregion = \"eu-west-1\"\naccount = \"123456789012\"\n\n[environments.staging]\ntarget = \"aws\"\nregion = \"eu-west-1\"\naccount = \"123456789012\"\n\n[services.web]\nimage = \"x:1\"\nport = 8000\n";

fn errors(ci: &str) -> Vec<String> {
    let (_, problems) = parse(&format!("{ENVS}\n{ci}"));
    problems
        .errors()
        .map(|p| format!("{} | {}", p.message, p.help.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn defaults_are_the_main_branch_and_the_aws_environments_in_order_prod_last() {
    let (m, problems) = parse(&format!(
        "{ENVS}\n[ci.github]\nrepository = \"acme/pulse\"\n"
    ));
    assert!(!problems.has_errors(), "{problems}");
    let ci = m.expect("manifest").ci.expect("ci");
    assert_eq!(ci.repository, "acme/pulse");
    assert_eq!(ci.branch, "main");
    assert_eq!(
        ci.environments,
        ["test", "staging", "prod"],
        "the file's order, prod last, no local"
    );
    let (m, _) = parse(&format!("{ENVS}\n[ci.github]\nrepository = \"acme/pulse\"\nbranch = \"release\"\nenvironments = [\"staging\", \"prod\"]\n"));
    let ci = m.expect("manifest").ci.expect("ci");
    assert_eq!(
        (ci.branch.as_str(), ci.environments.clone()),
        ("release", vec!["staging".to_owned(), "prod".to_owned()])
    );
}

#[test]
fn mistakes_are_reported_with_the_fix() {
    let e = errors("[ci.github]\nrepository = \"pulse\"\n");
    assert!(
        e.iter()
            .any(|x| x.contains("`pulse` is not a GitHub repository")),
        "{e:?}"
    );
    let e =
        errors("[ci.github]\nrepository = \"acme/pulse\"\nenvironments = [\"local\", \"qa\"]\n");
    assert!(
        e.iter()
            .any(|x| x.contains("`local` is a local environment")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|x| x.contains("no environment `qa`") && x.contains("prod, staging, test")),
        "{e:?}"
    );
    let e = errors("[ci.github]\nrepository = \"acme/pulse\"\nbranch = \"a b\"\n");
    assert!(e.iter().any(|x| x.contains("not a branch name")), "{e:?}");
    let e = errors("[ci]\n");
    assert!(e.iter().any(|x| x.contains("github")), "{e:?}");
    let e = errors("[ci.github]\nrepository = \"acme/pulse\"\nrepo = \"x\"\n");
    assert!(!e.is_empty(), "unknown keys are refused");
}
