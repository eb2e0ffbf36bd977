//! cfn-lint (zero errors, zero warnings) and checkov (zero failed checks; every skip written in
//! the resource's Metadata with a justification) on every template of the matrix.

use std::collections::BTreeSet;

use wharf_testkit::{tool, Cmd, TestDir};

use crate::matrix::all_stacks;

/// Writes every template, in both formats, and returns their paths.
fn write_all(dir: &TestDir, json_only: bool) -> Vec<String> {
    let mut files = Vec::new();
    for (name, s) in all_stacks() {
        files.push(
            dir.write(format!("{name}.json"), s.template.to_json())
                .display()
                .to_string(),
        );
        if !json_only {
            files.push(
                dir.write(format!("{name}.yaml"), s.template.to_yaml())
                    .display()
                    .to_string(),
            );
        }
    }
    files
}

#[test]
fn every_template_passes_cfn_lint_without_errors_or_warnings() {
    let dir = TestDir::new();
    let files = write_all(&dir, false);
    assert!(
        files.len() >= 30,
        "the matrix renders {} templates",
        files.len()
    );
    let out = Cmd::new(tool("cfn-lint"))
        .args(["--format", "json", "--"])
        .args(&files)
        .run();
    let findings: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("cfn-lint JSON: {e}\n{out}"));
    let bad: Vec<String> = findings
        .as_array()
        .expect("a list")
        .iter()
        .filter(|f| f["Level"] == "Error" || f["Level"] == "Warning")
        .map(|f| {
            format!(
                "{} {} {}:{}",
                f["Rule"]["Id"], f["Message"], f["Filename"], f["Location"]["Start"]["LineNumber"]
            )
        })
        .collect();
    assert!(bad.is_empty(), "cfn-lint found:\n{}", bad.join("\n"));
}

#[test]
fn every_template_passes_checkov_with_only_justified_skips() {
    let dir = TestDir::new();
    let files = write_all(&dir, true);
    let out = Cmd::new(tool("checkov"))
        .env("BC_SKIP_MAPPING", "TRUE")
        .args([
            "--framework",
            "cloudformation",
            "--skip-download",
            "-o",
            "json",
            "-d",
        ])
        .arg(dir.path())
        .run();
    let start = out
        .stdout
        .find(['{', '['])
        .unwrap_or_else(|| panic!("no checkov JSON\n{out}"));
    let report: serde_json::Value = serde_json::from_str(&out.stdout[start..])
        .unwrap_or_else(|e| panic!("checkov JSON: {e}\n{out}"));
    let results = if report.is_array() {
        report[0]["results"].clone()
    } else {
        report["results"].clone()
    };
    let failed: Vec<String> = results["failed_checks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            format!(
                "{} {} on {} in {}",
                c["check_id"], c["check_name"], c["resource"], c["file_path"]
            )
        })
        .collect();
    assert!(
        failed.is_empty(),
        "checkov failed checks (fix them, or skip with a justification in Metadata):\n{}",
        failed.join("\n")
    );
    let passed = results["passed_checks"].as_array().map_or(0, Vec::len);
    assert!(
        passed > 300,
        "checkov ran too few checks ({passed}): {} files",
        files.len()
    );
    let mut skipped = BTreeSet::new();
    for c in results["skipped_checks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let comment = c["check_result"]["suppress_comment"]
            .as_str()
            .unwrap_or_default();
        assert!(
            comment.len() > 20,
            "skip of {} on {} has no real justification: {comment:?}",
            c["check_id"],
            c["resource"]
        );
        skipped.insert(c["check_id"].as_str().unwrap_or_default().to_owned());
    }
    // The short list of accepted skips. A new one must be added here on purpose.
    let allowed: BTreeSet<&str> = [
        "CKV2_AWS_11",
        "CKV2_AWS_12",
        "CKV_AWS_130",
        "CKV_AWS_158",
        "CKV_AWS_91",
        "CKV_AWS_150",
        "CKV2_AWS_28",
        "CKV2_AWS_20",
        "CKV_AWS_2",
        "CKV_AWS_103",
        "CKV_AWS_260",
        "CKV_AWS_382",
        "CKV_AWS_18",
        "CKV_AWS_145",
        "CKV2_AWS_62",
        "CKV_AWS_136",
        "CKV_AWS_119",
        "CKV_AWS_28",
        "CKV_AWS_354",
        "CKV_AWS_157",
        "CKV_AWS_293",
        "CKV_AWS_149",
        "CKV2_AWS_57",
        "CKV_AWS_191",
        "CKV_AWS_21",
        "CKV2_AWS_31",
        "CKV_AWS_86",
        "CKV_AWS_310",
        "CKV_AWS_305",
    ]
    .into_iter()
    .collect();
    let unlisted: Vec<&String> = skipped
        .iter()
        .filter(|s| !allowed.contains(s.as_str()))
        .collect();
    assert!(
        unlisted.is_empty(),
        "skips not on the accepted list: {unlisted:?}"
    );
}
