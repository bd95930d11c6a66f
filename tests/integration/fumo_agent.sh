#!/usr/bin/env bash
# FUMO on the device agent (dmsec-client) with real processes: the package
# server (pkgserver, libmicrohttpd) on loopback, dmsec-server for the
# sessions. The server's commands are given with the agent's diagnostics
# (`dmsec-client replace/exec --server SID`: the same tree calls, ACLs
# applied) until dmsec-server queues them itself.
# usage: fumo_agent.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE
set -uo pipefail
SERVER=$1 TOOL=$2
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
fumo_setup fumo_agent "$1" "$3"
cat >"$work/hook-ok.sh" <<HOOK
#!/bin/sh
cmp -s "\$1" "$work/pkg.bin" && echo installed >"$work/installed.\$\$" && exit 0
exit 9
HOOK
chmod +x "$work/hook-ok.sh"

pkg_pid=
start_pkg() { # mode [port]
    : >"$work/pkg.out"
    "$PKG" --file "$work/pkg.bin" --mode "$1" --port "${2:-0}" >"$work/pkg.out" 2>>"$work/pkg.log" &
    pkg_pid=$!
    pids+=("$pkg_pid")
    wait_line '^port=' "$work/pkg.out" && pkg_port=$(field port "$work/pkg.out")
}
stop_pkg() { kill "$pkg_pid" 2>/dev/null; wait "$pkg_pid" 2>/dev/null; }
state_of() { "$CLIENT" show --tree "$1" | sed -n 's|^\./FUMO/dmsec/State .* = "\([0-9]*\)".*|\1|p'; }

# A device with a FUMO job from srvA: url digest [size]
new_job() {
    id="IMEI:35$RANDOM$RANDOM"
    tree=$work/$id.tree
    enrol_client "$id" sha256 "$URL" >/dev/null || return 1
    "$CLIENT" replace --tree "$tree" --server srvA --uri ./FUMO/dmsec/Ext/dmsec/SHA256 --value "$2" >/dev/null &&
        { [ -z "${3:-}" ] || "$CLIENT" replace --tree "$tree" --server srvA --uri ./FUMO/dmsec/Ext/dmsec/Size --value "$3" >/dev/null; } &&
        "$CLIENT" replace --tree "$tree" --server srvA --uri ./FUMO/dmsec/DownloadAndUpdate/PkgURL --value "$1" >/dev/null &&
        "$CLIENT" exec --tree "$tree" --server srvA --uri ./FUMO/dmsec/DownloadAndUpdate --correlator "corr-$id" | grep -q '^status=202$'
}
# session HOOK: a session, the job, and the report session
run_session() {
    "$CLIENT" session --tree "$tree" --server srvA --fumo-hook "$1" >"$work/sess.out" 2>"$work/sess.err"
}
outcome() { # state result
    grep -q "^fumo=done state=$1 result=$2 server=srvA correlator=corr-$id" "$work/sess.out" &&
        [ "$(state_of "$tree")" = "$1" ]
}
reported() { # the report reached the server (or waits when the engine has no client alerts yet)
    if grep -q "cannot send client alerts" "$work/sess.err"; then
        echo "note: engine without client alerts: report left in the tree" >&2
        "$CLIENT" show --tree "$tree" | grep -q "Report/Result \\[chr\\] = \"$1\""
    else
        grep -q '^fumo=reported status=200' "$work/sess.out"
    fi
}

# ---- the tree: ACLs of the FUMO node, DevDetail ----
id="IMEI:35$RANDOM$RANDOM"
tree=$work/$id.tree
expect "enrol" enrol_client "$id" sha256 "$URL"
expect "DevDetail filled" sh -c "'$CLIENT' show --tree '$tree' | grep -q '^./DevDetail/LrgObj .*true'"
expect "srvA may Replace PkgURL" "$CLIENT" replace --tree "$tree" --server srvA --uri ./FUMO/dmsec/DownloadAndUpdate/PkgURL --value http://x/
refuse "another server may not" "$CLIENT" replace --tree "$tree" --server srvB --uri ./FUMO/dmsec/DownloadAndUpdate/PkgURL --value http://x/
refuse "State is read-only for servers" "$CLIENT" replace --tree "$tree" --server srvA --uri ./FUMO/dmsec/State --value 100
expect "Exec where the ACL has none: 425" sh -c "'$CLIENT' exec --tree '$tree' --server srvA --uri ./DevDetail/FwV | grep -q '^status=425$'"
expect "Exec on a node without a handler: 405" sh -c "'$CLIENT' exec --tree '$tree' --server srvA --uri ./FUMO/dmsec/PkgName | grep -q '^status=405$'"
expect "Exec on a missing node: 404" sh -c "'$CLIENT' exec --tree '$tree' --server srvA --uri ./FUMO/dmsec/Nope | grep -q '^status=404$'"

