//! The lab builtins of the wirelab shell: one per registered lab (`raft …`, `forge …`,
//! `p2p …`: the same verbs and flags as `wirelab NAME …`, from one clap definition), plus
//! `labs`, `logs [-f] NODE` and `scenario` (every lab's scripts: `raft/failover`,
//! `p2p/tracker-failover`…).
//!
//! In a shell, `NAME up` starts the lab inside the shell process and returns once it is ready,
//! and the other verbs act on that lab unless `--run-dir` names another. Inside a pipeline the
//! builtin runs in a forked child, which reaches the lab through its control socket rather than
//! the parent's supervisor (whose threads did not survive the fork).

use std::io::Write;
use std::path::PathBuf;

use clap::{Command, Parser};

use super::common::{self, CommonVerb};
use super::{Lab, LabHost, Target, VerbCtx, lab_command, scenario};
use crate::cluster::rundir::{self, CONTROL_SOCKET};
use crate::shell::{BuiltinCtx, BuiltinProvider};

/// `logs [-n N] [-f] NODE`.
#[derive(Debug, Parser)]
#[command(
    name = "logs",
    about = "Print a node's log lines (NODE: LAB-ID such as raft-2, or ID for the lab this shell runs)",
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
    /// Run dir (default: this shell's lab, else the newest run).
    #[arg(long)]
    run_dir: Option<PathBuf>,
}

/// Rewrites the hints of error messages written through it for the shell: "`wirelab raft up`"
/// becomes "`raft up`" (the lab builtins are the shell's commands).
struct InShellHints<'a, W: Write>(&'a mut W);

impl<W: Write> Write for InShellHints<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) if text.contains("`wirelab ") => {
                self.0
                    .write_all(text.replace("`wirelab ", "`").as_bytes())?;
                Ok(buf.len())
            }
            _ => self.0.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// The provider of the lab builtins, over a [`LabHost`] and the registered labs.
pub struct LabBuiltins {
    host: LabHost,
    labs: &'static [&'static dyn Lab],
}

