#!/usr/bin/env bash
# Large Objects through the real server, both ways, in XML and in WBXML:
# a 1 MiB value queued with `dmsec cmd replace --data-file` reaches the
# agent's tree intact (base64 of random bytes as --format b64, and text with
# XML's special characters as chr), split over many messages (the agent's
# MaxMsgSize is 64 KiB); `dmsec cmd get` brings it back intact in the
# command's result. 1 MiB is the tree's DMSEC_TREE_MAX_VALUE: exactly that
# is taken, one byte more is refused (413). A value over the MaxObjSize the
# device announces (dmsec-client --max-obj-size) is never sent and the
# command is recorded failed with 413. In WBXML, 1 MiB of raw bytes (bin,
# OPAQUE) both ways in one session.
# usage: mgmt_lo.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE
set -uo pipefail
SERVER=$1 TOOL=$2
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
CLIENT=$(dirname "$1")/dmsec-client
need_programs mgmt_lo "$CLIENT" jq sqlite3 sha256sum base64 python3
cd "$work" || exit 1
export DB=$work/srv.db SID=srvA
PORT=
expect "server starts" start_server PORT "$work/server.log"
URL=http://127.0.0.1:$PORT/dm
MIB=1048576

# The values: 786432 random bytes are exactly 1 MiB of base64; the text is
# 1 MiB of lines with &, <, >, " and ' among them (escaped in XML).
head -c 786432 /dev/urandom >"$work/rand.bin"
base64 -w0 "$work/rand.bin" >"$work/rand.b64"
python3 - "$work/text.txt" "$MIB" <<'EOF'
import random, sys
out, size = sys.argv[1], int(sys.argv[2])
random.seed(11)
words = ["alpha", "beta", "<gamma>", "delta & epsilon", "\"zeta\"", "eta's", "theta", "iota"]
buf = []
n = 0
while n < size:
    line = " ".join(random.choice(words) for _ in range(12)) + "\n"
    buf.append(line)
    n += len(line)
open(out, "w").write("".join(buf)[:size])
EOF
head -c $((MIB + 1)) /dev/zero | tr '\0' 'x' >"$work/over.txt"
[ "$(stat -c %s "$work/rand.b64")" = $MIB ] && [ "$(stat -c %s "$work/text.txt")" = $MIB ] &&
    ok "values of exactly 1 MiB" || bad "value sizes: $(stat -c %s "$work/rand.b64" "$work/text.txt")"

