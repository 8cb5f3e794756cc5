//! Drawing the drone-fleet dashboard: the live map (ratatui Canvas: trails, home points, each
//! drone labelled with its id), the drone table (mode, link, battery, epoch, handshake time,
//! round trip, records, refusals), the link panel (group-key epoch, attacks refused by
//! reason, the last attack), the timeline, the logs and the command log.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::canvas::{Canvas, Points};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table};

use super::model::{EventKind, UavModel};
use super::{TABS, UavLabView};
use crate::tui::dash::widgets::{draw_command_log, draw_event_list, draw_tab_bar, row_hits};
use crate::tui::theme::Theme;
use crate::tui::{Click, Hits};

/// Draws the dashboard into `area`.
pub fn draw(
    f: &mut Frame,
    area: Rect,
    lab: &mut UavLabView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let [tabs_area, body] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    let full = format!("{} ", summary(lab));
    draw_tab_bar(
        f,
        tabs_area,
        &TABS,
        lab.tab,
        [&full, &full],
        theme.fg(theme.good),
        theme,
        hits,
    );
    match TABS[lab.tab] {
        "Logs" => draw_logs(f, body, lab, theme, hide, hits),
        "Timeline" => draw_timeline(f, body, &lab.model, theme, hide),
        "Commands" => draw_command_log(f, body, &lab.commands, lab.scroll, theme, hide),
        _ => draw_overview(f, body, lab, theme, hide, hits),
    }
}

/// The one-line summary beside the tabs.
pub fn summary(lab: &UavLabView) -> String {
    let m = &lab.model;
    if lab.sup.is_none() && m.nodes.is_empty() {
        return "no fleet: `:` then `uav up`".into();
    }
    let refused: u64 = m.all_rejects().values().sum();
    format!(
        "{}/{} linked · key epoch {} · {} refused · {} gcs",
        m.linked,
        m.drones.len(),
        m.epoch.map_or("-".into(), |e| e.to_string()),
        refused,
        m.gcs
    )
}

fn mode_color(theme: &Theme, mode: &str, link: &str, revoked: bool) -> Style {
    if revoked {
        return theme.fg(theme.bad);
    }
    match (mode, link) {
        (_, "lost") | ("rtl", _) | ("hold", _) => theme.fg(theme.warn),
        ("landed", _) => theme.muted(),
        _ => theme.fg(theme.good),
    }
}

fn draw_overview(
    f: &mut Frame,
    area: Rect,
    lab: &mut UavLabView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let table_h = (lab.model.drones.len() as u16 + 3)
        .min(area.height / 2)
        .max(4);
    let [top, mid, bottom] = Layout::vertical([
        Constraint::Min(8),
        Constraint::Length(table_h),
        Constraint::Length(area.height / 4),
    ])
    .areas(area);
    let [map, panel] =
        Layout::horizontal([Constraint::Percentage(65), Constraint::Percentage(35)]).areas(top);
    draw_map(f, map, &lab.model, theme, lab.selected);
    draw_panel(f, panel, lab, theme);
    draw_table(f, mid, lab, theme, hits);
    draw_timeline(f, bottom, &lab.model, theme, hide);
}

fn draw_map(f: &mut Frame, area: Rect, m: &UavModel, theme: &Theme, selected: u64) {
    // Bounds: everything flown so far, with a margin, never smaller than 100 m.
    let (mut x0, mut x1, mut y0, mut y1) = (-50.0f64, 50.0f64, -20.0f64, 80.0f64);
    for p in m.trails.values().flatten() {
        x0 = x0.min(p.0);
        x1 = x1.max(p.0);
        y0 = y0.min(p.1);
        y1 = y1.max(p.1);
    }
    let pad = ((x1 - x0).max(y1 - y0) * 0.08).max(10.0);
    let canvas = Canvas::default()
        .block(Block::bordered().title(" map (m east / north of the origin) "))
        .marker(Marker::Braille)
        .x_bounds([x0 - pad, x1 + pad])
        .y_bounds([y0 - pad, y1 + pad])
        .paint(|ctx| {
            for (id, trail) in &m.trails {
                let pts: Vec<(f64, f64)> = trail.iter().copied().collect();
                let color = if *id == selected {
                    Color::Cyan
                } else {
                    Color::DarkGray
                };
                ctx.draw(&Points {
                    coords: &pts,
                    color,
                });
            }
            ctx.layer();
            for d in m.drones.values() {
                ctx.draw(&Points {
                    coords: &[d.home],
                    color: Color::Blue,
                });
                ctx.print(
                    d.x,
                    d.y,
                    Line::styled(
                        d.id.to_string(),
                        mode_color(theme, &d.mode, &d.link, d.revoked),
                    ),
                );
            }
        });
    f.render_widget(canvas, area);
}

