# SPDX-License-Identifier: Apache-2.0
"""The Arrow IPC workload on pyarrow (Benchmarks/run-arrow.sh runs it beside partd-bench-arrow).

W4's table, 10 million rows of id int64, x float64 and name (one of 1,000 strings, plain or a pandas-style
dictionary), written as one Arrow IPC file (Feather v2; uncompressed, or --compression lz4|zstd) to disk and read back, --repeat
times; the best write and the best read are kept. The read is not memory-mapped: the file is read into
memory, as ours is. Prints one JSON object: the workload, the file's size, the seconds of each phase, MB/s.
"""
import argparse, json, os, time

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather

parser = argparse.ArgumentParser()
parser.add_argument("--rows", type=int, default=10_000_000)
parser.add_argument("--strings", choices=["plain", "categorical"], default="plain")
parser.add_argument("--repeat", type=int, default=3)
parser.add_argument("--dir", default="/tmp")
parser.add_argument("--compression", choices=["none", "lz4", "zstd"], default="none")
args = parser.parse_args()

rng = np.random.default_rng(42)
names = np.array([f"name-{i}" for i in range(1000)], dtype=object)
codes = rng.integers(0, 1000, args.rows)
if args.strings == "categorical":
    name = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(names, pa.large_string()))
else:
    name = pa.array(names[codes], pa.large_string())
table = pa.table({
    "id": pa.array(np.arange(args.rows, dtype=np.int64)),
    "x": pa.array(rng.integers(0, 1_000_000, args.rows) / 1000),
    "name": name,
})
path = os.path.join(args.dir, f"partd-bench-arrow-py-{os.getpid()}.arrow")
best_write = best_read = float("inf")
try:
    for _ in range(args.repeat):
        start = time.perf_counter()
        feather.write_feather(table, path, compression="uncompressed" if args.compression == "none" else args.compression)
        best_write = min(best_write, time.perf_counter() - start)
        start = time.perf_counter()
        back = feather.read_table(path, memory_map=False)
        best_read = min(best_read, time.perf_counter() - start)
        assert back.num_rows == args.rows
    mb = os.path.getsize(path) / 1e6
finally:
    if os.path.exists(path):
        os.unlink(path)
print(json.dumps({
    "impl": "pyarrow", "workload": "arrow-ipc", "strings": args.strings, "compression": args.compression,
    "rows": args.rows, "file_mb": mb,
    "write_s": best_write, "read_s": best_read, "write_mb_s": mb / best_write, "read_mb_s": mb / best_read,
    "pyarrow": pa.__version__,
}))
