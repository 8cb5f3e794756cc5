# One authority down (killed or cut off): tickets still issued by the other two; two down: a clear refusal; back up: issued again
set -e
kdc up
kdc access alice files
kdc kill 1
out=$(kdc ticket alice files)
case "$out" in *"signed by authorities 2,3"*) ;; *) echo "expected 2 and 3 to sign: $out" >&2; exit 1 ;; esac
kdc kill 2
if err=$(kdc ticket alice files 2>&1); then echo "issued with one authority" >&2; exit 1; fi
case "$err" in *"cannot issue: only 1 of 3 authorities can sign (need 2)"*) ;; *) echo "expected a clear refusal: $err" >&2; exit 1 ;; esac
kdc restart 1
kdc ticket alice files
kdc restart 2
kdc partition 3
out=$(kdc ticket bob files)
case "$out" in *"signed by authorities 1,2"*) ;; *) echo "expected 1 and 2 to sign with 3 cut off: $out" >&2; exit 1 ;; esac
kdc access bob files
kdc heal
echo "one authority down: still issued; two down: refused; back: issued again"
kdc stop
