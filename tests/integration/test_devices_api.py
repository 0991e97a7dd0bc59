"""The device REST API and the sim driver, seen as a user sees them: devices,
groups and tags created, changed and deleted through /api/v1/devices, kept across
a restart, their readings on ib/data/..., writes, and the errors that explain a
refused request."""

import unittest

import ibharness as h
from modbus_peers import ModbusCase, Readings, http_json, device, group, tag

SIM = {
    "name": "oven",
    "driver": "sim",
    "groups": [{
        "name": "fast",
        "interval_ms": 100,
        "tags": [
            {"name": "temp", "address": "sine:period=10,amplitude=5,offset=200", "type": "float32"},
            {"name": "sp", "address": "memory:initial=180", "type": "int16", "access": "rw"},
        ],
    }],
}


@h.ironbridge_only("the device REST API")
class DevicesApiTest(ModbusCase):

    def node(self, **kw):
        return self.start_broker(**kw)

    def test_created_device_publishes_and_survives_a_restart(self):
        b = self.node()
        status, body = http_json(b, "POST", "/api/v1/devices", SIM)
        self.assertEqual(status, 201, body)
        r = Readings(self, b, "oven")
        d = r.next(lambda d: "temp" in d.get("values", {}) and d["values"].get("sp") == 180)
        self.assertTrue(195 <= d["values"]["temp"] <= 205, d)

        status, listing = http_json(b, "GET", "/api/v1/devices")
        self.assertEqual(status, 200)
        self.assertEqual([(x["name"], x["source"], x["tags"]) for x in listing], [("oven", "api", 2)])

        b.restart()
        status, listing = http_json(b, "GET", "/api/v1/devices")
        self.assertEqual([x["name"] for x in listing], ["oven"], listing)
        r2 = Readings(self, b, "oven")
        r2.next(lambda d: d.get("values", {}).get("sp") == 180)

    def test_groups_and_tags_are_added_and_removed(self):
        b = self.node()
        self.assertEqual(http_json(b, "POST", "/api/v1/devices", SIM)[0], 201)
        status, body = http_json(b, "POST", "/api/v1/devices/oven/groups",
                                 {"name": "slow", "interval_ms": 200, "tags": []})
        self.assertEqual(status, 200, body)
        status, body = http_json(b, "POST", "/api/v1/devices/oven/groups/slow/tags", [
            {"name": "door", "address": "square:period=2", "type": "bool"},
            {"name": "bad", "address": "nonsense", "type": "float32"},
            {"name": "count", "address": "counter", "type": "uint32"},
        ])
        self.assertEqual(status, 207, body)
        self.assertEqual((body["added"], body["refused"]), (2, 1), body)
        self.assertIn("unknown signal 'nonsense'", body["results"][1]["error"])
        Readings(self, b, "oven", "slow").next(lambda d: set(d.get("values", {})) == {"door", "count"})

        status, body = http_json(b, "DELETE", "/api/v1/devices/oven/groups/slow/tags/door")
        self.assertEqual(status, 200, body)
        Readings(self, b, "oven", "slow").next(lambda d: set(d.get("values", {})) == {"count"})

        # A tag name is unique in its device, across groups: a name taken by the
        # device or earlier in the same request refuses that tag alone.
        status, body = http_json(b, "POST", "/api/v1/devices/oven/groups/slow/tags",
                                 {"name": "temp", "address": "counter"})
        self.assertEqual(status, 400, body)
        self.assertIn("already the name of another tag", body["results"][0]["error"])
        status, body = http_json(b, "POST", "/api/v1/devices/oven/groups/slow/tags", [
            {"name": "temp", "address": "counter"},
            {"name": "level", "address": "counter", "type": "uint32"},
            {"name": "level", "address": "ramp:period=5", "type": "float32"},
        ])
        self.assertEqual(status, 207, body)
        self.assertEqual([r["ok"] for r in body["results"]], [False, True, False], body)
        self.assertEqual(body["results"][1], {"name": "level", "ok": True})
        self.assertIn('"level" is already the name of another tag', body["results"][2]["error"])
        Readings(self, b, "oven", "slow").next(lambda d: set(d.get("values", {})) == {"count", "level"})

    def test_write_through_mqtt_and_rest(self):
        b = self.node()
        self.assertEqual(http_json(b, "POST", "/api/v1/devices", SIM)[0], 201)
        status, body = http_json(b, "POST", "/api/v1/devices/oven/write", {"id": "r-1", "tag": "sp", "value": 210})
        self.assertEqual((status, body), (200, {"id": "r-1", "ok": True, "results": {"sp": {"ok": True}}}))
        Readings(self, b, "oven").next(lambda d: d.get("values", {}).get("sp") == 210)
        w = self.writer(b, "oven")
        res = w.send({"values": {"sp": 99999, "temp": 1}})
        self.assertFalse(res["ok"])
        self.assertEqual(res["results"]["sp"]["code"], 1005, res)
        self.assertEqual(res["results"]["temp"]["code"], 1004, res)
        status, body = http_json(b, "GET", "/api/v1/devices/oven/values")
        self.assertEqual(body["groups"]["fast"]["values"]["sp"], 210, body)

    def test_refusals_explain_themselves(self):
        b = self.start_node(device("line", [group("g", [tag("a", "counter")])], driver="sim"))
        status, body = http_json(b, "DELETE", "/api/v1/devices/line")
        self.assertEqual(status, 409, body)
        self.assertIn("defined in the config file", body["error"])
        status, body = http_json(b, "POST", "/api/v1/devices", {"name": "line", "driver": "sim"})
        self.assertEqual(status, 409, body)
        status, body = http_json(b, "POST", "/api/v1/devices", {"name": "x", "driver": "modbus-tcp", "groups": [
            {"name": "g", "tags": [{"name": "t", "address": "1!4x0001"}]}]})
        self.assertEqual(status, 400, body)
        self.assertIn("groups[0].tags[0].address", body["error"])
        self.assertIn("expected UNIT!AREA ADDRESS", body["error"])
        status, body = http_json(b, "GET", "/api/v1/devices/nope")
        self.assertEqual(status, 404, body)
        status, _, raw = b.http_get("/metrics")
        self.assertIn(b'ib_device_polls_total{device="line"}', raw)

    def test_deleted_device_stops_and_its_status_is_cleared(self):
        b = self.node()
        self.assertEqual(http_json(b, "POST", "/api/v1/devices", SIM)[0], 201)
        st = self.status(b, "oven")
        st.wait_state("connected")
        status, body = http_json(b, "DELETE", "/api/v1/devices/oven")
        self.assertEqual(status, 200, body)
        self.assertEqual(http_json(b, "GET", "/api/v1/devices")[1], [])
        b.restart()
        self.assertEqual(http_json(b, "GET", "/api/v1/devices")[1], [])

    def test_unreadable_store_is_moved_aside_and_the_node_starts_empty(self):
        b = h.Broker()
        self.addCleanup(b.close)
        import os
        db = os.path.join(b.data_dir, "ironbridge.db")
        with open(db, "wb") as f:
            f.write(b"this is not a database" * 100)
        b.start()
        self.assertEqual(http_json(b, "GET", "/api/v1/devices")[1], [])
        self.assertEqual(http_json(b, "POST", "/api/v1/devices", SIM)[0], 201)
        aside = [n for n in os.listdir(b.data_dir) if n.startswith("ironbridge.db.corrupt-")]
        self.assertEqual(len(aside), 1, os.listdir(b.data_dir))
        self.assertIn("moved aside to " + os.path.join(b.data_dir, aside[0]), b.log_text())


if __name__ == "__main__":
    unittest.main()
