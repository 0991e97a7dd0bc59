"""Basic publish/subscribe: Debian's mosquitto clients, paho at every protocol
version and QoS, wildcards, $SYS isolation and raw CONNACK bytes."""

import queue
import struct
import subprocess
import threading
import time
import unittest

import ibharness as h
from ibharness import IBTestCase, LineReader, V5, V31, V311, enc_str


class MosquittoClientsTest(IBTestCase):
    def setUp(self):
        self.b = self.start_broker()

    def _sub(self, version, topic, qos, count, extra=()):
        # -d prints "received SUBACK" so we publish only once the subscription exists.
        cmd = ["stdbuf", "-oL", "mosquitto_sub", "-h", h.HOST, "-p", str(self.b.port),
               "-V", version, "-t", topic, "-q", str(qos), "-C", str(count), "-W", "30",
               "-d", "-F", "MSG|%t|%q|%p"] + list(extra)
        p = self.spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = LineReader(p.stdout)
        out.wait_for(lambda s: "received SUBACK" in s)
        return p, out

    def _pub(self, version, topic, msg, qos, extra=()):
        r = self.run_proc(["mosquitto_pub", "-h", h.HOST, "-p", str(self.b.port), "-V", version,
                           "-t", topic, "-m", msg, "-q", str(qos)] + list(extra))
        self.assertEqual(r.returncode, 0, r.stderr)

    def _roundtrip(self, version):
        for qos in (0, 1, 2):
            with self.subTest(version=version, qos=qos):
                topic = h.unique("cli/%s" % version)
                p, out = self._sub(version, topic, qos, 1)
                self._pub(version, topic, "hello-%d" % qos, qos)
                line = out.wait_for(lambda s: s.startswith("MSG|"))
                self.assertEqual(line, "MSG|%s|%d|hello-%d" % (topic, qos, qos))
                self.assertEqual(p.wait(30), 0)

    def test_mqttv311_qos012(self):
        self._roundtrip("mqttv311")

    def test_mqttv5_qos012(self):
        self._roundtrip("mqttv5")

    def test_mqttv5_user_property_through_cli(self):
        topic = h.unique("cli/props")
        p, out = self._sub("mqttv5", topic, 1, 1, extra=["-F", "MSG|%t|%p|%P"])
        self._pub("mqttv5", topic, "x", 1, extra=["-D", "publish", "user-property", "site", "north"])
        line = out.wait_for(lambda s: s.startswith("MSG|"))
        self.assertEqual(line, "MSG|%s|x|site:north" % topic)

    def test_mqttv31_cli(self):
        topic = h.unique("cli/31")
        p, out = self._sub("mqttv31", topic, 1, 1)
        self._pub("mqttv31", topic, "old", 1)
        self.assertEqual(out.wait_for(lambda s: s.startswith("MSG|")), "MSG|%s|1|old" % topic)


