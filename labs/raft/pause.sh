# pause: SIGSTOP the leader. It is frozen, not dead: the others elect a new leader; when it is
# resumed it learns the new term and steps down without disrupting anyone.
set -e
raft up
old=$(raft leader)
echo "pausing leader node $old (SIGSTOP)"
raft pause "$old"
raft put while-paused yes
raft resume "$old"
raft put after-resume yes
[ "$(raft get while-paused)" = yes ]
[ "$(raft leader)" != "$old" ] || echo "(node $old won a later election: also fine)"
echo "the paused leader rejoined as a follower; writes continued throughout"
raft stop
