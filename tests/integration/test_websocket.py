"""MQTT over WebSocket and secure WebSocket: paho's websockets transport (3.1.1
and 5.0, QoS 1 both ways, a large message), next to a plain TCP listener, and a
raw WebSocket client for what paho never sends: packets split across frames and
fragments, several packets in one frame, ping, close, bad frames, bad upgrades."""

import base64
import hashlib
import os
import queue
import socket
import ssl
import struct
import threading
import time
import unittest

import paho.mqtt.client as mqtt

import ibharness as h
from tls_certs import standard

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# How long to wait for what must come: a bound, not an expectation. A loaded
# machine running the sanitizer build takes many times the usual second.
WAIT_S = 20.0


class WsPaho:
    """A paho client over WebSocket with a background loop."""

    def __init__(self, testcase, port, client_id, protocol, path="/mqtt", cafile=None):
        self.messages = queue.Queue()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.rc = None
        if protocol == h.V5:
            self.c = mqtt.Client(client_id=client_id, protocol=protocol, transport="websockets")
        else:
            self.c = mqtt.Client(client_id=client_id, clean_session=True, protocol=protocol,
                                 transport="websockets")
        self.c.ws_set_options(path=path)
        # paho 1.6 has no setter; the socket keeps this timeout through its TLS
        # and WebSocket handshakes, which its default of 5 s cuts short under load.
        self.c._connect_timeout = WAIT_S
        if cafile:
            self.c.tls_set(ca_certs=cafile)
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda c, u, m: self.messages.put(m)
        self.c.on_subscribe = lambda *a: self.subscribed.set()
        testcase.addCleanup(self.close)
        self.started = False
        self.c.connect(h.HOST, port, keepalive=30)
        self.c.loop_start()
        self.started = True

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        self.rc = rc
        self.connected.set()

    def close(self):
        if self.started:
            self.started = False
            try:
                self.c.disconnect()
            finally:
                self.c.loop_stop()


