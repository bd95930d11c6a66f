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
PORT=$(free_port)
URL=http://127.0.0.1:$PORT/dm
LIMIT=10
ADDRS=${DMSEC_FLOOD_ADDRS:-100500}

# A long window and block: every failure of the flood is still counted
# when the guesses come. Each failed package #1 may leave an open
# (unauthenticated) session behind: room for them, dropped after 5 s idle.
"$SERVER" --listen 127.0.0.1:$PORT --db "$DB" --server-id $SID --resync-after 3600 \
    --max-auth-failures $LIMIT --failure-window 3600 --block-seconds 600 \
    --max-sessions 1000000 --session-idle 5 --threads 4 >"$work/server.log" 2>&1 &
pids+=($!)
if wait_up "http://127.0.0.1:$PORT/healthz"; then ok "server starts"; else bad "server starts"; fi

D=IMEI:490154203237700
register_device $D md5 || bad "device add"
state() { # device-id secret
    cat <<EOS
device_id=$1
server_id=$SID
client_name=$1
client_secret=$2
server_secret=$(jq -r .server_secret <<<"$reg_json")
client_scheme=$reg_cscheme
server_scheme=$reg_cscheme
integrity=$reg_integ
client_nonce=$(jq -r .client_nonce_b64 <<<"$reg_json")
server_nonce=$(jq -r .server_nonce_b64 <<<"$reg_json")
EOS
}
state IMEI:000000000000001 guess >"$work/unknown.state"
state $D wrong-password >"$work/wrong.state"
expect "an unknown device's package #1" "$DEVICE" make-pkg1 --state "$work/unknown.state" \
    --url "$URL" --session-id 1A2B --capture "$work/unknown.pkg"
expect "a wrong-password package #1" "$DEVICE" make-pkg1 --state "$work/wrong.state" --url "$URL" \
    --session-id 1A2C --capture "$work/wrong.pkg"

"$LOADPEER" flood --port "$PORT" --capture "$work/unknown.pkg" --addrs "$ADDRS" --threads 8 \
    --seconds 200 >"$work/flood.out"
cat "$work/flood.out"
# A failure is answered 200 (a challenge) or 400 (an unknown device).
n200=$(sed -n 's/.* 200=\([0-9]*\).*/\1/p' "$work/flood.out")
n400=$(sed -n 's/.* 400=\([0-9]*\).*/\1/p' "$work/flood.out")
answered=$((${n200:-0} + ${n400:-0}))
if [ "$answered" -gt 100000 ]; then
    ok "failed authentications from $answered distinct addresses"
else bad "the flood made only $answered failed authentications"; fi
blocked=$(sed -n 's/.* 429=\([0-9]*\).*/\1/p' "$work/flood.out")
[ "${blocked:-1}" = 0 ] && ok "one failure per address blocks nobody" || bad "$blocked flood requests got 429"

"$LOADPEER" post --port "$PORT" --from 127.0.0.2 --capture "$work/wrong.pkg" --count $((LIMIT + 5)) \
    >"$work/guess.out"
codes=$(sed -n 's/^codes=//p' "$work/guess.out")
first=$(sed -n 's/^first429=//p' "$work/guess.out")
echo "127.0.0.2 after the flood, $((LIMIT + 5)) wrong passwords: HTTP $codes"
if [ -n "$first" ] && [ "$first" -gt "$LIMIT" ] && [ "$first" -le $((LIMIT + 2)) ]; then
    ok "after the flood, guesses are still blocked after the limit (first 429 at guess $first)"
else bad "after the flood, guesses are not blocked (first 429: ${first:-none})"; fi
if curl -s --max-time 5 "http://127.0.0.1:$PORT/healthz" | grep -q ok; then ok "server answers after the flood"; else
    bad "server does not answer after the flood"
fi

echo "integration ratelimit_flood: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
