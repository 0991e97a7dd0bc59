"""Real Modbus peers for the integration tests, each a child process on
127.0.0.1 stopped by its PID (SIGTERM, then SIGKILL):

- LibmodbusServer: tests/peers/modbus_server.c (target ib_modbus_peer), a
  libmodbus TCP server that can misbehave on request (exceptions for some
  addresses, silence, garbage, dropped connections, slow replies, dead units).
- PymodbusTcpServer: pymodbus 3.0.0's TCP server (or RTU framing over TCP).
- PymodbusRtuServer: pymodbus's serial RTU server on one end of a socat pty
  pair; Ironbridge opens the other end (`.device`).

Both pymodbus servers run tests/integration/pymodbus_server.py under
/usr/bin/python3; the test reads back what Ironbridge wrote with a pymodbus
client (`.client()`), for RTU through a TCP read-back port sharing the datastore.
"""

import json
import math
import os
import queue
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time

import ibharness as h

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"
START_TIMEOUT_S = h.WAIT_S
STOP_TIMEOUT_S = 3.0


def peer_bin():
    """ib_modbus_peer: $IB_MODBUS_PEER, else <dir of $IRONBRIDGE_BIN>/tests/ib_modbus_peer."""
    path = os.environ.get("IB_MODBUS_PEER", "")
    if not path:
        path = os.path.join(os.path.dirname(os.path.abspath(h.ironbridge_bin())), "tests", "ib_modbus_peer")
    if not os.access(path, os.X_OK):
        raise RuntimeError("ib_modbus_peer not found at %s (build the ib_modbus_peer target, "
                           "or set IB_MODBUS_PEER)" % path)
    return path


