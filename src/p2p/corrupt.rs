//! `p2p corrupt`: garbage over pieces of a peer's copy of the lab file. The peer keeps
//! serving what is on its disk, so whoever fetches those pieces from it gets bad data and must
//! catch it by SHA-1; a leecher whose own copy was hit re-verifies it on restart and fetches the
//! pieces again.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::torrent::Torrent;
use crate::cluster::rundir::read_cluster_file;

/// Which pieces `p2p corrupt` overwrites.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PieceSelection {
    /// Pieces `first..=last` (clamped to the torrent).
    Range(u32, u32),
    /// Every piece.
    All,
}

impl std::str::FromStr for PieceSelection {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let num = |t: &str| {
            t.trim()
                .parse::<u32>()
                .map_err(|_| format!("{s:?} is not a piece: use 7, 0-15 or all"))
        };
        match s.split_once('-') {
            _ if s == "all" => Ok(PieceSelection::All),
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("empty piece range {s:?}"));
                }
                Ok(PieceSelection::Range(a, b))
            }
            None => num(s).map(|i| PieceSelection::Range(i, i)),
        }
    }
}

impl std::fmt::Display for PieceSelection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PieceSelection::All => write!(f, "every piece"),
            PieceSelection::Range(a, b) if a == b => write!(f, "piece {a}"),
            PieceSelection::Range(a, b) => write!(f, "pieces {a}-{b}"),
        }
    }
}

/// Overwrites the start of the selected pieces of node `node`'s copy of the lab file with
/// garbage; returns the file's path.
pub fn corrupt(run_dir: &Path, node: u64, pieces: PieceSelection) -> anyhow::Result<PathBuf> {
    let t = Torrent::load(&run_dir.join("lab.torrent"))?;
    let cf = read_cluster_file(run_dir)?;
    let n = cf
        .nodes
        .iter()
        .find(|n| n.id == node)
        .ok_or_else(|| anyhow::anyhow!("no node {node}"))?;
    // The seeder serves the generated file itself; the others their download.
    let path = if n.id == 3 {
        run_dir.join("lab-data.bin")
    } else {
        n.data_dir.join(&t.name)
    };
    let count = t.piece_count();
    let (first, last) = match pieces {
        PieceSelection::All => (0, count.saturating_sub(1)),
        PieceSelection::Range(a, b) => (a, b.min(count.saturating_sub(1))),
    };
    if first >= count {
        anyhow::bail!("piece {first} out of range (the torrent has {count})");
    }
    let f = std::fs::OpenOptions::new().write(true).open(&path)?;
    for piece in first..=last {
        let garbage = vec![0xa5u8; t.piece_size(piece).min(4096) as usize];
        f.write_all_at(&garbage, piece as u64 * t.piece_len as u64)?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_selections_parse() {
        assert_eq!("7".parse(), Ok(PieceSelection::Range(7, 7)));
        assert_eq!("0-15".parse(), Ok(PieceSelection::Range(0, 15)));
        assert_eq!("all".parse(), Ok(PieceSelection::All));
        assert!("9-2".parse::<PieceSelection>().is_err());
        assert!("x".parse::<PieceSelection>().is_err());
    }
}
