/*
 * Secret rotation by the server, both credentials (issue 12, device
 * rotate): the device's CLCRED secret (pending until the device's Status,
 * the old one used to the end of the session that delivered it) and the
 * server's SRVCRED secret, and what happens when the device applied a
 * Replace and its 200 never reached the server: the device is never locked
 * out. Two engines in memory, each persisting its events through the
 * session-state contract in memory (dmsec_state_mem_ops) before the next
 * message goes, over plain HTTP (a Cred in every message) and over TLS,
 * for each authentication scheme and both HMAC modes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dmsec/auth.h"
#include "dmsec/errors.h"
#include "dmsec/session.h"
#include "dmsec/store.h"
#include "pair_fixture.h"

#define DEVICE_ID "IMEI:493005100592801"
#define SERVER_ID "dm.example.org"
#define SERVER_URI "https://dm.example.org/dm"
#define CLIENT_SECRET "client-secret-0123456789"
#define SERVER_SECRET "server-secret-9876543210"
#define SRVCRED_PATH "./DMAcc/dmsec/AppAuth/SRVCRED"
#define CLCRED_PATH "./DMAcc/dmsec/AppAuth/CLCRED"
#define NOW 1795503011

static dmsec_codec_t codec;

struct party {
    dmsec_state_mem_t mem; /* first: what is stored */
    int rotate;            /* server: 1 the device's secret, 2 ours, each queued once */
    int secure;            /* the transport authenticates the session (TLS) */
};

/* What a conversation did. */
struct run {
    int messages;
    int pending;  /* CLIENT_SECRET_PENDING and SECRET_PENDING events of the server */
    int rotated;  /* CLIENT_SECRET_ROTATED and SECRET_ROTATED events of the server */
    int by_use;   /* of them, confirmed by use (status 0) */
    int dropped;  /* device messages dropped */
    int after_it; /* device messages that reached the server after it stored its new secret */
};

static void pair(struct party *dev, struct party *srv, dmsec_auth_scheme_t scheme,
                 dmsec_integrity_t integrity, int secure)
{
    memset(dev, 0, sizeof *dev);
    memset(srv, 0, sizeof *srv);
    assert_int_equal(pair_accounts(&dev->mem, &srv->mem, scheme, scheme, DEVICE_ID, CLIENT_SECRET,
                                   SERVER_ID, SERVER_SECRET, SRVCRED_PATH),
                     0);
    strcpy(dev->mem.acc.clcred_path, CLCRED_PATH);
    strcpy(srv->mem.acc.clcred_path, CLCRED_PATH);
    dev->mem.acc.integrity = srv->mem.acc.integrity = integrity;
    dev->secure = srv->secure = secure;
}

/* The device's tree: a Replace of an AAuthSecret succeeds, the rest is not
 * there (the inventory Gets answer 404). */
static int tree_exec(void *ctx, const char *server_id, const dmsec_cmd_t *cmd,
                     const dmsec_item_t *item, dmsec_tree_result_t *res)
{
    (void)ctx;
    (void)server_id;
    const char *uri = item->target && item->target->uri ? item->target->uri : "";
    res->status = cmd->type == DMSEC_CMD_REPLACE && strstr(uri, "/AAuthSecret") ? 200 : 404;
    return 0;
}

static int pending_cmds(void *ctx, dmsec_session_t *s)
{
    struct party *p = ctx;
    if ((p->rotate & 1) && dmsec_session_rotate_client_secret(s) == DMSEC_OK)
        p->rotate &= ~1;
    if ((p->rotate & 2) && dmsec_session_rotate_secret(s) == DMSEC_OK)
        p->rotate &= ~2;
    return DMSEC_OK;
}

static dmsec_session_t *new_client(struct party *dev)
{
    dmsec_session_config_t cfg = pair_client_config(codec, SERVER_ID, SERVER_URI, DEVICE_ID, dev);
    cfg.transport_secure = dev->secure;
    cfg.cb.tree_exec = tree_exec;
    dmsec_session_t *s = dmsec_session_new(&cfg);
    assert_non_null(s);
    return s;
}

