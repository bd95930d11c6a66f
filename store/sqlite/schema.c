/*
 * schema.c - connection settings and schema migrations of the SQLite store.
 *
 * A store is recognised by its application_id; its schema version is the
 * user_version. Migrations are constant SQL scripts, one per version step,
 * run inside one BEGIN IMMEDIATE transaction so that several processes
 * opening a new file at once create the schema exactly once.
 */
#include <string.h>

#include "dmsec/errors.h"
#include "store_sqlite.h"

/* Several processes write one file: wait for the lock instead of failing. */
#define BUSY_TIMEOUT_MS 5000
#define RETRY_MS 10

const char *const dm_store_migrations[DM_STORE_SCHEMA_VERSION] = {
    "PRAGMA application_id = 1145918275;" /* DM_STORE_APP_ID */
    "CREATE TABLE devices ("
    " device_id TEXT PRIMARY KEY NOT NULL,"
    " client_name TEXT NOT NULL,"
    " client_scheme INTEGER NOT NULL,"
    " client_ph_flags INTEGER NOT NULL,"
    " client_ph_md5 BLOB,"
    " client_ph_sha256 BLOB,"
    " client_secret BLOB,"
    " client_nonce BLOB,"
    " server_scheme INTEGER NOT NULL,"
    " server_ph_flags INTEGER NOT NULL,"
    " server_ph_md5 BLOB,"
    " server_ph_sha256 BLOB,"
    " server_secret BLOB,"
    " server_nonce BLOB,"
    " pending_secret BLOB,"
    " integrity INTEGER NOT NULL,"
    " notify_addr TEXT NOT NULL,"
    " srvcred_path TEXT NOT NULL,"
    " cert_subject TEXT NOT NULL,"
    " created INTEGER NOT NULL"
    ") STRICT;"
    /* A certificate names one device at most; empty means none. */
    "CREATE UNIQUE INDEX devices_cert ON devices (cert_subject) WHERE cert_subject <> '';"
    "CREATE TABLE notifications ("
    " id INTEGER PRIMARY KEY,"
    " device_id TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,"
    " session_id INTEGER NOT NULL CHECK (session_id BETWEEN 1 AND 65535),"
    " default_nonce INTEGER NOT NULL CHECK (default_nonce IN (0, 1)),"
    " sent INTEGER NOT NULL,"
    " expires INTEGER NOT NULL,"
    " opened INTEGER NOT NULL DEFAULT 0,"
    " consumed INTEGER NOT NULL DEFAULT 0,"
    " attempts INTEGER NOT NULL DEFAULT 1,"
    " UNIQUE (device_id, session_id)"
    ") STRICT;"
    "CREATE INDEX notifications_sent ON notifications (sent, id);"
    "CREATE TABLE sessions ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " device_id TEXT NOT NULL,"
    " session_id TEXT NOT NULL,"
    " peer TEXT NOT NULL,"
    " started INTEGER NOT NULL,"
    " ended INTEGER NOT NULL DEFAULT 0,"
    " result INTEGER NOT NULL DEFAULT 0,"
    " messages INTEGER NOT NULL DEFAULT 0"
    ") STRICT;"
    "CREATE INDEX sessions_started ON sessions (started, id);"
    "CREATE TABLE audit ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " at INTEGER NOT NULL,"
    " device_id TEXT NOT NULL,"
    " event TEXT NOT NULL,"
    " detail TEXT NOT NULL"
    ") STRICT;"
    "CREATE INDEX audit_at ON audit (at, id);"
    "CREATE TABLE macs ("
    " mac TEXT PRIMARY KEY NOT NULL,"
    " ts INTEGER NOT NULL,"
    " seen_at INTEGER NOT NULL"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX macs_ts ON macs (ts);"
    "PRAGMA user_version = 1;",
    /* 1 -> 2: a client nonce issued in a challenge to a peer that has not
     * authenticated yet is held beside the current one, never over it. */
    "ALTER TABLE devices ADD COLUMN client_nonce_pending BLOB;"
    "PRAGMA user_version = 2;",
    /* 2 -> 3: device management. The command queue (state is a
     * dmsec_cmd_state_t; kind an operator's name of it; parent_id 0 or the
     * group; data and result NULL when absent), the events devices report,
     * their inventory, when each was seen, and listings per device. */
    "CREATE TABLE commands ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " device_id TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,"
    " parent_id INTEGER NOT NULL DEFAULT 0,"
    " kind TEXT NOT NULL CHECK (kind IN ('get', 'replace', 'add', 'delete', 'exec', 'copy',"
    " 'atomic', 'sequence')),"
    " target TEXT NOT NULL,"
    " source TEXT NOT NULL,"
    " data BLOB,"
    " format TEXT NOT NULL,"
    " mime TEXT NOT NULL,"
    " correlator TEXT NOT NULL,"
    " expires INTEGER NOT NULL,"
    " queued_by TEXT NOT NULL,"
    " queued_at INTEGER NOT NULL,"
    " state INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 6),"
    " session_id TEXT NOT NULL DEFAULT '',"
    " sent_at INTEGER NOT NULL DEFAULT 0,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " status INTEGER NOT NULL DEFAULT 0,"
    " result BLOB,"
    " result_format TEXT NOT NULL DEFAULT '',"
    " result_mime TEXT NOT NULL DEFAULT '',"
    " outcome INTEGER NOT NULL DEFAULT 0,"
    " done_at INTEGER NOT NULL DEFAULT 0"
    ") STRICT;"
    "CREATE INDEX commands_queue ON commands (device_id, state, id);"
    "CREATE INDEX commands_correlator ON commands (device_id, correlator);"
    "CREATE INDEX commands_parent ON commands (parent_id) WHERE parent_id <> 0;"
    "CREATE TABLE device_events ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " device_id TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,"
    " at INTEGER NOT NULL,"
    " alert INTEGER NOT NULL,"
    " type TEXT NOT NULL,"
    " format TEXT NOT NULL,"
    " source TEXT NOT NULL,"
    " correlator TEXT NOT NULL,"
    " data TEXT NOT NULL,"
    " session_id TEXT NOT NULL"
    ") STRICT;"
    "CREATE INDEX device_events_at ON device_events (at, id);"
    "CREATE INDEX device_events_device ON device_events (device_id, at, id);"
    "CREATE TABLE inventory ("
    " device_id TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,"
    " uri TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " updated INTEGER NOT NULL,"
    " PRIMARY KEY (device_id, uri)"
    ") STRICT;"
    "ALTER TABLE devices ADD COLUMN first_seen INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE devices ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX sessions_device ON sessions (device_id, started, id);"
    "CREATE INDEX audit_device ON audit (device_id, at, id);"
    "PRAGMA user_version = 3;",
    /* 3 -> 4: the device lifecycle. A device can be disabled (the server
     * answers it as an unknown one), and the store keeps facts about
     * itself (meta: the server id it belongs to, set once). */
    "ALTER TABLE devices ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0"
    " CHECK (disabled IN (0, 1));"
    "CREATE TABLE meta ("
    " key TEXT PRIMARY KEY NOT NULL,"
    " value TEXT NOT NULL"
    ") STRICT, WITHOUT ROWID;"
    "PRAGMA user_version = 4;",
    /* 4 -> 5: secret rotation on an operator's request. rotate_requested
     * holds the sides asked for and not yet confirmed (1 the device's
     * CLCRED secret, 2 the server's SRVCRED one); the device's new
     * credential sent and not yet confirmed is kept beside its current one
     * (pre-hashes, flags 0 when none; the secret only for HMAC-SHA256). */
    "ALTER TABLE devices ADD COLUMN rotate_requested INTEGER NOT NULL DEFAULT 0"
    " CHECK (rotate_requested BETWEEN 0 AND 3);"
    "ALTER TABLE devices ADD COLUMN client_pending_ph_flags INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE devices ADD COLUMN client_pending_ph_md5 BLOB;"
    "ALTER TABLE devices ADD COLUMN client_pending_ph_sha256 BLOB;"
    "ALTER TABLE devices ADD COLUMN client_pending_secret BLOB;"
    "PRAGMA user_version = 5;",
    /* 5 -> 6: the commands to send, in the order commands.c's q_pending
     * sends them (each group's members right after it), so that reading
     * a device's queue needs no sort: only the open ones (states 0 and 1),
     * a few rows per device at most. */
    "CREATE INDEX commands_send ON commands"
    " (device_id, (CASE WHEN parent_id = 0 THEN id ELSE parent_id END), id)"
    " WHERE state IN (0, 1);"
    "PRAGMA user_version = 6;",
};

