#!/usr/bin/env bash
# What broker.persistence costs, measured on this machine (BENCHMARKS.md).
#
#   bench/persistence.sh startup      fills a sessions.db with SESSIONS sessions
#                                     (one subscription each) and MESSAGES queued
#                                     messages, then times `ironbridge run` from exec
#                                     to its "started" log line, RUNS times
#   bench/persistence.sh throughput   QoS 1 to one persistent subscriber, offline and
#                                     online, Ironbridge with persistence off and on,
#                                     and Mosquitto with `persistence true`, in one run
#
# Environment: IRONBRIDGE_BIN [build/ironbridge], MOSQUITTO_BIN [mosquitto],
# SESSIONS [100000], MESSAGES [1000000], RUNS [3], DURATION [5], WARMUP [1].
# Everything binds to 127.0.0.1; every process started here is stopped by PID.
set -euo pipefail

IRONBRIDGE_BIN=${IRONBRIDGE_BIN:-build/ironbridge}
MOSQUITTO_BIN=${MOSQUITTO_BIN:-mosquitto}
SESSIONS=${SESSIONS:-100000}
MESSAGES=${MESSAGES:-1000000}
RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=python3

die() { echo "persistence.sh: $*" >&2; exit 1; }
command -v "$IRONBRIDGE_BIN" >/dev/null || die "IRONBRIDGE_BIN=$IRONBRIDGE_BIN not found"

WORK=$(mktemp -d /tmp/ib-persist.XXXXXX)
PIDS=()
# shellcheck source=bench/processes.sh
source "$(dirname "${BASH_SOURCE[0]}")/processes.sh"

# Writes $1/ironbridge.toml for port $2 with persistence $3 (true|false).
write_config() {
    local dir=$1 port=$2 persistence=$3
    mkdir -p "$dir/data"
    cat >"$dir/ironbridge.toml" <<EOF
data_dir = "$dir/data"

[broker]
persistence = $persistence
max_queued_messages = 100000000
max_queued_bytes = 8589934592

[[broker.listeners]]
name = "bench"
bind = "127.0.0.1"
port = $port

[api]
enabled = false
EOF
}

# Starts ironbridge on config dir $1; waits for the "started" line. Sets BROKER_PID
# and STARTED_MS (exec to the line, measured here).
start_ironbridge() {
    local dir=$1 t0 t1
    : >"$dir/broker.log"
    t0=${EPOCHREALTIME/./}
    "$IRONBRIDGE_BIN" run -c "$dir/ironbridge.toml" >>"$dir/broker.log" 2>&1 &
    BROKER_PID=$!
    PIDS+=("$BROKER_PID")
    local i
    for ((i = 0; i < 60000; i++)); do
        if grep -q "started in" "$dir/broker.log"; then break; fi
        kill -0 "$BROKER_PID" 2>/dev/null || { cat "$dir/broker.log" >&2; die "ironbridge exited during start-up"; }
        sleep 0.001
    done
    t1=${EPOCHREALTIME/./}
    STARTED_MS=$(((t1 - t0) / 1000))
}

