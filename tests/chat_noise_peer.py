#!/usr/bin/env python3
"""Reference peer for wirelab's chat Noise core, built on the `noiseprotocol` package
(an implementation that is not ours: `pip install noiseprotocol`, tested with 0.3.1).

Runs Noise_NNpsk0_25519_ChaChaPoly_SHA256 over TCP on 127.0.0.1 as initiator (client) or
responder (server), then a fixed chat script. The Rust test tests/chat_noise_interop.rs plays
the other side.

Framing (as usual for Noise over TCP): every message, cleartext preamble included, is sent as
a 2-byte big-endian length (0..=65535) followed by that many bytes.

Connection script (both sides check every byte they receive; any mismatch exits non-zero):
  1. initiator -> frame(client name, UTF-8)            cleartext preamble
     prologue = b"wirelab-chat/noise/v2" + b"\\x00" + bytes([len(name)]) + name
     (or --prologue HEX); the responder checks the name and uses the PSK enrolled for it
  2. handshake: -> psk, e (payload b"")  <- e, ee (payload b"welcome " + name)
  3. ROUNDS times: initiator "ping i", responder "pong i"
  4. one maximal transport payload (65519 bytes, byte j = j % 251) each way
  5. in-band rekey: initiator "REKEY", then rekeys outbound; responder on reading it rekeys
     inbound, answers "REKEY-ACK", rekeys outbound; initiator rekeys inbound on reading it
  6. ROUNDS more ping/pong, then "BYE" / "BYE"
With --rekey-every N both sides also rekey a direction after every N transport messages in it.

Prints "HASH <hex handshake hash>" after the handshake and "OK" at the end. With --listen it
binds 127.0.0.1:0 and first prints "LISTENING <port>".
"""

import argparse
import socket
import struct
import sys

from noise.connection import NoiseConnection

PROTOCOL = b"Noise_NNpsk0_25519_ChaChaPoly_SHA256"
LABEL = b"wirelab-chat/noise/v2"
MAX_PAYLOAD = 65535 - 16


def chat_prologue(name: bytes) -> bytes:
    return LABEL + b"\x00" + bytes([len(name)]) + name


def send_frame(sock, data: bytes):
    if len(data) > 65535:
        raise ValueError("frame too long")
    sock.sendall(struct.pack(">H", len(data)) + data)


def recv_exact(sock, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    return bytes(buf)


def recv_frame(sock) -> bytes:
    (n,) = struct.unpack(">H", recv_exact(sock, 2))
    return recv_exact(sock, n)


class Session:
    def __init__(self, sock, conn, rekey_every):
        self.sock, self.conn, self.every = sock, conn, rekey_every
        self.sent = self.received = 0

    def send(self, payload: bytes):
        send_frame(self.sock, self.conn.encrypt(payload))
        self.sent += 1
        if self.every and self.sent % self.every == 0:
            self.conn.rekey_outbound_cipher()

    def recv(self) -> bytes:
        data = self.conn.decrypt(recv_frame(self.sock))
        self.received += 1
        if self.every and self.received % self.every == 0:
            self.conn.rekey_inbound_cipher()
        return data

    def expect(self, want: bytes):
        got = self.recv()
        if got != want:
            sys.exit("expected %r, got %r" % (want[:40], got[:40]))


def big_payload() -> bytes:
    return bytes(j % 251 for j in range(MAX_PAYLOAD))


def run(sock, args):
    name = args.name.encode()
    initiator = args.role == "initiator"
    if initiator:
        send_frame(sock, name)
    else:
        announced = recv_frame(sock)
        if announced != name:
            sys.exit("unknown client %r" % announced)
    prologue = bytes.fromhex(args.prologue) if args.prologue else chat_prologue(name)

    conn = NoiseConnection.from_name(PROTOCOL)
    conn.set_psks(psk=bytes.fromhex(args.psk))
    conn.set_prologue(prologue)
    conn.set_as_initiator() if initiator else conn.set_as_responder()
    conn.start_handshake()
    welcome = b"welcome " + name
    if initiator:
        send_frame(sock, conn.write_message(b""))
        got = conn.read_message(recv_frame(sock))
        if bytes(got) != welcome:
            sys.exit("bad welcome %r" % bytes(got))
    else:
        got = conn.read_message(recv_frame(sock))
        if bytes(got) != b"":
            sys.exit("non-empty first payload")
        send_frame(sock, conn.write_message(welcome))
    assert conn.handshake_finished
    print("HASH", conn.get_handshake_hash().hex(), flush=True)

    s = Session(sock, conn, args.rekey_every)

    def pings(base):
        for i in range(base, base + args.rounds):
            if initiator:
                s.send(b"ping %d" % i)
                s.expect(b"pong %d" % i)
            else:
                s.expect(b"ping %d" % i)
                s.send(b"pong %d" % i)

    pings(0)
    big = big_payload()
    if initiator:
        s.send(big)
        s.expect(big)
        s.send(b"REKEY")
        conn.rekey_outbound_cipher()
        s.expect(b"REKEY-ACK")
        conn.rekey_inbound_cipher()
    else:
        s.expect(big)
        s.send(big)
        s.expect(b"REKEY")
        conn.rekey_inbound_cipher()
        s.send(b"REKEY-ACK")
        conn.rekey_outbound_cipher()
    pings(100)
    if initiator:
        s.send(b"BYE")
        s.expect(b"BYE")
    else:
        s.expect(b"BYE")
        s.send(b"BYE")
    print("OK", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--role", choices=["initiator", "responder"], required=True)
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--connect", type=int, metavar="PORT")
    where.add_argument("--listen", action="store_true")
    ap.add_argument("--name", required=True)
    ap.add_argument("--psk", required=True, help="32-byte PSK, hex")
    ap.add_argument("--prologue", help="hex; default: the chat prologue for --name")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rekey-every", type=int, default=0)
    args = ap.parse_args()

    if args.listen:
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        srv.settimeout(30)
        print("LISTENING", srv.getsockname()[1], flush=True)
        sock, _ = srv.accept()
        srv.close()
    else:
        sock = socket.create_connection(("127.0.0.1", args.connect), timeout=30)
    sock.settimeout(30)
    with sock:
        run(sock, args)


if __name__ == "__main__":
    main()
