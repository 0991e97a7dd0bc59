"""`ironbridge fleet` against real edges: a real mosquitto as the cloud broker,
three Ironbridge edges bridged to it with a [fleet] table, and the controller
run as an operator runs it.

FleetControllerTest NEEDS THE fleet-edge BRANCH (the edge side: [fleet], apply,
status and state messages). On a tree without it, `check-config` refuses the
[fleet] table and those tests are skipped with that reason, so this branch
stays green alone. ControllerAloneTest needs no edge: what the controller
leaves on the broker for an edge that is not there yet.

What a user would check: a push from a CSV reaches every edge (exit 0, the
table says done), a template with a bad rule is refused by every edge (exit
non-zero, the edge's message in the table), `list` shows the edges, and
`capture` gives a template that pushes back cleanly."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import ibharness as h
from bridge_peers import Upstream

EDGES = ("press-1", "press-2", "press-3")
SITE = "lyon"


def fleet_supported():
    """None when the binary knows [fleet]; else why the tests are skipped."""
    try:
        binary = h.ironbridge_bin()
    except unittest.SkipTest as e:
        return str(e)
    d = tempfile.mkdtemp(prefix="ibfleetprobe-")
    try:
        path = os.path.join(d, "probe.toml")
        with open(path, "w") as f:
            f.write('[[bridges]]\nname = "cloud"\nservers = ["127.0.0.1:1"]\n\n'
                    '[fleet]\nsite = "s"\nedge = "e"\nbridge = "cloud"\n')
        r = subprocess.run([binary, "check-config", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=15)
        if r.returncode != 0:
            return ("this binary has no fleet edge side (check-config refuses [fleet]: %s); it needs the "
                    "fleet-edge branch" % r.stderr.decode().strip().splitlines()[0][:200])
        return None
    finally:
        shutil.rmtree(d, ignore_errors=True)


_SKIP = fleet_supported() if not h.is_mosquitto() else "the fleet is an Ironbridge feature"

TEMPLATE = """[[rules]]
id = "hot-${edge}"
sql = "SELECT values.temp AS temp FROM \\"ib/data/+/fast\\" WHERE values.temp > ${limit}"
[[rules.actions]]
publish = { topic = "alarms/${site}/${edge}", qos = 1 }
"""

BAD_TEMPLATE = """[[rules]]
id = "bad"
sql = "SELECT nosuchfunction(values.temp) FROM \\"ib/data/+/fast\\""
[[rules.actions]]
publish = { topic = "alarms/x", qos = 1 }
"""


class FleetCli:
    """`ironbridge fleet` against self.cloud (or `port`), and files in self.dir."""
    CLI_ARGS = ()
    CLI_TIMEOUT_S = 30

    def fleet(self, *args, port=None):
        r = self.run_proc([h.ironbridge_bin(), "fleet", "--broker", "127.0.0.1:%d" % (port or self.cloud.port)]
                          + list(self.CLI_ARGS) + list(args), timeout=self.CLI_TIMEOUT_S)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path


@unittest.skipIf(_SKIP, _SKIP or "")
class FleetControllerTest(FleetCli, h.IBTestCase):
    CLI_ARGS = ("--timeout", "40")
    CLI_TIMEOUT_S = 60

    @classmethod
    def setUpClass(cls):
        cls.cloud = Upstream()
        cls.cloud.start()
        cls.dir = tempfile.mkdtemp(prefix="ibfleetctl-")
        cls.edges = {}
        try:
            for edge in EDGES:
                node = h.Broker(extra_toml="\n".join([
                    # Each edge its own client id upstream, or they would take each other's session.
                    "[[bridges]]", 'name = "cloud"', 'servers = ["127.0.0.1:%d"]' % cls.cloud.port,
                    'client_id = "%s-%s"' % (SITE, edge),
                    "reconnect_min_ms = 50", "reconnect_max_ms = 400", "",
                    "[fleet]", 'site = "%s"' % SITE, 'edge = "%s"' % edge, 'bridge = "cloud"',
                    "probe_window = 2", "state_interval = 5", 'labels = ["line=A"]', ""]))
                cls.edges[edge] = node
                node.start()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for node in cls.edges.values():
            node.close()
        cls.cloud.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def params_csv(self):
        return self.write("params.csv", "edge,site,limit\n" + "".join(
            "%s,%s,%d\n" % (e, SITE, 50 + i) for i, e in enumerate(EDGES)))

    def wait_online(self):
        def listed():
            code, out, _ = self.fleet("list")
            rows = [l for l in out.splitlines() if l.startswith(SITE + "/")]
            return out if code == 0 and len(rows) == 3 and all(" yes " in l for l in rows) else None
        out = h.wait_until(listed, timeout=20, interval=0.3)
        self.assertTrue(out, "the three edges did not show online in `fleet list`")
        return out

    def test_1_list_shows_every_edge_online(self):
        out = self.wait_online()
        for e in EDGES:
            self.assertRegex(out, r"%s/%s +yes" % (SITE, e))
        self.assertIn("3 edges, 3 online", out)

    def test_2_a_push_from_csv_reaches_every_edge(self):
        self.wait_online()
        code, out, err = self.fleet("push", self.write("t.toml", TEMPLATE), "--params", self.params_csv(),
                                    "--targets", "lyon/*,line=A")
        self.assertEqual(code, 0, out + err)
        for e in EDGES:
            self.assertRegex(out, r"%s/%s +done" % (SITE, e))
        self.assertIn("3 done, 0 failed", out)
        # Each edge runs its own rule, filled from its row.
        for i, e in enumerate(EDGES):
            status, _, body = self.edges[e].http_get("/api/v1/rules/hot-%s" % e)
            self.assertEqual(status, 200, body)
            self.assertIn(b"> %d" % (50 + i), body)

    def test_3_a_bad_rule_is_refused_by_every_edge(self):
        self.wait_online()
        code, out, err = self.fleet("push", self.write("bad.toml", BAD_TEMPLATE), "--targets", "*/*")
        self.assertNotEqual(code, 0, out + err)
        for e in EDGES:
            self.assertRegex(out, r"%s/%s +failed +invalid +.*nosuchfunction" % (SITE, e))
        self.assertIn("0 done, 3 failed", out)

    def test_4_a_missing_parameter_sends_nothing(self):
        code, out, err = self.fleet("push", self.write("m.toml", 'x = "${nope}"\n'), "--params", self.params_csv(),
                                    "--targets", "lyon/press-1")
        self.assertEqual(code, 2)
        self.assertIn("edge lyon/press-1: no parameter 'nope'", err)

    def test_5_capture_round_trips(self):
        self.wait_online()
        code, captured, err = self.fleet("capture", "lyon/press-2")
        self.assertEqual(code, 0, captured + err)
        self.assertNotIn("press-2", captured)  # the edge's own id became ${edge}
        code, out, err = self.fleet("push", self.write("captured.toml", captured), "--targets", "lyon/press-2")
        self.assertEqual(code, 0, out + err)
        self.assertRegex(out, r"lyon/press-2 +done")

    def test_6_diff_changes_nothing_and_says_what_would(self):
        self.wait_online()
        template = self.write("d.toml", TEMPLATE.replace("hot-${edge}", "warm-${edge}"))
        code, out, err = self.fleet("diff", template, "--params", self.params_csv(), "--targets", "lyon/press-3")
        self.assertEqual(code, 0, out + err)
        self.assertRegex(out, r"lyon/press-3 +done +- +rules .*\+warm-press-3")
        status, _, _ = self.edges["press-3"].http_get("/api/v1/rules/warm-press-3")
        self.assertEqual(status, 404)

    def test_7_rollback_to_the_first_push(self):
        self.wait_online()
        code, out, err = self.fleet("push", self.write("t.toml", TEMPLATE), "--params", self.params_csv(),
                                    "--targets", "lyon/press-1")
        self.assertEqual(code, 0, out + err)
        first = int(re.search(r"pushing revision (\d+)", err).group(1))
        code, out, err = self.fleet("push", self.write("d.toml", TEMPLATE.replace("hot-${edge}", "cold-${edge}")),
                                    "--params", self.params_csv(), "--targets", "lyon/press-1")
        self.assertEqual(code, 0, out + err)
        self.assertEqual(self.edges["press-1"].http_get("/api/v1/rules/hot-press-1")[0], 404)
        code, out, err = self.fleet("rollback", "--to", str(first), "--targets", "lyon/press-1")
        self.assertEqual(code, 0, out + err)
        self.assertRegex(out, r"lyon/press-1 +done")
        self.assertEqual(self.edges["press-1"].http_get("/api/v1/rules/hot-press-1")[0], 200)

    def test_8_a_controller_node_pushes_through_its_rest_api(self):
        self.wait_online()
        ctl = self.start_broker(extra_toml='[fleet_controller]\nbroker = "127.0.0.1:%d"\ntimeout = 40\n'
                                % self.cloud.port)

        def api(path, body=None):
            return rest(ctl, path, body)

        def three_online():
            code, body = api("/api/v1/fleet/edges")
            return code == 200 and body["connected"] and sum(e["online"] for e in body["edges"]) == 3 and body
        listed = h.wait_until(three_online, timeout=15, interval=0.2)
        self.assertTrue(listed, api("/api/v1/fleet/edges"))
        self.assertEqual(sorted(e["edge"] for e in listed["edges"]), list(EDGES))
        # A template error is refused at once and nothing is sent.
        code, body = api("/api/v1/fleet/push", {"template": TEMPLATE, "targets": "lyon/press-1"})
        self.assertEqual(code, 400, body)
        self.assertIn("no parameter 'limit'", body["error"])
        template = TEMPLATE.replace("hot-${edge}", "rest-${edge}")
        params = [{"edge": "press-1", "site": SITE, "limit": 71}, {"edge": "press-2", "site": SITE, "limit": 72}]
        code, body = api("/api/v1/fleet/push", {"template": template, "params": params,
                                                "targets": ["lyon/press-1", "lyon/press-2"]})
        self.assertEqual(code, 202, body)
        self.assertEqual(body["edges"], 2)
        push_id = body["id"]

        def finished():
            code, body = api("/api/v1/fleet/pushes/" + push_id)
            return code == 200 and body["finished"] and body
        result = h.wait_until(finished, timeout=40, interval=0.3)
        self.assertTrue(result, api("/api/v1/fleet/pushes/" + push_id))
        self.assertTrue(result["succeeded"], result)
        self.assertEqual([(e["edge"], e["phase"]) for e in result["edges"]], [("press-1", "done"), ("press-2", "done")])
        for e, limit in (("press-1", 71), ("press-2", 72)):
            status, _, rule = self.edges[e].http_get("/api/v1/rules/rest-%s" % e)
            self.assertEqual(status, 200, rule)
            self.assertIn(b"> %d" % limit, rule)
        self.assertEqual(self.edges["press-3"].http_get("/api/v1/rules/rest-press-3")[0], 404)
        self.assertEqual(api("/api/v1/fleet/pushes/no-such")[0], 404)
        # A dry run says what would change on press-3 and changes nothing.
        code, body = api("/api/v1/fleet/dry-run", {"template": template, "params": "edge,site,limit\npress-3,lyon,73\n",
                                                   "targets": "lyon/press-3"})
        self.assertEqual(code, 202, body)
        dry_id = body["id"]

        def dry_finished():
            code, body = api("/api/v1/fleet/pushes/" + dry_id)
            return code == 200 and body["finished"] and body
        dry = h.wait_until(dry_finished, timeout=20, interval=0.3)
        self.assertTrue(dry, api("/api/v1/fleet/pushes/" + dry_id))
        self.assertEqual(dry["edges"][0]["phase"], "done", dry)
        self.assertIn("+rest-press-3", dry["edges"][0]["message"])
        self.assertEqual(self.edges["press-3"].http_get("/api/v1/rules/rest-press-3")[0], 404)
        # The orders are in the audit log, like the API's other changes.
        code, audit = api("/api/v1/audit")
        self.assertEqual(code, 200, audit)
        self.assertIn(push_id, json.dumps(audit))
        # A restart forgets nothing of them: the push and the dry run answer as before.
        ctl.restart()
        code, kept = api("/api/v1/fleet/pushes/" + push_id)
        self.assertEqual(code, 200, kept)
        self.assertEqual(kept, result)
        code, kept = api("/api/v1/fleet/pushes/" + dry_id)
        self.assertEqual(code, 200, kept)
        self.assertEqual(kept, dry)


def rest(node, path, body=None):
    """The node's REST API: (status, JSON body)."""
    req = urllib.request.Request("http://%s:%d%s" % (h.HOST, node.api_port, path),
                                 data=None if body is None else json.dumps(body).encode(),
                                 method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@unittest.skipIf(_SKIP, _SKIP or "")
class SignedControllerTest(h.IBTestCase):
    """A controller node with sign_key, another without, and an edge that
    accepts only configurations signed by that key: through the REST API."""

    def setUp(self):
        self.cloud = Upstream()
        self.addCleanup(self.cloud.close)
        self.cloud.start()
        keydir = tempfile.mkdtemp(prefix="ibfleetkey-")
        self.addCleanup(shutil.rmtree, keydir, True)
        self.key, pub = os.path.join(keydir, "key.pem"), os.path.join(keydir, "pub.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", self.key], check=True, timeout=30)
        subprocess.run(["openssl", "pkey", "-in", self.key, "-pubout", "-out", pub], check=True, timeout=30)
        self.edge = self.start_broker(extra_toml="\n".join([
            "[[bridges]]", 'name = "cloud"', 'servers = ["127.0.0.1:%d"]' % self.cloud.port,
            "reconnect_min_ms = 50", "reconnect_max_ms = 400", "",
            "[fleet]", 'site = "%s"' % SITE, 'edge = "press-s"', 'bridge = "cloud"', "probe_window = 1",
            'public_key = "%s"' % pub, ""]))

    def controller(self, sign_key=""):
        extra = 'sign_key = "%s"\n' % sign_key if sign_key else ""
        node = self.start_broker(extra_toml='[fleet_controller]\nbroker = "127.0.0.1:%d"\ntimeout = 30\n%s'
                                 % (self.cloud.port, extra))
        def edge_online():
            body = rest(node, "/api/v1/fleet/edges")[1]
            return body["connected"] and any(e["online"] for e in body["edges"])
        online = h.wait_until(edge_online, timeout=15, interval=0.2)
        self.assertTrue(online, rest(node, "/api/v1/fleet/edges"))
        return node

    def order(self, node, path, body):
        code, accepted = rest(node, path, body)
        self.assertEqual(code, 202, accepted)
        finished = h.wait_until(lambda: (lambda r: r[0] == 200 and r[1]["finished"] and r[1])(
            rest(node, "/api/v1/fleet/pushes/" + accepted["id"])), timeout=30, interval=0.2)
        self.assertTrue(finished, rest(node, "/api/v1/fleet/pushes/" + accepted["id"]))
        return accepted, finished

    def rule(self, rule_id):
        return self.edge.http_get("/api/v1/rules/" + rule_id)[0]

    def push(self, node, rule_id):
        return self.order(node, "/api/v1/fleet/push", {
            "template": TEMPLATE.replace("hot-${edge}", rule_id), "targets": "lyon/press-s",
            "params": [{"edge": "press-s", "site": SITE, "limit": 60}]})

    def test_a_signed_push_is_applied_an_unsigned_one_refused_and_a_rollback_goes_back(self):
        signer = self.controller(self.key)
        first, result = self.push(signer, "signed-a")
        self.assertTrue(result["succeeded"], result)
        self.assertEqual(self.rule("signed-a"), 200)

        # The same from a controller without the key: refused, nothing changes.
        _, result = self.push(self.controller(), "unsigned-b")
        self.assertFalse(result["succeeded"], result)
        self.assertEqual([(e["phase"], e["code"]) for e in result["edges"]], [("failed", "unsigned")])
        self.assertEqual(self.rule("unsigned-b"), 404)
        self.assertEqual(self.rule("signed-a"), 200)

        _, result = self.push(signer, "signed-c")
        self.assertTrue(result["succeeded"], result)
        self.assertEqual((self.rule("signed-a"), self.rule("signed-c")), (404, 200))

        # POST /api/v1/fleet/rollback: the edge applies the first push's revision again.
        accepted, result = self.order(signer, "/api/v1/fleet/rollback",
                                      {"to": first["revision"], "targets": "lyon/press-s"})
        self.assertEqual((accepted["revision"], accepted["edges"]), (first["revision"], 1))
        self.assertEqual(result["op"], "rollback")
        self.assertTrue(result["succeeded"], result)
        self.assertEqual([(e["edge"], e["phase"]) for e in result["edges"]], [("press-s", "done")])
        self.assertEqual((self.rule("signed-a"), self.rule("signed-c")), (200, 404))
        # A revision the edge does not keep: its refusal comes back as the edge's result.
        _, result = self.order(signer, "/api/v1/fleet/rollback", {"to": 999, "targets": "lyon/press-s"})
        self.assertFalse(result["succeeded"], result)
        self.assertEqual(result["edges"][0]["code"], "unknown_revision", result)


