#!/usr/bin/env bash
# The management commands of the dmsec tool over a real SQLite store:
# cmd get|replace|add|delete|exec|copy|list|show|cancel, results, inventory,
# events, fumo, --notify (package #0 caught by a UDP listener on loopback),
# their errors, and a bulk queue for 1,000 devices with its progress output.
# usage: mgmt_cli.sh PATH_TO_dmsec
set -uo pipefail
DMSEC=$1
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
DB=$work/s.db
export USER=tester

add_device() { # ID [extra device add options...]
    local id=$1
    shift
    "$DMSEC" device add --db "$DB" --device-id "$id" --client-name "n-$id" --client-secret pw \
        --scheme md5 --json "$@" >/dev/null
}
is_id() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }

# A UDP listener on a free loopback port (the kernel picks it): it writes
# its port to $1.port once bound, then one line per datagram (its length
# and first 4 bytes in hex) to $1.got, until $2 datagrams came or 20 s
# passed. Sets $listener (its pid) and $port.
udp_listen() {
    python3 - "$1" "$2" <<'EOF' >/dev/null 2>&1 &
import socket, sys
base, want = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(20)
with open(base + ".got", "w") as out:
    with open(base + ".port.tmp", "w") as f:
        f.write(str(s.getsockname()[1]))
    import os
    os.rename(base + ".port.tmp", base + ".port")
    for _ in range(want):
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        out.write("%d %s\n" % (len(d), d[:4].hex()))
        out.flush()
EOF
    listener=$!
    for _ in $(seq 1 200); do
        [ -s "$1.port" ] && break
        kill -0 "$listener" 2>/dev/null || break
        sleep 0.05
    done
    port=$(cat "$1.port")
}

add_device IMEI:1
add_device IMEI:2
check "devices added" "$?" 0

# ---- queueing, one command of each kind ----
get=$("$DMSEC" cmd get IMEI:1 ./DevInfo/Man --db "$DB")
check "get: status" "$?" 0
is_id "$get" && ok || bad "get prints an id: '$get'"
rep=$("$DMSEC" cmd replace IMEI:1 ./Vendor/Greeting --db "$DB" --data hello --format chr --type text/plain)
check "replace: status" "$?" 0
head -c 300 /dev/urandom >"$work/blob.bin"
printf '\0\1\2\377' >>"$work/blob.bin"
addb=$("$DMSEC" cmd add IMEI:1 ./Vendor/Blob --db "$DB" --data-file "$work/blob.bin" --format bin)
check "add binary: status" "$?" 0
add64=$("$DMSEC" cmd add IMEI:1 ./Vendor/Blob64 --db "$DB" --data-file "$work/blob.bin" --format b64 --json)
check "add b64 --json: device" "$(jq -r .device <<<"$add64")" IMEI:1
add64=$(jq -r .id <<<"$add64")
is_id "$add64" && ok || bad "add --json id: '$add64'"
del=$("$DMSEC" cmd delete IMEI:1 ./Vendor/Old --db "$DB" --expires 3600)
exe=$("$DMSEC" cmd exec IMEI:1 ./Vendor/Reboot --db "$DB" --correlator c-42 --data now)
cpy=$("$DMSEC" cmd copy IMEI:1 ./Vendor/Copy --db "$DB" --source ./Vendor/Greeting)
for v in "$del" "$exe" "$cpy"; do is_id "$v" && ok || bad "an id: '$v'"; done
[ "$get" -lt "$rep" ] && [ "$rep" -lt "$addb" ] && [ "$exe" -lt "$cpy" ] && ok || bad "ids increase: $get $rep $addb $exe $cpy"

