#!/usr/bin/env python3
"""docs/format.md §10 against pyarrow, both ways.

  python3 check_arrow.py OUT            checks OUT/arrow/* (written by Tests/Interop/format-samples) with pyarrow
  python3 check_arrow.py --write DIR    writes DIR/py-arrow/* with pyarrow (types §10.2 says are read)
  python3 check_arrow.py --check DIR    compares DIR/swift-read.jsonl (format-samples --read) with them
"""
import json
import math
import os
import sys

import pyarrow as pa
import pyarrow.ipc as ipc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import format_from_docs as F  # noqa: E402

TALLY = F.Tally()
check = TALLY.check


# §10.1's table, for the sample tables' column names
WANT_TYPE = {
    "bool": pa.bool_(), "int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
    "uint8": pa.uint8(), "uint16": pa.uint16(), "uint32": pa.uint32(), "uint64": pa.uint64(),
    "float16": pa.float16(), "float32": pa.float32(), "float64": pa.float64(),
    "ts_s": pa.timestamp("s"), "ts_ms": pa.timestamp("ms"), "ts_us": pa.timestamp("us"), "ts_ns": pa.timestamp("ns"),
    "int64_dense": pa.int64(), "string": pa.large_string(),
    "category": pa.dictionary(pa.int32(), pa.large_string()), "category_dense": pa.dictionary(pa.int32(), pa.large_string()),
    "b": pa.large_binary(), "allnull": pa.dictionary(pa.int32(), pa.large_string()),
}
DENSE = {"int64_dense", "category_dense", "b"}


def pyval(v, t):
    if v is None:
        return None
    if pa.types.is_timestamp(t):
        return v.value if hasattr(v, "value") else int(v.timestamp())
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8") if not pa.types.is_large_binary(t) else v.hex()
        except UnicodeDecodeError:
            return v.hex()
    return v


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and (a == b or math.isclose(a, b, rel_tol=1e-12))
    return a == b


def check_swift_output(out):
    d = os.path.join(out, "arrow")
    expect = json.load(open(os.path.join(d, "expect.json")))
    for fname in sorted(os.listdir(d)):
        if fname.endswith(".json"):
            continue
        base = fname.split(".")[0].split("-")[0]
        data = open(os.path.join(d, fname), "rb").read()
        try:
            if fname.endswith(".arrow"):
                check(data[:8] == b"ARROW1\0\0" and data[-6:] == b"ARROW1", "%s: file magic" % fname)
                r = ipc.open_file(pa.py_buffer(data))
                batches = [r.get_batch(i) for i in range(r.num_record_batches)]
                check(r.num_record_batches == 1, "%s: %d record batches" % (fname, r.num_record_batches))
                schema = r.schema
            else:
                r = ipc.open_stream(pa.py_buffer(data))
                batches = list(r)
                schema = r.schema
            # message-level: metadata version V5 and one dictionary batch per categorical column (stream)
            if fname.endswith(".arrows"):
                mr = ipc.MessageReader.open_stream(pa.py_buffer(data))
                kinds = []
                while True:
                    try:
                        m = mr.read_next_message()
                    except StopIteration:
                        break
                    if m is None:
                        break
                    kinds.append(m.type)
                    check(m.metadata_version == ipc.MetadataVersion.V5, "%s: metadata version %s" % (fname, m.metadata_version))
                ndict = sum(1 for f in schema if pa.types.is_dictionary(f.type))
                check(kinds == ["schema"] + ["dictionary"] * ndict + ["record batch"], "%s: messages %r" % (fname, kinds))
            table = pa.Table.from_batches(batches, schema=schema)
            if base == "nocolumns":
                check(table.num_columns == 0 and table.num_rows == 9, "%s: %d rows %d columns" % (fname, table.num_rows, table.num_columns))
                continue
            exp = expect[base]
            for field in schema:
                want = WANT_TYPE[field.name]
                check(field.type == want, "%s: %s is %s, §10.1 says %s" % (fname, field.name, field.type, want))
                nullable_expected = base in ("nulls", "empty", "binary") and field.name not in DENSE
                check(field.nullable == nullable_expected, "%s: %s nullable=%s" % (fname, field.name, field.nullable))
                col = table.column(field.name)
                vals = [pyval(v, field.type) for v in col.to_pylist()] if not pa.types.is_timestamp(field.type) else \
                    [None if v is None else v for v in col.cast(pa.int64()).to_pylist()]
                check(all(same(a, b) for a, b in zip(vals, exp[field.name])) and len(vals) == len(exp[field.name]),
                      "%s: %s values %r != %r" % (fname, field.name, vals, exp[field.name]))
                for chunk in col.chunks:
                    if not field.nullable:
                        check(chunk.null_count == 0 and chunk.buffers()[0] is None, "%s: %s has a validity buffer" % (fname, field.name))
        except Exception as e:  # noqa: BLE001
            check(False, "%s: %s: %s" % (fname, type(e).__name__, e))


