#!/usr/bin/env python3
"""Out-of-core sort of a CSV file: the reference run with Python's partd and pandas, as dask's disk-shuffle
`set_index` / `sort_values` does it, and (--in-memory) plain pandas for comparison.

partd: the file is read twice in chunks of --chunk-rows rows. The first pass samples about --sample-rows
values of the key column and takes the divisions at --partitions quantiles (dask's approximate quantiles do
the same job); the second assigns each row the partition `searchsorted(divisions, key, side="right")` and
appends {partition: sub-frame} to `partd.PandasBlocks(partd.Buffer(partd.Dict(), partd.File(dir),
available_memory=BUDGET))`. Then each partition is read back, sorted (`sort_values(kind="stable")`, NaN last)
and appended to the output CSV in partition order.

--in-memory: `pd.read_csv`, `sort_values(kind="stable")` and `to_csv`, all in memory.

Prints one JSON object: the seconds and peak resident memory.

  shuffle_sort.py INPUT OUTPUT --by COLUMN [--descending] [--partitions 64] [--memory 256MB] [--in-memory]
"""
import argparse, json, os, resource, shutil, tempfile, time

import numpy as np
import pandas as pd
import partd

from shuffle_groupby import parse_size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--by", required=True)
    ap.add_argument("--descending", action="store_true")
    ap.add_argument("--partitions", type=int, default=64)
    ap.add_argument("--memory", default="256MB")
    ap.add_argument("--chunk-rows", type=int, default=200_000)
    ap.add_argument("--sample-rows", type=int, default=100_000)
    ap.add_argument("--in-memory", action="store_true")
    args = ap.parse_args()
    ascending = not args.descending
    t0 = time.perf_counter()
    if args.in_memory:
        df = pd.read_csv(args.input)
        df.sort_values(args.by, ascending=ascending, kind="stable").to_csv(args.output, index=False)
        rows = len(df)
        impl = "pandas-in-memory"
    else:
        rng = np.random.default_rng(1)
        # Rows in the file, estimated from the lines of its first MB; each row is sampled with the chance
        # that keeps about --sample-rows of them.
        with open(args.input, "rb") as f:
            head = f.read(1 << 20)
        estimated = os.path.getsize(args.input) / max(1, len(head)) * max(1, head.count(b"\n"))
        chance = min(1.0, args.sample_rows / estimated)
        samples = []
        for chunk in pd.read_csv(args.input, chunksize=args.chunk_rows, usecols=[args.by]):
            keys = chunk[args.by].to_numpy()
            samples.append(keys[rng.random(len(keys)) < chance])
        sample = np.concatenate(samples)
        sample = np.sort(sample[~pd.isna(sample)])
        divisions = sample[(np.arange(1, args.partitions) * len(sample)) // args.partitions] if len(sample) else sample
        if not ascending:
            divisions = divisions[::-1]
        tmp = tempfile.mkdtemp(suffix=".partd", dir=os.environ.get("SHUFFLE_TMP"))
        try:
            p = partd.PandasBlocks(partd.Buffer(partd.Dict(), partd.File(tmp), available_memory=parse_size(args.memory)))
            rows = 0
            for chunk in pd.read_csv(args.input, chunksize=args.chunk_rows):
                keys = chunk[args.by].to_numpy()
                if ascending:
                    parts = np.searchsorted(divisions, keys, side="right")
                else:
                    parts = len(divisions) - np.searchsorted(divisions[::-1], keys, side="left")
                parts[pd.isna(keys)] = args.partitions - 1  # NaN last
                order = np.argsort(parts, kind="stable")
                bounds = np.searchsorted(parts[order], np.arange(args.partitions + 1))
                ordered = chunk.take(order)
                p.append({i: ordered.iloc[bounds[i]:bounds[i + 1]] for i in range(args.partitions) if bounds[i + 1] > bounds[i]})
                rows += len(chunk)
            header = True
            with open(args.output, "w") as out:
                for i in range(args.partitions):
                    part = p.get(i)
                    if len(part) == 0:
                        continue
                    part.sort_values(args.by, ascending=ascending, kind="stable").to_csv(out, index=False, header=header)
                    header = False
            p.drop()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        impl = "python-partd"
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"impl": impl, "workload": "sort-csv", "rows": rows, "seconds": seconds, "peak_bytes": peak}), flush=True)


if __name__ == "__main__":
    main()
