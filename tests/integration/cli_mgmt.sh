#!/usr/bin/env bash
# The management CLI end to end with real processes on loopback: commands
# queued with `dmsec cmd`, a device (dmsec-client) that is notified with
# --notify, opens its session and answers them, and what `dmsec results`,
# `cmd show`, `cmd list` and `inventory` then show.
# usage: cli_mgmt.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE
set -uo pipefail
SERVER=$1 TOOL=$2
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
CLIENT=$(dirname "$1")/dmsec-client
need_programs cli_mgmt "$CLIENT" jq
cd "$work" || exit 1
export DB=$work/srv.db SID=srvA
PORT=
expect "server starts" start_server PORT "$work/server.log"
URL=http://127.0.0.1:$PORT/dm

id=IMEI:490154203237518
NPORT=$(free_port)
expect "enrol" enrol_client "$id" md5 "$URL" "$NPORT"
tree=$work/$id.tree

# queued from the command line
get=$("$TOOL" cmd get "$id" ./DevInfo/Man --db "$DB")
rep=$("$TOOL" cmd replace "$id" ./DevDetail/Ext/Greeting --db "$DB" --data hello --format chr)
miss=$("$TOOL" cmd get "$id" ./No/Such/Node --db "$DB")
[[ $get =~ ^[0-9]+$ && $rep =~ ^[0-9]+$ && $miss =~ ^[0-9]+$ ]] && ok "three ids" || bad "ids: '$get' '$rep' '$miss'"

# the device listens; --notify on the last command sends package #0 once the
# commands are durable, and the device opens its session
"$CLIENT" listen --tree "$tree" --port "$NPORT" --once --wait 20 >"$work/listen.out" 2>&1 &
listen_pid=$!
pids+=("$listen_pid")
wait_line listening "$work/listen.out" || bad "listener not up: $(cat "$work/listen.out")"
fw=$("$TOOL" cmd get "$id" ./DevDetail/FwV --db "$DB" --notify --server-id "$SID" --json)
sid=$(jq -r .session_id <<<"$fw")
fw=$(jq -r .id <<<"$fw")
[[ $sid =~ ^[0-9A-F]+$ ]] && ok "--notify: session id $sid" || bad "--notify: '$sid'"
if wait "$listen_pid" && grep -q "^session=$sid .*result=DMSEC_OK" "$work/listen.out"; then
    ok "the notified session ran"
else bad "notified session: $(cat "$work/listen.out")"; fi

# what the device answered
check_field() { # name id jq-filter want
    local got
    got=$("$TOOL" cmd show "$2" --db "$DB" --json | jq -r "$3")
    [ "$got" = "$4" ] && ok "$1" || bad "$1: got '$got' want '$4'"
}
check_field "get done" "$get" '.state + " " + (.status | tostring)' "done 200"
check_field "get result" "$get" .result manufacturer-of-the-e2e-test-device
# the four went in one session (the store keeps the server's session key)
s1=$("$TOOL" cmd show "$get" --db "$DB" --json | jq -r .session_id)
[ -n "$s1" ] && ok "get: its session recorded" || bad "get: no session recorded"
check_field "FwV in the same session" "$fw" .session_id "$s1"
check_field "missing node failed 404" "$miss" '.state + " " + (.status | tostring)' "failed 404"
check_field "FwV done" "$fw" .state "done"
rstate=$("$TOOL" cmd show "$rep" --db "$DB" --json | jq -r .state)
[[ $rstate == "done" || $rstate == failed ]] && ok "replace answered ($rstate)" || bad "replace: $rstate"
res=$("$TOOL" results "$id" --db "$DB" --json)
[ "$(jq length <<<"$res")" = 4 ] && ok "results: four" || bad "results: $res"
text=$("$TOOL" results "$id" --db "$DB")
grep -q "^$get .*200 .*manufacturer-of-the-e2e-test-device$" <<<"$text" && ok "results text" ||
    bad "results text: $text"
[ "$("$TOOL" cmd list "$id" --db "$DB" --state queued,sent --json | jq length)" = 0 ] &&
    ok "nothing left queued" || bad "left: $("$TOOL" cmd list "$id" --db "$DB")"
inv=$("$TOOL" inventory "$id" --db "$DB" --json)
[ "$(jq -r '.values[] | select(.uri=="./DevInfo/Man") | .value' <<<"$inv")" = manufacturer-of-the-e2e-test-device ] &&
    ok "inventory: Man" || bad "inventory: $inv"
[ "$(jq -r '.last_seen | type' <<<"$inv")" = string ] && ok "inventory: last seen" || bad "last seen: $inv"

# a second session with nothing queued changes nothing
"$CLIENT" session --tree "$tree" --server "$SID" >"$work/s2.out" 2>&1
both_ok "$work/s2.out" && ok "empty session" || bad "empty session: $(cat "$work/s2.out")"
[ "$("$TOOL" results "$id" --db "$DB" --json | jq length)" = 4 ] && ok "recorded once" || bad "results changed"

echo "integration cli_mgmt: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
