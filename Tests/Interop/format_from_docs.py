#!/usr/bin/env python3
"""A reader (and a small writer) of swift-partd's on-disk formats, written from docs/format.md alone.

Clean room: nothing here was taken from Sources/. Where the document left a choice open, the guess is
recorded in Tests/Interop/format_check_notes.md (G1...) and referred to below.

Usage:
  format_from_docs.py dump STORE            walk a directory store, decode every key, print a summary
  format_from_docs.py json STORE            the same as JSON (used by check_samples.py)
  format_from_docs.py hash                  print the §7 test vectors computed here
  format_from_docs.py write DIR             write frames per the document for Swift to read back

Needs: numpy, msgpack, and xxhash (XXH3-64). Codecs: zlib, bz2 (stdlib); snappy (python-snappy or
cramjam); zstd, lz4 block (zstandard / lz4 or cramjam); blosc (python-blosc). A codec whose module is
missing is reported as skipped, not as an error.
"""
import bz2
import io
import json
import os
import re
import struct
import sys
import zlib

import numpy as np

try:
    import xxhash

    def xxh3(data, seed=0):
        return xxhash.xxh3_64_intdigest(bytes(data), seed)
except ImportError:  # pragma: no cover
    xxh3 = None

try:
    import msgpack
except ImportError:  # pragma: no cover
    msgpack = None

try:
    import cramjam
except ImportError:  # pragma: no cover
    cramjam = None

M64 = (1 << 64) - 1


class FormatError(Exception):
    pass


# --------------------------------------------------------------------------------------------------
# §2 key file names

UNRESERVED = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


class Tup(tuple):
    """A tuple key (so that it is not confused with other Python tuples)."""

    def __repr__(self):
        return "Tup" + tuple.__repr__(self)



