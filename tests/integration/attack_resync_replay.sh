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
PORT=$(free_port)
MPORT=$(free_port)
URL=http://127.0.0.1:$PORT/dm

"$SERVER" --listen "127.0.0.1:$PORT" --db "$DB" --server-id $SID --resync-after 3600 \
    --max-auth-failures 1000 --rotate-on-resync always >>server.log 2>&1 &
pids+=($!)
expect "server starts (--rotate-on-resync always)" wait_up "http://127.0.0.1:$PORT/healthz"
"$MITM" --listen "$MPORT" --to "127.0.0.1:$PORT" --record "$work/rec" >>mitm.log 2>&1 &
pids+=($!)
expect "recording proxy starts" wait_up "http://127.0.0.1:$MPORT/healthz"

# The real device: dmsec-client, talking to the server through the proxy.
D=IMEI:490154203239101
NPORT=$(free_port)
enrol() {
    register_device $D md5 "$NPORT" || return 1
    echo "$reg_secret" >dev.cs
    jq -r .server_secret <<<"$reg_json" >dev.ss
    "$CLIENT" init --tree dev.tree --device-id $D --man dmsec-test --mod victim >/dev/null &&
        "$CLIENT" add-account --tree dev.tree --account dmsec --server-id $SID \
            --url "http://127.0.0.1:$MPORT/dm" --client-name $D --client-secret-file dev.cs \
            --client-scheme md5 --server-secret-file dev.ss --server-scheme md5 \
            --client-nonce-b64 "$(jq -r .client_nonce_b64 <<<"$reg_json")" \
            --server-nonce-b64 "$(jq -r .server_nonce_b64 <<<"$reg_json")" >/dev/null
}
both_ok() { grep -q "result=DMSEC_OK server_authenticated=1 device_authenticated=1" "$@"; }
session() { "$CLIENT" session --tree dev.tree --server $SID >sess.out 2>&1 && both_ok sess.out; }
listen() { # background listener, waits until it is bound
    "$CLIENT" listen --tree dev.tree --port "$NPORT" --once --wait 10 >listen.out 2>&1 &
    listen_pid=$!
    for _ in $(seq 1 100); do grep -q listening listen.out 2>/dev/null && return; sleep 0.05; done
}
audit_count() { # device event detail-substring
    "$TOOL" audit --db "$DB" --json |
        jq --arg d "$1" --arg e "$2" --arg s "$3" '[.[] | select(.device_id == $d and .event == $e and (.detail | contains($s)))] | length'
}
expect "enrol $D (md5) behind the proxy" enrol
if session; then ok "first session"; else bad "first session: $(cat sess.out)"; fi

# ---- a real resync, recorded ----
for cred in CLCRED SRVCRED; do # the device lost its nonces (firmware update)
    "$CLIENT" set --tree dev.tree --uri "./DMAcc/dmsec/AppAuth/$cred/AAuthData" --value-b64 AAAAAA== >/dev/null
done
listen
rsid=$("$TOOL" notify $D --db "$DB" --server-id $SID --resync)
if wait $listen_pid && grep -q "session=$rsid nonce=default" listen.out && both_ok listen.out; then
    ok "real resync $rsid (package #0 on the default nonce), both authenticated, recorded"
else bad "real resync: $(cat listen.out)"; fi
pkg1=
for m in rec/req-*.meta; do
    if grep -qx "path /dm" "$m" && grep -q "<SessionID>$rsid</SessionID>" "${m%.meta}.body"; then
        pkg1=${m%.meta}.body
        break
    fi
done
[ -n "$pkg1" ] && ok "package #1 of $rsid recorded ($pkg1)" || bad "no recorded package #1 for $rsid"
cred0=$("$TOOL" cred --scheme md5 --user $D --secret "$(cat dev.cs)" --nonce-hex 00000000)
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
