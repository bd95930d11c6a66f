#!/usr/bin/env bash
# Bootstrap end to end: "dmsec bootstrap make" registers a device and
# writes a MAC'd WBXML bootstrap message; "dmsec-client bootstrap" checks
# the MAC and creates the DMAcc; then a real session against dmsec-server.
# usage: bootstrap.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE   (dmsec-client sits beside DMSEC_SERVER)
set -uo pipefail
SERVER=$1 TOOL=$2
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
CLIENT=$(dirname "$1")/dmsec-client
[ -x "$CLIENT" ] || {
    echo "FAIL no dmsec-client at $CLIENT"
    echo "integration bootstrap: 0 passed, 1 failed"
    exit 1
}
cd "$work" || exit 1
PORT=$(free_port)
URL=http://127.0.0.1:$PORT/dm
DB=$work/boot.db
SID=srvBoot

# A refusal: exit 1, a reason on stderr, the tree byte-identical.
# usage: refused NAME TREE bootstrap-args...
refused() {
    local name=$1 tree=$2
    shift 2
    cp "$tree" "$work/before.tree"
    if "$CLIENT" bootstrap --tree "$tree" "$@" >"$work/out" 2>"$work/err"; then
        bad "$name: accepted"
    elif ! grep -q "refused" "$work/err"; then
        bad "$name: no reason given: $(cat "$work/err")"
    elif ! cmp -s "$tree" "$work/before.tree"; then
        bad "$name: the tree file changed"
    else ok "$name (tree unchanged)"; fi
}
both_ok() { grep -q "result=DMSEC_OK server_authenticated=1 device_authenticated=1" "$@"; }

# ---- make every device first (the server is not running yet) ----
declare -A CT KEY BADKEY
make_one() { # tag keytype key-args... ; bad-key args in BADKEY
    local tag=$1 kt=$2
    shift 2
    local id="IMEI:35$RANDOM$RANDOM"
    local json
    json=$("$TOOL" bootstrap make --db "$DB" --device-id "$id" --server-id "$SID" --server-url "$URL" \
        --keytype "$kt" "$@" --out "$work/$tag.wbxml" --json) || return 1
    CT[$tag]=$(jq -r .content_type <<<"$json")
    [ "$(jq -r .device_id <<<"$json")" = "$id" ] || return 1
    grep -q "^application/vnd.syncml.dm+wbxml;$kt;[0-9A-F]\{40\}$" <<<"${CT[$tag]}" || return 1
    "$CLIENT" init --tree "$work/$tag.tree" --device-id "$id" >/dev/null
}
if make_one pin USERPIN --pin 4711 && make_one imsi NETWORKID --imsi 234150999999999; then
    ok "bootstrap make: USERPIN and NETWORKID, seed Content-Type with 40 hex"
else bad "bootstrap make failed"; fi
KEY[pin]="--pin 4711"
BADKEY[pin]="--pin 4712"
KEY[imsi]="--imsi 234150999999999"
BADKEY[imsi]="--imsi 234150999999998"

if "$TOOL" bootstrap make --db "$DB" --device-id IMEI:1 --server-id "$SID" --server-url "$URL" \
    --keytype USERPIN --out "$work/nopin.wbxml" >/dev/null 2>&1 || [ -e "$work/nopin.wbxml" ]; then
    bad "make without a PIN for USERPIN accepted"
elif "$TOOL" device show --db "$DB" --device-id IMEI:1 >/dev/null 2>&1; then
    bad "make without a PIN registered the device"
else ok "make without a PIN: refused, nothing registered"; fi

for tag in pin imsi; do
    tree=$work/$tag.tree
    # shellcheck disable=SC2086
    refused "$tag: wrong key refused" "$tree" --file "$work/$tag.wbxml" --content-type "${CT[$tag]}" ${BADKEY[$tag]}
    cp "$work/$tag.wbxml" "$work/$tag.flip.wbxml"
    size=$(stat -c %s "$work/$tag.flip.wbxml")
    off=$((size / 2))
    byte=$(od -An -tu1 -j "$off" -N1 "$work/$tag.flip.wbxml" | tr -d ' ')
    printf '%b' "$(printf '\\%03o' $((byte ^ 1)))" | dd of="$work/$tag.flip.wbxml" bs=1 seek="$off" conv=notrunc status=none
    if cmp -s "$work/$tag.wbxml" "$work/$tag.flip.wbxml"; then bad "$tag: byte flip did nothing"; fi
    # shellcheck disable=SC2086
    refused "$tag: one flipped byte refused" "$tree" --file "$work/$tag.flip.wbxml" --content-type "${CT[$tag]}" ${KEY[$tag]}
    # shellcheck disable=SC2086
    expect "$tag: right key accepted" "$CLIENT" bootstrap --tree "$tree" --file "$work/$tag.wbxml" --content-type "${CT[$tag]}" ${KEY[$tag]}
    "$CLIENT" show --tree "$tree" >"$work/show.out" 2>&1
    if grep -q "^./DMAcc/dmsec .*acl=\"Add=$SID&Delete=$SID&Get=$SID&Replace=$SID\"" "$work/show.out" &&
        grep -q "^./DMAcc/dmsec/ServerID .*\"$SID\"" "$work/show.out"; then
        ok "$tag: DMAcc created, owned by $SID"
    else bad "$tag: show: $(cat "$work/show.out")"; fi
    # shellcheck disable=SC2086
    refused "$tag: the same bootstrap again refused" "$tree" --file "$work/$tag.wbxml" --content-type "${CT[$tag]}" ${KEY[$tag]}
done

"$SERVER" --listen "127.0.0.1:$PORT" --db "$DB" --server-id "$SID" --resync-after 3600 >>"$work/server.log" 2>&1 &
pids+=($!)
up=0
for _ in $(seq 1 50); do
    curl -s "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && up=1 && break
    sleep 0.1
done
if [ $up -eq 1 ]; then ok "server starts on the bootstrap db"; else bad "server did not start: $(cat "$work/server.log")"; fi
for tag in pin imsi; do
    if "$CLIENT" session --tree "$work/$tag.tree" --server "$SID" >"$work/sess.out" 2>&1 && both_ok "$work/sess.out"; then
        ok "$tag: session after bootstrap, both authenticated"
    else bad "$tag: session: $(cat "$work/sess.out")"; fi
done

echo "integration bootstrap: $pass passed, $fail failed"
[ $fail -eq 0 ]
