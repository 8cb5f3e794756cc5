//! A dashboard's node log lines ([`LogBook`]): those the supervisor's events bring, and those
//! the nodes logged before the dashboard attached, read back from their `node-N.log` files.
//!
//! The dashboard subscribes to the events first and reads the files second, so no line falls
//! between the two. A line can then arrive twice: the supervisor writes a line to the file and
//! then publishes it, so one written just before the read may still be on its way as an event.
//! Lines read back that recent are remembered for [`BACKFILL_OVERLAP_MS`], and the first event
//! repeating one of them is not shown again.

use std::collections::VecDeque;
use std::path::Path;

use super::LogLine;
use crate::cluster::Supervisor;

/// The most lines a dashboard keeps (the oldest go first).
pub const LOG_CAPACITY: usize = 5000;

/// How long after the backfill an event may still repeat a line read back.
pub const BACKFILL_OVERLAP_MS: u64 = 2_000;

/// How much of each node's log file is read back.
const BACKFILL_BYTES: u64 = 64 * 1024;

/// Log lines, oldest first, at most [`LOG_CAPACITY`].
#[derive(Clone, Debug, Default)]
pub struct LogBook {
    lines: VecDeque<LogLine>,
    /// Recent lines read back (node, level, message) whose event may still come.
    in_flight: Vec<(u64, String, String)>,
    backfilled_at_ms: u64,
}

impl LogBook {
    /// The lines, oldest first.
    pub fn lines(&self) -> &VecDeque<LogLine> {
        &self.lines
    }

    /// The lines, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &LogLine> {
        self.lines.iter()
    }

    /// How many lines are kept.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Adds a line an event brought (or the dashboard made up), unless it repeats a line just
    /// read back.
    pub fn push(&mut self, at_ms: u64, node: u64, level: &str, msg: String) {
        if !self.in_flight.is_empty() {
            if at_ms > self.backfilled_at_ms + BACKFILL_OVERLAP_MS {
                self.in_flight.clear();
            } else if let Some(i) = self
                .in_flight
                .iter()
                .position(|(n, l, m)| *n == node && l == level && *m == msg)
            {
                self.in_flight.remove(i);
                return;
            }
        }
        self.keep(LogLine {
            at_ms,
            node,
            level: level.to_string(),
            msg,
        });
    }

    fn keep(&mut self, line: LogLine) {
        self.lines.push_back(line);
        while self.lines.len() > LOG_CAPACITY {
            self.lines.pop_front();
        }
    }

    /// Adds the lines of a node's log file (`MS LEVEL MESSAGE` per line) read at `now_ms`;
    /// lines that do not parse are skipped, and so are lines no newer than the node's newest
    /// line here (a lab restarted on the same run dir appends to files the book has shown).
    pub fn backfill(&mut self, node: u64, text: &str, now_ms: u64) {
        self.backfilled_at_ms = now_ms;
        let seen = self
            .lines
            .iter()
            .filter(|l| l.node == node)
            .map(|l| l.at_ms)
            .max();
        for line in text.lines() {
            let Some((ms, rest)) = line.split_once(' ') else {
                continue;
            };
            let (Ok(at_ms), Some((level, msg))) = (ms.parse::<u64>(), rest.split_once(' ')) else {
                continue;
            };
            if seen.is_some_and(|seen| at_ms <= seen) {
                continue;
            }
            let msg = msg.trim_start().to_string();
            // Only recent lines can still have their event in flight.
            if at_ms + BACKFILL_OVERLAP_MS >= now_ms {
                self.in_flight.push((node, level.to_string(), msg.clone()));
            }
            self.keep(LogLine {
                at_ms,
                node,
                level: level.to_string(),
                msg,
            });
        }
    }

    /// Reads back the tail of every node's log file in the lab's run dir.
    pub fn backfill_from(&mut self, sup: &Supervisor, now_ms: u64) {
        for id in sup.ids() {
            let path = sup.run_dir().join(format!("node-{id}.log"));
            if let Some(text) = tail(&path, BACKFILL_BYTES) {
                self.backfill(id, &text, now_ms);
            }
        }
        self.sort_by_time();
    }

    /// Orders the lines by time (stable: a node's lines keep their order): the files are read
    /// one node after the other, and the merged pane must read as one history.
    pub fn sort_by_time(&mut self) {
        self.lines.make_contiguous().sort_by_key(|l| l.at_ms);
    }
}

