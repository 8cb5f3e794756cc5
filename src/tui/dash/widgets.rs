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
    let w = usize::from(inner.width).max(4);
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
        // Long lines wrap (nothing at their end is cut off): the command over as many rows
        // as it needs, then its outcome; output lines indented under it.
        let status = format!("  {mark}{took}");
        let source = format!("  [{}]", c.source);
        let bold = Style::default().add_modifier(Modifier::BOLD);
        let head = 2 + c.cmd.chars().count() + status.chars().count() + source.chars().count();
        if head <= w {
            lines.push(Line::from(vec![
                Span::styled("$ ", theme.title()),
                Span::styled(c.cmd.clone(), bold),
                Span::styled(status, style),
                Span::styled(source, theme.muted()),
            ]));
        } else {
            for (i, chunk) in wrap_text(&c.cmd, w.saturating_sub(2))
                .into_iter()
                .enumerate()
            {
                let lead = if i == 0 { "$ " } else { "  " };
                lines.push(Line::from(vec![
                    Span::styled(lead, theme.title()),
                    Span::styled(chunk, bold),
                ]));
            }
            lines.push(Line::from(vec![
                Span::styled(status, style),
                Span::styled(source, theme.muted()),
            ]));
        }
        for l in c.output.lines() {
            let l = if hide { redact(l) } else { l.to_string() };
            // Wrapped rows keep the line's own indentation (`  > POST …` under its command).
            // A table row (columns aligned with runs of spaces) is not wrapped: its columns
            // would scatter over several rows; the Commands tab shows it at full width.
            let rest = l.trim_start();
            let indent = " ".repeat(l.len() - rest.len() + 2);
            if rest.trim_end().contains("   ") {
                lines.push(Line::styled(format!("{indent}{rest}"), theme.muted()));
                continue;
            }
            for chunk in wrap_text(rest, w.saturating_sub(indent.len()).max(8)) {
                lines.push(Line::styled(format!("{indent}{chunk}"), theme.muted()));
            }
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

/// The text of a chart's time axis `width` columns wide, for a series of `points` samples
/// (the newest at the right edge) taken every `secs_per_point` seconds: `-90s ───── now`.
pub fn time_axis(width: usize, points: usize, secs_per_point: u64) -> String {
    let shown = points.min(width);
    if width < 10 || shown == 0 {
        return String::new();
    }
    let left = format!("-{}s", shown as u64 * secs_per_point);
    let right = "now";
    let pad = width.saturating_sub(shown);
    let dashes = shown.saturating_sub(left.len() + right.len() + 2);
    if dashes == 0 {
        return format!("{}{right}", " ".repeat(width - right.len()));
    }
    format!("{}{left} {} {right}", " ".repeat(pad), "─".repeat(dashes))
}

/// Splits a chart's area into the chart and, when there is room (3 rows or more), a one-row
/// time axis under it ([`time_axis`]), drawn muted. Returns the chart's area.
pub fn with_time_axis(
    f: &mut Frame,
    area: Rect,
    points: usize,
    secs_per_point: u64,
    theme: &Theme,
) -> Rect {
    if area.height < 3 || points == 0 {
        return area;
    }
    let [chart, axis] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    f.render_widget(
        Paragraph::new(Span::styled(
            time_axis(usize::from(axis.width), points, secs_per_point),
            theme.muted(),
        )),
        axis,
    );
    chart
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_time_axis_spans_the_plotted_points_and_ends_at_now() {
        let a = super::time_axis(30, 20, 1);
        assert_eq!(a.chars().count(), 30, "{a}");
        assert!(a.starts_with("          -20s "), "{a:?}");
        assert!(a.ends_with(" now"), "{a:?}");
        // More points than columns: the axis covers what is shown.
        assert!(super::time_axis(30, 500, 2).starts_with("-60s"));
        assert_eq!(super::time_axis(5, 10, 1), "");
    }

    use super::wrap_text;

    #[test]
    fn wrapping_keeps_every_word() {
        assert_eq!(
            wrap_text("node 1 elected leader after 240 ms", 12),
            vec!["node 1", "elected", "leader after", "240 ms"]
        );
        assert_eq!(wrap_text("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
    }

    #[test]
    fn long_command_log_lines_wrap_instead_of_being_cut() {
        use ratatui::Terminal;
        use ratatui::backend::TestBackend;
        let rec = crate::tui::dash::CommandRecord {
            id: 1,
            cmd: "kdc kill 2; kdc ticket alice files".into(),
            source: "tour".into(),
            started: std::time::Instant::now(),
            status: Some(1),
            output:
                "kdc: ticket alice files: cannot issue: only 1 of 3 authorities answered (need 2)"
                    .into(),
            elapsed: Some(std::time::Duration::from_millis(10)),
        };
        let theme = crate::tui::theme::Theme::dark();
        let mut term = Terminal::new(TestBackend::new(34, 14)).expect("terminal");
        term.draw(|f| super::draw_command_log(f, f.area(), &[rec], 0, &theme, false))
            .expect("draw");
        let buf = term.backend().buffer();
        let text: String = (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n");
        for word in [
            "alice",
            "authorities",
            "answered",
            "(need",
            "2)",
            "✗1",
            "[tour]",
        ] {
            assert!(text.contains(word), "{word} cut off:\n{text}");
        }
    }
}
