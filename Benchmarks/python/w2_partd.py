#!/usr/bin/env python3
"""W2 reference run against Python's partd Numpy store.

256 keys, 400 rounds; each round appends a 10,000-element float64 array to each
of 64 random keys (about 2 GB), then get every key. Stores: Numpy(File),
Numpy(Blosc(File)) and Numpy(Snappy(File)). Arrays are made before the clock
starts, the same values as Benchmarks/W2 (element j of array p is
((j + 7919 p) mod 100003) / 1000).
"""
import argparse, json, os, random, shutil, tempfile, time

import numpy as np
import partd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=400)
    ap.add_argument("--codecs", default="none,blosc,snappy")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    pool = [((np.arange(10000) + 7919 * p) % 100003) * 0.001 for p in range(64)]
    keys = ["k%d" % i for i in range(256)]
    rng = random.Random(7)
    batches = []
    for r in range(args.rounds):
        chosen = rng.sample(range(256), 64)
        batches.append({keys[k]: pool[(r + i) % 64] for i, k in enumerate(chosen)})
    total = args.rounds * 64 * 80000
    parent = os.environ.get("W2_TMP")
    for codec in args.codecs.split(","):
        root = tempfile.mkdtemp(prefix="w2-py-", dir=parent)
        try:
            f = partd.File(os.path.join(root, "f"))
            inner = {"none": lambda: f, "blosc": lambda: partd.Blosc(f), "snappy": lambda: partd.Snappy(f)}[codec]()
            p = partd.Numpy(inner)
            t0 = time.perf_counter()
            for b in batches:
                p.append(b)
            t1 = time.perf_counter()
            read = 0
            for i in range(0, 256, 16):
                for v in p.get(keys[i:i + 16]):
                    read += v.nbytes
            t2 = time.perf_counter()
            assert read == total, (read, total)
            name = {"none": "uncompressed", "blosc": "blosc (partd default)", "snappy": "snappy"}[codec]
            a, g = total / 1e6 / (t1 - t0), read / 1e6 / (t2 - t1)
            if args.json:
                print(json.dumps({"impl": "python-partd", "store": name, "append_mb_s": a, "get_mb_s": g, "bytes": total}))
            else:
                print("W2 %-18s python-partd: append %d MB/s, get %d MB/s (%d bytes)" % (name, a, g, total))
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
