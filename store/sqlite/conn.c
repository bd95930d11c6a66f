/*
 * sqlite.c - the store contract (dmsec/store.h) over one SQLite file.
 *
 * Statements are prepared once per handle, always with bound parameters,
 * and reset (bindings cleared) before each function returns. Secrets are
 * bound SQLITE_STATIC, so SQLite reads them from the caller's buffer
 * without keeping a copy of its own in the statement.
 *
 * Listing functions read a batch of rows, reset the statement and only then
 * call back: a callback may write to the store through the same handle, and
 * its write commits at once (an implicit transaction commits only when no
 * statement of the connection is still running).
 *
 * Durability (synchronous=NORMAL): a commit writes the WAL without fsync;
 * dmsec_store_sync fsyncs the WAL. Every handle on one file shares a
 * struct sfile (found by device and inode): a commit counter bumped after
 * each commit and a leader/follower group commit, so that one fsync covers
 * every commit made before it started and concurrent callers wait for it.
 * The same struct holds an in-process writer lock: handles of this process
 * queue for it on a condition variable instead of in SQLite's busy handler,
 * which sleeps in millisecond steps. Other processes still meet SQLite's
 * own lock and busy timeout.
 */
#include "dmsec/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "dmsec/errors.h"
#include "store_sqlite.h"

#define DEFAULT_SRVCRED "./DMAcc/dmsec/AppAuth/SRVCRED"
#define LIST_BATCH 32
#define MAC_MAX 512
/* Prune the replay cache on the first call of a handle and every 256th. */
#define MAC_PRUNE_EVERY 256u
#define FIELD_SIZE(type, field) sizeof(((type *)0)->field)

enum {
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_SAVEPOINT,
    Q_RELEASE,
    Q_ROLLBACK_TO,
    Q_DEV_ADD,
    Q_DEV_GET,
    Q_DEV_BY_CERT,
    Q_DEV_LIST,
    Q_DEV_DEL,
    Q_CLIENT_NONCE,
    Q_CLIENT_NONCE_PENDING,
    Q_SERVER_NONCE,
    Q_PENDING_SET,
    Q_PENDING_GET,
    Q_SECRET_SET,
    Q_ROT_REQUEST,
    Q_ROT_GET,
    Q_CPEND_INFO,
    Q_CPEND_SET,
    Q_CPEND_COMMIT,
    Q_N_PUT,
    Q_N_PENDING,
    Q_N_USED,
    Q_N_OPENED,
    Q_N_OVERDUE,
    Q_N_LIST,
    Q_RESYNC_OUT,
    Q_RESYNC_CONSUME,
    Q_S_BEGIN,
    Q_S_END,
    Q_S_LIST,
    Q_A_ADD,
    Q_A_LIST,
    Q_MAC_PRUNE,
    Q_MAC_ADD,
    Q_COUNT
};

#define DEV_COLS                                                                                   \
    "device_id, client_name, client_scheme, client_ph_flags, client_ph_md5, client_ph_sha256,"     \
    " client_secret, client_nonce, server_scheme, server_ph_flags, server_ph_md5,"                 \
    " server_ph_sha256, server_secret, server_nonce, pending_secret, integrity, notify_addr,"      \
    " srvcred_path, cert_subject, created, client_nonce_pending"
#define N_COLS "device_id, session_id, default_nonce, sent, expires, opened, consumed, attempts, id"
#define S_COLS "id, device_id, session_id, peer, started, ended, result, messages"
#define A_COLS "id, at, device_id, event, detail"

static const char *const sql_text[Q_COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_SAVEPOINT] = "SAVEPOINT dmsec_nested",
    [Q_RELEASE] = "RELEASE dmsec_nested",
    [Q_ROLLBACK_TO] = "ROLLBACK TO dmsec_nested",
    [Q_DEV_ADD] = "INSERT INTO devices (" DEV_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
                  " ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
    /* A disabled device is answered as an unknown one. */
    [Q_DEV_GET] = "SELECT " DEV_COLS " FROM devices WHERE device_id = ?1 AND disabled = 0",
    [Q_DEV_BY_CERT] = "SELECT " DEV_COLS " FROM devices WHERE cert_subject = ?1"
                      " AND cert_subject <> '' AND disabled = 0",
    [Q_DEV_LIST] = "SELECT " DEV_COLS " FROM devices WHERE device_id > ?1"
                   " AND (?3 IS NULL OR substr(device_id, 1, length(?3)) = ?3)"
                   " ORDER BY device_id LIMIT ?2",
    [Q_DEV_DEL] = "DELETE FROM devices WHERE device_id = ?1",
    /* Issued to an authenticated peer: it replaces the current nonce and
     * supersedes a pending one, in one statement. */
    [Q_CLIENT_NONCE] = "UPDATE devices SET client_nonce = ?2, client_nonce_pending = NULL"
                       " WHERE device_id = ?1",
    /* Issued to a peer not authenticated yet: the current nonce stays. */
    [Q_CLIENT_NONCE_PENDING] = "UPDATE devices SET client_nonce_pending = ?2 WHERE device_id = ?1",
    [Q_SERVER_NONCE] = "UPDATE devices SET server_nonce = ?2 WHERE device_id = ?1",
    [Q_PENDING_SET] = "UPDATE devices SET pending_secret = ?2 WHERE device_id = ?1",
    [Q_PENDING_GET] = "SELECT server_scheme, integrity, pending_secret FROM devices"
                      " WHERE device_id = ?1",
    [Q_SECRET_SET] = "UPDATE devices SET server_ph_flags = ?2, server_ph_md5 = ?3,"
                     " server_ph_sha256 = ?4, server_secret = ?5, pending_secret = NULL,"
                     " rotate_requested = rotate_requested & ~2"
                     " WHERE device_id = ?1",
    [Q_ROT_REQUEST] = "UPDATE devices SET rotate_requested = rotate_requested | ?2"
                      " WHERE device_id = ?1",
    [Q_ROT_GET] = "SELECT rotate_requested, coalesce(length(pending_secret), 0) > 0,"
                  " client_pending_ph_flags, client_pending_ph_md5, client_pending_ph_sha256,"
                  " client_pending_secret FROM devices WHERE device_id = ?1",
    [Q_CPEND_INFO] =
        "SELECT client_name, client_scheme, integrity FROM devices WHERE device_id = ?1",
    [Q_CPEND_SET] =
        "UPDATE devices SET client_pending_ph_flags = ?2, client_pending_ph_md5 = ?3,"
        " client_pending_ph_sha256 = ?4, client_pending_secret = ?5 WHERE device_id = ?1",
    /* The pending credential becomes the device's, and the request is met. */
    [Q_CPEND_COMMIT] = "UPDATE devices SET client_ph_flags = client_pending_ph_flags,"
                       " client_ph_md5 = client_pending_ph_md5,"
                       " client_ph_sha256 = client_pending_ph_sha256,"
                       " client_secret = client_pending_secret, client_pending_ph_flags = 0,"
                       " client_pending_ph_md5 = NULL, client_pending_ph_sha256 = NULL,"
                       " client_pending_secret = NULL, rotate_requested = rotate_requested & ~1"
                       " WHERE device_id = ?1 AND client_pending_ph_flags <> 0",
    /* A re-send keeps opened; switching to the default nonce re-arms the
     * resync (SET expressions see the row as it was). */
    [Q_N_PUT] = "INSERT INTO notifications (device_id, session_id, default_nonce, sent, expires)"
                " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (device_id, session_id) DO UPDATE SET"
                " sent = excluded.sent, expires = excluded.expires,"
                " consumed = CASE WHEN notifications.default_nonce = 0"
                " AND excluded.default_nonce = 1 THEN 0 ELSE notifications.consumed END,"
                " default_nonce = excluded.default_nonce,"
                " attempts = notifications.attempts + 1",
    [Q_N_PENDING] = "SELECT " N_COLS " FROM notifications WHERE device_id = ?1 AND opened = 0"
                    " AND expires > ?2 ORDER BY sent DESC, id DESC LIMIT 1",
    [Q_N_USED] = "SELECT session_id FROM notifications WHERE device_id = ?1",
    [Q_N_OPENED] = "UPDATE notifications SET opened = 1 WHERE device_id = ?1 AND session_id = ?2",
    [Q_N_OVERDUE] = "SELECT " N_COLS " FROM notifications WHERE sent < ?1 AND opened = 0"
                    " AND expires > ?2 AND default_nonce = 0 AND (sent, id) > (?3, ?4)"
                    " ORDER BY sent, id LIMIT ?5",
    [Q_N_LIST] = "SELECT " N_COLS " FROM notifications WHERE device_id = ?1"
                 " AND (sent, id) > (?2, ?3) ORDER BY sent, id LIMIT ?4",
    [Q_RESYNC_OUT] = "SELECT 1 FROM notifications WHERE device_id = ?1 AND session_id = ?2"
                     " AND default_nonce = 1 AND consumed = 0 AND expires > ?3",
    /* The once-only rule: the row changes for one caller only. */
    [Q_RESYNC_CONSUME] = "UPDATE notifications SET consumed = 1 WHERE device_id = ?1"
                         " AND session_id = ?2 AND default_nonce = 1 AND consumed = 0"
                         " AND expires > ?3",
    [Q_S_BEGIN] = "INSERT INTO sessions (device_id, session_id, peer, started)"
                  " VALUES (?1, ?2, ?3, ?4)",
    [Q_S_END] = "UPDATE sessions SET ended = ?2, result = ?3, messages = ?4 WHERE id = ?1",
    [Q_S_LIST] = "SELECT " S_COLS " FROM sessions WHERE (started, id) < (?1, ?2)"
                 " AND (?4 IS NULL OR device_id = ?4)"
                 " ORDER BY started DESC, id DESC LIMIT ?3 OFFSET ?5",
    [Q_A_ADD] = "INSERT INTO audit (at, device_id, event, detail) VALUES (?1, ?2, ?3, ?4)",
    [Q_A_LIST] = "SELECT " A_COLS " FROM audit WHERE (at, id) < (?1, ?2)"
                 " AND (?4 IS NULL OR device_id = ?4)"
                 " ORDER BY at DESC, id DESC LIMIT ?3 OFFSET ?5",
    [Q_MAC_PRUNE] = "DELETE FROM macs WHERE ts < ?1 AND seen_at < ?1",
    [Q_MAC_ADD] = "INSERT OR IGNORE INTO macs (mac, ts, seen_at) VALUES (?1, ?2, ?3)",
};

/* What every handle of this process on one database file shares. */
struct sfile {
    struct sfile *next;
    dev_t dev;
    ino_t ino;
    unsigned refs;  /* under reg_mu */
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
};

struct dmsec_store {
    sqlite3 *db;
    sqlite3_stmt *stmt[Q_COUNT];
    unsigned mac_calls;
    struct sfile *sf;
    unsigned depth; /* dmsec_store_begin nesting; > 0 holds the writer lock */
    sqlite3_stmt *mstmt[DM_STORE_MGMT_STMTS]; /* mgmt.c's, prepared on first use */
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sfile *reg;

/* ---- helpers ---- */

int dm_store_err(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return DMSEC_OK;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return DMSEC_ERR_STORE_BUSY;
    case SQLITE_NOMEM:
        return DMSEC_ERR_NO_MEMORY;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FORMAT:
        return DMSEC_ERR_STORE_CORRUPT;
    case SQLITE_TOOBIG:
        return DMSEC_ERR_TOO_LARGE;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
            return DMSEC_ERR_STORE_EXISTS;
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
            return DMSEC_ERR_STORE_NOT_FOUND;
        return DMSEC_ERR_INVALID_ARG; /* a CHECK or NOT NULL our checks missed */
    default:
        return DMSEC_ERR_STORE_IO;
    }
}

