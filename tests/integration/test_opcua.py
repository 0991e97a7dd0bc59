"""OPC UA collection, end to end: Ironbridge subscribes to and polls a real OPC
UA server (node-opcua, tests/peers/opcua/server.js, installed by
scripts/install-deps.sh) and the test checks what a user sees on Ironbridge's
MQTT port and REST API: readings on ib/data/{device}/{group}, the state on
ib/status/{device}, write results on ib/write/{device}/result, and the browse
listing. Policy None and anonymous login. Every wait is bounded; no assertion
is on timing.
"""

import json
import os
import select
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

import ibharness as h
from modbus_peers import ModbusCase, Readings, Watch, http_json

PEER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers", "opcua")
NS = "ns=1;"  # the server's own namespace

# (tag name, NodeId, value the server holds at start, value written by the write test)
TYPES = [
    ("boolean", "s=T.Boolean", True, False),
    ("sbyte", "s=T.SByte", -100, 99),
    ("byte", "s=T.Byte", 200, 7),
    ("int16", "s=T.Int16", -30000, 12345),
    ("uint16", "s=T.UInt16", 60000, 1),
    ("int32", "s=T.Int32", -2000000000, 2000000000),
    ("uint32", "s=T.UInt32", 4000000000, 3),
    ("int64", "s=T.Int64", -4294967298, -1234567890123456789),
    ("uint64", "s=T.UInt64", 0xF1E2D3C4B5A69788, 0xF000000000000001),
    ("float", "s=T.Float", 1.5, -2.25),
    ("double", "s=T.Double", 123456.78901234567, -0.125),
    ("string", "s=T.String", "hello", "written"),
    ("datetime", "s=T.DateTime", 1704164645678, 1735689600123),
    ("bytestring", "s=T.ByteString", [1, 2, 254], [9, 8]),
    ("guid", "s=T.Guid", "72962b91-fa75-4ae6-8d28-b404dc7daf63", "00000000-0000-0000-0000-0000000000ff"),
]
ARRAYS = [
    ("double_array", "s=T.DoubleArray", [1.5, -2.25, 3]),
    ("string_array", "s=T.StringArray", ["a", "b"]),
]


def peer_pki():
    # Next to the binary's build tree, shared with the unit tests: the server
    # makes its certificate (an RSA key) on first start only.
    return os.path.join(os.path.dirname(os.path.abspath(h.ironbridge_bin())), "tests", "opcua-peer-pki")


def device_counter(b, name, device):
    """A device's counter from /metrics; 0 while it is not there."""
    return b.metric(name, device=device) or 0


class OpcUaServer:
    """`node server.js <port> <pki>`, waited for until it prints READY; stopped
    (or killed) by its PID; restarted on the same port."""

    def __init__(self, port=0, limit=0):
        self.port = port or h.free_port()
        # With a limit, the server takes at most that many nodes per Read and
        # monitored items per call (OperationLimits): the driver must batch.
        self.env = dict(os.environ, OPCUA_PEER_LIMIT=str(limit)) if limit else None
        self.proc = None
        self.log = tempfile.NamedTemporaryFile(prefix="opcua-peer-", suffix=".log", delete=False)

    def start(self):
        if not os.path.isdir(os.path.join(PEER_DIR, "node_modules", "node-opcua")):
            raise RuntimeError("tests/peers/opcua/node_modules is missing: run scripts/install-deps.sh")
        out = open(self.log.name, "ab")
        self.proc = subprocess.Popen(["node", os.path.join(PEER_DIR, "server.js"), str(self.port), peer_pki()],
                                     stdout=subprocess.PIPE, stderr=out, stdin=subprocess.DEVNULL, env=self.env)
        out.close()
        reader = h.LineReader(self.proc.stdout)
        reader.wait_for(lambda s: s.startswith("READY"), timeout=60)
        return self

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)
        self.proc.stdout.close()
        self.proc = None

    def stop(self):
        p, self.proc = self.proc, None
        if p is not None:
            h.stop_process(p, 5)
            p.stdout.close()

    def endpoint(self):
        return "opc.tcp://127.0.0.1:%d/UA/Ironbridge" % self.port

    def log_text(self):
        with open(self.log.name, "rb") as f:
            return f.read().decode("utf-8", "replace")


