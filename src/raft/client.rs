//! The Raft KV client: finds the leader, retries, and never mistakes "I don't know" for "no".
//!
//! Each client has a random session id; each new write takes the next sequence number and keeps
//! it across retries, so the state machine applies it once however many nodes it was sent to.
//! When the overall deadline passes without an answer, a write's outcome is
//! [`ClientError::Unknown`]: it may or may not have been applied, and callers (the chaos
//! checker, the CLI) must treat it so.
//!
//! Nodes accept only mutual TLS from their run's CA ([`crate::wire::pki`]): a client
//! presents the run's client certificate ([`ClientAuth`]), and checks that the node it dials
//! is the member it meant.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::codec::{self, Hello, Op, Reply, Request};
use crate::wire::MAX_FRAME;
use crate::wire::frame::{encode_frame, read_frame};
use crate::wire::pki::{self, ClientStream, PkiError, RunPki};

/// A run's client credentials: its client certificate and key, and the CA that the nodes'
/// certificates must chain to. Cheap to clone.
#[derive(Clone)]
pub struct ClientAuth {
    pki: RunPki,
    connector: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAuth")
            .field("pki", &self.pki)
            .finish()
    }
}

impl ClientAuth {
    /// The client credentials of the Raft run in `run_dir`.
    pub fn of_run(run_dir: &Path) -> Result<Self, PkiError> {
        let pki = RunPki::of_run(run_dir, super::cli::NAME)?;
        Self::with_identity(pki, pki::CLIENT)
    }

    /// Credentials that present `name`'s certificate instead of the client's (tests use a
    /// member's to show what the node does with a member that says hello as a client).
    pub fn with_identity(pki: RunPki, name: &str) -> Result<Self, PkiError> {
        Ok(Self {
            connector: pki.connector(name)?,
            pki,
        })
    }

    /// Dials node `id` at `addr` and completes mutual TLS (the node must present member
    /// `id`'s certificate). Sends no hello: the caller says who it is.
    pub async fn connect_tls(&self, id: u64, addr: SocketAddr) -> std::io::Result<ClientStream> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let name = self
            .pki
            .server_name(&pki::node_name(id))
            .map_err(std::io::Error::other)?;
        self.connector.connect(name, tcp).await
    }

    /// Dials node `id` at `addr` as a client: TLS, then the client hello.
    pub async fn connect(&self, id: u64, addr: SocketAddr) -> std::io::Result<ClientStream> {
        let mut s = self.connect_tls(id, addr).await?;
        let mut hello = Vec::new();
        encode_frame(&codec::encode_hello(Hello::Client), &mut hello);
        s.write_all(&hello).await?;
        Ok(s)
    }
}

/// Why an operation has no definite answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// No answer before the deadline: a write may or may not have happened.
    #[error("no answer within {0:?}: outcome unknown")]
    Unknown(Duration),
    /// The cluster answered with an error.
    #[error("cluster error: {0}")]
    Server(String),
}

/// Client options.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Give up (with an unknown outcome) after this long.
    pub deadline: Duration,
    /// Per-attempt wait before trying another node.
    pub attempt_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(5),
            attempt_timeout: Duration::from_millis(1000),
        }
    }
}

/// A connection-caching client for one cluster.
pub struct Client {
    nodes: Vec<(u64, SocketAddr)>,
    auth: ClientAuth,
    opts: ClientOptions,
    session: u64,
    seq: u64,
    next_id: u64,
    target: usize,
    conn: Option<(usize, ClientStream)>,
    buf: Vec<u8>,
}

impl Client {
    /// A client for the cluster whose members are `nodes`, with the run's credentials.
    pub fn new(nodes: Vec<(u64, SocketAddr)>, auth: ClientAuth, opts: ClientOptions) -> Self {
        Self {
            nodes,
            auth,
            opts,
            session: rand::random::<u64>() | 1,
            seq: 0,
            next_id: 1,
            target: 0,
            conn: None,
            buf: Vec::new(),
        }
    }

    /// The session id (for histories).
    pub fn session(&self) -> u64 {
        self.session
    }

    /// The node the client currently talks to.
    pub fn current_node(&self) -> Option<u64> {
        self.nodes.get(self.target).map(|(id, _)| *id)
    }

    /// Runs one operation to a definite reply, or reports why there is none.
    pub async fn execute(&mut self, op: Op) -> Result<Reply, ClientError> {
        if op.is_write() {
            self.seq += 1;
        }
        let req_seq = self.seq;
        let start = Instant::now();
        let mut backoff = Duration::from_millis(5);
        loop {
            if start.elapsed() >= self.opts.deadline {
                return Err(ClientError::Unknown(self.opts.deadline));
            }
            let id = self.next_id;
            self.next_id += 1;
            let req = Request {
                id,
                client: self.session,
                seq: req_seq,
                op: op.clone(),
            };
            let left = self.opts.deadline.saturating_sub(start.elapsed());
            let attempt = self.opts.attempt_timeout.min(left);
            match tokio::time::timeout(attempt, self.attempt(&req)).await {
                Ok(Ok(Reply::NotLeader { leader, .. })) => {
                    self.conn = None;
                    match leader.and_then(|l| self.nodes.iter().position(|(id, _)| *id == l)) {
                        Some(i) if i != self.target => self.target = i,
                        _ => {
                            // No leader known yet (an election is running): wait a little.
                            self.target = (self.target + 1) % self.nodes.len().max(1);
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_millis(50));
                        }
                    }
                }
                Ok(Ok(Reply::Error(msg))) => return Err(ClientError::Server(msg)),
                Ok(Ok(reply)) => return Ok(reply),
                Ok(Err(_)) | Err(_) => {
                    // Dead node, refused connection or no answer in time: try the next one.
                    self.conn = None;
                    self.target = (self.target + 1) % self.nodes.len().max(1);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(50));
                }
            }
        }
    }

    async fn attempt(&mut self, req: &Request) -> std::io::Result<Reply> {
        if self.conn.as_ref().is_none_or(|(i, _)| *i != self.target) {
            let Some(&(id, addr)) = self.nodes.get(self.target) else {
                return Err(std::io::Error::other("no nodes"));
            };
            let s = self.auth.connect(id, addr).await?;
            self.conn = Some((self.target, s));
        }
        let Some((_, s)) = self.conn.as_mut() else {
            return Err(std::io::Error::other("not connected"));
        };
        let mut out = Vec::new();
        encode_frame(&codec::encode_request(req), &mut out);
        s.write_all(&out).await?;
        loop {
            if !read_frame(s, &mut self.buf, MAX_FRAME)
                .await
                .map_err(std::io::Error::other)?
            {
                return Err(std::io::Error::other("connection closed"));
            }
            let resp = codec::decode_response(&self.buf).map_err(std::io::Error::other)?;
            // Answers to earlier attempts that timed out may still arrive: skip them.
            if resp.id == req.id {
                return Ok(resp.reply);
            }
        }
    }
}
