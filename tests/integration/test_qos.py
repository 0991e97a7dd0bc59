"""QoS 1 and 2 flows, ordering, and redelivery of unacknowledged messages."""

import unittest

import ibharness as h
from ibharness import IBTestCase, V5, V311


class QosFlowTest(IBTestCase):
    def setUp(self):
        self.b = self.start_broker()

    def test_qos1_inbound_puback_bytes(self):
        r = h.raw_connected(self, self.b, h.unique("q1"))
        r.publish("q/1", b"x", qos=1, pid=0x1234)
        self.assertEqual(r.expect(h.PUBACK).raw, b"\x40\x02\x12\x34")

    def test_qos2_inbound_flow_bytes(self):
        r = h.raw_connected(self, self.b, h.unique("q2"))
        r.publish("q/2", b"x", qos=2, pid=7)
        self.assertEqual(r.expect(h.PUBREC).raw, b"\x50\x02\x00\x07")
        r.pubrel(7)
        self.assertEqual(r.expect(h.PUBCOMP).raw, b"\x70\x02\x00\x07")

    def test_qos2_duplicate_publish_delivered_once(self):
        topic = h.unique("q2dup")
        sub = self.paho(self.b, h.unique("s"), protocol=V311)
        sub.subscribe(topic, 2)
        r = h.raw_connected(self, self.b, h.unique("p"))
        r.publish(topic, b"once", qos=2, pid=9)
        r.expect(h.PUBREC)
        # A retransmission before PUBREL, with DUP set, must not be delivered again.
        r.publish(topic, b"once", qos=2, pid=9, dup=True)
        r.expect(h.PUBREC)
        r.pubrel(9)
        r.expect(h.PUBCOMP)
        self.assertEqual(sub.expect_message().payload, b"once")
        sub.expect_no_message(0.5)

    def test_qos1_outbound_flow(self):
        topic = h.unique("q1out")
        r = h.raw_connected(self, self.b, h.unique("s"))
        self.assertEqual(r.subscribe(1, [(topic, 1)]).codes, [1])
        pub = self.paho(self.b, h.unique("p"), protocol=V311)
        pub.publish(topic, b"abc", qos=1)
        p = r.expect(h.PUBLISH)
        self.assertEqual((p.topic, p.payload, p.qos, p.dup, p.retain), (topic, b"abc", 1, 0, 0))
        self.assertNotEqual(p.pid, 0)
        r.puback(p.pid)
        r.expect_nothing(0.5)

    def test_qos2_outbound_flow(self):
        topic = h.unique("q2out")
        r = h.raw_connected(self, self.b, h.unique("s"))
        self.assertEqual(r.subscribe(1, [(topic, 2)]).codes, [2])
        pub = self.paho(self.b, h.unique("p"), protocol=V311)
        pub.publish(topic, b"abc", qos=2)
        p = r.expect(h.PUBLISH)
        self.assertEqual((p.payload, p.qos), (b"abc", 2))
        r.pubrec(p.pid)
        rel = r.expect(h.PUBREL)
        self.assertEqual(rel.raw, b"\x62\x02" + p.pid.to_bytes(2, "big"))
        r.pubcomp(p.pid)
        r.expect_nothing(0.5)

    def _ordered(self, qos, n, proto):
        topic = h.unique("order")
        sub = self.paho(self.b, h.unique("s"), protocol=proto)
        sub.subscribe(topic, qos)
        pub = self.paho(self.b, h.unique("p"), protocol=proto)
        infos = [pub.publish(topic, b"%d" % i, qos=qos, wait=False) for i in range(n)]
        for info in infos:
            info.wait_for_publish(10)
            self.assertTrue(info.is_published(), "publish not acknowledged")
        got = [int(m.payload) for m in sub.expect_messages(n, timeout=20)]
        self.assertEqual(got, list(range(n)))
        sub.expect_no_message(0.3)

    def test_qos1_order_500(self):
        self._ordered(1, 500, V311)

    def test_qos2_order_300_v5(self):
        self._ordered(2, 300, V5)

    def test_qos0_order_500(self):
        # QoS 0 on loopback with a live subscriber: no loss expected, order kept.
        self._ordered(0, 500, V311)


class SlowSubscriberFlowControlTest(IBTestCase):
    """A connected subscriber that reads slower than its publisher: the queue
    limit slows the publisher down instead of dropping acknowledged messages."""

    def test_slow_qos1_subscriber_loses_nothing(self):
        if h.TARGET == "mosquitto":
            self.skipTest("Mosquitto drops QoS 1 messages beyond max_queued_messages")
        b = self.start_broker(broker={"max_queued_messages": 5, "max_inflight": 2})
        topic = h.unique("slow")
        sub = h.raw_connected(self, b, h.unique("slowsub"), version=5, props={"ReceiveMaximum": 1})
        sub.subscribe(1, [(topic, 1)])
        pub = h.raw_connected(self, b, h.unique("slowpub"), version=4)
        n = 60
        for i in range(n):
            pub.publish(topic, str(i), qos=1, pid=i + 1)
        # Every message is acknowledged to the publisher although the
        # subscriber has taken none yet: they wait in its queue, past the limit.
        acks = [pub.expect(h.PUBACK, timeout=5).pid for _ in range(n)]
        self.assertEqual(sorted(acks), list(range(1, n + 1)))
        got = []
        for _ in range(n):
            p = sub.expect(h.PUBLISH, timeout=5)
            got.append(int(p.payload))
            sub.puback(p.pid)
        self.assertEqual(got, list(range(n)))
        status, _, body = b.http_get("/metrics")
        self.assertEqual(status, 200)
        line = [l for l in body.decode().splitlines()
                if l.startswith('ib_mqtt_messages_dropped_total{reason="queue_full_qos12"}')]
        self.assertEqual(line, ['ib_mqtt_messages_dropped_total{reason="queue_full_qos12"} 0'])


