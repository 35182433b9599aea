#!/usr/bin/env bash
#
# Forms and uploads through a real nginx (the demo's POST /login and POST
# /upload): urlencoded and multipart fields, 422 for missing ones, files
# whose SHA-256 and size the app reports as sent, a 60 MB file refused with
# 413 (max_upload_size is 50 MB), a malformed body answered 400, the
# daemon's peak memory far below what was uploaded (the body is streamed
# to temporary files, never held), and the upload directory empty after
# every request, also when the client leaves in the middle of an upload.
#
# Run by `make check`, or by hand:
#   EVFCGID=src/evfcgid DEMO_APP=apps/.libs/demo.so tests/integration/test_forms.sh

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

need "$NGINX"
need curl
need sha256sum
need python3
need_daemon

uploads=$tmp/uploads
mkdir -p "$uploads"

# One process (no master), so its /proc status is the one serving.
start_evfcgid_tcp -w 0 -a "$DEMO_APP" --upload-dir "$uploads"
daemon=$EVFCGID_PID

# The usual template, with room for a 60 MB body, and nginx passing the
# body on as it arrives (so evfcgid sees an upload while it is sent).
sed -e 's/client_max_body_size 16m;/client_max_body_size 200m;/' \
    -e 's/fastcgi_keep_conn on;/fastcgi_keep_conn on; fastcgi_request_buffering off;/' \
    "$NGINX_CONF_TEMPLATE" >"$tmp/nginx-forms.conf.in"
grep -q 'fastcgi_request_buffering off' "$tmp/nginx-forms.conf.in" ||
    fail "could not make the nginx template stream request bodies"
start_nginx "$tmp/nginx-forms.conf.in" "127.0.0.1:$EVFCGID_PORT"
base=http://127.0.0.1:$NGINX_PORT

# json_get EXPR: evaluate a Python expression on the last body (as j).
json_get() {
    python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
        "$tmp/body" "$1"
}

upload_dir_empty() { [[ -z $(ls -A "$uploads") ]]; }

vm_hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$daemon/status"; }

# ---- /login ---------------------------------------------------------------
fetch --data-urlencode 'username=al ice' --data-urlencode 'password=s&cret' \
    "$base/login"
check_eq "login urlencoded: status" 200 "$HTTP_STATUS"
check_eq "login urlencoded: body" '{"username":"al ice"}' "$(body)"

fetch -F 'username=bob' -F 'password=x' "$base/login"
check_eq "login multipart: status" 200 "$HTTP_STATUS"
check_eq "login multipart: body" '{"username":"bob"}' "$(body)"

fetch --data 'username=bob' "$base/login"
check_eq "login without password: status" 422 "$HTTP_STATUS"
check_eq "login without password: the error" \
    "[{'type': 'missing', 'loc': ['body', 'password'], 'msg': 'Field required', 'input': None}]" \
    "$(json_get 'j["detail"]')"

fetch -X POST "$base/login"
check_eq "login without a body: status" 422 "$HTTP_STATUS"
check_eq "login without a body: both fields missing" \
    "[['body', 'username'], ['body', 'password']]" \
    "$(json_get '[e["loc"] for e in j["detail"]]')"

# ---- /upload ----------------------------------------------------------------
head -c 30000000 /dev/urandom >"$tmp/big.bin"
printf 'hello, upload\n' >"$tmp/small.txt"
hwm_before=$(vm_hwm_kb)
fetch -F 'note=two files' -F "files=@$tmp/big.bin;type=application/x-demo" \
    -F "files=@$tmp/small.txt;type=text/plain" "$base/upload"
check_eq "upload: status" 200 "$HTTP_STATUS"
check_eq "upload: note" "two files" "$(json_get 'j["note"]')"
check_eq "upload: file count" 2 "$(json_get 'len(j["files"])')"
check_eq "upload: names, types, sizes" \
    "[('big.bin', 'application/x-demo', 30000000), ('small.txt', 'text/plain', 14)]" \
    "$(json_get '[(f["filename"], f["content_type"], f["size"]) for f in j["files"]]')"