static dmsec_session_t *new_server(struct party *srv)
{
    dmsec_session_config_t cfg = pair_server_config(SERVER_ID, SERVER_URI, srv);
    cfg.transport_secure = srv->secure;
    cfg.cb.pending_cmds = pending_cmds;
    dmsec_session_t *s = dmsec_session_new(&cfg);
    assert_non_null(s);
    return s;
}

static void persist(dmsec_session_t *s, struct party *p, struct run *r)
{
    assert_int_equal(dmsec_session_persist(s, &dmsec_state_mem_ops, &p->mem), DMSEC_OK);
    if (!p->mem.is_server)
        return;
    for (size_t i = 0; i < dmsec_session_events(s); i++) {
        const dmsec_event_t *e = dmsec_session_event(s, i);
        if (e->type == DMSEC_EV_CLIENT_SECRET_PENDING || e->type == DMSEC_EV_SECRET_PENDING)
            r->pending++;
        if (e->type == DMSEC_EV_CLIENT_SECRET_ROTATED || e->type == DMSEC_EV_SECRET_ROTATED) {
            r->rotated++;
            r->by_use += e->status == 0;
        }
    }
}

/* What the device stores changed since the start (its CLCRED secret, or
 * the server's SRVCRED secret): from then on drop_after drops its
 * messages, as a lost answer. */
enum { DROP_NONE = 0, DROP_AFTER_CLCRED, DROP_AFTER_SRVCRED };

static int device_rotated(const struct party *dev, int which)
{
    if (which == DROP_AFTER_CLCRED)
        return dev->mem.acc.out_secret_len != strlen(CLIENT_SECRET);
    if (which == DROP_AFTER_SRVCRED)
        return dev->mem.acc.in_secret_len != strlen(SERVER_SECRET);
    return 0;
}

/* A conversation under way: the device, what to drop, what it did. */
struct conv {
    const struct party *dev;
    int drop;
    struct run r;
};

/* pair_drive's before hook: a device message once the device stored what
 * drop names is lost (the server's session times out); the others are
 * counted when the device stored either. */
static void drop_after(void *arg, pair_msg_t *m)
{
    struct conv *cv = arg;
    if (!m->to_server)
        return;
    if (device_rotated(cv->dev, cv->drop)) {
        cv->r.dropped++;
        m->lost = 1;
    } else if (device_rotated(cv->dev, DROP_AFTER_CLCRED) ||
               device_rotated(cv->dev, DROP_AFTER_SRVCRED)) {
        cv->r.after_it++;
    }
}

/* pair_drive's after hook: each side persists its events at once. */
static void persist_call(void *arg, const pair_call_t *call)
{
    struct conv *cv = arg;
    persist(call->engine, call->party, &cv->r);
}

/* One session between dev and srv; drop: DROP_*. */
static struct run converse(struct party *dev, struct party *srv, int drop, dmsec_session_t **cp,
                           dmsec_session_t **sp)
{
    struct conv cv = {.dev = dev, .drop = drop};
    pair_drive_t d = {.client = new_client(dev),
                      .server = new_server(srv),
                      .dev = dev,
                      .srv = srv,
                      .codec = codec,
                      .now = NOW,
                      .max = 40,
                      .before = drop_after,
                      .after = persist_call,
                      .arg = &cv};
    pair_run_t pr;
    assert_int_equal(pair_drive(&d, &pr), DMSEC_OK);
    cv.r.messages = pr.messages;
    if (cp)
        *cp = d.client;
    else
        dmsec_session_free(d.client);
    if (sp)
        *sp = d.server;
    else
        dmsec_session_free(d.server);
    return cv.r;
}

/* A whole session; 1 when both sides authenticated each other and it
 * ended well (device_only: when the server authenticated the device and
 * both ended well: over TLS a device whose last message was lost refuses
 * the server's Cred on the nonce it replaced, and the server, needing no
 * verdict over TLS, ends the session; the next one is whole). */
