//! Drawing the forge dashboard: the node table, req/s and open-connection sparklines, the
//! p50/p99 latency chart, status counts (server and load side, parser rejections, failed
//! requests), the command log, the timeline and the log panes.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Cell, Chart, Dataset, GraphType, Paragraph, Row, Sparkline, Table,
};

use super::model::ForgeModel;
use super::timeline::{EventKind, status_name, thousands};
use super::{ForgeView, TABS};
use crate::cluster::{NodeInfo, NodeStatus};
use crate::forge::lab::{LOAD, SERVER};
use crate::tui::Hits;
use crate::tui::dash::widgets::{
    draw_command_log, draw_event_list, draw_log_panes, draw_tab_bar, process_cells,
};
use crate::tui::theme::Theme;

/// Draws the dashboard into `area`.
pub fn draw(
    f: &mut Frame,
    area: Rect,
    v: &mut ForgeView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let [tabs_area, body] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    draw_tabs(f, tabs_area, v, theme, hits);
    match TABS[v.tab] {
        "Logs" => draw_logs(f, body, v, theme, hide, hits),
        "Timeline" => draw_timeline(f, body, &v.model, v.scroll, theme, hide),
        "Commands" => draw_command_log(f, body, &v.commands, v.scroll, theme, hide),
        _ => draw_overview(f, body, v, theme, hide, hits),
    }
}

fn draw_tabs(f: &mut Frame, area: Rect, v: &ForgeView, theme: &Theme, hits: &mut Hits) {
    let m = &v.model;
    let server_up = m
        .nodes
        .iter()
        .any(|n| n.id == SERVER && n.status == NodeStatus::Running);
    let (full, short) = if !v.up() {
        let s = if v.starting() {
            "starting the forge lab… "
        } else {
            "no lab: `:` then `forge up` "
        };
        (s.to_string(), s.to_string())
    } else if !server_up {
        let s = "SERVER DOWN ".to_string();
        (s.clone(), s)
    } else {
        let state = if m.reloading() {
            "reloading"
        } else {
            "serving"
        };
        let load = if m.load.running {
            format!(
                " · {} req/s · {} failed",
                thousands(m.load.rps.round() as u64),
                thousands(m.load.errors)
            )
        } else {
            " · load off".to_string()
        };
        (format!("{state}{load} "), format!("{state} "))
    };
    let style = if server_up {
        theme.fg(theme.good)
    } else {
        theme.fg(theme.bad)
    };
    draw_tab_bar(f, area, &TABS, v.tab, [&full, &short], style, theme, hits);
}

fn draw_overview(
    f: &mut Frame,
    area: Rect,
    v: &mut ForgeView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let big = area.height >= 36;
    let table_h = 5;
    let traffic_h = if area.height >= 30 { 10 } else { 8 };
    let show_traffic = area.height >= table_h + traffic_h + 4;
    let mut cons = vec![Constraint::Length(table_h)];
    if show_traffic {
        cons.push(Constraint::Length(traffic_h));
    }
    cons.push(Constraint::Min(3));
    if big {
        cons.push(Constraint::Length(area.height / 4));
    }
    let parts = Layout::vertical(cons).split(area);
    let mut i = 0;
    draw_table(f, parts[i], v, theme, hide, hits);
    i += 1;
    if show_traffic {
        draw_traffic(f, parts[i], &v.model, theme);
        i += 1;
    }
    let [cl, tl] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
        .areas(parts[i]);
    draw_command_log(f, cl, &v.commands, 0, theme, hide);
    draw_timeline(f, tl, &v.model, 0, theme, hide);
    if big {
        draw_logs(f, parts[i + 1], v, theme, hide, hits);
    }
}

fn role_name(id: u64) -> &'static str {
    match id {
        SERVER => "server",
        LOAD => "load",
        _ => "?",
    }
}

/// The node's figures in one cell.
fn figures(n: &NodeInfo, m: &ForgeModel) -> String {
    if !n.status.is_alive() {
        return "-".into();
    }
    match n.id {
        SERVER => {
            let t = m.server_total();
            let live = m.servers.len();
            format!(
                "{} conns · {} requests{}",
                t.open,
                thousands(t.status.values().sum()),
                if live > 1 {
                    format!(" · {live} processes")
                } else {
                    String::new()
                }
            )
        }
        LOAD if m.load.running => format!(
            "{} req/s · p99 {:.2} ms · {} conns",
            thousands(m.load.rps.round() as u64),
            m.load.p99_ms,
            m.load.connections
        ),
        LOAD => format!(
            "idle · {} requests, {} failed",
            thousands(m.load.requests),
            thousands(m.load.errors)
        ),
        _ => String::new(),
    }
}

