//! The verbs every lab shares: `up [--detach]`, `status [--json]`, `kill`, `pause`, `resume`,
//! `restart`, `partition`, `heal` and `stop`, written once.
//!
//! [`augment`] adds the ones a lab offers to its clap command (with the lab's `up` arguments
//! and help texts), [`parse`] recognizes them in a lab's matches, and [`run`] carries them out
//! on the verb's target with the same wording for every lab. `up` here is the command line's:
//! a supervisor in the foreground, or in the background with `--detach`; the shell's `up`
//! hosts the lab in the shell process instead ([`super::builtins`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use clap::{ArgMatches, Command, FromArgMatches, Subcommand};
use serde_json::{Value, json};

use super::args::RunDirArg;
use super::{Lab, VerbCtx};
use crate::cluster::control::ControlRequest;
use crate::cluster::{NodeInfo, foreground, rundir};

/// One of the common verbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommonVerb {
    /// `up [--detach] [--run-dir DIR] …`
    Up,
    /// `status [--json]`
    Status,
    /// `kill NODE` (SIGKILL)
    Kill,
    /// `pause NODE` (SIGSTOP)
    Pause,
    /// `resume NODE` (SIGCONT)
    Resume,
    /// `restart NODE` (again, on its data dir)
    Restart,
    /// `partition NODE…`
    Partition,
    /// `heal`
    Heal,
    /// `stop`
    Stop,
}

impl CommonVerb {
    /// Every common verb.
    pub const ALL: &'static [CommonVerb] = &[
        CommonVerb::Up,
        CommonVerb::Status,
        CommonVerb::Kill,
        CommonVerb::Pause,
        CommonVerb::Resume,
        CommonVerb::Restart,
        CommonVerb::Partition,
        CommonVerb::Heal,
        CommonVerb::Stop,
    ];

    /// Every common verb but `partition` and `heal`: for labs whose nodes have no links to
    /// each other that a fault rule could cut.
    pub const NO_NETWORK: &'static [CommonVerb] = &[
        CommonVerb::Up,
        CommonVerb::Status,
        CommonVerb::Kill,
        CommonVerb::Pause,
        CommonVerb::Resume,
        CommonVerb::Restart,
        CommonVerb::Stop,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            CommonVerb::Up => "up",
            CommonVerb::Status => "status",
            CommonVerb::Kill => "kill",
            CommonVerb::Pause => "pause",
            CommonVerb::Resume => "resume",
            CommonVerb::Restart => "restart",
            CommonVerb::Partition => "partition",
            CommonVerb::Heal => "heal",
            CommonVerb::Stop => "stop",
        }
    }

    /// Whether its arguments are node ids (completion offers the running lab's nodes).
    pub fn takes_nodes(self) -> bool {
        matches!(
            self,
            CommonVerb::Kill
                | CommonVerb::Pause
                | CommonVerb::Resume
                | CommonVerb::Restart
                | CommonVerb::Partition
        )
    }
}

