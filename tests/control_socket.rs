//! The control socket under hostile input (issue 11, item 8): a request line over the limit is
//! refused whole and discarded up to its newline, so nothing hidden in its tail runs; fault
//! rules out of range are refused. Raw bytes on the run dir's Unix socket, against a real lab.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;

fn wirelab(state: &Path, args: &[&str]) -> std::process::Output {
    Command::new(common::wirelab())
        .args(args)
        .env("XDG_STATE_HOME", state)
        .env("WIRELAB_TEST_LABS", "pingpong")
        .output()
        .expect("run wirelab")
}

/// Stops the lab when the test ends, passed or not.
struct Lab<'a>(&'a Path, String);

impl Drop for Lab<'_> {
    fn drop(&mut self) {
        let _ = wirelab(self.0, &["pingpong", "stop", "--run-dir", &self.1]);
    }
}

fn exchange(conn: &mut UnixStream, reader: &mut impl BufRead, line: &[u8]) -> serde_json::Value {
    conn.write_all(line).expect("write");
    let mut answer = String::new();
    reader.read_line(&mut answer).expect("read");
    serde_json::from_str(&answer).expect("a JSON answer")
}

#[test]
fn an_oversized_request_line_is_refused_whole_and_its_tail_never_runs() {
    let state = tempfile::tempdir().expect("tempdir");
    let run = state.path().join("run");
    let run_s = run.to_str().expect("utf-8").to_string();
    let up = wirelab(
        state.path(),
        &["pingpong", "up", "--detach", "--run-dir", &run_s],
    );
    assert!(up.status.success(), "{up:?}");
    let _lab = Lab(state.path(), run_s.clone());

    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(run.join("control.sock"))
            .expect("the socket")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "only the run's owner may connect");
    }
    let mut conn = UnixStream::connect(run.join("control.sock")).expect("connect");
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    // A status request padded past the limit, with a partition hidden in its tail.
    let mut line = br#"{"op":"status"}"#.to_vec();
    line.extend(std::iter::repeat_n(
        b' ',
        wirelab::cluster::control::MAX_REQUEST_LINE,
    ));
    line.extend_from_slice(br#"{"op":"partition","nodes":[1]}"#);
    line.push(b'\n');
    let v = exchange(&mut conn, &mut reader, &line);
    assert_eq!(v["ok"], false, "{v}");
    assert!(
        v["error"].as_str().unwrap_or("").contains("discarded"),
        "{v}"
    );
    // The connection goes on, and nothing was cut off.
    let v = exchange(&mut conn, &mut reader, b"{\"op\":\"status\"}\n");
    assert_eq!(v["ok"], true, "{v}");
    for n in v["nodes"].as_array().expect("nodes") {
        assert_eq!(n["faults"]["cut"], serde_json::json!([]), "{n}");
    }

    // Fault rules out of range are refused.
    for rules in [
        r#"{"drop_rate":5.0}"#,
        r#"{"drop_rate":-1.0}"#,
        r#"{"delay_ms":86400000}"#,
    ] {
        let req = format!("{{\"op\":\"faults\",\"node\":1,\"rules\":{rules}}}\n");
        let v = exchange(&mut conn, &mut reader, req.as_bytes());
        assert_eq!(v["ok"], false, "{rules}: {v}");
    }
    let v = exchange(
        &mut conn,
        &mut reader,
        b"{\"op\":\"faults\",\"node\":1,\"rules\":{\"drop_rate\":0.5}}\n",
    );
    assert_eq!(v["ok"], true, "an in-range rule is taken: {v}");
}
