/* The HTTP(S) front end: routes requests, collects SyncML bodies, runs the
 * session engine on them with the store behind its callbacks, persists
 * every event before the answer leaves, and keeps sessions across requests
 * under their RespURI token. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "dmsec/codec.h"
#include "dmsec/errors.h"
#include "request.h"
#include "server.h"

_Static_assert(REQ_TOKEN_LEN == SESSION_TOKEN_LEN, "a session token is routed as it is made");

#define MAC_KEEP_SECONDS 900
#define EARLY_REJECT_FACTOR 4 /* a declared length this far over the limit is refused unread */

struct req {
    double t0;
    int post;
    int too_large;
    uint8_t *body;
    size_t len;
    size_t cap;
};

/* ---- responses ---- */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned code, const char *ctype,
                               const void *body, size_t len, const char *hmac, long retry_after)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (hmac && hmac[0])
        MHD_add_response_header(r, "x-syncml-hmac", hmac);
    if (retry_after > 0) {
        char v[24];
        snprintf(v, sizeof v, "%ld", retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, v);
    }
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned code, const char *text,
                                    long retry_after)
{
    return respond(c, code, "text/plain; charset=utf-8", text, strlen(text), NULL, retry_after);
}

/* An engine error answered over HTTP: its name, so a client (or an
 * operator with curl) sees what was wrong with the body. */
static enum MHD_Result respond_err(struct MHD_Connection *c, unsigned code, int err)
{
    char text[96];
    snprintf(text, sizeof text, "%s\n", dmsec_errname(err));
    return respond_text(c, code, text, code == MHD_HTTP_SERVICE_UNAVAILABLE ? 5 : 0);
}

static void peer_addr(struct MHD_Connection *c, char *out, size_t cap)
{
    snprintf(out, cap, "unknown");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    /* The family tells how long the address really is. */
    sa_family_t fam = ci->client_addr->sa_family;
    if (fam == AF_INET) {
        struct sockaddr_in in;
        memcpy(&in, ci->client_addr, sizeof in);
        inet_ntop(AF_INET, &in.sin_addr, out, (socklen_t)cap);
    } else if (fam == AF_INET6) {
        struct sockaddr_in6 in6;
        memcpy(&in6, ci->client_addr, sizeof in6);
        inet_ntop(AF_INET6, &in6.sin6_addr, out, (socklen_t)cap);
    }
}

/* ---- engine callbacks: the store of the request being served ---- */

static void note_store_err(struct cb_ctx *x, int rc)
{
    if (rc < 0 && rc != DMSEC_ERR_STORE_NOT_FOUND && !x->store_err)
        x->store_err = rc;
}

static int cb_get_account(void *ctx, const char *peer_id, dmsec_account_t *out)
{
    struct cb_ctx *x = ctx;
    dmsec_device_t dev;
    int rc = dmsec_store_device_get(x->st, peer_id, &dev);
    if (rc == DMSEC_ERR_STORE_NOT_FOUND) {
        rc = DMSEC_ERR_SESSION_UNKNOWN_PEER;
    } else if (rc) {
        note_store_err(x, rc);
    } else {
        rc = dmsec_store_device_account(&dev, x->cfg->server_id, out);
        snprintf(x->device, sizeof x->device, "%s", dev.device_id);
        /* an operator's rotation request, and the device's pending
         * credential of an earlier one */
        dmsec_rotation_t rot;
        int r = rc ? rc : dmsec_store_rotation_get(x->st, peer_id, &rot);
        if (!rc && !r) {
            dmsec_store_rotation_account(&rot, out);
            x->rotate_requested = rot.requested;
        } else if (!rc) {
            note_store_err(x, r);
            rc = r;
        }
        dmsec_store_rotation_wipe(&rot);
    }
    srv_wipe(&dev, sizeof dev);
    return rc;
}

static int cb_resync_outstanding(void *ctx, const char *device_id, const char *session_id)
{
    struct cb_ctx *x = ctx;
    int r = dmsec_store_resync_outstanding(x->st, device_id, session_id, (int64_t)time(NULL));
    note_store_err(x, r);
    if (r == 1)
        x->resync_alerted = 1;
    return r == 1;
}

static int cb_resync_consume(void *ctx, const char *device_id, const char *session_id)
{
    struct cb_ctx *x = ctx;
    int r = dmsec_store_resync_consume(x->st, device_id, session_id, (int64_t)time(NULL));
    note_store_err(x, r);
    return r == 1;
}

static int cb_mac_seen(void *ctx, const char *mac, time_t timestamp)
{
    struct cb_ctx *x = ctx;
    int r =
        dmsec_store_mac_seen(x->st, mac, (int64_t)timestamp, (int64_t)time(NULL), MAC_KEEP_SECONDS);
    note_store_err(x, r);
    return r != 0; /* a store failure counts as seen: refuse rather than risk a replay */
}

/* The once-only use of a client nonce across racing sessions (nonces.c). */
static int cb_nonce_used(void *ctx, const char *device_id, const uint8_t *nonce, size_t len)
{
    (void)ctx;
    return nonces_used(device_id, nonce, len, time(NULL));
}

static void cb_client_cmd(void *ctx, const dmsec_cmd_t *cmd)
{
    struct cb_ctx *x = ctx;
    if (!log_debug_enabled() || (cmd->type != DMSEC_CMD_RESULTS && cmd->type != DMSEC_CMD_ALERT))
        return;
    char dev[DMSEC_STORE_ID_MAX];
    log_clean(dev, sizeof dev, x->device);
    for (const dmsec_item_t *it = cmd->items; it; it = it->next) {
        char uri[160] = "-";
        char val[160] = "-";
        const dmsec_loc_t *loc = it->source ? it->source : it->target;
        if (loc && loc->uri)
            log_clean(uri, sizeof uri, loc->uri);
        if (it->data && it->data->bytes && !it->data->opaque)
            log_clean(val, sizeof val, it->data->bytes);
        log_msg(LOG_DEBUG, "inventory device=%s cmd=%s uri=%s value=%s", dev,
                dmsec_cmd_name(cmd->type), uri, val);
    }
    if (cmd->type == DMSEC_CMD_ALERT && !cmd->items) {
        char code[16] = "-";
        if (cmd->data && cmd->data->bytes)
            log_clean(code, sizeof code, cmd->data->bytes);
        log_msg(LOG_DEBUG, "inventory device=%s cmd=Alert code=%s", dev, code);
    }
}

/* ---- management: the device's queue into the engine ---- */

static struct sess *sess_of_ctx(struct cb_ctx *x)
{
    return (struct sess *)(void *)((char *)x - offsetof(struct sess, ctx));
}

#define LOAD_BATCH 64 /* queue entries taken from the store per message built */

