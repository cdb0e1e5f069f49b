#!/usr/bin/env python3
"""Out-of-core drop_duplicates of a CSV file: the reference run with Python's partd and pandas, as dask's
disk shuffle drives them (`drop_duplicates(split_out=N, shuffle_method="disk")`), and (--in-memory) plain
pandas for comparison.

partd: the file is read in chunks of --chunk-rows rows; each row gets the partition
`hash_pandas_object(chunk[BY], index=False) % PARTITIONS` (dask's `partitioning_index`), each chunk is split by
partition with a stable sort and appended as {partition: sub-frame} to `partd.PandasBlocks(partd.Buffer(
partd.Dict(), partd.File(dir), available_memory=BUDGET))`. Then each partition is read back,
`drop_duplicates(BY, keep=KEEP)` and appended to the output CSV in partition order.

--in-memory: `pd.read_csv`, `drop_duplicates` and `to_csv`, all in memory.

Prints one JSON object: the rows written, the seconds and the peak resident memory.

  shuffle_distinct.py INPUT OUTPUT --by A,B [--keep first|last|none] [--partitions 64] [--memory 256MB] [--in-memory]
"""
import argparse, json, os, resource, shutil, tempfile, time

import numpy as np
import pandas as pd
import partd
from pandas.util import hash_pandas_object

from shuffle_groupby import parse_size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--by", required=True)
    ap.add_argument("--keep", choices=("first", "last", "none"), default="first")
    ap.add_argument("--partitions", type=int, default=64)
    ap.add_argument("--memory", default="256MB")
    ap.add_argument("--chunk-rows", type=int, default=200_000)
    ap.add_argument("--in-memory", action="store_true")
    args = ap.parse_args()
    by = args.by.split(",")
    keep = False if args.keep == "none" else args.keep
    t0 = time.perf_counter()
    if args.in_memory:
        df = pd.read_csv(args.input)
        kept = df.drop_duplicates(by, keep=keep)
        kept.to_csv(args.output, index=False)
        rows, impl = len(kept), "pandas-in-memory"
    else:
        tmp = tempfile.mkdtemp(suffix=".partd", dir=os.environ.get("SHUFFLE_TMP"))
        try:
            p = partd.PandasBlocks(partd.Buffer(partd.Dict(), partd.File(tmp), available_memory=parse_size(args.memory)))
            for chunk in pd.read_csv(args.input, chunksize=args.chunk_rows):
                parts = (hash_pandas_object(chunk[by], index=False) % args.partitions).to_numpy()
                order = np.argsort(parts, kind="stable")
                bounds = np.searchsorted(parts[order], np.arange(args.partitions + 1))
                ordered = chunk.take(order)
                p.append({i: ordered.iloc[bounds[i]:bounds[i + 1]] for i in range(args.partitions) if bounds[i + 1] > bounds[i]})
            rows, header = 0, True
            with open(args.output, "w") as out:
                for i in range(args.partitions):
                    part = p.get(i)
                    if len(part) == 0:
                        continue
                    kept = part.drop_duplicates(by, keep=keep)
                    kept.to_csv(out, index=False, header=header)
                    rows += len(kept)
                    header = False
            p.drop()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        impl = "python-partd"
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"impl": impl, "workload": "distinct-csv", "rows": rows, "seconds": seconds, "peak_bytes": peak}), flush=True)


if __name__ == "__main__":
    main()
