//! What the P2P lab's nodes report in their `state` events, decoded for the dashboard: a
//! peer's counters and piece bitfield (hex, BitTorrent bit order), a tracker's op count,
//! replication lag, version vector and digest. Malformed or oversized fields decode to empty
//! values, never to a panic.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The most pieces a bitfield is decoded for (a larger claim is ignored).
pub const MAX_PIECES: u32 = 1 << 20;

/// What a peer reports, decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerState {
    /// `seeder` or `leecher`.
    pub role: String,
    /// Pieces held.
    pub have: u32,
    /// Pieces in the torrent.
    pub pieces: u32,
    /// Bytes of the file.
    pub size: u64,
    /// Which pieces are held (empty until reported).
    pub bits: Vec<bool>,
    /// Download rate, bytes/s.
    pub down_rate: u64,
    /// Upload rate, bytes/s.
    pub up_rate: u64,
    /// Open connections.
    pub peers: u64,
    /// The tracker in use.
    pub tracker: Option<u64>,
    /// Tracker failovers so far.
    pub failovers: u64,
    /// Pieces that failed verification.
    pub bad_pieces: u64,
    /// Peers dropped for bad pieces.
    pub banned: u64,
    /// Pieces that re-verified on disk at start.
    pub verified_at_start: u32,
    /// Every piece held and verified.
    pub complete: bool,
}

/// What a tracker reports, decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackerState {
    /// Ops held (the sum of its version vector).
    pub ops: u64,
    /// Ops the other tracker lacks, as of its last pull (none when not heard from).
    pub lag: Option<u64>,
    /// Cut off by a partition.
    pub partitioned: bool,
    /// Digest of the replicated state.
    pub digest: String,
    /// Ops per originating tracker.
    pub vv: BTreeMap<u64, u64>,
    /// Live peers it knows.
    pub peers: u64,
}

fn u(fields: &Map<String, Value>, k: &str) -> u64 {
    fields.get(k).and_then(Value::as_u64).unwrap_or(0)
}

/// Decodes a hex bitfield (BitTorrent order) into `pieces` flags; `None` when malformed.
pub fn decode_bits(hex: &str, pieces: u32) -> Option<Vec<bool>> {
    if pieces > MAX_PIECES || hex.len() != (pieces as usize).div_ceil(8) * 2 {
        return None;
    }
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect::<Option<_>>()?;
    Some(
        (0..pieces as usize)
            .map(|i| bytes[i / 8] & (0x80 >> (i % 8)) != 0)
            .collect(),
    )
}

impl PeerState {
    /// Decodes a peer's state fields.
    pub fn from_fields(f: &Map<String, Value>) -> PeerState {
        let pieces = u(f, "pieces").min(u64::from(MAX_PIECES)) as u32;
        let bits = f
            .get("bitfield")
            .and_then(Value::as_str)
            .and_then(|h| decode_bits(h, pieces))
            .unwrap_or_default();
        PeerState {
            role: f
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or("peer")
                .to_string(),
            have: u(f, "have").min(u64::from(pieces)) as u32,
            pieces,
            size: u(f, "size"),
            bits,
            down_rate: u(f, "down_rate"),
            up_rate: u(f, "up_rate"),
            peers: u(f, "peers"),
            tracker: f.get("tracker").and_then(Value::as_u64),
            failovers: u(f, "failovers"),
            bad_pieces: u(f, "bad_pieces"),
            banned: u(f, "banned"),
            verified_at_start: u(f, "verified_at_start").min(u64::from(pieces)) as u32,
            complete: f.get("complete") == Some(&Value::Bool(true)),
        }
    }
}

impl TrackerState {
    /// Decodes a tracker's state fields.
    pub fn from_fields(f: &Map<String, Value>) -> TrackerState {
        TrackerState {
            ops: u(f, "ops"),
            lag: f.get("replication_lag").and_then(Value::as_u64),
            partitioned: f.get("partitioned") == Some(&Value::Bool(true)),
            digest: f
                .get("digest")
                .and_then(Value::as_str)
                .unwrap_or("")
                .chars()
                .take(16)
                .collect(),
            vv: f
                .get("vv")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .take(16)
                        .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_u64()?)))
                        .collect()
                })
                .unwrap_or_default(),
            peers: u(f, "peers"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitfields_decode_in_bittorrent_order_and_bad_ones_are_ignored() {
        assert_eq!(
            decode_bits("a0c0", 10),
            Some(vec![
                true, false, true, false, false, false, false, false, true, true
            ])
        );
        assert_eq!(decode_bits("a0", 10), None);
        assert_eq!(decode_bits("zz00", 10), None);
        assert_eq!(decode_bits("é000", 10), None);
    }
}
