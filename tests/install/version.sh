#!/usr/bin/env bash
# install.version: every program answers --version on stdout with
# "NAME VERSION" (the project's version) and exit 0, before and without
# any other option or file.
#
# version.sh VERSION PROGRAM...
set -uo pipefail
version=$1
shift
fail=0
for prog in "$@"; do
    name=$(basename "$prog")
    out=$("$prog" --version 2>"${TMPDIR:-/tmp}/version.err.$$")
    rc=$?
    err=$(cat "${TMPDIR:-/tmp}/version.err.$$")
    rm -f "${TMPDIR:-/tmp}/version.err.$$"
    if [ $rc -eq 0 ] && [ "$out" = "$name $version" ] && [ -z "$err" ]; then
        echo "ok   $name --version: $out"
    else
        echo "FAIL $name --version: exit $rc, stdout '$out', stderr '$err' (want '$name $version')"
        fail=1
    fi
done
exit $fail
