#!/usr/bin/env bash
# Management end to end through the real server (issue 11, "Tests"): every
# command kind queued with `dmsec cmd` or the management API (Atomic and
# Sequence: the API; the CLI has no group command), delivered by
# dmsec-server to dmsec-client and answered; what the store recorded
# (`dmsec cmd show|results|inventory --json`, sqlite3) and what the agent's
# tree holds afterwards (`dmsec-client show|get`). An ACL denial comes back
# as a failed command with 425. Order kept over three sessions and two
# server restarts (30 Replaces of one leaf, then a Get), each command
# recorded once. Sessions with nothing queued: over HTTPS with a client
# certificate the device stops after package #2 and the session is recorded
# ok at once (and counted in dmsec_sessions_total{result="ok"}); over plain
# HTTP it ends in 4 messages, a success.
# usage: mgmt_e2e.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE
set -uo pipefail
SERVER=$1 TOOL=$2 DEVICE=$3
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
CLIENT=$(dirname "$1")/dmsec-client
need_programs mgmt_e2e "$CLIENT" "$DEVICE" jq curl sqlite3 openssl
cd "$work" || exit 1
export DB=$work/srv.db SID=srvA
PORT=
APORT=$(free_port)
TOKEN=$(api_token "$work/token" 16)
LOG=$work/server.log
SOPTS=(--api-listen "127.0.0.1:$APORT" --api-token-file "$work/token" --session-idle 600)
start_server PORT "$LOG" "${SOPTS[@]}" || {
    bad "server starts: $(tail -5 "$LOG")"
    echo "integration mgmt_e2e: $pass passed, $fail failed"
    exit 1
}
URL=http://127.0.0.1:$PORT/dm
API=http://127.0.0.1:$APORT/api/v1
# restart_server: kill (TERM) and start again on the same port and store.
restart_server() {
    kill "$server_pid" && wait "$server_pid" 2>/dev/null
    start_server PORT "$LOG" "${SOPTS[@]}"
}

id=IMEI:490154203239001
tree=$work/$id.tree
expect "enrol" enrol_client "$id" md5 "$URL"
# A subtree the server may manage: a leaf it may only read, a leaf to
# delete, a leaf for the order test.
A="Add=$SID&Delete=$SID&Get=$SID&Replace=$SID&Exec=$SID"
expect "provision ./Ext" tree_append "$tree" "1 node Ext $A" "2 chr Gone - bye" "2 chr Leaf - one" \
    "2 chr Locked Get=$SID zero" "2 int Ord - 0"
cat >"$work/run.sh" <<EOF
#!/bin/sh
printf 'uri=%s server=%s corr=%s data=%s\n' "\$DMSEC_EXEC_URI" "\$DMSEC_EXEC_SERVER" \
    "\$DMSEC_EXEC_CORRELATOR" "\$DMSEC_EXEC_DATA" >>"$work/exec.log"
EOF
chmod +x "$work/run.sh"
session() { # [option...]: one client-initiated session of the agent, both sides authenticated
    "$CLIENT" session --tree "$tree" --server "$SID" --exec-handler "./Ext/Run=$work/run.sh" "$@" \
        >"$work/sess.out" 2>&1 && both_ok "$work/sess.out" || {
        cat "$work/sess.out"
        tail -n 5 "$LOG"
        return 1
    }
}
q() { "$TOOL" cmd "$1" "$id" "$2" --db "$DB" "${@:3}"; } # KIND URI [option...]: the id
api_post() { # JSON: queues through the API, prints the answer
    curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        --data-binary "$1" "$API/devices/$(jq -rn --arg s "$id" '$s|@uri')/commands"
}
show() { "$TOOL" cmd show "$1" --db "$DB" --json; }
check() { # NAME ID JQ-FILTER WANT: the filter over `dmsec cmd show ID --json`
    local got
    got=$(show "$2" | jq -r "$3")
    [ "$got" = "$4" ] && ok "$1" || bad "$1: got '$got' want '$4'"
}
leaf() { "$CLIENT" show --tree "$tree" | sed -n "s|^$1 \[[^]]*\]\( acl=\"[^\"]*\"\)\? = \"\(.*\)\"$|\2|p"; }

