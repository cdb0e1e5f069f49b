#!/usr/bin/env bash
# Installs what the tests need, builds, and runs the whole test suite. First a short run of every fuzz
# target (scripts/fuzz.sh) and the concurrency tests under ThreadSanitizer (scripts/sanitize.sh), each
# in its own build folder; then the whole suite, whose closing line is the summary CI reads. The Redis
# tests run against a standalone server (port 7099) and a 3-primary, 3-replica cluster (7100-7105) this
# script starts with scripts/redis-cluster.sh and stops at the end; the failover tests start their own.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --python
scripts/fuzz.sh --runs 5000   # a smoke run of every fuzz target (scripts/fuzz.sh --runs 1000000 for a real one)
scripts/sanitize.sh thread --filter 'ConformanceTests|ReliabilityTests|ServerTests|ShuffleTests|SortTests|DistinctTests|SpillingStoreTests|SpillDictionaryTests|DatasetDirectoryTests|ResultReuseTests|CodecTests.concurrentUse'
swift build --build-tests
export PARTD_TEST_REDIS PARTD_TEST_REDIS_CLUSTER
PARTD_TEST_REDIS=$(scripts/redis-cluster.sh single)
PARTD_TEST_REDIS_CLUSTER=$(scripts/redis-cluster.sh start)
trap 'scripts/redis-cluster.sh stop-single >/dev/null 2>&1; scripts/redis-cluster.sh stop >/dev/null 2>&1' EXIT
swift test
