#!/usr/bin/env bash
# Every side-by-side benchmark in one run: W1 (store), W2 (codecs), W3-W5 (typed stores), the shuffle +
# groupby (with DuckDB as a yardstick), the shuffle + join, sort, drop-duplicates and W4 (server), ours against Python's partd on
# this machine, the spill dictionary against Python's chest, then Arrow IPC files against pyarrow. Each script installs what it needs. Prints every script's table, then one table of ratios (ours over
# Python's, higher is better), and writes the ratio table to docs/benchmark-summary.md and a chart to
# docs/benchmark-ratios.svg.
#
#   Benchmarks/run-all.sh [--repeat R]      (R repetitions per workload, default 2; each line is the best)
set -euo pipefail
cd "$(dirname "$0")/.."

REPEAT=2
while [ $# -gt 0 ]; do
  case "$1" in
    --repeat) REPEAT="$2"; shift 2 ;;
    *) echo "usage: $0 [--repeat R]" >&2; exit 2 ;;
  esac
done

LOG="$(mktemp "${TMPDIR:-/tmp}/partd-bench-all.XXXXXX")"
trap 'rm -f "$LOG"' EXIT
run() { echo "== $*" | tee -a "$LOG"; "$@" 2>/dev/null | tee -a "$LOG"; echo | tee -a "$LOG"; }
run Benchmarks/run-w1.sh --runs "$REPEAT"
run Benchmarks/run-w2.sh --runs "$REPEAT"
run Benchmarks/run-typed.sh --repeat "$REPEAT" --workloads w3,w4,w5,w5-rich,w5-maps
run Benchmarks/run-shuffle.sh --repeat "$REPEAT"
run Benchmarks/run-join.sh --repeat "$REPEAT"
run Benchmarks/run-sort.sh --repeat "$REPEAT"
run Benchmarks/run-distinct.sh --repeat "$REPEAT"
run Benchmarks/run-server.sh --repeat "$REPEAT"
run Benchmarks/run-spill.sh --repeat "$REPEAT"   # SpillDictionary against Python's chest
run Benchmarks/run-arrow.sh --repeat "$REPEAT"   # against pyarrow (partd has no Arrow format): not in the ratio table
python3 Benchmarks/python/summary.py "$LOG" docs/benchmark-summary.md docs/benchmark-ratios.svg
