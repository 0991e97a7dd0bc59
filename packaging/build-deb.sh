#!/usr/bin/env bash
# Builds ironbridge_<version>_amd64.deb with dpkg-deb from a staged tree (no
# debhelper): the binary given (stripped in the staging copy if it is not),
# the rules' plug-ins found beside it in plugins/ (make dist's dist/plugins, a
# build tree's plugins/) under /usr/lib/ironbridge/plugins, the production
# config as a conffile, the systemd unit, the maintainer scripts.
# Usage: build-deb.sh BINARY OUTDIR   (prints the .deb's path)
# IB_DEB_COMPRESSION=gzip builds faster (tests: level 1); xz -9 otherwise.
set -euo pipefail
bin=${1:?usage: build-deb.sh BINARY OUTDIR}
out=${2:?usage: build-deb.sh BINARY OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
src="$here/deb"
version=$("$bin" version | awk '{print $2}')
[[ -n "$version" ]] || { echo "build-deb: cannot read the version of $bin" >&2; exit 1; }

mkdir -p "$out"
out=$(cd "$out" && pwd)  # dpkg-shlibdeps runs from another directory
root=$(mktemp -d "$out/deb-root.XXXXXX")
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"
install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/etc/ironbridge" "$root/lib/systemd/system" \
    "$root/usr/lib/ironbridge" "$root/usr/share/doc/ironbridge"
install -m 0755 "$bin" "$root/usr/bin/ironbridge"
# A package carries no symbols (make dist keeps them in ironbridge.debug).
strip --strip-all --remove-section=.comment "$root/usr/bin/ironbridge"
install -m 0644 "$src/ironbridge.toml" "$root/etc/ironbridge/ironbridge.toml"
install -m 0644 "$src/ironbridge.service" "$root/lib/systemd/system/ironbridge.service"
install -m 0755 "$src/init-credentials" "$root/usr/lib/ironbridge/init-credentials"
install -m 0644 "$src/copyright" "$root/usr/share/doc/ironbridge/copyright"
install -d -m 0755 "$root/usr/share/man/man1"
gzip -9n < "$src/changelog" > "$root/usr/share/doc/ironbridge/changelog.gz"
gzip -9n < "$src/ironbridge.1" > "$root/usr/share/man/man1/ironbridge.1.gz"
chmod 0644 "$root/usr/share/doc/ironbridge/changelog.gz" "$root/usr/share/man/man1/ironbridge.1.gz"
# The plug-ins: their libraries (gRPC++, libpq) are the package's Recommends,
# so `apt install --no-install-recommends ironbridge` gives the lean core, and
# a rule using a plug-in whose library is missing is refused naming it.
plugins=()
for p in "$(dirname "$bin")"/plugins/*.so; do
    [[ -f $p ]] || continue
    install -d -m 0755 "$root/usr/lib/ironbridge/plugins"
    install -m 0644 "$p" "$root/usr/lib/ironbridge/plugins/"
    strip --strip-unneeded --remove-section=.comment "$root/usr/lib/ironbridge/plugins/$(basename "$p")"
    plugins+=("-e$root/usr/lib/ironbridge/plugins/$(basename "$p")")
done
for s in postinst prerm postrm; do install -m 0755 "$src/$s" "$root/DEBIAN/$s"; done
echo /etc/ironbridge/ironbridge.toml > "$root/DEBIAN/conffiles"

# Depends: what the binary still links dynamically, as dpkg-shlibdeps finds it
# in the installed packages' shlibs and symbols files.
shlib_work=$(mktemp -d)
mkdir -p "$shlib_work/debian"
printf 'Source: ironbridge\n\nPackage: ironbridge\nArchitecture: amd64\n' > "$shlib_work/debian/control"
shlibs=$(cd "$shlib_work" && dpkg-shlibdeps -O "-e$root/usr/bin/ironbridge" ${plugins[@]+-dRecommends "${plugins[@]}"} 2>/dev/null)
rm -rf "$shlib_work"
libs=$(sed -n 's/^shlibs:Depends=//p' <<< "$shlibs")
recommends=$(sed -n 's/^shlibs:Recommends=//p' <<< "$shlibs")
[[ -n "$libs" ]] || { echo "build-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
    > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: ironbridge
Version: $version
Architecture: amd64
Maintainer: Ironbridge maintainers <maintainers@ironbridge.invalid>
Installed-Size: $size
Depends: adduser, $libs
${recommends:+Recommends: $recommends
}Section: net
Priority: optional
Description: industrial IoT edge node: MQTT broker, collection, rules, bridge
 Ironbridge runs at the edge of a plant and carries data from machines to the
 cloud and commands back, in one process: an MQTT 3.1.1/5.0 broker, Modbus and
 simulated device drivers, a SQL rule engine, history, and a store-and-forward
 bridge to a cloud MQTT broker, with a REST API and Prometheus metrics.
 .
 The package installs a sandboxed systemd service with its own user, a
 production configuration with anonymous access off, and generates the first
 administrator credential at install. The rules' grpc and postgres actions are
 plug-ins, loaded only when a rule uses them; their libraries are recommended.
CONTROL
chmod 0644 "$root/DEBIAN/control"

deb="$out/ironbridge_${version}_amd64.deb"
compression=${IB_DEB_COMPRESSION:-xz}
level=9
[[ $compression == gzip ]] && level=1  # the tests' choice: speed over size
dpkg-deb --root-owner-group -Z"$compression" -z"$level" --build "$root" "$deb" >/dev/null
echo "$deb"