# ---- list ----
list=$("$DMSEC" cmd list IMEI:1 --db "$DB" --json)
check "list: count" "$(jq length <<<"$list")" 7
check "list: queue order" "$(jq -r '[.[].kind] | join(",")' <<<"$list")" "get,replace,add,add,delete,exec,copy"
check "list: all queued" "$(jq -r '[.[].state] | unique | join(",")' <<<"$list")" queued
check "list: text lines" "$("$DMSEC" cmd list IMEI:1 --db "$DB" | wc -l)" 7
check "list: text has the target" "$("$DMSEC" cmd list IMEI:1 --db "$DB" | grep -c './Vendor/Greeting')" 1
check "list: --limit" "$("$DMSEC" cmd list IMEI:1 --db "$DB" --limit 2 --json | jq length)" 2
check "list: other device empty" "$("$DMSEC" cmd list IMEI:2 --db "$DB" --json)" "[]"

# ---- show: every field, values whole ----
show=$("$DMSEC" cmd show "$rep" --db "$DB" --json)
check "show: kind" "$(jq -r .kind <<<"$show")" replace
check "show: target" "$(jq -r .target <<<"$show")" ./Vendor/Greeting
check "show: data" "$(jq -r .data <<<"$show")" hello
check "show: data as text" "$(jq -r .data_encoding <<<"$show")" text
check "show: format" "$(jq -r .format <<<"$show")" chr
check "show: type" "$(jq -r .type <<<"$show")" text/plain
check "show: queued_by" "$(jq -r .queued_by <<<"$show")" cli:tester
check "show: state" "$(jq -r .state <<<"$show")" queued
check "show: no status yet" "$(jq -r .status <<<"$show")" null
show=$("$DMSEC" cmd show "$addb" --db "$DB" --json)
check "show binary: base64" "$(jq -r .data_encoding <<<"$show")" base64
check "show binary: bytes kept" "$(jq -r .data <<<"$show")" "$(base64 -w0 "$work/blob.bin")"
check "show binary: length" "$(jq -r .data_len <<<"$show")" "$(stat -c %s "$work/blob.bin")"
show=$("$DMSEC" cmd show "$add64" --db "$DB" --json)
check "b64 file encoded by the tool" "$(jq -r .data <<<"$show")" "$(base64 -w0 "$work/blob.bin")"
check "b64 value shown as text" "$(jq -r .data_encoding <<<"$show")" text
show=$("$DMSEC" cmd show "$exe" --db "$DB" --json)
check "exec: correlator" "$(jq -r .correlator <<<"$show")" c-42
check "copy: source" "$("$DMSEC" cmd show "$cpy" --db "$DB" --json | jq -r .source)" ./Vendor/Greeting
check "delete: expires set" "$("$DMSEC" cmd show "$del" --db "$DB" --json | jq -r '.expires | type')" string
text=$("$DMSEC" cmd show "$rep" --db "$DB")
check "show text: data" "$(grep -c '^data .*hello$' <<<"$text")" 1
check "show text: state" "$(grep -c '^state  *queued$' <<<"$text")" 1

# ---- cancel ----
check "cancel" "$("$DMSEC" cmd cancel "$del" --db "$DB")" "cancelled $del"
check "cancelled state" "$("$DMSEC" cmd show "$del" --db "$DB" --json | jq -r .state)" cancelled
expect_error "cancel twice" 1 "$DMSEC" cmd cancel "$del" --db "$DB"
check "list --state queued" "$("$DMSEC" cmd list IMEI:1 --db "$DB" --state queued --json | jq length)" 6
check "list --state cancelled,done" "$("$DMSEC" cmd list IMEI:1 --db "$DB" --state cancelled,done --json | jq -r '.[0].id')" "$del"

# ---- results, inventory, events of a device never seen ----
check "results: none yet" "$("$DMSEC" results IMEI:1 --db "$DB" --json)" "[]"
check "results text: none" "$("$DMSEC" results IMEI:1 --db "$DB")" ""
inv=$("$DMSEC" inventory IMEI:1 --db "$DB" --json)
check "inventory: device" "$(jq -r .device <<<"$inv")" IMEI:1
check "inventory: never seen" "$(jq -r .last_seen <<<"$inv")" null
check "inventory: no values" "$(jq -r '.values | length' <<<"$inv")" 0
check "events: none" "$("$DMSEC" events IMEI:1 --db "$DB" --json)" "[]"