def _read_line(p, timeout, what):
    """The first stdout line of `p`, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    buf = b""
    fd = p.stdout.fileno()
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError("%s printed nothing within %.0f s" % (what, timeout))
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            raise RuntimeError("%s exited before it was ready (exit code %s)"
                               % (what, p.wait(STOP_TIMEOUT_S)))
        buf += chunk
    return buf.split(b"\n", 1)[0].decode("utf-8", "replace").strip()


class _Child:
    """A child process with its stderr kept in a temp file for failure reports."""

    def __init__(self, name):
        self.name = name
        self.proc = None
        self._log = None
        self._log_text = ""

    def _spawn(self, cmd, stdin=subprocess.DEVNULL):
        if self._log is None:
            self._log = tempfile.NamedTemporaryFile(prefix="ib-%s-" % self.name, suffix=".log", delete=False)
        self._log.write(("==== %s\n" % " ".join(cmd)).encode())
        self._log.flush()
        self.proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=self._log)
        return self.proc

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _stop_proc(self):
        p, self.proc = self.proc, None
        if p is None:
            return None
        rc = h.stop_process(p, STOP_TIMEOUT_S)
        for s in (p.stdin, p.stdout):
            if s:
                try:
                    s.close()
                except OSError:
                    pass
        return rc

    def log_text(self):
        if self._log is None:
            return self._log_text
        try:
            with open(self._log.name, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return self._log_text

    def _remove_log(self):
        if self._log is not None:
            self._log_text = self.log_text()
            self._log.close()
            try:
                os.unlink(self._log.name)
            except OSError:
                pass
            self._log = None


    # Subclasses give start() and stop().
    def __enter__(self):
        if self.proc is None:
            try:
                self.start()
            except BaseException:
                self.__exit__(None, None, None)
                raise
        return self

    def __exit__(self, *exc):
        self.stop()
        self._remove_log()
        return False


# --------------------------------------------------------------------------- libmodbus

class LibmodbusServer(_Child):
    """ib_modbus_peer as a context manager.

    Options map to its flags: registers=1000, illegal=[(from, to), ...],
    set={addr: value}, silent_after=N, garbage_after=N, drop_after=N,
    units=[u, ...], delay_ms=N, lifetime=S. port=0 takes one from h.free_port()
    (reserved for this test, so nothing else takes it while the server is
    stopped); after a restart() the server listens on the same port again.
    """

    def __init__(self, port=0, **options):
        super().__init__("modbus-peer")
        self.port = port or h.free_port()
        self.options = {k: v for k, v in options.items() if v is not None}

    def _cmd(self):
        o = self.options
        cmd = [peer_bin(), "--port", str(self.port)]
        for key, flag in (("registers", "--registers"), ("silent_after", "--silent-after"),
                          ("garbage_after", "--garbage-after"), ("drop_after", "--drop-after"),
                          ("delay_ms", "--delay-ms"), ("lifetime", "--lifetime")):
            if o.get(key) is not None:
                cmd += [flag, str(o[key])]
        for lo, hi in o.get("illegal", ()):
            cmd += ["--illegal", "%d-%d" % (lo, hi)]
        for addr, value in sorted((o.get("set") or {}).items()):
            cmd += ["--set", "%d=%d" % (addr, value & 0xFFFF)]
        for u in o.get("units", ()):
            cmd += ["--unit", str(u)]
        unknown = set(o) - {"registers", "silent_after", "garbage_after", "drop_after", "delay_ms",
                            "lifetime", "illegal", "set", "units"}
        if unknown:
            raise TypeError("LibmodbusServer: unknown options %s" % sorted(unknown))
        return cmd

    def start(self):
        assert self.proc is None, "already running"
        p = self._spawn(self._cmd())
        # Rebinding the same port right after a stop can fail for a moment
        # (SO_REUSEADDR covers TIME_WAIT, not a socket still closing): retry a few times.
        for attempt in range(20):
            try:
                line = _read_line(p, START_TIMEOUT_S, "ib_modbus_peer")
                break
            except RuntimeError:
                if self.port == 0 or p.poll() is None or attempt == 19:
                    self._stop_proc()
                    raise RuntimeError("ib_modbus_peer did not start:\n" + self.log_text())
                self.proc = None
                time.sleep(0.1)
                p = self._spawn(self._cmd())
        m = re.fullmatch(r"LISTENING (\d+)", line)
        if not m:
            self._stop_proc()
            raise RuntimeError("ib_modbus_peer said %r:\n%s" % (line, self.log_text()))
        self.port = int(m.group(1))
        return self

    def stop(self):
        return self._stop_proc()

    def restart(self, **options):
        """Stops and starts again on the same port. `options` update those given
        so far; an option set to None is dropped (restart(silent_after=None)
        brings back a well-behaved server with the same data)."""
        self.stop()
        self.options.update(options)
        self.options = {k: v for k, v in self.options.items() if v is not None}
        return self.start()

    def stats(self):
        """The counters the last stopped server printed, as a dict of ints
        (accepted, requests, replies, exceptions, garbage, ignored_unit,
        ignored_silent, dropped); {} if none was stopped yet."""
        lines = [l for l in self.log_text().splitlines() if "ib_modbus_peer: stopping:" in l]
        if not lines:
            return {}
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])}

    def client(self, **kw):
        return modbus_client(self.port, **kw)


# --------------------------------------------------------------------------- pymodbus

def _spec(size, units, hr, ir, co, di):
    """Datastore spec for pymodbus_server.py. With `units`, a dict
    unit -> {"hr": {...}, "ir": ..., "co": ..., "di": ...} (or a list of unit
    ids, all with the hr/ir/co/di given here)."""
    def keyed(d):
        return {str(k): v for k, v in (d or {}).items()}
    common = {"hr": keyed(hr), "ir": keyed(ir), "co": keyed(co), "di": keyed(di)}
    spec = {"size": size}
    if units:
        if isinstance(units, dict):
            spec["units"] = {str(u): {a: keyed(v) for a, v in p.items()} for u, p in units.items()}
        else:
            spec["units"] = {str(u): common for u in units}
    else:
        spec["preload"] = common
    return json.dumps(spec)


class _PymodbusChild(_Child):
    def _start_script(self, args):
        cmd = [PYTHON, os.path.join(HERE, "pymodbus_server.py")] + args
        # stdin stays open: the child exits when it reaches end of file, i.e. when
        # this process goes away without stopping it.
        p = self._spawn(cmd, stdin=subprocess.PIPE)
        try:
            line = _read_line(p, START_TIMEOUT_S, "pymodbus_server.py")
        except RuntimeError as e:
            self._stop_proc()
            raise RuntimeError("%s\n%s" % (e, self.log_text())) from None
        if not line.startswith("READY "):
            self._stop_proc()
            raise RuntimeError("pymodbus_server.py said %r:\n%s" % (line, self.log_text()))
        return json.loads(line[len("READY "):])


class PymodbusTcpServer(_PymodbusChild):
    """pymodbus's Modbus TCP server in a child process.

    port: 0 takes one from h.free_port(), as LibmodbusServer. framer: "socket" (Modbus TCP) or "rtu" (RTU
    frames over TCP, for driver "modbus-rtu-over-tcp"). units: None (every unit
    answered from one datastore), a list of unit ids, or a dict unit -> preload.
    hr/ir/co/di: {wire address: value} preloads. size: registers per area.
    """

    def __init__(self, port=0, framer="socket", units=None, hr=None, ir=None, co=None, di=None,
                 size=1000):
        super().__init__("pymodbus-tcp")
        self.port = port or h.free_port()
        self.framer = framer
        self.spec = _spec(size, units, hr, ir, co, di)

    def start(self):
        assert self.proc is None, "already running"
        ports = self._start_script(["--tcp-port", str(self.port), "--framer", self.framer,
                                    "--spec", self.spec])
        self.port = ports["tcp"]
        return self

    def stop(self):
        return self._stop_proc()

    def restart(self):
        """Same port, fresh datastore (the preloads again)."""
        self.stop()
        return self.start()

    def client(self, **kw):
        """A connected pymodbus TCP client (socket framing only)."""
        assert self.framer == "socket", "read back an RTU-over-TCP server through a client with framer rtu"
        return modbus_client(self.port, **kw)


_PTY_RE = re.compile(rb"PTY is (/dev/pts/\d+)")


class PymodbusRtuServer(_PymodbusChild):
    """pymodbus's serial RTU server on one end of a socat pty pair.

    `.device` is the other end, for Ironbridge's serial_port. `.readback_port`
    is a Modbus TCP server on the same datastore, so `.client()` reads what was
    written over the serial line. Other options as for PymodbusTcpServer, plus
    baud, parity ("N", "E", "O"), bytesize, stopbits for the server's end (a pty
    carries bytes whatever its settings, but the server's termios are set all
    the same).
    """

    def __init__(self, baud=9600, parity="N", bytesize=8, stopbits=1, units=None, hr=None, ir=None,
                 co=None, di=None, size=1000):
        super().__init__("pymodbus-rtu")
        self.baud, self.parity, self.bytesize, self.stopbits = baud, parity, bytesize, stopbits
        self.spec = _spec(size, units, hr, ir, co, di)
        self.socat = None
        self._socat_log = None
        self.device = None         # Ironbridge's end
        self.server_device = None  # pymodbus's end
        self.readback_port = None

    def _start_socat(self):
        cmd = ["socat", "-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0"]
        # stderr goes to a file, not a pipe nobody drains once the ptys are known.
        self._socat_log = tempfile.NamedTemporaryFile(prefix="ib-socat-", suffix=".log", delete=False)
        self.socat = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=self._socat_log)
        # socat -d -d logs "N PTY is /dev/pts/X" for each end, then "starting data transfer loop".
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            with open(self._socat_log.name, "rb") as f:
                buf = f.read()
            if len(_PTY_RE.findall(buf)) >= 2 and b"starting data transfer loop" in buf:
                break
            if self.socat.poll() is not None:
                raise RuntimeError("socat exited: %r" % buf)
            if time.monotonic() >= deadline:
                raise RuntimeError("socat gave no pty pair within %.0f s: %r" % (START_TIMEOUT_S, buf))
            time.sleep(0.02)
        ends = [m.decode() for m in _PTY_RE.findall(buf)]
        self.server_device, self.device = ends[0], ends[1]

    def start(self):
        assert self.proc is None, "already running"
        if self.socat is None:
            self._start_socat()
        ports = self._start_script([
            "--serial", self.server_device, "--baud", str(self.baud), "--parity", self.parity,
            "--bytesize", str(self.bytesize), "--stopbits", str(self.stopbits),
            "--readback-port", "0", "--spec", self.spec])
        self.readback_port = ports["readback"]
        return self

    def stop_server(self):
        """Stops pymodbus only: the pty pair stays, Ironbridge's end is still open
        and nothing answers (a dead RTU device)."""
        return self._stop_proc()

    def restart_server(self):
        self.stop_server()
        return self.start()

    def stop(self):
        rc = self._stop_proc()
        s, self.socat = self.socat, None
        if s is not None:
            h.stop_process(s, STOP_TIMEOUT_S)
            self._socat_log.close()
            try:
                os.unlink(self._socat_log.name)
            except OSError:
                pass
        return rc

    def client(self, **kw):
        return modbus_client(self.readback_port, **kw)


# --------------------------------------------------------------------------- client

def modbus_client(port, timeout=2.0, framer="socket"):
    """A connected pymodbus TCP client on 127.0.0.1:port (close() it, or use `with`)."""
    from pymodbus.client import ModbusTcpClient
    kw = {}
    if framer == "rtu":
        from pymodbus.transaction import ModbusRtuFramer
        kw["framer"] = ModbusRtuFramer
    c = ModbusTcpClient(h.HOST, port=port, timeout=timeout, **kw)
    if not c.connect():
        raise RuntimeError("pymodbus client could not connect to 127.0.0.1:%d" % port)
    return c


def read_holding(client, address, count, unit=1):
    """Holding registers as a list of ints; raises AssertionError on an error reply."""
    r = client.read_holding_registers(address, count, slave=unit)
    if r.isError():
        raise AssertionError("reading holding %d+%d from unit %d: %r" % (address, count, unit, r))
    return list(r.registers)


def read_coils(client, address, count, unit=1):
    r = client.read_coils(address, count, slave=unit)
    if r.isError():
        raise AssertionError("reading coils %d+%d from unit %d: %r" % (address, count, unit, r))
    return list(r.bits[:count])


# --------------------------------------------------------------------------- register layouts
#
# Written from the specification, not from Ironbridge's code: a value's bytes
# big-endian are A B C D (E F G H); the first letter of the order is the word
# order (B: most significant register first), the second the byte order inside
# each register. #BB = ABCD, #BL = BADC, #LB = CDAB, #LL = DCBA.

_PACK = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f",
         "int64": ">q", "uint64": ">Q", "float64": ">d"}


def _regs_from_bytes(data, low_byte_first=False):
    if len(data) % 2:
        data += b"\0"
    regs = []
    for i in range(0, len(data), 2):
        hi, lo = data[i], data[i + 1]
        regs.append((lo << 8 | hi) if low_byte_first else (hi << 8 | lo))
    return regs


def encode_registers(value, dtype, order="BB", length=None, low_byte_first=False):
    """The registers holding `value` of tag type `dtype`.

    order: "BB"/"BL"/"LB"/"LL" for 32/64-bit, "B"/"L" (or a two-letter order,
    of which the second letter counts) for 16-bit. int8/uint8: the low byte of
    one register (high byte 0). string/bytes: `length` registers, padded with
    NULs, high byte first unless low_byte_first."""
    if dtype in ("int8", "uint8"):
        return [value & 0xFF]
    if dtype in ("string", "bytes"):
        data = value.encode("utf-8") if dtype == "string" else bytes(value)
        assert len(data) <= 2 * length, "value longer than %d registers" % length
        return _regs_from_bytes(data + b"\0" * (2 * length - len(data)), low_byte_first)
    data = struct.pack(_PACK[dtype], value)
    words = [data[i:i + 2] for i in range(0, len(data), 2)]
    if len(words) == 1:
        byte_swap = order[-1] == "L"
    else:
        if order[0] == "L":
            words.reverse()
        byte_swap = order[1] == "L"
    if byte_swap:
        words = [w[::-1] for w in words]
    return [w[0] << 8 | w[1] for w in words]


def holding(wire, unit=1, suffix=""):
    """Address text of a holding register at wire address `wire` (address_base 1)."""
    return "%d!4%05d%s" % (unit, wire + 1, suffix)


def input_reg(wire, unit=1, suffix=""):
    return "%d!3%05d%s" % (unit, wire + 1, suffix)


def coil(wire, unit=1):
    return "%d!0%05d" % (unit, wire + 1)


def discrete(wire, unit=1):
    return "%d!1%05d" % (unit, wire + 1)


# --------------------------------------------------------------------------- device config

_FLOAT_KEYS = {"scale", "offset", "deadband"}


def _toml(key, v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if key in _FLOAT_KEYS:
        return repr(float(v))
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(key, x) for x in v) + "]"
    return json.dumps(str(v))  # a TOML basic string is a JSON string


def tag(name, address, type="uint16", **keys):
    """One [[devices.groups.tags]] table (access, scale, offset, unit, on_change, deadband)."""
    return dict(name=name, address=address, type=type, **keys)


def group(name, tags, interval_ms=100):
    return {"name": name, "interval_ms": interval_ms, "tags": list(tags)}


def device(name, groups, driver="modbus-tcp", **keys):
    """One [[devices]] table. Defaults suited to tests (short timeouts and
    back-off) unless given: host 127.0.0.1, timeout_ms 500, retries 1,
    reconnect_min_ms 200, reconnect_max_ms 2000."""
    d = {"name": name, "driver": driver}
    if driver in ("modbus-tcp", "modbus-rtu-over-tcp"):
        d["host"] = "127.0.0.1"
    d.update({"timeout_ms": 500, "retries": 1, "reconnect_min_ms": 200, "reconnect_max_ms": 2000})
    d.update(keys)
    d["groups"] = list(groups)
    return d


def devices_toml(*devices):
    """TOML text for Broker(extra_toml=...)."""
    out = []
    for d in devices:
        out.append("[[devices]]")
        out += ["%s = %s" % (k, _toml(k, v)) for k, v in d.items() if k != "groups"]
        for g in d["groups"]:
            out += ["", "[[devices.groups]]"]
            out += ["%s = %s" % (k, _toml(k, v)) for k, v in g.items() if k != "tags"]
            for t in g["tags"]:
                out += ["", "[[devices.groups.tags]]"]
                out += ["%s = %s" % (k, _toml(k, v)) for k, v in t.items()]
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------- what a user sees

class Approx:
    """An expected float compared with a relative tolerance (float32 values
    are compared at float32 precision)."""

    def __init__(self, value, rel=1e-9):
        self.value, self.rel = float(value), rel

    def __repr__(self):
        return "~%r" % self.value


def same_value(actual, expected):
    """JSON value `actual` equals `expected`: floats (Approx or float) within a
    tolerance, accepting a JSON integer for a whole float; ints must be JSON
    integers; bools must be JSON booleans."""
    if isinstance(expected, (Approx, float)):
        e = expected if isinstance(expected, Approx) else Approx(expected)
        return (isinstance(actual, (int, float)) and not isinstance(actual, bool)
                and math.isclose(actual, e.value, rel_tol=e.rel, abs_tol=1e-12))
    if isinstance(expected, bool):
        return actual is expected
    if isinstance(expected, int):
        return type(actual) is int and actual == expected
    return actual == expected


def values_match(values, expected):
    """Names in `expected` whose value in `values` is missing or different."""
    return [n for n, e in expected.items() if n not in values or not same_value(values[n], e)]


class Watch:
    """JSON messages on one topic filter, seen by a paho client on Ironbridge's
    MQTT port. next() returns the next message that satisfies a predicate."""

    def __init__(self, case, broker, topic):
        self.topic = topic
        self.client = case.paho(broker, h.unique("watch"), protocol=h.V311)
        self.client.subscribe(topic, 1)
        self.seen = []

    def _get(self, timeout):
        try:
            m = self.client.messages.get(timeout=timeout)
        except queue.Empty:
            return None
        try:
            d = json.loads(m.payload)
        except ValueError:
            raise AssertionError("not JSON on %s: %r" % (m.topic, m.payload[:200])) from None
        self.seen.append(d)
        del self.seen[:-50]
        return d

    def next(self, pred=lambda d: True, timeout=15.0, what="a matching message"):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s on %s within %.0f s; the last ones:\n  %s" % (
                    what, self.topic, timeout, "\n  ".join(json.dumps(d)[:600] for d in self.seen[-4:])))
            d = self._get(min(left, 0.5))
            if d is not None and pred(d):
                return d

    def collect(self, seconds):
        """Every message within `seconds`."""
        deadline = time.monotonic() + seconds
        out = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            d = self._get(left)
            if d is not None:
                out.append(d)

    def drain(self):
        out = []
        while True:
            d = self._get(0)
            if d is None:
                return out
            out.append(d)


class Readings(Watch):
    """Readings of one device (all groups, or one): ib/data/{device}/{group}."""

    def __init__(self, case, broker, device_name, group_name="+"):
        super().__init__(case, broker, "ib/data/%s/%s" % (device_name, group_name))
        self.both = []  # (group, tag) reported under both "values" and "errors"

    def _get(self, timeout):
        d = super()._get(timeout)
        if d is not None:
            for n in set(d.get("values") or {}) & set(d.get("errors") or {}):
                self.both.append((d.get("group"), n))
        return d

    def wait_values(self, expected, timeout=15.0):
        """The next reading in which every tag of `expected` has its value."""
        return self.next(lambda d: not values_match(d.get("values") or {}, expected), timeout,
                         "reading with values %r" % (expected,))

    def wait_errors(self, codes, timeout=15.0):
        """The next reading in which every tag of `codes` (name -> code, or
        name -> a set of codes) is under "errors" with such a code."""
        def ok(d):
            errs = d.get("errors") or {}
            for n, c in codes.items():
                want = c if isinstance(c, (set, frozenset, tuple, list)) else {c}
                if n not in errs or errs[n].get("code") not in want:
                    return False
            return True
        return self.next(ok, timeout, "reading with errors %r" % (codes,))


class Status(Watch):
    """ib/status/{device} (retained): the current state arrives at once."""

    def __init__(self, case, broker, device_name):
        super().__init__(case, broker, "ib/status/%s" % device_name)

    def wait_state(self, state, timeout=15.0):
        return self.next(lambda d: d.get("state") == state, timeout, "status %r" % state)


class Writer:
    """Writes through MQTT: publishes to ib/write/{device} and waits for the
    answer with the same id on ib/write/{device}/result."""

    def __init__(self, case, broker, device_name):
        self.device = device_name
        self.results = Watch(case, broker, "ib/write/%s/result" % device_name)
        self.client = case.paho(broker, h.unique("writer"), protocol=h.V311)
        self.n = 0

    def send(self, body, timeout=15.0):
        """Publishes `body` (a dict; an "id" is added if missing) and returns the result dict."""
        body = dict(body)
        if "id" not in body:
            self.n += 1
            body["id"] = "w-%d" % self.n
        self.client.publish("ib/write/%s" % self.device, json.dumps(body).encode(), qos=1)
        rid = body["id"]
        return self.results.next(lambda d: d.get("id") == rid, timeout, "write result id %r" % rid)

    def write(self, tag_name, value, **kw):
        return self.send({"tag": tag_name, "value": value}, **kw)


def http_json(broker, method, path, body=None, timeout=10.0):
    """(status, decoded JSON or raw bytes) from Ironbridge's REST API."""
    import urllib.error
    import urllib.request
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://%s:%d%s" % (h.HOST, broker.api_port, path), data=data,
                                 method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


