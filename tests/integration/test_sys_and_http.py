"""Ironbridge-only: the HTTP API's health endpoint, Prometheus /metrics and
the log line for a malformed packet."""

import json
import re
import unittest

import ibharness as h
from ibharness import IBTestCase, V311

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)(\s+\d+)?$")


def parse_metrics(text):
    """Returns ({name: type}, {name: summed value over all label sets})."""
    types, values = {}, {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split()
            if len(parts) >= 4 and parts[1] == "TYPE":
                types[parts[2]] = parts[3]
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise AssertionError("not a Prometheus sample line: %r" % line)
        values[m.group(1)] = values.get(m.group(1), 0.0) + float(m.group(3))
    return types, values


@h.ironbridge_only("HTTP API and metrics are Ironbridge-only")
class HttpApiTest(IBTestCase):
    def setUp(self):
        self.b = self.start_broker()

    def wait_api(self):
        # The MQTT port is up; give the API listener a bounded moment too.
        def ok():
            try:
                return self.b.http_get("/api/v1/health", timeout=1)[0] == 200
            except OSError:
                return False
        self.assertTrue(h.wait_until(ok, 5), "API did not answer on port %d" % self.b.api_port)

    def metrics(self):
        status, headers, body = self.b.http_get("/metrics")
        self.assertEqual(status, 200)
        ctype = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
        self.assertTrue(ctype.startswith("text/plain"), ctype)
        return parse_metrics(body.decode("utf-8"))

    def test_health(self):
        self.wait_api()
        status, headers, body = self.b.http_get("/api/v1/health")
        self.assertEqual(status, 200)
        ctype = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
        self.assertIn("application/json", ctype)
        self.assertEqual(json.loads(body).get("status"), "ok")

    def test_unknown_path_is_404(self):
        self.wait_api()
        self.assertEqual(self.b.http_get("/api/v1/no-such-thing")[0], 404)

    def test_metrics_names(self):
        self.wait_api()
        types, values = self.metrics()
        names = list(values)
        self.assertTrue(all(n.startswith("ib_") for n in types), [n for n in types if not n.startswith("ib_")])
        self.assertTrue(any(n.startswith("ib_") and "connection" in n for n in names), names)
        self.assertTrue(any(n.startswith("ib_") and "message" in n for n in names), names)

    def _connection_gauge(self, types):
        # The MQTT connection gauge (per listener; values() sums the labels).
        self.assertEqual(types.get("ib_mqtt_connections"), "gauge", types)
        return "ib_mqtt_connections"

    def test_connection_gauge_follows_clients(self):
        self.wait_api()
        types, before = self.metrics()
        name = self._connection_gauge(types)
        clients = [h.raw_connected(self, self.b, h.unique("g%d" % i)) for i in range(3)]
        self.assertTrue(h.wait_until(lambda: self.metrics()[1].get(name, 0) >= before.get(name, 0) + 3, 5),
                        "%s did not rise by 3: %r -> %r" % (name, before.get(name), self.metrics()[1].get(name)))
        for c in clients:
            c.disconnect()
            c.close()
        self.assertTrue(h.wait_until(lambda: self.metrics()[1].get(name, 0) <= before.get(name, 0), 5),
                        "%s did not fall back" % name)

    def test_message_counter_increases(self):
        self.wait_api()
        types, before = self.metrics()
        counters = [n for n, t in types.items() if t == "counter" and n.startswith("ib_")
                    and "message" in n and "received" in n]
        self.assertTrue(counters, "no ib_*message*received* counter in %r" % types)
        c = self.paho(self.b, h.unique("m"), protocol=V311)
        for i in range(10):
            c.publish("m/x", b"x", qos=1)
        self.assertTrue(h.wait_until(
            lambda: any(self.metrics()[1].get(n, 0) >= before.get(n, 0) + 10 for n in counters), 5),
            "none of %r rose by 10" % counters)


@h.ironbridge_only("checks Ironbridge's own log lines")
class LogTest(IBTestCase):
    def test_malformed_packet_logged_with_peer(self):
        b = self.start_broker()
        r = h.raw_connected(self, b, h.unique("bad"))
        peer = "127.0.0.1:%d" % r.sock.getsockname()[1]
        r.send(b"\x36\x05\x00\x01a\x00\x01")  # PUBLISH with QoS 3
        r.packets_until_closed(3)
        # STYLE.md: a decode error logs one line naming the peer.
        self.assertTrue(h.wait_until(lambda: peer in b.log_text(), 3),
                        "no log line naming %s" % peer)

    def test_sigterm_exits_cleanly(self):
        b = self.start_broker()
        h.raw_connected(self, b, h.unique("c"))
        self.assertEqual(b.stop(), 0)


if __name__ == "__main__":
    unittest.main()
