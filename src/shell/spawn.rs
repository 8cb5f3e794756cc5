//! The fast path for a foreground external command in a shell without job control: the
//! redirections are applied in the shell around a `posix_spawn` (through `std::process`),
//! which avoids copying the shell's page tables the way `fork` does. Anything unusual
//! (a script without `#!`) falls back to the fork path.

use std::os::unix::process::CommandExt;
use std::process::Command;

use super::ast::Redirect;
use super::state::Shell;

impl Shell {
    /// Whether [`Shell::spawn_external`] applies: not interactive and no job control.
    pub fn can_spawn_directly(&self) -> bool {
        !self.opts.interactive && !self.opts.monitor && !self.in_subshell
    }

    /// Runs an external command with `posix_spawn` and waits for it. `None` means "use the
    /// fork path instead" (nothing has run).
    pub fn spawn_external(
        &mut self,
        argv: &[String],
        assigns: &[(String, String)],
        redirs: &[Redirect],
        text: &str,
    ) -> Option<i32> {
        let name = &argv[0];
        let Ok(saved) = self.apply_redirects(redirs, true) else {
            return Some(2);
        };
        let Some(path) = self.find_in_path(name) else {
            self.error(&format!("{name}: not found"));
            self.restore_fds(saved);
            return Some(127);
        };
        let mut cmd = Command::new(&path);
        cmd.arg0(name).args(&argv[1..]).env_clear();
        for (k, v) in &self.vars {
            if v.exported
                && let Some(val) = &v.value
                && !assigns.iter().any(|(n, _)| n == k)
            {
                cmd.env(k, val);
            }
        }
        for (k, v) in assigns {
            cmd.env(k, v);
        }
        let spawned = cmd.spawn();
        self.restore_fds(saved);
        match spawned {
            Ok(child) => {
                let pid = child.id() as i32;
                // The child is waited for through the job table, not through `Child`.
                drop(child);
                let id = self.jobs.add(pid, &[pid], text);
                Some(self.wait_foreground(id))
            }
            Err(e) => match e.raw_os_error() {
                Some(libc::ENOEXEC) => None,
                Some(libc::ENOENT) | Some(libc::ENOTDIR) => {
                    self.hash.remove(name);
                    self.error(&format!("{name}: not found"));
                    Some(127)
                }
                _ => {
                    self.error(&format!("{name}: {}", super::sys::errno_text(&e)));
                    Some(126)
                }
            },
        }
    }
}
