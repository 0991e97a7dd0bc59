#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR for SECONDS each, on a copy of its seed
# corpus so the committed corpus stays small, as many at once as there are cores
# (each fuzzer is one process on one core). Fails when a fuzzer finds a crash.
set -euo pipefail
build_dir=${1:?build dir}
seconds=${2:-60}
parallel=${FUZZ_JOBS:-$(nproc)}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
declare -A running=()  # pid -> fuzzer name
stop_running() {
  local pid
  for pid in "${!running[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap stop_running EXIT

# Waits for one fuzzer to end; prints its figures, or its log and fails.
reap_one() {
  local pid status=0
  wait -n -p pid "${!running[@]}" || status=$?
  local name=${running[$pid]}
  unset "running[$pid]"
  if ((status != 0)); then
    tail -50 "$work/$name.log"
    # The input that failed outlives the work folder, for the person who reads the log.
    mkdir -p "$build_dir/fuzz-artifacts"
    cp "$work/$name"-* "$build_dir/fuzz-artifacts/" 2>/dev/null || true
    echo "fuzz: $name FAILED (inputs kept in $build_dir/fuzz-artifacts)"
    exit 1
  fi
  echo "fuzz: $name $(grep -E 'stat::number_of_executed_units' "$work/$name.log" || echo done)"
}

shopt -s nullglob
found=0
for fuzzer in "$build_dir"/tests/fuzz/*_fuzz; do
  name=$(basename "$fuzzer")
  seeds="$root/tests/data/${name%%_*}/corpus"
  mkdir -p "$work/$name"
  [[ -d $seeds ]] && cp -r "$seeds"/. "$work/$name"/
  while ((${#running[@]} >= parallel)); do reap_one; done
  echo "fuzz: $name for ${seconds}s"
  # -timeout: one input running 30 s is a finding (a hang), reported then, not
  # after libFuzzer's default of 20 minutes, past what CI allows.
  "$fuzzer" -max_total_time="$seconds" -timeout=30 -print_final_stats=1 -artifact_prefix="$work/$name-" \
    "$work/$name" 2>"$work/$name.log" &
  running[$!]=$name
  found=$((found + 1))
done
while ((${#running[@]} > 0)); do reap_one; done
echo "fuzz: $found passed, 0 failed"
