//! Durable files of the drone-fleet lab: key files (0600) and mission control's registry.
//!
//! Every write is `write tmp (0600) → fsync → rename → fsync dir`, so a crash leaves either the
//! old file or the new one, never half of one. Reads are bounded ([`MAX_FILE`]) and every
//! field is validated: a damaged file is a typed error naming it, never a panic.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::group::{ELEMENT_LEN, PublicKey, SigningKey};

/// Largest file this module reads (1 MiB): a registry of thousands of drones fits.
pub const MAX_FILE: u64 = 1 << 20;

/// Writes `bytes` to `path` atomically and durably, mode 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| anyhow::anyhow!("{} has no parent dir", path.display()))?;
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Reads at most [`MAX_FILE`] bytes of `path` (a longer file is an error).
pub fn read_bounded(path: &Path) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let f = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let mut buf = Zeroizing::new(Vec::new());
    f.take(MAX_FILE + 1).read_to_end(&mut buf)?;
    anyhow::ensure!(
        buf.len() as u64 <= MAX_FILE,
        "{} is over {MAX_FILE} bytes",
        path.display()
    );
    Ok(buf)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses lower- or upper-case hex (`None` for odd length or a non-hex digit).
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Writes a long-term signing key (hex of its 256-byte secret), 0600.
pub fn write_signing_key(path: &Path, key: &SigningKey) -> anyhow::Result<()> {
    let text = Zeroizing::new(hex(key.to_secret_bytes().as_ref()));
    write_atomic(path, text.as_bytes())
}

/// Reads a long-term signing key written by [`write_signing_key`].
pub fn read_signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    let text = read_bounded(path)?;
    let s =
        std::str::from_utf8(&text).map_err(|_| anyhow::anyhow!("{}: not text", path.display()))?;
    let bytes =
        Zeroizing::new(unhex(s).ok_or_else(|| anyhow::anyhow!("{}: not hex", path.display()))?);
    anyhow::ensure!(
        bytes.len() == ELEMENT_LEN,
        "{}: a key is {ELEMENT_LEN} bytes",
        path.display()
    );
    SigningKey::from_secret_bytes(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Parses a public key from hex (validated: in the prime-order subgroup).
pub fn parse_public(s: &str) -> anyhow::Result<PublicKey> {
    let bytes = unhex(s).ok_or_else(|| anyhow::anyhow!("public key is not hex"))?;
    PublicKey::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("bad public key: {e}"))
}

/// Reads a public key file (hex).
pub fn read_public(path: &Path) -> anyhow::Result<PublicKey> {
    let text = read_bounded(path)?;
    let s =
        std::str::from_utf8(&text).map_err(|_| anyhow::anyhow!("{}: not text", path.display()))?;
    parse_public(s).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Reads a 32-byte hex key file (the MAVLink signing key).
pub fn read_key32(path: &Path) -> anyhow::Result<Zeroizing<[u8; 32]>> {
    let text = read_bounded(path)?;
    let s =
        std::str::from_utf8(&text).map_err(|_| anyhow::anyhow!("{}: not text", path.display()))?;
    let bytes =
        Zeroizing::new(unhex(s).ok_or_else(|| anyhow::anyhow!("{}: not hex", path.display()))?);
    let mut out = Zeroizing::new([0u8; 32]);
    anyhow::ensure!(bytes.len() == 32, "{}: want 32 bytes", path.display());
    out.copy_from_slice(&bytes);
    Ok(out)
}

/// Mission control's durable registry: enrolled drone public keys, revoked ids and the last
/// fleet-key epoch used (so a restarted mission control never goes back to an old epoch).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Registry {
    /// Drone id → public key (hex).
    pub drones: BTreeMap<u32, String>,
    /// Revoked drone ids (kept so refusals name the reason).
    #[serde(default)]
    pub revoked: BTreeSet<u32>,
    /// The last fleet-key epoch handed out.
    #[serde(default)]
    pub epoch: u32,
}

impl Registry {
    /// Loads `path` (a missing file is an empty registry); every key is validated.
    pub fn load(path: &Path) -> anyhow::Result<Registry> {
        if !path.exists() {
            return Ok(Registry::default());
        }
        let bytes = read_bounded(path)?;
        let reg: Registry = serde_json::from_slice(&bytes)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        for (id, k) in &reg.drones {
            parse_public(k).map_err(|e| anyhow::anyhow!("{}: drone {id}: {e}", path.display()))?;
        }
        Ok(reg)
    }

    /// Saves durably (0600).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        write_atomic(path, &serde_json::to_vec_pretty(self)?)
    }

    /// Enrolls (or re-keys) `id`, lifting a revocation.
    pub fn enroll(&mut self, id: u32, key: &PublicKey) {
        self.drones.insert(id, hex(&key.to_bytes()));
        self.revoked.remove(&id);
    }

    /// Revokes `id`; returns whether it was enrolled.
    pub fn revoke(&mut self, id: u32) -> bool {
        self.revoked.insert(id);
        self.drones.remove(&id).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        assert_eq!(
            unhex(&hex(&[0, 1, 0xab, 0xff])).unwrap(),
            vec![0, 1, 0xab, 0xff]
        );
        assert!(unhex("abc").is_none());
        assert!(unhex("zz").is_none());
        assert!(unhex("é1").is_none());
    }

    #[test]
    fn registry_and_keys_are_written_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate(&mut rand::rng());
        let kp = dir.path().join("k").join("drone.key");
        write_signing_key(&kp, &key).unwrap();
        let mode = std::fs::metadata(&kp).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = read_signing_key(&kp).unwrap();
        assert_eq!(back.public().to_bytes(), key.public().to_bytes());
        let mut reg = Registry::default();
        reg.enroll(2, key.public());
        reg.epoch = 7;
        let rp = dir.path().join("registry.json");
        reg.save(&rp).unwrap();
        let back = Registry::load(&rp).unwrap();
        assert_eq!(back.epoch, 7);
        assert!(back.drones.contains_key(&2));
        let mut back = back;
        assert!(back.revoke(2));
        assert!(back.revoked.contains(&2));
    }

    #[test]
    fn damaged_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("registry.json");
        std::fs::write(&p, b"{\"drones\":{\"2\":\"00ff\"}}").unwrap();
        assert!(Registry::load(&p).is_err());
        std::fs::write(&p, b"not json").unwrap();
        assert!(Registry::load(&p).is_err());
        let k = dir.path().join("drone.key");
        std::fs::write(&k, b"0011").unwrap();
        assert!(read_signing_key(&k).is_err());
        std::fs::write(&k, vec![b'0'; 512]).unwrap();
        assert!(read_signing_key(&k).is_err(), "zero key refused");
    }
}
