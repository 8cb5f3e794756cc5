//! The peers' tracker client: one session, failover across trackers, session replay.
//!
//! The client talks to one tracker at a time. When a call fails (connection refused, reset, or
//! no answer within the deadline) it moves to the next tracker, resumes its session there with
//! `Hello { session }`, replays what the session established (its torrent registrations and the
//! latest announce per swarm), then retries the call. Peer-wire transfers never wait on any of
//! this: they run on their own connections.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

use super::rpc::{self, MAX_TRACKER_FRAME, PeerEntry, Request, Response};
use super::state::Id20;
use crate::wire::frame::{read_frame, write_frame};

/// Why a tracker call failed on every tracker.
#[derive(Debug, thiserror::Error)]
pub enum TrackerClientError {
    /// No tracker answered.
    #[error("no tracker answered (tried {0} times)")]
    Unreachable(usize),
    /// A tracker refused the request.
    #[error("tracker refused: {0}")]
    Refused(String),
    /// An answer that does not fit the request.
    #[error("unexpected tracker answer: {0}")]
    Unexpected(String),
}

/// A session with the tracker cluster.
pub struct TrackerClient {
    trackers: Vec<SocketAddr>,
    current: usize,
    conn: Option<TcpStream>,
    session: u64,
    tracker_id: Option<u64>,
    next_id: u64,
    registrations: BTreeMap<Id20, Request>,
    announces: BTreeMap<Id20, Request>,
    deadline: Duration,
    failovers: u64,
}

impl TrackerClient {
    /// A client over these trackers' RPC addresses (none contacted yet).
    pub fn new(trackers: Vec<SocketAddr>) -> TrackerClient {
        TrackerClient {
            trackers,
            current: 0,
            conn: None,
            session: 0,
            tracker_id: None,
            next_id: 1,
            registrations: BTreeMap::new(),
            announces: BTreeMap::new(),
            deadline: Duration::from_millis(1500),
            failovers: 0,
        }
    }

    /// The session id (0 before the first call).
    pub fn session(&self) -> u64 {
        self.session
    }

    /// The node id of the tracker in use, once connected.
    pub fn tracker(&self) -> Option<u64> {
        self.tracker_id
    }

    /// How many times the client moved to another tracker.
    pub fn failovers(&self) -> u64 {
        self.failovers
    }

    async fn roundtrip(&mut self, req: &Request) -> Option<Response> {
        let id = self.next_id;
        self.next_id += 1;
        let conn = self.conn.as_mut()?;
        let deadline = self.deadline;
        let result = tokio::time::timeout(deadline, async {
            write_frame(conn, &rpc::encode_request(id, req))
                .await
                .ok()?;
            let mut buf = Vec::new();
            match read_frame(conn, &mut buf, MAX_TRACKER_FRAME).await {
                Ok(true) => rpc::decode_response(&buf).ok(),
                _ => None,
            }
        })
        .await;
        match result {
            Ok(Some((rid, resp))) if rid == id => Some(resp),
            _ => {
                self.conn = None;
                None
            }
        }
    }

    /// Connects to the current tracker, resumes the session and replays it.
    async fn connect(&mut self) -> bool {
        let Some(addr) = self.trackers.get(self.current).copied() else {
            return false;
        };
        let Ok(Ok(stream)) = tokio::time::timeout(self.deadline, TcpStream::connect(addr)).await
        else {
            return false;
        };
        let _ = stream.set_nodelay(true);
        self.conn = Some(stream);
        match self
            .roundtrip(&Request::Hello {
                session: self.session,
            })
            .await
        {
            Some(Response::Session { id, tracker }) => {
                self.session = id;
                self.tracker_id = Some(tracker);
            }
            _ => return false,
        }
        let replay: Vec<Request> = self
            .registrations
            .values()
            .chain(self.announces.values())
            .cloned()
            .collect();
        for req in replay {
            if self.roundtrip(&req).await.is_none() {
                return false;
            }
        }
        true
    }

    /// Sends a request, failing over (with session replay) until a tracker answers.
    pub async fn call(&mut self, req: Request) -> Result<Response, TrackerClientError> {
        let attempts = self.trackers.len().max(1) * 3;
        for attempt in 0..attempts {
            if self.conn.is_none() && !self.connect().await {
                self.conn = None;
                self.current = (self.current + 1) % self.trackers.len().max(1);
                self.failovers += 1;
                if attempt + 1 >= self.trackers.len() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                continue;
            }
            if let Some(resp) = self.roundtrip(&req).await {
                match &req {
                    Request::Register { info_hash, .. } => {
                        self.registrations.insert(*info_hash, req.clone());
                    }
                    Request::Announce { info_hash, .. } => {
                        self.announces.insert(*info_hash, req.clone());
                    }
                    _ => {}
                }
                return match resp {
                    Response::Error(e) => Err(TrackerClientError::Refused(e)),
                    r => Ok(r),
                };
            }
            self.current = (self.current + 1) % self.trackers.len().max(1);
            self.failovers += 1;
        }
        Err(TrackerClientError::Unreachable(attempts))
    }

    /// Announces and returns the swarm's other peers.
    pub async fn announce(&mut self, req: Request) -> Result<Vec<PeerEntry>, TrackerClientError> {
        match self.call(req).await? {
            Response::Peers(p) => Ok(p),
            other => Err(TrackerClientError::Unexpected(format!("{other:?}"))),
        }
    }
}
