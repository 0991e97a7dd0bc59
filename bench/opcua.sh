#!/usr/bin/env bash
# OPC UA collection (issue 13): the driver's figures against node-opcua servers
# (tests/peers/opcua/server.js in its bench mode, OPCUA_PEER_BENCH variables
# B.0..B.n-1 under ns=1). MODE picks the figure:
#
#   notifications  SERVERS servers each hold TAGS variables that change every
#                  100 ms; one opcua device per server subscribes to all of
#                  them (one group, 100 ms), so the offered load is SERVERS ×
#                  TAGS × 10 changes per second. After WARMUP seconds,
#                  Ironbridge's user+system CPU time (/proc/<pid>/stat) and its
#                  notifications counter (/metrics) are read twice, DURATION
#                  seconds apart. When the rate falls short of the offered
#                  load, the servers are the limit, not Ironbridge.
#   memory         for each count in ITEMS, one server with that many variables
#                  that never change, and Ironbridge subscribed to all of them
#                  (1 s); once every item's first value has arrived and
#                  SETTLE seconds passed, its VmRSS and RssAnon. 0 = no device.
#                  The cost per item is the slope between the counts.
#                  HISTORY=off leaves out the history store, whose JSON parser
#                  keeps room for the largest reading it was given.
#   poll           one server with TAGS variables, one group polling them all
#                  every INTERVAL_MS (Reads of the server's MaxNodesPerRead,
#                  500 when it gives none): the duration of each poll
#                  (ib_device_last_poll_seconds, sampled every second) and
#                  Ironbridge's CPU time per poll over DURATION seconds.
#   first-value    one server with TAGS variables; the time from Ironbridge's
#                  start to the first value of every one of them through a
#                  subscription (the notifications counter reaching TAGS,
#                  read every 20 ms), and the CPU it took until then.
#   heap           where memory's bytes per item go: as memory, for one count
#                  (the first of ITEMS), with Ironbridge run under heaptrack
#                  (Debian's, a developer tool: apt-get install heaptrack) and
#                  killed (SIGKILL) SETTLE seconds after the last first value,
#                  so what heaptrack calls leaked is the heap live at that
#                  moment; summed by the two innermost project frames of each
#                  stack, with bytes per item. Run it at 0 too: the sites that
#                  do not grow are the baseline.
#
# Every process binds or connects to 127.0.0.1 only, every process started here
# is stopped by PID, and every wait is bounded in time.
#
# Environment:
#   IRONBRIDGE_BIN   the ironbridge binary                 [build-release/ironbridge]
#   MODE             notifications|memory|heap|poll|first-value [notifications]
#   SERVERS          node-opcua servers (notifications)    [4]
#   TAGS             variables per server                  [500; poll 10000; first-value 1000]
#   ITEMS            monitored item counts (memory, heap)  ["0 10000 50000"]
#   TOP              allocation sites listed (heap)        [15]
#   INTERVAL_MS      poll interval (poll)                  [2000]
#   DURATION         measured seconds                      [20]
#   WARMUP           seconds before measuring              [5]
#   SETTLE           seconds after the last first value    [5]
#   HISTORY          on|off: the history store (data_dir/history.db) [on]
set -euo pipefail

IRONBRIDGE_BIN=${IRONBRIDGE_BIN:-build-release/ironbridge}
MODE=${MODE:-notifications}
SERVERS=${SERVERS:-4}
case $MODE in
    poll) TAGS=${TAGS:-10000} ;;
    first-value) TAGS=${TAGS:-1000} ;;
    *) TAGS=${TAGS:-500} ;;
esac
ITEMS=${ITEMS:-0 10000 50000}
INTERVAL_MS=${INTERVAL_MS:-2000}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-5}
SETTLE=${SETTLE:-5}
HISTORY=${HISTORY:-on}
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=python3

here=$(cd "$(dirname "$0")" && pwd)
peer_dir=$here/../tests/peers/opcua
[[ -d $peer_dir/node_modules/node-opcua ]] || { echo "opcua.sh: run scripts/install-deps.sh first" >&2; exit 1; }
[[ -x $IRONBRIDGE_BIN ]] || { echo "opcua.sh: no $IRONBRIDGE_BIN (set IRONBRIDGE_BIN)" >&2; exit 1; }
IRONBRIDGE_BIN=$(cd "$(dirname "$IRONBRIDGE_BIN")" && pwd)/$(basename "$IRONBRIDGE_BIN")

