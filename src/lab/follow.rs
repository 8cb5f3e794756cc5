//! `logs -f NODE`: print a node's log, then each line the node appends, polling the file every
//! 100 ms, until Ctrl-C or until nobody reads the output any more (a closed pipe: so
//! `logs -f raft-2 | grep -m1 elected` ends once grep has its line).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use super::builtins::humanize_log_line;

/// How often the file is checked for new lines.
pub const POLL: Duration = Duration::from_millis(100);

/// Longest partial line held while waiting for its newline; a longer one is printed as is.
const MAX_PENDING: usize = 1 << 20;

/// Why following stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// `interrupted` said so (Ctrl-C).
    Interrupted,
    /// The output is gone (a write failed, or the reading end of the pipe closed).
    OutputClosed,
}

/// True when `fd` is a pipe or socket whose reading end has closed (`poll` reports `POLLERR`
/// or `POLLHUP` on the writing end), so a follower that has nothing new to write still ends.
pub fn output_closed(fd: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    r > 0 && p.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0
}

/// Prints the log at `path` (only its last `last` lines when given), then follows it.
pub fn follow(
    path: &Path,
    last: Option<usize>,
    out: &mut dyn Write,
    out_fd: i32,
    interrupted: &dyn Fn() -> bool,
) -> std::io::Result<Stop> {
    let mut file = File::open(path)?;
    let mut pos = 0u64;
    let mut pending: Vec<u8> = Vec::new();
    let mut first = true;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        // A file shorter than what was read was truncated or replaced: start it over.
        if std::fs::metadata(path).is_ok_and(|m| m.len() < pos) {
            file = File::open(path)?;
            pos = 0;
            pending.clear();
        }
        file.seek(SeekFrom::Start(pos))?;
        let mut lines: Vec<String> = Vec::new();
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            pos += n as u64;
            pending.extend_from_slice(&buf[..n]);
            while let Some(i) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=i).collect();
                lines.push(String::from_utf8_lossy(&line[..i]).into_owned());
            }
            if pending.len() > MAX_PENDING {
                lines.push(String::from_utf8_lossy(&pending).into_owned());
                pending.clear();
            }
            if first && let Some(n) = last {
                let skip = lines.len().saturating_sub(n);
                lines.drain(..skip);
            }
        }
        first = false;
        if !lines.is_empty() {
            let text: String = lines.iter().map(|l| humanize_log_line(l) + "\n").collect();
            if out
                .write_all(text.as_bytes())
                .and_then(|_| out.flush())
                .is_err()
            {
                return Ok(Stop::OutputClosed);
            }
        }
        if interrupted() {
            return Ok(Stop::Interrupted);
        }
        if output_closed(out_fd) {
            return Ok(Stop::OutputClosed);
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn follows_appended_lines_until_interrupted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("node-1.log");
        std::fs::write(&path, "a\nb\nc\npart").expect("write");
        let mut out: Vec<u8> = Vec::new();
        let calls = Cell::new(0);
        let p2 = path.clone();
        let stop = follow(&path, Some(2), &mut out, -1, &|| {
            calls.set(calls.get() + 1);
            if calls.get() == 1 {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&p2)
                    .expect("open");
                f.write_all(b"ial\nd\n").expect("append");
            }
            calls.get() >= 2
        })
        .expect("follow");
        assert_eq!(stop, Stop::Interrupted);
        assert_eq!(String::from_utf8_lossy(&out), "b\nc\npartial\nd\n");
    }

    #[test]
    fn closed_pipe_is_noticed_without_writing() {
        let mut fds = [0; 2];
        // SAFETY: a valid array for pipe(2).
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        assert!(!output_closed(fds[1]));
        // SAFETY: closing the read end we own.
        unsafe { libc::close(fds[0]) };
        assert!(output_closed(fds[1]));
        // SAFETY: closing the write end we own.
        unsafe { libc::close(fds[1]) };
    }
}
