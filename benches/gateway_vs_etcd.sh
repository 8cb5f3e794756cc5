#!/bin/sh
# Issue 5 target 2, side by side on this machine: durable PUT throughput of a 3-member etcd 3.4
# cluster (Debian etcd-server, `POST /v3/kv/put` with base64 JSON) and of wirelab's 3-node Raft
# cluster through its HTTP gateway (`PUT /kv/<key>` on the leader), driven by the same wrk script
# (benches/kv_put.lua: a fresh key per request, a 16-byte value) with `wrk -t1 -c64 -d10s`,
# each against its leader. One run each; prints req/s, p99, the ratio, and last one JSON object.
# Security on both sides, as the lab runs: wirelab's nodes speak mutual TLS with their run's CA
# and the gateway needs the run's bearer token; etcd's members speak mutual TLS too
# (--peer-client-cert-auth, a CA and member certificates made here with openssl), and its
# clients plain HTTP like the gateway's. PEER_TLS=0 runs etcd without peer TLS.
# Target: wirelab >= 2x etcd's req/s, p99 no worse.
# Usage: benches/gateway_vs_etcd.sh [path/to/wirelab]   (default target/release/wirelab;
#        DURATION=10s, CONNECTIONS=64 override wrk's)
set -eu
cd "$(dirname "$0")/.."
W=${1:-target/release/wirelab}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
[ -x "$W" ] || { echo "build first: cargo build --release" >&2; exit 2; }
if ! command -v wrk >/dev/null 2>&1 || ! command -v etcd >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk etcd-server >&2
fi

# Data dirs on the same disk for both (the current dir's file system, not a tmpfs).
tmp=$(mktemp -d "${BENCH_DIR:-$PWD/target}/kvbench.XXXXXX")
etcd_pids=""
cleanup() {
    for p in $etcd_pids; do kill "$p" 2>/dev/null || true; done
    [ -d "$tmp/raft" ] && "$W" raft stop --run-dir "$tmp/raft" >/dev/null 2>&1 || true
    sleep 0.3
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
run_wrk() { # URL MODE (KV_TOKEN in the environment for the gateway)
    WRK_REPORT=benches/wrk_report.lua wrk -t1 -c"$CONNECTIONS" -d"$DURATION" \
        -s benches/kv_put.lua "$1" -- "$2" | sed -n 's/^WRK_JSON //p'
}

cores=$(nproc)
echo "wrk -t1 -c$CONNECTIONS -d$DURATION, $cores cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- etcd: three members on loopback ---
PEER_TLS=${PEER_TLS:-1}
scheme=http
peer_tls_flags() { :; }
if [ "$PEER_TLS" = 1 ]; then
    scheme=https
    pki="$tmp/etcd-pki"; mkdir -p "$pki"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=etcd bench CA" -keyout "$pki/ca.key" -out "$pki/ca.pem" 2>/dev/null
    for i in 1 2 3; do
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=e$i" \
            -keyout "$pki/e$i.key" -out "$pki/e$i.csr" 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >"$pki/ext"
        openssl x509 -req -in "$pki/e$i.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
            -CAcreateserial -days 2 -extfile "$pki/ext" -out "$pki/e$i.pem" 2>/dev/null
    done
    peer_tls_flags() { # member number
        echo "--peer-cert-file $pki/e$1.pem --peer-key-file $pki/e$1.key --peer-trusted-ca-file $pki/ca.pem --peer-client-cert-auth"
    }
fi
cluster=""
for i in 1 2 3; do
    eval "client_$i=$(free_port)"; eval "peer_$i=$(free_port)"
    eval "cluster=\"\${cluster:+\$cluster,}e$i=$scheme://127.0.0.1:\$peer_$i\""
done
for i in 1 2 3; do
    eval "c=\$client_$i; p=\$peer_$i"
    # shellcheck disable=SC2046
    etcd --name "e$i" --data-dir "$tmp/e$i" $(peer_tls_flags "$i") \
        --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
        --listen-peer-urls "$scheme://127.0.0.1:$p" --initial-advertise-peer-urls "$scheme://127.0.0.1:$p" \
        --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token wirelab-bench \
        --logger zap --log-level error >"$tmp/e$i.log" 2>&1 &
    etcd_pids="$etcd_pids $!"
done
etcd_leader=""
n=0
while [ -z "$etcd_leader" ]; do
    n=$((n + 1)); [ "$n" -lt 300 ] || { echo "etcd elected no leader" >&2; cat "$tmp"/e*.log >&2; exit 1; }
    for i in 1 2 3; do
        eval "c=\$client_$i"
        s=$(curl -fs -X POST "http://127.0.0.1:$c/v3/maintenance/status" -d '{}' 2>/dev/null || true)
        if [ -n "$s" ] && python3 -c 'import json,sys; s=json.loads(sys.argv[1]); sys.exit(0 if s.get("leader") and s["leader"]==s["header"]["member_id"] else 1)' "$s"; then
            etcd_leader="http://127.0.0.1:$c"
        fi
    done
    [ -n "$etcd_leader" ] || sleep 0.05
done
echo "etcd $(etcd --version | head -1 | cut -d' ' -f3) leader at $etcd_leader (peers over $scheme)"
etcd_json=$(run_wrk "$etcd_leader" etcd)
for p in $etcd_pids; do kill "$p" 2>/dev/null || true; done
etcd_pids=""

# --- wirelab: a 3-node Raft cluster, its leader's HTTP gateway ---
"$W" raft up --detach --run-dir "$tmp/raft" >/dev/null
gw=$("$W" raft status --json --run-dir "$tmp/raft" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(next(n["http"] for n in s["nodes"] if n["id"] == s["leader"]))')
echo "wirelab raft leader gateway at http://$gw"
gw_json=$(KV_TOKEN=$(cat "$tmp/raft/pki/client.token") run_wrk "http://$gw" gateway)
"$W" raft stop --run-dir "$tmp/raft" >/dev/null

python3 - "$etcd_json" "$gw_json" "$(cut -d' ' -f1-3 /proc/loadavg)" "$cores" "$CONNECTIONS" "$DURATION" "$PEER_TLS" <<'PY'
import json, sys
etcd, gw = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ratio = gw["rps"] / etcd["rps"] if etcd["rps"] else 0.0
for name, r in (("etcd", etcd), ("wirelab", gw)):
    errs = sum(r["errors"].values())
    print(f"{name:8} {r['rps']:>9.0f} PUT/s   p50 {r['p50_us']/1000:.2f} ms   p99 {r['p99_us']/1000:.2f} ms   errors {errs}")
print(f"wirelab/etcd ratio {ratio:.2f}; targets: ratio >= 2 {'met' if ratio >= 2 else 'MISSED'}, "
      f"p99 no worse {'met' if gw['p99_us'] <= etcd['p99_us'] else 'MISSED'}")
print(json.dumps({
    "bench": "gateway_vs_etcd", "wrk": f"-t1 -c{sys.argv[5]} -d{sys.argv[6]}", "cores": int(sys.argv[4]),
    "load_after": sys.argv[3], "etcd_peer_tls": sys.argv[7] == "1", "wirelab_peer_tls": True, "etcd": etcd, "wirelab": gw, "ratio_rps": round(ratio, 3),
    "targets_met": {"rps_ge_2x_etcd": ratio >= 2, "p99_no_worse": gw["p99_us"] <= etcd["p99_us"]},
}))
PY
