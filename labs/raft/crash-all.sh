# crash-all: SIGKILL every node at once, restart them from disk: nothing acknowledged is lost.
set -e
raft up
for k in alpha beta gamma delta; do
    raft put "$k" "$k-value"
done
for n in 1 2 3; do
    raft kill "$n"
done
for n in 1 2 3; do
    raft restart "$n"
done
for k in alpha beta gamma delta; do
    [ "$(raft get "$k")" = "$k-value" ] || { echo "$k lost" >&2; exit 1; }
done
echo "every acknowledged write survived the loss of all three nodes"
raft stop
