#!/usr/bin/env bash
# Store and forward (issue 6): Ironbridge's bridge beside Mosquitto's own bridge,
# measured in the same run, printed as one markdown table. Each run starts an
# "edge" broker (Ironbridge with a [[bridges]] table, or Mosquitto with a
# `connection` section) and a Mosquitto "cloud" broker it forwards `bench/#` to
# as `factory1/bench/#`, QoS 1:
#   (a) live forwarding at max rate: publishers on the edge, one subscriber on
#       the cloud (`ironbridge bench --sub-port`), delivered msgs/s;
#   (b) latency publish on the edge → receipt on the cloud at 10,000 msg/s;
#   (c) drain: the cloud stopped, BACKLOG messages of 100 B published to the
#       edge, the cloud restarted with the subscriber's persistent session
#       already there, time until the subscriber has them all;
#   (d) disk bytes per queued message, read at the full backlog of (c).
# Every process binds or connects to 127.0.0.1 only, every process started here
# is stopped by PID, and every wait is bounded in time.
#
# Environment:
#   IRONBRIDGE_BIN   the ironbridge binary (edge broker and generator) [build-release/ironbridge]
#   MOSQUITTO_BIN    the mosquitto binary                               [mosquitto]
#   RUNS             runs per scenario and edge, interleaved            [3]
#   DURATION         measured seconds per run of (a) and (b)            [5]
#   WARMUP           seconds of load before measuring                   [1]
#   BACKLOG          messages queued for the drain test (c)             [1000000]
#   SCENARIOS        which of "a b c" to run ((d) comes with c)         [a b c]
#   EDGES            which edges to run, for a quick look at one     [ironbridge mosquitto]
#   KEEP_RESULTS     a file to keep the raw JSON results in
set -euo pipefail

IRONBRIDGE_BIN=${IRONBRIDGE_BIN:-build-release/ironbridge}
MOSQUITTO_BIN=${MOSQUITTO_BIN:-mosquitto}
RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
BACKLOG=${BACKLOG:-1000000}
SCENARIOS=${SCENARIOS:-"a b c"}
EDGES=${EDGES:-"ironbridge mosquitto"}
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=python3

# The load: 4 publishers on the edge (topics bench/<tag><i>), 100 B payloads.
PUBS=4
SIZE=100
# (c) publishes with this many mosquitto_pub processes in parallel; each
# sends its share one message at a time (`--repeat`), so the count is exact.
BACKLOG_PUBS=4
DRAIN_CLIENT=ib-bench-drain

die() { echo "bridge.sh: $*" >&2; exit 1; }
command -v "$IRONBRIDGE_BIN" >/dev/null || die "IRONBRIDGE_BIN=$IRONBRIDGE_BIN not found (build it, or set IRONBRIDGE_BIN)"
command -v "$MOSQUITTO_BIN" >/dev/null || die "$MOSQUITTO_BIN not found (apt-get install mosquitto)"
for tool in mosquitto_pub mosquitto_sub curl jq; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install mosquitto-clients curl jq)"
done
[[ $BACKLOG =~ ^[0-9]+$ && $BACKLOG -ge $BACKLOG_PUBS ]] || die "BACKLOG must be a number >= $BACKLOG_PUBS"

WORK=$(mktemp -d /tmp/ib-bridge-bench.XXXXXX)
# Mosquitto started as root drops to the user "mosquitto": it must be able to
# reach its directories, or it runs without its persistence file and log (and
# a subscriber's session would not survive the cloud's restart).
chmod 711 "$WORK"
RESULTS=$WORK/results.jsonl
PIDS=()

# shellcheck source=bench/processes.sh
source "$(dirname "${BASH_SOURCE[0]}")/processes.sh"
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    if [[ -n ${KEEP_RESULTS:-} && -f $RESULTS ]]; then cp "$RESULTS" "$KEEP_RESULTS"; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget_pid() {
    local keep=() p
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}
stop_and_forget() { stop_pid "$1"; forget_pid "$1"; }

