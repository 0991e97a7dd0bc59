"""The SQL rule engine, seen as a user sees it: readings published by a real MQTT
client go through rules from the config file and from the REST API, and what the
rules emit is seen by mosquitto_sub; rules are created, changed, stopped and
deleted through /api/v1/rules and survive a restart; a bad rule is refused with
its line and column; /api/v1/rules/test tries a rule on samples; a rule writes to
a simulated device."""

import http.server
import json
import os
import sqlite3
import subprocess
import threading
import time
import unittest

import ibharness as h
from ibharness import LineReader
from modbus_peers import RuleApi, http_json

HOT = """
[[rules]]
id = "hot"
sql = "SELECT values.temp AS temp, topic(3) AS device FROM \\"ib/data/+/fast\\" WHERE values.temp > 50"
[[rules.actions]]
publish = { topic = "alarms/${device}", qos = 1 }
"""


def reading(temp):
    return json.dumps({"ts": 1, "values": {"temp": temp}})


def wait_for_settled_checkpoint(broker, rule_ids, quiet_s=2.5, timeout=30.0):
    """Waits until rules-state.db has a row for each of `rule_ids` and the rows
    did not change for `quiet_s`; False if that did not happen within `timeout`."""
    path = os.path.join(broker.data_dir, "rules-state.db")

    def rows():
        if not os.path.exists(path):
            return None
        db = sqlite3.connect(path, timeout=5)
        try:
            return {r[0]: (r[1], r[2]) for r in db.execute("SELECT id, saved_ms, state FROM rule_state")}
        except sqlite3.OperationalError:  # not created yet
            return None
        finally:
            db.close()
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = rows()
        if now != last:
            last, since = now, time.monotonic()
        elif now is not None and rule_ids <= set(now) and time.monotonic() - since >= quiet_s:
            return True
        time.sleep(0.1)
    return False


