#!/usr/bin/env bash
# Workload W2 side by side: Python's partd Numpy store and swift-partd on this machine, in one run.
#
#   Benchmarks/run-w2.sh [--rounds N] [--runs R]
#
# Both sides write under one scratch directory (W2_TMP, default a new directory under $TMPDIR or
# /tmp), removed at the end. Each run syncs dirty pages first. The Swift side also measures the
# page-cache write bandwidth (2 GiB in 4 MiB writes) in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=400
RUNS=2
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    *) echo "usage: $0 [--rounds N] [--runs R]" >&2; exit 2 ;;
  esac
done

scripts/setup.sh --python >&2
python3 -c "import numpy" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check numpy >&2
swift build -c release --product partd-bench-w2 >&2

SCRATCH="${W2_TMP:-$(mktemp -d "${TMPDIR:-/tmp}/partd-w2.XXXXXX")}"
[ -n "${W2_TMP:-}" ] || trap 'rm -rf "$SCRATCH"' EXIT
export W2_TMP="$SCRATCH"

echo "W2: $ROUNDS rounds x 64 random keys of 256 x 10,000 Float64 (80 kB), then get every key; $RUNS runs each, best shown"
RESULTS="$SCRATCH/results.jsonl"
: > "$RESULTS"
for run in $(seq "$RUNS"); do
  sync
  .build/release/partd-bench-w2 --rounds "$ROUNDS" --json >> "$RESULTS"
  sync
  python3 Benchmarks/python/w2_partd.py --rounds "$ROUNDS" --json 2>/dev/null >> "$RESULTS"
done
python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
bw = max((r["append_mb_s"] for r in rows if r["impl"] == "machine"), default=0)
print(f"page-cache write bandwidth (best): {bw:,.0f} MB/s")
kinds = {"uncompressed": "uncompressed", "blosc lz4 shuffle": "blosc", "blosc (partd default)": "blosc", "snappy": "snappy"}
best = {}
for r in rows:
    if r["impl"] == "machine":
        continue
    k = (r["impl"], kinds[r["store"]])
    b = best.setdefault(k, {"append_mb_s": 0, "get_mb_s": 0})
    b["append_mb_s"] = max(b["append_mb_s"], r["append_mb_s"])
    b["get_mb_s"] = max(b["get_mb_s"], r["get_mb_s"])
print(f"{'codec':<14} {'implementation':<14} {'append MB/s':>12} {'get MB/s':>10}")
for kind in ("uncompressed", "blosc", "snappy"):
    for impl in ("python-partd", "swift-partd"):
        r = best.get((impl, kind))
        if r:
            print(f"{kind:<14} {impl:<14} {r['append_mb_s']:>12,.0f} {r['get_mb_s']:>10,.0f}")
    py, sw = best.get(("python-partd", kind)), best.get(("swift-partd", kind))
    if py and sw:
        for op in ("append", "get"):
            print("SUMMARY " + json.dumps({"workload": "W2 codecs", "line": f"{kind} {op}", "ratio": sw[op + "_mb_s"] / py[op + "_mb_s"]}))
PY
