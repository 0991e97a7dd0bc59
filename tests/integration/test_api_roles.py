"""Ironbridge-only: the API's roles, console sessions, CSRF protection and the
audit log, with anonymous access off, as the console and curl see them: logins
with a password and with a token, the session cookie's flags, who am I, a
viewer and an operator refused what is beyond their role (and told which role
it needed), a session's write refused without its CSRF header, logout, and the
audit log listing each change with its user and the resource before and after.
Old-style api.tokens strings keep working as admin Bearer tokens."""

import http.client
import json
import unittest

import ibharness as h

OLD_ADMIN_TOKEN = "old-admin-token-0123456789"
OPERATOR_TOKEN = "op-token-0123456789"

SIM = {
    "name": "oven",
    "driver": "sim",
    "groups": [{
        "name": "fast",
        "interval_ms": 100,
        "tags": [{"name": "sp", "address": "memory:initial=180", "type": "int16", "access": "rw"}],
    }],
}
RULE = {"id": "copy", "sql": "SELECT values.sp AS sp FROM \"ib/data/oven/fast\"", "actions": [{"log": {}}]}


class Client:
    """One HTTP client of the API: keeps the ib_session cookie the way a browser
    would (sent back on every request), adds the CSRF header when asked."""

    def __init__(self, port):
        self.port = port
        self.cookie = None
        self.csrf = None
        self.last_headers = {}

    def request(self, method, path, body=None, bearer=None, csrf=False):
        conn = http.client.HTTPConnection(h.HOST, self.port, timeout=10)
        try:
            headers = {"Content-Type": "application/json"}
            if bearer:
                headers["Authorization"] = "Bearer " + bearer
            if self.cookie:
                headers["Cookie"] = "ib_session=" + self.cookie
            if csrf and self.csrf:
                headers["X-CSRF-Token"] = self.csrf
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            r = conn.getresponse()
            raw = r.read()
            self.last_headers = {k.lower(): v for k, v in r.getheaders()}
            try:
                return r.status, json.loads(raw) if raw else None
            except ValueError:
                return r.status, raw
        finally:
            conn.close()

    def login(self, **credentials):
        status, body = self.request("POST", "/api/v1/auth/login", credentials)
        if status == 200:
            cookie = self.last_headers.get("set-cookie", "")
            self.cookie = cookie.split(";", 1)[0].split("=", 1)[1]
            self.csrf = body["csrf_token"]
        return status, body


