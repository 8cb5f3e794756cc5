# Read once: a link opens once, then says "already opened"; the server never held the key
set -e
secret up
url=$(echo 'the launch code is 0000' | secret send)
test "$(secret open "$url")" = 'the launch code is 0000'
if secret open "$url" 2>/dev/null; then echo "opened twice" >&2; exit 1; fi
secret snoop "$url" >/dev/null 2>&1 && { echo "snoop still finds an opened secret" >&2; exit 1; }
echo "one read, then gone"
secret stop
