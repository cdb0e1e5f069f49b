#!/usr/bin/env python3
"""W5 lists: reference run against Python's partd list stores.

2,000,000 small records (id = i, x = i * 0.25, name = "name-%03d" % (i mod
1000)) appended in 20 rounds of 100,000; each round is split round-robin over
64 keys p0..p63 (record i goes to key i mod 64), then all 64 keys are read back
and the record count checked. Stores: partd.Python(partd.File) (msgpack) and
partd.Pickle(partd.File); records as tuples (id, x, name), dicts
{"id", "x", "name"} or, with --as, also instances of a @dataclass with
those fields (Python's counterpart of a Swift struct; msgpack cannot pack them,
so partd.Python falls back to pickle for every value, as dask.bag's store does)
and of a typing.NamedTuple (msgpack gives them back as lists): two result
lines per representation. Records and the split are made before
the clock, and the input is moved out of the garbage collector's way
(gc.freeze) so collections during the run do not scan it. msgpack gives
tuples back as lists. The cyclic collector stays on (a real cost of unpacking
millions of containers; msgpack's lists are always tracked, pickle's tuples of
atoms are not); --no-gc turns it off in the timed region. With --repeat R the
run with the smallest total time is shown. --shape rich adds two fields, as
partd-bench-typed's W5 rich: note (None when id % 3 == 0, else "n") and tags
(a list of id % 4 names from the pool, starting at id's); its lines are
"tuple-rich" and "dict-rich". --shape maps adds one dict field, as W5 maps:
counts {"a": id, "b": -id, "c": id % 7}; lines "tuple-maps" and "dict-maps".
Scratch directories go under $W5_TMP (default: the system temp directory).
"""
import argparse, gc, json, os, shutil, tempfile, time
from dataclasses import dataclass
from typing import NamedTuple, Optional

import partd

STORES = {"msgpack": partd.Python, "pickle": partd.Pickle}


@dataclass
class Record:
    id: int
    x: float
    name: str


@dataclass
class RichRecord:
    id: int
    x: float
    name: str
    note: Optional[str]
    tags: list


@dataclass
class MapsRecord:
    id: int
    x: float
    name: str
    counts: dict


class NamedRecord(NamedTuple):
    id: int
    x: float
    name: str


class NamedRichRecord(NamedTuple):
    id: int
    x: float
    name: str
    note: Optional[str]
    tags: list


class NamedMapsRecord(NamedTuple):
    id: int
    x: float
    name: str
    counts: dict


CLASSES = {"dataclass": {"plain": Record, "rich": RichRecord, "maps": MapsRecord},
           "namedtuple": {"plain": NamedRecord, "rich": NamedRichRecord, "maps": NamedMapsRecord}}


def make_rounds(n, rounds, rep, shape="plain"):
    as_dict = rep == "dict"
    names = ["name-%03d" % i for i in range(1000)]
    if rep in CLASSES:
        cls = CLASSES[rep][shape]
        if shape == "maps":
            recs = [cls(i, i * 0.25, names[i % 1000], {"a": i, "b": -i, "c": i % 7}) for i in range(n)]
        elif shape == "rich":
            recs = [cls(i, i * 0.25, names[i % 1000], None if i % 3 == 0 else "n",
                        [names[(i + j) % 1000] for j in range(i % 4)]) for i in range(n)]
        else:
            recs = [cls(i, i * 0.25, names[i % 1000]) for i in range(n)]
    elif shape == "maps":
        if as_dict:
            recs = [{"id": i, "x": i * 0.25, "name": names[i % 1000], "counts": {"a": i, "b": -i, "c": i % 7}}
                    for i in range(n)]
        else:
            recs = [(i, i * 0.25, names[i % 1000], {"a": i, "b": -i, "c": i % 7}) for i in range(n)]
    elif shape == "rich":
        def extra(i):
            return (None if i % 3 == 0 else "n", [names[(i + j) % 1000] for j in range(i % 4)])
        if as_dict:
            recs = [dict(zip(("id", "x", "name", "note", "tags"), (i, i * 0.25, names[i % 1000]) + extra(i)))
                    for i in range(n)]
        else:
            recs = [(i, i * 0.25, names[i % 1000]) + extra(i) for i in range(n)]
    elif as_dict:
        recs = [{"id": i, "x": i * 0.25, "name": names[i % 1000]} for i in range(n)]
    else:
        recs = [(i, i * 0.25, names[i % 1000]) for i in range(n)]
    per = n // rounds
    out = []
    for r in range(rounds):
        lo = r * per
        block = recs[lo:lo + per]
        out.append({"p%d" % k: block[(k - lo) % 64::64] for k in range(64)})
    return out, per * rounds


def record_id(rec, rep):
    if rep == "dict":
        return rec["id"]
    if rep == "dataclass":
        return rec.id
    return rec[0]


def run_once(store, batches, n, rep, no_gc):
    root = tempfile.mkdtemp(prefix="w5-py-", dir=os.environ.get("W5_TMP"))
    try:
        p = STORES[store](partd.File(os.path.join(root, "f")))
        keys = ["p%d" % k for k in range(64)]
        if no_gc:
            gc.disable()
        t0 = time.perf_counter()
        for b in batches:
            p.append(b)
        t1 = time.perf_counter()
        lists = [p.get(k) for k in keys]
        t2 = time.perf_counter()
        assert sum(map(len, lists)) == n
        ids = sum(record_id(rec, rep) for l in lists for rec in l)
        assert ids == n * (n - 1) // 2
        return t1 - t0, t2 - t1
    finally:
        gc.enable()
        shutil.rmtree(root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=2_000_000)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--no-gc", action="store_true", help="cyclic GC off while timing")
    ap.add_argument("--shape", choices=("plain", "rich", "maps"), default="plain")
    ap.add_argument("--as", dest="reps", default="tuple,dict",
                    help="representations, comma-separated: tuple, dict, dataclass, namedtuple")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    suffix = "" if args.shape == "plain" else "-" + args.shape
    for rep in args.reps.split(","):
        if rep not in ("tuple", "dict", "dataclass", "namedtuple"):
            ap.error("unknown representation: " + rep)
        batches, n = make_rounds(args.records, args.rounds, rep, args.shape)
        gc.collect()
        gc.freeze()
        for store in STORES:
            runs = [run_once(store, batches, n, rep, args.no_gc) for _ in range(args.repeat)]
            ta, tg = min(runs, key=sum)
            r = {"impl": "python-partd", "workload": "w5-lists", "store": store, "records": rep + suffix,
                 "count": n, "gc": not args.no_gc, "append_s": ta, "get_s": tg, "total_s": ta + tg,
                 "records_per_s": n / (ta + tg)}
            if args.json:
                print(json.dumps(r), flush=True)
            else:
                print("W5 lists %-7s %-16s python-partd: append %.3f s, get %.3f s, %.3f s total, "
                      "%.0f records/s (%d)" % (store, rep + suffix, ta, tg, ta + tg, r["records_per_s"], n), flush=True)
        gc.unfreeze()
        del batches
        gc.collect()


if __name__ == "__main__":
    main()