fn draw_table(
    f: &mut Frame,
    area: Rect,
    v: &ForgeView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let wide = area.width >= 110;
    let server_addr = v
        .model
        .nodes
        .iter()
        .find(|n| n.id == SERVER)
        .map(|n| n.addr.clone());
    let addr_text = |a: &str| {
        if hide {
            "<addr>".to_string()
        } else {
            a.to_string()
        }
    };
    let mut header = vec!["ID", "NODE", "PID", "STATE"];
    if wide {
        header.push("ADDR");
    }
    header.extend(["RSS", "CPU", "UP", "FIGURES"]);
    let rows: Vec<Row> = v
        .model
        .nodes
        .iter()
        .map(|n| {
            let state = n.status.as_str();
            let state_style = match n.status {
                NodeStatus::Running => theme.fg(theme.good),
                NodeStatus::Paused => theme.fg(theme.warn),
                _ => theme.fg(theme.bad),
            };
            let [pid, rss, cpu, up] = process_cells(n, hide);
            let mut cells = vec![
                Cell::from(format!(
                    "{}{}",
                    if n.id == v.selected { "▶" } else { " " },
                    n.id
                )),
                Cell::from(role_name(n.id)),
                Cell::from(pid),
                Cell::from(Span::styled(state, state_style)),
            ];
            if wide {
                let addr = if n.id == LOAD {
                    server_addr
                        .as_deref()
                        .map_or("-".into(), |a| format!("→ {}", addr_text(a)))
                } else {
                    addr_text(&n.addr)
                };
                cells.push(Cell::from(addr));
            }
            cells.extend([
                Cell::from(rss),
                Cell::from(cpu),
                Cell::from(up),
                Cell::from(figures(n, &v.model)),
            ]);
            let mut row = Row::new(cells);
            if n.id == v.selected {
                row = row.style(theme.selected());
            }
            row
        })
        .collect();
    let mut widths = vec![
        Constraint::Length(3),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Length(8),
    ];
    if wide {
        widths.push(Constraint::Length(23));
    }
    widths.extend([
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Min(10),
    ]);
    let title = match (&server_addr, wide) {
        (Some(a), false) => format!(" forge · http://{} · 1/2 select ", addr_text(a)),
        _ => " forge lab · server + load generator · ↑↓/1-2 select, click a row ".to_string(),
    };
    f.render_widget(
        Table::new(rows, widths)
            .header(Row::new(header).style(theme.title()))
            .column_spacing(1)
            .block(Block::bordered().title(title)),
        area,
    );
    crate::tui::dash::widgets::row_hits(hits, area, v.model.nodes.iter().map(|n| n.id));
}

/// req/s and open connections | latency chart | status counts.
fn draw_traffic(f: &mut Frame, area: Rect, m: &ForgeModel, theme: &Theme) {
    let [a, b, c] = Layout::horizontal([
        Constraint::Percentage(36),
        Constraint::Percentage(34),
        Constraint::Percentage(30),
    ])
    .areas(area);
    draw_rate(f, a, m, theme);
    draw_latency(f, b, m, theme);
    draw_statuses(f, c, m, theme);
}

