#!/usr/bin/env python3
"""Writes the CSV input of the sort and drop-duplicates benchmarks: ROWS rows of id (Int64 uniform in
0..<IDS), x (three decimals in [0, 1000)) and name (one of NAMES strings "name-<n>"), a million rows at a
time, from the seeded generator SEED.

  make_csv.py OUTPUT ROWS [--ids 1000000] [--names 1000] [--width 4] [--seed 7]
"""
import argparse

import numpy as np
import pandas as pd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("output")
    ap.add_argument("rows", type=int)
    ap.add_argument("--ids", type=int, default=1_000_000)
    ap.add_argument("--names", type=int, default=1000)
    ap.add_argument("--width", type=int, default=4, help="digits of the number in each name")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    names = np.array([f"name-{i:0{args.width}d}" for i in range(args.names)])
    with open(args.output, "w") as out:
        for start in range(0, args.rows, 1_000_000):
            n = min(1_000_000, args.rows - start)
            pd.DataFrame({"id": rng.integers(0, args.ids, n), "x": np.round(rng.random(n) * 1000, 3),
                          "name": names[rng.integers(0, args.names, n)]}).to_csv(out, index=False, header=start == 0)


if __name__ == "__main__":
    main()
