//! The interactive shell: job-control setup (own process group, terminal ownership, ignored
//! signals), the read-eval loop with job reports before each prompt, and the line editor —
//! reedline with highlighting, completion, history hints, persistent history (Ctrl-R) and
//! multi-line input — or a plain line reader when the terminal cannot host it (`TERM=dumb`, or
//! no answer to the cursor-position query). The terminal is asked once, after the first prompt
//! is shown; keys typed while the shell waits for the answer are kept (and Ctrl-C among them
//! acts), so a terminal that never answers neither delays the prompt nor loses type-ahead.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, getpgrp, getpid, setpgid, tcgetpgrp, tcsetpgrp};
use reedline::{
    ColumnarMenu, DefaultHinter, EditCommand, Emacs, KeyCode, KeyModifiers, MenuBuilder, Prompt,
    PromptEditMode, PromptHistorySearch, Reedline, ReedlineEvent, ReedlineMenu, Signal as RlSignal,
    default_emacs_keybindings,
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

/// Input typed while the shell waited for the terminal's answer to the cursor-position query,
/// read in raw mode and handled the way the terminal's line discipline would have: complete
/// lines to run, the line being typed, an end of input (Ctrl-D on an empty line).
#[derive(Default)]
struct TypedAhead {
    lines: std::collections::VecDeque<String>,
    partial: Vec<u8>,
    eof: bool,
    /// The prompt (and `partial` after it) is on the screen, so reading the next line does
    /// not print them again.
    shown: bool,
}

impl TypedAhead {
    /// Handles one typed byte (a Ctrl-C prints a fresh prompt).
    fn key(&mut self, b: u8, sh: &mut Shell) {
        match b {
            b'\r' | b'\n' => {
                let line = String::from_utf8_lossy(&self.partial).into_owned();
                self.lines.push_back(line + "\n");
                self.partial.clear();
                let _ = sys::write_all(2, b"\r\n");
            }
            // Ctrl-C: the terminal would flush its input queue and interrupt whatever ran.
            0x03 => {
                self.lines.clear();
                self.partial.clear();
                sh.last_status = 130;
                let prompt = primary_prompt(sh);
                let _ = sys::write_all(2, format!("^C\r\n{prompt}").as_bytes());
            }
            0x04 if self.partial.is_empty() => self.eof = true,
            0x7f | 0x08 => {
                while let Some(c) = self.partial.pop() {
                    if c & 0xc0 != 0x80 {
                        break;
                    }
                }
                let _ = sys::write_all(2, b"\x08 \x08");
            }
            0x15 => {
                let n = String::from_utf8_lossy(&self.partial).chars().count();
                self.partial.clear();
                let _ = sys::write_all(2, "\x08 \x08".repeat(n).as_bytes());
            }
            b'\t' | 0x20.. => {
                self.partial.push(b);
                let _ = sys::write_all(2, &[b]);
            }
            _ => {}
        }
    }
}

/// Shows the first prompt at once, then asks the terminal for the cursor position. True when
/// it answers within `ms`: the line editor can run. Keys typed meanwhile are kept in `ahead`
/// (shown as typed), so neither the prompt nor type-ahead waits for, or is lost to, a terminal
/// that never answers (test harnesses, `expect`, editors' shell buffers).
fn terminal_answers(sh: &mut Shell, ahead: &mut TypedAhead, ms: u64) -> bool {
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
    let prompt = primary_prompt(sh);
    let _ = sys::write_all(2, prompt.as_bytes());
    ahead.shown = true;
    let _ = sys::write_all(1, b"\x1b[6n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    let mut answered = false;
    // An escape sequence being read: the answer (`ESC [ row ; col R`) or a key to drop.
    let mut esc: Option<Vec<u8>> = None;
    'wait: while !ahead.eof {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        let mut pfd = libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: pfd is a valid pollfd for one descriptor.
        let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as i32) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            break;
        }
        let mut buf = [0u8; 256];
        // One byte at a time once an answer may be complete, so input after it stays queued
        // for the line editor.
        let want = if esc.is_some() { 1 } else { buf.len() };
        let got = match sys::read(0, &mut buf[..want]) {
            Ok(0) | Err(_) => {
                ahead.eof = true;
                break;
            }
            Ok(n) => n,
        };
        for (i, &b) in buf[..got].iter().enumerate() {
            if let Some(seq) = esc.as_mut() {
                seq.push(b);
                let done = match seq.len() {
                    2 => b != b'[',
                    _ => (0x40..=0x7e).contains(&b) || seq.len() > 32,
                };
                if done {
                    let is_answer = b == b'R'
                        && seq[2..seq.len() - 1]
                            .iter()
                            .all(|c| c.is_ascii_digit() || *c == b';');
                    esc = None;
                    if is_answer {
                        answered = true;
                        // Keys after the answer in this read go to the line being typed.
                        for &k in &buf[i + 1..got] {
                            ahead.key(k, sh);
                        }
                        break 'wait;
                    }
                }
            } else if b == 0x1b {
                esc = Some(vec![b]);
            } else {
                ahead.key(b, sh);
            }
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

/// The history file: `$XDG_STATE_HOME/wirelab/history` (history is state, per the XDG base
/// directory spec: it belongs to this machine, unlike data). A file left at the old place
/// (`$XDG_DATA_HOME/wirelab/history`) is moved there once.
fn history_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let xdg = |var: &str, fallback: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(fallback)))
    };
    let dir = xdg("XDG_STATE_HOME", ".local/state")?.join("wirelab");
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join("history");
    if !path.exists()
        && let Some(old) = xdg("XDG_DATA_HOME", ".local/share").map(|d| d.join("wirelab/history"))
        && old.is_file()
    {
        let _ = std::fs::rename(&old, &path);
    }
    Some(path)
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
        && let Ok(h) =
            super::history::SessionHistory::open(super::limits::MAX_HISTORY_ENTRIES, path)
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

