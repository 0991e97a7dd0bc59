"""The Sparkplug B edge node against a third-party host application: Eclipse
Tahu's sparkplug-payload (npm, tests/peers/sparkplug/host.mjs) decoding and
encoding on a real Mosquitto that Ironbridge reaches through a bridge's
upstream. Births with every datatype, data after changes, DCMD writes landing
on a simulated and a Modbus device (the libmodbus peer), rebirth on request,
NDEATH as the will on kill -9, and the bdSeq kept across restarts."""

import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
import unittest

import ibharness as h
from bridge_peers import Upstream, bridge_toml
from modbus_peers import LibmodbusServer, device, devices_toml, group, holding, tag

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "..", "peers", "sparkplug")
GROUP = "plant1"
EDGE = "edge1"
WAIT_S = 10.0

# name, Ironbridge type, memory initial value, Sparkplug datatype the host decodes, value it decodes
SIM_TAGS = [
    ("flag", "bool", 1, "Boolean", True),
    ("i8", "int8", -5, "Int8", -5),
    ("u8", "uint8", 200, "UInt8", 200),
    ("i16", "int16", -300, "Int16", -300),
    ("u16", "uint16", 60000, "UInt16", 60000),
    ("i32", "int32", -70000, "Int32", -70000),
    ("u32", "uint32", 4000000000, "UInt32", 4000000000),
    ("i64", "int64", -5000000000, "Int64", -5000000000),
    ("u64", "uint64", 10000000000, "UInt64", 10000000000),
    ("f32", "float32", 21.5, "Float", 21.5),
    ("f64", "float64", 1234.5678, "Double", 1234.5678),
]


def node_available():
    return shutil.which("node") is not None and os.path.isdir(os.path.join(PEER, "node_modules", "sparkplug-payload"))


