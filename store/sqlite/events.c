/*
 * events.c - the events devices report (Generic Alerts) over the SQLite
 * store: recorded, listed newest first (all, or one device's).
 */
#include <sqlite3.h>
#include <stdint.h>
#include <string.h>

#include "dmsec/errors.h"
#include "dmsec/store.h"
#include "store_sqlite.h"

#define EV_COLS "id, device_id, at, alert, type, format, source, correlator, data, session_id"

static const dm_sq_query_t q_event_add = {
    SQ_EVENT_ADD, "INSERT INTO device_events (device_id, at, alert, type, format, source,"
                  " correlator, data, session_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"};
static const dm_sq_query_t q_event_list = {
    SQ_EVENT_LIST, "SELECT " EV_COLS " FROM device_events WHERE (at, id) < (?1, ?2)"
                   " AND (?4 IS NULL OR device_id = ?4)"
                   " ORDER BY at DESC, id DESC LIMIT ?3 OFFSET ?5"};

int dmsec_store_event_add(dmsec_store_t *st, const dmsec_device_event_t *e, int64_t *id)
{
    if (!st || !e || !dm_store_event_valid(e))
        return DMSEC_ERR_INVALID_ARG;
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, &q_event_add, &s);
    if (rc)
        return rc;
    /* The data may fill its field without a terminator: cut to fit. */
    size_t dlen = dm_store_fit_len(e->data, strnlen(e->data, sizeof e->data), sizeof e->data);
    rc = dm_sq_bind_str(s, 1, e->device_id);
    if (!rc)
        rc = dm_sq_bind_i64(s, 2, e->at);
    if (!rc)
        rc = dm_sq_bind_i64(s, 3, e->alert);
    if (!rc)
        rc = dm_sq_bind_str(s, 4, e->type);
    if (!rc)
        rc = dm_sq_bind_str(s, 5, e->format);
    if (!rc)
        rc = dm_sq_bind_str(s, 6, e->source);
    if (!rc)
        rc = dm_sq_bind_str(s, 7, e->correlator);
    if (!rc)
        rc = dm_sq_bind_text(s, 8, e->data, dlen);
    if (!rc)
        rc = dm_sq_bind_str(s, 9, e->session_id);
    rc = dm_sq_write_bound(st, s, rc);
    if (!rc && id)
        *id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

static int col_event(sqlite3_stmt *s, dmsec_device_event_t *e)
{
    memset(e, 0, sizeof *e);
    e->id = sqlite3_column_int64(s, 0);
    int rc = dm_sq_col_text(s, 1, e->device_id, sizeof e->device_id, 0);
    e->at = sqlite3_column_int64(s, 2);
    e->alert = sqlite3_column_int(s, 3);
    if (!rc)
        rc = dm_sq_col_text(s, 4, e->type, sizeof e->type, 0);
    if (!rc)
        rc = dm_sq_col_text(s, 5, e->format, sizeof e->format, 0);
    if (!rc)
        rc = dm_sq_col_text(s, 6, e->source, sizeof e->source, 0);
    if (!rc)
        rc = dm_sq_col_text(s, 7, e->correlator, sizeof e->correlator, 0);
    if (!rc)
        rc = dm_sq_col_text(s, 8, e->data, sizeof e->data, 0);
    if (!rc)
        rc = dm_sq_col_text(s, 9, e->session_id, sizeof e->session_id, 0);
    return rc;
}

static int read_event(sqlite3_stmt *s, void *rec)
{
    return col_event(s, rec);
}

/* The contract's typed callback behind the walker's untyped one. */
typedef struct {
    int (*fn)(void *ctx, const dmsec_device_event_t *e);
    void *ctx;
} event_cb_t;

static int call_event(void *ctx, const void *rec)
{
    const event_cb_t *t = ctx;
    return t->fn(t->ctx, rec);
}

int dmsec_store_event_list(dmsec_store_t *st, const char *device_id, size_t offset, size_t limit,
                           int (*fn)(void *ctx, const dmsec_device_event_t *e), void *ctx)
{
    if (!st || !fn)
        return DMSEC_ERR_INVALID_ARG;
    event_cb_t t = {fn, ctx};
    dm_sq_newest_t w = {&q_event_list, 2, sizeof(dmsec_device_event_t), read_event, call_event, &t};
    return dm_sq_newest_walk(st, &w, device_id, offset, limit);
}
