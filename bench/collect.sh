#!/usr/bin/env bash
# Collection benchmark: starts SERVERS libmodbus servers (ib_modbus_peer) on
# 127.0.0.1, one Ironbridge with one modbus-tcp device per server (one group of
# TAGS uint16 tags, 1!400001 upwards, polled every INTERVAL_MS), and counts what
# arrives on ib/data/# at Ironbridge's own MQTT port over DURATION seconds after
# WARMUP. Prints one markdown table row: tag values per second (the sizes of the
# "values" objects received, per second), readings and tag errors per second,
# Ironbridge's CPU share (utime+stime from /proc/<pid>/stat over the window, in %
# of one core) and its RSS (VmRSS at the end). Every process started here is
# stopped by PID.
#
# Environment:
#   IRONBRIDGE_BIN   the ironbridge binary                               [build/ironbridge]
#   IB_MODBUS_PEER   the libmodbus server         [<dir of IRONBRIDGE_BIN>/tests/ib_modbus_peer]
#   SERVERS          Modbus servers, one device each                     [10]
#   TAGS             uint16 tags per device (1..65536)                   [1000]
#   INTERVAL_MS      poll interval of each device's group                [100]
#   DURATION         measured seconds                                    [10]
#   WARMUP           seconds of collection before measuring              [2]
#   LABEL            first column of the row                             [ironbridge]
#   HEADER           1: print the table header too                       [1]
#   KEEP_DIR         a directory to copy the config and logs to
set -euo pipefail

IRONBRIDGE_BIN=${IRONBRIDGE_BIN:-build/ironbridge}
IB_MODBUS_PEER=${IB_MODBUS_PEER:-$(dirname "$IRONBRIDGE_BIN")/tests/ib_modbus_peer}
SERVERS=${SERVERS:-${N:-10}}
TAGS=${TAGS:-1000}
INTERVAL_MS=${INTERVAL_MS:-100}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
LABEL=${LABEL:-ironbridge}
HEADER=${HEADER:-1}
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=python3

die() { echo "collect.sh: $*" >&2; exit 1; }
command -v "$IRONBRIDGE_BIN" >/dev/null || die "IRONBRIDGE_BIN=$IRONBRIDGE_BIN not found (build it, or set IRONBRIDGE_BIN)"
[[ -x $IB_MODBUS_PEER ]] || die "ib_modbus_peer not found at $IB_MODBUS_PEER (build target ib_modbus_peer, or set IB_MODBUS_PEER)"
"$PYTHON" -c 'import paho.mqtt.client' 2>/dev/null || die "$PYTHON cannot import paho.mqtt (apt-get install python3-paho-mqtt)"
((SERVERS >= 1 && TAGS >= 1 && TAGS <= 65536 && INTERVAL_MS >= 1 && DURATION >= 1)) || die "bad SERVERS/TAGS/INTERVAL_MS/DURATION"

WORK=$(mktemp -d /tmp/ib-collect.XXXXXX)
PIDS=()

