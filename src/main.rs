//! The `wirelab` executable: command-line dispatch only; everything lives in the library, and
//! the labs come from the registry.

use clap::FromArgMatches;
use wirelab::cli::{Cli, Fixed};
use wirelab::lab::CommonVerb;

/// Restores the default SIGPIPE action, so that `wirelab check … | head` ends quietly like any
/// Unix filter instead of panicking on a closed stdout. Only for commands that merely print:
/// supervisors and nodes write to pipes and sockets of processes that may die, and must see
/// EPIPE as an error instead of dying of it.
fn die_quietly_on_closed_stdout() {
    // SAFETY: setting a signal disposition to SIG_DFL has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// `wirelab shell …` with every lab's builtins; stops the labs it started when it ends.
fn run_shell(
    args: wirelab::shell::ShellArgs,
    labs: &'static [&'static dyn wirelab::lab::Lab],
) -> i32 {
    let host = wirelab::lab::LabHost::global().clone();
    let code = wirelab::shell::run_cli_with(
        args,
        vec![std::sync::Arc::new(
            wirelab::lab::builtins::LabBuiltins::new(host.clone(), labs),
        )],
    );
    host.stop_all();
    code
}

fn main() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // A peer node runs under an 8 MB memory budget: its well-formed command line (always the
    // case when a supervisor starts it) skips building clap's tree of every subcommand, whose
    // code is spread all over the binary's text. Anything else gets clap's help and errors.
    if let Some(args) = wirelab::p2p::peer::args::parse_peer_node_args(&argv) {
        std::process::exit(wirelab::p2p::peer::node::run_cli(args));
    }
    let labs = wirelab::registry::labs();
    // The shell reads its options the way dash does (`shell -- FILE`, `+c`, `-oo A B`), which
    // clap cannot; going around clap also spares every script's start building its tree.
    if argv.get(1).is_some_and(|a| a == "shell") {
        let args = argv[2..]
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        std::process::exit(run_shell(wirelab::shell::ShellArgs { args }, labs));
    }
    let matches = wirelab::cli::command(labs).get_matches_from(&argv);
    let code = match matches.subcommand() {
        None => wirelab::tui::run_explorer(),
        Some(("node", node)) => {
            let Some((name, args)) = node.subcommand() else {
                std::process::exit(2);
            };
            let role = labs
                .iter()
                .flat_map(|l| l.roles())
                .find(|r| r.name() == name);
            match role {
                Some(role) => role.run(args),
                None => 2,
            }
        }
        Some((name, lab_matches)) if wirelab::registry::lab(name).is_some() => {
            let Some(lab) = wirelab::registry::lab(name) else {
                std::process::exit(2);
            };
            // The common verbs other than `up` only print.
            if let Some(verb) = lab_matches.subcommand_name()
                && lab
                    .common_verbs()
                    .iter()
                    .any(|v| v.name() == verb && *v != CommonVerb::Up)
            {
                die_quietly_on_closed_stdout();
            }
            let strings: Vec<String> = argv
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let after = strings
                .iter()
                .position(|a| a == name)
                .map_or(&strings[..0], |i| &strings[i + 1..]);
            wirelab::lab::run_cli(lab, lab_matches, after)
        }
        Some(_) => match Cli::from_arg_matches(&matches).map(|c| c.command) {
            Ok(Some(Fixed::Check(args))) => {
                die_quietly_on_closed_stdout();
                wirelab::check_cli::run(args)
            }
            Ok(Some(Fixed::Lab { lab })) => wirelab::tui::run_lab(&lab),
            Ok(Some(Fixed::Tour { auto })) => wirelab::tui::run_tour(auto),
            Ok(Some(Fixed::Runs { action })) => {
                die_quietly_on_closed_stdout();
                wirelab::cli::run_runs(action)
            }
            Ok(Some(Fixed::Shell(args))) => run_shell(args, labs),
            Ok(None) => wirelab::tui::run_explorer(),
            Err(e) => e.exit(),
        },
    };
    std::process::exit(code);
}
