//! The README's commands are the ones that work: its main command runs as written (with the
//! built binary standing in for `cargo run`), and its test command is what CI calls.

use wharf_testkit::workspace_root;

use crate::wharf;

/// The command in the code block after `<!-- marker -->`.
fn command_after(marker: &str) -> String {
    block_after(marker).trim().to_owned()
}

/// The text of the `sh` code block after `<!-- marker -->` in the README.
pub fn block_after(marker: &str) -> String {
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
    block.to_owned()
}

#[test]
fn the_main_command_runs_as_written() {
    let cmd = command_after("main-command");
    let args = cmd
        .strip_prefix("cargo run -q -p wharf-cli --no-default-features -- ")
        .unwrap_or_else(|| panic!("unexpected main command: {cmd}"));
    let args: Vec<&str> = args.split_whitespace().collect();
    assert_eq!(
        args,
        [
            "deploy",
            "-f",
            "examples/hello/wharf.toml",
            "--env",
            "local"
        ],
        "the README deploys the example locally"
    );
    // The same command on a copy of the example moved to a free port (8080 may be taken here).
    let d = wharf_testkit::TestDir::new();
    let hello = workspace_root().join("examples/hello");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let manifest = std::fs::read_to_string(hello.join("wharf.toml"))
        .expect("example")
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
        .replace(
            "context = \".\"",
            &format!("context = \"{}\"", hello.display()),
        )
        .replace(
            "pre_build = \"./build-static.sh\"",
            &format!("pre_build = \"{}/build-static.sh\"", hello.display()),
        )
        .replace(
            "name = \"hello\"",
            &format!("name = \"readme{}\"", std::process::id() % 100_000),
        );
    d.write("wharf.toml", manifest);
    std::fs::copy(hello.join("local.secrets"), d.join("local.secrets")).expect("secrets");
    let out = wharf()
        .args(["deploy", "-f", "wharf.toml", "--env", "local"])
        .current_dir(d.path())
        .run();
    let _ = wharf()
        .args(["down", "-f", "wharf.toml", "--env", "local"])
        .current_dir(d.path())
        .run();
    let out = out.success();
    assert!(
        out.stdout
            .contains(&format!("open http://127.0.0.1:{port}/")),
        "{out}"
    );
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
    for code in 0..=7 {
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