@h.ironbridge_only("API roles and sessions are an Ironbridge feature")
class ApiRolesTest(h.IBTestCase):

    def setUp(self):
        self.b = self.start_broker(extra_toml="""allow_anonymous = false
tokens = ["%s", "operator:%s"]

[auth]
allow_plaintext_passwords = true

[[users]]
name = "ann"
password = "annpw"
role = "operator"

[[users]]
name = "vic"
password = "vicpw"
role = "viewer"
""" % (OLD_ADMIN_TOKEN, OPERATOR_TOKEN))
        self.admin = Client(self.b.api_port)

    def as_admin(self, method, path, body=None):
        return self.admin.request(method, path, body, bearer=OLD_ADMIN_TOKEN)

    def test_login_with_password_and_token_me_and_logout(self):
        ann = Client(self.b.api_port)
        self.assertEqual(ann.request("GET", "/api/v1/devices"), (401, {"error": "authentication required"}))
        self.assertEqual(ann.request("GET", "/api/v1/auth/me")[0], 401)
        self.assertEqual(ann.login(username="ann", password="wrong"), (401, {"error": "invalid credentials"}))

        status, body = ann.login(username="ann", password="annpw")
        self.assertEqual(status, 200, body)
        self.assertEqual((body["user"], body["role"]), ("ann", "operator"))
        self.assertGreaterEqual(len(body["csrf_token"]), 32)
        self.assertRegex(body["expires_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
        flags = [f.strip() for f in ann.last_headers["set-cookie"].split(";")]
        self.assertTrue(flags[0].startswith("ib_session="), flags)
        self.assertIn("HttpOnly", flags)
        self.assertIn("SameSite=Strict", flags)
        self.assertIn("Path=/", flags)
        self.assertIn("Max-Age=28800", flags)
        self.assertNotIn("Secure", flags)  # plain HTTP here
        self.assertNotIn("annpw", json.dumps(body))

        status, me = ann.request("GET", "/api/v1/auth/me")
        self.assertEqual(status, 200, me)
        self.assertEqual(me, {"user": "ann", "role": "operator", "anonymous": False, "csrf_token": ann.csrf})
        self.assertEqual(ann.request("GET", "/api/v1/devices")[0], 200)

        tok = Client(self.b.api_port)
        status, body = tok.login(token=OPERATOR_TOKEN)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["role"], "operator")
        self.assertTrue(body["user"].startswith("token:"), body)
        self.assertNotIn(OPERATOR_TOKEN, json.dumps(body))
        self.assertEqual(Client(self.b.api_port).login(token="nope")[0], 401)

        self.assertEqual(ann.request("POST", "/api/v1/auth/logout", csrf=True)[0], 200)
        self.assertIn("Max-Age=0", ann.last_headers["set-cookie"])
        self.assertEqual(ann.request("GET", "/api/v1/auth/me")[0], 401)
        self.assertEqual(ann.request("GET", "/api/v1/devices")[0], 401)
        # The other session is untouched.
        self.assertEqual(tok.request("GET", "/api/v1/auth/me")[1]["role"], "operator")

    def test_an_admin_lists_users_and_tokens_without_their_secrets(self):
        status, body = self.as_admin("GET", "/api/v1/auth/principals")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["users"], [{"name": "ann", "role": "operator"}, {"name": "vic", "role": "viewer"}])
        self.assertEqual([t["role"] for t in body["tokens"]], ["admin", "operator"], body)
        for t in body["tokens"]:
            self.assertRegex(t["fingerprint"], r"^token:[0-9a-f]{8}$")
        # The fingerprint is the name the token logs in and is audited under.
        status, me = Client(self.b.api_port).login(token=OPERATOR_TOKEN)
        self.assertEqual(me["user"], body["tokens"][1]["fingerprint"])
        text = json.dumps(body)
        for secret in (OLD_ADMIN_TOKEN, OPERATOR_TOKEN, "annpw", "vicpw"):
            self.assertNotIn(secret, text)
        ann = Client(self.b.api_port)
        ann.login(username="ann", password="annpw")
        status, body = ann.request("GET", "/api/v1/auth/principals")
        self.assertEqual((status, body["required_role"]), (403, "admin"), body)

    def test_roles_csrf_and_the_audit_log(self):
        # The old-style token string is an admin's: it creates the device and the rule.
        self.assertEqual(self.as_admin("POST", "/api/v1/devices", SIM)[0], 201)
        self.assertEqual(self.as_admin("POST", "/api/v1/rules", RULE)[0], 201)

        vic = Client(self.b.api_port)
        self.assertEqual(vic.login(username="vic", password="vicpw")[0], 200)
        self.assertEqual(vic.request("GET", "/api/v1/devices/oven")[0], 200)
        changed = json.loads(json.dumps(SIM))
        changed["groups"][0]["interval_ms"] = 200
        self.assertEqual(vic.request("PUT", "/api/v1/devices/oven", changed, csrf=True),
                         (403, {"error": "forbidden", "required_role": "admin", "role": "viewer"}))
        self.assertEqual(vic.request("POST", "/api/v1/devices/oven/write", {"tag": "sp", "value": 1}, csrf=True),
                         (403, {"error": "forbidden", "required_role": "operator", "role": "viewer"}))
        self.assertEqual(vic.request("GET", "/api/v1/audit")[0], 403)

        ann = Client(self.b.api_port)
        self.assertEqual(ann.login(username="ann", password="annpw")[0], 200)
        write = {"id": "r-1", "tag": "sp", "value": 210}
        self.assertEqual(ann.request("POST", "/api/v1/devices/oven/write", write),
                         (403, {"error": "missing or wrong CSRF token"}))
        status, body = ann.request("POST", "/api/v1/devices/oven/write", write, csrf=True)
        self.assertEqual((status, body), (200, {"id": "r-1", "ok": True, "results": {"sp": {"ok": True}}}))
        self.assertTrue(h.wait_until(
            lambda: self.as_admin("GET", "/api/v1/devices/oven/values")[1]["groups"]["fast"]["values"].get("sp") == 210,
            timeout=5.0), "the written value never showed")
        for action, status_name in (("stop", "stopped"), ("start", "running")):
            status, body = ann.request("POST", "/api/v1/rules/copy/" + action, csrf=True)
            self.assertEqual(status, 200, body)
            self.assertEqual(body["status"], status_name)
        self.assertEqual(ann.request("DELETE", "/api/v1/devices/oven", csrf=True),
                         (403, {"error": "forbidden", "required_role": "admin", "role": "operator"}))

        # An admin's change: before and after are in the audit log.
        self.assertEqual(self.as_admin("PUT", "/api/v1/devices/oven", changed)[0], 200)
        status, audit = self.as_admin("GET", "/api/v1/audit?limit=100")
        self.assertEqual(status, 200, audit)
        entries = audit["entries"]
        seen = [(e["user"], e["method"], e["path"], e["status"]) for e in entries]
        admin_label = entries[0]["user"]
        self.assertTrue(admin_label.startswith("token:"), entries[0])
        self.assertEqual(seen, [
            (admin_label, "PUT", "/api/v1/devices/oven", 200),
            ("ann", "DELETE", "/api/v1/devices/oven", 403),
            ("ann", "POST", "/api/v1/rules/copy/start", 200),
            ("ann", "POST", "/api/v1/rules/copy/stop", 200),
            ("ann", "POST", "/api/v1/devices/oven/write", 200),
            ("vic", "POST", "/api/v1/devices/oven/write", 403),
            ("vic", "PUT", "/api/v1/devices/oven", 403),
            (admin_label, "POST", "/api/v1/rules", 201),
            (admin_label, "POST", "/api/v1/devices", 201),
        ])
        put = entries[0]
        self.assertEqual(put["role"], "admin")
        self.assertEqual(put["remote"], "127.0.0.1")
        self.assertRegex(put["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
        self.assertEqual(put["before"]["groups"][0]["interval_ms"], 100)
        self.assertEqual(put["after"]["groups"][0]["interval_ms"], 200)
        self.assertIsNone(entries[1]["before"])
        self.assertEqual(entries[2]["role"], "operator")
        ids = [e["id"] for e in entries]
        self.assertEqual(ids, sorted(ids, reverse=True))
        # Paging: the entries before the newest one.
        status, page = self.as_admin("GET", "/api/v1/audit?limit=2&before=%d" % ids[0])
        self.assertEqual([e["id"] for e in page["entries"]], ids[1:3])
        self.assertEqual(self.as_admin("GET", "/api/v1/audit?limit=0")[0], 400)

        # The admin deletes; the old token still works as a Bearer token.
        self.assertEqual(self.as_admin("DELETE", "/api/v1/devices/oven")[0], 200)
        status, audit = self.as_admin("GET", "/api/v1/audit?limit=1")
        deleted = audit["entries"][0]
        self.assertEqual((deleted["method"], deleted["status"]), ("DELETE", 200))
        self.assertEqual(deleted["before"]["name"], "oven")
        self.assertIsNone(deleted["after"])
        # Every change was recorded: the counter an alert watches is exported, at 0.
        status, text = self.as_admin("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(h.metric_value(text.decode(), "ib_audit_failures_total"), 0)


if __name__ == "__main__":
    unittest.main()