/* Runs one constant statement (a PRAGMA setting), ignoring its row. */
static int pragma_run(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return dm_sq_err(rc);
}

/* The schema version of the file: 0 for a new, empty database. One
 * statement, so one snapshot: another process may be creating the schema
 * right now. */
static int schema_version(sqlite3 *db, int *version)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT (SELECT application_id FROM pragma_application_id),"
                                " (SELECT user_version FROM pragma_user_version),"
                                " (SELECT count(*) FROM sqlite_master)",
                                -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(s);
        return dm_sq_err(rc);
    }
    sqlite3_int64 app = sqlite3_column_int64(s, 0);
    sqlite3_int64 ver = sqlite3_column_int64(s, 1);
    sqlite3_int64 objects = sqlite3_column_int64(s, 2);
    sqlite3_finalize(s);
    if (app == 0 && ver == 0 && objects == 0) {
        *version = 0;
        return DMSEC_OK;
    }
    /* Someone else's database, or a schema from a newer dmsec. */
    if (app != DM_STORE_APP_ID || ver < 1 || ver > DM_STORE_SCHEMA_VERSION)
        return DMSEC_ERR_STORE_CORRUPT;
    *version = (int)ver;
    return DMSEC_OK;
}

static int set_wal_once(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(s, 0);
        const char *file = sqlite3_db_filename(db, "main");
        /* An in-memory database (tests) has no WAL; a file must have one. */
        if (mode && (!strcmp(mode, "wal") || (!strcmp(mode, "memory") && (!file || !*file))))
            rc = SQLITE_OK;
        else
            rc = SQLITE_ERROR;
    }
    sqlite3_finalize(s);
    return dm_sq_err(rc);
}

