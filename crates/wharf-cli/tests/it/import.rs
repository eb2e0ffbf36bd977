//! `wharf import` as a user runs it: on a copy of a Copilot workspace and of ecspresso configs,
//! the written manifest passes `wharf validate` and `wharf plan`; nothing is overwritten
//! unasked; missing facts and Jsonnet get an error with the fix; the README's walkthroughs run
//! as written.

use std::path::Path;

use wharf_testkit::{workspace_root, TestDir};

use crate::{no_panic, wharf};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read fixture").flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy");
        }
    }
}

fn fixture(name: &str) -> TestDir {
    let d = TestDir::new();
    copy_dir(
        &workspace_root()
            .join("crates/wharf-import/tests/fixtures")
            .join(name),
        d.path(),
    );
    d
}

#[test]
fn a_copilot_workspace_becomes_a_manifest_that_validates_and_plans() {
    let d = fixture("copilot");
    let out = wharf()
        .args([
            "import",
            "copilot",
            "--account",
            "111111111111",
            "--account",
            "prod=222222222222",
            "--region",
            "us-east-2",
        ])
        .current_dir(d.path())
        .run()
        .success()
        .contains("wrote wharf.toml: app pulse, environments local, prod, test")
        .contains(
            "services api, auth, frontend, orders-worker; jobs report; data db, orders, uploads",
        );
    assert!(
        out.stderr.contains("not mapped network.vpc.id"),
        "the report on stderr: {out}"
    );
    assert!(
        out.stderr.contains("mapped, ") && out.stderr.contains(" not mapped\n"),
        "{out}"
    );
    no_panic(&out);
    wharf()
        .arg("validate")
        .current_dir(d.path())
        .run()
        .success()
        .contains("is valid");
    wharf()
        .args(["plan", "--env", "test"])
        .current_dir(d.path())
        .run()
        .success()
        .contains("service frontend");
    wharf()
        .args(["plan", "--env", "local"])
        .current_dir(d.path())
        .run()
        .success();

    // Never overwritten unasked: the file stays as it was.
    let before = d.read("wharf.toml");
    std::fs::write(d.join("wharf.toml"), format!("{before}\n# my edit\n")).expect("edit");
    wharf()
        .args([
            "import",
            "copilot",
            "--account",
            "111111111111",
            "--region",
            "us-east-2",
        ])
        .current_dir(d.path())
        .run()
        .code(1)
        .contains("already exists")
        .contains("--force");
    assert!(d.read("wharf.toml").ends_with("# my edit\n"));
    wharf()
        .args([
            "import",
            "copilot",
            "--account",
            "111111111111",
            "--region",
            "us-east-2",
            "--force",
        ])
        .current_dir(d.path())
        .run()
        .success();
    assert!(!d.read("wharf.toml").contains("# my edit"));
}

#[test]
fn json_output_carries_the_report() {
    let d = fixture("copilot");
    let out = wharf()
        .args([
            "import",
            "copilot",
            "--account",
            "111111111111",
            "--region",
            "us-east-2",
            "--out",
            "imported.toml",
            "--output",
            "json",
        ])
        .current_dir(d.path())
        .run()
        .success();
    let v = out.json();
    assert_eq!(v["valid"], true);
    assert_eq!(v["manifest"], "imported.toml");
    let entries = v["report"]["entries"].as_array().expect("entries");
    assert!(entries.iter().any(|e| e["key"] == "subscribe"
        && e["outcome"] == "not-mapped"
        && e["reason"].as_str().is_some_and(|r| !r.is_empty())));
    wharf()
        .args(["validate", "-f", "imported.toml"])
        .current_dir(d.path())
        .run()
        .success();
}

#[test]
fn missing_facts_and_wrong_directories_say_how_to_fix_them() {
    let d = fixture("copilot");
    wharf()
        .args(["import", "copilot", "--region", "us-east-2"])
        .current_dir(d.path())
        .run()
        .code(2)
        .contains("no account for environment `prod`")
        .contains("--account");
    wharf()
        .args([
            "import",
            "copilot",
            "--account",
            "12345",
            "--region",
            "us-east-2",
        ])
        .current_dir(d.path())
        .run()
        .code(2)
        .contains("not a valid --account");
    let empty = TestDir::new();
    wharf()
        .args(["import", "copilot"])
        .current_dir(empty.path())
        .run()
        .code(2)
        .contains("not a Copilot workspace");
    assert!(
        !d.join("wharf.toml").exists() && !empty.join("wharf.toml").exists(),
        "nothing written"
    );
}

#[test]
fn ecspresso_configs_import_and_jsonnet_asks_to_be_rendered() {
    let d = fixture("ecspresso");
    wharf()
        .args([
            "import",
            "ecspresso",
            "json/ecspresso.yml",
            "--as-env",
            "prod",
        ])
        .current_dir(d.path())
        .run()
        .success()
        .contains(
            "wrote json/wharf.toml: app myservice, environments local, prod; services myservice",
        );
    wharf()
        .args(["validate", "-f", "json/wharf.toml"])
        .current_dir(d.path())
        .run()
        .success();
    wharf()
        .args(["plan", "-f", "json/wharf.toml", "--env", "prod"])
        .current_dir(d.path())
        .run()
        .success();
    wharf()
        .args(["import", "ecspresso", "jsonnet/ecspresso.yml"])
        .current_dir(d.path())
        .run()
        .code(1)
        .contains("Jsonnet")
        .contains("ecspresso render taskdef");
}

/// The code block after `<!-- MARKER -->` in the README, one command per line.
fn walkthrough(marker: &str) -> Vec<Vec<String>> {
    let block = crate::readme::block_after(marker);
    block
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| l.starts_with("wharf "))
        .map(|l| l.split_whitespace().skip(1).map(str::to_owned).collect())
        .collect()
}

#[test]
fn the_readme_walkthroughs_run_as_written() {
    for (marker, name) in [
        ("copilot-walkthrough", "copilot"),
        ("ecspresso-walkthrough", "ecspresso/json"),
    ] {
        let d = fixture(name);
        let cmds = walkthrough(marker);
        assert!(cmds.len() >= 3, "{marker}: {cmds:?}");
        for args in cmds {
            let out = wharf().args(&args).current_dir(d.path()).run();
            assert_eq!(
                out.code,
                Some(0),
                "{marker}: wharf {}\n{out}",
                args.join(" ")
            );
        }
    }
}
