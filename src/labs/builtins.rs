//! The lab builtins of the wirelab shell: `raft …`, `forge …`, `p2p …`, `labs`,
//! `logs [-f] NODE`, `scenario` (every lab's scripts: `raft/failover`, `p2p/tracker-failover`…).
//!
//! `raft` takes the same verbs and flags as `wirelab raft` (one clap definition serves both);
//! in a shell, `raft up` starts the cluster inside the shell process and returns once it has a
//! leader, and the other verbs act on that cluster unless `--run-dir` names another. Inside a
//! pipeline the builtin runs in a forked child, which reaches the cluster through its control
//! socket rather than the parent's supervisor (whose threads did not survive the fork).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::LabHost;
use crate::cli::RaftVerb;
use crate::cluster::rundir::{self, CONTROL_SOCKET};
use crate::raft::cli::{Target, current_leader, format_table, run_with};
use crate::shell::{BuiltinCtx, BuiltinProvider};

/// `raft …` as a shell builtin.
#[derive(Debug, Parser)]
#[command(name = "raft", about = "The Raft KV lab", disable_version_flag = true)]
struct RaftBuiltin {
    #[command(subcommand)]
    verb: RaftVerb,
}

/// `p2p …` as a shell builtin: the same verbs as `wirelab p2p`; `up` hosts the lab in the
/// shell process (`up --detach`: under a background supervisor, as the CLI).
#[derive(Debug, Parser)]
#[command(name = "p2p", about = "The P2P lab", disable_version_flag = true)]
struct P2pBuiltin {
    #[command(subcommand)]
    verb: crate::p2p::cli::P2pVerb,
}

/// `forge …` as a shell builtin (the verbs of `wirelab forge`).
#[derive(Debug, Parser)]
#[command(
    name = "forge",
    about = "The forge HTTP lab",
    disable_version_flag = true
)]
struct ForgeBuiltin {
    #[command(subcommand)]
    verb: crate::forge::cli::ForgeVerb,
}

/// `logs [-n N] [-f] NODE`.
#[derive(Debug, Parser)]
#[command(
    name = "logs",
    about = "Print a node's log lines (NODE: raft-2, p2p-4, or 2 for raft-2)",
    disable_version_flag = true
)]
struct LogsBuiltin {
    /// Only the last N lines.
    #[arg(short = 'n')]
    lines: Option<usize>,
    /// Follow: keep printing lines as the node writes them (until Ctrl-C or a closed pipe).
    #[arg(short = 'f', long = "follow")]
    follow: bool,
    /// The node.
    node: String,
    /// Run dir (default: this shell's cluster, else the newest run).
    #[arg(long)]
    run_dir: Option<PathBuf>,
}

const RAFT_VERBS: [&str; 20] = [
    "leader",
    "faults",
    "up",
    "status",
    "put",
    "get",
    "del",
    "cas",
    "kill",
    "pause",
    "resume",
    "restart",
    "partition",
    "heal",
    "stop",
    "bench",
    "chaos",
    "load",
    "nemesis",
    "help",
];

const P2P_VERBS: [&str; 14] = [
    "trackers",
    "share",
    "get",
    "up",
    "status",
    "kill",
    "restart",
    "partition",
    "heal",
    "corrupt",
    "wait",
    "stop",
    "bench",
    "help",
];

/// The provider of the lab builtins, over a [`LabHost`].
pub struct LabBuiltins {
    host: LabHost,
}

impl LabBuiltins {
    /// Builtins acting on `host`'s clusters.
    pub fn new(host: LabHost) -> Self {
        Self { host }
    }

