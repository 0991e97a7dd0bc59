"""Shared harness for the integration tests: start a broker, drive it with paho
and with a small raw-socket MQTT client.

The target is chosen by IB_TEST_TARGET: "ironbridge" (default; $IRONBRIDGE_BIN)
or "mosquitto" (Debian's mosquitto, to validate the tests themselves).
Everything listens on 127.0.0.1 only; every process is stopped by its PID.
"""

import json
import os
import queue
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

TARGET = os.environ.get("IB_TEST_TARGET", "ironbridge").strip().lower()
VERBOSE = os.environ.get("IB_TEST_VERBOSE", "") == "1"
HOST = "127.0.0.1"
# The default bound on waiting for what must happen (a CONNACK, a message, a
# log line, a process's start): waits end as soon as it happens, so the bound
# costs nothing when things work, and it must hold on a loaded machine running
# the sanitizer build, where a usual second takes many. A test that checks
# that nothing happens passes its own, short, timeout.
WAIT_S = 20.0

if TARGET not in ("ironbridge", "mosquitto"):
    raise SystemExit("IB_TEST_TARGET must be 'ironbridge' or 'mosquitto', not %r" % TARGET)


def is_mosquitto():
    return TARGET == "mosquitto"


def ironbridge_only(reason="checks an Ironbridge-only feature"):
    """Skip a test or class when the target is Mosquitto."""
    return unittest.skipIf(is_mosquitto(), reason)


def skip_under_mosquitto(reason):
    """Skip where Mosquitto 2.0.11 deviates from the spec; `reason` says how."""
    return unittest.skipIf(is_mosquitto(), "Mosquitto 2.0.11 deviates: " + reason)


def ironbridge_bin():
    path = os.environ.get("IRONBRIDGE_BIN", "")
    if not path:
        raise unittest.SkipTest("IRONBRIDGE_BIN is not set")
    return path


def _listener_port_range():
    """The ports tests hand to the listeners they start: the widest stretch
    outside the kernel's ephemeral range. bind(0) probes and the source ports
    of outgoing connections all come from that range, so a port from here
    cannot be taken by any of them between choosing it and the listener's
    bind, nor while a broker restarts on the same port."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    below, above = (10000, low - 1), (high + 1, 65535)
    widest = max(below, above, key=lambda r: r[1] - r[0])
    # An ephemeral range that leaves no room (say 1024-65535): the reservation
    # still keeps test processes apart, just not from ephemeral ports.
    return widest if widest[1] - widest[0] >= 1000 else (10000, 65535)


# port -> the abstract Unix socket that reserves it for this process. Parallel
# test processes (ctest -j, several checkouts on one machine) each bind the name
# of a port before taking it; the kernel drops the name when the process exits,
# however it exits, and leaves no file behind.
_reserved = {}


def _reserve(port):
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        lock.bind("\0ironbridge-test-port-%d" % port)
    except OSError:
        lock.close()
        return False
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # SO_REUSEADDR as the listeners have it: a TIME_WAIT left by an earlier
        # test does not count as taken, a listener or a bound socket does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((HOST, port))
    except OSError:
        lock.close()
        return False
    finally:
        probe.close()
    _reserved[port] = lock
    return True


def free_port():
    """A port free on 127.0.0.1 and reserved for this test process until it
    exits: no other test process using this harness gets it, nor does the
    kernel for an ephemeral port (see _listener_port_range)."""
    low, high = _listener_port_range()
    first = random.randint(low, high)
    for i in range(2000):
        port = low + (first - low + i) % (high - low + 1)
        if port not in _reserved and _reserve(port):
            return port
    raise RuntimeError("no free port found in 2000 tries in %d-%d" % (low, high))


_METRIC_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? (\S+)")
_METRIC_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metric_value(text, name, **labels):
    """The value of `name` on a Prometheus text page: the first sample whose
    labels include `labels` (with none given, the sample without labels);
    None when there is none. Label values are compared as written."""
    for line in text.splitlines():
        m = _METRIC_SAMPLE.match(line)
        if not m or m.group(1) != name:
            continue
        have = dict(_METRIC_LABEL.findall(m.group(2) or ""))
        if (all(have.get(k) == str(v) for k, v in labels.items()) if labels else not have):
            return float(m.group(3))
    return None


def metric_sum(text, name):
    """The sum of every sample of `name`, whatever its labels (0 with none)."""
    total = 0.0
    for line in text.splitlines():
        m = _METRIC_SAMPLE.match(line)
        if m and m.group(1) == name:
            total += float(m.group(3))
    return total


def wait_until(pred, timeout=WAIT_S, interval=0.02):
    """Poll `pred` until it returns a truthy value or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def accepts_tcp(port):
    """Whether something accepts a TCP connection on 127.0.0.1:port now."""
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_process(p, timeout=15.0):
    """SIGTERM by PID, wait, then SIGKILL. Returns the exit code (None if not started)."""
    if p is None:
        return None
    if p.poll() is None:
        try:
            os.kill(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout)
    return p.returncode