static int stmt_get(dmsec_store_t *st, int q, sqlite3_stmt **out)
{
    if (!st->stmt[q]) {
        int rc = sqlite3_prepare_v3(st->db, sql_text[q], -1, SQLITE_PREPARE_PERSISTENT,
                                    &st->stmt[q], NULL);
        if (rc != SQLITE_OK) {
            st->stmt[q] = NULL;
            return dm_store_err(rc);
        }
    }
    *out = st->stmt[q];
    return DMSEC_OK;
}

/* Every use of a statement ends here: no borrowed buffer stays bound. */
static void stmt_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Steps a write statement to completion and resets it. */
static int stmt_run(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    stmt_done(s);
    return rc == SQLITE_DONE ? DMSEC_OK : dm_store_err(rc);
}

static int bind_rc(int rc)
{
    return rc == SQLITE_OK ? DMSEC_OK : dm_store_err(rc);
}

static int bind_text(sqlite3_stmt *s, int i, const char *t, size_t len)
{
    if (len > INT_MAX)
        return DMSEC_ERR_TOO_LARGE;
    return bind_rc(sqlite3_bind_text(s, i, t, (int)len, SQLITE_STATIC));
}

static int bind_str(sqlite3_stmt *s, int i, const char *t)
{
    return bind_text(s, i, t, strlen(t));
}

/* A zero-length value is stored as an empty blob, not NULL. */
static int bind_blob(sqlite3_stmt *s, int i, const uint8_t *p, size_t len)
{
    static const uint8_t none[1] = {0};
    if (len > INT_MAX)
        return DMSEC_ERR_TOO_LARGE;
    return bind_rc(sqlite3_bind_blob(s, i, len ? (const void *)p : none, (int)len, SQLITE_STATIC));
}

static int bind_i64(sqlite3_stmt *s, int i, int64_t v)
{
    return bind_rc(sqlite3_bind_int64(s, i, v));
}

/* Length of t cut to fit a field of cap bytes (NUL included), never
 * splitting a UTF-8 sequence. */
static size_t fit_len(const unsigned char *t, size_t len, size_t cap)
{
    if (len < cap)
        return len;
    len = cap - 1;
    while (len > 0 && (t[len] & 0xC0) == 0x80)
        len--;
    return len;
}

/* Binds descriptive text (logs), cut to what the record can hold. */
static int bind_fit(sqlite3_stmt *s, int i, const char *t, size_t cap)
{
    if (!t)
        t = "";
    return bind_text(s, i, t, fit_len((const unsigned char *)t, strlen(t), cap));
}

/* A text column into a fixed field: cut to fit (key = 0), or refused when
 * it does not fit (key = 1: an identifier must never be cut). */
static int col_text(sqlite3_stmt *s, int i, char *dst, size_t cap, int key)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    int n = sqlite3_column_bytes(s, i);
    dst[0] = '\0';
    if (!t)
        return sqlite3_column_type(s, i) == SQLITE_NULL ? DMSEC_OK : DMSEC_ERR_NO_MEMORY;
    size_t len = n > 0 ? (size_t)n : 0;
    if (key && len >= cap)
        return DMSEC_ERR_STORE_CORRUPT;
    len = fit_len(t, len, cap);
    memcpy(dst, t, len);
    dst[len] = '\0';
    return DMSEC_OK;
}

static int col_blob(sqlite3_stmt *s, int i, uint8_t *dst, size_t cap, size_t *len)
{
    const void *p = sqlite3_column_blob(s, i);
    int n = sqlite3_column_bytes(s, i);
    *len = 0;
    if (n <= 0)
        return DMSEC_OK;
    if ((size_t)n > cap)
        return DMSEC_ERR_STORE_CORRUPT;
    if (!p)
        return DMSEC_ERR_NO_MEMORY;
    memcpy(dst, p, (size_t)n);
    *len = (size_t)n;
    return DMSEC_OK;
}

static int col_int(sqlite3_stmt *s, int i)
{
    sqlite3_int64 v = sqlite3_column_int64(s, i);
    if (v > INT_MAX)
        return INT_MAX;
    if (v < INT_MIN)
        return INT_MIN;
    return (int)v;
}

/* Steps a query of one row: DMSEC_OK on a row (the caller reads it and
 * resets), DMSEC_ERR_STORE_NOT_FOUND when it has none. rc is the binds'
 * result: an error skips the step. */
static int step_row(sqlite3_stmt *s, int rc)
{
    if (rc)
        return rc;
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW)
        return DMSEC_OK;
    return src == SQLITE_DONE ? DMSEC_ERR_STORE_NOT_FOUND : dm_store_err(src);
}

/* Steps a bound query (rc: the binds' result) for at most max rows, read
 * storing row i; an error of read ends the walk. *n is the rows read; the
 * statement is reset. */
static int read_rows(sqlite3_stmt *s, int rc, size_t max, size_t *n,
                     int (*read)(void *ctx, sqlite3_stmt *s, size_t i), void *ctx)
{
    *n = 0;
    while (!rc && *n < max) {
        int src = sqlite3_step(s);
        if (src != SQLITE_ROW) {
            rc = src == SQLITE_DONE ? DMSEC_OK : dm_store_err(src);
            break;
        }
        rc = read(ctx, s, *n);
        if (!rc)
            (*n)++;
    }
    stmt_done(s);
    return rc;
}

/* What a listing callback's answer r means: non-zero stops the walk (*stop),
 * a negative one is its error. */
static int cb_rc(int r, int *stop)
{
    *stop = r != 0;
    return r < 0 ? r : DMSEC_OK;
}

static int64_t size_i64(size_t n)
{
    return n > INT64_MAX ? INT64_MAX : (int64_t)n;
}

/* 1 when s is a NUL-terminated string of at most cap - 1 bytes. */
static int str_fits(const char *s, size_t cap)
{
    return strnlen(s, cap) < cap;
}

/* A device id argument: non-empty and storable in dmsec_device_t. */
static int id_ok(const char *id)
{
    return id && id[0] && str_fits(id, DMSEC_STORE_ID_MAX);
}

/* ---- the writer lock, commits and group commit ---- */

#define WRITER_WAIT_S 5 /* as long as SQLite's busy timeout */

/* Takes the in-process writer lock of the file, waiting at most
 * WRITER_WAIT_S (a handle of the same thread holding it would otherwise
 * wait forever): DMSEC_ERR_STORE_BUSY then, as SQLite would answer. */
static int writer_lock(struct sfile *sf)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += WRITER_WAIT_S;
    int rc = DMSEC_OK;
    pthread_mutex_lock(&sf->mu);
    while (sf->writer && !rc)
        if (pthread_cond_timedwait(&sf->writer_cv, &sf->mu, &until) != 0 && sf->writer)
            rc = DMSEC_ERR_STORE_BUSY;
    if (!rc)
        sf->writer = 1;
    pthread_mutex_unlock(&sf->mu);
    return rc;
}

/* Releases the writer lock; committed says a commit may have happened
 * (counted conservatively: a spare fsync is harmless, a missed one is not). */
static void writer_unlock(struct sfile *sf, int committed)
{
    pthread_mutex_lock(&sf->mu);
    if (committed)
        sf->committed++;
    sf->writer = 0;
    pthread_cond_signal(&sf->writer_cv);
    pthread_mutex_unlock(&sf->mu);
}

static int run_q(dmsec_store_t *st, int q)
{
    sqlite3_stmt *s = NULL;
    int rc = stmt_get(st, q, &s);
    return rc ? rc : stmt_run(s);
}

/* Steps a write statement: outside a transaction of the caller it is its
 * own (implicit) transaction, under the writer lock and counted. */
static int write_run(dmsec_store_t *st, sqlite3_stmt *s)
{
    if (st->depth)
        return stmt_run(s);
    int rc = writer_lock(st->sf);
    if (rc) {
        stmt_done(s);
        return rc;
    }
    rc = stmt_run(s);
    writer_unlock(st->sf, 1);
    return rc;
}

int dmsec_store_begin(dmsec_store_t *st)
{
    if (!st)
        return DMSEC_ERR_INVALID_ARG;
    if (st->depth == UINT_MAX)
        return DMSEC_ERR_TOO_LARGE;
    if (st->depth) {
        int rc = run_q(st, Q_SAVEPOINT);
        if (!rc)
            st->depth++;
        return rc;
    }
    int rc = writer_lock(st->sf);
    if (rc)
        return rc;
    rc = run_q(st, Q_BEGIN);
    if (rc) {
        writer_unlock(st->sf, 0);
        return rc;
    }
    st->depth = 1;
    return DMSEC_OK;
}

/* Ends the outermost transaction: commit (when commit is set and SQLite
 * has not rolled it back on an I/O error already) or roll back. */
static int tx_finish(dmsec_store_t *st, int commit)
{
    int rc = DMSEC_OK;
    int open = !sqlite3_get_autocommit(st->db);
    if (commit)
        rc = open ? run_q(st, Q_COMMIT) : DMSEC_ERR_STORE_IO;
    if ((!commit || rc) && !sqlite3_get_autocommit(st->db)) {
        int r = run_q(st, Q_ROLLBACK);
        if (!rc)
            rc = r;
    }
    st->depth = 0;
    writer_unlock(st->sf, commit && !rc);
    return rc;
}

int dmsec_store_commit(dmsec_store_t *st)
{
    if (!st || !st->depth)
        return DMSEC_ERR_INVALID_ARG;
    if (st->depth == 1)
        return tx_finish(st, 1);
    int rc = run_q(st, Q_RELEASE);
    if (rc) {
        (void)run_q(st, Q_ROLLBACK_TO);
        (void)run_q(st, Q_RELEASE);
    }
    st->depth--;
    return rc;
}

int dmsec_store_rollback(dmsec_store_t *st)
{
    if (!st || !st->depth)
        return DMSEC_ERR_INVALID_ARG;
    if (st->depth == 1)
        return tx_finish(st, 0);
    int rc = run_q(st, Q_ROLLBACK_TO);
    int r = run_q(st, Q_RELEASE);
    st->depth--;
    return rc ? rc : r;
}

static int tx_begin(dmsec_store_t *st)
{
    return dmsec_store_begin(st);
}

/* Commits when rc is 0, else rolls back; returns the first error. */
static int tx_end(dmsec_store_t *st, int rc)
{
    if (!rc)
        return dmsec_store_commit(st);
    (void)dmsec_store_rollback(st);
    return rc;
}

static int fsync_retry(int fd)
{
    int r;
    do
        r = fsync(fd);
    while (r != 0 && errno == EINTR);
    return r;
}

/* One fsync of the WAL, by the leader: through the WAL file this handle
 * has open when it has one. Otherwise the WAL is opened read-only by name
 * and closed again: SQLite holds no POSIX lock on it (its locks are on the
 * database and the -shm file, and closing any descriptor of a file drops
 * every lock of this process on that file). Without a WAL, everything was
 * checkpointed into the database: its own descriptor is synced through
 * SQLite, never reopened. A new WAL gets its directory entry synced once. */
