#!/usr/bin/env python3
"""A chat client written on Python's `noiseprotocol` (not our Noise code), for
tests/chat_python_interop.rs: it talks to wirelab's real chat server.

Protocol (see src/chat/link.rs): u16 big-endian length-prefixed frames; frame(name) in clear;
Noise_NNpsk0_25519_ChaChaPoly_SHA256 with prologue b"wirelab-chat/noise/v2" 0x00 len(name)
name and empty handshake payloads; then JSON messages in transport messages (one per
message from a client; one or more, newline-separated, from the server):
  -> {"t":"hello","room":R,"after":0}
  -> {"t":"say","cid":i,"sent_us":0,"text":T}      <- {"t":"msg",...}  <- {"t":"ack","cid":i,"id":...}
  {"t":"rekey"} either way: the sender rekeys its outbound key right after sending it; the
  receiver rekeys its inbound key after reading it. This client sends one every 2 messages.
Prints "OK <count>" when every message was acknowledged and delivered back in order.
"""

import argparse
import json
import socket
import struct
import sys

from noise.connection import NoiseConnection

PROTOCOL = b"Noise_NNpsk0_25519_ChaChaPoly_SHA256"
LABEL = b"wirelab-chat/noise/v2"


def send_frame(sock, data):
    sock.sendall(struct.pack(">H", len(data)) + data)


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("server closed")
        buf += chunk
    return bytes(buf)


def recv_frame(sock):
    (n,) = struct.unpack(">H", recv_exact(sock, 2))
    return recv_exact(sock, n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--psk", required=True)
    ap.add_argument("--room", default="lobby")
    ap.add_argument("--count", type=int, default=5)
    a = ap.parse_args()
    name = a.name.encode()
    sock = socket.create_connection(("127.0.0.1", a.port), timeout=20)
    send_frame(sock, name)
    conn = NoiseConnection.from_name(PROTOCOL)
    conn.set_psks(psk=bytes.fromhex(a.psk))
    conn.set_prologue(LABEL + b"\x00" + bytes([len(name)]) + name)
    conn.set_as_initiator()
    conn.start_handshake()
    send_frame(sock, conn.write_message(b""))
    conn.read_message(recv_frame(sock))
    assert conn.handshake_finished

    sent = 0

    def send(obj):
        nonlocal sent
        send_frame(sock, conn.encrypt(json.dumps(obj).encode()))
        sent += 1
        if sent % 2 == 0:
            send_frame(sock, conn.encrypt(b'{"t":"rekey"}'))
            conn.rekey_outbound_cipher()

    pending = []

    def recv():
        # A frame from the server holds one or more messages, newline-separated; a rekey
        # is alone in its frame.
        while not pending:
            msgs = [json.loads(line) for line in conn.decrypt(recv_frame(sock)).split(b"\n")]
            if msgs[0]["t"] == "rekey":
                if len(msgs) != 1:
                    sys.exit("rekey shares a frame: %r" % msgs)
                conn.rekey_inbound_cipher()
                continue
            pending.extend(msgs)
        return pending.pop(0)

    send({"t": "hello", "room": a.room, "after": 0})
    delivered = []
    for cid in range(1, a.count + 1):
        text = "python says %d" % cid
        send({"t": "say", "cid": cid, "sent_us": 0, "text": text})
        while True:
            msg = recv()
            if msg["t"] == "msg":
                delivered.append(msg)
            elif msg["t"] == "ack":
                if msg["cid"] != cid:
                    sys.exit("ack for %r, expected %d" % (msg, cid))
                break
            else:
                sys.exit("unexpected %r" % msg)
    ids = [m["id"] for m in delivered]
    texts = [m["text"] for m in delivered]
    if ids != list(range(1, a.count + 1)) or texts != ["python says %d" % i for i in ids]:
        sys.exit("delivered %r" % delivered)
    if any(m["from"] != a.name for m in delivered):
        sys.exit("wrong sender in %r" % delivered)
    print("OK %d" % a.count)


if __name__ == "__main__":
    main()
