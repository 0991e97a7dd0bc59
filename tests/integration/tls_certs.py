"""Test certificates made with the openssl command line, in a temp dir removed
at the test's cleanup: CAs, servers for 127.0.0.1, clients, expired ones."""

import os
import shutil
import subprocess
import tempfile


class Certs:
    def __init__(self, testcase):
        self.dir = tempfile.mkdtemp(prefix="ibtls-")
        testcase.addCleanup(shutil.rmtree, self.dir, True)
        os.chmod(self.dir, 0o755)
        with open(self.path("server.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\n")

    def path(self, name):
        return os.path.join(self.dir, name)

    def _openssl(self, *args):
        r = subprocess.run(["openssl"] + list(args), cwd=self.dir, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=60)
        if r.returncode != 0:
            raise AssertionError("openssl %s failed: %s" % (" ".join(args), r.stderr.decode()))

    def ca(self, name):
        """A self-signed CA; returns the path of its certificate."""
        self._openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
                      "-out", name + ".crt", "-days", "2", "-subj", "/CN=Ironbridge test " + name)
        return self.path(name + ".crt")

    def issue(self, name, cn, ca="ca", server=False, days=2):
        """A certificate for `cn` signed by `ca`; days=-1 makes one that expired
        (its notAfter lies before its notBefore, both near now). Returns
        (certificate path, key path)."""
        self._openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
                      "-subj", "/CN=" + cn)
        extra = ["-extfile", "server.ext"] if server else []
        self._openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
                      "-CAcreateserial", "-out", name + ".crt", "-days", str(days), *extra)
        return self.path(name + ".crt"), self.path(name + ".key")

    def read(self, name):
        with open(self.path(name)) as f:
            return f.read()


def standard(testcase):
    """ca and other-ca; server (127.0.0.1, by ca); client edge-1 (by ca);
    stranger (by other-ca); expired client (by ca)."""
    c = Certs(testcase)
    c.ca("ca")
    c.ca("other-ca")
    c.issue("server", "127.0.0.1", server=True)
    c.issue("client", "edge-1")
    c.issue("stranger", "edge-2", ca="other-ca")
    c.issue("expired", "edge-3", days=-1)
    return c
