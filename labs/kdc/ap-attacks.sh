# The service refuses a replayed authenticator, an expired ticket, a skewed clock and a tampered ticket, each with its reason
set -e
kdc up
kdc access alice files
for attack in replay expired skew tamper; do
    if out=$(kdc attack "$attack"); then echo "$attack got in: $out" >&2; exit 1; fi
    echo "$out"
    case "$attack:$out" in
        replay:*"replayed authenticator"*) ;;
        expired:*"ticket expired"*) ;;
        skew:*"clock skew"*) ;;
        tamper:*"bad ticket signature"*) ;;
        *) echo "$attack refused for the wrong reason" >&2; exit 1 ;;
    esac
done
if kdc access mallory files; then echo "policy ignored" >&2; exit 1; fi
kdc stop
