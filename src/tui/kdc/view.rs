//! Drawing the KDC dashboard: the authority table (state, share epoch, shares signed and
//! refused, sign time), the signing rounds, tickets per second, the service's rejections by
//! reason, the attacker's panel, the command log, the timeline and the logs.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Sparkline, Table};
use serde_json::Value;

use super::model::{EventKind, KdcModel, Round, forgery_verdict, state_word};
use super::{KdcLabView, TABS};
use crate::kdc::config::SERVICE_NODE;
use crate::tui::dash::widgets::{
    draw_command_log, draw_event_list, draw_log_panes, draw_tab_bar, process_cells, row_hits,
};
use crate::tui::theme::Theme;
use crate::tui::{Hits, clock};

/// Draws the dashboard into `area`.
pub fn draw(
    f: &mut Frame,
    area: Rect,
    lab: &mut KdcLabView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let [tabs_area, body] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    let full = format!("{} ", summary(lab));
    let short = format!("{} ", short_summary(lab));
    let style = if lab.model.able() >= 2 || lab.model.nodes.is_empty() {
        theme.fg(theme.good)
    } else {
        theme.fg(theme.bad)
    };
    draw_tab_bar(
        f,
        tabs_area,
        &TABS,
        lab.tab,
        [&full, &short],
        style,
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
pub fn summary(lab: &KdcLabView) -> String {
    let m = &lab.model;
    if m.nodes.is_empty() {
        return if lab.running("kdc up") {
            "running the key generation…".into()
        } else {
            "no lab: `:` then `kdc up`".into()
        };
    }
    let able = m.able();
    let verdict = if able >= 2 {
        "tickets issued"
    } else {
        "ISSUING STOPPED"
    };
    format!(
        "{able}/3 honest authorities can sign (need 2): {verdict} · {} tickets/s",
        m.tickets_per_s()
    )
}

fn short_summary(lab: &KdcLabView) -> String {
    let m = &lab.model;
    if m.nodes.is_empty() {
        return "no lab".into();
    }
    format!("{}/3 can sign", m.able())
}

fn draw_overview(
    f: &mut Frame,
    area: Rect,
    lab: &mut KdcLabView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let table_h = 7;
    let rounds_h = if area.height >= 34 {
        10
    } else if area.height >= 26 {
        7
    } else {
        5
    };
    let attacker_h = 5;
    let big = area.height >= table_h + rounds_h + attacker_h + 10 + 8;
    let mut cons = vec![
        Constraint::Length(table_h),
        Constraint::Length(rounds_h),
        Constraint::Length(attacker_h),
        Constraint::Min(3),
    ];
    if big {
        cons.push(Constraint::Length(area.height / 5));
    }
    let parts = Layout::vertical(cons).split(area);
    draw_table(f, parts[0], lab, theme, hide, hits);
    let side_w = if area.width >= 110 { 44 } else { 26 };
    let [rounds, side] =
        Layout::horizontal([Constraint::Min(30), Constraint::Length(side_w)]).areas(parts[1]);
    draw_rounds(f, rounds, &lab.model, theme, hide);
    draw_tickets(f, side, &lab.model, theme, hide);
    let [attacker, service] =
        Layout::horizontal([Constraint::Min(30), Constraint::Length(side_w)]).areas(parts[2]);
    draw_attacker(f, attacker, &lab.model, theme, hide);
    draw_service(f, service, &lab.model, theme);
    let [cl, tl] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
        .areas(parts[3]);
    draw_command_log(f, cl, &lab.commands, 0, theme, hide);
    draw_timeline(f, tl, &lab.model, theme, hide);
    if big {
        draw_logs(f, parts[4], lab, theme, hide, hits);
    }
}

fn state_style(theme: &Theme, word: &str) -> Style {
    match word {
        "up" => theme.fg(theme.good),
        "paused" | "partitioned" | "keygen" => theme.fg(theme.warn),
        _ => theme.fg(theme.bad),
    }
}

fn num(n: &crate::cluster::NodeInfo, key: &str) -> String {
    n.state
        .get(key)
        .and_then(Value::as_u64)
        .map_or("-".into(), |v| v.to_string())
}

fn draw_table(
    f: &mut Frame,
    area: Rect,
    lab: &KdcLabView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let wide = area.width >= 100;
    let mut header = vec![
        "ID",
        "NODE",
        "STATE",
        "EPOCH",
        "SIGNED",
        "REFUSED",
        "SIGN p50/p99",
        "PID",
    ];
    if wide {
        header.extend(["RSS", "CPU", "UP"]);
    }
    let m = &lab.model;
    let rows: Vec<Row> = m
        .nodes
        .iter()
        .map(|n| {
            let word = state_word(n);
            let [pid, rss, cpu, up] = process_cells(n, hide);
            let sel = if n.id == lab.selected { "▶" } else { " " };
            let mut cells = vec![Cell::from(format!("{sel}{}", n.id))];
            if n.id == SERVICE_NODE {
                let rejected: u64 = n
                    .state
                    .get("rejected")
                    .and_then(Value::as_object)
                    .map_or(0, |o| o.values().filter_map(Value::as_u64).sum());
                cells.extend([
                    Cell::from("service files"),
                    Cell::from(Span::styled(word, state_style(theme, word))),
                    Cell::from("-"),
                    Cell::from(format!("ok {}", num(n, "accepted"))),
                    Cell::from(format!("✗ {rejected}")),
                    Cell::from("-"),
                ]);
            } else {
                let times = match (
                    n.state.get("sign_us_p50").and_then(Value::as_u64),
                    n.state.get("sign_us_p99").and_then(Value::as_u64),
                ) {
                    _ if hide => "<t>".into(),
                    (Some(a), Some(b)) => sign_times(a, b),
                    _ => "-".into(),
                };
                cells.extend([
                    Cell::from(format!("authority {}", n.id)),
                    Cell::from(Span::styled(word, state_style(theme, word))),
                    Cell::from(num(n, "epoch")),
                    Cell::from(num(n, "signed")),
                    Cell::from(num(n, "refused")),
                    Cell::from(times),
                ]);
            }
            cells.push(Cell::from(pid));
            if wide {
                cells.extend([Cell::from(rss), Cell::from(cpu), Cell::from(up)]);
            }
            let mut row = Row::new(cells);
            if n.id == lab.selected {
                row = row.style(theme.selected());
            }
            row
        })
        .collect();
    let mut widths = vec![3, 13, 11, 5, 7, 7, 13, 7];
    if wide {
        widths.extend([5, 5, 8]);
    }
    let title = " kdc triad · 2-of-3 FROST · ↑↓/1-4 select ";
    f.render_widget(
        Table::new(rows, widths.into_iter().map(Constraint::Length))
            .header(Row::new(header).style(theme.title()))
            .column_spacing(1)
            .block(Block::bordered().title(title)),
        area,
    );
    row_hits(hits, area, m.nodes.iter().map(|n| n.id));
}

/// `120/480 µs`, or `12/48 ms` once the slower is 10 ms or more.
fn sign_times(p50: u64, p99: u64) -> String {
    if p99 >= 10_000 {
        format!("{}/{} ms", p50 / 1000, p99 / 1000)
    } else {
        format!("{p50}/{p99} µs")
    }
}

/// `480 µs`, or `48 ms` from 10 ms on.
fn one_time(us: u64) -> String {
    if us >= 10_000 {
        format!("{} ms", us / 1000)
    } else {
        format!("{us} µs")
    }
}

fn part_span(theme: &Theme, id: u64, result: &str, rejected: bool) -> Span<'static> {
    match result {
        "signed" if !rejected => Span::styled(format!("{id}✓ "), theme.fg(theme.good)),
        "refused" => Span::styled(format!("{id}✗refused "), theme.fg(theme.warn)),
        _ => Span::styled(format!("{id}✗bad share "), theme.fg(theme.bad)),
    }
}

/// One round as a line: id, ticket, who committed, each share, the aggregate (`wide`: with
/// the round id and the words, else only the marks).
pub fn round_line(r: &Round, theme: &Theme, hide: bool, wide: bool) -> Line<'static> {
    let id = if hide { "<round>".into() } else { r.id.clone() };
    let ticket = if r.client.is_empty() {
        "?".to_string()
    } else if r.service == crate::kdc::proto::TGS_NAME {
        format!("{} TGT", r.client)
    } else {
        format!("{}→{}", r.client, r.service)
    };
    let committed: Vec<String> = r.committed.iter().map(u64::to_string).collect();
    let mut spans = Vec::new();
    if wide {
        spans.extend([
            Span::styled(format!("{id} "), theme.muted()),
            Span::raw(format!("{ticket:<12} ")),
            Span::styled(format!("commit {} ", committed.join(",")), theme.muted()),
            Span::raw("shares "),
        ]);
    } else {
        spans.extend([
            Span::raw(format!("{ticket:<12}")),
            Span::styled(format!("[{}] ", committed.join(",")), theme.muted()),
        ]);
    }
    for p in &r.parts {
        spans.push(part_span(
            theme,
            p.id,
            &p.result,
            r.rejected.contains(&p.id),
        ));
    }
    let refused = r.parts.iter().find_map(|p| p.reason.as_deref());
    let (verified, retried, unreported) = if wide {
        (
            "⇒ aggregate ✓ verified",
            "⇒ retried",
            "⇒ (aggregate not reported)",
        )
    } else {
        ("⇒ ✓ verified", "⇒ retried", "")
    };
    if r.verified {
        spans.push(Span::styled(verified, theme.fg(theme.good)));
    } else if let Some(why) = refused {
        spans.push(Span::styled(format!("⇒ {why}"), theme.fg(theme.warn)));
    } else if r.parts.iter().any(|p| p.result != "signed") {
        spans.push(Span::styled(retried, theme.fg(theme.bad)));
    } else {
        spans.push(Span::styled(unreported, theme.muted()));
    }
    Line::from(spans)
}