struct load_ctx {
    dmsec_session_t *engine;
    dmsec_store_t *st;
    const char *token;
    int loaded;
    int rc;
    /* a group being collected: its members follow it in the listing */
    dmsec_store_cmd_t group;
    int in_group;
    /* LOAD_GROUP_MAX each, allocated at the first member: most sessions
     * have no group, and zeroing these on every message cost more than the
     * rest of the server's work (docs/PERFORMANCE.md). */
    dmsec_store_cmd_t *members;
    dmsec_mgmt_cmd_t *kids;
    size_t n_members;
};

#define LOAD_GROUP_MAX 64 /* members of one Atomic / Sequence */

static void mgmt_of(const dmsec_store_cmd_t *c, dmsec_mgmt_cmd_t *m)
{
    memset(m, 0, sizeof *m);
    m->tag = c->id;
    m->type = c->kind;
    m->target = c->target[0] ? c->target : NULL;
    m->source = c->source[0] ? c->source : NULL;
    m->data = c->data;
    m->data_len = c->data_len;
    m->has_data = c->has_data;
    m->format = c->format[0] ? c->format : NULL;
    m->mime = c->mime[0] ? c->mime : NULL;
    m->correlator = c->correlator[0] ? c->correlator : NULL;
}

/* A command the engine refuses to send (malformed in the store: a group
 * without members, a kind it cannot send) is recorded failed with 400, so
 * that it does not block the device's queue. */
static void load_refused(struct load_ctx *l, int64_t id)
{
    int64_t now = (int64_t)time(NULL);
    log_msg(LOG_WARN, "command %lld cannot be sent: recorded failed (400)", (long long)id);
    if (!dmsec_store_cmd_sent(l->st, id, l->token, now))
        (void)dmsec_store_cmd_done(l->st, id, 400, NULL, 0, NULL, NULL, now);
}

static void load_flush_group(struct load_ctx *l)
{
    if (!l->in_group)
        return;
    dmsec_mgmt_cmd_t g;
    mgmt_of(&l->group, &g);
    for (size_t i = 0; i < l->n_members; i++)
        mgmt_of(&l->members[i], &l->kids[i]);
    g.children = l->kids;
    g.n_children = l->n_members;
    if (!l->rc)
        l->rc = l->n_members ? dmsec_session_queue_cmd(l->engine, &g) : DMSEC_ERR_INVALID_ARG;
    if (l->rc == DMSEC_ERR_INVALID_ARG) {
        load_refused(l, l->group.id);
        l->rc = DMSEC_OK;
    }
    l->loaded++;
    dmsec_store_cmd_clear(&l->group);
    for (size_t i = 0; i < l->n_members; i++)
        dmsec_store_cmd_clear(&l->members[i]);
    l->n_members = 0;
    l->in_group = 0;
}

static int copy_cmd(dmsec_store_cmd_t *dst, const dmsec_store_cmd_t *src)
{
    *dst = *src;
    dst->data = NULL;
    dst->result = NULL;
    dst->has_result = 0;
    dst->result_len = 0;
    if (src->has_data && src->data_len) {
        dst->data = malloc(src->data_len);
        if (!dst->data)
            return DMSEC_ERR_NO_MEMORY;
        memcpy(dst->data, src->data, src->data_len);
    }
    return DMSEC_OK;
}

static int load_one(void *ctx, const dmsec_store_cmd_t *c)
{
    struct load_ctx *l = ctx;
    if (c->parent_id) {
        if (!l->in_group || c->parent_id != l->group.id)
            return 0; /* a member whose group is not being sent */
        if (l->n_members >= LOAD_GROUP_MAX) {
            l->rc = DMSEC_ERR_SESSION_LIMIT;
            return 1;
        }
        if (!l->members) {
            l->members = calloc(LOAD_GROUP_MAX, sizeof *l->members);
            l->kids = calloc(LOAD_GROUP_MAX, sizeof *l->kids);
            if (!l->members || !l->kids) {
                l->rc = DMSEC_ERR_NO_MEMORY;
                return 1;
            }
        }
        l->rc = copy_cmd(&l->members[l->n_members], c);
        if (!l->rc)
            l->n_members++;
        return l->rc != 0;
    }
    load_flush_group(l);
    if (l->rc || l->loaded >= LOAD_BATCH)
        return 1;
    if (c->kind == DMSEC_CMD_ATOMIC || c->kind == DMSEC_CMD_SEQUENCE) {
        l->rc = copy_cmd(&l->group, c);
        l->in_group = !l->rc;
        return l->rc != 0;
    }
    dmsec_mgmt_cmd_t m;
    mgmt_of(c, &m);
    l->rc = dmsec_session_queue_cmd(l->engine, &m);
    if (l->rc == DMSEC_ERR_INVALID_ARG) {
        load_refused(l, c->id);
        l->rc = DMSEC_OK;
    }
    l->loaded++;
    return l->rc != 0;
}

/* The engine's callback: the device is authenticated and everything
 * queued in the engine went out. A secret rotation when due, then the
 * device's next commands from the store. */
/* An operator's rotation of one side (dmsec device rotate), logged. 1
 * when its Replace was queued. */
static int queue_requested(struct sess *s, dmsec_session_t *engine, int client)
{
    char dev[DMSEC_STORE_ID_MAX];
    log_clean(dev, sizeof dev, dmsec_session_peer_id(engine));
    const char *side = client ? "client" : "server";
    int rr =
        client ? dmsec_session_rotate_client_secret(engine) : dmsec_session_rotate_secret(engine);
    if (rr == DMSEC_ERR_SESSION_STATE && !client && !dmsec_session_self_authenticated(engine))
        return 0; /* an earlier one unconfirmed: once the device accepted our Cred */
    *(client ? &s->client_rotation_queued : &s->rotation_queued) = 1;
    if (rr) {
        log_msg(LOG_WARN, "secret-rotation device=%s side=%s cannot be queued: %s", dev, side,
                dmsec_errname(rr));
        return 0;
    }
    log_msg(LOG_INFO, "secret-rotation device=%s side=%s requested by an operator: queued", dev,
            side);
    if (!s->tls)
        log_msg(LOG_WARN,
                "secret-rotation device=%s side=%s: the new secret crosses plain HTTP in clear",
                dev, side);
    return 1;
}

