#!/usr/bin/env bash
# Mixed load (issue 12): what a plant's node carries at once, and what it costs
# the MQTT clients. One Ironbridge runs DEVICES simulated devices of TAGS tags
# each, polled every INTERVAL_MS (history on, as by default), RULES simple
# filter rules on those readings, and a bridge forwarding every reading at QoS 1
# to a Mosquitto upstream started here; meanwhile `ironbridge bench` runs 16→16
# QoS 1 at RATE msg/s and reports the clients' latency. The same clients run
# first against the node with nothing else configured (the idle figure).
#
# Prints, per case: the clients' p50/p99/p999 and delivered rate, each thread's
# CPU share over the measured window (ib-loop-N threads are event loops; the
# log's "loops:" line says which are shards and what runs on the others; the
# main thread is loop 0), and what was dropped (/metrics counters). Everything
# binds and connects to 127.0.0.1 only; every process is stopped by PID.
#
# Environment:
#   IRONBRIDGE_BIN  the ironbridge binary                         [build/ironbridge]
#   DEVICES TAGS INTERVAL_MS RULES   the load                      [10 1000 100 100]
#   RATE DURATION WARMUP             the clients                  [10000 10 3]
#   CASES           which cases to run: idle, mixed                [idle mixed]
#   EXTRA_TOML      lines appended to the node's config (e.g. service_loops = 2)
#   HISTORY_NICE    renice the history's writer thread (ib-history) to this
#                   before the clients start (an experiment; unset: as it runs)
set -euo pipefail

IRONBRIDGE_BIN=${IRONBRIDGE_BIN:-build/ironbridge}
DEVICES=${DEVICES:-10}
TAGS=${TAGS:-1000}
INTERVAL_MS=${INTERVAL_MS:-100}
RULES=${RULES:-100}
RATE=${RATE:-10000}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CASES=${CASES:-"idle mixed"}
EXTRA_TOML=${EXTRA_TOML:-}
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=python3

die() { echo "mixed.sh: $*" >&2; exit 1; }
command -v "$IRONBRIDGE_BIN" >/dev/null || die "IRONBRIDGE_BIN=$IRONBRIDGE_BIN not found"
command -v mosquitto >/dev/null || die "mosquitto not found (apt-get install mosquitto)"

WORK=$(mktemp -d /tmp/ib-mixed.XXXXXX)
PIDS=()
# shellcheck source=bench/processes.sh
source "$(dirname "${BASH_SOURCE[0]}")/processes.sh"

# Per-thread utime+stime (clock ticks) of a process: "tid name ticks" lines.
thread_ticks() {
    local pid=$1 t
    for t in /proc/"$pid"/task/*; do
        [[ -r $t/stat ]] || continue
        awk -v tid="${t##*/}" '{ s = $0; sub(/^[^(]*\(/, "", s); name = s; sub(/\).*$/, "", name);
             sub(/^[^)]*\) /, "", s); split(s, f, " "); print tid, name, f[12] + f[13] }' "$t/stat"
    done
}

metric() {  # sums a metric family (with any labels) from /metrics
    curl -s "http://127.0.0.1:$API_PORT/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { print s + 0 }'
}

run_case() {
    local kind=$1
    local mqtt api up dir
    mqtt=$(free_port)
    api=$(free_port)
    API_PORT=$api
    dir=$WORK/$kind
    mkdir -p "$dir/data"
    up=""
    if [[ $kind == mixed ]]; then
        up=$(free_port)
        printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$up" >"$dir/mosquitto.conf"
        mosquitto -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
        PIDS+=("$!")
        wait_port "$up" "$!" || die "mosquitto did not start"
    fi
    "$PYTHON" - "$dir/ironbridge.toml" "$dir/data" "$mqtt" "$api" "$kind" "$DEVICES" "$TAGS" "$INTERVAL_MS" \
        "$RULES" "$up" "$EXTRA_TOML" <<'EOF'
import sys
path, data, mqtt, api, kind, devices, tags, interval, rules, up, extra = sys.argv[1:12]
out = ['data_dir = "%s"' % data, extra, "", "[log]", 'level = "info"', "",
       "[[broker.listeners]]", 'name = "bench"', 'bind = "127.0.0.1"', "port = %s" % mqtt, "",
       "[api]", 'bind = "127.0.0.1"', "port = %s" % api, ""]
if kind == "mixed":
    for d in range(int(devices)):
        out += ["[[devices]]", 'name = "sim%d"' % d, 'driver = "sim"', "",
                "[[devices.groups]]", 'name = "g"', "interval_ms = %s" % interval, ""]
        for t in range(int(tags)):
            out += ["[[devices.groups.tags]]", 'name = "t%d"' % t,
                    'address = "sine:period=%d,amplitude=10"' % (10 + t % 50), 'type = "float64"', ""]
    for r in range(int(rules)):
        # A simple filter that keeps nothing: what it costs is reading the message.
        out += ["[[rules]]", 'id = "r%d"' % r,
                'sql = "SELECT values.t%d AS v FROM \\"ib/data/+/g\\" WHERE values.t%d > 1000"' % (r % int(tags), r % int(tags)),
                "[[rules.actions]]", 'publish = { topic = "alarm/%d" }' % r, ""]
    out += ["[[bridges]]", 'name = "cloud"', 'servers = ["127.0.0.1:%s"]' % up, "",
            "[[bridges.forwards]]", 'local = "ib/data/#"', "qos = 1", ""]
open(path, "w").write("\n".join(out))
EOF
    "$IRONBRIDGE_BIN" check-config "$dir/ironbridge.toml" >/dev/null || die "the generated config was refused"
    "$IRONBRIDGE_BIN" run -c "$dir/ironbridge.toml" >"$dir/ironbridge.log" 2>&1 &
    local ib=$!
    PIDS+=("$ib")
    wait_port "$mqtt" "$ib" || { tail -5 "$dir/ironbridge.log" >&2; die "ironbridge did not start"; }
    sleep "$WARMUP"
    if [[ -n ${HISTORY_NICE:-} ]]; then
        local t
        for t in /proc/"$ib"/task/*; do
            [[ $(cat "$t/comm" 2>/dev/null) == ib-history ]] && renice -n "$HISTORY_NICE" -p "${t##*/}" >/dev/null
        done
    fi
    local before after hz
    hz=$(getconf CLK_TCK)
    before=$(thread_ticks "$ib")
    local drops0
    drops0=$(metric ib_history_dropped_points_total)/$(metric ib_history_dropped_readings_total),$(metric ib_mqtt_messages_dropped_total),$(metric ib_bridge_messages_dropped_total)
    local gen
    gen=$("$IRONBRIDGE_BIN" bench --port "$mqtt" --mode pubsub --pubs 16 --subs 16 --qos 1 --total-rate "$RATE" \
        --topic "lat/%i" --sub-topic "lat/%i" --duration "$DURATION" --warmup 1 --json) || true
    after=$(thread_ticks "$ib")
    local drops1
    drops1=$(metric ib_history_dropped_points_total)/$(metric ib_history_dropped_readings_total),$(metric ib_mqtt_messages_dropped_total),$(metric ib_bridge_messages_dropped_total)
    local readings
    readings=$(metric ib_history_points_total)
    echo "### $kind"
    echo "$gen" | "$PYTHON" -c '
