#!/usr/bin/env bash
#
# The OpenAPI document and the /docs and /redoc pages (issue 12):
#  - the demo's /openapi.json through nginx, checked by an independent
#    validator (@apidevtools/swagger-parser, OpenAPI 3.1) with zero
#    errors, its output in the log; the same through a prefix (/api),
#    where the document lists /api as its server;
#  - the pages point at the document (with the prefix) and load Swagger UI
#    and ReDoc from docs_assets_url, here nginx serving the npm packages'
#    files locally;
#  - a real headless Chromium (Debian's, driven by playwright-core) opens
#    /docs, expands GET /items/{item_id}, clicks "Try it out", executes it
#    with 5 and sees the 200 body; opens /redoc and sees the operations;
#    opens /api/docs and does the same through the prefix.  Screenshots:
#    test_openapi-{docs,redoc,prefix}.png in the build's tests/integration;
#  - directives and app options: the default CDN assets, the pages moved
#    and titled by app options, root_path, and everything turned off.
#
# The tools are test-only, installed by `bash .ci/install-deps --test`
# into /opt/evfcgi-test-tools (EVFCGI_TEST_TOOLS overrides it);
# without them the test fails, naming that command.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_daemon
need curl
need "$NGINX"
TOOLS=${EVFCGI_TEST_TOOLS:-/opt/evfcgi-test-tools}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
install_hint="install them with 'bash .ci/install-deps --test' (as root), or point EVFCGI_TEST_TOOLS at a directory holding tests/browser/package.json's packages"
command -v node >/dev/null 2>&1 ||
    fail "node is missing: $install_hint"
for m in @apidevtools/swagger-parser playwright-core swagger-ui-dist redoc; do
    [[ -d $TOOLS/node_modules/$m ]] ||
        fail "test tool '$m' is missing from $TOOLS/node_modules: $install_hint"
done
[[ -x $CHROMIUM ]] || fail "no Chromium at $CHROMIUM: $install_hint"
export NODE_PATH=$TOOLS/node_modules CHROMIUM
browser_dir=$top_srcdir/tests/browser
artifacts=$top_builddir/tests/integration/test_openapi

# ---- the demo behind nginx, assets served locally ---------------------------
start_evfcgid_tcp -a "$DEMO_APP" --docs-assets-url /assets
sed -e "s|@ASSETS_DIR@|$(_subst_escape "$TOOLS/node_modules")|g" \
    "$top_srcdir/tests/integration/nginx-docs.conf.in" >"$tmp/nginx-docs.conf.in"
start_nginx "$tmp/nginx-docs.conf.in" "127.0.0.1:$EVFCGID_PORT"
base=http://127.0.0.1:$NGINX_PORT

# validate WHAT FILE: the validator's verdict on FILE, printed in the log.
validate() {
    local out rc=0
    out=$(node "$browser_dir/validate-openapi.js" "$2" 2>&1) || rc=$?
    printf '%s\n' "$out" | sed 's/^/# validator: /'
    check_eq "$1: the validator exits 0" 0 "$rc"
    check_match "$1: the validator finds zero errors" '^valid: OpenAPI 3\.1\.0.* 0 errors$' "$out"
}

fetch "$base/openapi.json"
check_eq "/openapi.json: status" 200 "$HTTP_STATUS"
check_eq "/openapi.json: type" application/json "$HTTP_CTYPE"
cp "$tmp/body" "$tmp/openapi.json"
validate "/openapi.json" "$tmp/openapi.json"
doc=$(body)
check_match "/openapi.json: FastAPI's operationId for GET /items/{item_id}" \
    '"/items/\{item_id\}":\{"get":\{[^}]*"operationId":"read_item_items__item_id__get"' "$doc"
check_match "/openapi.json: item_id is an integer path parameter" \
    '"name":"item_id","in":"path","required":true,"schema":\{"type":"integer","title":"Item Id"\}' "$doc"
check_match "/openapi.json: ?bytes= with its bounds" \
    '"name":"bytes","in":"query","required":true,"schema":\{"type":"integer","minimum":0,"maximum":100000000' "$doc"
check_match "/openapi.json: the 422 schemas" '"HTTPValidationError":\{.*"ValidationError":\{' "$doc"
check_true "/openapi.json: the pages are not in it" not grep -qE '"/(docs|redoc|openapi\.json)"' "$tmp/openapi.json"
check_true "/openapi.json: no servers without a prefix" not grep -q '"servers"' "$tmp/openapi.json"

fetch "$base/docs"
check_eq "/docs: status" 200 "$HTTP_STATUS"
check_eq "/docs: type" "text/html; charset=utf-8" "$HTTP_CTYPE"
check_true "/docs: loads the document" grep -qF 'url: "/openapi.json"' "$tmp/body"
check_true "/docs: Swagger UI from docs_assets_url" grep -qF '<script src="/assets/swagger-ui-dist/swagger-ui-bundle.js">' "$tmp/body"
check_true "/docs: its style sheet too" grep -qF 'href="/assets/swagger-ui-dist/swagger-ui.css"' "$tmp/body"
fetch "$base/redoc"
check_eq "/redoc: status" 200 "$HTTP_STATUS"
check_true "/redoc: loads the document" grep -qF '<redoc spec-url="/openapi.json">' "$tmp/body"
check_true "/redoc: ReDoc from docs_assets_url" grep -qF '<script src="/assets/redoc/bundles/redoc.standalone.js">' "$tmp/body"
fetch "$base/assets/swagger-ui-dist/swagger-ui-bundle.js"
check_eq "nginx serves the Swagger UI bundle" "200 application/javascript" "$HTTP_STATUS $HTTP_CTYPE"

