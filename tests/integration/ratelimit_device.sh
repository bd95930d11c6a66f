#!/usr/bin/env bash
# Issue 10, item 1: a stranger's failed authentications never lock out the
# real device. Wrong passwords for a device from 127.0.0.2, past the limit,
# get 127.0.0.2 blocked (429) and put the device under guard; the real
# device (correct Cred, 127.0.0.1) still completes its sessions; a second
# stranger (127.0.0.3) is blocked after a single failure on the guarded
# device.
# usage: ratelimit_device.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE
set -uo pipefail
SERVER=$1 TOOL=$2 DEVICE=$3
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
LOADPEER=$(dirname "$DEVICE")/loadpeer
need_programs ratelimit_device "$SERVER" "$TOOL" "$DEVICE" "$LOADPEER"

DB=$work/dmsec.db
SID=dmsec-test
PORT=
LIMIT=10

expect "server starts" start_server PORT "$work/server.log" \
    --max-auth-failures $LIMIT --failure-window 600 --block-seconds 600
URL=http://127.0.0.1:$PORT/dm

D=IMEI:490154203237600
expect "device $D registered" device_state $D md5 "$work/dev.state"
session() { "$DEVICE" session --state "$work/dev.state" --url "$URL"; }
expect "the real device: a session before the attack" session

# The stranger's package #1: the device's id, a wrong password.
sed 's/^client_secret=.*/client_secret=wrong-password/' "$work/dev.state" >"$work/wrong.state"
expect "a wrong-password package #1" "$DEVICE" make-pkg1 --state "$work/wrong.state" --url "$URL" \
    --session-id 1A2B --capture "$work/wrong.pkg"

N=$((LIMIT + 5))
"$LOADPEER" post --port "$PORT" --from 127.0.0.2 --capture "$work/wrong.pkg" --count $N >"$work/stranger.out"
codes=$(field codes "$work/stranger.out")
first=$(field first429 "$work/stranger.out")
echo "stranger 127.0.0.2, $N wrong passwords: HTTP $codes"
if [ -n "$first" ] && [ "$first" -gt "$LIMIT" ] && [ "$first" -le $((LIMIT + 2)) ]; then
    ok "the stranger's address is blocked after the limit (first 429 at guess $first)"
else bad "the stranger's address is not blocked after $LIMIT failures (first 429: ${first:-none})"; fi
last=${codes##*,}
[ "$last" = 429 ] && ok "the stranger stays blocked" || bad "the stranger's last guess: HTTP $last"

expect "the real device completes a session during the attack" session
expect "and another one" session

# A second stranger: one failure on the guarded device blocks it.
"$LOADPEER" post --port "$PORT" --from 127.0.0.3 --capture "$work/wrong.pkg" --count 3 >"$work/second.out"
codes3=$(field codes "$work/second.out")
echo "second stranger 127.0.0.3, 3 wrong passwords: HTTP $codes3"
[ "$codes3" = "200,429,429" ] && ok "a failure on the guarded device blocks the next address at once" ||
    bad "second stranger: HTTP $codes3 (want 200,429,429)"

expect "the real device still completes a session" session
grep -q "rate-limit device=$D guarded" "$work/server.log" && ok "log: the device is guarded" ||
    bad "no 'guarded' log line"
grep -q "rate-limit peer=127.0.0.3 blocked .*guarded device" "$work/server.log" &&
    ok "log: the second stranger's block names the guard" || bad "no guard block line for 127.0.0.3"
if grep -q "rate-limit device=.*request refused" "$work/server.log"; then
    bad "a device was refused"
else ok "no device refused"; fi

echo "integration ratelimit_device: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
