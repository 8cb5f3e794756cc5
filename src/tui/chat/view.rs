//! Drawing the chat dashboard: the node table (server, proxy, clients with their session
//! state and delivery figures), the server panel (messages, sessions, rejects by reason), the
//! proxy panel (what it does, what that did, leaked PSKs), a room's last messages, the
//! message-rate sparkline, the timeline, the command log and the log pane.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Sparkline, Table};

use super::model::{ChatModel, EventKind, MITM, REASONS, SERVER};
use super::{ChatLabView, TABS};
use crate::cluster::NodeInfo;
use crate::tui::dash::widgets::{draw_command_log, draw_event_list, draw_tab_bar, row_hits};
use crate::tui::theme::Theme;
use crate::tui::{Click, Hits, redact};

/// Draws the dashboard into `area`.
pub fn draw(
    f: &mut Frame,
    area: Rect,
    lab: &mut ChatLabView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let [tabs_area, body] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    draw_tabs(f, tabs_area, lab, theme, hits);
    match TABS[lab.tab] {
        "Rooms" => draw_rooms(f, body, lab, theme, hide),
        "Logs" => draw_logs(f, body, lab, theme, hide, hits),
        "Timeline" => draw_timeline(f, body, &lab.model, lab.scroll, theme, hide),
        "Commands" => draw_command_log(f, body, &lab.commands, lab.scroll, theme, hide),
        _ => draw_overview(f, body, lab, theme, hide, hits),
    }
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The one-line summary beside the tabs (longest first; the bar keeps what fits).
pub fn summary(lab: &ChatLabView) -> [String; 2] {
    let m = &lab.model;
    if m.nodes.is_empty() {
        let starting = lab.running("chat up");
        let s = if starting {
            "starting the lab…".to_string()
        } else {
            "no lab: `:` then `chat up`".to_string()
        };
        return [s.clone(), s];
    }
    let (up, all) = m.established();
    let rate = m.server.as_ref().map_or(0, |s| s.msgs_per_s);
    let rejects = m.server.as_ref().map_or(0, |s| s.rejects_total());
    let (_, p99) = m.latency();
    let mode = m.proxy.as_ref().map_or("?".to_string(), |p| p.mode.clone());
    let on = if m.proxy.as_ref().is_some_and(|p| p.attacking()) {
        "on"
    } else {
        "off"
    };
    let short = format!("{up}/{all} up · rejects {rejects} · attack {on} ");
    let full = format!(
        "{up}/{all} sessions up · {rate} msg/s · p99 {} ms · rejects {rejects} · mitm {mode} ",
        ms(p99)
    );
    [full, short]
}

fn draw_tabs(f: &mut Frame, area: Rect, lab: &ChatLabView, theme: &Theme, hits: &mut Hits) {
    let [full, short] = summary(lab);
    let attacking = lab.model.proxy.as_ref().is_some_and(|p| p.attacking());
    let style = if attacking {
        theme.fg(theme.warn)
    } else {
        theme.fg(theme.good)
    };
    draw_tab_bar(f, area, &TABS, lab.tab, [&full, &short], style, theme, hits);
}

fn draw_overview(
    f: &mut Frame,
    area: Rect,
    lab: &mut ChatLabView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    // Top to bottom: the node table, the server and proxy panels (and delivery when wide),
    // a room's last messages when tall, then the command log beside the timeline.
    let wide = area.width >= 110;
    let rows = lab.model.nodes.len().max(4) as u16;
    let table_h = (rows + 3).min(area.height.saturating_sub(12).max(5));
    let panels_h: u16 = match area.height {
        34.. => 9,
        30..=33 => 8,
        _ => 6,
    };
    let room_h: u16 = if area.height >= table_h + panels_h + 8 + 7 {
        8
    } else {
        0
    };
    let mut cons = vec![Constraint::Length(table_h), Constraint::Length(panels_h)];
    if room_h > 0 {
        cons.push(Constraint::Length(room_h));
    }
    cons.push(Constraint::Min(3));
    let parts = Layout::vertical(cons).split(area);
    draw_table(f, parts[0], lab, theme, hide, hits);
    if wide {
        let [s, p, d] = Layout::horizontal([
            Constraint::Percentage(32),
            Constraint::Percentage(40),
            Constraint::Percentage(28),
        ])
        .areas(parts[1]);
        draw_server(f, s, &lab.model, theme, hide);
        draw_proxy(f, p, &lab.model, theme, hide);
        draw_delivery(f, d, &lab.model, theme, hide);
    } else {
        let [s, p] = Layout::horizontal([Constraint::Percentage(42), Constraint::Percentage(58)])
            .areas(parts[1]);
        draw_server(f, s, &lab.model, theme, hide);
        draw_proxy(f, p, &lab.model, theme, hide);
    }
    let mut i = 2;
    let room = lab.model.room_for(lab.selected);
    if room_h > 0 {
        if wide {
            draw_room(f, parts[i], &lab.model, room.as_deref(), theme, hide);
        } else {
            let [r, d] =
                Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                    .areas(parts[i]);
            draw_room(f, r, &lab.model, room.as_deref(), theme, hide);
            draw_delivery(f, d, &lab.model, theme, hide);
        }
        i += 1;
    }
    let [cl, tl] = Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
        .areas(parts[i]);
    draw_command_log(f, cl, &lab.commands, 0, theme, hide);
    draw_timeline(f, tl, &lab.model, 0, theme, hide);
}

fn session_style(theme: &Theme, s: &str) -> Style {
    match s {
        "established" | "rekeyed" | "running" => theme.fg(theme.good),
        "handshaking" | "starting" | "paused" => theme.fg(theme.warn),
        _ => theme.fg(theme.bad),
    }
}

fn dash() -> String {
    "-".into()
}

/// A node's cells, in the order of the wide header (the narrow one picks some of them), and
/// its session word.
fn row_cells(m: &ChatModel, n: &NodeInfo, hide: bool) -> ([String; 13], String) {
    let alive = n.status.is_alive();
    let num = |v: u64| if hide { "<n>".into() } else { v.to_string() };
    let pid = if hide {
        "<pid>".into()
    } else {
        n.pid.map_or(dash(), |p| p.to_string())
    };
    let mut c: [String; 13] = std::array::from_fn(|_| dash());
    c[2] = n.status.as_str().to_string();
    c[3] = pid;
    let session = match n.id {
        SERVER => {
            c[1] = "server".into();
            if let Some(s) = &m.server {
                c[8] = num(s.msgs_per_s);
            }
            if alive { "serving" } else { "down" }.to_string()
        }
        MITM => {
            c[1] = "mitm".into();
            match (alive, &m.proxy) {
                (false, _) => "down".into(),
                (true, Some(p)) if p.attacking() => "attacking".into(),
                _ => "pass-through".into(),
            }
        }
        id => {
            c[1] = m.client_name(id).unwrap_or_default();
            if let Some(cl) = m.clients.get(&id) {
                let live = |v: String| if alive { v } else { dash() };
                let lat = |v: f64| if hide { "<ms>".into() } else { ms(v) };
                c[5] = cl.room.clone();
                c[6] = num(cl.last_id);
                c[7] = format!("{}/{}", num(cl.sent), num(cl.acked));
                c[8] = live(num(cl.msgs_per_s));
                let got = |v: f64| if cl.received > 0 { lat(v) } else { dash() };
                c[9] = live(got(cl.p50_ms));
                c[10] = live(got(cl.p99_ms));
                c[11] = num(cl.reconnects);
                c[12] = num(cl.rekeys);
            }
            m.session_of(id)
        }
    };
    c[4] = session.clone();
    (c, session)
}

/// Columns of the narrow table, as indices into [`row_cells`].
const NARROW: [usize; 9] = [0, 1, 2, 4, 5, 6, 8, 10, 11];

fn draw_table(
    f: &mut Frame,
    area: Rect,
    lab: &ChatLabView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let wide = area.width >= 104;
    let header: Vec<&str> = if wide {
        vec![
            "ID", "NAME", "PROC", "PID", "SESSION", "ROOM", "LAST ID", "SENT/ACK", "MSG/s",
            "P50 ms", "P99 ms", "RECONN", "REKEYS",
        ]
    } else {
        vec![
            "ID", "NAME", "PROC", "SESSION", "ROOM", "LAST ID", "MSG/s", "P99 ms", "RECONN",
        ]
    };
    let m = &lab.model;
    // Long tables scroll to keep the selected row in view.
    let room = area.height.saturating_sub(3) as usize;
    let pos = m
        .nodes
        .iter()
        .position(|n| n.id == lab.selected)
        .unwrap_or(0);
    let start = pos
        .saturating_sub(room.saturating_sub(1))
        .min(m.nodes.len().saturating_sub(room));
    let shown: Vec<&NodeInfo> = m.nodes.iter().skip(start).take(room).collect();
    let rows: Vec<Row> = shown
        .iter()
        .map(|n| {
            let (mut cells, session) = row_cells(m, n, hide);
            cells[0] = format!("{}{}", if n.id == lab.selected { "▶" } else { " " }, n.id);
            let proc_state = n.status.as_str();
            let styled = |i: usize, c: String| -> Cell {
                match i {
                    2 => Cell::from(Span::styled(c, session_style(theme, proc_state))),
                    4 => {
                        let st = match session.as_str() {
                            "serving" | "pass-through" => theme.fg(theme.good),
                            "attacking" => theme.fg(theme.warn),
                            s => session_style(theme, s),
                        };
                        Cell::from(Span::styled(c, st))
                    }
                    _ => Cell::from(c),
                }
            };
            let cells: Vec<Cell> = if wide {
                cells
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| styled(i, c))
                    .collect()
            } else {
                NARROW
                    .iter()
                    .map(|&i| styled(i, std::mem::take(&mut cells[i])))
                    .collect()
            };
            let mut row = Row::new(cells);
            if n.id == lab.selected {
                row = row.style(theme.selected());
            }
            row
        })
        .collect();
    let widths: Vec<Constraint> = if wide {
        [4, 6, 7, 7, 12, 6, 7, 9, 5, 6, 6, 6, 6]
            .into_iter()
            .map(Constraint::Length)
            .collect()
    } else {
        [4, 6, 7, 12, 6, 7, 5, 6, 6]
            .into_iter()
            .map(Constraint::Length)
            .collect()
    };
    let more = if m.nodes.len() > shown.len() {
        format!(
            " ({}–{} of {})",
            start + 1,
            start + shown.len(),
            m.nodes.len()
        )
    } else {
        String::new()
    };
    let title = format!(
        " chat · server, mitm, {} clients{more} · ↑↓ select ",
        m.nodes.len().saturating_sub(2)
    );
    f.render_widget(
        Table::new(rows, widths)
            .header(Row::new(header).style(theme.title()))
            .column_spacing(1)
            .block(Block::bordered().title(title)),
        area,
    );
    row_hits(hits, area, shown.iter().map(|n| n.id));
}

