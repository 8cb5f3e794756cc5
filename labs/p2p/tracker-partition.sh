# tracker-partition: cut the trackers apart; a new registration reaches one side only, so their
# states diverge; after healing, anti-entropy makes them converge. Argument: the file size.
set -e
p2p up --size "${1:-128MiB}" > /dev/null
p2p wait converged --timeout 30s
p2p partition 1
p2p restart 7                   # a new peer id announces to one tracker only
p2p wait diverged --timeout 30s
p2p heal
p2p wait converged --timeout 30s
p2p wait complete --timeout 120s
echo "partitioned trackers diverged, then converged without consensus once healed"
p2p stop
