# Link previews: the scanner bot fetches the link like a chat app; the secret survives for its reader
set -e
secret up
url=$(echo 'preview-proof' | secret send)
secret scan "$url"
secret scan "$url"
test "$(secret open "$url")" = 'preview-proof'
echo "two previews, and the reader still got it"
secret stop
