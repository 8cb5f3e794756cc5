//! Networking: the listener, each inbound connection (mutual TLS with the run's CA, then a
//! peer or a client, told apart by its hello and the certificate it presented), the client
//! reply writer and the outbound sender per peer, through the fault filter.

use super::*;
use crate::wire::pki::{self, RunPki};
use tokio::io::AsyncWrite;
use tokio_rustls::rustls::pki_types::CertificateDer;

/// What a node needs to speak TLS: its acceptor and connector, and the certificates of the
/// run's members and client, to tell who connected.
pub(super) struct NodeTls {
    pub(super) pki: RunPki,
    pub(super) acceptor: tokio_rustls::TlsAcceptor,
    pub(super) connector: tokio_rustls::TlsConnector,
    pub(super) known: Vec<(String, CertificateDer<'static>)>,
    /// The run's client token, for the HTTP gateway.
    pub(super) client_token: String,
}

impl NodeTls {
    /// Loads node `id`'s TLS identity from the PKI folder `dir`, knowing `members`.
    pub(super) fn load(
        dir: &std::path::Path,
        id: NodeId,
        members: &[NodeId],
    ) -> Result<Self, String> {
        let pki = RunPki::open(dir, "raft").map_err(|e| e.to_string())?;
        let me = pki::node_name(id);
        let known = pki
            .certs(
                members
                    .iter()
                    .map(|m| pki::node_name(*m))
                    .chain(std::iter::once(pki::CLIENT.to_string())),
            )
            .map_err(|e| e.to_string())?;
        Ok(Self {
            client_token: pki.client_token().map_err(|e| e.to_string())?,
            acceptor: pki.acceptor(&me).map_err(|e| e.to_string())?,
            connector: pki.connector(&me).map_err(|e| e.to_string())?,
            pki,
            known,
        })
    }
}

/// Most connections served at once from one source address: one local program cannot take
/// every slot of the node ([`MAX_CLIENT_CONNS`]) from the others on its own.
const MAX_CONNS_PER_SOURCE: usize = 1024;
/// Most connections still in their TLS handshake or hello at once: a stranger who opens
/// connections and never finishes them holds at most these, each for [`HELLO_DEADLINE`];
/// past it, new connections are closed at once.
const MAX_PENDING_HANDSHAKES: usize = 128;
/// The node-wide budget of bytes for large frames being read at once, from peers and clients
/// together: a few maximal AppendEntries (16 MiB) and many maximal client writes (2 MiB), not
/// 4,096 connections × 16 MiB.
pub(super) const NODE_FRAME_BUDGET: usize = 96 << 20;

/// Open connections per source address.
#[derive(Default)]
pub(super) struct SourceCounts(std::sync::Mutex<HashMap<std::net::IpAddr, usize>>);

/// One connection's place in [`SourceCounts`], given back on drop.
pub(super) struct SourceSlot(Arc<SourceCounts>, std::net::IpAddr);

impl SourceCounts {
    /// A slot for a connection from `ip`, unless that source has [`MAX_CONNS_PER_SOURCE`].
    pub(super) fn admit(self: &Arc<Self>, ip: std::net::IpAddr, max: usize) -> Option<SourceSlot> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(SourceSlot(self.clone(), ip))
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut m = (self.0).0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

pub(super) async fn accept_loop(
    listener: TcpListener,
    inbox: mpsc::UnboundedSender<Input>,
    filter: FaultFilter,
    emitter: Arc<Emitter>,
    tls: Arc<NodeTls>,
) {
    let conns = Arc::new(tokio::sync::Semaphore::new(MAX_CLIENT_CONNS));
    let pending = Arc::new(tokio::sync::Semaphore::new(MAX_PENDING_HANDSHAKES));
    let sources = Arc::new(SourceCounts::default());
    let budget = crate::wire::frame::FrameBudget::new(NODE_FRAME_BUDGET);
    let mut refused_since_log = 0u64;
    let mut last_log = Instant::now() - Duration::from_secs(60);
    loop {
        let Ok(permit) = conns.clone().acquire_owned().await else {
            return;
        };
        let Ok((stream, from)) = listener.accept().await else {
            continue;
        };
        let slot = sources.admit(from.ip(), MAX_CONNS_PER_SOURCE);
        let handshake = pending.clone().try_acquire_owned().ok();
        let (Some(slot), Some(handshake)) = (slot, handshake) else {
            // Closed at once; said once a second at most (a flood must not flood the log).
            refused_since_log += 1;
            if last_log.elapsed() >= Duration::from_secs(1) {
                emitter.log(
                    "warn",
                    format!(
                        "refused {refused_since_log} connection(s), latest from {from}: over \
                         {MAX_CONNS_PER_SOURCE} from one source or {MAX_PENDING_HANDSHAKES} \
                         unfinished handshakes"
                    ),
                );
                refused_since_log = 0;
                last_log = Instant::now();
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let ctx = ConnCtx {
            inbox: inbox.clone(),
            filter: filter.clone(),
            emitter: emitter.clone(),
            tls: tls.clone(),
            budget: budget.clone(),
        };
        tokio::spawn(async move {
            serve_conn(stream, ctx, handshake).await;
            drop((permit, slot));
        });
    }
}

/// What every inbound connection shares.
pub(super) struct ConnCtx {
    pub(super) inbox: mpsc::UnboundedSender<Input>,
    pub(super) filter: FaultFilter,
    pub(super) emitter: Arc<Emitter>,
    pub(super) tls: Arc<NodeTls>,
    pub(super) budget: crate::wire::frame::FrameBudget,
}

/// After a large frame, a connection's buffer is sized to it: give that memory back.
fn shrink(buf: &mut Vec<u8>) {
    if buf.capacity() > crate::wire::frame::GROW_STEP {
        *buf = Vec::new();
    }
}

pub(super) async fn serve_conn(
    stream: TcpStream,
    ctx: ConnCtx,
    handshake: tokio::sync::OwnedSemaphorePermit,
) {
    let ConnCtx {
        inbox,
        filter,
        emitter,
        tls,
        budget,
    } = ctx;
    let from_addr = stream.peer_addr().ok();
    let mut buf = Vec::new();
    // A connection must complete its TLS handshake and say who it is promptly (a slow hello
    // held a task and its buffers). Before that, rustls bounds what it reads (handshake
    // messages), and the hello frame is at most 64 bytes.
    let opened = tokio::time::timeout(HELLO_DEADLINE, async {
        let mut s = tls
            .acceptor
            .accept(stream)
            .await
            .map_err(|e| format!("TLS handshake failed: {e}"))?;
        let who = pki::presented(&s)
            .and_then(|c| tls.pki.identify(&c, &tls.known).map(str::to_string))
            .ok_or("its certificate is none issued to this cluster's members or client")?;
        match read_frame(&mut s, &mut buf, 64).await {
            Ok(true) => {}
            Ok(false) => return Err("closed before its hello".to_string()),
            Err(e) => return Err(format!("bad hello: {e}")),
        }
        let hello = codec::decode_hello(&buf).map_err(|e| format!("bad hello: {e}"))?;
        // The hello must match the certificate: no member poses as another, no client as
        // a member.
        let expected = match hello {
            Hello::Peer(id) => pki::node_name(id),
            Hello::Client => pki::CLIENT.to_string(),
        };
        if who != expected {
            return Err(format!("{who} said hello as {expected}"));
        }
        Ok((s, hello))
    })
    .await;
    drop(handshake);
    let (stream, hello) = match opened {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            let from = from_addr.map_or_else(String::new, |a| format!(" from {a}"));
            emitter.log("warn", format!("connection{from} refused: {e}"));
            return;
        }
        Err(_) => {
            emitter.log(
                "warn",
                format!(
                    "no TLS handshake and hello within {HELLO_DEADLINE:?}; dropping connection"
                ),
            );
            return;
        }
    };
    let (mut rd, wr) = tokio::io::split(stream);
    match hello {
        Hello::Peer(from) => {
            let mut pieces = codec::Reassembly::default();
            loop {
                let frame = match read_frame_budgeted(
                    &mut rd,
                    &mut buf,
                    MAX_FRAME,
                    FRAME_DEADLINE,
                    &budget,
                )
                .await
                {
                    Ok(Some(permit)) => permit,
                    Ok(None) => return,
                    Err(e) => {
                        emitter.log("warn", format!("peer {from}: {e}; dropping connection"));
                        return;
                    }
                };
                if filter.verdict(from) == Verdict::Drop {
                    pieces.drop_frame(&buf);
                    shrink(&mut buf);
                    continue;
                }
                let decoded = match pieces.push(&buf) {
                    Ok(codec::Assembled::Whole) => codec::decode_message(&buf),
                    Ok(codec::Assembled::Complete) => {
                        let m = codec::decode_message(pieces.message());
                        pieces.clear();
                        m
                    }
                    Ok(codec::Assembled::Partial | codec::Assembled::Skipped) => {
                        shrink(&mut buf);
                        continue;
                    }
                    Err(e) => Err(e),
                };
                if frame.is_some() {
                    drop(frame);
                    shrink(&mut buf);
                }
                match decoded {
                    Ok(msg) => {
                        if inbox.send(Input::Peer(from, msg)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        emitter.log(
                            "warn",
                            format!("garbage frame from peer {from}: {e}; dropping connection"),
                        );
                        return;
                    }
                }
            }
        }
        Hello::Client => {
            let (tx, rx) = mpsc::unbounded_channel::<Answer>();
            tokio::spawn(client_writer(wr, rx));
            let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT_PER_CONN));
            loop {
                let Ok(permit) = in_flight.clone().acquire_owned().await else {
                    return;
                };
                let frame = match read_frame_budgeted(
                    &mut rd,
                    &mut buf,
                    MAX_CLIENT_FRAME,
                    FRAME_DEADLINE,
                    &budget,
                )
                .await
                {
                    Ok(Some(frame)) => frame,
                    Err(crate::wire::frame::FrameError::TooLarge { len, max }) => {
                        // Its bytes were not read: answer, then close the connection.
                        let _ = tx.send(Answer {
                            resp: Response {
                                id: 0,
                                reply: Reply::Error(format!(
                                    "request of {len} bytes is over the {max}-byte limit (values up to 2 MiB)"
                                )),
                            },
                            _permit: permit,
                        });
                        return;
                    }
                    _ => return,
                };
                let decoded = codec::decode_request(&buf);
                if frame.is_some() {
                    drop(frame);
                    shrink(&mut buf);
                }
                match decoded {
                    Ok(req) => {
                        let conn = ClientConn {
                            tx: tx.clone(),
                            _permit: permit,
                        };
                        if inbox.send(Input::Client(req, conn)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Answer {
                            resp: Response {
                                id: 0,
                                reply: Reply::Error(format!("bad request: {e}")),
                            },
                            _permit: permit,
                        });
                        return;
                    }
                }
            }
        }
    }
}

pub(super) async fn client_writer<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut rx: mpsc::UnboundedReceiver<Answer>,
) {
    let mut batch = Vec::new();
    let mut out = Vec::new();
    while rx.recv_many(&mut batch, 256).await > 0 {
        out.clear();
        for answer in &batch {
            encode_frame(&codec::encode_response(&answer.resp), &mut out);
        }
        if wr.write_all(&out).await.is_err() {
            return;
        }
        // Written: their requests' permits go back, and reading may resume.
        batch.clear();
    }
}

pub(super) async fn peer_sender(
    me: NodeId,
    peer: NodeId,
    addr: SocketAddr,
    mut rx: mpsc::UnboundedReceiver<Message>,
    filter: FaultFilter,
    emitter: Arc<Emitter>,
    tls: Arc<NodeTls>,
) {
    let mut conn: Option<pki::ClientStream> = None;
    let mut batch = Vec::new();
    let mut out = Vec::new();
    let mut scratch = Vec::new();
    let mut last_failure: Option<Instant> = None;
    let mut was_connected = false;
    while rx.recv_many(&mut batch, 512).await > 0 {
        out.clear();
        let mut delay = None;
        for msg in batch.drain(..) {
            match filter.verdict(peer) {
                Verdict::Drop => continue,
                Verdict::Delay(d) => delay = Some(d),
                Verdict::Pass => {}
            }
            scratch = codec::encode_message(&msg, std::mem::take(&mut scratch));
            // A snapshot larger than a frame goes in pieces.
            codec::encode_peer_frames(&scratch, &mut out);
            if scratch.capacity() > codec::FRAGMENT_BYTES {
                scratch = Vec::new();
            }
        }
        if out.is_empty() {
            continue;
        }
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        if conn.is_none() {
            // Do not hammer a dead peer: one attempt per 50 ms; messages meanwhile are lost,
            // which Raft tolerates (they are retried by heartbeats and pipelining).
            if last_failure.is_some_and(|t| t.elapsed() < Duration::from_millis(50)) {
                continue;
            }
            match tokio::time::timeout(PEER_CONNECT_DEADLINE, connect_peer(&tls, peer, addr)).await
            {
                Ok(Ok(mut s)) => {
                    let mut hello = Vec::new();
                    encode_frame(&codec::encode_hello(Hello::Peer(me)), &mut hello);
                    if s.write_all(&hello).await.is_ok() {
                        if !was_connected {
                            emitter.log("debug", format!("connected to peer {peer} at {addr}"));
                        }
                        was_connected = true;
                        conn = Some(s);
                        last_failure = None;
                    }
                }
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                    // Reached something at the peer's address that is not the peer (no
                    // certificate of this run for that member): say so, once per failure run.
                    if last_failure.is_none() {
                        emitter.log("warn", format!("peer {peer} at {addr}: {e}"));
                    }
                    last_failure = Some(Instant::now());
                    continue;
                }
                _ => {
                    last_failure = Some(Instant::now());
                    continue;
                }
            }
        }
        // A peer that stopped reading (SIGSTOP) fills its socket buffer; give up on the
        // connection rather than queue behind it forever.
        if let Some(s) = conn.as_mut()
            && !matches!(
                tokio::time::timeout(Duration::from_secs(2), s.write_all(&out)).await,
                Ok(Ok(()))
            )
        {
            conn = None;
            last_failure = Some(Instant::now());
        }
    }
}

