//! A clap-free reading of `wirelab node p2p-peer …` for the process start-up.
//!
//! Building the whole command-line tree with clap touches the parser code of every subcommand
//! of the binary, spread all over its text: in a peer that was about a third of the code pages
//! it ever maps (`/proc/PID/smaps`), for a process whose memory budget is 8 MB. The supervisor
//! always starts a peer with plain `--flag value` arguments, so [`parse_peer_node_args`] reads
//! exactly those, and returns `None` for anything else (`--help`, a typo, a missing flag), in
//! which case the caller falls back to clap, which prints its usual help or error.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::node::PeerNodeArgs;

/// Reads `wirelab node p2p-peer …` from the program's arguments (`argv[0]` included); `None` if
/// they are not a well-formed peer command line.
pub fn parse_peer_node_args(argv: &[OsString]) -> Option<PeerNodeArgs> {
    let [_, node, role, rest @ ..] = argv else {
        return None;
    };
    if node.to_str()? != "node" || role.to_str()? != super::node::ROLE {
        return None;
    }
    let mut id = None;
    let mut data_dir = None;
    let mut listen = None;
    let mut torrent = None;
    let mut file = None;
    let mut register = false;
    let mut max_active = None;
    let mut upload_limit = None;
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        match flag.to_str()? {
            "--register" if !register => {
                register = true;
                continue;
            }
            "--id" if id.is_none() => id = Some(it.next()?.to_str()?.parse::<u64>().ok()?),
            "--data-dir" if data_dir.is_none() => data_dir = Some(PathBuf::from(it.next()?)),
            "--listen" if listen.is_none() => {
                listen = Some(it.next()?.to_str()?.parse::<SocketAddr>().ok()?)
            }
            "--torrent" if torrent.is_none() => torrent = Some(PathBuf::from(it.next()?)),
            "--file" if file.is_none() => file = Some(PathBuf::from(it.next()?)),
            "--max-active" if max_active.is_none() => {
                max_active = Some(it.next()?.to_str()?.parse::<usize>().ok()?)
            }
            "--upload-limit" if upload_limit.is_none() => {
                upload_limit = Some(it.next()?.to_str()?.parse::<u64>().ok()?)
            }
            _ => return None,
        }
    }
    Some(PeerNodeArgs {
        id: id?,
        data_dir: data_dir?,
        listen: listen?,
        torrent: torrent?,
        file,
        register,
        max_active: max_active.unwrap_or(4),
        upload_limit: upload_limit.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: PeerNodeArgs,
    }

    fn argv(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    /// The fast path and clap agree on every command line the fast path accepts.
    #[test]
    fn agrees_with_clap() {
        for line in [
            "--id 4 --data-dir d --listen 127.0.0.1:7000 --torrent t.torrent --max-active 2",
            "--listen [::1]:0 --torrent t --id 3 --data-dir /x --file f --register",
            "--id 9 --data-dir d --listen 127.0.0.1:0 --torrent t",
            "--id 5 --data-dir d --listen 127.0.0.1:0 --torrent t --upload-limit 4194304",
        ] {
            let fast = parse_peer_node_args(&argv(&format!("wirelab node p2p-peer {line}")))
                .expect("fast path");
            let slow = Wrapper::try_parse_from(argv(&format!("x {line}")))
                .expect("clap")
                .args;
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
        }
    }

    /// Anything unusual is left to clap, so help and errors read as they always did.
    #[test]
    fn leaves_anything_else_to_clap() {
        for line in [
            "wirelab node p2p-peer --help",
            "wirelab node p2p-peer --id 4 --data-dir d --listen 127.0.0.1:7000",
            "wirelab node p2p-peer --id x --data-dir d --listen 127.0.0.1:0 --torrent t",
            "wirelab node p2p-peer --id 4 --id 5 --data-dir d --listen 127.0.0.1:0 --torrent t",
            "wirelab node p2p-peer --id=4 --data-dir d --listen 127.0.0.1:0 --torrent t",
            "wirelab node p2p-peer --id 4 --data-dir d --listen 127.0.0.1:0 --torrent",
            "wirelab node p2p-tracker --id 4",
            "wirelab p2p get t",
            "wirelab",
        ] {
            assert!(parse_peer_node_args(&argv(line)).is_none(), "{line}");
        }
    }
}