class PahoPubSubTest(IBTestCase):
    def setUp(self):
        self.b = self.start_broker()

    def test_all_versions_all_qos(self):
        for proto, name in ((V31, "v31"), (V311, "v311"), (V5, "v5")):
            sub = self.paho(self.b, h.unique("sub-" + name), protocol=proto)
            pub = self.paho(self.b, h.unique("pub-" + name), protocol=proto)
            for qos in (0, 1, 2):
                with self.subTest(proto=name, qos=qos):
                    topic = h.unique("paho/%s/%d" % (name, qos))
                    self.assertEqual(sub.subscribe(topic, qos), [qos])
                    pub.publish(topic, b"payload-\x00\xff", qos=qos)
                    m = sub.expect_message()
                    self.assertEqual((m.topic, m.payload, m.qos, m.retain),
                                     (topic, b"payload-\x00\xff", qos, False))
                    sub.expect_no_message(0.2)

    def test_qos_is_minimum_of_publish_and_subscription(self):
        sub = self.paho(self.b, h.unique("s"))
        pub = self.paho(self.b, h.unique("p"))
        for sub_qos in (0, 1, 2):
            for pub_qos in (0, 1, 2):
                with self.subTest(sub_qos=sub_qos, pub_qos=pub_qos):
                    topic = h.unique("min")
                    sub.subscribe(topic, sub_qos)
                    pub.publish(topic, b"x", qos=pub_qos)
                    self.assertEqual(sub.expect_message().qos, min(sub_qos, pub_qos))

    def test_large_payload(self):
        sub = self.paho(self.b, h.unique("s"))
        pub = self.paho(self.b, h.unique("p"))
        topic = h.unique("big")
        sub.subscribe(topic, 1)
        payload = bytes(range(256)) * 1024  # 256 KiB, below the 1 MiB default limit
        pub.publish(topic, payload, qos=1)
        self.assertEqual(sub.expect_message(10).payload, payload)

    def test_unsubscribe_stops_delivery(self):
        sub = self.paho(self.b, h.unique("s"), protocol=V311)
        pub = self.paho(self.b, h.unique("p"), protocol=V311)
        topic = h.unique("unsub")
        sub.subscribe(topic, 1)
        pub.publish(topic, b"1", qos=1)
        sub.expect_message()
        sub.unsubscribe(topic)
        pub.publish(topic, b"2", qos=1)
        sub.expect_no_message(0.5)

    def test_overlapping_subscriptions_deliver_at_least_once(self):
        # v3.1.1 §3.3.5: the server may send one copy with the maximum QoS, or one per subscription.
        sub = self.paho(self.b, h.unique("s"), protocol=V311)
        pub = self.paho(self.b, h.unique("p"), protocol=V311)
        base = h.unique("ov")
        sub.subscribe(base + "/#", 0)
        sub.subscribe(base + "/+", 1)
        pub.publish(base + "/x", b"o", qos=1)
        first = sub.expect_message()
        rest = []
        try:
            rest.append(sub.messages.get(timeout=0.5))
        except queue.Empty:
            pass
        sub.expect_no_message(0.2)
        self.assertEqual(first.payload, b"o")
        self.assertLessEqual(len(rest), 1)
        self.assertIn(1, [first.qos] + [m.qos for m in rest])


class WildcardTest(IBTestCase):
    def setUp(self):
        self.b = self.start_broker()
        self.sub = self.paho(self.b, h.unique("s"), protocol=V311)
        self.pub = self.paho(self.b, h.unique("p"), protocol=V311)

    def _check(self, flt, matching, not_matching):
        self.sub.subscribe(flt, 1)
        for t in not_matching + matching:
            self.pub.publish(t, t.encode(), qos=1)
        got = sorted(m.topic for m in self.sub.expect_messages(len(matching)))
        self.assertEqual(got, sorted(matching))
        self.sub.expect_no_message(0.3)

    def test_single_level_plus(self):
        b = h.unique("w1")
        self._check(b + "/+/c", [b + "/x/c", b + "//c"],
                    [b + "/x/d", b + "/x/c/d", b + "/c", b + "/x/y/c"])

    def test_multi_level_hash_includes_parent(self):
        b = h.unique("w2")
        self._check(b + "/#", [b, b + "/x", b + "/x/y/z", b + "/"], [b + "x", "other/" + b])

    def test_plus_then_hash(self):
        b = h.unique("w3")
        self._check("+/" + b + "/+/#", ["a/%s/b" % b, "a/%s/b/c/d" % b],
                    ["a/%s" % b, "a/b/%s/c" % b])

    def test_wildcards_do_not_match_sys(self):
        b = self.start_broker(broker={"sys_interval_s": 1})
        all_ = self.paho(b, h.unique("all"), protocol=V311)
        sysc = self.paho(b, h.unique("sys"), protocol=V311)
        all_.subscribe("#", 0)
        all_.subscribe("+/broker/#", 0)
        all_.subscribe("+/+/+", 0)
        sysc.subscribe("$SYS/#", 0)
        m = sysc.expect_message(5)
        self.assertTrue(m.topic.startswith("$SYS/"), m.topic)
        # Wait past at least two $SYS publications; '#' and '+' must see none of them.
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            try:
                m = all_.messages.get(timeout=deadline - time.monotonic())
            except queue.Empty:
                break
            self.assertFalse(m.topic.startswith("$"), "'#' or '+' matched %r" % m.topic)
        pub = self.paho(b, h.unique("p"), protocol=V311)
        pub.publish("plain/topic", b"x", qos=1)
        # Two levels: matched by '#' only, so exactly one copy.
        self.assertEqual(all_.expect_message().topic, "plain/topic")
        while True:
            try:
                m = all_.messages.get(timeout=0.3)
            except queue.Empty:
                break
            self.assertFalse(m.topic.startswith("$") or m.topic == "plain/topic", m.topic)

    def test_sys_broker_version_published(self):
        b = self.start_broker(broker={"sys_interval_s": 1})
        c = self.paho(b, h.unique("sys"), protocol=V311)
        c.subscribe("$SYS/broker/version", 0)
        m = c.expect_message(5)
        self.assertEqual(m.topic, "$SYS/broker/version")
        self.assertTrue(m.payload, "empty version")


