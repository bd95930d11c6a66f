# Loopback helpers sourced by scripts/demo.sh and tests/integration/common.bash
# (not run).

# free_port: prints a loopback TCP port nobody listens on (0 when none was
# found in 50 tries).
free_port() {
    local p
    for _ in $(seq 1 50); do
        # Below Linux's ephemeral range (32768-60999): no outgoing
        # connection of another test holds it meanwhile.
        p=$((20000 + RANDOM % 12000))
        if ! (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    echo 0
}

# send_udp HEX PORT: the bytes HEX as one datagram to 127.0.0.1:PORT.
# bash's printf may split its output over several writes (so several
# datagrams) at some byte values: the bytes go to a file first, and cat
# sends them in one write(2). Needs only bash and coreutils.
send_udp() {
    local f
    f=$(mktemp) || return 1
    printf '%b' "$(sed 's/../\\x&/g' <<<"$1")" >"$f"
    cat "$f" >"/dev/udp/127.0.0.1/$2"
    rm -f "$f"
}
