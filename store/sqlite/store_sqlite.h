/*
 * store_sqlite.h - private to the SQLite back end of the store contract
 * (store/sqlite/). What each file owns:
 *
 * - conn.c: open and close (the file created owner-only, the connection's
 *   flags) and the state every handle of this process on one file shares
 *   (struct sfile: found by device and inode, counted).
 * - tx.c: the writer lock and the writes outside a transaction,
 *   transactions (dmsec_store_begin/commit/rollback, savepoints when
 *   nested), dmsec_store_sync (one fsync for many commits) and
 *   dmsec_store_durable (group commit).
 * - stmt.c: the statement cache of a handle, binds and columns, stepping
 *   one row or a batch of rows, the error codes of SQLite in DMSEC_ERR_*,
 *   and the newest-first walk of the session, audit and event listings.
 * - schema.c: the connection's settings (busy timeout, WAL, synchronous
 *   NORMAL, foreign keys, secure_delete: freed pages wiped, defensive
 *   mode) and the schema with its migrations.
 * - devices.c: device records (add, get, by certificate subject, list and
 *   page, remove), the lifecycle (every device, disabled or not: get,
 *   disable, update) and the statements on one device's row that
 *   nonces.c and rotation.c build on.
 * - nonces.c: the nonces both ways.
 * - rotation.c: the server's secret (pending, committed) and the
 *   rotation of both credentials (requests, the client's pending one).
 * - notify.c: notifications sent, their session ids, and the once-only
 *   consumption of a resync.
 * - sessions.c, audit.c: the session records and the audit trail.
 * - replay.c: the DM 1.3 MAC replay cache.
 * - meta.c: the server id (the meta table).
 * - commands.c: the command queue and its results, FUMO.
 * - events.c: the events devices report (Generic Alerts).
 * - inventory.c: the devices' inventory and when they were first and last
 *   seen.
 * - stats.c: the figures of the server's metrics.
 *
 * The rules every file keeps: statements prepared once per handle (a
 * dm_sq_query_t of the file's own: its slot below and its text; the rare
 * ones of the lifecycle, meta.c and stats.c prepared per call with
 * dm_sq_prepare and finalized at once), always with bound parameters, and
 * reset with bindings cleared (dm_sq_done) before a function returns;
 * secrets bound SQLITE_STATIC, so SQLite keeps no copy. Listings read a
 * batch, reset, and only then call back: a callback may write through the
 * same handle, and its write commits at once (an implicit transaction
 * commits only when no statement of the connection is still running).
 * Every write steps through dm_sq_write_run (or _bound): outside the
 * caller's transaction it takes the writer lock and counts a commit for
 * dmsec_store_sync. The contract's own checks are store_int.h's.
 */
#ifndef DMSEC_STORE_SQLITE_H
#define DMSEC_STORE_SQLITE_H

#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../store_int.h"

/* The schema this code writes and reads (PRAGMA user_version). */
#define DM_STORE_SCHEMA_VERSION 6

/* PRAGMA application_id of a dmsec store ("DMSC"): tells our file from any
 * other SQLite database. */
#define DM_STORE_APP_ID 0x444D5343

/* dm_store_migrations[v] takes the schema from version v to v + 1 and
 * records it (PRAGMA user_version = v + 1); constant SQL, run in one
 * transaction by dm_store_schema_setup. The unit tests build a store of an
 * older version with the first of them. */
extern const char *const dm_store_migrations[DM_STORE_SCHEMA_VERSION];

/* Sets the connection up (busy timeout, WAL, synchronous NORMAL, foreign
 * keys) and creates or migrates the schema. DMSEC_ERR_STORE_CORRUPT for a
 * file that is not a dmsec store or has a newer schema. */
int dm_store_schema_setup(sqlite3 *db);
/* For a read-only handle: the connection's settings that change nothing,
 * and the file identified without changing it. DMSEC_ERR_STORE_CORRUPT for
 * a file that is not a dmsec store (an empty one included) or has a newer
 * schema, DMSEC_ERR_STORE_STATE for an older one (reading it needs the
 * migration, a write). */
int dm_store_schema_check(sqlite3 *db);

/* The slots of a handle's statement cache, by the file whose statement
 * each is (the texts live in that file). */