/// Whether a whole line typed ahead waits on stdin. Between commands the terminal is in
/// canonical mode, where the kernel makes input readable only once a line is complete, so
/// this is true exactly when the user typed a line (and Enter) while a command ran.
fn typed_ahead() -> bool {
    let mut pfd = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: pfd is a valid pollfd for one descriptor; a zero timeout does not block.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    n == 1 && pfd.revents & libc::POLLIN != 0
}

/// One line from the terminal in canonical mode, or `None` at end of input. A Ctrl-C (SIGINT
/// while waiting) gives `Some("")` with `$?` set to 130, so the caller prompts again; other
/// caught signals run their traps at once.
fn plain_line(sh: &mut Shell) -> Option<String> {
    let mut bytes = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match sys::read_once(0, &mut b) {
            Ok(1) => {
                bytes.push(b[0]);
                if b[0] == b'\n' || bytes.len() >= 1 << 20 {
                    break;
                }
            }
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                if super::traps::take_sigint() {
                    sh.last_status = 130;
                    write_fd(2, b"\n");
                    return Some(String::new());
                }
                if let Err(Flow::Exit(_)) = sh.check_signals() {
                    return None;
                }
            }
            Err(_) => break,
        }
    }
    if bytes.is_empty() {
        return None;
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

impl LineReader {
    /// The next complete command text, or `None` at end of input.
    fn read(&mut self, sh: &mut Shell, ahead: &mut TypedAhead) -> Option<String> {
        if ahead.eof && ahead.lines.is_empty() {
            return None;
        }
        match self {
            LineReader::Edit(ed, snap) => {
                // Lines typed while the terminal was probed, or during the last command, run
                // first, in order, as in bash: the line editor would read them in raw mode and
                // keep only the first.
                if !ahead.lines.is_empty() {
                    return LineReader::Plain.read(sh, ahead);
                }
                if typed_ahead() {
                    let text = LineReader::Plain.read(sh, ahead)?;
                    write_fd(2, text.as_bytes());
                    return Some(text);
                }
                if ahead.shown {
                    // The probe's prompt: the line editor draws its own.
                    write_fd(2, b"\r\x1b[K");
                    ahead.shown = false;
                }
                if !ahead.partial.is_empty() {
                    let typed = String::from_utf8_lossy(&ahead.partial).into_owned();
                    ahead.partial.clear();
                    ed.run_edit_commands(&[EditCommand::InsertString(typed)]);
                }
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
                            return self.read(sh, ahead);
                        }
                    }
                }
            }
            LineReader::Plain => {
                let mut text = match ahead.lines.pop_front() {
                    // Typed (and shown) while the terminal was probed.
                    Some(line) => {
                        ahead.shown = false;
                        line
                    }
                    None => {
                        if !ahead.shown {
                            let ps1 = primary_prompt(sh);
                            write_fd(2, ps1.as_bytes());
                            write_fd(2, &ahead.partial);
                        }
                        ahead.shown = false;
                        let typed = std::mem::take(&mut ahead.partial);
                        let line = plain_line(sh)?;
                        if line.is_empty() {
                            return Some(line);
                        }
                        String::from_utf8_lossy(&typed).into_owned() + &line
                    }
                };
                let mut src = StdinSource::new();
                while is_incomplete(text.trim_end_matches('\n')) {
                    if let Some(line) = ahead.lines.pop_front() {
                        text.push_str(&line);
                        continue;
                    }
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
    // One line on where to start, when the shell knows the labs (the wirelab binary's shell).
    if sh.builtins.names().iter().any(|n| n == "help") {
        write_fd(
            2,
            b"wirelab shell: `help` lists the builtins and every lab's verbs; Ctrl-D leaves.\n",
        );
    }
    let mut ahead = TypedAhead::default();
    let mut reader = if terminal_answers(sh, &mut ahead, 300) {
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
        let Some(text) = reader.read(sh, &mut ahead) else {
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
        sh.sigint_newline_done = false;
        match sh.run_source(src) {
            Ok(_) => exit_warned = false,
            Err(Flow::Abort(s)) => {
                // Ctrl-C during `read`, `wait` or a command substitution: the next prompt
                // starts on a line of its own (a job killed by it already moved there).
                if s == 130 && !sh.sigint_newline_done {
                    write_fd(2, b"\n");
                }
                exit_warned = false;
            }
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
