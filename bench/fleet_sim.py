#!/usr/bin/python3
"""Many simulated fleet edges in one process (issue 15's 1,000-edge figure).

Each edge is one MQTT 5 connection to the cloud broker that speaks the edge's
side of docs/fleet.md and nothing else: its retained `state` (online, revision,
hash) with the offline state as last will, `desired` and `cmd` subscribed, and
for a desired configuration the progress reports `received`, `validating`,
`applying`, `probing` and, after PROBE_S, `done` on the retained `status` topic
and on the request's response topic with its correlation data; then the state
again with the new revision. It applies nothing: the configuration's text is
hashed, not read, so what is measured is the protocol and the controller, not
an edge's apply. The refusals an edge makes before applying are kept (a stale
revision, a base it does not run), so the controller's bookkeeping is real.

All connections share one thread and one epoll (paho's external-loop calls),
so a thousand edges cost one process. Binds and connects to the given broker
only. Prints "ready N" once every edge's state is out, then one line a second
with the counts; stops on SIGTERM or SIGINT with a clean disconnect (the
offline state), or without one on SIGKILL (the broker sends the wills).

Usage: fleet_sim.py --port PORT [--host 127.0.0.1] [--edges 1000]
                    [--site sim] [--probe-s 2] [--root ib/fleet/v1]
"""

import argparse
import hashlib
import heapq
import json
import selectors
import signal
import sys
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

VERSION = "sim"


def now_ms():
    return int(time.time() * 1000)


class Edge:
    def __init__(self, sim, site, edge):
        self.sim = sim
        self.site = site
        self.edge = edge
        self.prefix = "%s/%s/%s/" % (sim.root, site, edge)
        self.revision = 0
        self.hash = hashlib.sha256(b"").hexdigest()
        self.highest = 0  # every revision seen, refused or not (fleet.md: stale)
        self.handled = {}  # revision -> hash of its text, so a retained copy is not applied twice
        self.started = now_ms()
        self.online = False
        self.client = mqtt.Client(client_id="sim-%s-%s" % (site, edge), protocol=mqtt.MQTTv5)
        self.client.will_set(self.prefix + "state", self.offline(with_ts=False), qos=1, retain=True)
        self.client.on_connect = self.on_connect
        self.client.on_message = self.on_message
        self.client.on_socket_open = self.sim.socket_open
        self.client.on_socket_close = self.sim.socket_close
        self.client.on_socket_register_write = self.sim.want_write
        self.client.on_socket_unregister_write = self.sim.no_write

    def offline(self, with_ts=True):
        body = {"edge": self.edge, "site": self.site, "online": False}
        if with_ts:
            body["ts"] = now_ms()
        return json.dumps(body)

    def state(self):
        return json.dumps({"edge": self.edge, "site": self.site, "online": True, "version": VERSION,
                           "revision": self.revision, "hash": self.hash, "labels": {},
                           "desired_revision": self.highest or self.revision, "started": self.started,
                           "ts": now_ms()})

    def on_connect(self, client, userdata, flags, rc, properties=None):
        if rc != 0:
            return
        client.subscribe([(self.prefix + "desired", 1), (self.prefix + "cmd", 1)])
        client.publish(self.prefix + "state", self.state(), qos=1, retain=True)
        if not self.online:
            self.online = True
            self.sim.online += 1

    def report(self, body, reply, final=False):
        body["ts"] = now_ms()
        payload = json.dumps(body)
        self.client.publish(self.prefix + "status", payload, qos=1, retain=True)
        topic, corr = reply
        if topic:
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = corr
            self.client.publish(topic, payload, qos=1, properties=props)
        if final:
            self.sim.finals += 1

    def on_message(self, client, userdata, msg):
        props = msg.properties
        reply = (getattr(props, "ResponseTopic", None), getattr(props, "CorrelationData", None))
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        if msg.topic.endswith("/desired"):
            self.desired(body, reply)
        else:
            self.command(body, reply)

    def desired(self, d, reply, cmd_id=None):
        revision = d.get("revision")
        if not isinstance(revision, int) or revision <= 0:
            return
        text_hash = hashlib.sha256(d.get("config", "").encode()).hexdigest()
        if cmd_id is None and self.handled.get(revision) == text_hash:
            return  # the retained copy again, at a reconnect or a QoS 1 resend: its report stands
        base = d.get("base")
        progress = {"id": cmd_id, "revision": revision}
        if revision <= self.highest:
            return self.report(dict(progress, phase="failed", code="stale",
                                    errors=["revision %d is not above %d" % (revision, self.highest)]), reply, True)
        self.highest = revision
        self.handled[revision] = text_hash
        if base is not None and base != self.revision:
            return self.report(dict(progress, phase="failed", code="base_mismatch",
                                    errors=["based on revision %s, but this edge runs revision %d"
                                            % (base, self.revision)]), reply, True)
        for phase in ("received", "validating", "applying", "probing"):
            self.report(dict(progress, phase=phase), reply)
        self.sim.later(self.sim.probe_s, lambda: self.done(revision, text_hash, progress, reply))

    def done(self, revision, text_hash, progress, reply):
        self.revision = revision
        self.hash = text_hash
        self.report(dict(progress, phase="done"), reply, True)
        self.client.publish(self.prefix + "state", self.state(), qos=1, retain=True)

    def command(self, c, reply):
        op, cmd_id = c.get("op"), c.get("id")
        progress = {"id": cmd_id, "revision": c.get("revision") or c.get("to")}
        if op == "dry-run":
            self.report(dict(progress, phase="done", dry_run=True, diff={}), reply, True)
        elif op == "rollback" and c.get("to") in (0, self.revision):
            self.report(dict(progress, phase="done"), reply, True)
        elif op == "rollback":
            self.report(dict(progress, phase="failed", code="unknown_revision"), reply, True)
        else:
            self.report(dict(progress, phase="failed", code="unsupported"), reply, True)


