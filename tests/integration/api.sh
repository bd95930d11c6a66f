#!/usr/bin/env bash
# The management API of dmsec-server against docs/openapi.json: a real
# server with devices registered by the dmsec tool (one has had a session
# with the scripted test device), and for each operation of the document a
# real request whose status and JSON body are validated against the
# operation's response schema (types, required properties, no undocumented
# property; recursively: api_schema.jq). Fails when an operation of the
# document was never exercised with a success. Plus: no token / a wrong
# token -> 401, an unknown device -> 404, a bad URI, a bad escape or
# oversized data -> 400, a body over the limit -> 413, a wrong method ->
# 405, all with JSON error bodies; a command queued through the API is in
# the store.
# usage: api.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE
set -uo pipefail
SERVER=$1 TOOL=$2 DEVICE=$3
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.bash
. "$here/common.bash"
need_programs api jq curl sqlite3
SPEC=$here/../../docs/openapi.json
CHECK=$here/api_schema.jq

DB=$work/dmsec.db
SID=dmsec-api-test
PORT=
APORT=$(free_port)
TOKEN=$(api_token "$work/token")
LOG=$work/server.log
API=http://127.0.0.1:$APORT/api/v1
: >"$work/exercised"

# ---- the token file is checked before the server starts ----
printf '\n' >"$work/empty-token"
chmod 600 "$work/empty-token"
refuse "an empty token file: the server refuses to start" \
    "$SERVER" --listen 127.0.0.1:0 --db "$DB" --api-listen "127.0.0.1:$APORT" --api-token-file "$work/empty-token"
cp "$work/token" "$work/open-token"
chmod 644 "$work/open-token"
refuse "a world-readable token file: refused" \
    "$SERVER" --listen 127.0.0.1:0 --db "$DB" --api-listen "127.0.0.1:$APORT" --api-token-file "$work/open-token"
refuse "a missing token file: refused" \
    "$SERVER" --listen 127.0.0.1:0 --db "$DB" --api-listen "127.0.0.1:$APORT" --api-token-file "$work/none"

start_server PORT "$LOG" --api-listen "127.0.0.1:$APORT" --api-token-file "$work/token" || {
    bad "server starts with the API"
    cat "$LOG"
    echo "integration api: $pass passed, $fail failed"
    exit 1
}
wait_up "$API/devices" && ok "server starts, API answers" || bad "API does not answer"

# ---- devices: one with a session behind it, one plain, one unnotifiable ----
D1=IMEI:490154203237001
D2=IMEI:490154203237002
D3=MAC:00-11-22-33-44-55
NPORT=$(free_port)
device_state $D1 md5 "$work/d1.state" "$NPORT" && ok "device $D1 registered" || bad "register $D1"
register_device $D2 sha256 "$NPORT" && ok "device $D2 registered" || bad "register $D2"
register_device $D3 basic && ok "device $D3 registered" || bad "register $D3"
expect "a session of $D1 (sessions, audit, inventory to list)" \
    "$DEVICE" session --state "$work/d1.state" --url "http://127.0.0.1:$PORT/dm"
enc() { jq -rn --arg s "$1" '$s|@uri'; }
E1=$(enc $D1) E2=$(enc $D2) E3=$(enc $D3)

# call NAME METHOD TEMPLATE PATH STATUS [BODY_FILE] [CURL OPTION...]: a request
# with the token; passes when the status is STATUS, the answer is JSON and
# its body conforms to the document's schema for that operation and
# status. The body is left in $work/body.
call() {
    local name=$1 method=$2 tmpl=$3 path=$4 want=$5 bodyf=${6:-}
    local args=(-s -o "$work/body" -D "$work/head" -w '%{http_code}' -X "${CALL_X:-${method^^}}"
        -H "Authorization: Bearer $TOKEN" "${@:7}")
    [ -n "$bodyf" ] && args+=(-H 'Content-Type: application/json' --data-binary "@$bodyf")
    local got errs
    got=$(curl "${args[@]}" "$API$path")
    if [ "$got" != "$want" ]; then
        bad "$name: status $got, want $want: $(head -c 300 "$work/body")"
        return 1
    fi
    if ! grep -qi '^content-type: application/json' "$work/head"; then
        bad "$name: not JSON ($(grep -i '^content-type' "$work/head"))"
        return 1
    fi
    errs=$(jq -n -c --slurpfile spec "$SPEC" --slurpfile body "$work/body" --arg path "$tmpl" \
        --arg method "$method" --arg status "$want" -f "$CHECK" 2>&1)
    if [ "$errs" != "[]" ]; then
        bad "$name: against the schema: $errs"
        return 1
    fi
    echo "$method $tmpl $want" >>"$work/exercised"
    ok "$name"
}
json() { # FILE JSON: writes a request body
    printf '%s' "$2" >"$work/$1"
    echo "$work/$1"
}

