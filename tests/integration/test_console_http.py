"""The web console's HTTP side against the real binary: the embedded files
(gzip, ETag, caching), the server-sent event stream (a device's readings and
the stats event, a malformed filter refused) and the test publish."""

import gzip
import json
import socket
import time
import unittest
import urllib.request

from ibharness import HOST, IBTestCase, ironbridge_only, wait_until

SIM_DEVICE = """
[[devices]]
name = "demo"
driver = "sim"
[[devices.groups]]
name = "fast"
interval_ms = 200
tags = [ { name = "count", address = "counter", type = "uint32" } ]
"""


def read_events(port, path, want, timeout=5.0):
    """Reads a server-sent event stream until `want` events arrived or `timeout`;
    returns them as (event, data) pairs."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n" % path).encode())
    buf, events, deadline = b"", [], time.monotonic() + timeout
    try:
        while len(events) < want and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            while b"\n\n" in buf:
                block, buf = buf.split(b"\n\n", 1)
                lines = block.decode().split("\n")
                name = [l[7:] for l in lines if l.startswith("event: ")]
                data = [l[6:] for l in lines if l.startswith("data: ")]
                if name and data:
                    events.append((name[0], json.loads(data[0])))
    finally:
        s.close()
    return events


@ironbridge_only()
class ConsoleHttpTest(IBTestCase):
    def test_index_is_served_gzip_or_plain_and_revalidated(self):
        b = self.start_broker(extra_toml=SIM_DEVICE)
        url = "http://%s:%d/" % (HOST, b.api_port)
        req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req, timeout=5) as r:
            self.assertEqual(r.headers["Content-Encoding"], "gzip")
            self.assertEqual(r.headers["Cache-Control"], "no-cache")
            etag = r.headers["ETag"]
            html = gzip.decompress(r.read()).decode()
        self.assertIn("Ironbridge", html)
        status, headers, body = b.http_get("/")
        self.assertEqual(status, 200)
        self.assertNotIn("Content-Encoding", headers)
        self.assertEqual(body.decode(), html)
        req = urllib.request.Request(url, headers={"If-None-Match": etag})
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req, timeout=5)
        self.assertEqual(cm.exception.code, 304)

    def test_events_carry_readings_and_stats(self):
        b = self.start_broker(extra_toml=SIM_DEVICE)
        events = read_events(b.api_port, "/api/v1/events?filter=ib%2Fdata%2F%23", want=6)
        messages = [d for e, d in events if e == "message"]
        stats = [d for e, d in events if e == "stats"]
        self.assertTrue(messages, events)
        self.assertEqual(messages[0]["topic"], "ib/data/demo/fast")
        self.assertIn("count", json.loads(messages[0]["payload"])["values"])
        self.assertTrue(stats, events)
        names = {m[0] for m in stats[0]["metrics"]}
        self.assertIn("ib_device_connected", names)
        self.assertEqual(stats[0]["dropped"], 0)

    def test_malformed_filter_is_refused(self):
        b = self.start_broker()
        status, _, body = b.http_get("/api/v1/events?filter=a%2F%2B%2Bb")
        self.assertEqual(status, 400)
        self.assertIn("malformed", json.loads(body)["error"])

    def test_test_publish_reaches_a_stream(self):
        b = self.start_broker()
        url = "http://%s:%d/api/v1/mqtt/publish" % (HOST, b.api_port)
        body = json.dumps({"topic": "console/t", "payload": "hi", "retain": True}).encode()
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"), timeout=5) as r:
            self.assertEqual(r.status, 200)
        events = read_events(b.api_port, "/api/v1/events?filter=console%2F%23", want=2)
        messages = [d for e, d in events if e == "message"]
        self.assertTrue(messages, events)
        self.assertEqual(messages[0]["topic"], "console/t")
        self.assertEqual(messages[0]["payload"], "hi")
        self.assertTrue(messages[0]["retain"])
        bad = json.dumps({"topic": "console/#"}).encode()
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(urllib.request.Request(url, data=bad, method="POST"), timeout=5)
        self.assertEqual(cm.exception.code, 400)

    def test_recent_logs_filter_by_level_and_module(self):
        b = self.start_broker(extra_toml=SIM_DEVICE)
        status, _, body = b.http_get("/api/v1/logs?module=device")
        self.assertEqual(status, 200)
        lines = json.loads(body)["lines"]
        self.assertTrue(any(l["text"] == "device demo: connected" for l in lines), lines)
        self.assertTrue(all(l["module"] == "device" for l in lines), lines)
        status, _, body = b.http_get("/api/v1/logs?level=error")
        self.assertEqual(json.loads(body)["lines"], [])
        status, _, body = b.http_get("/api/v1/logs?level=loud")
        self.assertEqual(status, 400)

    def test_config_in_force_masks_tokens(self):
        # The first lines land in the harness's [api] table.
        b = self.start_broker(extra_toml='tokens = ["s3cret-token"]\n')
        status, _, body = b.http_get("/api/v1/config")
        self.assertEqual(status, 200)
        self.assertNotIn(b"s3cret-token", body)
        settings = {s["key"]: s for s in json.loads(body)["settings"]}
        self.assertEqual(settings["bus.prefix"]["value"], "ib")
        self.assertEqual(settings["api.tokens"]["value"], "(1 hidden)")
        self.assertEqual(json.loads(body)["listeners"][0]["port"], b.port)

    def test_closed_node_serves_the_console_and_challenges_scripts_without_basic(self):
        b = self.start_broker(extra_toml='allow_anonymous = false\ntokens = ["t0k"]\n')
        status, _, body = b.http_get("/")
        self.assertEqual(status, 200)
        self.assertEqual(b.http_get("/api/v1/devices")[0], 401)
        req = urllib.request.Request("http://%s:%d/api/v1/auth/me" % (HOST, b.api_port),
                                     headers={"X-Requested-With": "ironbridge-console"})
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req, timeout=5)
        self.assertEqual(cm.exception.code, 401)
        # A Basic challenge would make the browser ask for a password itself.
        self.assertEqual(cm.exception.headers["WWW-Authenticate"], 'Bearer realm="ironbridge"')

    def test_a_stream_that_is_not_read_loses_events_and_holds_nothing_up(self):
        b = self.start_broker()
        s = socket.socket()
        # A small receive window, so the node's queue for this client fills soon.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((HOST, b.api_port))
        self.addCleanup(s.close)
        s.sendall(b"GET /api/v1/events?filter=big%2F%23 HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(wait_until(lambda: b.metric("ib_api_event_streams") == 1))
        c = self.paho(b)
        c.connect()
        payload = b"x" * 65536
        for _ in range(200):  # 12.5 MiB: more than the socket buffers and the 512 KiB queue
            c.publish("big/t", payload, qos=1)
        self.assertTrue(wait_until(lambda: b.metric("ib_api_events_dropped_total") > 0, timeout=10))
        # The API's loop still answers at once.
        self.assertEqual(b.http_get("/api/v1/health", timeout=2)[0], 200)

    def test_clients_list_shows_a_session_and_its_subscriptions(self):
        b = self.start_broker()
        c = self.paho(b, client_id="console-watcher")
        c.connect()
        c.subscribe("plant/#", qos=1)
        status, _, body = b.http_get("/api/v1/mqtt/clients")
        self.assertEqual(status, 200)
        listed = json.loads(body)
        self.assertEqual(listed["total"], 1)
        client = listed["clients"][0]
        self.assertEqual(client["client_id"], "console-watcher")
        self.assertTrue(client["connected"])
        self.assertEqual(client["protocol"], "5.0")
        self.assertEqual(client["subscriptions"], [{"filter": "plant/#", "qos": 1}])


if __name__ == "__main__":
    unittest.main()
