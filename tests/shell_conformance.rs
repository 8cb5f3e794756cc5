//! Differential conformance: every case in `tests/shell_cases/*.cases` runs under `/bin/dash`
//! and under `wirelab shell`; stdout, exit status and (unless the case says `nostderr`) stderr
//! must match. Both run with `$0` set to `wirelab`, so dash's messages carry the same prefix.

mod common;

use common::{Case, parse_cases, run_in};

/// How a case's script reaches the shell.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// `sh -c SCRIPT wirelab`
    Command,
    /// `sh script.sh` (the script written to a file in the case's directory)
    File,
    /// `sh -s < script.sh` (commands read from standard input)
    Stdin,
}

fn run_mode(shell: &[&str], dir: &std::path::Path, script: &str, mode: Mode) -> common::Outcome {
    let (prog, pre) = (shell[0], &shell[1..]);
    match mode {
        Mode::Command => {
            let mut args: Vec<&str> = pre.to_vec();
            args.extend(["-c", script, "wirelab"]);
            run_in(dir, prog, &args, None)
        }
        Mode::File => {
            let path = dir.join("case.sh");
            std::fs::write(&path, script).expect("write script");
            let mut args: Vec<&str> = pre.to_vec();
            args.push("case.sh");
            run_in(dir, prog, &args, None)
        }
        Mode::Stdin => {
            // dash names itself after argv[0]; call it "wirelab" so messages and $0 agree.
            let mut args: Vec<&str> = pre.to_vec();
            args.push("-s");
            common::run_in_as(dir, prog, Some("wirelab"), &args, Some(script))
        }
    }
}

fn check_file(file: &str) {
    check_file_in(file, Mode::Command);
}

fn check_file_in(file: &str, mode: Mode) {
    if !common::require_tool("dash") {
        return;
    }
    let path = format!("{}/tests/shell_cases/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let cases: Vec<Case> = parse_cases(&text);
    assert!(!cases.is_empty(), "{file} has no cases");
    let mut failures = Vec::new();
    for case in &cases {
        if let Some(why) = &case.differs {
            println!("not compared: {}: {why}", case.name);
            continue;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let want = run_mode(&["dash"], dir.path(), &case.script, mode);
        let dir2 = tempfile::tempdir().expect("tempdir");
        let got = run_mode(
            &[common::wirelab(), "shell"],
            dir2.path(),
            &case.script,
            mode,
        );
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
    println!(
        "{file} ({mode:?}): {} cases, {} differ",
        cases.len(),
        failures.len()
    );
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

#[test]
fn odd_syntax_and_syntax_errors_match_dash() {
    check_file("syntax.cases");
}

#[test]
fn edge_cases_match_dash() {
    check_file("edge.cases");
}

#[test]
fn assignments_declarations_and_aliases_match_dash() {
    check_file("words.cases");
}

#[test]
fn ulimit_exec_exit_and_times_match_dash() {
    check_file("process.cases");
}

#[test]
fn printf_matches_dash() {
    check_file("printf.cases");
}

#[test]
fn umask_matches_dash() {
    check_file("umask.cases");
}

#[test]
fn alias_and_unalias_match_dash() {
    check_file("aliases.cases");
}

#[test]
fn cd_and_pwd_match_dash() {
    check_file("cd.cases");
}

#[test]
fn command_type_and_time_match_dash() {
    check_file("command.cases");
}

#[test]
fn heredocs_loops_tilde_assignments_errexit_redirects_and_xtrace_match_dash() {
    check_file("misc.cases");
}

#[test]
fn ppid_local_and_set_o_round_trip_match_dash() {
    check_file("extras.cases");
}

/// Runs `prog ARGS` (argv[0] `wirelab`, so messages match) with HOME in a fresh directory.
fn invoke(prog: &str, pre: &[&str], args: &[&str], stdin: &str) -> common::Outcome {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(prog);
    cmd.arg0("wirelab")
        .args(pre)
        .args(args)
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("PWD", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    if let Some(mut sin) = child.stdin.take() {
        use std::io::Write;
        let _ = sin.write_all(stdin.as_bytes());
    }
    common::wait_with_deadline(child, std::time::Duration::from_secs(20))
}

#[test]
fn invocation_options_match_dash() {
    if !common::require_tool("dash") {
        return;
    }
    let cases: &[(&[&str], &str)] = &[
        (&["-c", "--", "echo dd $0 $1", "n", "a"], ""),
        (&["-c", "echo $0 $1", "--", "x"], ""),
        (&["-"], "echo from-stdin $#\n"),
        (&["--", "/dev/null", "a"], ""),
        (&["-s", "a", "b"], "echo $# $1 $2\n"),
        (&["-s", "--", "-a", "b"], "echo $# $1 $2\n"),
        (&["-ec", "false; echo no"], ""),
        (&["-ce", "false; echo no"], ""),
        (&["-e", "-c", "false; echo no"], ""),
        (&["+e", "-c", "echo $-"], ""),
        (&["-o", "errexit", "-c", "false; echo no"], ""),
        (&["-oo", "errexit", "noglob", "-c", "echo $-"], ""),
        (&["-o", "noglob", "-o", "nounset", "-c", "echo $-"], ""),
        (&["-o", "bogus", "-c", "echo hi"], ""),
        (&["-c"], ""),
        (&["-z", "-c", "echo hi"], ""),
        (&["+c", "echo hi"], "echo plus-c\n"),
        (&["-l", "-c", "echo login $-"], ""),
        (&["-i", "-c", "echo $-"], ""),
        (&["-c", "echo $-"], ""),
        (&["-s"], "echo $-\n"),
        (&["-eu", "-c", "echo $-"], ""),
        (&["-euxc", "echo hi"], ""),
        (&["-n", "-c", "echo should-not"], ""),
        (&["-v", "-c", "echo v"], ""),
        (&["-a", "-c", "x=1; env | grep ^x="], ""),
        (&["-f", "-c", "echo /*"], ""),
        (&["-s", "-c", "echo $1", "a", "b"], ""),
        (&["-cs", "echo cs $1", "zero", "one"], ""),
        (&["+x", "-x", "+x", "-c", "echo $-"], ""),
    ];
    let mut failures = Vec::new();
    for (args, stdin) in cases {
        let want = invoke("dash", &[], args, stdin);
        let got = invoke(common::wirelab(), &["shell"], args, stdin);
        if want != got {
            failures.push(format!("{args:?}\n  dash:    {want:?}\n  wirelab: {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} invocations differ from dash:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_case_matches_dash_when_run_as_a_script_file() {
    for f in CASE_FILES {
        check_file_in(f, Mode::File);
    }
}

#[test]
fn every_case_matches_dash_when_read_from_stdin() {
    for f in CASE_FILES {
        check_file_in(f, Mode::Stdin);
    }
}

const CASE_FILES: &[&str] = &[
    "quoting.cases",
    "params.cases",
    "arith.cases",
    "control.cases",
    "redir.cases",
    "builtins.cases",
    "errors.cases",
    "glob.cases",
    "more.cases",
    "edge.cases",
    "syntax.cases",
    "words.cases",
    "process.cases",
    "printf.cases",
    "umask.cases",
    "aliases.cases",
    "cd.cases",
    "command.cases",
    "extras.cases",
    "misc.cases",
];
