"""bus.prefix moves every bus topic: with prefix "plant7" a sim device's readings
arrive on plant7/data/..., its status on plant7/status/..., writes are taken on
plant7/write/<device> with results on plant7/write/<device>/result, a rule's write
action and the history follow, and nothing appears under ib/."""

import json
import unittest
import time
import urllib.parse

import ibharness as h
from modbus_peers import Watch, http_json

NODE = """
[bus]
prefix = "plant7"

[[devices]]
name = "oven"
driver = "sim"

[[devices.groups]]
name = "fast"
interval_ms = 100

[[devices.groups.tags]]
name = "temp"
address = "sine:period=10,amplitude=5,offset=200"
type = "float32"

[[devices.groups.tags]]
name = "sp"
address = "memory:initial=180"
type = "int16"
access = "rw"

[[rules]]
id = "setpoint"
sql = "SELECT cast(value, 'bigint') AS value FROM \\"cmd/oven\\""
[[rules.actions]]
write = { device = "oven", tag = "sp" }
"""


@h.ironbridge_only("the bus prefix")
class BusPrefixTest(h.IBTestCase):

    def test_every_bus_topic_follows_the_prefix(self):
        b = self.start_broker(extra_toml=NODE)
        default = self.paho(b, h.unique("ib"), protocol=h.V311)
        default.subscribe("ib/#", 1)

        status = Watch(self, b, "plant7/status/oven")
        d = status.next(lambda d: d.get("state") == "connected")
        self.assertEqual(d["device"], "oven")

        readings = Watch(self, b, "plant7/data/oven/fast")
        d = readings.next(lambda d: d.get("values", {}).get("sp") == 180)
        self.assertEqual((d["device"], d["group"]), ("oven", "fast"))

        results = Watch(self, b, "plant7/write/oven/result")
        writer = self.paho(b, h.unique("writer"), protocol=h.V311)
        writer.publish("plant7/write/oven", json.dumps({"id": "r-1", "tag": "sp", "value": 181}), qos=1)
        self.assertEqual(results.next(lambda d: d.get("id") == "r-1"),
                         {"id": "r-1", "ok": True, "results": {"sp": {"ok": True}}})
        readings.next(lambda d: d.get("values", {}).get("sp") == 181)

        # A rule's write action goes through plant7/write/oven too.
        writer.publish("cmd/oven", json.dumps({"value": "42"}), qos=1)
        d = results.next(lambda d: str(d.get("id", "")).startswith("rule-setpoint-"))
        self.assertTrue(d["ok"], d)
        readings.next(lambda d: d.get("values", {}).get("sp") == 42)

        # A malformed request is answered on the same result topic.
        writer.publish("plant7/write/oven", "not json", qos=1)
        d = results.next(lambda d: d.get("id") is None)
        self.assertFalse(d["ok"])
        self.assertIn("not valid JSON", d["error"])

        # The history's default filter is <prefix>/data/#.
        def points():
            q = urllib.parse.urlencode({"device": "oven", "tag": "temp"})
            status, body = http_json(b, "GET", "/api/v1/history?" + q)
            return body.get("points") if status == 200 else None
        self.assertTrue(h.wait_until(lambda: points(), timeout=10), points())

        time.sleep(0.3)
        self.assertEqual([m.topic for m in list(default.messages.queue)], [])


if __name__ == "__main__":
    unittest.main()
