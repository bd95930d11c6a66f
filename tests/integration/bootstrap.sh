#!/usr/bin/env bash
# Bootstrap end to end: "dmsec bootstrap make" registers a device and
# writes a MAC'd (or 3GPP_GBA-protected) WBXML bootstrap message;
# "dmsec-client bootstrap" checks the MAC (or the GBA tag) and creates the
# DMAcc; then a real session against dmsec-server. Also: make is all or
# nothing (no registration without the file).
# usage: bootstrap.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE   (dmsec-client sits beside DMSEC_SERVER)
set -uo pipefail
SERVER=$1 TOOL=$2
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
CLIENT=$(dirname "$1")/dmsec-client
need_programs bootstrap "$CLIENT"
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

# ---- 3GPP_GBA: protected with DMBIK/DMBEK derived from Ks_NAF ----
rand_hex() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }
KS=$(rand_hex)
KS2=$(rand_hex)
BADKS=$(rand_hex)
GBA_CT="application/vnd.syncml.dm+wbxml; SEC=3GPP_GBA"
printf '%s\n' "$KS2" >"$work/ks2.txt"
make_gba() { # tag ks-args... : make, then init the device's tree
    local tag=$1 json id="IMEI:35$RANDOM$RANDOM"
    shift
    json=$("$TOOL" bootstrap make --db "$DB" --device-id "$id" --server-id "$SID" --server-url "$URL" \
        --keytype GBA "$@" --out "$work/$tag.wbxml" --json 2>>"$work/make.err") || return 1
    echo "$json" >>"$work/make.out"
    CT[$tag]=$(jq -r .content_type <<<"$json")
    [ "${CT[$tag]}" = "$GBA_CT" ] || return 1
    [ "$(jq -r .device_id <<<"$json")" = "$id" ] || return 1
    "$CLIENT" init --tree "$work/$tag.tree" --device-id "$id" >/dev/null
}
if make_gba gba --ks-naf-hex "$KS" && make_gba gba2 --ks-naf-file "$work/ks2.txt"; then
    ok "bootstrap make GBA (--ks-naf-hex, --ks-naf-file): Content-Type '$GBA_CT'"
else bad "bootstrap make GBA failed: $(cat "$work/make.err")"; fi
size=$(stat -c %s "$work/gba.wbxml" 2>/dev/null || echo 0)
if [ $(((size - 48) % 16)) -eq 0 ] && [ "$size" -ge 64 ] && ! grep -q "$SID" "$work/gba.wbxml"; then
    ok "GBA file is IV || whole AES blocks || tag, nothing in clear ($size bytes)"
else bad "GBA file: $size bytes, or the server id in clear"; fi
if grep -qi -e "$KS" -e "$KS2" "$work/make.out" "$work/make.err"; then
    bad "make printed Ks_NAF"
else ok "make never prints Ks_NAF"; fi

