#!/usr/bin/env bash
# A widely deployed client does not resend a package refused on its SyncHdr
# alone: it resends only the commands that got a 401/407 Status of their
# own (digest section 10). So the server's 401/407 on the SyncHdr gives each
# command of that message its own 401/407, and such a client (testdevice
# --resend-refused-only) retries and completes - after a stale nonce (401)
# and after a package #1 without a Cred (407).
# usage: attack_resend_refused.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE
#   (mitm and attacker sit beside TESTDEVICE)
set -uo pipefail
SERVER=$1 TOOL=$2 DEVICE=$3
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
MITM=$(dirname "$3")/mitm
ATTACKER=$(dirname "$3")/attacker
need_programs attack_resend_refused "$MITM" "$ATTACKER"

cd "$work" || exit 1
DB=$work/dmsec.db
SID=srv-attack
PORT=$(free_port)
MPORT=$(free_port)
"$SERVER" --listen "127.0.0.1:$PORT" --db "$DB" --server-id $SID --resync-after 3600 \
    --max-auth-failures 1000 >>server.log 2>&1 &
pids+=($!)
expect "server starts" wait_up "http://127.0.0.1:$PORT/healthz"
"$MITM" --listen "$MPORT" --to "127.0.0.1:$PORT" --record "$work/rec" >>mitm.log 2>&1 &
pids+=($!)
expect "recording proxy starts" wait_up "http://127.0.0.1:$MPORT/healthz"

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
# The recorded exchanges of session $1: the numbers NNN of rec/req-NNN.
exchanges() {
    local m
    for m in rec/req-*.meta; do
        grep -q "^path /dm" "$m" && grep -q "<SessionID>$1</SessionID>" "${m%.meta}.body" &&
            basename "$m" .meta | sed 's/^req-//'
    done
}

# usage: refused_then_resent LABEL CODE ID [testdevice options]
refused_then_resent() {
    local label=$1 code=$2 id=$3
    "$DEVICE" session --state "$id.state" --url "http://127.0.0.1:$MPORT/dm" --resend-refused-only "${@:4}" \
        >"$id.out" 2>&1
    if grep -q "result=DMSEC_OK server_authenticated=1 device_authenticated=1" "$id.out"; then
        ok "$label: the client that resends only refused commands completes its session"
    else bad "$label: $(tr '\n' ' ' <"$id.out")"; fi
    local sid first
    sid=$(sed -n 's/^session=\([0-9A-F]*\) .*/\1/p' "$id.out")
    first=$(exchanges "$sid" | head -1)
    local answer
    answer=$("$ATTACKER" inspect "rec/resp-${first:-000}.body" 2>&1)
    # Package #1 holds an Alert and a Replace: both must be refused with the header.
    if grep -q "^synchdr=$code chal=1 .* cmd_status=$code,$code " <<<"$answer"; then
        ok "$label: SyncHdr $code, and each command of package #1 its own $code"
    else bad "$label: the answer to package #1: $answer"; fi
}

S=IMEI:490154203239501
expect "device $S registered (testdevice)" state_file $S $S.state
sed -i 's/^client_nonce=.*/client_nonce=c3RhbGUtbm9uY2UtMTIzNA==/' "$S.state" # stale: 401
refused_then_resent "stale nonce" 401 $S

M=IMEI:490154203239502
expect "device $M registered (testdevice)" state_file $M $M.state
refused_then_resent "package #1 without a Cred" 407 $M --first-without-cred

if "$DEVICE" session --state "$S.state" --url "http://127.0.0.1:$PORT/dm" --resend-refused-only >again.out 2>&1; then
    ok "$S again, on the nonces its session left: completes"
else bad "$S again: $(tr '\n' ' ' <again.out)"; fi

echo "integration attack_resend_refused: $pass passed, $fail failed"
[ $fail -eq 0 ]
