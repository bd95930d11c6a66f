#!/usr/bin/env bash
# shellcheck disable=SC2015,SC2154 # ok/bad (always 0); work, pass and fail come from common.bash
# tool.help: every option each program's parser accepts is in its --help
# and in its man page (man/), so that an option added to a parser but not
# documented fails here.
# - dmsec: the known[]/flags[] arrays of tools/*.c (read from the sources),
#   each array mapped through its function to the command it serves; the
#   option must be in that command's lines of `dmsec --help` and in that
#   command's .SS section of man/dmsec.1. Every command of `dmsec --help`
#   has its section.
# - dmsec-client: the commands table of client/main.c with the option arrays
#   it names (client/*.c), the management options (cli_mgmt_opts) for the
#   commands that take them; in the command's lines of `dmsec-client --help`
#   (management options: in its "management options of" block, which names
#   the command) and in the command's section of man/dmsec-client.1.
# - dmsec-server: the option table of server/config.c, which is also what
#   --help prints (both ways checked); each option in man/dmsec-server.8 and
#   each as a key in man/dmsec.conf.5.
# - the man pages render without groff warnings (when groff is there).
#
# help.sh DMSEC_BINARY   (dmsec-client and dmsec-server beside it)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"
dmsec=$1
bindir=$(dirname "$dmsec")
client=$bindir/dmsec-client
server=$bindir/dmsec-server
man=$src/man

# The text of a roff page with fonts and escapes of '-' removed.
man_text() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(dq/"/g' "$1"; }
# The lines of .SS NAME up to the next .SS or .SH (stdin: man_text).
man_section() { awk -v n="$1" '/^\.S[SH] /{ h=$0; sub(/^\.S[SH] "?/, "", h); sub(/"$/, "", h); on = ($1 == ".SS" && h == n); next } on'; }
# Does TEXT (stdin) name --OPT as a whole option?
has_opt() { grep -qE -- "--$1([^a-z0-9-]|\$)"; }
# In the man page's source: .B opt, .BR opt ..., or .BI opt " ..." (a key).
has_key() { grep -qE "^\.B[IR]? \"?$1( |\"|\$)"; }

# The options arrays of C sources: "FILE FUNCTION NAME opt opt ..." for
# each `static const char *const NAME[] = {...};` (FUNCTION: the function it
# is in, or - at file scope).
arrays() {
    awk '
        /^[a-z].*[a-z_0-9]+\(/ && !/;[[:space:]]*$/ && !/=/ {
            f = $0; sub(/\(.*/, "", f); n = split(f, w, /[ *]+/); fn = w[n]
        }
        /^}/ { fn = "-" }
        /const char \*const [a-z_0-9]+\[\] *= *\{/ { on = 1; buf = ""; nm = $0
            sub(/\[\].*/, "", nm); sub(/.*[ *]/, "", nm) }
        on { buf = buf $0
            if ($0 ~ /\};/) { on = 0; k = split(buf, p, "\""); out = ""
                for (i = 2; i <= k; i += 2) out = out " " p[i]
                print FILENAME, fn, nm out } }' "$@"
}

# ---------------- dmsec ----------------
"$dmsec" --help >"$work/dmsec.help" 2>&1 || bad "dmsec --help: non-zero exit"
"$dmsec" help | cmp -s - "$work/dmsec.help" || bad "dmsec help differs from dmsec --help"
man_text "$man/dmsec.1" >"$work/dmsec.man"
# The command lines of --help: "  NAME ..." and the lines indented deeper.
help_block() { # command (stdin: the --help text)
    awk -v n="$1" '/^  [^ ]/ { split($0, w, " "); on = (w[1] == n); if (on) print; next }
                   /^   / && on { print; next } { on = 0 }'
}
commands=$(sed -n 's/^  \([a-z][a-z0-9-]*\)\( .*\)\{0,1\}$/\1/p' "$work/dmsec.help")
ncmd=0
for c in $commands; do
    ncmd=$((ncmd + 1))
    man_section "$c" <"$work/dmsec.man" | grep -q . && ok || bad "dmsec.1: no section .SS $c"
done
[ "$ncmd" -ge 17 ] && ok || bad "dmsec --help lists $ncmd commands (want at least 17)"
# The function an options array is in -> the commands whose options they are.
tool_commands() { # file:function
    case $1 in
    cmd_auth.c:cmd_cred) echo cred ;;
    cmd_auth.c:cmd_hmac12) echo hmac12 ;;
    cmd_auth.c:cmd_hmac13) echo hmac13 ;;
    cmd_pkg0.c:pkg0_*) echo pkg0 ;;
    cmd_bootstrap.c:run_* | cmd_bootstrap_make.c:*) echo bootstrap ;;
    cmd_gba.c:cmd_gba_kdf) echo gba-kdf ;;
    cmd_wbxml.c:cmd_wbxml) echo wbxml ;;
    cmd_device.c:device_* | cmd_device.c:one_device | cmd_import.c:cmd_device_import) echo device ;;
    cmd_device.c:cmd_notify) echo notify ;;
    cmd_device.c:list_opts) echo sessions audit ;;
    cmd_device.c:store_*) echo store ;;
    cmd_mgmt.c:cmd_queue | cmd_mgmt.c:cmd_list | cmd_mgmt.c:cmd_by_id) echo cmd ;;
    cmd_mgmt.c:device_view) echo results inventory events ;;
    cmd_mgmt.c:cmd_results) echo results ;;
    cmd_mgmt.c:cmd_inventory) echo inventory ;;
    cmd_mgmt.c:cmd_events) echo events ;;
    cmd_mgmt.c:cmd_fumo) echo fumo ;;
    esac
}
nopt=0
while read -r file fn _name opts; do
    cmds=$(tool_commands "$(basename "$file"):$fn")
    if [ -z "$cmds" ]; then
        bad "$(basename "$file"): options in $fn(), which help.sh does not map to a command (add it to tool_commands)"
        continue
    fi
    for c in $cmds; do
        help_block "$c" <"$work/dmsec.help" >"$work/block"
        man_section "$c" <"$work/dmsec.man" >"$work/section"
        for o in $opts; do
            nopt=$((nopt + 1))
            has_opt "$o" <"$work/block" && ok || bad "dmsec --help: '$c' lacks --$o ($(basename "$file") $fn)"
            has_opt "$o" <"$work/section" && ok || bad "dmsec.1: section $c lacks --$o ($(basename "$file") $fn)"
        done
    done
