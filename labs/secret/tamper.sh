# Tamper: the attacker flips a ciphertext bit in the store; the reader gets an authentication failure, not garbage
set -e
secret up
url=$(echo 'do not alter' | secret send)
secret tamper "$url"
if out=$(secret open "$url" 2>&1); then echo "tampered secret opened: $out" >&2; exit 1; fi
case "$out" in *"authentication failed"*) ;; *) echo "unexpected: $out" >&2; exit 1 ;; esac
echo "tampering detected"
secret stop
