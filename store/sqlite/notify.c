/*
 * notify.c - notifications over the SQLite store: recorded when sent,
 * their session ids, opened by a session, listed (per device, overdue for
 * the resync policy), and the once-only consumption of a resync: one
 * conditional UPDATE that only one caller can see change a row.
 */
#include <limits.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/errors.h"
#include "dmsec/store.h"
#include "store_sqlite.h"

#define N_COLS "device_id, session_id, default_nonce, sent, expires, opened, consumed, attempts, id"

/* A re-send keeps opened; switching to the default nonce re-arms the
 * resync (SET expressions see the row as it was). */
static const dm_sq_query_t q_n_put = {
    SQ_N_PUT, "INSERT INTO notifications (device_id, session_id, default_nonce, sent, expires)"
              " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (device_id, session_id) DO UPDATE SET"
              " sent = excluded.sent, expires = excluded.expires,"
              " consumed = CASE WHEN notifications.default_nonce = 0"
              " AND excluded.default_nonce = 1 THEN 0 ELSE notifications.consumed END,"
              " default_nonce = excluded.default_nonce,"
              " attempts = notifications.attempts + 1"};
static const dm_sq_query_t q_n_pending = {
    SQ_N_PENDING, "SELECT " N_COLS " FROM notifications WHERE device_id = ?1 AND opened = 0"
                  " AND expires > ?2 ORDER BY sent DESC, id DESC LIMIT 1"};
static const dm_sq_query_t q_n_used = {SQ_N_USED,
                                       "SELECT session_id FROM notifications WHERE device_id = ?1"};
static const dm_sq_query_t q_n_opened = {
    SQ_N_OPENED, "UPDATE notifications SET opened = 1 WHERE device_id = ?1 AND session_id = ?2"};
static const dm_sq_query_t q_n_overdue = {
    SQ_N_OVERDUE, "SELECT " N_COLS " FROM notifications WHERE sent < ?1 AND opened = 0"
                  " AND expires > ?2 AND default_nonce = 0 AND (sent, id) > (?3, ?4)"
                  " ORDER BY sent, id LIMIT ?5"};
static const dm_sq_query_t q_n_list = {SQ_N_LIST,
                                       "SELECT " N_COLS " FROM notifications WHERE device_id = ?1"
                                       " AND (sent, id) > (?2, ?3) ORDER BY sent, id LIMIT ?4"};
static const dm_sq_query_t q_resync_out = {
    SQ_RESYNC_OUT, "SELECT 1 FROM notifications WHERE device_id = ?1 AND session_id = ?2"
                   " AND default_nonce = 1 AND consumed = 0 AND expires > ?3"};
/* The once-only rule: the row changes for one caller only. */
static const dm_sq_query_t q_resync_consume = {
    SQ_RESYNC_CONSUME, "UPDATE notifications SET consumed = 1 WHERE device_id = ?1"
                       " AND session_id = ?2 AND default_nonce = 1 AND consumed = 0"
                       " AND expires > ?3"};

static int col_notification(sqlite3_stmt *s, dmsec_notification_t *out, int64_t *id)
{
    memset(out, 0, sizeof *out);
    int rc = dm_sq_col_text(s, 0, out->device_id, sizeof out->device_id, 1);
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
    out->attempts = dm_sq_col_int(s, 7);
    *id = sqlite3_column_int64(s, 8);
    return DMSEC_OK;
}

int dmsec_store_notification_put(dmsec_store_t *st, const dmsec_notification_t *n)
{
    if (!st || !n || !n->session_id || !n->device_id[0] ||
        !dm_store_str_fits(n->device_id, sizeof n->device_id))
        return DMSEC_ERR_INVALID_ARG;
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, &q_n_put, &s);
    if (rc)
        return rc;
    rc = dm_sq_bind_str(s, 1, n->device_id);
    if (!rc)
        rc = dm_sq_bind_i64(s, 2, n->session_id);
    if (!rc)
        rc = dm_sq_bind_i64(s, 3, n->default_nonce ? 1 : 0);
    if (!rc)
        rc = dm_sq_bind_i64(s, 4, n->sent);
    if (!rc)
        rc = dm_sq_bind_i64(s, 5, n->expires);
    if (rc) {
        dm_sq_done(s);
        return rc;
    }
    /* An unknown device fails the foreign key: DMSEC_ERR_STORE_NOT_FOUND. */
    return dm_sq_write_run(st, s);
}

int dmsec_store_notification_pending(dmsec_store_t *st, const char *device_id, int64_t now,
                                     dmsec_notification_t *out)
{
    if (!st || !device_id || !out)
        return DMSEC_ERR_INVALID_ARG;
    if (!dm_store_id_ok(device_id))
        return DMSEC_ERR_STORE_NOT_FOUND;
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, &q_n_pending, &s);
    if (rc)
        return rc;
    rc = dm_sq_bind_str(s, 1, device_id);
    if (!rc)
        rc = dm_sq_bind_i64(s, 2, now);
    rc = dm_sq_step_row(s, rc);
    if (!rc) {
        int64_t id = 0;
        rc = col_notification(s, out, &id);
    }
    dm_sq_done(s);
    return rc;
}