done < <(cd "$src/tools" && arrays cmd_*.c | grep -E ' (known|flags) ?')
# Options arrays under other names would escape the check above.
others=$(cd "$src/tools" && grep -hoE 'opts_parse\([^)]*\)?' ./*.c | grep -v 'tool_opts_t \*' |
    grep -vE ', *known, *(flags|NULL)\)$')
[ -z "$others" ] && ok || bad "opts_parse with arrays other than known/flags (extend help.sh): $others"
[ "$nopt" -ge 100 ] && ok || bad "only $nopt dmsec options found in tools/*.c (the extraction broke?)"

# ---------------- dmsec-client ----------------
"$client" --help >"$work/client.help" 2>&1 || bad "dmsec-client --help: non-zero exit"
man_text "$man/dmsec-client.1" >"$work/client.man"
(cd "$src/client" && arrays ./*.c) >"$work/client.arrays"
array_opts() { awk -v n="$1" '$3 == n { for (i = 4; i <= NF; i++) print $i }' "$work/client.arrays"; }
mgmt_opts=$(array_opts cli_mgmt_opts)
[ -n "$mgmt_opts" ] && ok || bad "client: cli_mgmt_opts not found"
client_block() { # command: "  NAME ..." and the lines indented deeper
    awk -v n="$1" '/^  [^ ]/ { split($0, w, " "); on = (w[1] == n); if (on) print; next }
                   /^      / && on { print; next } { on = 0 }' "$work/client.help"
}
awk '/^  management options of/ { on = 1; print; next } /^      / && on { print; next } { on = 0 }' \
    "$work/client.help" >"$work/client.mgmt"
# The commands table: {"name", function, array, mgmt},
table=$(sed -n 's/^ *{"\([a-z-]*\)", *[a-z_]*, *\([a-z_]*\), *\([01]\)},.*/\1 \2 \3/p' "$src/client/main.c")
nclient=0
while read -r c arr mgmt; do
    nclient=$((nclient + 1))
    client_block "$c" >"$work/block"
    man_section "$c" <"$work/client.man" >"$work/section"
    [ -s "$work/block" ] && ok || bad "dmsec-client --help: no command $c"
    [ -s "$work/section" ] && ok || bad "dmsec-client.1: no section .SS $c"
    opts=$(array_opts "$arr")
    [ -n "$opts" ] && ok || bad "client: no options array $arr for $c"
    for o in $opts; do
        has_opt "$o" <"$work/block" && ok || bad "dmsec-client --help: '$c' lacks --$o"
        has_opt "$o" <"$work/section" && ok || bad "dmsec-client.1: section $c lacks --$o"
    done
    if [ "$mgmt" = 1 ]; then
        grep -qE "[ ,]$c([ ,:]|\$)" <(head -n 1 "$work/client.mgmt") && ok ||
            bad "dmsec-client --help: 'management options of' does not name $c"
        man_text "$man/dmsec-client.1" | man_section "$c" | grep -q 'management options' && ok ||
            bad "dmsec-client.1: section $c does not say it takes the management options"
    fi
done <<<"$table"
[ "$nclient" -ge 11 ] && ok || bad "client: $nclient commands in client/main.c's table (extraction broke?)"
for o in $mgmt_opts; do
    has_opt "$o" <"$work/client.mgmt" && ok || bad "dmsec-client --help: management options lack --$o"
    awk '/^\.SH /{ on = ($0 ~ /MANAGEMENT OPTIONS/) } on' "$work/client.man" | has_opt "$o" && ok ||
        bad "dmsec-client.1: MANAGEMENT OPTIONS lacks --$o"
done

# ---------------- dmsec-server ----------------
"$server" --help >"$work/server.help" 2>&1 || bad "dmsec-server --help: non-zero exit"
sed -n 's/^  --\([a-z0-9-]*\) .*/\1/p' "$work/server.help" | sort >"$work/server.help.opts"
# The table of server/config.c: XXX_OPT("name", ...) and {"name", OPT_...}.
sed -n -e 's/.*[A-Z]_OPT("\([a-z0-9-]*\)".*/\1/p' -e 's/^ *{"\([a-z0-9-]*\)", OPT_.*/\1/p' \
    "$src/server/config.c" | sort >"$work/server.src.opts"
[ "$(wc -l <"$work/server.src.opts")" -ge 30 ] && ok ||
    bad "only $(wc -l <"$work/server.src.opts") options in server/config.c (extraction broke?)"
if cmp -s "$work/server.help.opts" "$work/server.src.opts"; then ok; else
    bad "dmsec-server --help and server/config.c differ: $(diff "$work/server.help.opts" "$work/server.src.opts" | grep '^[<>]' | tr '\n' ' ')"
fi
man_text "$man/dmsec-server.8" >"$work/server.man"
man_text "$man/dmsec.conf.5" >"$work/conf.man"
for o in config $(cat "$work/server.src.opts"); do
    has_opt "$o" <"$work/server.man" && ok || bad "dmsec-server.8 lacks --$o"
done
while read -r o; do
    has_key "$o" <"$work/conf.man" && ok || bad "dmsec.conf.5 lacks the key $o"
done <"$work/server.src.opts"

# ---------------- the pages render cleanly ----------------
for p in dmsec.1 dmsec-client.1 dmsec-server.8 dmsec.conf.5; do
    if command -v groff >/dev/null; then
        out=$(groff -man -ww -z "$man/$p" 2>&1)
        [ -z "$out" ] && ok || bad "groff warns on $p: $(echo "$out" | head -n 3 | tr '\n' ' ')"
    fi
    head -n 1 "$man/$p" | grep -q '^\.TH ' && ok || bad "$p: no .TH line"
done
command -v groff >/dev/null || echo "skip the groff warnings check (no groff)"

echo "help: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
