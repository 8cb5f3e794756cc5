//! `labs/kdc/lab.toml`, parsed: the triad's size and threshold, ticket lifetimes, the argon2
//! cost and the demo principals with their (lab) passwords and the services' policies.

use serde::Deserialize;

use super::store::KdfCost;

/// The text of `labs/kdc/lab.toml`, as built into the binary.
pub const LAB_TOML: &str = include_str!("../../labs/kdc/lab.toml");

/// Node id of the `files` service (after the authorities 1..=3).
pub const SERVICE_NODE: u64 = 4;

/// The parsed lab file.
#[derive(Clone, Debug, Deserialize)]
pub struct LabConfig {
    /// `[lab]`.
    pub lab: LabSection,
    /// `[kdf]`.
    pub kdf: KdfCost,
    /// `[[principal]]`.
    pub principal: Vec<PrincipalConfig>,
}

/// `[lab]`.
#[derive(Clone, Debug, Deserialize)]
pub struct LabSection {
    /// Number of authorities.
    pub authorities: u16,
    /// Signatures needed.
    pub threshold: u16,
    /// Lifetime of a TGT.
    pub tgt_lifetime_secs: u64,
    /// Longest ticket the authorities sign.
    pub max_lifetime_secs: u64,
}

/// One demo principal.
#[derive(Clone, Debug, Deserialize)]
pub struct PrincipalConfig {
    /// Name.
    pub name: String,
    /// `user` or `service`.
    pub kind: String,
    /// Its lab password.
    pub password: String,
    /// For a service: the users allowed to get tickets for it (absent: every user).
    #[serde(default)]
    pub allow: Option<Vec<String>>,
}

impl LabConfig {
    /// The built-in lab file, validated.
    pub fn builtin() -> anyhow::Result<LabConfig> {
        let cfg: LabConfig = toml::from_str(LAB_TOML)?;
        if cfg.lab.authorities != 3 || cfg.lab.threshold != 2 {
            anyhow::bail!("the kdc lab is a 2-of-3 triad");
        }
        for p in &cfg.principal {
            if !super::proto::valid_name(&p.name) || !matches!(p.kind.as_str(), "user" | "service")
            {
                anyhow::bail!("bad principal {:?} in lab.toml", p.name);
            }
        }
        Ok(cfg)
    }

    /// A principal's entry.
    pub fn principal(&self, name: &str) -> Option<&PrincipalConfig> {
        self.principal.iter().find(|p| p.name == name)
    }

    /// Whether `user` may get a ticket for `service`.
    pub fn allowed(&self, user: &str, service: &str) -> bool {
        self.principal(service)
            .is_some_and(|s| s.allow.as_ref().is_none_or(|a| a.iter().any(|u| u == user)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_lab_file_enrolls_the_demo_principals() {
        let cfg = LabConfig::builtin().unwrap();
        for n in ["alice", "bob", "mallory", "files"] {
            assert!(cfg.principal(n).is_some(), "{n}");
        }
        assert!(cfg.allowed("alice", "files"));
        assert!(!cfg.allowed("mallory", "files"));
    }
}
