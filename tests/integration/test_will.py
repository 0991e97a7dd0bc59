"""Will messages: abnormal disconnect, normal DISCONNECT, v5 will delay,
retained wills and will properties."""

import unittest

import ibharness as h
from ibharness import IBTestCase, V311


class WillTest(IBTestCase):
    def setUp(self):
        self.b = self.start_broker()
        self.topic = h.unique("will")
        self.watch = self.paho(self.b, h.unique("watch"))
        self.watch.subscribe(self.topic, 2)

    def _client(self, version=4, cid=None, will=None, **kw):
        w = {"topic": self.topic, "payload": b"offline", "qos": 1}
        w.update(will or {})
        return h.raw_connected(self, self.b, cid or h.unique("c"), version=version, will=w, **kw)

    def test_will_on_socket_close(self):
        r = self._client()
        r.close()  # FIN without DISCONNECT
        m = self.watch.expect_message()
        self.assertEqual((m.topic, m.payload, m.qos, m.retain), (self.topic, b"offline", 1, False))

    def test_will_on_connection_reset(self):
        r = self._client(version=5)
        r.abort()  # RST
        self.assertEqual(self.watch.expect_message().payload, b"offline")

    def test_no_will_on_normal_disconnect(self):
        for version in (4, 5):
            with self.subTest(version=version):
                r = self._client(version=version)
                r.disconnect()
                r.packets_until_closed(3)
                self.watch.expect_no_message(0.7)

    def test_v5_disconnect_with_will_message(self):
        # v5 §3.14.2.1: reason 0x04 "Disconnect with Will Message".
        r = self._client(version=5)
        r.disconnect(0x04)
        self.assertEqual(self.watch.expect_message().payload, b"offline")

    def test_will_on_protocol_violation(self):
        # [MQTT-3.1.2-8]: the will is published when the server closes the connection
        # because of a protocol error.
        r = self._client()
        r.send(b"\x36\x05\x00\x01a\x00\x01")  # PUBLISH with QoS 3
        r.packets_until_closed(3)
        self.assertEqual(self.watch.expect_message().payload, b"offline")

    def test_will_qos_and_payload_binary(self):
        r = self._client(will={"payload": b"\x00\xffbin", "qos": 2})
        r.close()
        m = self.watch.expect_message()
        self.assertEqual((m.payload, m.qos), (b"\x00\xffbin", 2))

    def test_will_retained(self):
        r = self._client(will={"retain": True, "payload": b"dead"})
        r.close()
        self.assertEqual(self.watch.expect_message().payload, b"dead")
        late = self.paho(self.b, h.unique("late"), protocol=V311)
        late.subscribe(self.topic, 1)
        m = late.expect_message()
        self.assertEqual((m.payload, m.retain), (b"dead", True))

    def test_will_properties_passed_through(self):
        props = [("ContentType", "text/plain"), ("ResponseTopic", "r/t"),
                 ("CorrelationData", b"\x01\x02"), ("UserProperty", [("k", "v"), ("k", "w")])]
        r = self._client(version=5, will={"props": props})
        r.close()
        p = self.watch.expect_message().properties
        self.assertEqual(p.ContentType, "text/plain")
        self.assertEqual(p.ResponseTopic, "r/t")
        self.assertEqual(p.CorrelationData, b"\x01\x02")
        self.assertEqual(p.UserProperty, [("k", "v"), ("k", "w")])

    def test_will_delay(self):
        r = self._client(version=5, will={"props": {"WillDelayInterval": 2}},
                         props={"SessionExpiryInterval": 30})
        r.close()
        self.watch.expect_no_message(1.0)  # delayed ...
        self.assertEqual(self.watch.expect_message(4.0).payload, b"offline")  # ... then sent

    def test_will_delay_cancelled_by_reconnect(self):
        cid = h.unique("wd")
        r = self._client(version=5, cid=cid, will={"props": {"WillDelayInterval": 2}},
                         props={"SessionExpiryInterval": 30})
        r.close()
        r2 = h.raw_connected(self, self.b, cid, version=5, clean=False,
                             props={"SessionExpiryInterval": 30})
        self.assertEqual(r2.connack.session_present, 1)
        # [MQTT-3.1.3-9]: a reconnect within the delay means no will.
        self.watch.expect_no_message(3.0)

    def test_will_delay_capped_by_session_expiry(self):
        # v5 §3.1.3.2.2: the will is sent when the session ends, if that comes first.
        r = self._client(version=5, will={"props": {"WillDelayInterval": 60}},
                         props={"SessionExpiryInterval": 1})
        r.close()
        self.assertEqual(self.watch.expect_message(4.0).payload, b"offline")

    def test_will_sent_on_takeover_v311(self):
        cid = h.unique("tw")
        first = self._client(cid=cid)
        h.raw_connected(self, self.b, cid)
        first.packets_until_closed(3)
        # The first connection ended without DISCONNECT, so its will is published.
        self.assertEqual(self.watch.expect_message().payload, b"offline")


if __name__ == "__main__":
    unittest.main()
