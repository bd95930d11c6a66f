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
PORT=
expect "server starts" start_server PORT server.log --max-auth-failures 1000
expect "recording proxy starts" start_proxy MPORT mitm.log "$MITM" --record "$work/rec"

# usage: refused_then_resent LABEL CODE ID [testdevice options]
refused_then_resent() {
    local label=$1 code=$2 id=$3
    "$DEVICE" session --state "$id.state" --url "http://127.0.0.1:$MPORT/dm" --resend-refused-only "${@:4}" \
        >"$id.out" 2>&1
    if both_ok "$id.out"; then
        ok "$label: the client that resends only refused commands completes its session"
    else bad "$label: $(tr '\n' ' ' <"$id.out")"; fi
    local sid first
    sid=$(session_of "$id.out")
    first=$(exchanges rec "$sid" | head -1)
    local answer
    answer=$("$ATTACKER" inspect "rec/resp-${first:-000}.body" 2>&1)
    # Package #1 holds an Alert and a Replace: both must be refused with the header.
    if grep -q "^synchdr=$code chal=1 .* cmd_status=$code,$code " <<<"$answer"; then
        ok "$label: SyncHdr $code, and each command of package #1 its own $code"
    else bad "$label: the answer to package #1: $answer"; fi
}

S=IMEI:490154203239501
expect "device $S registered (testdevice)" device_state $S md5 $S.state
sed -i 's/^client_nonce=.*/client_nonce=c3RhbGUtbm9uY2UtMTIzNA==/' "$S.state" # stale: 401
refused_then_resent "stale nonce" 401 $S

M=IMEI:490154203239502
expect "device $M registered (testdevice)" device_state $M md5 $M.state
refused_then_resent "package #1 without a Cred" 407 $M --first-without-cred

if "$DEVICE" session --state "$S.state" --url "http://127.0.0.1:$PORT/dm" --resend-refused-only >again.out 2>&1; then
    ok "$S again, on the nonces its session left: completes"
else bad "$S again: $(tr '\n' ' ' <again.out)"; fi

echo "integration attack_resend_refused: $pass passed, $fail failed"
[ $fail -eq 0 ]