impl LabBuiltins {
    /// Builtins for `labs`, acting on `host`'s labs.
    pub fn new(host: LabHost, labs: &'static [&'static dyn Lab]) -> Self {
        Self { host, labs }
    }

    fn lab(&self, name: &str) -> Option<&'static dyn Lab> {
        self.labs.iter().copied().find(|l| l.name() == name)
    }

    /// `NAME …`: a lab's verbs.
    fn lab_verb(&self, lab: &'static dyn Lab, ctx: &mut BuiltinCtx<'_>, argv: &[String]) -> i32 {
        let mut out = ctx.stdout();
        let mut err = ctx.stderr();
        let cmd = lab_command(lab).disable_version_flag(true);
        let m = match cmd.try_get_matches_from(argv) {
            Ok(m) => m,
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
        let name = lab.name();
        let in_child = ctx.in_child();
        let hosted = self.host.get(name);
        let verb_argv = argv.get(1..).unwrap_or_default();
        if let Some(parsed) = common::parse(lab, &m) {
            let own_run = parsed.run_dir().run_dir.is_none();
            match parsed.kind() {
                CommonVerb::Up if !parsed.detach() => {
                    if in_child {
                        let _ = writeln!(
                            err,
                            "{name} up: cannot start a lab inside a pipeline or subshell (or use --detach)"
                        );
                        return 2;
                    }
                    let run_dir = parsed.run_dir().run_dir.clone();
                    let note = super::target::other_runs_note(name, run_dir.as_deref());
                    let _ = write!(err, "{note}");
                    return match self.host.start(lab, parsed.matches(), run_dir, None) {
                        Ok(sup) => {
                            let nodes = sup.nodes();
                            let _ =
                                writeln!(out, "{} up in {}", lab.noun(), sup.run_dir().display());
                            let _ = write!(out, "{}", lab.status_table(&nodes));
                            let _ = write!(err, "{}", super::failed_nodes(&nodes, sup.run_dir()));
                            let _ = out.flush();
                            0
                        }
                        Err(e) => {
                            let _ = writeln!(err, "{name} up: {}", crate::error_chain(&e));
                            2
                        }
                    };
                }
                CommonVerb::Stop if hosted.is_some() && own_run && !in_child => {
                    self.host.stop(name);
                    let _ = writeln!(out, "{} stopped", lab.noun());
                    return 0;
                }
                _ => {}
            }
        }
        let interrupted = || ctx.interrupted();
        // In the shell, hints name the shell's commands (`raft up`, not `wirelab raft up`).
        let mut err = InShellHints(&mut err);
        let target = match &hosted {
            Some(sup) if !in_child => Target::InProcess(sup),
            Some(sup) => Target::Dir(sup.run_dir()),
            None => Target::RunDir,
        };
        let mut cx = VerbCtx {
            target,
            out: &mut out,
            err: &mut err,
            interrupted: &interrupted,
        };
        super::run_verb(lab, &m, verb_argv, &mut cx)
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
                // Only a lab that elects a leader has one to show.
                let leader = self
                    .lab(&cf.lab)
                    .and_then(|l| l.leader(&resp.nodes))
                    .map_or("-".to_string(), |l| l.to_string());
                let owner = if hosted.iter().any(|h| super::target::same_dir(h, &dir)) {
                    "this shell".to_string()
                } else {
                    cf.supervisor_pid.map_or("?".into(), |p| format!("pid {p}"))
                };
                rows.push(format!(
                    "{:<8} {:>3}/{:<3} {:>6}  {:<11} {}",
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
            let names: Vec<&str> = self.labs.iter().map(|l| l.name()).collect();
            let _ = writeln!(
                out,
                "no lab is running (start one with `LAB up`; the labs: {})",
                names.join(", ")
            );
            return 0;
        }
        rows.sort();
        let _ = writeln!(
            out,
            "{:<8} {:>7} {:>6}  {:<11} RUN DIR",
            "LAB", "NODES", "LEADER", "SUPERVISOR"
        );
        for r in rows {
            let _ = writeln!(out, "{r}");
        }
        0
    }

    /// The lab a bare node id (`logs 2`) means: the one lab this shell hosts, else the newest
    /// run of any lab.
    fn default_lab(&self) -> Option<String> {
        let running = self.host.running();
        if let [(lab, _)] = running.as_slice() {
            return Some(lab.clone());
        }
        self.labs
            .iter()
            .filter_map(|l| {
                let dir = rundir::resolve_run_dir(l.name(), None).ok()?;
                let at = std::fs::metadata(dir.join("cluster.json"))
                    .ok()?
                    .modified()
                    .ok()?;
                Some((at, l.name().to_string()))
            })
            .max()
            .map(|(_, name)| name)
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
        let parsed = match parse_node(&args.node) {
            Some((Some(lab), id)) => Some((lab, id)),
            Some((None, id)) => self.default_lab().map(|lab| (lab, id)),
            None => None,
        };
        let Some((lab, id)) = parsed.filter(|(lab, _)| self.lab(lab).is_some()) else {
            let names: Vec<String> = self
                .labs
                .iter()
                .map(|l| format!("{}-1", l.name()))
                .collect();
            let _ = writeln!(
                err,
                "logs: {:?} is not a node of a running lab (use LAB-ID: {}; or ID for this shell's lab)",
                args.node,
                names.join(", ")
            );
            return 2;
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
                for s in scenario::all() {
                    let _ = writeln!(out, "{:<22} {}", s.full_name(), s.summary());
                }
                0
            }
            [verb, name] if verb == "show" => match scenario::find(name) {
                Some(s) => {
                    let _ = out.write_all(s.script.as_bytes());
                    0
                }
                None => no_such_scenario(&mut err, name),
            },
            [verb, name, rest @ ..] if verb == "run" => match scenario::find(name) {
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

    /// The node ids of `lab`: its hosted run's, else its newest run's.
    fn node_ids(&self, lab: &str) -> Vec<u64> {
        if let Some(sup) = self.host.get(lab) {
            return sup.ids();
        }
        rundir::resolve_run_dir(lab, None)
            .ok()
            .and_then(|d| rundir::read_cluster_file(&d).ok())
            .map(|cf| cf.nodes.iter().map(|n| n.id).collect())
            .unwrap_or_default()
    }

    /// Candidates for the word after `words` (which start with a lab's name), from the lab's
    /// clap command: subcommands, an argument's possible values, node ids for node arguments,
    /// and what the lab adds itself.
    fn complete_lab(&self, lab: &dyn Lab, words: &[&str]) -> Vec<String> {
        let mut cmd: Command = lab_command(lab);
        let mut positional = 0;
        for w in words.iter().skip(1) {
            if w.starts_with('-') {
                continue;
            }
            match cmd.find_subcommand(w) {
                Some(sub) if positional == 0 => {
                    cmd = sub.clone();
                }
                _ => positional += 1,
            }
        }
        let mut out: Vec<String> = Vec::new();
        if positional == 0 && cmd.has_subcommands() {
            out.extend(
                cmd.get_subcommands()
                    .filter(|c| !c.is_hide_set())
                    .map(|c| c.get_name().to_string()),
            );
            if words.len() == 1 {
                out.push("help".into());
            }
        }
        let args: Vec<&clap::Arg> = cmd.get_positionals().collect();
        let arg = args.get(positional).copied().or_else(|| {
            args.last()
                .copied()
                .filter(|a| a.get_num_args().is_some_and(|n| n.max_values() > 1))
        });
        if let Some(arg) = arg {
            let id = arg.get_id().as_str();
            if id == "node" || id == "nodes" {
                out.extend(self.node_ids(lab.name()).iter().map(u64::to_string));
            }
            out.extend(
                arg.get_possible_values()
                    .iter()
                    .filter(|v| !v.is_hide_set())
                    .map(|v| v.get_name().to_string()),
            );
        }
        out.extend(lab.complete(&words[1..]));
        out
    }
}

fn no_such_scenario(err: &mut dyn Write, name: &str) -> i32 {
    let names: Vec<String> = scenario::all().iter().map(|s| s.full_name()).collect();
    let _ = writeln!(
        err,
        "scenario: no scenario {name:?} (there are: {})",
        names.join(", ")
    );
    2
}

/// `raft-2` → (Some("raft"), 2); `2` → (None, 2): the lab is the one the shell runs.
fn parse_node(s: &str) -> Option<(Option<String>, u64)> {
    match s.rsplit_once('-') {
        Some((lab, id)) if !lab.is_empty() => Some((Some(lab.to_string()), id.parse().ok()?)),
        _ => Some((None, s.parse().ok()?)),
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
        self.labs
            .iter()
            .map(|l| l.name().to_string())
            .chain(["labs", "logs", "scenario", "help"].map(String::from))
            .collect()
    }

    fn run(&self, ctx: &mut BuiltinCtx<'_>, argv: &[String]) -> i32 {
        match argv.first().map(String::as_str) {
            Some("labs") => self.labs(ctx),
            Some("logs") => self.logs(ctx, argv),
            Some("scenario") => self.scenario(ctx, argv),
            Some("help") => {
                let names = ctx.builtin_names();
                let mut out = ctx.stdout();
                let r = match argv.get(1) {
                    None => super::help::overview(self.labs, &names, &mut out).map(|()| 0),
                    Some(name) => super::help::topic(self.labs, &names, name, &mut out),
                };
                r.unwrap_or(1)
            }
            Some(name) => match self.lab(name) {
                Some(lab) => self.lab_verb(lab, ctx, argv),
                None => 127,
            },
            None => 127,
        }
    }

    fn complete(&self, words: &[String], partial: &str) -> Vec<String> {
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        let candidates: Vec<String> = match w.as_slice() {
            ["logs", ..] => self
                .labs
                .iter()
                .flat_map(|l| {
                    self.node_ids(l.name())
                        .into_iter()
                        .map(move |i| format!("{}-{i}", l.name()))
                })
                .collect(),
            ["scenario"] => vec!["show".into(), "run".into()],
            ["scenario", "show" | "run"] => scenario::all().iter().map(|s| s.full_name()).collect(),
            [name, ..] => match self.lab(name) {
                Some(lab) => self.complete_lab(lab, &w),
                None => Vec::new(),
            },
            [] => Vec::new(),
        };
        let mut c: Vec<String> = candidates
            .into_iter()
            .filter(|c| c.starts_with(partial))
            .collect();
        c.sort();
        c.dedup();
        c
    }

    fn prompt_segment(&self) -> Option<String> {
        let segs: Vec<String> = self
            .host
            .running()
            .iter()
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
        assert_eq!(parse_node("raft-2"), Some((Some("raft".into()), 2)));
        assert_eq!(parse_node("3"), Some((None, 3)));
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
}
