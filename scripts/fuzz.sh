#!/usr/bin/env bash
# Builds the libFuzzer targets (Tests/Fuzz/*.swift) with the toolchain's -sanitize=fuzzer,address and
# runs each from its seed corpus (Tests/Fuzz/corpus/TARGET; new inputs go to .build-fuzz/corpus/TARGET).
#
#   scripts/fuzz.sh [--runs N] [TARGET…]      targets: frames npy table msgpack wire arrow csv (default: all)
#
# The libraries are compiled straight with swiftc into .build-fuzz (SwiftPM links executables with
# its own entry point, which libFuzzer's main cannot replace), instrumented for coverage and ASan.
# The wire target compiles Sources/PartdServer/WireProtocol.swift into itself and links SwiftNIO's
# NIOCore from the package's ordinary debug build (built first; NIO itself is not instrumented).
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
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(frames npy table msgpack wire arrow csv)

scripts/setup.sh
# libFuzzer reports a crash itself; Swift's backtracer, on top of ASan, could hang the run instead.
export SWIFT_BACKTRACE=enable=no
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
library PartdCSV
# NIOCore and what it depends on, from the debug build: their modules, C module maps and object files.
nio() {
  echo "== building NIOCore (debug build, for the wire target)"
  swift build --target NIOCore >&2
  local debug; debug=$(swift build --show-bin-path)
  NIO=(-I "$debug/Modules")
  local map dir object
  for map in "$debug"/*.build/module.modulemap $(find .build/checkouts/swift-nio/Sources .build/checkouts/swift-atomics/Sources -name module.modulemap); do
    # (SwiftPM also builds a host-tool copy of each module, *-tool.build, once a package has a macro: skip those)
    case "$map" in *-tool.build/*) continue ;; esac
    NIO+=(-Xcc "-fmodule-map-file=$map")
  done
  for dir in NIOCore NIOConcurrencyHelpers _NIOBase64 _NIODataStructures CNIOAtomics Atomics _AtomicsShims DequeModule \
    InternalCollectionsUtilities ContainersPreview BasicContainers CNIOLinux CNIODarwin CNIOWindows \
    CNIOWASI CNIOOpenBSD CNIOFreeBSD; do
    [ -d "$debug/$dir.build" ] || continue
    while IFS= read -r -d '' object; do NIO+=("$object"); done < <(find "$debug/$dir.build" -name '*.o' -print0)
  done
}
for target in "${TARGETS[@]}"; do
  # (gold warns once per ASan helper symbol it cannot export; those lines are dropped)
  if [ "$target" = wire ]; then
    nio
    swiftc "${FLAGS[@]}" "${CMAPS[@]}" "${NIO[@]}" -module-name PartdWireFuzz Tests/Fuzz/wire.swift \
      Sources/PartdServer/WireProtocol.swift -L "$B" -lPartd -o "$B/fuzz-$target" 2> >(grep -v 'Cannot export local symbol' >&2)
  else
    swiftc "${FLAGS[@]}" "${CMAPS[@]}" "Tests/Fuzz/$target.swift" -L "$B" -lPartdCSV -lPartdTyped -lPartdCompression -lPartd \
      -lz -lsnappy -lblosc -lbz2 -lzstd -llz4 -lxxhash -o "$B/fuzz-$target" 2> >(grep -v 'Cannot export local symbol' >&2)
  fi
  mkdir -p "$B/corpus/$target"
  echo "== fuzz-$target: $RUNS runs"
  "$B/fuzz-$target" -runs="$RUNS" -max_len=4096 -rss_limit_mb=2048 -print_final_stats=1 \
    "$B/corpus/$target" "Tests/Fuzz/corpus/$target" 2>&1 | grep -E '^(stat::number_of_executed_units|Done|==[0-9]+==|SUMMARY|.*(crash|leak|deadly))' || true
  test "${PIPESTATUS[0]}" -eq 0
done
