#!/usr/bin/env bash
# Builds the libFuzzer targets (Tests/Fuzz/*.swift) with the toolchain's -sanitize=fuzzer,address and
# runs each from its seed corpus (Tests/Fuzz/corpus/TARGET; new inputs go to .build-fuzz/corpus/TARGET).
#
#   scripts/fuzz.sh [--runs N] [TARGET…]      targets: frames npy table msgpack (default: all)
#
# The libraries are compiled straight with swiftc into .build-fuzz (SwiftPM links executables with
# its own entry point, which libFuzzer's main cannot replace), instrumented for coverage and ASan.
# A crash or a sanitizer report stops the run with libFuzzer's report and a non-zero status.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=1000000
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(frames npy table msgpack)

scripts/setup.sh
B=.build-fuzz
mkdir -p "$B"
FLAGS=(-O -sanitize=fuzzer,address -parse-as-library -swift-version 6 -package-name swift_partd -I "$B")
CMAPS=()
for d in Sources/CPartd*; do CMAPS+=(-Xcc "-fmodule-map-file=$d/module.modulemap"); done
library() {
  local name="$1"
  echo "== building $name (instrumented)"
  swiftc "${FLAGS[@]}" "${CMAPS[@]}" -emit-module -emit-library -static -module-name "$name" \
    $(find "Sources/$name" -name '*.swift' | sort) -emit-module-path "$B/$name.swiftmodule" -o "$B/lib$name.a"
}
library Partd
library PartdCompression
library PartdTyped
for target in "${TARGETS[@]}"; do
  # (gold warns once per ASan helper symbol it cannot export; those lines are dropped)
  swiftc "${FLAGS[@]}" "${CMAPS[@]}" "Tests/Fuzz/$target.swift" -L "$B" -lPartdTyped -lPartdCompression -lPartd \
    -lz -lsnappy -lblosc -lbz2 -lzstd -llz4 -lxxhash -o "$B/fuzz-$target" 2> >(grep -v 'Cannot export local symbol' >&2)
  mkdir -p "$B/corpus/$target"
  echo "== fuzz-$target: $RUNS runs"
  "$B/fuzz-$target" -runs="$RUNS" -max_len=4096 -rss_limit_mb=2048 -print_final_stats=1 \
    "$B/corpus/$target" "Tests/Fuzz/corpus/$target" 2>&1 | grep -E '^(stat::number_of_executed_units|Done|==[0-9]+==|SUMMARY|.*(crash|leak|deadly))' || true
  test "${PIPESTATUS[0]}" -eq 0
done
