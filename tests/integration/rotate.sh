#!/usr/bin/env bash
# shellcheck disable=SC2015 # ok/bad always return 0
# dmsec device rotate (issue 12, device lifecycle), with real processes:
# dmsec-server over plain HTTP and the agent dmsec-client with its tree.
#  (A) --client: the next session delivers the device's new CLCRED secret
#      (audit rows, the server's warning that it crossed in clear), the one
#      after authenticates on it (the tree's secret changed), and a copy of
#      the device with the old secret is refused;
#  (B) --server: the same for the server's SRVCRED secret: the tree holds
#      the new one, the next session authenticates the server on it, and a
#      device copy with the old one refuses the server;
#  (C) --client, the device's 200 lost: the server's RespURI leads nowhere
#      (--public-url to a closed port), so the Replace arrives in the answer
#      to package #1 and the device's next message (its Status) never
#      reaches the server, which is then killed -9; restarted, it lets the
#      device in on its new secret and records the rotation confirmed by use;
#  (D) the same for --server: the device refuses the server's Cred on the
#      old secret, the server answers on the pending one, the device takes it.
# usage: rotate.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE
set -uo pipefail
SERVER=$1 TOOL=$2
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
CLIENT=$(dirname "$1")/dmsec-client
need_programs rotate "$CLIENT" jq
cd "$work" || exit 1
export DB=$work/srv.db SID=srvA
PORT=
LOG=$work/server.log
# A failing copy of the device (old secret) must not get the real one's
# address blocked: the failure limit well above what this test makes.
SRV_OPTS=(--max-auth-failures 1000)
start_server_or_end rotate PORT "$LOG" "${SRV_OPTS[@]}"
URL=http://127.0.0.1:$PORT/dm

id=IMEI:490154203239201
tree=$work/$id.tree
expect "enrol" enrol_client "$id" md5 "$URL"

# secret TREE clcred|srvcred: the AAuthSecret of that AppAuth in the tree
# file (CLCRED's line comes first: the file is canonical, names sorted).
secret() {
    local n=1
    [ "$2" = srvcred ] && n=2
    grep -a " 11:AAuthSecret " "$1" | sed -n "${n}p" | sed 's/.* [0-9]*:\([^ ]*\)$/\1/'
}
# session TREE OUT: one agent session; 0 when both sides authenticated.
session() {
    "$CLIENT" session --tree "$1" --server "$SID" >"$2" 2>&1 && both_ok "$2"
}
rot() { # side: requested,pending of that side in device show --json
    "$TOOL" device show "$id" --db "$DB" --json | jq -r --arg s "$1" '.device.rotation[$s] | "\(.requested),\(.pending)"'
}
audits() { audit_count "$id" "$1" "$2"; }
restart() { # [server options...]: kill -9 and start again on the same port
    kill -9 "$server_pid"
    wait "$server_pid" 2>/dev/null
    start_server PORT "$LOG" "${SRV_OPTS[@]}" "$@"
}

expect "a first session" session "$tree" "$work/s0.out"

# ---- (A) --client ----
cp "$tree" "$work/old-client.tree"
c0=$(secret "$tree" clcred)
[ -n "$c0" ] && ok "the tree holds a CLCRED secret" || bad "no CLCRED secret in the tree"
out=$("$TOOL" device rotate "$id" --db "$DB" --client 2>&1)
grep -q "rotation of the client secret of $id requested" <<<"$out" && ok "rotate --client: says what was asked" ||
    bad "rotate --client said: $out"
[ "$(rot client)" = "true,false" ] && ok "show: client rotation requested" || bad "show client: $(rot client)"
[ "$(audits rotation_requested side=client)" = 1 ] && ok "audit: rotation_requested side=client" ||
    bad "audit rotation_requested: $(audits rotation_requested side=client)"
"$TOOL" audit --db "$DB" --json | jq -e --arg d "$id" '[.[] | select(.device_id == $d and .event == "rotation_requested") | .detail] | all(startswith("by cli:"))' >/dev/null &&
    ok "audit: the request names its operator (cli:...)" || bad "audit: rotation_requested without cli:"
