"""broker.persistence: persistent sessions (subscriptions, queued messages, QoS 2
state) and retained messages survive a restart and a kill -9; an acknowledged
message is never lost; a corrupt sessions.db is moved aside; expired sessions go."""

import glob
import os
import signal
import sqlite3
import threading
import time
import unittest

import paho.mqtt.client as mqtt

import ibharness as h
from ibharness import IBTestCase, V5, V311

PERSIST = {"persistence": True}


def session_rows(broker):
    """client ids in data_dir/sessions.db (Python's sqlite3 reads it stopped or running)."""
    path = os.path.join(broker.data_dir, "sessions.db")
    db = sqlite3.connect(path)
    try:
        return sorted(r[0] for r in db.execute("SELECT client_id FROM sessions"))
    finally:
        db.close()


def stored_deliveries(broker, cid):
    """(state, packet id) of each message queued for `cid` in sessions.db, read
    while the broker runs (WAL: a reader never waits for the writer); state as
    the store keeps it: 0 queued, 1 QoS 2 sent, 2 PUBREC received."""
    db = sqlite3.connect(os.path.join(broker.data_dir, "sessions.db"), timeout=5)
    try:
        return [((flags >> 3) & 3, pid) for flags, pid in db.execute(
            "SELECT q.flags, q.packet_id FROM queue q JOIN sessions s ON s.skey = q.skey"
            " WHERE s.client_id = ? ORDER BY q.seq", (cid,))]
    except sqlite3.OperationalError:  # the tables are not created yet
        return []
    finally:
        db.close()


