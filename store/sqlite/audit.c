/*
 * audit.c - the audit trail over the SQLite store: records added, listed
 * newest first (all, or one device's).
 */
#include <sqlite3.h>
#include <stdint.h>
#include <string.h>

#include "dmsec/errors.h"
#include "dmsec/store.h"
#include "store_sqlite.h"

#define A_COLS "id, at, device_id, event, detail"

static const dm_sq_query_t q_a_add = {
    SQ_A_ADD, "INSERT INTO audit (at, device_id, event, detail) VALUES (?1, ?2, ?3, ?4)"};
static const dm_sq_query_t q_a_list = {SQ_A_LIST,
                                       "SELECT " A_COLS " FROM audit WHERE (at, id) < (?1, ?2)"
                                       " AND (?4 IS NULL OR device_id = ?4)"
                                       " ORDER BY at DESC, id DESC LIMIT ?3 OFFSET ?5"};

int dmsec_store_audit(dmsec_store_t *st, int64_t now, const char *device_id, const char *event,
                      const char *detail)
{
    if (!st || !event || !event[0])
        return DMSEC_ERR_INVALID_ARG;
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, &q_a_add, &s);
    if (rc)
        return rc;
    rc = dm_sq_bind_i64(s, 1, now);
    if (!rc)
        rc = dm_sq_bind_fit(s, 2, device_id, FIELD_SIZE(dmsec_audit_rec_t, device_id));
    if (!rc)
        rc = dm_sq_bind_fit(s, 3, event, FIELD_SIZE(dmsec_audit_rec_t, event));
    if (!rc)
        rc = dm_sq_bind_fit(s, 4, detail, FIELD_SIZE(dmsec_audit_rec_t, detail));
    return dm_sq_write_bound(st, s, rc);
}

static int col_audit(sqlite3_stmt *s, dmsec_audit_rec_t *r)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(s, 0);
    r->at = sqlite3_column_int64(s, 1);
    int rc = dm_sq_col_text(s, 2, r->device_id, sizeof r->device_id, 0);
    if (!rc)
        rc = dm_sq_col_text(s, 3, r->event, sizeof r->event, 0);
    if (!rc)
        rc = dm_sq_col_text(s, 4, r->detail, sizeof r->detail, 0);
    return rc;
}

static int read_audit(sqlite3_stmt *s, void *rec)
{
    return col_audit(s, rec);
}

/* The contract's typed callback behind the walker's untyped one. */
typedef struct {
    int (*fn)(void *ctx, const dmsec_audit_rec_t *r);
    void *ctx;
} audit_cb_t;

static int call_audit(void *ctx, const void *rec)
{
    const audit_cb_t *t = ctx;
    return t->fn(t->ctx, rec);
}

int dmsec_store_audit_list(dmsec_store_t *st, size_t limit,
                           int (*fn)(void *ctx, const dmsec_audit_rec_t *r), void *ctx)
{
    return dmsec_store_audit_list_device(st, NULL, 0, limit, fn, ctx);
}

int dmsec_store_audit_list_device(dmsec_store_t *st, const char *device_id, size_t offset,
                                  size_t limit, int (*fn)(void *ctx, const dmsec_audit_rec_t *r),
                                  void *ctx)
{
    if (!st || !fn)
        return DMSEC_ERR_INVALID_ARG;
    audit_cb_t t = {fn, ctx};
    dm_sq_newest_t w = {&q_a_list, 1, sizeof(dmsec_audit_rec_t), read_audit, call_audit, &t};
    return dm_sq_newest_walk(st, &w, device_id, offset, limit);
}
