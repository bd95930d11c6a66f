#!/usr/bin/env bash
# Attacks on the management path: what a device reports (Statuses, Results,
# Generic Alerts, DevInfo) is recorded only from an authenticated device, for
# that device, once; commands go only to the authenticated device; the API
# takes only its own bearer token, and only on its own listener.
#  1. a stranger (no Cred, a wrong Cred, another device's Cred) sends, for
#     device A: Statuses for every (MsgRef, CmdRef) in 1..4 and for A's queue
#     ids, Results, a Generic Alert 1226 with the correlator of A's accepted
#     FUMO Exec (Data 200) and a Replace of ./DevInfo/FwV, in package #1 and
#     again (wrong Cred) after the challenge: A's commands, events,
#     inventory, results and first/last seen do not move;
#  2. A's real messages (dmsec-client behind the recording mitm) that carried
#     Results and the FUMO Generic Alert, replayed into new sessions, into
#     their own session ID and to their ended session's RespURI: refused,
#     nothing recorded a second time;
#  3. device B, authenticated with its own Cred, sends the same forged
#     answers (and names A as Source after package #1): recorded for B only,
#     A's commands and FUMO outcome unchanged;
#  4. no answer to the stranger carries a command of A's queue (targets and
#     values grepped), and A's queued commands stay queued;
#  5. the API: the DM session token, prefixes and extensions of the real
#     token, another case, other schemes -> 401 with a JSON error; the API
#     is not served on the devices' port.
# usage: attack_mgmt.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE
#   (dmsec-client beside DMSEC_SERVER; attacker, mitm, pkgserver beside TESTDEVICE)
set -uo pipefail
SERVER=$1 TOOL=$2
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
CLIENT=$(dirname "$1")/dmsec-client
ATTACKER=$(dirname "$3")/attacker
MITM=$(dirname "$3")/mitm
PKG=$(dirname "$3")/pkgserver
need_programs attack_mgmt "$CLIENT" "$ATTACKER" "$MITM" "$PKG" sqlite3 jq curl sha256sum

cd "$work" || exit 1
DB=$work/dmsec.db
SID=srv-attack-mgmt
PORT=
APORT=$(free_port)
TOKEN=tok-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$TOKEN" >token
chmod 600 token
API=http://127.0.0.1:$APORT/api/v1
expect "server starts (API on its own port)" start_server PORT server.log --max-auth-failures 1000 \
    --api-listen "127.0.0.1:$APORT" --api-token-file "$work/token"
URL=http://127.0.0.1:$PORT/dm
expect "recording proxy starts" start_proxy MPORT mitm.log "$MITM" --record "$work/rec"
head -c 20000 /dev/urandom >fw.bin
"$PKG" --file fw.bin --mode ok >pkg.out 2>>pkg.log &
pids+=($!)
PKGPORT=
wait_line '^port=' pkg.out && PKGPORT=$(field port pkg.out)
[ -n "$PKGPORT" ] && ok "pkgserver on port $PKGPORT" || bad "pkgserver does not start"

A=IMEI:490154203238001
B=IMEI:490154203238002
expect "device $A enrolled (dmsec-client behind the proxy)" enrol_client $A md5 "http://127.0.0.1:$MPORT/dm"
register_device $B md5 && ok "device $B registered" || bad "register $B"
BSECRET=$reg_secret
BNONCE=$(jq -r .client_nonce_b64 <<<"$reg_json")

