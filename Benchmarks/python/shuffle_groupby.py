#!/usr/bin/env python3
"""Shuffle + groupby: the reference run with Python's partd and pandas, as dask's disk shuffle does it.

10,000,000 rows (id int64 uniform in 0..<1,000,000, x float64 uniform in [0, 1), name one of 1,000
short strings "name-<n>"), generated in chunks of 500,000 rows (the generation time is measured and
left out of the rates). Each chunk gets a partition number per row, as dask's `partitioning_index`:
pandas' `hash_pandas_object(df[["id"]], index=False) % 64`; it is split by partition with a stable
sort (dask's `groupsort_indexer` + `take` + split) and appended as {partition: sub-frame} to
`partd.PandasBlocks(partd.Buffer(partd.Dict(), partd.File(dir), available_memory=BUDGET))` (dask's
`maybe_buffered_partd`). Then every partition is read back with `get` and aggregated:
`df.groupby("id").x.agg(["sum", "count", "mean"])`, partition by partition (one process; dask's
threaded scheduler would add little, pandas holding the GIL for most of it).

Prints one JSON object per run: phase times, rows/s, spilled bytes (bytes in the File directory) and
peak resident memory over the baseline taken just before the shuffle (ru_maxrss - VmRSS).

  shuffle_groupby.py [--rows N] [--memory 32MB] [--strings str|categorical]  (one run per process)
"""
import argparse, json, os, resource, shutil, tempfile, time

import numpy as np
import pandas as pd
import partd
from pandas.util import hash_pandas_object

NAMES = np.array(["name-%d" % i for i in range(1000)], dtype=object)


def parse_size(text):
    units = {"KB": 1e3, "MB": 1e6, "GB": 1e9, "KIB": 1024, "MIB": 1 << 20, "GIB": 1 << 30, "B": 1}
    t = text.upper()
    for u in sorted(units, key=len, reverse=True):
        if t.endswith(u):
            return int(float(t[: -len(u)]) * units[u])
    return int(t)


def rss_bytes(field="VmRSS"):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def chunks(rows, chunk_rows, categorical, seed, clock):
    rng = np.random.default_rng(seed)
    done = 0
    while done < rows:
        t0 = time.perf_counter()
        n = min(chunk_rows, rows - done)
        ids = rng.integers(0, 1_000_000, n, dtype=np.int64)
        x = rng.random(n)
        codes = rng.integers(0, 1000, n)
        if categorical:
            name = pd.Categorical.from_codes(codes.astype(np.int16), categories=list(NAMES))
        else:
            name = pd.array(NAMES[codes], dtype="str")
        df = pd.DataFrame({"id": ids, "x": x, "name": name})
        clock[0] += time.perf_counter() - t0
        done += n
        yield df


def run(args, budget):
    tmp = tempfile.mkdtemp(suffix=".partd", dir=os.environ.get("SHUFFLE_TMP"))
    clock = [0.0]
    baseline = rss_bytes()
    try:
        p = partd.PandasBlocks(partd.Buffer(partd.Dict(), partd.File(tmp), available_memory=budget))
        t0 = time.perf_counter()
        for df in chunks(args.rows, args.chunk_rows, args.strings == "categorical", args.seed, clock):
            parts = (hash_pandas_object(df[["id"]], index=False) % args.partitions).to_numpy()
            order = np.argsort(parts, kind="stable")
            bounds = np.searchsorted(parts[order], np.arange(args.partitions + 1))
            sorted_df = df.take(order)
            d = {}
            for i in range(args.partitions):
                if bounds[i + 1] > bounds[i]:
                    d[i] = sorted_df.iloc[bounds[i] : bounds[i + 1]]
            p.append(d)
        shuffle_s = time.perf_counter() - t0 - clock[0]
        spilled = dir_bytes(tmp)
        t1 = time.perf_counter()
        groups = 0
        total = 0.0
        count = 0
        for i in range(args.partitions):
            df = p.get(i)
            if len(df) == 0:
                continue
            agg = df.groupby("id").x.agg(["sum", "count", "mean"])
            groups += len(agg)
            total += agg["sum"].sum()
            count += int(agg["count"].sum())
        read_s = time.perf_counter() - t1
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - baseline
        p.drop()
        return {
            "impl": "python-partd", "workload": "shuffle-groupby", "rows": args.rows,
            "partitions": args.partitions, "memory_bytes": budget, "strings": args.strings,
            "shuffle_s": shuffle_s, "read_aggregate_s": read_s, "total_s": shuffle_s + read_s,
            "generate_s": clock[0], "spilled_bytes": spilled, "peak_over_baseline_bytes": peak,
            "groups": groups, "ok": count == args.rows,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--chunk-rows", type=int, default=500_000)
    ap.add_argument("--partitions", type=int, default=64)
    ap.add_argument("--memory", default="32MB")
    ap.add_argument("--strings", choices=["str", "categorical"], default="str")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print(json.dumps(run(args, parse_size(args.memory))), flush=True)


if __name__ == "__main__":
    main()
