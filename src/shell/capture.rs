//! Running a command string with its output captured, for callers that own the terminal
//! (the dashboard's command bar and key actions, the tour): stdin is `/dev/null`, stdout and
//! stderr go to anonymous in-memory files that are read back afterwards. The command runs in
//! this shell, so lab builtins share its state, exactly as they would at the prompt.

use super::state::{Flow, Shell};
use super::sys;

/// What a captured command produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Captured {
    /// Exit status (the status `exit` asked for, if it ran).
    pub status: i32,
    /// Everything written to fd 1.
    pub stdout: String,
    /// Everything written to fd 2.
    pub stderr: String,
    /// True when the command ran `exit` (the caller decides what that means).
    pub exited: bool,
}

/// An anonymous file that lives in memory.
fn memfd(name: &str) -> Option<i32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: c is a valid C string; the flags are plain bits.
    let fd = unsafe { libc::memfd_create(c.as_ptr(), libc::MFD_CLOEXEC) };
    (fd >= 0).then_some(fd)
}

fn read_back(fd: i32) -> String {
    // SAFETY: lseek on an fd we own.
    unsafe { libc::lseek(fd, 0, libc::SEEK_SET) };
    let (bytes, cut) = match sys::read_to_end_max(fd, super::limits::MAX_CAPTURE) {
        Ok(b) => (b, false),
        Err(b) => (b, true),
    };
    sys::close(fd);
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if cut {
        text.push_str(&format!(
            "\n[output truncated at {} bytes]\n",
            super::limits::MAX_CAPTURE
        ));
    }
    text
}

impl Shell {
    /// Runs `cmd` with stdin from `/dev/null` and stdout/stderr captured.
    pub fn run_captured(&mut self, cmd: &str) -> Captured {
        let (Some(out), Some(err)) = (memfd("wirelab-stdout"), memfd("wirelab-stderr")) else {
            return Captured {
                status: 126,
                stderr: "cannot create capture files\n".into(),
                ..Default::default()
            };
        };
        let null = sys::open("/dev/null", libc::O_RDONLY).ok();
        let saved: Vec<(i32, Option<i32>)> = [0, 1, 2]
            .iter()
            .map(|&fd| (fd, sys::dup_high(fd)))
            .collect();
        if let Some(n) = null {
            let _ = sys::dup2(n, 0);
            sys::close(n);
        }
        let _ = sys::dup2(out, 1);
        let _ = sys::dup2(err, 2);
        let r = self.eval_string(cmd);
        for (fd, copy) in saved {
            match copy {
                Some(c) => {
                    let _ = sys::dup2(c, fd);
                    sys::close(c);
                }
                None => sys::close(fd),
            }
        }
        let (status, exited) = match r {
            Ok(s) => (s, false),
            Err(Flow::Exit(s)) => (s, true),
            Err(f) => (super::exec::flow_status(self, f), false),
        };
        self.last_status = status;
        Captured {
            status,
            stdout: read_back(out),
            stderr: read_back(err),
            exited,
        }
    }
}
