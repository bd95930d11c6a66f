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
PORT=$(free_port)
MPORT=$(free_port)
RPORT=$(free_port)
URL=http://127.0.0.1:$PORT/dm
"$SERVER" --listen "127.0.0.1:$PORT" --db "$DB" --server-id $SID --resync-after 3600 \
    --max-auth-failures 1000 >>server.log 2>&1 &
pids+=($!)
expect "server starts" wait_up "http://127.0.0.1:$PORT/healthz"
"$MITM" --listen "$MPORT" --to "127.0.0.1:$PORT" --record "$work/rec" >>mitm.log 2>&1 &
pids+=($!)
expect "recording proxy starts" wait_up "http://127.0.0.1:$MPORT/healthz"
"$ATTACKER" relay --listen "$RPORT" --to "127.0.0.1:$PORT" --wrong-cred-from 2 --log relay.log &
pids+=($!)
expect "Cred-breaking relay starts" wait_up "http://127.0.0.1:$RPORT/healthz"

sess_id() { sed -n 's/^session=\([0-9A-F]*\) .*/\1/p' "$1" | head -1; }
both_ok() { grep -q "result=DMSEC_OK server_authenticated=1 device_authenticated=1" "$@"; }
# The recorded exchanges of session $1: the numbers NNN of rec/req-NNN.
exchanges() {
    local m
    for m in rec/req-*.meta; do
        grep -q "^path /dm" "$m" && grep -q "<SessionID>$1</SessionID>" "${m%.meta}.body" &&
            basename "$m" .meta | sed 's/^req-//'
    done
}

# ---- a. dmsec-client: a Cred in every message, both ways ----
A=IMEI:490154203239401
enrol_client() {
    register_device $A md5 || return 1
    echo "$reg_secret" >a.cs
    jq -r .server_secret <<<"$reg_json" >a.ss
    "$CLIENT" init --tree a.tree --device-id $A --man dmsec-test --mod agent >/dev/null &&
        "$CLIENT" add-account --tree a.tree --account dmsec --server-id $SID \
            --url "http://127.0.0.1:$MPORT/dm" --client-name $A --client-secret-file a.cs \
            --client-scheme md5 --server-secret-file a.ss --server-scheme md5 \
            --client-nonce-b64 "$(jq -r .client_nonce_b64 <<<"$reg_json")" \
            --server-nonce-b64 "$(jq -r .server_nonce_b64 <<<"$reg_json")" >/dev/null
}
expect "enrol $A (dmsec-client, md5) behind the recording proxy" enrol_client
"$CLIENT" session --tree a.tree --server $SID >a.out 2>&1
both_ok a.out && ok "dmsec-client session through the proxy" || bad "dmsec-client session: $(cat a.out)"
asid=$(sess_id a.out)
n=0
missing=()
for x in $(exchanges "$asid"); do
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
state_file() { # id file: the testdevice state of a newly registered device
    register_device "$1" md5 || return 1
    cat >"$2" <<EOF
device_id=$1
server_id=$SID
client_name=$1
client_secret=$reg_secret
server_secret=$(jq -r .server_secret <<<"$reg_json")
client_scheme=md5
server_scheme=md5
integrity=none
client_nonce=$(jq -r .client_nonce_b64 <<<"$reg_json")
server_nonce=$(jq -r .server_nonce_b64 <<<"$reg_json")
EOF
}
expect "device $B registered (testdevice)" state_file $B b.state
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
bsid=$(sess_id b.out)
result=$("$TOOL" sessions --db "$DB" --json | jq -r --arg d $B --arg s "$bsid" '.[] | select(.device_id == $d and .session_id == $s) | .result')
case "$result" in
"" | ok | open) bad "session $bsid in the store: '${result:-no row}' (not ended as failed)" ;;
*) ok "session $bsid ended as failed in the store ($result)" ;;
esac
"$DEVICE" session --state b.state --url "$URL" >b2.out 2>&1 || "$DEVICE" session --state b.state --url "$URL" >b2.out 2>&1
both_ok b2.out && ok "$B still completes a session afterwards (straight to the server)" || bad "$B afterwards: $(cat b2.out)"

# ---- c. a deployed client: Cred only until accepted ----
C=IMEI:490154203239403
expect "device $C registered (testdevice)" state_file $C c.state
if "$DEVICE" session --state c.state --url "http://127.0.0.1:$MPORT/dm" --cred-until-accepted >c.out 2>&1 && both_ok c.out; then
    ok "a client sending its Cred only until accepted completes its session"
else bad "Cred only until accepted: $(cat c.out)"; fi
csid=$(sess_id c.out)
later=$(for x in $(exchanges "$csid" | tail -n +2); do "$ATTACKER" inspect "rec/req-$x.body"; done)
if [ -n "$later" ] && ! grep -q " cred=1 " <<<"$later"; then
    ok "... and its later messages really carry no Cred ($(wc -l <<<"$later") recorded)"
else bad "Cred only until accepted: later requests: ${later:-none recorded}"; fi

echo "integration attack_cred_every_message: $pass passed, $fail failed"
[ $fail -eq 0 ]
