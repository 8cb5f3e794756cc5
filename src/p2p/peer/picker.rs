//! The piece picker: which block to request next from a given peer.
//!
//! - The first [`RANDOM_FIRST`] pieces are chosen at random (a new peer needs something to trade
//!   quickly, and rare pieces are slow to get).
//! - After that, rarest first: the missing piece fewest connected peers have, ties broken at
//!   random so that leechers spread over different pieces.
//! - At most `max_active` pieces are in progress at once. The picker holds no piece data: each
//!   accepted block is handed to a writer (the swarm writes it in place on disk) and only its
//!   bookkeeping (received/requested per block, contributors) stays here, so memory is flat in
//!   file size and in piece size.
//! - A piece that fails its hash is picked again. When one peer sent all of it, that peer is
//!   avoided for it (and blamed by the swarm). When several did, nobody can tell whose block was
//!   bad, and avoiding them all could leave no source (a corrupted seeder and one honest
//!   leecher): the piece is then fetched again from a single peer, so that the next failure has
//!   exactly one culprit.
//! - Endgame: when every missing block is requested, blocks already requested from another peer
//!   may be requested again; the first copy to arrive wins and the others are cancelled.

use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;

use super::super::bitfield::Bitfield;
use super::super::torrent::Torrent;
use super::wire::BLOCK_LEN;

/// Pieces picked at random before switching to rarest first.
pub const RANDOM_FIRST: u32 = 4;

/// A block: (piece, offset, length).
pub type Block = (u32, u32, u32);

/// A piece being downloaded: bookkeeping only, its blocks are on disk.
#[derive(Debug)]
pub struct ActivePiece {
    /// The piece's length in bytes.
    pub size: u32,
    /// Per block: received.
    pub received: Vec<bool>,
    /// Per block: how many requests are outstanding.
    pub requested: Vec<u8>,
    /// Peers (by id) that sent blocks of it.
    pub contributors: BTreeSet<[u8; 20]>,
    /// The one peer its blocks may come from (a retry after a failure with several
    /// contributors).
    pub owner: Option<[u8; 20]>,
}

/// Result of storing a block.
#[derive(Debug, PartialEq, Eq)]
pub enum BlockOutcome {
    /// Not wanted (already have it, or not a block we asked for).
    Ignored,
    /// Stored; the piece still misses blocks.
    Stored,
    /// The piece is complete (every block written): verify it.
    Complete,
}

/// The picker's state for one torrent.
#[derive(Debug)]
pub struct PiecePicker {
    piece_len: u32,
    length: u64,
    pieces: u32,
    /// Pieces held and verified.
    pub have: Bitfield,
    availability: Vec<u32>,
    active: BTreeMap<u32, ActivePiece>,
    verifying: BTreeSet<u32>,
    avoid: BTreeMap<u32, BTreeSet<[u8; 20]>>,
    /// Pieces to fetch from a single peer (they failed with several contributors).
    single_source: BTreeSet<u32>,
    max_active: usize,
}

impl PiecePicker {
    /// A picker for `torrent` that already holds `have`.
    pub fn new(torrent: &Torrent, have: Bitfield, max_active: usize) -> PiecePicker {
        PiecePicker {
            piece_len: torrent.piece_len,
            length: torrent.length,
            pieces: torrent.piece_count(),
            have,
            availability: vec![0; torrent.piece_count() as usize],
            active: BTreeMap::new(),
            verifying: BTreeSet::new(),
            avoid: BTreeMap::new(),
            single_source: BTreeSet::new(),
            max_active: max_active.max(1),
        }
    }

    fn piece_size(&self, i: u32) -> u32 {
        let start = i as u64 * self.piece_len as u64;
        self.length.saturating_sub(start).min(self.piece_len as u64) as u32
    }

    fn block_len(&self, piece: u32, block: usize) -> u32 {
        (self.piece_size(piece) - block as u32 * BLOCK_LEN).min(BLOCK_LEN)
    }

    /// Whether every piece is held.
    pub fn is_complete(&self) -> bool {
        self.have.is_complete()
    }

    /// Pieces in progress.
    pub fn active_count(&self) -> usize {
        self.active.len()
    }

    /// A peer announced these pieces (or left: `delta` -1).
    pub fn add_availability(&mut self, pieces: &Bitfield, delta: i32) {
        for i in pieces.ones() {
            if let Some(a) = self.availability.get_mut(i as usize) {
                *a = a.saturating_add_signed(delta);
            }
        }
    }

    /// A peer announced one piece.
    pub fn add_have(&mut self, piece: u32) {
        if let Some(a) = self.availability.get_mut(piece as usize) {
            *a += 1;
        }
    }

