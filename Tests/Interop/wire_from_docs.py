#!/usr/bin/env python3
"""A client of swift-partd's wire protocol (docs/format.md §8) written from the document alone.

  wire_from_docs.py PARTD_BINARY WORKDIR

starts `PARTD_BINARY serve --path WORKDIR/wire-store --socket WORKDIR/wire.sock --token secret`, speaks the
protocol over the Unix socket (handshake, every request kind, pipelining, errors), asks it to shut down,
then reads the store's directory with format_from_docs.py (§1-2). Prints 'N passed, N failed'.
"""
import os
import shutil
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import format_from_docs as F  # noqa: E402

HELLO, APPEND, GET, DELETE, DROP, SETONCE, KEYS, CONTAINS, BYTECOUNT, VALIDATE, SYNC, SHUTDOWN = (
    0x01, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A)
OK, ERROR = 0x80, 0xFF
CODES = ["notFound", "permissionDenied", "diskFull", "notADirectory", "isADirectory", "tooManyOpenFiles",
         "readOnlyFileSystem", "fileTooLarge", "invalidKey", "keyTooLong", "corruptData", "closed",
         "invalidArgument", "alreadyExists", "spillFailed", "compressionFailed", "typeMismatch", "io",
         "connectionFailed", "protocolViolation", "unauthorized"]

TALLY = F.Tally()
check = TALLY.check


def enc_key(k):
    if isinstance(k, F.Tup):
        return b"\x02" + struct.pack("<I", len(k)) + b"".join(enc_key(x) for x in k)
    if isinstance(k, int):
        return b"\x01" + struct.pack("<q", k)
    b = k.encode("utf-8")
    return b"\x00" + struct.pack("<I", len(b)) + b


def dec_key(buf, p):
    t = buf[p]
    if t == 0:
        (n,) = struct.unpack_from("<I", buf, p + 1)
        return buf[p + 5:p + 5 + n].decode("utf-8"), p + 5 + n
    if t == 1:
        return struct.unpack_from("<q", buf, p + 1)[0], p + 9
    if t == 2:
        (n,) = struct.unpack_from("<I", buf, p + 1)
        p += 5
        items = []
        for _ in range(n):
            k, p = dec_key(buf, p)
            items.append(k)
        return F.Tup(items), p
    raise ValueError("key tag %d" % t)


def enc_keys(keys):
    return struct.pack("<I", len(keys)) + b"".join(enc_key(k) for k in keys)


def enc_bytes(b):
    return struct.pack("<Q", len(b)) + b


def enc_string(s):
    b = s.encode("utf-8")
    return struct.pack("<I", len(b)) + b


def frame(kind, fid, body=b""):
    return struct.pack("<QBI", 5 + len(body), kind, fid) + body


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(out), n))
        out += chunk
    return out


def recv_frame(s):
    length, kind, fid = struct.unpack("<QBI", recv_exact(s, 13))
    return kind, fid, recv_exact(s, length - 5)


def dec_error(body):
    code = body[0]
    (n,) = struct.unpack_from("<I", body, 1)
    msg = body[5:5 + n].decode("utf-8")
    p = 5 + n
    key = None
    if body[p]:
        key, p = dec_key(body, p + 1)
    else:
        p += 1
    (n,) = struct.unpack_from("<I", body, p)
    path = body[p + 4:p + 4 + n].decode("utf-8")
    p += 4 + n
    (errno,) = struct.unpack_from("<i", body, p)
    check(p + 4 == len(body), "error body has %d bytes after errno" % (len(body) - p - 4))
    return {"code": CODES[code] if code < len(CODES) else "io", "message": msg, "key": key, "path": path, "errno": errno}


def connect(sock_path, token="secret", limit=None, raw_hello=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock_path)
    body = raw_hello if raw_hello is not None else (b"PDWP" + struct.pack("<H", 1) + enc_string(token)
                                                    + (struct.pack("<Q", limit) if limit is not None else b""))
    s.sendall(frame(HELLO, 0, body))
    return s, recv_frame(s)


def expect_closed(s):
    try:
        s.settimeout(5)
        return s.recv(1) == b""
    except (ConnectionResetError, OSError):
        return True


