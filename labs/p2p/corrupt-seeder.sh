# corrupt-seeder: the seeder's copy goes bad; a leecher fetching again detects the bad pieces by
# SHA-1, drops the seeder, and gets every piece from the other leechers. Argument: the size.
set -e
p2p up --size "${1:-64MiB}" > /dev/null
p2p wait complete --timeout 120s  # the leechers hold good copies
p2p corrupt 3 --piece all         # the seeder keeps serving garbage
p2p kill 7
p2p corrupt 7 --piece all         # node 7 loses its copy: on restart it must fetch it again
p2p restart 7
p2p wait banned 7 --timeout 60s
p2p wait complete 7 --timeout 120s
echo "bad pieces detected by SHA-1, the seeder dropped, the file fetched from the leechers"
p2p stop