    fn wanted(&self, i: u32, peer: &Bitfield, who: &[u8; 20]) -> bool {
        peer.get(i)
            && !self.have.get(i)
            && !self.active.contains_key(&i)
            && !self.verifying.contains(&i)
            && !self.avoid.get(&i).is_some_and(|s| s.contains(who))
    }

    /// The next block to request from peer `who` holding `peer`, not among `outstanding`.
    pub fn pick(
        &mut self,
        who: &[u8; 20],
        peer: &Bitfield,
        outstanding: &[Block],
        rng: &mut impl Rng,
    ) -> Option<Block> {
        // Finish what is started before starting something new.
        for (&i, p) in &self.active {
            if !peer.get(i)
                || self.avoid.get(&i).is_some_and(|s| s.contains(who))
                || p.owner.is_some_and(|o| &o != who)
            {
                continue;
            }
            if let Some(b) = (0..p.received.len()).find(|&b| !p.received[b] && p.requested[b] == 0)
            {
                let block = (i, b as u32 * BLOCK_LEN, self.block_len(i, b));
                if let Some(p) = self.active.get_mut(&i) {
                    p.requested[b] += 1;
                }
                return Some(block);
            }
        }
        if self.active.len() < self.max_active {
            let candidates: Vec<u32> = (0..self.pieces)
                .filter(|&i| self.wanted(i, peer, who))
                .collect();
            let choice = if candidates.is_empty() {
                None
            } else if self.have.count() < RANDOM_FIRST {
                Some(candidates[rng.random_range(0..candidates.len())])
            } else {
                let rarest = candidates
                    .iter()
                    .map(|&i| self.availability[i as usize])
                    .min();
                let tied: Vec<u32> = candidates
                    .into_iter()
                    .filter(|&i| Some(self.availability[i as usize]) == rarest)
                    .collect();
                Some(tied[rng.random_range(0..tied.len())])
            };
            if let Some(i) = choice {
                let size = self.piece_size(i) as usize;
                let blocks = size.div_ceil(BLOCK_LEN as usize);
                let mut p = ActivePiece {
                    size: size as u32,
                    received: vec![false; blocks],
                    requested: vec![0; blocks],
                    contributors: BTreeSet::new(),
                    owner: self.single_source.contains(&i).then_some(*who),
                };
                p.requested[0] = 1;
                self.active.insert(i, p);
                return Some((i, 0, self.block_len(i, 0)));
            }
        }
        // Endgame: nothing left unrequested; duplicate an outstanding block of someone else's.
        let all_started = (0..self.pieces).all(|i| {
            self.have.get(i) || self.active.contains_key(&i) || self.verifying.contains(&i)
        });
        if all_started {
            for (&i, p) in &mut self.active {
                if !peer.get(i) || p.owner.is_some_and(|o| &o != who) {
                    continue;
                }
                for b in 0..p.received.len() {
                    let begin = b as u32 * BLOCK_LEN;
                    if !p.received[b] && !outstanding.iter().any(|o| o.0 == i && o.1 == begin) {
                        p.requested[b] = p.requested[b].saturating_add(1);
                        let len = (p.size - begin).min(BLOCK_LEN);
                        return Some((i, begin, len));
                    }
                }
            }
        }
        None
    }

    /// A request will not be answered (choke, disconnect): the block may be picked again.
    pub fn release(&mut self, block: Block) {
        if let Some(p) = self.active.get_mut(&block.0) {
            let b = (block.1 / BLOCK_LEN) as usize;
            if let Some(r) = p.requested.get_mut(b) {
                *r = r.saturating_sub(1);
            }
        }
    }

    /// Peer `who` is gone: the single-source pieces it owned are dropped (their blocks on
    /// disk will be overwritten) and go to the next peer that picks them, whole.
    pub fn peer_gone(&mut self, who: &[u8; 20]) {
        self.active.retain(|_, p| p.owner.as_ref() != Some(who));
    }

    /// Whether a block is still wanted (for cancelling endgame duplicates).
    pub fn still_wanted(&self, block: Block) -> bool {
        self.active
            .get(&block.0)
            .and_then(|p| p.received.get((block.1 / BLOCK_LEN) as usize))
            .is_some_and(|r| !r)
    }