def published_tick(chunk):
    """(sequence number, first value) of a PublishResponse chunk on a None
    channel whose notification message carries a DataChangeNotification with
    a UInt32 first value (the Tick); None for any other chunk, a keep-alive,
    or a header this reader does not follow (then it is not dropped)."""
    if len(chunk) < 52 or chunk[:4] != b"MSGF" or chunk[24:28] != b"\x01\x00" + struct.pack("<H", 829):
        return None
    # ResponseHeader: timestamp, handle, result, then no diagnostics, an empty
    # string table and no additional header, as node-opcua sends it.
    if chunk[44] != 0 or struct.unpack_from("<i", chunk, 45)[0] > 0 or chunk[49:52] != b"\x00\x00\x00":
        return None
    try:
        p = 52 + 4  # subscription id
        available = max(0, struct.unpack_from("<i", chunk, p)[0])
        p += 4 + 4 * available + 1  # available sequence numbers, moreNotifications
        sequence, = struct.unpack_from("<I", chunk, p)
        p += 4 + 8  # sequence number, publish time
        if struct.unpack_from("<i", chunk, p)[0] < 1:
            return None  # a keep-alive
        p += 4
        # ExtensionObject DataChangeNotification (i=811), binary body.
        if chunk[p:p + 5] != b"\x01\x00" + struct.pack("<H", 811) + b"\x01":
            return None
        p += 5 + 4
        if struct.unpack_from("<i", chunk, p)[0] < 1:
            return None
        p += 4 + 4  # item count, client handle
        if not chunk[p] & 1 or chunk[p + 1] != 7:  # a value, of type UInt32
            return None
        return sequence, struct.unpack_from("<I", chunk, p + 2)[0]
    except (struct.error, IndexError):
        return None


class TcpRelay:
    """A TCP relay on 127.0.0.1 between Ironbridge and the server: cut() closes
    the connections going through it (the network failing, the server still
    up); new connections go through again at once, or after hold_down()'s
    seconds of refusing them (a longer outage). drop_notification()
    swallows the next PublishResponse that carries a Tick and cuts the
    connection right after, so the client never saw that message. What the
    server sends is forwarded chunk by chunk (UACP frames). One thread,
    stopped by stop()."""

    def __init__(self, target_port):
        self.target = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.pairs = {}  # socket -> its other end
        self.from_server = {}  # server-side socket -> bytes of an incomplete chunk
        self.lock = threading.Lock()
        self.cut_requested = False
        self.drop_armed = False
        self.dropped = None  # (sequence number, tick) of the swallowed message
        self.refuse_until = 0.0  # time.monotonic() before which connections are closed at once
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _close_all(self):
        for sock in self.pairs:
            sock.close()
        self.pairs.clear()
        self.from_server.clear()

    def _server_chunks(self, sock, data):
        """Complete chunks from the server, in order, to forward; None when a
        chunk was dropped (the connection is then cut)."""
        buf = self.from_server[sock] + data
        out = []
        while len(buf) >= 8:
            size = struct.unpack_from("<I", buf, 4)[0]
            if len(buf) < size:
                break
            chunk, buf = buf[:size], buf[size:]
            if self.drop_armed:
                tick = published_tick(chunk)
                if tick is not None:
                    self.dropped, self.drop_armed = tick, False
                    return out, True
            out.append(chunk)
        self.from_server[sock] = buf
        return out, False

    def _run(self):
        while self.running:
            with self.lock:
                if self.cut_requested:
                    self._close_all()
                    self.cut_requested = False
                watched = [self.listener] + list(self.pairs)
            ready, _, _ = select.select(watched, [], [], 0.05)
            for sock in ready:
                if sock is self.listener:
                    client, _ = self.listener.accept()
                    if time.monotonic() < self.refuse_until:
                        client.close()
                        continue
                    server = socket.create_connection(("127.0.0.1", self.target), timeout=5)
                    with self.lock:
                        self.pairs[client], self.pairs[server] = server, client
                        self.from_server[server] = b""
                    continue
                other = self.pairs.get(sock)
                if other is None:
                    continue
                cut = False
                try:
                    data = sock.recv(65536)
                    if data and sock in self.from_server:
                        with self.lock:
                            chunks, cut = self._server_chunks(sock, data)
                        for chunk in chunks:
                            other.sendall(chunk)
                    elif data:
                        other.sendall(data)
                except OSError:
                    data = b""
                if not data or cut:
                    with self.lock:
                        for s in (sock, other):
                            s.close()
                            self.pairs.pop(s, None)
                            self.from_server.pop(s, None)

    def cut(self):
        with self.lock:
            self.cut_requested = True
        h.wait_until(lambda: not self.cut_requested, 5)

    def hold_down(self, seconds):
        """Cuts, then refuses new connections for `seconds`."""
        self.refuse_until = time.monotonic() + seconds
        self.cut()

    def drop_notification(self, timeout=10):
        """Swallows the next PublishResponse with a Tick and cuts; returns its
        (sequence number, tick)."""
        with self.lock:
            self.dropped, self.drop_armed = None, True
        if not h.wait_until(lambda: self.dropped is not None, timeout):
            raise AssertionError("no PublishResponse with a Tick passed the relay within %d s" % timeout)
        return self.dropped

    def stop(self):
        self.running = False
        self.thread.join(5)
        for sock in list(self.pairs) + [self.listener]:
            sock.close()