stop_broker() {
    stop_pid "$BROKER_PID"
    local keep=() p
    for p in "${PIDS[@]}"; do [[ $p == "$BROKER_PID" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

startup() {
    local dir=$WORK/startup port
    port=$(free_port)
    write_config "$dir" "$port" true
    # The broker creates the schema; the filler only adds rows.
    start_ironbridge "$dir"
    stop_broker
    echo "filling $dir/data/sessions.db: $SESSIONS sessions, $MESSAGES queued messages (64-byte payloads) ..."
    "$PYTHON" - "$dir/data/sessions.db" "$SESSIONS" "$MESSAGES" <<'EOF'
import sqlite3, sys, time
path, sessions, messages = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
db = sqlite3.connect(path)
expires = int(time.time() * 1000) + 24 * 3600 * 1000
db.execute("BEGIN")
db.executemany("INSERT INTO sessions (skey, client_id, expiry_s, expires_at) VALUES (?, ?, 86400, ?)",
               ((k, "client-%06d" % k, expires) for k in range(1, sessions + 1)))
db.executemany("INSERT INTO subs (skey, filter, opts, sub_id) VALUES (?, ?, 1, 0)",
               ((k, "plant/%d/#" % k) for k in range(1, sessions + 1)))
payload = b"x" * 64
per = max(1, messages // sessions)
def rows():
    seq = 0
    for k in range(1, sessions + 1):
        for _ in range(per):
            seq += 1
            if seq > messages:
                return
            yield (k, seq, 1, 0, None, b"plant/%d/temp" % k, payload, None)
db.executemany("INSERT INTO queue (skey, seq, flags, packet_id, sub_ids, topic, payload, props) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows())
db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('seq', ?), ('key', ?)", (messages, sessions))
db.commit()
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
db.close()
EOF
    ls -la "$dir/data/sessions.db"
    local i
    for ((i = 1; i <= RUNS; i++)); do
        start_ironbridge "$dir"
        echo "run $i: exec to 'started' ${STARTED_MS} ms; $(grep -o 'started in [0-9.]* ms' "$dir/broker.log"); $(grep -o '[0-9]* persistent sessions and [0-9]* retained' "$dir/broker.log")"
        stop_broker
    done
}

# One measured run: broker kind $1 (ib-off|ib-on|mosquitto), subscriber $2 (offline|online).
# Prints msgs/s received by the broker (offline) or delivered (online).
measure() {
    local kind=$1 sub=$2 dir port tag="p$RANDOM$RANDOM"
    dir=$(mktemp -d "$WORK/$kind.XXXX")
    port=$(free_port)
    case $kind in
    ib-off) write_config "$dir" "$port" false ;;
    ib-on) write_config "$dir" "$port" true ;;
    mosquitto)
        mkdir -p "$dir/data"
        cat >"$dir/mosquitto.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
persistence true
persistence_location $dir/data/
autosave_interval 1800
max_queued_messages 0
max_inflight_messages 64
log_dest none
EOF
        ;;
    esac
    if [[ $kind == mosquitto ]]; then
        "$MOSQUITTO_BIN" -c "$dir/mosquitto.conf" >/dev/null 2>&1 &
        BROKER_PID=$!
        PIDS+=("$BROKER_PID")
    else
        start_ironbridge "$dir"
    fi
    "$IRONBRIDGE_BIN" bench --mode connack --port "$port" --timeout 15 --json >/dev/null
    local out
    if [[ $sub == offline ]]; then
        # A persistent session subscribed once, then gone: every message is queued for it.
        "$PYTHON" - "$port" "$tag" <<'EOF'
import sys, paho.mqtt.client as mqtt
c = mqtt.Client(client_id="offline-sub", clean_session=False)
c.connect("127.0.0.1", int(sys.argv[1]))
c.loop_start()
r, mid = c.subscribe(sys.argv[2] + "/#", 1)
import time; time.sleep(0.3)
c.disconnect(); c.loop_stop()
EOF
        out=$("$IRONBRIDGE_BIN" bench --port "$port" --mode pub --pubs 1 --qos 1 --size 64 --topic "$tag/%i" \
            --duration "$DURATION" --warmup "$WARMUP" --json)
        echo "$out" | jq -r .sent_per_s | head -1
    else
        out=$("$IRONBRIDGE_BIN" bench --port "$port" --mode pubsub --pubs 1 --subs 1 --qos 1 --size 64 \
            --persistent-subs --topic "$tag/%i" --sub-topic "$tag/%i" --max-backlog 20000 \
            --duration "$DURATION" --warmup "$WARMUP" --json)
        echo "$out" | jq -r .recv_per_s | head -1
    fi
    echo "$out" >>"$WORK/raw.jsonl"
    stop_broker
}

throughput() {
    command -v "$MOSQUITTO_BIN" >/dev/null || die "$MOSQUITTO_BIN not found"
    echo "Machine: $(nproc) CPUs, Linux $(uname -r); $($MOSQUITTO_BIN -h 2>&1 | head -1 | sed 's/ is an MQTT.*//')"
    echo "QoS 1, 64-byte payloads, 1 publisher (64 inflight); median of $RUNS runs of $DURATION s"
    echo
    echo "| subscriber | Ironbridge, persistence off | Ironbridge, persistence on | Mosquitto, persistence true |"
    echo "|---|---:|---:|---:|"
    local sub kind i
    for sub in offline online; do
        declare -A med=()
        for kind in ib-off ib-on mosquitto; do
            local vals=()
            for ((i = 0; i < RUNS; i++)); do vals+=("$(measure "$kind" "$sub")"); done
            med[$kind]=$(printf '%s\n' "${vals[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
        done
        printf '| %s | %.0f msgs/s | %.0f msgs/s | %.0f msgs/s |\n' "$sub" "${med[ib-off]}" "${med[ib-on]}" "${med[mosquitto]}"
    done
}

case ${1:-} in
startup) startup ;;
throughput) throughput ;;
*) die "usage: $0 startup|throughput" ;;
esac