WORK=$(mktemp -d /tmp/ib-opcua-bench.XXXXXX)
PIDS=()
# shellcheck source=bench/processes.sh
source "$here/processes.sh"

# Bounded wait for a line in a file.
wait_for_line() {  # file pattern seconds
    local i
    for ((i = 0; i < $3 * 10; i++)); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "opcua.sh: no '$2' in $1 within $3 s" >&2
    cat "$1" >&2
    return 1
}

# start_server NAME VARIABLES [still]: a node-opcua server in the background
# on port $server_port (not in a subshell: PIDS must keep its PID). `still`:
# its variables never change.
server_port=""
start_server() {
    local name=$1 count=$2 still=${3:-}
    server_port=$(free_port)
    OPCUA_PEER_BENCH=$count OPCUA_PEER_BENCH_STILL=$still \
        node "$peer_dir/server.js" "$server_port" "$WORK/pki-$name" >"$WORK/server-$name.log" 2>&1 &
    PIDS+=($!)
}

# ironbridge_config FILE INTERVAL_MS MODE PORT:TAGS...: one device per server.
ironbridge_config() {
    local file=$1 interval=$2 mode=$3 i=0 spec port count t
    shift 3
    {
        echo "data_dir = \"$WORK/data\""
        echo "[log]"; echo 'level = "warn"'
        echo "[[broker.listeners]]"; echo 'name = "default"'; echo 'bind = "127.0.0.1"'; echo "port = $(free_port)"
        echo "[api]"; echo "enabled = true"; echo 'bind = "127.0.0.1"'; echo "port = $api_port"
        if [[ $HISTORY == off ]]; then echo "[history]"; echo "enabled = false"; fi
        for spec in "$@"; do
            port=${spec%%:*} count=${spec##*:} i=$((i + 1))
            echo "[[devices]]"; echo "name = \"ua$i\""; echo 'driver = "opcua"'
            echo "endpoint = \"opc.tcp://127.0.0.1:$port/UA/Ironbridge\""; echo 'security_policy = "None"'
            echo "timeout_ms = 10000"
            echo "[[devices.groups]]"; echo 'name = "g"'; echo "interval_ms = $interval"; echo "mode = \"$mode\""
            for ((t = 0; t < count; t++)); do
                echo "[[devices.groups.tags]]"; echo "name = \"b$t\""; echo "address = \"ns=1;s=B.$t\""; echo 'type = "uint32"'
            done
        done
    } >"$file"
}

ib=""
start_ironbridge() {
    rm -rf "$WORK/data"
    "$IRONBRIDGE_BIN" run -c "$WORK/ironbridge.toml" >"$WORK/ironbridge.log" 2>&1 &
    ib=$!
    PIDS+=("$ib")
}

# The same under heaptrack (its data in $WORK/heap*.zst); ib is Ironbridge
# itself, the wrapper's child, so /proc and the kill reach it.
start_ironbridge_heaptrack() {
    local wrapper i
    rm -rf "$WORK/data"
    heaptrack -o "$WORK/heap" "$IRONBRIDGE_BIN" run -c "$WORK/ironbridge.toml" >"$WORK/ironbridge.log" 2>&1 &
    wrapper=$!
    PIDS+=("$wrapper")
    for ((i = 0; i < 100; i++)); do
        ib=$(pgrep -P "$wrapper" -x "$(basename "$IRONBRIDGE_BIN" | cut -c1-15)" || true)
        [[ -n $ib ]] && return 0
        sleep 0.1
    done
    echo "opcua.sh: ironbridge did not start under heaptrack" >&2
    return 1
}

metric_sum() {  # name: the sum over its series, 0 while the API is not up
    curl -s --max-time 5 "http://127.0.0.1:$api_port/metrics" 2>/dev/null |
        awk -v m="$1" '$1 ~ "^"m"({|$)" { n += $NF } END { printf "%.6f\n", n }'
}
notifications() { metric_sum ib_device_notifications_total | cut -d. -f1; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$ib/stat"; }
status_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$ib/status"; }
hz=$(getconf CLK_TCK)

# Bounded wait for the notifications counter to reach $1 (every item's first value).
wait_notifications() {
    local want=$1 seconds=$2 i
    for ((i = 0; i < seconds * 10; i++)); do
        (($(notifications) >= want)) && return 0
        kill -0 "$ib" 2>/dev/null || { echo "opcua.sh: ironbridge ended" >&2; cat "$WORK/ironbridge.log" >&2; return 1; }
        sleep 0.1
    done
    echo "opcua.sh: only $(notifications) of $want first values within $seconds s" >&2
    return 1
}

stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    PIDS=()
}

api_port=$(free_port)
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# A server of ITEMS variables that never change (none for 0), named TAG, and
# the node's config subscribing to all of them: the memory modes' set-up.
serve_still_items() {  # TAG ITEMS
    local tag=$1 items=$2 specs=()
    if ((items > 0)); then
        start_server "$tag" "$items" still
        specs+=("$server_port:$items")
        wait_for_line "$WORK/server-$tag.log" READY 300
    fi
    ironbridge_config "$WORK/ironbridge.toml" 1000 subscribe "${specs[@]}"
}

case $MODE in
notifications)
    specs=()
    for ((i = 1; i <= SERVERS; i++)); do
        start_server "s$i" "$TAGS"
        specs+=("$server_port:$TAGS")
    done
    for ((i = 1; i <= SERVERS; i++)); do wait_for_line "$WORK/server-s$i.log" READY 120; done
    ironbridge_config "$WORK/ironbridge.toml" 100 subscribe "${specs[@]}"
    start_ironbridge
    sleep "$WARMUP"
    n0=$(notifications) c0=$(cpu_ticks) t0=$(date +%s.%N)
    sleep "$DURATION"
    n1=$(notifications) c1=$(cpu_ticks) t1=$(date +%s.%N)
    $PYTHON - "$n0" "$n1" "$c0" "$c1" "$t0" "$t1" "$hz" "$SERVERS" "$TAGS" <<'EOF'