# Behind the prefix: the pages and the document know it.
fetch "$base/api/openapi.json"
check_eq "/api/openapi.json: status" 200 "$HTTP_STATUS"
cp "$tmp/body" "$tmp/openapi-api.json"
check_match "/api/openapi.json: /api is the server" '^\{"servers":\[\{"url":"/api"\}\],"openapi":"3\.1\.0"' "$(body)"
validate "/api/openapi.json" "$tmp/openapi-api.json"
fetch "$base/api/docs"
check_true "/api/docs: loads /api/openapi.json" grep -qF 'url: "/api/openapi.json"' "$tmp/body"
fetch "$base/api/redoc"
check_true "/api/redoc: loads /api/openapi.json" grep -qF 'spec-url="/api/openapi.json"' "$tmp/body"
fetch "$base/api/items/7"
check_eq "/api/items/7 reaches the app" '200 {"item_id":7,"data":"some data"}' "$HTTP_STATUS $(body)"

# ---- the browser --------------------------------------------------------------
rc=0
out=$(cd "$tmp" && node "$browser_dir/docs-browser.js" "$base" "$artifacts" 2>&1) || rc=$?
printf '%s\n' "$out" | sed 's/^/# browser: /'
check_eq "browser: docs-browser.js exits 0" 0 "$rc"
check_match "browser: /docs executed GET /items/5 and shows the 200 body" \
    'response in the page: 200 \{ *"item_id": 5, *"data": "some data" *\}' "$out"
check_match "browser: /redoc renders the operations" 'redoc: [0-9]+ operations rendered' "$out"
check_match "browser: /api/docs loaded /api/openapi.json and called /api/items/5" \
    'the page called /api/items/5.*prefix: the page loaded /api/openapi.json' "$(printf '%s' "$out" | tr '\n' ' ')"
for s in docs redoc prefix; do
    check_true "browser: screenshot $artifacts-$s.png" test -s "$artifacts-$s.png"
    log "screenshot: $artifacts-$s.png"
done
stop_pid "$NGINX_PID"
stop_pid "$EVFCGID_PID"

# ---- directives and app options, straight over FastCGI ------------------------
# req URI [-p NAME=VALUE]...: status line and body of one request.
req() {
    local uri=$1
    shift
    "$FCGI_CLIENT" -t 10 request "$EVFCGID_ADDR" GET "$uri" "$@" >"$tmp/raw" ||
        fail "fcgi-client failed on $uri"
    sed -n 's/^Status: \([0-9]*\).*/\1/p' "$tmp/raw" | head -n 1 >"$tmp/status"
    [[ -s $tmp/status ]] || echo 200 >"$tmp/status"
    sed '1,/^\r\{0,1\}$/d' "$tmp/raw" >"$tmp/body"
}

# Defaults: the CDN, FastAPI's.
start_evfcgid_tcp -a "$DEMO_APP"
req /docs
check_true "default assets: Swagger UI from jsDelivr" grep -qF 'src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"' "$tmp/body"
req /redoc
check_true "default assets: ReDoc from jsDelivr" grep -qF 'src="https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"' "$tmp/body"
# A SCRIPT_NAME that is no plain path is not trusted as a prefix.
req /docs -p 'SCRIPT_NAME=/x"onload=alert(1)'
check_true "a SCRIPT_NAME with quotes is ignored" grep -qF 'url: "/openapi.json"' "$tmp/body"
check_true "the daemon logs why" poll_until 10 grep -qF "not a plain path" "$EVFCGID_LOG"
stop_pid "$EVFCGID_PID"

# App options move and title the pages; root_path gives the prefix.
start_evfcgid_tcp -a "$DEMO_APP" -o demo:docs_url=/swagger \
    -o demo:redoc_url=off -o 'demo:title=Demo <API>' -o demo:version=1.2.3 \
    --root-path /mnt
req /swagger
check_eq "docs_url option: the page moved" 200 "$(cat "$tmp/status")"
check_true "root_path: the page loads /mnt/openapi.json" grep -qF 'url: "/mnt/openapi.json"' "$tmp/body"
check_true "title option: escaped in the page" grep -qF '<title>Demo &lt;API&gt; - Swagger UI</title>' "$tmp/body"
req /docs
check_eq "docs_url option: /docs is free" 404 "$(cat "$tmp/status")"
req /redoc
check_eq "redoc_url=off: no /redoc" 404 "$(cat "$tmp/status")"
req /openapi.json
check_match "title and version options: the document's info" \
    '^\{"servers":\[\{"url":"/mnt"\}\],"openapi":"3\.1\.0","info":\{"title":"Demo <API>","version":"1\.2\.3"\}' "$(body)"
stop_pid "$EVFCGID_PID"

# Everything off from the configuration file.
cat >"$tmp/off.conf" <<EOF
[evfcgid]
openapi_url = off
EOF
start_evfcgid_tcp -c "$tmp/off.conf" -a "$DEMO_APP"
for u in /openapi.json /docs /redoc; do
    req "$u"
    check_eq "openapi_url = off: $u is not served" 404 "$(cat "$tmp/status")"
done
req /hello
check_eq "openapi_url = off: the app still answers" '{"message":"hello"}' "$(body)"
stop_pid "$EVFCGID_PID"