def ua_device(server, groups, name="ua"):
    return {"name": name, "driver": "opcua", "endpoint": server.endpoint(), "security_policy": "None",
            "timeout_ms": 2000, "reconnect_min_ms": 200, "reconnect_max_ms": 1000, "groups": groups}


def ua_tag(name, node, **keys):
    return dict({"name": name, "address": NS + node}, **keys)


class OpcUaCase(ModbusCase):
    """Ironbridge with no device at start; the test subscribes to the readings
    first, then creates the device through the API, so it sees the first
    notification of every subscribed tag."""

    def node_with(self, device):
        b = self.start_broker()
        r = Readings(self, b, device["name"])
        status = Watch(self, b, "ib/status/%s" % device["name"])
        code, body = http_json(b, "POST", "/api/v1/devices", device)
        self.assertEqual(code, 201, body)
        return b, r, status

    def node_watching(self, tag, address):
        """A node with one device, "watch", that polls a node of the shared
        server's own diagnostics (straight, over None) every 100 ms as `tag`."""
        return self.node_with({"name": "watch", "driver": "opcua", "endpoint": self.server.endpoint(),
                               "security_policy": "None",
                               "groups": [{"name": "g", "mode": "poll", "interval_ms": 100,
                                           "tags": [{"name": tag, "address": address}]}]})

    def gather(self, readings, group, want_values, want_errors=(), timeout=20.0):
        """Values and errors of `group`'s readings, merged, until every tag of
        `want_values` has a value and every tag of `want_errors` an error."""
        values, errors, quality = {}, {}, {}
        deadline = time.monotonic() + timeout
        while not (set(want_values) <= set(values) and set(want_errors) <= set(errors)):
            left = deadline - time.monotonic()
            self.assertGreater(left, 0, "missing values %s, errors %s; got %r %r" % (
                sorted(set(want_values) - set(values)), sorted(set(want_errors) - set(errors)), values, errors))
            d = readings.next(lambda d: d.get("group") == group, left, "a reading of %s" % group)
            values.update(d.get("values") or {})
            errors.update(d.get("errors") or {})
            quality.update(d.get("quality") or {})
        return values, errors, quality


