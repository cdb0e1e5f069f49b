#!/usr/bin/env bash
# Heap allocations per unit of work on the hot paths: runs each path of partd-bench-allocs under valgrind's
# DHAT at N and at 2N units and prints (blocks(2N) - blocks(N)) / N, the blocks one more unit allocates (the
# set-up and the process's own allocations cancel), with the bytes likewise; then times each path without
# valgrind at M units (default 25 N), best of R runs.
#
#   Benchmarks/run-allocs.sh [--units N] [--time-units M] [--repeat R] [--no-build] [PATH ...]
#
# N defaults to each path's own (several of its chunks or batches: 40,000 rows or records, 4,000 appends, gets
# or requests, 2,000 compressed frames), M to 25 N. BUILD_PATH names the build directory (default .build);
# TIMING_LOCK, a file the timed runs hold with flock.
# A path with a base (groupby: its set-up is shuffle-add's work) has the base's figures at the same units
# subtracted. `partd-bench-allocs --list` names the paths and their workloads. Units: the row, append, get,
# frame, record or request the path names. Bytes per unit show the copies: a 4 KiB get that allocates
# 8 KiB copies its payload twice.
set -euo pipefail
cd "$(dirname "$0")/.."

UNITS=""
TIME_UNITS=""
REPEAT=3
BUILD=1
SELECTED=()
usage() { echo "usage: $0 [--units N] [--time-units M] [--repeat R] [--no-build] [PATH ...]"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --units|--time-units|--repeat)
      [ $# -ge 2 ] || { echo "run-allocs: $1 needs a value" >&2; usage >&2; exit 2; }
      case "$1" in --units) UNITS="$2" ;; --time-units) TIME_UNITS="$2" ;; --repeat) REPEAT="$2" ;; esac
      shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; exit 2 ;;
    *) SELECTED+=("$1"); shift ;;
  esac
done

BUILD_PATH="${BUILD_PATH:-.build}"
if [ "$BUILD" -eq 1 ]; then
  swift build -c release --product partd-bench-allocs --build-path "$BUILD_PATH" >&2
fi
BIN="$BUILD_PATH/release/partd-bench-allocs"
command -v valgrind >/dev/null || { echo "run-allocs: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/partd-allocs.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
export ALLOCS_TMP="$SCRATCH"
# Valgrind 3.19 (Debian 12) cannot read the toolchain's DWARF 5: it runs a copy without debug information
# (symbols stay, so `valgrind --tool=dhat` on that copy still names functions).
objcopy --strip-debug "$BIN" "$SCRATCH/partd-bench-allocs"
VBIN="$SCRATCH/partd-bench-allocs"

# blocks and bytes DHAT counts for one run: "blocks bytes".
count() {
  local out
  out="$(valgrind --tool=dhat --dhat-out-file=/dev/null "$VBIN" "$1" "$2" 2>&1 >/dev/null)" \
    || { echo "run-allocs: $1 $2 failed under valgrind:" >&2; echo "$out" >&2; exit 1; }
  echo "$out" | sed -n 's/.*Total: *\([0-9,]*\) bytes in \([0-9,]*\) blocks.*/\2 \1/p' | tr -d ,
}

declare -A BASE UNIT WHAT COUNT_UNITS TIMED_UNITS
ALL=0
[ "${#SELECTED[@]}" -eq 0 ] && ALL=1
while IFS=$'\t' read -r name unit base units timed what; do
  UNIT[$name]="$unit"; BASE[$name]="$base"; WHAT[$name]="$what"; COUNT_UNITS[$name]="${UNITS:-$units}"
  # Timed at 25 N when N is given, else at the path's own timed units.
  if [ -n "$UNITS" ]; then TIMED_UNITS[$name]="${TIME_UNITS:-$((UNITS * 25))}"; else TIMED_UNITS[$name]="${TIME_UNITS:-$timed}"; fi
  if [ "$ALL" -eq 1 ]; then SELECTED+=("$name"); fi
done < <("$BIN" --list)
for path in "${SELECTED[@]}"; do
  [ -n "${UNIT[$path]:-}" ] || { echo "run-allocs: unknown path $path (partd-bench-allocs --list names them)" >&2; exit 2; }
done

# The best of REPEAT timed runs, in seconds; under `flock $TIMING_LOCK` when that is set (a machine shared
# with builds: the lock keeps them out of the timed runs, not out of the counting).
timed() {
  local runs="" out
  local lock=()
  [ -n "${TIMING_LOCK:-}" ] && lock=(flock "$TIMING_LOCK")
  for _ in $(seq "$REPEAT"); do
    # The run's own messages (a server's log lines) are shown only if it fails.
    out="$("${lock[@]}" "$BIN" "$1" "$2" --json 2>"$SCRATCH/timed.err")" \
      || { cat "$SCRATCH/timed.err" >&2; echo "run-allocs: $1 $2 failed" >&2; return 1; }
    runs="$runs $(echo "$out" | sed -n 's/.*"seconds": \([0-9.e-]*\).*/\1/p')"
  done
  [ -n "${runs// /}" ] || { echo "run-allocs: $1 $2 printed no time" >&2; return 1; }
  python3 -c "import sys; print(min(float(x) for x in sys.argv[1:]))" $runs
}

declare -A BLOCKS BYTES
measure() {  # path n -> BLOCKS[path:n], BYTES[path:n]: the blocks and bytes between N and 2N units
  local path="$1" n="$2"
  [ -n "${BLOCKS[$path:$n]:-}" ] && return
  read -r a1 b1 < <(count "$path" "$n")
  read -r a2 b2 < <(count "$path" "$((2 * n))")
  BLOCKS[$path:$n]=$((a2 - a1)); BYTES[$path:$n]=$((b2 - b1))
}

echo "allocations per unit: DHAT blocks (and bytes) at 2N units minus at N, divided by N (N: the n column)"
echo "time per unit: best of $REPEAT runs at 25 N units (the t column), without valgrind"
echo
printf '%-26s %-8s %7s %12s %12s %9s %9s\n' path unit n "allocs/unit" "bytes/unit" t "ns/unit"
for path in "${SELECTED[@]}"; do
  n="${COUNT_UNITS[$path]}"; t="${TIMED_UNITS[$path]}"
  measure "$path" "$n"
  blocks=${BLOCKS[$path:$n]}; bytes=${BYTES[$path:$n]}
  base="${BASE[$path]}"
  if [ "$base" != "-" ]; then
    measure "$base" "$n"  # at the same units as the path, whatever the base's own default
    blocks=$((blocks - BLOCKS[$base:$n])); bytes=$((bytes - BYTES[$base:$n]))
  fi
  best="$(timed "$path" "$t")"
  printf '%-26s %-8s %7s %12s %12s %9s %9s\n' "$path" "${UNIT[$path]}" "$n" \
    "$(python3 -c "print(f'{$blocks / $n:.3f}')")" "$(python3 -c "print(f'{$bytes / $n:.1f}')")" "$t" \
    "$(python3 -c "print(f'{$best * 1e9 / $t:.0f}')")"
done
echo
for path in "${SELECTED[@]}"; do
  if [ "${BASE[$path]}" = "-" ]; then echo "  $path: ${WHAT[$path]}"; else echo "  $path: ${WHAT[$path]} (less ${BASE[$path]})"; fi
done