# ---- Exec handlers ----
printf '#!/bin/sh\necho "$DMSEC_EXEC_URI|$DMSEC_EXEC_CORRELATOR|$DMSEC_EXEC_DATA" >%s\nexit "$DMSEC_EXEC_DATA"\n' "$work/exec.seen" >"$work/handler.sh"
chmod +x "$work/handler.sh"
for pair in 0:200 1:500 2:400 3:406 7:500; do
    expect "exec handler exit ${pair%%:*} -> ${pair##*:}" sh -c "'$CLIENT' exec --tree '$tree' --server srvA --uri ./Ext/Reboot --exec-handler './Ext/Reboot=$work/handler.sh' --data ${pair%%:*} --correlator c9 | grep -q '^status=${pair##*:}\$'"
done
expect "handler saw URI, correlator, data" grep -q '^./Ext/Reboot|c9|7$' "$work/exec.seen"
expect "exec handler timeout -> 500" sh -c "printf '#!/bin/sh\nsleep 30\n' >'$work/slow.sh'; chmod +x '$work/slow.sh'; '$CLIENT' exec --tree '$tree' --server srvA --uri ./Ext/Slow --exec-timeout 1 --exec-handler './Ext/Slow=$work/slow.sh' | grep -q '^status=500$'"

# ---- happy path ----
start_pkg ok
expect "job accepted (202)" new_job "http://127.0.0.1:$pkg_port/pkg.bin" "$HEX" "$SIZE"
expect "happy path: session, download, hook: State 100, result 200" sh -c "$(declare -f run_session); tree='$tree' work='$work' CLIENT='$CLIENT' run_session '$work/hook-ok.sh'"
expect "happy path: outcome" outcome 100 200
expect "happy path: the hook installed the package" sh -c "ls '$work'/installed.* >/dev/null"
expect "happy path: report sent with 200" reported 200
expect "happy path: no package left" sh -c "! ls '$tree'.fumo.* 2>/dev/null"

# ---- wrong digest ----
expect "job (wrong digest)" new_job "http://127.0.0.1:$pkg_port/pkg.bin" "$(echo x | sha256sum | cut -d' ' -f1)"
run_session "$work/hook-ok.sh"
expect "wrong digest: 402, State 20" outcome 20 402
expect "wrong digest: reported" reported 402
stop_pkg

# ---- corrupted byte ----
start_pkg corrupt
expect "job (corrupt)" new_job "http://127.0.0.1:$pkg_port/pkg.bin" "$HEX" "$SIZE"
run_session "$work/hook-ok.sh"
expect "corrupted package: 402" outcome 20 402
stop_pkg

# ---- broken downloads ----
start_pkg truncate
expect "job (truncated)" new_job "http://127.0.0.1:$pkg_port/pkg.bin" "$HEX" "$SIZE"
run_session "$work/hook-ok.sh"
expect "truncated download: 503" outcome 20 503
stop_pkg
start_pkg 404
expect "job (404)" new_job "http://127.0.0.1:$pkg_port/pkg.bin" "$HEX" "$SIZE"
run_session "$work/hook-ok.sh"
expect "HTTP 404: 501" outcome 20 501
stop_pkg
expect "job (nobody listening)" new_job "http://127.0.0.1:$(free_port)/pkg.bin" "$HEX"
run_session "$work/hook-ok.sh"
expect "connection refused: 503" outcome 20 503
expect "job (bad URL)" new_job "ftp://127.0.0.1/pkg.bin" "$HEX"
run_session "$work/hook-ok.sh"
expect "bad URL: 411" outcome 20 411

# ---- failing hook ----
start_pkg ok
expect "job (failing hook)" new_job "http://127.0.0.1:$pkg_port/pkg.bin" "$HEX" "$SIZE"
run_session "$work/hook-fail.sh"
expect "failing hook: 410, State 80" outcome 80 410
expect "failing hook: reported" reported 410
stop_pkg

# ---- kill -9 during the download, then the job resumes ----
start_pkg slow
slow_port=$pkg_port
expect "job (slow)" new_job "http://127.0.0.1:$slow_port/pkg.bin" "$HEX" "$SIZE"
"$CLIENT" fumo-run --tree "$tree" --fumo-hook "$work/hook-ok.sh" >"$work/run.out" 2>&1 &
run_pid=$!
downloading() { for _ in $(seq 1 1200); do [ "$(state_of "$tree")" = 30 ] && return 0; sleep 0.05; done; return 1; }
expect "slow download in progress (State 30)" downloading
kill -9 "$run_pid"
wait "$run_pid" 2>/dev/null
expect "the tree loads after kill -9" "$CLIENT" show --tree "$tree"
expect "the job is still there" sh -c "'$CLIENT' show --tree '$tree' | grep -q 'Job/Server .*= \"srvA\"'"
stop_pkg
start_pkg ok "$slow_port"
expect "fumo-run resumes the job: State 100, result 200" sh -c "'$CLIENT' fumo-run --tree '$tree' --fumo-hook '$work/hook-ok.sh' | grep -q '^fumo=done state=100 result=200'"
run_session "$work/hook-ok.sh"
expect "the report goes out in the next session" reported 200
stop_pkg

echo "integration fumo_agent: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
