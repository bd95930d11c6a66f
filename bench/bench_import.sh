#!/usr/bin/env bash
# Provisioning at scale (issue 13): `dmsec device import --csv` of N devices
# (1,000,000 by default) into a new SQLite store, next to a floor measured
# in the same run: the same device rows copied by SQLite alone into an
# empty store of the same schema, journal and synchronous settings, in one
# transaction (no CSV, no secrets drawn, no pre-hashes: the storage cost).
# Prints both rates, their ratio, and the issue's target (1,000,000 devices
# in under 2 minutes), extrapolated linearly when N is smaller.
# usage: bench/bench_import.sh DMSEC_TOOL [N]   (build/gcc/dmsec)
set -euo pipefail
tool=$(realpath "$1")
n=${2:-1000000}
command -v sqlite3 >/dev/null || {
    echo "bench_import: needs the sqlite3 program (Debian package sqlite3)" >&2
    exit 2
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }

# Every 10th device sha256, every 7th hmac-md5, the rest md5; every 11th
# with a notify address; every 13th with nonces of a device provisioned in
# advance.
awk -v n="$n" 'BEGIN {
    print "device_id,client_name,scheme,notify,client_nonce_hex,server_nonce_hex";
    for (i = 1; i <= n; i++) {
        s = i % 10 == 0 ? "sha256" : i % 7 == 0 ? "hmac-md5" : "md5";
        no = i % 11 == 0 ? sprintf("udp://10.%d.%d.%d:2948", int(i / 65536) % 256, int(i / 256) % 256, i % 256) : "";
        cn = i % 13 == 0 ? sprintf("%032x", i) : "";
        sn = i % 13 == 0 ? sprintf("%032x", i * 7) : "";
        printf "IMEI:35%013d,user%d,%s,%s,%s,%s\n", i, i, s, no, cn, sn;
    }
}' >"$work/devices.csv"

t0=$(now)
"$tool" device import --csv "$work/devices.csv" --db "$work/dmsec.db" --server-id bench \
    --secrets-out "$work/secrets.csv" >"$work/import.out" 2>"$work/import.err" || {
    echo "bench_import: the import failed: $(tail -n 3 "$work/import.err")" >&2
    exit 1
}
t1=$(now)
got=$(sqlite3 "$work/dmsec.db" "SELECT count(*) FROM devices")
[ "$got" = "$n" ] || {
    echo "bench_import: $got devices in the store, want $n" >&2
    exit 1
}

# The floor: the same rows, copied by SQLite alone.
sqlite3 "$work/dmsec.db" .schema | grep -v '^CREATE TABLE sqlite_sequence' >"$work/schema.sql"
{
    echo "PRAGMA journal_mode = WAL;"
    echo "PRAGMA synchronous = NORMAL;"
    cat "$work/schema.sql"
} | sqlite3 "$work/floor.db" >/dev/null
t2=$(now)
sqlite3 "$work/floor.db" "PRAGMA synchronous = NORMAL; ATTACH '$work/dmsec.db' AS a;
    BEGIN; INSERT INTO devices SELECT * FROM a.devices; COMMIT;"
t3=$(now)

awk -v n="$n" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v bytes="$(stat -c %s "$work/dmsec.db")" 'BEGIN {
    imp = b - a; flo = d - c;
    printf "dmsec device import   %9d devices in %7.1f s = %8.0f devices/s (%d bytes of store each)\n", n, imp, n / imp, bytes / n;
    printf "floor (SQLite copy)   %9d rows    in %7.1f s = %8.0f rows/s\n", n, flo, n / flo;
    printf "ratio import / floor  %.2f\n", flo / imp;
    per_million = imp * 1000000 / n;
    printf "1,000,000 devices     %.0f s%s: target under 120 s %s\n", per_million,
        n == 1000000 ? "" : " (extrapolated)", per_million < 120 ? "met" : "NOT met";
}'
