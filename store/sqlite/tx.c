/*
 * tx.c - transactions, durability and group commit of the SQLite store
 * (store_sqlite.h).
 *
 * Durability (synchronous=NORMAL): a commit writes the WAL without fsync;
 * dmsec_store_sync fsyncs the WAL. Every handle on one file shares a
 * struct sfile (conn.c's, found by device and inode): a commit counter
 * bumped after each commit and a leader/follower group commit, so that one
 * fsync covers every commit made before it started and concurrent callers
 * wait for it. The same struct holds an in-process writer lock: handles of
 * this process queue for it on a condition variable instead of in SQLite's
 * busy handler, which sleeps in millisecond steps. Other processes still
 * meet SQLite's own lock and busy timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dmsec/errors.h"
#include "dmsec/store.h"
#include "store_sqlite.h"

static const dm_sq_query_t q_begin = {SQ_BEGIN, "BEGIN IMMEDIATE"};
static const dm_sq_query_t q_commit = {SQ_COMMIT, "COMMIT"};
static const dm_sq_query_t q_rollback = {SQ_ROLLBACK, "ROLLBACK"};
static const dm_sq_query_t q_savepoint = {SQ_SAVEPOINT, "SAVEPOINT dmsec_nested"};
static const dm_sq_query_t q_release = {SQ_RELEASE, "RELEASE dmsec_nested"};
static const dm_sq_query_t q_rollback_to = {SQ_ROLLBACK_TO, "ROLLBACK TO dmsec_nested"};

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

static int run_q(dmsec_store_t *st, const dm_sq_query_t *q)
{
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, q, &s);
    return rc ? rc : dm_sq_run(s);
}

/* Steps a write statement: outside a transaction of the caller it is its
 * own (implicit) transaction, under the writer lock and counted. */
int dm_sq_write_run(dmsec_store_t *st, sqlite3_stmt *s)
{
    if (st->depth)
        return dm_sq_run(s);
    int rc = writer_lock(st->sf);
    if (rc) {
        dm_sq_done(s);
        return rc;
    }
    rc = dm_sq_run(s);
    writer_unlock(st->sf, 1);
    return rc;
}

int dm_sq_write_bound(dmsec_store_t *st, sqlite3_stmt *s, int rc)
{
    if (rc) {
        dm_sq_done(s);
        return rc;
    }
    return dm_sq_write_run(st, s);
}

int dmsec_store_begin(dmsec_store_t *st)
{
    if (!st)
        return DMSEC_ERR_INVALID_ARG;
    if (st->depth == UINT_MAX)
        return DMSEC_ERR_TOO_LARGE;
    if (st->depth) {
        int rc = run_q(st, &q_savepoint);
        if (!rc)
            st->depth++;
        return rc;
    }
    int rc = writer_lock(st->sf);
    if (rc)
        return rc;
    rc = run_q(st, &q_begin);
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
        rc = open ? run_q(st, &q_commit) : DMSEC_ERR_STORE_IO;
    if ((!commit || rc) && !sqlite3_get_autocommit(st->db)) {
        int r = run_q(st, &q_rollback);
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
    int rc = run_q(st, &q_release);
    if (rc) {
        (void)run_q(st, &q_rollback_to);
        (void)run_q(st, &q_release);
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
    int rc = run_q(st, &q_rollback_to);
    int r = run_q(st, &q_release);
    st->depth--;
    return rc ? rc : r;
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
 * job in its own savepoint of one transaction on the file's group handle
 * (group_handle), commits once, syncs once, and hands each job its
 * result. Jobs queued meanwhile form the next group, led by the first of
 * their callers to wake up. */
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

/* The handle a leader runs its group on, with sf->mu held: the file's own
 * (opened on first use), so that its page cache stays valid from one group
 * to the next (a handle's cache is dropped whenever another handle has
 * committed since its last transaction, and the leaders are the pool's
 * handles taking turns); the leader's own when that cannot be opened or
 * the leader's handle is read-only. */
static dmsec_store_t *group_handle(dmsec_store_t *st)
{
    struct sfile *sf = st->sf;
    if (!sf->group_st && sqlite3_db_readonly(st->db, "main") == 0)
        (void)dm_sq_group_open(st, &sf->group_st);
    return sf->group_st ? sf->group_st : st;
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
        return dm_store_tx_end(st, fn(st, ctx));
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
        dmsec_store_t *g = group_handle(st);
        pthread_mutex_unlock(&sf->mu);
        group_run(g, batch);
        pthread_mutex_lock(&sf->mu);
        int rc = group_sync_locked(g, batch);
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

void dm_sq_tx_abort(dmsec_store_t *st)
{
    if (st->depth) {
        st->depth = 1;
        (void)tx_finish(st, 0);
    }
}
