#!/usr/bin/env python3
"""Write the seed corpora of fuzz_conn, fuzz_request and fuzz_conf.

    python3 tests/fuzz/make-corpus-more.py tests/fuzz

writes tests/fuzz/corpus-conn/, corpus-request/ and corpus-conf/ (see
tests/fuzz/README for the input formats), and the dictionaries conn.dict,
request.dict and conf.dict.  The files are committed; rerun this only to
change the seeds.  Regression inputs (regression-*) are left alone.
The FastCGI records come from make-corpus.py's helpers.
"""
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "make_corpus", os.path.join(HERE, "make-corpus.py"))
mc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mc)
rec, begin, pairs, request = mc.rec, mc.begin, mc.pairs, mc.request
PARAMS, STDIN, ABORT, GET_VALUES = mc.PARAMS, mc.STDIN, mc.ABORT, mc.GET_VALUES

# fuzz_conn's flags (byte 0)
FEW_REQS, SMALL, TINY_WATER, SHUTDOWN = 1, 2, 4, 8
# fuzz_request's flags (byte 0)
RAW, CONGESTED, ABORT_AFTER, RSMALL = 1, 2, 4, 8


def get(uri, *extra):
    return pairs(("REQUEST_METHOD", "GET"), ("REQUEST_URI", uri),
                 ("QUERY_STRING", uri.partition("?")[2]), *extra)


def post(uri, ctype, body):
    return pairs(("REQUEST_METHOD", "POST"), ("REQUEST_URI", uri),
                 ("CONTENT_TYPE", ctype),
                 ("CONTENT_LENGTH", str(len(body))))


def conn_seeds():
    s = {}
    s["hello"] = request(1, get("/hello"))
    s["item-await"] = request(1, get("/items/42?wait=1"))
    s["item-422"] = request(1, get("/items/abc"))
    s["typed"] = request(1, get("/typed/1.5e3/x%20y/a/b/c"))
    s["query"] = request(1, get("/q?n=7&f=2.5&b=yes&s=x&x=%ff&u=3&=e"))
    s["query-422"] = request(1, get("/q?n=101&f=abc&b=maybe"))
    s["json"] = request(1, post("/json", "application/json",
                                b'{"a":[1,2.5,"\\u00e9",null,true]}'),
                        b'{"a":[1,2.5,"\\u00e9",null,true]}')
    s["json-bad"] = request(1, post("/json", "application/json", b"{"), b"{")
    s["echo"] = request(1, post("/echo", "text/plain", b"hello body"),
                        b"hello body")
    s["raise"] = request(1, get("/raise?status=418&detail=%ff%00x&h=X-A"
                                "&v=1"))
    s["raise-bad-header"] = request(1, get("/raise?status=401&h=Bad%20Name"
                                           "&v=a%0d%0ab"))
    s["stream"] = request(1, get("/stream?n=5"))
    s["gather"] = request(1, get("/gather"))
    s["deadline"] = request(1, get("/deadline"))
    s["not-found"] = request(1, get("/nope"))
    s["method"] = request(1, pairs(("REQUEST_METHOD", "DELETE"),
                                   ("REQUEST_URI", "/hello")))
    # Several requests multiplexed, some awaiting, one aborted mid-stream.
    s["multiplexed"] = (
        begin(1) + begin(2) + begin(3) + begin(7)
        + rec(PARAMS, 2, get("/stream?n=5")) + rec(PARAMS, 2)
        + rec(PARAMS, 1, get("/items/1?wait")) + rec(PARAMS, 1)
        + rec(STDIN, 2) + rec(PARAMS, 3, get("/gather")) + rec(STDIN, 1)
        + rec(GET_VALUES, 0, pairs(("FCGI_MAX_REQS", ""),
                                   ("FCGI_MPXS_CONNS", "")))
        + rec(PARAMS, 3) + rec(STDIN, 3) + rec(PARAMS, 7, get("/hello"))
        + rec(ABORT, 7) + rec(ABORT, 2) + rec(0x42, 0, b"?"))
    # A request id reused after its END, and one begun twice.
    s["reuse-id"] = (request(5, get("/hello")) + request(5, get("/hello"))
                     + begin(6) + begin(6) + rec(PARAMS, 6, get("/hello")))
    # Records for ids never begun, and for a rejected one.
    s["stray"] = (rec(PARAMS, 9, get("/hello")) + rec(STDIN, 9, b"x")
                  + rec(ABORT, 9) + request(1, get("/hello")))
    # More requests than FEW_REQS allows.
    s["over-cap"] = b"".join(
        begin(i) + rec(PARAMS, i, get("/items/%d?wait" % i))
        for i in range(1, 9)) + b"".join(
        rec(PARAMS, i) + rec(STDIN, i) for i in range(1, 9))
    # Params and a body past SMALL's limits, on a kept connection.
    big = get("/hello", ("HTTP_X", "v" * 1100))
    s["over-limits"] = (
        request(1, big) + request(2, post("/echo", "text/plain", b"b" * 100),
                                  b"b" * 100) + request(3, get("/hello")))
    # Streams against a tiny high-water mark, written 8 bytes at a time.
    s["backpressure"] = (request(1, get("/stream?n=5"))
                         + request(2, get("/stream?n=3")))
    # One byte at a time.
    s["bytewise"] = request(1, get("/items/3"))
    # The peer leaves with requests in flight.
    s["shutdown"] = (
        request(1, get("/stream?n=5")) + request(2, get("/items/2?wait"))
        + begin(3) + rec(PARAMS, 3, get("/hello")))
    s["no-keep-conn"] = (begin(1, flags=0) + rec(PARAMS, 1, get("/hello"))
                         + rec(PARAMS, 1) + rec(STDIN, 1)
                         + request(2, get("/hello")))
    s["bad-version-after"] = request(1, get("/items/1?wait")) + (
        b"\x02" + rec(STDIN, 1)[1:])
    s["params-truncated"] = (begin(1) + rec(PARAMS, 1, b"\x05\x03abc")
                             + rec(PARAMS, 1) + rec(STDIN, 1))
    # The settings bytes: flags, chunk size - 1 (0: 4096).
    settings = {"over-cap": (FEW_REQS, 0), "over-limits": (SMALL, 0),
                "backpressure": (TINY_WATER, 7), "bytewise": (0, 1),
                "shutdown": (SHUTDOWN, 0)}
    return {k: bytes(settings.get(k, (0, 0))) + v for k, v in s.items()}


