#!/usr/bin/env python3
"""The reverse direction: frames written from docs/format.md alone (format_from_docs.py's writers), for
Tests/Interop/format-samples --read to read with swift-partd's API.

  python3 write_from_docs.py DIR          writes DIR/py-store and DIR/py-expect.json
  swift run format-samples --read DIR > DIR/swift-read.jsonl
  python3 write_from_docs.py --check DIR  compares, prints 'N passed, N failed'

Keys are tuples (what, case): `what` tells the Swift side which API reads it; py-expect.json says, per file
name, whether the document says the read succeeds ("ok", with the values) or fails with corruptData ("err"),
or leaves it open ("open": the document does not decide; the result is reported, not judged).
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import format_from_docs as F  # noqa: E402

cases = {}


def put(root, what, name, data, expect, values=None, note=""):
    key = F.Tup((what, name))
    fname = F.encode_key(key)
    with open(os.path.join(root, fname), "ab") as f:
        f.write(data)
    cases[fname] = {"what": what, "expect": expect, "values": values, "note": note}


def npy_custom(header, body, version=(1, 0), align=True):
    """An .npy file with a given header text (padded per the document unless align is False)."""
    pre = 10 if version == (1, 0) else 12
    if align:
        total = pre + len(header) + 1
        header = header + " " * ((64 - total % 64) % 64) + "\n"
    else:
        header = header + "\n"
    hl = struct.pack("<H", len(header)) if version == (1, 0) else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes(version) + hl + header.encode("latin-1") + body


def pdzf(payload, codec, orig, flags=0, reserved=0, version=1, bad_checksum=False):
    hdr = b"PDZF" + bytes([version, codec, flags, reserved]) + struct.pack("<QQ", orig, len(payload))
    ck = F.xxh3(payload, F.xxh3(hdr)) ^ (1 if bad_checksum else 0)
    return hdr + struct.pack("<Q", ck) + payload


def write(dirpath):
    root = os.path.join(dirpath, "py-store")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    open(os.path.join(root, ".lock"), "wb").close()  # an empty .lock, as partd leaves it (§3.1)
    text = (b"written from docs/format.md " * 4000)
    noise = np.random.default_rng(7).integers(0, 256, 3000, dtype=np.uint8).tobytes()

    # §4 compressed frames: every codec, several frames, an empty frame, a stored (codec 0) frame.
    for codec, name in F.CODECS.items():
        data = b"".join(F.compressed_frame(text[i:i + 50000], codec) for i in range(0, len(text), 50000))
        data += F.compressed_frame(b"", codec) + F.compressed_frame(noise, codec)
        whole = text + noise
        put(root, "compressed", name, data, "ok", {"length": len(whole), "xxh3": "%x" % F.xxh3(whole)})
    import blosc
    b8 = blosc.compress(np.arange(5000, dtype=np.int64).tobytes(), typesize=8, clevel=9, shuffle=blosc.BITSHUFFLE, cname="zstd")
    whole = np.arange(5000, dtype=np.int64).tobytes()
    put(root, "compressed", "blosc-zstd-bitshuffle", pdzf(b8, 6, len(whole)), "ok", {"length": len(whole), "xxh3": "%x" % F.xxh3(whole)})
    z0 = __import__("zlib").compress(b"abc" * 10, 0)
    put(root, "compressed", "zlib-level0-bigger", pdzf(z0, 1, 30), "ok", {"length": 30, "xxh3": "%x" % F.xxh3(b"abc" * 10)},
        note="§4.1 says writers store a chunk that does not shrink as codec 0; a reader has no rule against it")
    good = F.compressed_frame(b"hello", 0)
    put(root, "compressed", "bad-flags", pdzf(b"hello", 0, 5, flags=1), "err")
    put(root, "compressed", "bad-reserved", pdzf(b"hello", 0, 5, reserved=1), "err")
    put(root, "compressed", "bad-checksum", pdzf(b"hello", 0, 5, bad_checksum=True), "err")
    put(root, "compressed", "bad-codec7", pdzf(b"hello", 7, 5), "err")
    put(root, "compressed", "bad-version2", pdzf(b"hello", 0, 5, version=2), "err")
    put(root, "compressed", "bad-none-short", pdzf(b"hell", 0, 5), "err", note="codec 0, stored 4 != original 5")
    put(root, "compressed", "bad-orig-17MiB", pdzf(b"hello", 0, 17 << 20), "err")
    put(root, "compressed", "bad-truncated", good[:-1], "err")
    put(root, "compressed", "bad-trailing", good + b"PDZ", "err")
    put(root, "compressed", "bad-zlib-wrong-length", pdzf(__import__("zlib").compress(b"x" * 100), 1, 99), "err")

    # §6.1 npy
    a = np.array([1.5, -2.0, 3.25])
    put(root, "npy-f8", "written-form", F.value_frame(F.npy_bytes(a)), "ok", a.tolist())
    import io
    buf = io.BytesIO()
    np.save(buf, a)
    put(root, "npy-f8", "numpy-save", F.value_frame(buf.getvalue()), "ok", a.tolist())
    body = a.tobytes()
    put(root, "npy-f8", "v2", F.value_frame(npy_custom("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", body, (2, 0))), "ok", a.tolist())
    put(root, "npy-f8", "v3", F.value_frame(npy_custom("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", body, (3, 0))), "ok", a.tolist())
    put(root, "npy-f8", "dquote-order", F.value_frame(npy_custom('{"shape":(3 ,),"descr":"<f8" , "fortran_order":False}', body)), "ok", a.tolist())
    put(root, "npy-f8", "nul-pad", F.value_frame(npy_custom("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }" + "\0" * 5, body)), "ok", a.tolist())
    put(root, "npy-f8", "eq-order", F.value_frame(npy_custom("{'descr': '=f8', 'fortran_order': False, 'shape': (3,), }", body)), "ok", a.tolist())
    put(root, "npy-f8", "fortran-1d", F.value_frame(npy_custom("{'descr': '<f8', 'fortran_order': True, 'shape': (3,), }", body)), "ok", a.tolist())
    put(root, "npy-f8", "unaligned-header", F.value_frame(npy_custom("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", body, align=False)), "ok", a.tolist())
    put(root, "npy-f8", "no-trailing-lf", F.value_frame(b"\x93NUMPY\x01\x00" + struct.pack("<H", 118) + b"{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}".ljust(118) + body), "ok", a.tolist())
    put(root, "npy-f8", "2d-shape-no-space", F.value_frame(npy_custom("{'descr': '<f8', 'fortran_order': False, 'shape': (3,1), }", body)), "ok", {"shape": [3, 1], "values": a.tolist()})
    put(root, "npy-f8", "bad-big-endian", F.value_frame(npy_custom("{'descr': '>f8', 'fortran_order': False, 'shape': (3,), }", a.astype('>f8').tobytes())), "err")
    put(root, "npy-f8", "bad-no-axis", F.value_frame(npy_custom("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", body[:8])), "err")
    put(root, "npy-f8", "bad-fortran-2d", F.value_frame(npy_custom("{'descr': '<f8', 'fortran_order': True, 'shape': (3, 1), }", body)), "err")
    put(root, "npy-f8", "bad-short-body", F.value_frame(npy_custom("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", body[:-1])), "err")
    put(root, "npy-f8", "bad-extra-key", F.value_frame(npy_custom("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'x': 1, }", body)), "err")
    put(root, "npy-f8", "bad-value-frame-checksum", F.value_frame(F.npy_bytes(a))[:-1] + b"\x00", "err")
    put(root, "npy-b1", "bool", F.value_frame(F.npy_bytes(np.array([True, False, True]))), "ok", [True, False, True])
    put(root, "npy-b1", "bad-bool-2", F.value_frame(npy_custom("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", b"\x01\x02")), "err")
    f2 = np.array([1.5, -0.0, 65504.0], dtype="<f2")
    put(root, "npy-f2", "float16", F.value_frame(F.npy_bytes(f2)), "ok", f2.astype(float).tolist())
    ts = np.array([0, 1700000000123456789, -1], dtype="<M8[ns]")
    put(root, "npy-M8ns", "timestamps", F.value_frame(F.npy_bytes(ts)), "ok", ts.astype(np.int64).tolist())
    i4 = np.arange(24, dtype="<i4").reshape(2, 3, 4)
    put(root, "npy-i4", "3d", F.value_frame(F.npy_bytes(i4)) + F.value_frame(F.npy_bytes(i4[:1])), "ok",
        {"shape": [3, 3, 4], "values": np.concatenate([i4, i4[:1]]).ravel().tolist()})

    # §6.2 strings
    ss = [b"", b"a", "é".encode(), b"\xff\x00"]
    put(root, "strings", "mixed", F.value_frame(F.string_array_bytes(ss)), "ok", [s.hex() for s in ss])
    bad = bytearray(F.string_array_bytes(ss))
    struct.pack_into("<q", bad, 24, 1)
    put(root, "strings", "bad-offset0", F.value_frame(bytes(bad)), "err")

    # §6.3 tables: every column kind, nulls, both string codes, categoricals
    rows = 10
    v = [None if i % 4 == 1 else i for i in range(rows)]
    cols = [
        ("bool", 1, True, 0, [None if x is None else x % 2 == 0 for x in v]),
        ("i8", 2, True, 0, [None if x is None else -x for x in v]),
        ("i16", 3, False, 0, [-300 * i for i in range(rows)]),
        ("i32", 4, True, 0, [None if x is None else x * 70000 for x in v]),
        ("i64", 5, False, 0, [-(1 << 62) + i for i in range(rows)]),
        ("u8", 6, True, 0, [None if x is None else 255 - x for x in v]),
        ("u16", 7, False, 0, [65535 - i for i in range(rows)]),
        ("u32", 8, True, 0, [None if x is None else 4000000000 + x for x in v]),
        ("u64", 9, False, 0, [(1 << 64) - 1 - i for i in range(rows)]),
        ("f16", 10, True, 0, [None if x is None else x / 4 for x in v]),
        ("f32", 11, False, 0, [i / 8 for i in range(rows)]),
        ("f64", 12, True, 0, [None if x is None else x / 3 for x in v]),
        ("ts_s", 13, True, 0, [None if x is None else 1700000000 + x for x in v]),
        ("ts_ms", 13, False, 1, [i * 1000 for i in range(rows)]),
        ("ts_us", 13, False, 2, [-i for i in range(rows)]),
        ("ts_ns", 13, True, 3, [None if x is None else x * 10 ** 15 for x in v]),
        ("s_large", 14, True, 0, [None if x is None else "l%dé" % x for x in v]),
        ("s_small", 16, False, 0, ["" if i % 3 == 0 else "s%d" % i for i in range(rows)]),
        ("cat", 15, True, 0, [None if x is None else ["x", "y", "zé"][x % 3] for x in v]),
        ("cat_dense", 15, False, 0, [["p", "q"][i % 2] for i in range(rows)]),
    ]

    def texts(code, vals, unit=0):
        out = []
        for x in vals:
            if x is None:
                out.append(None)
            elif code == 1:
                out.append("true" if x else "false")
            elif code in (10, 11, 12):
                out.append(float(x))
            else:
                out.append(str(x))
        return out

    expect_cols = {name: texts(code, vals) for name, code, _, _, vals in cols}
    frame1 = F.table_bytes(rows, cols)
    # the same schema with code 16 / code 14 swapped and other nullability (§6.3 allows both)
    cols2 = [(n, {14: 16, 16: 14}.get(c, c), False, u, [0 if x is None and c not in (14, 15, 16, 1) else ("" if x is None and c in (14, 16) else (False if x is None and c == 1 else ("x" if x is None else x))) for x in vals][:3])
             for n, c, nl, u, vals in cols]
    frame2 = F.table_bytes(3, cols2)
    for n, c, nl, u, vals in cols2:
        expect_cols[n] = expect_cols[n] + texts(c, vals)
    put(root, "table", "every-kind", F.value_frame(frame1) + F.value_frame(frame2), "ok", {"rows": rows + 3, "columns": expect_cols})
    # validity/bool bits past rows set to 1 ("ignored when read")
    t = bytearray(F.table_bytes(3, [("b", 1, True, 0, [True, None, False])]))
    # descriptors: 2+1+4+16 = 23 -> buffers at 48: validity byte then bool byte at 56
    assert t[48] == 0b101 and t[56] == 0b001
    t[48] |= 0xF8
    t[56] |= 0xF8
    put(root, "table", "bits-past-rows", F.value_frame(bytes(t)), "ok", {"rows": 3, "columns": {"b": ["true", None, "false"]}})
    # a categorical with repeated categories, and one all-null with no categories
    def cat_table(codes, cats, validity=None):
        n = len(codes)
        bufs = []
        if validity is not None:
            bm = bytearray((n + 7) // 8)
            for i, ok in enumerate(validity):
                if ok:
                    bm[i >> 3] |= 1 << (i & 7)
            bufs.append(bytes(bm))
        offs = [0]
        for c in cats:
            offs.append(offs[-1] + len(c))
        bufs += [struct.pack("<%di" % n, *codes), struct.pack("<%dq" % len(offs), *offs), b"".join(cats)]
        desc = struct.pack("<H", 1) + b"c" + bytes([15, 1 if validity is not None else 0, 0, len(bufs)]) + b"".join(struct.pack("<Q", len(b)) for b in bufs)
        out = bytearray(b"PDTB\x01\0\0\0" + struct.pack("<QII", n, 1, len(desc)) + desc)
        out += b"\0" * (F._align8(len(out)) - len(out))
        for b in bufs:
            out += b + b"\0" * (F._align8(len(b)) - len(b))
        return bytes(out)
    put(root, "table", "cat-repeated", F.value_frame(cat_table([0, 1, 2, 2], [b"a", b"b", b"a"])), "ok", {"rows": 4, "columns": {"c": ["a", "b", "a", "a"]}})
    put(root, "table", "cat-all-null-no-categories", F.value_frame(cat_table([0, 0], [], [False, False])), "ok", {"rows": 2, "columns": {"c": [None, None]}})
    put(root, "table", "bad-cat-code", F.value_frame(cat_table([0, 2], [b"a", b"b"])), "err")
    put(root, "table", "no-columns", F.value_frame(F.table_bytes(5, [])), "ok", {"rows": 5, "columns": {}})
    tb = bytearray(F.table_bytes(2, [("x", 5, False, 0, [1, 2])]))
    tb[24 + 2 + 1 + 3] = 2  # buffer count 2
    put(root, "table", "bad-buffer-count", F.value_frame(bytes(tb)), "err")
    put(root, "table", "bad-extra-bytes", F.value_frame(F.table_bytes(2, [("x", 5, False, 0, [1, 2])]) + b"\0" * 8), "err")
    put(root, "table", "bad-unit-on-int", F.value_frame(F.table_bytes(2, [("x", 5, False, 1, [1, 2])])), "err")

    # §6.4 lists
    import msgpack
    recs = [{"id": i, "name": "r%d" % i, "score": i / 2, "tags": ["t"] * i, "opt": None if i % 2 else i,
             "data": bytes(range(i)), "counts": {"k": i}} for i in range(3)]
    put(root, "list", "msgpack", F.value_frame(msgpack.packb(recs, use_bin_type=True)), "ok", [r["id"] for r in recs])
    put(root, "list", "msgpack-as-arrays", F.value_frame(msgpack.packb([[r[k] for k in ("id", "name", "score", "tags", "opt", "data", "counts")] for r in recs], use_bin_type=True)), "ok", [r["id"] for r in recs])
    put(root, "list", "json-in-msgpack-store", F.value_frame(json.dumps([{k: (list(v) if isinstance(v, bytes) else v) for k, v in r.items()} for r in recs]).encode()), "ok", [r["id"] for r in recs],
        note="§6.4: 'The first byte tells them apart'")
    put(root, "list", "bad-pickle", F.value_frame(b"\x80\x04]\x94."), "err")
    p = msgpack.packb(recs, use_bin_type=True)
    put(root, "list-partd", "partd-framing", struct.pack("<Q", len(p)) + p, "ok", [r["id"] for r in recs])

    # §5 value-frame header checks
    vf = bytearray(F.value_frame(F.npy_bytes(a)))
    for label, pos, val in (("bad-vf-version2", 4, 2), ("bad-vf-flags", 5, 1), ("bad-vf-reserved", 7, 1)):
        b = bytearray(vf)
        b[pos] = val
        put(root, "npy-f8", label, bytes(b), "err")
    b = bytearray(vf)
    struct.pack_into("<Q", b, 8, len(vf))
    put(root, "npy-f8", "bad-vf-length", bytes(b), "err")
    # §6.1 limits: at most 32 dimensions; lengths checked before allocating
    put(root, "npy-f8", "bad-33-dims", F.value_frame(npy_custom("{'descr': '<f8', 'fortran_order': False, 'shape': (%s), }" % ", ".join(["1"] * 33), body[:8])), "err")
    put(root, "npy-f8", "ok-32-dims", F.value_frame(npy_custom("{'descr': '<f8', 'fortran_order': False, 'shape': (%s), }" % ", ".join(["1"] * 32), body[:8])), "ok",
        {"shape": [1] * 32, "values": [1.5]})
    put(root, "npy-f8", "bad-huge-shape", F.value_frame(npy_custom("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", b"")), "err")
    put(root, "npy-f8", "bad-dim-over-int64", F.value_frame(npy_custom("{'descr': '<f8', 'fortran_order': False, 'shape': (9223372036854775808,), }", b"")), "err")
    put(root, "npy-f8", "bad-descr-65-chars", F.value_frame(npy_custom("{'descr': '%s', 'fortran_order': False, 'shape': (3,), }" % ("<" * 65), body)), "err")
    # §6.2 lengths
    sa = bytearray(F.string_array_bytes(ss))
    struct.pack_into("<Q", sa, 8, 1 << 62)
    put(root, "strings", "bad-huge-count", F.value_frame(bytes(sa)), "err")
    # §6.3 row limits, null rows' codes, names
    put(root, "table", "no-columns-1000-rows", F.value_frame(F.table_bytes(1000, [])), "ok", {"rows": 1000, "columns": {}})
    put(root, "table", "bad-no-columns-2^32-rows", F.value_frame(F.table_bytes(1 << 32, [])), "err")
    tb = bytearray(F.table_bytes(2, [("x", 2, False, 0, [1, 2])]))
    struct.pack_into("<Q", tb, 8, 8 * len(tb) + 1)
    put(root, "table", "bad-rows-over-8-per-byte", F.value_frame(bytes(tb)), "err")
    put(root, "table", "cat-null-row-any-code", F.value_frame(cat_table([0, 99, -5], [b"a"], [True, False, False])), "ok",
        {"rows": 3, "columns": {"c": ["a", None, None]}}, note="§6.3: only non-null rows' codes must be in 0..<k")
    put(root, "table", "nfc-nfd-names", F.value_frame(F.table_bytes(1, [("caf\u00e9", 5, False, 0, [1]), ("cafe\u0301", 5, False, 0, [2])])), "ok",
        {"rows": 1, "columns": {"caf\u00e9": ["1"], "cafe\u0301": ["2"]}})
    put(root, "table", "bad-same-names", F.value_frame(F.table_bytes(1, [("a", 5, False, 0, [1]), ("a", 5, False, 0, [2])])), "err")
    put(root, "table", "schemas-differ", F.value_frame(F.table_bytes(1, [("a", 5, False, 0, [1])])) + F.value_frame(F.table_bytes(1, [("a", 4, False, 0, [1])])), "typeMismatch")
    sb = bytearray(F.table_bytes(2, [("s", 16, False, 0, ["ab", "c"])]))
    # offsets at the first buffer: make them 0, 2, 1 (decreasing); data length stays 3
    first = F._align8(24 + 2 + 1 + 4 + 16)
    struct.pack_into("<3i", sb, first, 0, 2, 1)
    put(root, "table", "bad-decreasing-offsets", F.value_frame(bytes(sb)), "err")

    # §6.4: a reader tells the framings apart per frame, so a checked ListStore reads partd frames too
    put(root, "list", "partd-in-checked-store", struct.pack("<Q", len(p)) + p, "ok", [r["id"] for r in recs])
    put(root, "list", "mixed-framing", F.value_frame(p) + struct.pack("<Q", len(p)) + p, "ok", [r["id"] for r in recs] * 2)
    # §6: a value of the wrong type is typeMismatch, naming what the key holds and what was asked for
    npy3 = F.value_frame(F.npy_bytes(np.array([1.0, 2.0, 3.0])))  # starts 0x93: also a MessagePack fixarray of 3
    put(root, "list-int", "npy-as-list", npy3, "typeMismatch")
    put(root, "list-int", "ints", F.value_frame(msgpack.packb([1, -2, 300])), "ok", [1, -2, 300])
    put(root, "npy-f8", "table-as-npy", F.value_frame(F.table_bytes(1, [("x", 12, False, 0, [1.0])])), "typeMismatch")
    put(root, "table", "list-as-table", F.value_frame(msgpack.packb([1, 2])), "typeMismatch")
    put(root, "strings", "npy-as-strings", npy3, "typeMismatch")
    put(root, "npy-i4", "f8-as-i4", npy3, "typeMismatch")
    put(root, "npy-f8", "strings-as-npy", F.value_frame(F.string_array_bytes([b"a"])), "typeMismatch")

    # §1.4 / §2.5: entries that are not keys; a Swift keys() must list none of them
    foreign = ["%", "%x", "%sabc", "%s%zz", "%i", "%i01", "%i-0", "%t(", "%t(a", "%t(a,)", "a b", "%sa%2f",
               ".tmp-1", "%i99999999999999999999", "%s%FF", "%t(a,b", "%t(a)x", "%sa%2", "\u00e9", "%q1"]
    for name in foreign:
        open(os.path.join(root, name), "wb").write(b"foreign")
    os.makedirs(os.path.join(root, "subdir"))
    expected_keys = sorted(n for n in cases)
    cases["__keys__"] = {"what": "keys", "expect": "ok", "values": expected_keys, "note": ""}
    json.dump(cases, open(os.path.join(dirpath, "py-expect.json"), "w"), indent=1)
    print("wrote %d keys to %s" % (len(cases), root))


def compare(dirpath):
    cases = json.load(open(os.path.join(dirpath, "py-expect.json")))
    got = {}
    for line in open(os.path.join(dirpath, "swift-read.jsonl")):
        r = json.loads(line)
        got[r["file"]] = r
    passed = failed = 0
    for fname, c in sorted(cases.items()):
        r = got.get(fname)
        if r is None:
            print("MISSING", fname)
            failed += 1
            continue
        ok = r["ok"]
        if c["expect"] == "open":
            print("OPEN  %-45s swift: %s %s  (%s)" % (fname, "reads" if ok else "refuses", "" if ok else r.get("error"), c["note"]))
            continue
        if c["expect"] == "typeMismatch":
            good = not ok and r.get("code") in ("typeMismatch", "type mismatch")
            if good:
                passed += 1
            else:
                failed += 1
                print("FAIL  %-45s doc: typeMismatch | swift: %s" % (fname, json.dumps(r)[:600]))
            continue
        good = ok == (c["expect"] == "ok")
        if ok and isinstance(r["value"], dict) and isinstance(r["value"].get("columns"), list):
            r["value"]["columns"] = {bytes.fromhex(x["name_hex"]).decode("utf-8"): x["values"] for x in r["value"]["columns"]}
        if good and ok and c["values"] is not None:
            good = values_match(c["values"], r["value"])
        if good and not ok:
            good = r.get("code") in ("corruptData", "corrupt data")
        if good:
            passed += 1
        else:
            failed += 1
            print("FAIL  %-45s doc: %s %s | swift: %s" % (fname, c["expect"], json.dumps(c["values"])[:300] if c["values"] else "",
                                                          json.dumps(r)[:600]))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def values_match(want, got):
    if isinstance(want, float) or isinstance(got, float):
        try:
            return abs(float(want) - float(got)) <= 1e-9 * max(1, abs(float(want)))
        except (TypeError, ValueError):
            return False
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(values_match(a, b) for a, b in zip(want, got))
    if isinstance(want, dict) and isinstance(got, dict):
        return want.keys() == got.keys() and all(values_match(want[k], got[k]) for k in want)
    return want == got


if __name__ == "__main__":
    if sys.argv[1] == "--check":
        sys.exit(compare(sys.argv[2]))
    write(sys.argv[1])