class ModbusCase(h.IBTestCase):
    """Base for the Modbus tests: peers stopped at cleanup and their logs
    printed (with the broker's) when a test fails; shortcuts for the watchers.
    No tests of its own."""

    def run(self, result=None):
        self._mb_peers = []
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        try:
            return super().run(result)
        finally:
            if len(result.failures) + len(result.errors) > before or h.VERBOSE:
                for p in self._mb_peers:
                    sys.stderr.write("\n----- %s log -----\n%s----- end of log -----\n"
                                     % (p.name, p.log_text()))

    def peer(self, peer):
        """Starts `peer` (a LibmodbusServer, PymodbusTcpServer or PymodbusRtuServer)
        and stops it at cleanup."""
        self._mb_peers.append(peer)
        self.addCleanup(peer.__exit__, None, None, None)
        peer.__enter__()
        return peer

    def start_node(self, *devices, **kw):
        """Ironbridge with these [[devices]] appended to the test config."""
        return self.start_broker(extra_toml=devices_toml(*devices), **kw)

    def readings(self, broker, device_name, group_name="+"):
        r = Readings(self, broker, device_name, group_name)
        self.addCleanup(self._check_no_stale_values, r)
        return r

    def _check_no_stale_values(self, readings):
        # DESIGN.md: a tag that failed appears under "errors", never with a stale value.
        self.assertEqual(readings.both, [], "tags reported under both values and errors")

    def status(self, broker, device_name):
        return Status(self, broker, device_name)

    def writer(self, broker, device_name):
        return Writer(self, broker, device_name)


class RuleApi:
    """A test case's view of its node's rules through the REST API."""

    RULE_WAIT_S = 10.0

    def rule(self, b, rule_id):
        status, body = http_json(b, "GET", "/api/v1/rules/" + rule_id)
        self.assertEqual(status, 200, body)
        return body

    def wait_rule(self, b, rule_id, pred, what, timeout=None):
        deadline = time.monotonic() + (self.RULE_WAIT_S if timeout is None else timeout)
        while True:
            r = self.rule(b, rule_id)
            if pred(r):
                return r
            if time.monotonic() > deadline:
                self.fail("rule %s: no %s: %r" % (rule_id, what, r))
            time.sleep(0.05)