    fn raft(&self, ctx: &mut BuiltinCtx<'_>, argv: &[String]) -> i32 {
        let mut out = ctx.stdout();
        let mut err = ctx.stderr();
        let parsed = match RaftBuiltin::try_parse_from(argv) {
            Ok(p) => p,
            Err(e) => {
                let code = if e.use_stderr() { 2 } else { 0 };
                let text = e.render().to_string();
                if code == 0 {
                    let _ = out.write_all(text.as_bytes());
                } else {
                    let _ = err.write_all(text.as_bytes());
                }
                return code;
            }
        };
        let hosted = self.host.get("raft");
        match (parsed.verb, hosted) {
            (RaftVerb::Up { nodes, run, .. }, _) => {
                if ctx.in_child() {
                    let _ = writeln!(
                        err,
                        "raft up: cannot start a cluster inside a pipeline or subshell"
                    );
                    return 2;
                }
                match self.host.start_raft(nodes, run.run_dir) {
                    Ok(sup) => {
                        let _ = writeln!(out, "raft cluster up in {}", sup.run_dir().display());
                        let _ = write!(out, "{}", format_table(&sup.nodes()));
                        0
                    }
                    Err(e) => {
                        let _ = writeln!(err, "raft up: {e}");
                        2
                    }
                }
            }
            (RaftVerb::Stop { run }, Some(_)) if run.run_dir.is_none() && !ctx.in_child() => {
                self.host.stop("raft");
                let _ = writeln!(out, "cluster stopped");
                0
            }
            (verb, Some(sup)) if !ctx.in_child() => {
                run_with(verb, Target::InProcess(&sup), &mut out, &mut err)
            }
            (verb, Some(sup)) => run_with(verb, Target::Dir(sup.run_dir()), &mut out, &mut err),
            (verb, None) => run_with(verb, Target::RunDir, &mut out, &mut err),
        }
    }

    fn forge(&self, ctx: &mut BuiltinCtx<'_>, argv: &[String]) -> i32 {
        let mut out = ctx.stdout();
        let mut err = ctx.stderr();
        match ForgeBuiltin::try_parse_from(argv) {
            Ok(p) => crate::forge::lab::cli::run_in_shell(
                &self.host,
                p.verb,
                ctx.in_child(),
                &mut out,
                &mut err,
            ),
            Err(e) if e.use_stderr() => {
                let _ = err.write_all(e.render().to_string().as_bytes());
                2
            }
            Err(e) => {
                let _ = out.write_all(e.render().to_string().as_bytes());
                0
            }
        }
    }

    fn p2p(&self, ctx: &mut BuiltinCtx<'_>, argv: &[String]) -> i32 {
        let mut out = ctx.stdout();
        let mut err = ctx.stderr();
        let verb = match P2pBuiltin::try_parse_from(argv) {
            Ok(p) => p.verb,
            Err(e) => {
                let code = if e.use_stderr() { 2 } else { 0 };
                let text = e.render().to_string();
                let _ = if code == 0 {
                    out.write_all(text.as_bytes())
                } else {
                    err.write_all(text.as_bytes())
                };
                return code;
            }
        };
        let in_child = ctx.in_child();
        crate::p2p::cli::run_in_shell(&self.host, verb, in_child, &mut out, &mut err, &|| {
            ctx.interrupted()
        })
    }

    fn labs(&self, ctx: &mut BuiltinCtx<'_>) -> i32 {
        let mut out = ctx.stdout();
        let mut rows = Vec::new();
        let hosted: Vec<PathBuf> = self
            .host
            .running()
            .iter()
            .map(|(_, s)| s.run_dir().to_path_buf())
            .collect();
        if let Ok(entries) = std::fs::read_dir(rundir::runs_dir()) {
            for e in entries.flatten() {
                let dir = e.path();
                if !dir.join(CONTROL_SOCKET).exists() {
                    continue;
                }
                let Ok(cf) = rundir::read_cluster_file(&dir) else {
                    continue;
                };
                let Ok(resp) = crate::cluster::control::request(
                    &dir,
                    &cf.lab,
                    &crate::cluster::control::ControlRequest::Status,
                ) else {
                    continue;
                };
                let running = resp.nodes.iter().filter(|n| n.status.is_alive()).count();
                let leader = current_leader(&resp.nodes).map_or("-".to_string(), |l| l.to_string());
                let owner = if hosted.iter().any(|h| same_dir(h, &dir)) {
                    "this shell".to_string()
                } else {
                    cf.supervisor_pid.map_or("?".into(), |p| format!("pid {p}"))
                };
                rows.push(format!(
                    "{:<6} {:>3}/{:<3} {:>6}  {:<11} {}",
                    cf.lab,
                    running,
                    resp.nodes.len(),
                    leader,
                    owner,
                    dir.display()
                ));
            }
        }
        if rows.is_empty() {
            let _ = writeln!(out, "no lab is running (start one with `raft up`)");
            return 0;
        }
        rows.sort();
        let _ = writeln!(
            out,
            "{:<6} {:>7} {:>6}  {:<11} RUN DIR",
            "LAB", "NODES", "LEADER", "SUPERVISOR"
        );
        for r in rows {
            let _ = writeln!(out, "{r}");
        }
        0
    }