free_port() {
    "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
now_us() { echo "${EPOCHREALTIME/./}"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
file_size() { if [[ -f $1 ]]; then stat -c %s "$1"; else echo 0; fi; }

bench() { "$IRONBRIDGE_BIN" bench --host 127.0.0.1 "$@"; }

# wait_for TIMEOUT_S WHAT COMMAND...: runs COMMAND every 20 ms until it
# succeeds; dies after TIMEOUT_S.
wait_for() {
    local timeout=$1 what=$2
    shift 2
    local deadline=$(($(now_us) + timeout * 1000000))
    until "$@"; do
        (($(now_us) < deadline)) || die "timed out after $timeout s waiting for $what"
        sleep 0.02
    done
}

bridge_status() { curl -sf --max-time 2 "http://127.0.0.1:$API_PORT/api/v1/bridges/cloud"; }
backlog_is() { [[ $(bridge_status | jq -r .backlog.messages) == "$1" ]]; }
bridge_connected_is() { [[ $(bridge_status | jq -r .connected) == "$1" ]]; }

# The cloud: Mosquitto with persistence in its own directory, so that a
# subscriber's session and its queued messages survive a restart, and no cap
# on the messages queued for a client (the drain test queues BACKLOG of them).
# Sets CLOUD_PID; CLOUD_DIR and CLOUD_PORT must be set.
start_cloud() {
    cat >"$CLOUD_DIR/mosquitto.conf" <<EOF
listener $CLOUD_PORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $CLOUD_DIR/
max_queued_messages 0
log_dest file $CLOUD_DIR/broker.log
EOF
    "$MOSQUITTO_BIN" -c "$CLOUD_DIR/mosquitto.conf" >>"$CLOUD_DIR/stderr.log" 2>&1 &
    CLOUD_PID=$!
    PIDS+=("$CLOUD_PID")
    bench --mode connack --port "$CLOUD_PORT" --timeout 15 --json >"$CLOUD_DIR/connack.json" ||
        die "the cloud mosquitto did not start: $(tail -3 "$CLOUD_DIR/stderr.log")"
}

# The edge, Ironbridge or Mosquitto, bridged to the cloud. Both queue without
# a cap: Ironbridge's default max_queue_bytes is 1 GiB; Mosquitto needs
# max_queued_messages 0 (its default, 1000, would drop) and cleansession false
# so that what was queued while the link was down is still sent after it.
# Sets EDGE_PID, EDGE_PORT, API_PORT, EDGE_DIR.
start_edge() {
    local kind=$1
    EDGE_DIR=$(mktemp -d "$WORK/edge-$kind.XXXX")
    chmod 777 "$EDGE_DIR"
    EDGE_PORT=$(free_port)
    API_PORT=$(free_port)
    mkdir -p "$EDGE_DIR/data"
    if [[ $kind == ironbridge ]]; then
        cat >"$EDGE_DIR/ironbridge.toml" <<EOF
data_dir = "$EDGE_DIR/data"

[[broker.listeners]]
name = "bench"
bind = "127.0.0.1"
port = $EDGE_PORT

[api]
bind = "127.0.0.1"
port = $API_PORT

[[bridges]]
name = "cloud"
servers = ["127.0.0.1:$CLOUD_PORT"]
reconnect_min_ms = 50
reconnect_max_ms = 500

[[bridges.forwards]]
local = "bench/#"
remote = "factory1/\${topic}"
qos = 1
EOF
        "$IRONBRIDGE_BIN" run -c "$EDGE_DIR/ironbridge.toml" >"$EDGE_DIR/stdout.log" 2>"$EDGE_DIR/stderr.log" &
    else
        # restart_timeout 1: retry every second, not with Mosquitto's default
        # back-off (5 s growing to 30 s), close to Ironbridge's 50-500 ms above.
        cat >"$EDGE_DIR/mosquitto.conf" <<EOF
listener $EDGE_PORT 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
log_dest file $EDGE_DIR/broker.log

connection cloud
address 127.0.0.1:$CLOUD_PORT
remote_clientid ib-bench-edge
cleansession false
restart_timeout 1
topic bench/# out 1 "" factory1/
EOF
        "$MOSQUITTO_BIN" -c "$EDGE_DIR/mosquitto.conf" >"$EDGE_DIR/stdout.log" 2>"$EDGE_DIR/stderr.log" &
    fi
    EDGE_PID=$!
    PIDS+=("$EDGE_PID")
    bench --mode connack --port "$EDGE_PORT" --timeout 15 --json >/dev/null ||
        die "the $kind edge did not start: $(tail -3 "$EDGE_DIR/stderr.log")"
}

# Waits until a message published on the edge arrives on the cloud: the
# bridge is up end to end. The probe payload is shorter than the generator's
# minimum, so a late copy counts as foreign, never as one of ours.
wait_path() {
    local sub i
    mosquitto_sub -h 127.0.0.1 -p "$CLOUD_PORT" -q 1 -t factory1/bench/ready -C 1 -W 20 >/dev/null 2>&1 &
    sub=$!
    PIDS+=("$sub")
    for ((i = 0; i < 90; i++)); do
        kill -0 "$sub" 2>/dev/null || break
        mosquitto_pub -h 127.0.0.1 -p "$EDGE_PORT" -q 1 -t bench/ready -m ready 2>/dev/null || true
        sleep 0.2
    done
    wait "$sub" || die "no message crossed the bridge within 20 s"
    forget_pid "$sub"
}

# Counts the edge's log lines that say something went wrong.
edge_log_problems() {
    cat "$EDGE_DIR"/stderr.log "$EDGE_DIR"/stdout.log "$EDGE_DIR"/broker.log 2>/dev/null |
        grep -ciE 'error|warn|drop|fail' || true
}

edge_status_json() {
    if [[ $1 == ironbridge ]]; then bridge_status || echo '{}'; else echo '{}'; fi
}

record() {  # scenario kind json
    echo "$3" | jq -c --arg s "$1" --arg b "$2" --argjson problems "$(edge_log_problems)" \
        '. + {scenario:$s, broker:$b, log_problems:$problems}' >>"$RESULTS"
}

run_live() {
    local sc=$1 kind=$2 tag="t$RANDOM" out status args=()
    CLOUD_DIR=$(mktemp -d "$WORK/cloud.XXXX")
    chmod 777 "$CLOUD_DIR"
    CLOUD_PORT=$(free_port)
    start_cloud
    start_edge "$kind"
    wait_path
    [[ $kind == ironbridge ]] && wait_for 10 "the probe messages to be acknowledged" backlog_is 0
    # The subscription '#' on the cloud sees exactly what the bridge forwards;
    # it also matches the edge-side topic names, which is how the generator
    # knows every publisher's messages are expected at this subscriber (the
    # bridge adds the factory1/ prefix; the payload names the publisher).
    case $sc in
    # About 20,000 messages in flight over the 4 publishers, as in compare.sh:
    # each edge is measured at the rate it sustains, with loss counted.
    a) args=(--max-backlog 5000) ;;
    b) args=(--total-rate 10000) ;;
    esac
    out=$(bench --port "$EDGE_PORT" --sub-port "$CLOUD_PORT" --mode pubsub --pubs "$PUBS" --subs 1 --qos 1 \
        --size "$SIZE" --topic "bench/$tag%i" --sub-topic '#' --duration "$DURATION" --warmup "$WARMUP" --json \
        "${args[@]}") || echo "warning: scenario $sc on $kind reported a failure: $(echo "$out" | jq -r .error)" >&2
    status=$(edge_status_json "$kind")
    record "$sc" "$kind" "$(echo "$out" | jq -c --argjson st "$status" '. + {bridge:$st}')"
    stop_and_forget "$EDGE_PID"
    stop_and_forget "$CLOUD_PID"
}

