"""The observability kit against a running node: with a simulated device, a
rule and a bridge configured (so their metric families exist), every metric
name deploy/grafana/ironbridge.json and deploy/prometheus/alerts.yml use is
exported on /metrics; the dashboard is what make_dashboard.py writes; each
alert names a severity and a summary."""

import json
import os
import re
import subprocess
import sys
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import ibharness as h  # noqa: E402
from ibharness import IBTestCase  # noqa: E402

DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "ironbridge.json")
ALERTS = os.path.join(ROOT, "deploy", "prometheus", "alerts.yml")
METRIC = re.compile(r"\b(ib_[a-z0-9_]+)")

NODE = """[[devices]]
name = "sim1"
driver = "sim"
[[devices.groups]]
name = "fast"
interval_ms = 50
[[devices.groups.tags]]
name = "t"
address = "sine"

[[rules]]
id = "r1"
sql = "SELECT values.t AS t FROM \\"ib/data/+/fast\\""

[[bridges]]
name = "cloud"
servers = ["127.0.0.1:%d"]
[[bridges.forwards]]
local = "ib/data/#"
"""


def dashboard_exprs():
    with open(DASHBOARD) as f:
        d = json.load(f)
    exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in d["templating"]["list"] if "definition" in v]
    return exprs


def alert_rules():
    with open(ALERTS) as f:
        return [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]


def exported_names(text):
    """Every series name on /metrics (histogram and summary parts included)."""
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


class ObservabilityTest(IBTestCase):
    def test_every_metric_used_is_exported(self):
        b = self.start_broker(extra_toml=NODE % h.free_port())
        # Until the device has polled and the rule has seen a reading.
        def scraped():
            status, _, body = b.http_get("/metrics")
            text = body.decode()
            return text if status == 200 and re.search(r"(?m)^ib_rule_messages_in_total\S* [1-9]", text) else None
        text = h.wait_until(scraped, timeout=10)
        self.assertTrue(text, "no reading reached the rule within 10 s")
        exported = exported_names(text)
        used = {}
        for expr in dashboard_exprs():
            for name in METRIC.findall(expr):
                used.setdefault(name, "dashboard")
        for rule in alert_rules():
            for name in METRIC.findall(rule["expr"]):
                used.setdefault(name, "alert " + rule["alert"])
        self.assertGreater(len(used), 20)
        missing = sorted("%s (%s)" % (n, where) for n, where in used.items() if n not in exported)
        self.assertEqual(missing, [])

    def test_dashboard_is_generated(self):
        with open(DASHBOARD) as f:
            before = f.read()
        script = os.path.join(ROOT, "deploy", "grafana", "make_dashboard.py")
        out = subprocess.run(["/usr/bin/python3", "-c", "import runpy, json; g = runpy.run_path(%r, run_name='lib');"
                              "print(json.dumps(g['dashboard'](), indent=2, ensure_ascii=False))" % script],
                             stdout=subprocess.PIPE, text=True, timeout=30, check=True).stdout
        self.assertEqual(before, out, "deploy/grafana/ironbridge.json: run make_dashboard.py and commit it")

    def test_alerts_are_well_formed(self):
        rules = alert_rules()
        names = [r["alert"] for r in rules]
        self.assertEqual(len(names), len(set(names)))
        for r in rules:
            self.assertIn(r["labels"]["severity"], ("info", "warning", "critical"), r["alert"])
            self.assertTrue(r["annotations"]["summary"], r["alert"])
        for wanted in ("IronbridgeBridgeDown", "IronbridgeBridgeBacklogGrowing", "IronbridgeDeviceDown",
                       "IronbridgeDiskFilling"):
            self.assertIn(wanted, names)


if __name__ == "__main__":
    unittest.main()
