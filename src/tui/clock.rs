//! Time formatting for the views, and redaction of what changes between runs (for snapshots).

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `HH:MM:SS` UTC.
pub fn hms(ms: u64) -> String {
    let s = ms / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600 % 24, s / 60 % 60, s % 60)
}

/// `850ms`, `12s`, `3m04s`, `2h05m`.
pub fn human_duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => format!("{ms}ms"),
        1..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s / 60 % 60),
    }
}

/// `text` with pids, addresses, paths and durations replaced by placeholders.
pub fn redact(text: &str) -> String {
    let words: Vec<&str> = text.split(' ').collect();
    let mut out = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        let prev = if i > 0 { words[i - 1] } else { "" };
        let next = words.get(i + 1).copied().unwrap_or("");
        // A number, possibly wrapped in punctuation: `4242)`, `(12`.
        let start = w.find(|c: char| c.is_ascii_digit());
        let end = w.rfind(|c: char| c.is_ascii_digit()).map(|e| e + 1);
        let number = match (start, end) {
            (Some(s), Some(e)) => {
                let core = &w[s..e];
                let (pre, post) = (&w[..s], &w[e..]);
                let wrapped = pre.chars().all(|c| "([".contains(c))
                    && post.chars().all(|c| "),:;.]".contains(c));
                (wrapped && core.chars().all(|c| c.is_ascii_digit() || c == '.'))
                    .then_some((pre, post))
            }
            _ => None,
        };
        let r = if let Some((pre, post)) = number
            && (prev == "pid" || prev == "(pid")
        {
            format!("{pre}<pid>{post}")
        } else if w.contains("127.0.0.1:") || w.contains("localhost:") {
            "<addr>".to_string()
        } else if w.starts_with('/') || w.starts_with("(/") {
            "<path>".to_string()
        } else if let Some((pre, post)) = number
            && (next.starts_with("ms") || next == "s" || next.starts_with("s,"))
        {
            format!("{pre}<n>{post}")
        } else if w.len() > 2
            && w.ends_with("ms")
            && w.trim_end_matches("ms").chars().all(|c| c.is_ascii_digit())
        {
            "<n>ms".to_string()
        } else {
            w.to_string()
        };
        out.push(r);
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_what_changes_between_runs() {
        assert_eq!(redact("started (pid 4242)"), "started (pid <pid>)");
        assert_eq!(
            redact("workload started: 4 clients"),
            "workload started: 4 clients"
        );
        assert_eq!(
            redact("raft cluster up in /tmp/x/raft-1"),
            "raft cluster up in <path>"
        );
        assert_eq!(redact("after 240 ms without"), "after <n> ms without");
        assert_eq!(redact("listening on 127.0.0.1:4000"), "listening on <addr>");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(850), "850ms");
        assert_eq!(human_duration(184_000), "3m04s");
    }
}
