//! Drawing pieces every dashboard uses: the tab bar with its status, the node table's click
//! rows and process cells, an event list (timeline), the command log and the log panes.

use std::collections::VecDeque;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Tabs};

use super::CommandRecord;
use super::LogLine;
use super::logs::LogPane;
use crate::cluster::NodeInfo;
use crate::tui::theme::Theme;
use crate::tui::{Click, Hits, clock, redact};

/// Makes each row of a bordered node table (one header line) a click target selecting its
/// node; rows below the table's bottom border are not.
pub fn row_hits(hits: &mut Hits, area: Rect, ids: impl Iterator<Item = u64>) {
    for (i, id) in ids.enumerate() {
        let y = area.y + 2 + i as u16;
        if y < area.bottom().saturating_sub(1) {
            hits.push((
                Rect {
                    x: area.x,
                    y,
                    width: area.width,
                    height: 1,
                },
                Click::Node(id),
            ));
        }
    }
}

/// A dashboard's tab row: the titles (clickable: [`Click::Tab`]) and, on the right, the first
/// status text of `status` that fits (cut to the room left when none does).
#[allow(clippy::too_many_arguments)]
pub fn draw_tab_bar(
    f: &mut Frame,
    area: Rect,
    titles: &[&str],
    selected: usize,
    status: [&str; 2],
    status_style: Style,
    theme: &Theme,
    hits: &mut Hits,
) {
    let tabs_w: u16 = titles.iter().map(|t| t.chars().count() as u16 + 3).sum();
    let room = area.width.saturating_sub(tabs_w) as usize;
    let text = status
        .iter()
        .find(|s| s.chars().count() <= room)
        .unwrap_or(&status[1]);
    let status: String = text.chars().take(room).collect();
    let tabs = Tabs::new(titles.iter().map(|t| Line::from(*t)))
        .select(selected)
        .style(theme.muted())
        .highlight_style(theme.title().add_modifier(Modifier::REVERSED))
        .divider("│");
    let sw = status.chars().count() as u16;
    let [t, s] = Layout::horizontal([Constraint::Min(0), Constraint::Length(sw)]).areas(area);
    f.render_widget(tabs, t);
    f.render_widget(Paragraph::new(Span::styled(status, status_style)), s);
    // Click targets: each title plus its padding and divider.
    let mut x = t.x;
    for (i, title) in titles.iter().enumerate() {
        let w = title.chars().count() as u16 + 2;
        hits.push((
            Rect {
                x,
                y: t.y,
                width: w,
                height: 1,
            },
            Click::Tab(i),
        ));
        x += w + 1;
    }
}

/// A node's pid, RSS, CPU and uptime cells (placeholders when `hide`, for stable snapshots).
pub fn process_cells(n: &NodeInfo, hide: bool) -> [String; 4] {
    if hide {
        return ["<pid>", "<rss>", "<cpu>", "<up>"].map(String::from);
    }
    [
        n.pid.map_or("-".into(), |p| p.to_string()),
        format!("{}M", n.rss_bytes / (1024 * 1024)),
        format!("{:.0}%", n.cpu_percent),
        if n.uptime_ms == 0 {
            "-".into()
        } else {
            clock::human_duration(n.uptime_ms)
        },
    ]
}

/// A bordered list of timed entries (time, styled text), newest at the bottom; long entries
/// wrap so that nothing at their end is cut off.
pub fn draw_event_list<'a>(
    f: &mut Frame,
    area: Rect,
    title: &str,
    entries: impl DoubleEndedIterator<Item = (u64, Style, &'a str)>,
    theme: &Theme,
    hide: bool,
) {
    let block = Block::bordered().title(title.to_string());
    let inner = block.inner(area);
    f.render_widget(block, area);
    let h = inner.height as usize;
    let w = inner.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    for (at_ms, style, text) in entries.rev() {
        if lines.len() >= h {
            break;
        }
        let time = if hide {
            "--:--:--".into()
        } else {
            clock::hms(at_ms)
        };
        let text = if hide { redact(text) } else { text.to_string() };
        let chunks = wrap_text(&text, w.saturating_sub(9).max(8));
        let mut entry: Vec<Line> = chunks
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let lead = if i == 0 {
                    format!("{time} ")
                } else {
                    " ".repeat(9)
                };
                Line::from(vec![
                    Span::styled(lead, theme.muted()),
                    Span::styled(c, style),
                ])
            })
            .collect();
        entry.append(&mut lines);
        lines = entry;
    }
    let skip = lines.len().saturating_sub(h);
    let lines = lines.split_off(skip);
    f.render_widget(Paragraph::new(lines), inner);
}