# ---- results, inventory and events as a session records them: written
# here with sqlite3 in the store's schema (version 3), standing in for the
# server, so that the tool's views of them are checked on their own ----
getb=$("$DMSEC" cmd get IMEI:1 ./Vendor/Bin --db "$DB")
now=$(date +%s)
sqlite3 "$DB" "
UPDATE commands SET state = 3, status = 200, session_id = '1A', sent_at = $now, attempts = 1,
  result = CAST('Acme' AS BLOB), result_format = 'chr', done_at = $now WHERE id = $get;
UPDATE commands SET state = 4, status = 425, session_id = '1A', sent_at = $now, attempts = 1,
  done_at = $now WHERE id = $rep;
UPDATE commands SET state = 3, status = 200, session_id = '1A', sent_at = $now, attempts = 1,
  result = X'00FF10', result_format = 'bin', done_at = $now WHERE id = $getb;
INSERT INTO inventory VALUES ('IMEI:1', './DevInfo/Man', 'Acme', $now),
  ('IMEI:1', './DevDetail/FwV', '1.2.3', $now);
UPDATE devices SET first_seen = $now - 60, last_seen = $now WHERE device_id = 'IMEI:1';
INSERT INTO device_events (device_id, at, alert, type, format, source, correlator, data,
  session_id) VALUES ('IMEI:1', $now, 1226,
  'org.openmobilealliance.dm.firmwareupdate.downloadandupdate', 'int', './FUMO/dmsec',
  'fumo-9', '200', '1A');"
check "stand-in writes" "$?" 0
res=$("$DMSEC" results IMEI:1 --db "$DB" --json)
check "results: done and failed only" "$(jq length <<<"$res")" 3
check "results: newest first" "$(jq -r '[.[].id] | join(",")' <<<"$res")" "$getb,$rep,$get"
check "results: binary result as base64" "$(jq -r '.[0].result + " " + .[0].result_encoding' <<<"$res")" "AP8Q base64"
check "results: failed with its status" "$(jq -r '.[1].state + " " + (.[1].status | tostring)' <<<"$res")" "failed 425"
check "results: text result" "$(jq -r '.[2].result + " " + .[2].result_format' <<<"$res")" "Acme chr"
text=$("$DMSEC" results IMEI:1 --db "$DB")
check "results text: lines" "$(wc -l <<<"$text")" 3
check "results text: the value" "$(grep -c "^$get .*200 .*Acme$" <<<"$text")" 1
check "results text: base64 marked" "$(grep -c 'base64:AP8Q$' <<<"$text")" 1
check "show text: result" "$("$DMSEC" cmd show "$get" --db "$DB" | grep -c '^result .*(4 bytes, chr) Acme$')" 1
check "list --state done" "$("$DMSEC" cmd list IMEI:1 --db "$DB" --state "done" --json | jq length)" 2
expect_error "cancel a finished command" 1 "$DMSEC" cmd cancel "$get" --db "$DB"
grep -q 'is done already' "$work/err" && ok || bad "cancel done: $(cat "$work/err")"
inv=$("$DMSEC" inventory IMEI:1 --db "$DB" --json)
check "inventory: values" "$(jq -r '.values | length' <<<"$inv")" 2
check "inventory: FwV" "$(jq -r '.values[] | select(.uri=="./DevDetail/FwV") | .value' <<<"$inv")" 1.2.3
check "inventory: seen" "$(jq -r '(.first_seen | type) + " " + (.last_seen | type)' <<<"$inv")" "string string"
check "inventory text: Man" "$("$DMSEC" inventory IMEI:1 --db "$DB" | grep -c '^./DevInfo/Man  *Acme ')" 1
ev=$("$DMSEC" events IMEI:1 --db "$DB" --json)
check "events: one" "$(jq length <<<"$ev")" 1
check "events: fields" "$(jq -r '.[0] | "\(.alert) \(.correlator) \(.data) \(.source)"' <<<"$ev")" "1226 fumo-9 200 ./FUMO/dmsec"
check "events text" "$("$DMSEC" events IMEI:1 --db "$DB" | grep -c ' 1226 org.openmobilealliance.dm.firmwareupdate.downloadandupdate .* fumo-9 .*200$')" 1

