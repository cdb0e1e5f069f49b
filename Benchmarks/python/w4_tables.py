#!/usr/bin/env python3
"""W4 tables: reference run against Python's partd.PandasBlocks(partd.File(dir)).

A 10,000,000-row table, columns id (int64, the row number), x (float64,
(row mod 1000) * 0.5) and name (one of 1,000 strings, "name-%03d" % ((row * 7)
mod 1000)), made as 20 chunks of 500,000 rows. Each chunk is split into 64
pieces by id mod 64 (keys p0..p63), each piece with a fresh RangeIndex so only
the three columns are stored. Chunks, split and pieces are all made before the
clock. Timed: append every chunk's {key: DataFrame} dict, then get all 64 keys
(16 keys per get call) and check the row count.

Two variants by default: "strings" (name as pandas 3 makes it from Python
strings: the "str" dtype, StringDtype(storage="pyarrow") when pyarrow is
importable and StringDtype(storage="python") otherwise, which PandasBlocks
pickles as an extension array; pickling the pyarrow-backed one copies Arrow
buffers and is about 1.5x faster; the result lines name the storage) and
"categorical" (name a pandas Categorical: int16 codes plus
the 1,000 categories). Note: PandasBlocks compresses numpy blocks with blosc
(and object text with snappy) when those modules are importable; --raw turns
that off so the stored bytes are the raw block bytes.
With --repeat R the run with the smallest total time is shown.
Scratch directories go under $W4_TMP (default: the system temp directory).
"""
import argparse, json, os, shutil, tempfile, time

import numpy as np
import pandas as pd
import partd
import partd.numpy as pnp

NAMES = ["name-%03d" % i for i in range(1000)]


def dtype_name(dtype):
    """The dtype's name, with the storage of a string dtype: "str[pyarrow]", "str[python]", "category"."""
    name = str(dtype).split("(")[0]
    storage = getattr(dtype, "storage", None)
    return "%s[%s]" % (name, storage) if storage else name


def make_pieces(rows, chunks, categorical):
    per = rows // chunks
    pool = np.array(NAMES, dtype=object)
    pieces = []
    for c in range(chunks):
        ids = np.arange(c * per, (c + 1) * per, dtype=np.int64)
        codes = (ids * 7) % 1000
        if categorical:
            name = pd.Categorical.from_codes(codes.astype(np.int16), categories=NAMES)
        else:
            name = pool[codes].tolist()  # a list of Python str: pandas 3.1 infers dtype "str"
        df = pd.DataFrame({"id": ids, "x": (ids % 1000) * 0.5, "name": name})
        part = ids % 64
        pieces.append({"p%d" % k: df[part == k].reset_index(drop=True) for k in range(64)})
    return pieces, per * chunks


def run_once(pieces, rows):
    root = tempfile.mkdtemp(prefix="w4-py-", dir=os.environ.get("W4_TMP"))
    try:
        p = partd.PandasBlocks(partd.File(os.path.join(root, "f")))
        keys = ["p%d" % k for k in range(64)]
        t0 = time.perf_counter()
        for d in pieces:
            p.append(d)
        t1 = time.perf_counter()
        frames = []
        for i in range(0, 64, 16):
            frames.extend(p.get(keys[i:i + 16]))
        t2 = time.perf_counter()
        got = sum(len(f) for f in frames)
        assert got == rows, (got, rows)
        assert sum(int(f["id"].sum()) for f in frames) == rows * (rows - 1) // 2
        return t1 - t0, t2 - t1, str(frames[0]["name"].dtype).split("(")[0]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--chunks", type=int, default=20)
    ap.add_argument("--categorical", action="store_true", help="only the categorical variant")
    ap.add_argument("--strings", action="store_true", help="only the strings variant")
    ap.add_argument("--raw", action="store_true", help="no blosc/snappy inside PandasBlocks")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.raw:
        pnp.compress_bytes = lambda b, itemsize: b
        pnp.decompress_bytes = pnp.compress_text = pnp.decompress_text = lambda b: b
    variants = [v for v, on in (("strings", args.strings), ("categorical", args.categorical)) if on]
    for variant in variants or ["strings", "categorical"]:
        pieces, rows = make_pieces(args.rows, args.chunks, variant == "categorical")
        r = {"impl": "python-partd", "workload": "w4-tables", "variant": variant, "rows": rows,
             "name_dtype": dtype_name(pieces[0]["p0"]["name"].dtype), "compressed": not args.raw}
        try:
            ta, tg, back = min((run_once(pieces, rows) for _ in range(args.repeat)),
                               key=lambda t: t[0] + t[1])
            r.update(append_s=ta, get_s=tg, seconds=ta + tg, name_dtype_back=back,
                     append_mrows_s=rows / 1e6 / ta, get_mrows_s=rows / 1e6 / tg)
        except Exception as e:
            r["error"] = "%s: %s" % (type(e).__name__, e)
        del pieces
        if args.json:
            print(json.dumps(r), flush=True)
        elif "error" in r:
            print("W4 tables %-11s python-partd: error %s" % (variant, r["error"]), flush=True)
        else:
            print("W4 tables %-11s python-partd: append %.3f s (%.2f M rows/s), get %.3f s "
                  "(%.2f M rows/s), %.3f s total (%d rows, name %s)"
                  % (variant, r["append_s"], r["append_mrows_s"], r["get_s"], r["get_mrows_s"],
                     r["seconds"], rows, r["name_dtype"]), flush=True)


if __name__ == "__main__":
    main()
