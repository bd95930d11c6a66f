/*
 * nonces.c - the nonces both ways over the SQLite store: the client's
 * (current and pending) and the server's.
 */
#include <sqlite3.h>
#include <stdint.h>

#include "dmsec/errors.h"
#include "dmsec/store.h"
#include "store_sqlite.h"

/* Issued to an authenticated peer: it replaces the current nonce and
 * supersedes a pending one, in one statement. */
static const dm_sq_query_t q_client_nonce = {
    SQ_CLIENT_NONCE, "UPDATE devices SET client_nonce = ?2, client_nonce_pending = NULL"
                     " WHERE device_id = ?1"};
/* Issued to a peer not authenticated yet: the current nonce stays. */
static const dm_sq_query_t q_client_nonce_pending = {
    SQ_CLIENT_NONCE_PENDING, "UPDATE devices SET client_nonce_pending = ?2 WHERE device_id = ?1"};
static const dm_sq_query_t q_server_nonce = {
    SQ_SERVER_NONCE, "UPDATE devices SET server_nonce = ?2 WHERE device_id = ?1"};

int dmsec_store_set_client_nonce(dmsec_store_t *st, const char *device_id, const uint8_t *nonce,
                                 size_t len)
{
    return dm_sq_device_blob(st, &q_client_nonce, device_id, nonce, len, DMSEC_NONCE_MAX);
}

int dmsec_store_set_client_nonce_pending(dmsec_store_t *st, const char *device_id,
                                         const uint8_t *nonce, size_t len)
{
    return dm_sq_device_blob(st, &q_client_nonce_pending, device_id, nonce, len, DMSEC_NONCE_MAX);
}

int dmsec_store_set_server_nonce(dmsec_store_t *st, const char *device_id, const uint8_t *nonce,
                                 size_t len)
{
    return dm_sq_device_blob(st, &q_server_nonce, device_id, nonce, len, DMSEC_NONCE_MAX);
}
