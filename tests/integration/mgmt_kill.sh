#!/usr/bin/env bash
# kill -9 in the middle of a management session, through the real server
# (issue 11, "Tests"): commands queued with `dmsec cmd`, the agent
# (dmsec-client) running a slow Exec handler among them (the window: the
# handler writes a line when it starts and waits for a file), then
#  (A) dmsec-server killed -9 while the agent runs the handler, started again;
#  (B) the agent killed -9 while it runs the handler.
# After each, the next session delivers everything again (at least once) and
# the store records each command once: done, its Status and Results once
# (attempts 2, one row each in `dmsec results`, one status line in the log),
# and the agent's tree parses and holds the last values.
# usage: mgmt_kill.sh DMSEC_SERVER DMSEC_TOOL TESTDEVICE
set -uo pipefail
SERVER=$1 TOOL=$2
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
CLIENT=$(dirname "$1")/dmsec-client
need_programs mgmt_kill "$CLIENT" jq sqlite3
cd "$work" || exit 1
export DB=$work/srv.db SID=srvA
PORT=
LOG=$work/server.log
start_server PORT "$LOG" || {
    bad "server starts: $(tail -5 "$LOG")"
    echo "integration mgmt_kill: $pass passed, $fail failed"
    exit 1
}
URL=http://127.0.0.1:$PORT/dm

id=IMEI:490154203239101
tree=$work/$id.tree
expect "enrol" enrol_client "$id" md5 "$URL"
expect "provision ./Ext" tree_append "$tree" "1 node Ext Add=$SID&Delete=$SID&Get=$SID&Replace=$SID&Exec=$SID" \
    "2 int Ord - 0"
