"""deploy/k8s, checked offline: each manifest against k8s_schema.json (the
fields we rely on, with the API's types; python3-jsonschema), the kustomization
lists every file, and the parts agree with each other and with Ironbridge:
Services and the PodDisruptionBudget select the pods, probes hit the health
endpoints on a declared port, the data volume is mounted at the configured
data_dir, resources fit the seeds' edge nodes, the scrape annotations point at
/metrics, and the ConfigMap's configuration passes `ironbridge check-config`.

Usage: test_k8s.py BINARY"""

import json
import os
import re
import sys
import tempfile
import subprocess
import unittest

import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
K8S = os.path.join(os.path.dirname(os.path.dirname(HERE)), "deploy", "k8s")
BINARY = None


def load_all():
    docs = {}
    for name in sorted(os.listdir(K8S)):
        if name.endswith(".yaml"):
            with open(os.path.join(K8S, name)) as f:
                docs[name] = [d for d in yaml.safe_load_all(f) if d is not None]
    return docs


class K8sManifestsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.files = load_all()
        cls.by_kind = {}
        for docs in cls.files.values():
            for d in docs:
                cls.by_kind.setdefault(d["kind"], []).append(d)
        cls.sts = cls.by_kind["StatefulSet"][0]
        cls.pod = cls.sts["spec"]["template"]
        cls.container = cls.pod["spec"]["containers"][0]

    def test_every_manifest_matches_the_schema(self):
        with open(os.path.join(HERE, "k8s_schema.json")) as f:
            schema = json.load(f)
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema)
        for name, docs in self.files.items():
            for d in docs:
                errors = ["%s: %s" % ("/".join(map(str, e.absolute_path)), e.message)
                          for e in validator.iter_errors(d)]
                self.assertEqual(errors, [], "%s (%s)" % (name, d.get("kind")))

    def test_kustomization_lists_every_manifest(self):
        listed = self.by_kind["Kustomization"][0]["resources"]
        self.assertEqual(sorted(listed), sorted(n for n in self.files if n != "kustomization.yaml"))

    def test_services_and_budget_select_the_pods(self):
        labels = self.pod["metadata"]["labels"]
        self.assertEqual(self.sts["spec"]["selector"]["matchLabels"].items() - labels.items(), set())
        port_names = {p["name"] for p in self.container["ports"]}
        for svc in self.by_kind["Service"]:
            self.assertEqual(svc["spec"]["selector"].items() - labels.items(), set(), svc["metadata"]["name"])
            for p in svc["spec"]["ports"]:
                self.assertIn(p["targetPort"], port_names)
        self.assertIn(self.sts["spec"]["serviceName"], {s["metadata"]["name"] for s in self.by_kind["Service"]})
        pdb = self.by_kind["PodDisruptionBudget"][0]
        self.assertEqual(pdb["spec"]["selector"]["matchLabels"].items() - labels.items(), set())

    def test_probes_use_the_health_endpoints(self):
        ports = {p["name"] for p in self.container["ports"]}
        self.assertEqual(self.container["livenessProbe"]["httpGet"]["path"], "/healthz/live")
        self.assertEqual(self.container["readinessProbe"]["httpGet"]["path"], "/healthz/ready")
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            if probe in self.container:
                self.assertIn(self.container[probe]["httpGet"]["port"], ports, probe)

    def test_resources_fit_an_edge_node(self):
        r = self.container["resources"]
        self.assertEqual(r["requests"], {"cpu": "50m", "memory": "64Mi"})
        self.assertEqual(r["limits"], {"memory": "128Mi"})

    def test_scrape_annotations_point_at_metrics(self):
        a = self.pod["metadata"]["annotations"]
        http = [p["containerPort"] for p in self.container["ports"] if p["name"] == "http"]
        self.assertEqual((a["prometheus.io/scrape"], a["prometheus.io/path"]), ("true", "/metrics"))
        self.assertEqual([int(a["prometheus.io/port"])], http)

    def test_config_and_volumes_agree(self):
        toml = self.by_kind["ConfigMap"][0]["data"]["ironbridge.toml"]
        data_dir = re.search(r'^data_dir = "([^"]+)"', toml, re.M).group(1)
        mounts = {m["name"]: m["mountPath"] for m in self.container["volumeMounts"]}
        self.assertEqual(mounts["data"], data_dir)
        declared = {v["name"] for v in self.pod["spec"].get("volumes", [])}
        declared |= {c["metadata"]["name"] for c in self.sts["spec"]["volumeClaimTemplates"]}
        self.assertEqual(set(mounts) - declared, set())
        # Files the config names live under a mount.
        for path in re.findall(r'"(/etc/ironbridge/[^"]+)"', toml):
            self.assertTrue(any(path.startswith(m + "/") for m in mounts.values()), path)
        self.assertIn("allow_anonymous = false", toml)

    def test_configmap_passes_check_config(self):
        toml = self.by_kind["ConfigMap"][0]["data"]["ironbridge.toml"]
        with tempfile.NamedTemporaryFile("w", suffix=".toml") as f:
            f.write(toml)
            f.flush()
            r = subprocess.run([BINARY, "check-config", f.name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit("usage: test_k8s.py BINARY")
    BINARY = os.path.abspath(sys.argv[1])
    unittest.main(argv=sys.argv[:1])
