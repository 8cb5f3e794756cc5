//! Line sources for the parser: a string (for `-c`, files and `eval`) and standard input read
//! one byte at a time, so commands in a script read from stdin see the script's next lines.

use std::sync::atomic::{AtomicBool, Ordering};

use super::builtins::write_fd;
use super::lexer::LineSource;
use super::sys;

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// `set -v`: echo input lines to stderr as they are read.
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

fn echo_verbose(line: &str) {
    if VERBOSE.load(Ordering::Relaxed) {
        write_fd(2, line.as_bytes());
    }
}

/// A string handed out line by line.
pub struct LinesSource {
    text: String,
    pos: usize,
    echo: bool,
}

impl LinesSource {
    /// A source over `text` (a script: `set -v` echoes its lines).
    pub fn new(text: String) -> LinesSource {
        LinesSource {
            text,
            pos: 0,
            echo: true,
        }
    }

    /// A source over a `-c` string, which `set -v` does not echo (as in dash).
    pub fn command_string(text: String) -> LinesSource {
        LinesSource {
            text,
            pos: 0,
            echo: false,
        }
    }
}

impl LineSource for LinesSource {
    fn next_line(&mut self) -> Option<String> {
        if self.pos >= self.text.len() {
            return None;
        }
        let rest = &self.text[self.pos..];
        let end = rest.find('\n').map(|i| i + 1).unwrap_or(rest.len());
        let line = rest[..end].to_string();
        self.pos += end;
        if self.echo {
            echo_verbose(&line);
        }
        Some(line)
    }
}

/// Standard input, read unbuffered up to each newline.
pub struct StdinSource {
    fd: i32,
    /// Longest line accepted before it is handed out in pieces (bounds memory per read).
    max_line: usize,
}

impl StdinSource {
    /// A source over fd 0.
    pub fn new() -> StdinSource {
        StdinSource {
            fd: 0,
            max_line: 1 << 20,
        }
    }
}

impl Default for StdinSource {
    fn default() -> Self {
        Self::new()
    }
}

impl LineSource for StdinSource {
    fn next_line(&mut self) -> Option<String> {
        let mut bytes = Vec::new();
        let mut b = [0u8; 1];
        while let Ok(1) = sys::read(self.fd, &mut b) {
            bytes.push(b[0]);
            if b[0] == b'\n' || bytes.len() >= self.max_line {
                break;
            }
        }
        if bytes.is_empty() {
            return None;
        }
        let line = String::from_utf8_lossy(&bytes).into_owned();
        echo_verbose(&line);
        Some(line)
    }
}