# Make's refusals register nothing.
no_device() { ! "$TOOL" device list --db "$DB" --json | jq -e --arg id "$1" 'any(.[]; .device_id == $id)' >/dev/null; }
make_refused() { # name want-exit id args... : exit code, device not registered, no file
    local name=$1 want=$2 id=$3
    shift 3
    rm -f "$work/r.wbxml"
    "$TOOL" bootstrap make --db "$DB" --device-id "$id" --server-id "$SID" --server-url "$URL" "$@" \
        >"$work/out" 2>"$work/err"
    local rc=$?
    if [ $rc -ne "$want" ]; then
        bad "$name: exit $rc, want $want: $(cat "$work/err")"
    elif ! no_device "$id"; then
        bad "$name: the device was registered"
    elif [ -e "$work/r.wbxml" ] || ls "$work"/*.tmp?????? >/dev/null 2>&1; then
        bad "$name: a file was left behind"
    elif grep -qi -e "$KS" -e "${KS:0:62}" "$work/out" "$work/err"; then
        bad "$name: Ks_NAF printed"
    else ok "$name (exit $want, nothing registered, no file)"; fi
}
make_refused "make GBA with a 31-byte Ks_NAF" 1 IMEI:g1 --keytype GBA --ks-naf-hex "${KS:0:62}" --out "$work/r.wbxml"
make_refused "make GBA with a non-hex Ks_NAF" 1 IMEI:g2 --keytype GBA --ks-naf-hex "${KS:0:62}zz" --out "$work/r.wbxml"
make_refused "make GBA with --pin: usage" 2 IMEI:g3 --keytype GBA --ks-naf-hex "$KS" --pin 1 --out "$work/r.wbxml"
make_refused "make GBA with both --ks-naf-hex and --ks-naf-file: usage" 2 IMEI:g8 --keytype GBA \
    --ks-naf-hex "$KS" --ks-naf-file "$work/ks2.txt" --out "$work/r.wbxml"
make_refused "make GBA without Ks_NAF: usage" 2 IMEI:g4 --keytype GBA --out "$work/r.wbxml"
make_refused "make USERPIN with --ks-naf-hex: usage" 2 IMEI:g5 --keytype USERPIN --pin 1 --ks-naf-hex "$KS" --out "$work/r.wbxml"
# All or nothing: --out that cannot be written (before and after the store).
make_refused "make --out in a missing directory" 1 IMEI:g6 --keytype USERPIN --pin 1 --out "$work/nodir/r.wbxml"
mkdir -p "$work/isdir"
make_refused "make --out naming a directory (rename fails after registering)" 1 IMEI:g7 \
    --keytype GBA --ks-naf-hex "$KS" --out "$work/isdir"
if grep -q "Is a directory" "$work/err" && [ -z "$(ls -A "$work/isdir")" ]; then
    ok "the failed rename was reported, the registration undone"
else bad "rename failure: $(cat "$work/err")"; fi

# flip FILE OFFSET OUT: OUT is FILE with the byte at OFFSET xor 0x01.
flip() {
    cp "$1" "$3"
    local byte
    byte=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf '%b' "$(printf '\\%03o' $((byte ^ 1)))" | dd of="$3" bs=1 seek="$2" conv=notrunc status=none
    ! cmp -s "$1" "$3"
}
usage_err() { # name tree args... : exit 2 with a reason, tree unchanged
    local name=$1 tree=$2
    shift 2
    cp "$tree" "$work/before.tree"
    "$CLIENT" bootstrap --tree "$tree" "$@" >"$work/out" 2>"$work/err"
    local rc=$?
    if [ $rc -ne 2 ]; then
        bad "$name: exit $rc, want 2: $(cat "$work/err")"
    elif ! grep -q "ks-naf" "$work/err"; then
        bad "$name: no reason given: $(cat "$work/err")"
    elif ! cmp -s "$tree" "$work/before.tree"; then
        bad "$name: the tree file changed"
    else ok "$name (usage error, tree unchanged)"; fi
}
G=$work/gba.wbxml
tree=$work/gba.tree
gsize=$(stat -c %s "$G")
: >"$work/client.err"
refused "gba: wrong Ks_NAF refused" "$tree" --file "$G" --content-type "$GBA_CT" --ks-naf-hex "$BADKS"
cat "$work/err" >>"$work/client.err"
grep -q "tag does not verify" "$work/err" || bad "gba: wrong Ks_NAF: unclear reason: $(cat "$work/err")"
refused "gba: another device's Ks_NAF refused" "$tree" --file "$G" --content-type "$GBA_CT" --ks-naf-file "$work/ks2.txt"
for off in 0 15 16 $((gsize / 2)) $((gsize - 33)) $((gsize - 32)) $((gsize - 1)); do
    if flip "$G" "$off" "$work/flip.wbxml"; then
        refused "gba: byte $off of $gsize flipped refused" "$tree" --file "$work/flip.wbxml" \
            --content-type "$GBA_CT" --ks-naf-hex "$KS"
        cat "$work/err" >>"$work/client.err"
    else bad "gba: flip at $off did nothing"; fi
done
for cut in 1 16 32 $((gsize - 40)); do
    head -c $((gsize - cut)) "$G" >"$work/cut.wbxml"
    refused "gba: truncated by $cut bytes refused" "$tree" --file "$work/cut.wbxml" \
        --content-type "$GBA_CT" --ks-naf-hex "$KS"
    cat "$work/err" >>"$work/client.err"
done
grep -q "truncated" "$work/err" || bad "gba: a 40-byte file: unclear reason: $(cat "$work/err")"
refused "gba: a MAC'd bootstrap sent as GBA refused" "$tree" --file "$work/pin.wbxml" \
    --content-type "$GBA_CT" --ks-naf-hex "$KS"
usage_err "gba: GBA content type with --pin" "$tree" --file "$G" --content-type "$GBA_CT" --pin 4711
usage_err "gba: GBA content type with --imsi" "$tree" --file "$G" --content-type "$GBA_CT" --imsi 234150999999999
usage_err "gba: GBA content type without Ks_NAF" "$tree" --file "$G" --content-type "$GBA_CT"
usage_err "gba: MAC content type with --ks-naf-hex" "$work/imsi.tree" --file "$work/imsi.wbxml" \
    --content-type "${CT[imsi]}" --ks-naf-hex "$KS"
if grep -qi -e "$KS" -e "$BADKS" -e "$KS2" "$work/client.err"; then
    bad "the client printed a Ks_NAF"
else ok "the client's refusals never print a Ks_NAF"; fi
expect "gba: right Ks_NAF accepted" "$CLIENT" bootstrap --tree "$tree" --file "$G" --content-type "$GBA_CT" --ks-naf-hex "$KS"
expect "gba2: right Ks_NAF (--ks-naf-file) accepted" "$CLIENT" bootstrap --tree "$work/gba2.tree" \
    --file "$work/gba2.wbxml" --content-type "$GBA_CT" --ks-naf-file "$work/ks2.txt"
"$CLIENT" show --tree "$tree" >"$work/show.out" 2>&1
if grep -q "^./DMAcc/dmsec .*acl=\"Add=$SID&Delete=$SID&Get=$SID&Replace=$SID\"" "$work/show.out" &&
    grep -q "^./DMAcc/dmsec/ServerID .*\"$SID\"" "$work/show.out"; then
    ok "gba: DMAcc created, owned by $SID"
else bad "gba: show: $(cat "$work/show.out")"; fi
refused "gba: the same bootstrap again refused" "$tree" --file "$G" --content-type "$GBA_CT" --ks-naf-hex "$KS"

if start_server PORT "$work/server.log"; then ok "server starts on the bootstrap db"; else bad "server did not start: $(cat "$work/server.log")"; fi
for tag in pin imsi gba gba2; do
    if "$CLIENT" session --tree "$work/$tag.tree" --server "$SID" >"$work/sess.out" 2>&1 && both_ok "$work/sess.out"; then
        ok "$tag: session after bootstrap, both authenticated"
    else bad "$tag: session: $(cat "$work/sess.out")"; fi
done

echo "integration bootstrap: $pass passed, $fail failed"
[ $fail -eq 0 ]