int dmsec_store_new_session_id(dmsec_store_t *st, const char *device_id, const uint8_t rnd[2],
                               uint16_t *out)
{
    if (!st || !device_id || !rnd || !out || !dm_store_id_ok(device_id))
        return DMSEC_ERR_INVALID_ARG;
    /* One query for the ids in use, then a walk over a bitmap. */
    uint8_t *used = calloc(DM_STORE_SESSION_IDS_BYTES, 1);
    if (!used)
        return DMSEC_ERR_NO_MEMORY;
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, &q_n_used, &s);
    if (!rc)
        rc = dm_sq_bind_str(s, 1, device_id);
    while (!rc) {
        int src = sqlite3_step(s);
        if (src != SQLITE_ROW) {
            rc = src == SQLITE_DONE ? DMSEC_OK : dm_sq_err(src);
            break;
        }
        dm_store_session_id_mark(used, sqlite3_column_int64(s, 0));
    }
    if (s)
        dm_sq_done(s);
    if (!rc)
        rc = dm_store_session_id_pick(used, rnd, out);
    free(used);
    return rc;
}

int dmsec_store_notification_opened(dmsec_store_t *st, const char *device_id, uint16_t session_id)
{
    if (!st || !device_id)
        return DMSEC_ERR_INVALID_ARG;
    if (!dm_store_id_ok(device_id) || !session_id)
        return DMSEC_ERR_STORE_NOT_FOUND;
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, &q_n_opened, &s);
    if (rc)
        return rc;
    rc = dm_sq_bind_str(s, 1, device_id);
    if (!rc)
        rc = dm_sq_bind_i64(s, 2, session_id);
    return dm_sq_changed_one(st, s, rc);
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
 * (sent, id), read DM_SQ_LIST_BATCH at a time. */
static int notification_walk(dmsec_store_t *st, const dm_sq_query_t *q, const char *device_id,
                             int64_t before, int64_t now,
                             int (*fn)(void *ctx, const dmsec_notification_t *n), void *ctx)
{
    dmsec_notification_t batch[DM_SQ_LIST_BATCH];
    nwalk_t w = {batch, INT64_MIN, INT64_MIN};
    int rc = DMSEC_OK;
    for (;;) {
        sqlite3_stmt *s = NULL;
        size_t n = 0;
        rc = dm_sq_stmt(st, q, &s);
        if (rc)
            break;
        int k = 1;
        if (device_id) {
            rc = dm_sq_bind_str(s, k++, device_id);
        } else {
            rc = dm_sq_bind_i64(s, k++, before);
            if (!rc)
                rc = dm_sq_bind_i64(s, k++, now);
        }
        if (!rc)
            rc = dm_sq_bind_i64(s, k++, w.last_sent);
        if (!rc)
            rc = dm_sq_bind_i64(s, k++, w.last_id);
        if (!rc)
            rc = dm_sq_bind_i64(s, k, DM_SQ_LIST_BATCH);
        rc = dm_sq_read_rows(s, rc, DM_SQ_LIST_BATCH, &n, read_notification, &w);
        int stop = 0;
        for (size_t i = 0; !rc && !stop && i < n; i++)
            rc = dm_store_cb_rc(fn(ctx, &batch[i]), &stop);
        if (rc || stop || n < DM_SQ_LIST_BATCH)
            break;
    }
    return rc;
}

int dmsec_store_notification_overdue(dmsec_store_t *st, int64_t before, int64_t now,
                                     int (*fn)(void *ctx, const dmsec_notification_t *n), void *ctx)
{
    if (!st || !fn)
        return DMSEC_ERR_INVALID_ARG;
    return notification_walk(st, &q_n_overdue, NULL, before, now, fn, ctx);
}

int dmsec_store_notification_list(dmsec_store_t *st, const char *device_id,
                                  int (*fn)(void *ctx, const dmsec_notification_t *n), void *ctx)
{
    if (!st || !device_id || !fn)
        return DMSEC_ERR_INVALID_ARG;
    if (!dm_store_id_ok(device_id))
        return DMSEC_OK; /* no such device, so nothing to list */
    return notification_walk(st, &q_n_list, device_id, 0, 0, fn, ctx);
}

static int resync_run(dmsec_store_t *st, const dm_sq_query_t *q, const char *device_id,
                      const char *session_id, int64_t now)
{
    if (!st || !device_id || !session_id)
        return DMSEC_ERR_INVALID_ARG;
    uint16_t sid = 0;
    if (!dm_store_id_ok(device_id) || !dm_store_session_id_parse(session_id, &sid))
        return 0;
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, q, &s);
    if (rc)
        return rc;
    rc = dm_sq_bind_str(s, 1, device_id);
    if (!rc)
        rc = dm_sq_bind_i64(s, 2, sid);
    if (!rc)
        rc = dm_sq_bind_i64(s, 3, now);
    if (rc) {
        dm_sq_done(s);
        return rc;
    }
    if (q == &q_resync_consume) {
        rc = dm_sq_write_run(st, s);
        return rc ? rc : sqlite3_changes(st->db) == 1 ? 1 : 0;
    }
    int src = sqlite3_step(s);
    dm_sq_done(s);
    return src == SQLITE_ROW ? 1 : src == SQLITE_DONE ? 0 : dm_sq_err(src);
}

int dmsec_store_resync_outstanding(dmsec_store_t *st, const char *device_id, const char *session_id,
                                   int64_t now)
{
    return resync_run(st, &q_resync_out, device_id, session_id, now);
}

int dmsec_store_resync_consume(dmsec_store_t *st, const char *device_id, const char *session_id,
                               int64_t now)
{
    return resync_run(st, &q_resync_consume, device_id, session_id, now);
}