run_drain() {
    local kind=$1 i pids=() share t_pub0 t_pub1 rss0 rss1 db wal shm status_full t_up_us drain sub
    local payload
    payload=$(printf 'x%.0s' $(seq 1 "$SIZE"))
    CLOUD_DIR=$(mktemp -d "$WORK/cloud.XXXX")
    chmod 777 "$CLOUD_DIR"
    CLOUD_PORT=$(free_port)
    start_cloud
    start_edge "$kind"
    wait_path
    [[ $kind == ironbridge ]] && wait_for 10 "the probe messages to be acknowledged" backlog_is 0
    # The subscriber's session, created now, so that it exists on the cloud
    # before the bridge reconnects: nothing that arrives first is lost.
    mosquitto_sub -h 127.0.0.1 -p "$CLOUD_PORT" -c -i "$DRAIN_CLIENT" -q 1 -t 'factory1/bench/d/#' -E -W 10 ||
        die "cannot create the drain subscriber's session"
    stop_and_forget "$CLOUD_PID"
    [[ -s $CLOUD_DIR/mosquitto.db ]] || die "the cloud wrote no persistence file; the drain subscriber's session would be lost"
    [[ $kind == ironbridge ]] && wait_for 10 "the bridge to see the cloud go" bridge_connected_is false

    rss0=$(rss_kib "$EDGE_PID")
    echo "  publishing $BACKLOG messages to the $kind edge with the cloud down" >&2
    t_pub0=$(now_us)
    for ((i = 0; i < BACKLOG_PUBS; i++)); do
        share=$((BACKLOG / BACKLOG_PUBS))
        ((i == 0)) && share=$((share + BACKLOG % BACKLOG_PUBS))
        mosquitto_pub -h 127.0.0.1 -p "$EDGE_PORT" -q 1 -i "ib-bench-backlog-$i" -t "bench/d/$i" -m "$payload" \
            --repeat "$share" &
        pids+=($!)
        PIDS+=($!)
    done
    # Bounded: at least 1,000 msgs/s, or give up.
    local deadline=$(($(now_us) + (60 + BACKLOG / 1000) * 1000000))
    for i in "${pids[@]}"; do
        while kill -0 "$i" 2>/dev/null; do
            (($(now_us) < deadline)) || die "publishing the backlog took too long"
            sleep 0.05
        done
        wait "$i" || die "a backlog publisher failed"
        forget_pid "$i"
    done
    t_pub1=$(now_us)
    if [[ $kind == ironbridge ]]; then
        wait_for 60 "the bridge backlog to reach $BACKLOG" backlog_is "$BACKLOG"
    else
        sleep 0.5  # Mosquitto has no status to wait on; its PUBACKs came after queueing
    fi
    rss1=$(rss_kib "$EDGE_PID")
    db=$(file_size "$EDGE_DIR/data/bridge-cloud.db")
    wal=$(file_size "$EDGE_DIR/data/bridge-cloud.db-wal")
    shm=$(file_size "$EDGE_DIR/data/bridge-cloud.db-shm")
    status_full=$(edge_status_json "$kind")

    # The cloud returns; the drain subscriber connects right after it and
    # stamps every message it receives (Unix seconds.nanoseconds).
    drain=$CLOUD_DIR/drain.txt
    start_cloud
    t_up_us=$(jq -r '.connack_unix_ns / 1000 | floor' "$CLOUD_DIR/connack.json")
    mosquitto_sub -h 127.0.0.1 -p "$CLOUD_PORT" -c -i "$DRAIN_CLIENT" -q 1 -t 'factory1/bench/d/#' \
        -C "$BACKLOG" -F '@s.@N' >"$drain" 2>"$CLOUD_DIR/drain.err" &
    sub=$!
    PIDS+=("$sub")
    # Ironbridge's backlog is read from its API every 10th turn only (200 ms):
    # each reading starts curl and jq, CPU taken from the two cores the edge,
    # the cloud and the subscriber share, which Mosquitto's column does not pay.
    local t_empty_us=0 turn=0 drain_deadline=$(($(now_us) + (60 + BACKLOG / 1000) * 1000000))
    while kill -0 "$sub" 2>/dev/null || { [[ $kind == ironbridge ]] && ((t_empty_us == 0)); }; do
        if ((t_empty_us == 0 && turn++ % 10 == 0)) && [[ $kind == ironbridge ]] && backlog_is 0; then t_empty_us=$(now_us); fi
        (($(now_us) < drain_deadline)) || { echo "warning: the $kind drain did not finish in time" >&2; break; }
        sleep 0.02
    done
    stop_and_forget "$sub"
    local received first last
    received=$(wc -l <"$drain")
    first=$(head -1 "$drain")
    last=$(tail -1 "$drain")
    record c "$kind" "$(jq -nc --argjson n "$BACKLOG" --argjson received "$received" \
        --argjson t_pub0 "$t_pub0" --argjson t_pub1 "$t_pub1" --argjson t_up "$t_up_us" \
        --argjson t_empty "$t_empty_us" --arg first "${first:-0}" --arg last "${last:-0}" \
        --argjson rss0 "$rss0" --argjson rss1 "$rss1" --argjson db "$db" --argjson wal "$wal" --argjson shm "$shm" \
        --argjson full "$status_full" --argjson after "$(edge_status_json "$kind")" \
        '{n:$n, received:$received, publish_per_s:($n / (($t_pub1 - $t_pub0) / 1e6)),
          t_up_s:($t_up / 1e6), t_empty_s:(if $t_empty > 0 then $t_empty / 1e6 else null end),
          first_s:($first | tonumber), last_s:($last | tonumber),
          rss_delta_kib:($rss1 - $rss0), db_bytes:$db, wal_bytes:$wal, shm_bytes:$shm,
          bridge_full:$full, bridge_after:$after}')"
    stop_and_forget "$EDGE_PID"
    stop_and_forget "$CLOUD_PID"
}

cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
echo "Machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, Linux $(uname -r); $($MOSQUITTO_BIN -h 2>&1 | head -1 | sed 's/ is an MQTT.*//'); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Runs: $RUNS per scenario and edge, interleaved; (a), (b): $DURATION s measured after $WARMUP s warm-up, $PUBS publishers, $SIZE B, QoS 1; (c): BACKLOG=$BACKLOG"
echo

for sc in $SCENARIOS; do
    for ((r = 1; r <= RUNS; r++)); do
        for kind in $EDGES; do
            echo "scenario $sc run $r/$RUNS: $kind edge" >&2
            case $sc in
            a | b) run_live "$sc" "$kind" ;;
            c) run_drain "$kind" ;;
            *) die "unknown scenario $sc" ;;
            esac
        done
    done
done

"$PYTHON" - "$RESULTS" "$SCENARIOS" "$SIZE" <<'EOF'
import json, statistics, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
wanted = sys.argv[2].split()
size = int(sys.argv[3])
topic_bytes = len("factory1/bench/d/0")  # the remote topic is what the queue keeps

def runs(sc, b):
    return [r for r in rows if r["scenario"] == sc and r["broker"] == b]

def med(sc, b, f):
    v = [x for x in (f(r) for r in runs(sc, b)) if x is not None]
    return statistics.median(v) if v else None

