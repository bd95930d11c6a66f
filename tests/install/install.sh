#!/usr/bin/env bash
# shellcheck disable=SC2015,SC2154 # ok/bad (always 0), work, pass and fail come from common.bash
# install.install: `cmake --install` of the build tree into a scratch
# DESTDIR, then what a packager, an operator and a device maker do with it:
# - every file in its place: the programs, libdmsec.so with its soname
#   chain and libdmsec.a, the public headers (store.h/dispatch.h are not
#   part of the library), dmsec.pc, the CMake package, the units, the
#   sysusers file, the default config and the man pages;
# - the installed programs answer --version with the package's version;
# - examples/device.c builds against the installed library through
#   pkg-config (shared, and static through Libs.private/Requires.private)
#   and through find_package(dmsec), runs a session (exit 0, "ok"), and
#   reports a device with a wrong secret as a failure (exit 1);
# - the installed server starts from the installed config file (with only
#   the store and the listen address overridden) and answers /healthz; a
#   config with an unknown key is refused;
# - the units name the installed binary and config, carry the hardening,
#   and pass `systemd-analyze verify` (when systemd-analyze is there).
#
# install.sh SOURCE_DIR BUILD_DIR CC [SANITIZER_FLAGS]
set -uo pipefail
src=$1 build=$2 cc=$3 sanflags=${4:-}
# shellcheck source=../integration/common.bash
. "$src/tests/integration/common.bash"

root=$work/root
if ! DESTDIR=$root cmake --install "$build" >"$work/install.log" 2>&1; then
    bad "cmake --install: $(tail -n 5 "$work/install.log" | tr '\n' ' ')"
    exit 1
fi
ok "cmake --install into DESTDIR"
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
prefix=$(cache CMAKE_INSTALL_PREFIX)
libdir=$(cache CMAKE_INSTALL_LIBDIR)
unitdir=$(cache DMSEC_SYSTEMD_UNITDIR)
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
sysconfdir=$prefix/etc
[ "$prefix" = /usr ] && sysconfdir=/etc
P=$root$prefix L=$root$libdir
version=$(sed -n 's/^Version: //p' "$L/pkgconfig/dmsec.pc")
[ -n "$version" ] && ok "dmsec.pc: Version $version" || bad "dmsec.pc: no Version"
major=${version%%.*}

# ---- files ----
for f in bin/dmsec bin/dmsec-server bin/dmsec-client; do
    [ -x "$P/$f" ] && ok "installed $f" || bad "missing $f"
done
for f in "libdmsec.so.$version" libdmsec.a pkgconfig/dmsec.pc cmake/dmsec/dmsecConfig.cmake \
    cmake/dmsec/dmsecConfigVersion.cmake cmake/dmsec/dmsecTargets.cmake; do
    [ -f "$L/$f" ] && ok "installed lib/$f" || bad "missing lib/$f"
done
[ "$(readlink "$L/libdmsec.so")" = "libdmsec.so.$major" ] &&
    [ "$(readlink "$L/libdmsec.so.$major")" = "libdmsec.so.$version" ] &&
    ok "libdmsec.so -> libdmsec.so.$major -> libdmsec.so.$version" || bad "soname links: $(ls -l "$L"/libdmsec.so*)"