sql() { sqlite3 -cmd ".timeout 5000" "$DB" "$@"; }
show() { "$TOOL" cmd show "$1" --db "$DB" --json; }
# Everything the store holds about device $1's management, as rows and as
# the tool shows it.
snap() {
    sql "SELECT id, parent_id, kind, target, state, session_id, sent_at, attempts, status,
                hex(result), result_format, outcome, done_at FROM commands WHERE device_id = '$1' ORDER BY id;
         SELECT '-- events';
         SELECT id, at, alert, type, format, source, correlator, data, session_id
           FROM device_events WHERE device_id = '$1' ORDER BY id;
         SELECT '-- inventory'; SELECT uri, value, updated FROM inventory WHERE device_id = '$1' ORDER BY uri;
         SELECT '-- seen'; SELECT first_seen, last_seen FROM devices WHERE device_id = '$1';"
    "$TOOL" cmd list "$1" --db "$DB" --json
    "$TOOL" events "$1" --db "$DB" --json
    "$TOOL" inventory "$1" --db "$DB" --json
    "$TOOL" results "$1" --db "$DB" --json
}
# Waits until the clock is past the current second, so that any write of a
# timestamp (last seen, inventory, events) after this point shows.
next_second() {
    local t0
    t0=$(date +%s)
    while [ "$(date +%s)" -le "$t0" ]; do sleep 0.05; done
}
# same LABEL BEFORE_FILE DEVICE: the store's view of DEVICE is as in BEFORE_FILE.
same() {
    snap "$3" >"$work/snap.now" 2>&1
    if ! grep -q '^-- seen' "$2" || ! jq -e 'length > 0' <<<"$("$TOOL" cmd list "$3" --db "$DB" --json)" >/dev/null; then
        bad "$1: no store view of $3 to compare"
    elif cmp -s "$2" "$work/snap.now"; then ok "$1: nothing of $3 changed in the store"; else
        bad "$1: $3 changed in the store: $(diff "$2" "$work/snap.now" | head -8 | tr '\n' ' ')"
    fi
}

# ---- a real session of A: a Get answered with Results, FUMO accepted ----
"$TOOL" cmd get $A ./DevInfo/Mod --db "$DB" >/dev/null && ok "Get ./DevInfo/Mod queued for $A" || bad "queue Get"
HEX=$(sha256sum fw.bin | cut -d' ' -f1)
EXEC=$("$TOOL" fumo $A --db "$DB" --url "http://127.0.0.1:$PKGPORT/fw.bin" --sha256 "$HEX" --size 20000)
[[ $EXEC =~ ^[0-9]+$ ]] && ok "dmsec fumo queued for $A (Exec $EXEC)" || bad "dmsec fumo: $EXEC"
CORR=$(show "$EXEC" | jq -r .correlator)
# The install hook says it runs, then waits for the test's word: while it
# waits, the Exec is accepted (202) and the outcome not yet reported.
cat >hook.sh <<HOOK
#!/bin/sh
touch "$work/hook-started"
for _ in \$(seq 1 1200); do [ -e "$work/go" ] && exit 0; [ -d "$work" ] || exit 1; sleep 0.05; done
exit 1
HOOK
chmod +x hook.sh
"$CLIENT" session --tree $A.tree --server $SID --fumo-hook "$work/hook.sh" >agent.out 2>agent.err &
agent_pid=$!
pids+=("$agent_pid")
for _ in $(seq 1 400); do [ -e hook-started ] && break; sleep 0.05; done
[ -e hook-started ] && ok "$A: session 1 done, the FUMO hook runs" || bad "the FUMO hook never ran: $(cat agent.out agent.err)"
[ "$(show "$EXEC" | jq -r '.state + " " + (.status | tostring) + " " + (.outcome | tostring)')" = "accepted 202 null" ] &&
    ok "$A: the FUMO Exec is accepted (202), no outcome yet" || bad "$A: Exec $(show "$EXEC" | jq -c '{state, status, outcome}')"
[ "$("$TOOL" results $A --db "$DB" --json | jq '[.[] | select(.target == "./DevInfo/Mod")] | length')" = 1 ] &&
    ok "$A: the Get's Results recorded" || bad "$A: results: $("$TOOL" results $A --db "$DB" --json)"
session1=$(ls rec/req-*.body 2>/dev/null)
results_msg=$(grep -l "<Results>" $session1 | head -1)
[ -n "$results_msg" ] && ok "the real message with Results recorded ($results_msg)" || bad "no recorded message with Results"

