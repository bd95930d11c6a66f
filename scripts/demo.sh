#!/usr/bin/env bash
# The end-to-end demo: a DM server and a device agent on loopback, through
# bootstrap, a client-initiated session, a server-alerted session, a lost
# nonce and its resynchronisation, and a replay refused; each step says what
# happens and why it matters, then shows the evidence. Exits 0 only when
# every step behaved as told.
#
# usage: scripts/demo.sh
#   With no binaries given it installs what is missing and builds
#   build/release (as scripts/run.sh does). To run given binaries instead
#   (no build): DMSEC_SERVER=... DMSEC_CLIENT=... DMSEC_TOOL=... [DMSEC_MITM=...]
#   or DMSEC_BIN=DIR (dmsec-server, dmsec-client, dmsec; mitm in DIR or DIR/tests).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

if [ -t 1 ]; then B=$'\033[1m' G=$'\033[32m' R=$'\033[31m' N=$'\033[0m'; else B='' G='' R='' N=''; fi
step=0
say() { # a step: what happens, and why it matters
    step=$((step + 1))
    printf '\n%s%d. %s%s\n' "$B" "$step" "$1" "$N"
    [ -n "${2:-}" ] && printf '%s\n' "$2" | fmt -w 76 | sed 's/^/   /'
    return 0
}
show() { sed 's/^/     | /'; }                    # evidence, indented
good() { printf '   %s-> %s%s\n' "$G" "$*" "$N"; } # the step behaved as told
die() {
    printf '\n%sdemo: FAILED at step %d: %s%s\n' "$R" "$step" "$*" "$N"
    for f in "$work"/server.log "$work"/listen.out; do
        [ -s "$f" ] && { echo "--- tail of $(basename "$f")"; tail -n 5 "$f"; }
    done
    exit 1
}

# ---- the binaries ----
if [ -n "${DMSEC_BIN:-}" ]; then
    DMSEC_SERVER=${DMSEC_SERVER:-$DMSEC_BIN/dmsec-server}
    DMSEC_CLIENT=${DMSEC_CLIENT:-$DMSEC_BIN/dmsec-client}
    DMSEC_TOOL=${DMSEC_TOOL:-$DMSEC_BIN/dmsec}
    for m in "$DMSEC_BIN/mitm" "$DMSEC_BIN/tests/mitm"; do
        [ -z "${DMSEC_MITM:-}" ] && [ -x "$m" ] && DMSEC_MITM=$m
    done
fi
if [ -z "${DMSEC_SERVER:-}" ] && [ -z "${DMSEC_CLIENT:-}" ] && [ -z "${DMSEC_TOOL:-}" ]; then
    echo "demo: building build/release (scripts/deps.sh build, cmake, ninja)"
    cd "$root" || exit 1
    scripts/deps.sh build || exit 1
    log=$(mktemp)
    if ! { cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DDMSEC_TESTS=OFF &&
        cmake --build build/release -j "$(nproc)"; } >"$log" 2>&1; then
        tail -n 20 "$log"
        echo "demo: the build failed"
        rm -f "$log"
        exit 1
    fi
    rm -f "$log"
    DMSEC_SERVER=$root/build/release/dmsec-server
    DMSEC_CLIENT=$root/build/release/dmsec-client
    DMSEC_TOOL=$root/build/release/dmsec
    # The proxy is a test program (tests/ is off in this build): built here
    # the way the test build does, against libdmsec and libcurl.
    if [ -z "${DMSEC_MITM:-}" ] && [ -f tests/integration/mitm.c ]; then
        m=build/release/demo-mitm
        if [ ! -x $m ] || [ tests/integration/mitm.c -nt $m ] || [ build/release/libdmsec.a -nt $m ]; then
            # shellcheck disable=SC2046
            cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -Iinclude -o $m tests/integration/mitm.c \
                build/release/libdmsec.a $(pkg-config --cflags --libs libcurl openssl expat) -pthread ||
                echo "demo: could not build the proxy (tests/integration/mitm.c)"
        fi
        [ -x $m ] && DMSEC_MITM=$root/$m
    fi
fi
SERVER=${DMSEC_SERVER:?set DMSEC_SERVER} CLIENT=${DMSEC_CLIENT:?set DMSEC_CLIENT}
TOOL=${DMSEC_TOOL:?set DMSEC_TOOL} MITM=${DMSEC_MITM:-}
for b in "$SERVER" "$CLIENT" "$TOOL"; do [ -x "$b" ] || {
    echo "demo: no executable $b"
    exit 1
}; done
[ -n "$MITM" ] && [ ! -x "$MITM" ] && MITM=''
# Absolute: the demo runs in its scratch directory.
SERVER=$(realpath "$SERVER") CLIENT=$(realpath "$CLIENT") TOOL=$(realpath "$TOOL")
[ -n "$MITM" ] && MITM=$(realpath "$MITM")

