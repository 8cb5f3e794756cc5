#!/bin/sh
# Issue 5 target 1, side by side on this machine: hello-world over keep-alive with
# `wrk -t1 -c64 -d10s` against nginx (nginx-light, one worker per core, `return 200 "hello"`)
# and `wirelab forge serve --bare --quiet` (same body). One run each; prints each side's req/s
# and p99, the ratio, and last one JSON object. Target: forge req/s >= nginx, p99 < 2 ms.
# Usage: benches/forge_vs_nginx.sh [path/to/wirelab]   (default target/release/wirelab;
#        DURATION=10s, CONNECTIONS=64 override wrk's; FORGE_THREADS=N passes --threads N to
#        forge, whose default is one event loop per core; nginx keeps one worker per core, as
#        the target says, unless NGINX_WORKERS=N asks for another reference)
set -eu
cd "$(dirname "$0")/.."
W=${1:-target/release/wirelab}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
FORGE_THREADS=${FORGE_THREADS:-}
NGINX_WORKERS=${NGINX_WORKERS:-}
[ -x "$W" ] || { echo "build first: cargo build --release" >&2; exit 2; }
if ! command -v wrk >/dev/null 2>&1 || ! command -v nginx >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk nginx-light >&2
fi

tmp=$(mktemp -d)
forge_pid=""
cleanup() {
    [ -n "$forge_pid" ] && kill "$forge_pid" 2>/dev/null || true
    [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
    sleep 0.2
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_http() {
    i=0
    until curl -fs "http://127.0.0.1:$1/" >/dev/null 2>&1; do
        i=$((i + 1)); [ "$i" -lt 250 ] || { echo "nothing answers on port $1" >&2; exit 1; }
        sleep 0.02
    done
}
# run_wrk PORT: one wrk run, prints its JSON line.
run_wrk() {
    WRK_REPORT=benches/wrk_report.lua wrk -t1 -c"$CONNECTIONS" -d"$DURATION" \
        -s benches/wrk_report.lua "http://127.0.0.1:$1/" | sed -n 's/^WRK_JSON //p'
}
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

cores=$(nproc)
nginx_port=$(free_port)
forge_port=$(free_port)
mkdir -p "$tmp/logs"
cat > "$tmp/nginx.conf" <<CONF
worker_processes ${NGINX_WORKERS:-$cores};
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log error;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 65;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        location = / { default_type "text/plain; charset=utf-8"; return 200 "hello"; }
    }
}
CONF
nginx -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/logs/error.log"
"$W" forge serve --bare --quiet --addr "127.0.0.1:$forge_port" ${FORGE_THREADS:+--threads "$FORGE_THREADS"} >/dev/null 2>&1 &
forge_pid=$!
wait_http "$nginx_port"
wait_http "$forge_port"
[ "$(curl -fs "http://127.0.0.1:$nginx_port/")" = hello ] && [ "$(curl -fs "http://127.0.0.1:$forge_port/")" = hello ] || {
    echo "the two servers do not serve the same body" >&2; exit 1; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "wrk -t1 -c$CONNECTIONS -d$DURATION, $cores cores, forge threads: ${FORGE_THREADS:-default ($cores)}, nginx workers: ${NGINX_WORKERS:-$cores}, load average before: $load_before"
nginx_json=$(run_wrk "$nginx_port")
forge_json=$(run_wrk "$forge_port")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$nginx_json" "$forge_json" "$load_before" "$load_after" "$cores" "$CONNECTIONS" "$DURATION" "${FORGE_THREADS:-$cores}" "${NGINX_WORKERS:-$cores}" <<'PY'
import json, sys
nginx, forge = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ratio = forge["rps"] / nginx["rps"] if nginx["rps"] else 0.0
for name, r in (("nginx", nginx), ("forge", forge)):
    errs = sum(r["errors"].values())
    print(f"{name:6} {r['rps']:>10.0f} req/s   p50 {r['p50_us']/1000:.2f} ms   p99 {r['p99_us']/1000:.2f} ms   errors {errs}")
print(f"forge/nginx req/s ratio {ratio:.2f}; targets: ratio >= 1 {'met' if ratio >= 1 else 'MISSED'}, "
      f"forge p99 < 2 ms {'met' if forge['p99_us'] < 2000 else 'MISSED'}")
print(json.dumps({
    "bench": "forge_vs_nginx", "wrk": f"-t1 -c{sys.argv[6]} -d{sys.argv[7]}", "cores": int(sys.argv[5]),
    "load_before": sys.argv[3], "load_after": sys.argv[4], "forge_threads": int(sys.argv[8]), "nginx_workers": int(sys.argv[9]),
    "nginx": nginx, "forge": forge, "ratio_rps": round(ratio, 3),
    "targets_met": {"rps_ge_nginx": ratio >= 1, "p99_lt_2ms": forge["p99_us"] < 2000},
}))
PY
