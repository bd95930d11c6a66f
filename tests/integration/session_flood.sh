#!/usr/bin/env bash
# Strangers cannot fill the session table against the devices that
# authenticate: a flood of packages #1 with wrong credentials (for a real
# device and for unknown ids) opens sessions that never authenticate; they
# have a budget of their own, the oldest gives way to the newest, and a real
# device still completes its sessions, during the flood and after it.
# usage: session_flood.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE   (attacker beside TESTDEVICE)
set -uo pipefail
SERVER=$1 TOOL=$2 DEVICE=$3
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
ATTACKER=$(dirname "$3")/attacker
need_programs session_flood "$ATTACKER"

cd "$work" || exit 1
DB=$work/dmsec.db
SID=srv-flood
PORT=
# A small table, so that a short flood fills it many times over; failures
# are not limited here (the flood comes from one address).
expect "server starts (40 sessions, 20 unauthenticated)" start_server PORT server.log \
    --max-sessions 40 --max-unauth-sessions 20 --max-auth-failures 1000000
URL=http://127.0.0.1:$PORT/dm

D=IMEI:490154203239501
expect "device $D registered" device_state $D md5 dev.state
real_session() { "$DEVICE" session --state dev.state --url "$URL" >>dev.out 2>&1; }

"$ATTACKER" pkg1 --device $D --url "$URL" --session-id 1000 --wrong-cred --out known.xml
"$ATTACKER" pkg1 --device IMEI:490154203239599 --url "$URL" --session-id 1001 --wrong-cred \
    --out unknown.xml
flood() { # N: that many packages #1, each opening a session that stays open
    local i
    for i in $(seq 1 "$1"); do
        if [ $((i % 2)) -eq 0 ]; then b=known.xml; else b=unknown.xml; fi
        "$ATTACKER" post --url "$URL" --body $b --session-id "$((2000 + i))" >>flood.out 2>&1
    done
}
flood 150
n200=$(grep -c "http=200 synchdr=401" flood.out)
[ "$n200" -eq 150 ] && ok "150 strangers' packages #1: each answered 401 + Chal" ||
    bad "flood answers: $n200 of 150 were 401 + Chal: $(sort flood.out | uniq -c | head -3)"

expect "the real device completes a session after the flood" real_session
flood 100 &
fpid=$!
done_during=0
for _ in 1 2 3; do real_session && done_during=$((done_during + 1)); done
wait $fpid
[ "$done_during" -eq 3 ] && ok "the real device completes 3 sessions during a flood" ||
    bad "during the flood: $done_during of 3 sessions completed: $(tail -n 2 dev.out)"
grep -q "http=503" flood.out && bad "a stranger was refused for a full table (503)" ||
    ok "no stranger's package was refused for a full table either"

metric() { curl -s "http://127.0.0.1:$PORT/metrics" | sed -n "s/^$1 //p"; }
evicted=$(metric dmsec_sessions_evicted_total)
[ "${evicted:-0}" -ge 200 ] && ok "evicted unauthenticated sessions counted: $evicted" ||
    bad "dmsec_sessions_evicted_total is '${evicted:-}' (want >= 200)"
lines=$(grep -c "evicted" server.log)
[ "$lines" -eq 0 ] && ok "evictions are counted, not logged one by one" ||
    bad "$lines log lines about evictions"

echo "integration session_flood: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
