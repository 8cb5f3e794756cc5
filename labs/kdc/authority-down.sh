# One authority down (killed or cut off): tickets still issued by the other two; two down: a clear refusal; back up: issued again
set -e
kdc up
kdc access alice files
kdc kill 1
out=$(kdc ticket alice files)
case "$out" in *"signed by authorities 2,3"*) ;; *) echo "expected 2 and 3 to sign: $out" >&2; exit 1 ;; esac
kdc kill 2
if kdc ticket alice files; then echo "issued with one authority" >&2; exit 1; fi
kdc restart 1
kdc ticket alice files
kdc restart 2
kdc partition 3
kdc access bob files
kdc heal
echo "one authority down: still issued; two down: refused; back: issued again"
kdc stop
