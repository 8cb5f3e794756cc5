//! Drawing the P2P dashboard: tabs, the node table (trackers and peers), a piece map per peer,
//! the tracker panel (ops, replication lag, version vectors, digests, op log), the aggregate
//! throughput sparkline, the timeline, the command log and the log pane.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Sparkline, Table};

use super::model::{EventKind, P2pModel, PeerState};
use super::{P2pLabView, TABS};
use crate::cluster::NodeInfo;
use crate::tui::dash::widgets::{draw_command_log, draw_tab_bar, wrap_text};
use crate::tui::theme::Theme;
use crate::tui::{Click, Hits, clock, redact};

/// `1.5M`, `320K`, `0`: bytes per second, short.
pub fn rate(bps: u64) -> String {
    match bps {
        0 => "0".into(),
        b if b >= 1 << 20 => format!("{:.1}M", b as f64 / (1 << 20) as f64),
        b => format!("{}K", b.div_ceil(1024)),
    }
}

/// Draws the dashboard into `area`.
pub fn draw(
    f: &mut Frame,
    area: Rect,
    lab: &mut P2pLabView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let [tabs_area, body] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    draw_tabs(f, tabs_area, lab, theme, hits);
    match TABS[lab.tab] {
        "Logs" => draw_logs(f, body, lab, theme, hide, hits),
        "Timeline" => draw_timeline(f, body, &lab.model, lab.scroll, theme, hide),
        "Commands" => draw_command_log(f, body, &lab.commands, lab.scroll, theme, hide),
        _ => draw_overview(f, body, lab, theme, hide, hits),
    }
}

/// The one-line summary beside the tabs.
pub fn summary(lab: &P2pLabView) -> String {
    let m = &lab.model;
    if lab.sup.is_none() && m.nodes.is_empty() {
        let starting = lab
            .commands
            .iter()
            .any(|c| c.cmd.starts_with("p2p up") && c.status.is_none());
        return if starting {
            "starting the lab…".into()
        } else {
            "no lab: `:` then `p2p up`".into()
        };
    }
    let leechers: Vec<&PeerState> = m.peers.values().filter(|p| p.role == "leecher").collect();
    let done = leechers.iter().filter(|p| p.complete).count();
    let trackers = format!("trackers {}", m.agreement());
    format!(
        "{done}/{} leechers done · {trackers} · ↓{}/s",
        leechers.len(),
        rate(m.down_series.back().copied().unwrap_or(0))
    )
}

fn draw_tabs(f: &mut Frame, area: Rect, lab: &P2pLabView, theme: &Theme, hits: &mut Hits) {
    // Drop the rate, then cut, when the summary does not fit beside the tabs.
    let full = format!("{} ", summary(lab));
    let short = match full.rsplit_once(" · ↓") {
        Some((head, _)) => format!("{head} "),
        None => full.clone(),
    };
    let agreement = lab.model.agreement();
    let style = if agreement == "diverged" || agreement.ends_with("down") {
        theme.fg(theme.warn)
    } else {
        theme.fg(theme.good)
    };
    draw_tab_bar(f, area, &TABS, lab.tab, [&full, &short], style, theme, hits);
}

fn draw_overview(
    f: &mut Frame,
    area: Rect,
    lab: &mut P2pLabView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let nodes = lab.model.nodes.len().max(7) as u16;
    let peers = lab.model.peers.len().max(5) as u16;
    let table_h = nodes + 3;
    let maps_h = peers + 2;
    let mid_h = 8;
    let big = area.height >= table_h + maps_h + mid_h + 8 + 10;
    let show_mid = area.height >= table_h + maps_h + mid_h + 5;
    // Short terminals keep the table, the piece maps and at least a line each of the command
    // log and the timeline; the tracker panel and the sparkline come next.
    let show_maps = area.height >= table_h + maps_h + 3;
    let mut cons = vec![Constraint::Length(table_h)];
    if show_maps {
        cons.push(Constraint::Length(maps_h));
    }
    if show_mid {
        cons.push(Constraint::Length(mid_h));
    }
    cons.push(Constraint::Min(3));
    if big {
        cons.push(Constraint::Length(area.height / 5));
    }
    let parts = Layout::vertical(cons).split(area);
    let mut i = 0;
    draw_table(f, parts[i], lab, theme, hide, hits);
    i += 1;
    if show_maps {
        draw_piece_maps(f, parts[i], lab, theme);
        i += 1;
    }
    if show_mid {
        let [tr, tp] = Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
            .areas(parts[i]);
        draw_trackers(f, tr, &lab.model, theme, hide);
        draw_throughput(f, tp, &lab.model, theme, hide);
        i += 1;
    }
    let [cl, tl] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
        .areas(parts[i]);
    draw_command_log(f, cl, &lab.commands, 0, theme, hide);
    draw_timeline(f, tl, &lab.model, 0, theme, hide);
    if big {
        draw_logs(f, parts[i + 1], lab, theme, hide, hits);
    }
}