static int cb_pending_cmds(void *ctx, dmsec_session_t *engine)
{
    struct cb_ctx *x = ctx;
    struct sess *s = sess_of_ctx(x);
    int queued = 0;
    /* A rotation confirmed by use in this very call (the device
     * authenticated on the pending secret) meets its request. */
    for (size_t i = 0; i < dmsec_session_events(engine); i++) {
        const dmsec_event_t *e = dmsec_session_event(engine, i);
        if (e->type == DMSEC_EV_CLIENT_SECRET_ROTATED)
            x->rotate_requested &= ~DMSEC_ROTATE_CLIENT;
        if (e->type == DMSEC_EV_SECRET_ROTATED)
            x->rotate_requested &= ~DMSEC_ROTATE_SERVER;
    }
    if (dmsec_session_peer_known(engine) && dmsec_session_peer_authenticated(engine)) {
        /* The operator asked: whatever the policy says. */
        if (!s->rotation_queued && (x->rotate_requested & DMSEC_ROTATE_SERVER))
            queued |= queue_requested(s, engine, 0);
        if (!s->client_rotation_queued && (x->rotate_requested & DMSEC_ROTATE_CLIENT))
            queued |= queue_requested(s, engine, 1);
    }
    if (!s->rotation_queued && x->rotate) {
        int resync = x->resync_alerted;
        for (size_t i = 0; i < dmsec_session_events(engine) && !resync; i++)
            resync = dmsec_session_event(engine, i)->type == DMSEC_EV_RESYNC;
        if (resync) {
            int rr = dmsec_session_rotate_secret(engine);
            if (!(rr == DMSEC_ERR_SESSION_STATE && !dmsec_session_self_authenticated(engine)))
                s->rotation_queued = 1;
            if (rr && s->rotation_queued)
                log_msg(LOG_WARN, "secret-rotation cannot be queued: %s", dmsec_errname(rr));
            else if (!rr)
                queued = 1;
        }
    }
    if (queued)
        return DMSEC_OK; /* the Replaces go first, alone */
    const char *dev = dmsec_session_peer_id(engine);
    /* The engine asks only for an authenticated device; checked here too,
     * as nothing of a device's queue may reach anyone else. */
    if (!dev || !dmsec_session_peer_known(engine) || !dmsec_session_peer_authenticated(engine))
        return DMSEC_OK;
    struct load_ctx *l = calloc(1, sizeof *l);
    if (!l)
        return DMSEC_ERR_NO_MEMORY;
    l->engine = engine;
    l->st = x->st;
    l->token = s->token;
    int rc = dmsec_store_cmd_pending(x->st, dev, s->token, (int64_t)time(NULL), load_one, l);
    if (!rc)
        load_flush_group(l);
    if (!rc)
        rc = l->rc == DMSEC_ERR_SESSION_LIMIT ? DMSEC_OK : l->rc; /* the rest waits */
    dmsec_store_cmd_clear(&l->group);
    for (size_t i = 0; i < l->n_members; i++)
        dmsec_store_cmd_clear(&l->members[i]);
    free(l->members);
    free(l->kids);
    free(l);
    if (rc <= DMSEC_ERR_STORE_IO && rc >= DMSEC_ERR_STORE_STATE)
        note_store_err(x, rc);
    return rc;
}

/* ---- sessions ---- */

static enum auth_label auth_label_of(const struct sess *s, dmsec_auth_scheme_t scheme)
{
    const dmsec_account_t *a = dmsec_session_account(s->engine);
    if (a && a->integrity == DMSEC_INTEGRITY_HMAC_MD5)
        return AUTH_HMAC_MD5;
    if (a && a->integrity == DMSEC_INTEGRITY_HMAC_SHA256)
        return AUTH_HMAC_SHA256;
    if (scheme == DMSEC_AUTH_BASIC)
        return AUTH_BASIC;
    return scheme == DMSEC_AUTH_SHA256 ? AUTH_SHA256 : AUTH_MD5;
}

static const char *auth_label_name(enum auth_label l)
{
    static const char *const names[AUTH_LABELS_] = {"basic",    "md5",         "sha256",
                                                    "hmac-md5", "hmac-sha256", "tls"};
    return l < AUTH_LABELS_ ? names[l] : "?";
}

void http_close_session(dmsec_store_t *st, struct sess *s, int result, const char *why)
{
    time_t now = time(NULL);
    if (st && s->rec_id) {
        int rc = dmsec_store_session_end(st, s->rec_id, result, s->messages, (int64_t)now);
        if (rc)
            log_msg(LOG_ERROR, "store: cannot record the end of session %lld: %s",
                    (long long)s->rec_id, dmsec_errname(rc));
    }
    /* The device's verdict on our Cred may never come: a session the engine
     * ended with a command-less package, where it needed no answer (TLS),
     * is a success too. */
    int ok = result == DMSEC_OK && dmsec_session_peer_authenticated(s->engine) &&
             (dmsec_session_self_authenticated(s->engine) || dmsec_session_done(s->engine));
    metrics_session(ok);
    char dev[DMSEC_STORE_ID_MAX];
    char sid[80];
    log_clean(dev, sizeof dev, dmsec_session_peer_id(s->engine));
    log_clean(sid, sizeof sid, dmsec_session_id(s->engine));
    /* A stranger's session made to give way is counted
     * (dmsec_sessions_evicted_total); its failure was logged already. */
    enum log_level level = ok ? LOG_INFO : LOG_WARN;
    if (!dmsec_session_peer_authenticated(s->engine) && result == DMSEC_ERR_SESSION_LIMIT)
        level = LOG_DEBUG;
    log_msg(level,
            "session device=%s session=%s peer=%s transport=%s messages=%d result=%s%s%s "
            "seconds=%ld",
            dev[0] ? dev : "-", sid[0] ? sid : "-", s->peer, s->tls ? "https" : "http", s->messages,
            dmsec_errname(result), why ? " reason=" : "", why ? why : "", (long)(now - s->started));
    dmsec_session_free(s->engine);
    srv_wipe(s, sizeof *s);
    free(s);
}

