"""Retained messages: set, replace, clear, wildcards, retain handling and
retain-as-published (MQTT 5)."""

import unittest

import ibharness as h
from ibharness import IBTestCase, V5, V311
from paho.mqtt.subscribeoptions import SubscribeOptions


class RetainedTest(IBTestCase):
    def setUp(self):
        self.b = self.start_broker()
        self.pub = self.paho(self.b, h.unique("p"), protocol=V311)

    def test_retained_delivered_to_new_subscriber(self):
        topic = h.unique("r/set")
        self.pub.publish(topic, b"21.5", qos=1, retain=True)
        sub = self.paho(self.b, h.unique("s"), protocol=V311)
        sub.subscribe(topic, 1)
        m = sub.expect_message()
        self.assertEqual((m.topic, m.payload, m.retain, m.qos), (topic, b"21.5", True, 1))
        sub.expect_no_message(0.3)

    def test_live_delivery_clears_retain_flag_v311(self):
        # [MQTT-3.3.1-9]: RETAIN is 0 on messages sent because of an established subscription.
        topic = h.unique("r/live")
        sub = self.paho(self.b, h.unique("s"), protocol=V311)
        sub.subscribe(topic, 1)
        self.pub.publish(topic, b"x", qos=1, retain=True)
        self.assertFalse(sub.expect_message().retain)

    def test_replace(self):
        topic = h.unique("r/replace")
        for v in (b"1", b"2", b"3"):
            self.pub.publish(topic, v, qos=1, retain=True)
        sub = self.paho(self.b, h.unique("s"), protocol=V311)
        sub.subscribe(topic, 1)
        self.assertEqual(sub.expect_message().payload, b"3")
        sub.expect_no_message(0.3)

    def test_clear_with_empty_payload(self):
        topic = h.unique("r/clear")
        self.pub.publish(topic, b"v", qos=1, retain=True)
        self.pub.publish(topic, b"", qos=1, retain=True)
        sub = self.paho(self.b, h.unique("s"), protocol=V311)
        sub.subscribe(topic, 1)
        sub.expect_no_message(0.5)

    def test_qos0_retained_replaces_too(self):
        # [MQTT-3.3.1-7]: a QoS 0 retained message replaces any existing one.
        topic = h.unique("r/q0")
        self.pub.publish(topic, b"old", qos=1, retain=True)
        self.pub.publish(topic, b"new", qos=0, retain=True)
        self.pub.publish(h.unique("r/sync"), b"", qos=1)  # orders the QoS 0 publish before the check
        sub = self.paho(self.b, h.unique("s"), protocol=V311)
        sub.subscribe(topic, 1)
        m = sub.expect_message()
        self.assertEqual((m.payload, m.qos), (b"new", 0))

    def test_retained_with_wildcards(self):
        base = h.unique("r/wc")
        topics = [base + "/a", base + "/b/c", base + "/b/d"]
        for t in topics:
            self.pub.publish(t, t.encode(), qos=1, retain=True)
        self.pub.publish(h.unique("r/other"), b"no", qos=1, retain=True)
        sub = self.paho(self.b, h.unique("s"), protocol=V311)
        sub.subscribe(base + "/#", 1)
        got = sorted((m.topic, m.payload, m.retain) for m in sub.expect_messages(3))
        self.assertEqual(got, sorted((t, t.encode(), True) for t in topics))
        sub.expect_no_message(0.3)
        sub2 = self.paho(self.b, h.unique("s2"), protocol=V311)
        sub2.subscribe(base + "/+/c", 1)
        self.assertEqual(sub2.expect_message().topic, base + "/b/c")
        sub2.expect_no_message(0.3)

    def test_retained_qos_downgraded_to_subscription(self):
        topic = h.unique("r/q")
        self.pub.publish(topic, b"q2", qos=2, retain=True)
        sub = self.paho(self.b, h.unique("s"), protocol=V311)
        sub.subscribe(topic, 0)
        self.assertEqual(sub.expect_message().qos, 0)

    def test_resubscribe_resends_retained_v311(self):
        # [MQTT-3.8.4-3]: a repeated SUBSCRIBE replaces the subscription and resends retained.
        topic = h.unique("r/resub")
        self.pub.publish(topic, b"v", qos=1, retain=True)
        sub = self.paho(self.b, h.unique("s"), protocol=V311)
        sub.subscribe(topic, 1)
        sub.expect_message()
        sub.subscribe(topic, 1)
        self.assertTrue(sub.expect_message().retain)


class RetainV5Test(IBTestCase):
    def setUp(self):
        self.b = self.start_broker()
        self.pub = self.paho(self.b, h.unique("p"), protocol=V5)

    def _sub(self, topic, rh, rap=False, client=None):
        c = client or self.paho(self.b, h.unique("s"), protocol=V5)
        c.subscribe(topic, options=SubscribeOptions(qos=1, retainHandling=rh, retainAsPublished=rap))
        return c

    def test_retain_handling_0_sends_on_every_subscribe(self):
        topic = h.unique("rh0")
        self.pub.publish(topic, b"v", qos=1, retain=True)
        c = self._sub(topic, 0)
        self.assertEqual(c.expect_message().payload, b"v")
        self._sub(topic, 0, client=c)
        self.assertEqual(c.expect_message().payload, b"v")

    def test_retain_handling_1_only_for_new_subscription(self):
        topic = h.unique("rh1")
        self.pub.publish(topic, b"v", qos=1, retain=True)
        c = self._sub(topic, 1)
        self.assertEqual(c.expect_message().payload, b"v")
        self._sub(topic, 1, client=c)  # the subscription exists: nothing
        c.expect_no_message(0.5)

    def test_retain_handling_2_never(self):
        topic = h.unique("rh2")
        self.pub.publish(topic, b"v", qos=1, retain=True)
        c = self._sub(topic, 2)
        c.expect_no_message(0.5)
        self.pub.publish(topic, b"live", qos=1)  # live messages still flow
        self.assertEqual(c.expect_message().payload, b"live")

    def test_retain_as_published(self):
        topic = h.unique("rap")
        keep = self._sub(topic, 2, rap=True)
        clear = self._sub(topic, 2, rap=False)
        self.pub.publish(topic, b"r", qos=1, retain=True)
        self.pub.publish(topic, b"n", qos=1, retain=False)
        self.assertEqual([(m.payload, m.retain) for m in keep.expect_messages(2)],
                         [(b"r", True), (b"n", False)])
        self.assertEqual([(m.payload, m.retain) for m in clear.expect_messages(2)],
                         [(b"r", False), (b"n", False)])

    def test_retained_sent_on_subscribe_has_retain_flag_regardless_of_rap(self):
        # [MQTT-3.3.1-13]: retained messages sent on subscribe carry RETAIN=1.
        topic = h.unique("rapr")
        self.pub.publish(topic, b"r", qos=1, retain=True)
        c = self._sub(topic, 0, rap=False)
        self.assertTrue(c.expect_message().retain)

    def test_retain_not_supported_disconnects(self):
        b = self.start_broker(broker={"retain_available": False})
        r = self.raw(b, version=5)
        ack = r.connect(h.unique("nr"))
        self.assertEqual(ack.props.get("RetainAvailable"), 0)
        r.publish("r/x", b"v", qos=0, retain=True)
        # [MQTT-3.3.1-10]: DISCONNECT 0x9A (Retain not supported).
        got = r.packets_until_closed(3)
        self.assertEqual([(p.type, p.reason) for p in got], [(h.DISCONNECT, 0x9A)])


if __name__ == "__main__":
    unittest.main()
