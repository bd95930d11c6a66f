#!/usr/bin/env bash
# Issue 10, items 2 and 3: slow and idle connections. 1,000 sockets from
# 10 addresses (127.0.1.1-10), each sending one byte a second (and
# reconnecting when closed), for 60 s, against a server with its default
# limits; meanwhile a device (127.0.0.1) runs sessions back to back and
# /healthz is polled. Every session must complete and /healthz must answer;
# refused and closed connections are counted in /metrics and summed up in
# the log, not logged one by one.
# usage: slowloris.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE
set -uo pipefail
SERVER=$1 TOOL=$2 DEVICE=$3
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
LOADPEER=$(dirname "$DEVICE")/loadpeer
need_programs slowloris "$SERVER" "$TOOL" "$DEVICE" "$LOADPEER"

DB=$work/dmsec.db
SID=dmsec-test
PORT=
SECONDS_ATTACK=${DMSEC_SLOWLORIS_SECONDS:-60}

expect "server starts (default limits)" start_server PORT "$work/server.log"
BASE=http://127.0.0.1:$PORT

D=IMEI:490154203237800
expect "device $D registered" device_state $D md5 "$work/dev.state"
expect "a session before the attack" "$DEVICE" session --state "$work/dev.state" --url "$BASE/dm"

# A connection that never sends a byte: closed at --request-timeout.
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
"$LOADPEER" slow --port "$PORT" --base 127.0.1.1 --addrs 10 --sockets 1000 \
    --seconds "$SECONDS_ATTACK" >"$work/slow.out" 2>&1 &
slow_pid=$!
pids+=($slow_pid)
wait_line "slow started" "$work/slow.out" && ok "1000 slow sockets from 10 addresses opened" ||
    bad "the slow peer did not start"

sessions_ok=0 sessions_bad=0 health_ok=0 health_bad=0
lat=()
while kill -0 $slow_pid 2>/dev/null; do
    if "$DEVICE" session --state "$work/dev.state" --url "$BASE/dm" >"$work/s.out" 2>&1; then
        sessions_ok=$((sessions_ok + 1))
    else
        sessions_bad=$((sessions_bad + 1))
        echo "session failed: $(tr '\n' ' ' <"$work/s.out")"
    fi
    r=$(curl -s -o "$work/h.out" -w '%{http_code} %{time_total}' --max-time 5 "$BASE/healthz")
    if [ "${r%% *}" = 200 ]; then
        health_ok=$((health_ok + 1))
        lat+=("${r##* }")
    else health_bad=$((health_bad + 1)); fi
done
wait $slow_pid 2>/dev/null
cat "$work/slow.out"
stats=$(printf '%s\n' "${lat[@]:-}" | awk 'NF { n++; s += $1; if ($1 > m) m = $1 } END {
    if (n) printf "avg %.1f ms, max %.1f ms", s / n * 1000, m * 1000; else printf "none" }')
echo "during ${SECONDS_ATTACK}s of slowloris: $sessions_ok sessions completed, $sessions_bad failed;" \
    "/healthz $health_ok answered, $health_bad not; latency $stats"

[ "$sessions_bad" -eq 0 ] && [ "$sessions_ok" -ge 10 ] &&
    ok "the device completes every session ($sessions_ok)" ||
    bad "sessions: $sessions_ok completed, $sessions_bad failed"
[ "$health_bad" -eq 0 ] && [ "$health_ok" -ge 10 ] && ok "/healthz answers throughout ($stats)" ||
    bad "/healthz: $health_ok answered, $health_bad not"
max_ms=$(printf '%s\n' "${lat[@]:-}" | awk 'NF && $1 > m { m = $1 } END { printf "%d", m * 1000 }')
[ "${max_ms:-99999}" -lt 2000 ] && ok "/healthz latency under 2 s (max ${max_ms} ms)" ||
    bad "/healthz latency max ${max_ms} ms"

closed=$(field closed_by_server "$work/slow.out")
[ "${closed:-0}" -gt 1000 ] && ok "the server refused or closed slow sockets ($closed times)" ||
    bad "slow sockets closed only ${closed:-0} times"
curl -s "$BASE/metrics" >"$work/metrics"
grep '^dmsec_connections_' "$work/metrics"
refused=$(awk '/^dmsec_connections_refused_total/ { s += $2 } END { print s + 0 }' "$work/metrics")
slowc=$(awk '/^dmsec_connections_closed_total/ { s += $2 } END { print s + 0 }' "$work/metrics")
[ "$refused" -gt 0 ] && ok "refused connections counted ($refused)" || bad "no refused connection counted"
[ "$slowc" -gt 0 ] && ok "slow connections closed and counted ($slowc)" || bad "no slow connection closed"
deadline=$(awk '/^dmsec_connections_closed_total\{reason="request-timeout"\}/ { print $2 }' "$work/metrics")
if timeout 1 cat <&3 >/dev/null 2>&1 && [ "${deadline:-0}" -gt 0 ]; then
    ok "a silent connection is closed at --request-timeout"
else bad "the silent connection is still open (request-timeout closes: ${deadline:-0})"; fi
exec 3<&-
lines=$(grep -c ' http: ' "$work/server.log")
echo "server log: $(wc -l <"$work/server.log") lines, $lines from the HTTP layer, $(wc -c <"$work/server.log") bytes"
grep -q 'http: [0-9]* connections refused in the last' "$work/server.log" &&
    ok "a summary line for refused connections" || bad "no summary line"
# Summaries every 10 s and at most 20 other HTTP-layer lines per 10 s.
[ "$lines" -le $((SECONDS_ATTACK * 3 + 30)) ] && ok "refused connections are not logged one by one" ||
    bad "$lines HTTP-layer log lines"

echo "integration slowloris: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
