/*
 * state.c - the stored state of sessions: the events of one engine call
 * applied through a side's writes (dmsec_session_persist), and the same
 * contract kept in memory for tests, benchmarks and fuzzing.
 */
#include <string.h>

#include "crypto/crypto.h"
#include "dmsec/errors.h"
#include "dmsec/session.h"

int dmsec_session_persist(const dmsec_session_t *s, const dmsec_state_ops_t *ops, void *ctx)
{
    if (!s || !ops)
        return DMSEC_ERR_INVALID_ARG;
    const char *peer = dmsec_session_peer_id(s);
    /* An unknown device has nothing stored; its events are only observed. */
    int store = peer && dmsec_session_peer_known(s);
    size_t n = dmsec_session_events(s);
    for (size_t i = 0; i < n; i++) {
        const dmsec_event_t *e = dmsec_session_event(s, i);
        int (*write)(void *, const char *, const uint8_t *, size_t) = NULL;
        int (*mgmt)(void *, const char *, const dmsec_event_t *) = NULL;
        switch (e->type) {
        case DMSEC_EV_NONCE_ISSUED:
            write = ops->set_in_nonce;
            break;
        case DMSEC_EV_NONCE_PENDING:
            write = ops->set_in_nonce_pending;
            break;
        case DMSEC_EV_NONCE_ACCEPTED:
            write = ops->set_out_nonce;
            break;
        case DMSEC_EV_SECRET_PENDING:
            write = ops->secret_pending;
            break;
        case DMSEC_EV_SECRET_ROTATED:
            write = ops->secret_rotated;
            break;
        case DMSEC_EV_CLIENT_SECRET_PENDING:
            write = ops->client_secret_pending;
            break;
        case DMSEC_EV_CLIENT_SECRET_ROTATED:
            mgmt = ops->client_secret_rotated;
            break;
        case DMSEC_EV_PEER_AUTHENTICATED:
        case DMSEC_EV_SELF_AUTHENTICATED:
        case DMSEC_EV_AUTH_FAILED:
        case DMSEC_EV_RESYNC:
        case DMSEC_EV_SESSION_ENDED:
            break;
        case DMSEC_EV_CMD_SENT:
            mgmt = ops->cmd_sent;
            break;
        case DMSEC_EV_CMD_DONE:
            mgmt = ops->cmd_done;
            break;
        case DMSEC_EV_ALERT:
            mgmt = ops->alert;
            break;
        case DMSEC_EV_INVENTORY:
            mgmt = ops->inventory;
            break;
        }
        int rc = store && write ? write(ctx, peer, e->bytes, e->len) : DMSEC_OK;
        if (!rc && store && mgmt)
            rc = mgmt(ctx, peer, e);
        if (!rc && ops->observe)
            rc = ops->observe(ctx, s, e);
        if (rc)
            return rc;
    }
    return DMSEC_OK;
}

/* ---- in memory ---- */

static int mem_nonce(uint8_t *dst, size_t *dst_len, const uint8_t *n, size_t len)
{
    if (len > DMSEC_NONCE_MAX)
        return DMSEC_ERR_TOO_LARGE;
    if (len)
        memcpy(dst, n, len);
    *dst_len = len;
    return DMSEC_OK;
}

static int mem_set_in_nonce(void *ctx, const char *peer, const uint8_t *n, size_t len)
{
    (void)peer;
    dmsec_state_mem_t *m = ctx;
    m->writes++;
    m->acc.in_nonce_pending_len = 0;
    return mem_nonce(m->acc.in_nonce, &m->acc.in_nonce_len, n, len);
}

static int mem_set_in_pending(void *ctx, const char *peer, const uint8_t *n, size_t len)
{
    (void)peer;
    dmsec_state_mem_t *m = ctx;
    m->writes++;
    return mem_nonce(m->acc.in_nonce_pending, &m->acc.in_nonce_pending_len, n, len);
}

static int mem_set_out_nonce(void *ctx, const char *peer, const uint8_t *n, size_t len)
{
    (void)peer;
    dmsec_state_mem_t *m = ctx;
    m->writes++;
    return mem_nonce(m->acc.out_nonce, &m->acc.out_nonce_len, n, len);
}

