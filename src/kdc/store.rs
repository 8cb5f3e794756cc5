//! What an authority keeps on disk, and how keys come from passwords.
//!
//! Two files per authority, each replaced atomically (write a temporary file with mode 0600,
//! `fsync` it, rename it over the old one, `fsync` the directory) and read back with a size
//! bound and full validation:
//! - `share.json`: this authority's FROST key package (its secret share only, never another
//!   authority's), the group's public key package and the share epoch;
//! - `principals.json`: the principal database: for each user its Ed25519 *verifier* (the
//!   public key derived from its password), for each service its X25519 public key. No
//!   password and no secret key is stored, so a leaked database allows offline password
//!   guessing (slowed by argon2) but no direct impersonation.
//!
//! Keys from passwords: argon2id with a salt bound to the principal's name, then the 32 bytes
//! are an Ed25519 secret key (users) or an X25519 secret (services).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::frost::{
    GroupPublicKey, Identifier, KeyPackage, PublicKeyPackage, SigningShare, VerifyingShare,
};
use super::proto::{PrincipalInfo, hex, hex_array};

/// Largest file an authority reads back.
pub const MAX_FILE: u64 = 256 * 1024;

/// Writes `bytes` to `path` atomically and durably, mode 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Reads a file of at most [`MAX_FILE`] bytes; `Ok(None)` when absent.
pub fn read_bounded(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut buf = Vec::new();
    f.take(MAX_FILE + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_FILE {
        return Err(std::io::Error::other(format!(
            "{} is larger than {MAX_FILE} bytes",
            path.display()
        )));
    }
    Ok(Some(buf))
}

/// Argon2 cost, from the lab file.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
pub struct KdfCost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub passes: u32,
}

/// The 32-byte secret derived from `password` for principal `name` (argon2id).
pub fn derive_secret(name: &str, password: &str, cost: KdfCost) -> Zeroizing<[u8; 32]> {
    let salt = format!("wirelab-kdc principal {name}");
    let params = argon2::Params::new(cost.memory_kib.max(8), cost.passes.max(1), 1, Some(32))
        .unwrap_or_default();
    let a2 = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    if a2
        .hash_password_into(password.as_bytes(), salt.as_bytes(), out.as_mut())
        .is_err()
    {
        // Only reachable with parameters argon2 rejects; fall back to a hash so that a bad
        // lab file cannot crash a node (the lab's tests use the valid defaults).
        use sha2::Digest;
        out.copy_from_slice(&sha2::Sha256::digest(
            [salt.as_bytes(), password.as_bytes()].concat(),
        ));
    }
    out
}

/// A user's Ed25519 signing key from its password.
pub fn user_key(name: &str, password: &str, cost: KdfCost) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&derive_secret(name, password, cost))
}

/// A service's X25519 secret from its password.
pub fn service_secret(name: &str, password: &str, cost: KdfCost) -> x25519_dalek::StaticSecret {
    x25519_dalek::StaticSecret::from(*derive_secret(name, password, cost))
}

/// `share.json`.
#[derive(Serialize, Deserialize)]
pub struct ShareFile {
    /// Authority id.
    pub id: u64,
    /// Share epoch: 0 after the DKG, +1 per refresh.
    pub epoch: u64,
    /// Hex secret share.
    pub share: String,
    /// Hex group key.
    pub group_key: String,
    /// Threshold.
    pub min_signers: u16,
    /// Hex verifying shares by id.
    pub verifying_shares: BTreeMap<u64, String>,
}

/// A loaded share: key package, public package, epoch.
pub struct Share {
    /// This authority's key package.
    pub key: KeyPackage,
    /// The group's public key package.
    pub public: PublicKeyPackage,
    /// Epoch.
    pub epoch: u64,
}

fn ident(id: u64) -> Result<Identifier, String> {
    u16::try_from(id)
        .map_err(|_| format!("authority id {id} out of range"))
        .and_then(|v| Identifier::new(v).map_err(|e| e.to_string()))
}