soname=$(readelf -d "$L/libdmsec.so.$version" 2>/dev/null | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libdmsec.so.$major" ] && ok "soname $soname" || bad "soname '$soname'"
for h in session.h auth.h errors.h codec.h tree.h random.h hmac.h notify.h bootstrap.h encoding.h version.h; do
    [ -f "$P/include/dmsec/$h" ] || bad "missing include/dmsec/$h"
done
[ ! -e "$P/include/dmsec/store.h" ] && [ ! -e "$P/include/dmsec/dispatch.h" ] &&
    ok "headers: the library's only" || bad "store.h/dispatch.h installed without their code"
grep -q "\"$version\"" "$P/include/dmsec/version.h" && ok "version.h says $version" || bad "version.h"
for f in "$root$sysconfdir/dmsec/dmsec-server.conf" "$root$unitdir/dmsec-server.service" \
    "$root$unitdir/dmsec-client.service" "$P/lib/sysusers.d/dmsec.conf"; do
    [ -f "$f" ] && ok "installed ${f#"$root"}" || bad "missing ${f#"$root"}"
done

mandir=$(cache CMAKE_INSTALL_MANDIR)
case $mandir in /*) ;; *) mandir=$prefix/${mandir:-share/man} ;; esac
for m in man1/dmsec.1 man1/dmsec-client.1 man8/dmsec-server.8 man5/dmsec.conf.5; do
    [ -f "$root$mandir/$m" ] && ok "installed $mandir/$m" || bad "missing $mandir/$m"
done
if command -v man >/dev/null; then # the installed page renders
    MANWIDTH=80 man -l "$root$mandir/man1/dmsec.1" 2>/dev/null | grep -q 'dmsec device add' &&
        ok "man -l dmsec.1 renders" || bad "man -l dmsec.1 does not render"
fi

# ---- --version ----
for p in dmsec dmsec-server dmsec-client; do
    out=$("$P/bin/$p" --version 2>&1)
    rc=$?
    [ $rc -eq 0 ] && [ "$out" = "$p $version" ] && ok "$p --version: $out" ||
        bad "$p --version: exit $rc, '$out'"
done

# ---- the example device, through pkg-config ----
export PKG_CONFIG_PATH=$L/pkgconfig PKG_CONFIG_SYSROOT_DIR=$root
read -ra pc_cflags <<<"$(pkg-config --cflags dmsec)"
read -ra pc_libs <<<"$(pkg-config --libs dmsec)"
read -ra pc_static <<<"$(pkg-config --static --libs-only-l dmsec | sed 's/-ldmsec//')"
[ "${pc_libs[*]}" = "-L$L -ldmsec" ] && ok "pkg-config --libs: ${pc_libs[*]}" || bad "pkg-config --libs: ${pc_libs[*]}"
[[ " ${pc_static[*]} " == *" -lcrypto "* && " ${pc_static[*]} " == *" -lexpat "* ]] &&
    ok "pkg-config --static: ${pc_static[*]}" || bad "pkg-config --static lacks -lcrypto -lexpat: ${pc_static[*]}"
read -ra san <<<"$sanflags"
cflags=(-std=c11 -Wall -Wextra -Wpedantic -Werror "${san[@]}")
run_device() { # name binary : a session that ends well, and a wrong secret refused
    local name=$1 bin=$2
    if "$bin" >"$work/dev.out" 2>&1 && grep -q 'device_authenticated=1 .* ok$' "$work/dev.out" &&
        grep -q "Get ./DevInfo/Mod -> 200 'X1'" "$work/dev.out"; then
        ok "$name: session ok"
    else
        bad "$name: $(tail -n 3 "$work/dev.out" | tr '\n' ' ')"
    fi
    if "$bin" --scheme sha256 --wrong-secret >"$work/dev.out" 2>&1; then
        bad "$name: a wrong secret gave exit 0"
    elif grep -q 'device_authenticated=0 .*FAILED$' "$work/dev.out"; then
        ok "$name: a wrong secret is a failure"
    else
        bad "$name --wrong-secret: $(tail -n 2 "$work/dev.out" | tr '\n' ' ')"
    fi
}
if "$cc" "${cflags[@]}" "${pc_cflags[@]}" "$src/examples/device.c" -o "$work/device" "${pc_libs[@]}" \
    -Wl,-rpath,"$L" 2>"$work/cc.err"; then
    ok "device.c builds with pkg-config"
    readelf -d "$work/device" | grep -q "NEEDED.*\[libdmsec.so.$major\]" &&
        ok "device links libdmsec.so.$major" || bad "device does not need libdmsec.so.$major"
    if readelf -d "$work/device" | grep -q "NEEDED.*\[libcrypto"; then
        bad "device links libcrypto itself (the .pc leaks it into Libs)"
    fi
    run_device "device (shared)" "$work/device"
else
    bad "device.c with pkg-config: $(head -n 5 "$work/cc.err" | tr '\n' ' ')"
fi
if "$cc" "${cflags[@]}" "${pc_cflags[@]}" "$src/examples/device.c" -o "$work/device-static" \
    "-L$L" -Wl,-Bstatic -ldmsec -Wl,-Bdynamic "${pc_static[@]}" 2>"$work/cc.err"; then
    if readelf -d "$work/device-static" | grep -q "NEEDED.*libdmsec"; then
        bad "device-static needs libdmsec.so"
    else
        run_device "device (libdmsec.a)" "$work/device-static"
    fi
else
    bad "device.c with libdmsec.a: $(head -n 5 "$work/cc.err" | tr '\n' ' ')"
fi

# ---- the example device, through find_package(dmsec) ----
if cmake -S "$src/examples" -B "$work/cmake-example" -DCMAKE_PREFIX_PATH="$P" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$sanflags" -DCMAKE_EXE_LINKER_FLAGS="$sanflags" \
    >"$work/cm.log" 2>&1 && cmake --build "$work/cmake-example" >>"$work/cm.log" 2>&1; then
    ok "examples/ builds with find_package(dmsec)"
    grep -q "dmsec_DIR:PATH=$L/cmake/dmsec" "$work/cmake-example/CMakeCache.txt" &&
        ok "find_package found the installed package" || bad "find_package found another dmsec"
    run_device "device (CMake package)" "$work/cmake-example/device"
else
    bad "examples/ with find_package(dmsec): $(grep -m 3 -i 'error' "$work/cm.log" | tr '\n' ' ')"
fi

# ---- the default config, read by the installed server ----
conf=$root$sysconfdir/dmsec/dmsec-server.conf
"$P/bin/dmsec-server" --config "$conf" --db "$work/dmsec.db" --listen 127.0.0.1:0 \
    >"$work/srv.out" 2>"$work/srv.err" &
srv=$!
pids+=("$srv")
port=
for _ in $(seq 1 600); do # readiness: its "listening" line (up to 30 s), or its exit
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$work/srv.out" "$work/srv.err" | head -n 1)
    [ -n "$port" ] && break
    kill -0 "$srv" 2>/dev/null || break
    sleep 0.05
done
if [ -n "$port" ]; then
    ok "dmsec-server starts from the installed config"
    grep -q "server id dmsec" "$work/srv.out" "$work/srv.err" && ok "config: server-id dmsec" ||
        bad "config: server id not taken: $(cat "$work/srv.out" "$work/srv.err" | head -n 3 | tr '\n' ' ')"
    [ "$(curl -s "http://127.0.0.1:$port/healthz")" = ok ] && ok "installed server answers /healthz" ||
        bad "no /healthz answer on $port"
    kill -TERM "$srv"
    wait "$srv"
    rc=$?
    [ $rc -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM: exit $rc"
else
    bad "dmsec-server with the installed config: $(head -n 3 "$work/srv.err" | tr '\n' ' ')"
fi
{ cat "$conf"; echo "no-such-key = 1"; } >"$work/bad.conf"
"$P/bin/dmsec-server" --config "$work/bad.conf" --db "$work/dmsec.db" --listen 127.0.0.1:0 \
    >"$work/out" 2>"$work/err" </dev/null
rc=$?
[ $rc -eq 2 ] && grep -q "unknown key 'no-such-key'" "$work/err" && ok "a config with an unknown key is refused" ||
    bad "bad config: exit $rc, $(head -n 2 "$work/err" | tr '\n' ' ')"

# ---- the units ----
unit=$root$unitdir/dmsec-server.service
grep -qx "ExecStart=$prefix/bin/dmsec-server --config $sysconfdir/dmsec/dmsec-server.conf" "$unit" &&
    ok "dmsec-server.service runs the installed binary with the installed config" ||
    bad "dmsec-server.service ExecStart: $(grep ExecStart "$unit")"
for d in User=dmsec StateDirectory=dmsec ProtectSystem=strict ProtectHome=yes NoNewPrivileges=yes \
    PrivateTmp=yes PrivateDevices=yes 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
    SystemCallFilter=@system-service CapabilityBoundingSet=; do
    grep -qx "$d" "$unit" || bad "dmsec-server.service lacks $d"
done
grep -q "^ExecStart=$prefix/bin/dmsec-client listen " "$root$unitdir/dmsec-client.service" &&
    ok "dmsec-client.service runs the installed agent's listen" || bad "dmsec-client.service ExecStart"
grep -q '^u dmsec ' "$P/lib/sysusers.d/dmsec.conf" && ok "sysusers: user dmsec" || bad "sysusers: no user dmsec"
if command -v systemd-analyze >/dev/null; then
    mkdir -p "$work/units"
    for u in dmsec-server.service dmsec-client.service; do
        # The binaries are where DESTDIR put them.
        sed "s|^ExecStart=$prefix/bin/|ExecStart=$P/bin/|" "$root$unitdir/$u" >"$work/units/$u"
        if systemd-analyze verify --man=no "$work/units/$u" >"$work/sa.out" 2>&1 && [ ! -s "$work/sa.out" ]; then
            ok "systemd-analyze verify $u"
        else
            bad "systemd-analyze verify $u: $(head -n 3 "$work/sa.out" | tr '\n' ' ')"
        fi
    done
    # The exposure level systemd prints (0.0-10.0) is compared in tenths:
    # the server at most 2.5, the agent (hooks) at most 3.5.
    for u in dmsec-server.service:25 dmsec-client.service:35; do
        if systemd-analyze security --offline=yes --threshold="${u#*:}" "$work/units/${u%:*}" \
            >"$work/sa.out" 2>&1; then
            ok "${u%:*}: $(grep -o 'Overall exposure level.*' "$work/sa.out")"
        else
            bad "${u%:*}: $(grep -o 'Overall exposure level.*' "$work/sa.out") (above ${u#*:}/10)"
        fi
    done
else
    echo "skip systemd-analyze (not installed)"
fi

echo "install: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
