//! The interactive shell: job-control setup (own process group, terminal ownership, ignored
//! signals), the read-eval loop with job reports before each prompt, and the line editor —
//! reedline with highlighting, completion, history hints, persistent history (Ctrl-R) and
//! multi-line input — or a plain line reader when the terminal cannot host it (`TERM=dumb`, or
//! no answer to the cursor-position query).

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, getpgrp, getpid, setpgid, tcgetpgrp, tcsetpgrp};
use reedline::{
    ColumnarMenu, DefaultHinter, Emacs, FileBackedHistory, KeyCode, KeyModifiers, MenuBuilder,
    Prompt, PromptEditMode, PromptHistorySearch, Reedline, ReedlineEvent, ReedlineMenu,
    Signal as RlSignal, default_emacs_keybindings,
};

use super::builtins::write_fd;
use super::complete::{
    SharedSnapshot, ShellCompleter, ShellHighlighter, ShellValidator, Snapshot, is_incomplete,
};
use super::input::{LinesSource, StdinSource};
use super::lexer::LineSource;
use super::state::{Flow, Shell};
use super::sys;
use super::traps::ignore_signal;

fn borrow(fd: i32) -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: used only for single syscalls on fds the shell keeps open.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}

/// Takes the terminal: waits to be in the foreground, joins a process group of our own and
/// makes it the terminal's foreground group. Leaves job control off when there is no terminal.
fn setup_job_control(sh: &mut Shell) {
    let tty = sys::open("/dev/tty", libc::O_RDWR).ok().and_then(|fd| {
        let high = sys::dup_high(fd);
        sys::close(fd);
        high
    });
    let Some(tty) = tty else { return };
    for _ in 0..1000 {
        match tcgetpgrp(borrow(tty)) {
            Ok(pg) if pg == getpgrp() => break,
            Ok(_) => {
                let _ = kill(Pid::from_raw(-getpgrp().as_raw()), Signal::SIGTTIN);
            }
            Err(_) => {
                sys::close(tty);
                return;
            }
        }
    }
    for s in [Signal::SIGTSTP, Signal::SIGTTIN, Signal::SIGTTOU] {
        ignore_signal(s);
    }
    let me = getpid();
    if getpgrp() != me {
        let _ = setpgid(me, me);
    }
    let _ = tcsetpgrp(borrow(tty), me);
    sh.shell_tmodes = nix::sys::termios::tcgetattr(borrow(tty)).ok();
    sh.tty_fd = Some(tty);
    sh.opts.monitor = true;
}

/// Asks the terminal for the cursor position; false when it does not answer within `ms`.
fn terminal_answers(ms: i32) -> bool {
    // SAFETY: isatty only inspects the fds.
    if unsafe { libc::isatty(0) != 1 || libc::isatty(1) != 1 } {
        return false;
    }
    if std::env::var("TERM").map_or(true, |t| t == "dumb" || t.is_empty()) {
        return false;
    }
    let Ok(saved) = nix::sys::termios::tcgetattr(borrow(0)) else {
        return false;
    };
    let mut raw = saved.clone();
    nix::sys::termios::cfmakeraw(&mut raw);
    let now = nix::sys::termios::SetArg::TCSANOW;
    if nix::sys::termios::tcsetattr(borrow(0), now, &raw).is_err() {
        return false;
    }
    let _ = sys::write_all(1, b"\x1b[6n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(ms as u64);
    let mut answered = false;
    let mut reply = Vec::new();
    while std::time::Instant::now() < deadline {
        let left = deadline
            .saturating_duration_since(std::time::Instant::now())
            .as_millis() as i32;
        let mut pfd = libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: pfd is a valid pollfd for one descriptor.
        let n = unsafe { libc::poll(&mut pfd, 1, left.max(1)) };
        if n <= 0 {
            break;
        }
        let mut b = [0u8; 1];
        if !matches!(sys::read(0, &mut b), Ok(1)) {
            break;
        }
        reply.push(b[0]);
        if b[0] == b'R' || reply.len() > 32 {
            answered = b[0] == b'R';
            break;
        }
    }
    let _ = nix::sys::termios::tcsetattr(borrow(0), now, &saved);
    answered
}

/// The prompt reedline draws.
struct ShellPrompt {
    left: String,
    multi: String,
}

impl Prompt for ShellPrompt {
    fn render_prompt_left(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.left)
    }
    fn render_prompt_right(&self) -> Cow<'_, str> {
        Cow::Borrowed("")
    }
    fn render_prompt_indicator(&self, _mode: PromptEditMode) -> Cow<'_, str> {
        Cow::Borrowed("")
    }
    fn render_prompt_multiline_indicator(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.multi)
    }
    fn render_prompt_history_search_indicator(&self, hs: PromptHistorySearch) -> Cow<'_, str> {
        Cow::Owned(format!("(history search: {}) ", hs.term))
    }
}

