//! `wirelab-p2p-peer`: the P2P lab's peer node as a program of its own.
//!
//! A peer has an 8 MB memory budget, and a large share of a process's resident memory is the
//! code it maps from its executable: every page it touches, rounded up to whatever the page
//! cache holds it in (right after `cargo install` copies the binary, those are large folios of
//! up to hundreds of KiB). The whole `wirelab` executable carries the shell, the TUI, Raft and
//! forge; this one links only what a peer runs, so the pages it touches are few and close
//! together. The supervisor starts it in place of `wirelab node p2p-peer` when it sits beside
//! the `wirelab` executable (see `cluster::Supervisor`), with the same command line.

use std::ffi::OsString;

fn main() {
    let argv: Vec<OsString> = std::env::args_os().collect();
    match wirelab::p2p::peer::args::parse_peer_node_args(&argv) {
        Some(args) => std::process::exit(wirelab::p2p::peer::node::run_cli(args)),
        None => {
            eprintln!(
                "usage: wirelab-p2p-peer node p2p-peer --id N --data-dir DIR --listen ADDR \
                 --torrent FILE [--file FILE] [--register] [--max-active N] [--upload-limit BYTES]\n\
                 (started by the P2P lab's supervisor; `wirelab node p2p-peer --help` explains \
                 each option)"
            );
            std::process::exit(2);
        }
    }
}