fn draw_rounds(f: &mut Frame, area: Rect, m: &KdcModel, theme: &Theme, hide: bool) {
    let wide = area.width >= 72;
    let title = if wide {
        " signing rounds, newest last (who committed, who signed, the aggregate) "
    } else {
        " signing rounds: [committed] shares "
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let h = inner.height as usize;
    let lines: Vec<Line> = if m.rounds.is_empty() {
        vec![Line::styled(
            "no round yet: a runs `kdc access alice files`",
            theme.muted(),
        )]
    } else {
        let skip = m.rounds.len().saturating_sub(h);
        m.rounds[skip..]
            .iter()
            .map(|r| round_line(r, theme, hide, wide))
            .collect()
    };
    f.render_widget(Paragraph::new(lines), inner);
}

fn draw_tickets(f: &mut Frame, area: Rect, m: &KdcModel, theme: &Theme, hide: bool) {
    let rate = if hide {
        "<n>".into()
    } else {
        m.tickets_per_s().to_string()
    };
    let peak = m.rate.iter().max().copied().unwrap_or(0);
    let wide = area.width >= 40;
    let title = if wide {
        format!(" tickets/s {rate} (peak {peak}; b benches) ")
    } else {
        format!(" tickets/s {rate} ")
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [spark, lat] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    // About one point a second (a point is pushed once a second has passed).
    let spark = crate::tui::dash::widgets::with_time_axis(f, spark, m.rate.len(), 1, theme);
    let data: Vec<u64> = m.rate.iter().copied().collect();
    let skip = data.len().saturating_sub(spark.width as usize);
    f.render_widget(
        Sparkline::default()
            .data(&data[skip..])
            .style(theme.fg(theme.accent)),
        spark,
    );
    let p99 = m
        .authorities()
        .filter_map(|n| n.state.get("sign_us_p99").and_then(Value::as_u64))
        .max();
    let text = match p99 {
        _ if hide => "sign p99 <t>".into(),
        Some(us) if wide => format!("slowest authority's sign p99: {}", one_time(us)),
        Some(us) => format!("sign p99 {}", one_time(us)),
        None => "no signing yet".into(),
    };
    f.render_widget(Paragraph::new(Span::styled(text, theme.muted())), lat);
}

fn draw_service(f: &mut Frame, area: Rect, m: &KdcModel, theme: &Theme) {
    let title = if area.width >= 40 {
        " service files: rejections by reason "
    } else {
        " service rejections "
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let mut lines = Vec::new();
    if let Some(n) = m.service() {
        if let Some(o) = n.state.get("rejected").and_then(Value::as_object) {
            for (reason, count) in o {
                lines.push(Line::from(vec![
                    Span::styled(format!("{count:>3} "), theme.fg(theme.bad)),
                    Span::raw(reason.clone()),
                ]));
            }
        }
        if lines.is_empty() {
            lines.push(Line::styled("none yet (y replays)", theme.muted()));
        }
    }
    let skip = lines.len().saturating_sub(inner.height as usize);
    f.render_widget(Paragraph::new(lines.split_off(skip)), inner);
}

fn draw_attacker(f: &mut Frame, area: Rect, m: &KdcModel, theme: &Theme, hide: bool) {
    let wide = area.width >= 70;
    let title = if wide {
        " attacker (c compromise · g forge · e refresh · x nonce reuse) "
    } else {
        " attacker "
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let a = &m.attacker;
    let held = if a.holdings.is_empty() {
        "nothing".to_string()
    } else {
        a.holdings
            .iter()
            .map(|h| {
                if wide {
                    format!("authority {} (epoch {}, by {})", h.id, h.epoch, h.how)
                } else {
                    format!("{} (epoch {})", h.id, h.epoch)
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (possible, verdict) = forgery_verdict(a);
    let vstyle = if possible {
        theme.fg(theme.bad)
    } else {
        theme.fg(theme.good)
    };
    let last = match &a.last_attempt {
        None => Line::styled("last forge: none yet", theme.muted()),
        Some((at, ok, text)) => {
            let when = if hide {
                "--:--:--".into()
            } else {
                clock::hms(*at)
            };
            let (word, style) = if *ok {
                ("FORGED", theme.fg(theme.bad))
            } else {
                ("failed", theme.fg(theme.good))
            };
            Line::from(vec![
                Span::raw(format!("last forge {when} ")),
                Span::styled(word, style),
                Span::styled(format!(" · {text}"), theme.muted()),
            ])
        }
    };
    let lines = vec![
        Line::from(format!("shares held: {held}")),
        Line::from(Span::styled(verdict, vstyle)),
        last,
    ];
    f.render_widget(Paragraph::new(lines), inner);
}

fn draw_timeline(f: &mut Frame, area: Rect, m: &KdcModel, theme: &Theme, hide: bool) {
    let entries = m.timeline.iter().map(|e| {
        let style = match e.kind {
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
    lab: &mut KdcLabView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let ids: Vec<u64> = if TABS[lab.tab] == "Logs" {
        lab.model.nodes.iter().map(|n| n.id).collect()
    } else {
        Vec::new()
    };
    draw_log_panes(
        f,
        area,
        &mut lab.logs,
        lab.model.logs.lines(),
        &ids,
        lab.selected,
        theme,
        hide,
        hits,
    );
}
