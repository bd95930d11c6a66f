/*
 * devices.c - device records over the SQLite store: add, get (by id or by
 * certificate subject), list and page, remove; the lifecycle (every
 * device, disabled or not: get, disable, update); and the statements on
 * one device's row that nonces.c and rotation.c build on.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "dmsec/errors.h"
#include "dmsec/store.h"
#include "store_sqlite.h"

#define DEV_COLS                                                                                   \
    "device_id, client_name, client_scheme, client_ph_flags, client_ph_md5, client_ph_sha256,"     \
    " client_secret, client_nonce, server_scheme, server_ph_flags, server_ph_md5,"                 \
    " server_ph_sha256, server_secret, server_nonce, pending_secret, integrity, notify_addr,"      \
    " srvcred_path, cert_subject, created, client_nonce_pending"

static const dm_sq_query_t q_dev_add = {
    SQ_DEV_ADD, "INSERT INTO devices (" DEV_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
                " ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)"};
/* A disabled device is answered as an unknown one. */
static const dm_sq_query_t q_dev_get = {
    SQ_DEV_GET, "SELECT " DEV_COLS " FROM devices WHERE device_id = ?1 AND disabled = 0"};
static const dm_sq_query_t q_dev_by_cert = {
    SQ_DEV_BY_CERT, "SELECT " DEV_COLS " FROM devices WHERE cert_subject = ?1"
                    " AND cert_subject <> '' AND disabled = 0"};
static const dm_sq_query_t q_dev_list = {
    SQ_DEV_LIST, "SELECT " DEV_COLS " FROM devices WHERE device_id > ?1"
                 " AND (?3 IS NULL OR substr(device_id, 1, length(?3)) = ?3)"
                 " ORDER BY device_id LIMIT ?2"};
static const dm_sq_query_t q_dev_del = {SQ_DEV_DEL, "DELETE FROM devices WHERE device_id = ?1"};

/* A pre-hash as three columns: flags, then the digests present (NULL for
 * an absent one). */
int dm_sq_bind_prehash(sqlite3_stmt *s, int i, const dmsec_prehash_t *ph)
{
    int rc = dm_sq_bind_i64(s, i, ph->flags);
    if (!rc && (ph->flags & DMSEC_PREHASH_MD5))
        rc = dm_sq_bind_blob(s, i + 1, ph->md5, sizeof ph->md5);
    if (!rc && (ph->flags & DMSEC_PREHASH_SHA256))
        rc = dm_sq_bind_blob(s, i + 2, ph->sha256, sizeof ph->sha256);
    return rc;
}