# shellcheck source=bench/processes.sh
source "$(dirname "${BASH_SOURCE[0]}")/processes.sh"
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    if [[ -n ${KEEP_DIR:-} ]]; then mkdir -p "$KEEP_DIR" && cp -r "$WORK"/. "$KEEP_DIR"/; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits up to $2 seconds for the first line of file $1 to read "LISTENING <port>"; prints the port.
wait_listening() {
    local file=$1 limit=$2 i line
    for ((i = 0; i < limit * 20; i++)); do
        line=$(head -n 1 "$file" 2>/dev/null || true)
        if [[ $line =~ ^LISTENING\ ([0-9]+)$ ]]; then
            echo "${BASH_REMATCH[1]}"
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# 1. The Modbus servers.
regs=$((TAGS > 1000 ? TAGS : 1000))
PORTS=()
for ((s = 0; s < SERVERS; s++)); do
    "$IB_MODBUS_PEER" --port 0 --registers "$regs" >"$WORK/peer$s.out" 2>"$WORK/peer$s.err" &
    PIDS+=("$!")
    port=$(wait_listening "$WORK/peer$s.out" 10) || { cat "$WORK/peer$s.err" >&2; die "ib_modbus_peer $s did not start"; }
    PORTS+=("$port")
done

# 2. The Ironbridge config: one device per server, one group of TAGS uint16 tags.
MQTT_PORT=$(free_port)
mkdir -p "$WORK/data"
"$PYTHON" - "$WORK/ironbridge.toml" "$WORK/data" "$MQTT_PORT" "$INTERVAL_MS" "$TAGS" "${PORTS[@]}" <<'EOF'
import sys
path, data_dir, mqtt_port, interval_ms, tags = sys.argv[1:6]
ports = sys.argv[6:]
out = ['data_dir = "%s"' % data_dir, "", "[log]", 'level = "warn"', "",
       "[[broker.listeners]]", 'name = "bench"', 'bind = "127.0.0.1"', "port = %s" % mqtt_port, "",
       "[api]", "enabled = false", ""]
for i, port in enumerate(ports):
    out += ["[[devices]]", 'name = "plc%d"' % i, 'driver = "modbus-tcp"', 'host = "127.0.0.1"',
            "port = %s" % port, "timeout_ms = 1000", "",
            "[[devices.groups]]", 'name = "g"', "interval_ms = %s" % interval_ms, ""]
    for t in range(int(tags)):
        out += ["[[devices.groups.tags]]", 'name = "t%d"' % t, 'address = "1!4%05d"' % (t + 1),
                'type = "uint16"', ""]
with open(path, "w") as f:
    f.write("\n".join(out))
EOF
"$IRONBRIDGE_BIN" check-config "$WORK/ironbridge.toml" >/dev/null || die "the generated config was refused"

# 3. Ironbridge.
"$IRONBRIDGE_BIN" run -c "$WORK/ironbridge.toml" >"$WORK/ironbridge.log" 2>&1 &
IB_PID=$!
PIDS+=("$IB_PID")
for ((i = 0; ; i++)); do
    kill -0 "$IB_PID" 2>/dev/null || { tail -5 "$WORK/ironbridge.log" >&2; die "ironbridge exited at start-up"; }
    (exec 3<>"/dev/tcp/127.0.0.1/$MQTT_PORT") 2>/dev/null && break
    ((i < 200)) || die "ironbridge did not listen on $MQTT_PORT within 10 s"
    sleep 0.05
done

# 4. Count what a subscriber sees; measure Ironbridge over the same window.
cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
echo "Machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, Linux $(uname -r)" >&2
echo "Load: $SERVERS devices x $TAGS uint16 tags every $INTERVAL_MS ms; $DURATION s measured after $WARMUP s warm-up" >&2
"$PYTHON" - "$MQTT_PORT" "$IB_PID" "$WARMUP" "$DURATION" "$LABEL" "$HEADER" \
    "$((SERVERS * TAGS * 1000 / INTERVAL_MS))" <<'EOF'
import json, os, sys, threading, time
import paho.mqtt.client as mqtt

port, pid, warmup, duration = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
label, header, target = sys.argv[5], sys.argv[6] == "1", int(sys.argv[7])
lock = threading.Lock()
counts = {"readings": 0, "values": 0, "errors": 0, "bad": 0}
counting = False
connected = threading.Event()

def on_connect(c, userdata, flags, rc):
    c.subscribe("ib/data/#", 0)
    connected.set()

def on_message(c, userdata, msg):
    if not counting:
        return
    try:
        d = json.loads(msg.payload)
        v, e = len(d.get("values") or {}), len(d.get("errors") or {})
    except (ValueError, AttributeError):
        with lock:
            counts["bad"] += 1
        return
    with lock:
        counts["readings"] += 1
        counts["values"] += v
        counts["errors"] += e

def cpu_ticks():
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)

def rss_kib():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

c = mqtt.Client(client_id="ib-collect-%d" % os.getpid())
c.on_connect, c.on_message = on_connect, on_message
c.connect("127.0.0.1", port, keepalive=60)
c.loop_start()
if not connected.wait(10):
    sys.exit("collect.sh: no CONNACK from ironbridge")
time.sleep(warmup)
t0, ticks0 = time.monotonic(), cpu_ticks()
counting = True
time.sleep(duration)
counting = False
t1, ticks1 = time.monotonic(), cpu_ticks()
rss = rss_kib()
c.disconnect()
c.loop_stop()
secs = t1 - t0
cpu = (ticks1 - ticks0) / os.sysconf("SC_CLK_TCK") / secs * 100
if counts["bad"]:
    print("warning: %d readings were not JSON objects" % counts["bad"], file=sys.stderr)
if header:
    print("| run | tag values/s (target) | readings/s | tag errors/s | CPU % of one core | RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|")
print("| %s | %s (%s) | %s | %s | %.1f | %.1f |" % (
    label, f"{counts['values'] / secs:,.0f}", f"{target:,}", f"{counts['readings'] / secs:,.1f}",
    f"{counts['errors'] / secs:,.0f}", cpu, rss / 1024))
EOF
