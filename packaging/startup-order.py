#!/usr/bin/python3
"""Writes packaging/startup-functions.txt: the functions of an unstripped
ironbridge that run from exec to the first CONNACK of the embedded default, in
answering one GET /healthz/ready, and over 6 s of idle after it (mangled, one
a line, in the order first seen).
make dist links them next to each other (lld's --symbol-ordering-file,
CMakeLists.txt), so the pages the kernel maps for start-up and idle code hold
little else: the binary's resident pages fall by about a fifth
(BENCHMARKS.md, "Fourth pass").

The trace is valgrind's callgrind, which counts every function that ran in
every thread, dumped while the node idles, before SIGTERM. A name the code no
longer has is ignored by the linker, and a new function is laid out as before,
so a stale list costs memory, never correctness; run this again after large
changes to the start path, on the binary make dist links (lld, no code
folding): a list taken from a folded binary lacks the names folding merged
into others, and those functions then lie anywhere (BENCHMARKS.md, "Fifth pass").

Usage: packaging/startup-order.py BINARY [OUT]   (BINARY: build-dist/ironbridge, unstripped)"""

import glob
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import coldstart  # noqa: E402  (the embedded default, on free ports when 1883/8080 are taken)


def trace(binary, workdir):
    """Runs `binary` under callgrind to its first CONNACK, one readiness probe and 6 s of idle; the dump files."""
    out = os.path.join(workdir, "callgrind.out")
    args, port, api_port = coldstart.default_config_args(workdir)
    p = subprocess.Popen(["valgrind", "--tool=callgrind", "--demangle=no", "--callgrind-out-file=" + out, binary,
                          "run"] + args, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            if time.monotonic() > deadline:
                raise SystemExit("no CONNACK under valgrind within 120 s")
            s = socket.socket()
            try:
                s.connect(("127.0.0.1", port))
            except ConnectionRefusedError:
                s.close()
                time.sleep(0.05)
                continue
            s.settimeout(30)
            s.sendall(coldstart.CONNECT)
            if s.recv(4)[:1] != b"\x20":
                raise SystemExit("no CONNACK")
            s.close()
            break
        # What a kubelet (and bench/coldstart.py) asks of an idle node: the readiness probe.
        coldstart.ready_ms(api_port, time.perf_counter(), deadline_s=60)
        time.sleep(6)
        subprocess.run(["callgrind_control", "--dump", str(p.pid)], stdout=subprocess.DEVNULL, check=True)
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            p.wait(60)
    return sorted(glob.glob(out + "*"))


def functions_of(binary, dumps):
    """The mangled names callgrind charged to `binary`, first seen first. Names
    and objects are compressed to "(id)" after their first use, in fn=, cfn=,
    ob= and cob= lines alike."""
    names, seen = [], set()
    target = os.path.realpath(binary)
    for dump in dumps:
        objects, functions, current = {}, {}, ""
        with open(dump, errors="replace") as f:
            for line in f:
                m = re.match(r"^(c?ob|c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
                if not m:
                    continue
                kind, key, name = m.groups()
                table = objects if kind.endswith("ob") else functions
                if name:
                    table[key] = name
                if kind == "ob":
                    current = objects.get(key, "")
                elif kind == "fn" and os.path.realpath(current) == target:
                    fn = re.sub(r"'\d+$", "", functions.get(key, ""))  # callgrind's recursion depth
                    # "0x..." is code without a symbol (the PLT): no section to place.
                    if fn and not fn.startswith("0x") and fn not in seen:
                        seen.add(fn)
                        names.append(fn)
    return names


# simdjson's kernels, one namespace per instruction set, chosen at run time by
# the CPU: valgrind has no AVX-512, so the trace never sees icelake's, which a
# recent server runs; an Atom without AVX2 runs westmere's.
SIMDJSON_KERNELS = ("7haswell", "7icelake", "8westmere", "8fallback")


def with_aliases(names):
    """A complete-object constructor or destructor (C1, D1) is an alias of the
    base-object one (C2, D2), whose name the section carries; a simdjson
    kernel comes with its twins for the other instruction sets."""
    out, seen = [], set()
    for n in names:
        kernels = re.match(r"^(_ZNK?8simdjson)(%s)(.*)$" % "|".join(SIMDJSON_KERNELS), n)
        twins = [kernels.group(1) + k + kernels.group(3) for k in SIMDJSON_KERNELS] if kernels else []
        for alias in [n, re.sub(r"C1([EI])", r"C2\1", n, count=1), n.replace("D1Ev", "D2Ev", 1)] + twins:
            if alias not in seen:
                seen.add(alias)
                out.append(alias)
    return out


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "packaging", "startup-functions.txt")
    workdir = tempfile.mkdtemp(prefix="ib-startup-order-")
    names = with_aliases(functions_of(binary, trace(binary, workdir)))
    with open(out, "w") as f:
        f.write("".join(n + "\n" for n in names))
    print("%s: %d functions" % (out, len(names)))


if __name__ == "__main__":
    main()
