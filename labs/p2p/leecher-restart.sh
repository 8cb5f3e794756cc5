# Kill a leecher mid-download and restart it: it re-verifies its file and resumes.
# Run with `wirelab` on PATH: sh labs/p2p/leecher-restart.sh
set -e
dir=${TMPDIR:-/tmp}/wirelab-p2p-restart-$$
wirelab p2p up --detach --size 512MiB --run-dir "$dir"
sleep 1
wirelab p2p kill 5 --run-dir "$dir"
wirelab p2p restart 5 --run-dir "$dir"
sleep 1
wirelab p2p status --run-dir "$dir"     # node 5 starts from its verified pieces, not from zero
wirelab p2p stop --run-dir "$dir"