class RawWs:
    """A WebSocket client written from RFC 6455, masking its frames."""

    def __init__(self, port, path="/mqtt", protocol="mqtt", extra_headers="", cafile=None):
        self.sock = socket.create_connection((h.HOST, port), timeout=WAIT_S)
        if cafile:
            self.sock = ssl.create_default_context(cafile=cafile).wrap_socket(self.sock, server_hostname=h.HOST)
        self.key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n" % (path, self.key))
        if protocol:
            req += "Sec-WebSocket-Protocol: %s\r\n" % protocol
        self.sock.sendall((req + extra_headers + "\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.stream = b""  # MQTT bytes from binary frames

    def close(self):
        self.sock.close()

    def frame(self, opcode, payload, fin=True, masked=True):
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        m = 0x80 if masked else 0
        if n < 126:
            hdr = struct.pack("!BB", b0, m | n)
        elif n <= 0xFFFF:
            hdr = struct.pack("!BBH", b0, m | 126, n)
        else:
            hdr = struct.pack("!BBQ", b0, m | 127, n)
        if not masked:
            return hdr + payload
        key = os.urandom(4)
        return hdr + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = self.sock.recv(65536)
        if not chunk:
            raise h.ConnectionClosed()
        self.buf += chunk

    def read_frame(self, timeout=WAIT_S):
        """(opcode, fin, payload) of the next server frame."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 2:
                b0, b1 = self.buf[0], self.buf[1]
                assert not b1 & 0x80, "a server frame must not be masked"
                n, pos = b1 & 0x7F, 2
                if n == 126 and len(self.buf) >= 4:
                    n, pos = struct.unpack("!H", self.buf[2:4])[0], 4
                elif n == 127 and len(self.buf) >= 10:
                    n, pos = struct.unpack("!Q", self.buf[2:10])[0], 10
                if (b1 & 0x7F) < 126 or pos > 2:
                    if len(self.buf) >= pos + n:
                        payload = self.buf[pos:pos + n]
                        self.buf = self.buf[pos + n:]
                        return b0 & 0x0F, bool(b0 & 0x80), payload
            self._fill(deadline)

    def read_packet(self, timeout=WAIT_S):
        """The next MQTT packet (type, body) from the binary frames."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                length, pos = h.dec_varint(self.stream, 1)
            except ValueError:  # the length is not complete yet
                length, pos = None, 0
            if length is not None and len(self.stream) >= pos + length:
                ptype, body = self.stream[0] >> 4, self.stream[pos:pos + length]
                self.stream = self.stream[pos + length:]
                return ptype, body
            op, fin, payload = self.read_frame(max(0.01, deadline - time.monotonic()))
            if op in (0x0, 0x2):
                self.stream += payload
            elif op == 0x8:
                raise h.ConnectionClosed()

    def closed_by_server(self, timeout=WAIT_S):
        """Reads until EOF; returns True if the server closed the connection."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self._fill(deadline)
        except (h.ConnectionClosed, ConnectionError):
            return True
        except socket.timeout:
            return False
        return False


def connect_packet(client_id, version=4, keepalive=60):
    body = h.enc_str("MQTT") + bytes([version, 0x02]) + struct.pack("!H", keepalive)
    if version == 5:
        body += b"\x00"
    return h.packet(1, 0, body + h.enc_str(client_id))


def publish_packet(topic, payload, qos=0, pid=1):
    body = h.enc_str(topic) + (struct.pack("!H", pid) if qos else b"") + payload
    return h.packet(3, qos << 1, body)


def subscribe_packet(pid, topic, qos):
    return h.packet(8, 2, struct.pack("!H", pid) + h.enc_str(topic) + bytes([qos]))


@h.ironbridge_only("WebSocket listeners are configured in Ironbridge's TOML")
class WebSocketTest(h.IBTestCase):
    def setUp(self):
        self.certs = standard(self)
        self.ws_port = h.free_port()
        self.wss_port = h.free_port()
        extra = """
[[broker.listeners]]
name = "ws"
bind = "127.0.0.1"
port = %d
transport = "ws"

[[broker.listeners]]
name = "wss"
bind = "127.0.0.1"
port = %d
transport = "wss"
tls_cert = "%s"
tls_key = "%s"
""" % (self.ws_port, self.wss_port, self.certs.path("server.crt"), self.certs.path("server.key"))
        # Two loops at least, so connections move between shards after CONNECT.
        self.b = self.start_broker(extra_toml=extra, broker={"threads": 2})

    def raw(self, **kw):
        r = RawWs(self.ws_port, **kw)
        self.addCleanup(r.close)
        return r

    def ws_client(self, client_id, protocol, secure=False, **kw):
        port = self.wss_port if secure else self.ws_port
        c = WsPaho(self, port, client_id, protocol, cafile=self.certs.path("ca.crt") if secure else None, **kw)
        self.assertTrue(c.connected.wait(WAIT_S), "no CONNACK over WebSocket")
        self.assertEqual(c.rc, 0)
        return c

    def qos1_round_trip(self, protocol, secure):
        tag = "%s-%s" % ("wss" if secure else "ws", protocol)
        sub = self.ws_client("sub-" + tag, protocol, secure)
        sub.c.subscribe("ws/" + tag, qos=1)
        self.assertTrue(sub.subscribed.wait(WAIT_S))
        pub = self.ws_client("pub-" + tag, protocol, secure)
        info = pub.c.publish("ws/" + tag, b"over websocket", qos=1)
        info.wait_for_publish(WAIT_S)
        self.assertTrue(info.is_published(), "no PUBACK over WebSocket")
        m = sub.messages.get(timeout=WAIT_S)
        self.assertEqual((m.topic, m.payload, m.qos), ("ws/" + tag, b"over websocket", 1))

    def test_qos1_round_trip_ws_311(self):
        self.qos1_round_trip(h.V311, False)

    def test_qos1_round_trip_ws_5(self):
        self.qos1_round_trip(h.V5, False)

    def test_qos1_round_trip_wss_311(self):
        self.qos1_round_trip(h.V311, True)

    def test_qos1_round_trip_wss_5(self):
        self.qos1_round_trip(h.V5, True)

    def test_large_message_and_tcp_to_websocket(self):
        sub = self.ws_client("big-sub", h.V5, secure=True)
        sub.c.subscribe("ws/big", qos=1)
        self.assertTrue(sub.subscribed.wait(WAIT_S))
        payload = bytes(range(256)) * 1200  # 300 KiB: many TLS records, a 64-bit WS length
        big = os.path.join(self.certs.dir, "big.bin")
        with open(big, "wb") as f:
            f.write(payload)
        r = self.run_proc(["mosquitto_pub", "-h", h.HOST, "-p", str(self.b.port), "-t", "ws/big", "-q", "1",
                           "-f", big])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        m = sub.messages.get(timeout=WAIT_S)
        self.assertEqual(m.payload, payload)
        # And back from a WebSocket publisher.
        pub = self.ws_client("big-pub", h.V311)
        pub.c.publish("ws/big", payload[::-1], qos=1).wait_for_publish(WAIT_S)
        self.assertEqual(sub.messages.get(timeout=WAIT_S).payload, payload[::-1])

    def test_packets_span_frames_and_fragments(self):
        ws = self.raw()
        self.assertEqual(ws.status, 101)
        self.assertEqual(ws.headers.get("sec-websocket-protocol"), "mqtt")
        accept = base64.b64encode(hashlib.sha1((ws.key + WS_GUID).encode()).digest()).decode()
        self.assertEqual(ws.headers.get("sec-websocket-accept"), accept)
        # CONNECT in a fragmented message of three frames, a ping in between.
        c = connect_packet("raw-ws")
        ws.send(ws.frame(0x2, c[:3], fin=False) + ws.frame(0x9, b"are you there")
                + ws.frame(0x0, c[3:7], fin=False) + ws.frame(0x0, c[7:], fin=True))
        self.assertEqual(ws.read_frame()[::2], (0xA, b"are you there"))
        self.assertEqual(ws.read_packet()[0], 2)  # CONNACK
        # SUBSCRIBE and the start of a PUBLISH in one frame, the rest of it in the next.
        body = os.urandom(100000)
        pub = publish_packet("raw/t", body, qos=1, pid=7)
        ws.send(ws.frame(0x2, subscribe_packet(1, "raw/#", 1) + pub[:1000]))
        ws.send(ws.frame(0x2, pub[1000:50000]) + ws.frame(0x2, pub[50000:]))
        got = {}
        deadline = time.monotonic() + WAIT_S
        while len(got) < 3 and time.monotonic() < deadline:
            ptype, pbody = ws.read_packet()
            got[ptype] = pbody
        self.assertIn(9, got, "no SUBACK")
        self.assertEqual(got.get(4), b"\x00\x07", "no PUBACK for packet 7")
        self.assertIn(3, got, "the message did not come back")
        self.assertTrue(got[3].endswith(body))
        # A close is answered with a close carrying the same status, then EOF.
        ws.send(ws.frame(0x8, struct.pack("!H", 1000)))
        op, _, payload = ws.read_frame()
        self.assertEqual((op, payload), (0x8, struct.pack("!H", 1000)))
        self.assertTrue(ws.closed_by_server())

    def test_bytes_behind_connect_move_with_the_connection(self):
        # A connection moves to its session's shard after CONNECT, with its TLS
        # session, WebSocket state and the bytes read behind the CONNECT. With
        # two loops (setUp), several client ids make both the moving and the
        # staying case occur; each pipelines everything in one frame.
        for secure in (False, True):
            for i in range(8):
                port = self.wss_port if secure else self.ws_port
                ws = RawWs(port, cafile=self.certs.path("ca.crt") if secure else None)
                self.addCleanup(ws.close)
                self.assertEqual(ws.status, 101)
                topic = "move/%s/%d" % (secure, i)
                ws.send(ws.frame(0x2, connect_packet("mover-%d-%s" % (i, secure))
                                 + subscribe_packet(1, topic, 1) + publish_packet(topic, b"m%d" % i, 1, 9)))
                got = {}
                deadline = time.monotonic() + WAIT_S
                while len(got) < 4 and time.monotonic() < deadline:
                    ptype, body = ws.read_packet()
                    got[ptype] = body
                self.assertEqual(sorted(got), [2, 3, 4, 9], "client %d over %s" % (i, "wss" if secure else "ws"))
                self.assertTrue(got[3].endswith(b"m%d" % i))
                ws.close()

    def test_bad_frames_are_closed_with_a_status(self):
        for frame, status in ((lambda w: w.frame(0x2, connect_packet("x"), masked=False), 1002),
                              (lambda w: w.frame(0x1, b"text"), 1003),
                              (lambda w: w.frame(0x0, b"lone continuation"), 1002)):
            ws = self.raw()
            self.assertEqual(ws.status, 101)
            ws.send(frame(ws))
            op, _, payload = ws.read_frame()
            self.assertEqual((op, payload), (0x8, struct.pack("!H", status)))
            self.assertTrue(ws.closed_by_server())
        self.assertIn("sent a bad WebSocket frame: unmasked client frame", self.b.log_text())
        # The broker still serves.
        self.ws_client("after-bad", h.V5)

    def test_bad_upgrades_are_refused(self):
        self.assertEqual(self.raw(path="/wrong").status, 404)
        self.assertEqual(self.raw(protocol=None).status, 400)
        self.assertEqual(self.raw(protocol="mqttv3.1").status, 400)
        r = self.raw(extra_headers="")
        self.assertEqual(r.status, 101)
        # A plain HTTP GET, no upgrade.
        with socket.create_connection((h.HOST, self.ws_port), timeout=WAIT_S) as s:
            s.sendall(b"GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 400 "))
        # A request head that never ends within 8 KiB.
        with socket.create_connection((h.HOST, self.ws_port), timeout=WAIT_S) as s:
            s.sendall(b"GET /mqtt HTTP/1.1\r\nX-Padding: " + b"p" * 10000)
            self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 400 "))
        # paho with a wrong path does not connect.
        with self.assertRaises(Exception):
            WsPaho(self, self.ws_port, "wrong-path", h.V5, path="/nope")
        self.assertIn("WebSocket upgrade refused with 404", self.b.log_text())

    def test_plain_tcp_listener_is_unchanged(self):
        p = self.paho(self.b, "tcp-client", protocol=h.V5)
        p.subscribe("tcp/t", qos=1)
        p.publish("tcp/t", b"plain", qos=1)
        self.assertEqual(p.expect_message().payload, b"plain")


if __name__ == "__main__":
    unittest.main()
