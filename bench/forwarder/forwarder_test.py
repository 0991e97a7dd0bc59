"""The forwarder is a measuring instrument, so check that it measures what it
claims: every message the generator publishes reaches every subscriber once and
in order, at QoS 0 and 1, over MQTT 3.1.1 and 5.0, one to one and fanned out;
and a wildcard filter is refused rather than silently matching nothing.
No timing is asserted. Everything runs on 127.0.0.1; processes stop by PID.

Usage: forwarder_test.py FORWARDER_BIN IRONBRIDGE_BIN
"""

import json
import socket
import subprocess
import sys
import time
import unittest

import paho.mqtt.client as mqtt

FORWARDER, IRONBRIDGE = sys.argv[1], sys.argv[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ForwarderTest(unittest.TestCase):
    def setUp(self):
        self.port = free_port()
        self.proc = subprocess.Popen([FORWARDER, "--port", str(self.port)], stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop)
        # Ready when the generator's readiness probe gets a CONNACK.
        self.run_ok([IRONBRIDGE, "bench", "--mode", "connack", "--host", "127.0.0.1", "--port", str(self.port),
                     "--timeout", "10"])

    def run_ok(self, cmd):
        # stderr in the failure message: a failing run should say why.
        p = subprocess.run(cmd, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, f"{' '.join(cmd)}\nstdout: {p.stdout}\nstderr: {p.stderr}")
        return p.stdout

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def bench(self, *args):
        out = self.run_ok([IRONBRIDGE, "bench", "--host", "127.0.0.1", "--port", str(self.port), "--mode", "pubsub",
                           "--duration", "0.3", "--warmup", "0.1", "--json", *args])
        r = json.loads(out)
        self.assertGreater(r["sent_total"], 0, out)
        self.assertEqual((r["lost"], r["out_of_order"], r["duplicates"], r["foreign"]), (0, 0, 0, 0), out)
        return r

    def test_every_message_arrives_once_in_order(self):
        for version in ("4", "5"):
            for qos in ("0", "1"):
                with self.subTest(version=version, qos=qos):
                    self.bench("--version", version, "--qos", qos, "--pubs", "4", "--subs", "4",
                               "--topic", f"t{version}{qos}/%i", "--sub-topic", f"t{version}{qos}/%i",
                               "--max-backlog", "1000")

    def test_fan_out_reaches_every_subscriber(self):
        r = self.bench("--qos", "1", "--pubs", "1", "--subs", "20", "--topic", "f/%i", "--sub-topic", "f/0",
                       "--max-backlog", "200")
        self.assertEqual(r["expected"], r["sent_total"] * 20)

    def test_wildcard_filter_is_refused(self):
        c = mqtt.Client(client_id="wild", protocol=mqtt.MQTTv311)
        granted = []
        c.on_subscribe = lambda client, userdata, mid, qos: granted.extend(qos)
        c.connect("127.0.0.1", self.port)
        c.loop_start()
        try:
            c.subscribe([("a/#", 0), ("a/b", 1)])
            deadline = time.monotonic() + 10
            while not granted and time.monotonic() < deadline:
                time.sleep(0.01)
            self.assertEqual(granted, [0x80, 1])
        finally:
            c.loop_stop()
            c.disconnect()


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1])
