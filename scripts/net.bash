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