/* Package #0 session ids travel as uppercase hex, 1..FFFF. */
static int parse_pkg0_id(const char *text, uint16_t *out)
{
    if (!text)
        return -1;
    size_t n = strlen(text);
    if (n == 0 || n > 4 || strspn(text, "0123456789ABCDEFabcdef") != n)
        return -1;
    unsigned long v = strtoul(text, NULL, 16);
    if (v == 0 || v > 0xFFFF)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

static int audit(dmsec_store_t *st, time_t now, const char *dev, const char *event,
                 const char *detail)
{
    int rc = dmsec_store_audit(st, (int64_t)now, dev ? dev : "", event, detail);
    if (rc)
        log_msg(LOG_ERROR, "store: cannot write the audit row %s: %s", event, dmsec_errname(rc));
    return rc;
}

static void count_failure(struct server *srv, dmsec_store_t *st, const char *dev, const char *addr,
                          time_t now)
{
    /* A device is never blocked (anyone who knows its id could lock it
     * out): past the limit it is guarded, and each failure for it blocks
     * the failing address. */
    int started = ratelimit_fail(srv->rl, addr, dev, now);
    char clean[DMSEC_STORE_ID_MAX] = "-";
    if (dev && dev[0])
        log_clean(clean, sizeof clean, dev);
    if (started & RL_DEVICE_GUARDED) {
        log_msg(LOG_WARN,
                "rate-limit device=%s guarded for %lds after %ld failures: each further failure "
                "blocks its address",
                clean, srv->cfg.block_seconds, srv->cfg.max_auth_failures + 1);
        (void)audit(st, now, dev, "rate_limited", "device guarded");
    }
    if (started & RL_ADDR_BLOCKED) {
        char detail[160];
        int by_guard = (started & RL_BY_GUARD) != 0;
        snprintf(detail, sizeof detail, "address %s blocked%s%s", addr,
                 by_guard ? ": failure on guarded device " : "", by_guard ? clean : "");
        if (by_guard)
            log_msg(LOG_WARN, "rate-limit peer=%s blocked for %lds: failure on guarded device=%s",
                    addr, srv->cfg.block_seconds, clean);
        else
            log_msg(LOG_WARN, "rate-limit peer=%s blocked for %lds after %ld failures", addr,
                    srv->cfg.block_seconds, srv->cfg.max_auth_failures + 1);
        (void)audit(st, now, by_guard ? dev : "", "rate_limited", detail);
    }
}

/* The session-state contract over the store: what the engine's events
 * write (dmsec_session_persist applies them), then what the server makes
 * of each event (logs, audit rows, metrics, the failure limit). */
struct persist_ctx {
    struct server *srv;
    struct sess *s;
    dmsec_store_t *st;
    time_t now;
    int resync_event; /* out */
    char dev[DMSEC_STORE_ID_MAX];
    char sid[80];
};

static int st_set_in_nonce(void *ctx, const char *dev, const uint8_t *n, size_t len)
{
    return dmsec_store_set_client_nonce(((struct persist_ctx *)ctx)->st, dev, n, len);
}

static int st_set_in_pending(void *ctx, const char *dev, const uint8_t *n, size_t len)
{
    return dmsec_store_set_client_nonce_pending(((struct persist_ctx *)ctx)->st, dev, n, len);
}

static int st_set_out_nonce(void *ctx, const char *dev, const uint8_t *n, size_t len)
{
    return dmsec_store_set_server_nonce(((struct persist_ctx *)ctx)->st, dev, n, len);
}

static int st_secret_pending(void *ctx, const char *dev, const uint8_t *secret, size_t len)
{
    struct persist_ctx *p = ctx;
    int rc = dmsec_store_secret_pending(p->st, dev, p->srv->cfg.server_id, secret, len);
    if (!rc)
        log_msg(LOG_INFO, "secret-rotation device=%s session=%s sent", p->dev, p->sid);
    return rc;
}

static int st_secret_rotated(void *ctx, const char *dev, const uint8_t *secret, size_t len)
{
    (void)secret;
    (void)len;
    struct persist_ctx *p = ctx;
    int rc = dmsec_store_secret_commit(p->st, dev, p->srv->cfg.server_id);
    p->s->ctx.rotate_requested &= ~DMSEC_ROTATE_SERVER; /* met */
    if (!rc)
        log_msg(LOG_INFO, "secret-rotation device=%s session=%s side=server confirmed", p->dev,
                p->sid);
    return rc;
}

static int st_client_secret_pending(void *ctx, const char *dev, const uint8_t *secret, size_t len)
{
    struct persist_ctx *p = ctx;
    int rc = dmsec_store_client_secret_pending(p->st, dev, secret, len);
    if (!rc)
        log_msg(LOG_INFO, "secret-rotation device=%s session=%s side=client sent", p->dev, p->sid);
    return rc;
}

static int st_client_secret_rotated(void *ctx, const char *dev, const dmsec_event_t *e)
{
    struct persist_ctx *p = ctx;
    int rc = dmsec_store_client_secret_commit(p->st, dev);
    p->s->ctx.rotate_requested &= ~DMSEC_ROTATE_CLIENT; /* met */
    if (!rc)
        log_msg(LOG_INFO, "secret-rotation device=%s session=%s side=client confirmed%s", p->dev,
                p->sid, e->status ? "" : " by use");
    return rc;
}

/* The audit row of a rotation confirmed, either side. */
static int audit_rotated(struct persist_ctx *p, const char *dev, const dmsec_event_t *e)
{
    char detail[256];
    int client = e->type == DMSEC_EV_CLIENT_SECRET_ROTATED;
    if (e->status)
        snprintf(detail, sizeof detail, "side=%s %s AAuthSecret replaced, status %d, session=%s",
                 client ? "client" : "server", client ? "CLCRED" : "SRVCRED", e->status, p->sid);
    else
        snprintf(detail, sizeof detail,
                 "side=%s %s AAuthSecret replaced, confirmed by use (its status was lost), "
                 "session=%s",
                 client ? "client" : "server", client ? "CLCRED" : "SRVCRED", p->sid);
    return audit(p->st, p->now, dev, "secret_rotated", detail);
}

static int st_cmd_sent(void *ctx, const char *dev, const dmsec_event_t *e)
{
    (void)dev;
    struct persist_ctx *p = ctx;
    int rc = dmsec_store_cmd_sent(p->st, e->tag, p->s->token, (int64_t)p->now);
    if (rc == DMSEC_ERR_STORE_STATE || rc == DMSEC_ERR_STORE_NOT_FOUND) {
        /* cancelled or removed meanwhile: it goes out all the same */
        log_msg(LOG_INFO, "command %lld sent after it was cancelled", (long long)e->tag);
        rc = DMSEC_OK;
    }
    return rc;
}

static int st_cmd_done(void *ctx, const char *dev, const dmsec_event_t *e)
{
    (void)dev;
    struct persist_ctx *p = ctx;
    int rc = dmsec_store_cmd_done(p->st, e->tag, e->status, e->has_data ? e->data : NULL,
                                  e->data_len, e->format, e->mime, (int64_t)p->now);
    /* The engine answers a command it will not send (413: larger than the
     * device's MaxObjSize) without a CMD_SENT: still queued in the store,
     * it is marked sent in this session first, so its failure is recorded
     * (a command answered before or cancelled stays as it is). */
    if (rc == 0 && dmsec_store_cmd_sent(p->st, e->tag, p->s->token, (int64_t)p->now) == DMSEC_OK)
        rc = dmsec_store_cmd_done(p->st, e->tag, e->status, NULL, 0, NULL, NULL, (int64_t)p->now);
    if (rc >= 0) {
        log_msg(LOG_INFO, "command %lld device=%s session=%s status=%d%s", (long long)e->tag,
                p->dev, p->sid, e->status, rc == 1 ? "" : " (recorded before)");
        metrics_command(e->status);
        rc = DMSEC_OK;
    }
    return rc;
}

static void text_of(char *dst, size_t cap, const dmsec_event_t *e)
{
    size_t n = e->has_data ? e->data_len : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, e->data, n);
    dst[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (!dst[i]) {
            dst[i] = '\0';
            break;
        }
    }
}