class NotifySocket:
    """The service manager's end: a bound Unix datagram socket, named by a path
    or (abstract=True) in the abstract namespace, "@name" as NOTIFY_SOCKET says."""

    def __init__(self, abstract=False):
        self.dir = tempfile.mkdtemp(prefix="ibnotify-")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "ibtest-notify-%d-%d" % (os.getpid(), time.monotonic_ns())
            self.sock.bind("\0" + name)
            self.env_value = "@" + name
        else:
            path = os.path.join(self.dir, "notify")
            self.sock.bind(path)
            self.env_value = path
        self.received = []

    def wait_for(self, assignment, timeout=10.0):
        """Reads datagrams until one holds `assignment` (a line such as READY=1)."""
        deadline = time.monotonic() + timeout
        while True:
            if any(assignment in d.split("\n") for d in self.received):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s within %.0f s; received %r" % (assignment, timeout, self.received))
            self.sock.settimeout(left)
            try:
                self.received.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------- broker

def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(str(v))  # a TOML basic string is compatible with a JSON string


# Ironbridge [broker] key -> (mosquitto option, value converter). Keys Mosquitto
# has no equivalent for are simply not passed on.
_MOSQ_EQUIV = {
    "max_packet_size": ("max_packet_size", str),
    "max_inflight": ("max_inflight_messages", str),
    "max_queued_messages": ("max_queued_messages", str),
    "max_queued_bytes": ("max_queued_bytes", str),
    "topic_alias_maximum": ("max_topic_alias", str),
    "server_keep_alive": ("max_keepalive", str),
    "retain_available": ("retain_available", lambda b: "true" if b else "false"),
    "maximum_qos": ("max_qos", str),
    "allow_anonymous": ("allow_anonymous", lambda b: "true" if b else "false"),
    "sys_interval_s": ("sys_interval", str),
}


