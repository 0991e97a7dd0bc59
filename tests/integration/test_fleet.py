"""The fleet's edge side (docs/fleet.md): Debian's mosquitto plays the cloud
broker, two or three Ironbridge edges talk to it through their bridge, and a
paho client plays the controller, publishing retained desired configurations.

What a user would check: a push reaches every edge, each reports done and the
new devices publish; a bad rule is refused by every edge with the loader's
message and nothing changes; wrong bridge credentials are rolled back by each
edge on its own and the edge reconnects with the old ones; an edge that was
down converges when it starts; kill -9 during the probe leaves the old revision;
an unsigned or wrongly signed revision is refused where a key is set; the
revisions are listed, diffed and rolled back through the REST API."""

import base64
import json
import os
import subprocess
import tempfile
import threading
import time
import urllib.request
import unittest

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import ibharness as h
from bridge_peers import BridgeCase
from test_file_transfer import FileSender, file_list, file_toml, sha, stored

SITE = "lyon"
DEVICE = """
[[devices]]
name = "press"
driver = "sim"
[[devices.groups]]
name = "fast"
interval_ms = 200
tags = [{ name = "temp", address = "counter", type = "uint32" }]
"""
RULE = """
[[rules]]
id = "hot"
sql = "SELECT values.temp AS temp FROM \\"ib/data/+/fast\\" WHERE values.temp > 1000000"
[[rules.actions]]
publish = { topic = "alarms/hot" }
"""
ACL_DENY_SECRET = """
[[acl]]
permission = "deny"
all = true
topics = ["secret/#"]
"""
BAD_RULE = """
[[rules]]
id = "hot"
sql = "SELECT nosuchfunction(values.temp) FROM \\"ib/data/+/fast\\""
"""


def prefix(edge):
    return "ib/fleet/v1/%s/%s/" % (SITE, edge)


def cloud_bridge(port, edge, username="", password="", client_id=True):
    lines = ["[[bridges]]", 'name = "cloud"', 'servers = ["127.0.0.1:%d"]' % port,
             "reconnect_min_ms = 50", "reconnect_max_ms = 300", "keep_alive_s = 5"]
    if client_id:
        lines.insert(3, 'client_id = "edge-%s"' % edge)
    if username:
        lines += ['username = "%s"' % username, 'password = "%s"' % password]
    lines += ["[[bridges.forwards]]", 'local = "ib/data/#"', 'remote = "edges/%s/${topic}"' % edge, "qos = 1"]
    return "\n".join(lines) + "\n"


class Controller:
    """The cloud side: sees every edge's state and status, publishes desired
    configurations and commands (MQTT 5, so it can ask for responses)."""

    def __init__(self, port, username="", password=""):
        self.lock = threading.Lock()
        self.state = {}
        self.status = {}
        self.statuses = []
        self.responses = []
        self.data = set()
        self.archived = []
        self.client = mqtt.Client(client_id="controller", protocol=mqtt.MQTTv5)
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_message = self._on_message
        self.connected = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p=None: self.connected.set()
        self.client.connect(h.HOST, port)
        self.client.loop_start()
        assert self.connected.wait(5), "the controller could not connect"
        self.client.subscribe([("ib/fleet/v1/+/+/state", 1), ("ib/fleet/v1/+/+/status", 1), ("edges/#", 0),
                               ("replies/#", 1), ("archive/#", 1)])

    def _on_message(self, client, userdata, msg):
        body = msg.payload.decode()
        with self.lock:
            if msg.topic.startswith("edges/"):
                self.data.add(msg.topic.split("/")[1])
                return
            if msg.topic.startswith("archive/"):
                self.archived.append(json.loads(body)["values"]["temp"])
                return
            if msg.topic.startswith("replies/"):
                corr = getattr(msg.properties, "CorrelationData", None)
                self.responses.append((corr, json.loads(body)))
                return
            if not body:
                return
            edge = msg.topic.split("/")[4]
            if msg.topic.endswith("/state"):
                self.state[edge] = json.loads(body)
            else:
                self.status[edge] = json.loads(body)
                self.statuses.append((edge, json.loads(body)))

    def push(self, edge, revision, config, base=None, signature=None, retain=True):
        body = {"revision": revision, "base": base, "config": config}
        if signature is not None:
            body["signature"] = signature
        info = self.client.publish(prefix(edge) + "desired", json.dumps(body), qos=1, retain=retain)
        info.wait_for_publish(5)

    def command(self, edge, body, response_topic=None, correlation=None):
        props = None
        if response_topic:
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = response_topic
            props.CorrelationData = correlation
        self.client.publish(prefix(edge) + "cmd", json.dumps(body), qos=1, properties=props).wait_for_publish(5)

    def final(self, edge, revision):
        """The last report ending this revision's request, or None."""
        with self.lock:
            s = self.status.get(edge)
        if s and s.get("revision") == revision and s["phase"] in ("done", "failed", "rolled_back"):
            return s
        return None

    def wait_final(self, edges, revision, timeout=20):
        h.wait_until(lambda: all(self.final(e, revision) for e in edges), timeout=timeout, interval=0.05)
        return {e: self.final(e, revision) for e in edges}

    def online_state(self, edge):
        with self.lock:
            s = self.state.get(edge)
        return s if s and s.get("online") else None

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