# ---- the scene: a scratch directory, everything on 127.0.0.1 ----
t0=$(date +%s.%N)
work=$(mktemp -d /tmp/dmsec-demo-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$work" || exit 1
# shellcheck source=net.bash
. "$root/scripts/net.bash"
# Starts a daemon that listens on the TCP port held by the variable named
# PORT_VAR: COMMAND with @PORT@ replaced by the port. A port some other
# process took meanwhile makes the daemon exit: then it is started again on
# another free port (written back to PORT_VAR), up to five times. Its pid
# goes to pids.
# usage: start_listening PORT_VAR LOG COMMAND...
start_listening() {
    local var=$1 log=$2 pid arg
    shift 2
    for _ in 1 2 3 4 5; do
        local port=${!var} cmd=()
        for arg in "$@"; do cmd+=("${arg//@PORT@/$port}"); done
        "${cmd[@]}" >>"$log" 2>&1 &
        pid=$!
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            # Something answers; still alive a moment later, it is ours (one
            # that could not bind exits at once).
            if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && sleep 0.2 &&
                kill -0 "$pid" 2>/dev/null; then
                pids+=("$pid")
                return 0
            fi
            sleep 0.1
        done
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        printf -v "$var" '%s' "$(free_port)"
    done
    return 1
}
PORT=$(free_port)   # the server
PPORT=$(free_port)  # the man in the middle
UPORT=$(free_port)  # the device's notification port (UDP)
DB=$work/server.db
TREE=$work/device.tree
DEV=IMEI:490154203237518
SID=dmsec
PIN=$((1000 + RANDOM % 9000))
printf '%s\n' "$PIN" >"$work/pin"
audit_count() { # event [session]: audit rows of that event (for that session)
    "$TOOL" audit --db "$DB" --limit 200 | awk -v e="$1" -v s="${2:-}" '
        $3 == e && (s == "" || $0 ~ ("session[= ]" s "([ ,]|$)")) { n++ } END { print n + 0 }'
}
both_ok() { grep -q "result=DMSEC_OK server_authenticated=1 device_authenticated=1" "$@"; }
session_shown() { # N WHAT: a client session, shown with the newest N session rows
    "$CLIENT" session --tree "$TREE" --server "$SID" >"$work/out" 2>&1
    local rc=$?
    show <"$work/out"
    [ $rc -eq 0 ] && both_ok "$work/out" || die "$2 (exit $rc)"
    "$TOOL" sessions --db "$DB" --limit "$1" | sed -E 's/  +/  /g' | show
}
listener() { # the device waits for package #0 (one session, at most $1 s)
    : >"$work/listen.out"
    "$CLIENT" listen --tree "$TREE" --port "$UPORT" --once --wait "$1" >"$work/listen.out" 2>&1 &
    lpid=$!
    pids+=("$lpid")
    for _ in $(seq 1 100); do
        grep -q listening "$work/listen.out" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

printf '%sdmsec demo%s: a DM server and a device on loopback (%s)\n' "$B" "$N" "$work"
if [ -n "$MITM" ]; then
    echo "The device reaches the server through a man-in-the-middle proxy that records every"
    echo "request, as an attacker on the network would."
else
    echo "(no mitm proxy found: the replay step is left out)"
fi

# ---- 1: the server ----
say "The DM server starts: HTTP on loopback, its SQLite store, server id '$SID'." \
    "Every security fact (nonces, secrets, notifications, sessions, failures) lands in the store before an answer goes out; the resync policy re-sends a notification the device did not open after 2 s, on the default nonce."
start_listening PORT "$work/server.log" "$SERVER" --listen "127.0.0.1:@PORT@" --db "$DB" \
    --server-id "$SID" --resync-after 2 --policy-interval 1 || die "the server did not come up"
grep "listening on" "$work/server.log" | tail -n 1 | show
URL=http://127.0.0.1:$PORT/dm
if [ -n "$MITM" ]; then
    start_listening PPORT "$work/mitm.log" "$MITM" --listen @PORT@ --to "127.0.0.1:$PORT" \
        --record "$work/capture" || die "the proxy did not come up"
    echo "     | mitm: 127.0.0.1:$PPORT -> 127.0.0.1:$PORT, recording into capture/"
    URL=http://127.0.0.1:$PPORT/dm
fi
good "server up"

# ---- 2: bootstrap ----
say "The operator makes a DM bootstrap for the device, MAC'd with the user's PIN (USERPIN)." \
    "The bootstrap carries the account: server address, both secrets and the first nonces. Its HMAC-SHA1 under the PIN is what stops anyone else from planting a server account on the device."
"$TOOL" bootstrap make --db "$DB" --device-id "$DEV" --server-id "$SID" --server-url "$URL" \
    --keytype USERPIN --pin-file "$work/pin" --notify "udp://127.0.0.1:$UPORT" \
    --out "$work/boot.wbxml" >"$work/ct" 2>"$work/err" || die "bootstrap make: $(cat "$work/err")"
CT=$(cat "$work/ct")
echo "bootstrap: $(stat -c %s "$work/boot.wbxml") bytes of WBXML; Content-Type: $CT" | show
"$CLIENT" init --tree "$TREE" --device-id "$DEV" --man ACME --mod demo >/dev/null || die "init failed"
cp "$work/boot.wbxml" "$work/forged.wbxml"
printf 'X' | dd of="$work/forged.wbxml" bs=1 seek=40 conv=notrunc status=none
if "$CLIENT" bootstrap --tree "$TREE" --file "$work/forged.wbxml" --content-type "$CT" \
    --pin "$PIN" >"$work/out" 2>&1; then die "a tampered bootstrap was applied"; fi
echo "tampered copy (one byte changed): $(head -n 1 "$work/out") (exit 1)" | show
"$CLIENT" bootstrap --tree "$TREE" --file "$work/boot.wbxml" --content-type "$CT" \
    --pin "$PIN" >"$work/out" 2>&1 || die "the bootstrap was refused: $(cat "$work/out")"
echo "genuine copy: $(cat "$work/out") (exit 0)" | show
"$CLIENT" show --tree "$TREE" | grep -E 'DMAcc/dmsec/(ServerID|AppAuth/CLCRED/AAuthSecret) ' | show
good "the tampered bootstrap was refused, the genuine one applied; secrets never printed"

# ---- 3: client-initiated session ----
say "The device opens a session: mutual authentication with MD5 digests on one-time nonces." \
    "Each side proves it knows the password without sending it; each nonce is used once and the next one is handed over inside the authenticated session, so a recorded Cred is useless later."
session_shown 1 "the session failed"
good "both sides authenticated (exit 0), recorded by the server"

# ---- 4: server-alerted session ----
say "The server alerts the device: package #0 over UDP, signed with the server's secret and nonce." \
    "The device verifies the digest before it acts: a forged or stale notification cannot make it call anyone."
listener 10 || die "the listener did not start"
# First a forgery: the right server id, a guessed secret, the default nonce.
forged=$("$TOOL" pkg0 build --server-id "$SID" --secret guessed --nonce-hex 00000000 --session-id 0xBAD1)
send_udp "010603C4AF87$forged" "$UPORT"
for _ in $(seq 1 60); do grep -q "notification=ignored" "$work/listen.out" && break; sleep 0.05; done
echo "forged package #0 (guessed secret) sent to the device" | show
nsid=$("$TOOL" notify "$DEV" --db "$DB" --server-id "$SID" 2>"$work/err") || die "notify: $(cat "$work/err")"
echo "\$ dmsec notify $DEV  ->  session $nsid" | show
wait "$lpid"
rc=$?
grep -v "^listening" "$work/listen.out" | sed -E 's/^(notification=ignored) server=[^ ]*/\1/' | show
grep -q "notification=ignored .*session=BAD1 reason=digest-mismatch" "$work/listen.out" ||
    die "the forged package #0 was not ignored"
[ $rc -eq 0 ] && grep -q "notification=verified server=$SID session=$nsid nonce=stored" "$work/listen.out" &&
    both_ok "$work/listen.out" || die "the server-alerted session failed (exit $rc)"
good "the forgery ignored; the real one verified on the stored nonce, session $nsid ran"

# ---- 5: lost nonce, resync ----
say "The device loses its nonces (reset to the default, as after a crash or a factory reset)." \
    "Now the server's ordinary notifications no longer verify on the device. Resynchronisation is the dangerous corner of DM security: the default nonce is public, so a credential built on it proves nothing fresh. The default nonce only lets the device verify package #0; each side answers a default-nonce credential with a challenge on a fresh nonce, and the other authenticates again on it (one extra round trip each way)."
for cred in CLCRED SRVCRED; do
    "$CLIENT" set --tree "$TREE" --uri "./DMAcc/dmsec/AppAuth/$cred/AAuthData" --value-b64 AAAAAA== >/dev/null ||
        die "cannot reset the nonces"
done
"$CLIENT" show --tree "$TREE" | grep -E 'CLCRED/AAuthData|SRVCRED/AAuthData' | show
resyncs_before=$(audit_count resync)
listener 15 || die "the listener did not start"
nsid=$("$TOOL" notify "$DEV" --db "$DB" --server-id "$SID" 2>"$work/err") || die "notify: $(cat "$work/err")"
echo "\$ dmsec notify $DEV  ->  session $nsid (on the server's current nonce)" | show
for _ in $(seq 1 60); do grep -q "notification=ignored" "$work/listen.out" && break; sleep 0.05; done
grep "notification=ignored" "$work/listen.out" | sed -E 's/^(notification=ignored) server=[^ ]*/\1/' | show
grep -q "session=$nsid reason=digest-mismatch" "$work/listen.out" || die "the ordinary notification was not ignored"
good "ignored by the device: no session, nothing sent"
echo "   ... the server sees no session for $nsid; its resync policy re-sends it on the default nonce"
wait "$lpid"
rc=$?
grep -v "^listening\|notification=ignored" "$work/listen.out" | show
[ $rc -eq 0 ] && grep -q "notification=verified server=$SID session=$nsid nonce=default" "$work/listen.out" &&
    both_ok "$work/listen.out" || die "the resync did not happen (exit $rc)"
grep -E "resync" "$work/server.log" | sed -E 's/^[^ ]+ //' | show
[ "$(audit_count resync_notify)" -ge 1 ] && [ "$(audit_count resync "$nsid")" -eq 1 ] &&
    [ "$(audit_count resync)" -eq $((resyncs_before + 1)) ] || die "no resync in the audit trail"
"$CLIENT" show --tree "$TREE" | grep -E 'CLCRED/AAuthData|SRVCRED/AAuthData' |
    grep -vF '"\x00\x00\x00\x00"' | sed -E 's/= .*/= (a fresh nonce, not the default)/' >"$work/out"
show <"$work/out"
[ "$(wc -l <"$work/out")" -eq 2 ] || die "the device did not store fresh nonces"
good "resynchronised: one notified session, default-nonce credentials challenged, fresh nonces stored on both sides"

# ---- 6: the replay ----
if [ -n "$MITM" ]; then
    say "The attacker replays the recorded package #1 of that resync session." \
        "Its credential was computed on the public default nonce, the prize of the resync replay attack (seed 003). The server takes no credential on the default nonce: it answers with a challenge on a fresh nonce, which only the real device can answer."
    # package #1 of that session: the first request that names it
    req=$(grep -l -- "<SessionID>$nsid</SessionID>" "$work"/capture/req-*.body 2>/dev/null | head -n 1)
    [ -n "$req" ] || die "the proxy did not record the resync session"
    n=$(basename "$req" .body)
    n=${n#req-}
    echo "recorded: capture/req-$n.body ($(stat -c %s "$req") bytes, session $nsid)" | show
    fails_before=$(audit_count resync_challenged "$nsid")
    "$MITM" replay --to "127.0.0.1:$PORT" --dir "$work/capture" --req "$n" >"$work/out" 2>&1
    rc=$?
    show <"$work/out"
    echo "mitm replay exit $rc (0: the server refused it)" | show
    sleep 0.2
    [ $rc -eq 0 ] || die "the replayed package #1 was not refused"
    [ "$(audit_count resync "$nsid")" -eq 1 ] || die "the replay was accepted as a second resync"
    [ "$(audit_count resync_challenged "$nsid")" -gt "$fails_before" ] ||
        die "no challenged default-nonce credential recorded for the replay"
    "$TOOL" audit --db "$DB" --limit 12 | grep -E "session[= ]$nsid\b" | tac | sed -E 's/  +/  /g' | show
    good "refused: still exactly one resync for session $nsid, the replay only got a challenge it cannot answer"
fi

# ---- 7: the device still works ----
say "The real device carries on: a new notification and a client-initiated session." \
    "$([ -n "$MITM" ] && echo "The replay cost the device nothing: the server kept its nonces." ||
        echo "The resync left both sides on fresh nonces.")"
listener 10 || die "the listener did not start"
nsid=$("$TOOL" notify "$DEV" --db "$DB" --server-id "$SID" 2>"$work/err") || die "notify: $(cat "$work/err")"
wait "$lpid"
rc=$?
grep -v "^listening" "$work/listen.out" | show
[ $rc -eq 0 ] && grep -q "session=$nsid nonce=stored" "$work/listen.out" && both_ok "$work/listen.out" ||
    die "the notification after the replay failed"
session_shown 6 "the session after the replay failed"
good "works as before"

secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
printf '\n%sdemo: success - bootstrap, sessions, notification, lost-nonce resync%s all behaved as told (%s s)%s\n' \
    "$G" "$([ -n "$MITM" ] && echo ", refused replay")" "$secs" "$N"