static int st_alert(void *ctx, const char *dev, const dmsec_event_t *e)
{
    struct persist_ctx *p = ctx;
    dmsec_device_event_t ev;
    memset(&ev, 0, sizeof ev);
    snprintf(ev.device_id, sizeof ev.device_id, "%s", dev);
    ev.at = (int64_t)p->now;
    ev.alert = e->status;
    snprintf(ev.type, sizeof ev.type, "%s", e->text ? e->text : "");
    snprintf(ev.format, sizeof ev.format, "%s", e->format ? e->format : "");
    snprintf(ev.source, sizeof ev.source, "%s", e->uri ? e->uri : "");
    snprintf(ev.correlator, sizeof ev.correlator, "%s", e->correlator ? e->correlator : "");
    snprintf(ev.session_id, sizeof ev.session_id, "%s", p->s->token);
    text_of(ev.data, sizeof ev.data, e);
    int64_t id = 0;
    int rc = dmsec_store_event_add(p->st, &ev, &id);
    char type[160];
    log_clean(type, sizeof type, ev.type);
    log_msg(LOG_INFO, "alert device=%s session=%s code=%d type=%s", p->dev, p->sid, ev.alert,
            type[0] ? type : "-");
    if (!rc && ev.correlator[0] && ev.alert == 1226) {
        /* The outcome of an Exec answered 202 (FUMO): its Data is the
         * result code. */
        char *end = NULL;
        long code = strtol(ev.data, &end, 10);
        if (end != ev.data && code >= 100 && code <= 999) {
            int r = dmsec_store_cmd_outcome(p->st, dev, ev.correlator, (int)code, (int64_t)p->now);
            rc = r < 0 ? r : DMSEC_OK;
        }
    }
    return rc;
}

static int st_inventory(void *ctx, const char *dev, const dmsec_event_t *e)
{
    struct persist_ctx *p = ctx;
    char value[1024];
    text_of(value, sizeof value, e);
    return dmsec_store_inventory_set(p->st, dev, e->uri, value, (int64_t)p->now);
}

static int st_observe(void *ctx, const dmsec_session_t *engine, const dmsec_event_t *e)
{
    struct persist_ctx *p = ctx;
    struct sess *s = p->s;
    const char *dev = dmsec_session_peer_id(engine);
    int known = dmsec_session_peer_known(engine);
    char detail[256];
    int rc = DMSEC_OK;
    switch (e->type) {
    case DMSEC_EV_PEER_AUTHENTICATED: {
        enum auth_label l = s->transport_auth ? AUTH_TLS : auth_label_of(s, e->scheme);
        metrics_auth(l, 1);
        log_msg(LOG_DEBUG, "auth device=%s session=%s scheme=%s ok", p->dev, p->sid,
                auth_label_name(l));
        /* Opened only by an authenticated device: a forged package #1
         * must not stop the resync policy for the real one. */
        uint16_t id16 = 0;
        if (!s->opened && !parse_pkg0_id(dmsec_session_id(engine), &id16)) {
            int r = dmsec_store_notification_opened(p->st, dev, id16);
            rc = r == DMSEC_ERR_STORE_NOT_FOUND ? DMSEC_OK : r;
            s->opened = 1;
        }
        if (!rc && known)
            rc = dmsec_store_device_seen(p->st, dev, (int64_t)p->now);
        break;
    }
    case DMSEC_EV_AUTH_FAILED: {
        enum auth_label l = auth_label_of(s, e->scheme);
        /* the audit event, and the log line's first word */
        const char *what = "auth_failed";
        const char *line = "auth-failed";
        if (e->err == DMSEC_ERR_SESSION_REPLAY) {
            what = "replay_refused";
            line = "replay-refused";
        } else if (e->err == DMSEC_ERR_SESSION_DEFAULT_NONCE) {
            what = "resync_challenged";
            line = "resync-challenged";
        } else if (!known) {
            what = "unknown_device";
            line = "unknown-device";
        }
        metrics_auth(l, 0);
        log_msg(LOG_WARN, "%s device=%s session=%s peer=%s scheme=%s reason=%s", line, p->dev,
                p->sid, s->peer, auth_label_name(l), dmsec_errname(e->err));
        snprintf(detail, sizeof detail, "scheme=%s reason=%s peer=%s session=%s",
                 auth_label_name(l), dmsec_errname(e->err), s->peer, p->sid);
        if (known)
            rc = audit(p->st, p->now, dev, what, detail);
        /* A Cred on the default nonce is a resynchronising device (or a
         * replay of one): its address is counted, the device is not. */
        int count_device = known && e->err != DMSEC_ERR_SESSION_DEFAULT_NONCE;
        count_failure(p->srv, p->st, count_device ? dev : NULL, s->peer, p->now);
        break;
    }
    case DMSEC_EV_RESYNC:
        p->resync_event = 1;
        log_msg(LOG_INFO, "resync device=%s session=%s peer=%s completed", p->dev, p->sid, s->peer);
        snprintf(detail, sizeof detail, "resync completed, session=%s peer=%s", p->sid, s->peer);
        rc = audit(p->st, p->now, dev, "resync", detail);
        break;
    case DMSEC_EV_SESSION_ENDED:
        if (!known)
            break;
        snprintf(detail, sizeof detail, "result=%s session=%s messages=%d", dmsec_errname(e->err),
                 p->sid, s->messages);
        rc = audit(p->st, p->now, dev, "session_ended", detail);
        break;
    case DMSEC_EV_SECRET_ROTATED:
    case DMSEC_EV_CLIENT_SECRET_ROTATED:
        if (known)
            rc = audit_rotated(p, dev, e);
        break;
    case DMSEC_EV_NONCE_ISSUED:
    case DMSEC_EV_NONCE_PENDING:
    case DMSEC_EV_NONCE_ACCEPTED:
    case DMSEC_EV_SELF_AUTHENTICATED:
    case DMSEC_EV_SECRET_PENDING:
    case DMSEC_EV_CLIENT_SECRET_PENDING:
    case DMSEC_EV_CMD_SENT:
    case DMSEC_EV_CMD_DONE:
    case DMSEC_EV_ALERT:
    case DMSEC_EV_INVENTORY:
        break;
    }
    return rc;
}

