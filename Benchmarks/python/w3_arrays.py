#!/usr/bin/env python3
"""W3 arrays: reference run against Python's partd.Numpy(partd.File(dir)).

64 keys k0..k63, 40 rounds; each round appends one dict holding all 64 keys,
each value a 10,000-element float64 array (80 kB), 40 * 64 * 80,000 bytes =
204.8 MB in all; then get every key, 16 keys per get call, and check the
total bytes read. The values come from a pool of 64 arrays made before the
clock starts (pool[p][j] = ((j + 7919 p) mod 100003) / 1000; key i in round r
gets pool[(r + i) mod 64]). Reports append MB/s, get MB/s and total seconds;
with --repeat R the run with the smallest total time is shown.
Scratch directories go under $W3_TMP (default: the system temp directory).
"""
import argparse, json, os, shutil, tempfile, time

import numpy as np
import partd


def run_once(batches, keys, total):
    root = tempfile.mkdtemp(prefix="w3-py-", dir=os.environ.get("W3_TMP"))
    try:
        p = partd.Numpy(partd.File(os.path.join(root, "f")))
        t0 = time.perf_counter()
        for b in batches:
            p.append(b)
        t1 = time.perf_counter()
        read = 0
        for i in range(0, len(keys), 16):
            for v in p.get(keys[i:i + 16]):
                read += v.nbytes
        t2 = time.perf_counter()
        assert read == total, (read, total)
        return t1 - t0, t2 - t1
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    pool = [((np.arange(10000) + 7919 * p) % 100003) * 0.001 for p in range(64)]
    keys = ["k%d" % i for i in range(64)]
    batches = [{k: pool[(r + i) % 64] for i, k in enumerate(keys)} for r in range(args.rounds)]
    total = args.rounds * 64 * 80000
    ta, tg = min((run_once(batches, keys, total) for _ in range(args.repeat)), key=sum)
    a, g = total / 1e6 / ta, total / 1e6 / tg
    if args.json:
        print(json.dumps({"impl": "python-partd", "workload": "w3-arrays", "append_mb_s": a,
                          "get_mb_s": g, "seconds": ta + tg, "bytes": total}))
    else:
        print("W3 arrays python-partd: append %d MB/s, get %d MB/s, %.3f s total (%d bytes)"
              % (a, g, ta + tg, total))


if __name__ == "__main__":
    main()