# ---- authentication ----
unauth() { # NAME [CURL OPTION...]: 401, JSON error, WWW-Authenticate: Bearer
    local code
    code=$(curl -s -o "$work/body" -D "$work/head" -w '%{http_code}' "${@:2}" "$API/devices")
    if [ "$code" = 401 ] && jq -e '.error == "unauthorized" and (.message | type == "string")' "$work/body" >/dev/null &&
        grep -qi '^www-authenticate: bearer' "$work/head"; then ok "$1"; else bad "$1: $code $(cat "$work/body")"; fi
}
unauth "no token: 401 with a JSON error"
unauth "a wrong token: 401" -H "Authorization: Bearer ${TOKEN}x"
unauth "a token prefix: 401" -H "Authorization: Bearer ${TOKEN:0:10}"
unauth "another scheme: 401" -H "Authorization: Basic $TOKEN"
code=$(curl -s -o "$work/body" -w '%{http_code}' -X POST --data '{"kind":"get","target":"./DevInfo/Man"}' \
    -H 'Content-Type: application/json' "$API/devices/$E1/commands")
[ "$code" = 401 ] && ok "no token on a POST: 401" || bad "no token on a POST: $code"
if grep -q -- "$TOKEN" "$LOG"; then bad "the token reached the log"; else ok "the token is not logged"; fi

# ---- devices ----
call "list devices" get /devices /devices 200 &&
    jq -e '(.devices | length) == 3 and (has("next") | not) and all(.devices[]; has("server_secret") | not)' "$work/body" >/dev/null &&
    ok "three devices, no secrets" || bad "device list: $(cat "$work/body")"
call "devices, first page" get /devices '/devices?limit=2' 200
next=$(jq -r .next "$work/body")
[ "$(jq -r '[.devices[].id] | join(",")' "$work/body")" = "$D1,$D2" ] && [ "$next" = "$D2" ] &&
    ok "paging: the first page ends at $D2" || bad "paging: $(cat "$work/body")"
call "devices, next page" get /devices "/devices?limit=2&after=$(enc "$next")" 200 &&
    [ "$(jq -r '[.devices[].id] | join(",")' "$work/body")" = "$D3" ] && ok "paging: then $D3" || bad "paging 2"
call "devices, prefix" get /devices "/devices?prefix=$(enc MAC:)" 200 &&
    [ "$(jq -r '[.devices[].id] | join(",")' "$work/body")" = "$D3" ] && ok "prefix filter" || bad "prefix"
call "devices, bad limit" get /devices '/devices?limit=zero' 400
call "show a device" get /devices/{id} "/devices/$E1" 200 &&
    jq -e --arg d $D1 '.id == $d and .last_seen > 0 and .sync.pending_commands == 0 and .client_scheme == "md5"' "$work/body" >/dev/null &&
    ok "device: md5, nothing pending" || bad "device: $(cat "$work/body")"
call "unknown device: 404" get /devices/{id} /devices/IMEI%3A000 404
call "a bad escape in the path: 400" get /devices/{id} /devices/IMEI%3 400
call "a NUL escape in the path: 400" get /devices/{id} /devices/IMEI%00 400
call "inventory" get /devices/{id}/inventory "/devices/$E1/inventory" 200
call "inventory of an unknown device: 404" get /devices/{id}/inventory /devices/nope/inventory 404

# ---- commands ----
call "queue a get" post /devices/{id}/commands "/devices/$E1/commands" 201 \
    "$(json c1 '{"kind":"get","target":"./DevInfo/Man"}')"
