//! The `wirelab` executable: command-line dispatch only; everything lives in the library.

use clap::Parser;
use wirelab::cli::{Cli, Command, NodeRole, RaftVerb};
use wirelab::forge::cli::ForgeVerb;

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

fn main() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // A peer node runs under an 8 MB memory budget: its well-formed command line (always the
    // case when a supervisor starts it) skips building clap's tree of every subcommand, whose
    // code is spread all over the binary's text. Anything else gets clap's help and errors.
    if let Some(args) = wirelab::p2p::peer::args::parse_peer_node_args(&argv) {
        std::process::exit(wirelab::p2p::peer::node::run_cli(args));
    }
    let cli = Cli::parse_from(argv);
    match &cli.command {
        Some(Command::Check(_)) => die_quietly_on_closed_stdout(),
        Some(Command::Forge {
            verb: ForgeVerb::Status { .. },
        }) => die_quietly_on_closed_stdout(),
        Some(Command::Raft { verb })
            if !matches!(
                verb,
                RaftVerb::Up { .. } | RaftVerb::Bench(_) | RaftVerb::Chaos(_)
            ) =>
        {
            die_quietly_on_closed_stdout()
        }
        _ => {}
    }
    let code = match cli.command {
        None => wirelab::tui::run_explorer(),
        Some(Command::Lab { lab }) => wirelab::tui::run_lab(&lab),
        Some(Command::Tour { auto }) => wirelab::tui::run_tour(auto),
        Some(Command::Raft { verb }) => wirelab::raft::cli::run(verb),
        Some(Command::P2p { verb }) => wirelab::p2p::cli::run(verb),
        Some(Command::Check(args)) => wirelab::check_cli::run(args),
        Some(Command::Forge { verb }) => wirelab::forge::cli::run(verb),
        Some(Command::Shell(args)) => {
            let host = wirelab::labs::LabHost::global().clone();
            let code = wirelab::shell::run_cli_with(
                args,
                vec![std::sync::Arc::new(
                    wirelab::labs::builtins::LabBuiltins::new(host.clone()),
                )],
            );
            host.stop_all();
            code
        }
        Some(Command::Node { role }) => match role {
            NodeRole::Raft(a) => wirelab::raft::node::run_cli(a),
            NodeRole::ForgeServer(a) => wirelab::forge::lab::server_node::run_cli(a),
            NodeRole::ForgeLoad(a) => wirelab::forge::lab::load_node::run_cli(a),
            NodeRole::P2pTracker(a) => wirelab::p2p::cli::run_tracker_node(a),
            NodeRole::P2pPeer(a) => wirelab::p2p::peer::node::run_cli(a),
        },
    };
    std::process::exit(code);
}
