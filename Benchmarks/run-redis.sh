#!/usr/bin/env bash
# The W3 shuffle (10 M rows, 64 partitions) across processes on a local Redis Cluster: 1, 2 and 4 mapper
# processes shuffling into one RedisStore, then one reducer reading every partition, beside the
# single-process directory-store shuffle of the same rows; plus the CPU each side spent per million rows
# (the figures docs/scaling.md extrapolates from). Starts the cluster (3 primaries + 3 replicas on
# 127.0.0.1:7100-7105) with scripts/redis-cluster.sh if it is not up, and leaves it as it found it.
#
#   Benchmarks/run-redis.sh [--rows N] [--mappers 1,2,4] [--wait R] [--repeat K]
set -euo pipefail
cd "$(dirname "$0")/.."

ARGS=()
REPEAT=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rows|--mappers|--wait) ARGS+=("$1" "$2"); shift 2 ;;
    --repeat) REPEAT="$2"; shift 2 ;;
    *) echo "usage: $0 [--rows N] [--mappers 1,2,4] [--wait R] [--repeat K]" >&2; exit 2 ;;
  esac
done

scripts/setup.sh >&2
swift build -c release --product partd-bench-redis >&2
STARTED=0
if ! redis-cli -p 7100 cluster info 2>/dev/null | grep -q cluster_state:ok; then
  scripts/redis-cluster.sh start >/dev/null
  STARTED=1
fi
[ "$STARTED" = 1 ] && trap 'scripts/redis-cluster.sh stop >/dev/null 2>&1' EXIT
for run in $(seq "$REPEAT"); do
  [ "$REPEAT" = 1 ] || echo "== run $run of $REPEAT"
  .build/release/partd-bench-redis --nodes 127.0.0.1:7100 "${ARGS[@]}"
done
