# tracker-failover: SIGKILL tracker 1 mid-transfer; every client fails over to tracker 2 and
# every download still completes. Argument: the file size (default 256MiB).
set -e
p2p up --size "${1:-256MiB}" > /dev/null
p2p kill 1
p2p wait tracker 2 --timeout 30s
p2p wait complete --timeout 120s
p2p status
echo "tracker 1 died; the clients moved to tracker 2 and every download completed"
p2p stop