@h.ironbridge_only("the fleet is an Ironbridge feature")
class FleetTest(BridgeCase):
    def controller(self, up, **kw):
        c = Controller(up.port, **kw)
        self.addCleanup(c.close)
        return c

    def edge(self, up, name, probe_window=1, fleet_extra="", username="", password="", start=True, extra="",
             client_id=True):
        toml = extra + cloud_bridge(up.port, name, username, password, client_id) + (
            '\n[fleet]\nsite = "%s"\nedge = "%s"\nbridge = "cloud"\nprobe_window = %d\nstate_interval = 60\n%s'
            % (SITE, name, probe_window, fleet_extra))
        b = h.Broker(extra_toml=toml)
        self._ib_brokers.append(b)
        self.addCleanup(b.close)
        if start:
            b.start()
        return b

    def api(self, node, path, method="GET", token=None):
        req = urllib.request.Request("http://%s:%d%s" % (h.HOST, node.api_port, path), method=method)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def drift(self, node):
        code, report = self.api(node, "/api/v1/health/inspection")
        self.assertEqual(code, 200, report)
        return next(c for c in report["checks"] if c["id"] == "config_drift")

    def wait_online(self, ctl, edges, revision=None, timeout=15):
        def ok():
            for e in edges:
                s = ctl.online_state(e)
                if not s or (revision is not None and s["revision"] != revision):
                    return False
            return True
        self.assertTrue(h.wait_until(ok, timeout=timeout), "edges not online: %r" % ctl.state)

    def test_a_push_reaches_every_edge_a_bad_rule_is_refused_and_nothing_changes(self):
        up = self.upstream()
        ctl = self.controller(up)
        names = ["e1", "e2", "e3"]
        nodes = [self.edge(up, n) for n in names]
        self.wait_online(ctl, names, revision=0)
        self.assertEqual(ctl.state["e1"]["site"], SITE)
        for n in names:
            ctl.push(n, 1, DEVICE + RULE, base=0)
        finals = ctl.wait_final(names, 1)
        for n in names:
            self.assertEqual(finals[n] and finals[n]["phase"], "done", ctl.statuses)
        self.wait_online(ctl, names, revision=1)
        self.assertEqual(len(ctl.state["e2"]["hash"]), 64)
        # The new device publishes, and the bridge carries it up.
        self.assertTrue(h.wait_until(lambda: set(names) <= ctl.data, timeout=10), ctl.data)
        phases = [s["phase"] for e, s in ctl.statuses if e == "e1" and s.get("revision") == 1]
        self.assertEqual(phases, ["received", "validating", "applying", "probing", "done"])

        # A rule that does not compile: the loader's message, and nothing changes.
        for n in names:
            ctl.push(n, 2, DEVICE + BAD_RULE, base=1)
        finals = ctl.wait_final(names, 2)
        for n in names:
            self.assertEqual(finals[n]["phase"], "failed", finals)
            self.assertEqual(finals[n]["code"], "invalid")
            self.assertIn("revision 2:", finals[n]["errors"][0])
            self.assertIn("rules[0]", finals[n]["errors"][0])
        code, rules = self.api(nodes[0], "/api/v1/rules")
        self.assertEqual(code, 200)
        self.assertEqual([r["id"] for r in rules], ["hot"])
        self.assertEqual(rules[0]["source"], "fleet")
        code, listing = self.api(nodes[0], "/api/v1/config/revisions")
        self.assertEqual(listing["in_force"], 1)
        self.assertEqual([(r["revision"], r["status"]) for r in listing["revisions"]], [(2, "failed"), (1, "applied")])

        # A revision made against another one than the edge runs is refused.
        ctl.push("e1", 3, ACL_DENY_SECRET, base=0, retain=False)
        self.assertEqual(ctl.wait_final(["e1"], 3)["e1"]["code"], "base_mismatch", ctl.statuses)

        # An ACL alone: the devices and rules stay, local clients get the new rules.
        ctl.push("e1", 4, ACL_DENY_SECRET, base=1)
        self.assertEqual(ctl.wait_final(["e1"], 4)["e1"]["phase"], "done", ctl.statuses)
        local = self.paho(nodes[0], "local-client")
        local.connect()
        self.assertGreaterEqual(local.subscribe("secret/#", qos=1)[0], 0x80)
        self.assertLess(local.subscribe("open/#", qos=1)[0], 0x80)
        code, rules = self.api(nodes[0], "/api/v1/rules")
        self.assertEqual([r["id"] for r in rules], ["hot"])

        # A stale revision is refused; the diff and a rollback to the file through the API.
        ctl.push("e1", 1, DEVICE, base=None, retain=False)
        self.assertTrue(h.wait_until(lambda: (ctl.status.get("e1") or {}).get("code") == "stale"))
        code, d = self.api(nodes[0], "/api/v1/config/revisions/diff?from=0&to=4")
        self.assertEqual(code, 200, d)
        self.assertEqual(d["diff"]["devices"]["added"], ["press"])
        self.assertEqual(d["diff"]["rules"]["added"], ["hot"])
        self.assertEqual(d["diff"]["acl"], {"changed": True})
        code, body = self.api(nodes[0], "/api/v1/config/revisions/77/rollback", "POST")
        self.assertEqual(code, 404, body)
        code, body = self.api(nodes[0], "/api/v1/config/revisions/0/rollback", "POST")
        self.assertEqual(code, 202, body)
        code, audit = self.api(nodes[0], "/api/v1/audit?limit=5")
        self.assertIn("/api/v1/config/revisions/0/rollback", [e["path"] for e in audit["entries"]])
        self.assertTrue(h.wait_until(lambda: (ctl.online_state("e1") or {}).get("revision") == 0, timeout=10),
                        ctl.state)
        code, devices = self.api(nodes[0], "/api/v1/devices")
        self.assertEqual(devices, [])

    def test_edges_made_from_one_template_keep_their_own_connection(self):
        # No client_id in the template: each edge presents its own default,
        # ironbridge-{site}-{edge}-{bridge}. One id for all would make the cloud
        # broker close one edge's link for the next one's, in a loop.
        up = self.upstream()
        ctl = self.controller(up)
        names = ["t1", "t2"]
        nodes = [self.edge(up, n, client_id=False) for n in names]
        self.wait_online(ctl, names, revision=0)
        # A push and its probe window: both links must hold meanwhile.
        for n in names:
            ctl.push(n, 1, DEVICE, base=0)
        finals = ctl.wait_final(names, 1)
        for n in names:
            self.assertEqual(finals[n] and finals[n]["phase"], "done", ctl.statuses)
        for node in nodes:
            code, bridge = self.api(node, "/api/v1/bridges/cloud")
            self.assertEqual(code, 200, bridge)
            self.assertTrue(bridge["connected"], bridge)
            self.assertEqual(bridge["connects"], 1, bridge)
        log = up.log_text()
        for n in names:
            self.assertIn(" as ironbridge-%s-%s-cloud " % (SITE, n), log)

    def test_wrong_bridge_credentials_are_rolled_back_by_each_edge(self):
        pwdir = tempfile.mkdtemp(prefix="ibfleet-pw-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", pwdir]))
        os.chmod(pwdir, 0o755)
        pwfile = os.path.join(pwdir, "passwd")
        for user, pw in (("edge", "right"), ("controller", "ctl")):
            subprocess.run(["mosquitto_passwd", "-b"] + ([] if os.path.exists(pwfile) else ["-c"]) + [pwfile, user, pw],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.chmod(pwfile, 0o644)
        up = self.upstream(extra_conf="allow_anonymous false\npassword_file %s\n" % pwfile)
        ctl = self.controller(up, username="controller", password="ctl")
        names = ["e1", "e2"]
        # e1's API asks for a token (these lines land in its [api] table).
        tokens = 'allow_anonymous = false\ntokens = ["admin-t", "viewer:view-t"]\n'
        e1 = self.edge(up, "e1", probe_window=2, username="edge", password="right", extra=tokens)
        self.edge(up, "e2", probe_window=2, username="edge", password="right")
        self.wait_online(ctl, names, revision=0)
        for n in names:
            ctl.push(n, 5, cloud_bridge(up.port, n, "edge", "wrong"), base=0)
        finals = ctl.wait_final(names, 5, timeout=30)
        for n in names:
            self.assertEqual(finals[n] and finals[n]["phase"], "rolled_back", ctl.statuses)
            self.assertIn(finals[n]["code"], ("probe_failed", "link_lost"))
        # Back on the old credentials: online, on revision 0, saying why.
        self.wait_online(ctl, names, revision=0)
        self.assertTrue(h.wait_until(lambda: all((ctl.online_state(n) or {}).get("last_apply", {}).get("result")
                                                 == "rolled_back" for n in names), timeout=10), ctl.state)

        # A revision's passwords are for admins; a viewer sees them masked and may not roll back.
        code, body = self.api(e1, "/api/v1/config/revisions/5", token="view-t")
        self.assertEqual(code, 200, body)
        self.assertIn("********", body["config"])
        self.assertNotIn("wrong", body["config"])
        code, body = self.api(e1, "/api/v1/config/revisions/5", token="admin-t")
        self.assertIn('password = "wrong"', body["config"])
        code, body = self.api(e1, "/api/v1/config/revisions/5/rollback", "POST", token="view-t")
        self.assertEqual(code, 403, body)

        # A change to the fleet's bridge that keeps the link: restarted, probed, done.
        ctl.push("e1", 6, cloud_bridge(up.port, "e1", "edge", "right").replace("keep_alive_s = 5", "keep_alive_s = 7"),
                 base=0)
        self.assertEqual(ctl.wait_final(["e1"], 6)["e1"]["phase"], "done", ctl.statuses)
        self.wait_online(ctl, ["e1"], revision=6)

    def test_a_changed_bridge_restarts_on_its_queue_and_loses_nothing(self):
        up = self.upstream()
        ctl = self.controller(up)
        archive = """
[[bridges]]
name = "archive"
servers = ["127.0.0.1:%d"]
reconnect_min_ms = 50
reconnect_max_ms = 200
[[bridges.forwards]]
local = "ib/data/#"
remote = "archive/${topic}"
qos = 1
"""
        node = self.edge(up, "q", extra=DEVICE + archive % h.free_port())
        self.wait_online(ctl, ["q"], revision=0)
        # Readings wait in the archive bridge's queue while its server is unreachable.
        self.assertTrue(h.wait_until(lambda: self.api(node, "/api/v1/bridges/archive")[1]["backlog"]["messages"] >= 5,
                                     timeout=10))
        ctl.push("q", 1, cloud_bridge(up.port, "q") + archive % up.port, base=0)
        self.assertEqual(ctl.wait_final(["q"], 1)["q"]["phase"], "done", ctl.statuses)
        # Every reading since the start arrives, in order: nothing queued was lost.
        self.assertTrue(h.wait_until(lambda: len(ctl.archived) >= 10, timeout=10), ctl.archived)
        values = list(ctl.archived)
        self.assertEqual(values[0], 0, values)
        self.assertEqual(values, list(range(len(values))))

    def test_a_bridge_a_revision_adds_with_forward_files_forwards_files(self):
        up = self.upstream()
        ctl = self.controller(up)
        # The files' upstream is another Ironbridge (Debian's mosquitto has no file transfer).
        files_up = self.start_broker(extra_toml=file_toml())
        node = self.edge(up, "f", extra=file_toml())
        self.wait_online(ctl, ["f"], revision=0)
        files_bridge = """
[[bridges]]
name = "files-up"
servers = ["127.0.0.1:%d"]
client_id = "edge-f-files"
reconnect_min_ms = 50
reconnect_max_ms = 300
forward_files = true
""" % files_up.port
        ctl.push("f", 1, cloud_bridge(up.port, "f") + files_bridge, base=0)
        self.assertEqual(ctl.wait_final(["f"], 1)["f"]["phase"], "done", ctl.statuses)
        sender = FileSender(node.port, "cam")
        self.addCleanup(sender.close)
        data = os.urandom(100 * 1024)
        sender.expect_ok(sender.send_file("shot", data))
        self.assertTrue(h.wait_until(lambda: file_list(files_up)["total"] == 1, timeout=20, interval=0.1),
                        file_list(files_up))
        self.assertEqual(sha(stored(files_up, "edge-f-files-files", "cam~shot")), sha(data))
        # Forwarded, it leaves the edge, as from a bridge of the file.
        self.assertTrue(h.wait_until(lambda: file_list(node)["total"] == 0, timeout=10), file_list(node))

    def test_a_device_that_does_not_connect_is_rolled_back(self):
        up = self.upstream()
        ctl = self.controller(up)
        node = self.edge(up, "dead")
        self.wait_online(ctl, ["dead"], revision=0)
        dead_port = h.free_port()
        ctl.push("dead", 1, DEVICE + """
[[devices]]
name = "plc"
driver = "modbus-tcp"
host = "127.0.0.1"
port = %d
[[devices.groups]]
name = "slow"
interval_ms = 500
tags = [{ name = "r", address = "1!400001", type = "uint16" }]
""" % dead_port, base=0)
        final = ctl.wait_final(["dead"], 1)["dead"]
        self.assertEqual(final["phase"], "rolled_back", ctl.statuses)
        self.assertEqual(final["code"], "probe_failed")
        self.assertIn("device 'plc'", final["reason"])
        code, devices = self.api(node, "/api/v1/devices")
        self.assertEqual(devices, [])
        # The inspection's drift check says why, until a good revision is in force.
        drift = self.drift(node)
        self.assertEqual(drift["status"], "fail", drift)
        self.assertIn("rolled_back", drift["value"])
        self.assertIn("device 'plc'", drift["value"])
        ctl.push("dead", 2, DEVICE, base=0)
        self.assertEqual(ctl.wait_final(["dead"], 2)["dead"]["phase"], "done", ctl.statuses)
        drift = self.drift(node)
        self.assertEqual(drift["status"], "pass", drift)
        self.assertIn("applied revision 2", drift["value"])

    def test_an_edge_down_during_the_push_converges_when_it_starts(self):
        up = self.upstream()
        ctl = self.controller(up)
        node = self.edge(up, "late", start=False)
        ctl.push("late", 3, DEVICE, base=None)
        node.start()
        self.assertEqual(ctl.wait_final(["late"], 3)["late"]["phase"], "done", ctl.statuses)
        self.wait_online(ctl, ["late"], revision=3)
        # A clean stop says it is offline (with the time); it starts on its
        # revision again, and the retained message is not applied twice.
        node.stop()
        self.assertTrue(h.wait_until(lambda: ctl.state.get("late", {}).get("online") is False, timeout=10), ctl.state)
        self.assertIn("ts", ctl.state["late"])
        ctl.statuses.clear()
        node.start()
        self.wait_online(ctl, ["late"], revision=3)
        code, devices = self.api(node, "/api/v1/devices")
        self.assertEqual([d["name"] for d in devices], ["press"])
        self.assertEqual([s for e, s in ctl.statuses if e == "late"], [])

    def test_kill_9_during_the_probe_leaves_the_old_revision(self):
        up = self.upstream()
        ctl = self.controller(up)
        node = self.edge(up, "k9", probe_window=30)
        self.wait_online(ctl, ["k9"], revision=0)
        ctl.push("k9", 4, DEVICE, base=0)
        self.assertTrue(h.wait_until(lambda: (ctl.status.get("k9") or {}).get("phase") == "probing", timeout=10),
                        ctl.statuses)
        node.kill9()
        # The last will says it is offline.
        self.assertTrue(h.wait_until(lambda: ctl.state.get("k9", {}).get("online") is False, timeout=10), ctl.state)
        self.assertNotIn("ts", ctl.state["k9"])
        node.start()
        finals = ctl.wait_final(["k9"], 4)
        self.assertEqual(finals["k9"]["phase"], "rolled_back", ctl.statuses)
        self.assertEqual(finals["k9"]["code"], "interrupted")
        self.wait_online(ctl, ["k9"], revision=0)
        code, devices = self.api(node, "/api/v1/devices")
        self.assertEqual(devices, [])

    def test_only_a_signed_revision_is_applied_where_a_key_is_set(self):
        keydir = tempfile.mkdtemp(prefix="ibfleet-key-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", keydir]))
        key, pub, other = (os.path.join(keydir, n) for n in ("key.pem", "pub.pem", "other.pem"))
        for k in (key, other):
            subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", k], check=True)
        subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True)

        def sign(with_key, revision, base, config):
            msg = os.path.join(keydir, "msg")
            with open(msg, "wb") as f:
                f.write(("ib-fleet-v1\n%d\n%s\n%s" % (revision, "null" if base is None else base, config)).encode())
            sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", with_key, "-rawin", "-in", msg],
                                 check=True, stdout=subprocess.PIPE).stdout
            return base64.b64encode(sig).decode()

        up = self.upstream()
        ctl = self.controller(up)
        self.edge(up, "signed", fleet_extra='public_key = "%s"\n' % pub)
        self.wait_online(ctl, ["signed"], revision=0)
        ctl.push("signed", 6, DEVICE, base=None)
        self.assertEqual(ctl.wait_final(["signed"], 6)["signed"]["code"], "unsigned")
        ctl.push("signed", 7, DEVICE, base=None, signature=sign(other, 7, None, DEVICE))
        self.assertEqual(ctl.wait_final(["signed"], 7)["signed"]["code"], "bad_signature")
        ctl.push("signed", 8, DEVICE, base=None, signature=sign(key, 8, None, DEVICE))
        self.assertEqual(ctl.wait_final(["signed"], 8)["signed"]["phase"], "done", ctl.statuses)

        # Commands answer on the MQTT 5 response topic with the correlation data.
        ctl.command("signed", {"id": "c-1", "op": "dry-run", "revision": 9, "base": 8, "config": ""},
                    response_topic="replies/signed", correlation=b"corr-1")
        ctl.command("signed", {"id": "c-2", "op": "inspect"}, response_topic="replies/signed", correlation=b"corr-2")
        ctl.command("signed", {"id": "c-3", "op": "capture"}, response_topic="replies/signed", correlation=b"corr-3")
        self.assertTrue(h.wait_until(lambda: len([r for r in ctl.responses if r[1]["phase"] in
                                                  ("done", "failed")]) >= 3, timeout=10), ctl.responses)
        by_id = {r[1]["id"]: r for r in ctl.responses if r[1]["phase"] in ("done", "failed")}
        self.assertEqual(by_id["c-1"][0], b"corr-1")
        self.assertEqual(by_id["c-1"][1]["code"], "unsigned")  # a dry run is checked like a push
        self.assertEqual(by_id["c-2"][1]["code"], "unsupported")
        self.assertEqual(by_id["c-3"][0], b"corr-3")
        self.assertIn("name = 'press'", by_id["c-3"][1]["config"])


if __name__ == "__main__":
    unittest.main()