class RawConnectTest(IBTestCase):
    def setUp(self):
        self.b = self.start_broker()

    def test_v311_connack_bytes(self):
        r = self.raw(self.b)
        ack = r.connect(h.unique("raw"))
        self.assertEqual(ack.raw, b"\x20\x02\x00\x00")

    def test_v31_mqisdp_connect(self):
        r = self.raw(self.b, version=3)
        ack = r.connect(h.unique("old"), proto_name="MQIsdp")
        self.assertEqual(ack.raw, b"\x20\x02\x00\x00")
        r.pingreq()
        self.assertEqual(r.expect(h.PINGRESP).raw, b"\xd0\x00")

    def test_empty_client_id_clean_session_accepted(self):
        r = self.raw(self.b)
        self.assertEqual(r.connect("").raw, b"\x20\x02\x00\x00")

    def test_empty_client_id_persistent_session_rejected(self):
        # [MQTT-3.1.3-8]: CONNACK 0x02 (identifier rejected), then close.
        r = self.raw(self.b)
        self.assertEqual(r.connect("", clean=False).raw, b"\x20\x02\x00\x02")
        r.packets_until_closed(3)

    def test_unsupported_protocol_level(self):
        # [MQTT-3.1.2-2]: CONNACK 0x01 (unacceptable protocol level), then close.
        r = self.raw(self.b, version=9)
        r.send(r.connect_packet("lvl9"))
        got = r.packets_until_closed(3)
        self.assertEqual([p.raw for p in got], [b"\x20\x02\x00\x01"])

    def test_pingreq_pingresp(self):
        r = h.raw_connected(self, self.b, h.unique("ping"))
        for _ in range(3):
            r.pingreq()
            self.assertEqual(r.expect(h.PINGRESP).raw, b"\xd0\x00")

    def test_v5_connack_properties(self):
        r = self.raw(self.b, version=5)
        ack = r.connect(h.unique("v5"))
        self.assertEqual(ack.reason, 0)
        self.assertEqual(ack.session_present, 0)
        # Absent means "no limit" (65535) for Receive Maximum; when present it must be > 0.
        self.assertGreater(ack.props.get("ReceiveMaximum", 65535), 0)


class StreamFramingTest(IBTestCase):
    """TCP delivers bytes, not packets: a packet may end anywhere in a read."""

    def setUp(self):
        self.b = self.start_broker()

    def test_a_packet_cut_anywhere_is_handled_once_with_the_packets_after_it(self):
        topic = h.unique("cut")
        sub = h.raw_connected(self, self.b, h.unique("cut-sub"))
        sub.subscribe(1, [(topic, 1)])
        pub = h.raw_connected(self, self.b, h.unique("cut-pub"))
        big = bytes(range(256)) * 2  # 512 bytes: a two-byte remaining length
        first = h.packet(h.PUBLISH, 2, enc_str(topic) + struct.pack("!H", 7) + big)
        stream = (first + h.packet(h.PUBLISH, 0, enc_str(topic) + b"small-1") +
                  h.packet(h.PUBLISH, 0, enc_str(topic) + b"small-2") + b"\xc0\x00")
        n = len(first)
        # Inside the fixed header and its length, inside the body, on and
        # around the boundary with the next packet, and three pieces at once.
        cuts = [[1], [2], [3], [20], [n - 1], [n], [n + 1], [2, 3], [1, n - 5, n + 3], [3, n + 2]]
        for cut in cuts:
            with self.subTest(cut=cut):
                bounds = [0] + cut + [len(stream)]
                for i in range(len(bounds) - 1):
                    if i:
                        time.sleep(0.005)  # most likely a read of its own
                    pub.send(stream[bounds[i]:bounds[i + 1]])
                self.assertEqual(pub.expect(h.PUBACK).pid, 7)
                pub.expect(h.PINGRESP)
                got = [sub.expect(h.PUBLISH) for _ in range(3)]
                sub.puback(got[0].pid)
                self.assertEqual([p.payload for p in got], [big, b"small-1", b"small-2"])
        # Nothing was handled twice.
        sub.expect_nothing(0.3)
        pub.expect_nothing(0.1)


if __name__ == "__main__":
    unittest.main()