# ---- (1) every command kind, queued in this order ----
printf '\000\001\377' >"$work/bin"
c_get=$(q get ./DevInfo/Man)
c_dir=$(q get ./Ext)
c_rep=$(q replace ./Ext/Leaf --data two --format chr)
c_add=$(q add ./Ext/New --data fresh --format chr --type text/plain)
c_int=$(q add ./Ext/Num --data 42 --format int)
c_del=$(q delete ./Ext/Gone)
c_exe=$(q exec ./Ext/Run --data go --correlator corr-77)
c_cpy=$(q copy ./Ext/Copy --source ./Ext/Leaf)
g_atom=$(api_post '{"kind":"atomic","commands":[{"kind":"add","target":"./Ext/At","data":"a1","format":"chr"},{"kind":"replace","target":"./Ext/Leaf","data":"three","format":"chr"}]}')
c_atom=$(jq -r .id <<<"$g_atom")
g_seq=$(api_post '{"kind":"sequence","commands":[{"kind":"get","target":"./Ext/At"},{"kind":"add","target":"./Ext/Seq","data":"s1","format":"chr"}]}')
c_seq=$(jq -r .id <<<"$g_seq")
c_acl=$(q replace ./Ext/Locked --data nope --format chr)
c_acl2=$(q replace ./DevInfo/Man --data nope --format chr)
c_miss=$(q get ./No/Such/Node)
all="$c_get $c_dir $c_rep $c_add $c_int $c_del $c_exe $c_cpy $c_atom $c_seq $c_acl $c_acl2 $c_miss"
n=0
for c in $all; do [[ $c =~ ^[0-9]+$ ]] && n=$((n + 1)); done
[ "$n" = 13 ] && ok "13 commands queued (CLI and API)" || bad "queued: $all / $g_atom / $g_seq"

expect "a session carries them" session
check "get: done 200" "$c_get" '.state + " " + (.status|tostring)' "done 200"
check "get: the value in the result" "$c_get" .result manufacturer-of-the-e2e-test-device
res=$("$TOOL" results "$id" --db "$DB" --json)
[ "$(jq -r --argjson c "$c_get" '.[] | select(.id == $c) | .result' <<<"$res")" = manufacturer-of-the-e2e-test-device ] &&
    ok "dmsec results: the Get's value" || bad "results: $res"
check "get of an interior node: its child list" "$c_dir" '.state + " " + .result' "done Gone/Leaf/Locked/Ord/Run"
check "replace: done 200" "$c_rep" '.state + " " + (.status|tostring)' "done 200"
check "add: done 200" "$c_add" '.state + " " + (.status|tostring)' "done 200"
check "add int: done" "$c_int" .state "done"
check "delete: done 200" "$c_del" '.state + " " + (.status|tostring)' "done 200"
check "exec: done 200" "$c_exe" '.state + " " + (.status|tostring)' "done 200"
check "copy: done 200" "$c_cpy" '.state + " " + (.status|tostring)' "done 200"
check "atomic: done 200" "$c_atom" '.state + " " + (.status|tostring)' "done 200"
check "sequence: done 200" "$c_seq" '.state + " " + (.status|tostring)' "done 200"
members() { "$TOOL" cmd list "$id" --db "$DB" --json | jq -r --argjson g "$1" \
    '[.[] | select(.parent_id == $g) | .kind + ":" + .state + ":" + (.status|tostring)] | join(" ")'; }
m=$(members "$c_atom")
[ "$m" = "add:done:200 replace:done:200" ] && ok "atomic: each member answered" || bad "atomic members: $m"
m=$(members "$c_seq")
[ "$m" = "get:done:200 add:done:200" ] && ok "sequence: each member answered" || bad "sequence members: $m"
sget=$("$TOOL" cmd list "$id" --db "$DB" --json | jq -r --argjson g "$c_seq" '.[] | select(.parent_id == $g and .kind == "get") | .result')
[ "$sget" = a1 ] && ok "sequence: its Get reads what the atomic added" || bad "sequence get: '$sget'"
check "ACL denial: failed 425" "$c_acl" '.state + " " + (.status|tostring)' "failed 425"
check "Replace of DevInfo (ACL Get=*): failed 425" "$c_acl2" '.state + " " + (.status|tostring)' "failed 425"
check "missing node: failed 404" "$c_miss" '.state + " " + (.status|tostring)' "failed 404"
left=$("$TOOL" cmd list "$id" --db "$DB" --state queued,sent --json | jq length)
[ "$left" = 0 ] && ok "nothing left queued or sent" || bad "$left left"
# the agent's tree afterwards
[ "$(leaf ./Ext/Leaf)" = three ] && ok "tree: Leaf replaced (then by the atomic)" || bad "Leaf: $(leaf ./Ext/Leaf)"
"$CLIENT" show --tree "$tree" | grep -q '^./Ext/New \[chr text/plain\] = "fresh"$' &&
    ok "tree: New added, with its Format and Type" || bad "New: $("$CLIENT" show --tree "$tree" | grep New)"
"$CLIENT" show --tree "$tree" | grep -q '^./Ext/Num \[int\] = "42"$' && ok "tree: Num is an int 42" ||
    bad "Num: $("$CLIENT" show --tree "$tree" | grep Num)"
