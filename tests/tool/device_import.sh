#!/usr/bin/env bash
# dmsec device import --csv F: thousands of devices in one transaction;
# generated secrets only in a new 0600 file (never on stdout or stderr),
# each one checked against the store's pre-hash, and one of them used in a
# real session with dmsec-server when it sits next to the tool; nonces
# imported; a bad row (a bad value, a duplicate id) aborts the whole import
# naming its line and column, unless --skip-bad.
# usage: device_import.sh DMSEC_TOOL
set -uo pipefail
TOOL=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.bash
. "$here/common.bash"
cd "$work" || exit 1
DB=$work/dmsec.db
SID=srv-import
N=5000

count() { "$TOOL" device list --db "$DB" --json | jq length; }

# ---- 5,000 devices, secrets generated ----
# Every 5th sha256, every 7th hmac-md5, every 11th with a notify address;
# device 42 with the nonces of a device provisioned in advance; a client
# name with a comma and a quote (quoted).
awk -v n=$N 'BEGIN {
    print "device_id,client_name,scheme,notify,client_nonce_hex,server_nonce_hex";
    for (i = 1; i <= n; i++) {
        id = sprintf("IMEI:35%013d", i);
        s = i % 5 == 0 ? "sha256" : i % 7 == 0 ? "hmac-md5" : "md5";
        no = i % 11 == 0 ? sprintf("udp://127.0.0.1:%d", 30000 + i) : "";
        cn = i == 42 ? "00112233445566778899aabbccddeeff" : "";
        sn = i == 42 ? "ffeeddccbbaa99887766554433221100" : "";
        name = i == 7 ? "\"Acme, Inc. \"\"dev\"\" 7\"" : "user" i;
        printf "%s,%s,%s,%s,%s,%s\n", id, name, s, no, cn, sn;
    }
}' >big.csv

start=$(date +%s.%N)
"$TOOL" device import --csv big.csv --db "$DB" --server-id "$SID" --secrets-out secrets.csv \
    >import.out 2>import.err
st=$?
end=$(date +%s.%N)
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
echo "device_import: $N devices imported in $secs s" >&2
check "import exit" "$st" 0
check "summary" "$(cat import.out)" "imported $N, skipped 0"
awk -v s="$secs" 'BEGIN { exit !(s < 60) }' && ok || bad "import took $secs s"
grep -q "import.*100%" import.err && ok || bad "no progress to 100% on stderr: $(tail -n 2 import.err)"
check "listed" "$(count)" $N
check "secrets file mode" "$(stat -c %a secrets.csv)" 600
check "secrets file rows" "$(wc -l <secrets.csv)" $((N + 1))
check "secrets header" "$(head -n 1 secrets.csv)" "device_id,client_name,client_secret,server_secret"
# No secret on stdout or stderr.
tail -n +2 secrets.csv | awk -F, '{ print $(NF-1); print $NF }' >secrets.only
check "secrets distinct" "$(sort -u secrets.only | wc -l)" $((2 * N))
if grep -qFf secrets.only import.out import.err; then bad "a secret on stdout/stderr"; else ok; fi
# The quoted name, and the name written back quoted in the secrets file.
check "quoted client name" "$("$TOOL" device show IMEI:350000000000007 --db "$DB" --json | jq -r .device.client_name)" \
    'Acme, Inc. "dev" 7'
grep -q '^IMEI:350000000000007,"Acme, Inc. ""dev"" 7",' secrets.csv && ok || bad "quoted name in the secrets file"
check "hmac-md5 scheme" "$("$TOOL" device show IMEI:350000000000014 --db "$DB" --json | jq -r .device.scheme)" hmac-md5
check "notify" "$("$TOOL" device show IMEI:350000000000011 --db "$DB" --json | jq -r .device.notify)" udp://127.0.0.1:30011
# Nonces of a device provisioned in advance; fresh 16-byte ones elsewhere.
show42=$("$TOOL" device show IMEI:350000000000042 --db "$DB" --json)
check "client nonce imported" "$(jq -r .device.nonces.client <<<"$show42")" 00112233445566778899aabbccddeeff
check "server nonce imported" "$(jq -r .device.nonces.server <<<"$show42")" ffeeddccbbaa99887766554433221100
check "fresh nonce" "$("$TOOL" device show IMEI:350000000000041 --db "$DB" --json | jq -r '.device.nonces.client | length')" 32
check "audit rows" "$("$TOOL" audit --db "$DB" --limit 0 --json | jq '[.[] | select(.event == "device_added")] | length')" $N
"$TOOL" audit --db "$DB" --limit 1 --json | jq -e '.[0].detail | test("^by cli:.*imported from .*big.csv")' >/dev/null &&
    ok || bad "audit detail: $("$TOOL" audit --db "$DB" --limit 1)"

