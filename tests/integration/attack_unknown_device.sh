#!/usr/bin/env bash
# Device ids are not to be enumerated: a package #1 naming an unknown device
# id is answered exactly as one naming a known device whose credential
# failed - same HTTP status (200), same SyncHdr Status (401, or 407 without
# a Cred), a Chal whose NextNonce has the same length, and the same message
# structure once every value is masked. And it creates no device.
# usage: attack_unknown_device.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE   (attacker beside TESTDEVICE)
set -uo pipefail
SERVER=$1 TOOL=$2
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
ATTACKER=$(dirname "$3")/attacker
need_programs attack_unknown_device "$ATTACKER"

cd "$work" || exit 1
DB=$work/dmsec.db
SID=srv-attack
PORT=
expect "server starts" start_server PORT server.log --max-auth-failures 1000
URL=http://127.0.0.1:$PORT/dm

KNOWN=IMEI:490154203239301
UNKNOWN=IMEI:490154203239399 # same length: the answers may differ only in values
expect "device $KNOWN registered" register_device $KNOWN md5

for how in wrong-cred no-cred; do
    for who in known unknown; do
        id=$KNOWN
        [ $who = unknown ] && id=$UNKNOWN
        "$ATTACKER" pkg1 --device $id --url "$URL" --session-id "$((RANDOM % 9000 + 1000))" --$how --out "$who.xml"
        "$ATTACKER" post --url "$URL" --body "$who.xml" --save "$who.resp" >"$who.out" 2>&1
    done
    echo "    known:   $(cat known.out)"
    echo "    unknown: $(cat unknown.out)"
    [ "$(field http known.out)" = 200 ] && [ "$(field http unknown.out)" = 200 ] &&
        ok "$how: HTTP 200 for both" || bad "$how: HTTP $(field http known.out) (known) vs $(field http unknown.out) (unknown)"
    k=$(field synchdr known.out) u=$(field synchdr unknown.out)
    [ "$k" = "$u" ] && { [ "$k" = 401 ] || [ "$k" = 407 ]; } &&
        ok "$how: SyncHdr Status $k for both" || bad "$how: SyncHdr Status $k (known) vs $u (unknown)"
    k=$(field nonce_len known.out) u=$(field nonce_len unknown.out)
    [ "$(field chal unknown.out)" = 1 ] && [ "$k" = "$u" ] && [ "$k" -gt 0 ] 2>/dev/null &&
        ok "$how: a Chal with a $k-byte NextNonce for both" || bad "$how: NextNonce of $k (known) vs $u (unknown) bytes"
    "$ATTACKER" shape known.resp >known.shape
    "$ATTACKER" shape unknown.resp >unknown.shape
    if [ -s known.shape ] && diff known.shape unknown.shape >shape.diff; then
        ok "$how: the two answers have the same structure ($(wc -l <known.shape) elements and values)"
    else bad "$how: the answers differ in structure: $(grep '^[<>]' shape.diff | head -4 | tr -s ' \n' ' ')"; fi
done
if "$TOOL" device show --db "$DB" --device-id $UNKNOWN --json >/dev/null 2>&1; then
    bad "a device $UNKNOWN now exists"
else ok "no device $UNKNOWN was created"; fi

echo "integration attack_unknown_device: $pass passed, $fail failed"
[ $fail -eq 0 ]