static int sync_files(dmsec_store_t *st)
{
    struct sfile *sf = st->sf;
    /* The WAL this handle has open: SQLite syncs it itself (fdatasync, and
     * its directory after creating it), with no open or close of ours. */
    sqlite3_file *wal = NULL;
    if (sqlite3_file_control(st->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) == SQLITE_OK &&
        wal && wal->pMethods)
        return wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL) == SQLITE_OK ? DMSEC_OK
                                                                          : DMSEC_ERR_STORE_IO;
    int fd = open(sf->wal_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno != ENOENT)
            return DMSEC_ERR_STORE_IO;
        sqlite3_file *f = NULL;
        if (sqlite3_file_control(st->db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK ||
            !f || !f->pMethods)
            return DMSEC_ERR_STORE_IO;
        return f->pMethods->xSync(f, SQLITE_SYNC_NORMAL) == SQLITE_OK ? DMSEC_OK
                                                                      : DMSEC_ERR_STORE_IO;
    }
    struct stat sb;
    int rc = fstat(fd, &sb) == 0 && fsync_retry(fd) == 0 ? DMSEC_OK : DMSEC_ERR_STORE_IO;
    close(fd);
    if (!rc && sb.st_ino != sf->dir_synced_ino) {
        int dfd = open(sf->dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        rc = dfd >= 0 && fsync_retry(dfd) == 0 ? DMSEC_OK : DMSEC_ERR_STORE_IO;
        if (dfd >= 0)
            close(dfd);
        if (!rc)
            sf->dir_synced_ino = sb.st_ino;
    }
    return rc;
}

int dmsec_store_sync(dmsec_store_t *st)
{
    if (!st || st->depth)
        return DMSEC_ERR_INVALID_ARG;
    struct sfile *sf = st->sf;
    if (!sf->wal_path)
        return DMSEC_OK; /* in memory: nothing to make durable */
    int rc = DMSEC_OK;
    pthread_mutex_lock(&sf->mu);
    uint64_t target = sf->committed;
    while (!rc && sf->synced < target) {
        if (sf->syncing) {
            /* A leader is in fsync: it may not cover target (it started
             * earlier); then the loop makes this caller the next leader. */
            pthread_cond_wait(&sf->synced_cv, &sf->mu);
            continue;
        }
        sf->syncing = 1;
        uint64_t upto = sf->committed; /* every commit counted was written */
        pthread_mutex_unlock(&sf->mu);
        rc = sync_files(st);
        pthread_mutex_lock(&sf->mu);
        sf->syncing = 0;
        if (!rc && upto > sf->synced)
            sf->synced = upto;
        pthread_cond_broadcast(&sf->synced_cv);
    }
    pthread_mutex_unlock(&sf->mu);
    return rc;
}

/* ---- group transactions (dmsec_store_durable) ----
 *
 * Callers queue their job on the shared file; the first one to find no
 * group running becomes the leader: it takes the whole queue, runs every
 * job in its own savepoint of one transaction on its own handle, commits
 * once, syncs once, and hands each job its result. Jobs queued meanwhile
 * form the next group, led by the first of their callers to wake up. */
struct gjob {
    dmsec_store_job_fn fn;
    void *ctx;
    int rc;
    int taken;         /* in a group (under sf->mu) */
    int done;          /* its result is final (under sf->mu) */
    pthread_cond_t cv; /* its caller waits here: one wake-up per event */
    struct gjob *next;
};

/* Runs one job in a savepoint of the open group transaction. Returns the
 * job's result; *lost is set when SQLite rolled the whole transaction
 * back (an I/O error or a full disk ends it, not only the statement). */
static int group_job(dmsec_store_t *st, struct gjob *j, int *lost)
{
    int rc = dmsec_store_begin(st); /* depth 2: a savepoint */
    if (rc)
        return rc;
    rc = j->fn(st, j->ctx);
    if (sqlite3_get_autocommit(st->db)) {
        *lost = 1;
        return rc ? rc : DMSEC_ERR_STORE_IO;
    }
    if (rc)
        (void)dmsec_store_rollback(st);
    else
        rc = dmsec_store_commit(st);
    return rc;
}

static void group_run(dmsec_store_t *st, struct gjob *batch)
{
    int rc = dmsec_store_begin(st);
    int lost = 0;
    for (struct gjob *j = batch; j; j = j->next) {
        if (rc || lost)
            j->rc = rc ? rc : DMSEC_ERR_STORE_IO;
        else
            j->rc = group_job(st, j, &lost);
    }
    if (rc)
        return;
    if (lost) {
        /* Every savepoint is gone with the transaction: release the lock. */
        st->depth = 0;
        writer_unlock(st->sf, 0);
        for (struct gjob *j = batch; j; j = j->next)
            if (!j->rc)
                j->rc = DMSEC_ERR_STORE_IO;
        return;
    }
    rc = dmsec_store_commit(st);
    for (struct gjob *j = batch; j && rc; j = j->next)
        if (!j->rc)
            j->rc = rc;
}

/* Lets the next group start: its first queued caller leads it. */
static void group_release(struct sfile *sf)
{
    sf->grouping = 0;
    if (sf->gq_head)
        pthread_cond_signal(&sf->gq_head->cv);
}

/* Makes a committed group durable, with sf->mu held (it is dropped during
 * the fsync). Pipeline of three: this group waits for the fsync under way
 * (which may cover it), then syncs; only when its fsync starts may the next
 * group run its transaction, so jobs queued meanwhile make one group, not
 * many small ones. Returns the fsync's result. */
static int group_sync_locked(dmsec_store_t *st, struct gjob *batch)
{
    struct sfile *sf = st->sf;
    int pending = 0;
    for (struct gjob *j = batch; j; j = j->next)
        pending |= !j->rc;
    uint64_t target = sf->committed;
    while (pending && sf->syncing)
        pthread_cond_wait(&sf->synced_cv, &sf->mu);
    if (!pending || sf->synced >= target) {
        group_release(sf);
        return DMSEC_OK;
    }
    sf->syncing = 1;
    uint64_t upto = sf->committed;
    group_release(sf);
    pthread_mutex_unlock(&sf->mu);
    int rc = sync_files(st);
    pthread_mutex_lock(&sf->mu);
    sf->syncing = 0;
    if (!rc && upto > sf->synced)
        sf->synced = upto;
    pthread_cond_broadcast(&sf->synced_cv);
    return rc;
}

int dmsec_store_durable(dmsec_store_t *st, dmsec_store_job_fn fn, void *ctx)
{
    if (!st || !fn || st->depth)
        return DMSEC_ERR_INVALID_ARG;
    struct sfile *sf = st->sf;
    if (!sf->wal_path) {
        /* In memory: one handle per database, nothing to share. */
        int rc = dmsec_store_begin(st);
        if (rc)
            return rc;
        return tx_end(st, fn(st, ctx));
    }
    struct gjob me = {.fn = fn, .ctx = ctx};
    if (pthread_cond_init(&me.cv, NULL) != 0)
        return DMSEC_ERR_NO_MEMORY;
    pthread_mutex_lock(&sf->mu);
    if (sf->gq_tail)
        sf->gq_tail->next = &me;
    else
        sf->gq_head = &me;
    sf->gq_tail = &me;
    while (!me.done) {
        if (sf->grouping || me.taken) {
            pthread_cond_wait(&me.cv, &sf->mu);
            continue;
        }
        /* Lead: take every queued job. */
        sf->grouping = 1;
        struct gjob *batch = sf->gq_head;
        sf->gq_head = sf->gq_tail = NULL;
        for (struct gjob *j = batch; j; j = j->next)
            j->taken = 1;
        pthread_mutex_unlock(&sf->mu);
        group_run(st, batch);
        pthread_mutex_lock(&sf->mu);
        int rc = group_sync_locked(st, batch);
        for (struct gjob *j = batch, *next; j; j = next) {
            next = j->next; /* j belongs to a waiting caller until done */
            if (rc && !j->rc)
                j->rc = rc; /* not durable: nothing of it may be announced */
            j->done = 1;
            if (j != &me)
                pthread_cond_signal(&j->cv);
        }
    }
    pthread_mutex_unlock(&sf->mu);
    pthread_cond_destroy(&me.cv);
    return me.rc;
}

/* The shared state of the file of db, found or added (refs counted). */
static int sfile_get(sqlite3 *db, struct sfile **out)
{
    const char *file = sqlite3_db_filename(db, "main");
    struct stat sb;
    memset(&sb, 0, sizeof sb);
    int mem = !file || !*file;
    if (!mem && stat(file, &sb) != 0)
        return DMSEC_ERR_STORE_IO;
    pthread_mutex_lock(&reg_mu);
    for (struct sfile *f = reg; f && !mem; f = f->next) {
        if (f->dev == sb.st_dev && f->ino == sb.st_ino) {
            f->refs++;
            pthread_mutex_unlock(&reg_mu);
            *out = f;
            return DMSEC_OK;
        }
    }
    struct sfile *f = calloc(1, sizeof *f);
    int rc = f ? DMSEC_OK : DMSEC_ERR_NO_MEMORY;
    if (!rc && !mem) {
        size_t n = strlen(file);
        f->wal_path = malloc(n + sizeof "-wal");
        f->dir_path = malloc(n + 2);
        if (f->wal_path && f->dir_path) {
            memcpy(f->wal_path, file, n);
            memcpy(f->wal_path + n, "-wal", sizeof "-wal");
            memcpy(f->dir_path, file, n + 1);
            char *slash = strrchr(f->dir_path, '/');
            if (slash == f->dir_path)
                slash[1] = '\0';
            else if (slash)
                *slash = '\0';
            else
                memcpy(f->dir_path, ".", 2);
        } else {
            rc = DMSEC_ERR_NO_MEMORY;
        }
    }
    pthread_condattr_t ca;
    if (!rc && pthread_condattr_init(&ca) != 0)
        rc = DMSEC_ERR_NO_MEMORY;
    if (!rc) {
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_mutex_init(&f->mu, NULL);
        pthread_cond_init(&f->synced_cv, NULL);
        pthread_cond_init(&f->writer_cv, &ca);
        pthread_cond_init(&f->group_cv, NULL);
        pthread_condattr_destroy(&ca);
        f->dev = sb.st_dev;
        f->ino = sb.st_ino;
        f->refs = 1;
        if (!mem) {
            f->next = reg;
            reg = f;
        }
        *out = f;
    } else if (f) {
        free(f->wal_path);
        free(f->dir_path);
        free(f);
    }
    pthread_mutex_unlock(&reg_mu);
    return rc;
}

static void sfile_put(struct sfile *sf)
{
    if (!sf)
        return;
    pthread_mutex_lock(&reg_mu);
    if (--sf->refs) {
        pthread_mutex_unlock(&reg_mu);
        return;
    }
    for (struct sfile **p = &reg; *p; p = &(*p)->next) {
        if (*p == sf) {
            *p = sf->next;
            break;
        }
    }
    pthread_mutex_unlock(&reg_mu);
    pthread_mutex_destroy(&sf->mu);
    pthread_cond_destroy(&sf->synced_cv);
    pthread_cond_destroy(&sf->writer_cv);
    pthread_cond_destroy(&sf->group_cv);
    free(sf->wal_path);
    free(sf->dir_path);
    free(sf);
}

/* ---- open / close ---- */

