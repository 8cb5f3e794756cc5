# leecher-restart: SIGKILL a leecher mid-download and restart it: it re-verifies its file and
# resumes from the pieces that check out, not from zero. Argument: the file size.
set -e
p2p up --size "${1:-512MiB}" > /dev/null
p2p wait pieces 5 4 --timeout 60s
p2p kill 5
p2p restart 5
p2p wait resumed 5 --timeout 60s
p2p wait complete 5 --timeout 120s
echo "node 5 resumed from its verified pieces and completed"
p2p stop
