"""MQTT file transfer (EMQX's protocol, docs/files.md): a client written here
with paho sends files over `$file/...`; what it sees is the JSON result on its
response topic, the PUBACK's reason, and the file the REST API gives back
(sha256 compared). Forwarding: a second Ironbridge is the upstream, since
Debian's Mosquitto has no file transfer."""

import hashlib
import json
import os
import random
import threading
import time
import unittest
import urllib.request

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import ibharness as h
from bridge_peers import bridge_toml

KIB = 1024
MIB = 1024 * 1024


def sha(data):
    return hashlib.sha256(data).hexdigest()


class FileSender:
    """A file-transfer client: every command at QoS 1 with a response topic and
    correlation data; `command` returns the JSON result the broker published."""

    def __init__(self, port, client_id, username=None, password=None):
        self.client_id = client_id
        self.results = {}
        self.cond = threading.Condition()
        self.seq = 0
        self.reply_topic = "ft-reply/" + client_id
        self.c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
        self.c.max_inflight_messages_set(16)
        if username:
            self.c.username_pw_set(username, password)
        self.c.on_message = self._on_message
        connected = threading.Event()
        self.c.on_connect = lambda *a, **k: connected.set()
        self.c.connect(h.HOST, port, keepalive=30, clean_start=False,
                       properties=h.connect_props(SessionExpiryInterval=300))
        self.c.loop_start()
        if not connected.wait(5):
            raise AssertionError("no CONNACK")
        subscribed = threading.Event()
        self.c.on_subscribe = lambda *a, **k: subscribed.set()
        self.c.subscribe(self.reply_topic, qos=1)
        if not subscribed.wait(5):
            raise AssertionError("no SUBACK")

    def _on_message(self, client, userdata, msg):
        corr = getattr(msg.properties, "CorrelationData", None)
        with self.cond:
            self.results[bytes(corr) if corr else msg.topic] = json.loads(msg.payload)
            self.cond.notify_all()

    def send(self, topic, payload=b""):
        """Publishes one command; returns its correlation key."""
        self.seq += 1
        key = b"c%d" % self.seq
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = self.reply_topic
        props.CorrelationData = key
        self.c.publish(topic, payload, qos=1, properties=props)
        return key

    def result(self, key, timeout=20.0):
        with self.cond:
            if not self.cond.wait_for(lambda: key in self.results, timeout):
                raise AssertionError("no result for command %r" % key)
            return self.results.pop(key)

    def command(self, topic, payload=b"", timeout=20.0):
        return self.result(self.send(topic, payload), timeout)

    def init(self, file_id, data, name=None, **extra):
        meta = {"name": name or file_id + ".bin", "size": len(data), "checksum": sha(data)}
        meta.update(extra)
        return self.command("$file/%s/init" % file_id, json.dumps(meta).encode())

    def segments(self, file_id, data, size, order=None, checksum=True):
        """Sends the segments (offsets in `order`, default ascending) and
        returns every result."""
        offsets = list(range(0, len(data), size)) if order is None else order
        keys = []
        for off in offsets:
            chunk = data[off:off + size]
            topic = "$file/%s/%d" % (file_id, off) + ("/" + sha(chunk) if checksum else "")
            keys.append(self.send(topic, chunk))
        return [self.result(k) for k in keys]

    def fin(self, file_id, data, checksum=None, timeout=60.0):
        return self.command("$file/%s/fin/%d/%s" % (file_id, len(data), checksum or sha(data)), timeout=timeout)

    def send_file(self, file_id, data, size=64 * KIB, order=None):
        self.expect_ok(self.init(file_id, data))
        for r in self.segments(file_id, data, size, order):
            self.expect_ok(r)
        return self.fin(file_id, data)

    @staticmethod
    def expect_ok(r):
        if r.get("reason_code") != 0:
            raise AssertionError("command failed: %r" % r)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def file_toml(extra="", acl_default="allow"):
    return "[auth]\nallow_plaintext_passwords = true\nacl_default = \"%s\"\n\n[files]" % acl_default + "\nsegments_ttl_s = 600\n" + extra


