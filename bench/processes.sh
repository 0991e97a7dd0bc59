# Sourced by the bench scripts once they have set WORK (their scratch folder)
# and PIDS (what they start): stopping what they started, by PID only, and
# finding ports on 127.0.0.1. A script with a cleanup of its own defines it after.

# Stops one process this script started: TERM, then KILL after 3 s.
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 30; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# At exit, every PID in PIDS stopped and WORK removed.
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free TCP port on 127.0.0.1 (PYTHON: the script's interpreter).
free_port() {
    "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits up to 10 s for 127.0.0.1:PORT to accept; fails if PID ends first.
wait_port() {
    local port=$1 pid=$2 i
    for ((i = 0; i < 200; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# The head of a quiet benchmark node's config: data under DIR, warnings only,
# MQTT on a port of the kernel's choosing and the API on API_PORT (0: any),
# both on 127.0.0.1, no history. The caller appends what the node is for.
bench_node_toml() {  # DIR API_PORT
    cat <<EOF
data_dir = "$1/data"
[log]
level = "warn"
[[broker.listeners]]
name = "default"
bind = "127.0.0.1"
port = 0
[api]
bind = "127.0.0.1"
port = $2
[history]
enabled = false
EOF
}
