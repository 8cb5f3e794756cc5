//! The top-level command line: the fixed commands (`check`, `shell`, `lab`, `tour`) as clap
//! derive types, and [`command`], which adds one subcommand per registered lab and
//! `node ROLE` for every lab's roles. `main.rs` dispatches.

use std::path::PathBuf;

use clap::{Args, Command, CommandFactory, Parser, Subcommand};

use crate::lab::Lab;

/// wirelab: a systems portfolio you can run and break.
#[derive(Debug, Parser)]
#[command(
    name = "wirelab",
    version,
    about,
    long_about = None,
    after_help = "With no command, wirelab opens the portfolio explorer (a terminal UI)."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Fixed>,
}

/// The commands that are not a lab's.
#[derive(Debug, Subcommand)]
pub enum Fixed {
    /// Check a recorded history for linearizability.
    Check(CheckArgs),
    /// The wirelab shell: interactive, a script `FILE [ARGS]`, or `-c COMMAND [NAME [ARGS]]`.
    Shell(crate::shell::ShellArgs),
    /// Open a lab's dashboard directly (launching it): `wirelab lab raft`.
    Lab {
        /// The lab (see `wirelab --help` for the list; any case).
        lab: String,
    },
    /// The run dirs (`$XDG_STATE_HOME/wirelab/runs`): list them, prune old ones, remove some.
    /// A new run keeps its lab's newest 5 stopped runs (`WIRELAB_KEEP_RUNS`).
    Runs {
        /// What to do (default: list).
        #[command(subcommand)]
        action: Option<RunsAction>,
    },
    /// The guided walkthrough: profile, the labs live, the other projects.
    Tour {
        /// Advance by itself (for recordings).
        #[arg(long)]
        auto: bool,
    },
}

/// `wirelab runs …`
#[derive(Debug, Subcommand)]
pub enum RunsAction {
    /// Every run, newest first: lab, up or stopped, size on disk, age.
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Remove stopped runs past the newest N per lab, and old chaos histories.
    Prune {
        /// Stopped runs kept per lab.
        #[arg(long, default_value_t = crate::cluster::runs::DEFAULT_KEEP)]
        keep: usize,
        /// Say what would go, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove the named stopped runs.
    Rm {
        /// Run names (as `runs list` shows them).
        #[arg(required = true)]
        names: Vec<String>,
    },
}

/// Runs `wirelab runs …`; the exit code.
pub fn run_runs(action: Option<RunsAction>) -> i32 {
    use crate::cluster::runs;
    let mut out = std::io::stdout();
    let r = match action.unwrap_or(RunsAction::List { json: false }) {
        RunsAction::List { json } => runs::print_list(json, &mut out).map(|()| 0),
        RunsAction::Prune { keep, dry_run } => runs::prune_now(keep, dry_run, &mut out),
        RunsAction::Rm { names } => runs::remove_named(&names, &mut out),
    };
    r.unwrap_or(1)
}

/// `wirelab check FILE`
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The history file.
    pub file: PathBuf,
    /// Its format.
    #[arg(long, default_value = "jsonl", value_parser = ["jsonl", "jepsen", "edn"])]
    pub format: String,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
    /// Give up after this many seconds (verdict unknown).
    #[arg(long)]
    pub timeout: Option<f64>,
}

/// The whole command line: the fixed commands, one subcommand per lab in `labs` (its common
/// and own verbs), and the hidden `node ROLE …` of every lab's roles.
pub fn command(labs: &[&'static dyn Lab]) -> Command {
    let mut cmd = Cli::command();
    let mut node = Command::new("node")
        .about("Run a cluster member (started by the supervisor, not by hand).")
        .hide(true)
        .subcommand_required(true);
    for lab in labs {
        cmd = cmd.subcommand(crate::lab::lab_command(*lab));
        for role in lab.roles() {
            node = node.subcommand(role.command());
        }
    }
    cmd.subcommand(node)
}
