"""Ironbridge-only: authentication (config users and a password file made with
`ironbridge passwd`), the failed-login limit, the ACL on PUBLISH and SUBSCRIBE,
tenant isolation through wildcards, reload (SIGHUP and POST /api/v1/reload) and
the HTTP API's credentials."""

import base64
import json
import os
import signal
import struct
import subprocess
import unittest
import urllib.error
import urllib.request

import ibharness as h
from ibharness import IBTestCase, V311, V5

TOKEN = "test-token-1"

# Iterations for the hashes most tests use: the format and the check are the
# same as at the default, the tests just do not wait 210,000 rounds per login.
FAST = "10000"


def acl_toml(extra_rules=""):
    return """
[[acl]]
permission = "allow"
username = "admin"
topics = ["#"]

[[acl]]
permission = "deny"
all = true
action = "publish"
topics = ["tenant/+/readonly"]

[[acl]]
permission = "allow"
all = true
topics = ["tenant/%u/#"]
""" + extra_rules


class AuthBase(IBTestCase):
    """A broker with anonymous clients refused, users alice and bob in a password
    file, admin in the config (plain text, explicitly allowed), a default-deny ACL
    giving each user its own tenant/<user>/# and admin everything."""

    acl_extra = ""

    def passwd(self, path, user, password, *extra):
        r = subprocess.run([h.ironbridge_bin(), "passwd", path, user] + list(extra), input=password.encode() + b"\n",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return r

    def config_toml(self, acl_default="deny"):
        # The first lines land in the harness's [api] table.
        return """allow_anonymous = false
tokens = ["%s"]

[auth]
password_file = "%s"
allow_plaintext_passwords = true
acl_default = "%s"
max_failed_logins = 5
failed_login_window_s = 60

[[users]]
name = "admin"
password = "adminpw"
""" % (TOKEN, self.pwfile, acl_default) + acl_toml(self.acl_extra)

    def setUp(self):
        import tempfile
        self.dir = tempfile.mkdtemp(prefix="ibauth-")
        self.addCleanup(lambda: __import__("shutil").rmtree(self.dir, ignore_errors=True))
        self.pwfile = os.path.join(self.dir, "passwd")
        self.passwd(self.pwfile, "alice", "alicepw", "--iterations", FAST)
        self.passwd(self.pwfile, "bob", "bobpw", "--iterations", FAST)
        self.b = self.start_broker(broker={"allow_anonymous": False}, extra_toml=self.config_toml())

    # ---- helpers
    def raw_connect(self, version, username=None, password=None, client_id=""):
        r = self.raw(self.b, version=version)
        return r, r.connect(client_id or h.unique("c"), username=username, password=password)

    def client(self, user, password, protocol=V5, client_id=None):
        c = self.paho(self.b, client_id or h.unique(user), protocol=protocol, connect=False)
        c.c.username_pw_set(user, password)
        c.connect()
        return c

    def api(self, path, method="GET", auth=None):
        req = urllib.request.Request("http://%s:%d%s" % (h.HOST, self.b.api_port, path), method=method)
        if auth:
            req.add_header("Authorization", auth)
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def metric(self, name, **labels):
        status, _, body = self.api("/metrics", auth="Bearer " + TOKEN)
        self.assertEqual(status, 200)
        value = h.metric_value(body.decode(), name, **labels)
        self.assertIsNotNone(value, "metric %s %s not on /metrics" % (name, labels))
        return value


@h.ironbridge_only("authentication, ACL and reload are Ironbridge features")
class CredentialsTest(AuthBase):
    def test_good_credentials_311_and_5(self):
        for version in (4, 5):
            _, ack = self.raw_connect(version, "alice", "alicepw")
            self.assertEqual(ack.reason, 0, "MQTT %d" % version)
        _, ack = self.raw_connect(5, "admin", "adminpw")
        self.assertEqual(ack.reason, 0)
        self.assertEqual(self.metric("ib_auth_logins_total", result="authenticated"), 3)

    def test_wrong_and_missing_password(self):
        _, ack = self.raw_connect(4, "alice", "nope")
        self.assertEqual(ack.reason, 4)  # 3.1.1: bad user name or password
        _, ack = self.raw_connect(5, "alice", "nope")
        self.assertEqual(ack.reason, 0x86)
        _, ack = self.raw_connect(5, "alice", None)
        self.assertEqual(ack.reason, 0x86)
        _, ack = self.raw_connect(4, "nobody", "x")
        self.assertEqual(ack.reason, 4)
        self.assertEqual(self.metric("ib_auth_login_failures_total", reason="bad_credentials"), 4)

    def test_anonymous_refused(self):
        _, ack = self.raw_connect(4)
        self.assertEqual(ack.reason, 5)  # 3.1.1: not authorized
        _, ack = self.raw_connect(5)
        self.assertEqual(ack.reason, 0x87)

    def test_paho_return_codes(self):
        for protocol, wrong in ((V311, 4), (V5, 0x86)):
            c = self.paho(self.b, h.unique("p"), protocol=protocol, connect=False)
            c.c.username_pw_set("bob", "wrong")
            c.connect(expect_success=False)
            self.assertEqual(c.rc_value(), wrong)
            c.close()
            good = self.client("bob", "bobpw", protocol=protocol)
            self.assertEqual(good.rc_value(), 0)
        for protocol, refused in ((V311, 5), (V5, 0x87)):
            anon = self.paho(self.b, h.unique("anon"), protocol=protocol, connect=False)
            anon.connect(expect_success=False)
            self.assertEqual(anon.rc_value(), refused)
            anon.close()

    def test_mosquitto_clients(self):
        sub = self.spawn(["mosquitto_sub", "-h", h.HOST, "-p", str(self.b.port), "-u", "bob", "-P", "bobpw",
                          "-t", "tenant/bob/#", "-C", "1", "-W", "30", "-V", "mqttv5"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # The subscription is in place once bob's publish reaches it; retry a bounded number of times.
        out = b""
        for _ in range(50):
            r = self.run_proc(["mosquitto_pub", "-h", h.HOST, "-p", str(self.b.port), "-u", "bob", "-P", "bobpw",
                               "-t", "tenant/bob/t", "-m", "hello"])
            self.assertEqual(r.returncode, 0, r.stderr)
            try:
                out, _ = sub.communicate(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                continue
        self.assertEqual(out.strip(), b"hello")
        bad = self.run_proc(["mosquitto_pub", "-h", h.HOST, "-p", str(self.b.port), "-u", "bob", "-P", "bad",
                             "-t", "tenant/bob/t", "-m", "x"])
        self.assertNotEqual(bad.returncode, 0)
        anon = self.run_proc(["mosquitto_pub", "-h", h.HOST, "-p", str(self.b.port), "-t", "x", "-m", "x"])
        self.assertNotEqual(anon.returncode, 0)

    def test_rate_limit_after_five_failures(self):
        for _ in range(5):
            _, ack = self.raw_connect(5, "alice", "wrong")
            self.assertEqual(ack.reason, 0x86)
        # Now even the right password is refused, without being checked.
        _, ack = self.raw_connect(5, "alice", "alicepw")
        self.assertEqual(ack.reason, 0x87)
        _, ack = self.raw_connect(4, "bob", "bobpw")
        self.assertEqual(ack.reason, 5)
        self.assertEqual(self.metric("ib_auth_login_failures_total", reason="rate_limited"), 2)
        self.assertIn("failed login", self.b.log_text())

    def test_passwd_file_format_and_delete(self):
        path = os.path.join(self.dir, "other")
        self.passwd(path, "carol", "carolpw")  # the default iteration count
        with open(path) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 1)
        user, _, hash_ = lines[0].partition(":")
        self.assertEqual(user, "carol")
        parts = hash_.split("$")
        self.assertEqual(parts[1:3], ["pbkdf2-sha512", "210000"])
        self.assertEqual(len(base64.b64decode(parts[3])), 16)
        self.assertEqual(len(base64.b64decode(parts[4])), 64)
        with open(path) as f:
            self.assertNotIn("carolpw", f.read())
        self.assertEqual(os.stat(path).st_mode & 0o077, 0)
        self.passwd(path, "carol", "", "-D")
        with open(path) as f:
            self.assertEqual(f.read().strip(), "")
        r = subprocess.run([h.ironbridge_bin(), "passwd", path, "carol", "-D"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        r = subprocess.run([h.ironbridge_bin(), "passwd", path, "dave"], input=b"\n",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertNotEqual(r.returncode, 0, "an empty password must be refused")

    def test_plain_text_password_refused_by_check_config(self):
        cfg = os.path.join(self.dir, "plain.toml")
        with open(cfg, "w") as f:
            f.write('[[users]]\nname = "x"\npassword = "y"\n')
        r = self.run_proc([h.ironbridge_bin(), "check-config", cfg])
        self.assertEqual(r.returncode, 2)
        self.assertIn(cfg + ":3: users[0].password: a plain-text password is refused", r.stderr.decode())


@h.ironbridge_only("the ACL is an Ironbridge feature")
class AclTest(AuthBase):
    def test_publish_denied_v5_gets_0x87_and_is_not_delivered(self):
        admin = self.client("admin", "adminpw")
        self.assertEqual(admin.subscribe("#", qos=1), [1])
        alice = self.client("alice", "alicepw")
        reasons = {}
        orig = alice.c._handle_pubackcomp

        def capture(cmd):
            pkt = alice.c._in_packet["packet"]
            reasons[struct.unpack("!H", pkt[:2])[0]] = pkt[2] if len(pkt) > 2 else 0
            return orig(cmd)
        alice.c._handle_pubackcomp = capture
        denied = alice.publish("tenant/bob/x", b"intrusion", qos=1)
        allowed = alice.publish("tenant/alice/x", b"mine", qos=1)
        self.assertEqual(reasons.get(denied.mid), 0x87)
        self.assertIn(reasons.get(allowed.mid), (0, 0x10))
        m = admin.expect_message()
        self.assertEqual((m.topic, m.payload), ("tenant/alice/x", b"mine"))
        admin.expect_no_message(0.5)
        # Raw bytes: QoS 2 gets PUBREC 0x87 too; the readonly deny comes before alice's tenant.
        r, ack = self.raw_connect(5, "alice", "alicepw")
        r.publish("tenant/alice/readonly", b"x", qos=2, pid=7)
        p = r.expect(h.PUBREC)
        self.assertEqual((p.pid, p.reason), (7, 0x87))
        admin.expect_no_message(0.3)
        self.assertEqual(self.metric("ib_auth_acl_denied_total", action="publish"), 2)

    def test_publish_denied_v311_is_acknowledged_and_dropped(self):
        admin = self.client("admin", "adminpw")
        admin.subscribe("#", qos=1)
        r, ack = self.raw_connect(4, "alice", "alicepw")
        self.assertEqual(ack.reason, 0)
        r.publish("tenant/bob/x", b"no", qos=1, pid=3)
        p = r.expect(h.PUBACK)
        self.assertEqual(p.pid, 3)
        r.publish("tenant/bob/x", b"no", qos=2, pid=4)
        self.assertEqual(r.expect(h.PUBREC).pid, 4)
        r.pubrel(4)
        self.assertEqual(r.expect(h.PUBCOMP).pid, 4)
        r.publish("tenant/alice/x", b"yes", qos=1, pid=5)
        self.assertEqual(r.expect(h.PUBACK).pid, 5)
        self.assertEqual(admin.expect_message().payload, b"yes")
        admin.expect_no_message(0.3)

    def test_subscribe_denied_v5_and_v311(self):
        alice = self.client("alice", "alicepw")
        self.assertEqual(alice.subscribe("#", qos=1), [0x87])
        self.assertEqual(alice.subscribe("tenant/+/x", qos=1), [0x87])
        self.assertEqual(alice.subscribe("tenant/alice/#", qos=1), [1])
        self.assertEqual(alice.subscribe("$share/g/tenant/alice/+", qos=1), [1])
        self.assertEqual(alice.subscribe("$share/g/tenant/bob/+", qos=1), [0x87])
        r, _ = self.raw_connect(4, "alice", "alicepw")
        sa = r.subscribe(9, [("#", 1), ("tenant/alice/y", 1)])
        self.assertEqual(sa.codes, [0x80, 1])
        self.assertEqual(self.metric("ib_auth_acl_denied_total", action="subscribe"), 4)

    def test_tenant_isolation_through_wildcards(self):
        alice = self.client("alice", "alicepw")
        for f in ("#", "+/#", "tenant/#", "tenant/+/secret"):
            self.assertEqual(alice.subscribe(f, qos=1), [0x87], f)
        self.assertEqual(alice.subscribe("tenant/alice/#", qos=1), [1])
        bob = self.client("bob", "bobpw")
        bob.publish("tenant/bob/secret", b"bob's", qos=1)
        admin = self.client("admin", "adminpw")
        admin.publish("tenant/alice/news", b"for alice", qos=1)
        m = alice.expect_message()
        self.assertEqual((m.topic, m.payload), ("tenant/alice/news", b"for alice"))
        alice.expect_no_message(0.5)
        # A user name holding a wildcard cannot widen %u.
        h_ = subprocess.run([h.ironbridge_bin(), "passwd", self.pwfile, "+", "--iterations", FAST],
                            input=b"plus\n", stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(h_.returncode, 0)
        os.kill(self.b.pid, signal.SIGHUP)
        self.assertTrue(h.wait_until(lambda: self.metric("ib_auth_reloads_total", result="ok") == 1, 10))
        plus = self.client("+", "plus")
        self.assertEqual(plus.subscribe("tenant/+/#", qos=1), [0x87])
        self.assertEqual(plus.subscribe("tenant/bob/#", qos=1), [0x87])

    def test_will_to_a_denied_topic_is_refused(self):
        r = self.raw(self.b, version=5)
        ack = r.connect(h.unique("w"), username="alice", password="alicepw",
                        will={"topic": "tenant/bob/will", "payload": b"x"})
        self.assertEqual(ack.reason, 0x87)


@h.ironbridge_only("reload is an Ironbridge feature")
class ReloadTest(AuthBase):
    def rewrite_config(self, text):
        self.b.extra_toml = text
        self.b._write_config()

    def test_sighup_and_api_reload_bad_reload_keeps_rules(self):
        sub = self.client("admin", "adminpw")
        sub.subscribe("shared/#", qos=1)
        r, _ = self.raw_connect(5, "alice", "alicepw")
        r.publish("shared/x", b"1", qos=1, pid=1)
        self.assertEqual(r.expect(h.PUBACK).reason, 0x87)
        # carol is added to the file: unknown until a reload.
        self.passwd(self.pwfile, "carol", "carolpw", "--iterations", FAST)
        _, ack = self.raw_connect(5, "carol", "carolpw")
        self.assertEqual(ack.reason, 0x86)
        # A rule allowing everyone shared/#, then SIGHUP.
        self.acl_extra = '\n[[acl]]\npermission = "allow"\nall = true\ntopics = ["shared/#"]\n'
        self.rewrite_config(self.config_toml())
        os.kill(self.b.pid, signal.SIGHUP)
        self.assertTrue(h.wait_until(lambda: self.metric("ib_auth_reloads_total", result="ok") == 1, 10))
        _, ack = self.raw_connect(5, "carol", "carolpw")
        self.assertEqual(ack.reason, 0)
        # The connection opened before the reload follows the new rules.
        r.publish("shared/x", b"2", qos=1, pid=2)
        self.assertIn(r.expect(h.PUBACK).reason, (0, 0x10))
        self.assertEqual(sub.expect_message().payload, b"2")

        # A broken config: refused with the reason, the rules in force stay.
        self.rewrite_config(self.config_toml(acl_default="maybe"))
        status, _, body = self.api("/api/v1/reload", "POST", auth="Bearer " + TOKEN)
        self.assertEqual(status, 400)
        err = json.loads(body)["error"]
        self.assertIn("auth.acl_default", err)
        self.assertIn("ironbridge.toml:", err)
        os.kill(self.b.pid, signal.SIGHUP)
        self.assertTrue(h.wait_until(lambda: self.metric("ib_auth_reloads_total", result="failed") == 2, 10))
        self.assertTrue(h.wait_until(lambda: self.b.log_text().count("reload refused") >= 2, 10))
        _, ack = self.raw_connect(5, "carol", "carolpw")
        self.assertEqual(ack.reason, 0)
        r.publish("shared/x", b"3", qos=1, pid=3)
        self.assertIn(r.expect(h.PUBACK).reason, (0, 0x10))
        r.publish("tenant/bob/x", b"4", qos=1, pid=4)
        self.assertEqual(r.expect(h.PUBACK).reason, 0x87)

        # A good config again, through the API: the shared/# rule goes away, and a
        # subscription it allowed is removed from the connected client.
        self.acl_extra = ""
        bob = self.client("bob", "bobpw")
        self.acl_extra = '\n[[acl]]\npermission = "allow"\nall = true\naction = "subscribe"\ntopics = ["shared/#"]\n'
        self.rewrite_config(self.config_toml())
        status, _, body = self.api("/api/v1/reload", "POST", auth="Bearer " + TOKEN)
        self.assertEqual(status, 200, body)
        self.assertEqual(bob.subscribe("shared/#", qos=1), [1])
        sub.publish("shared/y", b"before", qos=1)
        self.assertEqual(bob.expect_message().payload, b"before")
        self.acl_extra = ""
        self.rewrite_config(self.config_toml())
        status, _, body = self.api("/api/v1/reload", "POST", auth="Bearer " + TOKEN)
        self.assertEqual(status, 200, body)
        # The connection's next packet finds the new rules and drops the subscription.
        bob.publish("tenant/bob/ping", b"", qos=1)
        sub.publish("shared/y", b"after", qos=1)
        bob.expect_no_message(0.5)


@h.ironbridge_only("API credentials are an Ironbridge feature")
class ApiCredentialsTest(AuthBase):
    def test_api_refuses_without_credentials_and_accepts_bearer_and_basic(self):
        status, _, body = self.api("/api/v1/health")
        self.assertEqual(status, 200)
        status, headers, _ = self.api("/metrics")
        self.assertEqual(status, 401)
        self.assertIn("Basic", {k.lower(): v for k, v in headers.items()}.get("www-authenticate", ""))
        self.assertEqual(self.api("/api/v1/devices")[0], 401)
        self.assertEqual(self.api("/api/v1/reload", "POST")[0], 401)
        self.assertEqual(self.api("/metrics", auth="Bearer wrong")[0], 401)
        self.assertEqual(self.api("/metrics", auth="Bearer " + TOKEN)[0], 200)
        basic = base64.b64encode(b"alice:alicepw").decode()
        self.assertEqual(self.api("/api/v1/devices", auth="Basic " + basic)[0], 200)
        wrong = base64.b64encode(b"alice:nope").decode()
        self.assertEqual(self.api("/api/v1/devices", auth="Basic " + wrong)[0], 401)
        self.assertEqual(self.metric("ib_auth_http_refused_total"), 5)


@h.ironbridge_only("per-listener anonymous access is an Ironbridge setting")
class ListenerAnonymousTest(IBTestCase):
    def test_listener_overrides_broker_allow_anonymous(self):
        b = self.start_broker(broker={"allow_anonymous": False}, listener={"allow_anonymous": True})
        r = self.raw(b, version=5)
        self.assertEqual(r.connect(h.unique("a")).reason, 0)
        b2 = self.start_broker(broker={"allow_anonymous": True}, listener={"allow_anonymous": False})
        r2 = self.raw(b2, version=5)
        self.assertEqual(r2.connect(h.unique("a")).reason, 0x87)


if __name__ == "__main__":
    unittest.main()
