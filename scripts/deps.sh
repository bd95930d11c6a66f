#!/usr/bin/env bash
# Installs what dmsec needs from Debian 12's packages (apt-get), only when
# something is missing. usage: scripts/deps.sh build|test
set -euo pipefail

build_pkgs=(build-essential cmake ninja-build pkg-config
    libssl-dev openssl libexpat1-dev libsqlite3-dev libmicrohttpd-dev libgnutls28-dev
    libcurl4-openssl-dev libjansson-dev)
# Tests add clang with its sanitizer and libFuzzer runtimes, the format and
# lint tools, cmocka, libwbxml2's
# tools (WBXML interop), and the command-line tools the tool and integration
# tests use (openssl, xxd, jq, curl, and sqlite3 to read what the server
# stored), systemd for systemd-analyze (the installed units are verified),
# python3 (small HTTP listeners and value checks in integration tests),
# groff and man (the man pages render without warnings), and what builds
# and checks the Debian packages (tests/install/deb.sh): debhelper and
# dpkg-dev build them, lintian checks them, debootstrap makes the Debian 12
# root they are installed into. PostgreSQL 15's server programs (initdb,
# pg_ctl, psql under /usr/lib/postgresql/15/bin) and HAProxy are the real
# services of the multi-node tests (tests/integration/lib/services.bash):
# each test makes its own cluster with initdb in its scratch folder and
# runs its own HAProxy, so neither package's system service is used; socat
# talks to HAProxy's stats socket.
test_pkgs=(clang clang-format clang-tidy libclang-rt-14-dev spin
    libcmocka-dev libwbxml2-utils xxd jq curl sqlite3 systemd python3 groff-base man-db
    debhelper dpkg-dev lintian debootstrap postgresql-15 haproxy socat)

case "${1:-build}" in
build) pkgs=("${build_pkgs[@]}") ;;
test) pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
*)
    echo "usage: $0 build|test" >&2
    exit 2
    ;;
esac

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "deps: installing ${missing[*]}"
# Debian's postgresql-15 makes (and on a systemd machine starts) a "main"
# cluster on port 5432 when it is first installed; the tests never use it,
# so none is made: postgresql-common reads create_main_cluster from
# createcluster.d, a file there only while the package is installed.
nomain=/etc/postgresql-common/createcluster.d/dmsec-no-main-cluster.conf
if [[ " ${missing[*]} " == *" postgresql-15 "* ]] && [ ! -e "$nomain" ]; then
    "${sudo[@]}" mkdir -p "$(dirname "$nomain")"
    echo "create_main_cluster = false" | "${sudo[@]}" tee "$nomain" >/dev/null
    trap '"${sudo[@]}" rm -f "$nomain"' EXIT
fi
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