# ---- each secret in the file matches the store ----
# The stored pre-hashes are MD5/SHA-256 of "name:secret" (the client's) and
# "server id:secret" (the server's), computed here by openssl; and the MD5
# digest Cred dmsec cred computes from the plaintext equals the one built
# from the stored pre-hash: b64(md5(b64(prehash) ":" nonce)).
for i in 1 5 7 42 4999; do
    id=$(printf 'IMEI:35%013d' $i)
    line=$(grep "^$id," secrets.csv)
    cs=$(awk -F, '{ print $(NF-1) }' <<<"$line")
    ss=$(awk -F, '{ print $NF }' <<<"$line")
    name=$("$TOOL" device show "$id" --db "$DB" --json | jq -r .device.client_name)
    row=$(sqlite3 -readonly "$DB" "SELECT lower(hex(client_ph_md5)), lower(hex(server_ph_sha256)) FROM devices WHERE device_id = '$id'")
    want_c=$(printf '%s:%s' "$name" "$cs" | openssl dgst -md5 -r | cut -d' ' -f1)
    want_s=$(printf '%s:%s' "$SID" "$ss" | openssl dgst -sha256 -r | cut -d' ' -f1)
    check "$id client pre-hash" "${row%%|*}" "$want_c"
    check "$id server pre-hash" "${row##*|}" "$want_s"
    nonce=$("$TOOL" device show "$id" --db "$DB" --json | jq -r .device.nonces.client)
    cred=$("$TOOL" cred --scheme md5 --user "$name" --secret "$cs" --nonce-hex "$nonce")
    b64ph=$(xxd -r -p <<<"${row%%|*}" | base64)
    from_store=$({ printf '%s:' "$b64ph"; xxd -r -p <<<"$nonce"; } | openssl dgst -md5 -binary | base64)
    check "$id md5 Cred from the file's secret = from the stored pre-hash" "$cred" "$from_store"
done

# ---- one imported device in a real session, when the server is at hand ----
bindir=$(dirname "$TOOL")
SERVER=$bindir/dmsec-server DEVICE=$bindir/tests/testdevice
if [ -x "$SERVER" ] && [ -x "$DEVICE" ]; then
    # shellcheck source=../../scripts/net.bash
    . "$here/../../scripts/net.bash"
    PORT=$(free_port)
    "$SERVER" --listen "127.0.0.1:$PORT" --db "$DB" --server-id "$SID" >server.log 2>&1 &
    spid=$!
    trap 'kill $spid 2>/dev/null; wait $spid 2>/dev/null; rm -rf "$work"' EXIT
    up=0
    for _ in $(seq 1 100); do
        curl -s "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && up=1 && break
        sleep 0.05
    done
    check "server up" $up 1
    id=IMEI:350000000000042 # hmac-md5 (42 = 6 * 7), nonces from the CSV
    line=$(grep "^$id," secrets.csv)
    cat >dev.state <<EOF
device_id=$id
server_id=$SID
client_name=user42
client_secret=$(awk -F, '{ print $(NF-1) }' <<<"$line")
server_secret=$(awk -F, '{ print $NF }' <<<"$line")
client_scheme=md5
server_scheme=md5
integrity=hmac-md5
client_nonce=$(xxd -r -p <<<00112233445566778899aabbccddeeff | base64)
server_nonce=$(xxd -r -p <<<ffeeddccbbaa99887766554433221100 | base64)
EOF
    "$DEVICE" session --state dev.state --url "http://127.0.0.1:$PORT/dm" >session.out 2>&1
    grep -q "result=DMSEC_OK server_authenticated=1 device_authenticated=1" session.out &&
        ok || bad "session of an imported device (provisioned nonces): $(tail -n 3 session.out)"
    kill $spid 2>/dev/null
    wait $spid 2>/dev/null
else
    echo "device_import: no dmsec-server/testdevice next to $TOOL: session step skipped" >&2
fi