static int scheme_char(char c, int first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return !first && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.');
}

/* The file path of uri: "sqlite:PATH" or a PATH without any "scheme:"
 * prefix. Anything else names a back end this build does not have. */
static int uri_path(const char *uri, const char **path)
{
    size_t i = 0;
    while (uri[i] && scheme_char(uri[i], i == 0))
        i++;
    if (i > 0 && uri[i] == ':') {
        if (i != 6 || strncasecmp(uri, "sqlite", 6) != 0)
            return DMSEC_ERR_STORE_URI; /* postgres:, memory:, file:, ... */
        uri += i + 1;
    }
    if (!uri[0])
        return DMSEC_ERR_STORE_URI;
    *path = uri;
    return DMSEC_OK;
}

/* Creates a missing store file owner-only before SQLite sees it (SQLite
 * gives its -wal and -shm files the mode of the database). An existing file
 * is left alone: close() on any descriptor of a file drops every POSIX lock
 * this process holds on it, SQLite's included, so the new file is made
 * under a temporary name, closed, and only then linked into place. */
static int create_private(const char *path)
{
    struct stat sb;
    if (!strcmp(path, ":memory:") || stat(path, &sb) == 0)
        return DMSEC_OK;
    size_t n = strlen(path);
    char *tmp = malloc(n + sizeof ".XXXXXX");
    if (!tmp)
        return DMSEC_ERR_NO_MEMORY;
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".XXXXXX", sizeof ".XXXXXX");
    int rc = DMSEC_OK;
    int fd = mkstemp(tmp); /* mode 0600 */
    if (fd < 0) {
        rc = DMSEC_ERR_STORE_IO;
    } else {
        close(fd);
        if (link(tmp, path) != 0 && errno != EEXIST) {
            /* No hard links here: create in place instead. */
            fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
            if (fd >= 0)
                close(fd);
            else if (errno != EEXIST)
                rc = DMSEC_ERR_STORE_IO;
        }
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

/* SQLite counts its allocations under one global mutex unless told not
 * to: with many request threads that mutex is the busiest lock of the
 * server. Only possible before SQLite initialises (else a harmless no-op). */
static pthread_once_t sqlite_config_once = PTHREAD_ONCE_INIT;

static void sqlite_config(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int dmsec_store_open(const char *uri, dmsec_store_t **out)
{
    return dmsec_store_open_flags(uri, 0, out);
}

int dmsec_store_open_flags(const char *uri, unsigned flags, dmsec_store_t **out)
{
    if (!uri || !out || (flags & ~(DMSEC_STORE_OPEN_EXISTING | DMSEC_STORE_OPEN_READ_ONLY)))
        return DMSEC_ERR_INVALID_ARG;
    /* Read only implies existing: nothing may be created. */
    if (flags & DMSEC_STORE_OPEN_READ_ONLY)
        flags |= DMSEC_STORE_OPEN_EXISTING;
    pthread_once(&sqlite_config_once, sqlite_config);
    *out = NULL;
    const char *path = NULL;
    int rc = uri_path(uri, &path);
    if (rc)
        return rc;
    /* This SQLite may read "file:..." names as URIs with options of their
     * own; "./" keeps such a relative name a plain file name. */
    char *fixed = NULL;
    if (!strncmp(path, "file:", 5)) {
        size_t n = strlen(path);
        fixed = malloc(n + 3);
        if (!fixed)
            return DMSEC_ERR_NO_MEMORY;
        memcpy(fixed, "./", 2);
        memcpy(fixed + 2, path, n + 1);
        path = fixed;
    }
    dmsec_store_t *st = calloc(1, sizeof *st);
    if (!st) {
        free(fixed);
        return DMSEC_ERR_NO_MEMORY;
    }
    int existing = (flags & DMSEC_STORE_OPEN_EXISTING) != 0;
    int read_only = (flags & DMSEC_STORE_OPEN_READ_ONLY) != 0;
    struct stat sb;
    if (existing && (!strcmp(path, ":memory:") || stat(path, &sb) != 0))
        rc = DMSEC_ERR_STORE_NOT_FOUND;
    else if (existing && (!S_ISREG(sb.st_mode) || sb.st_size == 0))
        rc = DMSEC_ERR_STORE_CORRUPT; /* a directory, a pipe, an empty file */
    else if (!existing)
        rc = create_private(path);
    if (!rc) {
        int oflags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
        oflags |= read_only ? SQLITE_OPEN_READONLY
                            : SQLITE_OPEN_READWRITE | (existing ? 0 : SQLITE_OPEN_CREATE);
        rc = dm_store_err(sqlite3_open_v2(path, &st->db, oflags, NULL));
    }
    free(fixed);
    if (!rc)
        rc = read_only ? dm_store_schema_check(st->db) : dm_store_schema_setup(st->db);
    if (!rc)
        rc = sfile_get(st->db, &st->sf);
    if (rc) {
        dmsec_store_close(st);
        return rc;
    }
    *out = st;
    return DMSEC_OK;
}

void dmsec_store_close(dmsec_store_t *st)
{
    if (!st)
        return;
    if (st->depth) {
        st->depth = 1;
        (void)tx_finish(st, 0); /* an open transaction is rolled back */
    }
    for (size_t i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    for (size_t i = 0; i < DM_STORE_MGMT_STMTS; i++)
        sqlite3_finalize(st->mstmt[i]);
    sqlite3_close_v2(st->db);
    sfile_put(st->sf);
    free(st);
}

/* ---- devices ---- */

static int scheme_ok(int64_t v)
{
    return v >= DMSEC_AUTH_BASIC && v <= DMSEC_AUTH_SHA256;
}

static int integrity_ok(int64_t v)
{
    return v >= DMSEC_INTEGRITY_NONE && v <= DMSEC_INTEGRITY_HMAC_SHA256;
}

static int device_valid(const dmsec_device_t *d)
{
    return d->device_id[0] && str_fits(d->device_id, sizeof d->device_id) &&
           str_fits(d->client_name, sizeof d->client_name) &&
           str_fits(d->notify_addr, sizeof d->notify_addr) &&
           str_fits(d->srvcred_path, sizeof d->srvcred_path) &&
           str_fits(d->cert_subject, sizeof d->cert_subject) && scheme_ok(d->client_scheme) &&
           scheme_ok(d->server_scheme) && integrity_ok(d->integrity) &&
           !(d->client_prehash.flags & ~(DMSEC_PREHASH_MD5 | DMSEC_PREHASH_SHA256)) &&
           !(d->server_prehash.flags & ~(DMSEC_PREHASH_MD5 | DMSEC_PREHASH_SHA256)) &&
           d->client_secret_len <= sizeof d->client_secret &&
           d->client_nonce_len <= sizeof d->client_nonce &&
           d->client_nonce_pending_len <= sizeof d->client_nonce_pending &&
           d->server_secret_len <= sizeof d->server_secret &&
           d->server_nonce_len <= sizeof d->server_nonce &&
           d->pending_secret_len <= sizeof d->pending_secret;
}

/* A pre-hash as three columns: flags, then the digests present (NULL for
 * an absent one). */
static int bind_prehash(sqlite3_stmt *s, int i, const dmsec_prehash_t *ph)
{
    int rc = bind_i64(s, i, ph->flags);
    if (!rc && (ph->flags & DMSEC_PREHASH_MD5))
        rc = bind_blob(s, i + 1, ph->md5, sizeof ph->md5);
    if (!rc && (ph->flags & DMSEC_PREHASH_SHA256))
        rc = bind_blob(s, i + 2, ph->sha256, sizeof ph->sha256);
    return rc;
}

static int col_prehash(sqlite3_stmt *s, int i, dmsec_prehash_t *ph)
{
    sqlite3_int64 flags = sqlite3_column_int64(s, i);
    size_t n = 0;
    if (flags & ~(sqlite3_int64)(DMSEC_PREHASH_MD5 | DMSEC_PREHASH_SHA256))
        return DMSEC_ERR_STORE_CORRUPT;
    ph->flags = (unsigned)flags;
    if (flags & DMSEC_PREHASH_MD5) {
        int rc = col_blob(s, i + 1, ph->md5, sizeof ph->md5, &n);
        if (rc || n != sizeof ph->md5)
            return rc ? rc : DMSEC_ERR_STORE_CORRUPT;
    }
    if (flags & DMSEC_PREHASH_SHA256) {
        int rc = col_blob(s, i + 2, ph->sha256, sizeof ph->sha256, &n);
        if (rc || n != sizeof ph->sha256)
            return rc ? rc : DMSEC_ERR_STORE_CORRUPT;
    }
    return DMSEC_OK;
}

/* Reads the DEV_COLS of the current row; out is wiped on error. */
static int col_device(sqlite3_stmt *s, dmsec_device_t *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_int64 cs = sqlite3_column_int64(s, 2);
    sqlite3_int64 ss = sqlite3_column_int64(s, 8);
    sqlite3_int64 in = sqlite3_column_int64(s, 15);
    int rc =
        scheme_ok(cs) && scheme_ok(ss) && integrity_ok(in) ? DMSEC_OK : DMSEC_ERR_STORE_CORRUPT;
    if (!rc)
        rc = col_text(s, 0, out->device_id, sizeof out->device_id, 1);
    if (!rc)
        rc = col_text(s, 1, out->client_name, sizeof out->client_name, 0);
    if (!rc)
        rc = col_prehash(s, 3, &out->client_prehash);
    if (!rc)
        rc = col_blob(s, 6, out->client_secret, sizeof out->client_secret, &out->client_secret_len);
    if (!rc)
        rc = col_blob(s, 7, out->client_nonce, sizeof out->client_nonce, &out->client_nonce_len);
    if (!rc)
        rc = col_prehash(s, 9, &out->server_prehash);
    if (!rc)
        rc =
            col_blob(s, 12, out->server_secret, sizeof out->server_secret, &out->server_secret_len);
    if (!rc)
        rc = col_blob(s, 13, out->server_nonce, sizeof out->server_nonce, &out->server_nonce_len);
    if (!rc)
        rc = col_blob(s, 14, out->pending_secret, sizeof out->pending_secret,
                      &out->pending_secret_len);
    if (!rc)
        rc = col_text(s, 16, out->notify_addr, sizeof out->notify_addr, 0);
    if (!rc)
        rc = col_text(s, 17, out->srvcred_path, sizeof out->srvcred_path, 0);
    if (!rc)
        rc = col_text(s, 18, out->cert_subject, sizeof out->cert_subject, 0);
    if (!rc)
        rc = col_blob(s, 20, out->client_nonce_pending, sizeof out->client_nonce_pending,
                      &out->client_nonce_pending_len);
    if (rc) {
        dm_wipe(out, sizeof *out);
        return rc;
    }
    out->client_scheme = (dmsec_auth_scheme_t)cs;
    out->server_scheme = (dmsec_auth_scheme_t)ss;
    out->integrity = (dmsec_integrity_t)in;
    out->created = sqlite3_column_int64(s, 19);
    return DMSEC_OK;
}

/* The columns a device record and its update share, by the numbers of
 * Q_DEV_ADD (the update statement uses the same ones). */
static int bind_device(sqlite3_stmt *s, const dmsec_device_t *dev)
{
    int rc = bind_str(s, 1, dev->device_id);
    if (!rc)
        rc = bind_str(s, 2, dev->client_name);
    if (!rc)
        rc = bind_i64(s, 3, dev->client_scheme);
    if (!rc)
        rc = bind_prehash(s, 4, &dev->client_prehash);
    if (!rc)
        rc = bind_blob(s, 7, dev->client_secret, dev->client_secret_len);
    if (!rc)
        rc = bind_i64(s, 9, dev->server_scheme);
    if (!rc)
        rc = bind_prehash(s, 10, &dev->server_prehash);
    if (!rc)
        rc = bind_blob(s, 13, dev->server_secret, dev->server_secret_len);
    if (!rc)
        rc = bind_i64(s, 16, dev->integrity);
    if (!rc)
        rc = bind_str(s, 17, dev->notify_addr);
    if (!rc)
        rc = bind_str(s, 18, dev->srvcred_path);
    if (!rc)
        rc = bind_str(s, 19, dev->cert_subject);
    return rc;
}

int dmsec_store_device_add(dmsec_store_t *st, const dmsec_device_t *dev)
{
    if (!st || !dev || !device_valid(dev))
        return DMSEC_ERR_INVALID_ARG;
    sqlite3_stmt *s = NULL;
    int rc = stmt_get(st, Q_DEV_ADD, &s);
    if (rc)
        return rc;
    rc = bind_device(s, dev);
    if (!rc)
        rc = bind_blob(s, 8, dev->client_nonce, dev->client_nonce_len);
    if (!rc)
        rc = bind_blob(s, 14, dev->server_nonce, dev->server_nonce_len);
    if (!rc)
        rc = bind_blob(s, 15, dev->pending_secret, dev->pending_secret_len);
    if (!rc)
        rc = bind_i64(s, 20, dev->created);
    /* No pending nonce is NULL, as a migrated row has it. */
    if (!rc && dev->client_nonce_pending_len)
        rc = bind_blob(s, 21, dev->client_nonce_pending, dev->client_nonce_pending_len);
    if (rc) {
        stmt_done(s);
        return rc;
    }
    return write_run(st, s);
}

/* Runs a one-row device query bound to key. */
static int device_one(dmsec_store_t *st, int q, const char *key, dmsec_device_t *out)
{
    sqlite3_stmt *s = NULL;
    int rc = stmt_get(st, q, &s);
    if (rc)
        return rc;
    rc = step_row(s, bind_str(s, 1, key));
    if (!rc)
        rc = col_device(s, out);
    stmt_done(s);
    return rc;
}

int dmsec_store_device_get(dmsec_store_t *st, const char *device_id, dmsec_device_t *out)
{
    if (!st || !out || !id_ok(device_id))
        return !st || !out || !device_id ? DMSEC_ERR_INVALID_ARG : DMSEC_ERR_STORE_NOT_FOUND;
    return device_one(st, Q_DEV_GET, device_id, out);
}

int dmsec_store_device_by_cert(dmsec_store_t *st, const char *subject, dmsec_device_t *out)
{
    if (!st || !subject || !out)
        return DMSEC_ERR_INVALID_ARG;
    /* An empty subject is "no certificate": it names no device. */
    if (!subject[0] || !str_fits(subject, DMSEC_NAME_MAX))
        return DMSEC_ERR_STORE_NOT_FOUND;
    return device_one(st, Q_DEV_BY_CERT, subject, out);
}

static int read_device(void *batch, sqlite3_stmt *s, size_t i)
{
    return col_device(s, (dmsec_device_t *)batch + i);
}

/* Devices by id after `after`, whose id starts with prefix (NULL: any), at
 * most limit (0: all), in batches. */
static int device_walk(dmsec_store_t *st, const char *after, const char *prefix, size_t limit,
                       int (*fn)(void *ctx, const dmsec_device_t *dev), void *ctx)
{
    dmsec_device_t *batch = calloc(LIST_BATCH, sizeof *batch);
    if (!batch)
        return DMSEC_ERR_NO_MEMORY;
    char last[DMSEC_STORE_ID_MAX] = "";
    if (after)
        memcpy(last, after, strlen(after) + 1);
    size_t left = limit ? limit : SIZE_MAX;
    int rc = DMSEC_OK;
    while (left) {
        size_t want = left < LIST_BATCH ? left : LIST_BATCH;
        sqlite3_stmt *s = NULL;
        size_t n = 0;
        rc = stmt_get(st, Q_DEV_LIST, &s);
        if (rc)
            break;
        rc = bind_str(s, 1, last);
        if (!rc)
            rc = bind_i64(s, 2, (int64_t)want);
        if (!rc && prefix)
            rc = bind_str(s, 3, prefix);
        rc = read_rows(s, rc, want, &n, read_device, batch);
        int stop = 0;
        for (size_t i = 0; !rc && !stop && i < n; i++)
            rc = cb_rc(fn(ctx, &batch[i]), &stop);
        left -= n;
        if (rc || stop || n < want)
            break;
        memcpy(last, batch[n - 1].device_id, sizeof last);
    }
    dm_wipe(batch, LIST_BATCH * sizeof *batch);
    free(batch);
    return rc;
}

int dmsec_store_device_list(dmsec_store_t *st, int (*fn)(void *ctx, const dmsec_device_t *dev),
                            void *ctx)
{
    if (!st || !fn)
        return DMSEC_ERR_INVALID_ARG;
    return device_walk(st, NULL, NULL, 0, fn, ctx);
}

int dmsec_store_device_page(dmsec_store_t *st, const char *after, const char *prefix, size_t limit,
                            int (*fn)(void *ctx, const dmsec_device_t *dev), void *ctx)
{
    if (!st || !fn || (after && !str_fits(after, DMSEC_STORE_ID_MAX)))
        return DMSEC_ERR_INVALID_ARG;
    if (prefix && !str_fits(prefix, DMSEC_STORE_ID_MAX))
        return DMSEC_OK; /* no device id is that long */
    return device_walk(st, after, prefix && prefix[0] ? prefix : NULL, limit, fn, ctx);
}

/* Runs a write bound to (key, then the binds of the caller) and maps "no
 * row changed" to DMSEC_ERR_STORE_NOT_FOUND. */
static int changed_one(dmsec_store_t *st, sqlite3_stmt *s, int rc)
{
    if (rc) {
        stmt_done(s);
        return rc;
    }
    rc = write_run(st, s);
    if (!rc && sqlite3_changes(st->db) == 0)
        rc = DMSEC_ERR_STORE_NOT_FOUND;
    return rc;
}

/* A statement on one device: the cached statement q with device_id bound
 * to ?1, in *s for the caller to bind the rest, run (changed_one,
 * step_row) and stmt_done. DMSEC_ERR_INVALID_ARG without a store or an
 * id, DMSEC_ERR_STORE_NOT_FOUND for an id no device can have; on an error
 * *s is NULL. */
static int device_stmt(dmsec_store_t *st, int q, const char *device_id, sqlite3_stmt **s)
{
    *s = NULL;
    if (!st || !device_id)
        return DMSEC_ERR_INVALID_ARG;
    if (!id_ok(device_id))
        return DMSEC_ERR_STORE_NOT_FOUND;
    int rc = stmt_get(st, q, s);
    if (!rc)
        rc = bind_str(*s, 1, device_id);
    if (rc && *s) {
        stmt_done(*s);
        *s = NULL;
    }
    return rc;
}

/* The write q on one device that binds nothing but its id. */
static int device_write(dmsec_store_t *st, int q, const char *device_id)
{
    sqlite3_stmt *s = NULL;
    int rc = device_stmt(st, q, device_id, &s);
    return rc ? rc : changed_one(st, s, DMSEC_OK);
}

int dmsec_store_device_remove(dmsec_store_t *st, const char *device_id)
{
    return device_write(st, Q_DEV_DEL, device_id);
}

/* ---- the device lifecycle (admin): every device, disabled or not ---- */

/* Prepares sql (admin statements are rare: not cached). */
static int admin_prepare(dmsec_store_t *st, const char *sql, sqlite3_stmt **s)
{
    *s = NULL;
    return dm_store_err(sqlite3_prepare_v2(st->db, sql, -1, s, NULL));
}

int dmsec_store_device_get_any(dmsec_store_t *st, const char *device_id, dmsec_device_t *out,
                               int *disabled)
{
    if (!st || !out || !device_id)
        return DMSEC_ERR_INVALID_ARG;
    if (!id_ok(device_id))
        return DMSEC_ERR_STORE_NOT_FOUND;
    sqlite3_stmt *s = NULL;
    int rc =
        admin_prepare(st, "SELECT " DEV_COLS ", disabled FROM devices WHERE device_id = ?1", &s);
    if (!rc)
        rc = step_row(s, bind_str(s, 1, device_id));
    if (!rc)
        rc = col_device(s, out);
    if (!rc && disabled)
        *disabled = sqlite3_column_int(s, 21) != 0;
    sqlite3_finalize(s);
    return rc;
}

int dmsec_store_device_set_disabled(dmsec_store_t *st, const char *device_id, int disabled)
{
    if (!st || !device_id)
        return DMSEC_ERR_INVALID_ARG;
    if (!id_ok(device_id))
        return DMSEC_ERR_STORE_NOT_FOUND;
    sqlite3_stmt *s = NULL;
    int rc = admin_prepare(st, "UPDATE devices SET disabled = ?2 WHERE device_id = ?1", &s);
    if (rc)
        return rc;
    rc = bind_str(s, 1, device_id);
    if (!rc)
        rc = bind_i64(s, 2, disabled ? 1 : 0);
    if (!rc)
        rc = write_run(st, s);
    if (!rc && sqlite3_changes(st->db) == 0)
        rc = DMSEC_ERR_STORE_NOT_FOUND;
    sqlite3_finalize(s);
    return rc;
}

int dmsec_store_device_update(dmsec_store_t *st, const dmsec_device_t *dev)
{
    if (!st || !dev || !device_valid(dev))
        return DMSEC_ERR_INVALID_ARG;
    sqlite3_stmt *s = NULL;
    /* Nonces, the pending secret and the creation time stay. */
    int rc = admin_prepare(st,
                           "UPDATE devices SET client_name = ?2, client_scheme = ?3,"
                           " client_ph_flags = ?4, client_ph_md5 = ?5, client_ph_sha256 = ?6,"
                           " client_secret = ?7, server_scheme = ?9, server_ph_flags = ?10,"
                           " server_ph_md5 = ?11, server_ph_sha256 = ?12, server_secret = ?13,"
                           " integrity = ?16, notify_addr = ?17, srvcred_path = ?18,"
                           " cert_subject = ?19 WHERE device_id = ?1",
                           &s);
    if (rc)
        return rc;
    rc = bind_device(s, dev);
    if (!rc)
        rc = write_run(st, s);
    if (!rc && sqlite3_changes(st->db) == 0)
        rc = DMSEC_ERR_STORE_NOT_FOUND;
    sqlite3_finalize(s);
    return rc;
}

int dmsec_store_server_id(dmsec_store_t *st, const char *want, char *out, size_t cap)
{
    if (!st || (want && (!want[0] || !str_fits(want, DMSEC_NAME_MAX))) || (out && cap == 0))
        return DMSEC_ERR_INVALID_ARG;
    sqlite3_stmt *s = NULL;
    int rc = DMSEC_OK;
    if (want) {
        /* Set once: a second writer with another id finds the first. */
        rc = admin_prepare(st, "INSERT OR IGNORE INTO meta (key, value) VALUES ('server_id', ?1)",
                           &s);
        if (!rc)
            rc = bind_str(s, 1, want);
        if (!rc)
            rc = write_run(st, s);
        sqlite3_finalize(s);
        s = NULL;
    }
    if (!rc)
        rc = admin_prepare(st, "SELECT value FROM meta WHERE key = 'server_id'", &s);
    if (!rc)
        rc = step_row(s, DMSEC_OK);
    if (!rc) {
        const char *v = (const char *)sqlite3_column_text(s, 0);
        if (!v)
            v = "";
        if (out)
            snprintf(out, cap, "%s", v);
        if (want && strcmp(v, want) != 0)
            rc = DMSEC_ERR_STORE_STATE;
    }
    sqlite3_finalize(s);
    return rc;
}

int dmsec_store_device_account(const dmsec_device_t *dev, const char *server_id,
                               dmsec_account_t *out)
{
    if (!dev || !server_id || !out || !server_id[0] || !str_fits(server_id, DMSEC_NAME_MAX) ||
        !device_valid(dev))
        return DMSEC_ERR_INVALID_ARG;
    memset(out, 0, sizeof *out);
    out->out_scheme = dev->server_scheme;
    memcpy(out->out_name, server_id, strlen(server_id) + 1);
    memcpy(out->out_secret, dev->server_secret, dev->server_secret_len);
    out->out_secret_len = dev->server_secret_len;
    out->out_prehash = dev->server_prehash;
    memcpy(out->out_nonce, dev->server_nonce, dev->server_nonce_len);
    out->out_nonce_len = dev->server_nonce_len;
    out->in_scheme = dev->client_scheme;
    memcpy(out->in_name, dev->client_name, strlen(dev->client_name) + 1);
    out->in_prehash = dev->client_prehash;
    memcpy(out->in_secret, dev->client_secret, dev->client_secret_len);
    out->in_secret_len = dev->client_secret_len;
    memcpy(out->in_nonce, dev->client_nonce, dev->client_nonce_len);
    out->in_nonce_len = dev->client_nonce_len;
    memcpy(out->in_nonce_pending, dev->client_nonce_pending, dev->client_nonce_pending_len);
    out->in_nonce_pending_len = dev->client_nonce_pending_len;
    out->integrity = dev->integrity;
    const char *path = dev->srvcred_path[0] ? dev->srvcred_path : DEFAULT_SRVCRED;
    memcpy(out->srvcred_path, path, strlen(path) + 1);
    /* The device's own credential is the sibling CLCRED of the SRVCRED
     * node (the AppAuth names of a dmsec bootstrap and agent); none when
     * the SRVCRED node is not named so. */
    size_t n = strlen(path);
    if (n >= 8 && !strcmp(path + n - 8, "/SRVCRED")) {
        memcpy(out->clcred_path, path, n - 7);
        memcpy(out->clcred_path + n - 7, "CLCRED", 7);
    }
    memcpy(out->out_secret_pending, dev->pending_secret, dev->pending_secret_len);
    out->out_secret_pending_len = dev->pending_secret_len;
    return DMSEC_OK;
}

/* ---- nonces and secrets ---- */

static int set_blob(dmsec_store_t *st, int q, const char *device_id, const uint8_t *p, size_t len,
                    size_t cap)
{
    if (!st || !device_id || (!p && len))
        return DMSEC_ERR_INVALID_ARG;
    if (len > cap)
        return DMSEC_ERR_TOO_LARGE;
    sqlite3_stmt *s = NULL;
    int rc = device_stmt(st, q, device_id, &s);
    return rc ? rc : changed_one(st, s, bind_blob(s, 2, p, len));
}

int dmsec_store_set_client_nonce(dmsec_store_t *st, const char *device_id, const uint8_t *nonce,
                                 size_t len)
{
    return set_blob(st, Q_CLIENT_NONCE, device_id, nonce, len, DMSEC_NONCE_MAX);
}

int dmsec_store_set_client_nonce_pending(dmsec_store_t *st, const char *device_id,
                                         const uint8_t *nonce, size_t len)
{
    return set_blob(st, Q_CLIENT_NONCE_PENDING, device_id, nonce, len, DMSEC_NONCE_MAX);
}

int dmsec_store_set_server_nonce(dmsec_store_t *st, const char *device_id, const uint8_t *nonce,
                                 size_t len)
{
    return set_blob(st, Q_SERVER_NONCE, device_id, nonce, len, DMSEC_NONCE_MAX);
}

int dmsec_store_secret_pending(dmsec_store_t *st, const char *device_id, const char *server_id,
                               const uint8_t *secret, size_t len)
{
    /* server_id is checked for symmetry with commit, which hashes it. */
    if (!server_id || !secret || !len)
        return DMSEC_ERR_INVALID_ARG;
    return set_blob(st, Q_PENDING_SET, device_id, secret, len, DMSEC_SECRET_MAX);
}

/* Writes a credential of one device with statement q: the pre-hashes of
 * secret under name (?2-?4) and, where keep_plain, the secret itself
 * (?5). */
static int credential_write(dmsec_store_t *st, int q, const char *device_id, const char *name,
                            const uint8_t *secret, size_t len, int keep_plain)
{
    dmsec_prehash_t ph;
    memset(&ph, 0, sizeof ph);
    sqlite3_stmt *s = NULL;
    int rc = dmsec_prehash_compute(name, secret, len, &ph);
    if (!rc)
        rc = device_stmt(st, q, device_id, &s);
    if (!rc) {
        rc = bind_prehash(s, 2, &ph);
        if (!rc && keep_plain)
            rc = bind_blob(s, 5, secret, len);
        rc = changed_one(st, s, rc);
    }
    dmsec_prehash_wipe(&ph);
    return rc;
}

/* Reads the pending secret and what decides whether its plaintext stays. */
static int pending_read(dmsec_store_t *st, const char *device_id, uint8_t *secret, size_t *len,
                        int *keep_plain)
{
    sqlite3_stmt *s = NULL;
    int rc = device_stmt(st, Q_PENDING_GET, device_id, &s);
    if (rc)
        return rc;
    rc = step_row(s, DMSEC_OK);
    if (!rc) {
        sqlite3_int64 scheme = sqlite3_column_int64(s, 0);
        sqlite3_int64 integrity = sqlite3_column_int64(s, 1);
        *keep_plain = scheme == DMSEC_AUTH_BASIC || integrity == DMSEC_INTEGRITY_HMAC_SHA256;
        rc = col_blob(s, 2, secret, DMSEC_SECRET_MAX, len);
        if (!rc && *len == 0)
            rc = DMSEC_ERR_STORE_NOT_FOUND; /* nothing to commit */
    }
    stmt_done(s);
    return rc;
}

int dmsec_store_secret_commit(dmsec_store_t *st, const char *device_id, const char *server_id)
{
    if (!st || !device_id || !server_id || !server_id[0])
        return DMSEC_ERR_INVALID_ARG;
    uint8_t secret[DMSEC_SECRET_MAX];
    size_t len = 0;
    int keep_plain = 0;
    int rc = tx_begin(st);
    if (rc)
        return rc;
    rc = pending_read(st, device_id, secret, &len, &keep_plain);
    if (!rc)
        rc = credential_write(st, Q_SECRET_SET, device_id, server_id, secret, len, keep_plain);
    rc = tx_end(st, rc);
    dm_wipe(secret, sizeof secret);
    return rc;
}

/* ---- secret rotation ---- */

int dmsec_store_rotation_request(dmsec_store_t *st, const char *device_id, unsigned sides)
{
    if (!sides || (sides & ~(DMSEC_ROTATE_CLIENT | DMSEC_ROTATE_SERVER)))
        return DMSEC_ERR_INVALID_ARG;
    sqlite3_stmt *s = NULL;
    int rc = device_stmt(st, Q_ROT_REQUEST, device_id, &s);
    return rc ? rc : changed_one(st, s, bind_i64(s, 2, (int64_t)sides));
}

int dmsec_store_rotation_get(dmsec_store_t *st, const char *device_id, dmsec_rotation_t *out)
{
    if (!out)
        return DMSEC_ERR_INVALID_ARG;
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = NULL;
    int rc = device_stmt(st, Q_ROT_GET, device_id, &s);
    if (rc)
        return rc;
    rc = step_row(s, DMSEC_OK);
    if (!rc) {
        sqlite3_int64 req = sqlite3_column_int64(s, 0);
        out->requested = (unsigned)(req & (DMSEC_ROTATE_CLIENT | DMSEC_ROTATE_SERVER));
        if (sqlite3_column_int64(s, 1))
            out->pending |= DMSEC_ROTATE_SERVER;
        rc = col_prehash(s, 2, &out->client_prehash);
        if (!rc && out->client_prehash.flags)
            out->pending |= DMSEC_ROTATE_CLIENT;
        if (!rc)
            rc = col_blob(s, 5, out->client_secret, sizeof out->client_secret,
                          &out->client_secret_len);
    }
    stmt_done(s);
    if (rc)
        dmsec_store_rotation_wipe(out);
    return rc;
}

void dmsec_store_rotation_wipe(dmsec_rotation_t *r)
{
    if (r)
        dm_wipe(r, sizeof *r);
}

void dmsec_store_rotation_account(const dmsec_rotation_t *r, dmsec_account_t *acc)
{
    if (!r || !acc || !(r->pending & DMSEC_ROTATE_CLIENT))
        return;
    acc->in_pending = 1;
    acc->in_prehash_pending = r->client_prehash;
    memcpy(acc->in_secret_pending, r->client_secret, r->client_secret_len);
    acc->in_secret_pending_len = r->client_secret_len;
}

/* Reads the device's name (what its pre-hashes are of) and whether its
 * secret itself is kept: as for the current credential, only where the key
 * is the secret (HMAC-SHA256). */
static int client_cred_read(dmsec_store_t *st, const char *device_id, char *name, size_t cap,
                            int *keep_plain)
{
    sqlite3_stmt *s = NULL;
    int rc = device_stmt(st, Q_CPEND_INFO, device_id, &s);
    if (rc)
        return rc;
    rc = step_row(s, DMSEC_OK);
    if (!rc)
        rc = col_text(s, 0, name, cap, 0);
    if (!rc)
        *keep_plain = sqlite3_column_int64(s, 2) == DMSEC_INTEGRITY_HMAC_SHA256;
    stmt_done(s);
    return rc;
}

int dmsec_store_client_secret_pending(dmsec_store_t *st, const char *device_id,
                                      const uint8_t *secret, size_t len)
{
    if (!st || !device_id || !secret || !len)
        return DMSEC_ERR_INVALID_ARG;
    if (len > DMSEC_SECRET_MAX)
        return DMSEC_ERR_TOO_LARGE;
    char name[DMSEC_NAME_MAX];
    int keep_plain = 0;
    int rc = tx_begin(st);
    if (rc)
        return rc;
    rc = client_cred_read(st, device_id, name, sizeof name, &keep_plain);
    if (!rc)
        rc = credential_write(st, Q_CPEND_SET, device_id, name, secret, len, keep_plain);
    return tx_end(st, rc);
}

int dmsec_store_client_secret_commit(dmsec_store_t *st, const char *device_id)
{
    return device_write(st, Q_CPEND_COMMIT, device_id);
}

/* ---- notifications ---- */

static int col_notification(sqlite3_stmt *s, dmsec_notification_t *out, int64_t *id)
{
    memset(out, 0, sizeof *out);
    int rc = col_text(s, 0, out->device_id, sizeof out->device_id, 1);
    sqlite3_int64 sid = sqlite3_column_int64(s, 1);
    if (!rc && (sid < 1 || sid > 0xFFFF))
        rc = DMSEC_ERR_STORE_CORRUPT;
    if (rc)
        return rc;
    out->session_id = (uint16_t)sid;
    out->default_nonce = sqlite3_column_int64(s, 2) != 0;
    out->sent = sqlite3_column_int64(s, 3);
    out->expires = sqlite3_column_int64(s, 4);
    out->opened = sqlite3_column_int64(s, 5) != 0;
    out->consumed = sqlite3_column_int64(s, 6) != 0;
    out->attempts = col_int(s, 7);
    *id = sqlite3_column_int64(s, 8);
    return DMSEC_OK;
}

int dmsec_store_notification_put(dmsec_store_t *st, const dmsec_notification_t *n)
{
    if (!st || !n || !n->session_id || !n->device_id[0] ||
        !str_fits(n->device_id, sizeof n->device_id))
        return DMSEC_ERR_INVALID_ARG;
    sqlite3_stmt *s = NULL;
    int rc = stmt_get(st, Q_N_PUT, &s);
    if (rc)
        return rc;
    rc = bind_str(s, 1, n->device_id);
    if (!rc)
        rc = bind_i64(s, 2, n->session_id);
    if (!rc)
        rc = bind_i64(s, 3, n->default_nonce ? 1 : 0);
    if (!rc)
        rc = bind_i64(s, 4, n->sent);
    if (!rc)
        rc = bind_i64(s, 5, n->expires);
    if (rc) {
        stmt_done(s);
        return rc;
    }
    /* An unknown device fails the foreign key: DMSEC_ERR_STORE_NOT_FOUND. */
    return write_run(st, s);
}

int dmsec_store_notification_pending(dmsec_store_t *st, const char *device_id, int64_t now,
                                     dmsec_notification_t *out)
{
    if (!st || !device_id || !out)
        return DMSEC_ERR_INVALID_ARG;
    if (!id_ok(device_id))
        return DMSEC_ERR_STORE_NOT_FOUND;
    sqlite3_stmt *s = NULL;
    int rc = stmt_get(st, Q_N_PENDING, &s);
    if (rc)
        return rc;
    rc = bind_str(s, 1, device_id);
    if (!rc)
        rc = bind_i64(s, 2, now);
    rc = step_row(s, rc);
    if (!rc) {
        int64_t id = 0;
        rc = col_notification(s, out, &id);
    }
    stmt_done(s);
    return rc;
}

int dmsec_store_new_session_id(dmsec_store_t *st, const char *device_id, const uint8_t rnd[2],
                               uint16_t *out)
{
    if (!st || !device_id || !rnd || !out || !id_ok(device_id))
        return DMSEC_ERR_INVALID_ARG;
    /* One query for the ids in use, then a walk over a bitmap. */
    uint8_t *used = calloc(8192, 1);
    if (!used)
        return DMSEC_ERR_NO_MEMORY;
    sqlite3_stmt *s = NULL;
    int rc = stmt_get(st, Q_N_USED, &s);
    if (!rc)
        rc = bind_str(s, 1, device_id);
    while (!rc) {
        int src = sqlite3_step(s);
        if (src != SQLITE_ROW) {
            rc = src == SQLITE_DONE ? DMSEC_OK : dm_store_err(src);
            break;
        }
        sqlite3_int64 v = sqlite3_column_int64(s, 0);
        if (v >= 1 && v <= 0xFFFF)
            used[v >> 3] |= (uint8_t)(1u << (v & 7));
    }
    if (s)
        stmt_done(s);
    if (!rc) {
        unsigned id = ((unsigned)rnd[0] << 8) | rnd[1];
        rc = DMSEC_ERR_STORE_EXISTS; /* every id taken */
        for (unsigned tries = 0; tries < 0xFFFF; tries++) {
            if (id == 0)
                id = 1;
            if (!(used[id >> 3] & (1u << (id & 7)))) {
                *out = (uint16_t)id;
                rc = DMSEC_OK;
                break;
            }
            id = (id + 1) & 0xFFFF;
        }
    }
    free(used);
    return rc;
}

int dmsec_store_notification_opened(dmsec_store_t *st, const char *device_id, uint16_t session_id)
{
    if (!st || !device_id)
        return DMSEC_ERR_INVALID_ARG;
    if (!id_ok(device_id) || !session_id)
        return DMSEC_ERR_STORE_NOT_FOUND;
    sqlite3_stmt *s = NULL;
    int rc = stmt_get(st, Q_N_OPENED, &s);
    if (rc)
        return rc;
    rc = bind_str(s, 1, device_id);
    if (!rc)
        rc = bind_i64(s, 2, session_id);
    return changed_one(st, s, rc);
}

typedef struct {
    dmsec_notification_t *batch;
    int64_t last_sent;
    int64_t last_id;
} nwalk_t;

static int read_notification(void *ctx, sqlite3_stmt *s, size_t i)
{
    nwalk_t *w = ctx;
    int64_t id = 0;
    int rc = col_notification(s, &w->batch[i], &id);
    if (!rc) {
        w->last_sent = w->batch[i].sent;
        w->last_id = id;
    }
    return rc;
}

/* The keyset walk shared by the two notification listings: rows ordered by
 * (sent, id), read LIST_BATCH at a time. */
static int notification_walk(dmsec_store_t *st, int q, const char *device_id, int64_t before,
                             int64_t now, int (*fn)(void *ctx, const dmsec_notification_t *n),
                             void *ctx)
{
    dmsec_notification_t batch[LIST_BATCH];
    nwalk_t w = {batch, INT64_MIN, INT64_MIN};
    int rc = DMSEC_OK;
    for (;;) {
        sqlite3_stmt *s = NULL;
        size_t n = 0;
        rc = stmt_get(st, q, &s);
        if (rc)
            break;
        int k = 1;
        if (device_id) {
            rc = bind_str(s, k++, device_id);
        } else {
            rc = bind_i64(s, k++, before);
            if (!rc)
                rc = bind_i64(s, k++, now);
        }
        if (!rc)
            rc = bind_i64(s, k++, w.last_sent);
        if (!rc)
            rc = bind_i64(s, k++, w.last_id);
        if (!rc)
            rc = bind_i64(s, k, LIST_BATCH);
        rc = read_rows(s, rc, LIST_BATCH, &n, read_notification, &w);
        int stop = 0;
        for (size_t i = 0; !rc && !stop && i < n; i++)
            rc = cb_rc(fn(ctx, &batch[i]), &stop);
        if (rc || stop || n < LIST_BATCH)
            break;
    }
    return rc;
}

int dmsec_store_notification_overdue(dmsec_store_t *st, int64_t before, int64_t now,
                                     int (*fn)(void *ctx, const dmsec_notification_t *n), void *ctx)
{
    if (!st || !fn)
        return DMSEC_ERR_INVALID_ARG;
    return notification_walk(st, Q_N_OVERDUE, NULL, before, now, fn, ctx);
}

int dmsec_store_notification_list(dmsec_store_t *st, const char *device_id,
                                  int (*fn)(void *ctx, const dmsec_notification_t *n), void *ctx)
{
    if (!st || !device_id || !fn)
        return DMSEC_ERR_INVALID_ARG;
    if (!id_ok(device_id))
        return DMSEC_OK; /* no such device, so nothing to list */
    return notification_walk(st, Q_N_LIST, device_id, 0, 0, fn, ctx);
}

/* The session id as dmsec_pkg0_session_id_text writes it: 1 to 4
 * uppercase hex digits, no leading zero. Any other spelling names another
 * SyncML session, so it does not match. */
static int session_id_parse(const char *text, uint16_t *out)
{
    size_t n = strnlen(text, 5);
    if (n < 1 || n > 4 || text[0] == '0')
        return 0;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = text[i];
        unsigned d = 0;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return 0;
        v = v * 16 + d;
    }
    *out = (uint16_t)v;
    return 1;
}

static int resync_run(dmsec_store_t *st, int q, const char *device_id, const char *session_id,
                      int64_t now)
{
    if (!st || !device_id || !session_id)
        return DMSEC_ERR_INVALID_ARG;
    uint16_t sid = 0;
    if (!id_ok(device_id) || !session_id_parse(session_id, &sid))
        return 0;
    sqlite3_stmt *s = NULL;
    int rc = stmt_get(st, q, &s);
    if (rc)
        return rc;
    rc = bind_str(s, 1, device_id);
    if (!rc)
        rc = bind_i64(s, 2, sid);
    if (!rc)
        rc = bind_i64(s, 3, now);
    if (rc) {
        stmt_done(s);
        return rc;
    }
    if (q == Q_RESYNC_CONSUME) {
        rc = write_run(st, s);
        return rc ? rc : sqlite3_changes(st->db) == 1 ? 1 : 0;
    }
    int src = sqlite3_step(s);
    stmt_done(s);
    return src == SQLITE_ROW ? 1 : src == SQLITE_DONE ? 0 : dm_store_err(src);
}

int dmsec_store_resync_outstanding(dmsec_store_t *st, const char *device_id, const char *session_id,
                                   int64_t now)
{
    return resync_run(st, Q_RESYNC_OUT, device_id, session_id, now);
}

int dmsec_store_resync_consume(dmsec_store_t *st, const char *device_id, const char *session_id,
                               int64_t now)
{
    return resync_run(st, Q_RESYNC_CONSUME, device_id, session_id, now);
}

/* ---- sessions and audit ---- */

int dmsec_store_session_begin(dmsec_store_t *st, const char *device_id, const char *session_id,
                              const char *peer, int64_t now, int64_t *rec_id)
{
    if (!st || !device_id || !session_id || !rec_id)
        return DMSEC_ERR_INVALID_ARG;
    sqlite3_stmt *s = NULL;
    int rc = stmt_get(st, Q_S_BEGIN, &s);
    if (rc)
        return rc;
    rc = bind_fit(s, 1, device_id, FIELD_SIZE(dmsec_session_rec_t, device_id));
    if (!rc)
        rc = bind_fit(s, 2, session_id, FIELD_SIZE(dmsec_session_rec_t, session_id));
    if (!rc)
        rc = bind_fit(s, 3, peer, FIELD_SIZE(dmsec_session_rec_t, peer));
    if (!rc)
        rc = bind_i64(s, 4, now);
    if (rc) {
        stmt_done(s);
        return rc;
    }
    rc = write_run(st, s);
    if (!rc)
        *rec_id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

int dmsec_store_session_end(dmsec_store_t *st, int64_t rec_id, int result, int messages,
                            int64_t now)
{
    if (!st)
        return DMSEC_ERR_INVALID_ARG;
    sqlite3_stmt *s = NULL;
    int rc = stmt_get(st, Q_S_END, &s);
    if (rc)
        return rc;
    rc = bind_i64(s, 1, rec_id);
    if (!rc)
        rc = bind_i64(s, 2, now);
    if (!rc)
        rc = bind_i64(s, 3, result);
    if (!rc)
        rc = bind_i64(s, 4, messages);
    return changed_one(st, s, rc);
}

static int col_session(sqlite3_stmt *s, dmsec_session_rec_t *r)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(s, 0);
    int rc = col_text(s, 1, r->device_id, sizeof r->device_id, 0);
    if (!rc)
        rc = col_text(s, 2, r->session_id, sizeof r->session_id, 0);
    if (!rc)
        rc = col_text(s, 3, r->peer, sizeof r->peer, 0);
    r->started = sqlite3_column_int64(s, 4);
    r->ended = sqlite3_column_int64(s, 5);
    r->result = col_int(s, 6);
    r->messages = col_int(s, 7);
    return rc;
}

static int col_audit(sqlite3_stmt *s, dmsec_audit_rec_t *r)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(s, 0);
    r->at = sqlite3_column_int64(s, 1);
    int rc = col_text(s, 2, r->device_id, sizeof r->device_id, 0);
    if (!rc)
        rc = col_text(s, 3, r->event, sizeof r->event, 0);
    if (!rc)
        rc = col_text(s, 4, r->detail, sizeof r->detail, 0);
    return rc;
}

/* Newest first, keyed on (time, id) descending; one walker for sessions
 * and audit records (both start with id, and the time column is given). */
typedef struct {
    int q;
    int time_col;
    size_t rec_size;
    int (*read)(sqlite3_stmt *s, void *rec);
    int (*fn)(void *ctx, const void *rec);
    void *ctx;
} newest_walk_t;

typedef struct {
    const newest_walk_t *w;
    unsigned char *batch;
    int64_t last_time;
    int64_t last_id;
} newest_pos_t;

static int read_newest(void *ctx, sqlite3_stmt *s, size_t i)
{
    newest_pos_t *p = ctx;
    int rc = p->w->read(s, p->batch + i * p->w->rec_size);
    if (!rc) {
        p->last_id = sqlite3_column_int64(s, 0);
        p->last_time = sqlite3_column_int64(s, p->w->time_col);
    }
    return rc;
}

static int newest_walk(dmsec_store_t *st, const newest_walk_t *w, const char *device_id,
                       size_t offset, size_t limit)
{
    unsigned char *batch = calloc(LIST_BATCH, w->rec_size);
    if (!batch)
        return DMSEC_ERR_NO_MEMORY;
    newest_pos_t pos = {w, batch, INT64_MAX, INT64_MAX};
    size_t left = limit ? limit : SIZE_MAX;
    int rc = DMSEC_OK;
    while (left) {
        size_t want = left < LIST_BATCH ? left : LIST_BATCH;
        sqlite3_stmt *s = NULL;
        size_t n = 0;
        rc = stmt_get(st, w->q, &s);
        if (rc)
            break;
        rc = bind_i64(s, 1, pos.last_time);
        if (!rc)
            rc = bind_i64(s, 2, pos.last_id);
        if (!rc)
            rc = bind_i64(s, 3, (int64_t)want);
        if (!rc && device_id)
            rc = bind_str(s, 4, device_id);
        /* The offset skips rows of the first batch only: later ones go on
         * from the last row read. */
        if (!rc)
            rc = bind_i64(s, 5, size_i64(offset));
        offset = 0;
        rc = read_rows(s, rc, want, &n, read_newest, &pos);
        int stop = 0;
        for (size_t i = 0; !rc && !stop && i < n; i++)
            rc = cb_rc(w->fn(w->ctx, batch + i * w->rec_size), &stop);
        left -= n;
        if (rc || stop || n < want)
            break;
    }
    free(batch);
    return rc;
}

/* Adapters from the typed callbacks of the contract to the walker. */
typedef struct {
    int (*session_fn)(void *ctx, const dmsec_session_rec_t *r);
    int (*audit_fn)(void *ctx, const dmsec_audit_rec_t *r);
    void *ctx;
} typed_cb_t;

static int read_session(sqlite3_stmt *s, void *rec)
{
    return col_session(s, rec);
}

static int read_audit(sqlite3_stmt *s, void *rec)
{
    return col_audit(s, rec);
}

static int call_session(void *ctx, const void *rec)
{
    const typed_cb_t *t = ctx;
    return t->session_fn(t->ctx, rec);
}

static int call_audit(void *ctx, const void *rec)
{
    const typed_cb_t *t = ctx;
    return t->audit_fn(t->ctx, rec);
}

int dmsec_store_session_list(dmsec_store_t *st, size_t limit,
                             int (*fn)(void *ctx, const dmsec_session_rec_t *r), void *ctx)
{
    if (!st || !fn)
        return DMSEC_ERR_INVALID_ARG;
    typed_cb_t t = {fn, NULL, ctx};
    newest_walk_t w = {Q_S_LIST, 4, sizeof(dmsec_session_rec_t), read_session, call_session, &t};
    return newest_walk(st, &w, NULL, 0, limit);
}

int dmsec_store_session_list_device(dmsec_store_t *st, const char *device_id, size_t offset,
                                    size_t limit,
                                    int (*fn)(void *ctx, const dmsec_session_rec_t *r), void *ctx)
{
    if (!st || !fn)
        return DMSEC_ERR_INVALID_ARG;
    typed_cb_t t = {fn, NULL, ctx};
    newest_walk_t w = {Q_S_LIST, 4, sizeof(dmsec_session_rec_t), read_session, call_session, &t};
    return newest_walk(st, &w, device_id, offset, limit);
}

int dmsec_store_audit(dmsec_store_t *st, int64_t now, const char *device_id, const char *event,
                      const char *detail)
{
    if (!st || !event || !event[0])
        return DMSEC_ERR_INVALID_ARG;
    sqlite3_stmt *s = NULL;
    int rc = stmt_get(st, Q_A_ADD, &s);
    if (rc)
        return rc;
    rc = bind_i64(s, 1, now);
    if (!rc)
        rc = bind_fit(s, 2, device_id, FIELD_SIZE(dmsec_audit_rec_t, device_id));
    if (!rc)
        rc = bind_fit(s, 3, event, FIELD_SIZE(dmsec_audit_rec_t, event));
    if (!rc)
        rc = bind_fit(s, 4, detail, FIELD_SIZE(dmsec_audit_rec_t, detail));
    if (rc) {
        stmt_done(s);
        return rc;
    }
    return write_run(st, s);
}

int dmsec_store_audit_list(dmsec_store_t *st, size_t limit,
                           int (*fn)(void *ctx, const dmsec_audit_rec_t *r), void *ctx)
{
    if (!st || !fn)
        return DMSEC_ERR_INVALID_ARG;
    typed_cb_t t = {NULL, fn, ctx};
    newest_walk_t w = {Q_A_LIST, 1, sizeof(dmsec_audit_rec_t), read_audit, call_audit, &t};
    return newest_walk(st, &w, NULL, 0, limit);
}

int dmsec_store_audit_list_device(dmsec_store_t *st, const char *device_id, size_t offset,
                                  size_t limit, int (*fn)(void *ctx, const dmsec_audit_rec_t *r),
                                  void *ctx)
{
    if (!st || !fn)
        return DMSEC_ERR_INVALID_ARG;
    typed_cb_t t = {NULL, fn, ctx};
    newest_walk_t w = {Q_A_LIST, 1, sizeof(dmsec_audit_rec_t), read_audit, call_audit, &t};
    return newest_walk(st, &w, device_id, offset, limit);
}

/* ---- DM 1.3 replay cache ---- */

static int64_t sub_sat(int64_t a, int64_t b)
{
    if (b > 0 && a < INT64_MIN + b)
        return INT64_MIN;
    return a - b;
}

int dmsec_store_mac_seen(dmsec_store_t *st, const char *mac, int64_t timestamp, int64_t now,
                         int64_t keep)
{
    if (!st || !mac || !mac[0] || !str_fits(mac, MAC_MAX) || keep <= 0)
        return DMSEC_ERR_INVALID_ARG;
    sqlite3_stmt *s = NULL;
    int rc = DMSEC_OK;
    if (st->mac_calls++ % MAC_PRUNE_EVERY == 0) {
        /* Best effort: a failed prune is retried later and does not stop
         * the replay check, which is what matters. */
        if (!stmt_get(st, Q_MAC_PRUNE, &s)) {
            if (!bind_i64(s, 1, sub_sat(now, keep)))
                (void)write_run(st, s);
            else
                stmt_done(s);
        }
    }
    rc = stmt_get(st, Q_MAC_ADD, &s);
    if (rc)
        return rc;
    rc = bind_str(s, 1, mac);
    if (!rc)
        rc = bind_i64(s, 2, timestamp);
    if (!rc)
        rc = bind_i64(s, 3, now);
    if (rc) {
        stmt_done(s);
        return rc;
    }
    rc = write_run(st, s);
    if (rc)
        return rc;
    return sqlite3_changes(st->db) == 0 ? 1 : 0;
}

/* ---- for mgmt.c (store_sqlite.h) ---- */

int dm_store_mstmt(dmsec_store_t *st, int q, const char *sql, sqlite3_stmt **out)
{
    if (q < 0 || q >= DM_STORE_MGMT_STMTS)
        return DMSEC_ERR_INVALID_ARG;
    if (!st->mstmt[q]) {
        int rc =
            sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->mstmt[q], NULL);
        if (rc != SQLITE_OK) {
            st->mstmt[q] = NULL;
            return dm_store_err(rc);
        }
    }
    *out = st->mstmt[q];
    return DMSEC_OK;
}