enum {
    /* tx.c */
    SQ_BEGIN,
    SQ_COMMIT,
    SQ_ROLLBACK,
    SQ_SAVEPOINT,
    SQ_RELEASE,
    SQ_ROLLBACK_TO,
    /* devices.c */
    SQ_DEV_ADD,
    SQ_DEV_GET,
    SQ_DEV_BY_CERT,
    SQ_DEV_LIST,
    SQ_DEV_DEL,
    /* nonces.c */
    SQ_CLIENT_NONCE,
    SQ_CLIENT_NONCE_PENDING,
    SQ_SERVER_NONCE,
    /* rotation.c */
    SQ_PENDING_SET,
    SQ_PENDING_GET,
    SQ_SECRET_SET,
    SQ_ROT_REQUEST,
    SQ_ROT_GET,
    SQ_CPEND_INFO,
    SQ_CPEND_SET,
    SQ_CPEND_COMMIT,
    /* notify.c */
    SQ_N_PUT,
    SQ_N_PENDING,
    SQ_N_USED,
    SQ_N_OPENED,
    SQ_N_OVERDUE,
    SQ_N_LIST,
    SQ_RESYNC_OUT,
    SQ_RESYNC_CONSUME,
    /* sessions.c */
    SQ_S_BEGIN,
    SQ_S_END,
    SQ_S_LIST,
    /* audit.c */
    SQ_A_ADD,
    SQ_A_LIST,
    /* replay.c */
    SQ_MAC_PRUNE,
    SQ_MAC_ADD,
    /* commands.c */
    SQ_CMD_DEV_PENDING,
    SQ_CMD_PARENT,
    SQ_CMD_INSERT,
    SQ_CMD_ANY,
    SQ_CMD_EXPIRE,
    SQ_CMD_PENDING,
    SQ_CMD_SENT,
    SQ_CMD_STATE,
    SQ_CMD_DONE,
    SQ_CMD_OUTCOME,
    SQ_CMD_CANCEL,
    SQ_CMD_CANCEL_MEMBERS,
    SQ_CMD_GET,
    SQ_CMD_LIST_ASC,
    SQ_CMD_LIST_DESC,
    /* events.c */
    SQ_EVENT_ADD,
    SQ_EVENT_LIST,
    /* inventory.c */
    SQ_INV_SET,
    SQ_INV_LIST,
    SQ_DEV_EXISTS,
    SQ_SEEN,
    SQ_SEEN_GET,
    SQ_COUNT
};

/* A cached statement: its slot and its text, a constant of the file that
 * runs it. */
typedef struct {
    int slot;
    const char *sql;
} dm_sq_query_t;

/* Rows a listing reads per batch (commands and inventory have their own:
 * their rows are larger). */
#define DM_SQ_LIST_BATCH 32

struct gjob; /* tx.c's: a job of dmsec_store_durable */

/* What every handle of this process on one database file shares: conn.c
 * makes, finds and frees it; tx.c locks, counts and syncs through it. */
struct sfile {
    struct sfile *next;
    dev_t dev;
    ino_t ino;
    unsigned refs;  /* under conn.c's registry lock */
    char *wal_path; /* NULL: an in-memory database */
    char *dir_path;
    pthread_mutex_t mu;       /* guards everything below */
    pthread_cond_t synced_cv; /* a group commit ended */
    pthread_cond_t writer_cv; /* the writer lock was released */
    uint64_t committed;       /* commits made so far */
    uint64_t synced;          /* commits known durable */
    int syncing;              /* a leader is in fsync */
    int writer;               /* the writer lock is held */
    pthread_cond_t group_cv;  /* a group transaction ended */
    struct gjob *gq_head;     /* jobs waiting for the next group */
    struct gjob *gq_tail;
    int grouping;         /* a leader runs a group */
    ino_t dir_synced_ino; /* WAL inode whose directory entry is durable */
    /* tx.c's handle for the groups of dmsec_store_durable, opened by the
     * first leader (set under mu), used by one leader at a time (grouping),
     * closed by conn.c with the rest; NULL until then. */
    struct dmsec_store *group_st;
};

/* The handle. conn.c sets db and sf; tx.c alone changes depth. */
struct dmsec_store {
    sqlite3 *db;
    struct sfile *sf;
    unsigned depth;     /* dmsec_store_begin nesting; > 0 holds the writer lock */
    unsigned mac_calls; /* replay.c's prune counter */
    sqlite3_stmt *stmt[SQ_COUNT];
};

/* conn.c: a handle of its own on st's file, for the group commit (its
 * sf is st's, not counted: the file's state closes it). */
int dm_sq_group_open(dmsec_store_t *st, dmsec_store_t **out);

/* tx.c: write_run steps a write under the writer lock (its own
 * transaction outside a dmsec_store_begin) and resets it; write_bound the
 * same after its binds (rc: their result; an error resets it unrun). */
int dm_sq_write_run(dmsec_store_t *st, sqlite3_stmt *s);
int dm_sq_write_bound(dmsec_store_t *st, sqlite3_stmt *s, int rc);
/* tx.c: rolls back the transaction the handle has open, if any (the
 * handle is closing). */
void dm_sq_tx_abort(dmsec_store_t *st);