    /// Accepts a block from `who`: if it is a wanted block of an active piece, `write` puts it in
    /// place (`write(index, begin, data)`) and only then is the block counted as received. A
    /// block whose write fails is not received and may be requested again.
    pub fn on_block<E>(
        &mut self,
        who: &[u8; 20],
        index: u32,
        begin: u32,
        data: &[u8],
        write: impl FnOnce(u32, u32, &[u8]) -> Result<(), E>,
    ) -> Result<BlockOutcome, E> {
        let Some(p) = self.active.get_mut(&index) else {
            return Ok(BlockOutcome::Ignored);
        };
        let b = (begin / BLOCK_LEN) as usize;
        let expected = if b < p.received.len() {
            (p.size - b as u32 * BLOCK_LEN).min(BLOCK_LEN)
        } else {
            0
        };
        if !begin.is_multiple_of(BLOCK_LEN)
            || p.owner.is_some_and(|o| &o != who)
            || b >= p.received.len()
            || data.len() as u32 != expected
            || p.received[b]
        {
            return Ok(BlockOutcome::Ignored);
        }
        if let Err(e) = write(index, begin, data) {
            p.requested[b] = p.requested[b].saturating_sub(1);
            return Err(e);
        }
        p.received[b] = true;
        p.contributors.insert(*who);
        if p.received.iter().all(|r| *r) {
            Ok(BlockOutcome::Complete)
        } else {
            Ok(BlockOutcome::Stored)
        }
    }

    /// Takes a complete piece out for verification (it is neither active nor pickable until
    /// [`PiecePicker::verified`] or [`PiecePicker::failed`]).
    pub fn take_complete(&mut self, index: u32) -> Option<ActivePiece> {
        let p = self.active.remove(&index)?;
        self.verifying.insert(index);
        Some(p)
    }

    /// The piece's blocks on disk hash to the expected SHA-1: it is held from now on.
    pub fn verified(&mut self, index: u32) {
        self.verifying.remove(&index);
        self.have.set(index);
    }

