"""Ironbridge-only: behaving as a service. systemd's notify protocol (READY=1,
WATCHDOG=1, STOPPING=1) on a Unix datagram socket this test binds, as systemd
would; JSON log lines; the kubelet's probes /healthz/live and /healthz/ready,
open while the rest of the API asks for a token; SIGTERM draining to exit 0."""

import json
import os
import signal
import time
import unittest

import ibharness as h
from bridge_peers import BridgeCase, bridge_toml, in_order
from freezable_disk import node_on_freezable_disk
from ibharness import IBTestCase

TOKEN = "service-test-token"

# The first line lands in the harness's [api] table. The bridge's upstream is a
# port nothing listens on, so its link stays down.
EXTRA = """allow_anonymous = false
tokens = ["%s"]

[[bridges]]
name = "cloud"
servers = ["127.0.0.1:%d"]

[[bridges.forwards]]
local = "plant/#"
"""


def get_json(broker, path):
    status, _, body = broker.http_get(path)
    return status, json.loads(body)


@h.ironbridge_only("systemd notification, probes and JSON logs are Ironbridge's")
class ServiceTest(IBTestCase):
    def start_service(self, abstract=False, **kw):
        notify = h.NotifySocket(abstract)
        self.addCleanup(notify.close)
        env = {"NOTIFY_SOCKET": notify.env_value, "WATCHDOG_USEC": "400000"}
        broker = self.start_broker(env=env, extra_toml=EXTRA % (TOKEN, h.free_port()), **kw)
        return broker, notify

    def stop_by_sigterm(self, broker):
        p, broker.proc = broker.proc, None
        os.kill(p.pid, signal.SIGTERM)
        return p

    def test_sizes_its_loops_for_the_cpus_it_may_use(self):
        """Given one CPU (as taskset or a container's cpuset gives it), the node
        plans for one core, whatever the machine has: one shard, one service loop."""
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(before)})  # the broker started here inherits it
        try:
            broker = self.start_broker(broker={"threads": 0})
        finally:
            os.sched_setaffinity(0, before)
        self.assertTrue(h.wait_until(lambda: "loops:" in broker.log_text(), timeout=10), broker.log_text())
        self.assertIn("loops: loop 0: broker shard; loop 1: devices, rules, bridges, history, api "
                      "(for 1 usable CPU core)", broker.log_text())

    def test_notifies_ready_watchdog_and_stopping_then_exits_0(self):
        broker, notify = self.start_service()
        notify.wait_for("READY=1")
        notify.wait_for("WATCHDOG=1")
        # Only after READY=1 the node answers as ready.
        self.assertEqual(get_json(broker, "/healthz/ready"), (200, {"status": "ready"}))
        p = self.stop_by_sigterm(broker)
        notify.wait_for("STOPPING=1")
        self.assertEqual(p.wait(10), 0, broker.log_text())

    def test_abstract_notify_socket(self):
        broker, notify = self.start_service(abstract=True)
        notify.wait_for("READY=1")
        p = self.stop_by_sigterm(broker)
        notify.wait_for("STOPPING=1")
        self.assertEqual(p.wait(10), 0, broker.log_text())

    def test_probes_answer_without_credentials_the_rest_asks_for_them(self):
        broker, notify = self.start_service()
        notify.wait_for("READY=1")
        self.assertEqual(get_json(broker, "/healthz/live"), (200, {"status": "live"}))
        self.assertEqual(get_json(broker, "/healthz/ready"), (200, {"status": "ready"}))
        # The bridge's upstream is down: a probe that asks for it says so.
        self.assertEqual(get_json(broker, "/healthz/ready?bridge=cloud"),
                         (503, {"status": "bridge down", "bridge": "cloud"}))
        self.assertEqual(get_json(broker, "/healthz/ready?bridge=nope")[0], 404)
        self.assertEqual(get_json(broker, "/healthz/ready?device=x")[0], 400)
        self.assertEqual(broker.http_get("/api/v1/bridges")[0], 401)

    def test_json_log_lines_parse(self):
        broker, notify = self.start_service(log_format="json")
        notify.wait_for("READY=1")
        p = self.stop_by_sigterm(broker)
        self.assertEqual(p.wait(10), 0)
        lines = [l for l in broker.log_text().splitlines() if l and not l.startswith("==== start")]
        self.assertTrue(lines)
        records = [json.loads(l) for l in lines]
        for r in records:
            self.assertEqual(set(r), {"time", "level", "module", "message", "fields"}, r)
            self.assertIn(r["level"], ("trace", "debug", "info", "warning", "error", "critical"))
        self.assertTrue(any(r["module"] == "api" and r["message"].startswith("listening on") for r in records),
                        records)

    def test_journal_lines_carry_their_priority(self):
        # systemd names the journal's stream by device and inode; the harness's
        # log file stands in for it.
        broker = h.Broker(extra_toml=EXTRA % (TOKEN, h.free_port()))
        self._ib_brokers.append(broker)
        self.addCleanup(broker.close)
        open(broker.log_path, "ab").close()
        st = os.stat(broker.log_path)
        broker.env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
        broker.start()
        self.assertEqual(broker.stop(), 0)
        lines = [l for l in broker.log_text().splitlines() if l and not l.startswith("==== start")]
        self.assertTrue(any(l.startswith("<6>") and "api: listening on" in l for l in lines), lines)
        self.assertTrue(all(l[:3] in ("<7>", "<6>", "<4>", "<3>", "<2>") for l in lines), lines)

    def test_second_sigterm_exits_at_once_with_0(self):
        broker, notify = self.start_service()
        notify.wait_for("READY=1")
        p = self.stop_by_sigterm(broker)
        os.kill(p.pid, signal.SIGTERM)
        self.assertEqual(p.wait(10), 0, broker.log_text())


@h.ironbridge_only("the bridge's durable acknowledgements are Ironbridge's")
class DrainTest(BridgeCase):
    def test_sigterm_sends_the_pubacks_held_for_the_disk_then_the_queue_is_delivered_after_restart(self):
        # The cloud broker is down; the node's data directory is a disk this
        # test can stall, so the PUBACKs of bridged messages are held at SIGTERM.
        up, coll = self.offline_upstream_with_collector()
        node = h.Broker(extra_toml=bridge_toml(up.port))
        self._ib_brokers.append(node)
        disk = node_on_freezable_disk(self, node)
        node.start()
        pub = self.publisher(node)
        pub.publish_range("plant/drain", 0, 10)
        self.wait_status(node, lambda s: s["backlog"]["messages"] == 10, what="10 queued")
        disk.freeze()
        held = [pub.c.publish("plant/drain", "%d:" % i, qos=1) for i in range(10, 40)]
        self.wait_status(node, lambda s: s["taken"] == 40, what="40 taken while the disk is stalled")
        self.assertEqual([i.mid for i in held if i.is_published()], [], "acknowledged before the disk had them")

        p, node.proc = node.proc, None
        os.kill(p.pid, signal.SIGTERM)
        self.assertTrue(h.wait_until(lambda: "shutting down" in node.log_text(), timeout=20), node.log_text())
        disk.thaw()  # the queue's commit completes: the drain sends the PUBACKs, then disconnects
        h.wait_until(lambda: all(i.is_published() for i in held), timeout=30)
        self.assertEqual([i.mid for i in held if not i.is_published()], [], "a PUBACK held at SIGTERM was not sent")
        self.assertEqual(p.wait(30), 0, node.log_text())

        up.start()
        node.start()
        self.wait_count(coll, 40)
        self.assertEqual(in_order(coll.numbers())[0], list(range(40)))


if __name__ == "__main__":
    unittest.main()
