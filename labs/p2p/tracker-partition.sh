# Partition the trackers, then heal: their digests diverge, then converge.
# Run with `wirelab` on PATH: sh labs/p2p/tracker-partition.sh
set -e
dir=${TMPDIR:-/tmp}/wirelab-p2p-partition-$$
wirelab p2p up --detach --size 128MiB --run-dir "$dir"
wirelab p2p partition 1 --run-dir "$dir"
sleep 2
wirelab p2p status --run-dir "$dir"     # trackers: different digests, 1 PARTITIONED
wirelab p2p heal --run-dir "$dir"
sleep 1
wirelab p2p status --run-dir "$dir"     # trackers: one digest again
wirelab p2p stop --run-dir "$dir"