expect "(A) the session that delivers the new client secret" session "$tree" "$work/a1.out"
c1=$(secret "$tree" clcred)
[ -n "$c1" ] && [ "$c1" != "$c0" ] && [ ${#c1} = 32 ] && ok "(A) the tree's CLCRED secret changed (32 characters)" ||
    bad "(A) CLCRED secret: before '${#c0}' after '${#c1}' characters, changed: $([ "$c1" != "$c0" ] && echo yes || echo no)"
[ "$(audits secret_rotated "side=client CLCRED AAuthSecret replaced, status 200")" = 1 ] &&
    ok "(A) audit: secret_rotated side=client, status 200" || bad "(A) audit secret_rotated side=client: $(audits secret_rotated side=client)"
[ "$(rot client)" = "false,false" ] && ok "(A) show: the request is met" || bad "(A) show client: $(rot client)"
grep -q "secret-rotation device=$id side=client requested by an operator" "$LOG" && ok "(A) the server logs the request" ||
    bad "(A) no request line in the log"
grep -q "warn.*secret-rotation device=$id side=client: the new secret crosses plain HTTP in clear" "$LOG" &&
    ok "(A) plain HTTP: the server warns the secret crossed in clear" || bad "(A) no plain-HTTP warning"
grep -qF "$c1" "$LOG" && bad "(A) the new secret is in the server's log" || ok "(A) the new secret is not in the log"
expect "(A) the next session authenticates on the new secret" session "$tree" "$work/a2.out"
[ "$(audits secret_rotated side=client)" = 1 ] && ok "(A) no second rotation" || bad "(A) rotations: $(audits secret_rotated side=client)"
refuse "(A) a copy of the device with the old client secret is refused" session "$work/old-client.tree" "$work/a3.out"
grep -q "auth-failed device=$id" "$LOG" && ok "(A) the server logged the old secret's failure" ||
    bad "(A) no auth-failed line for the old copy"
expect "(A) the device itself still gets in" session "$tree" "$work/a4.out"

# ---- (B) --server ----
cp "$tree" "$work/old-server.tree"
s0=$(secret "$tree" srvcred)
expect "rotate --server" "$TOOL" device rotate "$id" --db "$DB" --server
[ "$(rot server)" = "true,false" ] && ok "show: server rotation requested" || bad "show server: $(rot server)"
expect "(B) the session that delivers the new server secret" session "$tree" "$work/b1.out"
s1=$(secret "$tree" srvcred)
[ -n "$s1" ] && [ "$s1" != "$s0" ] && ok "(B) the tree's SRVCRED secret changed" || bad "(B) SRVCRED secret unchanged"
[ "$(secret "$tree" clcred)" = "$c1" ] && ok "(B) the client secret stayed" || bad "(B) the client secret changed"
[ "$(audits secret_rotated "side=server SRVCRED AAuthSecret replaced, status 200")" = 1 ] &&
    ok "(B) audit: secret_rotated side=server" || bad "(B) audit secret_rotated side=server: $(audits secret_rotated side=server)"
[ "$(rot server)" = "false,false" ] && ok "(B) show: the request is met" || bad "(B) show server: $(rot server)"
expect "(B) the next session authenticates the server on the new secret" session "$tree" "$work/b2.out"
refuse "(B) a device copy with the old server secret refuses the server" session "$work/old-server.tree" "$work/b3.out"
expect "(B) the device itself still gets in" session "$tree" "$work/b4.out"

# lost_status SIDE TAG: rotate SIDE (client or server) with the device's
# 200 lost: the server restarted with its RespURIs to the closed port $DEAD,
# the device applies the Replace (the tree's secret changes) and its next
# message goes nowhere; the server holds the secret pending, is killed -9
# and started again, and lets the device in on the new secret, confirmed by
# use, once. Sessions' output in $work/TAG1.out, TAG2.out, TAG3.out (tag in
# lower case).
lost_status() {
    local side=$1 tag=$2 cred CRED before new out
    cred=clcred
    [ "$side" = server ] && cred=srvcred
    CRED=${cred^^}
    out=$work/${tag,,}
    before=$(secret "$tree" "$cred")
    expect "rotate --$side again" "$TOOL" device rotate "$id" --db "$DB" "--$side"
    expect "server restarted with its RespURIs to a closed port" restart --public-url "http://127.0.0.1:$DEAD"
    refuse "($tag) the session breaks after the Replace (the device's answer goes nowhere)" session "$tree" "${out}1.out"
    new=$(secret "$tree" "$cred")
    [ -n "$new" ] && [ "$new" != "$before" ] && ok "($tag) the device applied the Replace (its $CRED secret changed)" ||
        bad "($tag) the device did not apply the Replace: $(cat "${out}1.out")"
    [ "$(rot "$side")" = "true,true" ] && ok "($tag) the server holds it pending, still requested" ||
        bad "($tag) show $side: $(rot "$side")"
    expect "server killed -9 and started again, RespURIs as usual" restart
    expect "($tag) the device gets in on its new secret (the server's Cred on the pending one for SRVCRED)" \
        session "$tree" "${out}2.out"
    [ "$(audits secret_rotated "side=$side $CRED AAuthSecret replaced, confirmed by use")" = 1 ] &&
        ok "($tag) audit: the $side rotation confirmed by use" ||
        bad "($tag) audit by use: $(audits secret_rotated "side=$side $CRED AAuthSecret replaced, confirmed by use")"
    [ "$(rot "$side")" = "false,false" ] && ok "($tag) show: request met, nothing pending" ||
        bad "($tag) show $side: $(rot "$side")"
    [ "$(secret "$tree" "$cred")" = "$new" ] && ok "($tag) no further rotation in that session" ||
        bad "($tag) the secret changed again"
    expect "($tag) the next session needs no second try" session "$tree" "${out}3.out"
}
DEAD=$(free_port)

# ---- (C) --client, the device's 200 lost, the server killed -9 ----
cp "$tree" "$work/old-c.tree"
lost_status client C
grep -q "secret-rotation device=$id session=[^ ]* side=client confirmed by use" "$LOG" &&
    ok "(C) the server logs it confirmed by use" || bad "(C) no 'confirmed by use' line"
refuse "(C) the secret before it is refused" session "$work/old-c.tree" "$work/c4.out"

# ---- (D) --server, the device's 200 lost, the server killed -9 ----
lost_status server D

# ---- the tool's refusals ----
refuse "rotate without a side" "$TOOL" device rotate "$id" --db "$DB"
out=$("$TOOL" device rotate IMEI:nobody --db "$DB" --client 2>&1)
[ $? = 1 ] && grep -q "no device 'IMEI:nobody' in" <<<"$out" && ok "rotate: an unknown device is named" || bad "rotate unknown: $out"
"$TOOL" device disable "$id" --db "$DB" >/dev/null
"$TOOL" device rotate "$id" --db "$DB" --client --server --json | jq -e '.rotation_requested.client and .rotation_requested.server and .disabled' >/dev/null &&
    ok "rotate --json: both sides, disabled device accepted (delivered once enabled)" || bad "rotate --json on a disabled device"

echo "integration rotate: $pass passed, $fail failed"
[ "$fail" = 0 ]
