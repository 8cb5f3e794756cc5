# Cross-check for wirelab's FROST core: verify Ed25519 signatures with pyca/cryptography
# (an implementation independent of ours and of curve25519-dalek).
# Input on stdin, one per line: "<pk hex> <sig hex> [<msg hex>]" (msg omitted when empty).
# Exit codes: 0 all valid, 1 some invalid, 3 cryptography not installed.
import sys

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:
    sys.exit(3)

ok = 0
for line in sys.stdin:
    if not line.strip():
        continue
    parts = [bytes.fromhex(x) for x in line.split()]
    pk, sig = parts[0], parts[1]
    msg = parts[2] if len(parts) > 2 else b""
    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)
        ok += 1
    except InvalidSignature:
        print("INVALID", line.strip())
        sys.exit(1)
print(f"cryptography verified {ok} signatures")