fn draw_panel(f: &mut Frame, area: Rect, lab: &UavLabView, theme: &Theme) {
    let m = &lab.model;
    let mut lines = vec![
        Line::from(format!(
            "group key epoch: {}",
            m.epoch.map_or("-".into(), |e| e.to_string())
        )),
        Line::from(format!("linked: {} of {}", m.linked, m.drones.len())),
        Line::from(format!("ground stations: {}", m.gcs)),
        Line::styled("refused, by reason:", theme.title()),
    ];
    let all = m.all_rejects();
    if all.values().all(|v| *v == 0) {
        lines.push(Line::styled("  none yet", theme.muted()));
    }
    for (k, v) in all.iter().filter(|(_, v)| **v > 0) {
        lines.push(Line::styled(format!("  {k}: {v}"), theme.fg(theme.bad)));
    }
    let last = lab
        .commands
        .iter()
        .rev()
        .find(|c| c.cmd.starts_with("uav attack"));
    if let Some(c) = last {
        lines.push(Line::styled("last attack:", theme.title()));
        lines.push(Line::from(format!("  $ {}", c.cmd)));
        for l in c.output.lines().take(3) {
            let style = if l.contains("NOT refused") {
                theme.fg(theme.bad)
            } else {
                theme.fg(theme.good)
            };
            lines.push(Line::styled(format!("  {l}"), style));
        }
    }
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" link & attacks ")),
        area,
    );
}

fn draw_table(f: &mut Frame, area: Rect, lab: &UavLabView, theme: &Theme, hits: &mut Hits) {
    let header = Row::new(
        [
            "ID", "PROC", "MODE", "LINK", "BATT", "E,N,ALT", "EPOCH", "HS ms", "RTT ms", "RECORDS",
            "REFUSED",
        ]
        .map(Cell::from),
    )
    .style(theme.title());
    let rows = lab.model.drones.values().map(|d| {
        let style = if d.id == lab.selected {
            theme.selected()
        } else {
            Style::default()
        };
        let refused: Vec<String> = d
            .rejects
            .iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let mode = if d.revoked {
            format!("{} (revoked)", d.mode)
        } else {
            d.mode.clone()
        };
        Row::new(vec![
            Cell::from(d.id.to_string()),
            Cell::from(d.status.clone()),
            Cell::from(mode).style(mode_color(theme, &d.mode, &d.link, d.revoked)),
            Cell::from(d.link.clone()),
            Cell::from(format!("{:.0}%", d.batt)),
            Cell::from(format!("{:.0},{:.0},{:.0}", d.x, d.y, d.alt)),
            Cell::from(d.epoch.map_or("-".into(), |e| e.to_string())),
            Cell::from(format!("{:.1}", d.hs_ms)),
            Cell::from(format!("{:.2}", d.rtt_ms)),
            Cell::from(d.records.to_string()),
            Cell::from(refused.join(", ")),
        ])
        .style(style)
    });
    let widths = [
        Constraint::Length(3),
        Constraint::Length(8),
        Constraint::Length(16),
        Constraint::Length(11),
        Constraint::Length(5),
        Constraint::Length(14),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Min(10),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(" drones (node id = MAVLink system id) "));
    f.render_widget(table, area);
    row_hits(hits, area, lab.model.drones.keys().copied());
}

fn draw_timeline(f: &mut Frame, area: Rect, m: &UavModel, theme: &Theme, hide: bool) {
    let entries = m.timeline.iter().map(|e| {
        let style = match e.kind {
            EventKind::Good => theme.fg(theme.good),
            EventKind::Fault => theme.fg(theme.warn),
            EventKind::Attack => theme.fg(theme.bad),
            EventKind::Repair => theme.fg(theme.accent),
            EventKind::Info => Style::default(),
        };
        (e.at_ms, style, e.text.as_str())
    });
    draw_event_list(
        f,
        area,
        " timeline (handshakes, rekeys, link losses, failsafes, attacks) ",
        entries,
        theme,
        hide,
    );
}

fn draw_logs(
    f: &mut Frame,
    area: Rect,
    lab: &mut UavLabView,
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