def fmt(v, d=0):
    return "n/a" if v is None else f"{v:,.{d}f}"

def ratio(ib, mq, higher):
    if not ib or not mq:
        return "n/a"
    return f"{(ib / mq if higher else mq / ib):.2f}×"

def verdict(v, ok, text):
    if v is None:
        return f"{text}: n/a"
    return f"{text} {'met' if ok(v) else '**missed**'}"

def quality(sc, b):
    r = runs(sc, b)
    if not r:
        return "n/a"
    return "/".join(str(sum(x.get(k, 0) for x in r)) for k in ("lost", "out_of_order", "duplicates"))

def bridge_note(sc):
    r = runs(sc, "ironbridge")
    if not r:
        return ""
    resent = sum(x.get("bridge", x.get("bridge_after", {})).get("resent", 0) for x in r)
    drops = {}
    for x in r:
        d = x.get("bridge", x.get("bridge_after", {})).get("dropped", {})
        for k, v in (d.items() if isinstance(d, dict) else []):
            drops[k] = drops.get(k, 0) + v
    dropped = sum(drops.values())
    logs = sum(x.get("log_problems", 0) for x in r)
    logm = sum(x.get("log_problems", 0) for x in runs(sc, "mosquitto"))
    return f"IB resent {resent}, dropped {dropped}; log lines error/warn/drop/fail IB {logs}, Mosq {logm}"

def drain_rate(r, key):
    if r["received"] < r["n"]:
        return None
    if key == "up":
        return r["n"] / (r["last_s"] - r["t_up_s"])
    if key == "first":
        return r["n"] / (r["last_s"] - r["first_s"])
    if key == "api":
        return r["n"] / (r["t_empty_s"] - r["t_up_s"]) if r.get("t_empty_s") else None
    if key == "gap":
        return (r["first_s"] - r["t_up_s"]) * 1000

print("| measure | Ironbridge | Mosquitto | Ironbridge advantage | target (Ironbridge) | notes |")
print("|---|---:|---:|---:|---|---|")
if "a" in wanted:
    ib, mq = med("a", "ironbridge", lambda r: r["recv_per_s"]), med("a", "mosquitto", lambda r: r["recv_per_s"])
    print(f"| (a) live forwarding, QoS 1, {size} B, 4 publishers on the edge → 1 subscriber on the cloud: delivered msgs/s "
          f"| {fmt(ib)} | {fmt(mq)} | {ratio(ib, mq, True)} | {verdict(ib, lambda v: v >= 50000, '≥ 50,000')} "
          f"| lost/out-of-order/dup IB {quality('a', 'ironbridge')}, Mosq {quality('a', 'mosquitto')}; {bridge_note('a')} |")