class Broker:
    """Starts the target broker on 127.0.0.1 in a fresh temp dir.

    broker: dict of [broker] overrides (Ironbridge key names; mapped for Mosquitto).
    listener: dict of extra keys for the [[broker.listeners]] table.
    extra_toml: raw TOML appended to the Ironbridge config.
    """

    START_TIMEOUT_S = 30.0
    STOP_TIMEOUT_S = 15.0

    def __init__(self, broker=None, listener=None, extra_toml="", log_level="info", log_format=None, env=None):
        # Two broker shards unless a test says otherwise: the default is one on
        # a machine of two cores, and the suite is to run the paths between
        # shards (a connection moving to its session's shard, deliveries and
        # held acknowledgements handed over) whatever machine it runs on.
        self.broker_cfg = {"threads": 2, **(broker or {})}
        self.log_format = log_format
        self.env = dict(env or {})
        self.listener_cfg = dict(listener or {})
        self.extra_toml = extra_toml
        self.log_level = log_level
        self.port = free_port()
        self.api_port = free_port()
        self.tmpdir = tempfile.mkdtemp(prefix="ibtest-")
        self.data_dir = os.path.join(self.tmpdir, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.log_path = os.path.join(self.tmpdir, "broker.log")
        self.proc = None
        self._final_log = ""
        self._starts = 0
        if is_mosquitto():
            # Mosquitto drops privileges to user "mosquitto" when started as root.
            os.chmod(self.tmpdir, 0o777)
            os.chmod(self.data_dir, 0o777)

    # ---- config
    def _write_config(self):
        if is_mosquitto():
            path = os.path.join(self.tmpdir, "mosquitto.conf")
            lines = [
                "per_listener_settings false",
                "allow_anonymous true",
                "persistence false",
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                "log_type notice",
                "log_type information",
                "connection_messages true",
                "listener %d %s" % (self.port, HOST),
            ]
            if "max_connections" in self.listener_cfg:
                lines.append("max_connections %d" % self.listener_cfg["max_connections"])
            for k, v in self.broker_cfg.items():
                if k in _MOSQ_EQUIV:
                    opt, conv = _MOSQ_EQUIV[k]
                    lines.append("%s %s" % (opt, conv(v)))
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
            return path
        path = os.path.join(self.tmpdir, "ironbridge.toml")
        out = ["data_dir = %s" % _toml_value(self.data_dir), "", "[log]",
               "level = %s" % _toml_value(self.log_level)]
        if self.log_format:
            out.append("format = %s" % _toml_value(self.log_format))
        out.append("")
        if self.broker_cfg:
            out.append("[broker]")
            for k, v in self.broker_cfg.items():
                out.append("%s = %s" % (k, _toml_value(v)))
            out.append("")
        out += ["[[broker.listeners]]", 'name = "default"', 'bind = "127.0.0.1"',
                "port = %d" % self.port]
        for k, v in self.listener_cfg.items():
            out.append("%s = %s" % (k, _toml_value(v)))
        out += ["", "[api]", "enabled = true", 'bind = "127.0.0.1"',
                "port = %d" % self.api_port, ""]
        if self.extra_toml:
            out.append(self.extra_toml)
        with open(path, "w") as f:
            f.write("\n".join(out) + "\n")
        return path

    # ---- lifecycle
    def start(self):
        assert self.proc is None, "broker already running"
        cfg = self._write_config()
        if is_mosquitto():
            cmd = ["mosquitto", "-c", cfg]
        else:
            cmd = [ironbridge_bin(), "run", "-c", cfg]
        logf = open(self.log_path, "ab")
        self._starts += 1
        logf.write(("==== start #%d: %s\n" % (self._starts, " ".join(cmd))).encode())
        logf.flush()
        try:
            self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.tmpdir,
                                         env=dict(os.environ, **self.env) if self.env else None)
        finally:
            logf.close()
        deadline = time.monotonic() + self.START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                raise RuntimeError("broker exited with %s during start-up:\n%s" % (rc, self.log_text()))
            if accepts_tcp(self.port):
                break
            if time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError("broker did not accept TCP on %d within %.0f s:\n%s"
                                   % (self.port, self.START_TIMEOUT_S, self.log_text()))
            time.sleep(0.05)
        # The API listens a moment after MQTT (devices start in between): tests
        # that talk HTTP right away must not race it.
        if not is_mosquitto():
            ok = wait_until(lambda: accepts_tcp(self.api_port), timeout=self.START_TIMEOUT_S, interval=0.02)
            if not ok and self.proc is not None and self.proc.poll() is None:
                self.stop()
                raise RuntimeError("the API did not accept TCP on %d within %.0f s:\n%s"
                                   % (self.api_port, self.START_TIMEOUT_S, self.log_text()))
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM by PID, wait up to 5 s, then SIGKILL. Returns the exit code."""
        p, self.proc = self.proc, None
        return stop_process(p, self.STOP_TIMEOUT_S)

    def kill9(self):
        p, self.proc = self.proc, None
        if p is None:
            return
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(self.STOP_TIMEOUT_S)

    def restart(self):
        """Stop and start again with the same data dir and ports."""
        self.stop()
        return self.start()

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return self._final_log

    def close(self, print_log=False):
        try:
            self.stop()
        finally:
            self._final_log = self.log_text()
            if print_log or VERBOSE:
                self.print_log()
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def print_log(self):
        sys.stderr.write("\n----- %s log (port %d) -----\n%s\n----- end of log -----\n"
                         % (TARGET, self.port, self._final_log or self.log_text()))

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(print_log=exc_type is not None)
        return False

    # ---- HTTP API (Ironbridge only)
    def http_get(self, path, timeout=WAIT_S):
        """Returns (status, headers dict, body bytes)."""
        url = "http://%s:%d%s" % (HOST, self.api_port, path)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def metrics_text(self):
        status, _, body = self.http_get("/metrics")
        assert status == 200, "GET /metrics answered %d" % status
        return body.decode()

    def metric(self, name, **labels):
        """A sample's value from /metrics (see metric_value), or None."""
        return metric_value(self.metrics_text(), name, **labels)