/* Keeps a secret in dst and *dst_len and, when ph is not NULL, its
 * pre-hashes under user in ph. */
static int mem_cred(uint8_t *dst, size_t *dst_len, dmsec_prehash_t *ph, const char *user,
                    const uint8_t *secret, size_t len)
{
    if (len > DMSEC_SECRET_MAX)
        return DMSEC_ERR_TOO_LARGE;
    memcpy(dst, secret, len);
    *dst_len = len;
    return ph ? dmsec_prehash_compute(user, dst, len, ph) : DMSEC_OK;
}

static int mem_secret_pending(void *ctx, const char *peer, const uint8_t *secret, size_t len)
{
    (void)peer;
    dmsec_state_mem_t *m = ctx;
    m->writes++;
    return mem_cred(m->acc.out_secret_pending, &m->acc.out_secret_pending_len, NULL, NULL, secret,
                    len);
}

static int mem_secret_rotated(void *ctx, const char *peer, const uint8_t *secret, size_t len)
{
    (void)peer;
    dmsec_state_mem_t *m = ctx;
    m->writes++;
    int rc = m->is_server ? mem_cred(m->acc.out_secret, &m->acc.out_secret_len, &m->acc.out_prehash,
                                     m->acc.out_name, secret, len)
                          : mem_cred(m->acc.in_secret, &m->acc.in_secret_len, &m->acc.in_prehash,
                                     m->acc.in_name, secret, len);
    if (!rc && m->is_server) {
        dm_wipe(m->acc.out_secret_pending, sizeof m->acc.out_secret_pending);
        m->acc.out_secret_pending_len = 0;
    }
    return rc;
}

/* Server: the device's new secret as its pending credential (the secret
 * kept as well: HMAC-SHA256 needs it, the others ignore it). */
static int mem_client_pending(void *ctx, const char *peer, const uint8_t *secret, size_t len)
{
    (void)peer;
    dmsec_state_mem_t *m = ctx;
    m->writes++;
    int rc = mem_cred(m->acc.in_secret_pending, &m->acc.in_secret_pending_len,
                      &m->acc.in_prehash_pending, m->acc.in_name, secret, len);
    if (!rc)
        m->acc.in_pending = 1;
    return rc;
}

/* Server: the pending credential becomes the device's. Client: our next
 * secret. */
static int mem_client_rotated(void *ctx, const char *peer, const dmsec_event_t *e)
{
    (void)peer;
    dmsec_state_mem_t *m = ctx;
    m->writes++;
    if (!m->is_server)
        return mem_cred(m->acc.out_secret, &m->acc.out_secret_len, &m->acc.out_prehash,
                        m->acc.out_name, e->bytes, e->len);
    if (!m->acc.in_pending)
        return DMSEC_OK; /* confirmed before */
    m->acc.in_prehash = m->acc.in_prehash_pending;
    memcpy(m->acc.in_secret, m->acc.in_secret_pending, sizeof m->acc.in_secret);
    m->acc.in_secret_len = m->acc.in_secret_pending_len;
    dmsec_prehash_wipe(&m->acc.in_prehash_pending);
    dm_wipe(m->acc.in_secret_pending, sizeof m->acc.in_secret_pending);
    m->acc.in_secret_pending_len = 0;
    m->acc.in_pending = 0;
    return DMSEC_OK;
}

const dmsec_state_ops_t dmsec_state_mem_ops = {
    .set_in_nonce = mem_set_in_nonce,
    .set_in_nonce_pending = mem_set_in_pending,
    .set_out_nonce = mem_set_out_nonce,
    .secret_pending = mem_secret_pending,
    .secret_rotated = mem_secret_rotated,
    .client_secret_pending = mem_client_pending,
    .client_secret_rotated = mem_client_rotated,
};

int dmsec_state_mem_get_account(void *ctx, const char *peer_id, dmsec_account_t *out)
{
    (void)peer_id;
    const dmsec_state_mem_t *m = ctx;
    if (!m || !out)
        return DMSEC_ERR_INVALID_ARG;
    if (!m->known)
        return DMSEC_ERR_SESSION_UNKNOWN_PEER;
    *out = m->acc;
    return DMSEC_OK;
}
