#!/usr/bin/env python3
"""W1 reference run against Python's partd.

Workload W1: 1,000 keys, N appends (default 200,000), each a batch of 16 keys
chosen at random with 100-byte values, then get every key. Reports appends/s
and get MB/s for partd.File and partd.Buffer(Dict(), File(), 64 MB).

The batches are generated before the clock starts, with the same generator
shape as the Swift side (Benchmarks/W1), so both sides time only the store.
"""
import argparse
import json
import os
import random
import shutil
import tempfile
import time

import partd


def make_batches(n_appends, n_keys, per_batch, value_size, seed):
    rng = random.Random(seed)
    keys = ["k%04d" % i for i in range(n_keys)]
    # A small pool of distinct values, reused: value generation is not what we time.
    pool = [bytes(rng.getrandbits(8) for _ in range(value_size)) for _ in range(64)]
    batches = []
    for i in range(n_appends):
        chosen = rng.sample(keys, per_batch)
        batches.append({k: pool[(i + j) % len(pool)] for j, k in enumerate(chosen)})
    return keys, batches


def run(store_name, make_store, keys, batches):
    root = tempfile.mkdtemp(prefix="w1-py-", dir=os.environ.get("W1_TMP"))
    try:
        p = make_store(root)
        t0 = time.perf_counter()
        for b in batches:
            p.append(b)
        t1 = time.perf_counter()
        total = 0
        for k in keys:
            total += len(p.get(k))
        t2 = time.perf_counter()
        return {
            "impl": "python-partd",
            "store": store_name,
            "appends": len(batches),
            "appends_per_s": len(batches) / (t1 - t0),
            "get_mb_per_s": total / 1e6 / (t2 - t1),
            "bytes": total,
        }
    finally:
        # With W1_KEEP=1 the caller removes the directories, so that deleting
        # thousands of files does not slow the next run's file creation.
        if os.environ.get("W1_KEEP") != "1":
            shutil.rmtree(root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--appends", type=int, default=200_000)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    keys, batches = make_batches(args.appends, args.keys, 16, 100, 42)
    results = [
        run("directory (partd.File)", lambda r: partd.File(os.path.join(r, "f")), keys, batches),
        run(
            "spilling 64MB (partd.Buffer(Dict, File))",
            lambda r: partd.Buffer(partd.Dict(), partd.File(os.path.join(r, "f")), available_memory=64e6),
            keys,
            batches,
        ),
    ]
    for r in results:
        if args.json:
            print(json.dumps(r))
        else:
            print(
                "W1 %-42s %s: %12.0f appends/s  %10.1f get MB/s  (%d appends, %d bytes)"
                % (r["store"], r["impl"], r["appends_per_s"], r["get_mb_per_s"], r["appends"], r["bytes"])
            )


if __name__ == "__main__":
    main()
