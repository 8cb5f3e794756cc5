//! `wirelab check` from the command line: exit codes, formats, JSON, bad input.

use std::path::Path;
use std::process::Command;

fn check(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_wirelab"))
        .arg("check")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const JEPSEN: &str = "tests/data/linearizability/test_data/jepsen";

#[test]
fn verdicts_map_to_exit_codes() {
    // etcd_002 is linearizable, etcd_000 is not (etcd-verdicts.txt).
    let (code, out, _) = check(&[&format!("{JEPSEN}/etcd_002.log"), "--format", "jepsen"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("linearizable"), "{out}");
    let (code, out, _) = check(&[
        &format!("{JEPSEN}/etcd_000.log"),
        "--format",
        "jepsen",
        "--json",
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"], "not_linearizable");
    assert!(v["violation"]["stuck"].is_object(), "{out}");
}

#[test]
fn bad_input_is_a_clear_error_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"client\":1,\"kind\":\"invoke\",\"op\":\"put\",\"key\":\"k\"}\nnot json\n",
    )
    .unwrap();
    let (code, _, err) = check(&[bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("line"), "{err}");
    let (code, _, err) = check(&["/nonexistent/history.jsonl"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/history.jsonl"), "{err}");
    assert!(!Path::new("/nonexistent").exists());
    let (code, _, _) = check(&["x", "--format", "yaml"]);
    assert_eq!(code, 2);
}

#[test]
fn a_file_of_which_no_operation_parses_is_an_error_never_a_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let edn = dir.path().join("kv.edn");
    std::fs::write(
        &edn,
        "{:process 0, :type :invoke, :f :append, :key \"0\", :value \"x 0 0 y\"}\n\
         {:process 0, :type :ok, :f :append, :key \"0\", :value \"x 0 0 y\"}\n",
    )
    .unwrap();
    // Right format: a verdict.
    let (code, out, err) = check(&[edn.to_str().unwrap(), "--format", "edn"]);
    assert_eq!(code, 0, "{out}{err}");
    // Wrong format: not one operation parses. An error, never "linearizable".
    let (code, out, err) = check(&[edn.to_str().unwrap(), "--format", "jepsen"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.is_empty(), "no verdict: {out}");
    assert!(
        err.contains("no operations found: is the format right?"),
        "{err}"
    );
    // An empty file is still an (empty, linearizable) history.
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "\n").unwrap();
    let (code, out, _) = check(&[empty.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
}