@h.ironbridge_only("the fleet controller is an Ironbridge feature")
class ControllerAloneTest(FleetCli, h.IBTestCase):
    """The controller against a real mosquitto with no edge online."""

    def setUp(self):
        self.cloud = Upstream()
        self.addCleanup(self.cloud.close)
        self.cloud.start()
        self.dir = tempfile.mkdtemp(prefix="ibfleetctl-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def retained(self, topic):
        sub = h.PahoClient(self.cloud.port, "ctl-test-reader")
        self.addCleanup(sub.close)
        sub.connect()
        sub.subscribe(topic, qos=1)
        msgs = sub.expect_messages(1, timeout=5)
        return msgs[0]

    def test_an_edge_not_yet_online_gets_its_retained_desired_and_the_push_says_it_did_not_answer(self):
        params = self.write("p.csv", "edge,site,limit\npress-9,lyon,70\n")
        code, out, err = self.fleet("--timeout", "1", "push", "--targets", "lyon/*",
                                    self.write("t.toml", TEMPLATE), "--params", params)
        self.assertEqual(code, 1, out + err)
        self.assertRegex(out, r"lyon/press-9 +sent +timeout +no final answer within 1 s")
        msg = self.retained("ib/fleet/v1/lyon/press-9/desired")
        self.assertTrue(msg.retain)
        desired = json.loads(msg.payload)
        self.assertEqual((desired["revision"], desired["base"]), (1, None))
        self.assertIn('id = "hot-press-9"', desired["config"])
        self.assertIn("values.temp > 70", desired["config"])
        self.assertIn('topic = "alarms/lyon/press-9"', desired["config"])

    def test_a_missing_parameter_names_the_edge_and_sends_nothing(self):
        params = self.write("p.csv", "edge,site\npress-9,lyon\n")
        code, out, err = self.fleet("push", self.write("t.toml", TEMPLATE), "--params", params, "--targets", "*/*")
        self.assertEqual(code, 2, out + err)
        self.assertIn("edge lyon/press-9: no parameter 'limit' (line 3 of the template)", err)
        self.assertIn("nothing was sent", err)
        code, out, _ = self.fleet("list")
        self.assertEqual(code, 0)
        self.assertIn("no edge has published its state", out)

    def test_a_controller_node_exits_0_on_sigterm_while_its_broker_does_not_answer(self):
        # A cloud broker behind a stalled link: it accepts the connection and never answers.
        silent = socket.socket()
        self.addCleanup(silent.close)
        silent.bind((h.HOST, 0))
        silent.listen(4)
        node = self.start_broker(extra_toml='[fleet_controller]\nbroker = "127.0.0.1:%d"\n' % silent.getsockname()[1])
        accepted = []
        silent.settimeout(10)
        accepted.append(silent.accept()[0])  # the controller is waiting for its CONNACK
        self.addCleanup(accepted[0].close)
        proc = node.proc
        started = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        # A bound on hanging, not a speed figure: before, it waited out the 10 s connect.
        try:
            code = proc.wait(8)
        except subprocess.TimeoutExpired:
            self.fail("the node did not exit within 8 s of SIGTERM")
        self.assertEqual(code, 0, node.log_text())
        self.assertLess(time.monotonic() - started, 8)

    def test_an_unreachable_broker_exits_2(self):
        code, out, err = self.fleet("list", port=h.free_port())
        self.assertEqual(code, 2)
        self.assertIn("cannot connect to 127.0.0.1:", err)


if __name__ == "__main__":
    unittest.main()
