#!/usr/bin/env bash
# The fleet at 1,000 edges (issue 15): EDGES simulated edges in one process
# (bench/fleet_sim.py: the edge's side of docs/fleet.md over paho, one epoll),
# one Mosquitto started here as the cloud broker, and a push of a one-rule
# template to all of them, twice:
#   cli   `ironbridge fleet push` (the controller's wall time from its start,
#         connect and retained states included, to every edge's final answer;
#         its CPU time and peak RSS from /usr/bin/time);
#   rest  a node with [fleet_controller] (POST /api/v1/fleet/push, then
#         GET /api/v1/fleet/pushes/{id} every 50 ms until finished; the node's
#         CPU time (utime+stime from /proc/PID/stat) spent on the push and its
#         RSS with the list of edges, before and after).
# Each simulated edge waits PROBE_S between `probing` and `done`, as a real
# edge's probe window (bench/fleet.sh uses the same 2 s). Everything binds and
# connects to 127.0.0.1 only; every process is stopped by PID.
#
# Environment:
#   IRONBRIDGE_BIN  the ironbridge binary            [build/ironbridge]
#   EDGES           simulated edges                  [1000]
#   PROBE_S         each edge's probe wait           [2]
#   TIMEOUT_S       the push's timeout               [300]
set -euo pipefail

IRONBRIDGE_BIN=${IRONBRIDGE_BIN:-build/ironbridge}
EDGES=${EDGES:-1000}
PROBE_S=${PROBE_S:-2}
TIMEOUT_S=${TIMEOUT_S:-300}
PYTHON=/usr/bin/python3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "fleet_sim.sh: $*" >&2; exit 1; }
command -v "$IRONBRIDGE_BIN" >/dev/null || die "IRONBRIDGE_BIN=$IRONBRIDGE_BIN not found"
command -v mosquitto >/dev/null || die "mosquitto not found (apt-get install mosquitto)"
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (apt-get install time)"
"$PYTHON" -c 'import paho.mqtt' 2>/dev/null || die "$PYTHON has no paho-mqtt (apt-get install python3-paho-mqtt)"
IRONBRIDGE_BIN=$(realpath "$IRONBRIDGE_BIN")

WORK=$(mktemp -d /tmp/ib-fleet-sim.XXXXXX)
PIDS=()
# shellcheck source=bench/processes.sh
source "$HERE/processes.sh"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }  # utime+stime, clock ticks
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
TICK_HZ=$(getconf CLK_TCK)

CLOUD_PORT=$(free_port)
mkdir -p "$WORK/cloud"
printf 'listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n' "$CLOUD_PORT" \
    >"$WORK/cloud/mosquitto.conf"
mosquitto -c "$WORK/cloud/mosquitto.conf" >"$WORK/cloud/log" 2>&1 &
MOSQ_PID=$!
PIDS+=("$MOSQ_PID")
wait_port "$CLOUD_PORT" "$MOSQ_PID" || die "mosquitto did not start: $(tail -3 "$WORK/cloud/log")"

"$PYTHON" "$HERE/fleet_sim.py" --port "$CLOUD_PORT" --edges "$EDGES" --probe-s "$PROBE_S" >"$WORK/sim.log" 2>&1 &
SIM_PID=$!
PIDS+=("$SIM_PID")
for ((i = 0; i < 1200; i++)); do  # bounded: 120 s
    grep -qs '^ready' "$WORK/sim.log" && break
    kill -0 "$SIM_PID" 2>/dev/null || die "the simulator ended: $(tail -3 "$WORK/sim.log")"
    sleep 0.1
done
grep -q '^ready' "$WORK/sim.log" || die "the simulated edges were not online after 120 s: $(tail -1 "$WORK/sim.log")"
echo "edges: $EDGES simulated in one process (RSS $(($(rss_kib "$SIM_PID") / 1024)) MiB), probe $PROBE_S s; load: $(uptime | sed 's/.*load average: //')"

cp "$HERE"/fleet-template.toml "$WORK/template.toml"

