# failover: kill the leader with SIGKILL mid-stream; every acknowledged write must survive,
# and the cluster must elect a new leader and keep accepting writes.
set -e
raft up
i=0
while [ $i -lt 20 ]; do
    raft put "key-$i" "value-$i"
    i=$((i + 1))
done
old=$(raft leader)
echo "leader is node $old; sending SIGKILL"
raft kill "$old"
raft put after-failover yes
new=$(raft leader)
[ "$new" != "$old" ] || { echo "leader did not change" >&2; exit 1; }
echo "node $new took over"
i=0
while [ $i -lt 20 ]; do
    [ "$(raft get "key-$i")" = "value-$i" ] || { echo "key-$i lost" >&2; exit 1; }
    i=$((i + 1))
done
raft restart "$old"
echo "all 20 acknowledged writes survived the leader's SIGKILL"
raft stop
