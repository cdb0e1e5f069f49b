#!/usr/bin/env python3
"""The spill-dictionary workload against Python's chest.

N values (default 20,000), each an array of 512 float64 (4 KB), under a 16 MB
memory budget, so most of them spill: set every key in order, read every key
back in a seeded random order (each read of a spilled value loads it and
spills another), then flush. Reports sets/s, reads/s and the flush's seconds.

chest 0.2.3 (the last release) imports MutableMapping from collections, which
Python 3.10 removed; the script puts it back before importing chest. Chest runs
with its default dump (`--config protocol1`, pickle protocol 1) or with the
highest protocol (`--config highest`), which is much faster for numpy arrays.
Chest writes every file in place and never fsyncs, whether its directory is
temporary or given; the script gives it a new directory under SPILL_TMP and
removes it at the end unless SPILL_KEEP=1.
"""
import argparse
import collections
import collections.abc
import json
import os
import pickle
import random
import tempfile
import time
from functools import partial

collections.MutableMapping = collections.abc.MutableMapping  # chest 0.2.3 on Python >= 3.10
import numpy as np  # noqa: E402
from chest import Chest  # noqa: E402


def run(label, values, order, budget, dump, parent, keep):
    path = tempfile.mkdtemp(prefix="spill-py-", dir=parent)
    kwargs = {} if dump is None else {"dump": dump}
    c = Chest(path=path, available_memory=budget, **kwargs)
    try:
        t0 = time.perf_counter()
        for i, v in enumerate(values):
            c[i] = v
        t1 = time.perf_counter()
        total = 0.0
        for i in order:
            total += float(c[i][0])
        t2 = time.perf_counter()
        c.flush()
        t3 = time.perf_counter()
        expected = sum(float(v[0]) for v in values)
        assert abs(total - expected) < 1e-6 * max(1.0, abs(expected)), (total, expected)
        return {
            "impl": "python-chest",
            "store": label,
            "values": len(values),
            "sets_per_s": len(values) / (t1 - t0),
            "reads_per_s": len(order) / (t2 - t1),
            "flush_s": t3 - t2,
            "total_s": t3 - t0,
        }
    finally:
        if not keep:
            c.drop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--values", type=int, default=20_000)
    ap.add_argument("--length", type=int, default=512)
    ap.add_argument("--budget-mb", type=float, default=16)
    ap.add_argument("--config", choices=["protocol1", "highest"], default="highest")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(42)
    values = [rng.random(args.length) for _ in range(args.values)]
    order = list(range(args.values))
    random.Random(7).shuffle(order)
    parent = os.environ.get("SPILL_TMP")
    keep = os.environ.get("SPILL_KEEP") == "1"
    configs = {
        "protocol1": ("pickle protocol 1 (chest's default dump)", None),
        "highest": ("pickle highest protocol", partial(pickle.dump, protocol=pickle.HIGHEST_PROTOCOL)),
    }
    label, dump = configs[args.config]
    r = run(label, values, order, args.budget_mb * 1e6, dump, parent, keep)
    if args.json:
        print(json.dumps(r))
    else:
        print(f"spill dictionary, {label}: python-chest {r['sets_per_s']:,.0f} sets/s, {r['reads_per_s']:,.0f} reads/s, "
              f"flush {r['flush_s']:.3f} s, total {r['total_s']:.3f} s ({len(values)} values of {args.length} float64)")


if __name__ == "__main__":
    main()
