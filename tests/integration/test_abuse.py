"""Abuse, seen from the outside: 10,000 connections opened and dropped in a loop
(half after a CONNECT, half before sending anything), clients that connect and
send nothing, and a subscriber that never reads while a publisher floods it.
The broker stays up, its memory stays bounded, its connection count comes back
down, and a well-behaved client is served all along."""

import os
import socket
import threading
import time
import unittest

import ibharness as h


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


# Under AddressSanitizer (make asan-test sets ASAN_OPTIONS) freed memory sits in
# its quarantine, so the process's RSS says nothing about the broker's own bounds.
SANITIZED = "ASAN_OPTIONS" in os.environ


def assert_rss_growth_below(testcase, grown_kib, limit_kib):
    if not SANITIZED:
        testcase.assertLess(grown_kib, limit_kib, "memory grew by %d KiB" % grown_kib)


def connect_bytes(client_id):
    """A 3.1.1 CONNECT, made by the harness's raw client without opening its socket."""
    c = object.__new__(h.RawClient)
    c.version = 4
    return bytes(c.connect_packet(client_id))


class Prober:
    """A well-behaved QoS 1 client doing round trips on a thread while the test
    abuses the broker: it counts the answers it got and the ones it missed."""

    def __init__(self, testcase, b):
        self.client = testcase.paho(b, "prober")
        self.client.subscribe("probe/#", qos=1)
        self.ok = 0
        self.missed = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        n = 0
        while not self.stop.is_set() and n < 100000:
            n += 1
            self.client.publish("probe/%d" % n, b"x", qos=1)
            try:
                m = self.client.messages.get(timeout=5)
                self.ok += m.topic == "probe/%d" % n
            except Exception:
                self.missed += 1
            time.sleep(0.01)

    def finish(self):
        self.stop.set()
        self.thread.join(10)
        return self.ok, self.missed


@h.ironbridge_only("the process's own memory and metrics")
class AbuseTest(h.IBTestCase):

    def test_ten_thousand_connections_opened_and_dropped(self):
        b = self.start_broker(broker={"connect_timeout_ms": 1000})
        probe = Prober(self, b)
        base_rss = rss_kib(b.pid)
        deadline = time.monotonic() + 120
        done = 0
        for i in range(10000):
            if time.monotonic() > deadline:
                break
            s = socket.create_connection((h.HOST, b.port), timeout=5)
            if i % 2 == 0:
                s.sendall(connect_bytes("abuser-%d" % i))
            if i % 3 == 0:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
            s.close()
            done += 1
        self.assertEqual(done, 10000, "the loop ran out of time")
        self.assertTrue(h.wait_until(lambda: h.metric_sum(b.metrics_text(), "ib_mqtt_connections") <= 1, timeout=15),
                        "connections still open: %s" % h.metric_sum(b.metrics_text(), "ib_mqtt_connections"))
        ok, missed = probe.finish()
        self.assertGreater(ok, 0)
        self.assertEqual(missed, 0, "the well-behaved client was not served")
        grown = rss_kib(b.pid) - base_rss
        print("10,000 connections: RSS grew by %d KiB; prober %d round trips" % (grown, ok))
        assert_rss_growth_below(self, grown, 64 * 1024)
        self.assertTrue(b.alive())

    def test_clients_that_connect_and_send_nothing_are_closed(self):
        b = self.start_broker(broker={"connect_timeout_ms": 500})
        probe = Prober(self, b)
        idle = [socket.create_connection((h.HOST, b.port), timeout=5) for _ in range(300)]
        self.addCleanup(lambda: [s.close() for s in idle])
        closed = 0
        deadline = time.monotonic() + 20
        for s in idle:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                closed += s.recv(1) == b""
            except (socket.timeout, ConnectionError):
                pass
        self.assertEqual(closed, 300, "silent connections left open")
        ok, missed = probe.finish()
        self.assertEqual(missed, 0)
        self.assertGreater(ok, 0)

    def test_a_subscriber_that_never_reads_cannot_take_the_broker_down(self):
        b = self.start_broker()
        base_rss = rss_kib(b.pid)
        slow = h.RawClient(b.port)
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.send(slow.connect_packet("slow-reader"))
        slow.read_packet(5)  # CONNACK
        slow.subscribe(1, [("flood/#", 1)])
        # From here on the slow reader reads nothing.
        probe = Prober(self, b)
        pub = self.paho(b, "flooder")
        payload = b"z" * 10000
        for i in range(5000):  # 50 MB at QoS 0
            pub.publish("flood/%d" % (i % 16), payload, qos=0, wait=False)
        pub.publish("flood/end", b"", qos=1)
        ok, missed = probe.finish()
        self.assertEqual(missed, 0, "the well-behaved client was not served during the flood")
        grown = rss_kib(b.pid) - base_rss
        print("flood into a reader that never reads: RSS grew by %d KiB" % grown)
        # The slow session's queue is bounded (max_queued_bytes, 64 MiB by default).
        assert_rss_growth_below(self, grown, 160 * 1024)
        self.assertTrue(b.alive())
        slow.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
