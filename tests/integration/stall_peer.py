#!/usr/bin/env python3
"""stall_peer.py - FastCGI peers that stall, for evfcgid's timeouts.

Usage: stall_peer.py MODE HOST:PORT [options]

Modes (each opens -n connections, default 1, and waits up to -t seconds,
default 30, for the server to close every one of them):
  idle          connect, send nothing
  half-record   BEGIN_REQUEST, then 4 bytes of a PARAMS record header
  half-params   BEGIN_REQUEST, then -b bytes of PARAMS (default 1000) in
                whole records, without the empty PARAMS record that ends them
  half-stdin    a complete request head for POST /echo announcing 100 body
                bytes, then 10 of them
Prints "closed N of M max_s=S" and exits 0 when all were closed in time,
1 otherwise.  With --ready FILE, writes FILE once every connection has sent
what it sends (so a script can measure the server while they are held).

  crowded       one connection A, then -n idle connections, then on A a
                request for /hello (answered: every idle connection the
                server will take has been accepted) and one for -u URI;
                prints "status NNN" for the latter.
  overload      one connection, -n requests multiplexed (ids 1..n) for
                -u URI (default /sleep?ms=2000); prints
                "complete C overloaded O other X" once every request ended.
"""
import argparse
import os
import selectors
import socket
import struct
import sys
import time

BEGIN, ABORT, END, PARAMS, STDIN, STDOUT, STDERR = 1, 2, 3, 4, 5, 6, 7
RESPONDER, KEEP_CONN = 1, 1
COMPLETE, OVERLOADED = 0, 2


def record(rtype, rid, content=b""):
    pad = -len(content) % 8
    return (struct.pack(">BBHHBB", 1, rtype, rid, len(content), pad, 0)
            + content + b"\0" * pad)


def pair(name, value):
    def length(n):
        return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
    return length(len(name)) + length(len(value)) + name + value


def begin(rid):
    return record(BEGIN, rid, struct.pack(">HB5x", RESPONDER, KEEP_CONN))


def params_records(rid, data):
    out = b""
    for i in range(0, len(data), 65528):
        out += record(PARAMS, rid, data[i:i + 65528])
    return out


def request_params(method, uri, extra=b""):
    path, _, query = uri.partition("?")
    return (pair(b"REQUEST_METHOD", method.encode())
            + pair(b"REQUEST_URI", uri.encode())
            + pair(b"DOCUMENT_URI", path.encode())
            + pair(b"SCRIPT_NAME", path.encode())
            + pair(b"QUERY_STRING", query.encode())
            + pair(b"REMOTE_ADDR", b"127.0.0.1") + extra)


def payload(mode, nbytes):
    if mode == "idle":
        return b""
    if mode == "half-record":
        return begin(1) + record(PARAMS, 1, b"x" * 64)[:4]
    if mode == "half-params":
        head = request_params("GET", "/hello")
        filler = max(nbytes - len(head) - 16, 1)
        return begin(1) + params_records(1, head + pair(b"HTTP_X_FILL",
                                                         b"f" * filler))
    if mode == "half-stdin":
        p = request_params("POST", "/echo",
                           pair(b"CONTENT_LENGTH", b"100")
                           + pair(b"CONTENT_TYPE", b"text/plain"))
        return (begin(1) + params_records(1, p) + record(PARAMS, 1)
                + record(STDIN, 1, b"y" * 10))
    raise SystemExit("unknown mode " + mode)


def stall(args, host, port):
    data = payload(args.mode, args.bytes)
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(args.n):
        s = socket.create_connection((host, port), timeout=args.t)
        if data:
            s.sendall(data)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    t0 = time.monotonic()
    if args.ready:
        with open(args.ready, "w") as f:
            f.write("%d\n" % len(socks))
    open_ = len(socks)
    max_s = 0.0
    deadline = t0 + args.t
    while open_ and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=max(deadline - time.monotonic(), 0)):
            s = key.fileobj
            try:
                chunk = s.recv(65536)
            except ConnectionError:
                chunk = b""
            except BlockingIOError:
                continue
            if chunk:
                continue        # an answer; the close is what we wait for
            sel.unregister(s)
            s.close()
            open_ -= 1
            max_s = time.monotonic() - t0
    print("closed %d of %d max_s=%.1f" % (len(socks) - open_, len(socks),
                                          max_s))
    return 0 if open_ == 0 else 1


def overload(args, host, port):
    s = socket.create_connection((host, port), timeout=args.t)
    out = b""
    p = request_params("GET", args.u)
    for rid in range(1, args.n + 1):
        out += (begin(rid) + params_records(rid, p) + record(PARAMS, rid)
                + record(STDIN, rid))
    s.sendall(out)
    buf = b""
    ended = {}
    deadline = time.monotonic() + args.t
    while len(ended) < args.n and time.monotonic() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 8:
            _, rtype, rid, clen, pad, _ = struct.unpack(">BBHHBB", buf[:8])
            if len(buf) < 8 + clen + pad:
                break
            body = buf[8:8 + clen]
            buf = buf[8 + clen + pad:]
            if rtype == END:
                ended[rid] = body[4]
    c = sum(1 for v in ended.values() if v == COMPLETE)
    o = sum(1 for v in ended.values() if v == OVERLOADED)
    print("complete %d overloaded %d other %d" % (c, o, len(ended) - c - o))
    return 0 if len(ended) == args.n else 1


def ask(s, uri, timeout):
    """One request (id 1, KEEP_CONN) on s; its HTTP status, or 0."""
    p = request_params("GET", uri)
    s.sendall(begin(1) + params_records(1, p) + record(PARAMS, 1)
              + record(STDIN, 1))
    buf = out = b""
    s.settimeout(timeout)
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return 0
        buf += chunk
        while len(buf) >= 8:
            _, rtype, rid, clen, pad, _ = struct.unpack(">BBHHBB", buf[:8])
            if len(buf) < 8 + clen + pad:
                break
            if rtype == STDOUT:
                out += buf[8:8 + clen]
            buf = buf[8 + clen + pad:]
            if rtype == END:
                head = out.split(b"\r\n\r\n", 1)[0]
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"status:"):
                        return int(line.split()[1])
                return 200


def crowded(args, host, port):
    a = socket.create_connection((host, port), timeout=args.t)
    idle = [socket.create_connection((host, port), timeout=args.t)
            for _ in range(args.n)]
    ask(a, "/hello", args.t)
    print("status %d" % ask(a, args.u, args.t))
    for s in idle:
        s.close()
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode")
    ap.add_argument("addr")
    ap.add_argument("-n", type=int, default=1)
    ap.add_argument("-t", type=float, default=30)
    ap.add_argument("-b", dest="bytes", type=int, default=1000)
    ap.add_argument("-u", default="/sleep?ms=2000")
    ap.add_argument("--ready")
    args = ap.parse_args()
    host, _, port = args.addr.rpartition(":")
    if args.mode == "crowded":
        return crowded(args, host, int(port))
    if args.mode == "overload":
        return overload(args, host, int(port))
    return stall(args, host, int(port))


if __name__ == "__main__":
    sys.exit(main())
