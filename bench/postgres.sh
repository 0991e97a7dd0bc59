#!/usr/bin/env bash
# Rows per second into PostgreSQL through a rule's postgres action, beside
# `psql \copy` of the same rows, on this machine (BENCHMARKS.md). Starts its own
# PostgreSQL 15 (Debian's postgresql-15) on a private port; every process it
# starts is stopped by PID. Environment: IRONBRIDGE_BIN [build/ironbridge],
# ROWS [200000], BATCH_ROWS [5000].
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export IRONBRIDGE_BIN=${IRONBRIDGE_BIN:-$PWD/build/ironbridge}
exec /usr/bin/python3 bench/postgres.py
