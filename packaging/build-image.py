#!/usr/bin/python3
"""Writes an OCI image layout (image-spec v1.0) for Ironbridge without a
container daemon: one layer holding the binary (stripped), the shared
libraries it still needs (as ldd resolves them on this machine), CA
certificates, /etc/passwd and /etc/group naming a non-root user, the image's
config and an empty data directory; no shell and nothing else. Then the config,
the manifest, index.json and oci-layout, every blob under blobs/sha256/, and
image.tar beside the layout (an oci-archive for skopeo, podman or ctr).
The layer is reproducible: sorted entries, owner 0 unless stated, mtime 0.

The layer is compressed with gzip -9 (every runtime pulls it), or with zstd
when IB_IMAGE_COMPRESSION=zstd (tar+zstd, standard since image-spec 1.1:
containerd 1.5+ and so K3s, CRI-O and podman, Docker Engine 23+;
packaging/README.md says which runtimes need which). IB_IMAGE_GZIP_LEVEL and
IB_IMAGE_ZSTD_LEVEL (default 9 and 19) let the tests trade size for time.

Usage: build-image.py BINARY OUTDIR     (prints the compressed size)"""

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

HERE = os.path.dirname(os.path.abspath(__file__))
UID = GID = 65532  # the conventional "nonroot" id of distroless images
DATA_DIR = "/var/lib/ironbridge"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+"


def shared_libraries(binary):
    """Absolute paths of the libraries the dynamic loader maps for `binary`, the loader included."""
    out = subprocess.run(["ldd", binary], check=True, stdout=subprocess.PIPE, text=True).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts and parts[parts.index("=>") + 1].startswith("/"):
            libs.append(parts[parts.index("=>") + 1])
        elif parts and parts[0].startswith("/"):
            libs.append(parts[0])  # the loader itself
    return sorted(set(libs))


def compress_layer(tar):
    """(media type suffix, compressed bytes) as IB_IMAGE_COMPRESSION asks."""
    method = os.environ.get("IB_IMAGE_COMPRESSION", "gzip")
    if method == "gzip":
        return "gzip", gzip.compress(tar, compresslevel=int(os.environ.get("IB_IMAGE_GZIP_LEVEL", "9")), mtime=0)
    if method == "zstd":
        # The zstd program (Debian's zstd): Python 3.11 has no zstd module. No
        # --long or --ultra: their windows above 8 MiB are what some decoders
        # refuse by default, and the layer gains little from them.
        level = os.environ.get("IB_IMAGE_ZSTD_LEVEL", "19")
        out = subprocess.run(["zstd", "-q", "-c", "-" + level], input=tar, check=True,
                             stdout=subprocess.PIPE).stdout
        return "zstd", out
    raise SystemExit("IB_IMAGE_COMPRESSION=%s: gzip or zstd" % method)


def stripped_copy(binary, workdir):
    path = os.path.join(workdir, "ironbridge")
    subprocess.run(["strip", "--strip-all", "--remove-section=.comment", "-o", path, binary], check=True)
    return path


class Layer:
    """A reproducible tar of files and directories, parents added as needed."""

    def __init__(self):
        self.entries = {}

    def _parents(self, path):
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            self.entries.setdefault(d, ("dir", None, 0o755, 0, 0))

    def add_dir(self, path, mode=0o755, uid=0, gid=0):
        self._parents(path)
        self.entries[path.strip("/")] = ("dir", None, mode, uid, gid)

    def add_file(self, path, data, mode=0o644):
        self._parents(path)
        self.entries[path.strip("/")] = ("file", data, mode, 0, 0)

    def tar_bytes(self):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(self.entries):
                kind, data, mode, uid, gid = self.entries[name]
                info = tarfile.TarInfo(name)
                info.mode, info.uid, info.gid, info.mtime = mode, uid, gid, 0
                info.uname = info.gname = ""
                if kind == "dir":
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                else:
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def put_blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest


def json_bytes(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def build(binary, layout):
    version = subprocess.run([binary, "version"], check=True, stdout=subprocess.PIPE,
                             text=True).stdout.split()[1]
    work = tempfile.mkdtemp(prefix="ib-image-")
    try:
        layer = Layer()
        layer.add_file("/usr/bin/ironbridge", read(stripped_copy(binary, work)), 0o755)
        for lib in shared_libraries(binary):
            # At the path the loader asked for (/lib64/ld-linux-x86-64.so.2, the
            # binary's interpreter, /lib/x86_64-linux-gnu/libc.so.6: a default
            # search directory), with the contents of the file it links to.
            layer.add_file(lib, read(os.path.realpath(lib)), 0o755)
        layer.add_file(CA_BUNDLE, read(CA_BUNDLE))
        layer.add_file("/etc/passwd", b"root:x:0:0:root:/root:/sbin/nologin\n"
                       b"ironbridge:x:%d:%d:ironbridge:%s:/sbin/nologin\n" % (UID, GID, DATA_DIR.encode()))
        layer.add_file("/etc/group", b"root:x:0:\nironbridge:x:%d:\n" % GID)
        layer.add_file("/etc/ironbridge/ironbridge.toml", read(os.path.join(HERE, "image", "ironbridge.toml")))
        layer.add_dir(DATA_DIR, 0o750, UID, GID)
        layer.add_dir("/tmp", 0o1777)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    shutil.rmtree(layout, ignore_errors=True)
    os.makedirs(os.path.join(layout, "blobs", "sha256"))
    tar = layer.tar_bytes()
    compression, layer_data = compress_layer(tar)
    layer_digest = put_blob(layout, layer_data)

    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": "%d:%d" % (UID, GID),
            "Entrypoint": ["/usr/bin/ironbridge", "run", "-c", "/etc/ironbridge/ironbridge.toml"],
            "WorkingDir": DATA_DIR,
            "Env": ["SSL_CERT_FILE=" + CA_BUNDLE],
            "ExposedPorts": {"1883/tcp": {}, "8080/tcp": {}},
            "Volumes": {DATA_DIR: {}},
            "StopSignal": "SIGTERM",
            "Labels": {"org.opencontainers.image.title": "ironbridge",
                       "org.opencontainers.image.version": version},
        },
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]},
        "history": [{"created_by": "packaging/build-image.py"}],
    }
    config_data = json_bytes(config)
    config_digest = put_blob(layout, config_data)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": len(config_data)},
        "layers": [{"mediaType": LAYER_MEDIA_TYPE + compression,
                    "digest": layer_digest, "size": len(layer_data)}],
    }
    manifest_data = json_bytes(manifest)
    manifest_digest = put_blob(layout, manifest_data)
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": manifest_digest, "size": len(manifest_data),
                       "platform": {"architecture": "amd64", "os": "linux"},
                       "annotations": {"org.opencontainers.image.ref.name": version}}],
    }
    with open(os.path.join(layout, "index.json"), "wb") as f:
        f.write(json_bytes(index))
    with open(os.path.join(layout, "oci-layout"), "wb") as f:
        f.write(json_bytes({"imageLayoutVersion": "1.0.0"}))

    archive = layout.rstrip("/") + ".tar"
    with tarfile.open(archive, "w") as t:
        for name in sorted(os.listdir(layout)):
            t.add(os.path.join(layout, name), arcname=name)
    compressed = len(layer_data) + len(config_data) + len(manifest_data)
    print("image: %s (%s:%s), %d bytes compressed (%s layer %d, uncompressed %d)"
          % (layout, "ironbridge", version, compressed, compression, len(layer_data), len(tar)))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: build-image.py BINARY OUTDIR")
    build(os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]))
