#!/usr/bin/env python3
"""Write the seed corpus of tests/fuzz/corpus/ (see tests/fuzz/README).

The records are the same hand-written byte streams as the unit tests
(tests/unit/test_fcgi_parser.c, test_fcgi_params.c), built here from the
FastCGI 1.0 record layout.  The files are committed; rerun this only to
change the seeds:  python3 tests/fuzz/make-corpus.py tests/fuzz/corpus
Crash reproducers added by hand (regression-*) are left alone.
"""
import os
import struct
import sys

BEGIN, ABORT, END, PARAMS, STDIN, STDOUT, STDERR, DATA = range(1, 9)
GET_VALUES = 9
RESPONDER, AUTHORIZER, FILTER = 1, 2, 3
KEEP_CONN = 1


def rec(rtype, rid, content=b"", padding=None, version=1, clen=None,
        pad_byte=0):
    """One record; padding defaults to the next multiple of 8."""
    if padding is None:
        padding = -len(content) % 8
    if clen is None:
        clen = len(content)
    return (struct.pack(">BBHHBB", version, rtype, rid, clen, padding, 0)
            + content + bytes([pad_byte]) * padding)


def begin(rid, role=RESPONDER, flags=KEEP_CONN, padding=0):
    return rec(BEGIN, rid, struct.pack(">HB5x", role, flags), padding)


def length(n):
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def pair(name, value):
    return length(len(name)) + length(len(value)) + name + value


def pairs(*kv):
    return b"".join(pair(k.encode(), v.encode()) for k, v in kv)


NGINX = pairs(
    ("QUERY_STRING", "q=1&x=%20y"),
    ("REQUEST_METHOD", "GET"),
    ("CONTENT_TYPE", ""),
    ("CONTENT_LENGTH", ""),
    ("SCRIPT_NAME", "/items/42"),
    ("REQUEST_URI", "/items/42?q=1&x=%20y"),
    ("DOCUMENT_URI", "/items/42"),
    ("DOCUMENT_ROOT", "/usr/share/nginx/html"),
    ("SERVER_PROTOCOL", "HTTP/1.1"),
    ("REQUEST_SCHEME", "http"),
    ("GATEWAY_INTERFACE", "CGI/1.1"),
    ("SERVER_SOFTWARE", "nginx/1.22.1"),
    ("REMOTE_ADDR", "127.0.0.1"),
    ("REMOTE_PORT", "51234"),
    ("SERVER_ADDR", "127.0.0.1"),
    ("SERVER_PORT", "8080"),
    ("SERVER_NAME", "localhost"),
    ("HTTP_HOST", "localhost:8080"),
    ("HTTP_USER_AGENT", "curl/7.88.1"),
    ("HTTP_ACCEPT", "*/*"),
)


def request(rid, params, body=b"", split=None):
    """BEGIN, PARAMS (cut in two records at split), STDIN, stream ends."""
    split = len(params) // 2 + 3 if split is None else split
    out = begin(rid)
    out += rec(PARAMS, rid, params[:split]) + rec(PARAMS, rid, params[split:])
    out += rec(PARAMS, rid)
    if body:
        out += rec(STDIN, rid, body[:5]) + rec(STDIN, rid, body[5:])
    return out + rec(STDIN, rid)