import sys
n0, n1, c0, c1 = (int(x) for x in sys.argv[1:5])
t0, t1 = float(sys.argv[5]), float(sys.argv[6])
hz, servers, tags = int(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9])
n, secs, cpu = n1 - n0, t1 - t0, (c1 - c0) / hz
per = cpu * 1000 * 10000 / n if n else float("nan")
print("| servers | tags | offered changes/s | notifications/s | Ironbridge CPU | CPU ms per 10,000 notifications | one core at that cost |")
print("|---|---|---|---|---|---|---|")
print("| %d | %d | %d | %.0f | %.0f %% of a core | %.1f | %.0f/s |" % (
    servers, servers * tags, servers * tags * 10, n / secs, 100 * cpu / secs, per, 10000 * 1000 / per if n else 0))
EOF
    ;;
memory)
    echo "| monitored items | VmRSS KB | RssAnon KB | first values after s |"
    echo "|---|---:|---:|---:|"
    for items in $ITEMS; do
        serve_still_items m "$items"
        t0=$(date +%s.%N)
        start_ironbridge
        wait_notifications "$items" 600
        t1=$(date +%s.%N)
        sleep "$SETTLE"
        echo "| $items | $(status_kb VmRSS) | $(status_kb RssAnon) | $(echo "$t1 - $t0" | bc) |"
        stop_all
        rm -rf "$WORK/pki-m"
    done
    ;;
heap)
    command -v heaptrack >/dev/null || { echo "opcua.sh: MODE=heap needs heaptrack (apt-get install heaptrack)" >&2; exit 1; }
    items=${ITEMS%% *}
    serve_still_items h "$items"
    start_ironbridge_heaptrack
    wait_notifications "$items" 600
    sleep "$SETTLE"
    echo "items $items, history $HISTORY: RssAnon $(status_kb RssAnon) kB (under heaptrack)"
    wrapper=${PIDS[-1]}
    kill -KILL "$ib"
    for ((i = 0; i < 600; i++)); do kill -0 "$wrapper" 2>/dev/null || break; sleep 0.1; done
    heaptrack_print -f "$WORK"/heap*.zst --flamegraph-cost-type leaked -F "$WORK/live.fg" >/dev/null 2>&1
    $PYTHON - "$WORK/live.fg" "$items" "${TOP:-15}" <<'EOF'