import json, sys
r = json.loads(sys.stdin.read() or "{}")
print("clients 16→16 QoS 1: p50 %.0f µs, p99 %.0f µs, p999 %.0f µs; delivered %.0f msg/s (sent %.0f), lost %s" % (
    r.get("p50_us", 0), r.get("p99_us", 0), r.get("p999_us", 0), r.get("recv_per_s", 0), r.get("sent_per_s", 0), r.get("lost", "?")))'
    echo "history points written so far: $readings; dropped during the window (history points/readings, mqtt, bridge): $drops0 -> $drops1;" \
        "the idle writer's work taken over at normal priority: $(metric ib_history_writer_rescues_total) times"
    # Bytes the process wrote through write()/pwrite() since start (WAL frames,
    # checkpoints, the bridge's queue), per history point.
    awk -v n="$readings" '/^wchar:/ { if (n > 0) printf "written by the process: %.0f bytes per history point\n", $2 / n }' /proc/"$ib"/io
    grep -m1 "loops:" "$dir/ironbridge.log" || true
    # The history writer's transactions since start, by kind (HistoryTimes): how
    # many, their mean wall time, and how many held the thread over 5 and 20 ms.
    curl -s "http://127.0.0.1:$API_PORT/metrics" | awk '
        /^ib_history_transaction_seconds_(count|sum|bucket)/ {
            match($1, /kind="[a-z]+"/); k = substr($1, RSTART + 6, RLENGTH - 7)
            if ($1 ~ /_count/) n[k] = $2; else if ($1 ~ /_sum/) s[k] = $2
            else if ($1 ~ /le="0.005"/) le5[k] = $2; else if ($1 ~ /le="0.02"/) le20[k] = $2 }
        END { line = "history transactions:"
              for (k in n) if (n[k] > 0) line = line sprintf(" %s %d (mean %.1f ms, >5 ms %d, >20 ms %d);", k, n[k], s[k] / n[k] * 1e3, n[k] - le5[k], n[k] - le20[k])
              print line }'
    "$PYTHON" - "$hz" "$DURATION" "$ib" <<EOF
import sys
hz, dur, pid = float(sys.argv[1]), float(sys.argv[2]) + 1, sys.argv[3]
def parse(text):
    d = {}
    for line in text.strip().splitlines():
        tid, name, ticks = line.rsplit(" ", 2)[0].split(" ", 1)[0], line.split(" ", 1)[1].rsplit(" ", 1)[0], line.rsplit(" ", 1)[1]
        d[tid] = (name, float(ticks))
    return d
a, b = parse("""$before"""), parse("""$after""")
rows = []
for tid, (name, t1) in b.items():
    t0 = a.get(tid, (name, 0.0))[1]
    share = (t1 - t0) / hz / dur * 100
    if share >= 0.5:
        rows.append((share, ("main (loop 0)" if tid == pid else name)))
print("threads busy (% of one core over the window): " + ", ".join("%s %.0f%%" % (n, s) for s, n in sorted(rows, reverse=True)))
EOF
    echo
    stop_pid "$ib"
    if [[ -n $up ]]; then stop_pid "${PIDS[-2]}"; fi
}

cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
echo "Machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, Linux $(uname -r)"
echo "Load: $DEVICES sim devices x $TAGS tags every $INTERVAL_MS ms, $RULES rules, history on, a bridge to Mosquitto; clients 16→16 QoS 1 at $RATE msg/s for $DURATION s"
echo
for c in $CASES; do run_case "$c"; done