def main(binary, work):
    shutil.rmtree(os.path.join(work, "wire-store"), ignore_errors=True)
    sock_path = os.path.join(work, "wire.sock")
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    server = subprocess.Popen([binary, "serve", "--path", os.path.join(work, "wire-store"), "--socket", sock_path,
                               "--token", "secret", "--memory", "1MB", "--log-level", "error"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        check(line.startswith("listening on"), "server start: %r" % line)
        check(oct(os.stat(sock_path).st_mode & 0o777) == "0o600", "socket mode %o" % (os.stat(sock_path).st_mode & 0o777))

        # §8.2 handshake, with a limit
        s, (kind, fid, body) = connect(sock_path, limit=1 << 20)
        check(kind == OK and fid == 0, "hello answer kind %x id %d" % (kind, fid))
        (version,) = struct.unpack_from("<H", body, 0)
        check(version == 1, "server version %d" % version)
        check(len(body) in (2, 10) or len(body) > 10, "ok body %d bytes" % len(body))
        if len(body) >= 10:
            (limit,) = struct.unpack_from("<Q", body, 2)
            check(limit >= 1024, "server limit %d" % limit)
            print("server announces limit", limit)

        keys = ["x", 7, F.Tup(("a", 1)), "é", "a!", F.Tup(), "../x"]
        # pipelined: two appends, a sync, then read the answers in order
        body = struct.pack("<I", len(keys) + 1) + b"".join(enc_key(k) + enc_bytes(("v:%r;" % (k,)).encode()) for k in keys)
        body += enc_key("x") + enc_bytes(b"more")
        s.sendall(frame(APPEND, 1, body) + frame(APPEND, 2, struct.pack("<I", 1) + enc_key(7) + enc_bytes(b"+7"))
                  + frame(SYNC, 3))
        for want in (1, 2, 3):
            kind, fid, b = recv_frame(s)
            check(kind == OK and fid == want and b == b"", "answer %d: kind %x id %d body %r" % (want, kind, fid, b))
        s.sendall(frame(GET, 4, enc_keys(keys + ["missing"])))
        kind, fid, b = recv_frame(s)
        check(kind == OK and fid == 4, "get answer")
        (n,) = struct.unpack_from("<I", b, 0)
        p = 4
        vals = []
        for _ in range(n):
            (ln,) = struct.unpack_from("<Q", b, p)
            vals.append(b[p + 8:p + 8 + ln])
            p += 8 + ln
        want = [("v:%r;" % (k,)).encode() + (b"more" if k == "x" else b"+7" if k == 7 else b"") for k in keys] + [b""]
        check(vals == want and p == len(b), "get values %r" % vals)
        s.sendall(frame(SETONCE, 5, enc_key("once") + enc_bytes(b"1")) + frame(SETONCE, 6, enc_key("once") + enc_bytes(b"2")))
        r5, r6 = recv_frame(s), recv_frame(s)
        check(r5 == (OK, 5, b"\x01") and r6 == (OK, 6, b"\x00"), "set-once answers %r %r" % (r5, r6))
        s.sendall(frame(CONTAINS, 7, enc_key(F.Tup(("a", 1)))) + frame(CONTAINS, 8, enc_key("nope"))
                  + frame(BYTECOUNT, 9, enc_key("x")) + frame(VALIDATE, 10, enc_key("x")))
        r = [recv_frame(s) for _ in range(4)]
        check(r[0] == (OK, 7, b"\x01") and r[1] == (OK, 8, b"\x00"), "contains %r" % r[:2])
        check(r[2] == (OK, 9, struct.pack("<Q", len(want[0]))), "byte count %r" % (r[2],))
        check(r[3] == (OK, 10, b""), "validate %r" % (r[3],))
        s.sendall(frame(DELETE, 11, enc_keys(["a!"])) + frame(KEYS, 12))
        r = [recv_frame(s) for _ in range(2)]
        check(r[0] == (OK, 11, b""), "delete %r" % (r[0],))
        kind, fid, b = r[1]
        (n,) = struct.unpack_from("<I", b, 0)
        p = 4
        got = []
        for _ in range(n):
            k, p = dec_key(b, p)
            got.append(k)
        want_keys = [k for k in keys if k != "a!"] + ["once"]
        check(kind == OK and fid == 12 and sorted(map(repr, got)) == sorted(map(repr, want_keys)) and p == len(b),
              "keys %r" % got)
        # a store error keeps the connection open: set-once of a key longer than 255 bytes of file name
        s.sendall(frame(SETONCE, 13, enc_key("é" * 100) + enc_bytes(b"x")) + frame(SYNC, 14))
        kind, fid, b = recv_frame(s)
        err = dec_error(b) if kind == ERROR else None
        check(kind == ERROR and fid == 13 and err["code"] == "keyTooLong", "long key: %r %r" % (kind, err))
        print("store error:", err)
        kind, fid, b = recv_frame(s)
        check((kind, fid) == (OK, 14), "connection open after a store error")
        # an unknown kind is a protocol violation: error frame, then the connection is closed
        s.sendall(frame(0x42, 15))
        kind, fid, b = recv_frame(s)
        err = dec_error(b) if kind == ERROR else None
        check(kind == ERROR and err["code"] == "protocolViolation", "unknown kind: %r" % (err,))
        print("unknown kind answered with id %d: %r" % (fid, err))
        check(expect_closed(s), "closed after protocol violation")
        s.close()

        # §8.2 error cases
        s, (kind, fid, b) = connect(sock_path, token="wrong")
        err = dec_error(b) if kind == ERROR else None
        check(kind == ERROR and err["code"] == "unauthorized", "wrong token: %r" % (err,))
        check(expect_closed(s), "closed after unauthorized")
        s.close()
        s, (kind, fid, b) = connect(sock_path, raw_hello=b"PDWQ" + struct.pack("<H", 1) + enc_string("secret"))
        err = dec_error(b) if kind == ERROR else None
        check(kind == ERROR and err["code"] == "protocolViolation", "wrong magic: %r" % (err,))
        s.close()
        s, (kind, fid, b) = connect(sock_path, raw_hello=b"PDWP" + struct.pack("<H", 2) + enc_string("secret"))
        err = dec_error(b) if kind == ERROR else None
        check(kind == ERROR and err["code"] == "protocolViolation" and "2" in err["message"] and "1" in err["message"],
              "version 2: %r" % (err,))
        s.close()
        s, (kind, fid, b) = connect(sock_path, raw_hello=b"PDWP" + struct.pack("<H", 1) + enc_string("secret") + b"\0\0\0")
        err = dec_error(b) if kind == ERROR else None
        check(kind == ERROR and err["code"] == "protocolViolation", "1-7 bytes after the token: %r" % (err,))
        s.close()
        s, (kind, fid, b) = connect(sock_path, limit=1000)
        err = dec_error(b) if kind == ERROR else None
        check(kind == ERROR and err["code"] == "protocolViolation", "limit under 1024: %r" % (err,))
        s.close()
        s, (kind, fid, b) = connect(sock_path, raw_hello=b"PDWP" + struct.pack("<H", 1) + enc_string("secret")
                                    + struct.pack("<Q", 4096) + b"later fields")
        check(kind == OK, "bytes after the limit are ignored: %r" % ((kind, b),))
        # the client's limit: a get whose answer is over it is answered invalidArgument, connection open
        s.sendall(frame(APPEND, 1, struct.pack("<I", 1) + enc_key("big") + enc_bytes(b"z" * 5000)))
        check(recv_frame(s)[0] == OK, "append big")
        s.sendall(frame(GET, 2, enc_keys(["big"])) + frame(SYNC, 3))
        kind, fid, b = recv_frame(s)
        err = dec_error(b) if kind == ERROR else None
        check(kind == ERROR and fid == 2 and err["code"] == "invalidArgument" and err["key"] == "big",
              "answer over the client's limit: %r" % ((kind, fid, err),))
        print("answer over the client's limit:", err)
        check(recv_frame(s)[:2] == (OK, 3), "open after an answer over the limit")
        s.sendall(frame(DELETE, 4, enc_keys(["big"])))
        check(recv_frame(s)[0] == OK, "delete big")
        s.close()
        # a request before the handshake
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(sock_path)
        s.sendall(frame(SYNC, 9))
        kind, fid, b = recv_frame(s)
        err = dec_error(b) if kind == ERROR else None
        check(kind == ERROR and err["code"] == "protocolViolation", "request before the handshake: %r" % ((fid, err),))
        print("request before the handshake answered with id %d" % fid)
        s.close()
        # a frame length under 5
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(sock_path)
        s.sendall(struct.pack("<QBI", 4, HELLO, 0))
        kind, fid, b = recv_frame(s)
        err = dec_error(b) if kind == ERROR else None
        check(kind == ERROR and fid == 0 and err["code"] == "protocolViolation", "length 4: %r" % ((fid, err),))
        s.close()
        # an oversized frame after the handshake (the server limit; 1 GiB by default): refused before the body
        s, _ = connect(sock_path)
        s.sendall(struct.pack("<QBI", (1 << 40), APPEND, 77))
        kind, fid, b = recv_frame(s)
        err = dec_error(b) if kind == ERROR else None
        check(kind == ERROR and err["code"] == "protocolViolation", "oversized frame: %r" % ((fid, err),))
        print("oversized frame answered with id %d: %r" % (fid, err))
        s.close()

        # shutdown; the server flushes its memory to the directory
        s, _ = connect(sock_path)
        s.sendall(frame(SHUTDOWN, 1))
        kind, fid, b = recv_frame(s)
        check((kind, fid, b) == (OK, 1, b""), "shutdown %r" % ((kind, fid, b),))
        s.close()
        server.wait(timeout=30)
        check(server.returncode == 0, "server exit %r: %s" % (server.returncode, server.stderr.read()[-500:]))
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=10)

    # the store's directory, read per §1-2
    res = F.read_store(os.path.join(work, "wire-store"))
    got = {repr(k["key"]): k["frames"][0][1] for k in res["keys"]}
    want = {repr(k): v for k, v in zip(keys, vals) if k != "a!"}
    want[repr("once")] = b"1"
    check(got == want and not res["errors"], "directory after shutdown: %r" % got)
    return TALLY.summary()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
