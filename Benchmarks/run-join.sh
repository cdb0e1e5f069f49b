#!/usr/bin/env bash
# The shuffle + join workload side by side: swift-partd's Shuffle<Table>.joinPartitions
# (Benchmarks/Join) and Python's partd + pandas as dask's disk-shuffle merge drives them, on this
# machine, in one run.
#
#   Benchmarks/run-join.sh [--repeat R] [--rows N] [--keys K] [--kind inner|left|right|outer]
#
# Workload: a left table of N rows (default 10,000,000: id Int64 uniform in 0..<K, x Float64) and a
# right table of K rows (default 1,000,000: every id once, with a name of 1,000 short strings), fed in
# chunks of 500,000 rows into 64 partitions by id, each side through a 64 MB spilling budget; then an
# inner join on id (or --kind's), partition by partition, each result reduced to its row count and
# sum(x). Both sides run with the name as plain strings and as a categorical. Runs interleave; each line is the
# best (smallest total time) of R runs.
set -euo pipefail
cd "$(dirname "$0")/.."

REPEAT=3
ROWS=10000000
KEYS=1000000
KIND=inner
while [ $# -gt 0 ]; do
  case "$1" in
    --repeat) REPEAT="$2"; shift 2 ;;
    --rows) ROWS="$2"; shift 2 ;;
    --keys) KEYS="$2"; shift 2 ;;
    --kind) KIND="$2"; shift 2 ;;
    *) echo "usage: $0 [--repeat R] [--rows N] [--keys K] [--kind inner|left|right|outer]" >&2; exit 2 ;;
  esac
done

scripts/setup.sh --python >&2
python3 -c "import numpy, pandas" 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check numpy pandas >&2 \
  || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages numpy pandas >&2
swift build -c release --product partd-bench-join >&2

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/partd-join.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
export SHUFFLE_TMP="$SCRATCH"
RESULTS="$SCRATCH/results.jsonl"
: > "$RESULTS"

for strings in plain categorical; do
  pystrings=$([ "$strings" = plain ] && echo str || echo categorical)
  for _ in $(seq "$REPEAT"); do
    sync
    TMPDIR="$SCRATCH" .build/release/partd-bench-join --rows "$ROWS" --keys "$KEYS" --strings "$strings" --kind "$KIND" >> "$RESULTS"
    sync
    python3 Benchmarks/python/shuffle_join.py --rows "$ROWS" --keys "$KEYS" --strings "$pystrings" --kind "$KIND" >> "$RESULTS"
  done
done

python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
def best(impl, strings):
    c = [r for r in rows if r["impl"] == impl and r["strings"] in strings]
    return min(c, key=lambda r: r["total_s"]) if c else None
print(f"join kind: {rows[0].get('kind', 'inner') if rows else '?'}")
print(f"{'name':<12} {'impl':<13} {'shuffle s':>9} {'join s':>7} {'total s':>8} {'Mrows/s':>8} {'peak-base MiB':>13} {'vs Python':>9}")
summaries = []
for strings in (("plain", "str"), ("categorical",)):
    py = best("python-partd", strings)
    for impl in ("swift-partd", "python-partd"):
        r = best(impl, strings)
        if r is None: continue
        ratio = ""
        if py and impl == "swift-partd":
            ratio = f"{py['total_s'] / r['total_s']:.1f}x"
            line = strings[0] if r.get("kind", "inner") == "inner" else f"{strings[0]} {r['kind']}"
            summaries.append({"workload": "shuffle+join", "line": line, "ratio": py["total_s"] / r["total_s"]})
        ok = "" if r.get("ok") else "  CHECK FAILED"
        print(f"{strings[0]:<12} {impl:<13} {r['shuffle_s']:>9.3f} {r['join_s']:>7.3f} {r['total_s']:>8.3f} "
              f"{r['rows_per_s'] / 1e6:>8.2f} {r['peak_over_baseline_bytes'] / 2**20:>13.1f} {ratio:>9}{ok}")
print("Mrows/s: rows of both sides per second of shuffle + join; peak-base: peak resident memory minus the "
      "resident memory before the shuffles (two 64 MB budgets).")
for s in summaries: print("SUMMARY " + json.dumps(s))
PY
