//! The README's commands are the ones that work: its main command runs as written (with the
//! built binary standing in for `cargo run`), and its test command is what CI calls.

use wharf_testkit::workspace_root;

use crate::wharf;

/// The command in the code block after `<!-- marker -->`.
fn command_after(marker: &str) -> String {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    let after = readme
        .split(&format!("<!-- {marker} -->"))
        .nth(1)
        .unwrap_or_else(|| panic!("README has no {marker} marker"));
    let block = after
        .split("```sh\n")
        .nth(1)
        .expect("a sh block")
        .split("```")
        .next()
        .expect("closed");
    block.trim().to_owned()
}

#[test]
fn the_main_command_runs_as_written() {
    let cmd = command_after("main-command");
    let args = cmd
        .strip_prefix("cargo run -q -p wharf-cli -- ")
        .unwrap_or_else(|| panic!("unexpected main command: {cmd}"));
    let out = wharf()
        .args(args.split_whitespace())
        .current_dir(workspace_root())
        .run()
        .success();
    assert!(out.stdout.contains("Plan for hello / test"), "{out}");
}

#[test]
fn the_test_command_is_what_ci_runs() {
    let cmd = command_after("test-command");
    let ci = std::fs::read_to_string(workspace_root().join(".ci/run")).expect(".ci/run");
    assert!(
        ci.contains(&format!("exec {cmd}")),
        ".ci/run must call the README's test command `{cmd}`"
    );
}

#[test]
fn the_exit_codes_table_matches_the_binary() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    let help = wharf().arg("--help").run().success().stdout;
    for (code, _) in [
        (0, "success"),
        (1, "failure"),
        (2, "usage"),
        (3, "invalid manifest"),
        (4, "manifest not found"),
    ] {
        assert!(
            readme.contains(&format!("| {code} |")),
            "README lacks exit code {code}"
        );
        assert!(
            help.contains(&format!("{code} ")),
            "--help lacks exit code {code}"
        );
    }
}
