#!/usr/bin/env bash
# The device layer's CPU per reading, with the sim driver (no peer, no I/O):
# DEVICES sim devices of TAGS float64 sine tags polled every 100 ms, history
# off, nobody subscribed. Ironbridge's utime+stime (/proc/<pid>/stat) over
# DURATION seconds after 3 s of warm-up, divided by the polls in that window
# (ib_device_polls_total) times TAGS. Run two binaries interleaved (A B A B):
# the figure is small and the clock tick is 10 ms.
#
# Environment:
#   IRONBRIDGE_BIN   the ironbridge binary       [build/ironbridge]
#   DEVICES          sim devices                 [20]
#   TAGS             tags per device             [1000]
#   DURATION         measured seconds            [20]
set -euo pipefail

IRONBRIDGE_BIN=${IRONBRIDGE_BIN:-build/ironbridge}
DEVICES=${DEVICES:-20}
TAGS=${TAGS:-1000}
DURATION=${DURATION:-20}
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=python3
[[ -x $IRONBRIDGE_BIN ]] || { echo "sim_cpu.sh: no $IRONBRIDGE_BIN (set IRONBRIDGE_BIN)" >&2; exit 1; }

here=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/ib-sim-cpu.XXXXXX)
PIDS=()
# shellcheck source=bench/processes.sh
source "$here/processes.sh"

api_port=$(free_port)
{
    bench_node_toml "$WORK" "$api_port"
    for ((d = 0; d < DEVICES; d++)); do
        echo "[[devices]]"; echo "name = \"sim$d\""; echo 'driver = "sim"'
        echo "[[devices.groups]]"; echo 'name = "g"'; echo "interval_ms = 100"
        for ((t = 0; t < TAGS; t++)); do
            echo "[[devices.groups.tags]]"; echo "name = \"t$t\""
            echo "address = \"sine:period=$((10 + t % 50)),amplitude=10\""; echo 'type = "float64"'
        done
    done
} >"$WORK/ironbridge.toml"
"$IRONBRIDGE_BIN" run -c "$WORK/ironbridge.toml" >"$WORK/ironbridge.log" 2>&1 &
ib=$!
PIDS+=("$ib")

polls() {
    curl -s --max-time 5 "http://127.0.0.1:$api_port/metrics" 2>/dev/null |
        awk '$1 ~ /^ib_device_polls_total({|$)/ { n += $NF } END { printf "%d\n", n }'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$ib/stat"; }

for ((i = 0; i < 300; i++)); do (($(polls) > 0)) && break; sleep 0.1; done
(($(polls) > 0)) || { echo "sim_cpu.sh: no poll within 30 s" >&2; cat "$WORK/ironbridge.log" >&2; exit 1; }
sleep 3
p0=$(polls) c0=$(cpu_ticks)
sleep "$DURATION"
p1=$(polls) c1=$(cpu_ticks)
$PYTHON - "$p0" "$p1" "$c0" "$c1" "$(getconf CLK_TCK)" "$TAGS" <<'PY'
import sys
p0, p1, c0, c1, hz, tags = (int(x) for x in sys.argv[1:])
readings, cpu = (p1 - p0) * tags, (c1 - c0) / hz
print(f"polls {p1 - p0}, readings {readings}, CPU {cpu:.2f} s, {cpu / readings * 1e9:.0f} ns per reading")
PY
echo "$(uptime)"
