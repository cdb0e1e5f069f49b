#!/usr/bin/env bash
# Typed-encoder workloads W3 (arrays), W4 (tables) and W5 (Codable lists) side by side: Python's partd
# (Numpy, PandasBlocks, Python/Pickle) and swift-partd (ArrayStore, TableStore, ListStore) on this
# machine, in one run. Both sides write under one scratch directory, removed at the end.
#
#   Benchmarks/run-typed.sh [--repeat R] [--workloads w3,w4,w5,w5-rich,w5-maps]
#
# w5-rich (W5's records with an optional and an array field) and w5-maps (with a dictionary field) run only
# when named.
#
# Each line is the best (smallest total) of R repetitions. The ratio column is Python's total time over
# ours for the comparable line (same data; tuples vs our array-encoded structs, dicts vs map-encoded ones).
# W5's Python side also runs its records as instances of a @dataclass (Python's counterpart of a Swift
# struct) and of a NamedTuple; both of our encodings are compared with pickled dataclasses, array-encoded
# structs also with pickled NamedTuples (msgpack gives NamedTuples back as plain lists).
set -euo pipefail
cd "$(dirname "$0")/.."

REPEAT=3
WORKLOADS=w3,w4,w5
while [ $# -gt 0 ]; do
  case "$1" in
    --repeat) REPEAT="$2"; shift 2 ;;
    --workloads) WORKLOADS="$2"; shift 2 ;;
    *) echo "usage: $0 [--repeat R] [--workloads w3,w4,w5,w5-rich,w5-maps]" >&2; exit 2 ;;
  esac
done

scripts/setup.sh --python >&2
python3 -c "import numpy, pandas, msgpack" 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check numpy pandas msgpack >&2 \
  || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages numpy pandas msgpack >&2
swift build -c release --product partd-bench-typed >&2

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/partd-typed.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
export TYPED_TMP="$SCRATCH" W3_TMP="$SCRATCH" W4_TMP="$SCRATCH" W5_TMP="$SCRATCH"
RESULTS="$SCRATCH/results.jsonl"
: > "$RESULTS"

for w in ${WORKLOADS//,/ }; do
  sync
  .build/release/partd-bench-typed --workloads "$w" --repeat "$REPEAT" --json >> "$RESULTS"
  sync
  case "$w" in
    w3) python3 Benchmarks/python/w3_arrays.py --repeat "$REPEAT" --json >> "$RESULTS" ;;
    w4) python3 Benchmarks/python/w4_tables.py --repeat "$REPEAT" --json >> "$RESULTS" ;;
    w5) python3 Benchmarks/python/w5_lists.py --as tuple,dict,dataclass,namedtuple --repeat "$REPEAT" --json >> "$RESULTS" ;;
    w5-rich) python3 Benchmarks/python/w5_lists.py --shape rich --as tuple,dict,dataclass,namedtuple --repeat "$REPEAT" --json >> "$RESULTS" ;;
    w5-maps) python3 Benchmarks/python/w5_lists.py --shape maps --as tuple,dict,dataclass,namedtuple --repeat "$REPEAT" --json >> "$RESULTS" ;;
  esac
done

python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
def total(r): return r.get("seconds", r.get("total_s"))
py = {}
for r in rows:
    if r["impl"] != "python-partd": continue
    if r["workload"] == "w3-arrays": py[("w3", "numpy")] = r
    elif r["workload"] == "w4-tables": py[("w4", r["variant"])] = r
    else: py[("w5", r["store"] + "-" + r["records"])] = r
print(f"{'workload':<10} {'swift-partd line':<22} {'append s':>9} {'get s':>8} {'total s':>8}   {'vs Python line':<26} {'total s':>8} {'ratio':>6}")
summaries = []
def line(w, name, r, refs):
    for ref in refs:
        p = py.get((w, ref))
        if p is None or "error" in p:
            print(f"{w:<10} {name:<22} {r['append_s']:>9.3f} {r['get_s']:>8.3f} {total(r):>8.3f}   {ref:<26} {'n/a':>8}")
            continue
        print(f"{w:<10} {name:<22} {r['append_s']:>9.3f} {r['get_s']:>8.3f} {total(r):>8.3f}   {ref:<26} {total(p):>8.3f} {total(p)/total(r):>5.1f}x")
        summaries.append({"workload": "W3-W5 typed", "line": f"{w} {name} vs {ref}", "ratio": total(p) / total(r)})
for r in rows:
    if r["impl"] != "swift-partd": continue
    w = r["workload"].split("-")[0]
    v = r["variant"]
    if w == "w3": line(w, v, r, ["numpy"])
    elif w == "w4": line(w, v, r, ["categorical" if v.startswith("categorical") else "strings"])
    else:
        rich = "-rich" if "+rich" in v else "-maps" if "+maps" in v else ""
        refs = (["msgpack-dict", "pickle-dict", "pickle-dataclass"] if v.startswith("msgpack-map")
                else ["msgpack-tuple", "pickle-tuple", "pickle-namedtuple", "pickle-dataclass"])
        line(w, v, r, [ref + rich for ref in refs])
for s in summaries: print("SUMMARY " + json.dumps(s))
PY
