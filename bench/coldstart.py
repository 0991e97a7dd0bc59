#!/usr/bin/python3
"""Cold start of a binary with the embedded default configuration: the time
from exec to the first CONNACK on its MQTT port, the time to readiness (the
first 200 of GET /healthz/ready, after the CONNACK), and the resident memory once
it idles. Each run starts in a fresh empty directory (data_dir "./data" is
created then). Prints the binary's size and its dynamic dependencies first.

Beside the wall-clock time, the CPU time the process used up to its first
CONNACK (every thread's run time from /proc/PID/task/*/schedstat, read right
after the CONNACK): on a machine shared with builds the wall clock measures
the others as much as the binary. With several binaries, the runs interleave
(A B A B ...) so that each sees the same load; the idle memory is taken from
each binary's last three runs (their median), after 4 s: VmRSS, /proc/PID/smaps_rollup, and the
Rss of each mapped file (the binary, each library) summed from /proc/PID/smaps.

The client is a raw socket retrying connect() in a tight loop and sending one
MQTT 3.1.1 CONNECT as soon as it is accepted: no client program's own exec in
the figure. When 1883 or 8080 is in use on this machine, the embedded default
is run from a file with free ports instead (the same text, read from
src/config/loader.cpp), which the output says.

The word "mosquitto" in place of a binary runs Debian's /usr/sbin/mosquitto
in the same interleaving, for reference: one listener on the MQTT port,
anonymous clients allowed, no persistence (it has no readiness endpoint).

Usage: bench/coldstart.py [BINARY|mosquitto...] [RUNS]   (default build-dist/dist/ironbridge, 30)"""

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

IDLE_SAMPLES = 3  # the last runs of each binary idle 4 s before they stop: memory is their median
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONNECT = bytes([0x10, 12, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 0])  # clean session, empty client id


def port_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def default_config_args(workdir):
    """[] for the embedded default, or ["-c", file] with the same text on free ports."""
    if port_free(1883) and port_free(8080):
        return [], 1883, 8080
    with open(os.path.join(ROOT, "src", "config", "loader.cpp")) as f:
        text = re.search(r'R"toml\((.*?)\)toml"', f.read(), re.S).group(1)
    mqtt, api = free_port(), free_port()
    text = text.replace("port = 1883", "port = %d" % mqtt).replace("port = 8080", "port = %d" % api)
    path = os.path.join(workdir, "default.toml")
    with open(path, "w") as f:
        f.write(text)
    print("note: 1883 or 8080 is in use here; the embedded default runs from a file on ports %d and %d"
          % (mqtt, api))
    return ["-c", path], mqtt, api


MOSQUITTO = "/usr/sbin/mosquitto"