C1=$(jq -r .id "$work/body")
jq -e '.state == "queued" and .kind == "get" and .queued_by == "api"' "$work/body" >/dev/null && ok "queued as get" || bad "get: $(cat "$work/body")"
call "queue a replace (text data, format, type, expiry)" post /devices/{id}/commands "/devices/$E1/commands" 201 \
    "$(json c2 '{"kind":"replace","target":"./Ext/Value","data":"hello","format":"chr","type":"text/plain","expires":3600}')"
C2=$(jq -r .id "$work/body")
jq -e '.data == "hello" and .format == "chr" and .expires > 0' "$work/body" >/dev/null && ok "replace keeps its data" || bad "replace: $(cat "$work/body")"
call "queue an add (base64 data)" post /devices/{id}/commands "/devices/$E1/commands" 201 \
    "$(json c3 '{"kind":"add","target":"./Ext/Bin","data_b64":"AAEC/w==","format":"bin"}')"
jq -e '.data_b64 == "AAEC/w=="' "$work/body" >/dev/null && ok "binary data comes back in base64" || bad "b64: $(cat "$work/body")"
call "queue an exec (correlator)" post /devices/{id}/commands "/devices/$E1/commands" 201 \
    "$(json c4 '{"kind":"exec","target":"./Ext/Run","correlator":"corr-1","data":"go"}')"
call "queue a copy" post /devices/{id}/commands "/devices/$E1/commands" 201 \
    "$(json c5 '{"kind":"copy","target":"./Ext/B","source":"./Ext/A"}')"
call "queue a delete, and notify" post /devices/{id}/commands "/devices/$E1/commands" 201 \
    "$(json c6 '{"kind":"delete","target":"./Ext/B","notify":true}')"
jq -e '.notified == true and (.notify_session_id | length) == 4' "$work/body" >/dev/null && ok "notified" || bad "notify: $(cat "$work/body")"
call "queue an atomic with members" post /devices/{id}/commands "/devices/$E1/commands" 201 \
    "$(json c7 '{"kind":"atomic","commands":[{"kind":"replace","target":"./Ext/X","data":"1","format":"int"},{"kind":"get","target":"./Ext/X"}]}')"
G=$(jq -r .id "$work/body")
jq -e --argjson g "$G" '.kind == "atomic" and (.members | length) == 2 and all(.members[]; .parent_id == $g)' "$work/body" >/dev/null &&
    ok "atomic: members under the group" || bad "atomic: $(cat "$work/body")"
call "queue a sequence" post /devices/{id}/commands "/devices/$E2/commands" 201 \
    "$(json c8 '{"kind":"sequence","commands":[{"kind":"get","target":"./DevDetail/FwV"}]}')"

# bad input
call "a target with a space: 400" post /devices/{id}/commands "/devices/$E1/commands" 400 \
    "$(json b1 '{"kind":"get","target":"./Dev Info"}')"
call "no target: 400" post /devices/{id}/commands "/devices/$E1/commands" 400 "$(json b2 '{"kind":"get"}')"
call "an unknown kind: 400" post /devices/{id}/commands "/devices/$E1/commands" 400 "$(json b3 '{"kind":"format","target":"./A"}')"
call "an unknown format: 400" post /devices/{id}/commands "/devices/$E1/commands" 400 \
    "$(json b4 '{"kind":"replace","target":"./A","data":"x","format":"jpeg"}')"
call "not JSON: 400" post /devices/{id}/commands "/devices/$E1/commands" 400 "$(json b5 '{"kind":')"
call "bad base64: 400" post /devices/{id}/commands "/devices/$E1/commands" 400 \
    "$(json b6 '{"kind":"replace","target":"./A","data_b64":"!!!!"}')"
call "an atomic without members: 400" post /devices/{id}/commands "/devices/$E1/commands" 400 "$(json b7 '{"kind":"atomic"}')"
head -c $((4 * 1024 * 1024 + 1)) /dev/zero | tr '\0' a | jq -Rs '{kind:"replace",target:"./A",data:.}' >"$work/big"
call "data over 4 MiB: 400" post /devices/{id}/commands "/devices/$E1/commands" 400 "$work/big"
head -c $((9 * 1024 * 1024)) /dev/zero | tr '\0' a | jq -Rs '{kind:"replace",target:"./A",data:.}' >"$work/huge"
call "a body over 8 MiB: 413" post /devices/{id}/commands "/devices/$E1/commands" 413 "$work/huge"
call "queue for an unknown device: 404" post /devices/{id}/commands /devices/IMEI%3A000/commands 404 \
    "$(json b8 '{"kind":"get","target":"./A"}')"