static int session_of(struct party *dev, struct party *srv, struct run *rr, int device_only)
{
    dmsec_session_t *c = NULL;
    dmsec_session_t *s = NULL;
    struct run r = converse(dev, srv, DROP_NONE, &c, &s);
    int ok = dmsec_session_result(c) == DMSEC_OK && dmsec_session_result(s) == DMSEC_OK &&
             (device_only || dmsec_session_peer_authenticated(c)) &&
             dmsec_session_peer_authenticated(s);
    if (getenv("ROT_DEBUG"))
        fprintf(stderr, "session: client %s server %s authed %d %d messages %d\n",
                dmsec_errname(dmsec_session_result(c)), dmsec_errname(dmsec_session_result(s)),
                dmsec_session_peer_authenticated(c), dmsec_session_peer_authenticated(s),
                r.messages);
    dmsec_session_free(c);
    dmsec_session_free(s);
    if (rr)
        *rr = r;
    return ok;
}

static int session_ok(struct party *dev, struct party *srv, struct run *rr)
{
    return session_of(dev, srv, rr, 0);
}

/* A copy of the device as it was (its old secrets), with the nonces the
 * server holds for it now, so that only the secret tells. */
static struct party old_copy(const struct party *old, const struct party *now)
{
    struct party p = *old;
    memcpy(p.mem.acc.out_nonce, now->mem.acc.out_nonce, now->mem.acc.out_nonce_len);
    p.mem.acc.out_nonce_len = now->mem.acc.out_nonce_len;
    memcpy(p.mem.acc.in_nonce, now->mem.acc.in_nonce, now->mem.acc.in_nonce_len);
    p.mem.acc.in_nonce_len = now->mem.acc.in_nonce_len;
    return p;
}

static const struct {
    dmsec_auth_scheme_t scheme;
    dmsec_integrity_t integrity;
    const char *name;
} modes[] = {
    {DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE, "md5"},
    {DMSEC_AUTH_SHA256, DMSEC_INTEGRITY_NONE, "sha256"},
    {DMSEC_AUTH_BASIC, DMSEC_INTEGRITY_NONE, "basic"},
    {DMSEC_AUTH_MD5, DMSEC_INTEGRITY_HMAC_MD5, "hmac-md5"},
    {DMSEC_AUTH_SHA256, DMSEC_INTEGRITY_HMAC_SHA256, "hmac-sha256"},
};
#define N_MODES (sizeof modes / sizeof modes[0])

/* A test's body for one mode (modes[m]) and transport: dev and srv paired. */
typedef void (*mode_test_fn)(struct party *dev, struct party *srv, size_t m, int secure);

/* Runs fn for every mode, over plain HTTP and over TLS. */
static void each_mode(mode_test_fn fn)
{
    for (size_t m = 0; m < N_MODES; m++) {
        for (int secure = 0; secure < 2; secure++) {
            struct party dev, srv;
            pair(&dev, &srv, modes[m].scheme, modes[m].integrity, secure);
            fn(&dev, &srv, m, secure);
        }
    }
}

/* A session in which the server rotates side (1: the device's secret, 2:
 * ours) and the device's answer after it applied the Replace is lost: the
 * server holds the new secret as pending. */
static void rotate_status_lost(struct party *dev, struct party *srv, int side)
{
    srv->rotate = side;
    struct run r =
        converse(dev, srv, side == 1 ? DROP_AFTER_CLCRED : DROP_AFTER_SRVCRED, NULL, NULL);
    assert_int_equal(r.dropped, 1);
    assert_int_equal(r.pending, 1);
    assert_int_equal(r.rotated, 0);
}

/* The next session (whole, or device_only as session_of) on the new
 * secret: the pending one is confirmed by use. */
static void confirmed_by_use(struct party *dev, struct party *srv, int device_only)
{
    struct run r;
    assert_true(session_of(dev, srv, &r, device_only));
    assert_int_equal(r.rotated, 1);
    assert_int_equal(r.by_use, 1);
}

/* A session that rotates nothing, and when old is not NULL, one of a copy
 * of the device as old that is refused. */
static void settled(struct party *dev, struct party *srv, const struct party *old)
{
    struct run r;
    assert_true(session_ok(dev, srv, &r));
    assert_int_equal(r.rotated, 0);
    if (old) {
        struct party stale = old_copy(old, dev);
        assert_false(session_ok(&stale, srv, NULL));
    }
}