fn draw_rate(f: &mut Frame, area: Rect, m: &ForgeModel, theme: &Theme) {
    let conns = m.server_total().open;
    let title = if m.load.running {
        format!(
            " req/s {} · conns {conns} ",
            thousands(m.load.rps.round() as u64)
        )
    } else {
        format!(" req/s: load off (w) · conns {conns} ")
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [labels, charts] =
        Layout::horizontal([Constraint::Length(6), Constraint::Min(0)]).areas(inner);
    // One bar per second, the newest at the right: the axis under the charts says so.
    let charts = crate::tui::dash::widgets::with_time_axis(f, charts, m.seconds.len(), 1, theme);
    let labels = Rect {
        height: charts.height,
        ..labels
    };
    let w = charts.width as usize;
    let tail = m.seconds.len().saturating_sub(w);
    let rps: Vec<u64> = m
        .seconds
        .iter()
        .skip(tail)
        .map(|s| s.rps.round() as u64)
        .collect();
    let open: Vec<u64> = m.seconds.iter().skip(tail).map(|s| s.conns).collect();
    if inner.height >= 4 {
        let split = [Constraint::Percentage(60), Constraint::Percentage(40)];
        let [ra, ca] = Layout::vertical(split).areas(charts);
        let [rl, cl] = Layout::vertical(split).areas(labels);
        f.render_widget(
            Paragraph::new(Span::styled("req/s", theme.fg(theme.good))),
            rl,
        );
        f.render_widget(
            Paragraph::new(Span::styled("conns", theme.fg(theme.accent))),
            cl,
        );
        f.render_widget(
            Sparkline::default().data(rps).style(theme.fg(theme.good)),
            ra,
        );
        f.render_widget(
            Sparkline::default()
                .data(open)
                .style(theme.fg(theme.accent)),
            ca,
        );
    } else {
        f.render_widget(
            Paragraph::new(Span::styled("req/s", theme.fg(theme.good))),
            labels,
        );
        f.render_widget(
            Sparkline::default().data(rps).style(theme.fg(theme.good)),
            charts,
        );
    }
}

fn draw_latency(f: &mut Frame, area: Rect, m: &ForgeModel, theme: &Theme) {
    // The title doubles as the legend: each figure in its line's colour.
    let title = if m.load.running {
        let name = if area.width >= 34 { " latency " } else { " " };
        Line::from(vec![
            Span::raw(name),
            Span::styled(format!("p50 {:.2}", m.load.p50_ms), theme.fg(theme.good)),
            Span::raw(" · "),
            Span::styled(format!("p99 {:.2}", m.load.p99_ms), theme.fg(theme.warn)),
            Span::raw(" ms "),
        ])
    } else {
        Line::from(vec![
            Span::raw(" latency ms: "),
            Span::styled("p50", theme.fg(theme.good)),
            Span::raw(" · "),
            Span::styled("p99", theme.fg(theme.warn)),
            Span::raw(" "),
        ])
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    // Braille: two points per cell across.
    let n = (inner.width as usize).saturating_sub(6) * 2;
    let tail = m.seconds.len().saturating_sub(n.max(1));
    let shown: Vec<_> = m.seconds.iter().skip(tail).collect();
    if shown.iter().all(|s| s.p99_ms == 0.0) {
        f.render_widget(block, area);
        f.render_widget(
            Paragraph::new(Line::styled("no load yet: w starts it", theme.muted())),
            inner,
        );
        return;
    }
    let p50: Vec<(f64, f64)> = shown
        .iter()
        .enumerate()
        .map(|(i, s)| (i as f64, s.p50_ms))
        .collect();
    let p99: Vec<(f64, f64)> = shown
        .iter()
        .enumerate()
        .map(|(i, s)| (i as f64, s.p99_ms))
        .collect();
    let top = shown.iter().map(|s| s.p99_ms).fold(0.0_f64, f64::max) * 1.1;
    let top = if top > 0.0 { top } else { 1.0 };
    let marker = Marker::Braille;
    let chart = Chart::new(vec![
        Dataset::default()
            .name("p99")
            .marker(marker)
            .graph_type(GraphType::Line)
            .style(theme.fg(theme.warn))
            .data(&p99),
        Dataset::default()
            .name("p50")
            .marker(marker)
            .graph_type(GraphType::Line)
            .style(theme.fg(theme.good))
            .data(&p50),
    ])
    .block(block)
    .legend_position(None)
    .x_axis(Axis::default().bounds([0.0, (shown.len().max(2) - 1) as f64]))
    .y_axis(
        Axis::default()
            .bounds([0.0, top])
            .labels([Span::raw("0"), Span::raw(format!("{top:.1}"))])
            .style(theme.muted()),
    );
    f.render_widget(chart, area);
}

/// `n` in at most `w` characters: `1,234,567`, else `1234567`, else `1.2M`.
fn fit(n: u64, w: usize) -> String {
    let t = thousands(n);
    if t.chars().count() <= w {
        return t;
    }
    let plain = n.to_string();
    if plain.len() <= w {
        return plain;
    }
    match n {
        0..=999_999 => format!("{}k", n / 1000),
        1_000_000..=999_999_999 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.1}G", n as f64 / 1e9),
    }
}

fn draw_statuses(f: &mut Frame, area: Rect, m: &ForgeModel, theme: &Theme) {
    let block = Block::bordered().title(" status codes ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let col = w.saturating_sub(7) / 2;
    let server = m.server_total();
    let class = |codes: &std::collections::BTreeMap<u16, u64>, c: u16| -> u64 {
        codes
            .iter()
            .filter(|(k, _)| **k / 100 == c)
            .map(|(_, v)| v)
            .sum()
    };
    let row = |label: &str, a: String, b: String, style: Style| {
        Line::from(vec![
            Span::styled(format!("{label:<6} "), theme.title()),
            Span::styled(format!("{a:>col$}{b:>col$}"), style),
        ])
    };
    let mut lines = vec![row("", "server".into(), "load".into(), theme.muted())];
    let class_style = |c: u16, n: u64| match (c, n) {
        (_, 0) => Style::default(),
        (2, _) => theme.fg(theme.good),
        (4, _) => theme.fg(theme.warn),
        _ => theme.fg(theme.bad),
    };
    let mut rest = Vec::new();
    for c in [2u16, 4, 5, 3] {
        let (s, l) = (class(&server.status, c), class(&m.load.status, c));
        let line = row(
            &format!("{c}xx"),
            fit(s, col.saturating_sub(1)),
            fit(l, col.saturating_sub(1)),
            class_style(c, s.max(l)),
        );
        if c == 3 {
            rest.push(line);
        } else {
            lines.push(line);
        }
    }
    let failed_style = if m.load.errors > 0 {
        theme.fg(theme.bad).add_modifier(Modifier::BOLD)
    } else {
        theme.fg(theme.good)
    };
    lines.push(row(
        "failed",
        "-".into(),
        fit(m.load.errors, col.saturating_sub(1)),
        failed_style,
    ));
    if !server.rejected.is_empty() {
        let mut spans = vec![Span::styled("parser ", theme.title())];
        let wide = w >= 30;
        for (code, n) in &server.rejected {
            let name = status_name(*code);
            let text = if wide && !name.is_empty() && server.rejected.len() == 1 {
                format!("{code} {name} ×{} ", thousands(*n))
            } else {
                format!("{code}×{} ", thousands(*n))
            };
            spans.push(Span::styled(text, theme.fg(theme.warn)));
        }
        lines.push(Line::from(spans));
    }
    lines.extend(rest);
    lines.truncate(inner.height as usize);
    f.render_widget(Paragraph::new(lines), inner);
}

fn draw_timeline(
    f: &mut Frame,
    area: Rect,
    model: &ForgeModel,
    scroll: usize,
    theme: &Theme,
    hide: bool,
) {
    let end = model.timeline.len().saturating_sub(scroll);
    let entries = model.timeline.entries().range(..end).map(|e| {
        let style = match e.kind {
            EventKind::Info => Style::default(),
            EventKind::Attack => theme.fg(theme.warn),
            EventKind::Good => theme.fg(theme.good),
            EventKind::Reload => theme.fg(theme.accent),
            EventKind::Fault => theme.fg(theme.bad),
        };
        (e.at_ms, style, e.text.as_str())
    });
    draw_event_list(f, area, " timeline ", entries, theme, hide);
}

fn draw_logs(
    f: &mut Frame,
    area: Rect,
    v: &mut ForgeView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let ids: Vec<u64> = v.model.nodes.iter().map(|n| n.id).collect();
    draw_log_panes(
        f,
        area,
        &mut v.logs,
        v.model.logs.lines(),
        &ids,
        v.selected,
        theme,
        hide,
        hits,
    );
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn numbers_shrink_to_fit_their_column() {
        assert_eq!(fit(1_234_567, 9), "1,234,567");
        assert_eq!(fit(1_234_567, 7), "1234567");
        assert_eq!(fit(1_234_567, 5), "1.2M");
        assert_eq!(fit(45_210, 5), "45210");
        assert_eq!(fit(45_210, 4), "45k");
    }
}
