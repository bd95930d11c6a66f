#!/usr/bin/env bash
# install.symbols: libdmsec.so exports the dmsec_* API and nothing else
# (src/libdmsec.map), each symbol under the version node DMSEC_<major>;
# internal helpers of src/ (arena_*, builder_*, tnode_*, utf8_check, ...)
# stay local. The API the headers promise is there.
#
# symbols.sh LIBDMSEC_SO
set -uo pipefail
lib=$1
fail=0
syms=$(nm -D --defined-only "$lib") || {
    echo "FAIL nm -D $lib"
    exit 1
}
# "ADDRESS TYPE NAME[@@VERSION]"; the version node itself is an absolute
# (A) symbol named after the node.
names=$(awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' <<<"$syms" | sort -u)
nodes=$(awk '$2 == "A" { print $3 }' <<<"$syms")
count=$(wc -l <<<"$names")
others=$(grep -v '^dmsec_' <<<"$names")
if [ -n "$others" ]; then
    echo "FAIL exported without the dmsec_ prefix: $(tr '\n' ' ' <<<"$others")"
    fail=1
else
    echo "ok   $count exported symbols, each dmsec_*"
fi
if [ "$nodes" != DMSEC_0 ]; then
    echo "FAIL version nodes: '$(tr '\n' ' ' <<<"$nodes")' (want DMSEC_0)"
    fail=1
fi
unversioned=$(awk '$2 != "A" && $3 !~ /@@DMSEC_0$/ { print $3 }' <<<"$syms")
if [ -n "$unversioned" ]; then
    echo "FAIL symbols outside DMSEC_0: $(tr '\n' ' ' <<<"$unversioned")"
    fail=1
fi
for s in dmsec_session_new dmsec_session_feed dmsec_session_persist dmsec_strerror dmsec_errname \
    dmsec_cred_build dmsec_state_mem_ops dmsec_tree_new dmsec_wsp_push_wrap; do
    grep -qx "$s" <<<"$names" || {
        echo "FAIL $s is not exported"
        fail=1
    }
done
# Internal helpers are in the library (local, in its symbol table) but
# not exported.
if nm --defined-only "$lib" 2>/dev/null | grep -q ' [tT] utf8_check$'; then
    if grep -qx utf8_check <<<"$names"; then
        echo "FAIL utf8_check exported"
        fail=1
    else
        echo "ok   internal helpers (utf8_check, ...) are in the library and stay local"
    fi
else
    echo "note: $lib has no symbol table (stripped): internal helpers not looked for"
fi
exit $fail