class Tally:
    """Counts the checks of one script, prints each failure, and closes with 'N passed, N failed'."""

    def __init__(self):
        self.passed = self.failed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL:", what)

    def summary(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 1 if self.failed else 0


def encode_key(key):
    """§2.1: the file name of a key (str, int or Tup)."""
    if isinstance(key, bool):
        raise TypeError("bool is not a key")
    if isinstance(key, int):
        if not -(1 << 63) <= key < (1 << 63):
            raise ValueError("integer key out of Int64 range")
        return "%i" + str(key)
    if isinstance(key, str):
        b = key.encode("utf-8")
        if b and b[0] != ord(".") and all(c in UNRESERVED for c in b):
            return key
        return "%s" + "".join(chr(c) if c in UNRESERVED else "%%%02X" % c for c in b)
    if isinstance(key, tuple):
        return "%t(" + ",".join(encode_key(k) for k in key) + ")"
    raise TypeError("not a key: %r" % (key,))


def _parse_key(name, i):
    """Parse one key-name at name[i:], return (key, next index). Raises FormatError."""
    if name.startswith("%s", i):
        j = i + 2
        out = bytearray()
        while j < len(name):
            c = name[j]
            if c == "%":
                h = name[j + 1:j + 3]
                if len(h) != 2 or not re.fullmatch(r"[0-9A-F]{2}", h):
                    break  # not a pct-encoded byte: the string ends here
                out.append(int(h, 16))
                j += 3
            elif ord(c) < 128 and ord(c) in UNRESERVED:
                out.append(ord(c))
                j += 1
            else:
                break
        try:
            return out.decode("utf-8"), j
        except UnicodeDecodeError:
            raise FormatError("percent-decoded bytes are not UTF-8")
    if name.startswith("%i", i):
        m = re.compile(r"-?[0-9]+").match(name, i + 2)
        if not m:
            raise FormatError("integer without digits")
        return int(m.group(0)), m.end()
    if name.startswith("%t(", i):
        j = i + 3
        items = []
        if j < len(name) and name[j] == ")":
            return Tup(), j + 1
        while True:
            k, j = _parse_key(name, j)
            items.append(k)
            if j < len(name) and name[j] == ",":
                j += 1
                continue
            if j < len(name) and name[j] == ")":
                return Tup(items), j + 1
            raise FormatError("unterminated tuple")
    if i < len(name) and name[i] != "%" and name[i] != "." and ord(name[i]) < 128 and ord(name[i]) in UNRESERVED:
        j = i
        while j < len(name) and ord(name[j]) < 128 and ord(name[j]) in UNRESERVED:
            j += 1
        return name[i:j], j
    raise FormatError("no key-name at %d" % i)


def decode_file_name(name):
    """§2.2-2.3: the key a canonical file name stands for, or None for a foreign name."""
    if not name or name.startswith(".") or len(name.encode("utf-8", "surrogateescape")) > 255:
        return None
    try:
        key, end = _parse_key(name, 0)
    except FormatError:
        return None
    if end != len(name):
        return None
    try:
        if encode_key(key) != name:  # canonical: encoding the key again gives the same name
            return None
    except (ValueError, TypeError):
        return None
    return key


# --------------------------------------------------------------------------------------------------
# §4 compressed frames

CODECS = {0: "none", 1: "zlib", 2: "bz2", 3: "snappy", 4: "zstd", 5: "lz4", 6: "blosc"}
MAX_ORIGINAL = 16 * 1024 * 1024


def _codec_module(codec):
    """A decompress(payload, original_length) function for the codec, or None if no module has it."""
    if codec == 0:
        return lambda p, n: bytes(p)
    if codec == 1:
        return lambda p, n: zlib.decompress(p)
    if codec == 2:
        return lambda p, n: bz2.decompress(p)
    if codec == 3:
        try:
            import snappy
            return lambda p, n: snappy.uncompress(bytes(p))
        except ImportError:
            if cramjam:
                return lambda p, n: bytes(cramjam.snappy.decompress_raw(bytes(p)))
            return None
    if codec == 4:
        try:
            import zstandard
            return lambda p, n: zstandard.ZstdDecompressor().decompress(bytes(p), max_output_size=n)
        except ImportError:
            if cramjam:
                return lambda p, n: bytes(cramjam.zstd.decompress(bytes(p)))
            return None
    if codec == 5:
        try:
            import lz4.block
            return lambda p, n: lz4.block.decompress(bytes(p), uncompressed_size=n)
        except ImportError:
            if cramjam:
                return lambda p, n: bytes(cramjam.lz4.decompress_block(bytes(p), output_len=n))
            return None
    if codec == 6:
        try:
            import blosc
            return lambda p, n: blosc.decompress(bytes(p))
        except ImportError:
            return None
    return None


def _codec_compress(codec, chunk, level=6):
    if codec == 0:
        return bytes(chunk)
    if codec == 1:
        return zlib.compress(chunk, level)
    if codec == 2:
        return bz2.compress(chunk, max(1, min(9, level)))
    if codec == 3:
        try:
            import snappy
            return snappy.compress(bytes(chunk))
        except ImportError:
            return bytes(cramjam.snappy.compress_raw(bytes(chunk)))
    if codec == 4:
        try:
            import zstandard
            return zstandard.ZstdCompressor().compress(bytes(chunk))
        except ImportError:
            return bytes(cramjam.zstd.compress(bytes(chunk)))
    if codec == 5:
        try:
            import lz4.block
            return lz4.block.compress(bytes(chunk), store_size=False)
        except ImportError:
            return bytes(cramjam.lz4.compress_block(bytes(chunk), store_size=False))
    if codec == 6:
        import blosc
        return blosc.compress(bytes(chunk), typesize=1, clevel=5, shuffle=blosc.SHUFFLE, cname="blosclz")
    raise ValueError(codec)


def decode_compressed(data, stats=None):
    """§4.3: decode a key's PDZF frames; returns the joined bytes. stats counts frames per codec."""
    out = bytearray()
    off = 0
    mv = memoryview(data)
    while off < len(data):
        if len(data) - off < 32:
            raise FormatError("compressed frame at %d: header cut short" % off)
        hdr = bytes(mv[off:off + 32])
        if hdr[0:4] != b"PDZF":
            raise FormatError("compressed frame at %d: bad magic %r" % (off, hdr[0:4]))
        version, codec, flags, reserved = hdr[4], hdr[5], hdr[6], hdr[7]
        if version != 1:
            raise FormatError("compressed frame at %d: version %d" % (off, version))
        if codec not in CODECS:
            raise FormatError("compressed frame at %d: unknown codec %d" % (off, codec))
        if flags != 0 or reserved != 0:
            raise FormatError("compressed frame at %d: flags/reserved not zero" % off)
        orig, stored, checksum = struct.unpack_from("<QQQ", hdr, 8)
        if orig > MAX_ORIGINAL:
            raise FormatError("compressed frame at %d: original length %d > 16 MiB" % (off, orig))
        if stored > len(data) - off - 32:
            raise FormatError("compressed frame at %d: stored length past the end" % off)
        if stored > orig + orig // 4 + 4096:
            raise FormatError("compressed frame at %d: stored length too large" % off)
        payload = mv[off + 32:off + 32 + stored]
        expect = xxh3(payload, xxh3(hdr[0:24]))
        if expect != checksum:
            raise FormatError("compressed frame at %d: checksum %016x != %016x" % (off, checksum, expect))
        if codec == 0 and stored != orig:  # G10
            raise FormatError("compressed frame at %d: codec none with stored != original" % off)
        fn = _codec_module(codec)
        if fn is None:
            if stats is not None:
                stats.setdefault("skipped_codecs", set()).add(CODECS[codec])
            raise SkipCodec(CODECS[codec])
        chunk = fn(payload, orig)
        if len(chunk) != orig:
            raise FormatError("compressed frame at %d: decoded %d bytes, header says %d" % (off, len(chunk), orig))
        out += chunk
        if stats is not None:
            stats.setdefault("codec_frames", {}).setdefault(CODECS[codec], 0)
            stats["codec_frames"][CODECS[codec]] += 1
        off += 32 + stored
    return bytes(out)


class SkipCodec(Exception):
    pass


def compressed_frame(chunk, codec, level=6):
    """§4.1: one PDZF frame of chunk (≤ 16 MiB) with the given codec (stored as none if not smaller)."""
    payload = _codec_compress(codec, chunk, level)
    if codec != 0 and len(payload) >= len(chunk):
        codec, payload = 0, bytes(chunk)
    hdr = b"PDZF" + bytes([1, codec, 0, 0]) + struct.pack("<QQ", len(chunk), len(payload))
    return hdr + struct.pack("<Q", xxh3(payload, xxh3(hdr))) + payload


# --------------------------------------------------------------------------------------------------
# §5 value frames

def decode_values(data):
    """§5: split a key's bytes into value-frame payloads."""
    out = []
    off = 0
    mv = memoryview(data)
    while off < len(data):
        if len(data) - off < 24:
            raise FormatError("value frame at %d: header cut short" % off)
        hdr = bytes(mv[off:off + 24])
        if hdr[0:4] != b"PDVF":
            raise FormatError("value frame at %d: bad magic %r" % (off, hdr[0:4]))
        if hdr[4] != 1:
            raise FormatError("value frame at %d: version %d" % (off, hdr[4]))
        if hdr[5] != 0 or hdr[6:8] != b"\0\0":
            raise FormatError("value frame at %d: flags/reserved not zero" % off)
        length, checksum = struct.unpack_from("<QQ", hdr, 8)
        if length > len(data) - off - 24:
            raise FormatError("value frame at %d: length past the end" % off)
        payload = bytes(mv[off + 24:off + 24 + length])
        expect = xxh3(payload, xxh3(hdr[0:16]))
        if expect != checksum:
            raise FormatError("value frame at %d: checksum %016x != %016x" % (off, checksum, expect))
        out.append((off, payload))
        off += 24 + length
    return out


def value_frame(payload):
    hdr = b"PDVF" + bytes([1, 0, 0, 0]) + struct.pack("<Q", len(payload))
    return hdr + struct.pack("<Q", xxh3(payload, xxh3(hdr))) + payload


def decode_partd_frames(data):
    """§6.4 ListFraming.partd: 8-byte little-endian length, then the payload."""
    out = []
    off = 0
    while off < len(data):
        if len(data) - off < 8:
            raise FormatError("partd frame at %d cut short" % off)
        (n,) = struct.unpack_from("<Q", data, off)
        if n > len(data) - off - 8:
            raise FormatError("partd frame at %d: length past the end" % off)
        out.append((off, bytes(data[off + 8:off + 8 + n])))
        off += 8 + n
    return out


# --------------------------------------------------------------------------------------------------
# §6.1 npy

NPY_DTYPES = {"|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8",
              "<M8[s]", "<M8[ms]", "<M8[us]", "<M8[ns]"}


def _npy_equiv(descr):
    """'=' means native; also accept '<'/'|' spellings of the same type."""
    if descr.startswith("="):
        for p in ("<", "|"):
            if p + descr[1:] in NPY_DTYPES:
                return p + descr[1:]
    if descr in NPY_DTYPES:
        return descr
    return None


def decode_npy(payload, strict_written=True):
    """§6.1: returns a numpy array. strict_written also checks the header is exactly what is written."""
    if payload[0:6] != b"\x93NUMPY":
        raise FormatError("npy: bad magic")
    major, minor = payload[6], payload[7]
    if (major, minor) == (1, 0):
        (hl,) = struct.unpack_from("<H", payload, 8)
        start = 10
    elif (major, minor) in ((2, 0), (3, 0)):
        (hl,) = struct.unpack_from("<I", payload, 8)
        start = 12
    else:
        raise FormatError("npy: version %d.%d" % (major, minor))
    header = payload[start:start + hl].decode("latin-1")
    if (start + hl) % 64 != 0:
        raise FormatError("npy: header end %d not a multiple of 64" % (start + hl))
    if not header.endswith("\n"):
        raise FormatError("npy: header does not end in LF")
    m = re.fullmatch(r"\{'descr': '([^']*)', 'fortran_order': False, 'shape': \(([^)]*)\), \} *\n", header)
    if strict_written and (major, minor) == (1, 0):
        if not m:
            raise FormatError("npy: header is not the exact written form: %r" % header)
        shape_text = m.group(2)
        dims = [d.strip() for d in shape_text.split(",") if d.strip()]
        want = ("%s," % dims[0]) if len(dims) == 1 else ", ".join(dims)
        if shape_text != want:
            raise FormatError("npy: shape text %r, document says %r" % (shape_text, want))
    arr = np.load(io.BytesIO(payload), allow_pickle=False)
    descr = np.lib.format.dtype_to_descr(arr.dtype)
    if _npy_equiv(descr) is None:
        raise FormatError("npy: dtype %r not in the table" % descr)
    if arr.ndim < 1:
        raise FormatError("npy: no axis")
    if arr.dtype == np.bool_ and not np.all(np.frombuffer(payload[start + hl:], np.uint8) <= 1):
        raise FormatError("npy: b1 byte not 0/1")
    if len(payload) - start - hl != arr.size * arr.dtype.itemsize:
        raise FormatError("npy: element bytes do not match the shape")
    return arr


def npy_bytes(arr):
    """§6.1 as written: exactly the documented header."""
    arr = np.ascontiguousarray(arr)
    descr = np.lib.format.dtype_to_descr(arr.dtype)
    shape = ("%d," % arr.shape[0]) if arr.ndim == 1 else ", ".join(str(d) for d in arr.shape)
    h = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, shape)
    total = 10 + len(h) + 1
    pad = (64 - total % 64) % 64
    h = h + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode("ascii") + arr.tobytes()


