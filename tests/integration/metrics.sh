#!/usr/bin/env bash
# dmsec-server's /metrics count what happened, checked one by one with real
# sessions: notifications sent by kind (dmsec notify, the management API,
# the resync policy), completed resyncs (with their audit row), secret
# rotations, and the gauges devices, open sessions, pending notifications
# and queued commands.
# usage: metrics.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE   (dmsec-client sits beside DMSEC_SERVER)
set -uo pipefail
SERVER=$1 TOOL=$2
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
CLIENT=$(dirname "$1")/dmsec-client
need_programs metrics "$CLIENT" jq curl
cd "$work" || exit 1

DB=$work/dm.db SID=dmsec
PORT=
APORT=$(free_port)
TOKEN=$(api_token "$work/token")
expect "server starts (rotation on every resync, API on)" start_server PORT "$work/server.log" \
    --rotate-on-resync always --api-listen "127.0.0.1:$APORT" --api-token-file "$work/token"
URL=http://127.0.0.1:$PORT/dm
API=http://127.0.0.1:$APORT/api/v1

# metric NAME_WITH_LABELS: its value now (empty when absent).
metric() {
    curl -s "http://127.0.0.1:$PORT/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}
# is NAME VALUE WHAT: the metric has that value now.
is() {
    local v
    v=$(metric "$1")
    [ "$v" = "$2" ] && ok "$3: $1 = $2" || bad "$3: $1 = '$v', want $2"
}
# becomes NAME VALUE WHAT: the metric reaches that value within 30 s.
becomes() {
    local v
    for _ in $(seq 1 300); do
        v=$(metric "$1")
        [ "$v" = "$2" ] && break
        sleep 0.1
    done
    [ "$v" = "$2" ] && ok "$3: $1 = $2" || bad "$3: $1 = '$v', want $2"
}
N='dmsec_notifications_sent_total{kind="normal"}'
R='dmsec_notifications_sent_total{kind="resync"}'
OPEN_U='dmsec_sessions_open{state="unauthenticated"}'

# ---- a fresh store ----
is dmsec_store_up 1 "fresh store"
is dmsec_devices 0 "fresh store"
is "$N" 0 "fresh store"
is "$R" 0 "fresh store"
is dmsec_resyncs_total 0 "fresh store"
is dmsec_secret_rotations_total 0 "fresh store"
is dmsec_notifications_pending 0 "fresh store"
is dmsec_commands_queued 0 "fresh store"
is "$OPEN_U" 0 "fresh store"

# ---- devices ----
A=IMEI:490154203238001 B=IMEI:490154203238002
APORT_UDP=$(free_port)
BPORT_UDP=$(free_port)
expect "device A enrolled (agent, notified on UDP)" enrol_client "$A" md5 "$URL" "$APORT_UDP"
expect "device B registered (nobody listens for it)" register_device "$B" sha256 "$BPORT_UDP"
is dmsec_devices 2 "two devices"
expect "A: a first session" "$CLIENT" session --tree "$work/$A.tree" --server "$SID"

listen_a() { # the agent of A waits for one notification
    "$CLIENT" listen --tree "$work/$A.tree" --port "$APORT_UDP" --once --wait 20 >"$work/listen.out" 2>&1 &
    listen_pid=$!
    wait_line listening "$work/listen.out"
}

# ---- dmsec notify (the tool, not the server), then the session ----
listen_a
expect "dmsec notify A" "$TOOL" notify "$A" --db "$DB"
if wait "$listen_pid" && both_ok "$work/listen.out"; then ok "A: notified session"; else
    bad "A: notified session: $(cat "$work/listen.out")"
fi
is "$N" 1 "dmsec notify counted"
is dmsec_notifications_pending 0 "the notification was opened"

# ---- dmsec notify --resync: a completed resync, audited, and a rotation ----
listen_a
expect "dmsec notify A --resync" "$TOOL" notify "$A" --db "$DB" --resync
if wait "$listen_pid" && both_ok "$work/listen.out"; then ok "A: resync session"; else
    bad "A: resync session: $(cat "$work/listen.out")"
fi
is "$R" 1 "resync notification counted"
is dmsec_resyncs_total 1 "the completed resync"
[ "$(audit_count "$A" resync "resync completed")" = 1 ] && ok "the resync has its audit row" ||
    bad "no resync audit row: $("$TOOL" audit --db "$DB")"
is dmsec_secret_rotations_total 1 "the rotation after the resync"
[ "$(audit_count "$A" secret_rotated "")" = 1 ] && ok "the rotation has its audit row" ||
    bad "no secret_rotated audit row"
expect "A: a session on the rotated secret" "$CLIENT" session --tree "$work/$A.tree" --server "$SID"
is dmsec_resyncs_total 1 "an ordinary session is no resync"

# ---- the management API notifies B; nobody opens it: pending ----
code=$(curl -s -o "$work/api.out" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
    "$API/devices/$B/notify")
[ "$code" = 200 ] && ok "API notify B" || bad "API notify B: HTTP $code $(cat "$work/api.out")"
is "$N" 2 "API notify counted"
is dmsec_notifications_pending 1 "B's notification pending"

# ---- a restart with an eager resync policy (re-send after 1 s): the
# counters are the store's, and the policy re-sends B's notification on
# the default nonce ----
kill "$server_pid" && wait "$server_pid" 2>/dev/null
PORT=
expect "server restarts (resync after 1 s)" start_server PORT "$work/server.log" --resync-after 1 \
    --policy-interval 1
URL=http://127.0.0.1:$PORT/dm
is "$N" 2 "after the restart"
is dmsec_resyncs_total 1 "after the restart"
is dmsec_secret_rotations_total 1 "after the restart"
becomes "$R" 2 "the policy's re-send on the default nonce counted"
is dmsec_notifications_pending 1 "B's re-sent notification still pending"

# ---- queued commands ----
expect "queue a Get for B" "$TOOL" cmd get "$B" ./DevInfo/Man --db "$DB"
expect "queue a Replace for B" "$TOOL" cmd replace "$B" ./DevDetail/Ext/X --data v --db "$DB"
is dmsec_commands_queued 2 "two commands queued"

# ---- open sessions: package #1 of device D posted and not followed up
# (the server waits for the next message): authenticated when its Cred
# verifies, unauthenticated when it is challenged (D lost its nonces) ----
D=IMEI:490154203238004
TD=$3
expect "device D registered (scripted device)" device_state "$D" md5 "$work/d.state"
is dmsec_devices 3 "three devices"
expect "D: package #1 made" "$TD" make-pkg1 --state "$work/d.state" --url "$URL" --session-id 1A2B \
    --capture "$work/d1.cap"
"$TD" replay --url "$URL" --capture "$work/d1.cap" >"$work/replay1.out" 2>&1
is 'dmsec_sessions_open{state="authenticated"}' 1 "D's session waits for its next message"
is "$OPEN_U" 0 "D's session is authenticated"
expect "D loses its nonces" "$TD" lose-nonces --state "$work/d.state"
expect "D: package #1 on a lost nonce made" "$TD" make-pkg1 --state "$work/d.state" --url "$URL" \
    --session-id 1A2C --capture "$work/d2.cap"
"$TD" replay --url "$URL" --capture "$work/d2.cap" >"$work/replay2.out" 2>&1
is "$OPEN_U" 1 "the challenged session is open, unauthenticated"
is 'dmsec_sessions_open{state="authenticated"}' 1 "the first one still open"
expect "device D removed" "$TOOL" device remove "$D" --db "$DB"
is dmsec_devices 2 "devices after removing D"

echo "integration metrics: $pass passed, $fail failed"
[ "$fail" = 0 ]
