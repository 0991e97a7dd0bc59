"""The local history, seen as a user sees it: readings published on ib/data/...
(by paho, and by a simulated device) come back from GET /api/v1/history as raw
points and as 1-minute and 1-hour aggregates, survive a restart, bad messages
are counted and skipped, the size cap drops the oldest raw points first, and a
bad query gets a 400 naming the parameter."""

import json
import os
import time
import unittest
import urllib.parse

import ibharness as h
from modbus_peers import http_json, devices_toml, device, group, tag

MINUTE = 60_000
HOUR = 3_600_000


def hour_start(hours_ago):
    """The start of an hour `hours_ago` hours back: buckets are then known exactly,
    and the points stay well inside the default 24 h raw retention."""
    now = int(time.time() * 1000)
    return now - now % HOUR - hours_ago * HOUR


def reading(ts, values, device_name="plc1", grp="fast"):
    return json.dumps({"device": device_name, "group": grp, "ts": ts, "values": values})


@h.ironbridge_only("the local history")
class HistoryTest(h.IBTestCase):

    def history(self, b, **params):
        status, body = http_json(b, "GET", "/api/v1/history?" + urllib.parse.urlencode(params))
        return status, body

    def points(self, b, **params):
        status, body = self.history(b, **params)
        self.assertEqual(status, 200, body)
        return body["points"]

    def wait_points(self, b, n, **params):
        """The points once there are `n` of them (published messages reach the
        history asynchronously); fails with what was there."""
        got = h.wait_until(lambda: (lambda p: p if len(p) >= n else None)(self.points(b, **params)),
                           timeout=10)
        self.assertIsNotNone(got, "fewer than %d points: %r" % (n, self.points(b, **params)))
        return got

    def publisher(self, b):
        return self.paho(b, h.unique("pub"))

    def test_readings_come_back_raw_and_aggregated(self):
        b = self.start_broker()
        t0 = hour_start(2)
        pub = self.publisher(b)
        for ts, values in [
            (t0 + 1000, {"temp": 10, "run": True, "mode": "auto"}),
            (t0 + 2000, {"temp": 30.5, "run": False}),
            (t0 + 3000, {"temp": 20}),
            (t0 + MINUTE + 500, {"temp": 5}),
        ]:
            pub.publish("ib/data/plc1/fast", reading(ts, values), qos=1)
        rng = dict(device="plc1", **{"from": t0, "to": t0 + HOUR - 1})
        raw = self.wait_points(b, 4, tag="temp", **rng)
        self.assertEqual(raw, [[t0 + 1000, 10], [t0 + 2000, 30.5], [t0 + 3000, 20], [t0 + MINUTE + 500, 5]])
        self.assertEqual(self.points(b, tag="run", **rng), [[t0 + 1000, 1], [t0 + 2000, 0]])
        self.assertEqual(self.points(b, tag="mode", **rng), [])  # strings are not kept

        def minute(agg):
            return self.points(b, tag="temp", step="1m", agg=agg, **rng)
        self.assertEqual(minute("min"), [[t0, 10], [t0 + MINUTE, 5]])
        self.assertEqual(minute("max"), [[t0, 30.5], [t0 + MINUTE, 5]])
        self.assertEqual(minute("avg"), [[t0, 20.166666666666668], [t0 + MINUTE, 5]])
        self.assertEqual(minute("count"), [[t0, 3], [t0 + MINUTE, 1]])
        self.assertEqual(minute("last"), [[t0, 20], [t0 + MINUTE, 5]])
        self.assertEqual(self.points(b, tag="temp", step="1h", agg="count", **rng), [[t0, 4]])
        self.assertEqual(self.points(b, tag="temp", step="1h", agg="avg", **rng), [[t0, 16.375]])

        status, body = self.history(b, device="plc1", tag="temp", step="1m", **{"from": t0, "to": t0 + HOUR - 1})
        self.assertEqual((body["device"], body["tag"], body["step"], body["agg"]), ("plc1", "temp", "1m", "avg"))
        # Defaults: the last hour, raw. These points are two hours old.
        status, body = self.history(b, device="plc1", tag="temp")
        self.assertEqual((status, body["step"], body["points"]), (200, "raw", []))
        self.assertEqual(body["to"] - body["from"], HOUR)
        self.assertEqual(b.metric("ib_history_points_total"), 6)

    def test_history_survives_a_restart_and_a_bucket_keeps_growing(self):
        b = self.start_broker()
        t0 = hour_start(3)
        rng = {"device": "plc1", "tag": "temp", "from": t0, "to": t0 + HOUR}
        pub = self.publisher(b)
        pub.publish("ib/data/plc1/fast", reading(t0 + 1000, {"temp": 1}), qos=1)
        pub.publish("ib/data/plc1/fast", reading(t0 + 2000, {"temp": 2}), qos=1)
        self.wait_points(b, 2, **rng)
        pub.close()

        b.restart()
        self.assertEqual(self.points(b, **rng), [[t0 + 1000, 1], [t0 + 2000, 2]])
        pub = self.publisher(b)
        pub.publish("ib/data/plc1/fast", reading(t0 + 3000, {"temp": 6}), qos=1)
        self.wait_points(b, 3, **rng)
        self.assertEqual(self.points(b, step="1m", agg="count", **rng), [[t0, 3]])
        self.assertEqual(self.points(b, step="1m", agg="avg", **rng), [[t0, 3]])
        self.assertEqual(self.points(b, step="1m", agg="max", **rng), [[t0, 6]])

    def test_after_kill_9_the_minute_aggregate_matches_the_raw_points(self):
        """The open minute's aggregate lives in memory until the minute closes;
        a kill -9 in the middle of a stream must not leave it short of the raw
        points that were committed."""
        b = self.start_broker()
        now = int(time.time() * 1000)
        # Two minutes ahead: the minute stays open (in memory) whatever the test's pace.
        m = now - now % MINUTE + 2 * MINUTE
        rng = {"device": "plc1", "tag": "temp", "from": m, "to": m + MINUTE - 1}
        pub = self.publisher(b)
        sent = 0
        for i in range(200):  # mid-stream: kill after some are committed, while more are sent
            pub.publish("ib/data/plc1/fast", reading(m + i, {"temp": i}), qos=0, wait=False)
            sent += 1
            if i == 99:
                self.wait_points(b, 50, **rng)
        b.kill9()
        pub.close()
        b.start()
        raw = self.points(b, **rng)
        self.assertGreaterEqual(len(raw), 50)
        self.assertLessEqual(len(raw), sent)
        values = [v for _, v in raw]
        self.assertEqual(self.points(b, step="1m", agg="count", **rng), [[m, len(raw)]])
        self.assertEqual(self.points(b, step="1m", agg="max", **rng), [[m, max(values)]])
        self.assertEqual(self.points(b, step="1m", agg="avg", **rng), [[m, sum(values) / len(values)]])
        self.assertEqual(self.points(b, step="1h", agg="count", **{**rng, "to": m}), [[m - m % HOUR, len(raw)]])

    def test_a_simulated_device_is_recorded(self):
        dev = device("oven", [group("fast", [tag("count", "counter", type="uint32"),
                                             tag("door", "square:period=1", type="bool")], interval_ms=50)],
                     driver="sim")
        b = self.start_broker(extra_toml=devices_toml(dev))
        pts = self.wait_points(b, 5, device="oven", tag="count")
        values = [v for _, v in pts]
        self.assertEqual(values, sorted(values), pts)
        self.assertTrue(all(isinstance(v, int) for v in values), pts)
        doors = self.wait_points(b, 5, device="oven", tag="door")
        self.assertTrue(set(v for _, v in doors) <= {0, 1}, doors)
        minutes = self.points(b, device="oven", tag="count", step="1m", agg="count")
        self.assertGreaterEqual(sum(v for _, v in minutes), 5, minutes)

    def test_bad_messages_are_counted_and_skipped(self):
        b = self.start_broker()
        t0 = hour_start(1)
        pub = self.publisher(b)
        for bad in [b"{not json", b"[1,2,3]", b'{"values":{"a":1}}', b'{"device":"plc1","ts":"x","values":{"a":1}}',
                    b"\xff\xfe"]:
            pub.publish("ib/data/plc1/fast", bad, qos=1)
        pub.publish("ib/data/plc1/fast", reading(t0, {"a": 7}), qos=1)
        self.assertEqual(self.wait_points(b, 1, device="plc1", tag="a", **{"from": t0, "to": t0}), [[t0, 7]])
        self.assertEqual(h.wait_until(lambda: b.metric("ib_history_bad_messages_total") == 5), True,
                         b.metric("ib_history_bad_messages_total"))
        self.assertTrue(b.alive())
        self.assertIn("is not a reading", b.log_text())

    def test_bad_parameters_get_400_naming_them(self):
        b = self.start_broker()
        cases = [
            ({"tag": "t"}, "device"),
            ({"device": "d"}, "tag"),
            ({"device": "d", "tag": "t", "from": "yesterday"}, "from"),
            ({"device": "d", "tag": "t", "to": "-5"}, "to"),
            ({"device": "d", "tag": "t", "from": 10, "to": 5}, "from"),
            ({"device": "d", "tag": "t", "step": "5m"}, "step"),
            ({"device": "d", "tag": "t", "step": "1m", "agg": "median"}, "agg"),
            ({"device": "d", "tag": "t", "tags": "x"}, "tags"),
        ]
        for params, name in cases:
            status, body = self.history(b, **params)
            self.assertEqual(status, 400, (params, body))
            self.assertIn(name, body["error"], (params, body))
        status, body = http_json(b, "GET", "/api/v1/history?device=d&device=e&tag=t")
        self.assertEqual(status, 400, body)
        self.assertIn("device: given more than once", body["error"])
        # An unknown device or tag is not an error: there is simply nothing.
        status, body = self.history(b, device="nobody", tag="nothing", step="1h", agg="max")
        self.assertEqual((status, body["points"]), (200, []), body)
        status, body = http_json(b, "POST", "/api/v1/history", {})
        self.assertEqual(status, 405, body)

    def test_names_with_spaces_and_slashes_are_found(self):
        b = self.start_broker()
        t0 = hour_start(1)
        pub = self.publisher(b)
        pub.publish("ib/data/line 2/fast", reading(t0, {"motor/speed rpm": 1450}, device_name="line 2"), qos=1)
        self.assertEqual(self.wait_points(b, 1, device="line 2", tag="motor/speed rpm", **{"from": t0, "to": t0}),
                         [[t0, 1450]])

    def test_over_max_bytes_the_oldest_raw_points_go_first(self):
        b = self.start_broker(extra_toml="[history]\nmax_bytes = 1048576\n")
        t0 = hour_start(20)
        tags = ["t%03d" % i for i in range(100)]
        messages = 1500  # a reading a second for 25 minutes, 100 tags each: 150,000 points
        pub = self.publisher(b)
        for i in range(messages):
            pub.publish("ib/data/plc1/fast", reading(t0 + i * 1000, {t: i for t in tags}),
                        qos=1 if i % 100 == 99 else 0, wait=(i % 100 == 99))
        total = messages * len(tags)
        ok = h.wait_until(lambda: b.metric("ib_history_points_total") == total, timeout=30)
        self.assertTrue(ok, b.metric("ib_history_points_total"))
        self.assertLessEqual(h.wait_until(lambda: b.metric("ib_history_db_bytes")), 1048576)
        dropped = b.metric("ib_history_dropped_points_total", reason="max_bytes")
        self.assertGreater(dropped, 0)

        rng = {"device": "plc1", "from": t0, "to": t0 + HOUR}
        kept = 0
        for t in tags:
            pts = self.points(b, tag=t, **rng)
            kept += len(pts)
            self.assertEqual(pts[-1], [t0 + (messages - 1) * 1000, messages - 1], t)  # the newest stayed
            self.assertGreater(pts[0][0], t0, t)                                       # the oldest went
        self.assertEqual(kept + dropped, total)
        # Raw goes first: every minute's aggregate is still there, from the first one.
        minutes = self.points(b, tag="t042", step="1m", agg="count", **rng)
        self.assertEqual(minutes[0], [t0, 60])
        self.assertEqual(sum(v for _, v in minutes), messages)
        self.assertIn("over history.max_bytes", b.log_text())
        b.stop()  # the last connection checkpoints the WAL into the file
        self.assertLessEqual(os.path.getsize(os.path.join(b.data_dir, "history.db")), 1048576)

    def test_unreadable_history_is_moved_aside(self):
        b = h.Broker()
        self.addCleanup(b.close)
        db = os.path.join(b.data_dir, "history.db")
        with open(db, "wb") as f:
            f.write(b"this is not a database" * 100)
        b.start()
        t0 = hour_start(1)
        pub = self.publisher(b)
        pub.publish("ib/data/plc1/fast", reading(t0, {"a": 1}), qos=1)
        self.assertEqual(self.wait_points(b, 1, device="plc1", tag="a", **{"from": t0, "to": t0}), [[t0, 1]])
        aside = [n for n in os.listdir(b.data_dir) if n.startswith("history.db.corrupt-")]
        self.assertEqual(len(aside), 1, os.listdir(b.data_dir))
        self.assertIn("moved aside to " + os.path.join(b.data_dir, aside[0]), b.log_text())

    def writer_policy(self, b, thread="ib-history"):
        """The scheduling policy of the history's writer thread (or of `thread`), as
        `ps -L -o cls` shows it (field 41 of /proc/PID/task/TID/stat: 0 normal, 5 idle)."""
        def find():
            for tid in os.listdir("/proc/%d/task" % b.pid):
                try:
                    with open("/proc/%d/task/%s/stat" % (b.pid, tid)) as f:
                        stat = f.read()
                except FileNotFoundError:
                    continue
                # The name is in parentheses and may hold spaces: count fields after it.
                name = stat[stat.index("(") + 1:stat.rindex(")")]
                if name == thread:
                    return [int(stat[stat.rindex(")") + 2:].split()[41 - 3])]  # truthy when 0
            return None
        policy = h.wait_until(find, timeout=10)
        self.assertIsNotNone(policy, "no %s thread" % thread)
        return policy[0]

    def test_the_writer_runs_at_idle_priority_beside_a_rescuer_unless_told_otherwise(self):
        b = self.start_broker()
        self.assertEqual(self.writer_policy(b), 5)  # SCHED_IDLE, the default
        self.assertEqual(self.writer_policy(b, "ib-history-r"), 0)  # its rescuer, SCHED_OTHER
        pub = self.publisher(b)
        pub.publish("ib/data/plc1/fast", reading(int(time.time() * 1000), {"a": 1}), qos=1)
        self.assertEqual(self.wait_points(b, 1, device="plc1", tag="a")[0][1], 1)
        self.assertIsNotNone(b.metric("ib_history_writer_rescues_total"))
        b.stop()
        b2 = self.start_broker(extra_toml="[history]\nidle_priority = false\n")
        self.assertEqual(self.writer_policy(b2), 0)  # SCHED_OTHER

    def test_disabled_history_keeps_nothing(self):
        b = self.start_broker(extra_toml="[history]\nenabled = false\n")
        pub = self.publisher(b)
        pub.publish("ib/data/plc1/fast", reading(hour_start(1), {"a": 1}), qos=1)
        status, body = self.history(b, device="plc1", tag="a")
        self.assertEqual(status, 404, body)
        self.assertIsNone(b.metric("ib_history_points_total"))
        self.assertFalse(os.path.exists(os.path.join(b.data_dir, "history.db")))


if __name__ == "__main__":
    unittest.main()
