#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR for SECONDS each, on a copy of its seed
# corpus so the committed corpus stays small. Fails when a fuzzer finds a crash.
set -euo pipefail
build_dir=${1:?build dir}
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

shopt -s nullglob
found=0
for fuzzer in "$build_dir"/tests/fuzz/*_fuzz; do
  name=$(basename "$fuzzer")
  seeds="$root/tests/data/${name%%_*}/corpus"
  mkdir -p "$work/$name"
  [[ -d $seeds ]] && cp -r "$seeds"/. "$work/$name"/
  echo "fuzz: $name for ${seconds}s"
  # -timeout: one input running 30 s is a finding (a hang), reported then, not
  # after libFuzzer's default of 20 minutes, past what CI allows.
  "$fuzzer" -max_total_time="$seconds" -timeout=30 -print_final_stats=1 -artifact_prefix="$work/" \
    "$work/$name" 2>"$work/$name.log" || {
      tail -50 "$work/$name.log"
      echo "fuzz: $name FAILED"; exit 1; }
  grep -E 'stat::number_of_executed_units' "$work/$name.log" || true
  found=$((found + 1))
done
echo "fuzz: $found passed, 0 failed"
