/*
 * rotation.c - secrets over the SQLite store: the server's own secret
 * (pending, then committed) and the rotation of both credentials (the
 * requests, the client's pending credential and its commit).
 */
#include <sqlite3.h>
#include <stdint.h>
#include <string.h>

#include "crypto/crypto.h"
#include "dmsec/errors.h"
#include "dmsec/store.h"
#include "store_sqlite.h"

static const dm_sq_query_t q_pending_set = {
    SQ_PENDING_SET, "UPDATE devices SET pending_secret = ?2 WHERE device_id = ?1"};
static const dm_sq_query_t q_pending_get = {
    SQ_PENDING_GET, "SELECT server_scheme, integrity, pending_secret FROM devices"
                    " WHERE device_id = ?1"};
static const dm_sq_query_t q_secret_set = {
    SQ_SECRET_SET, "UPDATE devices SET server_ph_flags = ?2, server_ph_md5 = ?3,"
                   " server_ph_sha256 = ?4, server_secret = ?5, pending_secret = NULL,"
                   " rotate_requested = rotate_requested & ~2"
                   " WHERE device_id = ?1"};
static const dm_sq_query_t q_rot_request = {
    SQ_ROT_REQUEST, "UPDATE devices SET rotate_requested = rotate_requested | ?2"
                    " WHERE device_id = ?1"};
static const dm_sq_query_t q_rot_get = {
    SQ_ROT_GET, "SELECT rotate_requested, coalesce(length(pending_secret), 0) > 0,"
                " client_pending_ph_flags, client_pending_ph_md5, client_pending_ph_sha256,"
                " client_pending_secret FROM devices WHERE device_id = ?1"};
static const dm_sq_query_t q_cpend_info = {
    SQ_CPEND_INFO,
    "SELECT client_name, client_scheme, integrity FROM devices WHERE device_id = ?1"};
static const dm_sq_query_t q_cpend_set = {
    SQ_CPEND_SET,
    "UPDATE devices SET client_pending_ph_flags = ?2, client_pending_ph_md5 = ?3,"
    " client_pending_ph_sha256 = ?4, client_pending_secret = ?5 WHERE device_id = ?1"};
/* The pending credential becomes the device's, and the request is met. */
static const dm_sq_query_t q_cpend_commit = {
    SQ_CPEND_COMMIT, "UPDATE devices SET client_ph_flags = client_pending_ph_flags,"
                     " client_ph_md5 = client_pending_ph_md5,"
                     " client_ph_sha256 = client_pending_ph_sha256,"
                     " client_secret = client_pending_secret, client_pending_ph_flags = 0,"
                     " client_pending_ph_md5 = NULL, client_pending_ph_sha256 = NULL,"
                     " client_pending_secret = NULL, rotate_requested = rotate_requested & ~1"
                     " WHERE device_id = ?1 AND client_pending_ph_flags <> 0"};

int dmsec_store_secret_pending(dmsec_store_t *st, const char *device_id, const char *server_id,
                               const uint8_t *secret, size_t len)
{
    /* server_id is checked for symmetry with commit, which hashes it. */
    if (!server_id || !secret || !len)
        return DMSEC_ERR_INVALID_ARG;
    return dm_sq_device_blob(st, &q_pending_set, device_id, secret, len, DMSEC_SECRET_MAX);
}

/* Writes a credential of one device with statement q: the pre-hashes of
 * secret under name (?2-?4) and, where keep_plain, the secret itself
 * (?5). */
static int credential_write(dmsec_store_t *st, const dm_sq_query_t *q, const char *device_id,
                            const char *name, const uint8_t *secret, size_t len, int keep_plain)
{
    dmsec_prehash_t ph;
    memset(&ph, 0, sizeof ph);
    sqlite3_stmt *s = NULL;
    int rc = dmsec_prehash_compute(name, secret, len, &ph);
    if (!rc)
        rc = dm_sq_device_stmt(st, q, device_id, &s);
    if (!rc) {
        rc = dm_sq_bind_prehash(s, 2, &ph);
        if (!rc && keep_plain)
            rc = dm_sq_bind_blob(s, 5, secret, len);
        rc = dm_sq_changed_one(st, s, rc);
    }
    dmsec_prehash_wipe(&ph);
    return rc;
}