/// The command log: each command with its mark (… running, ✓, ✗N), time, source and output,
/// newest at the bottom, `scroll` lines up from it.
pub fn draw_command_log(
    f: &mut Frame,
    area: Rect,
    commands: &[CommandRecord],
    scroll: usize,
    theme: &Theme,
    hide: bool,
) {
    let block = Block::bordered().title(" command log (every action is a shell command) ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let mut lines = Vec::new();
    for c in commands {
        let (mark, style) = match c.status {
            None => ("…".to_string(), theme.fg(theme.warn)),
            Some(0) => ("✓".to_string(), theme.fg(theme.good)),
            Some(s) => (format!("✗{s}"), theme.fg(theme.bad)),
        };
        let took = match (c.elapsed, hide) {
            (Some(_), true) => " (<t>)".to_string(),
            (Some(d), false) => format!(" ({} ms)", d.as_millis()),
            _ => String::new(),
        };
        lines.push(Line::from(vec![
            Span::styled("$ ", theme.title()),
            Span::styled(c.cmd.clone(), Style::default().add_modifier(Modifier::BOLD)),
            Span::styled(format!("  {mark}{took}"), style),
            Span::styled(format!("  [{}]", c.source), theme.muted()),
        ]));
        for l in c.output.lines() {
            let l = if hide { redact(l) } else { l.to_string() };
            lines.push(Line::styled(format!("  {l}"), theme.muted()));
        }
    }
    let h = inner.height as usize;
    let end = lines.len().saturating_sub(scroll.min(lines.len()));
    let start = end.saturating_sub(h);
    f.render_widget(Paragraph::new(lines[start..end].to_vec()), inner);
}

/// The log pane of `logs`: merged, or one pane per node of `ids` (stacked, the `selected`
/// one scrollable, each a [`Click::Node`] target) when the pane's merge is off.
#[allow(clippy::too_many_arguments)]
pub fn draw_log_panes(
    f: &mut Frame,
    area: Rect,
    pane: &mut LogPane,
    logs: &VecDeque<LogLine>,
    ids: &[u64],
    selected: u64,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    if pane.merged || ids.is_empty() {
        let title = format!(" logs: {} ", pane.describe(selected));
        let block = Block::bordered().title(title);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let lines = pane.render(logs.iter(), 0, inner.height as usize, theme, hide);
        f.render_widget(Paragraph::new(lines), inner);
        return;
    }
    let panes =
        Layout::vertical(ids.iter().map(|_| Constraint::Ratio(1, ids.len() as u32))).split(area);
    for (id, rect) in ids.iter().zip(panes.iter()) {
        let is_selected = *id == selected;
        let title = if is_selected {
            format!(" ▶ {} ", pane.describe(*id))
        } else {
            format!(" node {id} ")
        };
        let mut block = Block::bordered().title(title);
        if is_selected {
            block = block.border_style(theme.fg(theme.accent));
        }
        let inner = block.inner(*rect);
        f.render_widget(block, *rect);
        // Scrolling applies to the selected node's pane; the others follow.
        let mut pane_state = pane.clone();
        if !is_selected {
            pane_state.follow = true;
        }
        let lines = pane_state.render(logs.iter(), *id, inner.height as usize, theme, hide);
        if is_selected {
            pane.offset = pane_state.offset;
        }
        f.render_widget(Paragraph::new(lines), inner);
        hits.push((*rect, Click::Node(*id)));
    }
}

/// Splits `text` into pieces of at most `width` characters, at spaces where possible.
pub fn wrap_text(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    let mut cur = String::new();
    for word in text.split(' ') {
        let wl = word.chars().count();
        let cl = cur.chars().count();
        if cl > 0 && cl + 1 + wl > width {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
        while cur.chars().count() > width {
            let head: String = cur.chars().take(width).collect();
            cur = cur.chars().skip(width).collect();
            out.push(head);
        }
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::wrap_text;

    #[test]
    fn wrapping_keeps_every_word() {
        assert_eq!(
            wrap_text("node 1 elected leader after 240 ms", 12),
            vec!["node 1", "elected", "leader after", "240 ms"]
        );
        assert_eq!(wrap_text("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
    }
}
