//! Durable state of the chat lab: the server's PSK registry, room message logs (server and
//! client copies share one format) and a client's outbox.
//!
//! * Whole-file state (registry, outbox, key files) is replaced atomically: write a temporary
//!   file (mode 0600), fsync it, rename it over the old one, fsync the directory.
//! * A room log is one JSON [`Entry`] per line, appended and `fdatasync`ed before the server
//!   acknowledges a message. Loading stops at the first torn or invalid line (a crash in the
//!   middle of an append) and truncates the file there, so the log is always a clean prefix.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::noise::{PSK_LEN, Psk};

/// Longest log line accepted when loading (a message is at most a Noise payload).
const MAX_LINE: usize = 128 * 1024;

/// One message of a room, as the server logged it and every member stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the room, 1, 2, 3… without gaps.
    pub id: u64,
    /// The sender's client name.
    pub from: String,
    /// The sender's own sequence number (its de-duplication key; 0: none).
    pub cid: u64,
    /// When the sender first sent it, µs since the Unix epoch (for delivery latency).
    pub sent_us: u64,
    /// The text.
    pub text: String,
}

/// Writes `bytes` to `path` atomically and durably, with mode 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Parses a 32-byte key from 64 hex digits.
pub fn parse_psk(text: &str) -> Option<Psk> {
    let t = text.trim().as_bytes();
    if t.len() != PSK_LEN * 2 {
        return None;
    }
    let mut out = [0u8; PSK_LEN];
    for (i, pair) in t.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(Psk::from_bytes(out))
}

/// Writes a client's key file (hex, 0600, atomically).
pub fn write_key_file(path: &Path, psk: &Psk) -> std::io::Result<()> {
    write_atomic(path, format!("{}\n", hex(psk.as_bytes())).as_bytes())
}

/// Reads a client's key file.
pub fn read_key_file(path: &Path) -> Option<Psk> {
    parse_psk(&fs::read_to_string(path).ok()?)
}

/// Whether `name` is a valid client name: 1..=64 bytes of `[A-Za-z0-9_.-]`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= super::noise::MAX_CLIENT_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// One enrolled client.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    /// Its PSK, hex.
    pub psk: String,
    /// Revoked: its handshakes are refused.
    #[serde(default)]
    pub revoked: bool,
}

/// The server's durable PSK registry (`registry.json`, 0600).
#[derive(Debug)]
pub struct Registry {
    path: PathBuf,
    clients: BTreeMap<String, Record>,
}

impl Registry {
    /// Loads the registry at `path` (empty if the file does not exist).
    pub fn load(path: &Path) -> anyhow::Result<Registry> {
        let clients = match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e.into()),
        };
        Ok(Registry {
            path: path.to_path_buf(),
            clients,
        })
    }

    fn save(&self) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.clients).map_err(std::io::Error::other)?;
        write_atomic(&self.path, &bytes)
    }

    /// Enrolls (or re-enrolls, un-revoking) `name` with `psk`, durably.
    pub fn enroll(&mut self, name: &str, psk: &Psk) -> std::io::Result<()> {
        let old = self.clients.insert(
            name.to_string(),
            Record {
                psk: hex(psk.as_bytes()),
                revoked: false,
            },
        );
        self.save().inspect_err(|_| {
            match old {
                Some(r) => self.clients.insert(name.to_string(), r),
                None => self.clients.remove(name),
            };
        })
    }

    /// Revokes `name`, durably; false if it is not enrolled.
    pub fn revoke(&mut self, name: &str) -> std::io::Result<bool> {
        let Some(r) = self.clients.get_mut(name) else {
            return Ok(false);
        };
        r.revoked = true;
        self.save()?;
        Ok(true)
    }

    /// What the registry says about `name`.
    pub fn lookup(&self, name: &str) -> Lookup {
        match self.clients.get(name) {
            None => Lookup::Unknown,
            Some(r) if r.revoked => Lookup::Revoked,
            Some(r) => match parse_psk(&r.psk) {
                Some(psk) => Lookup::Known(psk),
                None => Lookup::Unknown,
            },
        }
    }

    /// Enrolled names with their revoked flag.
    pub fn names(&self) -> impl Iterator<Item = (&str, bool)> {
        self.clients.iter().map(|(n, r)| (n.as_str(), r.revoked))
    }
}

