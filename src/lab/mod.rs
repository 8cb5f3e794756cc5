//! The lab contract: what every system of the portfolio implements to become a lab, and the
//! lab-agnostic machinery built on it.
//!
//! A system (Raft, forge, P2P, …) implements [`Lab`]: its name, its node roles, its own verbs
//! (clap), how `up` turns its `labs/NAME/lab.toml` into node specs, when it is ready, its
//! status table and, where it has one, its leader. Everything else is here, once, for every
//! lab: the common verbs (`up [--detach]`, `status [--json]`, `kill`, `pause`, `resume`,
//! `restart`, `partition`, `heal`, `stop`), the control-socket client, the foreground
//! supervisor, the in-shell host and the shell builtins with their completion. The one place
//! that names the systems is `crate::registry`.
//!
//! This module depends on `cluster`, `shell` (for the builtins) and clap; never on a system or
//! on the TUI.
//!
//! # Layout
//! - [`args`]: `--run-dir`, durations, sizes, member lists: the parsers every lab shares.
//! - [`target`]: where a verb's lab lives (hosted by this process, or behind a run dir's
//!   control socket) and the one client that reaches it.
//! - [`common`]: the common verbs, added to each lab's clap command and run generically.
//! - [`host`]: [`LabHost`], the labs this process supervises (the shell's, the dashboard's).
//! - [`builtins`]: the shell builtins: one per lab, plus `labs`, `logs` and `scenario`.
//! - [`follow`]: `logs -f`.
//! - [`scenario`]: the scenario scripts `labs/*/*.sh`, embedded by `build.rs`.

pub mod args;
pub mod builtins;
pub mod common;
pub mod follow;
pub mod help;
pub mod host;
pub mod scenario;
pub mod target;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{ArgMatches, Args, Command, FromArgMatches};
use serde_json::{Map, Value};

pub use common::CommonVerb;
pub use host::LabHost;
pub use scenario::Scenario;
pub use target::Target;

use crate::cluster::{NodeInfo, Supervisor};

/// A node role: what `wirelab node ROLE …` runs. The supervisor starts nodes with
/// `wirelab node ROLE ARGS…`, and the role's name comes from the same constant on both sides.
pub struct Role {
    name: &'static str,
    command: Command,
    run: Box<dyn Fn(&ArgMatches) -> i32 + Send + Sync>,
}

impl Role {
    /// A role named `name` whose arguments are `A` and whose main is `run`.
    pub fn new<A: Args + FromArgMatches + 'static>(
        name: &'static str,
        about: &'static str,
        run: fn(A) -> i32,
    ) -> Role {
        Role {
            name,
            command: A::augment_args(Command::new(name).about(about)),
            run: Box::new(move |m| match A::from_arg_matches(m) {
                Ok(a) => run(a),
                Err(e) => e.exit(),
            }),
        }
    }

    /// The role's name (`raft`, `forge-server`, `p2p-peer`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its clap command (`wirelab node NAME …`).
    pub fn command(&self) -> Command {
        self.command.clone()
    }

    /// Runs the node; returns its exit code.
    pub fn run(&self, m: &ArgMatches) -> i32 {
        (self.run)(m)
    }
}

/// What a verb runs with: the lab it acts on, where its output goes, and whether the user
/// asked to stop (Ctrl-C in the shell).
pub struct VerbCtx<'a> {
    /// Where the lab lives.
    pub target: Target<'a>,
    /// Standard output of the verb.
    pub out: &'a mut dyn Write,
    /// Standard error of the verb.
    pub err: &'a mut dyn Write,
    /// True once the user interrupted the verb.
    pub interrupted: &'a dyn Fn() -> bool,
}

/// Readiness: what `up` waits for before it says the lab is up.
pub struct Readiness {
    /// How long `up` waits at most.
    pub timeout: Duration,
    /// What is awaited, for the error when it does not come ("a leader").
    pub what: &'static str,
}

/// One step of the guided tour on a lab's dashboard: data, so the tour stays generic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TourStep {
    /// What the narration says.
    pub caption: &'static str,
    /// The shell command the step runs on arrival.
    pub command: Option<&'static str>,
    /// How long `tour --auto` stays after the command finished, in seconds.
    pub hold_secs: u64,
    /// The dashboard tab to show (index into the dashboard's tabs).
    pub tab: usize,
    /// The command's last part is meant to be refused (exit status other than 0): a second
    /// open of a one-time secret, a ticket with two authorities down. The tour checks the
    /// outcome either way and shows a step whose command did not do what its narration says.
    pub refused: bool,
}

