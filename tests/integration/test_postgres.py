"""The rules' postgres action against a real PostgreSQL 15 started by the test
(pg_peer.py: initdb and pg_ctl in a temp directory, a private port and socket):
rows arrive with their types (numbers, text with tabs and newlines, timestamps
from Unix milliseconds and from ISO text, booleans, JSON, a date); the server
stopped and started again in the middle of a stream loses nothing and keeps the
order; rows queued while the server is away survive a kill -9 of Ironbridge and
arrive after its restart; a wrong password and a missing table are clear errors
on the rule's status and counters.

Debian 12 has no TimescaleDB package: only the plain-table path runs here (the
action asks pg_extension and makes a hypertable only when timescaledb is there).
"""

import datetime
import json
import os
import re
import shutil
import tempfile
import threading
import time
import unittest

import ibharness as h
import pg_peer
from modbus_peers import RuleApi, http_json


def rule_toml(rule_id, sql, **postgres):
    fields = ", ".join("%s = %s" % (k, json.dumps(v)) for k, v in postgres.items())
    return '''
[[rules]]
id = "%s"
sql = %s
[[rules.actions]]
postgres = { %s }
''' % (rule_id, json.dumps(sql), fields)


@h.ironbridge_only("the rules' plug-ins are Ironbridge's")
class MissingPluginTest(h.IBTestCase):
    """Without its plug-in file a rule's postgres or grpc action is refused,
    naming the file looked for (here an empty IRONBRIDGE_PLUGIN_DIR)."""

    def test_the_action_is_refused_naming_the_missing_plugin_and_its_package(self):
        empty = tempfile.mkdtemp(prefix="ib-no-plugins-")
        self.addCleanup(shutil.rmtree, empty, True)
        env = dict(os.environ, IRONBRIDGE_PLUGIN_DIR=empty)
        cfg = os.path.join(empty, "pg.toml")
        with open(cfg, "w") as f:
            f.write(rule_toml("to_pg", 'SELECT * FROM "ib/data/#"', dsn="host=127.0.0.1", table="t"))
        r = self.run_proc([h.ironbridge_bin(), "check-config", cfg], env=env)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("the postgres action needs the plug-in %s/ib_postgres.so, which is missing" % empty,
                      r.stderr.decode())
        self.assertIn("package ironbridge (with libpq5)", r.stderr.decode())

        b = h.Broker(extra_toml="""
[[rules]]
id = "score"
sql = 'SELECT * FROM "ib/data/#"'
[[rules.actions]]
grpc = { address = "127.0.0.1:1", proto = "%s", service = "vision.Inspector", method = "Score" }
""" % os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers", "grpc", "inspector.proto"), env={"IRONBRIDGE_PLUGIN_DIR": empty})
        self._ib_brokers.append(b)
        try:
            b.start()  # the listeners may be up before the rules are refused
        except RuntimeError:
            pass
        self.assertTrue(h.wait_until(lambda: b.proc is None or b.proc.poll() is not None, timeout=20),
                        "started with a grpc action and no plug-in")
        self.assertIn('rule "score": grpc action: the grpc action needs the plug-in %s/ib_grpc.so, which is missing'
                      % empty, b.log_text())


@unittest.skipUnless(pg_peer.available(), "PostgreSQL 15's server binaries (postgresql-15) are not installed")
@h.ironbridge_only("the rules' postgres action")
class PostgresActionTest(RuleApi, h.IBTestCase):

    @classmethod
    def setUpClass(cls):
        cls.pg = pg_peer.PostgresServer()

    @classmethod
    def tearDownClass(cls):
        cls.pg.close()

    def setUp(self):
        if self.pg.pid() is None:
            self.pg.start()

    RULE_WAIT_S = 20.0

    def wait_count(self, table, n, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            # 0 while the action has not created the table yet.
            got = int(self.pg.psql("SELECT CASE WHEN to_regclass('%s') IS NULL THEN 0 ELSE"
                                   " (xpath('/row/c/text()', query_to_xml('SELECT count(*) AS c FROM %s', false, true, '')))[1]::text::int"
                                   " END" % (table, table))[0][0])
            if got >= n:
                return got
            if time.monotonic() > deadline:
                self.fail("%s: %d rows, %d expected" % (table, got, n))
            time.sleep(0.1)

    def test_rows_arrive_with_their_types(self):
        b = self.start_broker(extra_toml=rule_toml(
            "types", 'SELECT device, ts, temp, n, run, extra, note, day FROM "pg/types"',
            dsn=self.pg.dsn(), table="plant.readings", create=True,
            columns=["device text", "ts timestamptz", "temp double precision", "n bigint", "run boolean",
                     "extra jsonb", "note text", "day date"]))
        pub = self.paho(b, "sensor")
        pub.connect()
        ms = 1733400000123
        pub.publish("pg/types", json.dumps({"device": "plc1", "ts": ms, "temp": 21.5, "n": 7, "run": True,
                                            "extra": {"k": "v", "list": [1, 2]},
                                            "note": "a\ttab, a\nnewline and a \\ backslash", "day": ms}), qos=1)
        pub.publish("pg/types", json.dumps({"device": "plc2", "ts": "2026-12-05T10:00:00Z", "temp": -3, "n": 9000000000,
                                            "run": False, "extra": "just text", "note": None}), qos=1)
        self.wait_count("plant.readings", 2)
        rows = self.pg.psql("SELECT device, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'), temp, n, run,"
                            " extra->>'k', extra->'list'->>1, extra #>> '{}', coalesce(day::text, 'null'),"
                            " note IS NULL FROM plant.readings ORDER BY device")
        when = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
        self.assertEqual(rows[0][:7], ["plc1", when.strftime("%Y-%m-%d %H:%M:%S.123"), "21.5", "7", "t", "v", "2"])
        self.assertEqual(rows[0][8], when.strftime("%Y-%m-%d"))
        note = self.pg.psql("SELECT note = E'a\\ttab, a\\nnewline and a \\\\ backslash' FROM plant.readings"
                            " WHERE device = 'plc1'")
        self.assertEqual(note, [["t"]])
        self.assertEqual(rows[1][:6], ["plc2", "2026-12-05 10:00:00.000", "-3", "9000000000", "f", ""])
        self.assertEqual((rows[1][7], rows[1][8], rows[1][9]), ("just text", "null", "t"))
        types = self.pg.psql("SELECT column_name, data_type FROM information_schema.columns"
                             " WHERE table_schema = 'plant' AND table_name = 'readings' ORDER BY ordinal_position")
        self.assertEqual([t[1] for t in types], ["text", "timestamp with time zone", "double precision", "bigint",
                                                 "boolean", "jsonb", "text", "date"])
        r = self.wait_rule(b, "types", lambda r: r["actions"][0]["done"] == 2, "2 rows written")
        self.assertEqual(r["actions"], [{"kind": "postgres", "done": 2, "errors": 0, "last_error": None}])
        self.assertEqual(b.metric("ib_rule_postgres_rows_written_total", rule="types"), 2)

    def test_a_value_the_column_refuses_costs_that_row_alone(self):
        b = self.start_broker(extra_toml=rule_toml(
            "refuse", 'SELECT n, ts FROM "pg/refuse"', dsn=self.pg.dsn(), table="refused", create=True,
            columns=["n integer", "ts timestamptz"]))
        pub = self.paho(b, "sensor")
        pub.connect()
        for n in (1, "two", 3):
            pub.publish("pg/refuse", json.dumps({"n": n, "ts": 1733400000000}), qos=1)
        r = self.wait_rule(b, "refuse", lambda r: r["actions"][0]["done"] == 2 and r["actions"][0]["errors"] == 1,
                           "2 rows written, 1 refused")
        self.assertIn("invalid input syntax for type integer", r["actions"][0]["last_error"])
        self.assertEqual(self.pg.psql("SELECT n FROM refused ORDER BY n"), [["1"], ["3"]])

    def test_the_server_stopped_and_started_mid_stream_loses_nothing_and_keeps_the_order(self):
        self.pg.psql("DROP TABLE IF EXISTS stream; CREATE TABLE stream (pk bigint GENERATED ALWAYS AS IDENTITY, n integer, at timestamptz)")
        b = self.start_broker(extra_toml=rule_toml(
            "stream", 'SELECT n, ts AS at FROM "pg/stream"', dsn=self.pg.dsn(), table="stream", columns=["n", "at"],
            batch_rows=20, retry_max_ms=1000))
        pub = self.paho(b, "sensor")
        pub.connect()
        total = 300
        first_half = threading.Event()

        def publish():
            for n in range(total):
                pub.publish("pg/stream", json.dumps({"n": n, "ts": 1733400000000 + n}), qos=1)
                if n == total // 3:
                    first_half.wait(20)
                time.sleep(0.005)

        t = threading.Thread(target=publish)
        t.start()
        try:
            self.wait_count("stream", 50)
            self.pg.stop()
            first_half.set()
            r = self.wait_rule(b, "stream", lambda r: r["actions"][0]["last_error"] is not None, "an error while down")
            self.assertTrue(re.search("connection|terminat|server closed", r["actions"][0]["last_error"]), r)
        finally:
            first_half.set()
            t.join(30)
        self.assertTrue(b.metric("ib_rule_postgres_queued_rows", rule="stream") > 0)
        self.pg.start()
        self.wait_count("stream", total)
        rows = [int(r[0]) for r in self.pg.psql("SELECT n FROM stream ORDER BY pk")]
        self.assertEqual(rows, list(range(total)))
        r = self.wait_rule(b, "stream", lambda r: r["actions"][0]["done"] == total, "every row written")
        self.assertGreater(r["errors"]["action"], 0)

    def test_rows_queued_survive_a_kill_9_and_arrive_after_the_restart(self):
        self.pg.psql("DROP TABLE IF EXISTS kept; CREATE TABLE kept (pk bigint GENERATED ALWAYS AS IDENTITY, n integer)")
        self.pg.stop()
        b = self.start_broker(extra_toml=rule_toml(
            "kept", 'SELECT n FROM "pg/kept"', dsn=self.pg.dsn(), table="kept", columns=["n"], retry_max_ms=1000))
        pub = self.paho(b, "sensor")
        pub.connect()
        for n in range(100):
            pub.publish("pg/kept", json.dumps({"n": n}), qos=1)
        # Acknowledged: committed to the action's queue file.
        self.assertTrue(h.wait_until(lambda: b.metric("ib_rule_postgres_queued_rows", rule="kept") == 100, timeout=10),
                        b.metric("ib_rule_postgres_queued_rows", rule="kept"))
        pub.close()
        b.kill9()
        self.pg.start()
        b.start()
        self.wait_count("kept", 100)
        self.assertEqual([int(r[0]) for r in self.pg.psql("SELECT n FROM kept ORDER BY pk")], list(range(100)))
        self.assertTrue(h.wait_until(lambda: b.metric("ib_rule_postgres_queued_rows", rule="kept") == 0, timeout=10))

    def test_a_wrong_password_and_a_missing_table_are_clear_errors_on_the_rule(self):
        b = self.start_broker(extra_toml=rule_toml(
            "badpw", 'SELECT n FROM "pg/err"', dsn=self.pg.dsn(password="wrong"), table="t1", columns=["n integer"],
            create=True) + rule_toml(
            "notable", 'SELECT n FROM "pg/err"', dsn=self.pg.dsn(), table="no_such_table", columns=["n"]))
        pub = self.paho(b, "sensor")
        pub.connect()
        pub.publish("pg/err", json.dumps({"n": 1}), qos=1)
        r = self.wait_rule(b, "badpw", lambda r: r["actions"][0]["errors"] > 0, "an error")
        self.assertIn('password authentication failed for user "ib"', r["actions"][0]["last_error"])
        self.assertIn("postgres action: ", r["last_error"]["message"])
        self.assertGreater(r["errors"]["action"], 0)
        r = self.wait_rule(b, "notable", lambda r: r["actions"][0]["errors"] > 0, "an error")
        self.assertEqual(r["actions"][0]["last_error"],
                         "table no_such_table does not exist (create it, or give the action create = true)")
        self.assertEqual(r["actions"][0]["done"], 0)
        self.assertEqual(b.metric("ib_rule_postgres_queued_rows", rule="notable"), 1)
        self.assertEqual(b.metric("ib_rule_postgres_connected", rule="badpw"), 0)


if __name__ == "__main__":
    unittest.main()