/// The common verbs as clap sees them.
#[derive(Debug, Subcommand)]
enum Verb {
    /// Start the lab in the foreground (Ctrl-C stops every node). A run dir that already holds
    /// a run restarts it from disk.
    Up {
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
        /// Return once the lab is up, leaving it running under a background supervisor (stop
        /// it with `stop`).
        #[arg(long)]
        detach: bool,
    },
    /// Show every node: pid, state, role and the lab's own figures.
    Status {
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// SIGKILL a node.
    Kill {
        /// Node id.
        node: u64,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// SIGSTOP a node: it stays in memory but runs no code.
    Pause {
        /// Node id.
        node: u64,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// SIGCONT a paused node.
    Resume {
        /// Node id.
        node: u64,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Start a node again on its data dir (killing it first if it runs).
    Restart {
        /// Node id.
        node: u64,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Cut these nodes off from the rest.
    Partition {
        /// Node ids.
        #[arg(required = true)]
        nodes: Vec<u64>,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Remove every partition and fault rule.
    Heal {
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Stop the running lab (returns once every node is down).
    Stop {
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
}

/// Adds the common verbs `lab` offers to `cmd`.
pub fn augment(lab: &dyn Lab, mut cmd: Command) -> Command {
    let all = Verb::augment_subcommands(Command::new("common"));
    for verb in lab.common_verbs() {
        let Some(mut sub) = all.find_subcommand(verb.name()).cloned() else {
            continue;
        };
        let about = sub.get_about().cloned();
        if *verb == CommonVerb::Up {
            // A derived `Args` sets the command's about from its own doc comment: keep ours.
            sub = lab.up_args(sub);
            if let Some(about) = about {
                sub = sub.about(about);
            }
        }
        if let Some(help) = lab.verb_help(*verb) {
            sub = sub.about(help);
        }
        cmd = cmd.subcommand(sub);
    }
    cmd
}

/// The common verb in a lab's matches, if its subcommand is one the lab offers.
fn verb_of(lab: &dyn Lab, m: &ArgMatches) -> Option<CommonVerb> {
    let name = m.subcommand_name()?;
    lab.common_verbs()
        .iter()
        .copied()
        .find(|v| v.name() == name)
}

/// A parsed common verb with the matches of its subcommand (for the lab's `up` arguments).
pub struct Parsed<'m> {
    verb: Verb,
    sub: &'m ArgMatches,
}

impl Parsed<'_> {
    /// Which verb.
    pub fn kind(&self) -> CommonVerb {
        match self.verb {
            Verb::Up { .. } => CommonVerb::Up,
            Verb::Status { .. } => CommonVerb::Status,
            Verb::Kill { .. } => CommonVerb::Kill,
            Verb::Pause { .. } => CommonVerb::Pause,
            Verb::Resume { .. } => CommonVerb::Resume,
            Verb::Restart { .. } => CommonVerb::Restart,
            Verb::Partition { .. } => CommonVerb::Partition,
            Verb::Heal { .. } => CommonVerb::Heal,
            Verb::Stop { .. } => CommonVerb::Stop,
        }
    }

    /// Its `--run-dir`.
    pub fn run_dir(&self) -> &RunDirArg {
        match &self.verb {
            Verb::Up { run, .. }
            | Verb::Status { run, .. }
            | Verb::Kill { run, .. }
            | Verb::Pause { run, .. }
            | Verb::Resume { run, .. }
            | Verb::Restart { run, .. }
            | Verb::Partition { run, .. }
            | Verb::Heal { run }
            | Verb::Stop { run } => run,
        }
    }

    /// `up --detach`.
    pub fn detach(&self) -> bool {
        matches!(self.verb, Verb::Up { detach: true, .. })
    }

    /// The matches of the verb's subcommand (a lab reads its `up` arguments there).
    pub fn matches(&self) -> &ArgMatches {
        self.sub
    }
}

/// The common verb in `m` (a lab command's matches), parsed; `None` for the lab's own verbs.
pub fn parse<'m>(lab: &dyn Lab, m: &'m ArgMatches) -> Option<Parsed<'m>> {
    verb_of(lab, m)?;
    let (_, sub) = m.subcommand()?;
    let verb = Verb::from_arg_matches(m).ok()?;
    Some(Parsed { verb, sub })
}

/// Runs a common verb on `cx.target`; returns the exit code.
pub fn run(
    lab: &dyn Lab,
    parsed: Parsed<'_>,
    argv: &[String],
    cx: &mut VerbCtx<'_>,
) -> anyhow::Result<i32> {
    let name = lab.name();
    let target = cx.target;
    let sub = parsed.sub;
    let node_line = |resp: &crate::cluster::control::ControlResponse, id: u64| {
        resp.nodes
            .iter()
            .find(|n| n.id == id)
            .map_or_else(|| format!("node {id}"), |n| lab.node_name(n))
    };
    match parsed.verb {
        Verb::Up { run, detach } => up(lab, sub, run, detach, argv, cx),
        Verb::Status { run, json } => {
            let resp = target.request(name, &run, ControlRequest::Status)?;
            if json {
                let dir = target.run_dir(name, &run).ok();
                let v = status_json(lab, &resp.nodes, dir.as_deref());
                writeln!(cx.out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                write!(cx.out, "{}", lab.status_table(&resp.nodes))?;
                if let Ok(dir) = target.run_dir(name, &run) {
                    for (id, why) in exit_reasons(&resp.nodes, &dir) {
                        writeln!(cx.out, "node {id} exited and stays down: {why}")?;
                    }
                }
            }
            Ok(0)
        }
        Verb::Kill { node, run } => {
            let resp = target.request(name, &run, ControlRequest::Kill { node })?;
            writeln!(cx.out, "{} killed (SIGKILL)", node_line(&resp, node))?;
            Ok(0)
        }
        Verb::Pause { node, run } => {
            let resp = target.request(name, &run, ControlRequest::Pause { node })?;
            writeln!(cx.out, "{} paused (SIGSTOP)", node_line(&resp, node))?;
            Ok(0)
        }
        Verb::Resume { node, run } => {
            let resp = target.request(name, &run, ControlRequest::Resume { node })?;
            writeln!(cx.out, "{} resumed (SIGCONT)", node_line(&resp, node))?;
            Ok(0)
        }
        Verb::Restart { node, run } => {
            target.request(name, &run, ControlRequest::Restart { node })?;
            // The answer holds the node as it was asked; its new pid is in a fresh status.
            let resp = target.request(name, &run, ControlRequest::Status)?;
            let pid = resp
                .nodes
                .iter()
                .find(|n| n.id == node)
                .and_then(|n| n.pid)
                .map_or_else(|| "?".to_string(), |p| p.to_string());
            writeln!(
                cx.out,
                "{} restarted from its data dir (pid {pid})",
                node_line(&resp, node)
            )?;
            Ok(0)
        }
        Verb::Partition { nodes, run } => {
            let ids: Vec<String> = nodes.iter().map(u64::to_string).collect();
            target.request(name, &run, ControlRequest::Partition { nodes })?;
            let who = match ids.as_slice() {
                [one] => format!("node {one}"),
                more => format!("nodes {}", more.join(", ")),
            };
            writeln!(cx.out, "{who} cut off from the rest")?;
            Ok(0)
        }
        Verb::Heal { run } => {
            target.request(name, &run, ControlRequest::Heal)?;
            writeln!(cx.out, "network healed")?;
            Ok(0)
        }
        Verb::Stop { run } => {
            let stopped = target.run_dir(name, &run).ok();
            let resp = target.request(name, &run, ControlRequest::Stop)?;
            // The supervisor stops its nodes after answering; return once they are gone, so
            // that a script may start the next lab right away.
            let pids: Vec<u32> = resp.nodes.iter().filter_map(|n| n.pid).collect();
            let deadline = Instant::now() + Duration::from_secs(10);
            while pids.iter().any(|p| process_exists(*p)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            writeln!(cx.out, "{} stopped", lab.noun())?;
            let still: Vec<_> = super::target::live_runs(name)
                .into_iter()
                .filter(|d| {
                    !stopped
                        .as_deref()
                        .is_some_and(|s| super::target::same_dir(d, s))
                })
                .collect();
            if !still.is_empty() {
                let dirs: Vec<String> = still.iter().map(|d| d.display().to_string()).collect();
                writeln!(
                    cx.out,
                    "still running: {} (`{name} stop --run-dir DIR` stops one)",
                    dirs.join(", ")
                )?;
            }
            Ok(0)
        }
    }
}

/// `status --json`: the lab, its run dir, its leader (where it elects one) and a row per node.
pub fn status_json(lab: &dyn Lab, nodes: &[NodeInfo], run_dir: Option<&Path>) -> Value {
    let reasons = run_dir.map(|d| exit_reasons(nodes, d)).unwrap_or_default();
    let rows: Vec<Value> = nodes
        .iter()
        .map(|n| {
            let mut row = lab.status_row(n);
            if let (Some((_, why)), Some(obj)) = (
                reasons.iter().find(|(id, _)| *id == n.id),
                row.as_object_mut(),
            ) {
                obj.insert("failed".into(), json!(why));
            }
            row
        })
        .collect();
    json!({
        "lab": lab.name(),
        "run_dir": run_dir,
        "leader": lab.leader(nodes),
        "nodes": rows,
    })
}

/// Why each node that exited by itself (not killed on request) is down: the last line of its
/// log, where a node that cannot start (a damaged data dir) says what is wrong and how to
/// repair it.
pub fn exit_reasons(nodes: &[NodeInfo], run_dir: &Path) -> Vec<(u64, String)> {
    nodes
        .iter()
        .filter(|n| n.status == crate::cluster::NodeStatus::Exited)
        .map(|n| {
            let why = crate::cluster::supervisor::last_log_line(run_dir, n.id)
                .unwrap_or_else(|| "no log line".to_string());
            (n.id, why)
        })
        .collect()
}

/// Whether a (non-zombie) process `pid` exists.
fn process_exists(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

/// `up` from the command line: a supervisor in the foreground, or in the background.
fn up(
    lab: &dyn Lab,
    sub: &ArgMatches,
    run: RunDirArg,
    detach: bool,
    argv: &[String],
    cx: &mut VerbCtx<'_>,
) -> anyhow::Result<i32> {
    lab.check_up(sub)?;
    let run_dir = run
        .run_dir
        .clone()
        .unwrap_or_else(|| rundir::new_run_dir(lab.name()));
    write!(
        cx.err,
        "{}",
        super::target::other_runs_note(lab.name(), Some(&run_dir))
    )?;
    if detach {
        return up_detached(lab, &run_dir, run.run_dir.is_none(), argv, cx);
    }
    let sup = lab.launch(sub, &run_dir, None)?;
    let readiness = lab.readiness();
    let banner = |sup: &crate::cluster::Supervisor| {
        let nodes = sup.nodes();
        println!("{} up in {}", lab.noun(), sup.run_dir().display());
        print!("{}", lab.status_table(&nodes));
        print!("{}", super::failed_nodes(&nodes, sup.run_dir()));
        println!("{}", lab.up_hint());
    };
    let live = |latest: &BTreeMap<u64, serde_json::Map<String, Value>>| lab.live_line(latest);
    let code = foreground::run(
        sup,
        foreground::Foreground {
            ready_timeout: readiness.timeout,
            ready_what: readiness.what,
            quorum_suffices: lab.quorum_suffices(),
            ready: &|n| lab.is_ready(n),
            banner: &banner,
            live: &live,
        },
    );
    lab.after_stop(&run_dir);
    code
}

/// `up --detach`: the same `up` as a background process of its own; returns once the lab is
/// up.
fn up_detached(
    lab: &dyn Lab,
    run_dir: &Path,
    add_run_dir: bool,
    argv: &[String],
    cx: &mut VerbCtx<'_>,
) -> anyhow::Result<i32> {
    let mut args: Vec<String> = vec![lab.name().into()];
    args.extend(argv.iter().filter(|a| *a != "--detach").cloned());
    if add_run_dir {
        args.extend(["--run-dir".into(), run_dir.display().to_string()]);
    }
    let readiness = lab.readiness();
    // The background supervisor first waits for every node; give it the lab's time and a bit.
    let (pid, nodes) = foreground::detach(
        &args,
        run_dir,
        lab.name(),
        readiness.timeout + Duration::from_secs(5),
        |n| lab.is_ready(n),
    )?;
    writeln!(
        cx.out,
        "{} up in {} (supervisor pid {pid})",
        lab.noun(),
        run_dir.display()
    )?;
    write!(cx.out, "{}", lab.status_table(&nodes))?;
    write!(cx.err, "{}", super::failed_nodes(&nodes, run_dir))?;
    Ok(0)
}