import collections, re, sys
path, items, top = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sites = collections.Counter()
for line in open(path):
    stack, _, n = line.rstrip("\n").rpartition(" ")
    if int(n) == 0:
        continue
    ours = []
    for frame in stack.split(";"):
        m = re.search(r"\(([\w.+-]+\.(?:cpp|hpp))\)$", frame)
        if m and not m.group(1).startswith("toml"):
            name = re.sub(r"\(.*", "", frame[:m.start()].strip())
            ours.append(name.split("::")[-1][-40:] + "@" + m.group(1))
    sites[" < ".join(reversed(ours[-2:])) or stack.split(";")[-1][:60]] += int(n)
total = sum(sites.values())
per = lambda n: "%.0f" % (n / items) if items else "-"
print("| live heap, by site (innermost project frames) | bytes | per item |")
print("|---|---:|---:|")
for site, n in sites.most_common(top):
    print("| %s | %d | %s |" % (site, n, per(n)))
print("| total | %d | %s |" % (total, per(total)))
EOF
    ;;
poll)
    start_server p "$TAGS" still
    wait_for_line "$WORK/server-p.log" READY 300
    ironbridge_config "$WORK/ironbridge.toml" "$INTERVAL_MS" poll "$server_port:$TAGS"
    start_ironbridge
    sleep "$WARMUP"
    p0=$(metric_sum ib_device_polls_total) c0=$(cpu_ticks) e0=$(metric_sum ib_device_tag_errors_total)
    durations=()
    for ((s = 0; s < DURATION; s++)); do
        sleep 1
        durations+=("$(metric_sum ib_device_last_poll_seconds)")
    done
    p1=$(metric_sum ib_device_polls_total) c1=$(cpu_ticks)
    errors=$(echo "$(metric_sum ib_device_tag_errors_total) - $e0" | bc)
    $PYTHON - "$p0" "$p1" "$c0" "$c1" "$hz" "$TAGS" "$INTERVAL_MS" "$errors" "${durations[@]}" <<'EOF'
import statistics, sys
p0, p1 = float(sys.argv[1]), float(sys.argv[2])
c0, c1, hz, tags, interval = (int(x) for x in sys.argv[3:8])
errors = float(sys.argv[8])
durations = [float(x) for x in sys.argv[9:] if float(x) > 0]
polls = p1 - p0
print("| nodes | interval | polls | poll duration, median (min-max) | Ironbridge CPU per poll | tag errors in the window |")
print("|---|---|---|---|---|---|")
print("| %d | %d ms | %d | %.0f ms (%.0f-%.0f) | %.1f ms | %d |" % (
    tags, interval, polls, 1000 * statistics.median(durations), 1000 * min(durations), 1000 * max(durations),
    1000 * (c1 - c0) / hz / polls if polls else float("nan"), errors))
EOF
    ;;
first-value)
    start_server f "$TAGS" still
    wait_for_line "$WORK/server-f.log" READY 300
    ironbridge_config "$WORK/ironbridge.toml" 100 subscribe "$server_port:$TAGS"
    t0=$(date +%s.%N)
    start_ironbridge
    for ((i = 0; i < 3000; i++)); do
        (($(notifications) >= TAGS)) && break
        sleep 0.02
    done
    t1=$(date +%s.%N)
    c=$(cpu_ticks)
    (($(notifications) >= TAGS)) || { echo "opcua.sh: not every first value within the bound" >&2; exit 1; }
    echo "| subscribed tags | start to every first value | Ironbridge CPU until then |"
    echo "|---|---:|---:|"
    echo "| $TAGS | $(echo "($t1 - $t0) * 1000 / 1" | bc) ms | $((c * 1000 / hz)) ms |"
    ;;
*)
    echo "opcua.sh: MODE is notifications, memory, heap, poll or first-value" >&2
    exit 2
    ;;
esac
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -E "warn|error" "$WORK/ironbridge.log" | head -5 || true