# --------------------------------------------------------------------------------------------------
# §6.2 string arrays

def decode_string_array(payload):
    if payload[0:4] != b"PDSA" or payload[4] != 1 or payload[5:8] != b"\0\0\0":
        raise FormatError("PDSA header")
    n, d = struct.unpack_from("<QQ", payload, 8)
    if 24 + 8 * (n + 1) + d != len(payload):
        raise FormatError("PDSA: 24 + 8(n+1) + d = %d != %d" % (24 + 8 * (n + 1) + d, len(payload)))
    offs = struct.unpack_from("<%dq" % (n + 1), payload, 24)
    if offs[0] != 0 or offs[-1] != d or any(b < a for a, b in zip(offs, offs[1:])):
        raise FormatError("PDSA: bad offsets")
    base = 24 + 8 * (n + 1)
    return [bytes(payload[base + offs[i]:base + offs[i + 1]]) for i in range(n)]


def string_array_bytes(strings):
    data = b"".join(strings)
    offs = [0]
    for s in strings:
        offs.append(offs[-1] + len(s))
    return (b"PDSA" + bytes([1, 0, 0, 0]) + struct.pack("<QQ", len(strings), len(data))
            + struct.pack("<%dq" % len(offs), *offs) + data)


# --------------------------------------------------------------------------------------------------
# §6.3 tables