class SharedServerTest(OpcUaCase):
    """One node-opcua server for these tests; they run in name order, and the
    write test puts back every value it changed. The server reads at most 5
    nodes per Read and creates 5 monitored items per call, so every group,
    write and browse here goes in batches."""

    @classmethod
    def setUpClass(cls):
        cls.server = OpcUaServer(limit=5).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_a_every_type_arrives_subscribed_and_polled(self):
        tags = [ua_tag(n, node) for n, node, _, _ in TYPES] + [ua_tag(n, node) for n, node, _ in ARRAYS]
        tags += [ua_tag("tick", "s=Line1.Tick"), ua_tag("missing", "s=No.Such.Node"),
                 ua_tag("uncertain", "s=T.Uncertain"), ua_tag("siemens", 's="DB_Line"."Speed"')]
        polled = [dict(t, name="p_" + t["name"]) for t in tags]
        b, r, _ = self.node_with(ua_device(self.server, [
            {"name": "sub", "interval_ms": 100, "tags": tags},
            {"name": "poll", "mode": "poll", "interval_ms": 200, "tags": polled},
        ]))
        expected = {n: v for n, _, v, _ in TYPES}
        expected.update({n: v for n, _, v in ARRAYS})
        expected.update({"uncertain": 3.5, "siemens": 1.5})
        for group, prefix in (("sub", ""), ("poll", "p_")):
            want = {prefix + n: v for n, v in expected.items()}
            values, errors, quality = self.gather(r, group, list(want) + [prefix + "tick"], [prefix + "missing"])
            for n, v in want.items():
                with self.subTest(group=group, tag=n):
                    self.assertEqual(values[n], v)
            with self.subTest(group=group, tag="missing"):
                self.assertEqual(errors[prefix + "missing"]["code"], 1008)
                self.assertIn("BadNodeIdUnknown", errors[prefix + "missing"]["error"])
            with self.subTest(group=group, tag="uncertain"):
                self.assertEqual(quality.get(prefix + "uncertain"), "UncertainLastUsableValue")
        # The node that changes every 100 ms keeps arriving through the subscription.
        first = r.next(lambda d: d["group"] == "sub" and "tick" in d.get("values", {}))["values"]["tick"]
        r.next(lambda d: d["group"] == "sub" and d.get("values", {}).get("tick", first) != first,
               what="a changed tick")

    def test_b_writes_are_read_back_and_refusals_are_per_tag(self):
        tags = [ua_tag(n, node, access="rw") for n, node, _, _ in TYPES]
        tags += [ua_tag("readonly", "s=T.ReadOnly", access="rw")]
        b, r, _ = self.node_with(ua_device(self.server, [{"name": "sub", "interval_ms": 100, "tags": tags}]))
        self.gather(r, "sub", [n for n, _, _, _ in TYPES])
        results = Watch(self, b, "ib/write/ua/result")
        pub = self.paho(b, h.unique("writer"), protocol=h.V311)

        def write_mqtt(request_id, values):
            pub.publish("ib/write/ua", json.dumps({"id": request_id, "values": values}), qos=1)
            return results.next(lambda d: d.get("id") == request_id, 10, "the result of %s" % request_id)

        half = len(TYPES) // 2
        res = write_mqtt("w1", {n: w for n, _, _, w in TYPES[:half]})
        self.assertTrue(res["ok"], res)
        # The other half through the REST API.
        code, res = http_json(b, "POST", "/api/v1/devices/ua/write",
                              {"id": "w2", "values": {n: w for n, _, _, w in TYPES[half:]}})
        self.assertEqual(code, 200, res)
        self.assertTrue(res["ok"], res)
        try:
            values, _, _ = self.gather(r, "sub", [n for n, _, _, _ in TYPES])
            want = {n: w for n, _, _, w in TYPES}
            deadline = time.monotonic() + 10
            while any(values.get(n) != w for n, w in want.items()) and time.monotonic() < deadline:
                d = r.next(lambda d: d.get("group") == "sub", max(0.1, deadline - time.monotonic()))
                values.update(d.get("values") or {})
            for n, w in want.items():
                with self.subTest(tag=n):
                    self.assertEqual(values.get(n), w)

            res = write_mqtt("w3", {"readonly": 1.0, "double": "not a number", "byte": 300})
            self.assertFalse(res["ok"], res)
            per_tag = res["results"]
            self.assertIn("BadNotWritable", per_tag["readonly"]["error"], res)
            self.assertIn("BadTypeMismatch", per_tag["double"]["error"], res)
            self.assertIn("BadTypeMismatch", per_tag["byte"]["error"], res)
        finally:
            res = write_mqtt("restore", {n: v for n, _, v, _ in TYPES})
            self.assertTrue(res["ok"], res)

    def test_c_browse_lists_the_objects_folder_and_a_folder_s_variables(self):
        b, _, status = self.node_with(ua_device(self.server, [
            {"name": "g", "interval_ms": 500, "tags": [ua_tag("tick", "s=Line1.Tick")]}]))
        status.next(lambda d: d.get("state") == "connected", 15, "connected")
        code, children = http_json(b, "GET", "/api/v1/devices/ua/browse?node=ns%3D0%3Bi%3D85")
        self.assertEqual(code, 200, children)
        by_name = {c["browse_name"]: c for c in children}
        for name in ("Server", "1:Line1", "1:Types"):
            self.assertIn(name, by_name, children)
        self.assertEqual(by_name["Server"]["node_id"], "i=2253")
        self.assertEqual(by_name["1:Types"]["node_class"], "Object")
        code, variables = http_json(b, "GET", "/api/v1/devices/ua/browse?node=" + by_name["1:Types"]["node_id"])
        self.assertEqual(code, 200, variables)
        by_id = {v["node_id"]: v for v in variables}
        self.assertEqual(by_id["ns=1;s=T.Double"]["data_type"], "Double", variables)
        self.assertEqual(by_id["ns=1;s=T.Double"]["access_level"], "rw")
        self.assertEqual(by_id["ns=1;s=T.ReadOnly"]["access_level"], "read")
        self.assertEqual(by_id["ns=1;s=T.Double"]["display_name"], "Double")
        code, body = http_json(b, "GET", "/api/v1/devices/ua/browse?node=ns%3D1%3Bs%3DNo.Such.Node")
        self.assertEqual(code, 404, body)
        self.assertIn("BadNodeIdUnknown", body["error"])


    def test_d_a_deleted_device_closes_its_session(self):
        # A second device watches the server's own count of sessions (i=2277,
        # ServerDiagnosticsSummary.CurrentSessionCount).
        b, r, status = self.node_watching("sessions", "i=2277")
        # The count before, then one that includes ua's session: the next
        # reading in the queue may have been polled before ua connected.
        without_ua = r.next(lambda d: "sessions" in d.get("values", {}), 15)["values"]["sessions"]
        ua = ua_device(self.server, [{"name": "g", "interval_ms": 500, "tags": [ua_tag("tick", "s=Line1.Tick")]}])
        ua_status = Watch(self, b, "ib/status/ua")
        code, body = http_json(b, "POST", "/api/v1/devices", ua)
        self.assertEqual(code, 201, body)
        ua_status.next(lambda d: d.get("state") == "connected", 15, "ua connected")
        with_ua = r.next(lambda d: d.get("values", {}).get("sessions", without_ua) > without_ua, 15,
                         "ua's session counted")["values"]["sessions"]
        code, body = http_json(b, "DELETE", "/api/v1/devices/ua")
        self.assertEqual(code, 200, body)
        # Well before the session's 60 s timeout would end it.
        r.next(lambda d: d.get("values", {}).get("sessions", with_ua) < with_ua, 10, "one session fewer")


    def test_e_a_namespace_given_by_uri_is_resolved(self):
        # The server's NamespaceArray (i=2255) read as a tag: an array of strings.
        b, r, _ = self.node_with(ua_device(self.server, [
            {"name": "g", "mode": "poll", "interval_ms": 200, "tags": [{"name": "ns", "address": "i=2255"}]}]))
        namespaces = r.next(lambda d: "ns" in d.get("values", {}))["values"]["ns"]
        self.assertEqual(namespaces[0], "http://opcfoundation.org/UA/")
        own = namespaces[1].replace("%", "%25").replace(";", "%3B")
        uri = Readings(self, b, "byuri")
        code, body = http_json(b, "POST", "/api/v1/devices", ua_device(self.server, [
            {"name": "g", "interval_ms": 200, "tags": [{"name": "temp", "address": "nsu=%s;s=Line1.Temp" % own},
                                                       {"name": "nope", "address": "nsu=urn:nobody;s=Line1.Temp"}]}],
            name="byuri"))
        self.assertEqual(code, 201, body)
        values, errors, _ = self.gather(uri, "g", ["temp"], ["nope"])
        self.assertEqual(values["temp"], 21.5)
        self.assertIn("BadNodeIdUnknown", errors["nope"]["error"])

    def test_f_tags_by_browse_path_are_followed_from_the_objects_folder(self):
        # Six paths: two batches of TranslateBrowsePathsToNodeIds (the server's limit is 5).
        tags = [{"name": "temp", "address": "/1:Line1/1:Temp"}, {"name": "tick", "address": "/1:Line1.1:Tick"},
                {"name": "state", "address": "/1:Line1/1:State"}, {"name": "running", "address": "/1:Line1/1:Running"},
                {"name": "big", "address": "/1:Line1/1:Big"}, {"name": "nope", "address": "/1:Line1/1:Nope"}]
        b, r, _ = self.node_with(ua_device(self.server, [
            {"name": "sub", "interval_ms": 200, "tags": tags[:2]},
            {"name": "poll", "mode": "poll", "interval_ms": 200, "tags": tags[2:]}]))
        values, _, _ = self.gather(r, "sub", ["temp", "tick"])
        self.assertEqual(values["temp"], 21.5)
        values, errors, _ = self.gather(r, "poll", ["state", "running", "big"], ["nope"])
        self.assertEqual(values["state"], "running")
        self.assertIs(values["running"], True)
        self.assertIn("BadNoMatch", errors["nope"]["error"])


