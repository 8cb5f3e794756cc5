//! The terminal: raw mode, alternate screen and mouse on entry; always restored on exit, on a
//! panic (hook) and around the interactive shell (`!`).
//!
//! The UI draws to a duplicate of fd 1 taken at start-up, so that a shell command whose output
//! the dashboard captures (`cmd >FILE 2>&1` moves fd 1 for a moment) never swallows a frame.
//! For the same reason the terminal is moved off fd 0 while the dashboard runs ([`park_stdin`]):
//! the shell's `</dev/null` moves fd 0 for as long as a command runs, and crossterm, which
//! reads keys from fd 0 when fd 0 is a terminal, would read nothing until the command ended,
//! then replay every key at once. With fd 0 parked on /dev/null, crossterm opens /dev/tty and
//! reads keys through a descriptor of its own.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::FromRawFd;
use std::sync::OnceLock;

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

/// The terminal type the app draws on.
pub type Term = Terminal<CrosstermBackend<File>>;

static UI_FD: OnceLock<i32> = OnceLock::new();

fn ui_file() -> io::Result<File> {
    let fd = match UI_FD.get() {
        Some(fd) => *fd,
        None => {
            // SAFETY: dup returns a new descriptor we own (or -1).
            let fd = unsafe { libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 10) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            *UI_FD.get_or_init(|| fd)
        }
    };
    // SAFETY: the descriptor stays open for the life of the process; each File gets its own dup.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) };
    if dup < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `dup` is a fresh descriptor we own.
    Ok(unsafe { File::from_raw_fd(dup) })
}

/// The terminal's descriptor while fd 0 is parked on /dev/null (-1: not parked).
static PARKED_STDIN: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// Moves the terminal off fd 0 (see the module's overview): fd 0 becomes /dev/null and the
/// terminal is kept on a high descriptor for [`unpark_stdin`]. Does nothing when fd 0 is not a
/// terminal or /dev/tty cannot be opened (then keys are read from fd 0 as before).
pub fn park_stdin() {
    use std::sync::atomic::Ordering;
    // SAFETY: isatty only inspects the descriptor.
    if PARKED_STDIN.load(Ordering::SeqCst) >= 0 || unsafe { libc::isatty(0) } != 1 {
        return;
    }
    // crossterm will open /dev/tty: it must be there (a controlling terminal).
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_err()
    {
        return;
    }
    let Ok(null) = std::fs::File::open("/dev/null") else {
        return;
    };
    // SAFETY: fcntl/dup2 on descriptors we hold; fd 0 is replaced atomically by dup2.
    unsafe {
        let saved = libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 10);
        if saved < 0 {
            return;
        }
        if libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 0) < 0 {
            libc::close(saved);
            return;
        }
        PARKED_STDIN.store(saved, Ordering::SeqCst);
    }
}

/// Puts the terminal back on fd 0 (before the interactive shell, which reads fd 0, and on
/// exit); [`park_stdin`] moves it off again.
pub fn unpark_stdin() {
    use std::sync::atomic::Ordering;
    let saved = PARKED_STDIN.swap(-1, Ordering::SeqCst);
    if saved >= 0 {
        // SAFETY: `saved` is the terminal descriptor park_stdin kept; dup2 then close it.
        unsafe {
            libc::dup2(saved, 0);
            libc::close(saved);
        }
    }
}

/// Whether stdin and stdout are terminals.
pub fn is_terminal() -> bool {
    // SAFETY: isatty only inspects the descriptors.
    unsafe { libc::isatty(0) == 1 && libc::isatty(1) == 1 }
}

/// Enters full-screen mode and returns a terminal drawing on the UI descriptor.
pub fn enter() -> io::Result<Term> {
    let mut out = ui_file()?;
    enable_raw_mode()?;
    execute!(out, EnterAlternateScreen, EnableMouseCapture)?;
    let mut term = Terminal::new(CrosstermBackend::new(out))?;
    term.hide_cursor()?;
    term.clear()?;
    Ok(term)
}

/// Leaves full-screen mode (idempotent; errors are ignored: this runs on every way out).
pub fn leave() {
    let _ = disable_raw_mode();
    if let Ok(mut out) = ui_file() {
        let _ = execute!(
            out,
            DisableMouseCapture,
            LeaveAlternateScreen,
            crossterm::cursor::Show
        );
        let _ = out.flush();
    }
}

/// Restores the terminal before the default panic message prints.
pub fn install_panic_hook() {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        leave();
        prev(info);
    }));
}

/// Empties crossterm's queue of cursor-position answers before the line editor runs. The
/// editor asks the terminal where the cursor is after every command; an answer left over in
/// crossterm's queue from the dashboard would be taken for the new one, and every prompt
/// would then be painted one answer late, over the command's output.
pub async fn drain_cursor_answers() {
    // Returns a queued answer at once if there is one (or reads a fresh one).
    let _ = crossterm::cursor::position();
    // A fresh answer may still be on its way: let it arrive, then drop it unread.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // SAFETY: discarding unread terminal input has no memory-safety preconditions.
    unsafe { libc::tcflush(0, libc::TCIFLUSH) };
}
