//! The `wirelab` executable: command-line dispatch only; everything lives in the library.

use clap::{Parser, Subcommand};

/// wirelab: a systems portfolio you can run and break, in the terminal.
#[derive(Parser)]
#[command(name = "wirelab", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The POSIX shell: interactive, a script FILE, or -c COMMAND.
    Shell(wirelab::shell::ShellArgs),
}

fn main() {
    let cli = Cli::parse();
    let status = match cli.command {
        Some(Command::Shell(args)) => wirelab::shell::run_cli(args),
        None => 0,
    };
    std::process::exit(status);
}
