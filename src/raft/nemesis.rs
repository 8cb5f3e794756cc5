//! `raft nemesis`: a burst of random faults against a RUNNING cluster (unlike `raft chaos`,
//! which starts a cluster of its own). Each fault is undone before the next one, and the
//! cluster is left whole: every node running, the network healed.

use std::io::Write;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::cluster::control::ControlRequest;
use crate::lab::Target;
use crate::lab::args::RunDirArg;

/// The faults the nemesis may inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NemesisFault {
    /// SIGKILL, then restart from disk.
    Kill,
    /// SIGSTOP, then SIGCONT.
    Pause,
    /// Cut one node off, then heal.
    Partition,
}

/// Parses `kill,pause,partition`.
pub fn parse_faults(s: &str) -> anyhow::Result<Vec<NemesisFault>> {
    let mut out = Vec::new();
    for f in s.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        out.push(match f {
            "kill" => NemesisFault::Kill,
            "pause" => NemesisFault::Pause,
            "partition" => NemesisFault::Partition,
            other => anyhow::bail!("unknown fault {other:?} (kill, pause, partition)"),
        });
    }
    if out.is_empty() {
        anyhow::bail!("--faults names no fault");
    }
    Ok(out)
}

/// Runs the burst; writes one line per fault to `out`.
pub fn run(
    target: Target<'_>,
    run: &RunDirArg,
    duration: Duration,
    faults: &str,
    seed: Option<u64>,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let faults = parse_faults(faults)?;
    let seed = seed.unwrap_or_else(rand::random);
    let mut rng = StdRng::seed_from_u64(seed);
    let ids: Vec<u64> = target
        .request(super::cli::NAME, run, ControlRequest::Status)?
        .nodes
        .iter()
        .map(|n| n.id)
        .collect();
    if ids.is_empty() {
        anyhow::bail!("the cluster has no nodes");
    }
    let kinds: Vec<&str> = faults
        .iter()
        .map(|f| match f {
            NemesisFault::Kill => "kill",
            NemesisFault::Pause => "pause",
            NemesisFault::Partition => "partition",
        })
        .collect();
    writeln!(
        out,
        "nemesis: {} for {:.1} s (seed {seed})",
        kinds.join(", "),
        duration.as_secs_f64()
    )?;
    out.flush()?;
    let start = Instant::now();
    let mut count = 0;
    while start.elapsed() < duration {
        let fault = faults[rng.random_range(0..faults.len())];
        let node = ids[rng.random_range(0..ids.len())];
        let hold = Duration::from_millis(rng.random_range(500..1200));
        let t = start.elapsed().as_secs_f64();
        let (inject, undo, what) = match fault {
            NemesisFault::Kill => (
                ControlRequest::Kill { node },
                ControlRequest::Restart { node },
                "kill -9 / restart",
            ),
            NemesisFault::Pause => (
                ControlRequest::Pause { node },
                ControlRequest::Resume { node },
                "pause / resume",
            ),
            NemesisFault::Partition => (
                ControlRequest::Partition { nodes: vec![node] },
                ControlRequest::Heal,
                "partition / heal",
            ),
        };
        target.request(super::cli::NAME, run, inject)?;
        std::thread::sleep(hold);
        target.request(super::cli::NAME, run, undo)?;
        count += 1;
        writeln!(
            out,
            "  {t:5.1}s  node {node}: {what} after {} ms",
            hold.as_millis()
        )?;
        out.flush()?;
        std::thread::sleep(Duration::from_millis(300));
    }
    target.request(super::cli::NAME, run, ControlRequest::Heal)?;
    writeln!(
        out,
        "nemesis: {count} faults in {:.1}s; every node running, network healed",
        start.elapsed().as_secs_f64()
    )?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse() {
        assert_eq!(
            parse_faults("kill, partition").ok(),
            Some(vec![NemesisFault::Kill, NemesisFault::Partition])
        );
        assert!(parse_faults("boom").is_err());
        assert!(parse_faults("").is_err());
    }
}