/* Switching a file to WAL takes an exclusive lock without calling the busy
 * handler, so when several processes open a new store at once, the losers
 * wait here instead. */
static int set_wal(sqlite3 *db)
{
    int rc = set_wal_once(db);
    for (int waited = 0; rc == DMSEC_ERR_STORE_BUSY && waited < BUSY_TIMEOUT_MS;
         waited += RETRY_MS) {
        sqlite3_sleep(RETRY_MS);
        rc = set_wal_once(db);
    }
    return rc;
}

static int migrate(sqlite3 *db)
{
    int rc = dm_sq_err(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL));
    if (rc)
        return rc;
    /* Read again under the write lock: another process may have migrated. */
    int version = 0;
    rc = schema_version(db, &version);
    for (int v = version; !rc && v < DM_STORE_SCHEMA_VERSION; v++)
        rc = dm_sq_err(sqlite3_exec(db, dm_store_migrations[v], NULL, NULL, NULL));
    if (!rc)
        rc = dm_sq_err(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL));
    if (rc)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* The busy timeout, and a crafted file must not run its own SQL (triggers,
 * views) or let statements corrupt the schema. Then the file's schema
 * version, read before anything in it changes. */
static int open_checked(sqlite3 *db, int *version)
{
    if (sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS) != SQLITE_OK)
        return DMSEC_ERR_STORE_IO;
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    *version = 0;
    return schema_version(db, version);
}

int dm_store_schema_check(sqlite3 *db)
{
    int version = 0;
    int rc = open_checked(db, &version);
    /* An empty file is no store either: nothing here creates one. */
    if (!rc && version == 0)
        rc = DMSEC_ERR_STORE_CORRUPT;
    /* Reading an older schema needs its migration, a write. */
    if (!rc && version < DM_STORE_SCHEMA_VERSION)
        rc = DMSEC_ERR_STORE_STATE;
    return rc;
}

int dm_store_schema_setup(sqlite3 *db)
{
    int version = 0;
    int rc = open_checked(db, &version);
    if (!rc)
        rc = set_wal(db);
    if (!rc)
        /* Commits write the WAL without fsync; dmsec_store_sync makes
         * them durable, one fsync for a group (conn.c). A checkpoint
         * still syncs the WAL before and the database after copying. */
        rc = pragma_run(db, "PRAGMA synchronous = NORMAL");
    if (!rc)
        rc = pragma_run(db, "PRAGMA foreign_keys = ON");
    /* Secrets overwritten (a rotated or wiped secret) are zeroed in the
     * database pages instead of lingering in free space. */
    if (!rc)
        rc = pragma_run(db, "PRAGMA secure_delete = ON");
    /* Statement and savepoint journals and temporary tables in memory:
     * they copy pages (secrets among them) and play no part in crash
     * recovery; on disk an import's per-row savepoints wrote ten pages
     * per device (docs/DECISIONS.md). */
    if (!rc)
        rc = pragma_run(db, "PRAGMA temp_store = MEMORY");
    if (!rc && version < DM_STORE_SCHEMA_VERSION)
        rc = migrate(db);
    return rc;
}
