//! Signals and traps: `trap` actions, the async-signal-safe handler that only records which
//! signals arrived, and the dispositions an interactive shell and its children need.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

const NSIG: usize = 65;

static PENDING: [AtomicBool; NSIG] = [const { AtomicBool::new(false) }; NSIG];
static ANY_PENDING: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    if let Some(p) = PENDING.get(sig as usize) {
        p.store(true, Ordering::SeqCst);
        ANY_PENDING.store(true, Ordering::SeqCst);
    }
}

/// Process groups of the interactive shell's jobs, for the SIGHUP handler (which may only
/// touch atomics); a slot holds 0 when free. Jobs past the last slot are not hung up.
static JOB_GROUPS: [AtomicI32; 64] = [const { AtomicI32::new(0) }; 64];

/// Remembers a job's process group so a SIGHUP to the shell reaches it.
pub fn register_job_group(pgid: i32) {
    if pgid <= 0 {
        return;
    }
    for slot in &JOB_GROUPS {
        if slot
            .compare_exchange(0, pgid, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
    }
}

/// Forgets a job's process group (the job is gone).
pub fn unregister_job_group(pgid: i32) {
    for slot in &JOB_GROUPS {
        let _ = slot.compare_exchange(pgid, 0, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// The interactive shell's SIGHUP (its terminal went away): hang up every job (SIGHUP, then
/// SIGCONT so stopped ones see it), then die of SIGHUP. Only async-signal-safe calls.
extern "C" fn on_hangup(sig: libc::c_int) {
    for slot in &JOB_GROUPS {
        let pgid = slot.load(Ordering::SeqCst);
        if pgid > 0 {
            // SAFETY: kill is async-signal-safe.
            unsafe {
                libc::kill(-pgid, libc::SIGHUP);
                libc::kill(-pgid, libc::SIGCONT);
            }
        }
    }
    // SAFETY: signal and raise are async-signal-safe; the default action ends the process.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// What a trap does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrapAction {
    /// `trap '' SIG`
    Ignore,
    /// `trap 'cmd' SIG`
    Command(String),
}

/// The trap table; key 0 is `EXIT`.
#[derive(Clone, Debug, Default)]
pub struct Traps {
    /// Actions by signal number.
    pub actions: BTreeMap<i32, TrapAction>,
    /// Signals the interactive shell catches for itself (SIGINT aborts the command line).
    pub interactive_int: bool,
    /// The interactive shell hangs up its jobs on SIGHUP before dying of it.
    pub interactive_hup: bool,
}

/// A signal number from a name (`INT`, `SIGINT`, `2`, `EXIT`).
pub fn signal_number(name: &str) -> Option<i32> {
    if let Ok(n) = name.parse::<i32>() {
        return (0..NSIG as i32).contains(&n).then_some(n);
    }
    let up = name.to_ascii_uppercase();
    if up == "EXIT" {
        return Some(0);
    }
    let full = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    Signal::iterator()
        .find(|s| s.as_str() == full)
        .map(|s| s as i32)
}

/// The name of a signal number without `SIG` (`EXIT` for 0).
pub fn signal_name(n: i32) -> String {
    if n == 0 {
        return "EXIT".into();
    }
    Signal::try_from(n)
        .map(|s| s.as_str().trim_start_matches("SIG").to_string())
        .unwrap_or_else(|_| n.to_string())
}

fn set_handler(sig: i32, h: SigHandler) {
    if let Ok(s) = Signal::try_from(sig) {
        let act = SigAction::new(h, SaFlags::empty(), SigSet::empty());
        // SAFETY: the handler only stores to atomics, which is async-signal-safe.
        let _ = unsafe { sigaction(s, &act) };
    }
}

/// Sets a signal's disposition to the default.
pub fn default_signal(sig: Signal) {
    set_handler(sig as i32, SigHandler::SigDfl);
}

/// Ignores a signal.
pub fn ignore_signal(sig: Signal) {
    set_handler(sig as i32, SigHandler::SigIgn);
}

/// Signals that arrived since the last call, in number order.
pub fn take_pending() -> Vec<i32> {
    if !ANY_PENDING.swap(false, Ordering::SeqCst) {
        return Vec::new();
    }
    (1..NSIG)
        .filter(|&i| PENDING[i].swap(false, Ordering::SeqCst))
        .map(|i| i as i32)
        .collect()
}

/// The lowest-numbered signal waiting to be handled (without consuming it).
pub fn first_pending() -> Option<i32> {
    if !ANY_PENDING.load(Ordering::SeqCst) {
        return None;
    }
    (1..NSIG)
        .find(|&i| PENDING[i].load(Ordering::SeqCst))
        .map(|i| i as i32)
}

/// True when a signal is waiting to be handled (without consuming it).
pub fn any_pending() -> bool {
    ANY_PENDING.load(Ordering::SeqCst)
}

/// Records a SIGINT as if one had arrived, without sending one: a host that runs the shell on
/// one of its threads (the dashboard) interrupts the running command this way, as its own
/// SIGINT handler is not the shell's.
pub fn request_interrupt() {
    on_signal(libc::SIGINT);
}

/// Whether SIGINT arrived and has not been handled yet (without consuming it).
pub fn sigint_pending() -> bool {
    PENDING[libc::SIGINT as usize].load(Ordering::SeqCst)
}

/// Whether SIGINT arrived (for the interactive shell), consuming it.
pub fn take_sigint() -> bool {
    let hit = PENDING[libc::SIGINT as usize].swap(false, Ordering::SeqCst);
    if hit {
        ANY_PENDING.store(
            (1..NSIG).any(|i| PENDING[i].load(Ordering::SeqCst)),
            Ordering::SeqCst,
        );
    }
    hit
}

impl Traps {
    /// Installs an action (or removes it with `None`, restoring the default disposition).
    pub fn set(&mut self, sig: i32, action: Option<TrapAction>) {
        if sig != 0 && !matches!(sig, libc::SIGKILL | libc::SIGSTOP) {
            let h = match &action {
                None if sig == libc::SIGINT && self.interactive_int => {
                    SigHandler::Handler(on_signal)
                }
                None if sig == libc::SIGHUP && self.interactive_hup => {
                    SigHandler::Handler(on_hangup)
                }
                None => SigHandler::SigDfl,
                Some(TrapAction::Ignore) => SigHandler::SigIgn,
                Some(TrapAction::Command(_)) => SigHandler::Handler(on_signal),
            };
            set_handler(sig, h);
        }
        match action {
            Some(a) => {
                self.actions.insert(sig, a);
            }
            None => {
                self.actions.remove(&sig);
            }
        }
    }

    /// Catches SIGINT for an interactive shell (it aborts the current line instead of exiting).
    pub fn catch_interactive_sigint(&mut self) {
        self.interactive_int = true;
        if !self.actions.contains_key(&libc::SIGINT) {
            set_handler(libc::SIGINT, SigHandler::Handler(on_signal));
        }
    }

    /// Hangs up the interactive shell's jobs when it gets SIGHUP (unless SIGHUP was ignored on
    /// entry, as under `nohup`, or a trap takes it).
    pub fn catch_interactive_sighup(&mut self) {
        let mut old = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
        // SAFETY: only reads the current disposition (a null new action).
        let ignored = unsafe {
            libc::sigaction(libc::SIGHUP, std::ptr::null(), old.as_mut_ptr()) == 0
                && old.assume_init().sa_sigaction == libc::SIG_IGN
        };
        if ignored {
            return;
        }
        self.interactive_hup = true;
        if !self.actions.contains_key(&libc::SIGHUP) {
            set_handler(libc::SIGHUP, SigHandler::Handler(on_hangup));
        }
    }

    /// In a subshell, caught signals go back to their defaults; ignored ones stay ignored.
    pub fn reset_for_subshell(&mut self) {
        let caught: Vec<i32> = self
            .actions
            .iter()
            .filter(|(_, a)| matches!(a, TrapAction::Command(_)))
            .map(|(s, _)| *s)
            .collect();
        for s in caught {
            self.actions.remove(&s);
            if s != 0 {
                set_handler(s, SigHandler::SigDfl);
            }
        }
        if self.interactive_int {
            self.interactive_int = false;
            if !self.actions.contains_key(&libc::SIGINT) {
                set_handler(libc::SIGINT, SigHandler::SigDfl);
            }
        }
        if self.interactive_hup {
            self.interactive_hup = false;
            if !self.actions.contains_key(&libc::SIGHUP) {
                set_handler(libc::SIGHUP, SigHandler::SigDfl);
            }
        }
    }

    /// The command for a signal, if one is trapped.
    pub fn command(&self, sig: i32) -> Option<&str> {
        match self.actions.get(&sig) {
            Some(TrapAction::Command(c)) => Some(c),
            _ => None,
        }
    }
}
