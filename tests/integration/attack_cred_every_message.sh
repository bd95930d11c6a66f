#!/usr/bin/env bash
# Plain HTTP authenticates no session, so every message carries a Cred and
# every Cred is checked (digest section 3, Decision):
#   a. a dmsec-client session recorded by a proxy: every message, in both
#      directions, has a Cred in its SyncHdr;
#   b. a relay that makes the Cred of the device's later messages wrong (or
#      adds a wrong one): the server ends the session instead of answering
#      it as authenticated;
#   c. a deployed-style client that sends its Cred only until it is accepted
#      still completes its session.
# usage: attack_cred_every_message.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE
#   (dmsec-client sits beside DMSEC_SERVER; mitm and attacker beside TESTDEVICE)
set -uo pipefail
SERVER=$1 TOOL=$2 DEVICE=$3
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
CLIENT=$(dirname "$1")/dmsec-client
MITM=$(dirname "$3")/mitm
ATTACKER=$(dirname "$3")/attacker
need_programs attack_cred_every_message "$CLIENT" "$MITM" "$ATTACKER"

cd "$work" || exit 1
DB=$work/dmsec.db
SID=srv-attack
PORT=
expect "server starts" start_server PORT server.log --max-auth-failures 1000
URL=http://127.0.0.1:$PORT/dm
expect "recording proxy starts" start_proxy MPORT mitm.log "$MITM" --record "$work/rec"
expect "Cred-breaking relay starts" start_proxy RPORT relay.out "$ATTACKER" relay --wrong-cred-from 2 \
    --log relay.log

# ---- a. dmsec-client: a Cred in every message, both ways ----
A=IMEI:490154203239401
expect "enrol $A (dmsec-client, md5) behind the recording proxy" \
    enrol_client $A md5 "http://127.0.0.1:$MPORT/dm"
"$CLIENT" session --tree "$A.tree" --server $SID >a.out 2>&1
both_ok a.out && ok "dmsec-client session through the proxy" || bad "dmsec-client session: $(cat a.out)"
asid=$(session_of a.out)
n=0
missing=()
for x in $(exchanges rec "$asid"); do
    n=$((n + 1))
    for dir in req resp; do
        "$ATTACKER" inspect "rec/$dir-$x.body" | grep -q " cred=1 " || missing+=("$dir-$x")
    done
done
if [ $n -ge 2 ] && [ ${#missing[@]} -eq 0 ]; then
    ok "session $asid: all $n requests and $n answers carry a SyncHdr Cred"
else bad "session $asid ($n exchanges): no SyncHdr Cred in ${missing[*]:-(nothing recorded)}"; fi

# ---- b. a wrong Cred in a later message ends the session ----
B=IMEI:490154203239402
expect "device $B registered (testdevice)" device_state $B md5 b.state
if "$DEVICE" session --state b.state --url "http://127.0.0.1:$RPORT/dm" >b.out 2>&1; then
    bad "session with a wrong Cred from message 2 on: completed ($(cat b.out))"
else ok "session with a wrong Cred from message 2 on: not completed ($(grep -o 'result=[A-Z_0-9]*' b.out))"; fi
sed 's/^/    /' relay.log
grep -q "^relay #1 POST /dm cred=kept -> http=200 synchdr=212$" relay.log &&
    ok "message 1 (its own Cred) accepted: 212" || bad "message 1: $(grep '^relay #1 ' relay.log)"
second=$(grep "^relay #2 " relay.log)
case "$second" in
*"cred=corrupted"* | *"cred=inserted"*)
    case "$second" in
    *"http=200 synchdr=200" | *"http=200 synchdr=212") bad "message 2 with a wrong Cred answered as authenticated: $second" ;;
    *) ok "message 2 with a wrong Cred refused: ${second#*-> }" ;;
    esac
    ;;
*) bad "message 2 did not pass the relay with a wrong Cred: '$second'" ;;
esac
bsid=$(session_of b.out)
result=$("$TOOL" sessions --db "$DB" --json | jq -r --arg d $B --arg s "$bsid" '.[] | select(.device_id == $d and .session_id == $s) | .result')
case "$result" in
"" | ok | open) bad "session $bsid in the store: '${result:-no row}' (not ended as failed)" ;;
*) ok "session $bsid ended as failed in the store ($result)" ;;
esac
"$DEVICE" session --state b.state --url "$URL" >b2.out 2>&1 || "$DEVICE" session --state b.state --url "$URL" >b2.out 2>&1
both_ok b2.out && ok "$B still completes a session afterwards (straight to the server)" || bad "$B afterwards: $(cat b2.out)"

# ---- c. a deployed client: Cred only until accepted ----
C=IMEI:490154203239403
expect "device $C registered (testdevice)" device_state $C md5 c.state
if "$DEVICE" session --state c.state --url "http://127.0.0.1:$MPORT/dm" --cred-until-accepted >c.out 2>&1 && both_ok c.out; then
    ok "a client sending its Cred only until accepted completes its session"
else bad "Cred only until accepted: $(cat c.out)"; fi
csid=$(session_of c.out)
later=$(for x in $(exchanges rec "$csid" | tail -n +2); do "$ATTACKER" inspect "rec/req-$x.body"; done)
if [ -n "$later" ] && ! grep -q " cred=1 " <<<"$later"; then
    ok "... and its later messages really carry no Cred ($(wc -l <<<"$later") recorded)"
else bad "Cred only until accepted: later requests: ${later:-none recorded}"; fi

echo "integration attack_cred_every_message: $pass passed, $fail failed"
[ $fail -eq 0 ]
