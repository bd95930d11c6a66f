#!/usr/bin/env bash
# Seed 003, the form that beats Solution 1 (digest section 6, "replay-proof
# by default"): a nonce-0 package #1 recorded on the wire during a real
# resync is replayed, its SessionID rewritten, into the NEXT outstanding
# nonce-0 notification of the same device, with the server rotating its
# secret after every resync. The server must answer it as any Cred on the
# default nonce (401 + Chal with a fresh nonce): no 212, no Replace of the
# AAuthSecret to the attacker, no resync audit row; and the real device
# keeps working (client-initiated and notified sessions).
# usage: attack_resync_replay.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE
#   (dmsec-client sits beside DMSEC_SERVER; mitm and attacker beside TESTDEVICE)
set -uo pipefail
SERVER=$1 TOOL=$2
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
CLIENT=$(dirname "$1")/dmsec-client
MITM=$(dirname "$3")/mitm
ATTACKER=$(dirname "$3")/attacker
need_programs attack_resync_replay "$CLIENT" "$MITM" "$ATTACKER"

cd "$work" || exit 1
DB=$work/dmsec.db
SID=srv-attack
PORT=
expect "server starts (--rotate-on-resync always)" start_server PORT server.log \
    --max-auth-failures 1000 --rotate-on-resync always
URL=http://127.0.0.1:$PORT/dm
expect "recording proxy starts" start_proxy MPORT mitm.log "$MITM" --record "$work/rec"

# The real device: dmsec-client, talking to the server through the proxy.
D=IMEI:490154203239101
NPORT=$(free_port)
session() { "$CLIENT" session --tree "$D.tree" --server $SID >sess.out 2>&1 && both_ok sess.out; }
listen() { # background listener, waits until it is bound
    "$CLIENT" listen --tree "$D.tree" --port "$NPORT" --once --wait 10 >listen.out 2>&1 &
    listen_pid=$!
    wait_line listening listen.out
}
expect "enrol $D (md5) behind the proxy" enrol_client $D md5 "http://127.0.0.1:$MPORT/dm" "$NPORT"
if session; then ok "first session"; else bad "first session: $(cat sess.out)"; fi

# ---- a real resync, recorded ----
for cred in CLCRED SRVCRED; do # the device lost its nonces (firmware update)
    "$CLIENT" set --tree "$D.tree" --uri "./DMAcc/dmsec/AppAuth/$cred/AAuthData" --value-b64 AAAAAA== >/dev/null
done
listen
rsid=$("$TOOL" notify $D --db "$DB" --server-id $SID --resync)
if wait $listen_pid && grep -q "session=$rsid nonce=default" listen.out && both_ok listen.out; then
    ok "real resync $rsid (package #0 on the default nonce), both authenticated, recorded"
else bad "real resync: $(cat listen.out)"; fi
pkg1=$(exchanges rec "$rsid" | head -1)
[ -n "$pkg1" ] && pkg1=rec/req-$pkg1.body
[ -n "$pkg1" ] && ok "package #1 of $rsid recorded ($pkg1)" || bad "no recorded package #1 for $rsid"
cred0=$("$TOOL" cred --scheme md5 --user $D --secret "$(cat "$D.cs")" --nonce-hex 00000000)
grep -q "<Cred>.*<Data>$cred0</Data></Cred>" "${pkg1:-/dev/null}" &&
    ok "the recorded package #1 carries the nonce-0 Cred (what seed 003 captures)" ||
    bad "the recorded package #1 has no nonce-0 Cred"

# ---- later: a new resync notification is outstanding; the device does not listen ----
rotated_before=$(audit_count $D secret_rotated "")
rsid2=$("$TOOL" notify $D --db "$DB" --server-id $SID --resync)
[ -n "$rsid2" ] && [ "$rsid2" != "$rsid" ] && ok "second resync notification $rsid2 outstanding" ||
    bad "second resync notification: '$rsid2'"
"$ATTACKER" replay --url "$URL" --body "${pkg1:-/dev/null}" --session-id "$rsid2" >replay.out 2>&1
sed 's/^/    attacker: /' replay.out
if grep -q "^msg=1 http=200 synchdr=401 chal=1 nonce_len=16 " replay.out; then
    ok "replay into $rsid2: 401 + Chal with a fresh 16-byte nonce"
else bad "replay into $rsid2: $(head -1 replay.out)"; fi
if ! grep -q "synchdr=212\|synchdr=200" replay.out; then
    ok "the server never accepted the replayed Cred (no 212 / 200 in $(grep -c '^msg=' replay.out) messages)"
else bad "the server accepted the replayed Cred: $(grep 'synchdr=2' replay.out | head -1)"; fi
grep -q "^replay .*secret_replace=0" replay.out && ok "no Replace of the AAuthSecret reached the attacker" ||
    bad "the attacker was sent the server secret rotation"
n=$(audit_count $D resync "session=$rsid2")
[ "$n" = 0 ] && ok "audit: no resync row for $rsid2" || bad "audit: $n resync row(s) for the replayed session $rsid2"
rotated_after=$(audit_count $D secret_rotated "")
[ "$rotated_after" = "$rotated_before" ] && ok "audit: no secret_rotated by the attack" ||
    bad "audit: secret_rotated $rotated_before -> $rotated_after"
"$TOOL" device show --db "$DB" --device-id $D --json | jq -e '.device.rotation_pending == false' >/dev/null &&
    ok "no secret rotation pending for $D" || bad "a secret rotation is pending for $D"

# ---- the real device still works ----
if session; then ok "the real device: client-initiated session"; else
    bad "the real device, client-initiated session: $(cat sess.out)"
fi
listen
nsid=$("$TOOL" notify $D --db "$DB" --server-id $SID)
if wait $listen_pid && grep -q "session=$nsid nonce=stored" listen.out && both_ok listen.out; then
    ok "the real device: notified session (package #0 verifies with the secret it holds)"
else bad "the real device, notified session: $(cat listen.out)"; fi

echo "integration attack_resync_replay: $pass passed, $fail failed"
[ $fail -eq 0 ]
