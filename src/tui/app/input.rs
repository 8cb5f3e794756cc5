//! Keys and the mouse: the command bar, the log search and popups take keys first; the rest
//! go through the shown screen's command list.

use super::*;

impl App {
    /// Handles a key.
    pub fn on_key(&mut self, ev: &KeyEvent) -> Option<Effect> {
        if let Some(text) = self.bar.as_mut() {
            match ev.code {
                KeyCode::Esc => self.bar = None,
                KeyCode::Enter => {
                    let cmd = text.trim().to_string();
                    self.bar = None;
                    self.bar_recall = None;
                    if !cmd.is_empty() {
                        if self.bar_history.last() != Some(&cmd) {
                            self.bar_history.push(cmd.clone());
                        }
                        return Some(Effect::Run(cmd, ":".into()));
                    }
                }
                KeyCode::Up | KeyCode::Down => {
                    // History: ↑ older, ↓ newer.
                    let n = self.bar_history.len();
                    let next = match (ev.code, self.bar_recall) {
                        (KeyCode::Up, None) if n > 0 => Some(n - 1),
                        (KeyCode::Up, Some(i)) => Some(i.saturating_sub(1)),
                        (KeyCode::Down, Some(i)) if i + 1 < n => Some(i + 1),
                        _ => None,
                    };
                    self.bar_recall = next;
                    *text = next
                        .and_then(|i| self.bar_history.get(i).cloned())
                        .unwrap_or_default();
                }
                KeyCode::Backspace => {
                    text.pop();
                }
                KeyCode::Char(c)
                    if !ev
                        .modifiers
                        .contains(crossterm::event::KeyModifiers::CONTROL) =>
                {
                    text.push(c)
                }
                KeyCode::Char('c') => self.bar = None,
                _ => {}
            }
            return None;
        }
        if self.log_pane().editing {
            let ctrl = ev
                .modifiers
                .contains(crossterm::event::KeyModifiers::CONTROL);
            let pane = self.log_pane();
            let q = &mut pane.query;
            match ev.code {
                KeyCode::Esc | KeyCode::Char('c') if ctrl || ev.code == KeyCode::Esc => {
                    q.clear();
                    pane.editing = false;
                }
                KeyCode::Enter => pane.editing = false,
                KeyCode::Backspace => {
                    q.pop();
                }
                KeyCode::Char(c) if !ctrl => q.push(c),
                _ => {}
            }
            return None;
        }
        if let Some(p) = self.popup.as_mut() {
            match ev.code {
                KeyCode::Up | KeyCode::Char('k') => p.scroll = p.scroll.saturating_sub(1),
                KeyCode::Down | KeyCode::Char('j') => p.scroll = p.scroll.saturating_add(1),
                KeyCode::PageUp => p.scroll = p.scroll.saturating_sub(10),
                KeyCode::PageDown => p.scroll = p.scroll.saturating_add(10),
                KeyCode::Enter if !p.runs.is_empty() => {
                    let name = p.selected_run().map(str::to_string);
                    self.popup = None;
                    return name.and_then(|n| self.run_scenario(&n));
                }
                _ => self.popup = None,
            }
            return None;
        }
        if ev.code == KeyCode::Esc && self.running_command().is_some() {
            // Esc interrupts the running command first; the next Esc goes back.
            return Some(Effect::Cancel);
        }
        let cmds = self.commands();
        let mut action = keys::dispatch(&cmds, ev)?;
        // One command serves the digit keys: the digit is the node.
        if action == Action::SelectNode(0)
            && let KeyCode::Char(d) = ev.code
        {
            action = Action::SelectNode(d.to_digit(10).map_or(0, u64::from));
        }
        if self.help && action != Action::Quit {
            self.help = false;
            if action == Action::Help || action == Action::Back {
                return None;
            }
        }
        self.act(action)
    }

    /// Handles the mouse.
    pub fn on_mouse(&mut self, ev: &MouseEvent) -> Option<Effect> {
        match ev.kind {
            MouseEventKind::ScrollUp => return self.act(Action::Up),
            MouseEventKind::ScrollDown => return self.act(Action::Down),
            MouseEventKind::Down(MouseButton::Left) => {}
            _ => return None,
        }
        let hit = self
            .hits
            .iter()
            .find(|(r, _)| {
                ev.column >= r.x && ev.column < r.right() && ev.row >= r.y && ev.row < r.bottom()
            })
            .map(|(_, c)| *c)?;
        match hit {
            Click::Tab(_) | Click::Node(_) => {
                if let Some(d) = self.shown_board() {
                    d.click(hit);
                }
            }
            Click::HomeTab(i) => self.home_tab = i,
            Click::Project(pos) => {
                if self.home_sel == pos {
                    return self.act(Action::Open);
                }
                self.home_sel = pos;
            }
        }
        None
    }
}
