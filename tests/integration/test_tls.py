"""TLS listeners, with Debian's mosquitto_pub / mosquitto_sub as the clients:
server TLS, TLS 1.2 and 1.3, mutual TLS accepted and refused, wrong CA, expired
certificates, the client certificate's CN as the username, certificate reload
without a restart, and start-up errors that name the file."""

import os
import subprocess
import re
import ssl
import socket
import struct
import time
import unittest

import ibharness as h
from tls_certs import standard


def served_certificate(port):
    """The PEM the server presents, fetched without verifying it."""
    return ssl.get_server_certificate((h.HOST, port), timeout=h.WAIT_S)


def normalized(pem):
    return ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(pem))


@h.ironbridge_only("TLS listeners are configured in Ironbridge's TOML")
class TlsTest(h.IBTestCase):
    def setUp(self):
        self.certs = standard(self)

    def tls_broker(self, **listener):
        cfg = {"transport": "tls", "tls_cert": self.certs.path("server.crt"),
               "tls_key": self.certs.path("server.key")}
        cfg.update(listener)
        return self.start_broker(listener=cfg, broker={"threads": 2})

    def tls_args(self, cafile="ca.crt", cert=None, version=None):
        args = ["--cafile", self.certs.path(cafile)]
        if cert:
            args += ["--cert", self.certs.path(cert + ".crt"), "--key", self.certs.path(cert + ".key")]
        if version:
            args += ["--tls-version", version]
        return args

    def pub(self, b, topic="t/tls", msg="hello", retain=False, extra=(), **tls):
        cmd = ["mosquitto_pub", "-h", h.HOST, "-p", str(b.port), "-t", topic, "-m", msg, "-q", "1"]
        if retain:
            cmd.append("-r")
        return self.run_proc(cmd + list(extra) + self.tls_args(**tls))

    def sub_one(self, b, topic="t/#", **tls):
        cmd = ["mosquitto_sub", "-h", h.HOST, "-p", str(b.port), "-t", topic, "-C", "1", "-W", "20", "-v"]
        return self.run_proc(cmd + self.tls_args(**tls), timeout=30)

    def assert_ok(self, r):
        self.assertEqual(r.returncode, 0, "client failed: %s" % r.stderr.decode())

    def test_round_trip_over_tls(self):
        b = self.tls_broker()
        # A retained QoS 1 publish (PUBACK over TLS), then a subscriber that
        # gets it (PUBLISH over TLS): both directions, no race between them.
        self.assert_ok(self.pub(b, "t/tls", "hello over tls", retain=True))
        r = self.sub_one(b)
        self.assert_ok(r)
        self.assertEqual(r.stdout.decode().strip(), "t/tls hello over tls")

    def test_plain_mqtt_on_a_tls_listener_is_a_failed_handshake(self):
        b = self.tls_broker()
        r = self.run_proc(["mosquitto_pub", "-h", h.HOST, "-p", str(b.port), "-t", "t", "-m", "x", "-q", "1"])
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(h.wait_until(lambda: (b.metric("ib_mqtt_tls_handshake_failures_total", listener="default") or 0) >= 1))
        self.assertIn("TLS handshake failed on listener 'default'", b.log_text())

    def handshake_version(self, port, version):
        """Handshakes with Python's ssl limited to `version`; returns what was
        negotiated, or None when the server refused."""
        ctx = ssl.create_default_context(cafile=self.certs.path("ca.crt"))
        ctx.minimum_version = ctx.maximum_version = getattr(ssl.TLSVersion, version.replace(".", "_"))
        with socket.create_connection((h.HOST, port), timeout=h.WAIT_S) as raw:
            try:
                with ctx.wrap_socket(raw, server_hostname=h.HOST) as s:
                    return s.version()
            except (ssl.SSLError, ConnectionError):
                return None

    def test_tls_1_2_and_1_3(self):
        b = self.tls_broker()
        self.assert_ok(self.pub(b, version="tlsv1.2"))
        self.assert_ok(self.pub(b, version="tlsv1.3"))
        self.assertEqual(self.handshake_version(b.port, "TLSv1.2"), "TLSv1.2")
        self.assertEqual(self.handshake_version(b.port, "TLSv1.3"), "TLSv1.3")
        self.assertEqual(b.metric("ib_mqtt_tls_handshake_failures_total", listener="default"), 0)

    def test_minimum_version_1_3_refuses_1_2(self):
        b = self.tls_broker(tls_min_version="1.3")
        self.assertIsNone(self.handshake_version(b.port, "TLSv1.2"))
        self.assertEqual(self.handshake_version(b.port, "TLSv1.3"), "TLSv1.3")
        self.assert_ok(self.pub(b, version="tlsv1.3"))
        self.assertTrue(h.wait_until(lambda: b.metric("ib_mqtt_tls_handshake_failures_total", listener="default") == 1))

    def test_mutual_tls(self):
        b = self.tls_broker(tls_ca=self.certs.path("ca.crt"), tls_require_client_cert=True)
        self.assert_ok(self.pub(b, cert="client"))
        self.assertNotEqual(self.pub(b).returncode, 0, "a client without a certificate was accepted")
        self.assertNotEqual(self.pub(b, cert="stranger").returncode, 0,
                            "a certificate from another CA was accepted")
        self.assertNotEqual(self.pub(b, cert="expired").returncode, 0, "an expired certificate was accepted")
        self.assertTrue(h.wait_until(lambda: b.metric("ib_mqtt_tls_handshake_failures_total", listener="default") == 3))
        log = b.log_text()
        self.assertIn("certificate has expired", log)
        self.assertIn("peer did not return a certificate", log)

    def test_client_refuses_a_server_from_another_ca(self):
        b = self.tls_broker()
        self.assertNotEqual(self.pub(b, cafile="other-ca.crt").returncode, 0)
        self.assert_ok(self.pub(b))  # the same broker with the right CA: the refusal was the CA

    def test_client_refuses_an_expired_server_certificate(self):
        self.certs.issue("old-server", "127.0.0.1", server=True, days=-1)
        b = self.tls_broker(tls_cert=self.certs.path("old-server.crt"), tls_key=self.certs.path("old-server.key"))
        r = self.pub(b)
        self.assertNotEqual(r.returncode, 0)

    def test_certificate_cn_is_the_username(self):
        b = self.tls_broker(tls_ca=self.certs.path("ca.crt"), tls_require_client_cert=True,
                            tls_cn_as_username=True)
        # The user name the client claims does not count; the certificate's does.
        self.assert_ok(self.pub(b, cert="client", extra=["-i", "cn-client", "-u", "mallory"]))
        self.assertTrue(h.wait_until(
            lambda: "'cn-client' with username 'edge-1' from its client certificate" in b.log_text()))
        self.assertNotIn("mallory", b.log_text())

    def test_the_certificate_authenticates_and_its_cn_fills_the_acl(self):
        # Users are configured, so logins are checked; the certificate's client
        # needs no password, and %u in the ACL is its CN.
        auth = '''
[auth]
allow_plaintext_passwords = true
acl_default = "deny"

[[users]]
name = "operator"
password = "secret"

[[acl]]
permission = "allow"
all = true
topics = ["tenant/%u/#"]
'''
        cfg = {"transport": "tls", "tls_cert": self.certs.path("server.crt"), "tls_key": self.certs.path("server.key"),
               "tls_ca": self.certs.path("ca.crt"), "tls_require_client_cert": True, "tls_cn_as_username": True}
        b = self.start_broker(listener=cfg, broker={"threads": 2}, extra_toml=auth)
        sub = self.spawn(["mosquitto_sub", "-h", h.HOST, "-p", str(b.port), "-t", "tenant/edge-1/#", "-C", "1", "-W", "20",
                          "-v", "-i", "cn-sub"] + self.tls_args(cert="client"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertTrue(h.wait_until(lambda: "'cn-sub' with username 'edge-1'" in b.log_text()))
        # Retained: the log line tells the subscriber connected, not that its
        # SUBSCRIBE arrived, and a message published in between would pass it by.
        self.assert_ok(self.pub(b, topic="tenant/edge-1/temp", msg="21.5", retain=True, cert="client",
                                extra=["-i", "cn-pub"]))
        out, _ = sub.communicate(timeout=30)
        self.assertEqual(out.decode().strip(), "tenant/edge-1/temp 21.5")
        denied = self.run_proc(["mosquitto_sub", "-h", h.HOST, "-p", str(b.port), "-t", "tenant/other/#", "-C", "1",
                                "-W", "20", "-i", "cn-nosy"] + self.tls_args(cert="client"), timeout=30)
        # mosquitto_sub exits 0 here; what it prints is what the user sees.
        self.assertIn("All subscription requests were denied", (denied.stdout + denied.stderr).decode())

    def test_cn_as_username_without_a_certificate_is_refused(self):
        b = self.tls_broker(tls_ca=self.certs.path("ca.crt"), tls_cn_as_username=True)
        r = self.pub(b, extra=["-u", "mallory"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not authori", r.stderr.decode().lower())
        self.assert_ok(self.pub(b, cert="client"))

    def test_certificate_reload_without_restart(self):
        b = self.tls_broker()
        pid = b.pid
        first = normalized(self.certs.read("server.crt"))
        self.assertEqual(normalized(served_certificate(b.port)), first)
        self.certs.issue("server-2", "127.0.0.1", server=True)
        second = normalized(self.certs.read("server-2.crt"))
        self.assertNotEqual(first, second)
        for ext in (".key", ".crt"):
            os.replace(self.certs.path("server-2" + ext), self.certs.path("server" + ext))
        self.assertTrue(h.wait_until(lambda: normalized(served_certificate(b.port)) == second, timeout=15),
                        "the new certificate was not served")
        # The loop that swapped the context writes the line just after, and may
        # be preempted in between while another loop already serves the new one.
        self.assertTrue(h.wait_until(lambda: "TLS certificate reloaded" in b.log_text(), timeout=15),
                        "no log line for the reload")
        self.assert_ok(self.pub(b))
        # A broken certificate on disk keeps the last good one in use. The key
        # and certificate were replaced one after the other above, so a check
        # between the two may already have refused a mismatched pair: count.
        refusals = b.log_text().count("new TLS files refused")
        with open(self.certs.path("server.crt"), "w") as f:
            f.write("not a certificate\n")
        self.assertTrue(h.wait_until(lambda: b.log_text().count("new TLS files refused") > refusals, timeout=15))
        self.assertEqual(normalized(served_certificate(b.port)), second)
        self.assert_ok(self.pub(b))
        # The good certificate written back in place with the refused file's
        # modification time, as a copy within one tick of a coarse clock leaves
        # it: the size tells the change.
        refused = os.stat(self.certs.path("server.crt"))
        reloads = b.log_text().count("TLS certificate reloaded")
        with open(self.certs.path("server.crt"), "w") as f:
            f.write(second)
        os.utime(self.certs.path("server.crt"), ns=(refused.st_atime_ns, refused.st_mtime_ns))
        self.assertTrue(h.wait_until(lambda: b.log_text().count("TLS certificate reloaded") > reloads, timeout=15),
                        "a change of size with the same mtime was not reloaded")
        self.assert_ok(self.pub(b))
        self.assertEqual(b.pid, pid)

    def tls_socket(self, port):
        ctx = ssl.create_default_context(cafile=self.certs.path("ca.crt"))
        s = ctx.wrap_socket(socket.create_connection((h.HOST, port), timeout=10), server_hostname=h.HOST)
        self.addCleanup(s.close)
        return s

    def test_a_slow_reader_gets_every_byte_intact(self):
        # The subscriber stops reading while 16 MB are published to it: the
        # broker's TLS writes stop half-way (WANT_WRITE) while its output keeps
        # growing behind them; every record must still decrypt and every message
        # arrive whole once the subscriber reads again.
        b = self.tls_broker()
        sub = self.tls_socket(b.port)
        sub.sendall(h.packet(1, 0, h.enc_str("MQTT") + bytes([4, 2]) + struct.pack("!H", 60) + h.enc_str("slow")))
        sub.sendall(h.packet(8, 2, struct.pack("!H", 1) + h.enc_str("slow/t") + b"\x00"))
        buf = b""
        while buf.count(b"\x90") == 0:  # SUBACK
            buf += sub.recv(4096)
        pub = self.tls_socket(b.port)
        pub.sendall(h.packet(1, 0, h.enc_str("MQTT") + bytes([4, 2]) + struct.pack("!H", 60) + h.enc_str("fast")))
        n, size = 400, 40000  # 16 MB: more than both sockets buffer
        payloads = [(b"%06d" % i) * (size // 6) for i in range(n)]
        pub.sendall(b"".join(h.packet(3, 0, h.enc_str("slow/t") + p) for p in payloads))
        time.sleep(1)  # the broker fills the socket buffers and stops writing
        got = []
        stream = buf[buf.index(b"\x90") + 5:]  # after CONNACK (4 bytes) and SUBACK (5)
        deadline = time.monotonic() + 30
        while len(got) < n and time.monotonic() < deadline:
            try:
                length, pos = h.dec_varint(stream, 1) if len(stream) > 1 else (None, 0)
            except ValueError:
                length = None
            if length is not None and len(stream) >= pos + length:
                body = stream[pos:pos + length]
                stream = stream[pos + length:]
                tlen = struct.unpack("!H", body[:2])[0]
                got.append(body[2 + tlen:])
                continue
            stream += sub.recv(65536)
        self.assertEqual(len(got), n)
        self.assertEqual(got, payloads)

    def start_error(self, **listener):
        cfg = {"transport": "tls"}
        cfg.update(listener)
        b = h.Broker(listener=cfg)
        self.addCleanup(b.close)
        with self.assertRaises(RuntimeError) as cm:
            b.start()
        return str(cm.exception)

    def test_bad_files_stop_the_start_naming_file_and_key(self):
        missing = os.path.join(self.certs.dir, "missing.crt")
        err = self.start_error(tls_cert=missing, tls_key=self.certs.path("server.key"))
        self.assertRegex(err, r"ironbridge\.toml:\d+: broker\.listeners\[0\]\.tls_cert: '%s': No such file"
                         % re.escape(missing))
        err = self.start_error(tls_cert=self.certs.path("server.crt"), tls_key=self.certs.path("client.key"))
        self.assertRegex(err, r"broker\.listeners\[0\]\.tls_key: '%s': does not match the certificate"
                         % re.escape(self.certs.path("client.key")))
        err = self.start_error(tls_cert=self.certs.path("server.crt"))
        self.assertIn("broker.listeners[0].tls_key: required when transport is \"tls\"", err)
        err = self.start_error(tls_cert=self.certs.path("server.crt"), tls_key=self.certs.path("server.key"),
                               tls_require_client_cert=True)
        self.assertIn("broker.listeners[0].tls_require_client_cert: needs tls_ca", err)


if __name__ == "__main__":
    unittest.main()
