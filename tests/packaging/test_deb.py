"""The Debian package, built from an already built binary (no new compile):
its contents and conffiles (dpkg-deb -c / -I), lintian, and the unit's
ExecStart line run from the extracted package with its production config,
credentials made by the package's own init-credentials, and a notify socket
as systemd would give it: READY=1, the probes, anonymous access refused, the
generated admin let in, SIGTERM to exit 0.

Usage: test_deb.py BINARY WORKDIR (ctest passes the build's ironbridge)."""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import ibharness as h  # noqa: E402

BINARY = WORKDIR = None
UNIT = "lib/systemd/system/ironbridge.service"
CONFIG = "/etc/ironbridge/ironbridge.toml"


def run(cmd, timeout=60, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                          timeout=timeout, text=True, **kw)


def unit_settings(text):
    """[Service] key -> list of values, as systemd reads them (comments and blank lines skipped)."""
    out, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
            continue
        k, _, v = line.partition("=")
        out.setdefault((section, k.strip()), []).append(v.strip())
    return out


def http(port, path, token=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class DebPackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.makedirs(WORKDIR, exist_ok=True)
        for old in os.listdir(WORKDIR):
            if old.endswith(".deb"):
                os.remove(os.path.join(WORKDIR, old))
        r = run(["bash", os.path.join(ROOT, "packaging", "build-deb.sh"), BINARY, WORKDIR],
                env=dict(os.environ, IB_DEB_COMPRESSION="gzip"))
        if r.returncode != 0:
            raise AssertionError("build-deb.sh failed:\n" + r.stderr)
        cls.deb = r.stdout.strip().splitlines()[-1]
        cls.root = tempfile.mkdtemp(prefix="ibdeb-root-")
        r = run(["dpkg-deb", "-x", cls.deb, cls.root])
        if r.returncode != 0:
            raise AssertionError("dpkg-deb -x failed:\n" + r.stderr)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    def test_name_contents_and_conffiles(self):
        version = run([BINARY, "version"]).stdout.split()[1]
        self.assertEqual(os.path.basename(self.deb), "ironbridge_%s_amd64.deb" % version)
        listing = run(["dpkg-deb", "-c", self.deb]).stdout
        entries = {line.split()[-1].lstrip("."): line.split()[0] for line in listing.splitlines()}
        for path, mode in [("/usr/bin/ironbridge", "-rwxr-xr-x"), (CONFIG, "-rw-r--r--"),
                           ("/" + UNIT, "-rw-r--r--"), ("/usr/lib/ironbridge/init-credentials", "-rwxr-xr-x"),
                           ("/usr/share/doc/ironbridge/copyright", "-rw-r--r--"),
                           ("/usr/share/doc/ironbridge/changelog.gz", "-rw-r--r--")]:
            self.assertEqual(entries.get(path), mode, path)
        self.assertTrue(all("root/root" in line for line in listing.splitlines()), listing)
        self.assertEqual(run(["dpkg-deb", "-I", self.deb, "conffiles"]).stdout.split(), [CONFIG])
        control = run(["dpkg-deb", "-I", self.deb, "control"]).stdout
        self.assertIn("Package: ironbridge\n", control)
        self.assertRegex(control, r"Depends: adduser, .*libc6")
        for script in ("postinst", "prerm", "postrm"):
            text = run(["dpkg-deb", "-I", self.deb, script]).stdout
            self.assertTrue(text.startswith("#!/bin/sh\n"), script)
            with tempfile.NamedTemporaryFile("w", suffix=script) as f:
                f.write(text)
                f.flush()
                self.assertEqual(run(["sh", "-n", f.name]).returncode, 0, script)

    def test_unit_declares_notify_watchdog_user_and_sandbox(self):
        with open(os.path.join(self.root, UNIT)) as f:
            s = unit_settings(f.read())
        svc = lambda k: s.get(("[Service]", k), [None])[-1]  # noqa: E731
        self.assertEqual(svc("Type"), "notify")
        self.assertTrue(svc("WatchdogSec"))
        self.assertEqual(svc("User"), "ironbridge")
        self.assertEqual(svc("StateDirectory"), "ironbridge")
        for key, value in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                           ("PrivateTmp", "yes"), ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
                           ("CapabilityBoundingSet", "")]:
            self.assertEqual(svc(key), value, key)
        self.assertTrue(svc("MemoryMax"))

    def test_lintian_reports_no_error_or_warning(self):
        r = run(["lintian", "--fail-on", "error,warning", self.deb],
                timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotRegex(r.stdout, r"(?m)^[EW]: ")

    def test_exec_start_runs_the_packaged_config(self):
        with open(os.path.join(self.root, UNIT)) as f:
            argv = shlex.split(unit_settings(f.read())[("[Service]", "ExecStart")][-1])
        self.assertEqual(argv, ["/usr/bin/ironbridge", "run", "-c", CONFIG])
        work = tempfile.mkdtemp(prefix="ibdeb-run-")
        self.addCleanup(shutil.rmtree, work, True)
        etc = os.path.join(self.root, "etc/ironbridge")
        binary = self.root + argv[0]

        # What postinst does, from the package's own script (no chown: no service user here).
        r = run([os.path.join(self.root, "usr/lib/ironbridge/init-credentials"), etc, "", binary])
        self.assertEqual(r.returncode, 0, r.stderr)
        password = re.search(r"user: admin  password: (\S+)", r.stdout).group(1)
        token = re.search(r"API bearer token\s+(\S+)", r.stdout).group(1)
        self.assertEqual(os.stat(os.path.join(etc, "api-token")).st_mode & 0o777, 0o640)

        # The packaged config with this root's paths, a temp state dir for
        # StateDirectory, and free loopback ports on this shared machine.
        mqtt_port, api_port = h.free_port(), h.free_port()
        with open(self.root + CONFIG) as f:
            text = f.read()
        text = (text.replace('"/var/lib/ironbridge"', json.dumps(os.path.join(work, "state")))
                .replace('"/etc/ironbridge/', '"%s/' % etc)
                .replace('bind = "0.0.0.0"', 'bind = "127.0.0.1"')
                .replace("port = 1883", "port = %d" % mqtt_port)
                .replace("port = 8080", "port = %d" % api_port))
        config = os.path.join(work, "ironbridge.toml")
        with open(config, "w") as f:
            f.write(text)

        notify = h.NotifySocket()
        self.addCleanup(notify.close)
        log = open(os.path.join(work, "log"), "w+")
        self.addCleanup(log.close)
        p = subprocess.Popen([binary] + argv[1:3] + [config], stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, cwd=work,
                             env=dict(os.environ, NOTIFY_SOCKET=notify.env_value))
        self.addCleanup(h.stop_process, p)
        notify.wait_for("READY=1")
        self.assertEqual(http(api_port, "/healthz/ready"), (200, b'{"status":"ready"}'))
        self.assertEqual(http(api_port, "/healthz/live"), (200, b'{"status":"live"}'))
        self.assertEqual(http(api_port, "/api/v1/bridges")[0], 401)
        self.assertEqual(http(api_port, "/api/v1/bridges", token), (200, b"[]"))

        pub = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mqtt_port), "-t", "t", "-m", "x", "-q", "1"]
        self.assertNotEqual(run(pub, timeout=10).returncode, 0, "an anonymous client was let in")
        self.assertEqual(run(pub + ["-u", "admin", "-P", password], timeout=10).returncode, 0)

        os.kill(p.pid, signal.SIGTERM)
        notify.wait_for("STOPPING=1")
        self.assertEqual(p.wait(10), 0)
        log.seek(0)
        self.assertIn("stopped", log.read())


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit("usage: test_deb.py BINARY WORKDIR")
    BINARY, WORKDIR = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=sys.argv[:1])