def lines(*kv):
    return b"".join(k.encode() + b"=" + v.encode() + b"\n" for k, v in kv)


def treq(flags, uri, method="GET", body=b"", ctype=None, extra=(), pp=0,
         bp=0):
    kv = [("REQUEST_METHOD", method), ("REQUEST_URI", uri),
          ("QUERY_STRING", uri.partition("?")[2])]
    if ctype is not None:
        kv += [("CONTENT_TYPE", ctype), ("HTTP_CONTENT_TYPE", ctype)]
    kv += list(extra)
    return bytes([flags, pp, bp]) + lines(*kv) + b"\n" + body


def request_seeds():
    s = {}
    s["hello"] = treq(0, "/hello")
    s["item"] = treq(0, "/items/42?wait=1", pp=3)
    s["item-422"] = treq(0, "/items/9999999999999999999999")
    s["item-nul"] = treq(0, "/items/1%00abc")
    s["typed"] = treq(0, "/typed/-1e308/%c3%a9/x/%2e%2e/y", pp=0)
    s["typed-bad"] = treq(0, "/typed/nan/a/b")
    s["query"] = treq(0, "/q?n=0&f=-0.0&b=on&s=%e2%82%ac&x=1+2&u=abc&=",
                      extra=(("HTTP_USER_AGENT", "fuzz"),))
    s["query-422"] = treq(0, "/q?n=-1&n=200&f=1e999&b=2&s=%ff%fe")
    s["query-dup"] = treq(0, "/q?s=a&s=b&&&=&%=%zz&n=%31%30")
    s["json"] = treq(0, "/json", "POST", b'{"k":["v",1,2.5e-3,{"n":null}]}',
                     "application/json", bp=4)
    s["json-utf8"] = treq(0, "/json", "POST", b'["\xc3\xa9","\\ud83d\\ude00"]',
                          "application/json")
    s["json-bad"] = treq(0, "/json", "POST", b'{"a":1,}', "application/json")
    s["json-deep"] = treq(0, "/json", "POST", b"[" * 40 + b"]" * 40,
                          "application/json")
    s["json-not-strict"] = (bytes([0, 0, 0]) + b"REQUEST_METHOD=POST\n"
                            b"REQUEST_URI=/json\n"
                            b"CONTENT_TYPE=application/json\n\n"
                            b"{'k':[1,2,],}")
    s["json-empty"] = treq(0, "/json", "POST", b"", "application/json")
    s["echo"] = treq(0, "/echo", "POST", b"abc\x00def", "text/plain")
    s["echo-injected"] = treq(0, "/echo", "POST", b"x",
                              "text/html\r\nSet-Cookie: a=1")
    s["raise"] = treq(0, "/raise?status=404&detail=gone")
    s["raise-999"] = treq(0, "/raise?status=999&h=Retry-After&v=1")
    s["raise-header-bad"] = treq(0, "/raise?status=401&h=Content-Length&v=0")
    s["stream"] = treq(0, "/stream?n=5&ct=text/event-stream")
    s["stream-congested"] = treq(CONGESTED, "/stream?n=5")
    s["stream-bad-ct"] = treq(0, "/stream?n=1&ct=a%0ab")
    s["gather"] = treq(0, "/gather")
    s["deadline"] = treq(0, "/deadline")
    s["abort-await"] = treq(ABORT_AFTER, "/items/5?wait")
    s["abort-stream"] = treq(ABORT_AFTER | CONGESTED, "/stream?n=5")
    s["small-params"] = treq(RSMALL, "/hello", extra=(("HTTP_X", "y" * 1100),))
    s["small-body"] = treq(RSMALL, "/echo", "POST", b"z" * 100, "text/plain")
    s["no-uri"] = bytes([0, 0, 0]) + b"REQUEST_METHOD=GET\n\n"
    s["script-name"] = bytes([0, 0, 0]) + b"SCRIPT_NAME=/hello\n\n"
    enc = pairs(("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/q?n=3"))
    s["raw"] = bytes([RAW, 0, 0]) + len(enc).to_bytes(2, "big") + enc
    s["raw-truncated"] = (bytes([RAW, 2, 0]) + (len(enc) - 3).to_bytes(2, "big")
                          + enc[:-3])
    s["raw-long-length"] = (bytes([RAW, 0, 0]) + b"\x00\x0a"
                            + b"\x80\x00\x01\x00\x01" + b"abcde")
    s["raw-huge-length"] = (bytes([RAW, 1, 0]) + b"\x00\x06"
                            + b"\xff\xff\xff\xff\x01\x00")
    return s