static const dmsec_state_ops_t store_state_ops = {
    .set_in_nonce = st_set_in_nonce,
    .set_in_nonce_pending = st_set_in_pending,
    .set_out_nonce = st_set_out_nonce,
    .secret_pending = st_secret_pending,
    .secret_rotated = st_secret_rotated,
    .client_secret_pending = st_client_secret_pending,
    .client_secret_rotated = st_client_secret_rotated,
    .cmd_sent = st_cmd_sent,
    .cmd_done = st_cmd_done,
    .alert = st_alert,
    .inventory = st_inventory,
    .observe = st_observe,
};

/* Persists the events of the last feed, in order, before the answer is
 * sent; non-zero when one could not be stored. */
static int persist_events(struct server *srv, struct sess *s, dmsec_store_t *st, time_t now,
                          int *resync_event)
{
    struct persist_ctx p = {.srv = srv, .s = s, .st = st, .now = now};
    if (!dmsec_session_peer_id(s->engine))
        return DMSEC_OK;
    log_clean(p.dev, sizeof p.dev, dmsec_session_peer_id(s->engine));
    log_clean(p.sid, sizeof p.sid, dmsec_session_id(s->engine));
    int rc = dmsec_session_persist(s->engine, &store_state_ops, &p);
    if (rc)
        log_msg(LOG_ERROR, "store: cannot persist an event of device=%s session=%s: %s", p.dev,
                p.sid, dmsec_errname(rc));
    *resync_event = p.resync_event;
    return rc;
}

static void build_resp_uri(const struct server *srv, struct MHD_Connection *c, const char *token,
                           char *out, size_t cap)
{
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    (void)req_resp_uri(out, cap, srv->cfg.public_url, srv->tls, host, srv->listen_host, srv->port,
                       token);
}

/* The device a message names (Source/LocURI), read before an engine
 * exists: for the client certificate. m: the request decoded once, for
 * here and the engine (dmsec_session_feed_msg); NULL when undecodable. */
static int peek_device(const dmsec_msg_t *m, char *dev, size_t cap)
{
    const char *uri = m && m->hdr.source ? m->hdr.source->uri : NULL;
    int rc = uri && uri[0] && strlen(uri) < cap ? 0 : -1;
    if (!rc)
        memcpy(dev, uri, strlen(uri) + 1);
    return rc;
}

/* Does a verified certificate name this device? Either the store maps one
 * of its names (subject DN, CN, a SAN) to the device, or the device has no
 * certificate name on record and its id is the CN or a SAN. */
static int cert_names_device(dmsec_store_t *st, const struct peer_cert *pc, const char *dev,
                             int *store_err)
{
    const char *names[2 + PEER_SAN_MAX];
    size_t n = 0;
    if (pc->dn[0])
        names[n++] = pc->dn;
    size_t first_plain = n;
    if (pc->cn[0])
        names[n++] = pc->cn;
    for (size_t i = 0; i < pc->n_san; i++)
        names[n++] = pc->san[i];
    dmsec_device_t d;
    int match = 0;
    for (size_t i = 0; i < n && !match; i++) {
        int rc = dmsec_store_device_by_cert(st, names[i], &d);
        if (!rc)
            match = !strcmp(d.device_id, dev);
        else if (rc != DMSEC_ERR_STORE_NOT_FOUND)
            *store_err = rc;
    }
    for (size_t i = first_plain; i < n && !match; i++) {
        if (strcmp(names[i], dev) != 0)
            continue;
        int rc = dmsec_store_device_get(st, dev, &d);
        if (!rc)
            match = d.cert_subject[0] == '\0';
        else if (rc != DMSEC_ERR_STORE_NOT_FOUND)
            *store_err = rc;
        break;
    }
    srv_wipe(&d, sizeof d);
    return match;
}

static struct sess *new_session(struct server *srv, struct MHD_Connection *c, const char *peer,
                                int transport_auth, time_t now)
{
    struct sess *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (srv_random_hex(s->token, SESSION_TOKEN_LEN / 2)) {
        free(s);
        return NULL;
    }
    char resp_uri[512];
    build_resp_uri(srv, c, s->token, resp_uri, sizeof resp_uri);
    s->ctx.cfg = &srv->cfg;
    s->ctx.rotate = srv->cfg.rotate == ROTATE_ALWAYS || (srv->cfg.rotate == ROTATE_TLS && srv->tls);
    snprintf(s->peer, sizeof s->peer, "%s", peer);
    s->tls = srv->tls;
    s->transport_auth = transport_auth;
    s->started = s->last_used = now;
    dmsec_session_config_t cfg = {
        .role = DMSEC_ROLE_SERVER,
        .server_id = srv->cfg.server_id,
        .server_uri = resp_uri,
        .resp_uri = resp_uri,
        .transport_authenticated = transport_auth,
        .transport_secure = srv->tls,
        .strict_cred = srv->cfg.strict_cred,
        .require_protected = srv->cfg.require_protected,
        .resync_mode =
            srv->cfg.resync_accept_default ? DMSEC_RESYNC_ACCEPT_DEFAULT : DMSEC_RESYNC_CHALLENGE,
        .resync_session_id_nonce = srv->cfg.resync_session_id_nonce,
        .cb = {.get_account = cb_get_account,
               .resync_outstanding = cb_resync_outstanding,
               .resync_consume = cb_resync_consume,
               .mac_seen = cb_mac_seen,
               .nonce_used = cb_nonce_used,
               .on_client_cmd = cb_client_cmd,
               .pending_cmds = cb_pending_cmds},
        .max_msg_size = (size_t)srv->cfg.max_body,
        .max_obj_size = DMSEC_STORE_VALUE_MAX,
        .cb_ctx = &s->ctx,
    };
    s->engine = dmsec_session_new(&cfg);
    if (!s->engine) {
        free(s);
        return NULL;
    }
    return s;
}

static struct MHD_Response *make_response(const dmsec_session_out_t *out, dmsec_codec_t codec)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        out->has_message ? out->len : 0, out->has_message ? (void *)out->body : NULL,
        MHD_RESPMEM_MUST_COPY);
    if (!r)
        return NULL;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            out->has_message && out->content_type
                                ? out->content_type
                                : dmsec_codec_content_type(codec));
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (out->has_message && out->hmac_header[0])
        MHD_add_response_header(r, "x-syncml-hmac", out->hmac_header);
    return r;
}

static unsigned feed_error_status(int rc)
{
    if (rc <= DMSEC_ERR_STORE_IO && rc >= DMSEC_ERR_STORE_BUSY)
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    if (rc == DMSEC_ERR_NO_MEMORY || rc == DMSEC_ERR_RANDOM || rc == DMSEC_ERR_CRYPTO)
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    if (rc == DMSEC_ERR_SESSION_INSECURE)
        return MHD_HTTP_FORBIDDEN;
    return MHD_HTTP_BAD_REQUEST;
}

