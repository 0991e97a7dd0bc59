#!/usr/bin/env bash
# Fetches Debian's source package of the simdjson that is installed
# (libsimdjson-dev), for make dist to compile it into the binary: Debian ships
# simdjson as a shared library only, and that library alone brings
# libstdc++.so.6 and libgcc_s into every process (packaging/README.md).
#
# apt-get fetches and checks it (the archive's signed index, then the .dsc's
# hashes) from the same mirror the machine installs from, through a private
# list of deb-src entries: the machine's own apt configuration is not changed.
#
# Usage: simdjson-source.sh DIR  -> prints the folder holding simdjson.cpp
set -euo pipefail

dir=$(realpath -m "$1")
version=$(dpkg-query -W -f='${source:Version}' libsimdjson-dev 2>/dev/null) ||
  { echo "simdjson-source: libsimdjson-dev is not installed (make deps installs it)" >&2; exit 1; }
upstream=${version%-*}
upstream=${upstream#*:}
src="$dir/simdjson-$upstream/singleheader"

if [[ ! -f $dir/fetched-$version ]]; then
  rm -rf "$dir"
  mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial" "$dir/apt/sources.list.d"
  # The machine's Debian entries, as deb-src. Both formats: deb822 (.sources)
  # and one-line (sources.list).
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] && sed -E 's/^Types:.*/Types: deb-src/' "$f" > "$dir/apt/sources.list.d/$(basename "$f")"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] && sed -nE 's/^deb[[:space:]]+/deb-src /p' "$f" >> "$dir/apt/sources.list"
  done
  touch "$dir/apt/sources.list"
  opts=(-o "Dir::Etc::SourceList=$dir/apt/sources.list" -o "Dir::Etc::SourceParts=$dir/apt/sources.list.d"
        -o "Dir::State::Lists=$dir/apt/lists" -o "Dir::Cache=$dir/apt/cache" -q)
  # As root, apt hands downloads to the _apt user, who cannot write here.
  [[ $(id -u) -eq 0 ]] && opts+=(-o APT::Sandbox::User=root)
  apt-get "${opts[@]}" update >&2 ||
    { echo "simdjson-source: apt-get update of the deb-src entries failed (no network to the Debian mirror?)" >&2; exit 1; }
  (cd "$dir" && apt-get "${opts[@]}" source "simdjson=$version" >&2) ||
    { echo "simdjson-source: apt-get source simdjson=$version failed" >&2; exit 1; }
  touch "$dir/fetched-$version"
fi

# The code compiled in must be the one the installed header declares.
if ! cmp -s "$src/simdjson.h" /usr/include/simdjson.h; then
  echo "simdjson-source: $src/simdjson.h differs from /usr/include/simdjson.h" >&2
  exit 1
fi
echo "$src"
