#!/usr/bin/env bash
# MQTT file transfer (issue 18): how fast a file comes in over `$file/...` and
# goes out to the cloud through a bridge, and what it costs in memory. Two
# Ironbridge nodes run here: the edge (files on, a bridge with forward_files)
# and the upstream (files on). A paho client (MQTT 5, QoS 1, the synchronous
# `$file/` commands) sends each file to the edge in SEGMENT-byte segments; the
# upstream's REST API is polled until the file is there and its SHA-256 matches.
#
# Prints, per size: MB/s received (init to the fin's success), MB/s forwarded
# (the fin's success to the upstream having the file), the edge's peak RSS
# during both (VmHWM) against its RSS before, and `cp` + `sync` of the same
# file on the same disk as the physical reference. Everything binds and
# connects to 127.0.0.1 only; every process is stopped by PID.
#
# Environment:
#   IRONBRIDGE_BIN  the ironbridge binary                       [build/ironbridge]
#   SIZES_MB        the file sizes                              [10 200]
#   SEGMENT         bytes per segment from the client           [524288]
#   FORWARD_SEGMENT bytes per segment the bridge sends upstream [262144]
set -euo pipefail

IRONBRIDGE_BIN=${IRONBRIDGE_BIN:-build/ironbridge}
SIZES_MB=${SIZES_MB:-"10 200"}
SEGMENT=${SEGMENT:-524288}
FORWARD_SEGMENT=${FORWARD_SEGMENT:-262144}
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=python3

die() { echo "files.sh: $*" >&2; exit 1; }
command -v "$IRONBRIDGE_BIN" >/dev/null || die "IRONBRIDGE_BIN=$IRONBRIDGE_BIN not found"
IRONBRIDGE_BIN=$(realpath "$IRONBRIDGE_BIN")

WORK=$(mktemp -d /var/tmp/ib-files.XXXXXX)
PIDS=()
# shellcheck source=bench/processes.sh
source "$(dirname "${BASH_SOURCE[0]}")/processes.sh"

# node NAME MQTT_PORT API_PORT EXTRA_TOML: starts one node, prints its PID.
start_node() {
    local name=$1 port=$2 api=$3 extra=$4
    mkdir -p "$WORK/$name"
    cat >"$WORK/$name/ironbridge.toml" <<TOML
data_dir = "$WORK/$name/data"
[log]
level = "warn"
[broker]
max_packet_size = 16777216
[[broker.listeners]]
name = "default"
bind = "127.0.0.1"
port = $port
[api]
enabled = true
bind = "127.0.0.1"
port = $api
[files]
max_total_bytes = 10737418240
$extra
TOML
    "$IRONBRIDGE_BIN" run -c "$WORK/$name/ironbridge.toml" >"$WORK/$name/log" 2>&1 &
    PIDS+=($!)
    wait_port "$port" $! || die "$name did not start: $(cat "$WORK/$name/log")"
    wait_port "$api" $! || die "$name's API did not start"
}

UP_PORT=$(free_port); UP_API=$(free_port)
EDGE_PORT=$(free_port); EDGE_API=$(free_port)
start_node upstream "$UP_PORT" "$UP_API" ""
UP_PID=${PIDS[-1]}
start_node edge "$EDGE_PORT" "$EDGE_API" "[[bridges]]
name = \"cloud\"
servers = [\"127.0.0.1:$UP_PORT\"]
forward_files = true
file_segment_bytes = $FORWARD_SEGMENT"
EDGE_PID=${PIDS[-1]}

echo "ironbridge file transfer: client segments $SEGMENT B, forwarded segments $FORWARD_SEGMENT B, files in $WORK"
printf '%-8s %14s %15s %14s %16s %12s\n' size "received MB/s" "forwarded MB/s" "cp+sync MB/s" "edge RSS before" "peak RSS"
for mb in $SIZES_MB; do
    src="$WORK/file-$mb"
    head -c "$((mb * 1048576))" /dev/urandom >"$src"
    start=$(date +%s.%N)
    cp "$src" "$WORK/copy-$mb" && sync "$WORK/copy-$mb"
    end=$(date +%s.%N)
    cp_rate=$("$PYTHON" -c "print('%.0f' % ($mb / ($end - $start)))")
    rm -f "$WORK/copy-$mb"
    "$PYTHON" - "$src" "$mb" "$SEGMENT" "$EDGE_PORT" "$UP_API" "$EDGE_PID" "$cp_rate" <<'PY'
import hashlib, json, sys, threading, time, urllib.request
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

path, mb, seg, port, up_api, edge_pid, cp_rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
size = mb * 1048576
file_id = "bench-%d" % mb

def rss(field):
    with open("/proc/%d/status" % edge_pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) // 1024
    return 0

digest = hashlib.sha256()
with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        digest.update(chunk)
checksum = digest.hexdigest()

results = {}
cond = threading.Condition()
def on_message(c, u, msg):
    with cond:
        results[bytes(msg.properties.CorrelationData)] = json.loads(msg.payload)
        cond.notify_all()
connected = threading.Event()
c = mqtt.Client(client_id="bench-sender", protocol=mqtt.MQTTv5)
c.max_inflight_messages_set(32)
c.on_message = on_message
c.on_connect = lambda *a, **k: connected.set()
c.connect("127.0.0.1", port)
c.loop_start()
connected.wait(5)
c.subscribe("bench/reply", qos=1)
time.sleep(0.2)
seq = [0]
def send(topic, payload=b""):
    seq[0] += 1
    key = b"%d" % seq[0]
    p = Properties(PacketTypes.PUBLISH)
    p.ResponseTopic = "bench/reply"
    p.CorrelationData = key
    c.publish(topic, payload, qos=1, properties=p)
    return key
def wait(key, timeout=600):
    with cond:
        if not cond.wait_for(lambda: key in results, timeout):
            sys.exit("no result for %r" % key)
        r = results.pop(key)
    if r["reason_code"] != 0:
        sys.exit("failed: %r" % r)

before = rss("VmRSS")
t0 = time.monotonic()
wait(send("$file/%s/init" % file_id, json.dumps({"name": file_id, "size": size, "checksum": checksum}).encode()))
keys = []
with open(path, "rb") as f:
    off = 0
    while True:
        chunk = f.read(seg)
        if not chunk:
            break
        keys.append(send("$file/%s/%d" % (file_id, off), chunk))
        off += len(chunk)
        # Results are collected as they come, so the dict stays small.
        while len(keys) > 64:
            wait(keys.pop(0))
for k in keys:
    wait(k)
wait(send("$file/%s/fin/%d/%s" % (file_id, size, checksum)))
t1 = time.monotonic()
url = "http://127.0.0.1:%d/api/v1/files?limit=1000" % up_api
deadline = time.monotonic() + 600
while time.monotonic() < deadline:
    with urllib.request.urlopen(url) as r:
        files = json.loads(r.read())["files"]
    if any(f["file_id"].endswith("~" + file_id) and f["checksum"] == checksum for f in files):
        break
    time.sleep(0.02)
else:
    sys.exit("the upstream never got %s" % file_id)
t2 = time.monotonic()
c.disconnect()
c.loop_stop()
print("%-8s %14.0f %15.0f %14s %13d MiB %8d MiB" % ("%d MB" % mb, mb / (t1 - t0), mb / (t2 - t1), cp_rate, before, rss("VmHWM")))
PY
    rm -f "$src"
done