    fn logs(&self, ctx: &mut BuiltinCtx<'_>, argv: &[String]) -> i32 {
        let mut out = ctx.stdout();
        let mut err = ctx.stderr();
        let args = match LogsBuiltin::try_parse_from(argv) {
            Ok(a) => a,
            Err(e) => {
                let _ = err.write_all(e.render().to_string().as_bytes());
                return if e.use_stderr() { 2 } else { 0 };
            }
        };
        let (lab, id) = match parse_node(&args.node) {
            Some(x) => x,
            None => {
                let _ = writeln!(
                    err,
                    "logs: {:?} is not a node (use raft-2, p2p-4, or 2)",
                    args.node
                );
                return 2;
            }
        };
        let dir = match (&args.run_dir, self.host.get(&lab)) {
            (Some(d), _) => d.clone(),
            (None, Some(sup)) => sup.run_dir().to_path_buf(),
            (None, None) => match rundir::resolve_run_dir(&lab, None) {
                Ok(d) => d,
                Err(e) => {
                    let _ = writeln!(err, "logs: {e}");
                    return 2;
                }
            },
        };
        let path = dir.join(format!("node-{id}.log"));
        if args.follow {
            let fd = out.0;
            return match super::follow::follow(&path, args.lines, &mut out, fd, &|| {
                ctx.interrupted()
            }) {
                Ok(super::follow::Stop::Interrupted) => 130,
                Ok(super::follow::Stop::OutputClosed) => 0,
                Err(e) => {
                    let _ = writeln!(err, "logs: {}: {e}", path.display());
                    2
                }
            };
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                let _ = writeln!(err, "logs: {}: {e}", path.display());
                return 2;
            }
        };
        let lines: Vec<&str> = text.lines().collect();
        let skip = args.lines.map_or(0, |n| lines.len().saturating_sub(n));
        for line in &lines[skip..] {
            if writeln!(out, "{}", humanize_log_line(line)).is_err() {
                break;
            }
        }
        0
    }

    fn scenario(&self, ctx: &mut BuiltinCtx<'_>, argv: &[String]) -> i32 {
        let mut out = ctx.stdout();
        let mut err = ctx.stderr();
        match argv.get(1..).unwrap_or_default() {
            [] => {
                for s in super::scenarios() {
                    let _ = writeln!(out, "{:<22} {}", s.full_name(), s.summary());
                }
                0
            }
            [verb, name] if verb == "show" => match super::find_scenario(name) {
                Some(s) => {
                    let _ = out.write_all(s.script.as_bytes());
                    0
                }
                None => no_such_scenario(&mut err, name),
            },
            [verb, name, rest @ ..] if verb == "run" => match super::find_scenario(name) {
                // A scenario runs in a wirelab shell process of its own, with a cluster of its
                // own, so its `set -e` and its `raft up` cannot disturb this shell.
                Some(s) => match std::env::current_exe().and_then(|exe| {
                    std::process::Command::new(exe)
                        .args(["shell", "-c", s.script, &s.full_name()])
                        .args(rest)
                        .status()
                }) {
                    Ok(status) => status.code().unwrap_or(2),
                    Err(e) => {
                        let _ = writeln!(err, "scenario: {e}");
                        2
                    }
                },
                None => no_such_scenario(&mut err, name),
            },
            _ => {
                let _ = writeln!(err, "usage: scenario [show NAME | run NAME [ARGS…]]");
                2
            }
        }
    }

    fn node_ids(&self) -> Vec<u64> {
        if let Some(sup) = self.host.get("raft") {
            return sup.ids();
        }
        rundir::resolve_run_dir("raft", None)
            .ok()
            .and_then(|d| rundir::read_cluster_file(&d).ok())
            .map(|cf| cf.nodes.iter().map(|n| n.id).collect())
            .unwrap_or_default()
    }
}