/* The device gets its new secret in a session and goes on with the old
 * one to its end (over plain HTTP every later message carries a Cred or a
 * MAC, which the server checks on the old credential); the server stores
 * the new one on the device's 200; the next session authenticates on it,
 * and the old secret is refused. */
static void client_confirmed(struct party *dev, struct party *srv, size_t m, int secure)
{
    (void)secure;
    struct party old = *dev;
    srv->rotate = 1;
    dmsec_session_t *c = NULL;
    struct run r = converse(dev, srv, DROP_NONE, &c, NULL);
    assert_int_equal(dmsec_session_result(c), DMSEC_OK);
    assert_int_equal(r.pending, 1);
    assert_int_equal(r.rotated, 1);
    assert_int_equal(r.by_use, 0);
    /* the Status of the Replace went in a message of the device after it
     * stored the new secret, checked on the old one */
    assert_true(r.after_it >= 1);
    const dmsec_account_t *ca = dmsec_session_account(c);
    assert_int_equal(ca->out_secret_len, strlen(CLIENT_SECRET));
    assert_memory_equal(ca->out_secret, CLIENT_SECRET, strlen(CLIENT_SECRET));
    dmsec_session_free(c);
    /* stored on both sides: a new secret, the server's view of it */
    assert_int_equal(dev->mem.acc.out_secret_len, 32);
    assert_memory_not_equal(dev->mem.acc.out_secret, CLIENT_SECRET, 24);
    dmsec_prehash_t ph;
    assert_int_equal(dmsec_prehash_compute(DEVICE_ID, dev->mem.acc.out_secret, 32, &ph), 0);
    assert_memory_equal(srv->mem.acc.in_prehash.md5, ph.md5, sizeof ph.md5);
    assert_memory_equal(srv->mem.acc.in_prehash.sha256, ph.sha256, sizeof ph.sha256);
    assert_int_equal(srv->mem.acc.in_pending, 0);
    if (modes[m].integrity == DMSEC_INTEGRITY_HMAC_SHA256)
        assert_memory_equal(srv->mem.acc.in_secret, dev->mem.acc.out_secret, 32);
    settled(dev, srv, &old);
}

static void client_rotation_confirmed(void **state)
{
    (void)state;
    each_mode(client_confirmed);
}

/* The device applied the Replace of its secret; its 200 never reached the
 * server, which holds the new credential as pending. The device's next
 * session is on the new secret: accepted, and the pending credential is
 * promoted (confirmed by use). The old secret is refused afterwards. */
static void client_lost_status(struct party *dev, struct party *srv, size_t m, int secure)
{
    (void)m;
    struct party old = *dev;
    rotate_status_lost(dev, srv, 1);
    assert_int_equal(srv->mem.acc.in_pending, 1);
    assert_int_equal(dev->mem.acc.out_secret_len, 32);
    confirmed_by_use(dev, srv, secure);
    assert_int_equal(srv->mem.acc.in_pending, 0);
    settled(dev, srv, &old);
}

static void client_rotation_lost_status(void **state)
{
    (void)state;
    each_mode(client_lost_status);
}

/* The device applied the server's new SRVCRED secret; its 200 was lost.
 * It refuses the server's Cred (or MAC) on the old secret; the server
 * answers once more on the pending one, the device takes it, and the
 * server commits it (confirmed by use). */
static void server_lost_status(struct party *dev, struct party *srv, size_t m, int secure)
{
    (void)m;
    (void)secure;
    rotate_status_lost(dev, srv, 2);
    assert_int_equal(srv->mem.acc.out_secret_pending_len, 32);
    assert_memory_equal(srv->mem.acc.out_secret, SERVER_SECRET, strlen(SERVER_SECRET));
    assert_memory_equal(srv->mem.acc.out_secret_pending, dev->mem.acc.in_secret, 32);
    confirmed_by_use(dev, srv, 0);
    assert_int_equal(srv->mem.acc.out_secret_pending_len, 0);
    assert_int_equal(srv->mem.acc.out_secret_len, 32);
    assert_memory_equal(srv->mem.acc.out_secret, dev->mem.acc.in_secret, 32);
    settled(dev, srv, NULL);
}

