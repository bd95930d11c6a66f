#!/usr/bin/env bash
# install.version: every program answers --version on stdout with
# "NAME VERSION" (the project's version) and exit 0, before and without
# any other option or file; debian/changelog's upstream version (the Debian
# packages', tests/install/deb.sh) is the project's version.
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
changelog=$(dirname "$0")/../../debian/changelog
# The first entry's version, without an epoch or a Debian revision.
deb_version=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$changelog" 2>/dev/null)
deb_upstream=${deb_version#*:}
deb_upstream=${deb_upstream%-*}
if [ "$deb_upstream" = "$version" ]; then
    echo "ok   debian/changelog: $deb_version"
else
    echo "FAIL debian/changelog: version '$deb_version' (upstream '$deb_upstream'), the project's is $version"
    fail=1
fi
exit $fail