def command(binary, args, port, workdir):
    """The command line that starts `binary` ("mosquitto": the reference broker) on `port`."""
    if binary != MOSQUITTO:
        return [binary, "run"] + args
    conf = os.path.join(workdir, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n" % port)
    return [MOSQUITTO, "-c", conf]


def first_connack_ms(binary, args, port, workdir, deadline_s=5.0):
    rundir = tempfile.mkdtemp(dir=workdir)
    argv = command(binary, args, port, workdir)
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, cwd=rundir, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        while time.perf_counter() - t0 < deadline_s:
            s = socket.socket()
            try:
                s.connect(("127.0.0.1", port))
            except ConnectionRefusedError:
                s.close()
                continue
            s.settimeout(deadline_s)
            s.sendall(CONNECT)
            reply = s.recv(4)
            t1 = time.perf_counter()
            cpu = cpu_ms(p.pid)
            s.close()
            if reply[:1] != b"\x20" or reply[3:4] != b"\x00":
                raise SystemExit("unexpected CONNACK %r" % reply)
            return (t1 - t0) * 1000, cpu, p, t0
        raise SystemExit("no CONNACK within %.0f s" % deadline_s)
    except BaseException:
        stop(p)
        raise


def ready_ms(port, t0, deadline_s=5.0):
    """Time from exec (t0) to the first 200 of GET /healthz/ready: the listeners
    up and the node ready, what systemd's READY=1 and a kubelet wait for."""
    while time.perf_counter() - t0 < deadline_s:
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
            s.settimeout(deadline_s)
            s.sendall(b"GET /healthz/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            status = s.recv(12)
        except OSError:
            continue
        finally:
            s.close()
        if status.startswith(b"HTTP/1.1 200"):
            return (time.perf_counter() - t0) * 1000
    raise SystemExit("not ready within %.0f s" % deadline_s)


def stop(p):
    if p.poll() is None:
        os.kill(p.pid, signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(5)


def cpu_ms(pid):
    """CPU time of every thread of `pid` so far (schedstat: nanoseconds on a CPU)."""
    total = 0
    task_dir = "/proc/%d/task" % pid
    for tid in os.listdir(task_dir):
        try:
            with open(os.path.join(task_dir, tid, "schedstat")) as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended meanwhile
    return total / 1e6


def memory_kib(pid):
    """VmRSS, and the smaps_rollup totals that say what the resident pages are."""
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "Threads:")):
                key, value = line.split()[:2]
                fields[key.rstrip(":")] = int(value)
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if parts[0] in ("Pss:", "Pss_Anon:", "Pss_File:", "Private_Dirty:", "Anonymous:"):
                fields[parts[0].rstrip(":")] = int(parts[1])
    return fields


def rss_per_mapping_kib(pid):
    """Rss summed per mapped file from /proc/PID/smaps ("[anon]" for the rest), largest first."""
    per = {}
    name = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            parts = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                name = os.path.basename(parts[5]) if len(parts) > 5 else "[anon]"
            elif parts[0] == "Rss:":
                per[name] = per.get(name, 0) + int(parts[1])
    return sorted(per.items(), key=lambda kv: -kv[1])


def median_memory(samples):
    """Each figure's median over the idle samples (the mappings too, per name)."""
    m = {k: statistics.median_low(s[k] for s in samples) for k in samples[0] if k != "mappings"}
    names = {n for s in samples for n, _ in s["mappings"]}
    per = {n: statistics.median_low(dict(s["mappings"]).get(n, 0) for s in samples) for n in names}
    m["mappings"] = sorted(per.items(), key=lambda kv: -kv[1])
    return m


def median_line(name, values):
    values = sorted(values)
    return ("%s: median %.2f ms, min %.2f ms, max %.2f ms"
            % (name, statistics.median(values), values[0], values[-1]))


def main():
    args = sys.argv[1:]
    runs = int(args.pop()) if args and args[-1].isdigit() else 30
    binaries = [MOSQUITTO if b == "mosquitto" else os.path.abspath(b) for b in args] or [
        os.path.join(ROOT, "build-dist/dist/ironbridge")]
    for binary in binaries:
        print("binary: %s, %d bytes" % (binary, os.path.getsize(binary)))
        print("ldd:\n" + subprocess.run(["ldd", binary], stdout=subprocess.PIPE, text=True).stdout.rstrip())
    workdir = tempfile.mkdtemp(prefix="ib-coldstart-")
    try:
        config_args, port, api_port = default_config_args(workdir)
        walls = {b: [] for b in binaries}
        cpus = {b: [] for b in binaries}
        readies = {b: [] for b in binaries}
        memory = {}
        for i in range(runs):
            for binary in binaries:
                wall, cpu, p, t0 = first_connack_ms(binary, config_args, port, workdir)
                if binary != MOSQUITTO:
                    readies[binary].append(ready_ms(api_port, t0))
                walls[binary].append(wall)
                cpus[binary].append(cpu)
                if i >= runs - IDLE_SAMPLES:
                    time.sleep(4)  # idle: the simulated device polls once a second
                    m = memory_kib(p.pid)
                    m["mappings"] = rss_per_mapping_kib(p.pid)
                    memory.setdefault(binary, []).append(m)
                stop(p)
        for binary in binaries:
            m = median_memory(memory[binary])
            print("%s over %d runs%s" % (binary, runs, " (interleaved)" if len(binaries) > 1 else ""))
            print("  " + median_line("exec to first CONNACK", walls[binary]))
            print("  " + median_line("CPU time to first CONNACK", cpus[binary]))
            if readies[binary]:
                print("  " + median_line("exec to /healthz/ready 200", readies[binary]))
            print("  idle after 4 s (median of %d): RSS %.1f MiB (%d KiB), %d threads; smaps_rollup: Pss %d, Pss_File %d, "
                  "Pss_Anon %d, Private_Dirty %d, Anonymous %d KiB"
                  % (IDLE_SAMPLES, m["VmRSS"] / 1024, m["VmRSS"], m["Threads"], m["Pss"], m["Pss_File"], m["Pss_Anon"],
                     m["Private_Dirty"], m["Anonymous"]))
            print("  Rss per mapping (KiB): " + ", ".join("%s %d" % kv for kv in m["mappings"] if kv[1] >= 16))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
