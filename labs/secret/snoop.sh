# Snoop: the server's view next to the client's; no key anywhere on the server side
set -e
secret up
url=$(echo 'courier, not reader' | secret send)
secret snoop "$url"
test "$(secret open "$url")" = 'courier, not reader'
secret stop
