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
    /// The figure as shown beside the claim (`linearizable = true`).
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
        (Some(metrics), Some(j)) => metrics
            .split_whitespace()
            .map(|m| match j.get(m) {
                Some(Value::String(s)) => format!("{m} = {s}"),
                Some(v) => format!("{m} = {v}"),
                None => format!("{m}: not in the output"),
            })
            .collect::<Vec<_>>()
            .join(", "),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metric_comes_from_the_last_json_line() {
        let out = "chaos: starting\n{\"linearizable\":true,\"lost_acknowledged_writes\":0}\n";
        let m = measurement_from_output("raft chaos", Some("linearizable"), 0, out, 0);
        assert_eq!(m.figure, "linearizable = true");
        assert!(m.ok);
        assert_eq!(m.date, "19700101-000000");
        let out = "{\"rps\":61277.0,\"p99_ms\":1.83,\"peak_rss_kb\":{\"leecher-1\":7100}}\n";
        let m = measurement_from_output("forge bench", Some("rps p99_ms peak_rss_kb"), 0, out, 0);
        assert_eq!(
            m.figure,
            "rps = 61277.0, p99_ms = 1.83, peak_rss_kb = {\"leecher-1\":7100}"
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
