"""Peers and helpers for the bridge tests: Debian's mosquitto as the upstream
(the cloud), a persistent subscriber on it that records what arrives, a QoS 1
publisher on Ironbridge, test certificates made with openssl, and BridgeCase,
the base class with the waits the tests share. No tests of its own."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import paho.mqtt.client as mqtt

import ibharness as h


class Upstream:
    """Debian's mosquitto on 127.0.0.1 with persistence, so a persistent
    subscriber's session and queue survive a stop and start (SIGTERM saves it)."""

    def __init__(self, tls=None, bind=h.HOST, netns=None, extra_conf=""):
        """tls: None, or (certs dir, require a client certificate) for a second,
        TLS listener on tls_port; the plain listener stays for the test's clients.
        netns: run inside this network namespace (made by the test), on `bind`.
        extra_conf: more mosquitto.conf lines."""
        self.host = bind
        self.netns = netns
        self.port = h.free_port()
        self.tls_port = h.free_port()
        self.dir = tempfile.mkdtemp(prefix="ibupstream-")
        os.chmod(self.dir, 0o777)  # mosquitto drops to user "mosquitto" as root
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write("per_listener_settings false\nallow_anonymous true\npersistence true\n"
                    "persistence_location %s/\nautosave_interval 0\nmax_queued_messages 0\n"
                    "log_dest stderr\nlistener %d %s\n" % (self.dir, self.port, bind))
            f.write(extra_conf)
            if tls:
                certs, require = tls
                f.write("listener %d 127.0.0.1\ncafile %s/ca.crt\ncertfile %s/server.crt\nkeyfile %s/server.key\n"
                        "require_certificate %s\n" % (self.tls_port, certs, certs, certs,
                                                        "true" if require else "false"))
        self.log = os.path.join(self.dir, "mosquitto.log")
        self.proc = None

    def start(self):
        logf = open(self.log, "ab")
        try:
            prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
            self.proc = subprocess.Popen(prefix + ["mosquitto", "-c", self.conf], stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        finally:
            logf.close()
        if not h.wait_until(self.accepts):
            raise RuntimeError("mosquitto did not start on %d:\n%s" % (self.port, self.log_text()))
        return self

    def accepts(self):
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self):
        p, self.proc = self.proc, None
        h.stop_process(p)

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Collector:
    """A persistent QoS 1 subscriber on the upstream that reconnects by itself
    and records every payload it receives, in arrival order."""

    def __init__(self, port, topic, client_id, host=h.HOST):
        self.payloads = []
        self.dup_flags = []
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.c = mqtt.Client(client_id=client_id, clean_session=False, protocol=mqtt.MQTTv311)
        self.c.reconnect_delay_set(0.05, 0.5)
        self.topic = topic

        def on_connect(client, userdata, flags, rc):
            client.subscribe(topic, 1)
            self.connected.set()

        def on_message(client, userdata, msg):
            with self.lock:
                self.payloads.append(msg.payload.decode())
                self.dup_flags.append(bool(msg.dup))

        self.c.on_connect = on_connect
        self.c.on_message = on_message
        self.c.on_subscribe = lambda *args: self.subscribed.set()
        self.c.connect(host, port, keepalive=10)
        self.c.loop_start()
        if not self.connected.wait(h.WAIT_S):
            raise AssertionError("collector did not connect to the upstream")
        # What the upstream takes before the SUBACK is not kept for us: a test
        # that publishes right after would count it lost.
        if not self.subscribed.wait(h.WAIT_S):
            raise AssertionError("collector got no SUBACK from the upstream")

    def count(self):
        with self.lock:
            return len(self.payloads)

    def numbers(self):
        with self.lock:
            return [int(p.split(":")[0]) for p in self.payloads]

    def fresh_duplicates(self):
        """Numbers that arrived again without DUP: the upstream's own redeliveries
        to this subscriber carry DUP, so these are messages the bridge sent twice."""
        seen = set()
        n = 0
        with self.lock:
            for p, dup in zip(self.payloads, self.dup_flags):
                k = p.split(":")[0]
                if k in seen and not dup:
                    n += 1
                seen.add(k)
        return n

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def bridge_toml(upstream_port, extra="", forwards=None, subscriptions=None, bridge_extra=""):
    forwards = forwards if forwards is not None else [("plant/#", "factory1/${topic}", 1)]
    out = ["[[bridges]]", 'name = "cloud"', 'servers = ["127.0.0.1:%d"]' % upstream_port]
    # Quick reconnects for tests; a key given in bridge_extra replaces its default.
    for key, value in (("reconnect_min_ms", 50), ("reconnect_max_ms", 400), ("keep_alive_s", 5)):
        if not any(line.split("=")[0].strip() == key for line in bridge_extra.splitlines()):
            out.append("%s = %d" % (key, value))
    if bridge_extra:
        out.append(bridge_extra)
    for local, remote, qos in forwards:
        out += ["", "[[bridges.forwards]]", "local = %s" % json.dumps(local), "remote = %s" % json.dumps(remote),
                "qos = %d" % qos]
    for remote, local, qos in subscriptions or []:
        out += ["", "[[bridges.subscriptions]]", "remote = %s" % json.dumps(remote), "local = %s" % json.dumps(local),
                "qos = %d" % qos]
    return "\n".join(out) + "\n" + extra


