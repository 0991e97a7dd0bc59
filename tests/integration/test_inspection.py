"""The health inspection as an operator meets it: GET /api/v1/health/inspection,
the ib_health_score gauge, and `ironbridge inspect`'s table and exit code
(0 every check passes, 1 one warns, 2 one fails, 3 the node cannot be asked).

A node whose bridge points at an upstream that is not running fails cloud_link,
and with anonymous clients on a 0.0.0.0 listener warns on security; a node with
everything on the loopback and no bridge passes."""

import json
import os
import re
import unittest

import ibharness as h


def check_of(body, check_id):
    for c in body["checks"]:
        if c["id"] == check_id:
            return c
    raise AssertionError("no check %r in %r" % (check_id, [c["id"] for c in body["checks"]]))


# Checks that depend on the machine the test runs on rather than on the node.
MACHINE_CHECKS = ("host", "disk")


@h.ironbridge_only("the health inspection is an Ironbridge feature")
class InspectionTest(h.IBTestCase):

    def inspection(self, node):
        code, _, body = node.http_get("/api/v1/health/inspection")
        self.assertEqual(code, 200, body)
        return json.loads(body)

    def inspect_cli(self, node, *args):
        return self.run_proc([h.ironbridge_bin(), "inspect", "--url", "http://127.0.0.1:%d" % node.api_port]
                             + list(args))

    def test_a_stopped_upstream_fails_the_cloud_link_and_an_open_listener_warns(self):
        stopped_upstream = h.free_port()  # nothing listens there
        lan_port = h.free_port()
        node = self.start_broker(extra_toml="\n".join([
            "[[broker.listeners]]", 'name = "lan"', 'bind = "0.0.0.0"', "port = %d" % lan_port, "",
            "[[bridges]]", 'name = "cloud"', 'servers = ["127.0.0.1:%d"]' % stopped_upstream,
            "reconnect_min_ms = 50", "reconnect_max_ms = 400", "",
            "[[bridges.forwards]]", 'local = "plant/#"', ""]))
        body = self.inspection(node)
        link = check_of(body, "cloud_link")
        self.assertEqual(link["status"], "fail", link)
        self.assertIn("'cloud' down", link["value"])
        self.assertIn("[[bridges]] servers", link["advice"])
        security = check_of(body, "security")
        self.assertEqual(security["status"], "warn", security)
        self.assertIn("listener 'lan' on 0.0.0.0 accepts anonymous clients", security["value"])
        self.assertIn("allow_anonymous = false", security["advice"])
        self.assertLessEqual(body["score"], 100 - 15 - 5)
        self.assertEqual(check_of(body, "config_drift")["value"], "no fleet")

        # The gauges, once an evaluation has run (the first one at start).
        def gauges():
            _, _, m = node.http_get("/metrics")
            return m if b'ib_health_check{check="cloud_link"} 2' in m else None
        metrics = h.wait_until(gauges, timeout=10)
        self.assertTrue(metrics, "no ib_health_check gauge for cloud_link")
        score = re.search(rb"^ib_health_score (\d+)", metrics, re.M)
        self.assertTrue(score and int(score.group(1)) < 100, metrics[-600:])

        r = self.inspect_cli(node)
        out = r.stdout.decode()
        self.assertEqual(r.returncode, 2, out + r.stderr.decode())
        self.assertRegex(out, r"FAIL +cloud_link +0/1 connected")
        self.assertIn("advice: A bridge cannot reach its upstream broker", out)
        self.assertRegex(out, r"WARN +security")
        self.assertRegex(out, r"score: \d+/100")

        r = self.inspect_cli(node, "--json")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(check_of(json.loads(r.stdout), "cloud_link")["status"], "fail")

    def test_a_healthy_node_passes(self):
        node = self.start_broker()
        body = self.inspection(node)
        for c in body["checks"]:
            if c["id"] not in MACHINE_CHECKS:
                self.assertEqual(c["status"], "pass", c)
        self.assertEqual(check_of(body, "cloud_link")["value"], "no bridge")
        machine = [check_of(body, c)["status"] for c in MACHINE_CHECKS]
        r = self.inspect_cli(node)
        out = r.stdout.decode()
        self.assertRegex(out, r"PASS +security")
        expected = 2 if "fail" in machine else 1 if "warn" in machine else 0
        self.assertEqual(r.returncode, expected, out + r.stderr.decode())
        if expected == 0:
            self.assertIn("score: 100/100", out)

    def test_a_node_that_asks_for_credentials_is_inspected_with_a_viewer_token(self):
        # Right after [api]: these are api.allow_anonymous and api.tokens.
        node = self.start_broker(extra_toml='allow_anonymous = false\ntokens = ["viewer:insp-secret"]\n')
        r = self.inspect_cli(node)
        self.assertEqual(r.returncode, 3)
        self.assertIn("answered 401", r.stderr.decode())
        self.assertIn("--token", r.stderr.decode())
        r = self.inspect_cli(node, "--token", "insp-secret", "--json")
        self.assertIn(r.returncode, (0, 1, 2), r.stderr.decode())
        self.assertEqual(check_of(json.loads(r.stdout), "security")["status"], "pass")

    def test_an_unreachable_node_exits_3(self):
        r = self.run_proc([h.ironbridge_bin(), "inspect", "--url", "http://127.0.0.1:%d" % h.free_port()])
        self.assertEqual(r.returncode, 3)
        self.assertIn("cannot reach", r.stderr.decode())


if __name__ == "__main__":
    unittest.main()