TYPE_NAMES = {1: "bool", 2: "int8", 3: "int16", 4: "int32", 5: "int64", 6: "uint8", 7: "uint16",
              8: "uint32", 9: "uint64", 10: "float16", 11: "float32", 12: "float64", 13: "timestamp",
              14: "large_string", 15: "categorical", 16: "string"}
NUMPY_OF = {2: "<i1", 3: "<i2", 4: "<i4", 5: "<i8", 6: "<u1", 7: "<u2", 8: "<u4", 9: "<u8",
            10: "<f2", 11: "<f4", 12: "<f8", 13: "<i8"}
UNITS = {0: "s", 1: "ms", 2: "us", 3: "ns"}


def _align8(n):
    return (n + 7) & ~7


def _bits(buf, rows):
    return [bool(buf[i >> 3] >> (i & 7) & 1) for i in range(rows)]


def _strings(offs_buf, data, rows, width):
    fmt = "<%d%s" % (rows + 1, "q" if width == 8 else "i")
    if len(offs_buf) != width * (rows + 1):
        raise FormatError("string offsets length %d for %d rows" % (len(offs_buf), rows))
    offs = struct.unpack(fmt, offs_buf)
    if offs[0] != 0 or offs[-1] != len(data) or any(b < a for a, b in zip(offs, offs[1:])):
        raise FormatError("string offsets do not run 0..len(data)")
    return [bytes(data[offs[i]:offs[i + 1]]) for i in range(rows)]