class Sim:
    def __init__(self, args):
        self.root = args.root
        self.probe_s = args.probe_s
        self.selector = selectors.DefaultSelector()
        self.timers = []
        self.seq = 0
        self.online = 0
        self.finals = 0
        self.stopping = False
        self.edges = [Edge(self, args.site, "s-%04d" % i) for i in range(1, args.edges + 1)]
        self.by_sock = {}
        self.next_misc = 0

    def later(self, delay_s, fn):
        self.seq += 1
        heapq.heappush(self.timers, (time.monotonic() + delay_s, self.seq, fn))

    # paho's external-loop callbacks: each socket in the one epoll.
    def socket_open(self, client, userdata, sock):
        self.by_sock[sock.fileno()] = client
        self.selector.register(sock, selectors.EVENT_READ, client)

    def socket_close(self, client, userdata, sock):
        self.by_sock.pop(sock.fileno(), None)
        try:
            self.selector.unregister(sock)
        except (KeyError, ValueError):
            pass

    def want_write(self, client, userdata, sock):
        self.selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)

    def no_write(self, client, userdata, sock):
        try:
            self.selector.modify(sock, selectors.EVENT_READ, client)
        except (KeyError, ValueError):
            pass

    def run(self, host, port):
        for i, e in enumerate(self.edges):
            e.client.connect(host, port, keepalive=60)
            if i % 50 == 49:
                self.turn(0)  # let CONNACKs in while the rest connect
        ready_said = False
        next_line = time.monotonic() + 1
        while not self.stopping:
            self.turn(0.05)
            if not ready_said and self.online == len(self.edges):
                print("ready %d" % self.online, flush=True)
                ready_said = True
            if time.monotonic() >= next_line:
                print("online %d finals %d" % (self.online, self.finals), flush=True)
                next_line += 1
        for e in self.edges:
            e.client.publish(e.prefix + "state", e.offline(), qos=1, retain=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(e.client.want_write() for e in self.edges):
            self.turn(0.05)
        for e in self.edges:
            e.client.disconnect()
        self.turn(0.1)

    def turn(self, timeout):
        if self.timers:
            timeout = max(0, min(timeout, self.timers[0][0] - time.monotonic()))
        for key, events in self.selector.select(timeout):
            client = key.data
            if events & selectors.EVENT_READ:
                client.loop_read()
            if events & selectors.EVENT_WRITE:
                client.loop_write()
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            heapq.heappop(self.timers)[2]()
        if now >= self.next_misc:  # keep-alive pings; once a second is plenty for keepalive=60
            self.next_misc = now + 1
            for e in self.edges:
                e.client.loop_misc()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--edges", type=int, default=1000)
    ap.add_argument("--site", default="sim")
    ap.add_argument("--probe-s", type=float, default=2.0)
    ap.add_argument("--root", default="ib/fleet/v1")
    args = ap.parse_args()
    sim = Sim(args)

    def stop(signo, frame):
        sim.stopping = True
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sim.run(args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
