//! Drawing the secret dashboard: the courier's counters (created, claimed, expired, burned by
//! race losers, tampered and detected), the scanner bot's last preview, the races, the
//! server's view of a secret next to the client's, the command log, the timeline and the logs.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use serde_json::Value;

use super::model::{EventKind, SecretModel, count, state_word};
use super::{SecretLabView, TABS};
use crate::cluster::NodeInfo;
use crate::tui::Hits;
use crate::tui::dash::widgets::{
    draw_command_log, draw_event_list, draw_log_panes, draw_tab_bar, process_cells,
};
use crate::tui::theme::Theme;

/// Draws the dashboard into `area`.
pub fn draw(
    f: &mut Frame,
    area: Rect,
    lab: &mut SecretLabView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let [tabs_area, body] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    let full = format!("{} ", summary(lab));
    let short = format!("{} ", short_summary(lab));
    let m = &lab.model;
    let courier_up = m.server().is_some_and(|n| state_word(n) == "up");
    let style = if (courier_up || m.nodes.is_empty()) && m.burned() == 0 {
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
pub fn summary(lab: &SecretLabView) -> String {
    let m = &lab.model;
    if m.nodes.is_empty() {
        return if lab.running("secret up") {
            "starting the courier…".into()
        } else {
            "no lab: `:` then `secret up`".into()
        };
    }
    let courier = m.server().map_or("down", state_word);
    format!(
        "courier {courier} · {} held · burned by race losers: {}",
        m.server_count("live"),
        m.burned()
    )
}

fn short_summary(lab: &SecretLabView) -> String {
    let m = &lab.model;
    if m.nodes.is_empty() {
        return "no lab".into();
    }
    format!("burned {}", m.burned())
}

fn draw_overview(
    f: &mut Frame,
    area: Rect,
    lab: &mut SecretLabView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let top_h = 7;
    let mid_h = if area.height >= 34 { 8 } else { 6 };
    let big = area.height >= top_h + mid_h + 10 + 8;
    let mut cons = vec![
        Constraint::Length(top_h),
        Constraint::Length(mid_h),
        Constraint::Min(3),
    ];
    if big {
        cons.push(Constraint::Length(area.height / 5));
    }
    let parts = Layout::vertical(cons).split(area);
    let side_w = if area.width >= 110 { 52 } else { 30 };
    let [courier, scanner] =
        Layout::horizontal([Constraint::Min(30), Constraint::Length(side_w)]).areas(parts[0]);
    draw_courier(f, courier, lab, theme, hide, hits);
    draw_scanner(f, scanner, lab, theme, hide, hits);
    let [races, views] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
            .areas(parts[1]);
    draw_races(f, races, &lab.model, theme);
    draw_views(f, views, &lab.model, theme);
    let [cl, tl] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
        .areas(parts[2]);
    draw_command_log(f, cl, &lab.commands, 0, theme, hide);
    draw_timeline(f, tl, &lab.model, theme, hide);
    if big {
        draw_logs(f, parts[3], lab, theme, hide, hits);
    }
}

fn state_style(theme: &Theme, word: &str) -> Style {
    match word {
        "up" => theme.fg(theme.good),
        "paused" | "starting" => theme.fg(theme.warn),
        _ => theme.fg(theme.bad),
    }
}

/// A node's first line: selection mark, name, state, pid.
fn node_line(
    n: Option<&NodeInfo>,
    id: u64,
    name: &str,
    selected: u64,
    theme: &Theme,
    hide: bool,
) -> Vec<Span<'static>> {
    let sel = if id == selected { "▶" } else { " " };
    let mut spans = vec![Span::styled(format!("{sel}{id} {name} "), theme.title())];
    match n {
        Some(n) => {
            let word = state_word(n);
            let [pid, ..] = process_cells(n, hide);
            spans.push(Span::styled(word, state_style(theme, word)));
            spans.push(Span::styled(format!(" · pid {pid}"), theme.muted()));
        }
        None => spans.push(Span::styled("not started", theme.muted())),
    }
    spans
}

fn draw_courier(
    f: &mut Frame,
    area: Rect,
    lab: &SecretLabView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let m = &lab.model;
    let title = match &m.last_link {
        Some(id) if area.width >= 60 => {
            format!(" courier: what it stored and handed out · last link {id} ")
        }
        Some(id) => format!(" courier · last link {id} "),
        None => " courier: what it stored and handed out ".into(),
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let n = m.server();
    let st = n.map(|n| &n.state);
    let g = |k: &str| st.map_or(0, |s| count(s, k));
    let mut first = node_line(n, 1, "courier", lab.selected, theme, hide);
    if let Some(store) = st.and_then(|s| s.get("store")).and_then(Value::as_str) {
        let text = if inner.width >= 60 {
            format!(" · {store} store · {} held", g("live"))
        } else {
            format!(" · {store} · {} held", g("live"))
        };
        first.push(Span::styled(text, theme.muted()));
    }
    let burned = m.burned();
    let burned_style = if burned == 0 {
        theme.fg(theme.good)
    } else {
        theme.fg(theme.bad)
    };
    let wide = inner.width >= 60;
    let mut lines = vec![Line::from(first)];
    // `--store redis`: the lab's own redis-server is node 3, shown under its courier.
    let redis = m.redis();
    if let Some(r) = redis {
        let mut line = node_line(
            Some(r),
            crate::secret::lab::STORE,
            "redis",
            lab.selected,
            theme,
            hide,
        );
        let rs = |k: &str| count(&r.state, k);
        line.push(Span::styled(
            if wide {
                format!(
                    " · {} keys · AOF {} KB (fsync always)",
                    rs("keys"),
                    rs("aof_bytes") / 1024
                )
            } else {
                format!(" · {} keys", rs("keys"))
            },
            theme.muted(),
        ));
        lines.push(Line::from(line));
    }
    lines.extend([
        Line::from(format!(
            "created {} · claimed {} · expired {} · 404s {}",
            g("created"),
            g("claimed"),
            g("expired"),
            g("claim_misses")
        )),
        Line::from(vec![
            Span::raw("burned by race losers: "),
            Span::styled(
                format!(
                    "{burned} {}",
                    if burned == 0 {
                        "(must stay 0) ✓"
                    } else {
                        "VIOLATION"
                    }
                ),
                burned_style,
            ),
        ]),
        Line::from(vec![
            Span::raw(if wide {
                format!("tampered in the store {} · ", g("tampered"))
            } else {
                format!("tampered {} · ", g("tampered"))
            }),
            Span::styled(
                format!("detected by readers {}", m.readers.tamper_detected),
                if m.readers.tamper_detected > 0 {
                    theme.fg(theme.good)
                } else {
                    Style::default()
                },
            ),
        ]),
        Line::styled(
            if wide {
                format!(
                    "refused opens {} · bad requests {} · rate-limited {}",
                    m.readers.refused,
                    g("bad_requests"),
                    g("rate_limited")
                )
            } else {
                format!(
                    "refused {} · bad {} · rate-limited {}",
                    m.readers.refused,
                    g("bad_requests"),
                    g("rate_limited")
                )
            },
            theme.muted(),
        ),
    ]);
    f.render_widget(Paragraph::new(lines), inner);
    node_hit(hits, inner, crate::secret::lab::SERVER);
    if redis.is_some() && inner.height > 1 {
        let second = Rect {
            y: inner.y + 1,
            height: 1,
            ..inner
        };
        hits.push((second, crate::tui::Click::Node(crate::secret::lab::STORE)));
    }
}

/// A click on a panel's first line selects its node.
fn node_hit(hits: &mut Hits, inner: Rect, id: u64) {
    if inner.height > 0 {
        hits.push((Rect { height: 1, ..inner }, crate::tui::Click::Node(id)));
    }
}

fn draw_scanner(
    f: &mut Frame,
    area: Rect,
    lab: &SecretLabView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let m = &lab.model;
    let wide = area.width >= 46;
    let block = Block::bordered().title(if wide {
        " link scanner: a chat app's preview "
    } else {
        " link scanner (preview bot) "
    });
    let inner = block.inner(area);
    f.render_widget(block, area);
    let n = m.scanner();
    let st = n.map(|n| &n.state);
    let scans = st.map_or(0, |s| count(s, "scans"));
    let first = if wide {
        let mut v = node_line(n, 2, "scanner", lab.selected, theme, hide);
        v.push(Span::styled(format!(" · {scans} previews"), theme.muted()));
        v
    } else {
        let sel = if lab.selected == 2 { "▶" } else { " " };
        let word = n.map_or("not started", state_word);
        vec![
            Span::styled(format!("{sel}2 "), theme.title()),
            Span::styled(word, state_style(theme, word)),
            Span::styled(format!(" · {scans} previews"), theme.muted()),
        ]
    };
    let mut lines = vec![Line::from(first)];
    match st.filter(|s| s.contains_key("last_requests")) {
        Some(s) => {
            let reqs: Vec<&str> = s["last_requests"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let mut statuses: Vec<&str> = reqs
                .iter()
                .map(|r| r.rsplit(' ').next().unwrap_or("?"))
                .collect();
            statuses.sort_unstable();
            statuses.dedup();
            lines.push(Line::from(if wide {
                format!(
                    "fetched {} URLs (HEAD, GET) → {} · {} B",
                    reqs.len(),
                    statuses.join("/"),
                    count(s, "last_bytes")
                )
            } else {
                format!("{} fetches → {}", reqs.len(), statuses.join("/"))
            }));
            let title = s.get("last_title").and_then(Value::as_str).unwrap_or("");
            lines.push(Line::from(format!("saw: page {title:?}")));
            let saw_ct = s.get("last_saw_ciphertext").and_then(Value::as_bool) == Some(true);
            lines.push(Line::from(vec![
                Span::raw("ciphertext "),
                Span::styled(
                    if saw_ct { "SEEN" } else { "no" },
                    if saw_ct {
                        theme.fg(theme.bad)
                    } else {
                        theme.fg(theme.good)
                    },
                ),
                Span::raw(if wide {
                    " · key never (#fragment unsent)"
                } else {
                    " · key never"
                }),
            ]));
        }
        None => lines.push(Line::styled(
            "no preview yet: c scans the last link",
            theme.muted(),
        )),
    }
    let r = &m.readers;
    if r.scans_survived + r.scans_burned > 0 {
        let style = if r.scans_burned == 0 {
            theme.fg(theme.good)
        } else {
            theme.fg(theme.bad)
        };
        let text = if wide {
            format!(
                "secret survived {} preview(s), burned by {}",
                r.scans_survived, r.scans_burned
            )
        } else {
            format!("survived {} · burned {}", r.scans_survived, r.scans_burned)
        };
        lines.push(Line::styled(text, style));
    }
    f.render_widget(Paragraph::new(lines), inner);
    node_hit(hits, inner, crate::secret::lab::SCANNER);
}

fn draw_races(f: &mut Frame, area: Rect, m: &SecretModel, theme: &Theme) {
    let wide = area.width >= 48;
    let block = Block::bordered().title(if wide {
        " races: concurrent claims of one link "
    } else {
        " races (concurrent claims) "
    });
    let inner = block.inner(area);
    f.render_widget(block, area);
    let h = inner.height as usize;
    let lines: Vec<Line> = if m.races.is_empty() {
        vec![Line::styled(
            "none yet: x sends 100 claimers at the last link",
            theme.muted(),
        )]
    } else {
        let skip = m.races.len().saturating_sub(h);
        m.races
            .iter()
            .skip(skip)
            .map(|r| {
                let (mark, style) = if r.ok {
                    ("✓", theme.fg(theme.good))
                } else {
                    ("✗", theme.fg(theme.bad))
                };
                let other = if r.other > 0 {
                    format!(" · {} other", r.other)
                } else {
                    String::new()
                };
                let text = if wide {
                    format!(
                        "{} claimers → {} won · {}×404{other} · burned {}",
                        r.claimers, r.winners, r.not_found, r.burned
                    )
                } else {
                    format!(
                        "{} → {} won, {}×404, burned {}",
                        r.claimers, r.winners, r.not_found, r.burned
                    )
                };
                Line::from(vec![
                    Span::styled(format!("{mark} "), style),
                    Span::raw(text),
                ])
            })
            .collect()
    };
    f.render_widget(Paragraph::new(lines), inner);
}

fn draw_views(f: &mut Frame, area: Rect, m: &SecretModel, theme: &Theme) {
    let wide = area.width >= 60;
    let title = match &m.snoop {
        Some(s) if wide => format!(" snoop {}: the server's view | the client's ", s.id),
        _ => " the server's view | the client's ".into(),
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(s) = &m.snoop else {
        f.render_widget(
            Paragraph::new(Line::styled(
                "n snoops the last link: what the server holds next to what its reader decrypts",
                theme.muted(),
            ))
            .wrap(Wrap { trim: true }),
            inner,
        );
        return;
    };
    let [views, verdict] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    let [server, client] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
            .spacing(1)
            .areas(views);
    f.render_widget(
        Paragraph::new(vec![
            Line::styled("the server holds:", theme.title()),
            Line::styled(s.server_view.clone(), theme.muted()),
        ])
        .wrap(Wrap { trim: false }),
        server,
    );
    let client_view = match &s.client_view {
        Some(p) => Line::raw(format!("{:?}", p.trim_end())),
        None => Line::styled(
            "does not decrypt (passphrase or tampered)",
            theme.fg(theme.warn),
        ),
    };
    f.render_widget(
        Paragraph::new(vec![
            Line::styled("its reader decrypts:", theme.title()),
            client_view,
        ])
        .wrap(Wrap { trim: false }),
        client,
    );
    let (text, style) = if s.leaked {
        (
            "LEAK: key, token or plaintext on the server's side".to_string(),
            theme.fg(theme.bad),
        )
    } else {
        (
            if wide {
                format!(
                    "key, token, plaintext on the server: nowhere ({} B searched)",
                    s.searched_bytes
                )
            } else {
                "key/token/plaintext on server: nowhere".into()
            },
            theme.fg(theme.good),
        )
    };
    f.render_widget(Paragraph::new(Span::styled(text, style)), verdict);
}

fn draw_timeline(f: &mut Frame, area: Rect, m: &SecretModel, theme: &Theme, hide: bool) {
    let entries = m.timeline.iter().map(|e| {
        let style = match e.kind {
            EventKind::Fault => theme.fg(theme.bad),
            EventKind::Good => theme.fg(theme.accent),
            EventKind::Info => Style::default(),
        };
        (e.at_ms, style, e.text.as_str())
    });
    draw_event_list(f, area, " timeline ", entries, theme, hide);
}

fn draw_logs(
    f: &mut Frame,
    area: Rect,
    lab: &mut SecretLabView,
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
