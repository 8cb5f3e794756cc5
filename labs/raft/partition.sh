# partition: cut the leader off from its followers. The majority elects a new leader and keeps
# serving; the isolated old leader cannot commit; after healing, everyone agrees.
set -e
raft up
raft put before-partition 1
old=$(raft leader)
echo "isolating leader node $old"
raft partition "$old"
raft put during-partition 2
new=$(raft leader)
[ "$new" != "$old" ] || { echo "the majority did not elect a new leader" >&2; exit 1; }
echo "majority side elected node $new"
raft heal
[ "$(raft get during-partition)" = 2 ]
[ "$(raft get before-partition)" = 1 ]
echo "healed: the write made on the majority side is there, nothing was lost"
raft stop
