#!/usr/bin/env bash
# Runs Ironbridge and Debian's Mosquitto one after the other on this machine,
# driven by the same generator (`ironbridge bench`), and prints one markdown
# table with both columns and the ratio. In the throughput and latency
# scenarios (a)-(e) a third column, the minimal forwarder of bench/forwarder/,
# shows what the machine's loopback and the generator reach at all, with the
# ratio Ironbridge / forwarder (issue 12). Every broker and generator binds or
# connects to 127.0.0.1 only, and every process started here is stopped by PID.
#
# Environment:
#   IRONBRIDGE_BIN   the ironbridge binary (broker and generator)   [build/ironbridge]
#   MOSQUITTO_BIN    the mosquitto binary                            [mosquitto]
#   RUNS             runs per scenario and broker, interleaved       [3]
#   DURATION         measured seconds per run                        [5]
#   WARMUP           seconds of load before measuring                [1]
#   IDLE_CONNS       connections for the memory-per-connection test  [10000]
#   GEN_THREADS      generator threads                               [1]
#   SCENARIOS        which scenarios to run, e.g. "a d g"            [a b c d e f g h]
#   FORWARDER        1 = run the forwarder column in (a)-(e), 0 = leave it out  [1]
#   FORWARDER_BIN    the forwarder binary (built with -DIB_BENCH=ON)
#                    [bench/ib_forwarder next to IRONBRIDGE_BIN]
#   PROBE_RATE       (e) only: msgs/s of the latency probe, a second generator
#                    process with one QoS 1 publisher/subscriber pair on its own
#                    connections, run alongside the load; 0 = no probe   [200]
#   IRONBRIDGE_BROKER_CMD  overrides how the "Ironbridge" broker starts: a command
#                    in which {port}, {dir} and {mosquitto_conf} are replaced, e.g.
#                    IRONBRIDGE_BROKER_CMD='mosquitto -c {mosquitto_conf}' to check
#                    this script against two Mosquittos.
#   KEEP_RESULTS     a file to keep the raw JSON results in
#   IRONBRIDGE_TOML  lines put at the top of Ironbridge's config, e.g.
#                    $'[broker]\nthreads = 1' for one shard
set -euo pipefail

IRONBRIDGE_BIN=${IRONBRIDGE_BIN:-build/ironbridge}
MOSQUITTO_BIN=${MOSQUITTO_BIN:-mosquitto}
RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
IDLE_CONNS=${IDLE_CONNS:-10000}
GEN_THREADS=${GEN_THREADS:-1}
SCENARIOS=${SCENARIOS:-"a b c d e f g h"}
FORWARDER=${FORWARDER:-1}
FORWARDER_BIN=${FORWARDER_BIN:-$(dirname "$IRONBRIDGE_BIN")/bench/ib_forwarder}
PROBE_RATE=${PROBE_RATE:-200}
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=python3

die() { echo "compare.sh: $*" >&2; exit 1; }
command -v "$IRONBRIDGE_BIN" >/dev/null || die "IRONBRIDGE_BIN=$IRONBRIDGE_BIN not found (build it, or set IRONBRIDGE_BIN)"
command -v "$MOSQUITTO_BIN" >/dev/null || die "$MOSQUITTO_BIN not found (apt-get install mosquitto)"
if [[ $FORWARDER == 1 ]]; then
    [[ -x $FORWARDER_BIN ]] ||
        die "FORWARDER_BIN=$FORWARDER_BIN not found (configure with -DIB_BENCH=ON, or set FORWARDER=0)"
fi

WORK=$(mktemp -d /tmp/ib-compare.XXXXXX)
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

# 10,000 idle connections need as many descriptors in the broker and in the
# generator (separate processes, so each needs IDLE_CONNS plus a margin).
hard=$(ulimit -Hn)
if [[ $hard != unlimited && $hard -lt $((IDLE_CONNS + 256)) ]]; then
    echo "note: descriptor hard limit $hard; IDLE_CONNS lowered from $IDLE_CONNS" >&2
    IDLE_CONNS=$((hard - 256))
fi
ulimit -n "$hard"