# --- cli: ironbridge fleet push
sim_before=$(cpu_ticks "$SIM_PID")
set +e
/usr/bin/time -f '%e %U %S %M' -o "$WORK/cli.time" "$IRONBRIDGE_BIN" fleet --broker "127.0.0.1:$CLOUD_PORT" \
    --timeout "$TIMEOUT_S" push "$WORK/template.toml" --targets 'sim/*' >"$WORK/push.out" 2>"$WORK/push.err"
rc=$?
set -e
read -r wall user sys maxrss <"$WORK/cli.time"
echo "cli:  push to $EDGES edges: $wall s until every edge answered, exit $rc: $(tail -1 "$WORK/push.out")"
echo "      controller CPU $(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }') s (user $user, sys $sys)," \
     "peak RSS $((maxrss / 1024)) MiB; simulator CPU" \
     "$(awk -v t=$(($(cpu_ticks "$SIM_PID") - sim_before)) -v hz="$TICK_HZ" 'BEGIN { printf "%.2f", t / hz }') s"
[[ $rc -eq 0 ]] || { tail -5 "$WORK/push.out" "$WORK/push.err" >&2; exit 1; }

# --- rest: a node with [fleet_controller]
API_PORT=$(free_port)
mkdir -p "$WORK/ctl"
{ bench_node_toml "$WORK/ctl" "$API_PORT"; cat <<EOF; } >"$WORK/ctl/ironbridge.toml"
[fleet_controller]
broker = "127.0.0.1:$CLOUD_PORT"
timeout = $TIMEOUT_S
EOF
"$IRONBRIDGE_BIN" run -c "$WORK/ctl/ironbridge.toml" >"$WORK/ctl/log" 2>&1 &
CTL_PID=$!
PIDS+=("$CTL_PID")
wait_port "$API_PORT" "$CTL_PID" || die "the controller node did not start: $(tail -3 "$WORK/ctl/log")"
online_edges() {
    "$PYTHON" -c 'import json, sys, urllib.request
try:
    b = json.load(urllib.request.urlopen("http://127.0.0.1:%s/api/v1/fleet/edges" % sys.argv[1], timeout=30))
    print(sum(e["online"] for e in b["edges"]) if b["connected"] else 0)
except OSError:
    print(0)' "$API_PORT"
}
for ((i = 0; i < 300; i++)); do  # bounded: 60 s
    online=$(online_edges)
    [[ $online -ge $EDGES ]] && break
    sleep 0.2
done
[[ $online -ge $EDGES ]] || die "the controller node lists $online of $EDGES edges online after 60 s"
rss_before=$(rss_kib "$CTL_PID")
ctl_before=$(cpu_ticks "$CTL_PID")
sim_before=$(cpu_ticks "$SIM_PID")
# One Python process posts and polls (spawning one per poll would take CPU from the simulator).
"$PYTHON" - "$API_PORT" "$WORK/template.toml" "$TIMEOUT_S" >"$WORK/rest.out" <<'PY'
import json, sys, time, urllib.request
port, template, timeout_s = sys.argv[1], open(sys.argv[2]).read(), float(sys.argv[3])
def call(path, body=None):
    req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path), method="POST" if body else "GET",
                                 data=json.dumps(body).encode() if body else None)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())
start = time.monotonic()
order = call("/api/v1/fleet/push", {"template": template, "targets": "sim/*"})
while True:
    push = call("/api/v1/fleet/pushes/" + order["id"])
    if push["finished"] or time.monotonic() - start > timeout_s:
        break
    time.sleep(0.05)
print("%.2f s until finished (finished %s, succeeded %s, %s)" % (time.monotonic() - start, push["finished"],
                                                                 push["succeeded"], push["summary"]))
PY
echo "rest: push to $EDGES edges: $(cat "$WORK/rest.out")"
echo "      controller node CPU for the push $(awk -v t=$(($(cpu_ticks "$CTL_PID") - ctl_before)) -v hz="$TICK_HZ" 'BEGIN { printf "%.2f", t / hz }') s," \
     "RSS $((rss_before / 1024)) MiB with $EDGES edges listed, $(($(rss_kib "$CTL_PID") / 1024)) MiB after the push;" \
     "simulator CPU $(awk -v t=$(($(cpu_ticks "$SIM_PID") - sim_before)) -v hz="$TICK_HZ" 'BEGIN { printf "%.2f", t / hz }') s"
echo "load after: $(uptime | sed 's/.*load average: //')"
