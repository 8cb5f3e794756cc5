"""A one-time secret client that is not ours: Python's `cryptography` (PBKDF2-HMAC-SHA256, HKDF-SHA256, AES-256-GCM)
and urllib, speaking the courier's format (src/secret/format.rs).

    secret_peer.py open URL [PASSPHRASE]       claim and decrypt; prints the plaintext
    secret_peer.py send ORIGIN TEXT [PASSPHRASE]  encrypt and create; prints the link
"""
import base64
import json
import os
import sys
import urllib.request

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

SALT = b"wirelab one-time secret v1"


PBKDF2_ITERATIONS = 600000


def key_of(token, passphrase):
    if passphrase is None:
        info, ikm = b"aes-256-gcm key", token
    else:
        stretched = PBKDF2HMAC(
            algorithm=hashes.SHA256(), length=32, salt=token, iterations=PBKDF2_ITERATIONS
        ).derive(passphrase.encode())
        info, ikm = b"aes-256-gcm key+pbkdf2 passphrase", token + stretched
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=SALT, info=info).derive(ikm)


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def post(url, body):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data if data is not None else b"", method="POST",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def main():
    mode = sys.argv[1]
    if mode == "open":
        url = sys.argv[2]
        passphrase = sys.argv[3] if len(sys.argv) > 3 else None
        base, frag = url.split("#", 1)
        origin, sid = base.split("/s/", 1)
        token = b64url_decode(frag)
        got = post(f"{origin}/api/secrets/{sid}/claim", None)
        iv = base64.b64decode(got["iv"])
        ct = base64.b64decode(got["ciphertext"])
        sys.stdout.write(AESGCM(key_of(token, passphrase)).decrypt(iv, ct, None).decode())
    elif mode == "send":
        origin, text = sys.argv[2], sys.argv[3]
        passphrase = sys.argv[4] if len(sys.argv) > 4 else None
        token = os.urandom(32)
        iv = os.urandom(12)
        ct = AESGCM(key_of(token, passphrase)).encrypt(iv, text.encode(), None)
        got = post(f"{origin}/api/secrets", {
            "ciphertext": base64.b64encode(ct).decode(), "iv": base64.b64encode(iv).decode(),
            "ttl": 3600, "passphrase": passphrase is not None})
        frag = base64.urlsafe_b64encode(token).decode().rstrip("=")
        print(f"{origin}/s/{got['id']}#{frag}")
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
