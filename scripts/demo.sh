#!/usr/bin/env bash
# Installs what the demo needs, builds it in release mode, and runs an
# out-of-core shuffle and groupby on generated data. Extra arguments go to the
# demo (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product shuffle-groupby-demo
exec .build/release/shuffle-groupby-demo "$@"
