#!/usr/bin/env bash
# Arrow IPC files side by side: swift-partd's Table.writeArrow / Table(arrow:) (Benchmarks/Arrow) and
# pyarrow's feather.write_feather / feather.read_table, on this machine, in one run.
#
#   Benchmarks/run-arrow.sh [--repeat R] [--rows N]
#
# Workload: W4's table, N rows (default 10,000,000) of id Int64, x Float64 and name (one of 1,000 strings,
# plain and categorical), written to one Arrow IPC file (uncompressed, then with LZ4 frames, then with
# Zstandard buffers) in a scratch directory and read back into memory (pyarrow without memory mapping), R
# times each; each line shows the best write and the best read. There is no Python partd line: partd has no Arrow format.
set -euo pipefail
cd "$(dirname "$0")/.."

REPEAT=3
ROWS=10000000
while [ $# -gt 0 ]; do
  case "$1" in
    --repeat) REPEAT="$2"; shift 2 ;;
    --rows) ROWS="$2"; shift 2 ;;
    *) echo "usage: $0 [--repeat R] [--rows N]" >&2; exit 2 ;;
  esac
done

scripts/setup.sh --python >&2
swift build -c release --product partd-bench-arrow >&2

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/partd-arrow.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
RESULTS="$SCRATCH/results.jsonl"
: > "$RESULTS"

for compression in none lz4 zstd; do
  for strings in plain categorical; do
    sync
    .build/release/partd-bench-arrow --rows "$ROWS" --strings "$strings" --compression "$compression" --repeat "$REPEAT" \
      --dir "$SCRATCH" >> "$RESULTS"
    sync
    python3 Benchmarks/python/arrow_ipc.py --rows "$ROWS" --strings "$strings" --compression "$compression" \
      --repeat "$REPEAT" --dir "$SCRATCH" >> "$RESULTS"
  done
done

python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
print(f"{'name':<12} {'codec':<5} {'impl':<12} {'file MB':>8} {'write s':>8} {'write MB/s':>10} {'read s':>7} {'read MB/s':>9} {'write vs':>8} {'read vs':>8}")
for codec, strings in [(c, s) for c in ("none", "lz4", "zstd") for s in ("plain", "categorical")]:
    def pick(impl):
        return next((r for r in rows if r["impl"] == impl and r["strings"] == strings and r["compression"] == codec), None)
    py = pick("pyarrow")
    for impl in ("swift-partd", "pyarrow"):
        r = pick(impl)
        if r is None: continue
        vs_w = vs_r = ""
        if py and impl == "swift-partd":
            vs_w, vs_r = f"{py['write_s'] / r['write_s']:.2f}x", f"{py['read_s'] / r['read_s']:.2f}x"
        print(f"{strings:<12} {codec:<5} {impl:<12} {r['file_mb']:>8.1f} {r['write_s']:>8.3f} {r['write_mb_s']:>10.0f} "
              f"{r['read_s']:>7.3f} {r['read_mb_s']:>9.0f} {vs_w:>8} {vs_r:>8}")
print("write vs / read vs: pyarrow's time over ours (above 1x: ours is faster).")
PY
