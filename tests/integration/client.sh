#!/usr/bin/env bash
# dmsec-client (the device agent) end to end against dmsec-server: real
# processes, loopback HTTP and UDP, the DM tree in a file.
# usage: client.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE   (dmsec-client sits beside DMSEC_SERVER)
set -uo pipefail
SERVER=$1 TOOL=$2
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
CLIENT=$(dirname "$1")/dmsec-client
need_programs client "$CLIENT"

cd "$work" || exit 1
PORT_A=$(free_port)
PORT_B=$(free_port)
URL_A=http://127.0.0.1:$PORT_A/dm
URL_B=http://127.0.0.1:$PORT_B/dm
DB_A=$work/a.db
DB_B=$work/b.db

start_srv() { # port-variable db server-id [options]
    DB=$2 SID=$3 start_server "$1" "$work/server-$3.log" "${@:4}"
}
expect "server A starts" start_srv PORT_A "$DB_A" srvA
pid_a=$server_pid
expect "server B starts" start_srv PORT_B "$DB_B" srvB

# Registers device $1 with server $3 (db $4, url $5) and adds the account
# $6 to the device's tree $work/$1.tree (created when missing).
# usage: enrol ID SCHEME SERVER_ID DB URL ACCOUNT [NOTIFY_PORT]
enrol() {
    local id=$1 scheme=$2 sid=$3 url=$5 acc=$6
    SID=$sid register_device "$id" "$scheme" "${7:-}" "$4" || return 1
    local json=$reg_json secret=$reg_secret
    echo "$secret" >>"$work/secrets"
    jq -r .server_secret <<<"$json" >>"$work/secrets"
    [ -f "$work/$id.tree" ] || "$CLIENT" init --tree "$work/$id.tree" --device-id "$id" --man dmsec-test --mod agent >/dev/null || return 1
    local cred=(--client-secret "$secret")
    if [ "$scheme" = sha256 ]; then # the file form, which keeps the secret out of ps
        echo "$secret" >"$work/cs.txt"
        cred=(--client-secret-file "$work/cs.txt")
    fi
    "$CLIENT" add-account --tree "$work/$id.tree" --account "$acc" --server-id "$sid" --url "$url" \
        --client-name "$id" "${cred[@]}" --client-scheme "$scheme" \
        --server-secret "$(jq -r .server_secret <<<"$json")" --server-scheme "$scheme" \
        --client-nonce-b64 "$(jq -r .client_nonce_b64 <<<"$json")" \
        --server-nonce-b64 "$(jq -r .server_nonce_b64 <<<"$json")" >/dev/null
}
session() { # id server [options]
    "$CLIENT" session --tree "$work/$1.tree" --server "$2" "${@:3}" >"$work/sess.out" 2>&1 && both_ok "$work/sess.out"
}

# ---- (1) client-initiated sessions, each scheme ----
for scheme in basic md5 sha256; do
    id="IMEI:35$RANDOM$RANDOM"
    expect "enrol ($scheme)" enrol "$id" $scheme srvA "$DB_A" "$URL_A" dmsec
    expect "session $scheme: both sides authenticated" session "$id" srvA
    expect "session $scheme again, WBXML, on the nonces the first stored" session "$id" srvA --codec wbxml
done

# ---- bad input ----
D=IMEI:490154203230001
enrol $D md5 srvA "$DB_A" "$URL_A" dmsec
refuse "missing tree file refused" "$CLIENT" show --tree "$work/nope.tree"
refuse "unknown option refused" "$CLIENT" show --tree "$work/$D.tree" --bogus 1
# show: bin values in hex (text) and base64 (--json), secrets never
"$CLIENT" show --tree "$work/$D.tree" >"$work/show.txt" && "$CLIENT" show --tree "$work/$D.tree" --json >"$work/show.json"
hex_text=$(sed -n 's|^\./DMAcc/dmsec/AppAuth/CLCRED/AAuthData \[bin\] = hex:\([0-9a-f]*\)$|\1|p' "$work/show.txt")
hex_json=$(jq -r 'select(.uri == "./DMAcc/dmsec/AppAuth/CLCRED/AAuthData" and .value_encoding == "base64") | .value' "$work/show.json" | base64 -d | xxd -p | tr -d '\n')
[ -n "$hex_text" ] && [ "$hex_text" = "$hex_json" ] && ok "show: the nonce as hex, and as base64 in --json" ||
    bad "show: nonce text '$hex_text' json '$hex_json'"
