"""Ironbridge-only: `ironbridge version`, `ironbridge check-config -c FILE`
and refusal to start on a bad config."""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import unittest

import ibharness as h
from ibharness import IBTestCase

FULL_CONFIG = """\
data_dir = "{data}"
[log]
level = "info"
[broker]
max_packet_size = 1048576
max_inflight = 64
receive_maximum = 1024
max_queued_messages = 10000
max_queued_bytes = 67108864
max_subscriptions_per_client = 10000
max_topic_depth = 64
topic_alias_maximum = 64
max_session_expiry = 604800
connect_timeout_ms = 10000
server_keep_alive = 0
retain_available = true
maximum_qos = 2
allow_anonymous = true
sys_interval_s = 10
[[broker.listeners]]
name = "default"
bind = "127.0.0.1"
port = {port}
max_connections = 100000
[api]
enabled = true
bind = "127.0.0.1"
port = {api_port}
"""


@h.ironbridge_only("the ironbridge command line")
class CliTest(IBTestCase):
    def setUp(self):
        self.bin = h.ironbridge_bin()
        self.dir = tempfile.mkdtemp(prefix="ibcli-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def check(self, path):
        r = self.run_proc([self.bin, "check-config", "-c", path], timeout=15)
        return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")

    def assert_error_names(self, out, path, line, key):
        name = os.path.basename(path)
        # STYLE.md: "ironbridge.toml:42: bridge.max_inflight: 0 is below the minimum 1"
        self.assertRegex(out, re.escape(name) + r":%d\b" % line, "file:line missing in %r" % out)
        self.assertIn(key, out)

    def test_version(self):
        r = self.run_proc([self.bin, "version"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout.decode(), r"\b\d+\.\d+\.\d+")

    def test_help_lists_every_subcommand_and_each_its_own_options(self):
        # Each subcommand's options are built only when it is the one asked for:
        # the top help must still list them all, and each its own options.
        r = self.run_proc([self.bin, "--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        top = r.stdout.decode()
        own = {"run": ["--config"], "check-config": ["--config"], "passwd": ["--iterations", "--delete"],
               "bench": ["--mode", "--persistent-subs"], "inspect": ["--url", "--token"],
               "fleet": ["--broker", "push", "rollback"]}
        for name, options in own.items():
            self.assertRegex(top, r"\n  %s +\S" % re.escape(name), "%s missing from --help" % name)
            r = self.run_proc([self.bin, name, "--help"])
            self.assertEqual(r.returncode, 0, r.stderr)
            text = r.stdout.decode()
            for option in options:
                self.assertIn(option, text, "%s --help" % name)

    def test_check_config_good_full_file(self):
        path = self.write("good.toml", FULL_CONFIG.format(
            data=os.path.join(self.dir, "data"), port=h.free_port(), api_port=h.free_port()))
        rc, out = self.check(path)
        self.assertEqual(rc, 0, out)

    def test_check_config_minimal_file(self):
        path = self.write("min.toml", "[broker]\nmax_inflight = 10\n")
        rc, out = self.check(path)
        self.assertEqual(rc, 0, out)

    def test_check_config_below_minimum(self):
        path = self.write("bad.toml", "[broker]\nmax_inflight = 0\n")
        rc, out = self.check(path)
        self.assertNotEqual(rc, 0, out)
        self.assert_error_names(out, path, 2, "broker.max_inflight")

    def test_check_config_error_line_number(self):
        path = self.write("line.toml", "# comment\n\n[log]\nlevel = \"info\"\n[broker]\n"
                                       "retain_available = true\nmaximum_qos = 3\n")
        rc, out = self.check(path)
        self.assertNotEqual(rc, 0, out)
        self.assert_error_names(out, path, 7, "broker.maximum_qos")

    def test_check_config_unknown_key(self):
        path = self.write("unknown.toml", "[broker]\nmax_inflight = 5\nmax_inflightt = 5\n")
        rc, out = self.check(path)
        self.assertNotEqual(rc, 0, out)
        self.assert_error_names(out, path, 3, "broker.max_inflightt")

    def test_check_config_unknown_section(self):
        path = self.write("section.toml", "[brokr]\nmax_inflight = 5\n")
        rc, out = self.check(path)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("brokr", out)

    def test_check_config_wrong_type(self):
        path = self.write("type.toml", "[broker]\nmax_inflight = \"ten\"\n")
        rc, out = self.check(path)
        self.assertNotEqual(rc, 0, out)
        self.assert_error_names(out, path, 2, "broker.max_inflight")

    def test_check_config_toml_syntax_error(self):
        path = self.write("syntax.toml", "[broker]\nmax_inflight = 5\n[api\n")
        rc, out = self.check(path)
        self.assertNotEqual(rc, 0, out)
        self.assertRegex(out, re.escape(os.path.basename(path)) + r":3\b")

    def test_check_config_missing_file(self):
        path = os.path.join(self.dir, "nope.toml")
        rc, out = self.check(path)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("nope.toml", out)

    def _run_refuses(self, text):
        port = h.free_port()
        path = self.write("run.toml", text.replace("PORT", str(port)))
        p = self.spawn([self.bin, "run", "-c", path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
        try:
            out, _ = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.fail("`ironbridge run` kept running with a bad config")
        self.assertNotEqual(p.returncode, 0)
        with self.assertRaises(OSError):
            socket.create_connection((h.HOST, port), timeout=0.5).close()
        return out.decode("utf-8", "replace"), path

    def test_run_refuses_unknown_key(self):
        out, path = self._run_refuses(
            "[broker]\nno_such_setting = 1\n[[broker.listeners]]\nname = \"default\"\n"
            "bind = \"127.0.0.1\"\nport = PORT\n[api]\nenabled = false\n")
        self.assert_error_names(out, path, 2, "broker.no_such_setting")

    def test_run_refuses_invalid_value(self):
        out, path = self._run_refuses(
            "[broker]\nmax_inflight = 0\n[[broker.listeners]]\nname = \"default\"\n"
            "bind = \"127.0.0.1\"\nport = PORT\n[api]\nenabled = false\n")
        self.assert_error_names(out, path, 2, "broker.max_inflight")


if __name__ == "__main__":
    unittest.main()