sqlite3 *dm_store_db(dmsec_store_t *st)
{
    return st->db;
}

int dm_store_write_run(dmsec_store_t *st, sqlite3_stmt *s)
{
    return write_run(st, s);
}

void dm_store_stmt_done(sqlite3_stmt *s)
{
    stmt_done(s);
}

int dm_store_bind_text(sqlite3_stmt *s, int i, const char *t, size_t len)
{
    return bind_text(s, i, t, len);
}

int dm_store_bind_blob(sqlite3_stmt *s, int i, const uint8_t *p, size_t len)
{
    return bind_blob(s, i, p, len);
}

int dm_store_col_text(sqlite3_stmt *s, int i, char *dst, size_t cap, int key)
{
    return col_text(s, i, dst, cap, key);
}

size_t dm_store_fit_len(const char *t, size_t len, size_t cap)
{
    return fit_len((const unsigned char *)t, len, cap);
}

int dm_store_bind_str(sqlite3_stmt *s, int i, const char *t)
{
    return bind_str(s, i, t);
}

int dm_store_bind_i64(sqlite3_stmt *s, int i, int64_t v)
{
    return bind_i64(s, i, v);
}

int dm_store_bind_fit(sqlite3_stmt *s, int i, const char *t, size_t cap)
{
    return bind_fit(s, i, t, cap);
}

int64_t dm_store_size_i64(size_t n)
{
    return size_i64(n);
}

int dm_store_str_fits(const char *s, size_t cap)
{
    return str_fits(s, cap);
}

int dm_store_id_ok(const char *id)
{
    return id_ok(id);
}

int dm_store_tx_end(dmsec_store_t *st, int rc)
{
    return tx_end(st, rc);
}

int dm_store_step_row(sqlite3_stmt *s, int rc)
{
    return step_row(s, rc);
}

int dm_store_read_rows(sqlite3_stmt *s, int rc, size_t max, size_t *n,
                       int (*read)(void *ctx, sqlite3_stmt *s, size_t i), void *ctx)
{
    return read_rows(s, rc, max, n, read, ctx);
}

int dm_store_cb_rc(int r, int *stop)
{
    return cb_rc(r, stop);
}
