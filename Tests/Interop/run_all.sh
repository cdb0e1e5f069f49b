#!/usr/bin/env bash
# The clean-room conformance check of docs/format.md, both directions. Needs a built format-samples and partd
# (swift build --product format-samples; swift build --product partd) and python3 with numpy, msgpack,
# xxhash, cramjam or python-snappy/lz4/zstandard, blosc, pyarrow.
#   Tests/Interop/run_all.sh [BUILD_DIR] [OUT]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../../.build/debug}
out=${2:-$(mktemp -d)/samples}
status=0
"$bin/format-samples" "$out"
python3 "$here/check_samples.py" "$out" | tail -4 || status=1
python3 "$here/check_arrow.py" "$out" | tail -1 || status=1
python3 "$here/write_from_docs.py" "$out"
python3 "$here/check_arrow.py" --write "$out"
"$bin/format-samples" --read "$out" > "$out/swift-read.jsonl"
python3 "$here/write_from_docs.py" --check "$out" || status=1
python3 "$here/check_arrow.py" --check "$out" | tail -5 || status=1
python3 "$here/wire_from_docs.py" "$bin/partd" "$out" | tail -1 || status=1
exit $status