class Host:
    """host.mjs as a child process: its JSON lines collected by a thread."""

    def __init__(self, url, host_id="scada"):
        self.proc = subprocess.Popen(["node", os.path.join(PEER, "host.mjs"), url, GROUP, host_id],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()
        self.wait(lambda m: m.get("ready"), "the host's subscription")

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                pass

    def wait(self, pred, what, timeout=WAIT_S):
        """The first message from now on for which pred is true."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("host: no %s within %.0f s; last seen: %s" % (what, timeout, self.seen[-5:]))
            try:
                m = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(m)
            if pred(m):
                return m

    def message(self, kind, device=None, pred=lambda p: True, what=None):
        """The next message of `kind` (NBIRTH, DDATA, ...) whose payload pred accepts."""
        want = "spBv1.0/%s/%s/%s" % (GROUP, kind, EDGE) + ("/" + device if device else "")
        return self.wait(lambda m: m.get("topic") == want and pred(m["payload"]),
                         what or kind + (" of " + device if device else ""))["payload"]

    def send(self, obj):
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        self.proc.stdin.flush()

    def stop(self):
        h.stop_process(self.proc)


def metrics_of(payload):
    return {m.get("name", m.get("alias")): m for m in payload.get("metrics", [])}


def aliases_to_values(payload):
    return {m["alias"]: m["value"] for m in payload.get("metrics", [])}


def sparkplug_toml(upstream, extra=""):
    sim = device("sim1", [group("g", [tag(n, "memory:initial=%s" % json.dumps(v if not isinstance(v, bool) else int(v)),
                                          t, access="rw") for n, t, v, _, _ in SIM_TAGS]
                               + [tag("text", "memory", "string", access="rw"),
                                  tag("temp", "memory:initial=215", "uint16", scale=0.1, unit="degC", access="rw")])],
                 driver="sim")
    return (bridge_toml(upstream.port, forwards=[]) + "\n" +
            "[sparkplug]\nenabled = true\ngroup_id = %s\nedge_node_id = %s\nbroker = \"cloud\"\n%s\n"
            % (json.dumps(GROUP), json.dumps(EDGE), extra)), sim


@unittest.skipIf(h.is_mosquitto(), "an Ironbridge feature")
@unittest.skipUnless(node_available(), "node or tests/peers/sparkplug/node_modules missing (scripts/install-deps.sh)")
class SparkplugEdgeNodeTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.upstream = Upstream().start()
        cls.plc = LibmodbusServer(set={10: 7}).start()

    @classmethod
    def tearDownClass(cls):
        cls.plc.stop()
        cls.upstream.close()

    def setUp(self):
        self.host = Host("mqtt://127.0.0.1:%d" % self.upstream.port)
        self.addCleanup(self.host.stop)

    def start_node(self, extra="", broker=None, plc_peer=None):
        spark, sim = sparkplug_toml(self.upstream, extra)
        plc = device("plc1", [group("g", [tag("speed", holding(10), "uint16", access="rw", unit="rpm")])],
                     port=(plc_peer or self.plc).port)
        b = broker or h.Broker(extra_toml=devices_toml(sim, plc) + "\n" + spark)
        if broker is None:
            self.addCleanup(b.stop)
        b.start()
        return b

    def births(self):
        """NBIRTH, then the DBIRTH of each device (in the node's order of devices)."""
        nbirth = self.host.message("NBIRTH")
        dbirths = {}
        prefix = "spBv1.0/%s/DBIRTH/%s/" % (GROUP, EDGE)
        while len(dbirths) < 2:
            m = self.host.wait(lambda m: m.get("topic", "").startswith(prefix), "the DBIRTHs")
            dbirths[m["topic"][len(prefix):]] = m["payload"]
        return nbirth, dbirths["sim1"], dbirths["plc1"]

    def test_births_data_writes_and_rebirth(self):
        b = self.start_node()
        nbirth, sim, plc = self.births()
        n = metrics_of(nbirth)
        self.assertEqual(nbirth["seq"], 0)
        self.assertEqual(n["bdSeq"]["type"], "UInt64")
        self.assertEqual(n["Node Control/Rebirth"], dict(n["Node Control/Rebirth"], type="Boolean", value=False))
        self.assertEqual(sorted([sim["seq"], plc["seq"]]), [1, 2])

        # Every datatype, decoded by Tahu. A value is null until the device
        # has read it: wait for the DDATA that brings it when it was.
        values = {m["name"]: m for m in sim["metrics"]}
        aliases = {m["name"]: m["alias"] for m in sim["metrics"] + plc["metrics"]}
        self.assertEqual(len(set(aliases.values())), len(aliases), "aliases are unique in the edge node")
        for name, _, _, sp_type, _ in SIM_TAGS:
            self.assertEqual(values[name]["type"], sp_type, name)
        self.assertEqual(values["text"]["type"], "String")
        self.assertEqual(values["temp"]["type"], "Double", "a scaled tag reports a float64")
        self.assertEqual(values["temp"]["properties"]["engUnit"]["value"], "degC")
        self.assertEqual({m["name"]: m["type"] for m in plc["metrics"]}, {"speed": "UInt16"})
        self.assertEqual(plc["metrics"][0]["properties"]["engUnit"]["value"], "rpm")
        current = {m["name"]: m["value"] for m in sim["metrics"] if m["value"] is not None}
        by_alias = {v: k for k, v in aliases.items()}
        deadline = time.monotonic() + WAIT_S
        while len(current) < len(SIM_TAGS) + 2 and time.monotonic() < deadline:
            data = self.host.message("DDATA", "sim1", what="the sim device's first values")
            for m in data["metrics"]:
                self.assertNotIn("name", m, "data messages name metrics by alias")
                current[by_alias[m["alias"]]] = m["value"]
        for name, _, _, _, value in SIM_TAGS:
            self.assertEqual(current.get(name), value, name)
        self.assertAlmostEqual(current["temp"], 21.5)
        self.assertEqual(current["text"], "")

        # DCMD by name (Tahu's encoding): the sim device's memory, then the PLC's register.
        self.host.send({"cmd": "spBv1.0/%s/DCMD/%s/sim1" % (GROUP, EDGE),
                        "metrics": [{"name": "i32", "type": "Int32", "value": -123456},
                                    {"name": "text", "type": "String", "value": "hello"}]})
        data = self.host.message("DDATA", "sim1", lambda p: aliases["i32"] in aliases_to_values(p))
        got = aliases_to_values(data)
        self.assertEqual(got[aliases["i32"]], -123456)
        if aliases["text"] not in got:
            got = aliases_to_values(self.host.message("DDATA", "sim1", lambda p: aliases["text"] in aliases_to_values(p)))
        self.assertEqual(got[aliases["text"]], "hello")

        self.host.send({"cmd": "spBv1.0/%s/DCMD/%s/plc1" % (GROUP, EDGE),
                        "metrics": [{"name": "speed", "type": "UInt16", "value": 1500}]})
        data = self.host.message("DDATA", "plc1", lambda p: aliases_to_values(p).get(aliases["speed"]) == 1500,
                                 "the PLC's register read back as 1500")
        self.assertGreater(data["seq"], 2)

        # Rebirth: NBIRTH again with seq 0 and the same bdSeq, then the DBIRTHs
        # with the values written.
        self.host.send({"cmd": "spBv1.0/%s/NCMD/%s" % (GROUP, EDGE),
                        "metrics": [{"name": "Node Control/Rebirth", "type": "Boolean", "value": True}]})
        again, sim2, plc2 = self.births()
        self.assertEqual(again["seq"], 0)
        self.assertEqual(metrics_of(again)["bdSeq"]["value"], n["bdSeq"]["value"])
        self.assertEqual(metrics_of(sim2)["i32"]["value"], -123456)
        self.assertEqual(metrics_of(plc2)["speed"]["value"], 1500)

        # The results of the writes, counted.
        _, _, body = b.http_get("/metrics")
        text = body.decode()
        self.assertRegex(text, r'ib_sparkplug_writes_total\{result="ok"\} 3\b', b.log_text())
        self.assertRegex(text, r"ib_sparkplug_rebirth_requests_total 1\b")

    def test_ndeath_on_kill9_and_bdseq_across_restarts(self):
        b = self.start_node()
        first = metrics_of(self.host.message("NBIRTH"))["bdSeq"]["value"]
        b.kill9()
        death = self.host.message("NDEATH", what="the NDEATH will after kill -9")
        self.assertNotIn("seq", death, "NDEATH carries no seq")
        self.assertEqual(metrics_of(death)["bdSeq"]["value"], first)

        b.start()
        second = metrics_of(self.host.message("NBIRTH"))["bdSeq"]["value"]
        self.assertEqual(second, (first + 1) % 256, "the next session's bdSeq, across the restart")
        b.stop()
        death = self.host.message("NDEATH", what="the NDEATH of a clean stop")
        self.assertEqual(metrics_of(death)["bdSeq"]["value"], second)

    def test_ddeath_when_a_device_link_is_lost_and_dbirth_when_back(self):
        peer = LibmodbusServer(set={10: 9}).start()
        self.addCleanup(peer.stop)
        self.start_node(plc_peer=peer)
        _, _, plc = self.births()
        speed_alias = metrics_of(plc)["speed"]["alias"]
        if metrics_of(plc)["speed"]["value"] != 9:
            self.host.message("DDATA", "plc1", lambda p: aliases_to_values(p).get(speed_alias) == 9,
                              "the PLC's first value")
        peer.stop()
        death = self.host.message("DDEATH", "plc1", what="the PLC's DDEATH once its link is lost")
        self.assertIsInstance(death.get("seq"), int)
        self.assertEqual(death.get("metrics", []), [])
        peer.start()
        birth = self.host.message("DBIRTH", "plc1", what="the PLC's DBIRTH once it is back")
        self.assertEqual(metrics_of(birth)["speed"]["alias"], speed_alias)
        self.assertEqual(metrics_of(birth)["speed"]["value"], 9)

    def test_waits_for_the_primary_host(self):
        b = self.start_node(extra='primary_host_id = "scada"')
        self.assertTrue(h.wait_until(lambda: "waiting for primary host 'scada'" in b.log_text(), timeout=WAIT_S),
                        b.log_text())
        self.host.send({"online": True})
        first = metrics_of(self.host.message("NBIRTH"))["bdSeq"]["value"]
        self.host.message("DBIRTH", "plc1")
        self.host.send({"online": False})
        death = self.host.message("NDEATH", what="the NDEATH when the primary host goes offline")
        self.assertEqual(metrics_of(death)["bdSeq"]["value"], first)
        self.host.send({"online": True})
        self.assertEqual(metrics_of(self.host.message("NBIRTH"))["bdSeq"]["value"], (first + 1) % 256)


@unittest.skipIf(h.is_mosquitto(), "an Ironbridge feature")
@unittest.skipUnless(node_available(), "node or tests/peers/sparkplug/node_modules missing (scripts/install-deps.sh)")
class SparkplugOnTheLocalBrokerTest(unittest.TestCase):

    def test_host_on_ironbridge_sees_births_data_and_the_ndeath_of_a_stop(self):
        sim = device("sim1", [group("g", [tag("level", "memory:initial=3", "int32", access="rw")])], driver="sim")
        b = h.Broker(extra_toml=devices_toml(sim) + '\n[sparkplug]\nenabled = true\ngroup_id = %s\n'
                     'edge_node_id = %s\n' % (json.dumps(GROUP), json.dumps(EDGE)))
        self.addCleanup(b.stop)
        b.start()
        host = Host("mqtt://127.0.0.1:%d" % b.port)
        self.addCleanup(host.stop)
        # The host may connect after the births: it asks for them, as hosts do.
        host.send({"cmd": "spBv1.0/%s/NCMD/%s" % (GROUP, EDGE),
                   "metrics": [{"name": "Node Control/Rebirth", "type": "Boolean", "value": True}]})
        bdseq = metrics_of(host.message("NBIRTH"))["bdSeq"]["value"]
        alias = metrics_of(host.message("DBIRTH", "sim1"))["level"]["alias"]
        host.send({"cmd": "spBv1.0/%s/DCMD/%s/sim1" % (GROUP, EDGE),
                   "metrics": [{"alias": alias, "type": "Int32", "value": 42}]})
        host.message("DDATA", "sim1", lambda p: aliases_to_values(p).get(alias) == 42, "the written value by alias")
        b.stop()
        death = host.message("NDEATH", what="the NDEATH of a clean stop, before the broker closes")
        self.assertEqual(metrics_of(death)["bdSeq"]["value"], bdseq)


if __name__ == "__main__":
    unittest.main()