# The slow handler: a line when it starts, then it waits for $work/go.
cat >"$work/slow.sh" <<EOF
#!/bin/sh
echo "started \$DMSEC_EXEC_CORRELATOR" >>"$work/slow.log"
while [ ! -e "$work/go" ]; do sleep 0.02; done
echo "finished \$DMSEC_EXEC_CORRELATOR" >>"$work/slow.log"
EOF
chmod +x "$work/slow.sh"
: >"$work/slow.log"
agent() { # OUT: a session of the agent in the background (pid in agent_pid)
    "$CLIENT" session --tree "$tree" --server "$SID" --exec-handler "./Ext/Slow=$work/slow.sh" >"$1" 2>&1 &
    agent_pid=$!
    pids+=("$agent_pid")
}
q() { "$TOOL" cmd "$1" "$id" "$2" --db "$DB" "${@:3}"; }
leaf() { "$CLIENT" show --tree "$tree" | sed -n "s|^$1 \[[^]]*\]\( acl=\"[^\"]*\"\)\? = \"\(.*\)\"$|\2|p"; }
# rows ID...: "state|status|attempts" of each command, one line each
rows() { sqlite3 "$DB" "SELECT state || '|' || status || '|' || attempts FROM commands WHERE id IN ($(
    IFS=,
    echo "$*"
)) ORDER BY id"; }
# Each of the commands done 200 after at least N attempts, one row in
# `dmsec results` and one status line in the server's log:
# recorded_once NAME N ID...
recorded_once() {
    local name=$1 n=$2 c r bad_rows="" res
    shift 2
    res=$("$TOOL" results "$id" --db "$DB" --json)
    for c in "$@"; do
        r=$(rows "$c")
        [[ $r == 3\|200\|* && ${r##*|} -ge $n ]] || bad_rows+=" $c:$r"
        [ "$(jq --argjson c "$c" '[.[] | select(.id == $c)] | length' <<<"$res")" = 1 ] || bad_rows+=" $c:results"
        [ "$(grep -c "command $c device=$id session=[0-9A-F]* status=" "$LOG")" = 1 ] || bad_rows+=" $c:log"
    done
    [ -z "$bad_rows" ] && ok "$name: each done once ($n attempts or more)" || bad "$name:$bad_rows"
}

# ---- (A) the server killed -9 while the agent runs the Exec ----
a1=$(q replace ./Ext/Ord --data 1 --format int)
a2=$(q exec ./Ext/Slow --correlator A)
a3=$(q replace ./Ext/Ord --data 2 --format int)
a4=$(q get ./Ext/Ord)
agent "$work/a1.out"
wait_line "started A" "$work/slow.log" && ok "A: the agent runs the Exec" || bad "A: no exec: $(cat "$work/a1.out")"
{
    kill -9 "$server_pid"
    wait "$server_pid"
} 2>/dev/null
touch "$work/go"
if wait "$agent_pid"; then bad "A: the session survived its server: $(cat "$work/a1.out")"; else
    ok "A: the session failed with its server"
fi
[ "$(rows "$a1" "$a2" "$a3" "$a4" | cut -d'|' -f1 | sort -u)" = 1 ] && ok "A: the four recorded sent, no Status" ||
    bad "A: rows $(rows "$a1" "$a2" "$a3" "$a4" | tr '\n' ' ')"
"$CLIENT" show --tree "$tree" >/dev/null 2>&1 && ok "A: the tree parses" || bad "A: tree unreadable"
expect "A: the server starts again" start_server PORT "$LOG"
"$CLIENT" session --tree "$tree" --server "$SID" --exec-handler "./Ext/Slow=$work/slow.sh" >"$work/a2.out" 2>&1 &&
    both_ok "$work/a2.out" && ok "A: the next session" || bad "A: next session: $(cat "$work/a2.out")"
# (3 attempts when the agent first challenges the server's Cred: the server
# nonce it stored in the cut session never reached the server; the commands
# of that message are answered 401, not run, and sent again)
recorded_once "A" 2 "$a1" "$a2" "$a3" "$a4"
[ "$(grep -c '^started A$' "$work/slow.log")" = 2 ] && ok "A: the Exec delivered again" ||
    bad "A: exec runs: $(cat "$work/slow.log")"
[ "$(leaf ./Ext/Ord)" = 2 ] && ok "A: the tree holds the last value" || bad "A: Ord=$(leaf ./Ext/Ord)"
[ "$("$TOOL" cmd show "$a4" --db "$DB" --json | jq -r .result)" = 2 ] && ok "A: the Get read it" || bad "A: get"

# ---- (B) the agent killed -9 while it runs the Exec ----
rm -f "$work/go"
b1=$(q replace ./Ext/Ord --data 3 --format int)
b2=$(q exec ./Ext/Slow --correlator B)
b3=$(q replace ./Ext/Ord --data 4 --format int)
b4=$(q get ./Ext/Ord)
agent "$work/b1.out"
wait_line "started B" "$work/slow.log" && ok "B: the agent runs the Exec" || bad "B: no exec: $(cat "$work/b1.out")"
{
    kill -9 "$agent_pid"
    wait "$agent_pid"
} 2>/dev/null
touch "$work/go" # the handler (its own process group) ends
wait_line "finished B" "$work/slow.log" || bad "B: the handler did not end"
[ "$(rows "$b1" "$b2" "$b3" "$b4" | cut -d'|' -f1 | sort -u)" = 1 ] && ok "B: the four recorded sent, no Status" ||
    bad "B: rows $(rows "$b1" "$b2" "$b3" "$b4" | tr '\n' ' ')"
"$CLIENT" show --tree "$tree" >/dev/null 2>&1 && ok "B: the tree parses" || bad "B: tree unreadable"
"$CLIENT" session --tree "$tree" --server "$SID" --exec-handler "./Ext/Slow=$work/slow.sh" >"$work/b2.out" 2>&1 &&
    both_ok "$work/b2.out" && ok "B: the next session (the server's cut one still open)" ||
    bad "B: next session: $(cat "$work/b2.out")"
recorded_once "B" 2 "$b1" "$b2" "$b3" "$b4"
[ "$(grep -c '^started B$' "$work/slow.log")" = 2 ] && ok "B: the Exec delivered again" ||
    bad "B: exec runs: $(cat "$work/slow.log")"
[ "$(leaf ./Ext/Ord)" = 4 ] && ok "B: the tree holds the last value" || bad "B: Ord=$(leaf ./Ext/Ord)"
[ "$("$TOOL" cmd show "$b4" --db "$DB" --json | jq -r .result)" = 4 ] && ok "B: the Get read it" || bad "B: get"

# nothing more to send, and an empty session records nothing again
"$CLIENT" session --tree "$tree" --server "$SID" --exec-handler "./Ext/Slow=$work/slow.sh" >"$work/c.out" 2>&1 &&
    both_ok "$work/c.out" && ok "an empty session" || bad "empty session: $(cat "$work/c.out")"
[ "$("$TOOL" results "$id" --db "$DB" --json | jq length)" = 8 ] && ok "eight results in all" ||
    bad "results: $("$TOOL" results "$id" --db "$DB")"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM commands WHERE device_id = '$id' AND state <> 3")" = 0 ] &&
    ok "nothing left queued or sent" || bad "left: $("$TOOL" cmd list "$id" --db "$DB")"

echo "integration mgmt_kill: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
