#!/usr/bin/env python3
"""Shuffle + join: the reference run with Python's partd and pandas, as dask's disk-shuffle merge does it.

A left table of --rows rows (id int64 uniform in 0..<keys, x float64 in [0, 1)) and a right table of
--keys rows (every id once, in random order, and a name: one of 1,000 short strings "name-<n>", pandas
"str" or categorical), generated in chunks of 500,000 rows (generation time is measured and left out).
Each side is shuffled by id as dask's disk shuffle does: `hash_pandas_object(df[["id"]], index=False) %
partitions`, a stable sort, and {partition: sub-frame} appended to its own
`partd.PandasBlocks(partd.Buffer(partd.Dict(), partd.File(dir), available_memory=BUDGET))`. Then
partition p of the left is merged with partition p of the right (`pd.merge(l, r, on="id", how=KIND)`), and
each result is reduced to its length and sum(x) (one process; pandas holds the GIL for most of it).

Prints one JSON object per run: phase times, rows/s and peak resident memory over the baseline.

  shuffle_join.py [--rows N] [--keys K] [--partitions P] [--memory 64MB] [--strings str|categorical]
                  [--kind inner|left|right|outer]
"""
import argparse, json, resource, shutil, tempfile, time, os

import numpy as np
import pandas as pd
import partd
from pandas.util import hash_pandas_object

from shuffle_groupby import NAMES, parse_size, rss_bytes  # the groupby workload's names and helpers


def shuffle_into(p, frames, partitions):
    for df in frames:
        parts = (hash_pandas_object(df[["id"]], index=False) % partitions).to_numpy()
        order = np.argsort(parts, kind="stable")
        bounds = np.searchsorted(parts[order], np.arange(partitions + 1))
        sorted_df = df.take(order)
        p.append({i: sorted_df.iloc[bounds[i] : bounds[i + 1]] for i in range(partitions) if bounds[i + 1] > bounds[i]})


def run(args, budget):
    rng = np.random.default_rng(args.seed)
    clock = [0.0]
    left_sum = [0.0]
    drawn = np.zeros(args.keys, dtype=bool)  # the ids some left row drew
    chunk = 500_000

    def left_frames():
        done = 0
        while done < args.rows:
            t0 = time.perf_counter()
            n = min(chunk, args.rows - done)
            df = pd.DataFrame({"id": rng.integers(0, args.keys, n, dtype=np.int64), "x": rng.random(n)})
            left_sum[0] += df.x.sum()
            drawn[df.id.to_numpy()] = True
            clock[0] += time.perf_counter() - t0
            done += n
            yield df

    def right_frames():
        t0 = time.perf_counter()
        order = rng.permutation(args.keys).astype(np.int64)
        clock[0] += time.perf_counter() - t0
        done = 0
        while done < args.keys:
            t0 = time.perf_counter()
            n = min(chunk, args.keys - done)
            codes = rng.integers(0, 1000, n)
            if args.strings == "categorical":
                name = pd.Categorical.from_codes(codes.astype(np.int16), categories=list(NAMES))
            else:
                name = pd.array(NAMES[codes], dtype="str")
            df = pd.DataFrame({"id": order[done : done + n], "name": name})
            clock[0] += time.perf_counter() - t0
            done += n
            yield df

    tmp = [tempfile.mkdtemp(suffix=".partd", dir=os.environ.get("SHUFFLE_TMP")) for _ in range(2)]
    baseline = rss_bytes()
    try:
        left = partd.PandasBlocks(partd.Buffer(partd.Dict(), partd.File(tmp[0]), available_memory=budget))
        right = partd.PandasBlocks(partd.Buffer(partd.Dict(), partd.File(tmp[1]), available_memory=budget))
        t0 = time.perf_counter()
        shuffle_into(left, left_frames(), args.partitions)
        shuffle_into(right, right_frames(), args.partitions)
        shuffle_s = time.perf_counter() - t0 - clock[0]
        t1 = time.perf_counter()
        joined_rows = 0
        joined_sum = 0.0
        for i in range(args.partitions):
            merged = pd.merge(left.get(i), right.get(i), on="id", how=args.kind)
            joined_rows += len(merged)
            joined_sum += merged.x.sum()
        join_s = time.perf_counter() - t1
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - baseline
        left.drop()
        right.drop()
        expected_rows = args.rows + (int((~drawn).sum()) if args.kind in ("right", "outer") else 0)
        ok = joined_rows == expected_rows and abs(joined_sum - left_sum[0]) <= 1e-6 * max(1.0, abs(left_sum[0]))
        return {
            "impl": "python-partd", "workload": "shuffle-join", "rows": args.rows, "keys": args.keys,
            "partitions": args.partitions, "memory_bytes": budget, "strings": args.strings, "kind": args.kind,
            "shuffle_s": shuffle_s, "join_s": join_s, "total_s": shuffle_s + join_s, "generate_s": clock[0],
            "rows_per_s": (args.rows + args.keys) / (shuffle_s + join_s), "peak_over_baseline_bytes": peak,
            "joined_rows": joined_rows, "ok": bool(ok),
        }
    finally:
        for path in tmp:
            shutil.rmtree(path, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--partitions", type=int, default=64)
    ap.add_argument("--memory", default="64MB")
    ap.add_argument("--strings", choices=["str", "categorical"], default="str")
    ap.add_argument("--kind", choices=["inner", "left", "right", "outer"], default="inner")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print(json.dumps(run(args, parse_size(args.memory))), flush=True)


if __name__ == "__main__":
    main()
