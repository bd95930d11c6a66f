#!/usr/bin/env bash
# Input from a peer that has not authenticated changes no stored state
# (digest section 3): package #1 naming a real device with a wrong Cred, or
# with none, must leave the device's stored client nonce as it was (a nonce
# issued in the challenge is only pending), so the real device's next
# session takes as many round trips as before the attack.
# usage: attack_unauth_state.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE   (attacker beside TESTDEVICE)
set -uo pipefail
SERVER=$1 TOOL=$2 DEVICE=$3
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
ATTACKER=$(dirname "$3")/attacker
need_programs attack_unauth_state "$ATTACKER" sqlite3

cd "$work" || exit 1
DB=$work/dmsec.db
SID=srv-attack
PORT=
expect "server starts" start_server PORT server.log --max-auth-failures 1000
URL=http://127.0.0.1:$PORT/dm

D=IMEI:490154203239201
# The round trips of a session of the real device ("" when it failed).
trips() {
    "$DEVICE" session --state dev.state --url "$URL" >sess.out 2>&1 &&
        sed -n 's/.*server_authenticated=1 device_authenticated=1 messages=\([0-9]*\)$/\1/p' sess.out
}
# The client nonce as the server stores it, and as the device holds it (hex).
stored_nonce() { sqlite3 "$DB" "SELECT hex(client_nonce) FROM devices WHERE device_id = '$D'"; }
device_nonce() { sed -n 's/^client_nonce=//p' dev.state | base64 -d | xxd -p -u | tr -d '\n'; }

expect "device $D registered" device_state $D md5 dev.state
"$DEVICE" session --state dev.state --url "$URL" >/dev/null 2>&1
before=$(trips)
[ -n "$before" ] && ok "baseline: a session of $D takes $before round trips" || bad "baseline session: $(cat sess.out)"
nonce0=$(stored_nonce)
[ -n "$nonce0" ] && [ "$nonce0" = "$(device_nonce)" ] &&
    ok "the server's stored client nonce is the one the device holds" ||
    bad "stored nonce '$nonce0' vs the device's '$(device_nonce)'"

# ---- the attacks: package #1 naming $D, wrong Cred, then no Cred ----
n=0
for how in --wrong-cred --no-cred; do
    n=$((n + 1))
    "$ATTACKER" pkg1 --device $D --url "$URL" --session-id "$((RANDOM % 9000 + 1000))" $how --out "pkg1-$n.xml"
    "$ATTACKER" post --url "$URL" --body "pkg1-$n.xml" >"post-$n.out" 2>&1
    if grep -q "^http=200 synchdr=40[17] chal=1 " "post-$n.out"; then
        ok "package #1 with ${how#--}: refused and challenged ($(cut -d' ' -f1-3 "post-$n.out"))"
    else bad "package #1 with ${how#--}: $(cat "post-$n.out")"; fi
    now=$(stored_nonce)
    [ "$now" = "$nonce0" ] && ok "after package #1 with ${how#--}: the stored client nonce is unchanged" ||
        bad "after package #1 with ${how#--}: the stored client nonce changed ($nonce0 -> $now)"
done

# ---- the real device is not slowed down ----
after=$(trips)
if [ -n "$after" ] && [ "$after" = "$before" ]; then
    ok "the real device's next session: $after round trips, as before the attack"
else bad "the real device's next session: '${after:-failed}' round trips, $before before: $(cat sess.out)"; fi
sid=$(session_of sess.out)
failed=$(audit_count $D auth_failed "session=$sid")
[ -n "$sid" ] && [ "$failed" = 0 ] && ok "... and its package #1 was accepted at once (no auth_failed in session $sid)" ||
    bad "the real device was challenged in its session '$sid' ($failed auth_failed rows)"

echo "integration attack_unauth_state: $pass passed, $fail failed"
[ $fail -eq 0 ]