"$CLIENT" show --tree "$tree" | grep -q '^./Ext/Gone ' && bad "tree: Gone still there" || ok "tree: Gone deleted"
[ "$(leaf ./Ext/Copy)" = two ] && ok "tree: Copy has Leaf's value of its time" || bad "Copy: $(leaf ./Ext/Copy)"
[ "$(leaf ./Ext/At)" = a1 ] && [ "$(leaf ./Ext/Seq)" = s1 ] && ok "tree: the groups' Adds" || bad "At/Seq"
[ "$(leaf ./Ext/Locked)" = zero ] && [ "$(leaf ./DevInfo/Man)" = manufacturer-of-the-e2e-test-device ] &&
    ok "tree: the denied leaves unchanged" || bad "Locked: $(leaf ./Ext/Locked)"
grep -qx "uri=./Ext/Run server=$SID corr=corr-77 data=go" "$work/exec.log" 2>/dev/null &&
    [ "$(wc -l <"$work/exec.log")" = 1 ] && ok "exec: the handler ran once with the correlator and data" ||
    bad "exec log: $(cat "$work/exec.log" 2>&1)"
inv=$("$TOOL" inventory "$id" --db "$DB" --json)
jq -e --arg d "$id" '[.values[] | {(.uri): .value}] | add | .["./DevInfo/Man"] == "manufacturer-of-the-e2e-test-device"
    and .["./DevInfo/DevId"] == $d and .["./DevInfo/Mod"] == "model-name-of-the-e2e-test-device-0123"
    and (.["./DevInfo/DmV"] | length) > 0' <<<"$inv" >/dev/null && ok "inventory: DevInfo of package #1" ||
    bad "inventory: $inv"
last=$(sqlite3 "$DB" "SELECT last_seen FROM devices WHERE device_id = '$id'")
[ "${last:-0}" -gt 0 ] && ok "last seen recorded ($last)" || bad "last_seen: '$last'"
sq=$(sqlite3 "$DB" "SELECT count(*) FROM commands WHERE device_id = '$id' AND (attempts <> 1 OR done_at = 0)")
[ "$sq" = 0 ] && ok "store: each command sent once and finished" || bad "store: $sq commands not sent once"

# a second session with nothing queued changes nothing
nres=$("$TOOL" results "$id" --db "$DB" --json | jq length)
expect "an empty session" session
[ "$("$TOOL" results "$id" --db "$DB" --json | jq length)" = "$nres" ] && ok "results unchanged" || bad "results changed"
[ "$(wc -l <"$work/exec.log")" = 1 ] && ok "exec not run again" || bad "exec ran again"

# binary data: OPAQUE in WBXML
c_bin=$(q add ./Ext/Bin --data-file "$work/bin" --format bin)
c_gbin=$(q get ./Ext/Bin)
expect "a WBXML session" session --codec wbxml
check "add bin (WBXML): done 200" "$c_bin" '.state + " " + (.status|tostring)' "done 200"
check "get bin (WBXML): the bytes back" "$c_gbin" '.result + " " + .result_encoding' "AAH/ base64"
"$CLIENT" show --tree "$tree" | grep -q '^./Ext/Bin \[bin\] = hex:0001ff$' && ok "tree: Bin holds the bytes" ||
    bad "Bin: $("$CLIENT" show --tree "$tree" | grep Bin)"

# ---- (2) order over three sessions and two server restarts ----
ids=()
for v in $(seq 1 10); do ids+=("$(q replace ./Ext/Ord --data "$v" --format int)"); done
expect "order: session 1 of 3" session
[ "$(leaf ./Ext/Ord)" = 10 ] && ok "order: 10 after session 1" || bad "after session 1: $(leaf ./Ext/Ord)"
for v in $(seq 11 20); do ids+=("$(q replace ./Ext/Ord --data "$v" --format int)"); done
expect "server restarts" restart_server
expect "order: session 2 of 3" session
for v in $(seq 21 30); do ids+=("$(q replace ./Ext/Ord --data "$v" --format int)"); done
c_last=$(q get ./Ext/Ord)
expect "server restarts again" restart_server
expect "order: session 3 of 3" session
[ "$(leaf ./Ext/Ord)" = 30 ] && ok "order: the leaf ends at 30" || bad "final: $(leaf ./Ext/Ord)"
check "order: the Get after them reads 30" "$c_last" .result 30
idlist=$(IFS=,; echo "${ids[*]},$c_last")
rows=$(sqlite3 "$DB" "SELECT id, state, status, attempts, done_at, session_id FROM commands WHERE id IN ($idlist) ORDER BY id")
[ "$(wc -l <<<"$rows")" = 31 ] && ok "order: 31 rows" || bad "rows: $rows"
[ "$(awk -F'|' '$2 != 3 || $3 != 200 || $4 != 1' <<<"$rows" | wc -l)" = 0 ] &&
    ok "order: each done 200, sent once" || bad "order rows: $(awk -F'|' '$2 != 3 || $3 != 200 || $4 != 1' <<<"$rows")"