class ServerFailureTest(OpcUaCase):
    """One server that first stops answering, then is killed and restarted."""

    def test_a_silent_then_killed_server_stalls_nothing_else_and_comes_back_by_itself(self):
        server = OpcUaServer()
        server.start()
        self.addCleanup(server.stop)
        device = ua_device(server, [
            {"name": "sub", "interval_ms": 100, "tags": [ua_tag("tick", "s=Line1.Tick")]},
            {"name": "poll", "mode": "poll", "interval_ms": 200, "tags": [ua_tag("temp", "s=Line1.Temp")]},
        ])
        device["timeout_ms"] = 1000
        b, r, status = self.node_with(device)
        sim = Readings(self, b, "oven")
        code, body = http_json(b, "POST", "/api/v1/devices", {
            "name": "oven", "driver": "sim",
            "groups": [{"name": "g", "interval_ms": 100, "tags": [{"name": "n", "address": "counter"}]}]})
        self.assertEqual(code, 201, body)
        status.next(lambda d: d.get("state") == "connected", 15, "connected")
        r.next(lambda d: d["group"] == "sub" and "tick" in d.get("values", {}), what="a tick")

        # SIGSTOP: the server's socket stays open and the kernel still accepts
        # connections, but nothing answers (a hung PLC).
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            sim.drain()
            down = status.next(lambda d: d.get("state") == "reconnecting", 30, "reconnecting")
            self.assertTrue(down.get("error"), down)
            # The other device went on meanwhile.
            self.assertGreater(len(sim.drain()), 5)
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        status.next(lambda d: d.get("state") == "connected", 30, "connected after SIGCONT")
        r.next(lambda d: d["group"] == "sub" and "tick" in d.get("values", {}), 20, "a tick after SIGCONT")

        # Killed mid-stream, then restarted on the same port.
        server.kill9()
        down = status.next(lambda d: d.get("state") == "reconnecting", 15, "reconnecting")
        self.assertTrue(down.get("error"), down)
        # The subscribed tag says at once that it stopped.
        r.next(lambda d: d["group"] == "sub" and d.get("errors", {}).get("tick", {}).get("code") == 1001,
               what="tick disconnected")
        server.start()
        status.next(lambda d: d.get("state") == "connected", 20, "connected after the restart")
        r.next(lambda d: d["group"] == "sub" and "tick" in d.get("values", {}), 20, "a tick after the restart")
        r.next(lambda d: d["group"] == "poll" and d.get("values", {}).get("temp") == 21.5, 20,
               "a polled value after the restart")


