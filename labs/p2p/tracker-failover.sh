# Kill tracker 1 mid-transfer: downloads go on, clients fail over to tracker 2.
# Run with `wirelab` on PATH: sh labs/p2p/tracker-failover.sh
set -e
dir=${TMPDIR:-/tmp}/wirelab-p2p-failover-$$
wirelab p2p up --detach --size 256MiB --run-dir "$dir"
wirelab p2p kill 1 --run-dir "$dir"
sleep 2
wirelab p2p status --run-dir "$dir"     # leechers: "tracker 2", progress still rising
wirelab p2p stop --run-dir "$dir"