fn state_style(theme: &Theme, state: &str) -> Style {
    match state {
        "running" => theme.fg(theme.good),
        "paused" | "partitioned" => theme.fg(theme.warn),
        _ => theme.fg(theme.bad),
    }
}

fn draw_table(
    f: &mut Frame,
    area: Rect,
    lab: &P2pLabView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    // Narrow terminals drop the upload rate and the connection count, and merge bad/banned.
    let wide = area.width >= 100;
    let header: Vec<&str> = if wide {
        vec![
            "ID", "ROLE", "STATE", "PID", "RSS", "CPU", "PROGRESS", "DOWN/s", "UP/s", "PEERS",
            "TRACKER", "BAD", "BANNED",
        ]
    } else {
        vec![
            "ID", "ROLE", "STATE", "PID", "RSS", "CPU", "PROGRESS", "DOWN/s", "TRK", "BAD/BAN",
        ]
    };
    let header = Row::new(header).style(theme.title());
    let m = &lab.model;
    let rows: Vec<Row> = m
        .nodes
        .iter()
        .map(|n| {
            let state = m.state_word(n);
            let (pid, rss, cpu) = if hide {
                ("<pid>".into(), "<rss>".into(), "<cpu>".into())
            } else {
                (
                    n.pid.map_or("-".into(), |p| p.to_string()),
                    if n.status.is_alive() {
                        format!("{:.1}M", n.rss_bytes as f64 / (1 << 20) as f64)
                    } else {
                        "-".into()
                    },
                    format!("{:.0}%", n.cpu_percent),
                )
            };
            let dash = || "-".to_string();
            let mut cells = vec![
                format!("{}{}", if n.id == lab.selected { "▶" } else { " " }, n.id),
                role_of(m, n),
                String::new(),
                pid,
                rss,
                cpu,
            ];
            match (m.trackers.get(&n.id), m.peers.get(&n.id)) {
                (Some(t), _) => cells.extend([
                    format!("ops {}", t.ops),
                    dash(),
                    dash(),
                    t.peers.to_string(),
                    dash(),
                    dash(),
                    dash(),
                ]),
                (None, Some(p)) => {
                    let pct = u64::from(p.have) * 100 / u64::from(p.pieces.max(1));
                    // A dead process has no rates or connections; its pieces are on disk.
                    let alive = n.status.is_alive();
                    let (down, up) = match (alive, hide) {
                        (false, _) => (dash(), dash()),
                        (true, true) => ("<r>".into(), "<r>".into()),
                        (true, false) => (rate(p.down_rate), rate(p.up_rate)),
                    };
                    let live = |v: String| if alive { v } else { dash() };
                    cells.extend([
                        format!("{pct:>3}% {}/{}", p.have, p.pieces),
                        down,
                        up,
                        live(p.peers.to_string()),
                        live(p.tracker.map_or(dash(), |t| t.to_string())),
                        p.bad_pieces.to_string(),
                        p.banned.to_string(),
                    ])
                }
                _ => cells.extend((0..7).map(|_| dash())),
            }
            if !wide {
                // [.., PROGRESS, DOWN, UP, PEERS, TRACKER, BAD, BANNED] → [.., PROGRESS, DOWN,
                // TRACKER, BAD/BANNED]
                let banned = cells.pop().unwrap_or_default();
                let bad = cells.pop().unwrap_or_default();
                let tracker = cells.pop().unwrap_or_default();
                cells.truncate(cells.len().saturating_sub(2));
                cells.push(tracker);
                cells.push(if bad == "-" {
                    bad
                } else {
                    format!("{bad}/{banned}")
                });
            }
            let mut row = Row::new(cells.into_iter().enumerate().map(|(i, c)| {
                if i == 2 {
                    Cell::from(Span::styled(state, state_style(theme, state)))
                } else {
                    Cell::from(c)
                }
            }));
            if n.id == lab.selected {
                row = row.style(theme.selected());
            }
            row
        })
        .collect();
    let widths: Vec<Constraint> = if wide {
        [3, 7, 11, 7, 6, 5, 12, 7, 7, 5, 7, 3, 6]
            .into_iter()
            .map(Constraint::Length)
            .collect()
    } else {
        [3, 7, 11, 7, 6, 5, 13, 6, 3, 7]
            .into_iter()
            .map(Constraint::Length)
            .collect()
    };
    let title = format!(
        " p2p · {} trackers, {} peers · ↑↓/1-9 select, click a row ",
        m.trackers.len(),
        m.peers.len()
    );
    f.render_widget(
        Table::new(rows, widths)
            .header(header)
            .column_spacing(1)
            .block(Block::bordered().title(title)),
        area,
    );
    crate::tui::dash::widgets::row_hits(hits, area, m.nodes.iter().map(|n| n.id));
}

