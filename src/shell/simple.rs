//! Simple commands: expansion of words and assignments, `set -x` tracing, and the lookup
//! order of POSIX (special builtins, functions, builtins, then `$PATH`), with the assignment
//! and redirection rules of each kind; function calls with their positional parameters and
//! `local` frames.

use super::ast::*;
use super::builtins::{self, Lookup};
use super::process::ForkMode;
use super::state::{Flow, MAX_FUNC_DEPTH, Shell, Status};

impl Shell {
    pub(super) fn run_simple(&mut self, sc: &SimpleCommand, in_child: bool) -> Status {
        self.lineno = sc.line;
        self.subst_status = None;
        let argv = match self.expand_command_words(&sc.words) {
            Ok(v) => v,
            Err(e) => return Err(self.expand_failed(&e)),
        };
        let mut assigns = Vec::with_capacity(sc.assigns.len());
        for a in &sc.assigns {
            match self.expand_assign_value(&a.value) {
                Ok(v) => assigns.push((a.name.clone(), v)),
                Err(e) => return Err(self.expand_failed(&e)),
            }
            if argv.is_empty() {
                let (n, v) = assigns.pop().unwrap_or_default();
                if let Err(e) = self.set_var(&n, &v) {
                    self.error(&e);
                    return Err(self.fatal(2));
                }
                assigns.push((n, v));
            }
        }
        if self.opts.xtrace {
            self.trace(&assigns, &argv);
        }
        if argv.is_empty() {
            let status = self.subst_status.unwrap_or(0);
            let Ok(saved) = self.apply_redirects(&sc.redirects, true) else {
                return Ok(2);
            };
            self.restore_fds(saved);
            return Ok(status);
        }
        let name = argv[0].as_str();
        if name == "exec" && argv.len() == 1 {
            // `exec` without a command: the redirections stay in force.
            return match self.apply_redirects(&sc.redirects, false) {
                Ok(_) => Ok(0),
                Err(_) => Err(self.fatal(2)),
            };
        }
        match self.builtins.clone().lookup(name, &self.functions) {
            Lookup::Special(f) => {
                for (n, v) in &assigns {
                    if let Err(e) = self.set_var(n, v) {
                        self.error(&e);
                        return Err(self.fatal(2));
                    }
                }
                let Ok(saved) = self.apply_redirects(&sc.redirects, true) else {
                    return Err(self.fatal(2));
                };
                let r = f(self, &argv);
                self.restore_fds(saved);
                r
            }
            Lookup::Function(func) => {
                let saved_vars = self.push_temp_assigns(&assigns);
                let Ok(saved) = self.apply_redirects(&sc.redirects, true) else {
                    self.pop_temp_assigns(saved_vars);
                    return Ok(2);
                };
                let r = self.call_function(&func, &argv);
                self.restore_fds(saved);
                self.pop_temp_assigns(saved_vars);
                r
            }
            Lookup::Builtin(f) => {
                let saved_vars = self.push_temp_assigns(&assigns);
                let Ok(saved) = self.apply_redirects(&sc.redirects, true) else {
                    self.pop_temp_assigns(saved_vars);
                    return Ok(2);
                };
                let r = f(self, &argv);
                self.restore_fds(saved);
                self.pop_temp_assigns(saved_vars);
                r
            }
            Lookup::External => {
                if !in_child && self.can_spawn_directly() {
                    let text = super::display::simple_text(sc);
                    if let Some(st) = self.spawn_external(&argv, &assigns, &sc.redirects, &text) {
                        return Ok(st);
                    }
                }
                let redirs = sc.redirects.clone();
                let run = move |sh: &mut Shell| -> i32 {
                    if sh.apply_redirects(&redirs, false).is_err() {
                        return 2;
                    }
                    sh.exec_external(&argv, &assigns)
                };
                if in_child {
                    return Ok(run(self));
                }
                let pid = self.fork_child(ForkMode::Foreground, 0, run)?;
                let text = super::display::simple_text(sc);
                let id = self.jobs.add(pid, &[pid], &text);
                Ok(self.wait_foreground(id))
            }
        }
    }

    fn trace(&mut self, assigns: &[(String, String)], argv: &[String]) {
        // Like dash: PS4 (expanded, with tracing off meanwhile), then the words as they are
        // after expansion, unquoted.
        let ps4 = self.get("PS4").unwrap_or("+ ").to_string();
        let mut line = if ps4.contains(['$', '`']) {
            self.opts.xtrace = false;
            let saved = self.last_status;
            let s = super::lexer::parse_plain_word(&ps4)
                .ok()
                .and_then(|w| self.expand_string(&w).ok())
                .unwrap_or(ps4);
            self.last_status = saved;
            self.opts.xtrace = true;
            s
        } else {
            ps4
        };
        let words: Vec<String> = assigns
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .chain(argv.iter().cloned())
            .collect();
        line.push_str(&words.join(" "));
        line.push('\n');
        builtins::write_fd(2, line.as_bytes());
    }

    fn push_temp_assigns(
        &mut self,
        assigns: &[(String, String)],
    ) -> Vec<(String, Option<super::state::Var>)> {
        let mut saved = Vec::new();
        for (n, v) in assigns {
            saved.push((n.clone(), self.vars.get(n).cloned()));
            if self.set_var(n, v).is_ok()
                && let Some(var) = self.vars.get_mut(n)
            {
                var.exported = true;
            }
        }
        saved
    }

    fn pop_temp_assigns(&mut self, saved: Vec<(String, Option<super::state::Var>)>) {
        for (n, old) in saved.into_iter().rev() {
            match old {
                Some(v) => {
                    self.vars.insert(n, v);
                }
                None => {
                    self.vars.remove(&n);
                }
            }
        }
    }

    /// Calls a shell function with `argv[1..]` as its positional parameters.
    pub fn call_function(&mut self, f: &FunctionDef, argv: &[String]) -> Status {
        if self.func_depth >= MAX_FUNC_DEPTH {
            self.error(&format!("{}: function nesting too deep", f.name));
            return Err(self.fatal(2));
        }
        let saved = std::mem::replace(&mut self.positional, argv[1..].to_vec());
        self.func_depth += 1;
        self.local_frames.push(Vec::new());
        let saved_loop = std::mem::replace(&mut self.loop_depth, 0);
        let r = self.run_command(&f.body, false);
        self.loop_depth = saved_loop;
        if let Some(frame) = self.local_frames.pop() {
            self.pop_temp_assigns(frame);
        }
        self.func_depth -= 1;
        self.positional = saved;
        match r {
            Err(Flow::Return(s)) => Ok(s),
            other => other,
        }
    }
}
