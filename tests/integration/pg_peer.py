"""A real PostgreSQL 15 (Debian's postgresql-15) for the tests, started by the
test itself: initdb and pg_ctl in a temp directory, listening on 127.0.0.1 on a
free port and on a Unix socket in that directory; no system service. It is
stopped by the PID in its postmaster.pid, never by name.

initdb refuses to run as root (CI runs as root), so as root the server runs as
`nobody`: the temp directory is given to nobody and every server command runs
through `setpriv --reuid nobody --regid nogroup --clear-groups`. The superuser
is `ib` with a password: TCP (what Ironbridge uses) asks for it (scram-sha-256),
the Unix socket (what the test's psql uses) trusts.
"""

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

import ibharness as h

BIN = "/usr/lib/postgresql/15/bin"
USER = "ib"
PASSWORD = "s3cret-pw"


def available():
    return os.path.exists(os.path.join(BIN, "initdb")) and os.path.exists(os.path.join(BIN, "pg_ctl"))


class PostgresServer:
    def __init__(self):
        self.port = h.free_port()
        self.dir = tempfile.mkdtemp(prefix="ibpg-")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")
        self.as_nobody = os.geteuid() == 0
        if self.as_nobody:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(PASSWORD + "\n")
        if self.as_nobody:
            os.chown(pwfile, pwd.getpwnam("nobody").pw_uid, -1)
        self._run([os.path.join(BIN, "initdb"), "-D", self.data, "-U", USER, "--pwfile", pwfile,
                   "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
                   "--no-sync"], timeout=60)
        os.unlink(pwfile)
        self.start()

    def _run(self, cmd, timeout=30):
        if self.as_nobody:
            cmd = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"] + cmd
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, cwd=self.dir)
        if r.returncode != 0:
            raise RuntimeError("%s failed (%d):\n%s\n%s" % (cmd[0], r.returncode, r.stdout.decode(), self.log_text()))
        return r

    def start(self):
        # fsync off: the tests check what arrives, not a power cut's durability.
        opts = "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off" % (self.port, self.dir)
        self._run([os.path.join(BIN, "pg_ctl"), "-D", self.data, "-l", self.log, "-w", "-t", "30", "-o", opts, "start"])

    def pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def stop(self, timeout=15.0):
        """Fast shutdown (SIGINT to the postmaster, by its PID): sessions are
        ended, open transactions rolled back."""
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if os.path.exists("/proc/%d" % pid):
            os.kill(pid, signal.SIGKILL)

    def close(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def dsn(self, password=PASSWORD, dbname="postgres"):
        return "host=127.0.0.1 port=%d user=%s password=%s dbname=%s" % (self.port, USER, password, dbname)

    def psql(self, sql, timeout=30):
        """Runs `sql` over the Unix socket; the rows as lists of text fields."""
        r = subprocess.run([os.path.join(BIN, "psql"), "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                            "-h", self.dir, "-p", str(self.port), "-U", USER, "-d", "postgres", "-c", sql],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("psql %r: %s" % (sql, r.stderr.decode()))
        return [line.split("\t") for line in r.stdout.decode().splitlines() if line]