impl TourStep {
    /// A step on the first tab.
    pub const fn new(caption: &'static str, command: Option<&'static str>, hold_secs: u64) -> Self {
        TourStep {
            caption,
            command,
            hold_secs,
            tab: 0,
            refused: false,
        }
    }

    /// The same step on tab `tab`.
    pub const fn on_tab(self, tab: usize) -> Self {
        TourStep { tab, ..self }
    }

    /// The same step, whose command is meant to exit with a status other than 0.
    pub const fn refused(self) -> Self {
        TourStep {
            refused: true,
            ..self
        }
    }
}

/// One system of the portfolio, as a lab. Object-safe: the registry holds `&'static dyn Lab`.
pub trait Lab: Send + Sync {
    /// The lab's name: its CLI subcommand, shell builtin, `labs/NAME/` folder and run-dir
    /// prefix (`raft`).
    fn name(&self) -> &'static str;

    /// One line on what it is, for `wirelab --help` and `help`.
    fn about(&self) -> &'static str;

    /// How `up` reports the running lab: "raft cluster", "forge lab".
    fn noun(&self) -> &'static str {
        "lab"
    }

    /// The node roles of `wirelab node ROLE`.
    fn roles(&self) -> Vec<Role>;

    /// The common verbs this lab offers (the others are hidden from its CLI, builtin and
    /// completion).
    fn common_verbs(&self) -> &'static [CommonVerb] {
        CommonVerb::ALL
    }

    /// A lab's own help text for a common verb (`kill`: "SIGKILL a node (1-2 are the
    /// trackers)"), where the generic one says too little.
    fn verb_help(&self, _verb: CommonVerb) -> Option<&'static str> {
        None
    }

    /// Adds the lab's own verbs (beyond the common ones) to its command.
    fn own_verbs(&self, cmd: Command) -> Command {
        cmd
    }

    /// Adds the arguments `up` takes beyond `--run-dir` and `--detach`.
    fn up_args(&self, up: Command) -> Command {
        up
    }

    /// Checks `up`'s arguments before anything starts (so `up --detach` fails now, not in
    /// the background).
    fn check_up(&self, _up: &ArgMatches) -> anyhow::Result<()> {
        Ok(())
    }

    /// Starts the lab's nodes in `run_dir` (or restarts the run there from disk) under a new
    /// supervisor; `exe` overrides the node executable.
    fn launch(
        &self,
        up: &ArgMatches,
        run_dir: &Path,
        exe: Option<PathBuf>,
    ) -> anyhow::Result<Supervisor>;

    /// How long `up` waits and for what.
    fn readiness(&self) -> Readiness {
        Readiness {
            timeout: Duration::from_secs(10),
            what: "every node ready",
        }
    }

    /// Whether the lab runs on when some nodes fail to start (a damaged data dir): `up` then
    /// waits for the others, reports the failed ones and their last log line, and lets
    /// [`Lab::is_ready`] decide (Raft: a majority and a leader). By default any failure to
    /// start stops the lab.
    fn quorum_suffices(&self) -> bool {
        false
    }

    /// Whether the lab is up: by default every node has said it is ready.
    fn is_ready(&self, nodes: &[NodeInfo]) -> bool {
        crate::cluster::foreground::all_ready(nodes)
    }

    /// The leader, for labs that elect one.
    fn leader(&self, _nodes: &[NodeInfo]) -> Option<u64> {
        None
    }

    /// One row of `status --json`.
    fn status_row(&self, node: &NodeInfo) -> Value;

    /// `status` as text: one row per node.
    fn status_table(&self, nodes: &[NodeInfo]) -> String;

    /// How output names a node: "node 2", "node 1 (forge-server)".
    fn node_name(&self, node: &NodeInfo) -> String {
        format!("node {}", node.id)
    }

    /// The line under `up`'s table in the foreground: what to do next.
    fn up_hint(&self) -> String {
        format!(
            "(Ctrl-C stops every node; from another terminal: `wirelab {0} status`, `{0} kill 1`, …)",
            self.name()
        )
    }

    /// A line of live figures the foreground `up` prints each second when it changes, from
    /// each node's latest metrics (`None`: the lab prints only events).
    fn live_line(&self, _latest: &BTreeMap<u64, Map<String, Value>>) -> Option<String> {
        None
    }

    /// Runs one of the lab's own verbs (`m` holds the lab's subcommand); returns the exit
    /// code.
    fn run_own(&self, m: &ArgMatches, cx: &mut VerbCtx<'_>) -> i32;

    /// Completion candidates for the lab's own arguments that clap cannot know (`p2p wait`
    /// conditions), given the words after the lab's name; node ids are filled in generically.
    fn complete(&self, _words: &[&str]) -> Vec<String> {
        Vec::new()
    }

    /// Called when a lab hosted by this process stops (to end its background work).
    fn on_stop(&self) {}

    /// Called once a run of this lab has stopped (its nodes are gone), with its run dir: a lab
    /// whose runs hold large payloads removes them here, keeping the logs and the metadata.
    fn after_stop(&self, _run_dir: &Path) {}

    /// The lab's steps in the guided tour, shown on its dashboard after its project page, in
    /// portfolio order (none: the tour shows only its page).
    fn tour_steps(&self) -> &'static [TourStep] {
        &[]
    }

    /// Arguments of the quickest `up` that still shows the lab (a small file, few nodes): what
    /// the test suite's walk over every lab starts it with.
    fn quick_up_args(&self) -> &'static [&'static str] {
        &[]
    }
}

