//! The forge dashboard's timeline: entries (time, kind, text), bounded; bursts of one counter
//! (a flood's 408s, failed requests while the server is down) read as one updated line; and
//! the texts of the attacks' outcomes, taken from what the attack commands printed.

use std::collections::VecDeque;

/// Timeline entries kept.
pub const TIMELINE_CAPACITY: usize = 500;
/// Counts of one tag within this long of the previous ones share an entry.
const COALESCE_MS: u64 = 3000;

/// The kind of a timeline entry (colours it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Load started or stopped, a node came up.
    Info,
    /// An attack was sent (slowloris, smuggling).
    Attack,
    /// The server refused something, or an outcome is as it should be (zero failed requests).
    Good,
    /// A reload step.
    Reload,
    /// A fault: kill, pause, exit, failed requests.
    Fault,
}

/// One entry of the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct ForgeEvent {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Its kind.
    pub kind: EventKind,
    /// What happened.
    pub text: String,
    /// What it counts, for coalescing.
    tag: Option<u16>,
    /// How many it counts.
    count: u64,
}

/// The timeline, oldest first.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    entries: VecDeque<ForgeEvent>,
}

impl Timeline {
    /// Adds an entry in time order (an entry learnt late, like "lab up" from the first node
    /// snapshot, goes before later ones already shown), dropping the oldest beyond
    /// [`TIMELINE_CAPACITY`].
    pub fn push(&mut self, at_ms: u64, kind: EventKind, text: String) {
        let at = self
            .entries
            .iter()
            .rposition(|e| e.at_ms <= at_ms)
            .map_or(0, |i| i + 1);
        self.entries.insert(
            at,
            ForgeEvent {
                at_ms,
                kind,
                text,
                tag: None,
                count: 0,
            },
        );
        while self.entries.len() > TIMELINE_CAPACITY {
            self.entries.pop_front();
        }
    }

    /// Adds `new` to the newest entry counting `tag` when it is recent enough (its text
    /// rewritten from the new count), else starts a new entry: a burst reads as one line.
    pub fn count_burst(
        &mut self,
        at_ms: u64,
        tag: u16,
        new: u64,
        kind: EventKind,
        text: impl Fn(u64) -> String,
    ) {
        if let Some(e) = self.entries.back_mut()
            && e.tag == Some(tag)
            && at_ms.saturating_sub(e.at_ms) <= COALESCE_MS
        {
            e.count = e.count.saturating_add(new);
            e.at_ms = at_ms;
            e.text = text(e.count);
            return;
        }
        self.push(at_ms, kind, text(new));
        if let Some(e) = self.entries.back_mut() {
            e.tag = Some(tag);
            e.count = new;
        }
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> &VecDeque<ForgeEvent> {
        &self.entries
    }

    /// The entries, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &ForgeEvent> {
        self.entries.iter()
    }

    /// The newest entry.
    pub fn back(&self) -> Option<&ForgeEvent> {
        self.entries.back()
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The reason phrase of the statuses the lab shows.
pub fn status_name(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

fn why_rejected(code: u16) -> &'static str {
    match code {
        400 => "malformed or ambiguous request refused by the parser",
        408 => "request head not complete within the header timeout",
        431 => "request head too large",
        _ => "refused before reaching a handler",
    }
}

/// `count` requests the server refused with `code`, and why it does.
pub fn rejection_text(code: u16, count: u64) -> String {
    format!(
        "server answered {} × {code} {} and closed: {}",
        thousands(count),
        status_name(code),
        why_rejected(code)
    )
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The entry for an attack command as it starts (a slowloris flood lasts until the header
/// timeout closes it); `None` for other commands.
pub fn attack_sent(cmd: &str) -> Option<String> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    match words.get(1).copied() {
        Some("slowloris") => Some(format!(
            "slowloris flood: {} connections trickling request heads, one header line every 200 ms",
            words.get(2).copied().unwrap_or("50")
        )),
        _ => None,
    }
}

/// The entry for a finished attack command (`forge slowloris`, `forge smuggle`): what the
/// attacker saw, from the command's output; `None` for other commands or unreadable output.
pub fn attack_result(cmd: &str, status: i32, output: &str) -> Option<(EventKind, String)> {
    let line = |prefix: &str| {
        output
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .map(str::to_string)
    };
    let kind = if status == 0 {
        EventKind::Good
    } else {
        EventKind::Fault
    };
    let words: Vec<&str> = cmd.split_whitespace().collect();
    match words.get(1).copied() {
        Some("smuggle") => {
            let answer = line("< ")?;
            let answer = answer.trim_start_matches("< ");
            let closed = output.contains("closed the connection");
            Some((
                kind,
                format!(
                    "smuggling attempt (CL.TE, Content-Length + Transfer-Encoding) → {answer}{}",
                    if closed {
                        ", connection closed: nothing reached a handler"
                    } else {
                        ", connection left open"
                    }
                ),
            ))
        }
        Some("slowloris") => {
            let closed = line("server closed")?;
            let probe = line("meanwhile").unwrap_or_default();
            Some((
                kind,
                format!(
                    "slowloris flood ({}): {closed}{}{probe}",
                    words.get(2).copied().unwrap_or("50"),
                    if probe.is_empty() { "" } else { "; " }
                ),
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_entry_learnt_late_goes_in_time_order() {
        let mut t = super::Timeline::default();
        t.push(2_000, super::EventKind::Info, "load started".into());
        t.push(1_000, super::EventKind::Info, "lab up".into());
        t.push(3_000, super::EventKind::Info, "load stopped".into());
        let texts: Vec<&str> = t.entries.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["lab up", "load started", "load stopped"]);
    }

    use super::*;

    #[test]
    fn a_smuggle_result_shows_the_response_line() {
        let out = "smuggle: CL.TE request to http://127.0.0.1:1:\n  > POST / HTTP/1.1\n  < HTTP/1.1 400 Bad Request\nserver answered 400 (1 response) and closed the connection after 0.3 ms\n";
        let (kind, text) = attack_result("forge smuggle", 0, out).expect("an entry");
        assert_eq!(kind, EventKind::Good);
        assert!(
            text.ends_with(
                "→ HTTP/1.1 400 Bad Request, connection closed: nothing reached a handler"
            ),
            "{text}"
        );
        assert_eq!(attack_result("forge smuggle", 2, "forge: refused\n"), None);
        assert_eq!(attack_result("forge status", 0, out), None);
    }

    #[test]
    fn bursts_share_an_entry_and_the_timeline_is_bounded() {
        let mut t = Timeline::default();
        t.count_burst(0, 408, 5, EventKind::Good, |n| format!("{n}"));
        t.count_burst(2000, 408, 7, EventKind::Good, |n| format!("{n}"));
        t.count_burst(9000, 408, 1, EventKind::Good, |n| format!("{n}"));
        let texts: Vec<&str> = t.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, vec!["12", "1"]);
        for i in 0..TIMELINE_CAPACITY as u64 + 10 {
            t.push(i, EventKind::Info, String::new());
        }
        assert_eq!(t.len(), TIMELINE_CAPACITY);
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }
}