free_port() {
    "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

bench() { "$IRONBRIDGE_BIN" bench --host 127.0.0.1 --threads "$GEN_THREADS" "$@"; }

# Starts broker $1 (ironbridge|mosquitto|forwarder) on a fresh port, waits for its first
# CONNACK and records time-to-CONNACK and idle RSS. Sets BROKER_PID and PORT.
start_broker() {
    local kind=$1 dir
    dir=$(mktemp -d "$WORK/$kind.XXXX")
    PORT=$(free_port)
    local api_port
    api_port=$(free_port)
    cat >"$dir/mosquitto.conf" <<EOF
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
log_dest file $dir/broker.log
EOF
    mkdir -p "$dir/data"
    cat >"$dir/ironbridge.toml" <<EOF
data_dir = "$dir/data"
${IRONBRIDGE_TOML:-}

[[broker.listeners]]
name = "bench"
bind = "127.0.0.1"
port = $PORT

[api]
enabled = false
bind = "127.0.0.1"
port = $api_port
EOF
    local cmd
    if [[ $kind == mosquitto ]]; then
        cmd="$MOSQUITTO_BIN -c $dir/mosquitto.conf"
    elif [[ $kind == forwarder ]]; then
        cmd="$FORWARDER_BIN --port $PORT"
    elif [[ -n ${IRONBRIDGE_BROKER_CMD:-} ]]; then
        cmd=${IRONBRIDGE_BROKER_CMD//\{port\}/$PORT}
        cmd=${cmd//\{dir\}/$dir}
        cmd=${cmd//\{mosquitto_conf\}/$dir/mosquitto.conf}
    else
        cmd="$IRONBRIDGE_BIN run -c $dir/ironbridge.toml"
    fi
    # The readiness probe starts first and retries every 0.5 ms, so the time
    # from exec to first CONNACK does not include the probe's own start-up.
    bench --mode connack --port "$PORT" --timeout 15 --json >"$dir/connack.json" &
    local probe=$!
    PIDS+=("$probe")
    sleep 0.2
    local t0_us=${EPOCHREALTIME/./}
    # shellcheck disable=SC2086  # the command is word-split on purpose
    $cmd >"$dir/stdout.log" 2>"$dir/stderr.log" &
    BROKER_PID=$!
    PIDS+=("$BROKER_PID")
    if ! wait "$probe"; then
        echo "--- $kind did not answer CONNECT; its stderr:" >&2
        tail -5 "$dir/stderr.log" >&2
        die "$kind broker did not start ($cmd)"
    fi
    forget_pid "$probe"
    local connack_ns
    connack_ns=$(jq -r .connack_unix_ns "$dir/connack.json")
    sleep 0.2  # let start-up allocations settle before reading idle RSS
    local rss
    rss=$(rss_kib "$BROKER_PID")
    jq -nc --arg b "$kind" --argjson ns "$connack_ns" --argjson t0 "$t0_us" --argjson rss "$rss" \
        '{scenario:"g", broker:$b, startup_ms:(($ns / 1000 - $t0) / 1000), rss_kib:$rss}' >>"$RESULTS"
}

# Drops a process that has ended (and been waited for) from PIDS, so the
# cleanup never signals a PID the system may have given to someone else since.
forget_pid() {
    local keep=() p
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

stop_broker() {
    stop_pid "$BROKER_PID"
    forget_pid "$BROKER_PID"
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# One measured run of scenario $1 against broker $2, appending a JSON line.
run_scenario() {
    local sc=$1 kind=$2 tag="b$RANDOM$RANDOM" out
    local common=(--duration "$DURATION" --warmup "$WARMUP" --size 64 --json)
    start_broker "$kind"
    # --max-backlog keeps about 20,000 deliveries in flight in the max-rate
    # scenarios: enough to keep any broker busy between the generator's
    # 1 ms polls, while a slower broker is measured at the rate it sustains
    # instead of burying seconds of traffic in socket buffers (which would also
    # make the loss count meaningless).
    local args=()
    case $sc in
    a) args=(--pubs 1 --subs 1 --qos 0 --sub-topic "$tag/%i" --max-backlog 20000) ;;
    b) args=(--pubs 16 --subs 16 --qos 0 --sub-topic "$tag/%i" --max-backlog 1250) ;;
    c)
        # The forwarder has no wildcards: its subscribers name the one
        # publisher's topic exactly, which matches the same messages.
        local filter="$tag/#"
        [[ $kind == forwarder ]] && filter="$tag/0"
        args=(--pubs 1 --subs 100 --qos 0 --sub-topic "$filter" --max-backlog 200)
        ;;
    d) args=(--pubs 1 --subs 1 --qos 1 --sub-topic "$tag/%i" --max-backlog 20000) ;;
    e) args=(--pubs 16 --subs 16 --qos 1 --total-rate 10000 --sub-topic "$tag/%i") ;;
    esac
    local probe=""
    if [[ $sc == e && $PROBE_RATE != 0 ]]; then
        # The latency probe: a second generator process, one QoS 1 pair on
        # connections of their own at a low rate, measuring inside the load's
        # window (it starts with the load, so its window is the load's middle).
        # If its percentiles match the load's, the load generator's pacing and
        # its one busy loop are not what the latency figures show.
        local pw pd
        read -r pw pd < <(awk -v d="$DURATION" -v w="$WARMUP" \
            'BEGIN { pd = d > 2 ? d - 1 : d / 2; printf "%g %g\n", w + (d - pd) / 2, pd }')
        "$IRONBRIDGE_BIN" bench --host 127.0.0.1 --threads 1 --port "$PORT" --mode pubsub --pubs 1 --subs 1 \
            --qos 1 --size 64 --rate "$PROBE_RATE" --topic "$tag-probe/%i" --sub-topic "$tag-probe/%i" \
            --warmup "$pw" --duration "$pd" --json >"$WORK/probe.json" &
        probe=$!
        PIDS+=("$probe")
    fi
    case $sc in
    a | b | c | d | e)
        # A fresh topic prefix per run, so nothing of an earlier run can match.
        out=$(bench --port "$PORT" "${common[@]}" --mode pubsub --topic "$tag/%i" "${args[@]}") ||
            echo "warning: scenario $sc on $kind reported a failure: $(echo "$out" | jq -r .error)" >&2
        if [[ -n $probe ]]; then
            wait "$probe" || echo "warning: the latency probe on $kind reported a failure" >&2
            forget_pid "$probe"
            out=$(echo "$out" | jq -c --slurpfile p "$WORK/probe.json" \
                '. + ($p[0] | {probe_p50_us:.p50_us, probe_p99_us:.p99_us, probe_p999_us:.p999_us,
                               probe_samples:.samples, probe_lost:.lost, probe_out_of_order:.out_of_order,
                               probe_duplicates:.duplicates})')
        fi
        ;;
    f)
        local rss0 peak=0 r gen
        rss0=$(rss_kib "$BROKER_PID")
        bench --port "$PORT" --mode conn --conns "$IDLE_CONNS" --duration "$DURATION" --json >"$WORK/conn.json" &
        gen=$!
        PIDS+=("$gen")
        # Peak RSS while the connections are held; it is flat once all are up.
        while kill -0 "$gen" 2>/dev/null; do
            r=$(rss_kib "$BROKER_PID")
            ((r > peak)) && peak=$r
            sleep 0.2
        done
        wait "$gen" || true
        forget_pid "$gen"
        out=$(jq -c --argjson rss0 "$rss0" --argjson peak "$peak" \
            '. + {rss0_kib:$rss0, peak_kib:$peak, kib_per_conn:(if .connected > 0 then ($peak - $rss0) / .connected else 0 end)}' \
            "$WORK/conn.json")
        ;;
    *) die "unknown scenario $sc" ;;
    esac
    stop_broker
    echo "$out" | jq -c --arg s "$sc" --arg b "$kind" '. + {scenario:$s, broker:$b}' >>"$RESULTS"
}

cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
echo "Machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, Linux $(uname -r); $($MOSQUITTO_BIN -h 2>&1 | head -1 | sed 's/ is an MQTT.*//')"
echo "Runs: $RUNS per scenario and broker, interleaved; $DURATION s measured after $WARMUP s warm-up; generator threads $GEN_THREADS"
[[ $FORWARDER == 1 ]] && echo "Forwarder: $FORWARDER_BIN in (a)-(e)"
[[ $PROBE_RATE != 0 ]] && [[ " $SCENARIOS " == *" e "* ]] &&
    echo "Latency probe in (e): a second generator, one QoS 1 pair at $PROBE_RATE msg/s"
[[ -n ${IRONBRIDGE_BROKER_CMD:-} ]] && echo "NOTE: the Ironbridge column is IRONBRIDGE_BROKER_CMD='$IRONBRIDGE_BROKER_CMD'"
echo

for sc in $SCENARIOS; do
    case $sc in
    g | h)
        # Measured at every broker start; run a few plain starts if no load
        # scenario ran.
        if ! grep -q '"scenario":"g"' "$RESULTS" 2>/dev/null; then
            for ((i = 0; i < RUNS; i++)); do
                for kind in ironbridge mosquitto; do start_broker "$kind"; stop_broker; done
            done
        fi
        ;;
    *)
        kinds=(ironbridge mosquitto)
        [[ $FORWARDER == 1 && $sc == [abcde] ]] && kinds+=(forwarder)
        for ((i = 1; i <= RUNS; i++)); do
            for kind in "${kinds[@]}"; do
                echo "scenario $sc run $i/$RUNS: $kind" >&2
                run_scenario "$sc" "$kind"
            done
        done
        ;;
    esac
done

"$PYTHON" - "$RESULTS" "$SCENARIOS" <<'EOF'
import json, statistics, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
wanted = sys.argv[2].split()
# The forwarder's columns appear only when it ran (FORWARDER=1 and one of (a)-(e)).
with_fwd = any(r["broker"] == "forwarder" and r["scenario"] != "g" for r in rows)

def runs(sc, broker):
    return [r for r in rows if r["scenario"] == sc and r["broker"] == broker]

def med(sc, broker, key):
    v = [r[key] for r in runs(sc, broker) if key in r]
    return statistics.median(v) if v else None

def fmt(v, digits):
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}"

