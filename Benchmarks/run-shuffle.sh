#!/usr/bin/env bash
# The shuffle + groupby workload side by side: swift-partd's Shuffle<Table> (the demo executable) and
# Python's partd + pandas as dask's disk shuffle drives it, on this machine, in one run; DuckDB's
# spilling GROUP BY as a yardstick.
#
#   Benchmarks/run-shuffle.sh [--repeat R] [--rows N] [--no-duckdb]
#
# Workload: N rows (default 10,000,000: id Int64 uniform in 0..<1,000,000, x Float64, name one of
# 1,000 short strings) fed in chunks of 500,000 rows into 64 partitions by id, spilling budget 256 MB
# and again 32 MB; then sum(x) and count per id, partition by partition. Both sides run with the
# name column as plain strings (pandas' default "str" dtype) and as a categorical. Each run is a fresh
# process (peak memory is per process); each line is the best (smallest total time) of R runs.
set -euo pipefail
cd "$(dirname "$0")/.."

REPEAT=3
ROWS=10000000
DUCKDB=1
while [ $# -gt 0 ]; do
  case "$1" in
    --repeat) REPEAT="$2"; shift 2 ;;
    --rows) ROWS="$2"; shift 2 ;;
    --no-duckdb) DUCKDB=0; shift ;;
    *) echo "usage: $0 [--repeat R] [--rows N] [--no-duckdb]" >&2; exit 2 ;;
  esac
done

scripts/setup.sh --python >&2
python3 -c "import numpy, pandas" 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check numpy pandas >&2 \
  || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages numpy pandas >&2
if [ "$DUCKDB" = 1 ]; then
  python3 -c "import duckdb" 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check duckdb >&2 \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages duckdb >&2 \
    || { echo "duckdb is not installable here; skipping it" >&2; DUCKDB=0; }
fi
swift build -c release --product shuffle-groupby-demo >&2

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/partd-shuffle.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
export SHUFFLE_TMP="$SCRATCH"
RESULTS="$SCRATCH/results.jsonl"
: > "$RESULTS"

for memory in 256MB 32MB; do
  for strings in plain categorical; do
    pystrings=$([ "$strings" = plain ] && echo str || echo categorical)
    for _ in $(seq "$REPEAT"); do
      # Interleaved, so both sides see the same machine state.
      sync
      TMPDIR="$SCRATCH" .build/release/shuffle-groupby-demo --json --rows "$ROWS" --memory "$memory" --strings "$strings" \
        | sed 's/^{/{"impl": "swift-partd", /' >> "$RESULTS"
      sync
      python3 Benchmarks/python/shuffle_groupby.py --rows "$ROWS" --memory "$memory" --strings "$pystrings" >> "$RESULTS"
    done
  done
done
if [ "$DUCKDB" = 1 ]; then
  for _ in $(seq "$REPEAT"); do python3 Benchmarks/python/duckdb_groupby.py --rows "$ROWS" >> "$RESULTS"; done
fi

python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
def best(impl, memory=None, strings=None):
    c = [r for r in rows if r["impl"] == impl and (memory is None or r.get("memory_bytes") == memory)
         and (strings is None or r.get("strings") in strings)]
    return min(c, key=lambda r: r["total_s"]) if c else None
duck = best("duckdb")
summaries = []
print(f"{'budget':>7} {'name':<12} {'impl':<13} {'shuffle Mrows/s':>15} {'read+agg Mrows/s':>16} {'job Mrows/s':>11} "
      f"{'job s':>6} {'spilled MB':>10} {'peak-base MiB':>13} {'vs Python':>9} {'vs DuckDB':>9}")
for memory in (256_000_000, 32_000_000):
    for strings in (("plain-string", "str"), ("categorical",)):
        py = best("python-partd", memory, strings)
        for impl in ("swift-partd", "python-partd"):
            r = best(impl, memory, strings)
            if r is None: continue
            n = r["rows"] / 1e6
            ratio = f"{py['total_s'] / r['total_s']:.1f}x" if py and impl == "swift-partd" else ""
            if py and impl == "swift-partd":
                summaries.append({"workload": "shuffle+groupby", "line": f"{memory // 1_000_000}MB {strings[0]}", "ratio": py['total_s'] / r['total_s']})
            dratio = f"{duck['total_s'] / r['total_s']:.2f}x" if duck and impl == "swift-partd" else ""
            ok = "" if r.get("ok") else "  CHECK FAILED"
            print(f"{memory // 1_000_000:>5}MB {strings[0]:<12} {impl:<13} {n / r['shuffle_s']:>15.2f} "
                  f"{n / r['read_aggregate_s']:>16.2f} {n / r['total_s']:>11.2f} {r['total_s']:>6.3f} "
                  f"{r['spilled_bytes'] / 1e6:>10.1f} {r['peak_over_baseline_bytes'] / 2**20:>13.1f} {ratio:>9} {dratio:>9}{ok}")
if duck:
    print(f"DuckDB {duck['memory_limit']} limit, {duck['threads']} threads: GROUP BY of {duck['rows']} rows in "
          f"{duck['total_s']:.3f} s ({duck['rows'] / 1e6 / duck['total_s']:.2f} Mrows/s)")
print("peak-base: peak resident memory minus the resident memory just before the shuffle; "
      "the bar is at most the budget plus 64 MiB.")
for s in summaries: print("SUMMARY " + json.dumps(s))
PY
