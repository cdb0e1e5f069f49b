#!/usr/bin/env bash
# Runs tests under ThreadSanitizer and/or AddressSanitizer, each in its own build folder
# (.build-thread, .build-address), installing what the tests need first.
#
#   scripts/sanitize.sh [thread|address|all] [--filter REGEX]
#
# Default: both sanitizers over the whole suite. AddressSanitizer runs with leak detection off
# (ASAN_OPTIONS=detect_leaks=0): the worker processes exit while SwiftNIO's event-loop threads still
# hold their connections, which LeakSanitizer reports as leaks at exit; memory errors are still fatal. `scripts/test.sh` (what CI runs) runs the thread
# sanitizer over the concurrency tests with `scripts/sanitize.sh thread --filter "$CONCURRENCY_TESTS"`.
# Sanitizer builds cover every test but the @MessagePackRecord macro's: they leave out the macro, its tests
# and swift-syntax (PARTD_WITHOUT_MACROS=1, read by Package.swift), which would take three more minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

WHICH="${1:-all}"
[ $# -gt 0 ] && shift
FILTER=()
while [ $# -gt 0 ]; do
  case "$1" in
    --filter) FILTER=(--filter "$2"); shift 2 ;;
    *) echo "usage: $0 [thread|address|all] [--filter REGEX]" >&2; exit 2 ;;
  esac
done
case "$WHICH" in
  all) SANITIZERS=(thread address) ;;
  thread|address) SANITIZERS=("$WHICH") ;;
  *) echo "usage: $0 [thread|address|all] [--filter REGEX]" >&2; exit 2 ;;
esac

scripts/setup.sh --python
export PARTD_WITHOUT_MACROS=1
for sanitizer in "${SANITIZERS[@]}"; do
  echo "== tests under the $sanitizer sanitizer"
  swift build --build-tests --sanitize="$sanitizer" --scratch-path ".build-$sanitizer"
  if [ "$sanitizer" = address ]; then export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"; fi
  swift test --skip-build --sanitize="$sanitizer" --scratch-path ".build-$sanitizer" "${FILTER[@]}"
done