def ratio(ib, mq, higher_better):
    if ib is None or mq is None or ib == 0 or mq == 0:
        return "n/a"
    return f"{(ib / mq if higher_better else mq / ib):.2f}×"

def quality(sc, broker, prefix=""):
    r = runs(sc, broker)
    if not r or r[0].get("mode") != "pubsub" or prefix + "lost" not in r[0]:
        return ""
    lost = sum(x[prefix + "lost"] for x in r)
    ooo = sum(x[prefix + "out_of_order"] for x in r)
    dup = sum(x[prefix + "duplicates"] for x in r)
    return f"{lost}/{ooo}/{dup}"

def cpu(sc, broker):
    v = med(sc, broker, "cpu_percent")
    return "" if v is None else f"{v:.0f}"

def joined(f, sc, brokers, *extra):
    parts = [f(sc, b, *extra) for b in brokers]
    return "; ".join(parts) if parts[0] else ""

# (scenario, label, key, digits, higher is better, prefix of the loss counts
# shown in the row: "" the load's, "probe_" the probe's, None no counts)
table = [
    ("a", "(a) 1→1 QoS 0, 64 B, max rate: deliveries/s", "recv_per_s", 0, True, ""),
    ("b", "(b) 16→16 pairwise QoS 0: deliveries/s", "recv_per_s", 0, True, ""),
    ("c", "(c) 1→100 fan-out QoS 0: deliveries/s", "recv_per_s", 0, True, ""),
    ("d", "(d) 1→1 QoS 1, max rate: deliveries/s", "recv_per_s", 0, True, ""),
    ("e", "(e) QoS 1 at 10,000 msg/s, 16→16: p50 µs", "p50_us", 0, False, ""),
    ("e", "(e) … p99 µs", "p99_us", 0, False, None),
    ("e", "(e) … p999 µs", "p999_us", 0, False, None),
    ("e", "(e) probe (second generator, one idle QoS 1 pair): p50 µs", "probe_p50_us", 0, False, "probe_"),
    ("e", "(e) probe … p99 µs", "probe_p99_us", 0, False, None),
    ("e", "(e) probe … p999 µs", "probe_p999_us", 0, False, None),
    ("f", f"(f) idle connections: KiB per connection", "kib_per_conn", 2, False, None),
    ("f", "(f) … connect rate, conn/s", "conn_per_s", 0, True, None),
    ("g", "(g) exec → first CONNACK, ms", "startup_ms", 1, False, None),
    ("h", "(h) idle broker RSS, KiB", "rss_kib", 0, False, None),
]
brokers = ["ironbridge", "mosquitto"] + (["forwarder"] if with_fwd else [])
who = "IB; Mosq; fwd" if with_fwd else "IB; Mosq"
if with_fwd:
    print("| scenario | Ironbridge | Mosquitto | Ironbridge advantage | forwarder | Ironbridge ÷ forwarder "
          f"| lost/out-of-order/dup ({who}) | generator CPU % ({who}) |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
else:
    print(f"| scenario | Ironbridge | Mosquitto | Ironbridge advantage | lost/out-of-order/dup ({who}) "
          f"| generator CPU % ({who}) |")
    print("|---|---:|---:|---:|---|---|")
for sc, label, key, digits, hb, qprefix in table:
    if sc not in wanted:
        continue
    src = "g" if sc == "h" else sc
    ib, mq = med(src, "ironbridge", key), med(src, "mosquitto", key)
    if ib is None and mq is None and key.startswith("probe_"):
        continue  # PROBE_RATE=0
    q = joined(quality, sc, brokers, qprefix) if qprefix is not None else ""
    c = joined(cpu, sc, brokers) if qprefix == "" else ""
    cells = [label, fmt(ib, digits), fmt(mq, digits), ratio(ib, mq, hb)]
    if with_fwd:
        fw = med(src, "forwarder", key) if sc in "abcde" else None
        # A plain quotient in both directions, as the targets are written:
        # rates "≥ 0.8× the forwarder", latencies "within 1.5× of the forwarder's".
        cells += [fmt(fw, digits) if fw is not None else "",
                  f"{ib / fw:.2f}×" if ib and fw else ""]
    cells += [q, c]
    print("| " + " | ".join(cells) + " |")
print()
print("Medians of the runs. Advantage > 1 means Ironbridge is better (higher rate, or lower latency/memory/time).")
if with_fwd:
    print("Ironbridge ÷ forwarder is the plain quotient: for rates, the share of the forwarder's rate Ironbridge")
    print("reaches; for latencies, how many times the forwarder's latency Ironbridge's is. The forwarder")
    print("(bench/forwarder/) has one thread, no sessions, no wildcards: in (c) its subscribers name the topic exactly.")
print("Loss counts deliveries not received within 10 s of the last publish; out-of-order and duplicates are per publisher.")
EOF