def write_py(dirpath):
    d = os.path.join(dirpath, "py-arrow")
    os.makedirs(d, exist_ok=True)
    t = pa.table({
        "i8": pa.array([1, None, -3], pa.int8()),
        "u32": pa.array([1, 2, 4000000000], pa.uint32()),
        "f16": pa.array([1.5, None, -2.0], pa.float16()),
        "f64": pa.array([0.1, 2.5, None]),
        "b": pa.array([True, False, None]),
        "ts_tz": pa.array([0, 1000, None], pa.timestamp("ms", tz="Europe/Paris")),
        "d32": pa.array([0, 1, 19000], pa.date32()),
        "d64": pa.array([0, 86400000, None], pa.date64()),
        "utf8": pa.array(["a", None, "é"], pa.string()),
        "bin": pa.array([b"\xff", b"", None], pa.binary()),
        "lutf8": pa.array(["x", "y", "z"], pa.large_string()),
        "view": pa.array(["short", None, "a string longer than twelve"], pa.string_view()),
        "bview": pa.array([b"\x00\x01", b"long binary view value!!", None], pa.binary_view()),
        "dict8": pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 0][:3], pa.int8()), pa.array(["p", "q"])),
        "dict64": pa.DictionaryArray.from_arrays(pa.array([2, 0, 2], pa.int64()), pa.array(["r", "s", "t"], pa.large_string())),
    })
    expect = {
        "i8": ["1", None, "-3"], "u32": ["1", "2", "4000000000"], "f16": ["1.5", None, "-2.0"], "f64": ["0.1", "2.5", None],
        "b": ["true", "false", None], "ts_tz": ["0", "1000", None], "d32": ["0", "86400", str(19000 * 86400)],
        "d64": ["0", "86400000", None], "utf8": ["a", None, "é"], "bin": ["\ufffd", "", None], "lutf8": ["x", "y", "z"],
        "view": ["short", None, "a string longer than twelve"], "bview": ["\x00\x01", "long binary view value!!", None],
        "dict8": ["p", "q", None], "dict64": ["t", "r", "t"],
    }
    for name, opts in [("plain", {}), ("lz4", {"compression": "lz4"}), ("zstd", {"compression": "zstd"})]:
        with ipc.new_file(os.path.join(d, name + ".arrow"), t.schema, options=ipc.IpcWriteOptions(**opts)) as w:
            w.write_table(t)
        with ipc.new_stream(os.path.join(d, name + ".arrows"), t.schema, options=ipc.IpcWriteOptions(**opts)) as w:
            w.write_table(t, max_chunksize=2)  # two batches
    # a dictionary delta in a stream
    s1 = pa.record_batch([pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int32()), pa.array(["a", "b"]))], names=["c"])
    s2 = pa.record_batch([pa.DictionaryArray.from_arrays(pa.array([2, 0], pa.int32()), pa.array(["a", "b", "c"]))], names=["c"])
    with ipc.new_stream(os.path.join(d, "delta.arrows"), s1.schema, options=ipc.IpcWriteOptions(emit_dictionary_deltas=True)) as w:
        w.write_batch(s1)
        w.write_batch(s2)
    # unsupported: a list column (§10.2: invalidArgument)
    with ipc.new_file(os.path.join(d, "list-unsupported.arrow"), pa.schema([("l", pa.list_(pa.int64()))])) as w:
        w.write_table(pa.table({"l": pa.array([[1], [2, 3]])}))
    json.dump({"expect": expect}, open(os.path.join(d, "expect.json"), "w"))


def check_swift_read(dirpath):
    expect = json.load(open(os.path.join(dirpath, "py-arrow", "expect.json")))["expect"]
    seen = 0
    for line in open(os.path.join(dirpath, "swift-read.jsonl")):
        r = json.loads(line)
        if not r["file"].startswith("arrow/"):
            continue
        seen += 1
        name = r["file"][6:]
        if name.startswith("list-unsupported"):
            check(not r["ok"] and r["code"] in ("invalidArgument", "invalid argument"), "%s: %r" % (name, r))
            continue
        if name.startswith("delta"):
            check(r["ok"] and r["value"]["columns"]["c"]["values"] == ["a", "b", "c", "a"], "%s: %r" % (name, r))
            continue
        if not r["ok"]:
            check(False, "%s: %r" % (name, r))
            continue
        cols = r["value"]["columns"]
        check(r["value"]["rows"] == 3, "%s rows" % name)
        for c, want in expect.items():
            got = cols.get(c, {}).get("values")
            ok = got is not None and len(got) == len(want) and all(
                a == b or (a is not None and b is not None and _num(a) is not None and _num(a) == _num(b)) for a, b in zip(got, want))
            check(ok, "%s: %s (%s) = %r, want %r" % (name, c, cols.get(c, {}).get("type"), got, want))
    check(seen == 8, "swift read %d arrow files" % seen)


def _num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


if __name__ == "__main__":
    if sys.argv[1] == "--write":
        write_py(sys.argv[2])
        sys.exit(0)
    if sys.argv[1] == "--check":
        check_swift_read(sys.argv[2])
    else:
        check_swift_output(sys.argv[1])
    sys.exit(TALLY.summary())
