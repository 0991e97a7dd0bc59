#!/usr/bin/env bash
# Keeps a binary's debug symbols apart, as Debian's -dbgsym packages do: copies
# BINARY into OUTDIR, moves its symbols to OUTDIR/NAME.debug, strips it and
# names that file in its .gnu_debuglink section, so gdb finds the symbols when
# they sit beside it (or under /usr/lib/debug). The build's own file is left
# as it is, so running it again after no relink gives the same result.
# Usage: split-debug.sh BINARY OUTDIR
set -euo pipefail
bin=${1:?usage: split-debug.sh BINARY OUTDIR}
out=${2:?usage: split-debug.sh BINARY OUTDIR}
name=$(basename "$bin")
mkdir -p "$out"
cp "$bin" "$out/$name"
cd "$out"
objcopy --only-keep-debug --compress-debug-sections=zlib "$name" "$name.debug"
chmod -x "$name.debug"
strip --strip-all --remove-section=.comment "$name"
# After strip: the section holds the debug file's name and CRC.
objcopy --add-gnu-debuglink="$name.debug" "$name"
echo "dist: $out/$name ($(stat -c %s "$name") bytes, stripped), symbols in $name.debug ($(stat -c %s "$name.debug") bytes)"