/// The clap command of a lab's verbs: the common verbs it offers, then its own.
pub fn lab_command(lab: &dyn Lab) -> Command {
    let cmd = Command::new(lab.name())
        .subcommand_required(true)
        .arg_required_else_help(true);
    // A derived `Subcommand` sets the command's about from its enum's doc comment: the lab's
    // own line goes on last.
    lab.own_verbs(common::augment(lab, cmd)).about(lab.about())
}

/// One line per node that is down right after `up` (it failed to start: a damaged data dir,
/// say), with the last line of its log; empty when every node runs.
pub fn failed_nodes(nodes: &[NodeInfo], run_dir: &Path) -> String {
    nodes
        .iter()
        .filter(|n| !n.status.is_alive())
        .map(|n| {
            let why = crate::cluster::supervisor::last_log_line(run_dir, n.id)
                .map(|l| format!(": {l}"))
                .unwrap_or_default();
            format!(
                "node {} failed to start and stays down (the others run without it){why}\n",
                n.id
            )
        })
        .collect()
}

/// Writes a verb's error as `NAME: cause: root` and returns exit code 2.
pub fn report(lab: &str, e: &anyhow::Error, err: &mut dyn Write) -> i32 {
    let _ = writeln!(err, "{lab}: {}", crate::error_chain(e));
    2
}

/// Runs a lab verb (`m`: matches of [`lab_command`]) on `cx.target`: a common verb
/// generically, any other through the lab. `argv` is the verb's command line after the lab's
/// name (for `up --detach`, which starts the same `up` in the background).
pub fn run_verb(lab: &dyn Lab, m: &ArgMatches, argv: &[String], cx: &mut VerbCtx<'_>) -> i32 {
    let code = match common::parse(lab, m) {
        Some(verb) => match common::run(lab, verb, argv, cx) {
            Ok(code) => code,
            Err(e) => report(lab.name(), &e, cx.err),
        },
        None => lab.run_own(m, cx),
    };
    let _ = cx.out.flush();
    code
}

/// `wirelab NAME …` from the command line: the verb on the lab `--run-dir` (or the newest run)
/// names.
pub fn run_cli(lab: &dyn Lab, m: &ArgMatches, argv: &[String]) -> i32 {
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let mut cx = VerbCtx {
        target: Target::RunDir,
        out: &mut out,
        err: &mut err,
        interrupted: &|| false,
    };
    run_verb(lab, m, argv, &mut cx)
}

/// Parses a lab's own verb from its matches, writing clap's error to `err` (exit 2).
pub fn parse_own<V: FromArgMatches>(m: &ArgMatches, err: &mut dyn Write) -> Result<V, i32> {
    V::from_arg_matches(m).map_err(|e| {
        let _ = err.write_all(e.render().to_string().as_bytes());
        2
    })
}

/// The matches of `NAME up ARGS…` for `lab`, for [`LabHost::start`] from code (tests, the
/// dashboards): `up_matches(lab, &["--nodes", "5"])`.
pub fn up_matches(lab: &dyn Lab, args: &[&str]) -> Result<ArgMatches, clap::Error> {
    let argv = [lab.name(), "up"].into_iter().chain(args.iter().copied());
    let m = lab_command(lab).try_get_matches_from(argv)?;
    m.subcommand_matches("up").cloned().ok_or_else(|| {
        clap::Error::raw(
            clap::error::ErrorKind::InvalidSubcommand,
            format!("{} has no `up` verb", lab.name()),
        )
    })
}
