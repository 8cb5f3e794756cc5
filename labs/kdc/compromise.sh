# Compromise: one leaked authority forges nothing and its garbage shares are caught; refresh kills a leaked share; two shares of one epoch are the boundary
set -e
kdc up
kdc compromise 1
if kdc forge alice files; then echo "forged with one share" >&2; exit 1; fi
out=$(kdc access alice files)
case "$out" in *"authority 1's share rejected"*) ;; *) echo "culprit not named: $out" >&2; exit 1 ;; esac
kdc refresh
kdc compromise 2
if kdc forge alice files; then echo "forged across a refresh" >&2; exit 1; fi
kdc compromise 3
kdc forge alice files
echo "one share: no forgery; refresh between leaks: no forgery; two shares of one epoch: forgery (the 2-of-3 boundary)"
kdc stop