/// The last `max` bytes of the file at `path`, from its first whole line.
fn tail(path: &Path, max: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let start = len.saturating_sub(max);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    Some(if start > 0 {
        text.split_once('\n')
            .map_or(String::new(), |(_, rest)| rest.to_string())
    } else {
        text
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn files_read_back_one_after_the_other_merge_in_time_order() {
        let mut book = super::LogBook::default();
        book.backfill(1, "100 info one\n300 info three\n", 10_000);
        book.backfill(2, "200 info two\n400 info four\n", 10_000);
        book.sort_by_time();
        let msgs: Vec<&str> = book.iter().map(|l| l.msg.as_str()).collect();
        assert_eq!(msgs, ["one", "two", "three", "four"]);
    }

    use super::*;

    fn msgs(b: &LogBook) -> Vec<&str> {
        b.iter().map(|l| l.msg.as_str()).collect()
    }

    #[test]
    fn log_files_read_back_parse_and_skip_garbage() {
        let mut b = LogBook::default();
        b.backfill(
            1,
            "1700 info  serving the forge demo app\ngarbage\n1701 stderr oops  \n",
            1800,
        );
        let got: Vec<(u64, &str, &str)> = b
            .iter()
            .map(|l| (l.at_ms, l.level.as_str(), l.msg.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1700, "info", "serving the forge demo app"),
                (1701, "stderr", "oops  ")
            ]
        );
    }

    #[test]
    fn a_line_read_back_whose_event_follows_shows_once() {
        let mut b = LogBook::default();
        b.backfill(1, "1000 info  old\n5000 info  ready\n", 5001);
        b.push(5002, 1, "info", "ready".into());
        b.push(5003, 1, "info", "next".into());
        // The same text later is a new line; so is one that was too old to be in flight, and
        // one from another node.
        b.push(5004, 1, "info", "ready".into());
        b.push(5005, 1, "info", "old".into());
        assert_eq!(msgs(&b), ["old", "ready", "next", "ready", "old"]);
    }

    #[test]
    fn reading_back_again_adds_only_what_is_newer() {
        // A lab stopped and started again on its run dir: the files still hold the first
        // run's lines, which the book already shows.
        let mut b = LogBook::default();
        b.backfill(1, "1000 info  first run\n", 1001);
        b.push(9000, 1, "info", "stopping".into());
        b.backfill(
            1,
            "1000 info  first run\n8999 info  stopping\n20000 info  second run\n",
            20001,
        );
        b.backfill(2, "1000 info  other node\n", 20001);
        assert_eq!(
            msgs(&b),
            ["first run", "stopping", "second run", "other node"]
        );
    }

    #[test]
    fn the_overlap_ends_after_a_while() {
        let mut b = LogBook::default();
        b.backfill(1, "5000 info  ready\n", 5001);
        b.push(5001 + BACKFILL_OVERLAP_MS + 1, 1, "info", "ready".into());
        assert_eq!(msgs(&b), ["ready", "ready"]);
    }

    #[test]
    fn only_the_newest_lines_are_kept() {
        let mut b = LogBook::default();
        for i in 0..LOG_CAPACITY + 7 {
            b.push(i as u64, 1, "info", format!("{i}"));
        }
        assert_eq!(b.len(), LOG_CAPACITY);
        assert_eq!(b.iter().next().map(|l| l.msg.as_str()), Some("7"));
    }

    #[test]
    fn the_tail_of_a_long_file_starts_at_a_whole_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("node-1.log");
        let text: String = (0..100).map(|i| format!("{i} info  line {i}\n")).collect();
        std::fs::write(&path, &text).expect("write");
        let t = tail(&path, 40).expect("tail");
        assert!(t.len() <= 40, "{t:?}");
        assert!(t.starts_with(|c: char| c.is_ascii_digit()), "{t:?}");
        assert!(t.ends_with("line 99\n"), "{t:?}");
        assert_eq!(tail(&dir.path().join("none"), 40), None);
    }
}
