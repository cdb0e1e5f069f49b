#!/usr/bin/env python3
"""Checks what Tests/Interop/format-samples wrote against format_from_docs.py (the reader written from
docs/format.md alone):

  swift run format-samples OUT && python3 Tests/Interop/check_samples.py OUT

- every key of OUT/manifest.json is listed under the file name §2 gives, and decodes to what was written;
- no other key is listed;
- the shuffles' partitions (OUT/shuffle-*) are the files §7 names, and every row in partition i hashes to i;
- the hashes of OUT/hashes.json (from the Swift API) equal §7 computed here.
Prints one line per failure and a closing 'N passed, N failed'.
"""
import json
import math
import os
import struct
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import format_from_docs as F  # noqa: E402

TALLY = F.Tally()
check = TALLY.check


def key_of(j):
    if isinstance(j, dict) and "int" in j:
        return j["int"]
    if isinstance(j, dict) and "tuple" in j:
        return F.Tup(key_of(x) for x in j["tuple"])
    return j


def same(a, b):
    """JSON-ish equality with float tolerance for Float16/Float32 widened values and 'inf' strings."""
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, str) or isinstance(b, str):
            return str(a) == str(b)
        if a is None or b is None:
            return a is b
        return a == b or (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def npy_json(a):
    if a.dtype.kind == "M":
        vals = a.astype(np.int64).ravel().tolist()
    elif a.dtype.kind == "f":
        vals = [v if math.isfinite(v) else ("inf" if v > 0 else "-inf") for v in a.astype(np.float64).ravel().tolist()]
    else:
        vals = a.ravel().tolist()
    return vals


def col_json(col, binary=False):
    out = []
    for v in col["values"]:
        if isinstance(v, bytes) and binary:
            v = v.hex()
        elif isinstance(v, bytes):
            try:
                v = v.decode("utf-8")
            except UnicodeDecodeError:
                v = v.hex()
        out.append(v)
    return out


def check_store(out):
    root = os.path.join(out, "store")
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    stats = {}
    keys, foreign = F.walk_store(root)
    names = dict(keys)
    check(not foreign, "foreign entries listed: %r" % foreign)
    seen = set()
    counts = {}
    for entry in manifest:
        key = key_of(entry["key"])
        name = F.encode_key(key)
        seen.add(name)
        kind = entry["kind"]
        counts[kind.split("-")[0]] = counts.get(kind.split("-")[0], 0) + 1
        if name not in names:
            check(False, "key %r: file %r not found" % (key, name))
            continue
        back = names[name]
        check(back == key and type(back) is type(key), "file %r decodes to %r, not %r" % (name, back, key))
        path = os.path.join(root, name)
        try:
            raw = open(path, "rb").read()
            if kind == "raw":
                check(raw.hex() == entry["expected"], "raw %r" % (key,))
            elif kind == "compressed":
                data = F.decode_compressed(raw, stats)
                exp = entry["expected"]
                check(len(data) == exp["length"] and "%x" % F.xxh3(data) == exp["xxh3"], "compressed %r" % (key,))
            elif kind == "list-msgpack-partd":
                frames = F.decode_partd_frames(raw)
                vals = []
                for _, p in frames:
                    vals += F.decode_list(p)[1]
                check(same(recs_json(vals), entry["expected"]), "partd-framed list %r: %r" % (key, vals))
            else:
                layers, typed = F.read_key(path, stats)
                if kind == "npy":
                    arrs = [v for t, v in typed if t == "npy"]
                    check(len(arrs) == len(typed), "npy %r: frame kinds %r" % (key, [t for t, _ in typed]))
                    joined = np.concatenate(arrs, axis=0)
                    exp = entry["expected"]
                    descr = np.lib.format.dtype_to_descr(joined.dtype)
                    check(descr == exp["dtype"], "npy %r: dtype %s, manifest %s" % (key, descr, exp["dtype"]))
                    check(list(joined.shape) == exp["shape"], "npy %r: shape %r, manifest %r" % (key, joined.shape, exp["shape"]))
                    check(same(npy_json(joined), exp["values"]), "npy %r values %r != %r" % (key, npy_json(joined), exp["values"]))
                elif kind == "strings":
                    vals = [s for t, v in typed for s in v]
                    check([s.hex() for s in vals] == entry["expected"], "strings %r: %r" % (key, vals))
                elif kind == "table":
                    exp = entry["expected"]["frames"]
                    check(len(typed) == len(exp), "table %r: %d frames" % (key, len(typed)))
                    for (t, (rows, cols)), e in zip(typed, exp):
                        check(t == "table" and rows == e["rows"], "table %r rows %r" % (key, rows))
                        got = {c["name"]: col_json(c, binary=(c["name"] == "b")) for c in cols}
                        check(set(got) == set(e["columns"]), "table %r columns %r" % (key, sorted(got)))
                        for name_, vals in e["columns"].items():
                            check(same(got.get(name_), vals), "table %r column %s: %r != %r" % (key, name_, got.get(name_), vals))
                        for c in cols:
                            counts.setdefault("column-types", set()).add(c["type"] + ("?" if c["nullable"] else "") + (("[" + c.get("unit", "") + "]") if c.get("unit") else ""))
                elif kind.startswith("list-"):
                    vals = []
                    for t, v in typed:
                        check(t.startswith("list-"), "list %r frame kind %s" % (key, t))
                        vals += v
                    if kind == "list-ints":
                        check(vals == entry["expected"], "list %r: %r" % (key, vals))
                    elif kind == "list-int-keys":
                        got = [{str(k): v for k, v in d.items()} for d in vals]
                        check(got == entry["expected"], "list %r: %r" % (key, vals))
                    else:
                        check(same(recs_json(vals), entry["expected"]), "list %r: %r" % (key, vals))
        except Exception as e:  # noqa: BLE001
            check(False, "%r (%s): %s: %s" % (key, name, type(e).__name__, e))
    # §6.4: "as Python's msgpack.packb(value, use_bin_type=True) writes it": byte for byte
    import msgpack
    for name in names:
        if name.startswith("%t(list,msgpack") or name == "%t(list,int-keys)":
            raw = open(os.path.join(root, name), "rb").read()
            frames = F.decode_partd_frames(raw) if "partd" in name else F.decode_values(raw)
            for off, payload in frames:
                again = msgpack.packb(msgpack.unpackb(payload, raw=False, strict_map_key=False), use_bin_type=True)
                check(again == payload, "%s frame at %d: msgpack.packb writes %s, Swift wrote %s" % (name, off, again.hex()[:120], payload.hex()[:120]))
                counts["msgpack-byte-exact"] = counts.get("msgpack-byte-exact", 0) + 1
    extra = set(names) - seen
    check(not extra, "keys listed that were not written: %r" % sorted(extra))
    return stats, counts


FIELDS = ["id", "name", "score", "tags", "opt", "data", "counts"]


def recs_json(vals):
    out = []
    for v in vals:
        if isinstance(v, list):  # .array struct encoding
            v = dict(zip(FIELDS, v))
        v = dict(v)
        v.setdefault("opt", None)  # Foundation's JSONEncoder leaves nil optionals out
        d = v.get("data")
        v["data"] = bytes(d).hex() if isinstance(d, (bytes, list)) else d
        out.append(v)
    return out


def check_shuffles(out):
    n_rows = 0
    for sub, n, hasher in [("shuffle-table", 8, lambda cols, i: F.hash_row([cols["id"][i], cols["name"][i]])),
                           ("shuffle-table-nullable", 5, lambda cols, i: F.hash_row([cols["x"][i]])),
                           ("shuffle-table-kinds", 7, lambda cols, i: F.hash_row([cols[k][i] for k in ("b", "i8", "u64", "h", "f", "ts", "cat", "s")]))]:
        root = os.path.join(out, sub)
        files = sorted(os.listdir(root))
        check(all(F.decode_file_name(f) is not None for f in files if not f.startswith(".")), "%s: names %r" % (sub, files))
        for f in files:
            if f.startswith("."):
                continue
            p = F.decode_file_name(f)
            check(isinstance(p, int) and 0 <= p < n, "%s: partition key %r" % (sub, p))
            _, typed = F.read_key(os.path.join(root, f), {})
            for t, (rows, cols) in typed:
                named = {c["name"]: c["values"] for c in cols}
                named = {k: [x.decode() if isinstance(x, bytes) else x for x in v] for k, v in named.items()}
                for i in range(rows):
                    h = hasher(named, i)
                    n_rows += 1
                    check(F.partition(h, n) == p, "%s row %r in partition %d, §7 says %d" % (sub, {k: v[i] for k, v in named.items()}, p, F.partition(h, n)))
    for sub, n in (("shuffle-array", 6), ("shuffle-array-int16", 4)):
        root = os.path.join(out, sub)
        for f in sorted(os.listdir(root)):
            if f.startswith("."):
                continue
            p = F.decode_file_name(f)
            _, typed = F.read_key(os.path.join(root, f), {})
            for t, a in typed:
                for row in a:
                    n_rows += 1
                    vals = row.tolist() if a.ndim > 1 else [row.item()]
                    check(F.partition(F.hash_row(vals), n) == p, "%s row %r in partition %d" % (sub, row, p))
    root = os.path.join(out, "shuffle-records")
    for f in sorted(os.listdir(root)):
        if f.startswith("."):
            continue
        p = F.decode_file_name(f)
        _, typed = F.read_key(os.path.join(root, f), {})
        for t, recs in typed:
            for r in recs:
                n_rows += 1
                check(F.partition(F.hash_row([r["name"], r["id"]]), 3) == p, "record %r in partition %d" % (r, p))
    return n_rows


def check_hashes(out):
    rows = json.load(open(os.path.join(out, "hashes.json")))

    def val(j):
        if "int" in j:
            return j["int"]
        if "uint" in j:
            return j["uint"]
        if "string" in j:
            return j["string"]
        if "null" in j:
            return None
        if "double" in j:
            return float(j["double"])
        raise ValueError(j)

    for r in rows:
        inp = r["input"]
        if "row" in inp:
            if not inp["row"]:
                h = F.NULL_HASH  # not in §7: an empty CompositeKey (see the notes)
            else:
                h = F.hash_row([val(x) for x in inp["row"]])
        else:
            h = F.hash_value(val(inp))
        check("%x" % h == r["hash"], "hash %s %r: §7 gives %x, Swift %s" % (r["label"], inp, h, r["hash"]))
        parts = [F.partition(h, n) for n in (1, 7, 64, 1000)]
        check(parts == r["partitions"], "partitions %s %r: %r vs %r" % (r["label"], inp, parts, r["partitions"]))
    return len(rows)


def main():
    out = sys.argv[1]
    t0 = time.time()
    stats, counts = check_store(out)
    n_rows = check_shuffles(out)
    n_hashes = check_hashes(out)
    bad = 0
    for label, row, want in F.TEST_VECTORS:
        check(F.hash_row(row) == want, "test vector %s" % label)
    dt = time.time() - t0
    print("keys by kind:", {k: (sorted(v) if isinstance(v, set) else v) for k, v in counts.items()})
    print("frames:", {k: (sorted(v) if isinstance(v, set) else v) for k, v in stats.items()})
    print("shuffled rows checked: %d; Swift hash values checked: %d; %.2f s" % (n_rows, n_hashes, dt))
    return TALLY.summary()


if __name__ == "__main__":
    sys.exit(main())
