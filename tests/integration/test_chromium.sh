#!/usr/bin/env bash
#
# CORS in a real browser: headless Chromium loads a page from
# http://app.example.test whose script fetch()es the demo's API at
# http://api.example.test with credentials (a GET, and a JSON POST, which
# the browser preflights), and writes what it got into the page.  From the
# demo's allowed origin both calls return their bodies (and the script can
# read the exposed X-Request-ID); from http://other.example.test the
# browser rejects both (TypeError), after the daemon refused the preflight.
# A control run with a policy that allows another origin shows the allowed
# page failing too, so the test can tell.
#
# Nothing leaves the machine: Chromium maps the three names (port 80) to
# nginx's loopback port and every other name to NOTFOUND; it runs with a
# temporary profile and without its background services.  The DOM is
# dumped when the page is idle (virtual time), no sleep.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need "$NGINX"
need_daemon
: "${CHROMIUM:=chromium}"
need "$CHROMIUM"

uuid='[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}'

# The page: both calls, then the result in <pre id="out">.
write_page() {
    mkdir -p "$NGINX_DIR/www"
    cat >"$NGINX_DIR/www/index.html" <<'HTML'
<!doctype html>
<html><head><link rel="icon" href="data:,"></head><body>
<pre id="out">pending</pre>
<script>
const api = "http://api.example.test/";
async function call(name, path, init) {
    try {
        const r = await fetch(api + path,
                              Object.assign({credentials: "include"}, init));
        const id = r.headers.get("X-Request-ID");
        return name + ":" + r.status + ":" + (await r.text()) + ":" + id;
    } catch (e) {
        return name + ":rejected:" + e.name;
    }
}
(async () => {
    const got = [
        await call("get", "hello", {}),
        await call("post", "echo", {
            method: "POST",
            headers: {"Content-Type": "application/json"},
            body: '{"a":1}'
        })
    ];
    document.getElementById("out").textContent = "DONE " + got.join(" | ");
})();
</script>
</body></html>
HTML
}

# browse HOST: the <pre id="out"> text of http://HOST/ after its scripts.
browse() {
    local host=$1 n=$((++_browse_n)) rules
    rules="MAP app.example.test:80 127.0.0.1:$NGINX_PORT"
    rules+=", MAP other.example.test:80 127.0.0.1:$NGINX_PORT"
    rules+=", MAP api.example.test:80 127.0.0.1:$NGINX_PORT"
    rules+=", MAP * ~NOTFOUND"
    timeout 120 "$CHROMIUM" --headless --disable-gpu --no-sandbox \
        --user-data-dir="$tmp/profile.$n" --no-first-run \
        --disable-background-networking --disable-component-update \
        --disable-sync --disable-extensions --disable-default-apps \
        --host-resolver-rules="$rules" --virtual-time-budget=30000 \
        --dump-dom "http://$host/" >"$tmp/dom.$n" 2>"$tmp/chromium.$n.log" ||
        { dump_log "$tmp/chromium.$n.log"; fail "chromium failed on http://$host/"; }
    sed -n 's|.*<pre id="out">\([^<]*\)</pre>.*|\1|p' "$tmp/dom.$n"
}
_browse_n=0

start_evfcgid_tcp -a "$DEMO_APP"
start_nginx "$top_srcdir/tests/integration/web.nginx.conf.in" \
    "127.0.0.1:$EVFCGID_PORT"
write_page

out=$(browse app.example.test)
log "app.example.test: $out"
check_match "from the allowed origin, the GET returns its body and the exposed X-Request-ID" \
    "^DONE get:200:\\{\"message\":\"hello\"\\}:$uuid \\|" "$out"
check_match "... and the preflighted JSON POST returns its body" \
    '\| post:200:\{"a":1\}:[0-9a-f-]{36}$' "$out"

out=$(browse other.example.test)
log "other.example.test: $out"
check_eq "from another origin, the browser rejects both fetches" \
    "DONE get:rejected:TypeError | post:rejected:TypeError" "$out"
check_true "... after the daemon refused its preflight (400)" \
    grep -q '"OPTIONS /echo HTTP/1.1" 400 .*"http://other.example.test/"' \
    "$NGINX_DIR/access.log"
check_true "... and the allowed one's was answered 200" \
    grep -q '"OPTIONS /echo HTTP/1.1" 200 .*"http://app.example.test/"' \
    "$NGINX_DIR/access.log"
stop_pid "$NGINX_PID"
stop_pid "$EVFCGID_PID"

# Control: the same page when the policy allows another origin only.
start_evfcgid_tcp -a "$DEMO_APP" \
    -o 'demo:cors_allow_origins=http://nobody.example.test'
start_nginx "$top_srcdir/tests/integration/web.nginx.conf.in" \
    "127.0.0.1:$EVFCGID_PORT"
write_page
out=$(browse app.example.test)
check_eq "control: with app.example.test not allowed, its fetches fail too" \
    "DONE get:rejected:TypeError | post:rejected:TypeError" "$out"