DIRECTIVES = """listen listen.mode listen.owner listen.group backlog
allowed_clients workers threads queue max_conns max_requests_per_conn
max_requests max_params max_body request_deadline grace slow_callback_ms
stack_size log log_level access_log access_log_format pid_file user group
rlimit_files status_path ping_path ping_response""".split()


def conf_seeds(src):
    s = {}
    with open(os.path.join(src, "..", "..", "conf", "evfcgid.conf.in"),
              "rb") as f:
        s["example"] = f.read()
    s["minimal"] = b"[evfcgid]\nlisten = 127.0.0.1:9000\n"
    s["every-directive"] = b"[evfcgid]\n" + b"".join(
        d.encode() + b" = " + v + b"\n" for d, v in zip(DIRECTIVES, [
            b"unix:/tmp/x.sock", b"0600", b"www-data", b"www-data", b"128",
            b"127.0.0.1, ::1", b"2", b"8", b"100", b"500", b"64", b"1000",
            b"64k", b"1m", b"2.5", b"10", b"250", b"128k", b"stderr",
            b"debug", b"off", b"$status $uri", b"/tmp/x.pid", b"nobody",
            b"nogroup", b"1024", b"/status", b"/ping", b"pong"]))
    s["bounds-max"] = (b"[evfcgid]\nworkers = 256\nthreads = 4096\n"
                       b"max_params = 1g\nmax_body = 1024g\nbacklog = 1048576\n"
                       b"stack_size = 64m\nrlimit_files = 1000000000\n"
                       b"slow_callback_ms = 3600000\ngrace = 1e7\n")
    s["bounds-over"] = b"[evfcgid]\nworkers = 257\n"
    s["bounds-under"] = b"[evfcgid]\nmax_params = 1023\n"
    s["number-forms"] = (b"[evfcgid]\nmax_body = 1.5k\n"
                         b"request_deadline = 1e-3\n"
                         b"grace = 0x10\n")
    s["number-bad"] = b"[evfcgid]\nthreads = 4.5\n"
    s["number-inf"] = b"[evfcgid]\nrequest_deadline = inf\n"
    s["number-nan"] = b"[evfcgid]\ngrace = nan\n"
    s["number-neg"] = b"[evfcgid]\nqueue = -1\n"
    s["size-suffix-bad"] = b"[evfcgid]\nmax_body = 10kb\n"
    s["mode-bad"] = b"[evfcgid]\nlisten.mode = 0999\n"
    s["level-bad"] = b"[evfcgid]\nlog_level = loud\n"
    s["listen-nine"] = b"[evfcgid]\n" + b"".join(
        b"listen = 127.0.0.1:%d\n" % (9000 + i) for i in range(9))
    s["listen-empty"] = b"[evfcgid]\nlisten =\n"
    s["apps"] = (b"[evfcgid]\nworkers = 0\n[app demo]\npath = /x/demo.so\n"
                 b"upstream = http://127.0.0.1:1/\n[app other]\npath = o.so\n"
                 b"[app demo]\nkey = again\npath = /y/demo.so\n")
    s["app-no-path"] = b"[app lonely]\nkey = v\n"
    s["app-empty-name"] = b"[app ]\npath = x\n"
    s["apps-65"] = b"".join(b"[app a%d]\npath = p\n" % i for i in range(65))
    s["unknown-section"] = b"[server]\nlisten = x\n"
    s["unknown-directive"] = b"[evfcgid]\nlistne = x\n"
    s["syntax"] = b"[evfcgid\nlisten\n"
    s["no-section"] = b"listen = 127.0.0.1:1\n"
    s["long-line"] = b"[evfcgid]\nping_response = " + b"x" * 5000 + b"\n"
    s["comments"] = (b"; c\n# c\n[evfcgid]\n  workers : 3 \n\n"
                     b"log_level=error ; trailing\n")
    s["set-line"] = b"#!set workers=4\n[evfcgid]\nthreads = 2\n"
    s["set-line-bad"] = b"#!set nope=1\n[evfcgid]\n"
    s["nul"] = b"[evfcgid]\nlog = a\x00b\n"
    s["empty"] = b""
    return s