def decode_table(payload):
    """§6.3: returns (rows, [column dicts])."""
    if payload[0:4] != b"PDTB" or payload[4] != 1 or payload[5:8] != b"\0\0\0":
        raise FormatError("PDTB header")
    (rows,) = struct.unpack_from("<Q", payload, 8)
    ncols, dbytes = struct.unpack_from("<II", payload, 16)
    if ncols and rows > 8 * len(payload):
        raise FormatError("too many rows for the payload")
    p = 24
    descs = []
    for _ in range(ncols):
        (nl,) = struct.unpack_from("<H", payload, p)
        name = bytes(payload[p + 2:p + 2 + nl])
        p += 2 + nl
        code, flags, unit, nbuf = payload[p], payload[p + 1], payload[p + 2], payload[p + 3]
        p += 4
        lens = struct.unpack_from("<%dQ" % nbuf, payload, p)
        p += 8 * nbuf
        descs.append((name, code, flags, unit, lens))
    if p != 24 + dbytes:  # G3
        raise FormatError("descriptor bytes %d, descriptors took %d" % (dbytes, p - 24))
    if payload[p:_align8(p)] != b"\0" * (_align8(p) - p):
        raise FormatError("descriptor padding not zero")
    p = _align8(p)
    names = [d[0] for d in descs]
    if len(set(names)) != len(names):
        raise FormatError("column names repeat")
    cols = []
    for name, code, flags, unit, lens in descs:
        if code not in TYPE_NAMES:
            raise FormatError("unknown type code %d" % code)
        if flags & ~1:
            raise FormatError("flag bits other than 0 set")
        nullable = bool(flags & 1)
        if code != 13 and unit != 0:
            raise FormatError("unit byte %d on a non-timestamp" % unit)
        if code == 13 and unit not in UNITS:
            raise FormatError("unit %d" % unit)
        want = {14: 2, 16: 2, 15: 3}.get(code, 1) + (1 if nullable else 0)  # G4
        if len(lens) != want:
            raise FormatError("column %r: %d buffers, type implies %d" % (name, len(lens), want))
        bufs = []
        for ln in lens:
            if p + ln > len(payload):
                raise FormatError("buffer past the payload")
            bufs.append(bytes(payload[p:p + ln]))
            pad = _align8(p + ln)
            if payload[p + ln:pad] != b"\0" * (pad - p - ln):
                raise FormatError("buffer padding not zero")
            p = pad
        validity = None
        if nullable:
            vb = bufs.pop(0)
            if len(vb) != (rows + 7) // 8:  # G2
                raise FormatError("column %r: validity %d bytes for %d rows" % (name, len(vb), rows))
            validity = _bits(vb, rows)
            if rows % 8 and vb and vb[-1] >> (rows % 8):
                raise FormatError("column %r: validity bits past rows are not 0" % name)
        col = {"name": name.decode("utf-8"), "type": TYPE_NAMES[code], "nullable": nullable}
        if code == 1:
            if len(bufs[0]) != (rows + 7) // 8:
                raise FormatError("bool values length")
            vals = _bits(bufs[0], rows)
        elif code in NUMPY_OF:
            dt = np.dtype(NUMPY_OF[code])
            if len(bufs[0]) != rows * dt.itemsize:
                raise FormatError("column %r: values %d bytes for %d rows" % (name, len(bufs[0]), rows))
            arr = np.frombuffer(bufs[0], dt)
            vals = arr.tolist()
            if code == 13:
                col["unit"] = UNITS[unit]
        elif code in (14, 16):
            vals = _strings(bufs[0], bufs[1], rows, 8 if code == 14 else 4)
        elif code == 15:
            if len(bufs[0]) != 4 * rows:
                raise FormatError("categorical codes length")
            codes = struct.unpack("<%di" % rows, bufs[0])
            if len(bufs[1]) % 8 or len(bufs[1]) < 8 and not (len(bufs[1]) == 0):
                raise FormatError("category offsets length")
            k = len(bufs[1]) // 8 - 1 if bufs[1] else 0
            cats = _strings(bufs[1], bufs[2], k, 8) if k >= 0 and bufs[1] else []
            col["categories"] = cats
            vals = []
            for i, c in enumerate(codes):
                if validity is not None and not validity[i]:
                    vals.append(None)
                    continue
                if not 0 <= c < k:
                    raise FormatError("categorical code %d outside 0..<%d" % (c, k))
                vals.append(cats[c])
        if validity is not None:
            vals = [v if ok else None for v, ok in zip(vals, validity)]
        col["values"] = vals
        cols.append(col)
    if p != len(payload):
        raise FormatError("buffers end at %d, payload is %d bytes" % (p, len(payload)))
    return rows, cols