def seeds():
    post = pairs(("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/items"),
                 ("CONTENT_TYPE", "application/json"),
                 ("CONTENT_LENGTH", "24"))
    s = {}
    s["nginx-get"] = request(1, NGINX)
    s["nginx-post"] = request(1, post, b'{"name": "x", "n": 1.5}\n')
    s["keepalive-two"] = request(1, NGINX) + request(1, post, b"abcdefgh")
    s["get-values"] = rec(GET_VALUES, 0, pairs(
        ("FCGI_MAX_CONNS", ""), ("FCGI_MAX_REQS", ""),
        ("FCGI_MPXS_CONNS", "")))
    s["unknown-mgmt"] = rec(0x42, 0, b"z") + rec(GET_VALUES, 0, pairs(
        ("FCGI_MPXS_CONNS", "")))
    # Ids 1, 2, 300 interleaved, record by record.
    p1, p2, p3 = (pairs(("REQUEST_URI", "/a/%d" % i),
                        ("REQUEST_METHOD", "GET")) for i in (1, 2, 3))
    s["multiplexed"] = (
        begin(1) + begin(2, AUTHORIZER, 0) + rec(PARAMS, 1, p1[:7])
        + begin(300, 0x0103, KEEP_CONN, padding=8) + rec(PARAMS, 300, p3)
        + rec(PARAMS, 2, p2) + rec(GET_VALUES, 0, pairs(("FCGI_MAX_REQS", "")))
        + rec(PARAMS, 1, p1[7:]) + rec(PARAMS, 300) + rec(PARAMS, 1)
        + rec(STDIN, 300, b"hello!") + rec(PARAMS, 2) + rec(STDIN, 1, b"abc")
        + rec(ABORT, 2) + rec(STDIN, 300) + rec(STDIN, 1))
    s["abort"] = (begin(1) + rec(PARAMS, 1, NGINX[:40]) + rec(ABORT, 1)
                  + rec(ABORT, 1, padding=3, pad_byte=9))
    s["filter-data"] = (begin(5, FILTER, 0) + rec(PARAMS, 5, NGINX)
                        + rec(PARAMS, 5) + rec(STDIN, 5, b"in") + rec(STDIN, 5)
                        + rec(DATA, 5, b"D") + rec(DATA, 5, padding=3))
    s["padding-everywhere"] = (
        begin(1, padding=8) + rec(PARAMS, 1, pair(b"A", b"b"), padding=255,
                                  pad_byte=0xee)
        + rec(PARAMS, 1, padding=7) + rec(STDIN, 1, b"x" * 9, padding=0)
        + rec(STDIN, 1, padding=1))
    s["max-record"] = (rec(STDIN, 7, bytes(i * 31 % 256 for i in
                                           range(65535)), padding=255,
                           pad_byte=0xee) + rec(STDIN, 7))
    long_pairs = (pair(b"n" * 127, b"") + pair(b"m" * 128, b"v")
                  + pair(b"BIG", b"q" * 300)
                  + struct.pack(">II", 0x80000000, 0x80000001) + b"w")
    s["params-long-lengths"] = (begin(1) + rec(PARAMS, 1, long_pairs)
                                + rec(PARAMS, 1))
    # Malformed: the parser's errors, then the params decoder's.
    s["bad-version"] = begin(1) + rec(BEGIN, 1, bytes(8), version=2)
    s["bad-version0"] = rec(STDIN, 1, version=0)
    s["bad-begin-len7"] = rec(BEGIN, 1, bytes([0, 1, 1, 0, 0, 0, 0]))
    s["bad-abort-len1"] = begin(1) + rec(ABORT, 1, b"\0")
    s["bad-begin-id0"] = rec(BEGIN, 0, bytes([0, 1, 1]) + bytes(5))
    s["bad-abort-id0"] = rec(ABORT, 0)
    s["params-truncated-pair"] = (begin(1) + rec(PARAMS, 1, pairs(
        ("REQUEST_URI", "/x"))[:-1]) + rec(PARAMS, 1))
    s["params-huge-length"] = (begin(1) + rec(PARAMS, 1, b"\xff\xff\xff\xff"
                                             b"\x01ab") + rec(PARAMS, 1))
    s["params-truncated-len4"] = (begin(1) + rec(PARAMS, 1, b"\x80\x00\x00")
                                  + rec(PARAMS, 1))
    s["truncated-mid-content"] = begin(1) + rec(STDIN, 1, b"hello!")[:12]
    s["empty"] = b""
    # Paths for the router half of the harness.
    s["path-items"] = b"/items/42"
    s["path-tags"] = b"/items/7/tags/red"
    s["path-files"] = b"/files/a/b%2Fc.txt"
    s["path-backtrack"] = b"/a/b/c"
    s["path-backtrack-rest"] = b"/p/b/zz"
    s["path-dir"] = b"/dir/"
    s["path-pct"] = b"/hello%20world+%zz%4"
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(seeds().items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print("%d seeds in %s" % (len(seeds()), out))


if __name__ == "__main__":
    main()
