# Crash: SIGKILL the courier between create and claim; after a restart the secret is there exactly once
set -e
secret up
url=$(echo 'survives a crash' | secret send)
secret kill 1
secret restart 1
test "$(secret open "$url")" = 'survives a crash'
secret kill 1
secret restart 1
if secret open "$url" 2>/dev/null; then echo "served twice across a crash" >&2; exit 1; fi
echo "exactly once across two crashes"
secret stop