fn role_of(m: &P2pModel, n: &NodeInfo) -> String {
    if m.is_tracker(n.id) {
        "tracker".into()
    } else {
        m.peers
            .get(&n.id)
            .map_or_else(|| "peer".into(), |p| p.role.clone())
    }
}

/// One peer's piece map scaled to `width` cells: `█` every piece of the cell held, `▒` some
/// of them, `·` none (so the map reads without colour too).
pub fn piece_cells(bits: &[bool], width: usize) -> Vec<(char, u8)> {
    let n = bits.len();
    if n == 0 || width == 0 {
        return Vec::new();
    }
    let w = width;
    (0..w)
        .map(|c| {
            let a = c * n / w;
            let b = ((c + 1) * n / w).max(a + 1).min(n);
            let held = bits[a..b].iter().filter(|h| **h).count();
            match held {
                0 => ('·', 0),
                h if h == b - a => ('█', 2),
                _ => ('▒', 1),
            }
        })
        .collect()
}

fn draw_piece_maps(f: &mut Frame, area: Rect, lab: &P2pLabView, theme: &Theme) {
    let block = Block::bordered().title(" piece maps (█ held  ▒ partly  · missing) ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let m = &lab.model;
    let label_w = 18usize;
    let width = (inner.width as usize).saturating_sub(label_w);
    let lines: Vec<Line> = m
        .peers
        .iter()
        .take(inner.height as usize)
        .map(|(id, p)| {
            let alive = m
                .nodes
                .iter()
                .find(|n| n.id == *id)
                .is_none_or(|n| n.status.is_alive());
            let pct = u64::from(p.have) * 100 / u64::from(p.pieces.max(1));
            let label = format!(
                "{}{id} {:<7} {pct:>3}% ",
                if *id == lab.selected { "▶" } else { " " },
                p.role
            );
            let mut spans = vec![Span::styled(
                format!("{label:<label_w$}"),
                if alive { theme.title() } else { theme.muted() },
            )];
            for (ch, level) in piece_cells(&p.bits, width) {
                let style = match (alive, level) {
                    (false, _) => theme.muted(),
                    (_, 2) => theme.fg(theme.good),
                    (_, 1) => theme.fg(theme.warn),
                    _ => theme.muted(),
                };
                spans.push(Span::styled(ch.to_string(), style));
            }
            Line::from(spans)
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

fn draw_trackers(f: &mut Frame, area: Rect, m: &P2pModel, theme: &Theme, hide: bool) {
    let word = m.agreement();
    let style = match word.as_str() {
        "converged" => theme.fg(theme.good),
        "diverged" => theme.fg(theme.warn),
        w if w.ends_with("down") => theme.fg(theme.warn),
        _ => theme.muted(),
    };
    let state = Span::styled(word, style);
    let block = Block::bordered().title(Line::from(vec![
        Span::raw(" trackers: "),
        state,
        Span::raw(" "),
    ]));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let mut lines = Vec::new();
    for n in m.nodes.iter().filter(|n| m.is_tracker(n.id)) {
        let word = m.state_word(n);
        let Some(t) = m.trackers.get(&n.id) else {
            lines.push(Line::from(vec![
                Span::styled(format!("{} ", n.id), theme.title()),
                Span::styled(word, state_style(theme, word)),
            ]));
            continue;
        };
        let vv: Vec<String> = t.vv.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        let lag = match (n.status.is_alive(), t.lag) {
            (false, _) => "-".to_string(),
            (true, Some(l)) => l.to_string(),
            (true, None) => "?".to_string(),
        };
        let digest = if hide {
            "<digest>".into()
        } else {
            t.digest.clone()
        };
        let ops = if hide {
            "<n>".into()
        } else {
            t.ops.to_string()
        };
        let vv = if hide { "<vv>".into() } else { vv.join(" ") };
        lines.push(Line::from(vec![
            Span::styled(format!("{} ", n.id), theme.title()),
            Span::styled(format!("{word:<11} "), state_style(theme, word)),
            Span::raw(format!("ops {ops} lag {lag} vv {vv} digest {digest}")),
        ]));
    }
    let room = (inner.height as usize).saturating_sub(lines.len());
    if room > 0 {
        // The newest op lines of every tracker, newest last.
        let mut ops: Vec<(u64, &String)> = Vec::new();
        for (id, log) in &m.op_logs {
            ops.extend(log.iter().rev().take(room).map(|l| (*id, l)));
        }
        let skip = ops.len().saturating_sub(room);
        for (id, l) in ops.into_iter().skip(skip) {
            let l = if hide { redact(l) } else { l.clone() };
            lines.push(Line::from(vec![
                Span::styled(format!("{id} op "), theme.muted()),
                Span::raw(l),
            ]));
        }
    }
    f.render_widget(Paragraph::new(lines), inner);
}

fn draw_throughput(f: &mut Frame, area: Rect, m: &P2pModel, theme: &Theme, hide: bool) {
    let now = m.down_series.back().copied().unwrap_or(0);
    let peak = m.down_series.iter().copied().max().unwrap_or(0);
    let title = if hide {
        " aggregate download ".to_string()
    } else {
        format!(
            " aggregate download {}/s (peak {}/s) ",
            rate(now),
            rate(peak)
        )
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    // One point a second, the newest at the right.
    let inner = crate::tui::dash::widgets::with_time_axis(f, inner, m.down_series.len(), 1, theme);
    let w = inner.width as usize;
    let data: Vec<u64> = m
        .down_series
        .iter()
        .skip(m.down_series.len().saturating_sub(w))
        .copied()
        .collect();
    f.render_widget(
        Sparkline::default().data(&data).style(theme.fg(theme.good)),
        inner,
    );
}

fn draw_timeline(
    f: &mut Frame,
    area: Rect,
    model: &P2pModel,
    scroll: usize,
    theme: &Theme,
    hide: bool,
) {
    let block = Block::bordered().title(" timeline ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let h = inner.height as usize;
    let w = inner.width as usize;
    let end = model.timeline.len().saturating_sub(scroll);
    let mut lines: Vec<Line> = Vec::new();
    for e in model.timeline.range(..end).rev() {
        let style = match e.kind {
            EventKind::Good => theme.fg(theme.good),
            EventKind::Fault => theme.fg(theme.bad),
            EventKind::Repair => theme.fg(theme.accent),
            EventKind::Info => Style::default(),
        };
        let time = if hide {
            "--:--:--".into()
        } else {
            clock::hms(e.at_ms)
        };
        let text = if hide {
            redact(&e.text)
        } else {
            e.text.clone()
        };
        let mut entry: Vec<Line> = wrap_text(&text, w.saturating_sub(9).max(8))
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
        if lines.len() >= h {
            break;
        }
    }
    let skip = lines.len().saturating_sub(h);
    f.render_widget(Paragraph::new(lines.split_off(skip)), inner);
}

fn draw_logs(
    f: &mut Frame,
    area: Rect,
    lab: &mut P2pLabView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let selected = if lab.logs.merged { 0 } else { lab.selected };
    let title = format!(" logs: {} ", lab.logs.describe(lab.selected));
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let lines = lab.logs.render(
        lab.model.logs.iter(),
        selected,
        inner.height as usize,
        theme,
        hide,
    );
    f.render_widget(Paragraph::new(lines), inner);
    if selected != 0 {
        hits.push((area, Click::Node(selected)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_maps_scale_to_the_width() {
        let bits: Vec<bool> = (0..100).map(|i| i < 50).collect();
        let cells = piece_cells(&bits, 10);
        assert_eq!(cells.len(), 10);
        assert_eq!(cells.iter().filter(|c| c.0 == '█').count(), 5);
        // A piece straddling a boundary shows as partly held.
        let bits: Vec<bool> = (0..100).map(|i| i < 45).collect();
        let cells = piece_cells(&bits, 10);
        assert!(cells.iter().any(|c| c.0 == '▒'));
        // Fewer pieces than cells: each piece is stretched, none invented.
        let cells = piece_cells(&[true, false], 10);
        assert_eq!(cells.iter().filter(|c| c.0 == '█').count(), 5);
        assert_eq!(cells.iter().filter(|c| c.0 == '·').count(), 5);
        assert!(piece_cells(&[], 10).is_empty());
    }

    #[test]
    fn rates_are_short() {
        assert_eq!(rate(0), "0");
        assert_eq!(rate(1000), "1K");
        assert_eq!(rate(3 << 20), "3.0M");
    }
}