# ---- bad rows: nothing imported, the line and column named ----
before=$(count)
printf 'device_id,scheme,client_secret,server_secret\nIMEI:1,md5,a,b\n"IMEI:2",sha256,c,d\nIMEI:3,md6,e,f\nIMEI:4,md5,g,h\n' >bad.csv
expect_error "bad scheme aborts" 1 "$TOOL" device import --csv bad.csv --db "$DB"
grep -q "bad.csv line 4, column scheme: must be" "$work/err" && ok || bad "bad row message: $(cat "$work/err")"
check "nothing imported (bad value)" "$(count)" "$before"
printf 'device_id,scheme,notify\nIMEI:5,md5,\nIMEI:6,md5,tcp://x\n' >badn.csv
expect_error "bad notify aborts" 1 "$TOOL" device import --csv badn.csv --db "$DB" --secrets-out s2.csv
grep -q "line 3, column notify" "$work/err" && ok || bad "notify message: $(cat "$work/err")"
[ ! -e s2.csv ] && ok || bad "a secrets file left by a failed import"
printf 'device_id,scheme,client_nonce_hex\nIMEI:7,md5,xyz\n' >badh.csv
expect_error "bad nonce aborts" 1 "$TOOL" device import --csv badh.csv --db "$DB" --secrets-out s2.csv
grep -q "line 2, column client_nonce_hex" "$work/err" && ok || bad "nonce message: $(cat "$work/err")"
printf 'device_id,scheme\nIMEI:8,md5\n"IMEI:9,md5\n' >badq.csv
expect_error "open quote aborts" 1 "$TOOL" device import --csv badq.csv --db "$DB" --secrets-out s2.csv
grep -q "badq.csv line 3: a quoted field is not closed" "$work/err" && ok || bad "open quote message: $(cat "$work/err")"
# A duplicate id (one already in the store, then one twice in the file)
# is a bad row found in the transaction: all of it rolled back.
printf 'device_id,scheme,client_secret,server_secret\nIMEI:10,md5,a,b\nIMEI:350000000000003,md5,c,d\n' >dup.csv
expect_error "duplicate id aborts" 1 "$TOOL" device import --csv dup.csv --db "$DB"
grep -q "dup.csv line 3, column device_id: device 'IMEI:350000000000003' is already in" "$work/err" &&
    ok || bad "duplicate message: $(cat "$work/err")"
printf 'device_id,scheme,client_secret,server_secret\nIMEI:11,md5,a,b\nIMEI:11,md5,c,d\n' >dup2.csv
expect_error "duplicate in the file aborts" 1 "$TOOL" device import --csv dup2.csv --db "$DB"
grep -q "line 3, column device_id" "$work/err" && ok || bad "in-file duplicate: $(cat "$work/err")"
check "nothing imported (duplicates)" "$(count)" "$before"
"$TOOL" device show IMEI:10 --db "$DB" >/dev/null 2>&1 && bad "IMEI:10 imported by an aborted import" || ok

# ---- --skip-bad: the bad rows listed, the rest imported ----
cat bad.csv >skip.csv
printf 'IMEI:350000000000003,md5,x,y\nIMEI:4,md5,z,w\nIMEI:12,md5,,\n' >>skip.csv
"$TOOL" device import --csv skip.csv --db "$DB" --skip-bad --secrets-out s3.csv --json >skip.out 2>skip.err
check "skip-bad exit" $? 0
check "skip-bad summary" "$(jq -c '[.imported, .skipped]' <skip.out)" "[4,3]"
grep -q "line 4, column scheme" skip.err && grep -q "line 6, column device_id" skip.err &&
    grep -q "line 7, column device_id" skip.err && ok || bad "skipped rows on stderr: $(cat skip.err)"
check "skip-bad count" "$(count)" $((before + 4))
check "generated only for IMEI:12" "$(tail -n +2 s3.csv | cut -d, -f1)" "IMEI:12"
"$TOOL" device show IMEI:2 --db "$DB" >/dev/null 2>&1 && ok || bad "quoted id IMEI:2 not imported"

