# A signer that reuses its nonce pair gives its share away: three signatures reveal it, and with one more leak the attacker forges
set -e
kdc up
if kdc forge alice files; then echo "forged with nothing" >&2; exit 1; fi
kdc attack nonce-reuse --victim 3
if kdc forge alice files; then echo "forged with one share" >&2; exit 1; fi
kdc compromise 1
kdc forge alice files
kdc stop