/// Expands PS1/PS2-style text (parameter expansion and command substitution, as POSIX says).
fn expand_prompt(sh: &mut Shell, text: &str) -> String {
    match super::lexer::parse_plain_word(text) {
        Ok(w) => {
            let saved = sh.last_status;
            let s = sh.expand_string(&w).unwrap_or_else(|_| text.to_string());
            sh.last_status = saved;
            s
        }
        Err(_) => text.to_string(),
    }
}

/// The primary prompt: `$PS1` when set, else cwd, last non-zero status and running labs.
pub fn primary_prompt(sh: &mut Shell) -> String {
    if let Some(ps1) = sh.get("PS1").map(str::to_string) {
        return expand_prompt(sh, &ps1);
    }
    let mut cwd = sh.get("PWD").unwrap_or("?").to_string();
    if let Some(home) = sh.get("HOME").filter(|h| !h.is_empty() && *h != "/")
        && let Some(rest) = cwd.strip_prefix(home)
        && (rest.is_empty() || rest.starts_with('/'))
    {
        cwd = format!("~{rest}");
    }
    let mut p = cwd;
    if sh.last_status != 0 {
        p.push_str(&format!(" [{}]", sh.last_status));
    }
    for prov in sh.builtins.providers() {
        if let Some(seg) = prov.prompt_segment() {
            p.push_str(&format!(" ({seg})"));
        }
    }
    p.push_str(" $ ");
    p
}

fn history_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    let dir = base.join("wirelab");
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join("history"))
}

enum LineReader {
    Edit(Box<Reedline>, SharedSnapshot),
    Plain,
}

/// Loads the history file into `sh.history` within the bounds of [`super::limits`]; false (after
/// a warning) when the file is too large to use, so the line editor leaves it alone too.
fn load_history(sh: &mut Shell, path: &std::path::Path) -> bool {
    use super::limits::{MAX_HISTORY_ENTRIES, MAX_HISTORY_FILE, MAX_HISTORY_LINE};
    let Ok(meta) = std::fs::metadata(path) else {
        return true;
    };
    if meta.len() > MAX_HISTORY_FILE {
        let msg = format!(
            "wirelab: history file {} exceeds {MAX_HISTORY_FILE} bytes; not loaded\n",
            path.display()
        );
        write_fd(2, msg.as_bytes());
        return false;
    }
    let Ok(bytes) = std::fs::read(path) else {
        return true;
    };
    let text = String::from_utf8_lossy(&bytes);
    let (lines, long): (Vec<&str>, Vec<&str>) =
        text.lines().partition(|l| l.len() <= MAX_HISTORY_LINE);
    if !long.is_empty() {
        let msg = format!(
            "wirelab: history: skipped {} lines longer than {MAX_HISTORY_LINE} bytes in {}\n",
            long.len(),
            path.display()
        );
        write_fd(2, msg.as_bytes());
    }
    let start = lines.len().saturating_sub(MAX_HISTORY_ENTRIES);
    sh.history = lines[start..].iter().map(|l| l.to_string()).collect();
    true
}

fn build_editor(snap: SharedSnapshot, file_history: bool) -> Reedline {
    let mut keys = default_emacs_keybindings();
    keys.add_binding(
        KeyModifiers::NONE,
        KeyCode::Tab,
        ReedlineEvent::UntilFound(vec![
            ReedlineEvent::Menu("completion_menu".to_string()),
            ReedlineEvent::MenuNext,
        ]),
    );
    let menu = Box::new(ColumnarMenu::default().with_name("completion_menu"));
    let mut ed = Reedline::create()
        .with_completer(Box::new(ShellCompleter { snap: snap.clone() }))
        .with_highlighter(Box::new(ShellHighlighter { snap }))
        .with_validator(Box::new(ShellValidator))
        .with_hinter(Box::new(
            DefaultHinter::default().with_style(reedline::Color::DarkGray.normal()),
        ))
        .with_menu(ReedlineMenu::EngineCompleter(menu))
        .with_edit_mode(Box::new(Emacs::new(keys)))
        .with_quick_completions(true)
        .with_partial_completions(true);
    if file_history
        && let Some(path) = history_path()
        && let Ok(h) = FileBackedHistory::with_file(super::limits::MAX_HISTORY_ENTRIES, path)
    {
        ed = ed.with_history(Box::new(h));
    }
    ed
}

