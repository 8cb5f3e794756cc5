//! Argument types and parsers every lab shares: where a run lives (`--run-dir`), durations
//! (`10s`, `250ms`), sizes (`64MiB`) and member lists (`1=ADDR,2=ADDR`).
//!
//! They live here, below the systems, so that a system's verbs can use them without reaching
//! into another system or the top-level CLI.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// Where to find a running lab.
#[derive(Debug, Args, Clone, Default)]
pub struct RunDirArg {
    /// The run dir (default: the newest run of this lab).
    #[arg(long, global = true)]
    pub run_dir: Option<PathBuf>,
}

/// Parses `10s`, `250ms`, `2m`, `1h`, or a bare number of seconds (at most a day).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("bad duration unit in {s:?} (use ms, s, m or h)")),
    };
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("duration {s:?} out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses `64MiB`, `1GiB`, `200MB`, `4096` (bytes).
pub fn parse_size(s: &str) -> anyhow::Result<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| anyhow::anyhow!("bad size {s:?}"))?;
    let mult = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "kb" => 1000,
        "m" | "mib" => 1 << 20,
        "mb" => 1_000_000,
        "g" | "gib" => 1 << 30,
        "gb" => 1_000_000_000,
        _ => anyhow::bail!("bad size unit in {s:?}"),
    };
    n.checked_mul(mult)
        .ok_or_else(|| anyhow::anyhow!("size {s:?} too large"))
}

/// Parses a member list `1=ADDR,2=ADDR,…` into (id, address) pairs.
pub fn parse_peers(s: &str) -> Result<Vec<(u64, SocketAddr)>, String> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (id, addr) = p
                .split_once('=')
                .ok_or_else(|| format!("peer {p:?} is not ID=ADDR"))?;
            let id: u64 = id.parse().map_err(|_| format!("bad peer id in {p:?}"))?;
            let addr: SocketAddr = addr
                .parse()
                .map_err(|_| format!("bad peer address in {p:?}"))?;
            Ok((id, addr))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("2d").is_err());
        assert!(parse_duration("100000").is_err());
    }

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("2kb").unwrap(), 2000);
        assert!(parse_size("1XB").is_err());
        assert!(parse_size("99999999999GiB").is_err());
    }

    #[test]
    fn peer_lists_parse_and_reject_garbage() {
        let p = parse_peers("1=127.0.0.1:1,2=127.0.0.1:2").unwrap();
        assert_eq!(p.len(), 2);
        assert!(parse_peers("1-127.0.0.1:1").is_err());
        assert!(parse_peers("x=127.0.0.1:1").is_err());
        assert!(parse_peers("1=nowhere").is_err());
    }
}