def make_certs(testcase):
    """A CA, a server certificate for 127.0.0.1 and a client certificate signed by
    it, and a second CA that signed nothing of these: made with openssl, in a dir
    mosquitto (running as its own user) can read."""
    d = tempfile.mkdtemp(prefix="ibcerts-")
    testcase.addCleanup(shutil.rmtree, d, True)
    os.chmod(d, 0o755)

    def run(*args):
        r = subprocess.run(["openssl"] + list(args), cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=60)
        if r.returncode != 0:
            raise AssertionError("openssl %s failed: %s" % (" ".join(args), r.stderr.decode()))

    for ca in ("ca", "other-ca"):
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca + ".key", "-out", ca + ".crt",
            "-days", "2", "-subj", "/CN=Ironbridge test " + ca)
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    for name, cn in (("server", "127.0.0.1"), ("client", "edge-1")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn)
        extra = ["-extfile", "san.ext"] if name == "server" else []
        run("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", name + ".crt", "-days", "2", *extra)
    for n in os.listdir(d):
        os.chmod(os.path.join(d, n), 0o644)
    return d


def in_order(numbers):
    """First arrivals of each number, in arrival order, and the duplicate count."""
    seen = set()
    first = []
    for n in numbers:
        if n not in seen:
            seen.add(n)
            first.append(n)
    return first, len(numbers) - len(first)


class Publisher:
    """A paho QoS 1 publisher on Ironbridge; publish() returns once PUBACKed."""

    def __init__(self, port, client_id):
        self.c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv311)
        self.c.max_inflight_messages_set(100)
        self.c.connect(h.HOST, port, keepalive=30)
        self.c.loop_start()

    def publish_range(self, topic, start, stop, pad=0, pace_every=0, pace_s=0.0):
        infos = []
        for i in range(start, stop):
            payload = "%d:%s" % (i, "x" * pad)
            infos.append(self.c.publish(topic, payload, qos=1))
            if pace_every and i % pace_every == 0:
                time.sleep(pace_s)
        for info in infos:
            info.wait_for_publish(10)
            if not info.is_published():
                raise AssertionError("a QoS 1 publish was not acknowledged by Ironbridge")

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


class BridgeCase(h.IBTestCase):
    """Upstreams started here are stopped at cleanup, their logs printed when a test fails."""


    def upstream(self, tls=None, extra_conf=""):
        u = Upstream(tls, extra_conf=extra_conf).start()
        self.addCleanup(u.close)
        self._upstreams.append(u)
        return u

    def run(self, result=None):
        self._upstreams = []
        before = len(result.failures) + len(result.errors) if result else 0
        try:
            return super().run(result)
        finally:
            if result and len(result.failures) + len(result.errors) > before:
                for u in self._upstreams:
                    print("----- upstream mosquitto log -----\n" + u.log_text())

    def offline_upstream_with_collector(self, extra_conf=""):
        """An upstream that is down, on which the collector's persistent session
        already exists: whatever the bridge delivers once it is back is kept for it."""
        up = self.upstream(extra_conf=extra_conf)
        coll = self.collector(up)
        up.stop()
        return up, coll

    def collector(self, up, topic="factory1/#", client_id="collector"):
        c = Collector(up.port, topic, client_id, up.host)
        self.addCleanup(c.close)
        return c

    def publisher(self, node, client_id="pub"):
        p = Publisher(node.port, client_id)
        self.addCleanup(p.close)
        return p

    def status(self, node):
        code, _, body = node.http_get("/api/v1/bridges/cloud")
        self.assertEqual(code, 200, body)
        return json.loads(body)

    def wait_status(self, node, pred, timeout=20, what="bridge status"):
        last = {}

        def check():
            nonlocal last
            last = self.status(node)
            return pred(last)
        if not h.wait_until(check, timeout=timeout, interval=0.05):
            self.fail("%s not reached within %d s; last status: %s" % (what, timeout, json.dumps(last)))
        return last

    def wait_count(self, coll, n, timeout=30):
        if not h.wait_until(lambda: len(set(coll.numbers())) >= n, timeout=timeout, interval=0.05):
            got = sorted(set(coll.numbers()))
            missing = sorted(set(range(n)) - set(got))[:20]
            self.fail("upstream received %d distinct of %d; first missing: %s" % (len(got), n, missing))
