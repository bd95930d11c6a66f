#!/usr/bin/env bash
# The device lifecycle against a running server: a disabled device is
# answered exactly as an unknown one and works again once enabled; every
# change leaves an audit row naming who made it; the store belongs to one
# server id, set once, and dmsec-server refuses to start as another.
# usage: device_lifecycle.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE
set -uo pipefail
SERVER=$1 TOOL=$2 DEVICE=$3
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"

cd "$work" || exit 1
DB=$work/dmsec.db
SID=srv-lifecycle
PORT=
expect "server starts" start_server PORT server.log
URL=http://127.0.0.1:$PORT/dm
session() { "$DEVICE" session --state "$work/$1.state" --url "$URL" "${@:2}"; }

D=IMEI:490154203238801
expect "device $D registered" device_state $D md5 "$work/$D.state"
expect "session of $D" session $D

# A device id the store never had, with the same secrets: the reference
# for "answered as unknown".
sed "s/^device_id=.*/device_id=IMEI:490154203238899/" "$work/$D.state" >"$work/unknown.state"
"$DEVICE" session --state "$work/unknown.state" --url "$URL" >unknown.out 2>&1
unknown_rc=$?

expect "disable $D" "$TOOL" device disable $D --db "$DB"
cp "$work/$D.state" "$work/$D.saved"
session $D >disabled.out 2>&1
disabled_rc=$?
[ $disabled_rc -ne 0 ] && [ -n "$(field result disabled.out)" ] && ! both_ok disabled.out &&
    ok "a disabled device is refused (exit $disabled_rc)" || bad "a disabled device: exit $disabled_rc: $(tail -n 2 disabled.out)"
[ "$disabled_rc" = "$unknown_rc" ] && [ "$(field result disabled.out)" = "$(field result unknown.out)" ] &&
    [ -n "$(field result unknown.out)" ] &&
    ok "answered as an unknown device ($(field result unknown.out))" ||
    bad "disabled: exit $disabled_rc $(field result disabled.out); unknown: exit $unknown_rc $(field result unknown.out)"
"$TOOL" device show $D --db "$DB" --json | jq -e '.device.disabled == true' >/dev/null &&
    ok "show: disabled" || bad "show does not say disabled"
refuse "notify of a disabled device" "$TOOL" notify $D --db "$DB"

expect "enable $D" "$TOOL" device enable $D --db "$DB"
cp "$work/$D.saved" "$work/$D.state"
expect "an enabled device works again" session $D
"$TOOL" device list --db "$DB" --json | jq -e --arg d $D 'any(.[]; .device_id == $d and .disabled == false and .last_seen != null and .sync == "in sync")' >/dev/null &&
    ok "list: enabled, last seen, in sync" || bad "list: $("$TOOL" device list --db "$DB" --json)"

"$TOOL" audit --db "$DB" --json >audit.json
[ -s audit.json ] || bad "dmsec audit printed nothing"
for ev in device_added device_disabled device_enabled; do
    jq -e --arg d $D --arg ev $ev 'any(.[]; .device_id == $d and .event == $ev and (.detail | startswith("by cli:")))' audit.json >/dev/null &&
        ok "audit: $ev, by whom" || bad "audit has no $ev by cli: for $D"
done

# ---- the server id, set once ----
[ "$("$TOOL" device add --db "$DB" --device-id IMEI:2 --client-name two --client-secret s2 --scheme md5 --json | jq -r .server_id)" = "$SID" ] &&
    ok "device add without --server-id takes the store's ($SID)" || bad "device add: not the store's server id"
refuse "device add as another server id" "$TOOL" device add --db "$DB" --device-id IMEI:3 --client-name three \
    --client-secret s3 --scheme md5 --server-id funambol
grep -q "belongs to server '$SID', not 'funambol'" "$work/err" && ok "says whose store it is" || bad "message: $(cat "$work/err")"
refuse "the refused device is not added" "$TOOL" device show IMEI:3 --db "$DB"

kill "$server_pid" && wait "$server_pid" 2>/dev/null
OTHER=$(free_port)
timeout 20 "$SERVER" --listen "127.0.0.1:$OTHER" --db "$DB" --server-id funambol >other.log 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "belongs to server '$SID', not 'funambol'" other.log &&
    ok "dmsec-server refuses another server id (exit $rc)" || bad "dmsec-server as funambol: exit $rc: $(tail -n 2 other.log)"

# A new store takes the server's id at its first start.
DB=$work/fresh.db SID=funambol
PORT=
expect "server starts on a new store as $SID" start_server PORT fresh.log
[ "$("$TOOL" device add --db "$DB" --device-id IMEI:4 --client-name four --client-secret s4 --scheme md5 --json | jq -r .server_id)" = funambol ] &&
    ok "the new store belongs to funambol" || bad "the new store's server id"
refuse "device add as dmsec on funambol's store" "$TOOL" device add --db "$DB" --device-id IMEI:5 --client-name five \
    --client-secret s5 --scheme md5 --server-id dmsec

echo "integration device_lifecycle: $pass passed, $fail failed"
[ $fail -eq 0 ]
