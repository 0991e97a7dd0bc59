#!/usr/bin/env bash
# The fleet at scale (issue 15): EDGES Ironbridge processes on this machine,
# each a small node (a simulated device of 10 tags, a bridge to one Mosquitto
# started here as the cloud broker, a [fleet] table), and `ironbridge fleet push`
# of a one-rule template to all of them. Needs the fleet edge side (the
# fleet-edge branch): without it the first edge refuses its [fleet] table.
#
# Prints: the time from the push to every edge confirmed (the controller's own
# wall time, connect and retained states included; each edge's probe window,
# PROBE_S, is part of it), the table's last line, and the resident memory per
# edge (VmRSS: mean and max) before and after the push. Everything binds and
# connects to 127.0.0.1 only; every process is stopped by PID.
#
# Environment:
#   IRONBRIDGE_BIN  the ironbridge binary                       [build/ironbridge]
#   EDGES           how many edge processes                      [20]
#   PROBE_S         each edge's fleet.probe_window                [2]
#   TIMEOUT_S       the push's --timeout                          [300]
set -euo pipefail

IRONBRIDGE_BIN=${IRONBRIDGE_BIN:-build/ironbridge}
EDGES=${EDGES:-20}
PROBE_S=${PROBE_S:-2}
TIMEOUT_S=${TIMEOUT_S:-300}
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=python3

die() { echo "fleet.sh: $*" >&2; exit 1; }
command -v "$IRONBRIDGE_BIN" >/dev/null || die "IRONBRIDGE_BIN=$IRONBRIDGE_BIN not found"
command -v mosquitto >/dev/null || die "mosquitto not found (apt-get install mosquitto)"
IRONBRIDGE_BIN=$(realpath "$IRONBRIDGE_BIN")

WORK=$(mktemp -d /tmp/ib-fleet.XXXXXX)
PIDS=()
# shellcheck source=bench/processes.sh
source "$(dirname "${BASH_SOURCE[0]}")/processes.sh"

rss_kib() {  # mean and max VmRSS of the edges, in KiB
    local pid total=0 max=0 v n=0
    for pid in "${EDGE_PIDS[@]}"; do
        v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
        total=$((total + v)); n=$((n + 1))
        ((v > max)) && max=$v
    done
    echo "mean $((total / n)) KiB, max $max KiB"
}

CLOUD_PORT=$(free_port)
mkdir -p "$WORK/cloud"
printf 'listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n' "$CLOUD_PORT" \
    >"$WORK/cloud/mosquitto.conf"
mosquitto -c "$WORK/cloud/mosquitto.conf" >"$WORK/cloud/log" 2>&1 &
PIDS+=($!)
sleep 0.3

EDGE_PIDS=()
for ((i = 1; i <= EDGES; i++)); do
    name=$(printf 'e-%03d' "$i")
    dir="$WORK/$name"
    mkdir -p "$dir"
    { bench_node_toml "$dir" 0; cat <<EOF; } >"$dir/ironbridge.toml"

[[devices]]
name = "sim"
driver = "sim"
[[devices.groups]]
name = "fast"
interval_ms = 1000
$(for t in 0 1 2 3 4 5 6 7 8 9; do printf '[[devices.groups.tags]]\nname = "t%d"\naddress = "sine:period=60"\ntype = "float32"\n' "$t"; done)

[[bridges]]
name = "cloud"
servers = ["127.0.0.1:$CLOUD_PORT"]
client_id = "bench-$name"

[fleet]
site = "bench"
edge = "$name"
bridge = "cloud"
probe_window = $PROBE_S
EOF
    "$IRONBRIDGE_BIN" check-config "$dir/ironbridge.toml" >/dev/null 2>"$dir/check.log" ||
        die "$name: configuration refused (does this binary have the fleet edge side?): $(head -1 "$dir/check.log")"
    "$IRONBRIDGE_BIN" run -c "$dir/ironbridge.toml" >"$dir/log" 2>&1 &
    PIDS+=($!)
    EDGE_PIDS+=($!)
done

fleet() { "$IRONBRIDGE_BIN" fleet --broker "127.0.0.1:$CLOUD_PORT" "$@"; }

# Every edge online, as the controller sees it (bounded: 60 s).
for ((i = 0; i < 120; i++)); do
    online=$(fleet list 2>/dev/null | awk '/ edges, / { print $3 }')
    [[ ${online:-0} -ge $EDGES ]] && break
    sleep 0.5
done
[[ ${online:-0} -ge $EDGES ]] || die "only ${online:-0} of $EDGES edges online after 60 s"
echo "edges: $EDGES online; RSS before the push: $(rss_kib)"

cp "$(dirname "${BASH_SOURCE[0]}")"/fleet-template.toml "$WORK/template.toml"

start=$(date +%s.%N)
set +e
fleet --timeout "$TIMEOUT_S" push "$WORK/template.toml" --targets 'bench/*' >"$WORK/push.out" 2>"$WORK/push.err"
rc=$?
set -e
end=$(date +%s.%N)
echo "push to $EDGES edges: $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }') s until every edge" \
     "answered (probe window $PROBE_S s), exit $rc: $(tail -1 "$WORK/push.out")"
echo "RSS after the push: $(rss_kib)"
[[ $rc -eq 0 ]] || { cat "$WORK/push.out" "$WORK/push.err" >&2; exit 1; }
