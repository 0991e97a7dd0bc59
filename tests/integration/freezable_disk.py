"""A disk that stalls on demand, for tests of what waits for the disk: the
bridge's stalled outbox (test_bridge_faults) and the drain of held
acknowledgements at SIGTERM (test_service). Needs root (mount, fsfreeze)."""

import os
import shutil
import signal
import subprocess
import tempfile
import unittest


class FreezableDisk:
    """A small ext4 image mounted (loop device) on a directory; freeze() makes
    every write to it wait, as a stalled disk would, until thaw(). A sleeper
    started with each freeze thaws it anyway after a minute, should the test
    die before its cleanup: a frozen disk must never outlive the test."""

    SAFETY_S = 60

    def __init__(self, mount_point):
        self.mount_point = mount_point
        self.dir = tempfile.mkdtemp(prefix="ibdisk-")
        self.image = os.path.join(self.dir, "disk.img")
        self.mounted = False
        self.sleeper = None

    def run(self, *args):
        r = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           timeout=30)
        if r.returncode != 0:
            raise OSError("%s: %s" % (" ".join(args), r.stderr.decode().strip()))

    def mount(self):
        if os.geteuid() != 0:
            raise OSError("not root")
        with open(self.image, "wb") as f:
            f.truncate(64 << 20)
        self.run("mkfs.ext4", "-q", "-F", self.image)
        self.run("mount", "-o", "loop,noatime", self.image, self.mount_point)
        self.mounted = True

    def freeze(self):
        self.sleeper = subprocess.Popen(["sh", "-c", "sleep %d; fsfreeze -u '%s'" % (self.SAFETY_S, self.mount_point)],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        self.run("fsfreeze", "-f", self.mount_point)

    def thaw(self):
        if self.sleeper is None:
            return
        subprocess.run(["fsfreeze", "-u", self.mount_point], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=30)
        try:
            os.killpg(self.sleeper.pid, signal.SIGTERM)  # its own group: the shell and its sleep
        except ProcessLookupError:
            pass
        self.sleeper.wait(10)
        self.sleeper = None

    def remove(self):
        self.thaw()
        if self.mounted:
            subprocess.run(["umount", self.mount_point], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=30)
            self.mounted = False
        shutil.rmtree(self.dir, ignore_errors=True)


def node_on_freezable_disk(testcase, node):
    """Mounts a FreezableDisk on the data directory of a node not yet started
    and registers the cleanups in their order, or skips the test where an ext4
    image cannot be mounted."""
    disk = FreezableDisk(node.data_dir)
    try:
        disk.mount()
    except OSError as e:
        disk.remove()
        node.close()
        raise unittest.SkipTest("cannot mount an ext4 image here: %s" % e)
    # Last in, first out: thawed, then the node stops, then the unmount.
    testcase.addCleanup(disk.remove)
    testcase.addCleanup(node.close)
    testcase.addCleanup(disk.thaw)
    return disk