fn no_such_scenario(err: &mut dyn Write, name: &str) -> i32 {
    let names: Vec<String> = super::scenarios().iter().map(|s| s.full_name()).collect();
    let _ = writeln!(
        err,
        "scenario: no scenario {name:?} (there are: {})",
        names.join(", ")
    );
    2
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// `raft-2` → ("raft", 2); `2` → ("raft", 2).
fn parse_node(s: &str) -> Option<(String, u64)> {
    match s.rsplit_once('-') {
        Some((lab, id)) if !lab.is_empty() => Some((lab.to_string(), id.parse().ok()?)),
        _ => Some(("raft".into(), s.parse().ok()?)),
    }
}

/// `1795494534169 info  msg` → `04:28:54.169 info  msg` (UTC); other lines unchanged.
pub fn humanize_log_line(line: &str) -> String {
    let Some((ts, rest)) = line.split_once(' ') else {
        return line.to_string();
    };
    let Ok(ms) = ts.parse::<u64>() else {
        return line.to_string();
    };
    let secs = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03} {rest}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60,
        ms % 1000
    )
}

impl BuiltinProvider for LabBuiltins {
    fn names(&self) -> Vec<String> {
        vec![
            "raft".into(),
            "forge".into(),
            "p2p".into(),
            "labs".into(),
            "logs".into(),
            "scenario".into(),
        ]
    }

    fn run(&self, ctx: &mut BuiltinCtx<'_>, argv: &[String]) -> i32 {
        match argv.first().map(String::as_str) {
            Some("raft") => self.raft(ctx, argv),
            Some("forge") => self.forge(ctx, argv),
            Some("p2p") => self.p2p(ctx, argv),
            Some("labs") => self.labs(ctx),
            Some("logs") => self.logs(ctx, argv),
            Some("scenario") => self.scenario(ctx, argv),
            _ => 127,
        }
    }

    fn complete(&self, words: &[String], partial: &str) -> Vec<String> {
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        let candidates: Vec<String> = match w.as_slice() {
            ["raft"] => RAFT_VERBS.iter().map(|s| s.to_string()).collect(),
            [
                "raft",
                "kill" | "pause" | "resume" | "restart" | "partition",
                ..,
            ] => self.node_ids().iter().map(|i| i.to_string()).collect(),
            ["logs", ..] => self
                .node_ids()
                .iter()
                .map(|i| format!("raft-{i}"))
                .chain(
                    self.host
                        .get("p2p")
                        .map(|s| s.ids())
                        .unwrap_or_default()
                        .iter()
                        .map(|i| format!("p2p-{i}")),
                )
                .collect(),
            ["raft", "load"] => vec!["start".into(), "stop".into(), "status".into()],
            ["scenario"] => vec!["show".into(), "run".into()],
            ["scenario", "show" | "run"] => {
                super::scenarios().iter().map(|s| s.full_name()).collect()
            }
            ["p2p"] => P2P_VERBS.iter().map(|s| s.to_string()).collect(),
            ["p2p", "wait"] => [
                "complete",
                "pieces",
                "tracker",
                "resumed",
                "banned",
                "diverged",
                "converged",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            ["p2p", "kill" | "restart" | "partition" | "corrupt", ..] => self
                .host
                .get("p2p")
                .map(|s| s.ids().iter().map(|i| i.to_string()).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let mut c: Vec<String> = candidates
            .into_iter()
            .filter(|c| c.starts_with(partial))
            .collect();
        c.sort();
        c
    }

    fn prompt_segment(&self) -> Option<String> {
        let segs: Vec<String> = self
            .host
            .running()
            .iter()
            .filter(|(lab, _)| lab == "raft" || lab == "p2p")
            .map(|(lab, sup)| {
                let nodes = sup.nodes();
                let alive = nodes.iter().filter(|n| n.status.is_alive()).count();
                format!("{lab}:{alive}/{}", nodes.len())
            })
            .collect();
        (!segs.is_empty()).then(|| segs.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_parse() {
        assert_eq!(parse_node("raft-2"), Some(("raft".into(), 2)));
        assert_eq!(parse_node("3"), Some(("raft".into(), 3)));
        assert_eq!(parse_node("raft-x"), None);
        assert_eq!(parse_node("-1"), None);
    }

    #[test]
    fn log_lines_get_wall_clock_times() {
        assert_eq!(
            humanize_log_line("1795494534169 info  elected"),
            "04:28:54.169 info  elected"
        );
        assert_eq!(humanize_log_line("free text"), "free text");
    }

    #[test]
    fn completion_offers_verbs() {
        let b = LabBuiltins::new(LabHost::new());
        assert_eq!(
            b.complete(&["raft".into()], "pa"),
            vec!["partition", "pause"]
        );
    }
}