/// Builds the public package from hex fields (validating every point).
pub fn public_package(
    group_key: &str,
    shares: &BTreeMap<u64, String>,
    min_signers: u16,
) -> Result<PublicKeyPackage, String> {
    if shares.len() > 16 {
        return Err("too many verifying shares".into());
    }
    let gk = GroupPublicKey::from_bytes(&hex_array(group_key, "group key")?)
        .map_err(|e| e.to_string())?;
    let mut map = BTreeMap::new();
    for (id, s) in shares {
        let v = VerifyingShare::from_bytes(&hex_array(s, "verifying share")?)
            .map_err(|e| e.to_string())?;
        map.insert(ident(*id)?, v);
    }
    PublicKeyPackage::new(map, gk, min_signers).map_err(|e| e.to_string())
}

impl Share {
    /// Parses and validates `share.json`'s content.
    pub fn from_file(f: &ShareFile) -> Result<Share, String> {
        let public = public_package(&f.group_key, &f.verifying_shares, f.min_signers)?;
        let secret = Zeroizing::new(hex_array::<32>(&f.share, "share")?);
        let share = SigningShare::from_bytes(&secret).map_err(|e| e.to_string())?;
        let key = KeyPackage::new(
            ident(f.id)?,
            share,
            public.group_public_key(),
            f.min_signers,
        )
        .map_err(|e| e.to_string())?;
        if public.verifying_shares().get(&key.identifier()) != Some(&key.verifying_share()) {
            return Err("share does not match its verifying share".into());
        }
        Ok(Share {
            key,
            public,
            epoch: f.epoch,
        })
    }

    /// The file form.
    pub fn to_file(&self) -> ShareFile {
        ShareFile {
            id: u64::from(self.key.identifier().get()),
            epoch: self.epoch,
            share: hex(self.key.signing_share().to_bytes().as_ref()),
            group_key: hex(&self.public.group_public_key().to_bytes()),
            min_signers: self.public.min_signers(),
            verifying_shares: verifying_hex(&self.public),
        }
    }

    /// Loads `share.json` from `dir`.
    pub fn load(dir: &Path) -> Result<Option<Share>, String> {
        let Some(bytes) = read_bounded(&dir.join("share.json")).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let f: ShareFile =
            serde_json::from_slice(&bytes).map_err(|e| format!("share.json: {e}"))?;
        Share::from_file(&f).map(Some)
    }

    /// Persists it (fsync + rename, 0600).
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.to_file()).map_err(std::io::Error::other)?;
        write_atomic(&dir.join("share.json"), &bytes)
    }
}

/// Verifying shares as hex by numeric id.
pub fn verifying_hex(public: &PublicKeyPackage) -> BTreeMap<u64, String> {
    public
        .verifying_shares()
        .iter()
        .map(|(id, v)| (u64::from(id.get()), hex(&v.to_bytes())))
        .collect()
}

/// Loads `principals.json` (validated); `None` when absent.
pub fn load_principals(dir: &Path) -> Result<Option<Vec<PrincipalInfo>>, String> {
    let Some(bytes) = read_bounded(&dir.join("principals.json")).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let list: Vec<PrincipalInfo> =
        serde_json::from_slice(&bytes).map_err(|e| format!("principals.json: {e}"))?;
    for p in &list {
        if !super::proto::valid_name(&p.name) || !matches!(p.kind.as_str(), "user" | "service") {
            return Err(format!("principals.json: bad principal {:?}", p.name));
        }
        hex_array::<32>(&p.public, "principal key")?;
    }
    Ok(Some(list))
}

/// Persists the principal database.
pub fn save_principals(dir: &Path, list: &[PrincipalInfo]) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(list).map_err(std::io::Error::other)?;
    write_atomic(&dir.join("principals.json"), &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_writes_are_private_and_replace_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_corrupt_share_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(&dir.path().join("share.json"), b"{\"id\":1}").unwrap();
        assert!(Share::load(dir.path()).is_err());
        write_atomic(&dir.path().join("share.json"), &[b'x'; 300 * 1024]).unwrap();
        assert!(Share::load(dir.path()).is_err());
    }

    #[test]
    fn password_keys_are_deterministic_per_name() {
        let cost = KdfCost {
            memory_kib: 64,
            passes: 1,
        };
        let a = derive_secret("alice", "pw", cost);
        assert_eq!(*a, *derive_secret("alice", "pw", cost));
        assert_ne!(*a, *derive_secret("bob", "pw", cost));
    }
}
