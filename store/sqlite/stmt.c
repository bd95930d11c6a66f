/*
 * stmt.c - statements of the SQLite store (store_sqlite.h): the cache of a
 * handle, binds and columns, stepping one row or a batch, SQLite's result
 * codes as DMSEC_ERR_*, and the newest-first walk of the session, audit and
 * event listings.
 */
#include <limits.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/errors.h"
#include "dmsec/store.h"
#include "store_sqlite.h"

int dm_sq_err(int rc)
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

int dm_sq_stmt(dmsec_store_t *st, const dm_sq_query_t *q, sqlite3_stmt **out)
{
    sqlite3_stmt **slot = &st->stmt[q->slot];
    if (!*slot) {
        int rc = sqlite3_prepare_v3(st->db, q->sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
        if (rc != SQLITE_OK) {
            *slot = NULL;
            return dm_sq_err(rc);
        }
    }
    *out = *slot;
    return DMSEC_OK;
}

void dm_sq_finalize_all(dmsec_store_t *st)
{
    for (size_t i = 0; i < SQ_COUNT; i++) {
        sqlite3_finalize(st->stmt[i]);
        st->stmt[i] = NULL;
    }
}

/* Every use of a statement ends here: no borrowed buffer stays bound. */
void dm_sq_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Steps a write statement to completion and resets it. */
int dm_sq_run(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    dm_sq_done(s);
    return rc == SQLITE_DONE ? DMSEC_OK : dm_sq_err(rc);
}

static int bind_rc(int rc)
{
    return rc == SQLITE_OK ? DMSEC_OK : dm_sq_err(rc);
}

int dm_sq_bind_text(sqlite3_stmt *s, int i, const char *t, size_t len)
{
    if (len > INT_MAX)
        return DMSEC_ERR_TOO_LARGE;
    return bind_rc(sqlite3_bind_text(s, i, t, (int)len, SQLITE_STATIC));
}

int dm_sq_bind_str(sqlite3_stmt *s, int i, const char *t)
{
    return dm_sq_bind_text(s, i, t, strlen(t));
}

/* A zero-length value is stored as an empty blob, not NULL. */
int dm_sq_bind_blob(sqlite3_stmt *s, int i, const uint8_t *p, size_t len)
{
    static const uint8_t none[1] = {0};
    if (len > INT_MAX)
        return DMSEC_ERR_TOO_LARGE;
    return bind_rc(sqlite3_bind_blob(s, i, len ? (const void *)p : none, (int)len, SQLITE_STATIC));
}

int dm_sq_bind_i64(sqlite3_stmt *s, int i, int64_t v)
{
    return bind_rc(sqlite3_bind_int64(s, i, v));
}

/* Binds descriptive text (logs), cut to what the record can hold. */
int dm_sq_bind_fit(sqlite3_stmt *s, int i, const char *t, size_t cap)
{
    if (!t)
        t = "";
    return dm_sq_bind_text(s, i, t, dm_store_fit_len(t, strlen(t), cap));
}

/* A text column into a fixed field: cut to fit (key = 0), or refused when
 * it does not fit (key = 1: an identifier must never be cut). */
int dm_sq_col_text(sqlite3_stmt *s, int i, char *dst, size_t cap, int key)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    int n = sqlite3_column_bytes(s, i);
    dst[0] = '\0';
    if (!t)
        return sqlite3_column_type(s, i) == SQLITE_NULL ? DMSEC_OK : DMSEC_ERR_NO_MEMORY;
    size_t len = n > 0 ? (size_t)n : 0;
    if (key && len >= cap)
        return DMSEC_ERR_STORE_CORRUPT;
    len = dm_store_fit_len((const char *)t, len, cap);
    memcpy(dst, t, len);
    dst[len] = '\0';
    return DMSEC_OK;
}

int dm_sq_col_blob(sqlite3_stmt *s, int i, uint8_t *dst, size_t cap, size_t *len)
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

int dm_sq_col_int(sqlite3_stmt *s, int i)
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
int dm_sq_step_row(sqlite3_stmt *s, int rc)
{
    if (rc)
        return rc;
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW)
        return DMSEC_OK;
    return src == SQLITE_DONE ? DMSEC_ERR_STORE_NOT_FOUND : dm_sq_err(src);
}

/* Steps a bound query (rc: the binds' result) for at most max rows, read
 * storing row i; an error of read ends the walk. *n is the rows read; the
 * statement is reset. */
int dm_sq_read_rows(sqlite3_stmt *s, int rc, size_t max, size_t *n,
                    int (*read)(void *ctx, sqlite3_stmt *s, size_t i), void *ctx)
{
    *n = 0;
    while (!rc && *n < max) {
        int src = sqlite3_step(s);
        if (src != SQLITE_ROW) {
            rc = src == SQLITE_DONE ? DMSEC_OK : dm_sq_err(src);
            break;
        }
        rc = read(ctx, s, *n);
        if (!rc)
            (*n)++;
    }
    dm_sq_done(s);
    return rc;
}

/* Prepares sql (admin statements are rare: not cached). */
int dm_sq_prepare(dmsec_store_t *st, const char *sql, sqlite3_stmt **s)
{
    *s = NULL;
    return dm_sq_err(sqlite3_prepare_v2(st->db, sql, -1, s, NULL));
}

/* ---- newest first (sessions, audit, events) ---- */

typedef struct {
    const dm_sq_newest_t *w;
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

int dm_sq_newest_walk(dmsec_store_t *st, const dm_sq_newest_t *w, const char *device_id,
                      size_t offset, size_t limit)
{
    unsigned char *batch = calloc(DM_SQ_LIST_BATCH, w->rec_size);
    if (!batch)
        return DMSEC_ERR_NO_MEMORY;
    newest_pos_t pos = {w, batch, INT64_MAX, INT64_MAX};
    size_t left = limit ? limit : SIZE_MAX;
    int rc = DMSEC_OK;
    while (left) {
        size_t want = left < DM_SQ_LIST_BATCH ? left : DM_SQ_LIST_BATCH;
        sqlite3_stmt *s = NULL;
        size_t n = 0;
        rc = dm_sq_stmt(st, w->q, &s);
        if (rc)
            break;
        rc = dm_sq_bind_i64(s, 1, pos.last_time);
        if (!rc)
            rc = dm_sq_bind_i64(s, 2, pos.last_id);
        if (!rc)
            rc = dm_sq_bind_i64(s, 3, (int64_t)want);
        if (!rc && device_id)
            rc = dm_sq_bind_str(s, 4, device_id);
        /* The offset skips rows of the first batch only: later ones go on
         * from the last row read. */
        if (!rc)
            rc = dm_sq_bind_i64(s, 5, dm_store_size_i64(offset));
        offset = 0;
        rc = dm_sq_read_rows(s, rc, want, &n, read_newest, &pos);
        int stop = 0;
        for (size_t i = 0; !rc && !stop && i < n; i++)
            rc = dm_store_cb_rc(w->fn(w->ctx, batch + i * w->rec_size), &stop);
        left -= n;
        if (rc || stop || n < want)
            break;
    }
    free(batch);
    return rc;
}
