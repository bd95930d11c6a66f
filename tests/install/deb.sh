#!/usr/bin/env bash
# shellcheck disable=SC2015,SC2016 # ok/bad always return 0; single quotes are for dpkg-query and sh -c
# The Debian packages, end to end (docs/PACKAGING.md):
# - the tracked source (git ls-files: no build/) is copied to a scratch
#   directory and dpkg-buildpackage -b builds libdmsec0, libdmsec-dev,
#   dmsec-server and dmsec-client (nocheck: the suite runs elsewhere);
# - lintian finds no error in them (its warnings are printed);
# - debootstrap makes a fresh Debian 12 (minbase) root, and apt-get installs
#   the four packages into it, their dependencies from the mirror;
# - what they installed is there: the files, the users dmsec and
#   dmsec-client, the enabled units, `dmsec-server --version`;
# - the server is started as its unit would start it: ExecStart=, User=,
#   Group=, StateDirectory=, WorkingDirectory=, UMask=, Environment= read
#   from the installed unit and its drop-ins (an operator's drop-in moves it
#   to a free loopback port), the state directory made as systemd makes it,
#   the command run chrooted under the unit's user; it must answer /healthz;
# - a device is registered with the installed `dmsec device add` (as user
#   dmsec, on the server's store), and the installed dmsec-client (as user
#   dmsec-client, its tree where its unit expects it) runs a session that
#   both sides authenticate; the store's audit has the session.
# /proc is mounted in the root; every mount under it is undone on any exit,
# the server stopped and the root removed (kept when KEEP is set).
#
# usage: deb.sh [WORK_DIR]   (as root; scratch in WORK_DIR/deb, default $TMPDIR)
#   DMSEC_DEB_MIRROR   the Debian mirror (http://deb.debian.org/debian)
#   DMSEC_DEB_CACHE    where the packages of the root are kept between runs
#                      (debootstrap --make-tarball, renewed after 30 days;
#                      /var/cache/dmsec-tests; empty: no cache)
#   KEEP=1             leave the root and the build behind
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../../scripts/net.bash
. "$src/scripts/net.bash" # free_port
mirror=${DMSEC_DEB_MIRROR:-http://deb.debian.org/debian}
cache_dir=${DMSEC_DEB_CACHE-/var/cache/dmsec-tests}
suite=bookworm

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
die() { # the step that failed, in words; the rest cannot run without it
    bad "$*"
    echo "deb: $pass passed, $fail failed"
    exit 1
}

[ "$(id -u)" -eq 0 ] || {
    echo "deb.sh: needs root (debootstrap, chroot, mount); CI runs it as root" >&2
    exit 1
}
for p in git dpkg-buildpackage dh lintian debootstrap chroot mount curl jq; do
    command -v "$p" >/dev/null || {
        echo "deb.sh: $p is missing (scripts/deps.sh test installs it)" >&2
        exit 1
    }
done

base=${1:-${TMPDIR:-/tmp}}
mkdir -p "$base" || exit 1
scratch=$(cd "$base" && pwd)/deb
root=$scratch/root
server_pid=

# Every mount under the root, deepest first.
mounts_under_root() {
    awk -v r="$root" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/self/mounts | sort -r
}
cleanup() {
    local m left
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    # Nothing may outlive the test in the root (a process of ours that
    # escaped the kill above would keep running from a removed tree).
    for m in /proc/[0-9]*; do
        [ "$(readlink "$m/root" 2>/dev/null)" = "$root" ] || continue
        echo "deb.sh: stopping ${m#/proc/} left in the root: $(tr '\0' ' ' <"$m/cmdline" 2>/dev/null)" >&2
        kill -KILL "${m#/proc/}" 2>/dev/null
    done
    for m in $(mounts_under_root); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "deb.sh: cannot unmount $m" >&2
    done
    left=$(mounts_under_root)
    if [ -n "$left" ]; then
        echo "deb.sh: still mounted, $root not removed: $left" >&2
    elif [ -z "${KEEP:-}" ]; then
        rm -rf --one-file-system "$root" "$scratch/src"
    else
        echo "deb.sh: KEEP is set: root in $root, build in $scratch/src"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A leftover root of an earlier run (KEEP, or killed) goes first.
[ -z "$(mounts_under_root)" ] || cleanup
[ -z "$(mounts_under_root)" ] || die "mounts left under $root from an earlier run"
rm -rf --one-file-system "$scratch" || die "cannot remove $scratch"
mkdir -p "$scratch/src" || die "cannot create $scratch"
t0=$SECONDS
step() { echo "-- $* ($((SECONDS - t0)) s)"; }

# ---- build ----
step "dpkg-buildpackage"
# The working tree's tracked files, and new files git does not ignore (what
# the other builds of scripts/test.sh compile).
git -C "$src" rev-parse --git-dir >/dev/null 2>&1 || die "$src is not a git checkout (the source is what git ls-files lists)"
(cd "$src" && git ls-files -z --cached --others --exclude-standard) |
    (cd "$src" && tar --null -T - -cf - --ignore-failed-read 2>/dev/null) |
    tar -xf - -C "$scratch/src" || die "copy of the source into $scratch/src"
[ -f "$scratch/src/debian/control" ] || die "no debian/control in the copied source"
version=$(cd "$scratch/src" && dpkg-parsechangelog -S Version) || die "dpkg-parsechangelog"
arch=$(dpkg --print-architecture)
if (cd "$scratch/src" && DEB_BUILD_OPTIONS="nocheck noddebs parallel=$(nproc)" DEB_BUILD_PROFILES=nocheck \
    dpkg-buildpackage -us -uc -b) >"$scratch/build.log" 2>&1; then
    ok "dpkg-buildpackage -b: dmsec $version"
else
    tail -n 30 "$scratch/build.log"
    die "dpkg-buildpackage failed (log above, whole in $scratch/build.log)"
fi
pkgs=(libdmsec0 libdmsec-dev dmsec-server dmsec-client)
debs=()
for p in "${pkgs[@]}"; do
    f=$scratch/${p}_${version}_$arch.deb
    [ -f "$f" ] && debs+=("$f") || bad "no ${f##*/} built"
done
changes=$scratch/dmsec_${version}_$arch.changes
[ -f "$changes" ] || die "no ${changes##*/}"

# ---- lintian ----
step "lintian"
# lintian refuses nothing as root but says so; its findings are printed
# (warnings and information too), errors fail.
lintian --fail-on error --display-info "$changes" >"$scratch/lintian.log" 2>&1
rc=$?
grep -v 'running with root privileges' "$scratch/lintian.log"
[ $rc -eq 0 ] && ok "lintian: no error ($(grep -c '^W:' "$scratch/lintian.log") warnings)" ||
    bad "lintian: $(grep -c '^E:' "$scratch/lintian.log") errors (exit $rc)"

# ---- a fresh Debian 12 root ----
step "debootstrap --variant=minbase $suite"
dbs=(debootstrap --variant=minbase --arch="$arch")
cache=
if [ -n "$cache_dir" ] && mkdir -p "$cache_dir" 2>/dev/null; then
    cache=$cache_dir/debootstrap-$suite-minbase-$arch.tgz
    # Fetched again after 30 days (a point release, security fixes).
    [ -z "$(find "$cache" -mtime +30 2>/dev/null)" ] || rm -f "$cache"
    if [ ! -s "$cache" ]; then
        # The packages debootstrap installs, fetched once (it installs
        # nothing with --make-tarball); a failure here is no failure of
        # the test: the root is then made from the mirror.
        "${dbs[@]}" --make-tarball="$cache.tmp" "$suite" "$scratch/tarball-work" "$mirror" \
            >"$scratch/debootstrap-tarball.log" 2>&1 && mv "$cache.tmp" "$cache" ||
            echo "deb.sh: no debootstrap cache ($(tail -n 1 "$scratch/debootstrap-tarball.log")); from the mirror"
        rm -rf "$cache.tmp" "$scratch/tarball-work"
    fi
    [ -s "$cache" ] && dbs+=(--unpack-tarball="$cache")
fi
if "${dbs[@]}" "$suite" "$root" "$mirror" >"$scratch/debootstrap.log" 2>&1; then
    ok "debootstrap: a $suite root${cache:+ (packages from $cache)}"
else
    tail -n 15 "$scratch/debootstrap.log"
    die "debootstrap failed (log above)"
fi
mount -t proc proc "$root/proc" || die "mount /proc in the root"
# The suites the packages were built against (as on the build machine):
# bookworm with its updates and security fixes.
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb ${mirror%/debian}/debian-security $suite-security main
EOF
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }

# ---- install ----
step "apt-get install"
mkdir -p "$root/tmp/debs" && cp "${debs[@]}" "$root/tmp/debs/" || die "copy the packages into the root"
in_debs=()
for f in "${debs[@]}"; do in_debs+=("/tmp/debs/${f##*/}"); done
if in_root apt-get update -q >"$scratch/apt.log" 2>&1 &&
    in_root DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${in_debs[@]}" \
        >>"$scratch/apt.log" 2>&1; then
    ok "apt-get install ${pkgs[*]} (with $(sed -n 's/.* \([0-9]*\) newly installed.*/\1/p' "$scratch/apt.log") packages)"
else
    tail -n 20 "$scratch/apt.log"
    die "apt-get install in the root failed (log above)"
fi
for p in "${pkgs[@]}"; do
    st=$(in_root dpkg-query -W -f='${Status} ${Version}' "$p" 2>&1)
    [ "$st" = "install ok installed $version" ] && ok "$p $version installed" || bad "$p: $st"
done

# ---- what is installed ----
step "the installed files"
march=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
files() { # package path...: each path is among dpkg -L package
    local p=$1 f list
    list=$(in_root dpkg -L "$p") || {
        bad "dpkg -L $p"
        return
    }
    shift
    for f in "$@"; do
        grep -qx "$f" <<<"$list" && [ -e "$root$f" ] || bad "$p lacks $f"
    done
    ok "dpkg -L $p: $# files in place"
}
files libdmsec0 "/usr/lib/$march/libdmsec.so.0" "/usr/lib/$march/libdmsec.so.$version"
files libdmsec-dev /usr/include/dmsec/session.h /usr/include/dmsec/version.h "/usr/lib/$march/libdmsec.so" \
    "/usr/lib/$march/libdmsec.a" "/usr/lib/$march/pkgconfig/dmsec.pc" "/usr/lib/$march/cmake/dmsec/dmsecConfig.cmake"
files dmsec-server /usr/bin/dmsec-server /usr/bin/dmsec /etc/dmsec/dmsec-server.conf \
    /lib/systemd/system/dmsec-server.service /usr/lib/sysusers.d/dmsec-server.conf \
    /usr/share/man/man8/dmsec-server.8.gz /usr/share/man/man1/dmsec.1.gz /usr/share/man/man5/dmsec.conf.5.gz
files dmsec-client /usr/bin/dmsec-client /lib/systemd/system/dmsec-client.service \
    /usr/lib/sysusers.d/dmsec-client.conf /usr/share/man/man1/dmsec-client.1.gz
# (the output read whole first: grep -q may leave before its writer ends)
grep -q "libdmsec.so.0 .*=> .*/libdmsec.so.0$" <<<"$(in_root ldconfig -p)" && ok "ld.so finds libdmsec.so.0" ||
    bad "libdmsec.so.0 not in ld.so's cache"
grep -q '^ /etc/dmsec/dmsec-server.conf ' <<<"$(in_root dpkg-query -W -f='${Conffiles}' dmsec-server)" &&
    ok "/etc/dmsec/dmsec-server.conf is a conffile" || bad "/etc/dmsec/dmsec-server.conf is not a conffile"
for u in dmsec dmsec-client; do
    pw=$(in_root getent passwd "$u")
    [[ $pw == "$u:"*":/usr/sbin/nologin" ]] && ok "system user $u: $pw" || bad "no system user $u ('$pw')"
done
for u in dmsec-server.service dmsec-client.service; do
    st=$(in_root systemctl is-enabled "$u" 2>&1)
    [ "$st" = enabled ] && ok "$u is enabled" || bad "$u: is-enabled says '$st'"
done
for p in dmsec dmsec-server dmsec-client; do
    out=$(in_root "$p" --version 2>&1)
    [ "$out" = "$p $version" ] && ok "$p --version: $out" || bad "$p --version: '$out' (want '$p $version')"
done

# ---- the server, as its unit starts it ----
step "dmsec-server, as dmsec-server.service"
unit=dmsec-server.service
port=$(free_port)
[ "$port" != 0 ] || die "no free loopback port"
# The operator's drop-in (what `systemctl edit dmsec-server` writes): the
# installed config, on another loopback port.
execstart=$(sed -n 's/^ExecStart=\(.\)/\1/p' "$root/lib/systemd/system/$unit" | tail -n 1)
mkdir -p "$root/etc/systemd/system/$unit.d"
printf '[Service]\nExecStart=\nExecStart=%s --listen 127.0.0.1:%s\n' "$execstart" "$port" \
    >"$root/etc/systemd/system/$unit.d/override.conf"

# unit_value KEY: the [Service] KEY of UNIT as systemd reads it: the unit
# file (/etc/systemd/system overrides /lib/systemd/system), then its
# drop-ins (*.conf in UNIT.d, /lib's then /etc's, each in name order); the
# last assignment wins, an empty one resets. ExecStart= and Environment=
# keep every value after the last reset, one a line.
unit_files() {
    local f d
    f=$root/etc/systemd/system/$1
    [ -f "$f" ] || f=$root/lib/systemd/system/$1
    echo "$f"
    for d in "$root/lib/systemd/system/$1.d" "$root/etc/systemd/system/$1.d"; do
        [ -d "$d" ] && find "$d" -maxdepth 1 -name '*.conf' | sort
    done
}
unit_value() {
    local key=$2 f
    for f in $(unit_files "$1"); do
        awk '/^\[/ { s = ($0 == "[Service]") } s && !/^[#;]/' "$f"
    done | awk -v k="$key" '
        index($0, k "=") == 1 {
            v = substr($0, length(k) + 2)
            if (v == "") n = 0; else if (k == "ExecStart" || k == "Environment") vals[++n] = v; else { n = 1; vals[1] = v }
        }
        END { for (i = 1; i <= n; i++) print vals[i] }'
}
mapfile -t exec_lines < <(unit_value "$unit" ExecStart)
[ ${#exec_lines[@]} -eq 1 ] || die "$unit: ${#exec_lines[@]} ExecStart= lines after its drop-ins (want 1)"
cmdline=${exec_lines[0]}
case $cmdline in
[@+!:-]*) die "$unit: ExecStart prefix '${cmdline:0:1}' is not something this test reproduces" ;;
*[\"\'%\\]*) die "$unit: ExecStart with quotes, escapes or specifiers is not something this test splits: $cmdline" ;;
esac
read -ra cmd <<<"$cmdline"
user=$(unit_value "$unit" User) group=$(unit_value "$unit" Group)
statedir=$(unit_value "$unit" StateDirectory) statemode=$(unit_value "$unit" StateDirectoryMode)
workdir=$(unit_value "$unit" WorkingDirectory) umask=$(unit_value "$unit" UMask)
mapfile -t envs < <(unit_value "$unit" Environment)
case "${envs[*]}" in *[\"\'%\\]*) die "$unit: Environment= with quotes or specifiers is not something this test splits" ;; esac
[ -n "$user" ] || die "$unit has no User="
group=${group:-$user} umask=${umask:-0022} statemode=${statemode:-0755}
ok "$unit: ${cmd[*]} as $user:$group, state /var/lib/$statedir ($statemode), umask $umask"
[ "${cmd[*]: -1}" = "127.0.0.1:$port" ] || bad "the drop-in's ExecStart was not the one read"
# What systemd does before it runs ExecStart: StateDirectory= made (owned
# by the unit's user, with StateDirectoryMode=), then the process with the
# user's identity, the unit's environment, umask and working directory.
for d in $statedir; do
    install -d -m "$statemode" -o "$(in_root id -u "$user")" -g "$(in_root getent group "$group" | cut -d: -f3)" \
        "$root/var/lib/$d" || die "StateDirectory /var/lib/$d"
done
home=$(in_root getent passwd "$user" | cut -d: -f6)
env_words=()
for e in "${envs[@]}"; do read -ra w <<<"$e" && env_words+=("${w[@]}"); done
run_as_unit() { # the unit's identity, environment, umask and directory around "$@"
    exec chroot --userspec="$user:$group" "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin \
        LANG=C.UTF-8 HOME="$home" USER="$user" LOGNAME="$user" SHELL=/usr/sbin/nologin "${env_words[@]}" \
        /bin/sh -c 'umask "$1" && cd "${2:-/}" && shift 2 && exec "$@"' sh "$umask" "$workdir" "$@"
}
# (run_as_unit execs: $! is the server itself, as systemd's MAINPID)
run_as_unit "${cmd[@]}" >"$scratch/server.out" 2>"$scratch/server.err" </dev/null &
server_pid=$!
up=
for _ in $(seq 1 600); do # readiness: its "listening" line (up to 30 s), or its exit
    grep -q "listening on 127\.0\.0\.1:$port," "$scratch/server.out" && up=1 && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
done
[ -n "$up" ] || die "dmsec-server did not start: $(cat "$scratch/server.out" "$scratch/server.err" | tail -n 5 | tr '\n' ' ')"
ok "dmsec-server listens on 127.0.0.1:$port: $(grep -m 1 listening "$scratch/server.out")"
[ "$(curl -s --max-time 10 "http://127.0.0.1:$port/healthz")" = ok ] && ok "/healthz answers ok" ||
    bad "no /healthz answer on $port"
db=$(sed -n 's/^db *= *//p' "$root/etc/dmsec/dmsec-server.conf" | tail -n 1)
[ -n "$db" ] || die "no db in /etc/dmsec/dmsec-server.conf"
owner=$(stat -c '%u %a' "$root$db" 2>/dev/null)
[ "$owner" = "$(in_root id -u "$user") 600" ] && ok "the store $db: owner $user, mode 600" || bad "the store $db: '$owner'"

# ---- a device, a session ----
step "dmsec device add, dmsec-client session"
dev=IMEI:3569820$((RANDOM % 10))$RANDOM$RANDOM
secret=cs-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
as() { # user command...: in the root as that user, in its home
    local u=$1 h
    h=$(in_root getent passwd "$u" | cut -d: -f6)
    shift
    chroot --userspec="$u:$u" "$root" /usr/bin/env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME="$h" USER="$u" \
        /bin/sh -c 'umask 077 && cd "$1" && shift && exec "$@"' sh "$h" "$@"
}
# The operator: the secret in a file, not on the command line.
printf '%s\n' "$secret" >"$root/var/lib/dmsec/new-device.secret"
chown "$(in_root id -u dmsec):$(in_root id -g dmsec)" "$root/var/lib/dmsec/new-device.secret"
chmod 600 "$root/var/lib/dmsec/new-device.secret"
if reg=$(as dmsec dmsec device add --db "$db" --device-id "$dev" --client-name "$dev" \
    --client-secret-file /var/lib/dmsec/new-device.secret --scheme md5 --json 2>"$scratch/add.err") &&
    jq -e .server_secret <<<"$reg" >/dev/null 2>&1; then
    ok "dmsec device add $dev (as dmsec, on $db)"
else
    die "dmsec device add: $(head -n 3 "$scratch/add.err" | tr '\n' ' ')"
fi
rm -f "$root/var/lib/dmsec/new-device.secret"
server_id=$(sed -n 's/^server-id *= *//p' "$root/etc/dmsec/dmsec-server.conf" | tail -n 1)
# The device maker: the agent's tree where dmsec-client.service reads it
# (its StateDirectory), made as user dmsec-client.
cunit=dmsec-client.service
ctree=$(unit_value "$cunit" ExecStart | sed -n 's/.* --tree \([^ ]*\).*/\1/p')
cstate=$(unit_value "$cunit" StateDirectory) cmode=$(unit_value "$cunit" StateDirectoryMode)
[ -n "$ctree" ] && [ -n "$cstate" ] || die "$cunit: no --tree or StateDirectory ('$ctree', '$cstate')"
install -d -m "${cmode:-0755}" -o "$(in_root id -u dmsec-client)" -g "$(in_root id -g dmsec-client)" \
    "$root/var/lib/$cstate" || die "StateDirectory /var/lib/$cstate"
cdir=/var/lib/$cstate
for s in cs:"$secret" ss:"$(jq -r .server_secret <<<"$reg")"; do
    printf '%s\n' "${s#*:}" >"$root$cdir/${s%%:*}"
done
chown "$(in_root id -u dmsec-client):$(in_root id -g dmsec-client)" "$root$cdir/cs" "$root$cdir/ss"
chmod 600 "$root$cdir/cs" "$root$cdir/ss"
if as dmsec-client dmsec-client init --tree "$ctree" --device-id "$dev" --man dmsec-deb-test --mod chroot \
    >"$scratch/client.out" 2>&1 &&
    as dmsec-client dmsec-client add-account --tree "$ctree" --account dmsec --server-id "$server_id" \
        --url "http://127.0.0.1:$port/dm" --client-name "$dev" --client-secret-file "$cdir/cs" \
        --client-scheme md5 --server-secret-file "$cdir/ss" --server-scheme md5 \
        --client-nonce-b64 "$(jq -r .client_nonce_b64 <<<"$reg")" \
        --server-nonce-b64 "$(jq -r .server_nonce_b64 <<<"$reg")" >>"$scratch/client.out" 2>&1; then
    ok "dmsec-client init, add-account: $ctree (as dmsec-client)"
else
    die "dmsec-client tree: $(tail -n 3 "$scratch/client.out" | tr '\n' ' ')"
fi
rm -f "$root$cdir/cs" "$root$cdir/ss"
as dmsec-client dmsec-client session --tree "$ctree" --server "$server_id" >"$scratch/session.out" 2>&1
rc=$?
sid=$(sed -n 's/^session=\([0-9A-Fa-f]*\) .*/\1/p' "$scratch/session.out" | head -n 1)
if [ $rc -eq 0 ] && grep -q "result=DMSEC_OK server_authenticated=1 device_authenticated=1" "$scratch/session.out"; then
    ok "dmsec-client session: exit 0, both sides authenticated (session $sid)"
else
    bad "dmsec-client session: exit $rc, $(tail -n 3 "$scratch/session.out" | tr '\n' ' ')"
fi
n=$(as dmsec dmsec audit --db "$db" --json 2>"$scratch/audit.err" |
    jq --arg d "$dev" --arg s "session=$sid" \
        '[.[] | select(.device_id == $d and .event == "session_ended" and (.detail | contains("result=DMSEC_OK")) and (.detail | contains($s)))] | length' 2>/dev/null)
[ -n "$sid" ] && [ "${n:-0}" -ge 1 ] && ok "dmsec audit: session $sid of $dev ended DMSEC_OK" ||
    bad "dmsec audit: no session_ended DMSEC_OK of $dev, session '$sid' ($(head -n 2 "$scratch/audit.err" | tr '\n' ' '))"

# ---- stop, as systemd stops it (KillSignal=SIGTERM) ----
kill -TERM "$server_pid"
wait "$server_pid"
rc=$?
server_pid=
[ $rc -eq 0 ] && ok "SIGTERM: dmsec-server exits 0" || bad "SIGTERM: dmsec-server exit $rc ($(tail -n 2 "$scratch/server.err" | tr '\n' ' '))"
step "done"
echo "deb: $pass passed, $fail failed ($((SECONDS - t0)) s)"
[ "$fail" -eq 0 ]
