//! The `wirelab` executable: command-line dispatch only; everything lives in the library.

use clap::{Parser, Subcommand};
use wirelab::forge::cli::ForgeVerb;

/// wirelab: a systems portfolio you can run and break, in the terminal.
#[derive(Debug, Parser)]
#[command(name = "wirelab", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// forge, the HTTP/1.1 framework: serve the demo app.
    Forge {
        #[command(subcommand)]
        verb: ForgeVerb,
    },
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Forge { verb } => wirelab::forge::cli::run(verb),
    };
    std::process::exit(code);
}
