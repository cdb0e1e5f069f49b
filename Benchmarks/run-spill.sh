#!/usr/bin/env bash
# The spill-dictionary workload side by side: Python's chest and swift-partd's SpillDictionary on this
# machine, in one run. 20,000 values of 512 Float64 (4 KB) under a 16 MB memory budget: set every key,
# read every key back in a random order, flush (Benchmarks/Spill, Benchmarks/python/spill_chest.py).
#
#   Benchmarks/run-spill.sh [--repeat R] [--values N]
#
# Python: chest 0.2.3 with its default dump (pickle protocol 1) and with the highest protocol; chest writes
# its files in place and never fsyncs. Ours: a temporary dictionary (files written in place, no fsyncs: the
# same work as chest), one over a given directory with `durable: false` (files replaced by rename) and one
# with its default there (every file and its directory fsynced). Each configuration runs R times, each in
# a fresh process, the sides interleaved; each line is the best (smallest total) run. Both sides write under
# one scratch directory, kept until the end (see Benchmarks/fast-creates.sh for why, and for the wait for
# fast file creation before each run).
set -euo pipefail
cd "$(dirname "$0")/.."

REPEAT=3
VALUES=20000
while [ $# -gt 0 ]; do
  case "$1" in
    --repeat) REPEAT="$2"; shift 2 ;;
    --values) VALUES="$2"; shift 2 ;;
    *) echo "usage: $0 [--repeat R] [--values N]" >&2; exit 2 ;;
  esac
done

scripts/setup.sh --python >&2
python3 -c "import collections, collections.abc; collections.MutableMapping = collections.abc.MutableMapping; import numpy, chest" 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check numpy chest==0.2.3 >&2 \
  || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages numpy chest==0.2.3 >&2
swift build -c release --product partd-bench-spill >&2

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/partd-spill.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
export SPILL_TMP="$SCRATCH" SPILL_KEEP=1
RESULTS="$SCRATCH/results.jsonl"
: > "$RESULTS"
. Benchmarks/fast-creates.sh

echo "spill dictionary: $VALUES values of 512 Float64 (4 KB) under a 16 MB budget: set all, read all in a random order, flush; best of $REPEAT"
echo "machine: $(nproc) cores, $(uname -sr); scratch: $SCRATCH ($(df -T "$SCRATCH" | awk 'NR==2{print $2}'))"
for run in $(seq "$REPEAT"); do
  for side in "python3 Benchmarks/python/spill_chest.py --config protocol1" \
              ".build/release/partd-bench-spill --config temporary" \
              "python3 Benchmarks/python/spill_chest.py --config highest" \
              ".build/release/partd-bench-spill --config unsynced" \
              ".build/release/partd-bench-spill --config durable"; do
    sync
    wait_for_fast_creates
    TMPDIR="$SCRATCH" $side --values "$VALUES" --json >> "$RESULTS"
  done
done

python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
best = {}
for r in rows:
    k = (r["impl"], r["store"])
    if k not in best or r["total_s"] < best[k]["total_s"]:
        best[k] = r
print(f"{'implementation':<14} {'configuration':<58} {'sets/s':>9} {'reads/s':>9} {'flush s':>8} {'total s':>8}")
for (impl, store), r in best.items():
    print(f"{impl:<14} {store:<58} {r['sets_per_s']:>9,.0f} {r['reads_per_s']:>9,.0f} {r['flush_s']:>8.3f} {r['total_s']:>8.3f}")
chest = min((r for r in best.values() if r["impl"] == "python-chest"), key=lambda r: r["total_s"], default=None)
ours = [r for r in best.values() if r["impl"] == "swift-partd" and r["store"].startswith("temporary")]
if chest and ours:
    o = ours[0]
    print(f"temporary dictionary over chest's fastest ({chest['store']}): sets {o['sets_per_s'] / chest['sets_per_s']:.1f}x, "
          f"reads {o['reads_per_s'] / chest['reads_per_s']:.1f}x, total {chest['total_s'] / o['total_s']:.1f}x")
    print("SUMMARY " + json.dumps({"workload": "spill dictionary (vs chest)", "line": "sets", "ratio": o['sets_per_s'] / chest['sets_per_s']}))
    print("SUMMARY " + json.dumps({"workload": "spill dictionary (vs chest)", "line": "reads", "ratio": o['reads_per_s'] / chest['reads_per_s']}))
PY
