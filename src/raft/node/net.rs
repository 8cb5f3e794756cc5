//! Networking: the listener, each inbound connection (peer or client, told apart by its
//! hello), the client reply writer and the outbound sender per peer, through the fault filter.

use super::*;

pub(super) async fn accept_loop(
    listener: TcpListener,
    inbox: mpsc::UnboundedSender<Input>,
    filter: FaultFilter,
    emitter: Arc<Emitter>,
) {
    let conns = Arc::new(tokio::sync::Semaphore::new(MAX_CLIENT_CONNS));
    loop {
        let Ok(permit) = conns.clone().acquire_owned().await else {
            return;
        };
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (inbox, filter, emitter) = (inbox.clone(), filter.clone(), emitter.clone());
        tokio::spawn(async move {
            serve_conn(stream, inbox, filter, emitter).await;
            drop(permit);
        });
    }
}

pub(super) async fn serve_conn(
    stream: TcpStream,
    inbox: mpsc::UnboundedSender<Input>,
    filter: FaultFilter,
    emitter: Arc<Emitter>,
) {
    let (mut rd, wr) = stream.into_split();
    let mut buf = Vec::new();
    // A connection must say who it is promptly (a slow hello held a task and its buffers).
    let hello = match tokio::time::timeout(HELLO_DEADLINE, read_frame(&mut rd, &mut buf, 64)).await
    {
        Ok(Ok(true)) => codec::decode_hello(&buf),
        Ok(_) => return,
        Err(_) => {
            emitter.log(
                "warn",
                format!("no hello within {HELLO_DEADLINE:?}; dropping connection"),
            );
            return;
        }
    };
    match hello {
        Ok(Hello::Peer(from)) => loop {
            match read_frame_within(&mut rd, &mut buf, MAX_FRAME, FRAME_DEADLINE).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    emitter.log("warn", format!("peer {from}: {e}; dropping connection"));
                    return;
                }
            }
            if filter.verdict(from) == Verdict::Drop {
                continue;
            }
            match codec::decode_message(&buf) {
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
        },
        Ok(Hello::Client) => {
            let (tx, rx) = mpsc::unbounded_channel::<Answer>();
            tokio::spawn(client_writer(wr, rx));
            let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT_PER_CONN));
            loop {
                let Ok(permit) = in_flight.clone().acquire_owned().await else {
                    return;
                };
                match read_frame_within(&mut rd, &mut buf, MAX_CLIENT_FRAME, FRAME_DEADLINE).await {
                    Ok(true) => {}
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
                }
                match codec::decode_request(&buf) {
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
        Err(e) => emitter.log("warn", format!("bad hello: {e}; dropping connection")),
    }
}

pub(super) async fn client_writer(
    mut wr: tokio::net::tcp::OwnedWriteHalf,
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
) {
    let mut conn: Option<TcpStream> = None;
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
            encode_frame(&scratch, &mut out);
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
            match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
                Ok(Ok(mut s)) => {
                    let _ = s.set_nodelay(true);
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