class LinkResilienceTest(OpcUaCase):
    """One server: the connection to it breaks while it stays up (the device
    takes its session over on a new connection, no new session, and with it the
    subscription); then it announces a shutdown (the device leaves at once)."""

    @classmethod
    def setUpClass(cls):
        cls.server = OpcUaServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_a_cut_connection_comes_back_with_the_same_session(self):
        server = self.server
        relay = TcpRelay(server.port)
        self.addCleanup(relay.stop)
        # A second device, straight to the server, watches its count of
        # sessions (i=2277, ServerDiagnosticsSummary.CurrentSessionCount).
        b, sessions, _ = self.node_watching("sessions", "i=2277")
        device = ua_device(server, [{"name": "sub", "interval_ms": 100, "tags": [ua_tag("tick", "s=Line1.Tick"),
                                                                                 ua_tag("temp", "s=Line1.Temp")]}])
        device["endpoint"] = "opc.tcp://127.0.0.1:%d/UA/Ironbridge" % relay.port
        r = Readings(self, b, "ua")
        status = Watch(self, b, "ib/status/ua")
        code, body = http_json(b, "POST", "/api/v1/devices", device)
        self.assertEqual(code, 201, body)
        status.next(lambda d: d.get("state") == "connected", 15, "connected")
        r.next(lambda d: "tick" in d.get("values", {}), what="a tick")
        sessions.drain()
        before = sessions.next(lambda d: "sessions" in d.get("values", {}))["values"]["sessions"]

        for n in range(2):
            relay.cut()
            status.next(lambda d: d.get("state") == "reconnecting", 15, "reconnecting after cut %d" % n)
            status.next(lambda d: d.get("state") == "connected", 15, "connected after cut %d" % n)
            r.drain()
            # The tag that did not change is shown again, and changes flow.
            r.next(lambda d: d.get("values", {}).get("temp") == 21.5, 10, "temp after cut %d" % n)
            r.next(lambda d: "tick" in d.get("values", {}), 10, "a tick after cut %d" % n)
        # A new session would count one more: the old one lives until its timeout.
        sessions.drain()
        after = sessions.next(lambda d: "sessions" in d.get("values", {}))["values"]["sessions"]
        self.assertEqual(after, before)

    def test_c_a_notification_lost_with_the_connection_is_asked_for_again(self):
        server = self.server
        relay = TcpRelay(server.port)
        self.addCleanup(relay.stop)
        device = ua_device(server, [{"name": "sub", "interval_ms": 100, "tags": [ua_tag("tick", "s=Line1.Tick")]}],
                           name="gap")
        device["endpoint"] = "opc.tcp://127.0.0.1:%d/UA/Ironbridge" % relay.port
        b, r, status = self.node_with(device)
        status.next(lambda d: d.get("state") == "connected", 15, "connected")
        r.next(lambda d: "tick" in d.get("values", {}), what="a tick")
        # The server sent the message; the client never got it: the connection
        # broke right there. The session lives on, and with it the message in
        # the server's retransmission queue, until it is acknowledged.
        _, lost_tick = relay.drop_notification()
        status.next(lambda d: d.get("state") == "reconnecting", 15, "reconnecting after the lost message")
        status.next(lambda d: d.get("state") == "connected", 15, "connected again")
        r.next(lambda d: d.get("values", {}).get("tick") == lost_tick, 15, "the lost tick %d" % lost_tick)

        self.assertTrue(h.wait_until(lambda: device_counter(b, "ib_device_republishes_total", "gap") >= 1, 10),
                        "ib_device_republishes_total{device=\"gap\"} stayed 0")

    def test_d_subscriptions_outlive_a_timed_out_session_and_move_to_the_new_one(self):
        server = self.server
        relay = TcpRelay(server.port)
        self.addCleanup(relay.stop)
        # The server's count of subscriptions ever made (i=2286,
        # ServerDiagnosticsSummary.CumulatedSubscriptionCount), read directly.
        b, made, _ = self.node_watching("made", "i=2286")
        # node-opcua moves subscriptions between sessions of one user name (an
        # anonymous one only on a secured channel); the password is encrypted
        # with the server's key, whose certificate is trusted on first use.
        device = ua_device(server, [{"name": "sub", "interval_ms": 100, "tags": [ua_tag("tick", "s=Line1.Tick")]}],
                           name="moved")
        device.update({"endpoint": "opc.tcp://127.0.0.1:%d/UA/Ironbridge" % relay.port, "username": "operator",
                       "password": "s3cret", "trust_on_first_use": True,
                       "session_timeout_ms": 2000})
        r = Readings(self, b, "moved")
        status = Watch(self, b, "ib/status/moved")
        code, body = http_json(b, "POST", "/api/v1/devices", device)
        self.assertEqual(code, 201, body)
        status.next(lambda d: d.get("state") == "connected", 15, "connected")
        r.next(lambda d: "tick" in d.get("values", {}), what="a tick")
        made.drain()
        before = made.next(lambda d: "made" in d.get("values", {}))["values"]["made"]

        # Down for longer than the session's timeout: the server closes the
        # session, and its subscription waits for a new owner.
        relay.hold_down(5)
        status.next(lambda d: d.get("state") == "reconnecting", 15, "reconnecting")
        status.next(lambda d: d.get("state") == "connected", 20, "connected after the outage")
        r.drain()
        r.next(lambda d: "tick" in d.get("values", {}), 10, "a tick after the outage")
        made.drain()
        after = made.next(lambda d: "made" in d.get("values", {}))["values"]["made"]
        self.assertEqual(after, before, "the subscription was made anew instead of moved")

        self.assertTrue(h.wait_until(lambda: device_counter(b, "ib_device_subscription_transfers_total", "moved") >= 1, 10),
                        "ib_device_subscription_transfers_total stayed 0")

    def test_b_a_server_that_announces_its_shutdown_is_left_before_it_goes(self):
        server = self.server
        b, r, status = self.node_with(ua_device(server, [
            {"name": "poll", "mode": "poll", "interval_ms": 200, "tags": [ua_tag("temp", "s=Line1.Temp")]}]))
        status.next(lambda d: d.get("state") == "connected", 15, "connected")
        # SIGUSR2: the server says Shutdown (ServerStatus.State) and goes on serving.
        os.kill(server.proc.pid, signal.SIGUSR2)
        down = status.next(lambda d: d.get("state") == "reconnecting", 15, "reconnecting on the announced shutdown")
        self.assertIn("shutting down", down.get("error", ""))
        os.kill(server.proc.pid, signal.SIGUSR2)  # Running again
        status.next(lambda d: d.get("state") == "connected", 15, "connected once it runs again")
        r.drain()
        r.next(lambda d: d.get("values", {}).get("temp") == 21.5, 10, "a value once it runs again")