def table_bytes(rows, columns):
    """§6.3 writer. columns: list of (name, code, nullable, unit, values); values None for nulls.
    Strings/categories are bytes or str."""
    descs = b""
    bufs = []
    for name, code, nullable, unit, values in columns:
        nb = name.encode("utf-8")
        cbufs = []
        if nullable:
            bm = bytearray((rows + 7) // 8)
            for i, v in enumerate(values):
                if v is not None:
                    bm[i >> 3] |= 1 << (i & 7)
            cbufs.append(bytes(bm))
        if code == 1:
            bm = bytearray((rows + 7) // 8)
            for i, v in enumerate(values):
                if v:
                    bm[i >> 3] |= 1 << (i & 7)
            cbufs.append(bytes(bm))
        elif code in NUMPY_OF:
            cbufs.append(np.array([0 if v is None else v for v in values], NUMPY_OF[code]).tobytes())
        elif code in (14, 16):
            ss = [b"" if v is None else (v.encode() if isinstance(v, str) else v) for v in values]
            offs = [0]
            for s in ss:
                offs.append(offs[-1] + len(s))
            cbufs.append(struct.pack("<%d%s" % (len(offs), "q" if code == 14 else "i"), *offs))
            cbufs.append(b"".join(ss))
        elif code == 15:
            cats = []
            codes = []
            for v in values:
                if v is None:
                    codes.append(0)
                    continue
                b = v.encode() if isinstance(v, str) else v
                if b not in cats:
                    cats.append(b)
                codes.append(cats.index(b))
            offs = [0]
            for s in cats:
                offs.append(offs[-1] + len(s))
            cbufs += [struct.pack("<%di" % rows, *codes), struct.pack("<%dq" % len(offs), *offs), b"".join(cats)]
        descs += struct.pack("<H", len(nb)) + nb + bytes([code, 1 if nullable else 0, unit, len(cbufs)])
        descs += b"".join(struct.pack("<Q", len(b)) for b in cbufs)
        bufs += cbufs
    out = bytearray(b"PDTB" + bytes([1, 0, 0, 0]) + struct.pack("<QII", rows, len(columns), len(descs)) + descs)
    out += b"\0" * (_align8(len(out)) - len(out))
    for b in bufs:
        out += b
        out += b"\0" * (_align8(len(out)) - len(out))
    return bytes(out)


# --------------------------------------------------------------------------------------------------
# §6.4 lists

def decode_list(payload):
    if not payload:
        raise FormatError("empty list payload")
    b = payload[0]
    if 0x90 <= b <= 0x9F or b in (0xDC, 0xDD):
        return "msgpack", msgpack.unpackb(payload, raw=False, strict_map_key=False)
    if b == ord("["):
        return "json", json.loads(payload.decode("utf-8"))
    if b == 0x80:
        raise FormatError("pickle payload refused")
    raise FormatError("list payload starts with 0x%02x" % b)


# --------------------------------------------------------------------------------------------------
# typed payloads

def decode_typed(payload):
    """G7: tell the payload kind by its first bytes."""
    if payload[0:6] == b"\x93NUMPY":
        return "npy", decode_npy(payload)
    if payload[0:4] == b"PDSA":
        return "strings", decode_string_array(payload)
    if payload[0:4] == b"PDTB":
        return "table", decode_table(payload)
    kind, v = decode_list(payload)
    return "list-" + kind, v


def read_key(path, stats):
    """Decode one key file through every layer it has: PDZF -> PDVF -> typed payloads."""
    with open(path, "rb") as f:
        data = f.read()
    layers = []
    if data[0:4] == b"PDZF":
        data = decode_compressed(data, stats)
        layers.append("compressed")
    if data[0:4] == b"PDVF":
        frames = decode_values(data)
        layers.append("value")
        stats["value_frames"] = stats.get("value_frames", 0) + len(frames)
        typed = []
        for off, payload in frames:
            try:
                typed.append(decode_typed(payload))
            except FormatError as e:
                if payload[:1] in (b"\x93",) or payload[:4] in (b"PDSA", b"PDTB"):
                    raise FormatError("typed payload in frame at %d: %s" % (off, e))
                typed.append(("bytes", payload))
        return layers, typed
    return layers, [("bytes", data)]


def walk_store(root):
    """§1-2: list the keys of a directory store and the entries skipped."""
    keys, foreign = [], []
    for name in sorted(os.listdir(root)):
        full = os.path.join(root, name)
        if name.startswith("."):
            continue
        if os.path.isdir(full):
            foreign.append(name)
            continue
        key = decode_file_name(name)
        if key is None:
            foreign.append(name)
        else:
            keys.append((name, key))
    return keys, foreign


# --------------------------------------------------------------------------------------------------
# §7 partition hash

NULL_HASH = 0x6E756C6C6E756C6C


def mix(x):
    z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def hash_value(v):
    """One value: None, bool, int (signed or unsigned Python int), float, str, bytes."""
    if v is None:
        return NULL_HASH
    if isinstance(v, (bool, np.bool_)):
        return mix(int(v))
    if isinstance(v, (int, np.integer)):
        return mix(int(v) & M64)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if f != f:
            return mix(0x7FF8000000000000)
        if f.is_integer() and -(2.0 ** 63) <= f < 2.0 ** 63:
            return mix(int(f) & M64)
        return mix(struct.unpack("<Q", struct.pack("<d", f))[0])
    if isinstance(v, str):
        return xxh3(v.encode("utf-8"), 0)
    if isinstance(v, (bytes, bytearray)):
        return xxh3(bytes(v), 0)
    if isinstance(v, np.datetime64):
        return mix(int(v.astype(np.int64)) & M64)
    raise TypeError(type(v))


def rotl1(h):
    return ((h << 1) | (h >> 63)) & M64


def hash_row(values):
    values = list(values)
    h = hash_value(values[0])
    for v in values[1:]:
        h = mix(rotl1(h) ^ hash_value(v))
    return h


def partition(h, n):
    return (h * n) >> 64


TEST_VECTORS = [
    ("Int64 0", [0], 0x0000000000000000),
    ("Int64 1", [1], 0x5692161D100B05E5),
    ("Int64 -1", [-1], 0xB4D055FCF2CBBD7B),
    ("Int64 123456789", [123456789], 0xF21C87D4233FFD60),
    ("Float64 1.5", [1.5], 0xE72B41D4576E3468),
    ('string ""', [""], 0x2D06800538D394C2),
    ('string "abc"', ["abc"], 0x78AF5F94892F3950),
    ('row (Int64 1, "abc")', [1, "abc"], 0x4C5F9F6F13F8A908),
]


# --------------------------------------------------------------------------------------------------
# CLI

def _jsonable(x):
    if isinstance(x, bytes):
        try:
            return x.decode("utf-8")
        except UnicodeDecodeError:
            return {"bytes_hex": x.hex()}
    if isinstance(x, np.ndarray):
        if x.dtype.kind == "M":
            return {"dtype": np.lib.format.dtype_to_descr(x.dtype), "shape": list(x.shape),
                    "values": x.astype(np.int64).tolist()}
        if x.dtype == np.float16:
            return {"dtype": "<f2", "shape": list(x.shape), "values": x.astype(np.float64).tolist()}
        return {"dtype": np.lib.format.dtype_to_descr(x.dtype), "shape": list(x.shape), "values": x.tolist()}
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return repr(x)
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def read_store(root):
    stats = {}
    keys, foreign = walk_store(root)
    result = {"keys": [], "foreign": foreign, "errors": []}
    for name, key in keys:
        try:
            layers, typed = read_key(os.path.join(root, name), stats)
            result["keys"].append({"file": name, "key": key, "layers": layers, "frames": typed})
        except SkipCodec as e:
            result["keys"].append({"file": name, "key": key, "skipped": "codec %s" % e})
        except Exception as e:  # noqa: BLE001 - report every failure
            result["errors"].append({"file": name, "key": repr(key), "error": "%s: %s" % (type(e).__name__, e)})
    result["stats"] = stats
    return result


def _keyjson(k):
    if isinstance(k, Tup):
        return {"tuple": [_keyjson(x) for x in k]}
    if isinstance(k, int):
        return {"int": k}
    return k


def main(argv):
    if len(argv) >= 2 and argv[1] == "hash":
        bad = 0
        for label, row, want in TEST_VECTORS:
            got = hash_row(row)
            print("%-24s %016X %s" % (label, got, "ok" if got == want else "MISMATCH want %016X" % want))
            bad += got != want
        print("partition of Int64 1 among 64:", partition(hash_row([1]), 64))
        return 1 if bad else 0
    if len(argv) >= 3 and argv[1] in ("dump", "json"):
        res = read_store(argv[2])
        if argv[1] == "json":
            out = dict(res)
            out["keys"] = [dict(k, key=_keyjson(k["key"]), frames=_jsonable(k.get("frames", [])))
                           for k in res["keys"]]
            out["stats"] = _jsonable({k: (sorted(v) if isinstance(v, set) else v) for k, v in res["stats"].items()})
            json.dump(out, sys.stdout, indent=1, default=str)
            return 1 if res["errors"] else 0
        for k in res["keys"]:
            kinds = [t for t, _ in k.get("frames", [])]
            print("%-40s %-30r %s %s" % (k["file"], k["key"], "/".join(k.get("layers", [])) or "raw",
                                         k.get("skipped") or ",".join(kinds)))
        for f in res["foreign"]:
            print("foreign:", f)
        for e in res["errors"]:
            print("ERROR:", e)
        print("stats:", res["stats"])
        return 1 if res["errors"] else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