/// A registry lookup.
pub enum Lookup {
    /// Enrolled: its key.
    Known(Psk),
    /// Never enrolled.
    Unknown,
    /// Enrolled, then revoked.
    Revoked,
}

/// An append-only room log file.
#[derive(Debug)]
pub struct RoomLog {
    file: File,
}

impl RoomLog {
    /// Opens (creating) the log at `path` and returns it with its entries, truncating a torn
    /// tail. Entries must be numbered 1, 2, 3…: loading stops at the first that is not.
    pub fn open(path: &Path) -> std::io::Result<(RoomLog, Vec<Entry>)> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)?;
        let (entries, good) = read_entries(&file)?;
        if good < file.metadata()?.len() {
            file.set_len(good)?;
            file.sync_all()?;
        }
        Ok((RoomLog { file }, entries))
    }

    /// Appends entries and fdatasyncs: once this returns they are durable.
    pub fn append(&mut self, entries: &[Entry]) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(entries.len() * 96);
        for e in entries {
            serde_json::to_writer(&mut buf, e).map_err(std::io::Error::other)?;
            buf.push(b'\n');
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()
    }
}

/// Reads the valid prefix of a log: its entries and their byte length.
fn read_entries(file: &File) -> std::io::Result<(Vec<Entry>, u64)> {
    let mut reader = BufReader::new(file);
    let mut entries = Vec::new();
    let mut good = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .by_ref()
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        match serde_json::from_slice::<Entry>(&line[..n - 1]) {
            Ok(e) if e.id == entries.len() as u64 + 1 => entries.push(e),
            _ => break,
        }
        good += n as u64;
    }
    Ok((entries, good))
}

/// Reads a log without modifying it (for `chat check`): its valid prefix.
pub fn read_log(path: &Path) -> std::io::Result<Vec<Entry>> {
    match File::open(path) {
        Ok(f) => Ok(read_entries(&f)?.0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// A client's outbox: the one message it has in flight (stop-and-wait), kept durably so that
/// a restarted client neither loses nor re-numbers it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outbox {
    /// Sequence number of the newest message (0: none yet).
    pub cid: u64,
    /// Its text.
    pub text: String,
    /// When it was first sent (µs since the epoch).
    pub sent_us: u64,
    /// Whether the server acknowledged it.
    pub acked: bool,
    /// The tag of the `say` that asked for it (0: the bot's own).
    #[serde(default)]
    pub tag: u64,
}

impl Outbox {
    /// Loads the outbox (default if absent or unreadable).
    pub fn load(path: &Path) -> Outbox {
        fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Stores it durably.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        write_atomic(
            path,
            &serde_json::to_vec(self).map_err(std::io::Error::other)?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64) -> Entry {
        Entry {
            id,
            from: "c1".into(),
            cid: id,
            sent_us: 1,
            text: format!("m{id}"),
        }
    }

    #[test]
    fn room_log_round_trips_and_truncates_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.log");
        let (mut log, e) = RoomLog::open(&path).unwrap();
        assert!(e.is_empty());
        log.append(&[entry(1), entry(2)]).unwrap();
        drop(log);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"id\":3,\"fro").unwrap();
        let (_, e) = RoomLog::open(&path).unwrap();
        assert_eq!(e, vec![entry(1), entry(2)]);
        assert_eq!(read_log(&path).unwrap().len(), 2);
    }

    #[test]
    fn registry_is_durable_private_and_revocable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        let mut r = Registry::load(&path).unwrap();
        let psk = Psk::generate();
        r.enroll("alice", &psk).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let mut r = Registry::load(&path).unwrap();
        assert!(matches!(r.lookup("alice"), Lookup::Known(p) if p.as_bytes() == psk.as_bytes()));
        assert!(matches!(r.lookup("bob"), Lookup::Unknown));
        assert!(r.revoke("alice").unwrap());
        assert!(matches!(
            Registry::load(&path).unwrap().lookup("alice"),
            Lookup::Revoked
        ));
    }

    #[test]
    fn names_and_keys_parse_strictly() {
        assert!(valid_name("c1") && valid_name("a.b-c_d"));
        assert!(!valid_name("") && !valid_name("a b") && !valid_name(&"x".repeat(65)));
        assert!(parse_psk(&"ab".repeat(32)).is_some());
        assert!(parse_psk("abc").is_none() && parse_psk(&"zz".repeat(32)).is_none());
    }
}