/* What one request makes durable (dmsec_store_durable): the session row
 * of a new session, the events of the last feed, and the end of a
 * finished session. Runs on whichever thread leads the group. */
struct persist_job {
    struct server *srv;
    struct sess *s;
    const char *peer;
    time_t now;
    int is_new;
    int done;
    int resync_event; /* out */
};

static int persist_job(dmsec_store_t *st, void *ctx)
{
    struct persist_job *j = ctx;
    struct sess *s = j->s;
    const char *dev = dmsec_session_peer_id(s->engine);
    int rc = DMSEC_OK;
    if (j->is_new && dev && dmsec_session_peer_known(s->engine)) {
        rc = dmsec_store_session_begin(st, dev, dmsec_session_id(s->engine), j->peer,
                                       (int64_t)j->now, &s->rec_id);
        if (rc)
            log_msg(LOG_ERROR, "store: cannot record a new session: %s", dmsec_errname(rc));
    }
    if (!rc)
        rc = persist_events(j->srv, s, st, j->now, &j->resync_event);
    if (!rc && j->done && s->rec_id) {
        rc = dmsec_store_session_end(st, s->rec_id, dmsec_session_result(s->engine), s->messages,
                                     (int64_t)j->now);
        if (rc)
            log_msg(LOG_ERROR, "store: cannot record the end of session %lld: %s",
                    (long long)s->rec_id, dmsec_errname(rc));
    }
    return rc;
}

static enum MHD_Result handle_syncml(struct server *srv, struct MHD_Connection *c, const char *url,
                                     struct req *r)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    dmsec_codec_t codec;
    if (!ct || dmsec_codec_from_content_type(ct, &codec))
        return respond_text(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                            "want application/vnd.syncml.dm+xml or +wbxml\n", 0);
    if (r->too_large)
        return respond_text(c, MHD_HTTP_CONTENT_TOO_LARGE, "body too large\n", 0);
    char peer[64];
    peer_addr(c, peer, sizeof peer);
    time_t now = time(NULL);

    struct peer_cert pc;
    memset(&pc, 0, sizeof pc);
    if (srv->client_certs) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (!ci || tls_peer_cert(ci->tls_session, &pc))
            return respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "TLS state unavailable\n", 0);
        if (pc.present && !pc.verified) {
            char cn[DMSEC_NAME_MAX];
            log_clean(cn, sizeof cn, pc.cn);
            log_msg(LOG_WARN, "tls peer=%s client certificate refused cn=%s reason=%s", peer,
                    cn[0] ? cn : "-", pc.reason);
            if (ratelimit_fail(srv->rl, peer, NULL, now) & RL_ADDR_BLOCKED)
                log_msg(LOG_WARN, "rate-limit peer=%s blocked for %lds after %ld failures", peer,
                        srv->cfg.block_seconds, srv->cfg.max_auth_failures + 1);
            metrics_auth(AUTH_TLS, 0);
            return respond_text(c, MHD_HTTP_FORBIDDEN, "client certificate not accepted\n", 0);
        }
    }

    struct sess *s = NULL;
    int is_new = 0;
    char token[REQ_TOKEN_LEN + 1];
    int route = req_session_token(url, token);
    if (route) {
        int busy = 0;
        s = route > 0 ? sessions_acquire(token, &busy) : NULL;
        if (!s)
            return respond_text(c, busy ? MHD_HTTP_CONFLICT : MHD_HTTP_NOT_FOUND,
                                busy ? "session busy\n" : "unknown or expired session\n", 0);
    } else {
        long left = ratelimit_addr_blocked(srv->rl, peer, now);
        if (left) {
            /* Counted, not logged one by one: the block was logged when
             * it started. */
            metrics_rate_limited();
            return respond_text(c, MHD_HTTP_TOO_MANY_REQUESTS, "too many failures\n", left);
        }
        if (!sessions_room()) {
            log_msg(LOG_WARN, "sessions: table full (%ld): new session from %s refused",
                    srv->cfg.max_sessions, peer);
            return respond_err(c, MHD_HTTP_SERVICE_UNAVAILABLE, DMSEC_ERR_SESSION_LIMIT);
        }
        is_new = 1;
    }

    /* Decoded once, here, for peek_device and the engine. A body that
     * does not decode goes to the engine as bytes, which refuses it with
     * the error it always gave (a session's state is checked first). */
    dmsec_msg_t *msg = NULL;
    (void)dmsec_msg_decode(codec, r->body, r->len, NULL, &msg);
    dmsec_store_t *st = storepool_get();
    if (!st) {
        dmsec_msg_free(msg);
        if (s)
            sessions_release(s, 0, now);
        return respond_err(c, MHD_HTTP_SERVICE_UNAVAILABLE, DMSEC_ERR_STORE_IO);
    }
    if (is_new) {
        char dev[DMSEC_STORE_ID_MAX] = "";
        if (pc.verified)
            (void)peek_device(msg, dev, sizeof dev);
        int transport_auth = 0;
        if (pc.verified && dev[0] && !srv->cfg.require_cred) {
            int store_err = 0;
            transport_auth = cert_names_device(st, &pc, dev, &store_err);
            if (store_err) {
                dmsec_msg_free(msg);
                storepool_put(st);
                return respond_err(c, MHD_HTTP_SERVICE_UNAVAILABLE, store_err);
            }
            if (!transport_auth) {
                char clean[DMSEC_STORE_ID_MAX];
                char cn[DMSEC_NAME_MAX];
                log_clean(clean, sizeof clean, dev);
                log_clean(cn, sizeof cn, pc.cn);
                log_msg(LOG_INFO,
                        "tls peer=%s certificate cn=%s does not name device=%s: "
                        "application-layer authentication",
                        peer, cn, clean);
            }
        }
        s = new_session(srv, c, peer, transport_auth, now);
        if (!s) {
            dmsec_msg_free(msg);
            storepool_put(st);
            return respond_err(c, MHD_HTTP_INTERNAL_SERVER_ERROR, DMSEC_ERR_NO_MEMORY);
        }
    }

    s->ctx.st = st;
    s->ctx.store_err = 0;
    const char *hmac = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-syncml-hmac");
    dmsec_session_out_t out;
    int rc = msg ? dmsec_session_feed_msg(s->engine, msg, r->body, r->len, ct, hmac, now, &out)
                 : dmsec_session_feed(s->engine, r->body, r->len, ct, hmac, now, &out);
    if (!rc && s->ctx.store_err)
        rc = s->ctx.store_err; /* a callback could not reach the store: do not answer */
    if (rc) {
        unsigned code = s->ctx.store_err ? MHD_HTTP_SERVICE_UNAVAILABLE : feed_error_status(rc);
        char clean[DMSEC_STORE_ID_MAX];
        log_clean(clean, sizeof clean, dmsec_session_peer_id(s->engine));
        log_msg(LOG_WARN, "refused peer=%s device=%s http=%u error=%s", peer,
                clean[0] ? clean : "-", code, dmsec_errname(rc));
        if (is_new) {
            dmsec_session_free(s->engine);
            free(s);
        } else if (code == MHD_HTTP_SERVICE_UNAVAILABLE) {
            /* The engine moved on but its answer is lost: end the session. */
            sessions_release(s, 1, now);
            http_close_session(st, s, rc, "store");
        } else {
            sessions_release(s, 0, now); /* the engine's state is unchanged */
        }
        storepool_put(st);
        return respond_err(c, code, rc);
    }
    s->messages++;
    /* The answer is copied out of the engine first: closing the session
     * frees the engine's buffer. */
    struct MHD_Response *resp = make_response(&out, codec);
    if (!resp) {
        if (!is_new)
            sessions_release(s, 1, now);
        http_close_session(NULL, s, DMSEC_ERR_NO_MEMORY, "no memory");
        storepool_put(st);
        return MHD_NO;
    }
    /* The events of this request are one savepoint of a group transaction:
     * committed and fsynced (with the other requests of the group) before
     * the answer that announces them. */
    struct persist_job job = {.srv = srv,
                              .s = s,
                              .peer = peer,
                              .now = now,
                              .is_new = is_new,
                              .done = dmsec_session_done(s->engine)};
    int persist_rc = dmsec_store_durable(st, persist_job, &job);
    storepool_put(st);
    if (persist_rc) {
        log_msg(LOG_ERROR, "store: cannot make the events durable: %s", dmsec_errname(persist_rc));
        MHD_destroy_response(resp);
        if (is_new)
            s->rec_id = 0; /* its row was discarded with the rest */
        else
            sessions_release(s, 1, now);
        dmsec_store_t *st2 = storepool_get();
        http_close_session(st2, s, persist_rc, "store");
        storepool_put(st2);
        return respond_err(c, MHD_HTTP_SERVICE_UNAVAILABLE, persist_rc);
    }
    unsigned code = out.has_message ? MHD_HTTP_OK : MHD_HTTP_NO_CONTENT;
    if (job.done) {
        if (!is_new)
            sessions_release(s, 1, now);
        http_close_session(NULL, s, dmsec_session_result(s->engine), NULL); /* recorded */
    } else {
        int authed = dmsec_session_peer_authenticated(s->engine);
        struct sess *evicted = NULL;
        int full = is_new && sessions_insert(s, authed, &evicted);
        if (evicted) {
            metrics_session_evicted();
            dmsec_store_t *st2 = storepool_get();
            http_close_session(st2, evicted, DMSEC_ERR_SESSION_LIMIT,
                               "unauthenticated, evicted for a newer session");
            storepool_put(st2);
        }
        if (full) {
            log_msg(LOG_ERROR, "sessions: table full (%ld): session dropped",
                    srv->cfg.max_sessions);
            dmsec_store_t *st2 = storepool_get();
            http_close_session(st2, s, DMSEC_ERR_SESSION_LIMIT, "table full");
            storepool_put(st2);
            MHD_destroy_response(resp);
            return respond_err(c, MHD_HTTP_SERVICE_UNAVAILABLE, DMSEC_ERR_SESSION_LIMIT);
        }
        if (!is_new && authed)
            sessions_authenticated(s);
        sessions_release(s, 0, now); /* inserted busy, or taken by acquire */
    }
    enum MHD_Result ret = MHD_queue_response(c, code, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- routing ---- */

static enum MHD_Result handle_get(struct MHD_Connection *c, const char *url)
{
    if (!strcmp(url, "/healthz"))
        return respond_text(c, MHD_HTTP_OK, "ok\n", 0);
    if (!strcmp(url, "/metrics")) {
        size_t len = 0;
        dmsec_store_t *st = storepool_get();
        char *text = metrics_render(st, &len);
        if (st)
            storepool_put(st);
        if (!text)
            return respond_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "no memory\n", 0);
        enum MHD_Result ret =
            respond(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL, 0);
        free(text);
        return ret;
    }
    return respond_text(c, MHD_HTTP_NOT_FOUND, "not found\n", 0);
}