static void server_rotation_lost_status(void **state)
{
    (void)state;
    each_mode(server_lost_status);
}

/* Both rotations confirmed in one session, then the next session on both
 * new secrets. */
static void both_rotations_in_one_session(void **state)
{
    (void)state;
    for (int secure = 0; secure < 2; secure++) {
        struct party dev, srv;
        pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE, secure);
        srv.rotate = 3;
        struct run r;
        assert_true(session_ok(&dev, &srv, &r));
        assert_int_equal(r.pending, 2);
        assert_int_equal(r.rotated, 2);
        assert_int_equal(dev.mem.acc.out_secret_len, 32);
        assert_int_equal(dev.mem.acc.in_secret_len, 32);
        assert_true(session_ok(&dev, &srv, &r));
    }
}

/* Pending values the device never got change nothing: the device goes on
 * with its secrets, the server drops its stale pending secret once the
 * device accepted the current one, and a wrong secret is still refused. */
static void stale_pending_is_harmless(void **state)
{
    (void)state;
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE, 0);
    memset(srv.mem.acc.out_secret_pending, 'p', 32);
    srv.mem.acc.out_secret_pending_len = 32;
    assert_int_equal(dmsec_prehash_compute(DEVICE_ID, (const uint8_t *)"never-sent-secret", 17,
                                           &srv.mem.acc.in_prehash_pending),
                     0);
    srv.mem.acc.in_pending = 1;
    struct run r;
    assert_true(session_ok(&dev, &srv, &r));
    assert_int_equal(r.rotated, 0);
    assert_memory_equal(srv.mem.acc.out_secret, SERVER_SECRET, strlen(SERVER_SECRET));
    struct party bad = dev;
    memcpy(bad.mem.acc.out_secret, "wrong-secret-wrong-secret", 24);
    bad.mem.acc.out_secret_len = 24;
    assert_int_equal(
        dmsec_prehash_compute(DEVICE_ID, bad.mem.acc.out_secret, 24, &bad.mem.acc.out_prehash), 0);
    assert_false(session_ok(&bad, &srv, NULL));
    assert_int_equal(srv.mem.acc.in_pending, 1); /* still pending: nothing promoted */
}

/* The API's refusals. */
static void rotation_refusals(void **state)
{
    (void)state;
    assert_int_equal(dmsec_session_rotate_client_secret(NULL), DMSEC_ERR_SESSION_STATE);
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE, 0);
    dmsec_session_t *c = new_client(&dev);
    dmsec_session_t *s = new_server(&srv);
    /* a client does not rotate; a server before it knows its device neither */
    assert_int_equal(dmsec_session_rotate_client_secret(c), DMSEC_ERR_SESSION_STATE);
    assert_int_equal(dmsec_session_rotate_client_secret(s), DMSEC_ERR_SESSION_STATE);
    dmsec_session_free(c);
    dmsec_session_free(s);
}

/* ---- the store: requests, pending, commit ---- */

static void store_device(dmsec_store_t *st, const char *id, dmsec_integrity_t integrity)
{
    dmsec_device_t d;
    memset(&d, 0, sizeof d);
    snprintf(d.device_id, sizeof d.device_id, "%s", id);
    snprintf(d.client_name, sizeof d.client_name, "%s", id);
    d.client_scheme = DMSEC_AUTH_MD5;
    d.integrity = integrity;
    assert_int_equal(dmsec_prehash_compute(id, (const uint8_t *)CLIENT_SECRET,
                                           strlen(CLIENT_SECRET), &d.client_prehash),
                     0);
    if (integrity == DMSEC_INTEGRITY_HMAC_SHA256) {
        d.client_scheme = DMSEC_AUTH_SHA256;
        d.client_secret_len = strlen(CLIENT_SECRET);
        memcpy(d.client_secret, CLIENT_SECRET, d.client_secret_len);
    }
    d.server_scheme = DMSEC_AUTH_MD5;
    assert_int_equal(dmsec_prehash_compute(SERVER_ID, (const uint8_t *)SERVER_SECRET,
                                           strlen(SERVER_SECRET), &d.server_prehash),
                     0);
    snprintf(d.srvcred_path, sizeof d.srvcred_path, "%s", SRVCRED_PATH);
    assert_int_equal(dmsec_store_device_add(st, &d), DMSEC_OK);
}

