//! The peer's side of the trackers: register, announce (with its pieces) on a timer and on
//! progress, and dial the peers the trackers name.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::{MAX_CONNECTIONS, Swarm, lock};
use crate::p2p::tracker::client::TrackerClient;
use crate::p2p::tracker::rpc::Request;
use crate::p2p::tracker::state::TorrentInfo;

impl Swarm {
    pub(super) async fn announcer(self: Arc<Self>, trackers: Vec<SocketAddr>, register: bool) {
        let mut client = TrackerClient::new(trackers);
        let t = &self.torrent;
        if register {
            let req = Request::Register {
                info_hash: t.info_hash,
                info: TorrentInfo {
                    name: t.name.clone(),
                    size: t.length,
                    pieces: t.piece_count(),
                },
            };
            let _ = client.call(req).await;
        }
        let mut complete = self.complete.subscribe();
        let mut last_have = u32::MAX;
        let mut last_sent = Instant::now() - Duration::from_secs(60);
        loop {
            let (pieces, seeder) = self.have_bytes();
            let have: u32 = pieces.iter().map(|b| b.count_ones()).sum();
            let stopping = self.stopping.load(Ordering::Relaxed);
            // Report pieces when they changed noticeably, and refresh the swarm regularly.
            if stopping
                || have != last_have && (have.abs_diff(last_have) >= 8 || seeder)
                || last_sent.elapsed() > Duration::from_millis(1000)
            {
                let req = Request::Announce {
                    info_hash: t.info_hash,
                    peer_id: self.peer_id,
                    addr: self.advertised.clone(),
                    pieces,
                    seeder,
                    left: stopping,
                };
                if let Ok(peers) = client.announce(req).await {
                    for p in peers {
                        // Two wirelab peers would dial each other at once and each drop one
                        // of the two connections as a duplicate: only the lower id dials.
                        let wirelab_peer = p.peer_id.starts_with(b"-WL");
                        if !wirelab_peer || self.peer_id < p.peer_id {
                            self.clone().dial(p.addr);
                        }
                    }
                }
                self.tracker
                    .store(client.tracker().unwrap_or(0), Ordering::Relaxed);
                self.failovers.store(client.failovers(), Ordering::Relaxed);
                last_have = have;
                last_sent = Instant::now();
                if stopping {
                    return;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = complete.changed() => {}
            }
        }
    }

    fn dial(self: Arc<Self>, addr: String) {
        if addr == self.advertised
            || !lock(&self.dialing).insert(addr.clone())
            || lock(&self.connected).len() >= MAX_CONNECTIONS
        {
            return;
        }
        tokio::spawn(async move {
            if let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(&addr)).await
            {
                self.clone().connection(stream, true).await;
            }
            lock(&self.dialing).remove(&addr);
        });
    }
}