awk -F'|' 'NR > 1 && $5 < prev { exit 1 } { prev = $5 }' <<<"$rows" && ok "order: done_at never goes back" ||
    bad "done_at order"
[ "$(cut -d'|' -f6 <<<"$rows" | uniq | wc -l)" = 3 ] && ok "order: three sessions" ||
    bad "sessions: $(cut -d'|' -f6 <<<"$rows" | uniq -c)"
# the server logs each Status as it records it: once each, in queue order
logged=$(grep -o "command [0-9]* device=$id session=[0-9A-F]* status=200" "$LOG" | awk '{print $2}' |
    grep -xF -f <(tr ',' '\n' <<<"$idlist"))
[ "$logged" = "$(tr ',' '\n' <<<"$idlist")" ] && ok "order: recorded in queue order, once each" ||
    bad "log order: $(tr '\n' ' ' <<<"$logged")"

# ---- (5) sessions with nothing queued ----
metric_ok() { curl -s "http://127.0.0.1:$PORT/metrics" | sed -n 's/^dmsec_sessions_total{result="ok"} \([0-9]*\).*/\1/p'; }
nsess() { "$TOOL" sessions --db "$DB" --json | jq --arg d "$1" '[.[] | select(.device_id == $d)] | length'; }
# plain HTTP: the server needs the device's verdict on its Cred, so it asks
# for the inventory; the device answers, and the server's package #4 ends it
D=IMEI:490154203239002
expect "device for the plain HTTP case" device_state $D md5 "$work/d.state"
expect "plain HTTP, nothing queued: a success" "$DEVICE" session --state "$work/d.state" --url "$URL"
# (messages= counts the device's messages: 2 of the 4)
msgs=$(field messages "$work/out")
[ "$msgs" = 2 ] && ok "plain HTTP: 4 messages" || bad "plain HTTP: messages=$msgs: $(cat "$work/out")"
srow=$("$TOOL" sessions --db "$DB" --json | jq -c --arg d $D '[.[] | select(.device_id == $d)][0]')
jq -e '.result == "ok" and .messages == 2' <<<"$srow" >/dev/null &&
    ok "plain HTTP: session recorded ok" || bad "plain HTTP session row: $srow"

# HTTPS with a client certificate: the server needs no answer to package #2
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 \
    -subj /CN=mgmt-test-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >srv.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile srv.ext 2>/dev/null
T=IMEI:490154203239003
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout dev.key -out dev.csr -subj "/CN=$T" 2>/dev/null
openssl x509 -req -in dev.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out dev.pem -days 2 2>/dev/null
TPORT=
expect "HTTPS server starts" start_server TPORT "$work/server-tls.log" --tls-cert srv.pem --tls-key srv.key \
    --client-ca ca.pem --session-idle 600
"$TOOL" device add --db "$DB" --device-id $T --client-name $T --client-secret unused-$RANDOM --scheme md5 \
    --server-id $SID --cert-subject $T --json >"$work/t.json"
cat >"$work/t.state" <<EOF
device_id=$T
server_id=$SID
client_name=$T
client_secret=not-the-registered-one
server_secret=$(jq -r .server_secret "$work/t.json")
client_scheme=md5
server_scheme=md5
integrity=none
client_nonce=$(jq -r .client_nonce_b64 "$work/t.json")
server_nonce=$(jq -r .server_nonce_b64 "$work/t.json")
EOF
tmetric() { curl -sk "https://127.0.0.1:$TPORT/metrics" | sed -n 's/^dmsec_sessions_total{result="ok"} \([0-9]*\).*/\1/p'; }
before=$(tmetric)
expect "HTTPS + client certificate, nothing queued: a success" \
    "$DEVICE" session --state "$work/t.state" --url "https://127.0.0.1:$TPORT/dm" --ca ca.pem --cert dev.pem --key dev.key
msgs=$(field messages "$work/out")
[ "$msgs" = 1 ] && ok "HTTPS: the device stopped after package #2" || bad "HTTPS: messages=$msgs: $(cat "$work/out")"
# at once: no idle timeout (600 s here) in between
srow=$("$TOOL" sessions --db "$DB" --json | jq -c --arg d $T '[.[] | select(.device_id == $d)][0]')
jq -e '(.ended | type) == "string"' <<<"$srow" >/dev/null && ok "HTTPS: the session recorded ended at once" ||
    bad "HTTPS session row: $srow"
jq -e '.result == "ok" and .messages == 1' <<<"$srow" >/dev/null &&
    ok "HTTPS: recorded ok" || bad "HTTPS session row: $srow"
after=$(tmetric)
[ "$((after - ${before:-0}))" = 1 ] && ok "dmsec_sessions_total{result=\"ok\"} +1" ||
    bad "ok sessions metric: $before -> $after"

echo "integration mgmt_e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