# ---- the secrets file and its rules ----
printf 'device_id,scheme\nIMEI:20,md5\n' >gen.csv
expect_error "generation needs --secrets-out" 2 "$TOOL" device import --csv gen.csv --db "$work/none.db"
[ ! -e "$work/none.db" ] && ok || bad "a store made by a refused import"
: >exists.csv
expect_error "existing --secrets-out refused" 1 "$TOOL" device import --csv gen.csv --db "$DB" --secrets-out exists.csv
check "existing file untouched" "$(stat -c %s exists.csv)" 0
expect_error "unknown column" 1 "$TOOL" device import --csv <(printf 'device_id,colour\nX,red\n') --db "$DB"
expect_error "no device_id column" 1 "$TOOL" device import --csv <(printf 'scheme\nmd5\n') --db "$DB"
expect_error "another server id" 1 "$TOOL" device import --csv gen.csv --db "$DB" --server-id other --secrets-out s4.csv
[ ! -e s4.csv ] && ok || bad "secrets file left after a refused server id"
expect_error "missing --csv" 2 "$TOOL" device import --db "$DB"

# ---- the CSV reader's errors (tools/import_parse.c), each named ----
# import_bad NAME WANT_STATUS MESSAGE CSV_TEXT: refused with the message
# (fixed string) on stderr, nothing imported, no secrets file left.
import_bad() {
    printf '%b' "$4" >parse.csv
    expect_error "$1" "$2" "$TOOL" device import --csv parse.csv --db "$DB" --secrets-out s5.csv
    grep -qF -- "$3" "$work/err" && ok || bad "$1: want '$3': $(cat "$work/err")"
    [ ! -e s5.csv ] && ok || bad "$1: a secrets file left"
}
before=$(count)
import_bad "fewer fields" 1 "parse.csv line 3: 1 fields, the header has 2" 'device_id,scheme\nIMEI:30,md5\nIMEI:31\n'
import_bad "more fields" 1 "parse.csv line 2: 3 fields, the header has 2" 'device_id,scheme\nIMEI:30,md5,x\n'
import_bad "text after a quote" 1 "parse.csv line 2: text after a closing quote in field 1" 'device_id,scheme\n"IMEI:30"x,md5\n'
import_bad "quote in a bare field" 1 "parse.csv line 2: a quote inside unquoted field 2" 'device_id,scheme\nIMEI:30,md"5\n'
import_bad "a column twice" 1 "parse.csv line 1: column scheme twice" 'device_id,scheme,scheme\nIMEI:30,md5,md5\n'
import_bad "an empty file" 1 "parse.csv: empty, no header row" '\n\r\n'
import_bad "33 fields" 1 "parse.csv line 1: more than 32 fields" "device_id$(printf ',x%.0s' $(seq 1 32))\\n"
import_bad "overlong device id" 1 "parse.csv line 2, column device_id: takes 1 to" "device_id,scheme\\n$(printf 'I%.0s' $(seq 1 300)),md5\\n"
import_bad "odd nonce hex" 1 "parse.csv line 2, column server_nonce_hex: takes 1 to 64 bytes" 'device_id,scheme,server_nonce_hex\nIMEI:30,md5,abc\n'
import_bad "overlong nonce" 1 "parse.csv line 2, column client_nonce_hex" "device_id,scheme,client_nonce_hex\\nIMEI:30,md5,$(printf '00%.0s' $(seq 1 65))\\n"
import_bad "no scheme" 1 "parse.csv line 2, column scheme: empty, and no --scheme" 'device_id,scheme\nIMEI:30,\n'
import_bad "a NUL byte" 1 "parse.csv: not text (a NUL byte)" 'device_id\nIMEI:30\0\n'
check "nothing imported (reader errors)" "$(count)" "$before"
# CRLF, a byte order mark, blank lines, a quoted field with a comma, a
# quote and a line break: read.
printf '\xef\xbb\xbfdevice_id,client_name,scheme\r\n\r\n"IMEI:32","a, ""b""\r\nc",md5\r\n\r\nIMEI:33,d,sha256\r\n' >crlf.csv
"$TOOL" device import --csv crlf.csv --db "$DB" --secrets-out s6.csv --json >crlf.out 2>crlf.err
check "CRLF and BOM imported" "$(jq -c '[.imported, .skipped]' <crlf.out)" "[2,0]"
check "quoted name kept whole" "$("$TOOL" device show IMEI:32 --db "$DB" --json | jq -r .device.client_name)" "$(printf 'a, "b"\r\nc')"
check "last row's name" "$("$TOOL" device show IMEI:33 --db "$DB" --json | jq -r .device.client_name)" "d"

echo "device_import: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