# The value of leaf URI in the agent's tree (dmsec-client show --json: text
# or base64) into FILE: tree_value TREE URI FILE.
tree_value() {
    "$CLIENT" show --tree "$1" --json | python3 -c '
import base64, json, sys
uri, out = sys.argv[1], sys.argv[2]
for line in sys.stdin:
    n = json.loads(line)
    if n["uri"] != uri or "value" not in n:
        continue
    v = n["value"].encode() if n["value_encoding"] == "text" else base64.b64decode(n["value"], validate=True)
    assert len(v) == n["length"]
    open(out, "wb").write(v)
    sys.exit(0)
sys.exit(1)' "$2" "$3"
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
# The largest number of messages of the device's sessions.
max_messages() { sqlite3 "$DB" "SELECT coalesce(max(messages), 0) FROM sessions WHERE device_id = '$1'"; }
check_cmd() { # name id want-"state status"
    local got
    got=$("$TOOL" cmd show "$2" --db "$DB" --json | jq -r '.state + " " + (.status | tostring)')
    [ "$got" = "$3" ] && ok "$1" || bad "$1: got '$got' want '$3'"
}
session() { # tree codec [options...]
    "$CLIENT" session --tree "$1" --server "$SID" --codec "$2" "${@:3}" >"$work/sess.out" 2>"$work/sess.err"
}

for codec in xml wbxml; do
    id="IMEI:35$RANDOM$RANDOM"
    tree=$work/$id.tree
    expect "$codec: enrol" enrol_client "$id" md5 "$URL"
    # A leaf the server may read and replace (the agent's owner sets it up).
    expect "$codec: ./Ext/Big for $SID" "$CLIENT" set --tree "$tree" --uri ./Ext/Big --value - \
        --acl "Get=$SID&Replace=$SID"

    for kind in b64 chr; do
        if [ $kind = b64 ]; then src=$work/rand.bin want=$work/rand.b64; else src=$work/text.txt want=$work/text.txt; fi
        rep=$("$TOOL" cmd replace "$id" ./Ext/Big --db "$DB" --data-file "$src" --format $kind)
        expect "$codec $kind: session (Replace)" session "$tree" $codec
        check_cmd "$codec $kind: Replace done 200" "$rep" "done 200"
        if tree_value "$tree" ./Ext/Big "$work/got" && [ "$(sha "$work/got")" = "$(sha "$want")" ]; then
            ok "$codec $kind: the tree holds the 1 MiB value intact"
        else bad "$codec $kind: tree value $(stat -c %s "$work/got" 2>/dev/null) bytes, differs"; fi
        m=$(max_messages "$id")
        [ "$m" -gt 10 ] && ok "$codec $kind: the Replace went over $m messages" || bad "$codec $kind: $m messages"
        sqlite3 "$DB" "DELETE FROM sessions WHERE device_id = '$id'"

        get=$("$TOOL" cmd get "$id" ./Ext/Big --db "$DB")
        expect "$codec $kind: session (Get)" session "$tree" $codec
        check_cmd "$codec $kind: Get done 200" "$get" "done 200"
        "$TOOL" cmd show "$get" --db "$DB" --json >"$work/show.json"
        jq -j .result "$work/show.json" >"$work/res"
        if [ "$(jq -r .result_encoding "$work/show.json")" = text ] && [ "$(sha "$work/res")" = "$(sha "$want")" ]; then
            ok "$codec $kind: the Get's result is the 1 MiB value"
        else bad "$codec $kind: Get result $(stat -c %s "$work/res") bytes, differs"; fi
        "$TOOL" results "$id" --db "$DB" --json | jq -j --argjson i "$get" '.[] | select(.id == $i) | .result' >"$work/res2"
        [ "$(sha "$work/res2")" = "$(sha "$want")" ] && ok "$codec $kind: dmsec results has it too" ||
            bad "$codec $kind: dmsec results: $(stat -c %s "$work/res2") bytes"
        m=$(max_messages "$id")
        [ "$m" -gt 10 ] && ok "$codec $kind: the Results went over $m messages" || bad "$codec $kind: $m messages"
        sqlite3 "$DB" "DELETE FROM sessions WHERE device_id = '$id'"
    done

    # One byte over the tree's limit: refused by the tree, the old value kept.
    rep=$("$TOOL" cmd replace "$id" ./Ext/Big --db "$DB" --data-file "$work/over.txt" --format chr)
    expect "$codec: session (1 MiB + 1)" session "$tree" $codec
    check_cmd "$codec: 1 MiB + 1 refused by the tree: failed 413" "$rep" "failed 413"
    tree_value "$tree" ./Ext/Big "$work/got" && [ "$(sha "$work/got")" = "$(sha "$work/text.txt")" ] &&
        ok "$codec: the tree kept the previous value" || bad "$codec: the tree's value changed"

    # Over the device's MaxObjSize (512 KiB announced): never sent, 413.
    rep=$("$TOOL" cmd replace "$id" ./Ext/Big --db "$DB" --data-file "$work/rand.bin" --format b64)
    small=$("$TOOL" cmd replace "$id" ./Ext/Big --db "$DB" --data small --format chr)
    expect "$codec: session (MaxObjSize 512 KiB)" session "$tree" $codec --max-obj-size 524288
    check_cmd "$codec: over MaxObjSize: failed 413" "$rep" "failed 413"
    check_cmd "$codec: the next command still goes" "$small" "done 200"
    tree_value "$tree" ./Ext/Big "$work/got" && [ "$(cat "$work/got")" = small ] &&
        ok "$codec: the tree has the small value" || bad "$codec: tree value after MaxObjSize case"
done

# WBXML carries binary as OPAQUE: 1 MiB of raw random bytes as bin, the
# Replace and the Get in one session (about 36 messages).
head -c $MIB /dev/urandom >"$work/raw.bin"
rep=$("$TOOL" cmd replace "$id" ./Ext/Big --db "$DB" --data-file "$work/raw.bin" --format bin)
get=$("$TOOL" cmd get "$id" ./Ext/Big --db "$DB")
expect "wbxml bin: one session (Replace and Get)" session "$tree" wbxml
check_cmd "wbxml bin: Replace done 200" "$rep" "done 200"
check_cmd "wbxml bin: Get done 200" "$get" "done 200"
tree_value "$tree" ./Ext/Big "$work/got" && [ "$(sha "$work/got")" = "$(sha "$work/raw.bin")" ] &&
    ok "wbxml bin: the tree holds the 1 MiB of bytes" || bad "wbxml bin: tree value differs"
"$TOOL" cmd show "$get" --db "$DB" --json >"$work/show.json"
jq -r .result "$work/show.json" | base64 -d >"$work/res" 2>/dev/null
[ "$(jq -r '.result_encoding + " " + .result_format' "$work/show.json")" = "base64 bin" ] &&
    [ "$(sha "$work/res")" = "$(sha "$work/raw.bin")" ] && ok "wbxml bin: the Get's result is the 1 MiB of bytes" ||
    bad "wbxml bin: result $(jq -c '{result_len, result_encoding, result_format}' "$work/show.json")"

both_ok "$work/sess.out" && ok "last session authenticated both ways" || bad "last session: $(cat "$work/sess.out")"
echo "integration mgmt_lo: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