int dm_sq_col_prehash(sqlite3_stmt *s, int i, dmsec_prehash_t *ph)
{
    sqlite3_int64 flags = sqlite3_column_int64(s, i);
    size_t n = 0;
    if (flags & ~(sqlite3_int64)(DMSEC_PREHASH_MD5 | DMSEC_PREHASH_SHA256))
        return DMSEC_ERR_STORE_CORRUPT;
    ph->flags = (unsigned)flags;
    if (flags & DMSEC_PREHASH_MD5) {
        int rc = dm_sq_col_blob(s, i + 1, ph->md5, sizeof ph->md5, &n);
        if (rc || n != sizeof ph->md5)
            return rc ? rc : DMSEC_ERR_STORE_CORRUPT;
    }
    if (flags & DMSEC_PREHASH_SHA256) {
        int rc = dm_sq_col_blob(s, i + 2, ph->sha256, sizeof ph->sha256, &n);
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
    int rc = dm_store_scheme_ok(cs) && dm_store_scheme_ok(ss) && dm_store_integrity_ok(in)
                 ? DMSEC_OK
                 : DMSEC_ERR_STORE_CORRUPT;
    if (!rc)
        rc = dm_sq_col_text(s, 0, out->device_id, sizeof out->device_id, 1);
    if (!rc)
        rc = dm_sq_col_text(s, 1, out->client_name, sizeof out->client_name, 0);
    if (!rc)
        rc = dm_sq_col_prehash(s, 3, &out->client_prehash);
    if (!rc)
        rc = dm_sq_col_blob(s, 6, out->client_secret, sizeof out->client_secret,
                            &out->client_secret_len);
    if (!rc)
        rc = dm_sq_col_blob(s, 7, out->client_nonce, sizeof out->client_nonce,
                            &out->client_nonce_len);
    if (!rc)
        rc = dm_sq_col_prehash(s, 9, &out->server_prehash);
    if (!rc)
        rc = dm_sq_col_blob(s, 12, out->server_secret, sizeof out->server_secret,
                            &out->server_secret_len);
    if (!rc)
        rc = dm_sq_col_blob(s, 13, out->server_nonce, sizeof out->server_nonce,
                            &out->server_nonce_len);
    if (!rc)
        rc = dm_sq_col_blob(s, 14, out->pending_secret, sizeof out->pending_secret,
                            &out->pending_secret_len);
    if (!rc)
        rc = dm_sq_col_text(s, 16, out->notify_addr, sizeof out->notify_addr, 0);
    if (!rc)
        rc = dm_sq_col_text(s, 17, out->srvcred_path, sizeof out->srvcred_path, 0);
    if (!rc)
        rc = dm_sq_col_text(s, 18, out->cert_subject, sizeof out->cert_subject, 0);
    if (!rc)
        rc = dm_sq_col_blob(s, 20, out->client_nonce_pending, sizeof out->client_nonce_pending,
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
 * &q_dev_add (the update statement uses the same ones). */
static int bind_device(sqlite3_stmt *s, const dmsec_device_t *dev)
{
    int rc = dm_sq_bind_str(s, 1, dev->device_id);
    if (!rc)
        rc = dm_sq_bind_str(s, 2, dev->client_name);
    if (!rc)
        rc = dm_sq_bind_i64(s, 3, dev->client_scheme);
    if (!rc)
        rc = dm_sq_bind_prehash(s, 4, &dev->client_prehash);
    if (!rc)
        rc = dm_sq_bind_blob(s, 7, dev->client_secret, dev->client_secret_len);
    if (!rc)
        rc = dm_sq_bind_i64(s, 9, dev->server_scheme);
    if (!rc)
        rc = dm_sq_bind_prehash(s, 10, &dev->server_prehash);
    if (!rc)
        rc = dm_sq_bind_blob(s, 13, dev->server_secret, dev->server_secret_len);
    if (!rc)
        rc = dm_sq_bind_i64(s, 16, dev->integrity);
    if (!rc)
        rc = dm_sq_bind_str(s, 17, dev->notify_addr);
    if (!rc)
        rc = dm_sq_bind_str(s, 18, dev->srvcred_path);
    if (!rc)
        rc = dm_sq_bind_str(s, 19, dev->cert_subject);
    return rc;
}

int dmsec_store_device_add(dmsec_store_t *st, const dmsec_device_t *dev)
{
    if (!st || !dev || !dm_store_device_valid(dev))
        return DMSEC_ERR_INVALID_ARG;
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, &q_dev_add, &s);
    if (rc)
        return rc;
    rc = bind_device(s, dev);
    if (!rc)
        rc = dm_sq_bind_blob(s, 8, dev->client_nonce, dev->client_nonce_len);
    if (!rc)
        rc = dm_sq_bind_blob(s, 14, dev->server_nonce, dev->server_nonce_len);
    if (!rc)
        rc = dm_sq_bind_blob(s, 15, dev->pending_secret, dev->pending_secret_len);
    if (!rc)
        rc = dm_sq_bind_i64(s, 20, dev->created);
    /* No pending nonce is NULL, as a migrated row has it. */
    if (!rc && dev->client_nonce_pending_len)
        rc = dm_sq_bind_blob(s, 21, dev->client_nonce_pending, dev->client_nonce_pending_len);
    return dm_sq_write_bound(st, s, rc);
}

/* Runs a one-row device query bound to key. */
static int device_one(dmsec_store_t *st, const dm_sq_query_t *q, const char *key,
                      dmsec_device_t *out)
{
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, q, &s);
    if (rc)
        return rc;
    rc = dm_sq_step_row(s, dm_sq_bind_str(s, 1, key));
    if (!rc)
        rc = col_device(s, out);
    dm_sq_done(s);
    return rc;
}

int dmsec_store_device_get(dmsec_store_t *st, const char *device_id, dmsec_device_t *out)
{
    if (!st || !out || !dm_store_id_ok(device_id))
        return !st || !out || !device_id ? DMSEC_ERR_INVALID_ARG : DMSEC_ERR_STORE_NOT_FOUND;
    return device_one(st, &q_dev_get, device_id, out);
}

int dmsec_store_device_by_cert(dmsec_store_t *st, const char *subject, dmsec_device_t *out)
{
    if (!st || !subject || !out)
        return DMSEC_ERR_INVALID_ARG;
    /* An empty subject is "no certificate": it names no device. */
    if (!subject[0] || !dm_store_str_fits(subject, DMSEC_NAME_MAX))
        return DMSEC_ERR_STORE_NOT_FOUND;
    return device_one(st, &q_dev_by_cert, subject, out);
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
    dmsec_device_t *batch = calloc(DM_SQ_LIST_BATCH, sizeof *batch);
    if (!batch)
        return DMSEC_ERR_NO_MEMORY;
    char last[DMSEC_STORE_ID_MAX] = "";
    if (after)
        memcpy(last, after, strlen(after) + 1);
    size_t left = limit ? limit : SIZE_MAX;
    int rc = DMSEC_OK;
    while (left) {
        size_t want = left < DM_SQ_LIST_BATCH ? left : DM_SQ_LIST_BATCH;
        sqlite3_stmt *s = NULL;
        size_t n = 0;
        rc = dm_sq_stmt(st, &q_dev_list, &s);
        if (rc)
            break;
        rc = dm_sq_bind_str(s, 1, last);
        if (!rc)
            rc = dm_sq_bind_i64(s, 2, (int64_t)want);
        if (!rc && prefix)
            rc = dm_sq_bind_str(s, 3, prefix);
        rc = dm_sq_read_rows(s, rc, want, &n, read_device, batch);
        int stop = 0;
        for (size_t i = 0; !rc && !stop && i < n; i++)
            rc = dm_store_cb_rc(fn(ctx, &batch[i]), &stop);
        left -= n;
        if (rc || stop || n < want)
            break;
        memcpy(last, batch[n - 1].device_id, sizeof last);
    }
    dm_wipe(batch, DM_SQ_LIST_BATCH * sizeof *batch);
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
    if (!st || !fn || (after && !dm_store_str_fits(after, DMSEC_STORE_ID_MAX)))
        return DMSEC_ERR_INVALID_ARG;
    if (prefix && !dm_store_str_fits(prefix, DMSEC_STORE_ID_MAX))
        return DMSEC_OK; /* no device id is that long */
    return device_walk(st, after, prefix && prefix[0] ? prefix : NULL, limit, fn, ctx);
}

/* Runs a write bound to (key, then the binds of the caller) and maps "no
 * row changed" to DMSEC_ERR_STORE_NOT_FOUND. */
int dm_sq_changed_one(dmsec_store_t *st, sqlite3_stmt *s, int rc)
{
    rc = dm_sq_write_bound(st, s, rc);
    if (!rc && sqlite3_changes(st->db) == 0)
        rc = DMSEC_ERR_STORE_NOT_FOUND;
    return rc;
}

/* A statement on one device: the cached statement q with device_id bound
 * to ?1, in *s for the caller to bind the rest, run (dm_sq_changed_one,
 * dm_sq_step_row) and dm_sq_done. DMSEC_ERR_INVALID_ARG without a store or an
 * id, DMSEC_ERR_STORE_NOT_FOUND for an id no device can have; on an error
 * *s is NULL. */
int dm_sq_device_stmt(dmsec_store_t *st, const dm_sq_query_t *q, const char *device_id,
                      sqlite3_stmt **s)
{
    *s = NULL;
    if (!st || !device_id)
        return DMSEC_ERR_INVALID_ARG;
    if (!dm_store_id_ok(device_id))
        return DMSEC_ERR_STORE_NOT_FOUND;
    int rc = dm_sq_stmt(st, q, s);
    if (!rc)
        rc = dm_sq_bind_str(*s, 1, device_id);
    if (rc && *s) {
        dm_sq_done(*s);
        *s = NULL;
    }
    return rc;
}

/* The write q on one device that binds nothing but its id. */
int dm_sq_device_write(dmsec_store_t *st, const dm_sq_query_t *q, const char *device_id)
{
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_device_stmt(st, q, device_id, &s);
    return rc ? rc : dm_sq_changed_one(st, s, DMSEC_OK);
}

int dm_sq_device_blob(dmsec_store_t *st, const dm_sq_query_t *q, const char *device_id,
                      const uint8_t *p, size_t len, size_t cap)
{
    if (!st || !device_id || (!p && len))
        return DMSEC_ERR_INVALID_ARG;
    if (len > cap)
        return DMSEC_ERR_TOO_LARGE;
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_device_stmt(st, q, device_id, &s);
    return rc ? rc : dm_sq_changed_one(st, s, dm_sq_bind_blob(s, 2, p, len));
}

int dmsec_store_device_remove(dmsec_store_t *st, const char *device_id)
{
    return dm_sq_device_write(st, &q_dev_del, device_id);
}

int dmsec_store_device_get_any(dmsec_store_t *st, const char *device_id, dmsec_device_t *out,
                               int *disabled)
{
    if (!st || !out || !device_id)
        return DMSEC_ERR_INVALID_ARG;
    if (!dm_store_id_ok(device_id))
        return DMSEC_ERR_STORE_NOT_FOUND;
    sqlite3_stmt *s = NULL;
    int rc =
        dm_sq_prepare(st, "SELECT " DEV_COLS ", disabled FROM devices WHERE device_id = ?1", &s);
    if (!rc)
        rc = dm_sq_step_row(s, dm_sq_bind_str(s, 1, device_id));
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
    if (!dm_store_id_ok(device_id))
        return DMSEC_ERR_STORE_NOT_FOUND;
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_prepare(st, "UPDATE devices SET disabled = ?2 WHERE device_id = ?1", &s);
    if (rc)
        return rc;
    rc = dm_sq_bind_str(s, 1, device_id);
    if (!rc)
        rc = dm_sq_bind_i64(s, 2, disabled ? 1 : 0);
    if (!rc)
        rc = dm_sq_write_run(st, s);
    if (!rc && sqlite3_changes(st->db) == 0)
        rc = DMSEC_ERR_STORE_NOT_FOUND;
    sqlite3_finalize(s);
    return rc;
}

int dmsec_store_device_update(dmsec_store_t *st, const dmsec_device_t *dev)
{
    if (!st || !dev || !dm_store_device_valid(dev))
        return DMSEC_ERR_INVALID_ARG;
    sqlite3_stmt *s = NULL;
    /* Nonces, the pending secret and the creation time stay. */
    int rc = dm_sq_prepare(st,
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
        rc = dm_sq_write_run(st, s);
    if (!rc && sqlite3_changes(st->db) == 0)
        rc = DMSEC_ERR_STORE_NOT_FOUND;
    sqlite3_finalize(s);
    return rc;
}