[ "$(jq -s '[.[] | select(.uri | endswith("/AAuthSecret"))] | length as $n | $n > 1 and ([.[] | select(.uri | endswith("/AAuthSecret")) | select(.secret == true and (has("value") | not))] | length) == $n' "$work/show.json")" = true ] &&
    ok "show --json: the AAuthSecrets as secret, with no value" || bad "show --json secrets: $(grep AAuthSecret "$work/show.json")"
leaked=0
while read -r sec; do
    [ -n "$sec" ] && grep -qF -- "$sec" "$work/show.txt" "$work/show.json" && leaked=1
done <"$work/secrets"
[ $leaked = 0 ] && ok "show: no secret in either listing" || bad "show: a secret listed"
refuse "unknown server refused" "$CLIENT" session --tree "$work/$D.tree" --server nobody
refuse "init over an existing tree refused" "$CLIENT" init --tree "$work/$D.tree" --device-id X
cp "$work/$D.tree" "$work/corrupt.tree"
sed -i 's/DevId/DevID/' "$work/corrupt.tree"
if "$CLIENT" show --tree "$work/corrupt.tree" >"$work/out" 2>"$work/err"; then
    bad "corrupt tree file accepted"
elif grep -q "corrupt" "$work/err"; then ok "corrupt tree file: refuses to run and says so"; else
    bad "corrupt tree: $(cat "$work/err")"
fi
refuse "session on a corrupt tree refused" "$CLIENT" session --tree "$work/corrupt.tree" --server srvA

# ---- (2) server-alerted session over UDP ----
listen() { # id port [options]: background listener, waits until it is bound
    "$CLIENT" listen --tree "$work/$1.tree" --port "$2" --once --wait "${LWAIT:-10}" "${@:3}" >"$work/listen.out" 2>&1 &
    listen_pid=$!
    wait_line listening "$work/listen.out"
}
N=IMEI:490154203230002
NPORT=$(free_port)
enrol $N md5 srvA "$DB_A" "$URL_A" dmsec "$NPORT"
listen $N "$NPORT"
nsid=$("$TOOL" notify $N --db "$DB_A" --server-id srvA)
if wait $listen_pid && grep -q "notification=verified server=srvA session=$nsid nonce=stored" "$work/listen.out" &&
    grep -q "^session=$nsid .*result=DMSEC_OK server_authenticated=1 device_authenticated=1" "$work/listen.out"; then
    ok "notify -> UDP -> listen: session $nsid opened, both authenticated"
