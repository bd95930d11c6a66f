/*
 * inventory.c - the devices' inventory (their DevInfo and DevDetail values
 * by URI) and when they were first and last seen, over the SQLite store.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/errors.h"
#include "dmsec/store.h"
#include "store_sqlite.h"

#define INV_BATCH 16

static const dm_sq_query_t q_inv_set = {
    SQ_INV_SET, "INSERT INTO inventory (device_id, uri, value, updated) VALUES (?1, ?2, ?3, ?4)"
                " ON CONFLICT (device_id, uri) DO UPDATE SET value = excluded.value,"
                " updated = excluded.updated"};
static const dm_sq_query_t q_inv_list = {
    SQ_INV_LIST, "SELECT uri, value, updated FROM inventory WHERE device_id = ?1 AND uri > ?2"
                 " ORDER BY uri LIMIT ?3"};
static const dm_sq_query_t q_dev_exists = {SQ_DEV_EXISTS,
                                           "SELECT 1 FROM devices WHERE device_id = ?1"};
static const dm_sq_query_t q_seen = {
    SQ_SEEN, "UPDATE devices SET first_seen = CASE WHEN first_seen = 0 THEN ?2"
             " ELSE first_seen END, last_seen = ?2 WHERE device_id = ?1"};
static const dm_sq_query_t q_seen_get = {
    SQ_SEEN_GET, "SELECT first_seen, last_seen FROM devices WHERE device_id = ?1"};

int dmsec_store_inventory_set(dmsec_store_t *st, const char *device_id, const char *uri,
                              const char *value, int64_t now)
{
    if (!st || !dm_store_id_ok(device_id) || !dm_store_uri_ok(uri) || !value)
        return DMSEC_ERR_INVALID_ARG;
    if (strnlen(value, (size_t)DMSEC_STORE_VALUE_MAX + 1) > DMSEC_STORE_VALUE_MAX)
        return DMSEC_ERR_TOO_LARGE;
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, &q_inv_set, &s);
    if (rc)
        return rc;
    rc = dm_sq_bind_str(s, 1, device_id);
    if (!rc)
        rc = dm_sq_bind_str(s, 2, uri);
    if (!rc)
        rc = dm_sq_bind_str(s, 3, value);
    if (!rc)
        rc = dm_sq_bind_i64(s, 4, now);
    return dm_sq_write_bound(st, s, rc);
}

static int device_exists(dmsec_store_t *st, const char *device_id)
{
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, &q_dev_exists, &s);
    if (rc)
        return rc;
    rc = dm_sq_step_row(s, dm_sq_bind_str(s, 1, device_id));
    dm_sq_done(s);
    return rc;
}

/* A batch of commands read by dm_sq_read_rows; the query's extra
 * column key_col (when >= 0) goes to keys. */
typedef struct {
    char uri[DMSEC_STORE_URI_MAX];
    char *value;
    int64_t updated;
} inv_row_t;

static int read_inv(void *batch, sqlite3_stmt *s, size_t i)
{
    inv_row_t *r = (inv_row_t *)batch + i;
    int rc = dm_sq_col_text(s, 0, r->uri, sizeof r->uri, 1);
    const unsigned char *v = sqlite3_column_text(s, 1);
    int vlen = sqlite3_column_bytes(s, 1);
    if (!rc && !v)
        rc = DMSEC_ERR_NO_MEMORY;
    if (!rc) {
        r->value = malloc((size_t)vlen + 1);
        if (!r->value)
            rc = DMSEC_ERR_NO_MEMORY;
    }
    if (!rc) {
        memcpy(r->value, v, (size_t)vlen);
        r->value[vlen] = '\0';
        r->updated = sqlite3_column_int64(s, 2);
    }
    return rc;
}

int dmsec_store_inventory_list(dmsec_store_t *st, const char *device_id,
                               int (*fn)(void *ctx, const char *uri, const char *value,
                                         int64_t updated),
                               void *ctx)
{
    if (!st || !device_id || !fn)
        return DMSEC_ERR_INVALID_ARG;
    if (!dm_store_id_ok(device_id))
        return DMSEC_ERR_STORE_NOT_FOUND;
    int rc = device_exists(st, device_id);
    if (rc)
        return rc;
    inv_row_t *batch = calloc(INV_BATCH, sizeof *batch);
    if (!batch)
        return DMSEC_ERR_NO_MEMORY;
    char last[DMSEC_STORE_URI_MAX] = "";
    int stop = 0;
    while (!rc && !stop) {
        sqlite3_stmt *s = NULL;
        size_t n = 0;
        rc = dm_sq_stmt(st, &q_inv_list, &s);
        if (rc)
            break;
        rc = dm_sq_bind_str(s, 1, device_id);
        if (!rc)
            rc = dm_sq_bind_str(s, 2, last);
        if (!rc)
            rc = dm_sq_bind_i64(s, 3, INV_BATCH);
        rc = dm_sq_read_rows(s, rc, INV_BATCH, &n, read_inv, batch);
        if (n)
            memcpy(last, batch[n - 1].uri, sizeof last);
        for (size_t i = 0; i < n; i++) {
            if (!rc && !stop)
                rc = dm_store_cb_rc(fn(ctx, batch[i].uri, batch[i].value, batch[i].updated), &stop);
            free(batch[i].value);
            batch[i].value = NULL;
        }
        if (n < INV_BATCH)
            break;
    }
    free(batch);
    return rc;
}

int dmsec_store_device_seen(dmsec_store_t *st, const char *device_id, int64_t now)
{
    if (!st || !device_id)
        return DMSEC_ERR_INVALID_ARG;
    if (!dm_store_id_ok(device_id))
        return DMSEC_ERR_STORE_NOT_FOUND;
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, &q_seen, &s);
    if (rc)
        return rc;
    rc = dm_sq_bind_str(s, 1, device_id);
    if (!rc)
        rc = dm_sq_bind_i64(s, 2, now);
    rc = dm_sq_write_bound(st, s, rc);
    if (!rc && sqlite3_changes(st->db) == 0)
        rc = DMSEC_ERR_STORE_NOT_FOUND;
    return rc;
}

int dmsec_store_device_seen_get(dmsec_store_t *st, const char *device_id, int64_t *first,
                                int64_t *last)
{
    if (!st || !device_id || !first || !last)
        return DMSEC_ERR_INVALID_ARG;
    if (!dm_store_id_ok(device_id))
        return DMSEC_ERR_STORE_NOT_FOUND;
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, &q_seen_get, &s);
    if (rc)
        return rc;
    rc = dm_sq_step_row(s, dm_sq_bind_str(s, 1, device_id));
    if (!rc) {
        *first = sqlite3_column_int64(s, 0);
        *last = sqlite3_column_int64(s, 1);
    }
    dm_sq_done(s);
    return rc;
}