fn refresh_snapshot(sh: &Shell, snap: &SharedSnapshot) {
    if let Ok(mut s) = snap.lock() {
        let mut cmds: std::collections::BTreeSet<String> =
            sh.builtins.names().into_iter().collect();
        cmds.extend(sh.functions.keys().cloned());
        cmds.extend(sh.aliases.keys().cloned());
        s.commands = cmds;
        let mut vars: Vec<String> = sh.vars.keys().cloned().collect();
        vars.sort();
        s.vars = vars;
        s.path = sh.get("PATH").unwrap_or("").to_string();
        s.home = sh.get("HOME").map(str::to_string);
        s.providers = sh.builtins.providers();
    }
}

impl LineReader {
    /// The next complete command text, or `None` at end of input.
    fn read(&mut self, sh: &mut Shell) -> Option<String> {
        match self {
            LineReader::Edit(ed, snap) => {
                refresh_snapshot(sh, snap);
                let prompt = ShellPrompt {
                    left: primary_prompt(sh),
                    multi: sh.get("PS2").unwrap_or("> ").to_string(),
                };
                loop {
                    match ed.read_line(&prompt) {
                        Ok(RlSignal::Success(s)) => {
                            // Persist each line at once, so history survives a crash or kill.
                            let _ = ed.sync_history();
                            return Some(s);
                        }
                        Ok(RlSignal::CtrlC) => {
                            sh.last_status = 130;
                            return Some(String::new());
                        }
                        Ok(RlSignal::CtrlD) => return None,
                        Ok(_) => continue,
                        Err(_) => {
                            *self = LineReader::Plain;
                            return self.read(sh);
                        }
                    }
                }
            }
            LineReader::Plain => {
                let mut src = StdinSource::new();
                let ps1 = primary_prompt(sh);
                write_fd(2, ps1.as_bytes());
                let mut text = src.next_line()?;
                while is_incomplete(text.trim_end_matches('\n')) {
                    let ps2 = sh.get("PS2").unwrap_or("> ").to_string();
                    write_fd(2, expand_prompt(sh, &ps2).as_bytes());
                    match src.next_line() {
                        Some(l) => text.push_str(&l),
                        None => break,
                    }
                }
                Some(text)
            }
        }
    }
}

/// Runs the interactive read-eval loop; returns the exit status.
pub fn run_interactive(sh: &mut Shell) -> i32 {
    setup_job_control(sh);
    sh.traps.catch_interactive_sigint();
    sh.traps.catch_interactive_sighup();
    for s in [Signal::SIGQUIT, Signal::SIGTERM] {
        ignore_signal(s);
    }
    let file_history = history_path().is_none_or(|p| load_history(sh, &p));
    let mut reader = if terminal_answers(300) {
        let snap: SharedSnapshot = Arc::new(Mutex::new(Snapshot::default()));
        LineReader::Edit(Box::new(build_editor(snap.clone(), file_history)), snap)
    } else {
        LineReader::Plain
    };
    let mut exit_warned = false;
    loop {
        sh.jobs.reap();
        let report = sh.jobs.report(false, false);
        if !report.is_empty() {
            write_fd(2, report.as_bytes());
        }
        let _ = super::traps::take_sigint();
        if let Err(Flow::Exit(s)) = sh.check_signals() {
            return leave(sh, Err(Flow::Exit(s)));
        }
        let Some(text) = reader.read(sh) else {
            if warn_stopped(sh, &mut exit_warned) {
                continue;
            }
            break;
        };
        if text.trim().is_empty() {
            continue;
        }
        if sh.history.len() >= super::limits::MAX_HISTORY_ENTRIES {
            sh.history.remove(0);
        }
        sh.history.push(text.trim_end_matches('\n').to_string());
        let mut text = text;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let src: Box<dyn LineSource> = Box::new(LinesSource::new(text));
        match sh.run_source(src) {
            Ok(_) | Err(Flow::Abort(_)) => exit_warned = false,
            Err(Flow::Exit(s)) if warn_stopped(sh, &mut exit_warned) => sh.last_status = s,
            Err(f) => return leave(sh, Err(f)),
        }
    }
    if matches!(reader, LineReader::Plain) {
        write_fd(2, b"\n");
    }
    let st = sh.last_status;
    leave(sh, Ok(st))
}

/// The first attempt to exit (`exit`, Ctrl-D) while jobs are stopped only warns, as bash and
/// dash -i do; a second one in a row exits. True when this attempt was turned into a warning.
fn warn_stopped(sh: &mut Shell, warned: &mut bool) -> bool {
    sh.jobs.reap();
    if *warned || !sh.jobs.has_stopped() {
        return false;
    }
    *warned = true;
    write_fd(2, b"There are stopped jobs.\n");
    true
}

/// Ends the interactive shell: the EXIT trap, then SIGHUP (and SIGCONT) to the jobs left.
fn leave(sh: &mut Shell, result: Result<i32, Flow>) -> i32 {
    let status = super::finish(sh, result);
    sh.jobs.hangup_all();
    status
}