static int append_body(struct req *r, const char *data, size_t n, size_t limit)
{
    if (r->too_large || n > limit - r->len) {
        /* Read and dropped, so that the client still gets the 413. */
        r->too_large = 1;
        if (r->body)
            srv_wipe(r->body, r->len);
        free(r->body);
        r->body = NULL;
        r->len = r->cap = 0;
        return 0;
    }
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n)
            cap *= 2;
        if (cap > limit)
            cap = limit;
        /* Not realloc: the old copy is wiped, not left in the heap. */
        uint8_t *p = malloc(cap);
        if (!p)
            return -1;
        if (r->body) {
            memcpy(p, r->body, r->len);
            srv_wipe(r->body, r->len);
            free(r->body);
        }
        r->body = p;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    return 0;
}

enum MHD_Result http_access(void *cls, struct MHD_Connection *c, const char *url,
                            const char *method, const char *version, const char *upload,
                            size_t *upload_size, void **con_cls)
{
    (void)version;
    struct server *srv = cls;
    struct req *r = *con_cls;
    if (!r) {
        /* First call: headers only. */
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->t0 = srv_monotonic();
        r->post = !strcmp(method, MHD_HTTP_METHOD_POST);
        *con_cls = r;
        if (r->post) {
            atomic_fetch_add(&srv->in_flight, 1);
            const char *cl =
                MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            unsigned long long declared = 0;
            if (cl && !req_content_length(cl, &declared) &&
                declared > (unsigned long long)srv->cfg.max_body * EARLY_REJECT_FACTOR)
                return respond_text(c, MHD_HTTP_CONTENT_TOO_LARGE, "body too large\n", 0);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (r->post && append_body(r, upload, *upload_size, (size_t)srv->cfg.max_body))
            return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    if (!strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD))
        return handle_get(c, url);
    if (!r->post)
        return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST\n", 0);
    if (!strcmp(url, "/healthz") || !strcmp(url, "/metrics"))
        return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET\n", 0);
    return handle_syncml(srv, c, url, r);
}

void http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    struct server *srv = cls;
    struct req *r = *con_cls;
    if (!r)
        return;
    if (r->post) {
        metrics_request(srv_monotonic() - r->t0);
        atomic_fetch_sub(&srv->in_flight, 1);
    }
    if (r->body)
        srv_wipe(r->body, r->len); /* a basic Cred carries a password */
    free(r->body);
    free(r);
    *con_cls = NULL;
}
