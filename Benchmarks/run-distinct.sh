#!/usr/bin/env bash
# Dropping duplicate rows of a CSV file out of core, side by side: `partd distinct` (the command, end to end)
# and Python's partd + pandas as dask's disk-shuffle `drop_duplicates` drives them
# (Benchmarks/python/shuffle_distinct.py), with plain pandas in memory for scale, on this machine, in one run.
#
#   Benchmarks/run-distinct.sh [--repeat R] [--rows N] [--keep first|last|none]
#
# Workload: a CSV of N rows (default 12,000,000, about 300 MB: id Int64 uniform in 0..<100,000, x with three
# decimals in [0, 1000), name one of 100 strings), duplicates dropped by (id, name) into a CSV file (about 7
# million of the 12 million rows stay), 64 partitions and a 256 MB budget for both partd runs. Runs
# interleave; each line is the best of R. Ours must keep the same rows as pandas' in-memory drop_duplicates
# (checked: row count and the sum of x over the rows kept); Python's partd may keep other rows of a set
# (its Buffer returns unspilled frames before spilled ones, so "first" is not the file's first), so only
# its row count is checked.
set -euo pipefail
cd "$(dirname "$0")/.."

REPEAT=3
ROWS=12000000
KEEP=first
while [ $# -gt 0 ]; do
  case "$1" in
    --repeat) REPEAT="$2"; shift 2 ;;
    --rows) ROWS="$2"; shift 2 ;;
    --keep) KEEP="$2"; shift 2 ;;
    *) echo "usage: $0 [--repeat R] [--rows N] [--keep first|last|none]" >&2; exit 2 ;;
  esac
done

scripts/setup.sh --python >&2
swift build -c release --product partd >&2

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/partd-distinct.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
export SHUFFLE_TMP="$SCRATCH"
RESULTS="$SCRATCH/results.jsonl"
: > "$RESULTS"

python3 Benchmarks/python/make_csv.py "$SCRATCH/input.csv" "$ROWS" --ids 100000 --names 100 --width 3 --seed 11
echo "input: $(du -m "$SCRATCH/input.csv" | cut -f1) MB, $ROWS rows" >&2

for _ in $(seq "$REPEAT"); do
  sync
  /usr/bin/time -f '%e %M' -o "$SCRATCH/time" .build/release/partd distinct "$SCRATCH/input.csv" --by id,name \
    --keep "$KEEP" --partitions 64 --memory 256MB --out "$SCRATCH/ours.csv" 2>/dev/null
  read -r seconds kb < "$SCRATCH/time"
  echo "{\"impl\": \"swift-partd\", \"seconds\": $seconds, \"peak_bytes\": $((kb * 1024))}" >> "$RESULTS"
  sync
  python3 Benchmarks/python/shuffle_distinct.py "$SCRATCH/input.csv" "$SCRATCH/python.csv" --by id,name \
    --keep "$KEEP" --partitions 64 --memory 256MB >> "$RESULTS"
  sync
  python3 Benchmarks/python/shuffle_distinct.py "$SCRATCH/input.csv" "$SCRATCH/pandas.csv" --by id,name \
    --keep "$KEEP" --in-memory >> "$RESULTS"
done
# Row count and the sum of x (in thousandths, exact) of each output.
check=$(python3 - "$SCRATCH/ours.csv" "$SCRATCH/pandas.csv" "$SCRATCH/python.csv" <<'PY'
import sys, pandas as pd
sums = []
for path in sys.argv[1:]:
    df = pd.read_csv(path, usecols=["x"])
    sums.append((len(df), int((df["x"] * 1000).round().astype("int64").sum())))
print(("yes" if sums[0] == sums[1] else "NO"), sums[0][0], sums[1][0], sums[2][0])
PY
)

python3 - "$RESULTS" "$ROWS" "$KEEP" $check <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
count, keep, same, ours_rows, pandas_rows, python_rows = int(sys.argv[2]), sys.argv[3], sys.argv[4], *map(int, sys.argv[5:8])
best = {impl: min((r for r in rows if r["impl"] == impl), key=lambda r: r["seconds"])
        for impl in ("swift-partd", "python-partd", "pandas-in-memory")}
ours = best["swift-partd"]["seconds"]
print(f"workload: drop duplicates (id, name; keep {keep}) of a {count:,}-row CSV into a CSV "
      f"(64 partitions, 256 MB budget); best of {len(rows) // 3}")
print(f"{'impl':<18} {'seconds':>8} {'Mrows/s':>8} {'peak MiB':>9} {'vs ours':>8}")
for impl, r in best.items():
    print(f"{impl:<18} {r['seconds']:>8.2f} {count / r['seconds'] / 1e6:>8.2f} {r['peak_bytes'] / 2**20:>9.0f} "
          f"{r['seconds'] / ours:>7.1f}x")
print(f"rows kept: ours {ours_rows:,}, pandas {pandas_rows:,}, python-partd {python_rows:,}; "
      f"ours the same rows as pandas (count and sum of x): {same}")
print("vs ours: that run's time over ours (above 1x: ours is faster).")
print("SUMMARY " + json.dumps({"workload": "distinct CSV", "line": f"by id,name keep {keep}",
                               "ratio": best["python-partd"]["seconds"] / ours}))
if same != "yes" or python_rows != pandas_rows:
    sys.exit("CHECK FAILED")
PY