check_eq "upload: sha256 of the large file" \
    "$(sha256sum "$tmp/big.bin" | cut -d' ' -f1)" "$(json_get 'j["files"][0]["sha256"]')"
check_eq "upload: sha256 of the small file" \
    "$(sha256sum "$tmp/small.txt" | cut -d' ' -f1)" "$(json_get 'j["files"][1]["sha256"]')"
check_true "upload: temporary files removed after the request" \
    poll_until 10 upload_dir_empty

fetch -F 'note=no files' "$base/upload"
check_eq "upload without files: status" 422 "$HTTP_STATUS"
check_eq "upload without files: the error" "[['body', 'files']]" \
    "$(json_get '[e["loc"] for e in j["detail"] if e["type"] == "missing"]')"

# 60 MB: over max_upload_size (50 MB), refused with a JSON detail.
head -c 60000000 /dev/zero >"$tmp/huge.bin"
fetch -F 'note=too big' -F "files=@$tmp/huge.bin" "$base/upload"
check_eq "60 MB upload: status" 413 "$HTTP_STATUS"
check_match "60 MB upload: the detail says why" \
    '^File too large: at most 52428800 bytes per file' "$(json_get 'j["detail"]')"
check_true "60 MB upload: temporary files removed" \
    poll_until 10 upload_dir_empty
hwm_after=$(vm_hwm_kb)
grown=$(((hwm_after - hwm_before) / 1024))
log "VmHWM before the uploads ${hwm_before} kB, after ${hwm_after} kB (+${grown} MB for 90 MB uploaded)"
# Buffering either upload would have grown the peak by its size (30 or
# 60 MB); streaming keeps the growth to the buffers of one connection.
check_true "peak memory grew far less than the uploads (+${grown} MB)" \
    test "$grown" -lt 20

# ---- malformed bodies ---------------------------------------------------------
printf -- '--XyZ\r\nContent-Disposition: form-data; name="note"\r\n\r\ncut short' \
    >"$tmp/truncated"
fetch -H 'Content-Type: multipart/form-data; boundary=XyZ' \
    --data-binary "@$tmp/truncated" "$base/upload"
check_eq "truncated multipart: status" 400 "$HTTP_STATUS"
check_eq "truncated multipart: detail" \
    "Malformed multipart body: truncated part" "$(json_get 'j["detail"]')"
fetch -H 'Content-Type: multipart/form-data' --data-binary 'x' "$base/upload"
check_eq "multipart without a boundary: status" 400 "$HTTP_STATUS"
check_match "multipart without a boundary: detail" 'boundary' \
    "$(json_get 'j["detail"]')"
python3 -c 'import sys; sys.stdout.write("--b\r\n" + "X-Bomb: " + "a" * 100000 + "\r\n\r\n")' \
    >"$tmp/bomb"
fetch -H 'Content-Type: multipart/form-data; boundary=b' \
    --data-binary "@$tmp/bomb" "$base/upload"
check_eq "header bomb: status" 400 "$HTTP_STATUS"
check_eq "header bomb: detail" "Multipart part headers too large" \
    "$(json_get 'j["detail"]')"

# ---- the client leaves in the middle of an upload --------------------------
head -c 8000000 /dev/zero >"$tmp/slow.bin"
spawn_bg other "slow upload" "$tmp/slow.log" curl -q --noproxy '*' -sS \
    --max-time 120 --limit-rate 500k -F 'note=slow' \
    -F "files=@$tmp/slow.bin" -o /dev/null "$base/upload"
slow=$LAST_PID
check_true "slow upload: a temporary file appears while it is sent" \
    poll_until 30 not upload_dir_empty
stop_pid "$slow"
check_true "slow upload, client gone: temporary file removed" \
    poll_until 30 upload_dir_empty

require_alive "$daemon" "after the uploads"
fetch "$base/hello"
check_eq "still serving after the uploads" 200 "$HTTP_STATUS"
stop_pid "$NGINX_PID"
stop_pid "$daemon" TERM
check_eq "evfcgid exit status after SIGTERM" 0 "$STOP_STATUS"
