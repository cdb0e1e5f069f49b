#!/usr/bin/env bash
# Installs what the tests need, builds, and runs the whole test suite; the concurrency tests run first
# under ThreadSanitizer (scripts/sanitize.sh; its own build folder), then the whole suite, whose
# closing line is the summary CI reads.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --python
scripts/sanitize.sh thread --filter 'ConformanceTests|ReliabilityTests|ServerTests|ShuffleTests|SpillingStoreTests|SpillDictionaryTests'
swift build --build-tests
swift test