/// How long dialling a peer may take, TLS handshake included.
const PEER_CONNECT_DEADLINE: Duration = Duration::from_millis(1000);

/// Dials member `peer` at `addr` and completes mutual TLS, checking it is that member.
async fn connect_peer(
    tls: &NodeTls,
    peer: NodeId,
    addr: SocketAddr,
) -> std::io::Result<pki::ClientStream> {
    let tcp = TcpStream::connect(addr).await?;
    let _ = tcp.set_nodelay(true);
    let name = tls
        .pki
        .server_name(&pki::node_name(peer))
        .map_err(std::io::Error::other)?;
    tls.connector.connect(name, tcp).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_gets_at_most_its_share_of_connections_and_slots_come_back() {
        let counts = Arc::new(SourceCounts::default());
        let a: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let b: std::net::IpAddr = "127.0.0.2".parse().unwrap();
        let held: Vec<SourceSlot> = (0..3).map(|_| counts.admit(a, 3).unwrap()).collect();
        assert!(
            counts.admit(a, 3).is_none(),
            "a fourth from the same source"
        );
        let other = counts.admit(b, 3);
        assert!(other.is_some(), "another source is not affected");
        drop(held);
        assert!(counts.admit(a, 3).is_some(), "slots come back on drop");
        drop(other);
        let m = counts.0.lock().unwrap();
        assert!(m.get(&b).is_none(), "an idle source leaves no entry");
    }
}