class IBTestCase(unittest.TestCase):
    """Base class: start_broker() registers a cleanup that stops it, and the
    broker's log is printed when the test failed (or IB_TEST_VERBOSE=1)."""

    def run(self, result=None):
        self._ib_brokers = []
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        try:
            return super().run(result)
        finally:
            failed = len(result.failures) + len(result.errors) > before
            if failed or VERBOSE:
                for b in self._ib_brokers:
                    b.print_log()

    def start_broker(self, **kw):
        b = Broker(**kw)
        self._ib_brokers.append(b)
        self.addCleanup(b.close)
        b.start()
        return b

    def paho(self, broker, client_id="", **kw):
        c = PahoClient(broker.port, client_id, **kw)
        self.addCleanup(c.close)
        return c

    def raw(self, broker, **kw):
        r = RawClient(broker.port, **kw)
        self.addCleanup(r.close)
        return r

    def run_proc(self, cmd, timeout=15, **kw):
        """Runs a short-lived command with a bounded time; returns CompletedProcess."""
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, timeout=timeout, **kw)

    def spawn(self, cmd, **kw):
        """Starts a background process, stopped by PID at cleanup."""
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, **kw)

        def stop():
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    p.wait(3)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait(3)
            for s in (p.stdout, p.stderr):
                if s:
                    s.close()
        self.addCleanup(stop)
        return p