# ---- FUMO ----
sha=$(sha256sum "$work/blob.bin" | cut -d' ' -f1)
fumo=$("$DMSEC" fumo IMEI:2 --db "$DB" --url http://127.0.0.1:8000/fw.bin --sha256 "$sha" --size 304 --json)
check "fumo: status" "$?" 0
fid=$(jq -r .id <<<"$fumo")
fshow=$("$DMSEC" cmd show "$fid" --db "$DB" --json)
check "fumo: the Exec" "$(jq -r .kind <<<"$fshow")" exec
check "fumo: its node" "$(jq -r .target <<<"$fshow")" ./FUMO/dmsec/DownloadAndUpdate
check "fumo: correlator of its Sequence" "$(jq -r .correlator <<<"$fshow")" "fumo-$(jq -r .parent_id <<<"$fshow")"
flist=$("$DMSEC" cmd list IMEI:2 --db "$DB" --json)
check "fumo: PkgURL replaced" "$(jq -r '.[] | select(.target=="./FUMO/dmsec/DownloadAndUpdate/PkgURL") | .data' <<<"$flist")" http://127.0.0.1:8000/fw.bin
check "fumo: one sequence" "$(jq -r '[.[] | select(.kind=="sequence")] | length' <<<"$flist")" 1
fid2=$("$DMSEC" fumo IMEI:2 --db "$DB" --url https://example.com/fw --sha256 "$sha" --node ./FUMO/modem)
check "fumo --node" "$("$DMSEC" cmd show "$fid2" --db "$DB" --json | jq -r .target)" ./FUMO/modem/DownloadAndUpdate
expect_error "fumo: bad url" 1 "$DMSEC" fumo IMEI:2 --db "$DB" --url ftp://x/fw --sha256 "$sha"
expect_error "fumo: bad digest" 1 "$DMSEC" fumo IMEI:2 --db "$DB" --url http://x/fw --sha256 abc
expect_error "fumo: unknown device" 1 "$DMSEC" fumo IMEI:none --db "$DB" --url http://x/fw --sha256 "$sha"
expect_error "fumo: no url" 2 "$DMSEC" fumo IMEI:2 --db "$DB" --sha256 "$sha"

# ---- errors ----
expect_error "unknown device" 1 "$DMSEC" cmd get IMEI:none ./DevInfo/Man --db "$DB"
grep -q '^dmsec: no device ' "$work/err" && ok || bad "unknown device message: $(cat "$work/err")"
expect_error "list: unknown device" 1 "$DMSEC" cmd list IMEI:none --db "$DB"
expect_error "results: unknown device" 1 "$DMSEC" results IMEI:none --db "$DB"
expect_error "inventory: unknown device" 1 "$DMSEC" inventory IMEI:none --db "$DB"
expect_error "events: unknown device" 1 "$DMSEC" events IMEI:none --db "$DB"
expect_error "empty URI" 1 "$DMSEC" cmd get IMEI:1 "" --db "$DB"
expect_error "URI too long" 1 "$DMSEC" cmd get IMEI:1 "./$(head -c 1100 /dev/zero | tr '\0' a)" --db "$DB"
expect_error "bad format" 1 "$DMSEC" cmd replace IMEI:1 ./X --db "$DB" --data 1 --format "a-format-too-long-to-fit"
head -c $((4 * 1024 * 1024 + 1)) /dev/zero >"$work/big.bin"
expect_error "value 4 MiB + 1" 1 "$DMSEC" cmd replace IMEI:1 ./Big --db "$DB" --data-file "$work/big.bin" --format bin
grep -q 'TOO_LARGE' "$work/err" && ok || bad "oversized: the store's error: $(cat "$work/err")"
head -c $((4 * 1024 * 1024)) /dev/zero >"$work/max.bin"
max=$("$DMSEC" cmd replace IMEI:2 ./Big --db "$DB" --data-file "$work/max.bin" --format bin)
check "value of 4 MiB queued" "$("$DMSEC" cmd show "$max" --db "$DB" --json | jq -r .data_len)" 4194304
expect_error "no such command" 1 "$DMSEC" cmd show 999999 --db "$DB"
expect_error "cancel: no such command" 1 "$DMSEC" cmd cancel 999999 --db "$DB"
expect_error "unknown kind" 2 "$DMSEC" cmd fetch IMEI:1 ./X --db "$DB"
expect_error "no URI" 2 "$DMSEC" cmd get IMEI:1 --db "$DB"
expect_error "data and data-file" 2 "$DMSEC" cmd replace IMEI:1 ./X --db "$DB" --data a --data-file "$work/blob.bin"
expect_error "copy without source" 2 "$DMSEC" cmd copy IMEI:1 ./X --db "$DB"
expect_error "source without copy" 2 "$DMSEC" cmd get IMEI:1 ./X --db "$DB" --source ./Y
expect_error "bad expires" 2 "$DMSEC" cmd get IMEI:1 ./X --db "$DB" --expires soon
expect_error "bad state" 2 "$DMSEC" cmd list IMEI:1 --db "$DB" --state lost
expect_error "bad id" 2 "$DMSEC" cmd show x1 --db "$DB"
expect_error "missing file" 1 "$DMSEC" cmd replace IMEI:1 ./X --db "$DB" --data-file "$work/none"
expect_error "DEVICE and --all" 2 "$DMSEC" cmd get IMEI:1 ./X --db "$DB" --all
expect_error "--addr without --notify" 2 "$DMSEC" cmd get IMEI:1 ./X --db "$DB" --addr udp://127.0.0.1:9
check "nothing queued by the errors" "$("$DMSEC" cmd list IMEI:1 --db "$DB" --json | jq length)" 8

# ---- --notify: package #0 after the command is durable ----
udp_listen "$work/udp1" 1
add_device IMEI:n --notify "udp://127.0.0.1:$port"
out=$("$DMSEC" cmd get IMEI:n ./DevDetail/FwV --db "$DB" --notify --json)
check "notify: status" "$?" 0
sid=$(jq -r .session_id <<<"$out")
[[ $sid =~ ^[0-9A-F]{1,4}$ ]] && ok || bad "notify: session id '$sid'"
wait "$listener"
check "notify: a datagram came" "$(wc -l <"$work/udp1.got")" 1
check "notify: recorded" "$("$DMSEC" device show --db "$DB" --device-id IMEI:n --json | jq -r '.notifications[0].session_id')" "$sid"
check "notify: command queued" "$("$DMSEC" cmd list IMEI:n --db "$DB" --json | jq -r '.[0].target')" ./DevDetail/FwV
out=$("$DMSEC" cmd get IMEI:2 ./X --db "$DB" --notify 2>"$work/err")
check "notify without address: exit 1" "$?" 1
is_id "$out" && ok || bad "notify failed: the queued id still printed: '$out'"
grep -q '^dmsec: notify' "$work/err" && ok || bad "notify failure reported: $(cat "$work/err")"

# ---- bulk: 1,000 devices ----
# Registering them is the setup, not the subject: four at a time, and
# without the leak check at each exit under ASan (operator.sh checks device
# add itself); 11 s in a release build, under a minute with ASan.
start=$SECONDS
seq 1 1000 | ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 xargs -P 4 -I{} "$DMSEC" device add --db "$DB" --device-id "IMEI:b{}" \
    --client-name "b{}" --client-secret pw --scheme md5 --json >/dev/null
check "1000 devices registered" "$?" 0
echo "registering 1000 devices took $((SECONDS - start)) s" >&2
{
    echo "# the fleet"
    echo
    seq 1 1000 | sed 's/^/IMEI:b/'
    echo "  IMEI:missing  "
} >"$work/fleet.txt"
start=$SECONDS
"$DMSEC" cmd get --devices "$work/fleet.txt" ./DevInfo/SwV --db "$DB" >"$work/bulk.out" 2>"$work/bulk.err"
check "bulk: exit 1 with a failure" "$?" 1
echo "queueing for 1001 devices took $((SECONDS - start)) s" >&2
check "bulk: summary" "$(cat "$work/bulk.out")" "queued 1000, failed 1"
check "bulk: progress, a line per 10%" "$(grep -c -E '^dmsec: queue [0-9]+/1001 [0-9]+%$' "$work/bulk.err")" 10
check "bulk: progress ends at 100%" "$(grep -E '^dmsec: queue' "$work/bulk.err" | tail -1)" "dmsec: queue 1001/1001 100%"
check "bulk: the failure's reason" "$(grep -c '^dmsec: IMEI:missing: no such device$' "$work/bulk.err")" 1
check "bulk: 1000 rows" "$("$DMSEC" cmd list --all --db "$DB" --limit 0 --json | jq '[.[] | select(.target=="./DevInfo/SwV")] | length')" 1000
check "bulk: one per device" "$("$DMSEC" cmd list --all --db "$DB" --limit 0 --json | jq '[.[] | select(.target=="./DevInfo/SwV") | .device] | unique | length')" 1000
check "bulk: a device's list" "$("$DMSEC" cmd list IMEI:b500 --db "$DB" --json | jq -r '.[0].target')" ./DevInfo/SwV

# on a terminal: one bar redrawn with \r, ending at 100% and a line end
if command -v script >/dev/null; then
    printf 'IMEI:b1\nIMEI:b2\nIMEI:b3\n' >"$work/three.txt"
    script -qec "$DMSEC cmd get --devices $work/three.txt ./Tty --db $DB" /dev/null >"$work/tty.out"
    check "tty: the bar is redrawn" "$(grep -o $'\rqueue ' "$work/tty.out" | wc -l)" 3
    check "tty: no line per step" "$(grep -c 'dmsec: queue' "$work/tty.out")" 0
    grep -q '100% 3/3' "$work/tty.out" && ok || bad "tty: bar ends at 100%: $(od -c "$work/tty.out" | head)"
    grep -q 'queued 3, failed 0' "$work/tty.out" && ok || bad "tty: summary"
fi

# --all, JSON
all=$("$DMSEC" cmd replace --all ./Vendor/Mode --data eco --db "$DB" --json 2>"$work/all.err")
check "--all: status" "$?" 0
ndev=$("$DMSEC" device list --db "$DB" --json | jq length)
check "--all: every device" "$(jq .queued <<<"$all")" "$ndev"
check "--all: ids listed" "$(jq '.commands | length' <<<"$all")" "$ndev"
check "--all: no failures" "$(jq '.failures | length' <<<"$all")" 0

# bulk --notify: two devices with a notify address
udp_listen "$work/udp2" 2
add_device IMEI:n2 --notify "udp://127.0.0.1:$port"
add_device IMEI:n3 --notify "udp://127.0.0.1:$port"
printf 'IMEI:n2\nIMEI:n3\n' >"$work/two.txt"
two=$("$DMSEC" fumo --devices "$work/two.txt" --db "$DB" --url http://127.0.0.1/fw --sha256 "$sha" --notify --json 2>/dev/null)
check "bulk notify: status" "$?" 0
check "bulk notify: notified" "$(jq .notified <<<"$two")" 2
check "bulk notify: session ids" "$(jq '[.commands[].session_id | select(. != null)] | length' <<<"$two")" 2
wait "$listener"
check "bulk notify: two datagrams" "$(wc -l <"$work/udp2.got")" 2
expect_error "bulk: empty file" 1 "$DMSEC" cmd get --devices /dev/null ./X --db "$DB"

echo "tool mgmt_cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