# Commands queued afterwards: they must wait for A itself.
PROBE=probe-value-$RANDOM$RANDOM
Q1=$("$TOOL" cmd replace $A ./DevDetail/Ext/AttackProbe --data "$PROBE" --db "$DB")
Q2=$("$TOOL" cmd add $A ./Ext/AttackProbeAdd --data "$PROBE-add" --db "$DB")
Q3=$("$TOOL" cmd get $A ./DevInfo/Lang --db "$DB")
IDS=$Q1,$Q2,$Q3,$EXEC,$((EXEC - 1)),$((EXEC - 2)),$((EXEC - 3))
[[ $Q1$Q2$Q3 =~ ^[0-9]+$ ]] && ok "three commands queued for $A ($Q1 $Q2 $Q3)" || bad "queue: $Q1 $Q2 $Q3"
snap $A >snap.before 2>&1
snap $B >snapB.before 2>&1
next_second

# ---- 1 and 4: a stranger sends A's answers ----
VALUE=forged-$RANDOM
# stranger LABEL ATTACKER_CRED_OPTIONS...
stranger() {
    local label=$1 f=s-${2//-/}
    "$ATTACKER" mgmt --device $A --url "$URL" --session-id "$((RANDOM % 9000 + 1000))" --ids "$IDS" \
        --correlator "$CORR" --value "$VALUE" --messages 3 --save "$work/$f" "${@:2}" >"$f.out" 2>&1
    sed 's/^/    attacker: /' "$f.out"
    if grep -q "^msg=1 http=200 synchdr=40[17] chal=1 " "$f.out" &&
        grep -q "^msg=2 http=200 synchdr=401 " "$f.out"; then
        ok "$label: package #1 challenged, the second try (wrong Cred) refused"
    else bad "$label: $(tr '\n' ' ' <"$f.out")"; fi
    grep -q "^mgmt accepted=0 messages=[0-9]* server_cmds=0$" "$f.out" &&
        ok "$label: never accepted, no command in any answer" || bad "$label: $(tail -1 "$f.out")"
    local hits
    hits=$(cat "$work/$f"-* | grep -c -e AttackProbe -e "$PROBE" -e DevInfo/Lang -e "$HEX" -e fw.bin -e PkgURL)
    [ "$hits" = 0 ] && ok "$label: no target or value of A's queue in the answers" ||
        bad "$label: A's queue leaked into $hits answer line(s)"
}
stranger "no Cred" --no-cred
stranger "a wrong Cred" --wrong-cred
stranger "B's Cred naming A" --user $B --secret "$BSECRET" --nonce-b64 "$BNONCE"
same "after the strangers" snap.before $A
[ "$(show "$Q1" | jq -r '.state + " " + (.attempts | tostring)')" = "queued 0" ] &&
    ok "A's queued command $Q1 is still queued, never sent" || bad "$Q1: $(show "$Q1" | jq -c '{state, attempts}')"

# ---- 3: B, authenticated, sends A's answers ----
"$ATTACKER" mgmt --device $B --url "$URL" --session-id "$((RANDOM % 9000 + 1000))" --secret "$BSECRET" \
    --nonce-b64 "$BNONCE" --ids "$IDS" --correlator "$CORR" --value "$VALUE" --messages 4 \
    --source-after $A --save "$work/b" >b.out 2>&1
sed 's/^/    attacker: /' b.out
grep -q "^msg=1 http=200 synchdr=212 " b.out && ok "B authenticates with its own Cred" || bad "B: $(head -1 b.out)"
same "after B's forged answers" snap.before $A
[ "$("$TOOL" events $B --db "$DB" --json | jq --arg c "$CORR" '[.[] | select(.alert == 1226 and .correlator == $c)] | length')" -ge 1 ] &&
    ok "B's Generic Alert (A's correlator) recorded as B's event only" || bad "B's alert not recorded: $("$TOOL" events $B --db "$DB" --json)"
[ "$("$TOOL" inventory $B --db "$DB" --json | jq -r '.. | objects | select(.uri? == "./DevInfo/FwV") | .value')" = "$VALUE" ] &&
    ok "B's Replace of ./DevInfo/FwV went to B's inventory" || bad "B's inventory: $("$TOOL" inventory $B --db "$DB" --json)"
# (B's own inventory Get names ./DevInfo/Lang too: A's values and targets only)
hits=$(cat "$work"/b-* | grep -c -e AttackProbe -e "$PROBE" -e "$HEX" -e fw.bin -e PkgURL)
[ "$hits" = 0 ] && ok "no command of A's queue in B's session" || bad "A's queue in B's session: $hits line(s)"

# ---- 5: the API ----
stok=$(sed -n 's|^path /dm/s/\([0-9a-f]*\)$|\1|p' rec/req-*.meta | head -1)
[ -n "$stok" ] && ok "a DM session token from the wire (${#stok} hex digits)" || bad "no session token recorded"
api() { curl -s -o "$work/api.body" -w '%{http_code}' "$@"; }
[ "$(api -H "Authorization: Bearer $TOKEN" "$API/devices")" = 200 ] && ok "API: the real token -> 200" ||
    bad "API with the real token: $(cat api.body)"
declare -A tries=(
    ["the DM session token"]="Bearer $stok"
    ["the token without its last character"]="Bearer ${TOKEN%?}"
    ["the token's first 8 characters"]="Bearer ${TOKEN:0:8}"
    ["the token's first character"]="Bearer ${TOKEN:0:1}"
    ["the token and one more character"]="Bearer ${TOKEN}x"
    ["the token twice"]="Bearer $TOKEN$TOKEN"
    ["the token in upper case"]="Bearer ${TOKEN^^}"
    ["the token, last character changed"]="Bearer ${TOKEN%?}$([ "${TOKEN: -1}" = 0 ] && echo 1 || echo 0)"
    ["an empty bearer"]="Bearer "
    ["the token as Basic"]="Basic $(printf 'x:%s' "$TOKEN" | base64 -w0)"
    ["the token without a scheme"]="$TOKEN"
)
for what in "${!tries[@]}"; do
    code=$(api -H "Authorization: ${tries[$what]}" "$API/devices")
    if [ "$code" = 401 ] && jq -e '.error == "unauthorized"' api.body >/dev/null 2>&1; then
        ok "API: $what -> 401 with a JSON error"
    else bad "API: $what -> $code $(head -c 200 api.body)"; fi
done
code=$(api "$API/devices?token=$TOKEN")
[ "$code" = 401 ] && ok "API: the token in the query -> 401" || bad "API: token in the query -> $code"
code=$(api -X POST -H "Authorization: Bearer $stok" -H 'Content-Type: application/json' \
    --data "{\"kind\":\"get\",\"target\":\"./DevInfo/Mod\"}" "$API/devices/$(jq -rn --arg s $A '$s|@uri')/commands")
[ "$code" = 401 ] && ok "API: queueing a command with the DM session token -> 401" || bad "API: queue with the session token -> $code"
for auth in "" "Bearer $TOKEN"; do
    for m in GET POST; do
        args=(-X "$m")
        [ -n "$auth" ] && args+=(-H "Authorization: $auth")
        [ $m = POST ] && args+=(-H 'Content-Type: application/json' --data '{}')
        code=$(api "${args[@]}" "http://127.0.0.1:$PORT/api/v1/devices")
        label="$m /api/v1/devices on the devices' port${auth:+ with the API token}"
        if [ "$code" != 200 ] && [ "$code" != 000 ] && ! grep -q -e "$A" -e '"device_id"' api.body; then
            ok "$label -> $code, no data"
        else bad "$label -> $code: $(head -c 200 api.body)"; fi
    done
done
code=$(api -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/devices")
[ "$code" = 404 ] || [ "$code" = 405 ] && ok "GET on the devices' port answers $code" || bad "GET on the devices' port: $code"
same "after the API attempts" snap.before $A

# ---- 2: A reports, then its real messages are replayed ----
touch go
wait "$agent_pid"
grep -c "^session=" agent.out | grep -qx 2 && both_ok agent.out &&
    ok "$A: session 2 reported the FUMO outcome" || bad "$A's agent: $(cat agent.out agent.err)"
[ "$(show "$EXEC" | jq -r '.state + " " + (.outcome | tostring)')" = "done 200" ] &&
    ok "$A: the Exec is done with outcome 200 (A's own report)" || bad "$A: Exec $(show "$EXEC" | jq -c '{state, outcome}')"
[ "$("$TOOL" events $A --db "$DB" --json | jq length)" = 1 ] && ok "$A: one device event" ||
    bad "$A: events $("$TOOL" events $A --db "$DB" --json)"
for q in $Q1 $Q2 $Q3; do
    [ "$(show "$q" | jq -r '.state')" != queued ] || bad "$q was not delivered to A itself"
done
report=$(grep -l "<Data>1226</Data>" rec/req-*.body | head -1)
[ -n "$report" ] && ok "the real report with the Generic Alert recorded ($report)" || bad "no recorded Generic Alert"
snap $A >snap.after 2>&1
next_second
# audit_of SID: A's audit rows for session SID, "refused ended_ok" (a Cred
# refused: wrong now that its nonce is spent, or a replay; the session
# ended well). refused_in SID BEFORE: more refused, no more ended well.
audit_of() {
    echo "$(($(audit_count $A auth_failed "session=$1") + $(audit_count $A replay_refused "session=$1"))) $(audit_count $A session_ended "result=DMSEC_OK session=$1")"
}
refused_in() {
    local now before
    read -r -a now <<<"$(audit_of "$1")"
    read -r -a before <<<"$2"
    [ "${now[0]}" -gt "${before[0]}" ] && [ "${now[1]}" = "${before[1]}" ]
}
n=0
for f in $report $results_msg; do
    n=$((n + 1))
    meta=${f%.body}.meta
    own=$(sed -n 's|.*<SessionID>\([^<]*\)</SessionID>.*|\1|p' "$f" | head -1)
    # into a new session, and into its own session ID
    for sid in "$((RANDOM % 9000 + 1000))" "$own"; do
        was=$(audit_of "$sid")
        "$ATTACKER" post --url "$URL" --body "$f" --session-id "$sid" >"r$n.out" 2>&1
        if grep -q "^http=200 synchdr=40[17] chal=1 .* cmd_status=\(-\|\(40[17],\?\)*\)\( \|$\)" "r$n.out" &&
            refused_in "$sid" "$was"; then
            ok "replay of $f as session $sid: refused ($(cut -d' ' -f1-2 "r$n.out")), audited"
        else bad "replay of $f as session $sid: $(cat "r$n.out")"; fi
    done
    # the device's part of a whole session, the recorded Cred again
    sid=$((RANDOM % 9000 + 1000))
    was=$(audit_of "$sid")
    if "$ATTACKER" replay --url "$URL" --body "$f" --session-id "$sid" --messages 3 >"rp$n.out" 2>&1 &&
        refused_in "$sid" "$was"; then
        ok "replay of $f played as a device for 3 messages (session $sid): never accepted"
    else bad "replay of $f as a device: $(tr '\n' ' ' <"rp$n.out")"; fi
    # to the RespURI of its ended session
    path=$(sed -n 's/^path //p' "$meta")
    if [ "${path#/dm/s/}" != "$path" ]; then
        "$ATTACKER" post --url "http://127.0.0.1:$PORT$path" --body "$f" >"rr$n.out" 2>&1
        grep -q "^http=404 " "rr$n.out" && ok "replay of $f to its ended session's RespURI: 404" ||
            bad "replay of $f to $path: $(cat "rr$n.out")"
    fi
done
same "after the replays" snap.after $A

echo "integration attack_mgmt: $pass passed, $fail failed"
[ $fail -eq 0 ]
