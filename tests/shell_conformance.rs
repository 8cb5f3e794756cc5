//! Differential conformance: every case in `tests/shell_cases/*.cases` runs under `/bin/dash`
//! and under `wirelab shell`; stdout, exit status and (unless the case says `nostderr`) stderr
//! must match. Both run with `$0` set to `wirelab`, so dash's messages carry the same prefix.

mod common;

use common::{Case, parse_cases, run_in, wirelab_c};

fn check_file(file: &str) {
    if !common::require_tool("dash") {
        return;
    }
    let path = format!("{}/tests/shell_cases/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let cases: Vec<Case> = parse_cases(&text);
    assert!(!cases.is_empty(), "{file} has no cases");
    let mut failures = Vec::new();
    for case in &cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let want = run_in(dir.path(), "dash", &["-c", &case.script, "wirelab"], None);
        let dir2 = tempfile::tempdir().expect("tempdir");
        let got = wirelab_c(dir2.path(), &case.script);
        let norm = |s: &str, d: &std::path::Path| s.replace(&d.display().to_string(), "<DIR>");
        let stderr_ok =
            !case.check_stderr || norm(&want.stderr, dir.path()) == norm(&got.stderr, dir2.path());
        if norm(&want.stdout, dir.path()) != norm(&got.stdout, dir2.path())
            || want.status != got.status
            || !stderr_ok
        {
            failures.push(format!(
                "--- {} ---\n{}\n  dash:    status {} stdout {:?} stderr {:?}\n  wirelab: status {} stdout {:?} stderr {:?}",
                case.name, case.script.trim_end(), want.status, want.stdout, want.stderr,
                got.status, got.stdout, got.stderr
            ));
        }
    }
    println!("{file}: {} cases, {} differ", cases.len(), failures.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from dash:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn quoting_matches_dash() {
    check_file("quoting.cases");
}

#[test]
fn parameter_expansion_and_field_splitting_match_dash() {
    check_file("params.cases");
}

#[test]
fn arithmetic_matches_dash() {
    check_file("arith.cases");
}

#[test]
fn control_flow_matches_dash() {
    check_file("control.cases");
}

#[test]
fn redirections_and_here_documents_match_dash() {
    check_file("redir.cases");
}

#[test]
fn builtins_match_dash() {
    check_file("builtins.cases");
}

#[test]
fn errors_and_statuses_match_dash() {
    check_file("errors.cases");
}

#[test]
fn pathname_expansion_matches_dash() {
    check_file("glob.cases");
}

#[test]
fn functions_loops_traps_builtins_and_redirections_match_dash() {
    check_file("more.cases");
}
