"""The bridge when things go wrong below MQTT: an upstream that answers with
garbage, one that accepts and then says nothing, a disk that fills up under the
queue, a disk that stalls (an ext4 image frozen with fsfreeze), and a cable
pulled out (a veth pair into a network namespace the test makes itself, where
it runs as root). In each case the node stays up, says why
in its status, keeps what it took, and delivers it once the fault is gone."""

import os
import socket
import subprocess
import threading
import time
import unittest

import ibharness as h
from bridge_peers import BridgeCase, Upstream, bridge_toml, in_order
from freezable_disk import node_on_freezable_disk


class BadUpstream:
    """A TCP server on 127.0.0.1 that reads a CONNECT and then misbehaves:
    "garbage" answers CONNACK followed by bytes that are no MQTT packet;
    "silent" never answers. Counts the connections it accepted."""

    def __init__(self, mode):
        self.mode = mode
        self.accepted = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((h.HOST, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.conns = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        deadline = time.monotonic() + 120  # bounded even if close() is never called
        while not self.stopping.is_set() and time.monotonic() < deadline:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            self.conns.append(c)
            try:
                c.settimeout(2)
                c.recv(4096)  # the CONNECT
                if self.mode == "garbage":
                    c.sendall(b"\x20\x03\x00\x00\x00" + b"\x00\xff\xff\xff\xff\xff")
            except OSError:
                pass

    def close(self):
        self.stopping.set()
        self.thread.join(2)
        for c in self.conns:
            c.close()
        self.sock.close()


@h.ironbridge_only("the bridge is an Ironbridge feature")
class BridgeFaultsTest(BridgeCase):

    def bad_upstream(self, mode):
        b = BadUpstream(mode)
        self.addCleanup(b.close)
        return b

    def test_garbage_from_the_upstream_closes_the_link_and_it_retries(self):
        bad = self.bad_upstream("garbage")
        node = self.start_broker(extra_toml=bridge_toml(bad.port))
        s = self.wait_status(node, lambda s: "malformed packet from the upstream" in s["last_error"],
                             what="the malformed packet reported")
        pub = self.publisher(node)
        pub.publish_range("plant/x", 0, 20)
        self.assertTrue(h.wait_until(lambda: bad.accepted >= 3, timeout=10), "the bridge stopped retrying")
        self.assertTrue(node.alive())
        s = self.status(node)
        self.assertFalse(s["connected"])
        self.assertEqual(s["backlog"]["messages"], 20, s)

    def test_an_upstream_that_never_answers_connect_times_out(self):
        bad = self.bad_upstream("silent")
        node = self.start_broker(extra_toml=bridge_toml(bad.port, bridge_extra="connect_timeout_ms = 300"))
        s = self.wait_status(node, lambda s: "no CONNACK" in s["last_error"], what="the CONNACK timeout reported")
        self.assertIn("within 300 ms", s["last_error"])
        self.assertTrue(h.wait_until(lambda: bad.accepted >= 2, timeout=10), "the bridge stopped retrying")

    def test_a_full_disk_keeps_messages_in_memory_until_it_has_room(self):
        up, coll = self.offline_upstream_with_collector()
        node = h.Broker(extra_toml=bridge_toml(up.port))
        self._ib_brokers.append(node)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", node.data_dir],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=10)
        if r.returncode != 0:
            node.close()
            raise unittest.SkipTest("cannot mount a small tmpfs here: " + r.stderr.decode().strip())
        # Cleanups run last-in first-out: the node stops before the unmount.
        self.addCleanup(subprocess.run, ["umount", "-l", node.data_dir], timeout=10)
        self.addCleanup(node.close)
        node.start()
        pub = self.publisher(node)
        pub.publish_range("plant/disk", 0, 10)
        self.wait_status(node, lambda s: s["backlog"]["messages"] == 10, what="10 queued")
        filler = os.path.join(node.data_dir, "filler")
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass  # the disk is full
        pub.publish_range("plant/disk", 10, 2010, pad=200)
        s = self.wait_status(node, lambda s: s["store_errors"] > 0, what="a store error")
        self.assertIn("disk is full", node.log_text())
        self.assertEqual(s["backlog"]["messages"], 2010, s)  # in memory, still counted
        os.unlink(filler)
        self.wait_status(node, lambda s: s["taken"] == 2010 and "accepts writes again" in node.log_text(),
                         what="the queue writable again")
        up.start()
        self.wait_count(coll, 2010)
        self.assertEqual(in_order(coll.numbers())[0], list(range(2010)))
        s = self.wait_status(node, lambda s: s["backlog"]["messages"] == 0, what="empty backlog")
        self.assertEqual(sum(s["dropped"].values()), 0, s)

    def test_a_stalled_disk_holds_only_the_bridged_acks_and_then_everything_goes_in_order(self):
        up, coll = self.offline_upstream_with_collector()
        node = h.Broker(extra_toml=bridge_toml(up.port))
        self._ib_brokers.append(node)
        disk = node_on_freezable_disk(self, node)
        node.start()
        pub = self.publisher(node)
        pub.publish_range("plant/stall", 0, 10)
        self.wait_status(node, lambda s: s["backlog"]["messages"] == 10, what="10 queued")
        disk.freeze()
        # A bridged publisher: its PUBACKs wait until the disk has its messages.
        bridged = [pub.c.publish("plant/stall", "%d:" % i, qos=1) for i in range(10, 60)]
        # Meanwhile the same process serves everyone else: another client's QoS 1
        # publishes on a topic no bridge forwards are acknowledged...
        other = self.publisher(node, client_id="other")
        other.publish_range("local/line1", 0, 20)
        # ...and the bridge's status and /metrics answer, counting what waits.
        s = self.wait_status(node, lambda s: s["taken"] == 60, what="60 taken while the disk is stalled")
        self.assertEqual(s["backlog"]["messages"], 60, s)
        code, _, body = node.http_get("/metrics")
        self.assertEqual(code, 200)
        self.assertIn('ib_bridge_backlog_messages{bridge="cloud"} 60', body.decode())
        self.assertEqual([i.mid for i in bridged if i.is_published()], [],
                         "acknowledged before the queue file had the message")
        disk.thaw()
        for info in bridged:
            info.wait_for_publish(20)
        self.assertTrue(all(i.is_published() for i in bridged), "a bridged publish was never acknowledged")
        up.start()
        self.wait_count(coll, 60)
        self.assertEqual(in_order(coll.numbers())[0], list(range(60)))
        s = self.wait_status(node, lambda s: s["backlog"]["messages"] == 0, what="empty backlog")
        self.assertEqual(sum(s["dropped"].values()), 0, s)
        self.assertEqual(s["store_errors"], 0, s)


class Namespace:
    """A network namespace made by the test, joined to this one by a veth pair:
    10.231.x.y+1 here, 10.231.x.y+2 inside, where the upstream runs. Pulling the
    cable is setting this side's link down: no FIN, no RST, just silence.

    The /30 is this process's own (from its pid, skipping any already on an
    interface): two runs at once (the normal and the sanitizer build, or two
    checkouts) with the same subnet on two veth pairs would route one node to
    the other's upstream, and pull each other's cable."""

    NAME = "ibtest-up-%d" % os.getpid()
    HOST_IF = "ibv%d" % (os.getpid() % 100000)
    PEER_IF = "ibp%d" % (os.getpid() % 100000)
    HOST_IP = PEER_IP = None

    def __init__(self):
        self.made = False

    def pick_subnet(self):
        for i in range(64):
            n = (os.getpid() + i * 997) % (256 * 64)
            base = "10.231.%d.%d" % (n // 64, (n % 64) * 4)
            taken = self.ip("-4", "-o", "addr", "show", "to", base + "/30").stdout.strip()
            if not taken:
                prefix = base.rsplit(".", 1)[0]
                last = int(base.rsplit(".", 1)[1])
                Namespace.HOST_IP = "%s.%d" % (prefix, last + 1)
                Namespace.PEER_IP = "%s.%d" % (prefix, last + 2)
                return
        raise OSError("no free /30 in 10.231.0.0/16 after 64 tries")

    def ip(self, *args, check=True):
        r = subprocess.run(["ip"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=10)
        if check and r.returncode != 0:
            raise OSError("ip %s: %s" % (" ".join(args), r.stderr.decode().strip()))
        return r

    def make(self):
        self.pick_subnet()
        self.ip("netns", "add", self.NAME)
        self.made = True
        self.ip("link", "add", self.HOST_IF, "type", "veth", "peer", "name", self.PEER_IF)
        self.ip("link", "set", self.PEER_IF, "netns", self.NAME)
        self.ip("addr", "add", self.HOST_IP + "/30", "dev", self.HOST_IF)
        self.ip("link", "set", self.HOST_IF, "up")
        self.ip("netns", "exec", self.NAME, "ip", "addr", "add", self.PEER_IP + "/30", "dev", self.PEER_IF)
        self.ip("netns", "exec", self.NAME, "ip", "link", "set", self.PEER_IF, "up")
        self.ip("netns", "exec", self.NAME, "ip", "link", "set", "lo", "up")

    def cable(self, plugged):
        self.ip("link", "set", self.HOST_IF, "up" if plugged else "down")

    def remove(self):
        if self.made:
            self.ip("link", "del", self.HOST_IF, check=False)
            self.ip("netns", "del", self.NAME, check=False)


@h.ironbridge_only("the bridge is an Ironbridge feature")
class CablePulledTest(BridgeCase):

    def test_a_pulled_cable_is_noticed_by_keep_alive_and_nothing_is_lost(self):
        ns = Namespace()
        try:
            if os.geteuid() != 0:
                raise OSError("not root")
            ns.make()
        except OSError as e:
            ns.remove()
            raise unittest.SkipTest("no network namespace with a veth pair here: %s" % e)
        self.addCleanup(ns.remove)
        up = Upstream(bind=Namespace.PEER_IP, netns=Namespace.NAME).start()
        self.addCleanup(up.close)
        self._upstreams.append(up)
        coll = self.collector(up)
        toml = bridge_toml(up.port, bridge_extra="keep_alive_s = 1\nconnect_timeout_ms = 500").replace(
            "127.0.0.1:%d" % up.port, "%s:%d" % (Namespace.PEER_IP, up.port))
        node = self.start_broker(extra_toml=toml)
        self.wait_status(node, lambda s: s["connected"], what="connected across the veth pair")
        pub = self.publisher(node)
        pub.publish_range("plant/cable", 0, 500)
        self.wait_count(coll, 500)
        ns.cable(False)
        pub.publish_range("plant/cable", 500, 1500)
        s = self.wait_status(node, lambda s: not s["connected"], timeout=15, what="the silent link noticed")
        # last_error may already tell of a failed reconnect; the drop itself stays.
        self.assertIn("keep_alive", s["last_disconnect"]["reason"])
        ns.cable(True)
        self.wait_status(node, lambda s: s["connected"], timeout=20, what="reconnected")
        self.wait_count(coll, 1500, timeout=60)
        self.assertEqual(in_order(coll.numbers())[0], list(range(1500)))


if __name__ == "__main__":
    unittest.main(verbosity=2)