/* Reads the pending secret and what decides whether its plaintext stays. */
static int pending_read(dmsec_store_t *st, const char *device_id, uint8_t *secret, size_t *len,
                        int *keep_plain)
{
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_device_stmt(st, &q_pending_get, device_id, &s);
    if (rc)
        return rc;
    rc = dm_sq_step_row(s, DMSEC_OK);
    if (!rc) {
        sqlite3_int64 scheme = sqlite3_column_int64(s, 0);
        sqlite3_int64 integrity = sqlite3_column_int64(s, 1);
        *keep_plain = dm_store_keeps_server_secret(scheme, integrity);
        rc = dm_sq_col_blob(s, 2, secret, DMSEC_SECRET_MAX, len);
        if (!rc && *len == 0)
            rc = DMSEC_ERR_STORE_NOT_FOUND; /* nothing to commit */
    }
    dm_sq_done(s);
    return rc;
}

int dmsec_store_secret_commit(dmsec_store_t *st, const char *device_id, const char *server_id)
{
    if (!st || !device_id || !server_id || !server_id[0])
        return DMSEC_ERR_INVALID_ARG;
    uint8_t secret[DMSEC_SECRET_MAX];
    size_t len = 0;
    int keep_plain = 0;
    int rc = dmsec_store_begin(st);
    if (rc)
        return rc;
    rc = pending_read(st, device_id, secret, &len, &keep_plain);
    if (!rc)
        rc = credential_write(st, &q_secret_set, device_id, server_id, secret, len, keep_plain);
    rc = dm_store_tx_end(st, rc);
    dm_wipe(secret, sizeof secret);
    return rc;
}

int dmsec_store_rotation_request(dmsec_store_t *st, const char *device_id, unsigned sides)
{
    if (!sides || (sides & ~(DMSEC_ROTATE_CLIENT | DMSEC_ROTATE_SERVER)))
        return DMSEC_ERR_INVALID_ARG;
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_device_stmt(st, &q_rot_request, device_id, &s);
    return rc ? rc : dm_sq_changed_one(st, s, dm_sq_bind_i64(s, 2, (int64_t)sides));
}

int dmsec_store_rotation_get(dmsec_store_t *st, const char *device_id, dmsec_rotation_t *out)
{
    if (!out)
        return DMSEC_ERR_INVALID_ARG;
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_device_stmt(st, &q_rot_get, device_id, &s);
    if (rc)
        return rc;
    rc = dm_sq_step_row(s, DMSEC_OK);
    if (!rc) {
        sqlite3_int64 req = sqlite3_column_int64(s, 0);
        out->requested = (unsigned)(req & (DMSEC_ROTATE_CLIENT | DMSEC_ROTATE_SERVER));
        if (sqlite3_column_int64(s, 1))
            out->pending |= DMSEC_ROTATE_SERVER;
        rc = dm_sq_col_prehash(s, 2, &out->client_prehash);
        if (!rc && out->client_prehash.flags)
            out->pending |= DMSEC_ROTATE_CLIENT;
        if (!rc)
            rc = dm_sq_col_blob(s, 5, out->client_secret, sizeof out->client_secret,
                                &out->client_secret_len);
    }
    dm_sq_done(s);
    if (rc)
        dmsec_store_rotation_wipe(out);
    return rc;
}

/* Reads the device's name (what its pre-hashes are of) and whether its
 * secret itself is kept: as for the current credential, only where the key
 * is the secret (HMAC-SHA256). */
static int client_cred_read(dmsec_store_t *st, const char *device_id, char *name, size_t cap,
                            int *keep_plain)
{
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_device_stmt(st, &q_cpend_info, device_id, &s);
    if (rc)
        return rc;
    rc = dm_sq_step_row(s, DMSEC_OK);
    if (!rc)
        rc = dm_sq_col_text(s, 0, name, cap, 0);
    if (!rc)
        *keep_plain = dm_store_keeps_client_secret(sqlite3_column_int64(s, 2));
    dm_sq_done(s);
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
    int rc = dmsec_store_begin(st);
    if (rc)
        return rc;
    rc = client_cred_read(st, device_id, name, sizeof name, &keep_plain);
    if (!rc)
        rc = credential_write(st, &q_cpend_set, device_id, name, secret, len, keep_plain);
    return dm_store_tx_end(st, rc);
}

int dmsec_store_client_secret_commit(dmsec_store_t *st, const char *device_id)
{
    return dm_sq_device_write(st, &q_cpend_commit, device_id);
}
