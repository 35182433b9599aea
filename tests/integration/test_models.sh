#!/usr/bin/env bash
#
# Request and response models behind a real nginx (issue 12): the demo's
# POST /items validates its JSON body into a struct and answers 201 with
# the stored item as a response model; a bad body gets FastAPI's 422 list
# (pydantic v2's error objects), bad JSON json_invalid.  Bodies are
# compared as parsed JSON.
#
# Run by `make check`, or by hand:
#   EVFCGID=src/evfcgid DEMO_APP=apps/.libs/demo.so tests/integration/test_models.sh

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

need "$NGINX"
need curl
need python3
need_daemon

# same_json WHAT WANT: the last fetched body equals WANT as JSON.
same_json() {
    local what=$1 want=$2
    if python3 - "$tmp/body" "$want" <<'PY'
import json, sys
got = json.load(open(sys.argv[1], encoding='utf-8'))
want = json.loads(sys.argv[2])
def strict(v):
    # 1 and 1.0 are equal in Python: compare the types too.
    if isinstance(v, dict):
        return {k: strict(x) for k, x in v.items()}
    if isinstance(v, list):
        return [strict(x) for x in v]
    return (type(v).__name__, v)
sys.exit(0 if strict(got) == strict(want) else 1)
PY
    then
        pass "$what"
    else
        not_ok "$what" "got $(body), want $want"
    fi
}

# post PATH BODY: POST a JSON body.
post() {
    fetch -X POST -H 'Content-Type: application/json' --data-binary "$2" "$base$1"
}

start_evfcgid_tcp -a "$DEMO_APP" -w 1
start_nginx "$NGINX_CONF_TEMPLATE" "127.0.0.1:$EVFCGID_PORT"
base=http://127.0.0.1:$NGINX_PORT
daemon=$EVFCGID_PID

# 1. A full item: 201, stored with an id, every field as sent.
post /items '{"name":"Hammer","price":9.5,"tags":["tools","garden"],"description":"Heavy","kind":"toy"}'
check_eq "POST /items: status" 201 "$HTTP_STATUS"
check_eq "POST /items: Content-Type" application/json "$HTTP_CTYPE"
same_json "POST /items: the stored item" \
    '{"id":1,"name":"Hammer","price":9.5,"tags":["tools","garden"],"description":"Heavy","kind":"toy"}'

# 2. Only the required fields: the defaults; extra keys ignored; lax forms.
post /items '{"name":"Nail","price":"0.25","colour":"red"}'
check_eq "POST /items minimal: status" 201 "$HTTP_STATUS"
same_json "POST /items minimal: defaults filled, next id" \
    '{"id":2,"name":"Nail","price":0.25,"tags":[],"description":null,"kind":"tool"}'

# 3. Everything wrong at once: one 422, fields in declaration order.
post /items '{"name":"","price":0,"tags":["a","b","c","d","e","f","g","h","i","j","k"],"description":5,"kind":"car"}'
check_eq "POST /items invalid: status" 422 "$HTTP_STATUS"
same_json "POST /items invalid: FastAPI's 422 list" '{"detail":[
 {"type":"string_too_short","loc":["body","name"],"msg":"String should have at least 1 character","input":"","ctx":{"min_length":1}},
 {"type":"greater_than","loc":["body","price"],"msg":"Input should be greater than 0","input":0,"ctx":{"gt":0.0}},
 {"type":"too_long","loc":["body","tags"],"msg":"List should have at most 10 items after validation, not 11","input":["a","b","c","d","e","f","g","h","i","j","k"],"ctx":{"field_type":"List","max_length":10,"actual_length":11}},
 {"type":"string_type","loc":["body","description"],"msg":"Input should be a valid string","input":5},
 {"type":"enum","loc":["body","kind"],"msg":"Input should be '"'tool', 'food' or 'toy'"'","input":"car","ctx":{"expected":"'"'tool', 'food' or 'toy'"'"}}]}'

# 3b. The README's example, as printed there.
post /items '{"name":"","price":0,"tags":["a",7]}'
same_json "POST /items: the README's 422 body" '{"detail":[
 {"type":"string_too_short","loc":["body","name"],"msg":"String should have at least 1 character","input":"","ctx":{"min_length":1}},
 {"type":"greater_than","loc":["body","price"],"msg":"Input should be greater than 0","input":0,"ctx":{"gt":0.0}},
 {"type":"string_type","loc":["body","tags",1],"msg":"Input should be a valid string","input":7}]}'

# 4. Missing fields: the whole object is the input; a tag's index in loc.
post /items '{"tags":["ok",7]}'
check_eq "POST /items missing: status" 422 "$HTTP_STATUS"
same_json "POST /items missing: Field required, array index" '{"detail":[
 {"type":"missing","loc":["body","name"],"msg":"Field required","input":{"tags":["ok",7]}},
 {"type":"missing","loc":["body","price"],"msg":"Field required","input":{"tags":["ok",7]}},
 {"type":"string_type","loc":["body","tags",1],"msg":"Input should be a valid string","input":7}]}'

# 5. Not an object, not JSON, no body.
post /items '[1,2]'
same_json "POST /items array: model_attributes_type" '{"detail":[
 {"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":[1,2]}]}'
post /items '{"name": "x",'
check_eq "POST /items bad JSON: status" 422 "$HTTP_STATUS"
check_true "POST /items bad JSON: json_invalid at a position" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["detail"]
e = d[0]
sys.exit(not (len(d) == 1 and e["type"] == "json_invalid" and
              e["loc"][0] == "body" and isinstance(e["loc"][1], int) and
              e["msg"] == "JSON decode error" and e["input"] == {} and
              "error" in e["ctx"]))' "$tmp/body"
fetch -X POST "$base/items"
same_json "POST /items without a body: missing" '{"detail":[
 {"type":"missing","loc":["body"],"msg":"Field required","input":null}]}'

# 6. The stored item count went on only for valid bodies.
post /items '{"name":"Saw","price":12}'
same_json "POST /items after the errors: id 3" \
    '{"id":3,"name":"Saw","price":12.0,"tags":[],"description":null,"kind":"tool"}'

# 7. GET /items/{item_id}: unchanged by the POST route beside it.
fetch "$base/items/5"
check_eq "GET /items/5: 200" '200 {"item_id":5,"data":"some data"}' "$HTTP_STATUS $(body)"
# ... and its documented 404, for an id no item can have.
fetch "$base/items/-1"
check_eq "GET /items/-1: the documented 404" '404 {"detail":"Item not found"}' "$HTTP_STATUS $(body)"

assert_alive "$daemon" "after the model checks"
stop_pid "$NGINX_PID"
stop_pid "$daemon" TERM
check_eq "evfcgid exit status after SIGTERM" 0 "$STOP_STATUS"
