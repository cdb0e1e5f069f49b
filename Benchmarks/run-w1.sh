#!/usr/bin/env bash
# Workload W1 side by side: Python's partd and swift-partd on this machine, in one run.
#
#   Benchmarks/run-w1.sh [--appends N] [--runs R]
#
# Both sides write under one scratch directory on the same file system
# (W1_TMP, default: a new directory under $TMPDIR or /tmp), removed at the end.
# Before each run dirty pages are synced, so no run pays for another's
# writeback. Runs do not delete the previous run's files: on ext4, creating
# files soon after deleting many is much slower (up to 5.5 minutes after, while
# the inode table is dirty), which would penalise whichever side runs next.
# W1_SETTLE=N instead removes the previous files and waits N seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

APPENDS=200000
RUNS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --appends) APPENDS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    *) echo "usage: $0 [--appends N] [--runs R]" >&2; exit 2 ;;
  esac
done

scripts/setup.sh --python >&2
swift build -c release --product partd-bench-w1 >&2

SCRATCH="${W1_TMP:-$(mktemp -d "${TMPDIR:-/tmp}/partd-w1.XXXXXX")}"
[ -n "${W1_TMP:-}" ] || trap 'rm -rf "$SCRATCH"' EXIT
export W1_TMP="$SCRATCH" W1_KEEP=1

echo "W1: $APPENDS appends of 16 random keys x 100 B over 1,000 keys, then get every key; $RUNS runs each, best shown"
echo "machine: $(nproc) cores, $(uname -sr); scratch: $SCRATCH ($(df -T "$SCRATCH" | awk 'NR==2{print $2}'))"
RESULTS="$SCRATCH/results.jsonl"
: > "$RESULTS"
SETTLE="${W1_SETTLE:-0}"
# Waits until file creation is fast again (see Benchmarks/fast-creates.sh): both sides create
# 1,000 key files per store. W1_PROBE=0 skips the wait.
. Benchmarks/fast-creates.sh
settle() {
  if [ "$SETTLE" -gt 0 ]; then
    find "$SCRATCH" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
    sync
    sleep "$SETTLE"
  else
    sync
  fi
  wait_for_fast_creates
}
for run in $(seq "$RUNS"); do
  settle
  python3 Benchmarks/python/w1_partd.py --appends "$APPENDS" --json >> "$RESULTS"
  settle
  .build/release/partd-bench-w1 --appends "$APPENDS" --json >> "$RESULTS"
done
# The page-cache write bandwidth bounds any store that spills: W1's spilling store must write 256+ MB.
BW_FILE="$SCRATCH/bandwidth"
BW_START=$(date +%s.%N)
dd if=/dev/zero of="$BW_FILE" bs=4M count=256 status=none
BW_END=$(date +%s.%N)
rm -f "$BW_FILE"
echo "page-cache write bandwidth: $(python3 -c "print(int(1073.741824 / ($BW_END - $BW_START)))") MB/s (1 GiB in 4 MiB writes, no fsync)"
python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
best = {}
for r in rows:
    kind = "directory" if r["store"].startswith("directory") else "spilling"
    k = (r["impl"], kind)
    if k not in best or r["appends_per_s"] > best[k]["appends_per_s"]:
        best[k] = r
for r in rows:
    print(f"run: {r['store']:<44} {r['impl']:<13} {r['appends_per_s']:>12,.0f} appends/s {r['get_mb_per_s']:>9,.1f} get MB/s")
print(f"{'store':<12} {'implementation':<14} {'appends/s':>12} {'get MB/s':>10}")
for kind in ("directory", "spilling"):
    for impl in ("python-partd", "swift-partd"):
        r = best.get((impl, kind))
        if r:
            print(f"{kind:<12} {impl:<14} {r['appends_per_s']:>12,.0f} {r['get_mb_per_s']:>10,.1f}")
    py, sw = best.get(("python-partd", kind)), best.get(("swift-partd", kind))
    if py and sw:
        print(f"{kind:<12} {'speed-up':<14} {sw['appends_per_s'] / py['appends_per_s']:>11.1f}x {sw['get_mb_per_s'] / py['get_mb_per_s']:>9.1f}x")
        print("SUMMARY " + json.dumps({"workload": "W1 store", "line": f"{kind} appends", "ratio": sw['appends_per_s'] / py['appends_per_s']}))
        print("SUMMARY " + json.dumps({"workload": "W1 store", "line": f"{kind} get", "ratio": sw['get_mb_per_s'] / py['get_mb_per_s']}))
PY
