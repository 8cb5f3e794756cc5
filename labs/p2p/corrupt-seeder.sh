# corrupt-seeder: the seeder's copy goes bad; a leecher fetching from it detects every bad piece
# by SHA-1 and drops the seeder, then gets the file from a leecher with a good copy. Argument:
# the file size (default 64MiB).
set -e
p2p up --size "${1:-64MiB}" > /dev/null
p2p wait complete --timeout 120s  # every leecher holds a good copy
p2p corrupt 3 --piece all         # the seeder keeps serving garbage
for n in 4 5 6 7; do p2p kill $n; done
p2p corrupt 7 --piece all         # node 7 lost its copy: it must fetch it again
p2p restart 7                     # …and only the seeder is there to ask
p2p wait banned 7 --timeout 60s
p2p restart 4                     # a good copy comes back (resumed from its disk)
p2p wait resumed 4
p2p wait complete 7 --timeout 120s
echo "bad pieces detected by SHA-1, the seeder dropped, the file fetched from leecher 4"
p2p stop
