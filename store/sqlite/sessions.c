/*
 * sessions.c - the session records over the SQLite store: begun, ended,
 * listed newest first (all, or one device's).
 */
#include <sqlite3.h>
#include <stdint.h>
#include <string.h>

#include "dmsec/errors.h"
#include "dmsec/store.h"
#include "store_sqlite.h"

#define S_COLS "id, device_id, session_id, peer, started, ended, result, messages"

static const dm_sq_query_t q_s_begin = {
    SQ_S_BEGIN, "INSERT INTO sessions (device_id, session_id, peer, started)"
                " VALUES (?1, ?2, ?3, ?4)"};
static const dm_sq_query_t q_s_end = {
    SQ_S_END, "UPDATE sessions SET ended = ?2, result = ?3, messages = ?4 WHERE id = ?1"};
static const dm_sq_query_t q_s_list = {
    SQ_S_LIST, "SELECT " S_COLS " FROM sessions WHERE (started, id) < (?1, ?2)"
               " AND (?4 IS NULL OR device_id = ?4)"
               " ORDER BY started DESC, id DESC LIMIT ?3 OFFSET ?5"};

int dmsec_store_session_begin(dmsec_store_t *st, const char *device_id, const char *session_id,
                              const char *peer, int64_t now, int64_t *rec_id)
{
    if (!st || !device_id || !session_id || !rec_id)
        return DMSEC_ERR_INVALID_ARG;
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, &q_s_begin, &s);
    if (rc)
        return rc;
    rc = dm_sq_bind_fit(s, 1, device_id, FIELD_SIZE(dmsec_session_rec_t, device_id));
    if (!rc)
        rc = dm_sq_bind_fit(s, 2, session_id, FIELD_SIZE(dmsec_session_rec_t, session_id));
    if (!rc)
        rc = dm_sq_bind_fit(s, 3, peer, FIELD_SIZE(dmsec_session_rec_t, peer));
    if (!rc)
        rc = dm_sq_bind_i64(s, 4, now);
    rc = dm_sq_write_bound(st, s, rc);
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
    int rc = dm_sq_stmt(st, &q_s_end, &s);
    if (rc)
        return rc;
    rc = dm_sq_bind_i64(s, 1, rec_id);
    if (!rc)
        rc = dm_sq_bind_i64(s, 2, now);
    if (!rc)
        rc = dm_sq_bind_i64(s, 3, result);
    if (!rc)
        rc = dm_sq_bind_i64(s, 4, messages);
    return dm_sq_changed_one(st, s, rc);
}

static int col_session(sqlite3_stmt *s, dmsec_session_rec_t *r)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(s, 0);
    int rc = dm_sq_col_text(s, 1, r->device_id, sizeof r->device_id, 0);
    if (!rc)
        rc = dm_sq_col_text(s, 2, r->session_id, sizeof r->session_id, 0);
    if (!rc)
        rc = dm_sq_col_text(s, 3, r->peer, sizeof r->peer, 0);
    r->started = sqlite3_column_int64(s, 4);
    r->ended = sqlite3_column_int64(s, 5);
    r->result = dm_sq_col_int(s, 6);
    r->messages = dm_sq_col_int(s, 7);
    return rc;
}

static int read_session(sqlite3_stmt *s, void *rec)
{
    return col_session(s, rec);
}

/* The contract's typed callback behind the walker's untyped one. */
typedef struct {
    int (*fn)(void *ctx, const dmsec_session_rec_t *r);
    void *ctx;
} session_cb_t;

static int call_session(void *ctx, const void *rec)
{
    const session_cb_t *t = ctx;
    return t->fn(t->ctx, rec);
}

int dmsec_store_session_list(dmsec_store_t *st, size_t limit,
                             int (*fn)(void *ctx, const dmsec_session_rec_t *r), void *ctx)
{
    return dmsec_store_session_list_device(st, NULL, 0, limit, fn, ctx);
}

int dmsec_store_session_list_device(dmsec_store_t *st, const char *device_id, size_t offset,
                                    size_t limit,
                                    int (*fn)(void *ctx, const dmsec_session_rec_t *r), void *ctx)
{
    if (!st || !fn)
        return DMSEC_ERR_INVALID_ARG;
    session_cb_t t = {fn, ctx};
    dm_sq_newest_t w = {&q_s_list, 4, sizeof(dmsec_session_rec_t), read_session, call_session, &t};
    return dm_sq_newest_walk(st, &w, device_id, offset, limit);
}