# the store has them (what `dmsec cmd list` reads)
n=$(sqlite3 "$DB" "SELECT count(*) FROM commands WHERE device_id = '$D1'" 2>/dev/null)
[ "$n" = 9 ] && ok "the store holds the 9 commands of $D1" || bad "store: $n commands of $D1"
if "$TOOL" cmd list "$D1" --db "$DB" --json >"$work/cli" 2>/dev/null; then
    jq -e --argjson id "$C1" 'any(.[]?, .commands[]?; .id == $id)' "$work/cli" >/dev/null &&
        ok "dmsec cmd list shows the API's command" || bad "cmd list: $(head -c 300 "$work/cli")"
fi

call "list commands" get /devices/{id}/commands "/devices/$E1/commands" 200 &&
    [ "$(jq '.commands | length' "$work/body")" = 9 ] && [ "$(jq '.commands[0].id' "$work/body")" = "$C1" ] &&
    ok "9 commands, in queue order" || bad "list: $(head -c 300 "$work/body")"
call "list commands, state and paging" get /devices/{id}/commands "/devices/$E1/commands?state=queued,sent&limit=2&offset=1" 200 &&
    [ "$(jq '.commands | length' "$work/body")" = 2 ] && ok "limit and offset" || bad "paged list"
call "list commands, bad state: 400" get /devices/{id}/commands "/devices/$E1/commands?state=bogus" 400
call "show a command" get /commands/{id} "/commands/$C1" 200 && jq -e --argjson id "$C1" '.id == $id' "$work/body" >/dev/null
call "an unknown command: 404" get /commands/{id} /commands/999999 404
call "cancel a command" post /commands/{id}/cancel "/commands/$C1/cancel" 200 &&
    jq -e '.state == "cancelled"' "$work/body" >/dev/null && ok "cancelled" || bad "cancel: $(cat "$work/body")"
call "cancel it again: 409" post /commands/{id}/cancel "/commands/$C1/cancel" 409
call "DELETE a command" delete /commands/{id} "/commands/$C2" 200
call "DELETE it again: 409" delete /commands/{id} "/commands/$C2" 409
[ "$(sqlite3 "$DB" "SELECT count(*) FROM commands WHERE id IN ($C1, $C2) AND state = $((6))" 2>/dev/null)" = 2 ] ||
    [ "$(sqlite3 "$DB" "SELECT count(*) FROM commands WHERE id IN ($C1, $C2) AND state = 'cancelled'" 2>/dev/null)" = 2 ] &&
    ok "the store has them cancelled" || bad "store: not cancelled"
call "device: pending commands counted" get /devices/{id} "/devices/$E1" 200 &&
    [ "$(jq .sync.pending_commands "$work/body")" = 7 ] && ok "pending: 9 queued less 2 cancelled" || bad "pending: $(jq -c .sync "$work/body")"

# ---- results, events, sessions, audit ----
call "results" get /devices/{id}/results "/devices/$E1/results" 200
call "events" get /devices/{id}/events "/devices/$E1/events" 200
call "sessions of a device" get /devices/{id}/sessions "/devices/$E1/sessions" 200 &&
    jq -e 'any(.sessions[]; .ok)' "$work/body" >/dev/null && ok "the session is listed, a success" || bad "sessions: $(cat "$work/body")"
call "all sessions" get /sessions '/sessions?limit=10' 200
call "audit" get /audit /audit 200
call "audit of one device" get /audit "/audit?device=$E1" 200 &&
    jq -e --arg d $D1 'all(.audit[]; .device_id == $d)' "$work/body" >/dev/null && ok "audit filtered by device" || bad "audit filter"
call "audit of an unknown device: 404" get /audit '/audit?device=nope' 404