class SettingsTest(OpcUaCase):

    def test_bad_settings_are_refused_with_the_key(self):
        b = self.start_broker()
        cases = [
            ({"endpoint": "http://x"}, "endpoint: \"http://x\" is not of the form opc.tcp://host:port/path"),
            ({"endpoint": "opc.tcp://h:4840", "security_policy": "Basic128"}, "security_policy: \"Basic128\" is not one of"),
            ({"endpoint": "opc.tcp://h:4840", "security_mode": "Encrypt"}, "security_mode: \"Encrypt\" is not one of"),
            ({"endpoint": "opc.tcp://h:4840", "username": "u"}, "username and password go together"),
            ({}, "endpoint: is required for driver opcua"),
        ]
        for keys, message in cases:
            with self.subTest(keys=keys):
                code, body = http_json(b, "POST", "/api/v1/devices", dict({"name": "x", "driver": "opcua"}, **keys))
                self.assertEqual(code, 400, body)
                self.assertIn(message, body["error"])
        code, body = http_json(b, "POST", "/api/v1/devices", {
            "name": "x", "driver": "opcua", "endpoint": "opc.tcp://h:4840",
            "groups": [{"name": "g", "tags": [{"name": "t", "address": "ns=1;x=bad"}]}]})
        self.assertEqual(code, 400, body)
        self.assertIn("address: not a NodeId", body["error"])
        code, body = http_json(b, "POST", "/api/v1/devices", {
            "name": "x", "driver": "opcua", "endpoint": "opc.tcp://h:4840",
            "groups": [{"name": "g", "tags": [{"name": "t", "address": "/1:Line1//1:Temp"}]}]})
        self.assertEqual(code, 400, body)
        self.assertIn("address: not a browse path", body["error"])
        code, body = http_json(b, "POST", "/api/v1/devices", {
            "name": "m", "driver": "modbus-tcp", "groups": [{"name": "g", "mode": "subscribe", "tags": []}]})
        self.assertEqual(code, 400, body)
        self.assertIn("mode: subscribe needs driver opcua", body["error"])


if __name__ == "__main__":
    unittest.main()
