# Corrupt a piece on the seeder: leechers detect it (SHA-1), fetch it elsewhere, drop repeat offenders.
# Run with `wirelab` on PATH: sh labs/p2p/corrupt-seeder.sh
set -e
dir=${TMPDIR:-/tmp}/wirelab-p2p-corrupt-$$
wirelab p2p up --detach --size 512MiB --run-dir "$dir"
sleep 1                                 # some leechers hold good copies by now
wirelab p2p corrupt 3 --piece 7 --run-dir "$dir"
wirelab p2p corrupt 3 --piece 9 --run-dir "$dir"
sleep 5
wirelab p2p status --run-dir "$dir"     # "bad" counts on leechers; the seeder dropped; pieces fetched from leechers holding good copies
wirelab p2p stop --run-dir "$dir"