/* stmt.c:
 * - err maps an (extended) SQLite result code to DMSEC_OK or a
 *   DMSEC_ERR_*.
 * - stmt gets q's statement of the handle, prepared on first use and
 *   finalized by dmsec_store_close (finalize_all); prepare prepares one
 *   not cached (rare statements: the caller finalizes it).
 * - done resets and clears; run steps a write to completion and resets.
 * - bind_text, bind_str and bind_blob bind SQLITE_STATIC (a zero-length
 *   blob as an empty one, not NULL); bind_fit binds text cut to fit a
 *   field of cap bytes (NULL as "").
 * - col_text reads a text column into a field (cut to fit, or
 *   DMSEC_ERR_STORE_CORRUPT when key and too long); col_blob a blob of at
 *   most cap bytes (longer: corrupt); col_int an integer saturated to int.
 * - step_row steps a query of one row (rc: the binds' result, an error
 *   skips the step): DMSEC_ERR_STORE_NOT_FOUND when it has none; the
 *   caller resets.
 * - read_rows steps a bound query for at most max rows, read storing row
 *   i (an error of read ends the walk), *n the rows read, and resets it.
 */
int dm_sq_err(int rc);
int dm_sq_stmt(dmsec_store_t *st, const dm_sq_query_t *q, sqlite3_stmt **out);
int dm_sq_prepare(dmsec_store_t *st, const char *sql, sqlite3_stmt **out);
void dm_sq_finalize_all(dmsec_store_t *st);
void dm_sq_done(sqlite3_stmt *s);
int dm_sq_run(sqlite3_stmt *s);
int dm_sq_bind_text(sqlite3_stmt *s, int i, const char *t, size_t len);
int dm_sq_bind_str(sqlite3_stmt *s, int i, const char *t);
int dm_sq_bind_blob(sqlite3_stmt *s, int i, const uint8_t *p, size_t len);
int dm_sq_bind_i64(sqlite3_stmt *s, int i, int64_t v);
int dm_sq_bind_fit(sqlite3_stmt *s, int i, const char *t, size_t cap);
int dm_sq_col_text(sqlite3_stmt *s, int i, char *dst, size_t cap, int key);
int dm_sq_col_blob(sqlite3_stmt *s, int i, uint8_t *dst, size_t cap, size_t *len);
int dm_sq_col_int(sqlite3_stmt *s, int i);
int dm_sq_step_row(sqlite3_stmt *s, int rc);
int dm_sq_read_rows(sqlite3_stmt *s, int rc, size_t max, size_t *n,
                    int (*read)(void *ctx, sqlite3_stmt *s, size_t i), void *ctx);

/* stmt.c: newest first (sessions, audit, events), keyed on (time, id)
 * descending, DM_SQ_LIST_BATCH rows at a time: q binds ?1 time and ?2 id of the last row read, ?3
 * the rows wanted, ?4 the device id (NULL: any), ?5 the offset (first batch only); its rows start
 * with id and have the time at time_col. read fills a record of rec_size bytes, fn gets each. */
typedef struct {
    const dm_sq_query_t *q;
    int time_col;
    size_t rec_size;
    int (*read)(sqlite3_stmt *s, void *rec);
    int (*fn)(void *ctx, const void *rec);
    void *ctx;
} dm_sq_newest_t;
int dm_sq_newest_walk(dmsec_store_t *st, const dm_sq_newest_t *w, const char *device_id,
                      size_t offset, size_t limit);

/* devices.c, for the statements on one device's row:
 * - device_stmt: q's statement with device_id bound to ?1, in *s for the
 *   caller to bind the rest, run (changed_one, step_row) and done.
 *   DMSEC_ERR_INVALID_ARG without a store or an id,
 *   DMSEC_ERR_STORE_NOT_FOUND for an id no device can have; on an error
 *   *s is NULL.
 * - changed_one runs a write bound (rc: the binds' result) and maps "no
 *   row changed" to DMSEC_ERR_STORE_NOT_FOUND.
 * - device_write: the write q that binds nothing but the id.
 * - device_blob: the write q binding a blob of at most cap bytes to ?2
 *   (DMSEC_ERR_TOO_LARGE beyond).
 * - bind_prehash / col_prehash: a pre-hash as three columns from i:
 *   flags, then the digests present (NULL for an absent one). */
int dm_sq_device_stmt(dmsec_store_t *st, const dm_sq_query_t *q, const char *device_id,
                      sqlite3_stmt **s);
int dm_sq_changed_one(dmsec_store_t *st, sqlite3_stmt *s, int rc);
int dm_sq_device_write(dmsec_store_t *st, const dm_sq_query_t *q, const char *device_id);
int dm_sq_device_blob(dmsec_store_t *st, const dm_sq_query_t *q, const char *device_id,
                      const uint8_t *p, size_t len, size_t cap);
int dm_sq_bind_prehash(sqlite3_stmt *s, int i, const dmsec_prehash_t *ph);
int dm_sq_col_prehash(sqlite3_stmt *s, int i, dmsec_prehash_t *ph);

#endif
