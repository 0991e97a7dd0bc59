#!/usr/bin/python3
"""Cold start of a binary with the embedded default configuration: the time
from exec to the first CONNACK on its MQTT port, and the resident memory once
it idles. Each run starts in a fresh empty directory (data_dir "./data" is
created then). Prints the binary's size and its dynamic dependencies first.

The client is a raw socket retrying connect() in a tight loop and sending one
MQTT 3.1.1 CONNECT as soon as it is accepted: no client program's own exec in
the figure. When 1883 or 8080 is in use on this machine, the embedded default
is run from a file with free ports instead (the same text, read from
src/config/loader.cpp), which the output says.

Usage: bench/coldstart.py [BINARY] [RUNS]   (default build-dist/dist/ironbridge, 30)"""

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
        return [], 1883
    with open(os.path.join(ROOT, "src", "config", "loader.cpp")) as f:
        text = re.search(r'R"toml\((.*?)\)toml"', f.read(), re.S).group(1)
    mqtt, api = free_port(), free_port()
    text = text.replace("port = 1883", "port = %d" % mqtt).replace("port = 8080", "port = %d" % api)
    path = os.path.join(workdir, "default.toml")
    with open(path, "w") as f:
        f.write(text)
    print("note: 1883 or 8080 is in use here; the embedded default runs from a file on ports %d and %d"
          % (mqtt, api))
    return ["-c", path], mqtt


def first_connack_ms(binary, args, port, workdir, deadline_s=5.0):
    rundir = tempfile.mkdtemp(dir=workdir)
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "run"] + args, cwd=rundir, stdout=subprocess.DEVNULL,
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
            s.close()
            if reply[:1] != b"\x20" or reply[3:4] != b"\x00":
                raise SystemExit("unexpected CONNACK %r" % reply)
            return (t1 - t0) * 1000, p
        raise SystemExit("no CONNACK within %.0f s" % deadline_s)
    except BaseException:
        stop(p)
        raise


def stop(p):
    if p.poll() is None:
        os.kill(p.pid, signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(5)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build-dist/dist/ironbridge"))
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    print("binary: %s, %d bytes" % (binary, os.path.getsize(binary)))
    print("ldd:\n" + subprocess.run(["ldd", binary], stdout=subprocess.PIPE, text=True).stdout.rstrip())
    workdir = tempfile.mkdtemp(prefix="ib-coldstart-")
    try:
        args, port = default_config_args(workdir)
        times = []
        for i in range(runs):
            ms, p = first_connack_ms(binary, args, port, workdir)
            times.append(ms)
            if i == runs - 1:
                time.sleep(3)  # idle: the simulated device polls once a second
                rss = rss_kib(p.pid)
            stop(p)
        times.sort()
        print("exec to first CONNACK over %d runs: median %.2f ms, min %.2f ms, max %.2f ms"
              % (runs, statistics.median(times), times[0], times[-1]))
        print("idle RSS after 3 s: %.1f MiB (%d KiB)" % (rss / 1024, rss))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