static void store_rotation_request_pending_commit(void **state)
{
    (void)state;
    dmsec_store_t *st = NULL;
    assert_int_equal(dmsec_store_open(":memory:", &st), DMSEC_OK);
    store_device(st, "IMEI:1", DMSEC_INTEGRITY_NONE);
    store_device(st, "IMEI:2", DMSEC_INTEGRITY_HMAC_SHA256);
    dmsec_rotation_t r;
    assert_int_equal(dmsec_store_rotation_get(st, "IMEI:1", &r), DMSEC_OK);
    assert_int_equal(r.requested, 0);
    assert_int_equal(r.pending, 0);
    /* requests add up, per device */
    assert_int_equal(dmsec_store_rotation_request(st, "IMEI:1", DMSEC_ROTATE_CLIENT), DMSEC_OK);
    assert_int_equal(dmsec_store_rotation_request(st, "IMEI:1", DMSEC_ROTATE_SERVER), DMSEC_OK);
    assert_int_equal(dmsec_store_rotation_get(st, "IMEI:1", &r), DMSEC_OK);
    assert_int_equal(r.requested, DMSEC_ROTATE_CLIENT | DMSEC_ROTATE_SERVER);
    assert_int_equal(dmsec_store_rotation_get(st, "IMEI:2", &r), DMSEC_OK);
    assert_int_equal(r.requested, 0);
    /* bad requests */
    assert_int_equal(dmsec_store_rotation_request(st, "IMEI:9", DMSEC_ROTATE_CLIENT),
                     DMSEC_ERR_STORE_NOT_FOUND);
    assert_int_equal(dmsec_store_rotation_request(st, "IMEI:1", 0), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_rotation_request(st, "IMEI:1", 4), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_rotation_get(st, "IMEI:9", &r), DMSEC_ERR_STORE_NOT_FOUND);
    /* nothing pending: nothing to commit */
    assert_int_equal(dmsec_store_client_secret_commit(st, "IMEI:1"), DMSEC_ERR_STORE_NOT_FOUND);

    /* the device's new secret sent: pre-hashes only (MD5 scheme) */
    const uint8_t nsec[] = "new-client-secret-0123456789abcd";
    assert_int_equal(dmsec_store_client_secret_pending(st, "IMEI:1", nsec, 32), DMSEC_OK);
    assert_int_equal(dmsec_store_rotation_get(st, "IMEI:1", &r), DMSEC_OK);
    assert_int_equal(r.pending, DMSEC_ROTATE_CLIENT);
    dmsec_prehash_t ph;
    assert_int_equal(dmsec_prehash_compute("IMEI:1", nsec, 32, &ph), 0);
    assert_memory_equal(r.client_prehash.md5, ph.md5, sizeof ph.md5);
    assert_memory_equal(r.client_prehash.sha256, ph.sha256, sizeof ph.sha256);
    assert_int_equal(r.client_secret_len, 0);
    /* the engine's account gets it beside the current credential */
    dmsec_device_t d;
    dmsec_account_t acc;
    assert_int_equal(dmsec_store_device_get(st, "IMEI:1", &d), DMSEC_OK);
    assert_int_equal(dmsec_store_device_account(&d, SERVER_ID, &acc), DMSEC_OK);
    assert_string_equal(acc.clcred_path, CLCRED_PATH);
    assert_int_equal(acc.in_pending, 0);
    dmsec_store_rotation_account(&r, &acc);
    assert_int_equal(acc.in_pending, 1);
    assert_memory_equal(acc.in_prehash_pending.md5, ph.md5, sizeof ph.md5);
    assert_memory_not_equal(acc.in_prehash.md5, ph.md5, sizeof ph.md5);
    /* the server's secret pending shows as pending server */
    assert_int_equal(dmsec_store_secret_pending(st, "IMEI:1", SERVER_ID, nsec, 32), DMSEC_OK);
    assert_int_equal(dmsec_store_rotation_get(st, "IMEI:1", &r), DMSEC_OK);
    assert_int_equal(r.pending, DMSEC_ROTATE_CLIENT | DMSEC_ROTATE_SERVER);
    assert_int_equal(dmsec_store_device_get(st, "IMEI:1", &d), DMSEC_OK);
    assert_int_equal(dmsec_store_device_account(&d, SERVER_ID, &acc), DMSEC_OK);
    assert_int_equal(acc.out_secret_pending_len, 32);

    /* commit: the device's credential is the new one, its request met */
    assert_int_equal(dmsec_store_client_secret_commit(st, "IMEI:1"), DMSEC_OK);
    assert_int_equal(dmsec_store_rotation_get(st, "IMEI:1", &r), DMSEC_OK);
    assert_int_equal(r.requested, DMSEC_ROTATE_SERVER);
    assert_int_equal(r.pending, DMSEC_ROTATE_SERVER);
    assert_int_equal(dmsec_store_device_get(st, "IMEI:1", &d), DMSEC_OK);
    assert_memory_equal(d.client_prehash.md5, ph.md5, sizeof ph.md5);
    assert_int_equal(d.client_secret_len, 0);
    assert_int_equal(dmsec_store_client_secret_commit(st, "IMEI:1"), DMSEC_ERR_STORE_NOT_FOUND);
    /* the server's side: its commit meets the other request */
    assert_int_equal(dmsec_store_secret_commit(st, "IMEI:1", SERVER_ID), DMSEC_OK);
    assert_int_equal(dmsec_store_rotation_get(st, "IMEI:1", &r), DMSEC_OK);
    assert_int_equal(r.requested, 0);
    assert_int_equal(r.pending, 0);

    /* HMAC-SHA256: the secret itself is kept, as for the current one */
    assert_int_equal(dmsec_store_client_secret_pending(st, "IMEI:2", nsec, 32), DMSEC_OK);
    assert_int_equal(dmsec_store_rotation_get(st, "IMEI:2", &r), DMSEC_OK);
    assert_int_equal(r.client_secret_len, 32);
    assert_memory_equal(r.client_secret, nsec, 32);
    assert_int_equal(dmsec_store_client_secret_commit(st, "IMEI:2"), DMSEC_OK);
    assert_int_equal(dmsec_store_device_get(st, "IMEI:2", &d), DMSEC_OK);
    assert_int_equal(d.client_secret_len, 32);
    assert_memory_equal(d.client_secret, nsec, 32);
    /* a disabled device keeps its request (asked before or while disabled) */
    assert_int_equal(dmsec_store_device_set_disabled(st, "IMEI:2", 1), DMSEC_OK);
    assert_int_equal(dmsec_store_rotation_request(st, "IMEI:2", DMSEC_ROTATE_CLIENT), DMSEC_OK);
    assert_int_equal(dmsec_store_rotation_get(st, "IMEI:2", &r), DMSEC_OK);
    assert_int_equal(r.requested, DMSEC_ROTATE_CLIENT);
    dmsec_store_rotation_wipe(&r);
    dmsec_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(client_rotation_confirmed),
        cmocka_unit_test(client_rotation_lost_status),
        cmocka_unit_test(server_rotation_lost_status),
        cmocka_unit_test(both_rotations_in_one_session),
        cmocka_unit_test(stale_pending_is_harmless),
        cmocka_unit_test(rotation_refusals),
        cmocka_unit_test(store_rotation_request_pending_commit),
    };
    int failed = 0;
    codec = DMSEC_CODEC_XML;
    failed += cmocka_run_group_tests_name("rotation (XML)", tests, NULL, NULL);
    codec = DMSEC_CODEC_WBXML;
    failed += cmocka_run_group_tests_name("rotation (WBXML)", tests, NULL, NULL);
    return failed;
}