if "b" in wanted:
    for key, label in (("p50_us", "p50 µs"), ("p99_us", "p99 µs"), ("p999_us", "p999 µs")):
        ib, mq = med("b", "ironbridge", lambda r: r[key]), med("b", "mosquitto", lambda r: r[key])
        target = verdict(ib, lambda v: v < 5000, "< 5 ms") if key == "p99_us" else ""
        note = (f"lost/out-of-order/dup IB {quality('b', 'ironbridge')}, Mosq {quality('b', 'mosquitto')}; "
                f"{bridge_note('b')}") if key == "p50_us" else ""
        lab = f"(b) edge → cloud latency at 10,000 msg/s, QoS 1: {label}" if key == "p50_us" else f"(b) … {label}"
        print(f"| {lab} | {fmt(ib)} | {fmt(mq)} | {ratio(ib, mq, False)} | {target} | {note} |")
if "c" in wanted:
    n = runs("c", "ironbridge")[0]["n"] if runs("c", "ironbridge") else 0
    ib, mq = med("c", "ironbridge", lambda r: drain_rate(r, "up")), med("c", "mosquitto", lambda r: drain_rate(r, "up"))
    incomplete = [f"{r['broker']} {r['received']:,}/{r['n']:,}" for r in rows if r["scenario"] == "c" and r["received"] < r["n"]]
    print(f"| (c) drain of {n:,} × {size} B after the cloud returns: msgs/s, cloud up → last message at the subscriber "
          f"| {fmt(ib)} | {fmt(mq)} | {ratio(ib, mq, True)} | {verdict(ib, lambda v: v >= 50000, '≥ 50,000')} "
          f"| {'incomplete: ' + ', '.join(incomplete) + '; ' if incomplete else ''}{bridge_note('c')} |")
    ib, mq = med("c", "ironbridge", lambda r: drain_rate(r, "first")), med("c", "mosquitto", lambda r: drain_rate(r, "first"))
    print(f"| (c) … first → last message at the subscriber: msgs/s | {fmt(ib)} | {fmt(mq)} | {ratio(ib, mq, True)} | | |")
    ib, mq = med("c", "ironbridge", lambda r: drain_rate(r, "gap")), med("c", "mosquitto", lambda r: drain_rate(r, "gap"))
    print(f"| (c) … cloud up → first message at the subscriber: ms | {fmt(ib)} | {fmt(mq)} | {ratio(ib, mq, False)} | | reconnect back-off: IB 50–500 ms, Mosq restart_timeout 1 s |")
    ib = med("c", "ironbridge", lambda r: drain_rate(r, "api"))
    print(f"| (c) … Ironbridge API: cloud up → backlog 0: msgs/s | {fmt(ib)} | | | | acknowledged by the cloud, not yet necessarily delivered |")
    ib, mq = med("c", "ironbridge", lambda r: r["publish_per_s"]), med("c", "mosquitto", lambda r: r["publish_per_s"])
    print(f"| (c) filling the backlog, cloud down: msgs/s accepted by the edge | {fmt(ib)} | {fmt(mq)} | {ratio(ib, mq, True)} | | 4 mosquitto_pub --repeat, one message in flight each |")
    ib = med("c", "ironbridge", lambda r: (r["db_bytes"] + r["wal_bytes"]) / r["n"])
    mq = med("c", "mosquitto", lambda r: r["rss_delta_kib"] * 1024 / r["n"])
    wal = med("c", "ironbridge", lambda r: r["wal_bytes"])
    limit = 1.5 * (size + topic_bytes)
    print(f"| (d) disk per queued message ({size} B payload + {topic_bytes} B topic = {size + topic_bytes} B): bytes "
          f"| {fmt(ib, 1)} ({fmt(ib / (size + topic_bytes) if ib else None, 2)}×) | 0 on disk (memory: {fmt(mq, 1)} B of RSS) | "
          f"| {verdict(ib, lambda v: v <= limit, f'≤ {limit:.0f} B (1.5×)')} | bridge-cloud.db + -wal; WAL at full backlog {fmt(wal)} B |")
print()
print("Medians of the runs. Advantage > 1 means Ironbridge is better (higher rate, lower latency).")
print("Loss counts messages not received at the cloud within 10 s of the last publish; out-of-order and duplicates are per publisher.")
EOF