class LineReader:
    """Reads a process's stdout lines on a thread so the test can wait with a bound."""

    def __init__(self, stream):
        self.lines = queue.Queue()
        self.all = []
        t = threading.Thread(target=self._run, args=(stream,), daemon=True)
        t.start()

    def _run(self, stream):
        for line in iter(stream.readline, b""):
            s = line.decode("utf-8", "replace").rstrip("\n")
            self.all.append(s)
            self.lines.put(s)
        self.lines.put(None)

    def wait_for(self, pred, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no matching line within %.1f s; got %r" % (timeout, self.all))
            try:
                s = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if s is None:
                raise AssertionError("process output ended; got %r" % (self.all,))
            if pred(s):
                return s


# --------------------------------------------------------------------------- paho

V311 = mqtt.MQTTv311
V5 = mqtt.MQTTv5
V31 = mqtt.MQTTv31


def publish_props(**kw):
    """Properties(PUBLISH) from keyword names such as UserProperty=[("k","v")]."""
    p = Properties(PacketTypes.PUBLISH)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def connect_props(**kw):
    p = Properties(PacketTypes.CONNECT)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


class PahoClient:
    """A paho client with a background loop, synchronous helpers and a queue
    of received messages."""

    def __init__(self, port, client_id="", protocol=V5, clean=True, keepalive=30,
                 will=None, properties=None, connect=True, timeout=WAIT_S, session_expiry=None):
        self.port = port
        self.protocol = protocol
        self.timeout = timeout
        self.messages = queue.Queue()
        self._connected = threading.Event()
        self._disconnected = threading.Event()
        self._subacks = {}
        self._unsubacks = {}
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.connack = None  # (flags, rc, properties)
        self.disconnect_rc = None
        if protocol == V5:
            self.c = mqtt.Client(client_id=client_id, protocol=V5)
        else:
            self.c = mqtt.Client(client_id=client_id, clean_session=clean, protocol=protocol)
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = self._on_disconnect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.on_unsubscribe = self._on_unsubscribe
        if will:
            self.c.will_set(**will)
        self.clean = clean
        self.keepalive = keepalive
        self.properties = properties
        if session_expiry is not None:
            if self.properties is None:
                self.properties = connect_props()
            self.properties.SessionExpiryInterval = session_expiry
        self._started = False
        if connect:
            self.connect()

    # callbacks run on paho's thread
    def _on_connect(self, client, userdata, flags, rc, properties=None):
        self.connack = (flags, rc, properties)
        self._connected.set()

    def _on_disconnect(self, client, userdata, rc, properties=None):
        self.disconnect_rc = rc
        self._disconnected.set()

    def _on_message(self, client, userdata, msg):
        self.messages.put(msg)

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        with self._cond:
            self._subacks[mid] = granted
            self._cond.notify_all()

    def _on_unsubscribe(self, client, userdata, mid, *rest):
        with self._cond:
            self._unsubacks[mid] = rest[1] if len(rest) > 1 else None
            self._cond.notify_all()

    def connect(self, expect_success=True):
        self._connected.clear()
        self._disconnected.clear()
        if self.protocol == V5:
            self.c.connect(HOST, self.port, keepalive=self.keepalive,
                           clean_start=self.clean, properties=self.properties)
        else:
            self.c.connect(HOST, self.port, keepalive=self.keepalive)
        if not self._started:
            self.c.loop_start()
            self._started = True
        if not self._connected.wait(self.timeout):
            raise AssertionError("no CONNACK within %.1f s" % self.timeout)
        if expect_success and self.rc_value() != 0:
            raise AssertionError("connection refused: %r" % (self.connack[1],))
        return self.connack

    def rc_value(self):
        rc = self.connack[1]
        return rc.value if hasattr(rc, "value") else int(rc)

    def session_present(self):
        return int(self.connack[0].get("session present", 0))

    def subscribe(self, topic, qos=0, options=None, properties=None):
        """Subscribes and waits for SUBACK; returns the granted list."""
        if self.protocol == V5:
            if options is None:
                options = SubscribeOptions(qos=qos)
            if isinstance(topic, list):
                rc, mid = self.c.subscribe(topic, properties=properties)
            else:
                rc, mid = self.c.subscribe(topic, options=options, properties=properties)
        else:
            rc, mid = self.c.subscribe(topic, qos)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise AssertionError("subscribe failed locally: %s" % rc)
        with self._cond:
            ok = self._cond.wait_for(lambda: mid in self._subacks, self.timeout)
            if not ok:
                raise AssertionError("no SUBACK within %.1f s for %r" % (self.timeout, topic))
            granted = self._subacks.pop(mid)
        return [g.value if hasattr(g, "value") else g for g in granted]

    def unsubscribe(self, topic, properties=None):
        if self.protocol == V5:
            rc, mid = self.c.unsubscribe(topic, properties=properties)
        else:
            rc, mid = self.c.unsubscribe(topic)
        with self._cond:
            ok = self._cond.wait_for(lambda: mid in self._unsubacks, self.timeout)
            if not ok:
                raise AssertionError("no UNSUBACK within %.1f s" % self.timeout)
            return self._unsubacks.pop(mid)

    def publish(self, topic, payload=b"", qos=0, retain=False, properties=None, wait=True):
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise AssertionError("publish failed locally: %s" % info.rc)
        if wait and qos > 0:
            info.wait_for_publish(self.timeout)
            if not info.is_published():
                raise AssertionError("QoS %d publish to %r not acknowledged within %.1f s"
                                     % (qos, topic, self.timeout))
        return info

    def expect_message(self, timeout=WAIT_S):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no message within %.1f s" % timeout) from None

    def expect_messages(self, n, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        out = []
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("got %d of %d messages within %.1f s" % (len(out), n, timeout))
            try:
                out.append(self.messages.get(timeout=left))
            except queue.Empty:
                pass
        return out

    def expect_no_message(self, timeout=0.5):
        try:
            m = self.messages.get(timeout=timeout)
        except queue.Empty:
            return
        raise AssertionError("unexpected message on %r: %r" % (m.topic, m.payload[:100]))

    def drain(self):
        out = []
        while True:
            try:
                out.append(self.messages.get_nowait())
            except queue.Empty:
                return out

    def wait_disconnected(self, timeout=WAIT_S):
        return self._disconnected.wait(timeout)

    def disconnect(self, properties=None, reasoncode=None):
        if self.protocol == V5 and reasoncode is not None:
            from paho.mqtt.reasoncodes import ReasonCodes
            rc = ReasonCodes(PacketTypes.DISCONNECT, identifier=reasoncode)
            self.c.disconnect(reasoncode=rc, properties=properties)
        else:
            self.c.disconnect()
        self._disconnected.wait(self.timeout)
        # paho's loop thread ends after a requested disconnect; connect() starts a new one.
        if self._started:
            self.c.loop_stop()
            self._started = False
        self._close_sockpair()

    def _close_sockpair(self):
        # paho 1.6.1's loop_start() opens a socket pair and never closes the old one.
        try:
            self.c._reset_sockets(sockpair_only=True)
        except Exception:
            pass

    def close(self):
        try:
            self.c.disconnect()
        except Exception:
            pass
        if self._started:
            self.c.loop_stop()
            self._started = False
        self._close_sockpair()


# --------------------------------------------------------------------------- raw client

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = (
    8, 9, 10, 11, 12, 13, 14, 15)
PACKET_NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC",
                6: "PUBREL", 7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE",
                11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH"}

# MQTT 5 property identifiers and their wire types.
PROP_TYPES = {
    0x01: ("PayloadFormatIndicator", "byte"), 0x02: ("MessageExpiryInterval", "u32"),
    0x03: ("ContentType", "str"), 0x08: ("ResponseTopic", "str"),
    0x09: ("CorrelationData", "bin"), 0x0B: ("SubscriptionIdentifier", "varint"),
    0x11: ("SessionExpiryInterval", "u32"), 0x12: ("AssignedClientIdentifier", "str"),
    0x13: ("ServerKeepAlive", "u16"), 0x15: ("AuthenticationMethod", "str"),
    0x16: ("AuthenticationData", "bin"), 0x17: ("RequestProblemInformation", "byte"),
    0x18: ("WillDelayInterval", "u32"), 0x19: ("RequestResponseInformation", "byte"),
    0x1A: ("ResponseInformation", "str"), 0x1C: ("ServerReference", "str"),
    0x1F: ("ReasonString", "str"), 0x21: ("ReceiveMaximum", "u16"),
    0x22: ("TopicAliasMaximum", "u16"), 0x23: ("TopicAlias", "u16"),
    0x24: ("MaximumQoS", "byte"), 0x25: ("RetainAvailable", "byte"),
    0x26: ("UserProperty", "pair"), 0x27: ("MaximumPacketSize", "u32"),
    0x28: ("WildcardSubscriptionAvailable", "byte"),
    0x29: ("SubscriptionIdentifierAvailable", "byte"),
    0x2A: ("SharedSubscriptionAvailable", "byte"),
}
PROP_IDS = {name: pid for pid, (name, _) in PROP_TYPES.items()}


def enc_varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def dec_varint(buf, pos):
    mult, val = 1, 0
    for i in range(4):
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        val += (b & 0x7F) * mult
        if not b & 0x80:
            return val, pos
        mult *= 128
    raise ValueError("varint longer than 4 bytes")


def enc_str(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("!H", len(b)) + b


def enc_props(props):
    """props: list of (name, value) pairs, or a dict. Returns length-prefixed bytes."""
    if props is None:
        return b"\x00"
    items = props.items() if isinstance(props, dict) else props
    body = bytearray()
    for name, value in items:
        pid = PROP_IDS[name]
        kind = PROP_TYPES[pid][1]
        values = value if (kind == "pair" and value and isinstance(value[0], tuple)) else [value]
        for v in values:
            body += enc_varint(pid)
            if kind == "byte":
                body.append(v)
            elif kind == "u16":
                body += struct.pack("!H", v)
            elif kind == "u32":
                body += struct.pack("!I", v)
            elif kind == "varint":
                body += enc_varint(v)
            elif kind in ("str", "bin"):
                body += enc_str(v)
            elif kind == "pair":
                body += enc_str(v[0]) + enc_str(v[1])
    return enc_varint(len(body)) + bytes(body)


def dec_props(buf, pos):
    """Returns (dict name -> value, with UserProperty and SubscriptionIdentifier as lists; new pos)."""
    length, pos = dec_varint(buf, pos)
    end = pos + length
    props = {}
    while pos < end:
        pid, pos = dec_varint(buf, pos)
        if pid not in PROP_TYPES:
            raise ValueError("unknown property id 0x%02x" % pid)
        name, kind = PROP_TYPES[pid]
        if kind == "byte":
            v = buf[pos]
            pos += 1
        elif kind == "u16":
            v = struct.unpack_from("!H", buf, pos)[0]
            pos += 2
        elif kind == "u32":
            v = struct.unpack_from("!I", buf, pos)[0]
            pos += 4
        elif kind == "varint":
            v, pos = dec_varint(buf, pos)
        elif kind in ("str", "bin"):
            n = struct.unpack_from("!H", buf, pos)[0]
            v = bytes(buf[pos + 2:pos + 2 + n])
            if kind == "str":
                v = v.decode("utf-8")
            pos += 2 + n
        else:
            n = struct.unpack_from("!H", buf, pos)[0]
            k = bytes(buf[pos + 2:pos + 2 + n]).decode()
            pos += 2 + n
            n = struct.unpack_from("!H", buf, pos)[0]
            v = (k, bytes(buf[pos + 2:pos + 2 + n]).decode())
            pos += 2 + n
        if name in ("UserProperty", "SubscriptionIdentifier"):
            props.setdefault(name, []).append(v)
        else:
            props[name] = v
    if pos != end:
        raise ValueError("property length mismatch")
    return props, end


def packet(ptype, flags, body):
    return bytes([(ptype << 4) | flags]) + enc_varint(len(body)) + bytes(body)


class Packet:
    def __init__(self, ptype, flags, body, version):
        self.type = ptype
        self.flags = flags
        self.body = bytes(body)
        self.version = version
        self.raw = packet(ptype, flags, body)
        self.props = {}
        self.reason = None
        self.pid = None
        self._parse()

    def _parse(self):
        b, t, v5 = self.body, self.type, self.version == 5
        if t == CONNACK:
            self.session_present = b[0] & 1
            self.reason = b[1]
            if v5 and len(b) > 2:
                self.props, _ = dec_props(b, 2)
        elif t == PUBLISH:
            self.qos = (self.flags >> 1) & 3
            self.dup = (self.flags >> 3) & 1
            self.retain = self.flags & 1
            n = struct.unpack_from("!H", b, 0)[0]
            self.topic = b[2:2 + n].decode("utf-8")
            pos = 2 + n
            if self.qos:
                self.pid = struct.unpack_from("!H", b, pos)[0]
                pos += 2
            if v5:
                self.props, pos = dec_props(b, pos)
            self.payload = b[pos:]
        elif t in (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK, SUBACK):
            self.pid = struct.unpack_from("!H", b, 0)[0]
            pos = 2
            if t in (SUBACK, UNSUBACK):
                if v5:
                    self.props, pos = dec_props(b, pos)
                self.codes = list(b[pos:])
            else:
                self.reason = b[2] if len(b) > 2 else 0
                if v5 and len(b) > 3:
                    self.props, _ = dec_props(b, 3)
        elif t == DISCONNECT:
            self.reason = b[0] if b else 0
            if v5 and len(b) > 1:
                self.props, _ = dec_props(b, 1)

    def __repr__(self):
        extra = ""
        if self.type == PUBLISH:
            extra = " topic=%r qos=%d dup=%d retain=%d pid=%s payload=%r" % (
                self.topic, self.qos, self.dup, self.retain, self.pid, self.payload[:40])
        elif self.reason is not None:
            extra = " reason=0x%02x" % self.reason
        if self.props:
            extra += " props=%r" % (self.props,)
        return "<%s%s>" % (PACKET_NAMES.get(self.type, self.type), extra)


class ConnectionClosed(Exception):
    pass


class RawClient:
    """A minimal MQTT client over a plain socket for byte-exact checks and
    malformed input. Nothing is acknowledged unless the test does it."""

    def __init__(self, port, version=4, timeout=WAIT_S):
        self.version = version
        self.timeout = timeout
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.closed = False
        self.aliases = {}

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True

    def abort(self):
        """Close with RST instead of FIN: an abnormal network failure."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    def send(self, data):
        self.sock.sendall(bytes(data))

    # ---- receiving
    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.closed = True
            raise ConnectionClosed("connection closed by the server")
        self.buf += chunk

    def read_packet(self, timeout=None):
        """Returns the next Packet; raises ConnectionClosed or socket.timeout."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            if len(self.buf) >= 2:
                try:
                    length, pos = dec_varint(self.buf, 1)
                except ValueError:
                    length = None
                if length is not None and len(self.buf) >= pos + length:
                    hdr = self.buf[0]
                    body = bytes(self.buf[pos:pos + length])
                    del self.buf[:pos + length]
                    return Packet(hdr >> 4, hdr & 0x0F, body, self.version)
            self._fill(deadline)

    def expect(self, ptype, timeout=None):
        p = self.read_packet(timeout)
        if p.type != ptype:
            raise AssertionError("expected %s, got %r" % (PACKET_NAMES[ptype], p))
        return p

    def expect_nothing(self, timeout=0.5):
        """Asserts that no packet arrives within `timeout` (a close is an error too)."""
        try:
            p = self.read_packet(timeout)
        except socket.timeout:
            return
        raise AssertionError("unexpected packet %r" % (p,))

    def packets_until_closed(self, timeout=WAIT_S):
        """Reads until the server closes. Returns the packets read before the
        close, or raises AssertionError if the connection is still open."""
        deadline = time.monotonic() + timeout
        got = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("connection still open after %.1f s; got %r" % (timeout, got))
            try:
                got.append(self.read_packet(left))
            except ConnectionClosed:
                return got
            except socket.timeout:
                raise AssertionError("connection still open after %.1f s; got %r"
                                     % (timeout, got)) from None

    def collect(self, timeout):
        """Reads packets for `timeout` seconds (or until close); returns them."""
        deadline = time.monotonic() + timeout
        got = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return got
            try:
                got.append(self.read_packet(left))
            except (socket.timeout, ConnectionClosed):
                return got

    # ---- sending
    def connect_packet(self, client_id="", clean=True, keepalive=60, props=None, will=None,
                       username=None, password=None, proto_name="MQTT", flags_extra=0):
        v5 = self.version == 5
        flags = (0x02 if clean else 0) | flags_extra
        payload = enc_str(client_id)
        if will:
            flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
            if v5:
                payload += enc_props(will.get("props"))
            payload += enc_str(will["topic"]) + enc_str(will.get("payload", b""))
        if username is not None:
            flags |= 0x80
            payload += enc_str(username)
        if password is not None:
            flags |= 0x40
            payload += enc_str(password)
        vh = enc_str(proto_name) + bytes([self.version, flags]) + struct.pack("!H", keepalive)
        if v5:
            vh += enc_props(props)
        return packet(CONNECT, 0, vh + payload)

    def connect(self, client_id="", expect_connack=True, **kw):
        self.send(self.connect_packet(client_id, **kw))
        if expect_connack:
            p = self.expect(CONNACK)
            self.connack = p
            return p

    def publish(self, topic, payload=b"", qos=0, pid=None, retain=False, dup=False, props=None):
        if isinstance(payload, str):
            payload = payload.encode()
        flags = (qos << 1) | (1 if retain else 0) | (8 if dup else 0)
        body = enc_str(topic)
        if qos:
            body += struct.pack("!H", pid)
        if self.version == 5:
            body += enc_props(props)
        self.send(packet(PUBLISH, flags, body + payload))

    def _ack(self, ptype, pid, reason=None, flags=0):
        body = struct.pack("!H", pid)
        if self.version == 5 and reason is not None:
            body += bytes([reason])
        self.send(packet(ptype, flags, body))

    def puback(self, pid, reason=None):
        self._ack(PUBACK, pid, reason)

    def pubrec(self, pid, reason=None):
        self._ack(PUBREC, pid, reason)

    def pubrel(self, pid, reason=None):
        self._ack(PUBREL, pid, reason, flags=2)

    def pubcomp(self, pid, reason=None):
        self._ack(PUBCOMP, pid, reason)

    def subscribe(self, pid, filters, props=None, expect_suback=True):
        """filters: list of (topic filter, options byte)."""
        body = struct.pack("!H", pid)
        if self.version == 5:
            body += enc_props(props)
        for f, opts in filters:
            body += enc_str(f) + bytes([opts])
        self.send(packet(SUBSCRIBE, 2, body))
        if expect_suback:
            p = self.expect(SUBACK)
            if p.pid != pid:
                raise AssertionError("SUBACK for packet id %d, expected %d" % (p.pid, pid))
            return p

    def unsubscribe(self, pid, filters, props=None):
        body = struct.pack("!H", pid)
        if self.version == 5:
            body += enc_props(props)
        for f in filters:
            body += enc_str(f)
        self.send(packet(UNSUBSCRIBE, 2, body))
        return self.expect(UNSUBACK)

    def pingreq(self):
        self.send(b"\xc0\x00")

    def disconnect(self, reason=None, props=None):
        if self.version == 5 and (reason is not None or props is not None):
            body = bytes([reason or 0]) + (enc_props(props) if props is not None else b"")
            self.send(packet(DISCONNECT, 0, body))
        else:
            self.send(b"\xe0\x00")

    def resolve_alias(self, p):
        """Applies MQTT 5 topic-alias resolution to a received PUBLISH."""
        alias = p.props.get("TopicAlias")
        if alias is None:
            return p.topic
        if p.topic:
            self.aliases[alias] = p.topic
            return p.topic
        if alias not in self.aliases:
            raise AssertionError("server used unknown topic alias %d" % alias)
        return self.aliases[alias]


def raw_connected(testcase, broker, client_id="", version=4, **kw):
    """A RawClient that has completed CONNECT/CONNACK successfully."""
    r = testcase.raw(broker, version=version)
    ack = r.connect(client_id, **kw)
    testcase.assertEqual(ack.reason, 0, "CONNACK refused: %r" % (ack,))
    return r


def unique(prefix):
    """A topic / client id unique within this process run."""
    unique.n += 1
    return "%s-%d-%d" % (prefix, os.getpid(), unique.n)


unique.n = 0