def dicts():
    conn = ['"\\x01\\x01"', '"\\x01\\x04"', '"\\x01\\x05"', '"\\x01\\x02"',
            '"\\x01\\x09\\x00\\x00"', '"FCGI_MAX_REQS"', '"FCGI_MPXS_CONNS"',
            '"FCGI_MAX_CONNS"', '"REQUEST_URI"', '"REQUEST_METHOD"',
            '"QUERY_STRING"', '"CONTENT_TYPE"', '"/stream?n="', '"/hello"',
            '"/items/"', '"/gather"', '"/deadline"', '"/json"', '"/echo"',
            '"/raise?status="', '"/q?"', '"?wait"']
    req = ['"REQUEST_METHOD="', '"REQUEST_URI="', '"QUERY_STRING="',
           '"CONTENT_TYPE="', '"HTTP_CONTENT_TYPE="', '"DOCUMENT_URI="',
           '"SCRIPT_NAME="', '"HTTP_USER_AGENT="', '"POST"', '"GET"',
           '"/typed/"', '"/items/"', '"/q?"', '"/raise?"', '"/stream?"',
           '"/json"', '"/echo"', '"n="', '"f="', '"b="', '"s="', '"u="',
           '"x="', '"status="', '"detail="', '"h="', '"v="', '"ct="',
           '"%00"', '"%ff"', '"%c3%a9"', '"application/json"', '"true"',
           '"false"', '"null"', '"1e308"', '"\\\\u0000"', '"\\\\ud800"',
           '"inf"', '"nan"']
    conf = (['"%s"' % d for d in DIRECTIVES] +
            ['"[evfcgid]"', '"[app "', '"path"', '" = "', '"k"', '"m"',
             '"g"', '"1e"', '"0x"', '"inf"', '"nan"', '"#!set "',
             '"unix:"', '"debug"', '"off"'])
    return {"conn.dict": conn, "request.dict": req, "conf.dict": conf}


def write_dir(d, seeds):
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else HERE
    write_dir(os.path.join(out, "corpus-conn"), conn_seeds())
    write_dir(os.path.join(out, "corpus-request"), request_seeds())
    write_dir(os.path.join(out, "corpus-conf"), conf_seeds(HERE))
    for name, words in dicts().items():
        with open(os.path.join(out, name), "w") as f:
            f.write("# Written by make-corpus-more.py\n")
            f.write("".join(w + "\n" for w in words))


if __name__ == "__main__":
    main()
