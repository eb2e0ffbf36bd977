//! The fuzz corpus replayed on stable: every input the fuzzers kept (and every crash they
//! found, once fixed) goes through its target again on each CI run.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("an entry").path();
        let data = std::fs::read(&path).expect("an input");
        run(&data);
        n += 1;
    }
    assert!(n > 0, "no corpus in {}", dir.display());
}

#[test]
fn the_manifest_corpus_reads() {
    replay("manifest", wharf_fuzz::manifest);
}

#[test]
fn the_control_corpus_reads() {
    replay("control", wharf_fuzz::control);
}

#[test]
fn the_request_corpus_routes() {
    replay("request", wharf_fuzz::request);
}
