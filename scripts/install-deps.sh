#!/usr/bin/env bash
# Installs every Debian package that building, testing and benchmarking Ironbridge
# needs. Idempotent: it only calls apt-get when something is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  g++ clang-16 libclang-rt-16-dev
  libboost-dev libboost-system-dev libssl-dev libsqlite3-dev
  libspdlog-dev libfmt-dev libtomlplusplus-dev libcli11-dev libsimdjson-dev
  libmodbus-dev python3-pymodbus python3-serial python3-serial-asyncio socat
  libgtest-dev libgmock-dev libbenchmark-dev
  mosquitto mosquitto-clients python3 python3-paho-mqtt
  procps curl jq openssl
  e2fsprogs
  nodejs chromium
  dpkg-dev lintian binutils ca-certificates python3-yaml python3-jsonschema
  # make dist links with lld 16 (packed relocations), and compiles in the
  # source of Debian's simdjson, which apt-get source unpacks with dpkg-dev.
  lld-16
  # make image IMAGE_COMPRESSION=zstd, and the test of its layer.
  zstd
  # Sparkplug B: protoc generates the payload codec for protobuf's lite runtime.
  libprotobuf-dev protobuf-compiler
)
# npm runs the node-opcua server the OPC UA tests talk to. Debian ships it as its
# own package; a nodejs that already brings npm (NodeSource's, which conflicts
# with Debian's npm) is left as it is rather than replaced.
command -v npm >/dev/null 2>&1 || packages+=(npm)

# Issue 16: RE2 for the rules' regexp_matches (linear time); libpq for the
# postgres action; PostgreSQL 15's server binaries (initdb, pg_ctl in
# /usr/lib/postgresql/15/bin) for the tests, which start their own server. No
# system cluster is wanted: Debian's postgresql-common would create and start
# one on 5432 as it installs, unless told not to first.
packages+=(libre2-dev libpq-dev postgresql-15)
if ! dpkg-query -W -f='${Status}' postgresql-15 2>/dev/null | grep -q "install ok installed"; then
  conf=/etc/postgresql-common/createcluster.d/ironbridge.conf
  if [[ ! -f $conf ]]; then
    s=""; [[ $(id -u) -ne 0 ]] && s="sudo"
    $s mkdir -p "$(dirname "$conf")"
    echo "create_main_cluster = false" | $s tee "$conf" >/dev/null
  fi
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "install-deps: installing ${missing[*]}"
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The node-opcua test peer, exactly as its committed lockfile pins it.
peer="$(cd "$(dirname "$0")/.." && pwd)/tests/peers/opcua"
if [[ ! -d $peer/node_modules/node-opcua ]]; then
  echo "install-deps: npm ci in tests/peers/opcua"
  (cd "$peer" && npm ci --no-audit --no-fund --loglevel=error)
fi

# The web console's front-end packages (embedded in the binary at build time) and
# the browser tests' playwright-core (which drives Debian's chromium above; it
# downloads no browser), exactly as their committed lockfiles pin them.
root="$(cd "$(dirname "$0")/.." && pwd)"
for dir in web tests/browser; do
  if [[ ! -d $root/$dir/node_modules ]] || [[ $root/$dir/package-lock.json -nt $root/$dir/node_modules ]]; then
    echo "install-deps: npm ci in $dir"
    (cd "$root/$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  fi
done

# The rules' grpc action (issue 16): gRPC++ and protobuf with its .proto parser
# (libprotoc-dev has compiler/importer.h), and protoc for looking at a user's
# .proto by hand. CMake leaves the action out when they are missing.
grpc_packages=(libgrpc++-dev libprotobuf-dev libprotoc-dev protobuf-compiler)
grpc_missing=()
for p in "${grpc_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    grpc_missing+=("$p")
  fi
done
if ((${#grpc_missing[@]} > 0)); then
  echo "install-deps: installing ${grpc_missing[*]}"
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${grpc_missing[@]}" ||
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${grpc_missing[@]}"; }
fi

# The @grpc/grpc-js server the grpc action's tests call, exactly as its lockfile pins it.
grpc_peer="$root/tests/peers/grpc"
if [[ ! -d $grpc_peer/node_modules/@grpc/grpc-js ]] || [[ $grpc_peer/package-lock.json -nt $grpc_peer/node_modules ]]; then
  echo "install-deps: npm ci in tests/peers/grpc"
  (cd "$grpc_peer" && npm ci --no-audit --no-fund --loglevel=error)
fi

# The Sparkplug B host application of test_sparkplug (Eclipse Tahu's
# sparkplug-payload over MQTT.js), exactly as its committed lockfile pins it.
spdir=$root/tests/peers/sparkplug
if [[ ! -d $spdir/node_modules ]] || [[ $spdir/package-lock.json -nt $spdir/node_modules ]]; then
  echo "install-deps: npm ci in tests/peers/sparkplug"
  (cd "$spdir" && npm ci --no-audit --no-fund --loglevel=error)
fi
