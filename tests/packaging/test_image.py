"""The OCI image layout, written by packaging/build-image.py from an already
built binary: every descriptor's digest and size match its blob, the layer's
diff_id matches its uncompressed tar, the config runs a non-root user with the
data directory a volume, and the layer holds no shell, only the binary, the
libraries it needs, CA certificates and the user's passwd entry. As root, the
binary runs from the unpacked layer alone (chroot) and accepts the image's config.
The same checks hold for the zstd layer (IB_IMAGE_COMPRESSION=zstd), unpacked
with the zstd program.

Usage: test_image.py BINARY WORKDIR (ctest passes the build's ironbridge)."""

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BINARY = WORKDIR = None
SHELLS = ("bin/sh", "bin/bash", "bin/dash", "bin/busybox", "usr/bin/sh", "usr/bin/bash", "usr/bin/dash")


def decompress_zstd(data):
    return subprocess.run(["zstd", "-q", "-d", "-c"], input=data, check=True, stdout=subprocess.PIPE).stdout


class ImageLayoutTest(unittest.TestCase):
    compression, decompress = "gzip", staticmethod(gzip.decompress)

    @classmethod
    def setUpClass(cls):
        cls.layout = os.path.join(WORKDIR, "image-" + cls.compression)
        # Level 1: the same layout, built in a fraction of the time.
        env = dict(os.environ, IB_IMAGE_COMPRESSION=cls.compression, IB_IMAGE_GZIP_LEVEL="1", IB_IMAGE_ZSTD_LEVEL="1")
        r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "packaging", "build-image.py"), BINARY,
                            cls.layout], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
                           env=env)
        if r.returncode != 0:
            raise AssertionError("build-image.py failed:\n" + r.stdout)
        with open(os.path.join(cls.layout, "index.json")) as f:
            cls.index = json.load(f)
        cls.manifest = json.loads(cls.blob(cls.index["manifests"][0]))
        cls.config = json.loads(cls.blob(cls.manifest["config"]))
        cls.layer_tar = cls.decompress(cls.blob(cls.manifest["layers"][0]))
        with tarfile.open(fileobj=io.BytesIO(cls.layer_tar)) as t:
            cls.members = {m.name: m for m in t.getmembers()}

    @classmethod
    def blob(cls, descriptor):
        """The blob a descriptor names, after checking its digest and size."""
        algo, digest = descriptor["digest"].split(":")
        assert algo == "sha256", descriptor
        with open(os.path.join(cls.layout, "blobs", "sha256", digest), "rb") as f:
            data = f.read()
        assert hashlib.sha256(data).hexdigest() == digest, descriptor
        assert len(data) == descriptor["size"], descriptor
        return data

    def test_layout_files_and_media_types(self):
        with open(os.path.join(self.layout, "oci-layout")) as f:
            self.assertEqual(json.load(f), {"imageLayoutVersion": "1.0.0"})
        self.assertEqual(self.index["schemaVersion"], 2)
        self.assertEqual(self.manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json")
        self.assertEqual(self.manifest["config"]["mediaType"], "application/vnd.oci.image.config.v1+json")
        self.assertEqual([l["mediaType"] for l in self.manifest["layers"]],
                         ["application/vnd.oci.image.layer.v1.tar+" + self.compression])
        # Every blob on disk is one a descriptor names: nothing stale left over.
        named = {d["digest"].split(":")[1] for d in
                 [self.index["manifests"][0], self.manifest["config"]] + self.manifest["layers"]}
        self.assertEqual(set(os.listdir(os.path.join(self.layout, "blobs", "sha256"))), named)
        self.assertTrue(os.path.isfile(self.layout + ".tar"))

    def test_diff_id_is_the_uncompressed_layer(self):
        self.assertEqual(self.config["rootfs"],
                         {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(self.layer_tar).hexdigest()]})

    def test_config_runs_a_non_root_user_with_the_data_dir_a_volume(self):
        c = self.config["config"]
        uid = c["User"].split(":")[0]
        self.assertNotIn(uid, ("", "0", "root"))
        self.assertEqual(c["Entrypoint"][0], "/usr/bin/ironbridge")
        self.assertIn("/var/lib/ironbridge", c["Volumes"])
        self.assertEqual(set(c["ExposedPorts"]), {"1883/tcp", "8080/tcp"})
        self.assertEqual(self.members["var/lib/ironbridge"].uid, int(uid))
        passwd = self.file("etc/passwd").decode()
        self.assertIn("ironbridge:x:%s:" % uid, passwd)

    def test_layer_holds_no_shell_and_what_the_binary_needs(self):
        for shell in SHELLS:
            self.assertNotIn(shell, self.members)
        self.assertEqual(self.members["usr/bin/ironbridge"].mode & 0o777, 0o755)
        self.assertIn("etc/ssl/certs/ca-certificates.crt", self.members)
        files = [n for n, m in self.members.items() if m.isfile()]
        for name in files:
            self.assertTrue(name.startswith(("usr/bin/ironbridge", "lib/", "lib64/", "usr/lib/", "etc/")), name)

    def file(self, name):
        with tarfile.open(fileobj=io.BytesIO(self.layer_tar)) as t:
            return t.extractfile(name).read()

    @unittest.skipUnless(os.geteuid() == 0, "chroot needs root")
    def test_binary_runs_from_the_layer_alone(self):
        if any(n.startswith("lib/x86_64-linux-gnu/libasan") for n in self.members):
            self.skipTest("an ASan build reads /proc, which a bare chroot lacks")
        root = tempfile.mkdtemp(prefix="ib-image-root-")
        os.chmod(root, 0o755)  # a container's /; mkdtemp makes it 0700
        self.addCleanup(shutil.rmtree, root, True)
        with tarfile.open(fileobj=io.BytesIO(self.layer_tar)) as t:
            t.extractall(root)
        user = self.config["config"]["User"]
        entry = self.config["config"]["Entrypoint"]
        r = subprocess.run(["chroot", "--userspec=" + user, root, entry[0], "check-config", entry[-1]],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("configuration is valid", r.stdout)


class ZstdImageLayoutTest(ImageLayoutTest):
    compression, decompress = "zstd", staticmethod(decompress_zstd)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit("usage: test_image.py BINARY WORKDIR")
    BINARY, WORKDIR = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=sys.argv[:1])