class Publisher:
    """A paho publisher sending numbered QoS 1 messages without waiting, and
    recording which numbers the broker acknowledged."""

    def __init__(self, port, topic, padding=0, kill_pid=None, kill_at=None):
        self.topic = topic
        self.padding = b" " + b"x" * padding if padding else b""
        # SIGKILL the broker from paho's thread as the kill_at-th PUBACK arrives:
        # no delay of the test's own between the acknowledgement and the kill.
        self.kill_pid, self.kill_at = kill_pid, kill_at
        self.sent = {}  # mid -> number
        # paho calls on_publish holding its own lock, which publish() takes too:
        # the callback only records the mid, matched to its number afterwards.
        self.acked_mids = set()
        self.c = mqtt.Client(client_id=h.unique("pub"), protocol=V311)
        self.c.max_inflight_messages_set(100)
        self.c.max_queued_messages_set(0)
        self.c.on_publish = self._on_publish
        self.c.connect(h.HOST, port, keepalive=30)
        self.c.loop_start()

    def _on_publish(self, client, userdata, mid):
        self.acked_mids.add(mid)
        if self.kill_at is not None and len(self.acked_mids) == self.kill_at:
            try:
                os.kill(self.kill_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def publish_range(self, first, count):
        for n in range(first, first + count):
            info = self.c.publish(self.topic, str(n).encode() + self.padding, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return
            self.sent[info.mid] = n

    def acked_count(self):
        return len(self.acked_mids)

    @property
    def acked(self):
        return {self.sent[m] for m in list(self.acked_mids) if m in self.sent}

    def close(self):
        try:
            self.c.disconnect()
        except Exception:
            pass
        self.c.loop_stop()


def receive_numbers(testcase, broker, cid, version, expected, timeout=30.0, props=None):
    """Reconnects a persistent subscriber with a raw client and acknowledges what
    arrives until every number of `expected` came (or nothing more comes).
    Returns (numbers received as a list, with duplicates; the CONNACK)."""
    r = testcase.raw(broker, version=version)
    ack = r.connect(cid, clean=False, props=props)
    testcase.assertEqual(ack.reason, 0)
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not expected.issubset(got):
        try:
            p = r.read_packet(timeout=3.0)
        except Exception:
            break
        if p.type == h.PUBLISH:
            got.append(int(p.payload.split(b" ")[0]))
            if p.qos == 1:
                r.puback(p.pid)
            elif p.qos == 2:
                r.pubrec(p.pid)
        elif p.type == h.PUBREL:
            r.pubcomp(p.pid)
    r.disconnect()
    r.close()
    return got, ack


@h.ironbridge_only("broker.persistence is an Ironbridge setting")
class PersistenceTest(IBTestCase):
    def start_persistent(self, **kw):
        broker = dict(PERSIST)
        broker.update(kw.pop("broker", {}))
        return self.start_broker(broker=broker, **kw)

    def persistent_subscriber(self, b, cid, version, topic):
        r = self.raw(b, version=version)
        props = {"SessionExpiryInterval": 3600} if version == 5 else None
        ack = r.connect(cid, clean=False, props=props)
        self.assertEqual(ack.reason, 0)
        r.subscribe(1, [(topic, 1)])
        r.disconnect()
        r.close()

    def test_acknowledged_messages_survive_kill9_v5_and_v311(self):
        b = self.start_persistent()
        topic = h.unique("crash")
        subs = [(h.unique("sub5"), 5), (h.unique("sub3"), 4)]
        for cid, version in subs:
            self.persistent_subscriber(b, cid, version, topic)
        acked = set()
        # 1: killed while the publisher is sending at full speed, the instant a
        # PUBACK arrives; large messages make each commit take a while, so an
        # acknowledgement sent before its commit would be caught here.
        for first, payload, kill_at in ((100000, 0, 300), (200000, 32 * 1024, 200), (300000, 64 * 1024, 150)):
            pub = Publisher(b.port, topic, padding=payload, kill_pid=b.pid, kill_at=kill_at)
            sender = threading.Thread(target=pub.publish_range, args=(first, 3000), daemon=True)
            sender.start()
            self.assertTrue(h.wait_until(lambda: not b.alive(), timeout=30), "the broker was not killed")
            b.kill9()
            sender.join(10)
            pub.close()
            self.assertLess(len(pub.acked), 3000, "the kill came after the end: this round tests nothing")
            acked |= pub.acked
            b.start()
        # 2: killed right after the last PUBACK of a batch.
        pub = Publisher(b.port, topic)
        pub.publish_range(10000, 500)
        self.assertTrue(h.wait_until(lambda: pub.acked_count() == 500, timeout=20), "batch not acknowledged")
        b.kill9()
        pub.close()
        acked |= pub.acked
        # 3: a graceful restart in between does not lose them either.
        b.start()
        b.restart()
        for cid, version in subs:
            props = {"SessionExpiryInterval": 3600} if version == 5 else None
            got, ack = receive_numbers(self, b, cid, version, acked, props=props)
            self.assertEqual(ack.session_present, 1, cid)
            missing = acked - set(got)
            self.assertEqual(len(missing), 0, "%s: %d acknowledged messages lost, e.g. %r"
                             % (cid, len(missing), sorted(missing)[:10]))
            dups = len(got) - len(set(got))
            print("\n%s: %d acknowledged, %d received, %d duplicates" % (cid, len(acked), len(got), dups))

    def test_subscriptions_and_retained_survive_restart_and_kill9(self):
        b = self.start_persistent()
        topic = h.unique("subs")
        rtopic = h.unique("ret")
        cid = h.unique("s")
        self.persistent_subscriber(b, cid, 5, topic + "/#")
        p = self.paho(b, h.unique("p"), protocol=V311)
        p.publish(rtopic, b"kept", qos=1, retain=True)
        p.publish(rtopic + "/gone", b"soon cleared", qos=1, retain=True)
        p.publish(rtopic + "/gone", b"", qos=1, retain=True)
        p.close()
        b.kill9()
        b.start()
        # Published after the restart, while the subscriber is offline: queued
        # because the subscription was in the tree at once.
        p = self.paho(b, h.unique("p"), protocol=V311)
        p.publish(topic + "/a", b"1", qos=1)
        p.close()
        b.restart()
        got, ack = receive_numbers(self, b, cid, 5, {1}, props={"SessionExpiryInterval": 3600})
        self.assertEqual(got, [1])
        s = self.paho(b, h.unique("r"), protocol=V311)
        s.subscribe(rtopic + "/#", 1)
        m = s.expect_message()
        self.assertEqual((m.topic, m.payload, m.retain), (rtopic, b"kept", 1))
        s.expect_no_message(0.5)
        status, _, body = b.http_get("/metrics")
        self.assertEqual(status, 200)
        commits = [l for l in body.decode().splitlines() if l.startswith("ib_mqtt_session_store_commits_total")]
        self.assertEqual(len(commits), 1, body[:500])
        self.assertGreater(float(commits[0].split()[-1]), 0)

    def test_mosquitto_sub_persistent_session_after_kill9(self):
        b = self.start_persistent()
        topic = h.unique("mosq")
        cid = h.unique("msub")
        # -c: clean session 0; -E: exit once subscribed.
        r = self.run_proc(["mosquitto_sub", "-h", h.HOST, "-p", str(b.port), "-V", "mqttv311", "-c",
                           "-i", cid, "-q", "1", "-t", topic, "-E"])
        self.assertEqual(r.returncode, 0, r.stderr)
        p = self.paho(b, h.unique("p"), protocol=V311)
        for n in range(20):
            p.publish(topic, str(n).encode(), qos=1)
        p.close()
        b.kill9()
        b.start()
        r = self.run_proc(["mosquitto_sub", "-h", h.HOST, "-p", str(b.port), "-V", "mqttv311", "-c",
                           "-i", cid, "-q", "1", "-t", topic, "-C", "20", "-W", "10"], timeout=20)
        got = [int(x) for x in r.stdout.split()]
        self.assertEqual(sorted(set(got)), list(range(20)), r.stderr)

    def test_incoming_qos2_completes_once_after_kill9(self):
        b = self.start_persistent()
        topic = h.unique("q2in")
        sub = h.unique("s")
        self.persistent_subscriber(b, sub, 4, topic)
        cid = h.unique("p")
        r = self.raw(b, version=5)
        r.connect(cid, clean=False, props={"SessionExpiryInterval": 3600})
        r.publish(topic, b"7", qos=2, pid=7)
        self.assertEqual(r.expect(h.PUBREC).reason, 0)
        b.kill9()
        r.close()
        b.start()
        r = self.raw(b, version=5)
        ack = r.connect(cid, clean=False, props={"SessionExpiryInterval": 3600})
        self.assertEqual(ack.session_present, 1)
        # The PUBLISH again (as if the PUBREC were lost): known, not routed again.
        r.publish(topic, b"7", qos=2, pid=7, dup=True)
        r.expect(h.PUBREC)
        r.pubrel(7)
        comp = r.expect(h.PUBCOMP)
        self.assertEqual(comp.reason, 0, "PUBREL after the restart must find the stored flow")
        r.disconnect()
        got, _ = receive_numbers(self, b, sub, 4, {7}, timeout=5)
        self.assertEqual(got, [7], "delivered exactly once")

    def test_outgoing_qos2_pubrel_survives_kill9(self):
        b = self.start_persistent()
        topic = h.unique("q2out")
        cid = h.unique("s")
        r = self.raw(b, version=4)
        r.connect(cid, clean=False)
        r.subscribe(1, [(topic, 2)])
        p = self.paho(b, h.unique("p"), protocol=V311)
        p.publish(topic, b"42", qos=2)
        m = r.expect(h.PUBLISH)
        r.pubrec(m.pid)
        rel = r.expect(h.PUBREL)
        self.assertEqual(rel.pid, m.pid)
        # PUBREC is applied in the broker's next commit: wait until it is on disk.
        self.assertTrue(h.wait_until(lambda: stored_deliveries(b, cid) == [(2, m.pid)], timeout=15),
                        stored_deliveries(b, cid))
        b.kill9()
        r.close()
        p.close()
        b.start()
        r = self.raw(b, version=4)
        ack = r.connect(cid, clean=False)
        self.assertEqual(ack.session_present, 1)
        rel = r.expect(h.PUBREL)
        self.assertEqual(rel.pid, m.pid)
        r.pubcomp(rel.pid)
        r.expect_nothing(1.0)  # no second PUBLISH: exactly once

    def test_unacknowledged_qos2_publish_is_resent_with_its_packet_id(self):
        b = self.start_persistent()
        topic = h.unique("q2dup")
        cid = h.unique("s")
        r = self.raw(b, version=5)
        r.connect(cid, clean=False, props={"SessionExpiryInterval": 3600})
        r.subscribe(1, [(topic, 2)])
        p = self.paho(b, h.unique("p"), protocol=V311)
        p.publish(topic, b"5", qos=2)
        m = r.expect(h.PUBLISH)
        self.assertTrue(h.wait_until(lambda: stored_deliveries(b, cid) == [(1, m.pid)], timeout=15),
                        stored_deliveries(b, cid))
        b.kill9()
        r.close()
        p.close()
        b.start()
        r = self.raw(b, version=5)
        r.connect(cid, clean=False, props={"SessionExpiryInterval": 3600})
        again = r.expect(h.PUBLISH)
        self.assertEqual((again.pid, again.dup, again.payload), (m.pid, 1, b"5"))

    def test_corrupt_and_truncated_sessions_db_are_moved_aside(self):
        # garbage: not a database at all; truncated: cut inside the first page;
        # half: a valid header and schema, pages missing (found while loading).
        for damage in ("garbage", "truncated", "half"):
            with self.subTest(damage=damage):
                b = h.Broker(broker=PERSIST)
                self._ib_brokers.append(b)
                self.addCleanup(b.close)
                path = os.path.join(b.data_dir, "sessions.db")
                if damage == "garbage":
                    with open(path, "wb") as f:
                        f.write(b"this is not a database" * 500)
                else:
                    b.start()
                    cid = h.unique("t")
                    self.persistent_subscriber(b, cid, 4, h.unique("x"))
                    b.stop()
                    if damage == "half":
                        db = sqlite3.connect(path)
                        db.executemany("INSERT INTO sessions VALUES (?, ?, 3600, -1)",
                                       ((k, "filler-%d" % k) for k in range(1000, 21000)))
                        db.executemany("INSERT INTO subs VALUES (?, ?, 1, 0)",
                                       ((k, "f/%d" % k) for k in range(1000, 21000)))
                        db.commit()
                        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                        db.close()
                    with open(path, "r+b") as f:
                        f.truncate(2000 if damage == "truncated" else os.path.getsize(path) // 2)
                b.start()
                aside = glob.glob(path + ".corrupt-*")
                self.assertEqual(len(aside), 1, os.listdir(b.data_dir))
                self.assertIn(path, b.log_text())
                self.assertIn("moved aside", b.log_text())
                # The broker works, persistence included.
                cid = h.unique("after")
                self.persistent_subscriber(b, cid, 4, "after/x")
                b.restart()
                got, ack = receive_numbers(self, b, cid, 4, set(), timeout=1)
                self.assertEqual(ack.session_present, 1)
                b.stop()

    def test_expired_session_is_gone_after_restart(self):
        b = self.start_persistent()
        short, long_ = h.unique("short"), h.unique("long")
        for cid, expiry in ((short, 1), (long_, 3600)):
            r = self.raw(b, version=5)
            r.connect(cid, clean=False, props={"SessionExpiryInterval": expiry})
            r.subscribe(1, [(h.unique("e"), 1)])
            r.disconnect()
            r.close()
        b.stop()
        self.assertEqual(session_rows(b), sorted([short, long_]))
        time.sleep(1.5)
        b.start()
        b.stop()
        self.assertEqual(session_rows(b), [long_])
        b.start()
        r = self.raw(b, version=5)
        ack = r.connect(short, clean=False, props={"SessionExpiryInterval": 60})
        self.assertEqual(ack.session_present, 0)

    def test_clean_start_deletes_the_stored_session(self):
        b = self.start_persistent()
        cid = h.unique("c")
        self.persistent_subscriber(b, cid, 4, h.unique("t"))
        b.stop()
        self.assertEqual(session_rows(b), [cid])
        b.start()
        r = self.raw(b, version=4)
        r.connect(cid, clean=True)
        r.disconnect()
        r.close()
        self.assertTrue(h.wait_until(lambda: session_rows(b) == [], timeout=15), session_rows(b))
        b.stop()
        self.assertEqual(session_rows(b), [])

    def test_persistence_off_keeps_nothing(self):
        b = self.start_broker()
        cid = h.unique("off")
        self.persistent_subscriber(b, cid, 4, h.unique("t"))
        b.restart()
        r = self.raw(b, version=4)
        self.assertEqual(r.connect(cid, clean=False).session_present, 0)
        self.assertFalse(os.path.exists(os.path.join(b.data_dir, "sessions.db")))


if __name__ == "__main__":
    unittest.main()
