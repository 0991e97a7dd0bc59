"""Store and forward: a bridge from Ironbridge to an upstream broker, with
Debian's mosquitto playing the cloud, started by the test on 127.0.0.1.

What a user would check: every numbered message published on Ironbridge arrives
upstream, in order, through outages of the upstream and a kill -9 of Ironbridge;
the queue caps keep and drop exactly what their policy says; commands published
upstream reach a device and the result goes back up."""

import json
import os
import shutil
import tempfile
import threading
import time
import unittest

import paho.mqtt.client as mqtt

import ibharness as h
from bridge_peers import BridgeCase, Upstream, bridge_toml, in_order, make_certs


@h.ironbridge_only("the bridge is an Ironbridge feature")
class BridgeTest(BridgeCase):

    # ------------------------------------------------------------------ tests

    def test_messages_are_forwarded_in_order_with_the_remote_template(self):
        up = self.upstream()
        coll = self.collector(up)
        node = self.start_broker(extra_toml=bridge_toml(up.port))
        self.wait_status(node, lambda s: s["connected"], what="connected")
        pub = self.publisher(node)
        pub.publish_range("plant/line1/temp", 0, 2000)
        self.wait_count(coll, 2000)
        first, dups = in_order(coll.numbers())
        self.assertEqual(first, list(range(2000)))
        s = self.wait_status(node, lambda s: s["backlog"]["messages"] == 0, what="empty backlog")
        self.assertEqual((s["taken"], s["acked"]), (2000, 2000))
        with coll.lock:
            self.assertTrue(all(":" in p for p in coll.payloads))
        code, _, metrics = node.http_get("/metrics")
        self.assertIn(b'ib_bridge_messages_acked_total{bridge="cloud"} 2000', metrics)
        self.assertIn(b'ib_bridge_connected{bridge="cloud"} 1', metrics)

    def test_every_message_arrives_in_order_through_upstream_outages(self):
        up = self.upstream()
        coll = self.collector(up)
        node = self.start_broker(extra_toml=bridge_toml(up.port))
        self.wait_status(node, lambda s: s["connected"], what="connected")
        pub = self.publisher(node)
        n = 0
        # Outages of different lengths, with traffic before, during and after each.
        for outage_s in (0.2, 1.0, 2.5):
            pub.publish_range("plant/a", n, n + 500, pace_every=50, pace_s=0.01)
            n += 500
            up.stop()
            s = self.wait_status(node, lambda s: not s["connected"], what="link down")
            # The history shows the outage as it happens, newest first.
            self.assertTrue(s["disconnects"][0]["ongoing"], s["disconnects"])
            self.assertTrue(s["disconnects"][0]["reason"], s["disconnects"])
            pub.publish_range("plant/a", n, n + 1000)
            n += 1000
            time.sleep(outage_s)
            s = self.status(node)
            self.assertGreaterEqual(s["backlog"]["messages"], 1000, s)
            up.start()
            self.wait_status(node, lambda s: s["connected"], what="link up again")
            pub.publish_range("plant/a", n, n + 200)
            n += 200
        self.wait_count(coll, n, timeout=60)
        first, dups = in_order(coll.numbers())
        self.assertEqual(first, list(range(n)), "messages out of order upstream")
        s = self.wait_status(node, lambda s: s["backlog"]["messages"] == 0, what="empty backlog")
        self.assertEqual(s["taken"], n)
        self.assertGreaterEqual(s["connects"], 4, s)
        # Duplicates are allowed by QoS 1. Those the upstream redelivered to its
        # subscriber carry DUP; the others must be messages the bridge resent.
        self.assertLessEqual(coll.fresh_duplicates(), s["resent"], "duplicates the bridge did not count")
        print("outages: %d messages, %d duplicates upstream, %d resent by the bridge" % (n, dups, s["resent"]))
        self.assertEqual(sum(s["dropped"].values()), 0, s)
        # Each outage in the history, over, with its reason and how long the link was down.
        history = s["disconnects"]
        self.assertEqual(len(history), 3, history)
        self.assertEqual(sorted(history, key=lambda d: -d["at_ms"]), history, "newest first")
        for d in history:
            self.assertFalse(d["ongoing"], d)
            self.assertTrue(d["reason"], d)
            self.assertGreater(d["down_ms"], 0, d)
        self.assertEqual(s["last_disconnect"]["reason"], history[0]["reason"])

    def test_unreachable_upstream_at_start_then_the_backlog_drains_by_itself(self):
        up, coll = self.offline_upstream_with_collector()
        node = self.start_broker(extra_toml=bridge_toml(up.port))
        pub = self.publisher(node)
        pub.publish_range("plant/b", 0, 3000)
        s = self.wait_status(node, lambda s: s["backlog"]["messages"] == 3000, what="3000 queued")
        self.assertFalse(s["connected"])
        self.assertIn("127.0.0.1:%d" % up.port, s["last_error"])
        self.assertEqual(s["last_disconnect"], {"reason": "", "at_ms": 0}, "a link never up cannot have gone down")
        self.assertEqual(s["disconnects"], [])
        self.assertGreater(s["backlog"]["oldest_age_s"], 0)
        up.start()
        # No new traffic: the backlog must drain on its own.
        self.wait_count(coll, 3000)
        self.assertEqual(in_order(coll.numbers())[0], list(range(3000)))

    def test_a_qos0_backlog_larger_than_the_output_buffer_drains_by_itself(self):
        # 2,000 × 10 KB = 20 MB queued at QoS 0: more than the 16 MiB kept in
        # memory (the rest is read back from the file) and many times the 512 KiB
        # of output at which the sender stops, with no acknowledgement to wake it.
        up, coll = self.offline_upstream_with_collector(extra_conf="queue_qos0_messages true\n")
        node = self.start_broker(extra_toml=bridge_toml(up.port, forwards=[("plant/#", "factory1/${topic}", 0)]))
        pub = self.publisher(node)
        pub.publish_range("plant/q0", 0, 2000, pad=10000)
        self.wait_status(node, lambda s: s["backlog"]["messages"] == 2000, what="2000 queued")
        up.start()
        self.wait_count(coll, 2000, timeout=20)
        self.assertEqual(in_order(coll.numbers())[0], list(range(2000)))
        s = self.wait_status(node, lambda s: s["backlog"]["messages"] == 0, what="the backlog empty")
        self.assertEqual(s["dropped"]["offline_qos0"], 0)

    def test_kill_9_mid_drain_loses_nothing_that_was_taken(self):
        up, coll = self.offline_upstream_with_collector()
        total = 30000
        # A small window makes the drain last long enough to be interrupted.
        node = self.start_broker(extra_toml=bridge_toml(up.port, bridge_extra="inflight = 8"))
        pub = self.publisher(node)
        pub.publish_range("plant/c", 0, total)
        pub.close()
        self.wait_status(node, lambda s: s["backlog"]["messages"] == total, what="all queued")
        up.start()
        h.wait_until(lambda: coll.count() >= 2000, timeout=30, interval=0.002)
        node.kill9()
        arrived_before = len(set(coll.numbers()))
        node.start()
        self.wait_count(coll, total, timeout=60)
        first, dups = in_order(coll.numbers())
        self.assertEqual(first, list(range(total)))
        self.assertLess(arrived_before, total, "the drain had finished before the kill")

    def test_kill_9_during_live_forwarding_loses_nothing_that_was_taken(self):
        up = self.upstream()
        coll = self.collector(up)
        node = self.start_broker(extra_toml=bridge_toml(up.port))
        self.wait_status(node, lambda s: s["connected"], what="connected")
        total = 20000
        pub = self.publisher(node)
        pub.publish_range("plant/d", 0, total)
        pub.close()
        # Everything taken (on disk), forwarding in progress: kill.
        self.wait_status(node, lambda s: s["taken"] == total, what="all taken")
        node.kill9()
        node.start()
        self.wait_count(coll, total, timeout=60)
        self.assertEqual(in_order(coll.numbers())[0], list(range(total)))

    def test_kill_9_while_publishing_loses_no_acknowledged_message(self):
        up = self.upstream()
        coll = self.collector(up)
        node = self.start_broker(extra_toml=bridge_toml(up.port))
        self.wait_status(node, lambda s: s["connected"], what="connected")
        acked_mids = []
        by_mid = {}
        lock = threading.Lock()  # never held while calling into paho
        c = mqtt.Client(client_id="pub-kill", protocol=mqtt.MQTTv311)
        c.max_inflight_messages_set(200)

        def on_publish(client, userdata, mid):
            with lock:
                acked_mids.append(mid)

        c.on_publish = on_publish
        c.connect(h.HOST, node.port, keepalive=30)
        c.loop_start()
        self.addCleanup(c.loop_stop)
        stop = threading.Event()

        def publish():
            # Fewer than 65,535 messages: paho's message ids stay unique.
            for i in range(60000):
                if stop.is_set():
                    return
                info = c.publish("plant/k", "%d:" % i, qos=1)
                with lock:
                    by_mid[info.mid] = i
                if i % 200 == 0:
                    time.sleep(0.001)

        t = threading.Thread(target=publish, daemon=True)
        t.start()
        h.wait_until(lambda: len(acked_mids) >= 5000, timeout=30, interval=0.001)
        node.kill9()
        stop.set()
        t.join(10)
        with lock:
            promised = {by_mid[m] for m in acked_mids}
        self.assertGreater(len(promised), 0)
        node.start()
        # Every message whose PUBACK the publisher got must arrive upstream.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not promised <= set(coll.numbers()):
            time.sleep(0.05)
        missing = sorted(promised - set(coll.numbers()))
        self.assertEqual(missing[:20], [], "%d acknowledged messages lost" % len(missing))
        first, _ = in_order([n for n in coll.numbers() if n in promised])
        self.assertEqual(first, sorted(promised))

    def cap_case(self, policy):
        up, coll = self.offline_upstream_with_collector()
        # Each message is 100 bytes of topic and payload: "factory1/plant/e" (16) + 84.
        cap = 10000
        node = self.start_broker(extra_toml=bridge_toml(
            up.port, bridge_extra='max_queue_bytes = %d\nqueue_full = "%s"' % (cap, policy)))
        pub = self.publisher(node)
        for i in range(500):
            pub.publish_range("plant/e", i, i + 1, pad=84 - len("%d:" % i))
        # drop-oldest takes every message and later drops the oldest; drop-new refuses.
        refused = (lambda s: s["dropped"]["queue_full"]) if policy == "drop-new" else (lambda s: 0)
        s = self.wait_status(node, lambda s: s["taken"] + refused(s) == 500, what="500 handled")
        self.assertEqual(s["backlog"]["messages"], 100, s)
        self.assertEqual(s["backlog"]["bytes"], cap, s)
        self.assertEqual(s["dropped"]["queue_full"], 400, s)
        up.start()
        self.wait_count_exact(coll, 100)
        return coll.numbers(), node

    def wait_count_exact(self, coll, n):
        if not h.wait_until(lambda: len(set(coll.numbers())) >= n, timeout=30, interval=0.05):
            self.fail("upstream received %d of %d" % (len(set(coll.numbers())), n))
        time.sleep(0.5)  # nothing more may come
        self.assertEqual(len(set(coll.numbers())), n)

    def test_queue_cap_drop_oldest_keeps_the_newest(self):
        numbers, node = self.cap_case("drop-oldest")
        self.assertEqual(in_order(numbers)[0], list(range(400, 500)))
        # The summary line of the drops, at most every 10 s.
        self.assertTrue(h.wait_until(lambda: "dropped 400 messages" in node.log_text(), timeout=15), node.log_text())

    def test_queue_cap_drop_new_keeps_the_oldest(self):
        numbers, _ = self.cap_case("drop-new")
        self.assertEqual(in_order(numbers)[0], list(range(100)))

    def test_queue_cap_push_back_withholds_acks_and_loses_nothing(self):
        up, coll = self.offline_upstream_with_collector()
        cap = 10000  # 100 messages of 100 bytes
        node = self.start_broker(extra_toml=bridge_toml(
            up.port, bridge_extra='max_queue_bytes = %d\nqueue_full = "push-back"' % cap))
        c = mqtt.Client(client_id="pusher", protocol=mqtt.MQTTv311)
        c.max_inflight_messages_set(20)
        c.connect(h.HOST, node.port, keepalive=30)
        c.loop_start()
        self.addCleanup(c.loop_stop)
        infos = [c.publish("plant/p", "%d:%s" % (i, "x" * (84 - len("%d:" % i))), qos=1) for i in range(300)]
        # The queue fills, then the publisher gets no more PUBACKs: its window of 20 stays open.
        # The queue holds 100; what does not fit waits in memory, and the publisher
        # gets no PUBACK for anything since the queue filled: it stops at its window of 20.
        s = self.wait_status(node, lambda s: s["pushing_back"] and s["held"] > 0, what="push-back")
        time.sleep(0.5)
        acked = sum(1 for i in infos if i.is_published())
        s = self.status(node)
        self.assertLessEqual(acked, 100, "acknowledged beyond what the queue holds: %r" % s)
        self.assertEqual(s["taken"], acked + 20, "the publisher did not stop at its window: %r" % s)
        self.assertEqual(s["backlog"]["messages"] - s["held"], 100, s)
        time.sleep(0.5)
        self.assertEqual(sum(1 for i in infos if i.is_published()), acked, "PUBACKs went on while the queue was full")
        self.assertEqual(sum(s["dropped"].values()), 0, s)
        # The upstream returns: the queue drains, the held messages go in, the publisher goes on.
        up.start()
        for info in infos:
            info.wait_for_publish(30)
        self.assertTrue(all(i.is_published() for i in infos), "a publish was never acknowledged")
        self.wait_count_exact(coll, 300)
        self.assertEqual(in_order(coll.numbers())[0], list(range(300)))
        s = self.wait_status(node, lambda s: not s["pushing_back"] and s["backlog"]["messages"] == 0, what="drained")
        self.assertEqual(sum(s["dropped"].values()), 0, s)

    def test_qos0_forwards_can_be_dropped_while_offline(self):
        up = Upstream()
        self.addCleanup(up.close)
        node = self.start_broker(extra_toml=bridge_toml(up.port, forwards=[("plant/#", "${topic}", 0)],
                                                        bridge_extra="queue_qos0 = false"))
        pub = self.publisher(node)
        pub.publish_range("plant/f", 0, 50)
        s = self.wait_status(node, lambda s: s["dropped"]["offline_qos0"] == 50, what="50 dropped")
        self.assertEqual(s["backlog"]["messages"], 0)

    def test_a_topic_without_the_level_a_template_names_is_dropped_and_counted(self):
        up, _ = self.offline_upstream_with_collector()
        node = self.start_broker(extra_toml=bridge_toml(up.port, forwards=[("plant/#", "x/${5}", 1)]))
        pub = self.publisher(node)
        pub.publish_range("plant/short", 0, 3)
        pub.publish_range("plant/a/b/c/long", 3, 5)
        s = self.wait_status(node, lambda s: s["dropped"]["no_topic"] == 3 and s["taken"] == 2, what="3 dropped")
        self.assertEqual(s["backlog"]["messages"], 2, s)

    def test_commands_from_the_cloud_write_a_device_and_the_result_goes_back_up(self):
        up = self.upstream()
        device = """
[[devices]]
name = "oven"
driver = "sim"

[[devices.groups]]
name = "fast"
interval_ms = 100
tags = [ { name = "sp", address = "memory:initial=180", type = "int16", access = "rw" } ]
"""
        toml = bridge_toml(up.port, extra=device,
                           forwards=[("ib/data/#", "factory1/data/${3}/${4}", 1),
                                     ("ib/write/+/result", "factory1/write/${3}/result", 1)],
                           subscriptions=[("factory1/write/+", "ib/write/${3}", 1)])
        node = self.start_broker(extra_toml=toml)
        # A command published before the upstream acknowledged the bridge's
        # SUBSCRIBE would go nowhere.
        self.wait_status(node, lambda s: s["connected"] and s["subscribed"], what="subscribed")
        cloud = self.paho(up, "cloud-app", protocol=h.V311)
        cloud.subscribe("factory1/#", qos=1)
        cloud.c.publish("factory1/write/oven", json.dumps({"id": "c-1", "tag": "sp", "value": 42}), qos=1)
        deadline = time.monotonic() + 15
        result = None
        reading = None
        while time.monotonic() < deadline and (result is None or reading is None):
            try:
                m = cloud.messages.get(timeout=0.5)
            except Exception:
                continue
            if m.topic == "factory1/write/oven/result":
                result = json.loads(m.payload)
            elif m.topic == "factory1/data/oven/fast":
                d = json.loads(m.payload)
                if d["values"].get("sp") == 42:
                    reading = d
        self.assertIsNotNone(result, "no write result reached the upstream")
        self.assertEqual((result["id"], result["ok"]), ("c-1", True), result)
        self.assertIsNotNone(reading, "no reading with the written value reached the upstream")
        s = self.status(node)
        self.assertGreaterEqual(s["received"], 1)

    def test_fail_over_to_the_next_server(self):
        up = self.upstream()
        dead = h.free_port()
        coll = self.collector(up)
        toml = bridge_toml(up.port).replace('servers = ["127.0.0.1:%d"]' % up.port,
                                            'servers = ["127.0.0.1:%d", "127.0.0.1:%d"]' % (dead, up.port))
        node = self.start_broker(extra_toml=toml)
        s = self.wait_status(node, lambda s: s["connected"], what="connected")
        self.assertEqual(s["server"], "127.0.0.1:%d" % up.port)
        pub = self.publisher(node)
        pub.publish_range("plant/g", 0, 10)
        self.wait_count(coll, 10)

    def test_a_corrupt_queue_file_is_moved_aside(self):
        up = self.upstream()
        node = h.Broker(extra_toml=bridge_toml(up.port))
        self._ib_brokers.append(node)
        self.addCleanup(node.close)
        with open(os.path.join(node.data_dir, "bridge-cloud.db"), "wb") as f:
            f.write(b"this is not a database" * 100)
        node.start()
        self.wait_status(node, lambda s: s["connected"], what="connected")
        self.assertIn("moved aside", node.log_text())
        self.assertTrue(any(n.startswith("bridge-cloud.db.corrupt-") for n in os.listdir(node.data_dir)))

    def tls_toml(self, up, certs, ca="ca.crt", client_cert=True):
        extra = 'tls = true\nca_file = "%s/%s"' % (certs, ca)
        if client_cert:
            extra += '\ncert_file = "%s/client.crt"\nkey_file = "%s/client.key"' % (certs, certs)
        return bridge_toml(up.tls_port, bridge_extra=extra)

    def test_tls_with_a_client_certificate(self):
        certs = make_certs(self)
        up = self.upstream(tls=(certs, True))
        coll = self.collector(up)
        node = self.start_broker(extra_toml=self.tls_toml(up, certs))
        self.wait_status(node, lambda s: s["connected"], what="connected over TLS")
        pub = self.publisher(node)
        pub.publish_range("plant/tls", 0, 500)
        self.wait_count(coll, 500)
        self.assertEqual(in_order(coll.numbers())[0], list(range(500)))

    def test_tls_refuses_a_server_signed_by_another_ca(self):
        certs = make_certs(self)
        up = self.upstream(tls=(certs, False))
        node = self.start_broker(extra_toml=self.tls_toml(up, certs, ca="other-ca.crt"))
        s = self.wait_status(node, lambda s: "TLS handshake" in s["last_error"], what="a failed handshake")
        self.assertFalse(s["connected"])
        self.assertIn("certificate verify failed", s["last_error"])
        pub = self.publisher(node)
        pub.publish_range("plant/tls", 0, 10)
        self.assertEqual(self.status(node)["backlog"]["messages"], 10)  # kept, not sent to an impostor

    def test_tls_without_the_client_certificate_an_upstream_requires(self):
        certs = make_certs(self)
        up = self.upstream(tls=(certs, True))
        node = self.start_broker(extra_toml=self.tls_toml(up, certs, client_cert=False))
        time.sleep(1.5)
        self.assertTrue(node.alive(), "ironbridge died on a refused handshake")
        s = self.status(node)
        self.assertFalse(s["connected"], s)
        self.assertEqual(s["connects"], 0, s)
        self.assertNotEqual(s["last_error"], "", s)

    def test_config_errors_name_the_line_and_key(self):
        path = os.path.join(tempfile.mkdtemp(prefix="ibcfg-"), "bad.toml")
        self.addCleanup(shutil.rmtree, os.path.dirname(path), True)
        with open(path, "w") as f:
            f.write('[[bridges]]\nname = "cloud"\nservers = ["127.0.0.1:99999"]\nqueue_full = "block"\n\n'
                    '[[bridges.forwards]]\nlocal = "a/#/b"\nremote = "x/${topicc}"\n')
        r = self.run_proc([h.ironbridge_bin(), "check-config", path])
        self.assertEqual(r.returncode, 2, r)
        err = r.stderr.decode()
        self.assertIn("bad.toml:3: bridges[0].servers:", err)
        self.assertIn("port must be a number from 1 to 65535", err)
        self.assertIn("bad.toml:4: bridges[0].queue_full: \"block\" is not one of drop-oldest, drop-new, push-back", err)
        self.assertIn("bridges[0].forwards[0].local: \"a/#/b\" is not a valid MQTT topic filter", err)
        self.assertIn("${topicc}", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
