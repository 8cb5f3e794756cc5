#!/bin/sh
# Shell performance targets of issue 3, measured against dash and bash on this machine:
#   1. `wirelab shell -c true` wall time (target: within 3 ms);
#   2. a 100,000-iteration arithmetic loop (target: no slower than bash);
#   3. 1,000 fork/exec of /bin/true (target: within 1.2x dash).
# Usage: benches/shell_bench.sh [path/to/wirelab]  (default: target/release/wirelab)
# Uses hyperfine when installed, else repeated runs timed with date +%s%N (best of N).
set -eu
W=${1:-target/release/wirelab}
[ -x "$W" ] || { echo "build first: cargo build --release" >&2; exit 2; }
LOOP='i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done'
FORK='i=0; while [ $i -lt 1000 ]; do /bin/true; i=$((i+1)); done'

if command -v hyperfine >/dev/null 2>&1; then
    hyperfine -N --warmup 20 "$W shell -c true" "dash -c true"
    hyperfine --warmup 1 "$W shell -c '$LOOP'" "bash -c '$LOOP'" "dash -c '$LOOP'"
    hyperfine --warmup 1 "$W shell -c '$FORK'" "dash -c '$FORK'"
    exit 0
fi

# best_ms RUNS CMD...: the fastest of RUNS wall times, in microseconds.
best_us() {
    runs=$1; shift
    best=
    n=0
    while [ "$n" -lt "$runs" ]; do
        s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N)
        t=$(( (e - s) / 1000 ))
        if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
        n=$((n + 1))
    done
    echo "$best"
}
ratio() { echo "$1 $2" | awk '{ printf "%.2f", $1 / $2 }'; }

a=$(best_us 50 "$W" shell -c true); b=$(best_us 50 dash -c true)
echo "-c true:        wirelab ${a}us  dash ${b}us  ratio $(ratio "$a" "$b")"
a=$(best_us 3 "$W" shell -c "$LOOP"); b=$(best_us 3 bash -c "$LOOP"); c=$(best_us 3 dash -c "$LOOP")
echo "arith 100k:     wirelab ${a}us  bash ${b}us  dash ${c}us  wirelab/bash $(ratio "$a" "$b")"
a=$(best_us 3 "$W" shell -c "$FORK"); b=$(best_us 3 dash -c "$FORK")
echo "1000 fork/exec: wirelab ${a}us  dash ${b}us  ratio $(ratio "$a" "$b")"