    /// The piece failed its hash: pick it again. A sole contributor is avoided for it; after a
    /// failure with several, the piece comes from a single peer next time. True when the
    /// failure has one culprit (the sole contributor).
    pub fn failed(&mut self, index: u32, contributors: &BTreeSet<[u8; 20]>) -> bool {
        self.verifying.remove(&index);
        if contributors.len() == 1 {
            self.avoid.entry(index).or_default().extend(contributors);
            true
        } else {
            self.single_source.insert(index);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn torrent(pieces: u32) -> Torrent {
        Torrent {
            trackers: vec![],
            rpc: vec![],
            name: "t".into(),
            length: pieces as u64 * 32 * 1024,
            piece_len: 32 * 1024,
            piece_hashes: vec![[0; 20]; pieces as usize],
            info_hash: [0; 20],
        }
    }

    fn put(p: &mut PiecePicker, who: &[u8; 20], begin: u32) -> BlockOutcome {
        p.on_block(who, 0, begin, &[1; BLOCK_LEN as usize], |_, _, _| {
            Ok::<(), ()>(())
        })
        .unwrap()
    }

    fn full(n: u32) -> Bitfield {
        let mut b = Bitfield::new(n);
        (0..n).for_each(|i| b.set(i));
        b
    }

    #[test]
    fn a_piece_failed_by_several_peers_is_fetched_again_from_one_and_nobody_is_avoided() {
        let t = torrent(2);
        let mut p = PiecePicker::new(&t, Bitfield::new(2), 4);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (a, b) = ([1u8; 20], [2u8; 20]);
        let everything = full(2);
        // Piece 0 gets one block from each peer, then fails its hash.
        let first = p.pick(&a, &everything, &[], &mut rng).expect("a block");
        let piece = first.0;
        let second = p
            .pick(&b, &everything, &[first], &mut rng)
            .expect("a block");
        assert_eq!(second.0, piece, "finish what is started");
        assert_eq!(put_at(&mut p, &a, piece, first.1), BlockOutcome::Stored);
        assert_eq!(put_at(&mut p, &b, piece, second.1), BlockOutcome::Complete);
        let done = p.take_complete(piece).expect("complete");
        assert!(
            !p.failed(piece, &done.contributors),
            "two contributors: no culprit"
        );
        // Nobody is avoided: b claims the retry, and a may not send blocks of it.
        let retry = loop {
            let blk = p.pick(&b, &everything, &[], &mut rng).expect("a block");
            if blk.0 == piece {
                break blk;
            }
        };
        assert_eq!(retry.1, 0);
        let mut out = vec![];
        while let Some(blk) = p.pick(&a, &everything, &out, &mut rng) {
            assert_ne!(blk.0, piece, "only the owner fetches the retry");
            out.push(blk);
        }
        assert_eq!(put_at(&mut p, &a, piece, BLOCK_LEN), BlockOutcome::Ignored);
        // The owner leaves: the retry goes to the next peer, whole.
        p.peer_gone(&b);
        let again = p.pick(&a, &everything, &[], &mut rng).expect("a block");
        assert_eq!((again.0, again.1), (piece, 0));
        // A failure with one contributor has a culprit, avoided for that piece.
        assert_eq!(put_at(&mut p, &a, piece, 0), BlockOutcome::Stored);
        let blk = p.pick(&a, &everything, &[], &mut rng).expect("a block");
        assert_eq!(put_at(&mut p, &a, piece, blk.1), BlockOutcome::Complete);
        let done = p.take_complete(piece).expect("complete");
        assert!(p.failed(piece, &done.contributors));
        if let Some(blk) = p.pick(&a, &everything, &[], &mut rng) {
            assert_ne!(blk.0, piece, "the culprit is avoided");
        }
    }

    fn put_at(p: &mut PiecePicker, who: &[u8; 20], piece: u32, begin: u32) -> BlockOutcome {
        p.on_block(who, piece, begin, &[1; BLOCK_LEN as usize], |_, _, _| {
            Ok::<(), ()>(())
        })
        .unwrap()
    }

    #[test]
    fn rarest_piece_is_picked_after_the_random_start() {
        let t = torrent(10);
        let mut have = Bitfield::new(10);
        (0..4).for_each(|i| have.set(i));
        let mut p = PiecePicker::new(&t, have, 4);
        p.add_availability(&full(10), 1);
        p.add_availability(&full(10), 1);
        p.add_have(7); // every other piece is rarer than 7 now, except 7 gets 3
        let mut one = Bitfield::new(10);
        one.set(9);
        p.add_availability(&one, -1); // 9 is the rarest
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let b = p.pick(&[1; 20], &full(10), &[], &mut rng).unwrap();
        assert_eq!(b, (9, 0, BLOCK_LEN));
    }

    #[test]
    fn endgame_duplicates_outstanding_blocks_and_first_copy_wins() {
        let t = torrent(1);
        let mut p = PiecePicker::new(&t, Bitfield::new(1), 4);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let a = [1; 20];
        let b = [2; 20];
        let x = p.pick(&a, &full(1), &[], &mut rng).unwrap();
        let y = p.pick(&a, &full(1), &[x], &mut rng).unwrap();
        assert_eq!((x.1, y.1), (0, BLOCK_LEN));
        assert_eq!(p.pick(&a, &full(1), &[x, y], &mut rng), None);
        let dup = p.pick(&b, &full(1), &[], &mut rng).unwrap();
        assert_eq!(dup, x);
        assert_eq!(put(&mut p, &a, 0), BlockOutcome::Stored);
        assert_eq!(put(&mut p, &b, 0), BlockOutcome::Ignored);
        assert!(!p.still_wanted(x));
        assert_eq!(put(&mut p, &a, BLOCK_LEN), BlockOutcome::Complete);
        let piece = p.take_complete(0).unwrap();
        p.failed(0, &piece.contributors);
        // The contributor of the bad piece is not asked for it again.
        assert_eq!(p.pick(&a, &full(1), &[], &mut rng), None);
        assert!(p.pick(&b, &full(1), &[], &mut rng).is_some());
    }

    #[test]
    fn a_block_whose_write_fails_is_not_received_and_is_requested_again() {
        let t = torrent(1);
        let mut p = PiecePicker::new(&t, Bitfield::new(1), 4);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let a = [1; 20];
        let x = p.pick(&a, &full(1), &[], &mut rng).unwrap();
        let mut written = Vec::new();
        let r = p.on_block(&a, 0, 0, &[1; BLOCK_LEN as usize], |_, _, _| {
            Err("disk full")
        });
        assert_eq!(r, Err("disk full"));
        assert!(p.still_wanted(x));
        // Not outstanding any more: picked again, and this time written before it counts.
        assert_eq!(p.pick(&a, &full(1), &[], &mut rng), Some(x));
        let r = p.on_block(&a, 0, 0, &[1; BLOCK_LEN as usize], |i, b, d| {
            written.push((i, b, d.len()));
            Ok::<(), ()>(())
        });
        assert_eq!(r, Ok(BlockOutcome::Stored));
        assert_eq!(written, vec![(0, 0, BLOCK_LEN as usize)]);
        // A second copy of the same block is neither written nor counted.
        let r = p.on_block(&a, 0, 0, &[2; BLOCK_LEN as usize], |_, _, _| Err(()));
        assert_eq!(r, Ok(BlockOutcome::Ignored));
    }
}