else bad "server-alerted session: $(cat "$work/listen.out")"; fi
# listen --json: one JSON object per line (listening, the notification, the
# session), each parsed by jq.
listen $N "$NPORT" --json
nsid=$("$TOOL" notify $N --db "$DB_A" --server-id srvA)
if wait $listen_pid && jq -e . "$work/listen.out" >/dev/null &&
    [ "$(jq -c 'select(.event == "listening") | has("port")' "$work/listen.out")" = true ] &&
    [ "$(jq -r --arg s "$nsid" 'select(.event == "notification" and .session == $s) |
        [.notification, .server, .nonce, .ui] | join(" ")' "$work/listen.out")" = "verified srvA stored background" ] &&
    [ "$(jq -r --arg s "$nsid" 'select(.event == "session" and .session == $s) |
        [.ok, .result, .server_authenticated, .device_authenticated, .why] | tostring' "$work/listen.out")" = \
        '[true,"DMSEC_OK",true,true,null]' ]; then
    ok "listen --json: listening, verified notification, session ok, one object per line"
else bad "listen --json: $(cat "$work/listen.out")"; fi

# ui-mode: informative runs the hook; interactive needs the hook's yes.
cat >"$work/hook.sh" <<EOF
#!/bin/sh
echo "\$DMSEC_UI \$DMSEC_SERVER \$DMSEC_SESSION" >>"$work/hook.log"
exit \${HOOK_EXIT:-0}
EOF
chmod +x "$work/hook.sh"
listen $N "$NPORT" --hook "$work/hook.sh"
nsid=$("$TOOL" notify $N --db "$DB_A" --server-id srvA --ui informative)
if wait $listen_pid && both_ok "$work/listen.out" && grep -q "^informative srvA $nsid$" "$work/hook.log"; then
    ok "informative: hook told (DMSEC_UI, DMSEC_SERVER, DMSEC_SESSION), session ran"
else bad "informative: $(cat "$work/listen.out" "$work/hook.log")"; fi
export HOOK_EXIT=1
LWAIT=3 listen $N "$NPORT" --hook "$work/hook.sh"
nsid=$("$TOOL" notify $N --db "$DB_A" --server-id srvA --ui interactive)
wait $listen_pid
if grep -q "notification=declined" "$work/listen.out" && ! grep -q "server_authenticated" "$work/listen.out"; then
    ok "interactive, the user says no: no session"
else bad "interactive declined: $(cat "$work/listen.out")"; fi
export HOOK_EXIT=0
listen $N "$NPORT" --hook "$work/hook.sh"
nsid=$("$TOOL" notify $N --db "$DB_A" --server-id srvA --ui interactive)
if wait $listen_pid && both_ok "$work/listen.out" && grep -q "^interactive srvA $nsid$" "$work/hook.log"; then
    ok "interactive, the user says yes: session ran"
else bad "interactive accepted: $(cat "$work/listen.out")"; fi
unset HOOK_EXIT

# ---- (3) the device lost its nonces: resync ----
for cred in CLCRED SRVCRED; do
    "$CLIENT" set --tree "$work/$N.tree" --uri "./DMAcc/dmsec/AppAuth/$cred/AAuthData" --value-b64 AAAAAA==
done
# Device $1 (listening on $2) and server A disagree on a nonce: the ordinary
# notification is ignored, the resync notification runs a session on the
# default nonce, and then notifications and sessions work again.
# usage: desync_recovers ID PORT LABEL
desync_recovers() {
    local id=$1 port=$2 label=$3 nsid
    LWAIT=2 listen "$id" "$port"
    "$TOOL" notify "$id" --db "$DB_A" --server-id srvA >/dev/null
    wait $listen_pid
    if grep -q "notification=ignored" "$work/listen.out" && ! grep -q "server_authenticated" "$work/listen.out"; then
        ok "$label: ordinary notification ignored"
    else bad "$label, ordinary notification: $(cat "$work/listen.out")"; fi
    listen "$id" "$port"
    nsid=$("$TOOL" notify "$id" --db "$DB_A" --server-id srvA --resync)
    if wait $listen_pid && grep -q "session=$nsid nonce=default" "$work/listen.out" && both_ok "$work/listen.out"; then
        ok "$label: resync verified on the default nonce, session on it, both authenticated"
    else bad "$label, resync: $(cat "$work/listen.out")"; fi
    listen "$id" "$port"
    "$TOOL" notify "$id" --db "$DB_A" --server-id srvA >/dev/null
    if wait $listen_pid && grep -q "nonce=stored" "$work/listen.out" && both_ok "$work/listen.out"; then
        ok "$label: after resync, ordinary notifications work again"
    else bad "$label, after resync: $(cat "$work/listen.out")"; fi
    expect "$label: after resync, client-initiated sessions work" session "$id" srvA
}
desync_recovers $N "$NPORT" "lost nonces"

# ---- (3b) the server's database restored from an older copy (seed 001 case 2) ----
restart_a() { # [backup to restore ("" for none)] [server options]
    kill -TERM "$pid_a"
    wait "$pid_a" 2>/dev/null
    if [ -n "${1:-}" ]; then
        cp "$1" "$DB_A"
        rm -f "$DB_A-wal" "$DB_A-shm"
    fi
    start_srv PORT_A "$DB_A" srvA "${@:2}" && pid_a=$server_pid
}
expect "server A restarted (its store checkpointed on the way out)" restart_a
cp "$DB_A" "$work/a-backup.db"
expect "a session moves the nonces on past the backup" session $N srvA
expect "server A restored from the older copy" restart_a "$work/a-backup.db"
desync_recovers $N "$NPORT" "restored server (its nonces are older)"

# ---- (3c) after a resync the server replaces its secret; the agent applies it ----
# (--rotate-on-resync always: over plain HTTP here; the default does it over TLS only)
W=IMEI:490154203230004
WPORT=$(free_port)
expect "server A restarted with --rotate-on-resync always" restart_a "" --rotate-on-resync always
enrol $W md5 srvA "$DB_A" "$URL_A" dmsec "$WPORT"
old_ss=$(jq -r .server_secret <<<"$reg_json")
has_srv_secret() { grep -aqF "11:AAuthSecret 0: 0: ${#2}:$2" "$work/$1.tree"; }
expect "before: the tree holds the registered server secret" has_srv_secret $W "$old_ss"
for cred in CLCRED SRVCRED; do
    "$CLIENT" set --tree "$work/$W.tree" --uri "./DMAcc/dmsec/AppAuth/$cred/AAuthData" --value-b64 AAAAAA==
done
listen $W "$WPORT"
nsid=$("$TOOL" notify $W --db "$DB_A" --server-id srvA --resync)
if wait $listen_pid && grep -q "session=$nsid nonce=default" "$work/listen.out" && both_ok "$work/listen.out"; then
    ok "rotation: resync session on the default nonce, both authenticated"
else bad "rotation: resync: $(cat "$work/listen.out")"; fi
rotated=$("$TOOL" audit --db "$DB_A" --json | jq --arg d $W '[.[] | select(.device_id == $d and .event == "secret_rotated")] | length')
[ "$rotated" = 1 ] && ok "rotation: the server recorded secret_rotated (the agent confirmed the Replace)" ||
    bad "rotation: secret_rotated rows: $rotated"
if ! has_srv_secret $W "$old_ss" && ! grep -aqF "$old_ss" "$work/$W.tree"; then
    ok "rotation: the old server secret is gone from the tree"
else bad "rotation: the old server secret is still in the tree"; fi
listen $W "$WPORT"
"$TOOL" notify $W --db "$DB_A" --server-id srvA >/dev/null
if wait $listen_pid && grep -q "nonce=stored" "$work/listen.out" && both_ok "$work/listen.out"; then
    ok "rotation: a notification signed with the new secret verifies, session on it"
else bad "rotation: after: $(cat "$work/listen.out")"; fi
expect "rotation: client-initiated session with the new secret" session $W srvA
expect "server A restarted with its defaults" restart_a

# ---- (4) forged package #0 ----
LWAIT=2 listen $N "$NPORT"
for nonce in 00000000 0123456789abcdef0123456789abcdef; do
    pkg=$("$TOOL" pkg0 build --server-id srvA --secret not-the-secret --nonce-hex $nonce --session-id 0x77)
    send_udp "010603C4AF87$pkg" "$NPORT"
done
send_udp "00112233" "$NPORT"
wait $listen_pid
if [ "$(grep -c "notification=ignored" "$work/listen.out")" -eq 3 ] && ! grep -q "server_authenticated" "$work/listen.out"; then
    ok "forged package #0 (wrong secret, stored and default nonce) and garbage: ignored, no session"
else bad "forged: $(cat "$work/listen.out")"; fi
expect "the device still works after the forgeries" session $N srvA
# A genuine package #0 (the server's secret, the device's stored nonce) with
# one bit flipped is ignored too; the same package unflipped is accepted.
F=IMEI:490154203230009
FPORT=$(free_port)
enrol $F md5 srvA "$DB_A" "$URL_A" dmsec "$FPORT"
fss=$(jq -r .server_secret <<<"$reg_json")
fnonce=$(jq -r .server_nonce_b64 <<<"$reg_json" | base64 -d | xxd -p | tr -d '\n')
genuine=$("$TOOL" pkg0 build --server-id srvA --secret "$fss" --nonce-hex "$fnonce" --session-id 0x55)
flipped="${genuine:0:9}$(printf '%x' $((0x${genuine:9:1} ^ 1)))${genuine:10}" # a digest bit
LWAIT=2 listen $F "$FPORT"
send_udp "010603C4AF87$flipped" "$FPORT"
wait $listen_pid
if grep -q "notification=ignored server=srvA session=55 reason=digest-mismatch" "$work/listen.out" &&
    ! grep -q "server_authenticated" "$work/listen.out"; then
    ok "genuine package #0 with one bit flipped: ignored (digest), no session"
else bad "flipped bit: $(cat "$work/listen.out")"; fi
listen $F "$FPORT"
send_udp "010603C4AF87$genuine" "$FPORT"
if wait $listen_pid && grep -q "session=0055 nonce=stored\|session=55 nonce=stored" "$work/listen.out"; then
    ok "the same package #0 unflipped: verified on the stored nonce"
else bad "genuine package #0: $(cat "$work/listen.out")"; fi

# ---- (5) two servers on one device ----
M=IMEI:490154203230003
expect "enrol with server A" enrol $M md5 srvA "$DB_A" "$URL_A" dmsec
expect "enrol with server B" enrol $M sha256 srvB "$DB_B" "$URL_B" srvB
expect "session with server A" session $M srvA
expect "session with server B" session $M srvB
expect "session with server A again" session $M srvA
"$CLIENT" show --tree "$work/$M.tree" >"$work/show.out" 2>&1
if grep -q '^./DMAcc/dmsec/ServerID .*"srvA"' "$work/show.out" && grep -q '^./DMAcc/srvB/ServerID .*"srvB"' "$work/show.out" &&
    grep -q '^./DMAcc/srvB .*acl="Add=srvB&Delete=srvB&Get=srvB&Replace=srvB"' "$work/show.out"; then
    ok "show lists both accounts, each owned by its server"
else bad "show: $(cat "$work/show.out")"; fi
acl() { # server uri expected-status [children]
    "$CLIENT" get --tree "$work/$M.tree" --server "$1" --uri "$2" >"$work/get.out" 2>&1
    grep -q "^status=$3${4:+ children=$4}\( format=.*\)\{0,1\}\$" "$work/get.out"
}
expect "ACL: server B's Get on server A's AAuthName: 425" acl srvB ./DMAcc/dmsec/AppAuth/CLCRED/AAuthName 425
expect "ACL: server B's Get on server A's AAuthData: 425" acl srvB ./DMAcc/dmsec/AppAuth/SRVCRED/AAuthData 425
expect "ACL: server A's Get on server B's account: 425" acl srvA ./DMAcc/srvB 425
expect "ACL: server B reads its own AAuthName" acl srvB ./DMAcc/srvB/AppAuth/CLCRED/AAuthName 200
expect "ACL: Get on ./DMAcc lists only the caller's account" acl srvB ./DMAcc 200 srvB
expect "ACL: AAuthSecret is write-only (405)" acl srvA ./DMAcc/dmsec/AppAuth/SRVCRED/AAuthSecret 405
leak=0
while read -r s; do grep -qF -- "$s" "$work/show.out" && leak=1; done <"$work/secrets"
[ $leak -eq 0 ] && ok "show prints no secret" || bad "a secret is in show's output"

# ---- (6) kill -9 at random points; the tree always parses ----
K=IMEI:490154203230004
KPORT=$(free_port)
enrol $K md5 srvA "$DB_A" "$URL_A" dmsec "$KPORT"
unparsable=0
locked=0
for round in 1 2 3 4 5 6 7 8; do
    "$CLIENT" session --tree "$work/$K.tree" --server srvA >/dev/null 2>&1 &
    kp=$!
    sleep "0.0$((RANDOM % 6))$((RANDOM % 10))"
    kill -9 $kp 2>/dev/null
    wait $kp 2>/dev/null
    "$CLIENT" show --tree "$work/$K.tree" >/dev/null 2>&1 || unparsable=$((unparsable + 1))
    if [ $((round % 2)) -eq 0 ]; then
        # a server-alerted session killed as well
        LWAIT=5 listen $K "$KPORT"
        "$TOOL" notify $K --db "$DB_A" --server-id srvA >/dev/null
        sleep "0.0$((RANDOM % 8))$((RANDOM % 10))"
        kill -9 $listen_pid 2>/dev/null
        wait $listen_pid 2>/dev/null
        "$CLIENT" show --tree "$work/$K.tree" >/dev/null 2>&1 || unparsable=$((unparsable + 1))
    fi
    session $K srvA || session $K srvA || locked=$((locked + 1))
done
[ $unparsable -eq 0 ] && ok "kill -9 during sessions: the tree file always parses" || bad "$unparsable unparsable tree files"
[ $locked -eq 0 ] && ok "after each kill -9 the next session succeeds (at most one retry)" || bad "$locked rounds locked out"
ls "$work/$K.tree.tmp" >/dev/null 2>&1 && echo "note: a leftover $K.tree.tmp (harmless)"

if grep -qF -f "$work/secrets" "$work"/server-*.log "$work/listen.out" 2>/dev/null; then
    bad "a secret reached a log"
else ok "no secret in the logs"; fi

echo "integration client: $pass passed, $fail failed"
[ $fail -eq 0 ]
