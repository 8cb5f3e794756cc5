//! The line editor's history for one interactive session ([`SessionHistory`]): it starts from
//! the history file, appends each of this session's lines to the file as soon as it is entered
//! (so a crash or a kill loses nothing), and never reads the file again. Two shells running at
//! once therefore both keep their lines, and neither sees the other's typed into its Up-arrow
//! list; a third shell started later sees both. (reedline's file-backed history re-reads the
//! file on every sync and interleaves the sessions.)
//!
//! The file format is reedline's: one entry per line, newlines inside an entry written as
//! `<\n>`. When the file grows past twice the entry limit, it is rewritten with the newest
//! entries only, under an exclusive lock, as every append is.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::PathBuf;

use reedline::{
    FileBackedHistory, History, HistoryItem, HistoryItemId, HistorySessionId, Result, SearchQuery,
};

/// How a newline inside an entry is written (reedline's file format).
const NEWLINE_ESCAPE: &str = "<\\n>";

/// A session's history: reedline's in-memory history, loaded from `path` once, plus the file
/// appends of [`History::sync`].
pub struct SessionHistory {
    mem: FileBackedHistory,
    path: PathBuf,
    capacity: usize,
    unsynced: Vec<String>,
}

impl SessionHistory {
    /// A history of at most `capacity` entries, starting with the last ones of `path` (missing:
    /// empty).
    pub fn open(capacity: usize, path: PathBuf) -> Result<Self> {
        let mut mem = FileBackedHistory::new(capacity)?;
        if let Ok(f) = std::fs::File::open(&path) {
            let lines: Vec<String> = BufReader::new(f)
                .lines()
                .map_while(std::io::Result::ok)
                .collect();
            let start = lines.len().saturating_sub(capacity);
            for line in &lines[start..] {
                mem.save(HistoryItem::from_command_line(
                    line.replace(NEWLINE_ESCAPE, "\n"),
                ))?;
            }
        }
        Ok(Self {
            mem,
            path,
            capacity,
            unsynced: Vec::new(),
        })
    }

    /// Appends this session's new entries to the file (under an exclusive lock), and trims the
    /// file to the newest `capacity` entries once it holds twice as many.
    fn append(&mut self) -> std::io::Result<()> {
        if self.unsynced.is_empty() {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(&self.path)?;
        file.lock()?;
        let mut text = String::new();
        BufReader::new(&file).read_to_string_lossy(&mut text)?;
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.extend(
            self.unsynced
                .iter()
                .map(|e| e.replace('\n', NEWLINE_ESCAPE)),
        );
        if lines.len() > 2 * self.capacity {
            lines.drain(..lines.len() - self.capacity);
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
        } else {
            file.seek(SeekFrom::End(0))?;
            lines.drain(..lines.len() - self.unsynced.len());
        }
        let mut out = String::new();
        for l in &lines {
            out.push_str(l);
            out.push('\n');
        }
        file.write_all(out.as_bytes())?;
        file.flush()?;
        self.unsynced.clear();
        Ok(())
    }
}

/// Reads the rest of `r` as text, invalid UTF-8 replaced (a damaged file must not stop the
/// shell from saving new lines).
trait ReadLossy {
    fn read_to_string_lossy(&mut self, out: &mut String) -> std::io::Result<()>;
}

impl<R: std::io::Read> ReadLossy for BufReader<R> {
    fn read_to_string_lossy(&mut self, out: &mut String) -> std::io::Result<()> {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(self, &mut bytes)?;
        out.push_str(&String::from_utf8_lossy(&bytes));
        Ok(())
    }
}

impl History for SessionHistory {
    fn save(&mut self, h: HistoryItem) -> Result<HistoryItem> {
        let saved = self.mem.save(h)?;
        // An id means it was added (not an empty line or a repeat of the last one).
        if saved.id.is_some() {
            self.unsynced.push(saved.command_line.clone());
        }
        Ok(saved)
    }

    fn load(&self, id: HistoryItemId) -> Result<HistoryItem> {
        self.mem.load(id)
    }

    fn count(&self, query: SearchQuery) -> Result<i64> {
        self.mem.count(query)
    }

    fn search(&self, query: SearchQuery) -> Result<Vec<HistoryItem>> {
        self.mem.search(query)
    }

    fn update(
        &mut self,
        id: HistoryItemId,
        updater: &dyn Fn(HistoryItem) -> HistoryItem,
    ) -> Result<()> {
        self.mem.update(id, updater)
    }

    fn clear(&mut self) -> Result<()> {
        self.unsynced.clear();
        self.mem.clear()
    }

    fn delete(&mut self, h: HistoryItemId) -> Result<()> {
        self.mem.delete(h)
    }

    fn sync(&mut self) -> std::io::Result<()> {
        self.append()
    }

    fn session(&self) -> Option<HistorySessionId> {
        self.mem.session()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(h: &SessionHistory) -> Vec<String> {
        h.search(SearchQuery::everything(
            reedline::SearchDirection::Forward,
            None,
        ))
        .expect("search")
        .into_iter()
        .map(|i| i.command_line)
        .collect()
    }

    #[test]
    fn two_sessions_keep_their_own_lines_and_the_file_gets_both() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history");
        std::fs::write(&path, "old one\nold two\n").expect("seed");
        let mut a = SessionHistory::open(100, path.clone()).expect("a");
        let mut b = SessionHistory::open(100, path.clone()).expect("b");
        a.save(HistoryItem::from_command_line("echo a1")).unwrap();
        a.sync().unwrap();
        b.save(HistoryItem::from_command_line("echo b1")).unwrap();
        b.sync().unwrap();
        a.save(HistoryItem::from_command_line("echo a2\necho more"))
            .unwrap();
        a.sync().unwrap();
        assert_eq!(
            lines_of(&a),
            ["old one", "old two", "echo a1", "echo a2\necho more"]
        );
        assert_eq!(lines_of(&b), ["old one", "old two", "echo b1"]);
        let c = SessionHistory::open(100, path.clone()).expect("c");
        assert_eq!(
            lines_of(&c),
            [
                "old one",
                "old two",
                "echo a1",
                "echo b1",
                "echo a2\necho more"
            ]
        );
    }

    #[test]
    fn the_file_is_trimmed_to_the_newest_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("history");
        let mut h = SessionHistory::open(3, path.clone()).expect("open");
        for i in 0..7 {
            h.save(HistoryItem::from_command_line(format!("cmd {i}")))
                .unwrap();
            h.sync().unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let n = text.lines().count();
        assert!(n <= 6, "{text}");
        assert!(text.ends_with("cmd 6\n"), "{text}");
    }
}
