#!/usr/bin/env bash
# Installs what the tests need, builds, and runs the whole test suite. First a short run of every fuzz
# target (scripts/fuzz.sh) and the concurrency tests under ThreadSanitizer (scripts/sanitize.sh), each
# in its own build folder; then the whole suite, whose closing line is the summary CI reads.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --python
scripts/fuzz.sh --runs 5000   # a smoke run of every fuzz target (scripts/fuzz.sh --runs 1000000 for a real one)
scripts/sanitize.sh thread --filter 'ConformanceTests|ReliabilityTests|ServerTests|ShuffleTests|SpillingStoreTests|SpillDictionaryTests'
swift build --build-tests
swift test
