//! The command builder's failure message shows the command, the exit code and both streams.

use wharf_testkit::{Cmd, TestDir};

#[test]
fn failure_message_shows_command_and_streams() {
    let out = Cmd::new("sh")
        .args(["-c", "echo to-out; echo to-err >&2; exit 3"])
        .run();
    let msg =
        std::panic::catch_unwind(|| out.clone().success()).expect_err("exit 3 is not success");
    let msg = msg
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert!(msg.contains("sh -c"), "{msg}");
    assert!(msg.contains("exit code: Some(3)"), "{msg}");
    assert!(msg.contains("to-out") && msg.contains("to-err"), "{msg}");
}

#[test]
fn test_dirs_are_isolated_and_removed() {
    let path = {
        let d = TestDir::new();
        d.write("a/b.txt", "x");
        assert_eq!(d.read("a/b.txt"), "x");
        d.path().to_path_buf()
    };
    assert!(!path.exists(), "the temp dir is removed when the test ends");
}