fn draw_server(f: &mut Frame, area: Rect, m: &ChatModel, theme: &Theme, hide: bool) {
    let block = Block::bordered().title(" rejects by reason ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(s) = &m.server else {
        f.render_widget(Paragraph::new("waiting for the server's report"), inner);
        return;
    };
    let num = |v: u64| if hide { "<n>".into() } else { v.to_string() };
    let theirs = m.client_rejects();
    let mut rows: Vec<(String, u64, Option<u64>)> = REASONS
        .iter()
        .map(|(k, label)| {
            // Unknown and revoked names are the server's to refuse; a client sees `refused`.
            let client = match *k {
                "unknown_client" | "revoked" => None,
                k => Some(theirs.get(k).copied().unwrap_or(0)),
            };
            (
                label.to_string(),
                s.rejects.get(*k).copied().unwrap_or(0),
                client,
            )
        })
        .filter(|(l, srv, cl)| l != "protocol" || srv + cl.unwrap_or(0) > 0)
        .collect();
    let others: u64 = theirs
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "aead" | "bad_handshake" | "protocol"))
        .map(|(_, n)| n)
        .sum();
    if others > 0 {
        rows.push(("timeout, closed…".into(), 0, Some(others)));
    }
    let style_of = |n: u64| {
        if n > 0 {
            theme.fg(theme.bad)
        } else {
            theme.muted()
        }
    };
    let h = inner.height as usize;
    if h < rows.len() + 1 {
        // One wrapped line: `AEAD failure 3/2 · bad handshake 0/0 · …` (server/clients).
        let mut spans = vec![Span::styled("server/clients: ", theme.muted())];
        for (label, srv, cl) in &rows {
            let label = match label.as_str() {
                "AEAD failure" => "AEAD",
                "bad handshake" => "handshake",
                "unknown client" => "unknown",
                "timeout, closed…" => "other",
                l => l,
            };
            let n = srv + cl.unwrap_or(0);
            let cl = cl.map_or("-".into(), num);
            spans.push(Span::styled(
                format!("{label} {}/{cl}", num(*srv)),
                style_of(n),
            ));
            spans.push(Span::raw(" · "));
        }
        spans.pop();
        f.render_widget(
            Paragraph::new(Line::from(spans)).wrap(ratatui::widgets::Wrap { trim: true }),
            inner,
        );
        return;
    }
    let w = (inner.width as usize).saturating_sub(15).clamp(8, 18);
    let mut lines = Vec::new();
    if h >= rows.len() + 2 {
        lines.push(Line::styled(
            format!(
                "msgs {} · {} sessions · {} open",
                num(s.msgs_total),
                num(s.handshakes),
                num(s.connections)
            ),
            theme.muted(),
        ));
    }
    lines.push(Line::styled(
        format!("{:<w$} server clients", "reason"),
        theme.title(),
    ));
    for (label, srv, cl) in rows {
        let n = srv + cl.unwrap_or(0);
        let label: String = label.chars().take(w).collect();
        let cl = cl.map_or("-".into(), num);
        lines.push(Line::styled(
            format!("{label:<w$} {:>6} {cl:>7}", num(srv)),
            style_of(n),
        ));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

fn draw_proxy(f: &mut Frame, area: Rect, m: &ChatModel, theme: &Theme, hide: bool) {
    let p = m.proxy.clone().unwrap_or_default();
    let mode = if p.mode.is_empty() {
        "?".to_string()
    } else {
        p.mode.clone()
    };
    let title = Line::from(vec![
        Span::raw(" mitm: "),
        Span::styled(
            mode,
            if p.attacking() {
                theme.fg(theme.bad)
            } else {
                theme.fg(theme.good)
            },
        ),
        Span::raw(" "),
    ]);
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let num = |v: u64| if hide { "<n>".into() } else { v.to_string() };
    // Most telling first: what it did, what that did, leaked PSKs, then the traffic.
    let did: Vec<String> = p
        .attacks
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{} {}", k.replace('_', " "), num(*n)))
        .collect();
    let mut lines = vec![Line::from(vec![
        Span::styled("did: ", theme.muted()),
        Span::raw(if did.is_empty() {
            "nothing yet".to_string()
        } else {
            did.join(" · ")
        }),
    ])];
    let rejects = m.server.as_ref().map_or(0, |s| s.rejects_total());
    let reconnects: u64 = m.clients.values().map(|c| c.reconnects).sum();
    lines.push(Line::from(vec![
        Span::styled("effect: ", theme.muted()),
        Span::raw(format!(
            "{} refused by the server · {} sessions re-established",
            num(rejects),
            num(reconnects)
        )),
    ]));
    for (name, l) in &p.leaked {
        let imp = if l.accepted {
            Span::styled(format!("{name} impersonated"), theme.fg(theme.bad))
        } else {
            Span::styled(format!("{name} not impersonated"), theme.fg(theme.good))
        };
        let fs = if l.decrypted == 0 {
            Span::styled(
                format!(" · FS held: 0/{} captures read", l.tried),
                theme.fg(theme.good),
            )
        } else {
            Span::styled(
                format!(" · FS BROKEN: {}/{} read", l.decrypted, l.tried),
                theme.fg(theme.bad),
            )
        };
        lines.push(Line::from(vec![
            Span::styled("leaked PSK: ", theme.muted()),
            imp,
            fs,
        ]));
    }
    lines.push(Line::styled(
        format!(
            "relayed {} frames · {} conns · {} captures",
            num(p.frames),
            num(p.connections),
            num(p.captures)
        ),
        theme.muted(),
    ));
    f.render_widget(
        Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: true }),
        inner,
    );
}