@h.ironbridge_only("the rule engine")
class RulesTest(RuleApi, h.IBTestCase):

    def sub(self, b, topic, count):
        cmd = ["stdbuf", "-oL", "mosquitto_sub", "-h", h.HOST, "-p", str(b.port), "-V", "5", "-t", topic,
               "-q", "1", "-C", str(count), "-W", "20", "-d", "-F", "MSG|%t|%p"]
        p = self.spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = LineReader(p.stdout)
        out.wait_for(lambda s: "received SUBACK" in s)
        return out

    def messages(self, out, count, timeout=15.0):
        got = []
        for _ in range(count):
            line = out.wait_for(lambda s: s.startswith("MSG|"), timeout=timeout)
            _, topic, payload = line.split("|", 2)
            got.append((topic, json.loads(payload)))
        return got

    def test_a_rule_from_the_file_filters_readings_and_mosquitto_sub_sees_its_alarms(self):
        b = self.start_broker(extra_toml=HOT)
        out = self.sub(b, "alarms/#", 2)
        pub = self.paho(b, "sensor")
        for device, temp in (("plc1", 20), ("plc2", 61.5), ("plc1", 49.9), ("plc1", 75)):
            pub.publish("ib/data/%s/fast" % device, reading(temp), qos=1)
        self.assertEqual(self.messages(out, 2), [("alarms/plc2", {"temp": 61.5, "device": "plc2"}),
                                                 ("alarms/plc1", {"temp": 75, "device": "plc1"})])
        r = self.wait_rule(b, "hot", lambda r: r["messages"]["in"] == 4, "4 messages in")
        self.assertEqual(r["messages"], {"in": 4, "filtered": 2, "out": 2, "late": 0})
        self.assertEqual((r["source"], r["status"]), ("file", "running"))
        self.assertEqual(r["actions"], [{"kind": "publish", "done": 2, "errors": 0, "last_error": None}])
        # A message the rule cannot evaluate is counted by kind, and the rule goes on.
        pub.publish("ib/data/plc3/fast", "not json", qos=1)
        pub.publish("ib/data/plc3/fast", json.dumps({"values": {"temp": "hot"}}), qos=1)
        r = self.wait_rule(b, "hot", lambda r: r["messages"]["in"] == 6, "6 messages in")
        self.assertEqual((r["errors"]["decode"], r["errors"]["type"]), (1, 1), r)
        self.assertEqual(r["last_error"]["message"], "cannot compare string values.temp with integer 50")
        status, _, body = b.http_get("/metrics")
        self.assertIn(b'ib_rule_errors_total{rule="hot",kind="decode"} 1', body)

    def test_a_reading_is_parsed_once_however_many_rules_read_it(self):
        rules = "".join("""
[[rules]]
id = "r%d"
sql = "SELECT values.temp AS temp FROM \\"ib/data/+/fast\\" WHERE values.temp > %d"
[[rules.actions]]
publish = { topic = "over/%d" }
""" % (i, i * 10, i) for i in range(5))
        b = self.start_broker(extra_toml=rules)
        out = self.sub(b, "over/#", 6)
        pub = self.paho(b, "sensor")
        for temp in (5, 25, 15):
            pub.publish("ib/data/plc1/fast", reading(temp), qos=1)
        # 5 > 0; 25 > 0, 10, 20; 15 > 0, 10: six rows from three readings, one parse each.
        got = sorted(t for t, _ in self.messages(out, 6))
        self.assertEqual(got, ["over/0", "over/0", "over/0", "over/1", "over/1", "over/2"])
        for i in range(5):
            self.wait_rule(b, "r%d" % i, lambda r: r["messages"]["in"] == 3, "3 messages in")
        status, _, body = b.http_get("/metrics")
        self.assertEqual(status, 200)
        self.assertIn(b"ib_rules_payload_parses_total 3\n", body)
        self.assertEqual(sum(self.rule(b, "r%d" % i)["messages"]["out"] for i in range(5)), 6)

    def test_a_tumbling_window_average_per_device(self):
        b = self.start_broker(extra_toml="""
[[rules]]
id = "avg"
sql = "SELECT topic(3) AS device, avg(values.temp) AS avg, count(*) AS n FROM \\"ib/data/+/fast\\" GROUP BY topic(3), TumblingWindow(ss, 1)"
[[rules.actions]]
publish = { topic = "avg/${device}" }
""")
        out = self.sub(b, "avg/#", 2)
        pub = self.paho(b, "sensor")
        # Readings sent together land in one window, whichever second they fall in;
        # send them again until one window holds all four (a window edge may split them).
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            for device, temp in (("a", 10), ("b", 1), ("a", 20), ("b", 3)):
                pub.publish("ib/data/%s/fast" % device, reading(temp), qos=1)
            rows = dict((t, p) for t, p in self.messages(out, 2))
            if rows["avg/a"]["n"] == 2 and rows["avg/b"]["n"] == 2:
                break
            out = self.sub(b, "avg/#", 2)
        self.assertEqual(rows, {"avg/a": {"device": "a", "avg": 15, "n": 2}, "avg/b": {"device": "b", "avg": 2, "n": 2}})

    def test_rules_through_the_api_are_checked_changed_stopped_and_kept_across_a_restart(self):
        b = self.start_broker()
        status, body = http_json(b, "POST", "/api/v1/rules", {
            "id": "hot", "sql": "SELECT avgg(values.temp) FROM \"ib/data/#\" GROUP BY TumblingWindow(ss, 10)",
            "actions": [{"log": {}}]})
        self.assertEqual(status, 400)
        self.assertEqual(body["error"], "sql: rule \"hot\": 1:8: unknown function 'avgg' (did you mean 'avg'?)")
        status, body = http_json(b, "POST", "/api/v1/rules", {
            "id": "copy", "sql": "SELECT values.temp AS t FROM \"ib/data/+/fast\"",
            "actions": [{"publish": {"topic": "copy/${t}"}}, {"log": {}}]})
        self.assertEqual(status, 201, body)
        status, body = http_json(b, "POST", "/api/v1/rules", {"id": "copy", "sql": "SELECT * FROM \"x\""})
        self.assertEqual(status, 409, body)
        status, body = http_json(b, "POST", "/api/v1/rules", {
            "id": "bad", "sql": "SELECT a FROM \"x\"", "actions": [{"publish": {"topic": "y/${nope}"}}]})
        self.assertEqual(status, 400)
        self.assertIn("${nope} is not a column", body["error"])

        out = self.sub(b, "copy/#", 1)
        pub = self.paho(b, "sensor")
        pub.publish("ib/data/plc1/fast", reading(7), qos=1)
        self.assertEqual(self.messages(out, 1), [("copy/7", {"t": 7})])
        # The log action runs after the publish action, on the rules' loop: the
        # published row can reach the subscriber (on a broker shard) first.
        line = "rule 'copy': {\"t\":7}"
        self.assertTrue(h.wait_until(lambda: line in b.log_text()), b.log_text())

        # Stopped, it receives nothing; started again, it does.
        status, body = http_json(b, "POST", "/api/v1/rules/copy/stop")
        self.assertEqual((status, body["status"]), (200, "stopped"), body)
        pub.publish("ib/data/plc1/fast", reading(8), qos=1)
        time.sleep(0.3)
        self.assertEqual(self.rule(b, "copy")["messages"]["in"], 1)
        http_json(b, "POST", "/api/v1/rules/copy/start")

        # A change replaces the rule; the old one stops receiving.
        status, body = http_json(b, "PUT", "/api/v1/rules/copy", {
            "id": "copy", "sql": "SELECT values.temp * 2 AS t FROM \"ib/data/+/fast\"",
            "actions": [{"publish": {"topic": "copy/${t}"}}]})
        self.assertEqual(status, 200, body)
        out = self.sub(b, "copy/#", 1)
        pub.publish("ib/data/plc1/fast", reading(9), qos=1)
        self.assertEqual(self.messages(out, 1), [("copy/18", {"t": 18})])

        b.restart()
        status, rules = http_json(b, "GET", "/api/v1/rules")
        self.assertEqual([(r["id"], r["source"], r["status"]) for r in rules], [("copy", "api", "running")])
        self.assertEqual(self.rule(b, "copy")["rule"]["sql"], "SELECT values.temp * 2 AS t FROM \"ib/data/+/fast\"")
        status, _ = http_json(b, "DELETE", "/api/v1/rules/copy")
        self.assertEqual(status, 204)
        b.restart()
        self.assertEqual(http_json(b, "GET", "/api/v1/rules")[1], [])

    def test_windows_and_change_detection_survive_a_kill_9(self):
        b = self.start_broker(extra_toml="""
[[rules]]
id = "sum3"
sql = "SELECT sum(values.temp) AS s FROM \\"ib/data/+/fast\\" GROUP BY CountWindow(3)"
[[rules.actions]]
publish = { topic = "sum3" }

[[rules]]
id = "edge"
sql = "SELECT values.state AS state FROM \\"ib/status2/+\\" WHERE changed(values.state) GROUP BY topic(3)"
[[rules.actions]]
publish = { topic = "edge/${state}" }
""")
        out = self.sub(b, "edge/#", 1)
        pub = self.paho(b, "sensor")
        pub.publish("ib/data/plc1/fast", reading(1), qos=1)
        pub.publish("ib/data/plc1/fast", reading(2), qos=1)
        pub.publish("ib/status2/m1", json.dumps({"values": {"state": "on"}}), qos=1)
        self.assertEqual(self.messages(out, 1), [("edge/on", {"state": "on"})])
        self.wait_rule(b, "sum3", lambda r: r["messages"]["in"] == 2, "2 messages in")
        # The checkpoint runs every second and writes the rules whose state
        # changed since the last one: once both rules have a row and the rows
        # stayed the same for two checkpoints, nothing newer is on its way.
        self.assertTrue(wait_for_settled_checkpoint(b, {"sum3", "edge"}), "no settled checkpoint of both rules")
        b.kill9()
        b.start()
        self.assertIn("rule 'sum3': window and change state restored", b.log_text())
        sums = self.sub(b, "sum3", 1)
        edges = self.sub(b, "edge/#", 1)
        pub = self.paho(b, "sensor2")
        pub.publish("ib/status2/m1", json.dumps({"values": {"state": "on"}}), qos=1)  # unchanged: no row
        pub.publish("ib/data/plc1/fast", reading(4), qos=1)  # the third message of the window
        pub.publish("ib/status2/m1", json.dumps({"values": {"state": "off"}}), qos=1)
        self.assertEqual(self.messages(sums, 1), [("sum3", {"s": 7})])
        self.assertEqual(self.messages(edges, 1), [("edge/off", {"state": "off"})], "the change fired again")

    def endpoint(self, status=200):
        """An HTTP server on 127.0.0.1 that records the bodies posted to it."""
        got = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                Handler.authorization = self.headers.get("Authorization")
                got.append((self.path, json.loads(body)))
                self.send_response(Handler.status)
                answer = Handler.answer.encode()
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        Handler.status = status
        Handler.answer = ""
        server = http.server.ThreadingHTTPServer((h.HOST, 0), Handler)
        t = threading.Thread(target=server.serve_forever, daemon=True)
        t.start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return server, Handler, got

    def test_an_http_action_posts_rows_in_order_and_counts_an_endpoint_that_fails(self):
        server, handler, got = self.endpoint()
        b = self.start_broker(extra_toml="""
[[rules]]
id = "post"
sql = "SELECT values.temp AS t FROM \\"ib/data/+/fast\\""
[[rules.actions]]
http = { url = "http://127.0.0.1:%d/ingest", retries = 1, timeout_ms = 2000, headers = ["Authorization: Bearer t0ken"] }
""" % server.server_port)
        pub = self.paho(b, "sensor")
        for i in range(20):
            pub.publish("ib/data/plc1/fast", reading(i), qos=1)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(got) < 20:
            time.sleep(0.05)
        self.assertEqual(got, [("/ingest", {"t": i}) for i in range(20)])
        r = self.wait_rule(b, "post", lambda r: r["actions"][0]["done"] == 20, "20 rows posted")
        self.assertEqual(handler.authorization, "Bearer t0ken")
        self.assertEqual(r["rule"]["actions"][0]["http"]["headers"], ["Authorization: ********"], "the API hides credentials")
        self.assertNotIn("t0ken", json.dumps(r))
        handler.status = 500
        pub.publish("ib/data/plc1/fast", reading(99), qos=1)
        r = self.wait_rule(b, "post", lambda r: r["actions"][0]["errors"] == 1, "a failed post")
        self.assertIn("answered 500 (after 2 attempts)", r["actions"][0]["last_error"])
        self.assertEqual(r["errors"]["action"], 1, r)
        # A refusal of the request itself is not sent again, and says what the service said.
        handler.status, handler.answer = 422, "field t: \nmust be a string"
        posts = len(got)
        pub.publish("ib/data/plc1/fast", reading(100), qos=1)
        r = self.wait_rule(b, "post", lambda r: r["actions"][0]["errors"] == 2, "a refused post")
        self.assertIn("answered 422: field t:  must be a string (not retried: a client error)", r["actions"][0]["last_error"])
        self.assertEqual(len(got), posts + 1, "one attempt only")

    def test_a_sqlite_action_keeps_rows_in_a_table_capped_in_rows(self):
        b = self.start_broker(extra_toml="""
[[rules]]
id = "keep"
sql = "SELECT values.temp AS t, topic(3) AS device FROM \\"ib/data/+/fast\\""
[[rules.actions]]
sqlite = { table = "readings", max_rows = 5 }
""")
        pub = self.paho(b, "sensor")
        for i in range(8):
            pub.publish("ib/data/plc%d/fast" % i, reading(i), qos=1)
        self.wait_rule(b, "keep", lambda r: r["actions"][0]["done"] == 8, "8 rows kept")
        path = os.path.join(b.data_dir, "rules.db")
        deadline = time.monotonic() + 10
        rows = []
        while time.monotonic() < deadline:
            try:
                with sqlite3.connect(path, timeout=5) as db:
                    rows = db.execute("SELECT rule, json_extract(row, '$.t'), json_extract(row, '$.device') "
                                      "FROM readings ORDER BY id").fetchall()
            except sqlite3.OperationalError:
                rows = []
            if len(rows) == 5 and rows[-1][1] == 7:
                break
            time.sleep(0.1)
        self.assertEqual(rows, [("keep", i, "plc%d" % i) for i in range(3, 8)])

    def test_the_file_rules_cannot_be_deleted_through_the_api(self):
        b = self.start_broker(extra_toml=HOT)
        status, body = http_json(b, "DELETE", "/api/v1/rules/hot")
        self.assertEqual(status, 409, body)
        self.assertIn("config file", body["error"])

    def test_a_rule_can_be_tried_on_samples_before_it_is_deployed(self):
        b = self.start_broker()
        status, body = http_json(b, "POST", "/api/v1/rules/test", {
            "sql": "SELECT topic(3) AS d, max(values.t) AS hi FROM \"ib/data/+/g\" GROUP BY topic(3), TumblingWindow(ss, 10)",
            "messages": [
                {"topic": "ib/data/a/g", "payload": {"values": {"t": 3}}, "at_ms": 1000},
                {"topic": "ib/data/a/g", "payload": {"values": {"t": 9}}, "at_ms": 2000},
                {"topic": "ib/data/b/g", "payload": "oops", "at_ms": 3000},
                {"topic": "ib/data/a/g", "payload": {"values": {"t": 4}}, "at_ms": 12000},
            ]})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["rows"], [{"d": "a", "hi": 9}, {"d": "a", "hi": 4}])
        self.assertEqual(len(body["message_errors"]), 1)
        self.assertIn("not JSON", body["message_errors"][0])
        self.assertEqual(body["errors"]["decode"], 1)
        self.assertEqual(self.rule_count(b), 0, "a test must not deploy the rule")

    def rule_count(self, b):
        return len(http_json(b, "GET", "/api/v1/rules")[1])

    def test_a_rule_writes_a_simulated_device(self):
        b = self.start_broker(extra_toml="""
[[devices]]
name = "oven"
driver = "sim"

[[devices.groups]]
name = "fast"
interval_ms = 100
tags = [ { name = "sp", address = "memory:initial=180", type = "int16", access = "rw" } ]

[[rules]]
id = "setpoint"
sql = "SELECT cast(value, 'bigint') AS value FROM \\"cmd/oven\\""
[[rules.actions]]
write = { device = "oven", tag = "sp" }
""")
        out = self.sub(b, "ib/write/oven/result", 1)
        pub = self.paho(b, "hmi")
        pub.publish("cmd/oven", json.dumps({"value": "42"}), qos=1)
        [(topic, result)] = self.messages(out, 1)
        self.assertTrue(result["ok"], result)
        self.assertTrue(result["id"].startswith("rule-setpoint-"), result)
        status, values = http_json(b, "GET", "/api/v1/devices/oven/values")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "42" not in json.dumps(values):
            time.sleep(0.1)
            status, values = http_json(b, "GET", "/api/v1/devices/oven/values")
        self.assertIn("42", json.dumps(values))


if __name__ == "__main__":
    unittest.main(verbosity=2)