class RedeliveryTest(IBTestCase):
    def setUp(self):
        self.b = self.start_broker()

    def _persistent(self, cid, version):
        r = self.raw(self.b, version=version)
        if version == 5:
            ack = r.connect(cid, clean=False, props={"SessionExpiryInterval": 60})
        else:
            ack = r.connect(cid, clean=False)
        self.assertEqual(ack.reason, 0)
        return r, ack

    def _redeliver_qos1(self, version):
        cid, topic = h.unique("redeliver"), h.unique("rd")
        r, ack = self._persistent(cid, version)
        self.assertEqual(ack.session_present, 0)
        r.subscribe(1, [(topic, 1)])
        pub = self.paho(self.b, h.unique("p"), protocol=V311)
        pub.publish(topic, b"m1", qos=1)
        pub.publish(topic, b"m2", qos=1)
        first = [r.expect(h.PUBLISH), r.expect(h.PUBLISH)]
        self.assertEqual([p.payload for p in first], [b"m1", b"m2"])
        self.assertEqual([p.dup for p in first], [0, 0])
        r.close()  # no PUBACK, no DISCONNECT

        r2, ack2 = self._persistent(cid, version)
        self.assertEqual(ack2.session_present, 1)
        again = [r2.expect(h.PUBLISH), r2.expect(h.PUBLISH)]
        # [MQTT-4.4.0-1]: resend with DUP=1 and the original packet identifiers, in order.
        self.assertEqual([p.payload for p in again], [b"m1", b"m2"])
        self.assertEqual([p.dup for p in again], [1, 1])
        self.assertEqual([p.pid for p in again], [p.pid for p in first])
        for p in again:
            r2.puback(p.pid)
        r2.expect_nothing(0.5)
        r2.disconnect()
        # Acknowledged: nothing on the next reconnect.
        r2.close()
        r3, ack3 = self._persistent(cid, version)
        self.assertEqual(ack3.session_present, 1)
        r3.expect_nothing(0.5)

    def test_qos1_redelivered_with_dup_v311(self):
        self._redeliver_qos1(4)

    def test_qos1_redelivered_with_dup_v5(self):
        self._redeliver_qos1(5)

    def test_qos2_pubrel_resent_after_pubrec(self):
        cid, topic = h.unique("rd2"), h.unique("rd2")
        r, _ = self._persistent(cid, 4)
        r.subscribe(1, [(topic, 2)])
        pub = self.paho(self.b, h.unique("p"), protocol=V311)
        pub.publish(topic, b"q2", qos=2)
        p = r.expect(h.PUBLISH)
        r.pubrec(p.pid)
        r.expect(h.PUBREL)
        r.close()  # no PUBCOMP
        r2, ack = self._persistent(cid, 4)
        self.assertEqual(ack.session_present, 1)
        # [MQTT-4.4.0-1]: after PUBREC the server resends PUBREL, not the PUBLISH.
        rel = r2.expect(h.PUBREL)
        self.assertEqual(rel.pid, p.pid)
        r2.pubcomp(p.pid)
        r2.expect_nothing(0.5)

    def test_qos2_publish_resent_before_pubrec(self):
        cid, topic = h.unique("rd3"), h.unique("rd3")
        r, _ = self._persistent(cid, 4)
        r.subscribe(1, [(topic, 2)])
        pub = self.paho(self.b, h.unique("p"), protocol=V311)
        pub.publish(topic, b"q2", qos=2)
        p = r.expect(h.PUBLISH)
        r.close()
        r2, _ = self._persistent(cid, 4)
        p2 = r2.expect(h.PUBLISH)
        self.assertEqual((p2.payload, p2.qos, p2.dup, p2.pid), (b"q2", 2, 1, p.pid))

    def test_inbound_qos2_state_survives_reconnect(self):
        # The server keeps the packet id of an unreleased QoS 2 PUBLISH in the session:
        # a PUBREL after reconnecting completes it, and the message is delivered once.
        cid, topic = h.unique("in2"), h.unique("in2")
        sub = self.paho(self.b, h.unique("s"), protocol=V311)
        sub.subscribe(topic, 2)
        r, _ = self._persistent(cid, 4)
        r.publish(topic, b"in", qos=2, pid=42)
        r.expect(h.PUBREC)
        r.close()
        r2, _ = self._persistent(cid, 4)
        r2.publish(topic, b"in", qos=2, pid=42, dup=True)
        r2.expect(h.PUBREC)
        r2.pubrel(42)
        self.assertEqual(r2.expect(h.PUBCOMP).pid, 42)
        self.assertEqual(sub.expect_message().payload, b"in")
        sub.expect_no_message(0.5)


if __name__ == "__main__":
    unittest.main()
