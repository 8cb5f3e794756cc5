use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Reads one unmasked server frame: (opcode, payload).
async fn server_frame(c: &mut DuplexStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    c.read_exact(&mut h).await.unwrap();
    assert_eq!(h[1] & 0x80, 0, "server frames are unmasked");
    let len = match h[1] & 0x7F {
        126 => {
            let mut b = [0u8; 2];
            c.read_exact(&mut b).await.unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            c.read_exact(&mut b).await.unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut p = vec![0u8; len];
    c.read_exact(&mut p).await.unwrap();
    (h[0] & 0x0F, p)
}

fn session(config: WsConfig) -> (WebSocket, DuplexStream) {
    let (server, client) = tokio::io::duplex(1 << 16);
    let up = Upgraded {
        io: Box::new(server),
        read_buf: BytesMut::new(),
        shutdown: CancellationToken::new(),
    };
    (WebSocket::new(up, config), client)
}

/// Runs an echo loop until the session ends; returns the error it ended with, if any.
fn echo(mut ws: WebSocket) -> tokio::task::JoinHandle<Option<u16>> {
    tokio::spawn(async move {
        loop {
            match ws.recv().await {
                Ok(Some(Message::Close(_))) | Ok(None) => return None,
                Ok(Some(m)) => ws.send(m).await.unwrap(),
                Err(WsError::Protocol(code)) => return Some(code),
                Err(_) => return None,
            }
        }
    })
}

#[test]
fn accept_key_matches_the_rfc_example() {
    assert_eq!(
        accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn handshake_requires_upgrade_headers_and_version() {
    let ok = Request::from_raw(b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").unwrap().unwrap();
    let res = upgrade(&ok, WsConfig::default(), |_ws| async {});
    assert_eq!(res.status(), 101);
    assert_eq!(
        res.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    let v12 = Request::from_raw(b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 12\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").unwrap().unwrap();
    assert_eq!(
        upgrade(&v12, WsConfig::default(), |_ws| async {}).status(),
        426
    );
    let nokey = Request::from_raw(b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n").unwrap().unwrap();
    assert_eq!(
        upgrade(&nokey, WsConfig::default(), |_ws| async {}).status(),
        400
    );
}

#[tokio::test]
async fn text_binary_and_fragmented_messages_echo() {
    let (ws, mut c) = session(WsConfig::default());
    let task = echo(ws);
    c.write_all(&client_frame(true, 1, "héllo".as_bytes()))
        .await
        .unwrap();
    assert_eq!(server_frame(&mut c).await, (1, "héllo".as_bytes().to_vec()));
    c.write_all(&client_frame(true, 2, &[0, 1, 2]))
        .await
        .unwrap();
    assert_eq!(server_frame(&mut c).await, (2, vec![0, 1, 2]));
    // Fragmented, with a ping in the middle (answered at once).
    // A multi-byte character split across fragments is fine.
    c.write_all(&client_frame(false, 1, &[0xC3])).await.unwrap();
    c.write_all(&client_frame(true, 0, &[0xA9])).await.unwrap();
    assert_eq!(server_frame(&mut c).await, (1, "é".as_bytes().to_vec()));
    c.write_all(&client_frame(false, 1, b"frag")).await.unwrap();
    c.write_all(&client_frame(true, 9, b"p")).await.unwrap();
    c.write_all(&client_frame(false, 0, b"men")).await.unwrap();
    c.write_all(&client_frame(true, 0, b"ted")).await.unwrap();
    assert_eq!(server_frame(&mut c).await, (0xA, b"p".to_vec()));
    assert_eq!(server_frame(&mut c).await, (1, b"fragmented".to_vec()));
    let big = vec![b'x'; 70_000];
    c.write_all(&client_frame(true, 2, &big)).await.unwrap();
    assert_eq!(server_frame(&mut c).await.1.len(), 70_000);
    let mut close = 4000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"bye");
    c.write_all(&client_frame(true, 8, &close)).await.unwrap();
    assert_eq!(
        server_frame(&mut c).await,
        (8, 4000u16.to_be_bytes().to_vec())
    );
    assert_eq!(task.await.unwrap(), None);
}

async fn violation(frames: &[Vec<u8>], config: WsConfig) -> (u16, Option<u16>) {
    let (ws, mut c) = session(config);
    let task = echo(ws);
    for f in frames {
        c.write_all(f).await.unwrap();
    }
    loop {
        let (op, p) = server_frame(&mut c).await;
        if op == 8 {
            let code = u16::from_be_bytes([p[0], p[1]]);
            return (code, task.await.unwrap());
        }
    }
}

#[tokio::test]
async fn protocol_violations_close_with_the_right_code() {
    let cfg = WsConfig::default();
    let mut invalid_utf8 = client_frame(true, 1, &[0xC3, 0x28]);
    assert_eq!(
        violation(&[invalid_utf8.clone()], cfg).await,
        (1007, Some(1007))
    );
    // Invalid UTF-8 split across fragments.
    invalid_utf8 = client_frame(false, 1, &[0xE2, 0x82]);
    let tail = client_frame(true, 0, &[0x28]);
    assert_eq!(violation(&[invalid_utf8, tail], cfg).await.0, 1007);
    // Fail fast: a bad first fragment closes before the message ends.
    let bad_first = client_frame(false, 1, &[b'o', b'k', 0xFF]);
    assert_eq!(violation(&[bad_first], cfg).await.0, 1007);
    let unmasked = vec![0x81, 0x02, b'h', b'i'];
    assert_eq!(violation(&[unmasked], cfg).await.0, 1002);
    assert_eq!(violation(&[client_frame(true, 0, b"x")], cfg).await.0, 1002);
    assert_eq!(violation(&[client_frame(true, 3, b"x")], cfg).await.0, 1002);
    let mut rsv = client_frame(true, 1, b"x");
    rsv[0] |= 0x40;
    assert_eq!(violation(&[rsv], cfg).await.0, 1002);
    assert_eq!(
        violation(&[client_frame(false, 9, b"x")], cfg).await.0,
        1002
    );
    assert_eq!(
        violation(&[client_frame(true, 9, &[0; 126])], cfg).await.0,
        1002
    );
    assert_eq!(
        violation(&[client_frame(true, 8, &[0x03])], cfg).await.0,
        1002
    );
    assert_eq!(
        violation(&[client_frame(true, 8, &1005u16.to_be_bytes())], cfg)
            .await
            .0,
        1002
    );
    let mut bad_reason = 1000u16.to_be_bytes().to_vec();
    bad_reason.push(0xFF);
    assert_eq!(
        violation(&[client_frame(true, 8, &bad_reason)], cfg)
            .await
            .0,
        1007
    );
    let interleaved = [client_frame(false, 1, b"a"), client_frame(true, 1, b"b")];
    assert_eq!(violation(&interleaved, cfg).await.0, 1002);
    let small = WsConfig {
        max_frame: 16,
        max_message: 20,
    };
    assert_eq!(
        violation(&[client_frame(true, 2, &[0; 17])], small).await.0,
        1009
    );
    let parts = [
        client_frame(false, 2, &[0; 15]),
        client_frame(true, 0, &[0; 15]),
    ];
    assert_eq!(violation(&parts, small).await.0, 1009);
}

#[tokio::test]
async fn server_shutdown_closes_with_going_away() {
    let (server, mut c) = tokio::io::duplex(1 << 16);
    let token = CancellationToken::new();
    let up = Upgraded {
        io: Box::new(server),
        read_buf: BytesMut::new(),
        shutdown: token.clone(),
    };
    let task = echo(WebSocket::new(up, WsConfig::default()));
    token.cancel();
    let (op, p) = server_frame(&mut c).await;
    assert_eq!((op, u16::from_be_bytes([p[0], p[1]])), (8, 1001));
    c.write_all(&client_frame(true, 8, &1001u16.to_be_bytes()))
        .await
        .unwrap();
    assert_eq!(task.await.unwrap(), None);
}
