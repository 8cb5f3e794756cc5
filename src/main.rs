//! The `wirelab` executable: command-line dispatch only; everything lives in the library.

use clap::Parser;
use wirelab::cli::{Cli, Command, NodeRole};

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        None => {
            use clap::CommandFactory;
            let _ = Cli::command().print_help();
            0
        }
        Some(Command::Raft { verb }) => wirelab::raft::cli::run(verb),
        Some(Command::Check(args)) => wirelab::check_cli::run(args),
        Some(Command::Node { role }) => match role {
            NodeRole::Raft(a) => wirelab::raft::node::run_cli(a),
        },
    };
    std::process::exit(code);
}
