#!/usr/bin/env bash
# OPC UA subscriptions (issue 13): Ironbridge's own CPU time per 10,000
# notifications. SERVERS node-opcua servers (tests/peers/opcua/server.js in its
# bench mode) each hold TAGS variables that change every 100 ms; Ironbridge has
# one opcua device per server subscribing to all of them (one group, 100 ms),
# so the offered load is SERVERS × TAGS × 10 changes per second. After WARMUP
# seconds, Ironbridge's user+system CPU time (/proc/<pid>/stat) and its
# notifications counter (/metrics, ib_device_notifications_total) are read
# twice, DURATION seconds apart. node-opcua is far slower than Ironbridge: when
# the rate falls short of the offered load, the servers are the limit (add
# servers on a machine with more cores rather than tags per server).
# Every process binds or connects to 127.0.0.1 only, every process started here
# is stopped by PID, and every wait is bounded in time.
#
# Environment:
#   IRONBRIDGE_BIN   the ironbridge binary                  [build-release/ironbridge]
#   SERVERS          node-opcua servers                    [4]
#   TAGS             variables per server                  [500]
#   DURATION         measured seconds                      [20]
#   WARMUP           seconds before measuring              [5]
set -euo pipefail

IRONBRIDGE_BIN=${IRONBRIDGE_BIN:-build-release/ironbridge}
SERVERS=${SERVERS:-4}
TAGS=${TAGS:-500}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-5}
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=python3

here=$(cd "$(dirname "$0")" && pwd)
peer_dir=$here/../tests/peers/opcua
[[ -d $peer_dir/node_modules/node-opcua ]] || { echo "opcua.sh: run scripts/install-deps.sh first" >&2; exit 1; }
[[ -x $IRONBRIDGE_BIN ]] || { echo "opcua.sh: no $IRONBRIDGE_BIN (set IRONBRIDGE_BIN)" >&2; exit 1; }
IRONBRIDGE_BIN=$(cd "$(dirname "$IRONBRIDGE_BIN")" && pwd)/$(basename "$IRONBRIDGE_BIN")

work=$(mktemp -d /tmp/ib-opcua-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  [[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

free_port() { $PYTHON -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Bounded wait for a line in a file.
wait_for_line() {  # file pattern seconds
  for _ in $(seq $(($3 * 10))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "opcua.sh: no '$2' in $1 within $3 s" >&2; cat "$1" >&2; return 1
}

ports=()
for i in $(seq "$SERVERS"); do
  port=$(free_port)
  OPCUA_PEER_BENCH=$TAGS node "$peer_dir/server.js" "$port" "$work/pki$i" >"$work/server$i.log" 2>&1 &
  pids+=($!)
  ports+=("$port")
done
for i in $(seq "$SERVERS"); do wait_for_line "$work/server$i.log" READY 120; done

mqtt_port=$(free_port)
api_port=$(free_port)
{
  echo "data_dir = \"$work/data\""
  echo "[log]"; echo 'level = "warn"'
  echo "[[broker.listeners]]"; echo 'name = "default"'; echo 'bind = "127.0.0.1"'; echo "port = $mqtt_port"
  echo "[api]"; echo "enabled = true"; echo 'bind = "127.0.0.1"'; echo "port = $api_port"
  for i in $(seq "$SERVERS"); do
    echo "[[devices]]"; echo "name = \"ua$i\""; echo 'driver = "opcua"'
    echo "endpoint = \"opc.tcp://127.0.0.1:${ports[$((i - 1))]}/UA/Ironbridge\""; echo 'security_policy = "None"'
    echo "timeout_ms = 5000"
    echo "[[devices.groups]]"; echo 'name = "g"'; echo "interval_ms = 100"
    for t in $(seq 0 $((TAGS - 1))); do
      echo "[[devices.groups.tags]]"; echo "name = \"b$t\""; echo "address = \"ns=1;s=B.$t\""; echo 'type = "uint32"'
    done
  done
} >"$work/ironbridge.toml"
"$IRONBRIDGE_BIN" run -c "$work/ironbridge.toml" >"$work/ironbridge.log" 2>&1 &
ib=$!
pids+=("$ib")

notifications() {
  curl -s --max-time 5 "http://127.0.0.1:$api_port/metrics" |
    awk '/^ib_device_notifications_total/ { n += $NF } END { printf "%d\n", n }'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$ib/stat"; }

sleep "$WARMUP"
n0=$(notifications); c0=$(cpu_ticks); t0=$(date +%s.%N)
sleep "$DURATION"
n1=$(notifications); c1=$(cpu_ticks); t1=$(date +%s.%N)
hz=$(getconf CLK_TCK)

$PYTHON - "$n0" "$n1" "$c0" "$c1" "$t0" "$t1" "$hz" "$SERVERS" "$TAGS" <<'EOF'
import sys
n0, n1, c0, c1 = (int(x) for x in sys.argv[1:5])
t0, t1 = float(sys.argv[5]), float(sys.argv[6])
hz, servers, tags = int(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9])
n, secs, cpu = n1 - n0, t1 - t0, (c1 - c0) / hz
print("| servers | tags | offered changes/s | notifications/s | Ironbridge CPU | CPU ms per 10,000 notifications |")
print("|---|---|---|---|---|---|")
per = cpu * 1000 * 10000 / n if n else float("nan")
print("| %d | %d | %d | %.0f | %.0f %% of a core | %.1f |" % (
    servers, servers * tags, servers * tags * 10, n / secs, 100 * cpu / secs, per))
EOF
grep -E "warn|error" "$work/ironbridge.log" | head -5 || true
