//! Claims vs measured: the figure a claim's `verify` command measured on this machine, and
//! when, kept in `<state dir>/measured.json` so the last measurement shows next time.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cluster::rundir::{state_dir, utc_stamp};

/// One measurement of one claim.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// The figure as shown beside the claim ("linearizable, 0 acknowledged writes lost over … operations").
    pub figure: String,
    /// Whether the command succeeded.
    pub ok: bool,
    /// When, `YYYYMMDD-HHMMSS` UTC.
    pub date: String,
    /// The command that measured it.
    pub command: String,
}

/// The key of a claim: `project#index`.
pub fn claim_key(project: &str, index: usize) -> String {
    format!("{project}#{index}")
}

/// The measurements file.
pub fn store_path() -> PathBuf {
    state_dir().join("measured.json")
}

/// Every stored measurement (empty when there is none or the file is unreadable).
pub fn load() -> BTreeMap<String, Measurement> {
    load_from(&store_path())
}

/// Every measurement stored in `path`.
pub fn load_from(path: &std::path::Path) -> BTreeMap<String, Measurement> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Stores one measurement (read, update, write to a temp file, rename).
pub fn save(key: &str, m: &Measurement) -> std::io::Result<()> {
    save_to(&store_path(), key, m)
}

/// Stores one measurement in `path`.
pub fn save_to(path: &std::path::Path, key: &str, m: &Measurement) -> std::io::Result<()> {
    let mut all = load_from(path);
    all.insert(key.to_string(), m.clone());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(&all).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, path)
}

/// Turns a verify command's output into a measurement: the last line that parses as a JSON
/// object gives `metric`; otherwise the exit status speaks.
pub fn measurement_from_output(
    command: &str,
    metric: Option<&str>,
    status: i32,
    output: &str,
    now_secs: u64,
) -> Measurement {
    let json = output.lines().rev().find_map(|l| {
        serde_json::from_str::<Value>(l.trim())
            .ok()
            .filter(Value::is_object)
    });
    let figure = match (metric, &json) {
        (Some(metrics), Some(j)) => sentence(metrics, j),
        _ if status == 0 => "passed".to_string(),
        _ => format!("failed (exit {status})"),
    };
    Measurement {
        figure,
        ok: status == 0,
        date: utc_stamp(now_secs),
        command: command.to_string(),
    }
}

fn num(v: &Value) -> String {
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 || f >= 100.0 => format!("{}", f.round() as i64),
        Some(f) => format!("{f:.2}"),
        None => v.to_string(),
    }
}

/// One metric of a run's JSON, in words.
fn phrase(key: &str, v: &Value) -> String {
    match (key, v) {
        ("linearizable", Value::Bool(true)) => "linearizable".into(),
        ("linearizable", Value::Bool(false)) => "NOT linearizable".into(),
        ("lost_acknowledged_writes", v) => format!("{} acknowledged writes lost", num(v)),
        ("nodes_rejoined", v) => format!(
            "{} nodes caught up with the leader on their own after the kills",
            num(v)
        ),
        ("rps", v) => format!("{} requests/s", num(v)),
        ("p99_ms", v) => format!("p99 {} ms", num(v)),
        ("mb_per_s", v) => format!("{} MB/s", num(v)),
        ("peak_rss_kb", Value::Object(m)) => {
            let each: Vec<String> = m
                .iter()
                .map(|(who, kb)| format!("{who} {} KiB", num(kb)))
                .collect();
            format!("peak RSS {}", each.join(", "))
        }
        (k, Value::String(s)) => format!("{}: {s}", k.replace('_', " ")),
        (k, v) => format!("{}: {}", k.replace('_', " "), num(v)),
    }
}

/// The metrics of a run as a sentence with its conditions when the output has them (a chaos
/// run's operations and faults): "linearizable over 451,888 operations with 6 kills, …".
pub fn sentence(metrics: &str, j: &Value) -> String {
    let words: Vec<String> = metrics
        .split_whitespace()
        .map(|m| match j.get(m) {
            Some(v) => phrase(m, v),
            None => format!("{}: not in the output", m.replace('_', " ")),
        })
        .collect();
    let mut text = words.join(", ");
    if let Some(ops) = j.get("ops").and_then(Value::as_u64) {
        let faults = j
            .get("faults")
            .and_then(Value::as_object)
            .map(|f| {
                f.iter()
                    .map(|(k, n)| {
                        format!(
                            "{} {k}{}",
                            num(n),
                            if n.as_u64() == Some(1) { "" } else { "s" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        text.push_str(&format!(" over {ops} operations"));
        if !faults.is_empty() {
            text.push_str(&format!(" with {faults}"));
        }
    }
    if let Some(d) = j.get("duration_s").and_then(Value::as_f64) {
        text.push_str(&format!(" in {} s", num(&Value::from(d))));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metric_comes_from_the_last_json_line() {
        let out = "chaos: starting\n{\"linearizable\":true,\"lost_acknowledged_writes\":0}\n";
        let m = measurement_from_output("raft chaos", Some("linearizable"), 0, out, 0);
        assert_eq!(m.figure, "linearizable");
        assert!(m.ok);
        assert_eq!(m.date, "19700101-000000");
        let out = "{\"rps\":61277.0,\"p99_ms\":1.83,\"peak_rss_kb\":{\"leecher-1\":7100}}\n";
        let m = measurement_from_output("forge bench", Some("rps p99_ms peak_rss_kb"), 0, out, 0);
        assert_eq!(
            m.figure,
            "61277 requests/s, p99 1.83 ms, peak RSS leecher-1 7100 KiB"
        );
        let out = r#"{"linearizable":true,"lost_acknowledged_writes":0,"ops":4518,"faults":{"kill":6,"pause":1}}"#;
        let m = measurement_from_output(
            "c",
            Some("linearizable lost_acknowledged_writes"),
            0,
            out,
            0,
        );
        assert_eq!(
            m.figure,
            "linearizable, 0 acknowledged writes lost over 4518 operations with 6 kills, 1 pause"
        );
        let m = measurement_from_output("x", Some("linearizable"), 2, "boom", 0);
        assert_eq!(m.figure, "failed (exit 2)");
    }

    #[test]
    fn measurements_round_trip_through_the_state_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("wirelab/measured.json");
        let m = measurement_from_output("c", Some("k"), 0, "{\"k\":3}", 0);
        save_to(&path, &claim_key("raft-kv", 0), &m).expect("save");
        assert_eq!(load_from(&path).get("raft-kv#0"), Some(&m));
    }
}
