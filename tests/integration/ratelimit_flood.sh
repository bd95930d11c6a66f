#!/usr/bin/env bash
# Issue 10, item 1: the failure table is bounded and never stops tracking.
# Failed authentications from more than 100,000 distinct source addresses
# (127.10.0.0 upwards; an unknown device id each) fill the table; then
# wrong-password guesses from one more address must still be blocked (429)
# after the limit.
# usage: ratelimit_flood.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE
set -uo pipefail
SERVER=$1 TOOL=$2 DEVICE=$3
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
LOADPEER=$(dirname "$DEVICE")/loadpeer
need_programs ratelimit_flood "$SERVER" "$TOOL" "$DEVICE" "$LOADPEER"

# The store on tmpfs when there is one: this test is about the failure
# table, and 100,000 fsyncs would only make it slow.
SHM=$(mktemp -d /dev/shm/dmsec-flood.XXXXXX 2>/dev/null) && DB=$SHM/dmsec.db || DB=$work/dmsec.db
trap 'cleanup; [ -n "${SHM:-}" ] && rm -rf "$SHM"' EXIT
SID=dmsec-test
PORT=
LIMIT=10
ADDRS=${DMSEC_FLOOD_ADDRS:-100500}

# A long window and block: every failure of the flood is still counted
# when the guesses come. Each failed package #1 may leave an open
# (unauthenticated) session behind: room for them, dropped after 5 s idle.
expect "server starts" start_server PORT "$work/server.log" \
    --max-auth-failures $LIMIT --failure-window 3600 --block-seconds 600 \
    --max-sessions 1000000 --session-idle 5 --threads 4
URL=http://127.0.0.1:$PORT/dm

D=IMEI:490154203237700
expect "device $D registered" device_state $D md5 "$work/dev.state"
# The guesses: the device's id with a wrong password, and an unknown id.
sed 's/^client_secret=.*/client_secret=wrong-password/' "$work/dev.state" >"$work/wrong.state"
sed 's/^\(device_id\|client_name\)=.*/\1=IMEI:000000000000001/; s/^client_secret=.*/client_secret=guess/' \
    "$work/dev.state" >"$work/unknown.state"
expect "an unknown device's package #1" "$DEVICE" make-pkg1 --state "$work/unknown.state" \
    --url "$URL" --session-id 1A2B --capture "$work/unknown.pkg"
expect "a wrong-password package #1" "$DEVICE" make-pkg1 --state "$work/wrong.state" --url "$URL" \
    --session-id 1A2C --capture "$work/wrong.pkg"

"$LOADPEER" flood --port "$PORT" --capture "$work/unknown.pkg" --addrs "$ADDRS" --threads 8 \
    --seconds 200 >"$work/flood.out"
cat "$work/flood.out"
# A failure is answered 200 (a challenge) or 400 (an unknown device).
n200=$(field 200 "$work/flood.out")
n400=$(field 400 "$work/flood.out")
answered=$((${n200:-0} + ${n400:-0}))
if [ "$answered" -gt 100000 ]; then
    ok "failed authentications from $answered distinct addresses"
else bad "the flood made only $answered failed authentications"; fi
blocked=$(field 429 "$work/flood.out")
[ "${blocked:-1}" = 0 ] && ok "one failure per address blocks nobody" || bad "$blocked flood requests got 429"

"$LOADPEER" post --port "$PORT" --from 127.0.0.2 --capture "$work/wrong.pkg" --count $((LIMIT + 5)) \
    >"$work/guess.out"
codes=$(field codes "$work/guess.out")
first=$(field first429 "$work/guess.out")
echo "127.0.0.2 after the flood, $((LIMIT + 5)) wrong passwords: HTTP $codes"
if [ -n "$first" ] && [ "$first" -gt "$LIMIT" ] && [ "$first" -le $((LIMIT + 2)) ]; then
    ok "after the flood, guesses are still blocked after the limit (first 429 at guess $first)"
else bad "after the flood, guesses are not blocked (first 429: ${first:-none})"; fi
if curl -s --max-time 5 "http://127.0.0.1:$PORT/healthz" | grep -q ok; then ok "server answers after the flood"; else
    bad "server does not answer after the flood"
fi

echo "integration ratelimit_flood: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