def stored(node, client, file_id):
    """The bytes the REST API serves for a stored file, or None."""
    url = "http://%s:%d/api/v1/files/%s/%s" % (h.HOST, node.api_port, client, file_id)
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.read()
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise


def file_list(node, query=""):
    code, _, body = node.http_get("/api/v1/files" + query)
    assert code == 200, body
    return json.loads(body)


def rss_kib(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


@h.ironbridge_only("file transfer is an Ironbridge (and EMQX) feature")
class FileTransferTest(h.IBTestCase):

    def sender(self, node, client_id, **kw):
        s = FileSender(node.port, client_id, **kw)
        self.addCleanup(s.close)
        return s

    def test_files_of_every_size_and_segment_order_arrive_whole(self):
        node = self.start_broker(extra_toml=file_toml())
        # Someone listening to everything sees none of the commands.
        spy = self.paho(node, "spy")
        spy.subscribe("$file/#", qos=1)
        spy.subscribe("$file-async/#", qos=1)
        s = self.sender(node, "cam1")
        rnd = random.Random(7)
        cases = {
            "empty": (b"", 64 * KIB, None),
            "one": (b"x", 64 * KIB, None),
            "ordered": (rnd.randbytes(3 * MIB + 123), 64 * KIB, None),
        }
        # Out of order, with segments sent twice and overlapping ones.
        data = rnd.randbytes(2 * MIB + 5)
        size = 100 * KIB
        order = list(range(0, len(data), size))
        rnd.shuffle(order)
        order += order[:5]
        cases["shuffled"] = (data, size, order)
        for file_id, (data, size, order) in cases.items():
            r = s.send_file(file_id, data, size, order)
            self.assertEqual(r["reason_code"], 0, r)
            self.assertEqual(r["topic"], "$file/%s/fin/%d/%s" % (file_id, len(data), sha(data)))
        # An overlapping segment (half of one and half of the next).
        data = rnd.randbytes(300 * KIB)
        s.expect_ok(s.init("overlap", data))
        for r in s.segments("overlap", data, 100 * KIB, order=[0, 200 * KIB]):
            s.expect_ok(r)
        s.expect_ok(s.command("$file/overlap/%d/%s" % (50 * KIB, sha(data[50 * KIB:250 * KIB])),
                              data[50 * KIB:250 * KIB]))
        s.expect_ok(s.fin("overlap", data))
        cases["overlap"] = (data, 0, None)
        for file_id, (data, _, _) in cases.items():
            self.assertEqual(sha(stored(node, "cam1", file_id)), sha(data), file_id)
        listing = file_list(node)
        self.assertEqual(listing["total"], 5)
        byid = {f["file_id"]: f for f in listing["files"]}
        self.assertEqual(byid["ordered"]["size"], 3 * MIB + 123)
        self.assertEqual(byid["one"]["name"], "one.bin")
        self.assertEqual(byid["one"]["checksum"], sha(b"x"))
        page = file_list(node, "?offset=1&limit=2")
        self.assertEqual([f["file_id"] for f in page["files"]],
                         [f["file_id"] for f in listing["files"][1:3]])
        spy.expect_no_message(0.3)
        self.assertEqual(node.metric("ib_files_stored_total"), 5)
        # DELETE removes a file, and the audit log says which.
        req = urllib.request.Request("http://%s:%d/api/v1/files/cam1/one" % (h.HOST, node.api_port), method="DELETE")
        with urllib.request.urlopen(req, timeout=5) as r:
            self.assertEqual(r.status, 200)
        self.assertIsNone(stored(node, "cam1", "one"))
        self.assertEqual(file_list(node)["total"], 4)
        _, _, audit = node.http_get("/api/v1/audit")
        entry = json.loads(audit)["entries"][0]
        self.assertEqual((entry["method"], entry["path"]), ("DELETE", "/api/v1/files/cam1/one"))
        self.assertEqual(entry["before"]["checksum"], sha(b"x"))
        # Nothing retained either.
        late = self.paho(node, "late")
        late.subscribe("$file/#", qos=1)
        late.expect_no_message(0.3)

    def test_wrong_checksums_and_a_gap_fail_with_the_reason(self):
        node = self.start_broker(extra_toml=file_toml())
        s = self.sender(node, "plc7")
        data = os.urandom(300 * KIB)
        s.expect_ok(s.init("f", data))
        bad = s.command("$file/f/0/%s" % sha(b"other"), data[:100 * KIB])
        self.assertEqual(bad["reason_code"], 0x80)
        self.assertIn("checksum mismatch", bad["reason_description"])
        s.expect_ok(s.command("$file/f/0/%s" % sha(data[:100 * KIB]), data[:100 * KIB]))
        s.expect_ok(s.command("$file/f/%d" % (200 * KIB), data[200 * KIB:]))
        gap = s.fin("f", data)
        self.assertEqual(gap["reason_code"], 0x80)
        self.assertIn("bytes %d-%d of %d are missing" % (100 * KIB, 200 * KIB - 1, len(data)),
                      gap["reason_description"])
        s.expect_ok(s.command("$file/f/%d" % (100 * KIB), data[100 * KIB:200 * KIB]))
        wrong = s.fin("f", data, checksum=sha(b"not it"))
        self.assertEqual(wrong["reason_code"], 0x80)
        self.assertIn("file checksum mismatch", wrong["reason_description"])
        s.expect_ok(s.fin("f", data))
        self.assertEqual(sha(stored(node, "plc7", "f")), sha(data))
        self.assertEqual(node.metric("ib_files_command_failures_total", reason="gap"), 1)
        self.assertEqual(node.metric("ib_files_command_failures_total", reason="segment_checksum"), 1)
        self.assertEqual(node.metric("ib_files_command_failures_total", reason="file_checksum"), 1)

    def test_the_puback_of_fin_carries_0x80_and_the_missing_range(self):
        node = self.start_broker(extra_toml=file_toml())
        raw = h.RawClient(node.port, version=5)
        self.addCleanup(raw.close)
        raw.connect("raw1")
        meta = json.dumps({"name": "r.bin", "size": 10}).encode()
        raw.publish("$file/r/init", meta, qos=1, pid=1)
        self.assertEqual(raw.expect(h.PUBACK).reason, 0)
        raw.publish("$file/r/0", b"01234", qos=1, pid=2)
        self.assertEqual(raw.expect(h.PUBACK).reason, 0)
        raw.publish("$file/r/fin/10", b"", qos=1, pid=3)
        ack = raw.expect(h.PUBACK, timeout=10)
        self.assertEqual((ack.pid, ack.reason), (3, 0x80))
        self.assertEqual(ack.props.get("ReasonString"), "fin: bytes 5-9 of 10 are missing")
        # At QoS 2 the PUBREC says the same, and ends the flow: the packet id is
        # free again for the next command.
        raw.publish("$file/r/fin/10", b"", qos=2, pid=9)
        rec = raw.expect(h.PUBREC, timeout=10)
        self.assertEqual((rec.pid, rec.reason), (9, 0x80))
        raw.publish("$file/r/0", b"01234", qos=2, pid=9)
        self.assertEqual(raw.expect(h.PUBREC).reason, 0)
        raw.pubrel(9)
        self.assertEqual(raw.expect(h.PUBCOMP).reason, 0)
        # Without a response topic the result goes to $file-response/{clientId}.
        raw.subscribe(4, [("$file-response/raw1", 1)])
        raw.publish("$file/r/5", b"56789", qos=1, pid=5)
        # The result and the PUBACK, in either order.
        got = {}
        for _ in range(2):
            p = raw.read_packet(timeout=5)
            got[p.type] = p
        self.assertEqual(got[h.PUBACK].reason, 0)
        result = got[h.PUBLISH]
        self.assertEqual(result.topic, "$file-response/raw1")
        self.assertEqual(json.loads(result.payload)["topic"], "$file/r/5")

    def test_abort_drops_the_transfer_and_async_answers_on_the_response_topic(self):
        node = self.start_broker(extra_toml=file_toml())
        s = self.sender(node, "dev2")
        data = os.urandom(50 * KIB)
        s.expect_ok(s.init("a", data))
        s.expect_ok(s.command("$file/a/0", data))
        s.expect_ok(s.command("$file/a/abort"))
        r = s.fin("a", data)
        self.assertEqual(r["reason_code"], 0x80)
        self.assertIn("with no init", r["reason_description"])
        self.assertIsNone(stored(node, "dev2", "a"))
        # $file-async/: the same commands, the results on the response topic.
        keys = [s.send("$file-async/b/init", json.dumps({"name": "b", "size": len(data)}).encode()),
                s.send("$file-async/b/0", data),
                s.send("$file-async/b/fin/%d/%s" % (len(data), sha(data)))]
        for k in keys:
            s.expect_ok(s.result(k))
        self.assertEqual(sha(stored(node, "dev2", "b")), sha(data))
        self.assertEqual(node.metric("ib_files_transfers_aborted_total"), 1)

    def test_a_client_that_disconnects_mid_transfer_resumes(self):
        node = self.start_broker(extra_toml=file_toml())
        data = os.urandom(1 * MIB)
        first = FileSender(node.port, "mover")
        first.expect_ok(first.init("log", data))
        for r in first.segments("log", data, 128 * KIB, order=[0, 128 * KIB, 256 * KIB]):
            first.expect_ok(r)
        first.c.disconnect()
        first.c.loop_stop()
        again = self.sender(node, "mover")
        # The same init again keeps what arrived; the rest follows.
        again.expect_ok(again.init("log", data))
        rest = list(range(384 * KIB, len(data), 128 * KIB))
        for r in again.segments("log", data, 128 * KIB, order=rest):
            again.expect_ok(r)
        again.expect_ok(again.fin("log", data))
        self.assertEqual(sha(stored(node, "mover", "log")), sha(data))

    def test_an_unfinished_transfer_expires_after_its_segments_ttl(self):
        node = self.start_broker(extra_toml=file_toml())
        s = self.sender(node, "slow")
        data = os.urandom(10 * KIB)
        s.expect_ok(s.init("t", data, segments_ttl=1))
        s.expect_ok(s.command("$file/t/0", data[:KIB]))
        self.assertTrue(h.wait_until(lambda: node.metric("ib_files_transfers_expired_total") == 1, timeout=10))
        r = s.fin("t", data)
        self.assertEqual(r["reason_code"], 0x80)
        self.assertIn("with no init (or expired)", r["reason_description"])
        self.assertEqual(node.metric("ib_files_active_transfers"), 0)

    def test_after_a_kill9_mid_transfer_stored_files_are_whole_and_the_transfer_resumes(self):
        node = self.start_broker(extra_toml=file_toml())
        s = FileSender(node.port, "k9")
        done = os.urandom(1 * MIB)
        s.expect_ok(s.send_file("done", done))
        half = os.urandom(1 * MIB)
        s.expect_ok(s.init("half", half))
        for r in s.segments("half", half, 128 * KIB, order=[0, 128 * KIB]):
            s.expect_ok(r)
        node.kill9()
        s.c.loop_stop()
        node.start()
        self.assertEqual(sha(stored(node, "k9", "done")), sha(done))
        again = self.sender(node, "k9")
        # The partial transfer survived: fin names what is still missing...
        r = again.fin("half", half)
        self.assertEqual(r["reason_code"], 0x80)
        self.assertIn("bytes %d-%d of %d are missing" % (256 * KIB, MIB - 1, MIB), r["reason_description"])
        # ...and the client sends only that.
        again.expect_ok(again.init("half", half))
        for r in again.segments("half", half, 128 * KIB, order=list(range(256 * KIB, MIB, 128 * KIB))):
            again.expect_ok(r)
        again.expect_ok(again.fin("half", half))
        self.assertEqual(sha(stored(node, "k9", "half")), sha(half))

    def test_the_acl_applies_to_file_topics(self):
        acl = """
[[users]]
name = "cam"
password = "campw"
[[users]]
name = "intruder"
password = "intpw"
[[acl]]
permission = "allow"
username = "cam"
topics = ["$file/#", "ft-reply/#"]
[[acl]]
permission = "allow"
all = true
topics = ["ft-reply/#"]
"""
        node = self.start_broker(extra_toml=file_toml(acl_default="deny") + acl, broker={"allow_anonymous": False})
        ok = self.sender(node, "cam-a", username="cam", password="campw")
        ok.expect_ok(ok.send_file("x", b"hello"))
        denied = FileSender(node.port, "int-b", username="intruder", password="intpw")
        self.addCleanup(denied.close)
        key = denied.send("$file/y/init", json.dumps({"name": "y"}).encode())
        with self.assertRaises(AssertionError):
            denied.result(key, timeout=1.0)
        self.assertEqual([f["file_id"] for f in file_list(node)["files"]], ["x"])

    def test_memory_stays_bounded_while_a_20_mb_file_passes(self):
        node = self.start_broker(extra_toml=file_toml())
        s = self.sender(node, "big")
        data = os.urandom(20 * MIB)
        before = rss_kib(node.pid)
        r = s.send_file("big", data, size=256 * KIB)
        s.expect_ok(r)
        peak = rss_kib(node.pid, "VmHWM")
        # The file is never held whole: the peak grows by far less than its size.
        # (Under AddressSanitizer freed segments sit in its quarantine, so RSS
        # says nothing there.)
        if "ASAN_OPTIONS" not in os.environ:
            self.assertLess(peak - before, 8 * 1024, "RSS grew from %d KiB to a peak of %d KiB" % (before, peak))
        self.assertEqual(sha(stored(node, "big", "big")), sha(data))


UPSTREAM_CLIENT = "ironbridge-cloud-files"


@h.ironbridge_only("file transfer is an Ironbridge (and EMQX) feature")
class FileForwardTest(h.IBTestCase):
    """A second Ironbridge is the cloud: the edge's bridge forwards its files."""

    def nodes(self, segment=65536, keep=False):
        up = self.start_broker(extra_toml=file_toml())
        edge = self.start_broker(extra_toml=file_toml() + bridge_toml(
            up.port, forwards=[], bridge_extra='client_id = "ironbridge-cloud"\n'
            "forward_files = true\nfile_segment_bytes = %d\n"
            "keep_forwarded_files = %s" % (segment, "true" if keep else "false")))
        return up, edge

    def wait_upstream(self, up, want, timeout=60):
        """Waits until the upstream stored every file of `want` (edge client,
        file id -> bytes) and checks each one's bytes."""
        ids = {"%s~%s" % k for k in want}
        ok = h.wait_until(lambda: ids <= {f["file_id"] for f in file_list(up, "?limit=1000")["files"]},
                          timeout=timeout, interval=0.1)
        self.assertTrue(ok, "upstream has %r" % file_list(up)["files"])
        for (client, file_id), data in want.items():
            self.assertEqual(sha(stored(up, UPSTREAM_CLIENT, "%s~%s" % (client, file_id))), sha(data))

    def forwarded_bytes(self, edge):
        return edge.metric("ib_bridge_file_bytes_forwarded_total", bridge="cloud") or 0

    def test_finished_files_go_upstream_and_leave_the_edge(self):
        up, edge = self.nodes()
        s = self.sender(edge, "cam1")
        want = {("cam1", "empty"): b"", ("cam1", "one"): b"1", ("cam1", "big"): os.urandom(2 * MIB + 7)}
        for (_, file_id), data in want.items():
            s.expect_ok(s.send_file(file_id, data, size=128 * KIB))
        self.wait_upstream(up, want)
        self.assertTrue(h.wait_until(lambda: file_list(edge)["total"] == 0, timeout=10),
                        "forwarded files stay on the edge")
        byid = {f["file_id"]: f for f in file_list(up)["files"]}
        self.assertEqual(byid["cam1~big"]["name"], "big.bin")
        self.assertEqual(edge.metric("ib_bridge_files_forwarded_total", bridge="cloud"), 3)
        def files_status():
            return json.loads(edge.http_get("/api/v1/bridges/cloud")[2])["files"]
        self.assertTrue(h.wait_until(lambda: files_status()["queued"] == 0), files_status())
        self.assertEqual((files_status()["forwarded"], files_status()["current"]), (3, ""))

    def test_every_acknowledged_file_arrives_through_an_upstream_restart_and_a_kill9(self):
        up, edge = self.nodes(segment=16 * KIB, keep=True)
        s = self.sender(edge, "rec")
        want = {}
        for i in range(3):
            data = os.urandom(6 * MIB)
            s.expect_ok(s.send_file("r%d" % i, data, size=256 * KIB))
            want[("rec", "r%d" % i)] = data
        # The upstream stops mid-forward and comes back.
        self.assertTrue(h.wait_until(lambda: self.forwarded_bytes(edge) > 0, timeout=20, interval=0.01))
        up.stop()
        time.sleep(0.5)
        up.start()
        # The edge is killed mid-forward and started again.
        before = self.forwarded_bytes(edge)
        self.assertTrue(h.wait_until(lambda: self.forwarded_bytes(edge) > before, timeout=20, interval=0.01))
        edge.kill9()
        edge.start()
        self.wait_upstream(up, want)
        # keep_forwarded_files: the edge still has them.
        self.assertEqual(file_list(edge)["total"], 3)

    def test_a_bridge_removed_from_the_configuration_holds_no_file_back(self):
        up = self.start_broker(extra_toml=file_toml())
        up.stop()
        # A second bridge that forwards files to an upstream nobody serves.
        spare = ('[[bridges]]\nname = "spare"\nservers = ["127.0.0.1:%d"]\nreconnect_min_ms = 50\n'
                 'reconnect_max_ms = 400\nforward_files = true\n' % h.free_port())
        cloud = file_toml() + bridge_toml(up.port, forwards=[], bridge_extra='client_id = "ironbridge-cloud"\n'
                                          "forward_files = true\nkeep_forwarded_files = false")
        edge = self.start_broker(extra_toml=cloud + spare)
        s = self.sender(edge, "cam")
        s.expect_ok(s.send_file("f", b"data"))
        # "spare" leaves the configuration while both bridges still hold the file.
        edge.extra_toml = cloud
        edge.restart()
        self.assertTrue(h.wait_until(lambda: "bridge 'spare' no longer forwards files" in edge.log_text()),
                        edge.log_text()[-2000:])
        up.start()
        self.wait_upstream(up, {("cam", "f"): b"data"})
        # Forwarded by the only bridge that still forwards: the file leaves the edge.
        self.assertTrue(h.wait_until(lambda: file_list(edge)["total"] == 0, timeout=10),
                        "a file queued for a removed bridge stays on the edge")
        # "spare" comes back: its queue is resumed (the entry of a file gone
        # meanwhile leaves it when the bridge reads it).
        edge.extra_toml = cloud + spare
        edge.restart()
        self.assertTrue(h.wait_until(lambda: "bridge 'spare' forwards files again" in edge.log_text()),
                        edge.log_text()[-2000:])

    def sender(self, node, client_id, **kw):
        s = FileSender(node.port, client_id, **kw)
        self.addCleanup(s.close)
        return s


if __name__ == "__main__":
    unittest.main()