# ---- notify, FUMO ----
call "notify" post /devices/{id}/notify "/devices/$E2/notify" 200
call "notify a device without an address: 409" post /devices/{id}/notify "/devices/$E3/notify" 409
call "notify an unknown device: 404" post /devices/{id}/notify /devices/nope/notify 404
SHA=$(printf 'firmware' | sha256sum | cut -d' ' -f1)
call "fumo" post /devices/{id}/fumo "/devices/$E2/fumo" 201 \
    "$(json f1 "{\"url\":\"http://127.0.0.1:1/fw.bin\",\"sha256\":\"$SHA\",\"size\":8}")" &&
    jq -e '.kind == "exec" and (.correlator | startswith("fumo-")) and .parent_id > 0' "$work/body" >/dev/null &&
    ok "fumo: the Exec in a sequence" || bad "fumo: $(cat "$work/body")"
call "fumo with a bad digest: 400" post /devices/{id}/fumo "/devices/$E2/fumo" 400 \
    "$(json f2 '{"url":"http://127.0.0.1:1/fw.bin","sha256":"abc"}')"
call "fumo with an ftp URL: 400" post /devices/{id}/fumo "/devices/$E2/fumo" 400 \
    "$(json f3 "{\"url\":\"ftp://x/fw.bin\",\"sha256\":\"$SHA\"}")"

# ---- secret rotation (dmsec device rotate) ----
call "rotate both secrets" post /devices/{id}/rotate "/devices/$E2/rotate" 200 \
    "$(json r1 '{"client":true,"server":true}')" &&
    jq -e '.rotation_requested.client and .rotation_requested.server' "$work/body" >/dev/null &&
    ok "rotate: both sides requested" || bad "rotate: $(cat "$work/body")"
call "the device view shows the rotations requested" get /devices/{id} "/devices/$E2" 200 &&
    jq -e '.sync.rotation.client.requested and .sync.rotation.server.requested and (.sync.rotation.client.pending | not)' \
        "$work/body" >/dev/null && ok "device view: rotation per side" || bad "device view rotation: $(cat "$work/body")"
"$TOOL" audit --db "$DB" --json | jq -e '[.[] | select(.event == "rotation_requested" and .detail == "by api: side=client,server")] | length == 1' >/dev/null &&
    ok "rotate: audited as by api" || bad "rotate: no rotation_requested audit row"
call "rotate neither side: 400" post /devices/{id}/rotate "/devices/$E2/rotate" 400 "$(json r2 '{"client":false}')"
call "rotate with a string: 400" post /devices/{id}/rotate "/devices/$E2/rotate" 400 "$(json r3 '{"client":"yes"}')"
call "rotate with another field: 400" post /devices/{id}/rotate "/devices/$E2/rotate" 400 "$(json r4 '{"client":true,"x":1}')"
call "rotate an unknown device: 404" post /devices/{id}/rotate /devices/nope/rotate 404 "$(json r5 '{"client":true}')"

# ---- methods and paths ----
CALL_X=PUT call "a wrong method: 405" get /devices/{id} "/devices/$E1" 405
grep -qi '^allow: GET' "$work/head" && ok "405 names the allowed methods" || bad "no Allow header"
code=$(curl -s -o "$work/body" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$API/nothing/here")
[ "$code" = 404 ] && jq -e '.error == "not_found"' "$work/body" >/dev/null && ok "unknown path: 404 JSON" || bad "unknown path: $code"

# ---- the queue's bound: 429 ----
for i in $(seq 1 1000); do printf '{"kind":"get","target":"./A/%d"}\n' "$i"; done >"$work/many"
full=0
while read -r line; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        --data-binary "$line" "$API/devices/$E3/commands")
    [ "$code" = 201 ] || {
        full=$code
        break
    }
done <"$work/many"
[ "$full" = 0 ] && ok "1000 commands queued" || bad "queueing 1000: $full"
call "the 1001st: 429" post /devices/{id}/commands "/devices/$E3/commands" 429 "$(json q '{"kind":"get","target":"./A"}')"

# ---- every operation of the document exercised with a success ----
missing=$(jq -r '.paths | to_entries[] | .key as $p | .value | keys[] | "\(.) \($p)"' "$SPEC" | while read -r m p; do
    grep -q "^$m $p 2[0-9][0-9]$" "$work/exercised" || echo "$m $p"
done)
[ -z "$missing" ] && ok "every operation of docs/openapi.json exercised" || bad "never exercised: $missing"

kill "$server_pid"
wait "$server_pid" 2>/dev/null
echo "integration api: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