fn draw_room(
    f: &mut Frame,
    area: Rect,
    m: &ChatModel,
    room: Option<&str>,
    theme: &Theme,
    hide: bool,
) {
    let r = room.and_then(|name| m.server.as_ref()?.rooms.get(name));
    let title = match (room, r) {
        (Some(name), Some(r)) if !hide => format!(
            " room {name} · last id {} · {} members ",
            r.last_id,
            r.members.len()
        ),
        (Some(name), _) => format!(" room {name} "),
        _ => " room ".to_string(),
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(r) = r.filter(|r| !r.messages.is_empty()) else {
        f.render_widget(
            Paragraph::new(Span::styled("no message yet", theme.muted())),
            inner,
        );
        return;
    };
    let h = inner.height as usize;
    let w = inner.width as usize;
    let lines: Vec<Line> = r
        .messages
        .iter()
        .skip(r.messages.len().saturating_sub(h))
        .map(|(id, from, text)| {
            let id = if hide {
                "<id>".into()
            } else {
                format!("#{id}")
            };
            let text = if hide { redact(text) } else { text.clone() };
            let head = format!("{id:>6} {from:<4} ");
            let room = w.saturating_sub(head.chars().count());
            Line::from(vec![
                Span::styled(head, theme.muted()),
                Span::raw(text.chars().take(room).collect::<String>()),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

fn draw_delivery(f: &mut Frame, area: Rect, m: &ChatModel, theme: &Theme, hide: bool) {
    let (p50, p99) = m.latency();
    let now = m.rate_series.back().copied().unwrap_or(0);
    let title = if hide {
        " delivery ".to_string()
    } else {
        format!(" {now} msg/s · p50 {} p99 {} ms ", ms(p50), ms(p99))
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let data: Vec<u64> = m
        .rate_series
        .iter()
        .skip(m.rate_series.len().saturating_sub(w))
        .copied()
        .collect();
    f.render_widget(
        Sparkline::default().data(&data).style(theme.fg(theme.good)),
        inner,
    );
}

fn draw_rooms(f: &mut Frame, area: Rect, lab: &ChatLabView, theme: &Theme, hide: bool) {
    let m = &lab.model;
    let names: Vec<String> = m
        .server
        .as_ref()
        .map(|s| s.rooms.keys().cloned().collect())
        .unwrap_or_default();
    if names.is_empty() {
        draw_room(f, area, m, None, theme, hide);
        return;
    }
    let per_line = (area.width as usize / 14).max(1);
    let members_h = (m.clients.len().div_ceil(per_line) as u16 + 2).clamp(3, area.height / 3);
    let [rooms, members] =
        Layout::vertical([Constraint::Min(5), Constraint::Length(members_h)]).areas(area);
    let cols = Layout::horizontal(
        names
            .iter()
            .map(|_| Constraint::Ratio(1, names.len() as u32)),
    )
    .split(rooms);
    for (name, rect) in names.iter().zip(cols.iter()) {
        draw_room(f, *rect, m, Some(name), theme, hide);
    }
    // Each member against its room's last id: who is behind, who caught up.
    let block = Block::bordered().title(" members: last id held / room's last id ");
    let inner = block.inner(members);
    f.render_widget(block, members);
    let mut spans = Vec::new();
    for (id, c) in &m.clients {
        // Reports come a second apart: the room's last id is the newest anyone reported.
        let last = m
            .server
            .as_ref()
            .and_then(|s| s.rooms.get(&c.room))
            .map_or(0, |r| r.last_id)
            .max(
                m.clients
                    .values()
                    .filter(|o| o.room == c.room)
                    .map(|o| o.last_id)
                    .max()
                    .unwrap_or(0),
            );
        let caught = c.last_id >= last;
        let text = if hide {
            format!("{} <n>/<n>  ", c.name)
        } else {
            format!("{} {}/{}  ", c.name, c.last_id, last)
        };
        let style = if m.session_of(*id) == "down" || m.session_of(*id) == "revoked" {
            theme.muted()
        } else if caught {
            theme.fg(theme.good)
        } else {
            theme.fg(theme.warn)
        };
        spans.push(Span::styled(text, style));
    }
    f.render_widget(
        Paragraph::new(Line::from(spans)).wrap(ratatui::widgets::Wrap { trim: true }),
        inner,
    );
}

fn draw_timeline(
    f: &mut Frame,
    area: Rect,
    m: &ChatModel,
    scroll: usize,
    theme: &Theme,
    hide: bool,
) {
    let end = m.timeline.len().saturating_sub(scroll);
    let entries = m.timeline.range(..end).map(|e| {
        let style = match e.kind {
            EventKind::Good => theme.fg(theme.good),
            EventKind::Fault => theme.fg(theme.bad),
            EventKind::Repair => theme.fg(theme.accent),
            EventKind::Info => Style::default(),
        };
        (e.at_ms, style, e.text.as_str())
    });
    draw_event_list(f, area, " timeline ", entries, theme, hide);
}

fn draw_logs(
    f: &mut Frame,
    area: Rect,
    lab: &mut ChatLabView,
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
