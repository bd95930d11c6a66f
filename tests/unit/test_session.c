/*
 * The session engine: in-memory conversations between a client and a server
 * engine, every path of the authentication rules, each run in XML and in
 * WBXML. A "device" and a "server" here are a stored account plus the
 * callbacks a real agent and server give; events are persisted into the
 * stored account before the message goes on, as the contract asks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dmsec/codec.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "dmsec/hmac.h"
#include "dmsec/notify.h"
#include "dmsec/session.h"
#include "pair_fixture.h"

#define DEVICE_ID "IMEI:493005100592800"
#define SERVER_ID "dm.example.org"
#define SERVER_URI "https://dm.example.org/dm"
#define CLIENT_SECRET "client-secret-0123456789"
#define SERVER_SECRET "server-secret-9876543210"
#define NOW 1795503011

static dmsec_codec_t codec; /* the codec of the running group */
/* How both engines take a Cred on the default nonce (tests of the interop
 * option set it, and put it back). */
static dmsec_resync_mode_t resync_mode = DMSEC_RESYNC_CHALLENGE;
/* Both engines: 1 as over TLS (Cred until accepted), 0 as over plain HTTP
 * (Cred in every message); the server's strict 5.4 option. */
static int transport_secure;
static int strict_cred;
/* The client knows only seed 000's flow: it takes the server's Cred on the
 * default nonce in a resync session, and answers challenges. */
static int client_seed000;

/* ---- the parties ---- */

struct party {
    dmsec_state_mem_t mem; /* what is persisted: the session-state contract in memory */
    /* server */
    int resync_outstanding;
    int resync_consumes; /* successful consumes */
    char resync_session[16];
    int results_seen;
    char last_result[64];
    int statuses_seen;
    /* client tree: a few leaves */
    int tree_calls;
    char mod[32];
    int macs_seen;
    char macs[8][128];
    /* server: client nonces that authenticated a session */
    int nonces_used;
    uint8_t used[8][DMSEC_NONCE_MAX];
};

/* A device and a server that agree (pair_accounts), each with the path of
 * the server's credential in the device's tree. */
static void pair(struct party *dev, struct party *srv, dmsec_auth_scheme_t c2s,
                 dmsec_auth_scheme_t s2c, dmsec_integrity_t integrity)
{
    memset(dev, 0, sizeof *dev);
    memset(srv, 0, sizeof *srv);
    assert_int_equal(pair_accounts(&dev->mem, &srv->mem, c2s, s2c, DEVICE_ID, CLIENT_SECRET,
                                   SERVER_ID, SERVER_SECRET, "./DMAcc/dmsec/AppAuth/SRVCRED"),
                     DMSEC_OK);
    dev->mem.acc.integrity = integrity;
    srv->mem.acc.integrity = integrity;
    strcpy(dev->mod, "dmsec-test-model");
}

static int resync_outstanding(void *ctx, const char *device_id, const char *session_id)
{
    struct party *p = ctx;
    return p->resync_outstanding && !strcmp(device_id, DEVICE_ID) &&
           !strcmp(session_id, p->resync_session);
}

static int resync_consume(void *ctx, const char *device_id, const char *session_id)
{
    struct party *p = ctx;
    if (!resync_outstanding(ctx, device_id, session_id))
        return 0;
    p->resync_outstanding = 0;
    p->resync_consumes++;
    return 1;
}

static int mac_seen(void *ctx, const char *mac, time_t ts)
{
    (void)ts;
    struct party *p = ctx;
    for (int i = 0; i < p->macs_seen && i < 8; i++) {
        if (!strcmp(p->macs[i], mac))
            return 1;
    }
    if (p->macs_seen < 8)
        snprintf(p->macs[p->macs_seen++], sizeof p->macs[0], "%s", mac);
    return 0;
}

static int nonce_used(void *ctx, const char *peer_id, const uint8_t *nonce, size_t len)
{
    (void)peer_id;
    struct party *p = ctx;
    assert_true(len <= DMSEC_NONCE_MAX);
    for (int i = 0; i < p->nonces_used && i < 8; i++) {
        if (!memcmp(p->used[i], nonce, len))
            return 1;
    }
    if (p->nonces_used < 8)
        memcpy(p->used[p->nonces_used++], nonce, len);
    return 0;
}

static int tree_exec(void *ctx, const char *server_id, const dmsec_cmd_t *cmd,
                     const dmsec_item_t *item, dmsec_tree_result_t *res)
{
    struct party *p = ctx;
    p->tree_calls++;
    assert_string_equal(server_id, SERVER_ID);
    const char *uri = item->target ? item->target->uri : "";
    if (cmd->type == DMSEC_CMD_GET && !strcmp(uri, "./DevInfo/Mod")) {
        res->status = 200;
        res->data = strdup(p->mod);
        res->data_len = strlen(p->mod);
        strcpy(res->format, "chr");
        return 0;
    }
    if (cmd->type == DMSEC_CMD_REPLACE && strstr(uri, "/AAuthSecret")) {
        res->status = 200;
        return 0;
    }
    res->status = 404;
    return 0;
}

static void on_client_cmd(void *ctx, const dmsec_cmd_t *cmd)
{
    struct party *p = ctx;
    if (cmd->type == DMSEC_CMD_RESULTS && cmd->items && cmd->items->data) {
        p->results_seen++;
        snprintf(p->last_result, sizeof p->last_result, "%s", cmd->items->data->bytes);
    } else if (cmd->type == DMSEC_CMD_STATUS) {
        p->statuses_seen++;
    }
}

/* Persists a session's events into the stored account, as a caller must
 * before sending: the contract's memory implementation. */
static void persist(dmsec_session_t *s, struct party *p, int is_server, int *resync_events)
{
    p->mem.is_server = is_server;
    assert_int_equal(dmsec_session_persist(s, &dmsec_state_mem_ops, &p->mem), DMSEC_OK);
    for (size_t i = 0; i < dmsec_session_events(s); i++) {
        if (dmsec_session_event(s, i)->type == DMSEC_EV_RESYNC && resync_events)
            (*resync_events)++;
    }
}

static dmsec_session_t *new_client(struct party *dev, const char *session_id, int resync)
{
    static const char *const devinfo[] = {"./DevInfo/DevId", DEVICE_ID, "./DevInfo/Man", "dmsec",
                                          NULL};
    dmsec_session_config_t cfg = pair_client_config(codec, SERVER_ID, SERVER_URI, DEVICE_ID, dev);
    cfg.session_id = session_id;
    cfg.server_initiated = session_id != NULL;
    cfg.resync = resync;
    cfg.resync_mode = client_seed000 ? DMSEC_RESYNC_ACCEPT_DEFAULT : resync_mode;
    cfg.transport_secure = transport_secure;
    cfg.devinfo = devinfo;
    cfg.cb.tree_exec = tree_exec;
    cfg.cb.mac_seen = mac_seen;
    dmsec_session_t *s = dmsec_session_new(&cfg);
    assert_non_null(s);
    return s;
}

static dmsec_session_t *new_server(struct party *srv)
{
    dmsec_session_config_t cfg = pair_server_config(SERVER_ID, SERVER_URI, srv);
    cfg.resync_mode = resync_mode;
    cfg.transport_secure = transport_secure;
    cfg.strict_cred = strict_cred;
    cfg.cb.resync_outstanding = resync_outstanding;
    cfg.cb.resync_consume = resync_consume;
    cfg.cb.mac_seen = mac_seen;
    cfg.cb.nonce_used = nonce_used;
    cfg.cb.on_client_cmd = on_client_cmd;
    dmsec_session_t *s = dmsec_session_new(&cfg);
    assert_non_null(s);
    return s;
}

/* One message in transit; a hook may change it. */
struct wire {
    uint8_t body[16384];
    size_t len;
    char ct[64];
    char hmac[512];
};

typedef void (*tamper_fn)(int to_server, int n, struct wire *w, void *arg);

/* Called after each message the server engine takes, n counting from 0. */
static void (*server_hook)(dmsec_session_t *s, int n);

struct run {
    int messages;
    int client_rc; /* first error the client engine returned */
    int server_rc;
    int client_resyncs;
    int server_resyncs;
    struct wire captured[8]; /* client -> server messages, in order */
    int n_captured;
};

static void copy_out(struct wire *w, const dmsec_session_out_t *o)
{
    assert_true(o->len <= sizeof w->body);
    memcpy(w->body, o->body, o->len);
    w->len = o->len;
    snprintf(w->ct, sizeof w->ct, "%s", o->content_type);
    snprintf(w->hmac, sizeof w->hmac, "%s", o->hmac_header);
}

struct conv {
    struct run *r;
    tamper_fn tamper;
    void *arg;
};

/* Lets tamper change message m, and captures it when it goes to the server. */
static void conv_before(void *arg, pair_msg_t *m)
{
    struct conv *cv = arg;
    struct wire w;
    assert_true(m->len <= sizeof w.body);
    memcpy(w.body, m->body, m->len);
    w.len = m->len;
    snprintf(w.ct, sizeof w.ct, "%s", m->ct);
    snprintf(w.hmac, sizeof w.hmac, "%s", m->hmac);
    if (cv->tamper)
        cv->tamper(m->to_server, m->n, &w, cv->arg);
    if (m->to_server && cv->r->n_captured < 8)
        cv->r->captured[cv->r->n_captured++] = w;
    assert_int_equal(pair_msg_set(m, w.body, w.len), 0);
    snprintf(m->ct, sizeof m->ct, "%s", w.ct);
    snprintf(m->hmac, sizeof m->hmac, "%s", w.hmac);
}

/* Runs server_hook and persists the events of the engine's call. */
static void conv_after(void *arg, const pair_call_t *call)
{
    struct conv *cv = arg;
    if (call->server && server_hook && call->rc == 0)
        server_hook(call->engine, call->n / 2);
    persist(call->engine, call->party, call->server,
            call->server ? &cv->r->server_resyncs : &cv->r->client_resyncs);
}

/* Drives a whole conversation (pair_drive): the client starts, then
 * messages go back and forth until one side has nothing to send. */
static struct run converse(dmsec_session_t *c, struct party *dev, dmsec_session_t *s,
                           struct party *srv, tamper_fn tamper, void *arg)
{
    struct run r;
    memset(&r, 0, sizeof r);
    struct conv cv = {&r, tamper, arg};
    pair_drive_t d = {.client = c,
                      .server = s,
                      .dev = dev,
                      .srv = srv,
                      .codec = codec,
                      .now = NOW,
                      .max = 40,
                      .before = conv_before,
                      .after = conv_after,
                      .arg = &cv};
    pair_run_t pr;
    assert_int_equal(pair_drive(&d, &pr), DMSEC_OK);
    r.messages = pr.messages;
    r.client_rc = pr.client_rc;
    r.server_rc = pr.server_rc;
    return r;
}

static int has_event(dmsec_session_t *s, dmsec_event_type_t type)
{
    for (size_t i = 0; i < dmsec_session_events(s); i++) {
        if (dmsec_session_event(s, i)->type == type)
            return 1;
    }
    return 0;
}

/* ---- conversations ---- */

static const struct {
    dmsec_auth_scheme_t c2s;
    dmsec_auth_scheme_t s2c;
} scheme_pairs[] = {
    {DMSEC_AUTH_BASIC, DMSEC_AUTH_BASIC},   {DMSEC_AUTH_MD5, DMSEC_AUTH_MD5},
    {DMSEC_AUTH_SHA256, DMSEC_AUTH_SHA256}, {DMSEC_AUTH_MD5, DMSEC_AUTH_SHA256},
    {DMSEC_AUTH_SHA256, DMSEC_AUTH_BASIC},
};

static void client_initiated_each_scheme(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof scheme_pairs / sizeof scheme_pairs[0]; i++) {
        struct party dev, srv;
        pair(&dev, &srv, scheme_pairs[i].c2s, scheme_pairs[i].s2c, DMSEC_INTEGRITY_NONE);
        uint8_t old_client_nonce[16];
        memcpy(old_client_nonce, srv.mem.acc.in_nonce, 16);
        /* two sessions in a row: the second runs on the nonces the first issued */
        for (int round = 0; round < 2; round++) {
            dmsec_session_t *c = new_client(&dev, NULL, 0);
            dmsec_session_t *s = new_server(&srv);
            assert_int_equal(dmsec_session_queue(s, DMSEC_CMD_GET, "./DevInfo/Mod", NULL, NULL),
                             DMSEC_OK);
            struct run r = converse(c, &dev, s, &srv, NULL, NULL);
            assert_int_equal(r.server_rc, 0);
            assert_int_equal(r.client_rc, 0);
            assert_true(dmsec_session_done(c) && dmsec_session_done(s));
            assert_int_equal(dmsec_session_result(c), DMSEC_OK);
            assert_int_equal(dmsec_session_result(s), DMSEC_OK);
            assert_true(dmsec_session_peer_authenticated(c) && dmsec_session_self_authenticated(c));
            assert_true(dmsec_session_peer_authenticated(s) && dmsec_session_self_authenticated(s));
            assert_int_equal(r.messages, 4); /* packages #1 to #4 */
            assert_int_equal(srv.results_seen, round + 1);
            assert_string_equal(srv.last_result, "dmsec-test-model");
            assert_string_equal(dmsec_session_peer_id(s), DEVICE_ID);
            /* fresh nonces both ways, agreed by both sides */
            if (scheme_pairs[i].c2s != DMSEC_AUTH_BASIC) {
                assert_memory_equal(dev.mem.acc.out_nonce, srv.mem.acc.in_nonce, 16);
                assert_memory_not_equal(srv.mem.acc.in_nonce, old_client_nonce, 16);
            }
            if (scheme_pairs[i].s2c != DMSEC_AUTH_BASIC)
                assert_memory_equal(srv.mem.acc.out_nonce, dev.mem.acc.in_nonce, 16);
            memcpy(old_client_nonce, srv.mem.acc.in_nonce, 16);
            dmsec_session_free(c);
            dmsec_session_free(s);
        }
    }
}

static void server_initiated_session_id(void **state)
{
    (void)state;
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
    char sid[5];
    assert_int_equal(dmsec_pkg0_session_id_text(0x00A1, sid), DMSEC_OK);
    dmsec_session_t *c = new_client(&dev, sid, 0);
    dmsec_session_t *s = new_server(&srv);
    struct run r = converse(c, &dev, s, &srv, NULL, NULL);
    assert_int_equal(r.server_rc, 0);
    assert_string_equal(dmsec_session_id(s), "A1");
    assert_int_equal(dmsec_session_result(s), DMSEC_OK);
    /* the Alert of package #1 says server-initiated */
    dmsec_msg_t *m = NULL;
    assert_int_equal(dmsec_msg_decode(codec, r.captured[0].body, r.captured[0].len, NULL, &m), 0);
    assert_int_equal(m->body.cmds->type, DMSEC_CMD_ALERT);
    assert_string_equal(m->body.cmds->data->bytes, "1200");
    dmsec_msg_free(m);
    dmsec_session_free(c);
    dmsec_session_free(s);
}

static void stale_nonce_then_success(void **state)
{
    (void)state;
    for (int sch = DMSEC_AUTH_MD5; sch <= DMSEC_AUTH_SHA256; sch++) {
        struct party dev, srv;
        pair(&dev, &srv, (dmsec_auth_scheme_t)sch, (dmsec_auth_scheme_t)sch, DMSEC_INTEGRITY_NONE);
        memset(dev.mem.acc.out_nonce, 0x99, 16); /* the device holds an old client nonce */
        memset(srv.mem.acc.out_nonce, 0x77, 16); /* the server an old server nonce */
        dmsec_session_t *c = new_client(&dev, NULL, 0);
        dmsec_session_t *s = new_server(&srv);
        struct run r = converse(c, &dev, s, &srv, NULL, NULL);
        assert_int_equal(r.server_rc, 0);
        assert_true(dmsec_session_done(s) && dmsec_session_done(c));
        assert_int_equal(dmsec_session_result(s), DMSEC_OK);
        assert_int_equal(dmsec_session_result(c), DMSEC_OK);
        assert_true(r.messages > 4); /* a challenge round each way */
        assert_memory_equal(dev.mem.acc.out_nonce, srv.mem.acc.in_nonce, 16);
        assert_memory_equal(srv.mem.acc.out_nonce, dev.mem.acc.in_nonce, 16);
        dmsec_session_free(c);
        dmsec_session_free(s);
    }
}

static void wrong_password_twice_then_stop(void **state)
{
    (void)state;
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
    dmsec_prehash_compute(DEVICE_ID, (const uint8_t *)"wrong", 5, &dev.mem.acc.out_prehash);
    uint8_t before[16];
    memcpy(before, srv.mem.acc.out_secret, 16);
    dmsec_session_t *c = new_client(&dev, NULL, 0);
    dmsec_session_t *s = new_server(&srv);
    assert_int_equal(dmsec_session_queue(s, DMSEC_CMD_GET, "./DevInfo/Mod", NULL, NULL), 0);
    struct run r = converse(c, &dev, s, &srv, NULL, NULL);
    assert_true(dmsec_session_done(s));
    assert_int_equal(dmsec_session_result(s), DMSEC_ERR_AUTH_FAILED);
    assert_int_equal(dmsec_session_result(c), DMSEC_ERR_SESSION_PEER_REFUSED);
    assert_false(dmsec_session_peer_authenticated(s));
    assert_int_equal(r.messages, 4); /* pkg1, 401+Chal, retry, 401: no third try */
    assert_int_equal(dev.tree_calls, 0);
    assert_int_equal(srv.results_seen, 0);
    dmsec_session_free(c);
    dmsec_session_free(s);
}

/* Encodes m in the running group's codec into the wire, in place of what
 * it held (the tamper hooks' common last step). */
static void encode_into(struct wire *w, const dmsec_msg_t *m)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(dmsec_msg_encode(codec, m, &buf, &len), 0);
    assert_true(len <= sizeof w->body);
    memcpy(w->body, buf, len);
    w->len = len;
    free(buf);
}

/* Re-encodes a client message without its Cred. */
static void strip_cred(int to_server, int n, struct wire *w, void *arg)
{
    int *count = arg;
    if (!to_server || n != 0)
        return;
    dmsec_msg_t *m = NULL;
    assert_int_equal(dmsec_msg_decode(codec, w->body, w->len, NULL, &m), 0);
    m->hdr.cred = NULL;
    encode_into(w, m);
    dmsec_msg_free(m);
    (*count)++;
}

static void missing_credentials_get_407(void **state)
{
    (void)state;
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_SHA256, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
    dmsec_session_t *c = new_client(&dev, NULL, 0);
    dmsec_session_t *s = new_server(&srv);
    int stripped = 0;
    dmsec_session_out_t out;
    assert_int_equal(dmsec_session_start(c, NOW, &out), 0);
    struct wire w;
    copy_out(&w, &out);
    strip_cred(1, 0, &w, &stripped);
    assert_int_equal(dmsec_session_feed(s, w.body, w.len, w.ct, NULL, NOW, &out), 0);
    assert_true(has_event(s, DMSEC_EV_AUTH_FAILED));
    /* the challenge's nonce went to a peer not yet authenticated: pending
     * only, the stored nonce stays */
    assert_false(has_event(s, DMSEC_EV_NONCE_ISSUED));
    assert_true(has_event(s, DMSEC_EV_NONCE_PENDING));
    uint8_t before[DMSEC_NONCE_MAX];
    size_t before_len = srv.mem.acc.in_nonce_len;
    memcpy(before, srv.mem.acc.in_nonce, before_len);
    persist(s, &srv, 1, NULL);
    assert_int_equal(srv.mem.acc.in_nonce_len, before_len);
    assert_memory_equal(srv.mem.acc.in_nonce, before, before_len);
    assert_int_equal(srv.mem.acc.in_nonce_pending_len, DMSEC_NONCE_LEN);
    dmsec_msg_t *m = NULL;
    assert_int_equal(dmsec_msg_decode(codec, out.body, out.len, NULL, &m), 0);
    const dmsec_cmd_t *st = m->body.cmds;
    assert_int_equal(dmsec_status_code(st), 407);
    assert_non_null(st->chal);
    assert_string_equal(dmsec_meta_str(st->chal->meta, DMSEC_MI_TYPE), "syncml:auth-sha256");
    assert_non_null(dmsec_meta_str(st->chal->meta, DMSEC_MI_NEXTNONCE));
    dmsec_msg_free(m);
    /* the client answers the challenge and the session completes */
    dmsec_session_free(c);
    dmsec_session_free(s);
    c = new_client(&dev, NULL, 0);
    s = new_server(&srv);
    stripped = 0;
    struct run r = converse(c, &dev, s, &srv, strip_cred, &stripped);
    assert_int_equal(stripped, 1);
    assert_int_equal(dmsec_session_result(s), DMSEC_OK);
    assert_int_equal(dmsec_session_result(c), DMSEC_OK);
    /* 407 + Chal, without the server's Cred (withheld from a client that
     * has not authenticated); the retry carries the Cred and asks for the
     * server's; the server's Cred, the client's verdict, and the close */
    assert_int_equal(r.messages, 6);
    assert_true(dmsec_session_done(s) && dmsec_session_done(c));
    assert_int_equal(dmsec_session_result(c), DMSEC_OK);
    dmsec_session_free(c);
    dmsec_session_free(s);
}

static void wrong_scheme_is_challenged_and_switched(void **state)
{
    (void)state;
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
    dev.mem.acc.out_scheme = DMSEC_AUTH_BASIC; /* the device starts with basic */
    dmsec_session_t *c = new_client(&dev, NULL, 0);
    dmsec_session_t *s = new_server(&srv);
    struct run r = converse(c, &dev, s, &srv, NULL, NULL);
    assert_true(dmsec_session_done(s) && dmsec_session_done(c));
    assert_int_equal(dmsec_session_result(s), DMSEC_OK);
    assert_int_equal(dmsec_session_account(c)->out_scheme, DMSEC_AUTH_MD5);
    /* the first Cred (basic) was refused: the package went twice, then
     * the verdict on the server's Cred */
    assert_int_equal(r.n_captured, 3);
    dmsec_msg_t *m = NULL;
    assert_int_equal(dmsec_msg_decode(codec, r.captured[1].body, r.captured[1].len, NULL, &m), 0);
    assert_string_equal(dmsec_meta_str(m->hdr.cred->meta, DMSEC_MI_TYPE), "syncml:auth-md5");
    dmsec_msg_free(m);
    dmsec_session_free(c);
    dmsec_session_free(s);

    /* A device that cannot answer in the requested scheme ends the session. */
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
    dev.mem.acc.out_scheme = DMSEC_AUTH_BASIC;
    dev.mem.acc.out_prehash.flags = 0;
    c = new_client(&dev, NULL, 0);
    s = new_server(&srv);
    converse(c, &dev, s, &srv, NULL, NULL);
    assert_int_equal(dmsec_session_result(c), DMSEC_ERR_SESSION_SCHEME);
    assert_false(dmsec_session_peer_authenticated(s));
    dmsec_session_free(c);
    dmsec_session_free(s);
}

/* A hand-made package #1 with the Cred given, as a fake or buggy client. */
static void make_pkg1(struct wire *w, const char *session_id, const char *msg_id,
                      const char *cred_type, const char *cred_data)
{
    dmsec_msg_t *m = dmsec_msg_new();
    assert_non_null(m);
    assert_int_equal(dmsec_msg_set_hdr(m, session_id, msg_id, SERVER_URI, DEVICE_ID, DEVICE_ID), 0);
    if (cred_type)
        m->hdr.cred = dmsec_msg_cred(m, cred_type, "b64", cred_data);
    dmsec_cmd_t *a = dmsec_msg_add_cmd(m, NULL, DMSEC_CMD_ALERT);
    a->data = dmsec_msg_data(m, "1201", 4, 0);
    m->body.final = 1;
    encode_into(w, m);
    snprintf(w->ct, sizeof w->ct, "%s", dmsec_codec_content_type(codec));
    w->hmac[0] = '\0';
    dmsec_msg_free(m);
}

static int first_status(const dmsec_session_out_t *out)
{
    dmsec_msg_t *m = NULL;
    assert_int_equal(dmsec_msg_decode(codec, out->body, out->len, NULL, &m), 0);
    int code = dmsec_status_code(m->body.cmds);
    dmsec_msg_free(m);
    return code;
}

/* A stranger names the device with a wrong Cred in a new session; what the
 * server's events store is persisted. Returns the SyncHdr status. */
static int stranger_pkg1(struct party *srv, const char *session_id)
{
    dmsec_session_t *s = new_server(srv);
    struct wire w;
    dmsec_session_out_t out;
    make_pkg1(&w, session_id, "1", "syncml:auth-md5", "AAAAAAAAAAAAAAAAAAAAAA==");
    assert_int_equal(dmsec_session_feed(s, w.body, w.len, w.ct, NULL, NOW, &out), 0);
    persist(s, srv, 1, NULL);
    int code = first_status(&out);
    dmsec_session_free(s);
    return code;
}

/* A client-initiated session of the pair that must succeed; its messages. */
static int good_session(struct party *dev, struct party *srv)
{
    dmsec_session_t *c = new_client(dev, NULL, 0);
    dmsec_session_t *s = new_server(srv);
    struct run r = converse(c, dev, s, srv, NULL, NULL);
    assert_int_equal(dmsec_session_result(s), DMSEC_OK);
    assert_int_equal(dmsec_session_result(c), DMSEC_OK);
    dmsec_session_free(c);
    dmsec_session_free(s);
    return r.messages;
}

static void challenge_answered_with_another_scheme_ends(void **state)
{
    (void)state;
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
    dmsec_session_t *s = new_server(&srv);
    struct wire w;
    dmsec_session_out_t out;
    char data[64];
    /* wrong md5 credential: challenged for md5 */
    make_pkg1(&w, "5", "1", "syncml:auth-md5", "AAAAAAAAAAAAAAAAAAAAAA==");
    assert_int_equal(dmsec_session_feed(s, w.body, w.len, w.ct, NULL, NOW, &out), 0);
    assert_int_equal(first_status(&out), 401);
    /* answered with basic: the session ends */
    dmsec_cred_build(DMSEC_AUTH_BASIC, DEVICE_ID, (const uint8_t *)CLIENT_SECRET,
                     strlen(CLIENT_SECRET), NULL, 0, data, sizeof data, NULL);
    make_pkg1(&w, "5", "2", "syncml:auth-basic", data);
    assert_int_equal(dmsec_session_feed(s, w.body, w.len, w.ct, NULL, NOW, &out), 0);
    assert_true(dmsec_session_done(s));
    assert_int_equal(dmsec_session_result(s), DMSEC_ERR_SESSION_SCHEME);
    assert_false(dmsec_session_peer_authenticated(s));
    dmsec_session_free(s);
}

static void unknown_device_and_bad_input(void **state)
{
    (void)state;
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
    /* An unknown id is answered exactly as a known device whose Cred
     * failed: same status, a challenge with a nonce of the same length,
     * a message of the same length, and nothing stored. */
    dmsec_session_out_t out;
    struct wire w;
    size_t known_len = 0;
    int known_code = 0;
    for (int unknown = 0; unknown < 2; unknown++) {
        srv.mem.known = !unknown;
        srv.mem.writes = 0;
        dmsec_session_t *k = new_server(&srv);
        make_pkg1(&w, "5", "1", "syncml:auth-md5", "AAAAAAAAAAAAAAAAAAAAAA==");
        assert_int_equal(dmsec_session_feed(k, w.body, w.len, w.ct, NULL, NOW, &out), DMSEC_OK);
        assert_true(out.has_message);
        assert_int_equal(dmsec_session_peer_known(k), !unknown);
        const dmsec_event_t *e = NULL;
        for (size_t i = 0; i < dmsec_session_events(k); i++) {
            if (dmsec_session_event(k, i)->type == DMSEC_EV_AUTH_FAILED)
                e = dmsec_session_event(k, i);
        }
        assert_non_null(e);
        assert_int_equal(e->err, unknown ? DMSEC_ERR_SESSION_UNKNOWN_PEER : DMSEC_ERR_AUTH_FAILED);
        persist(k, &srv, 1, NULL);
        assert_int_equal(srv.mem.writes, unknown ? 0 : 1); /* known: the pending nonce */
        dmsec_msg_t *m = NULL;
        assert_int_equal(dmsec_msg_decode(codec, out.body, out.len, NULL, &m), 0);
        int code = dmsec_status_code(m->body.cmds);
        assert_non_null(m->body.cmds->chal);
        const char *nn = dmsec_meta_str(m->body.cmds->chal->meta, DMSEC_MI_NEXTNONCE);
        assert_non_null(nn);
        assert_int_equal(strlen(nn), 24);
        if (!unknown) {
            known_len = out.len;
            known_code = code;
        } else {
            assert_int_equal(code, known_code);
            assert_int_equal(out.len, known_len);
        }
        dmsec_msg_free(m);
        dmsec_session_free(k);
    }
    srv.mem.known = 1;
    dmsec_session_t *s = new_server(&srv);
    /* garbage, a wrong content type: distinct errors, no state change */
    srv.mem.known = 1;
    assert_true(dmsec_session_feed(s, (const uint8_t *)"<SyncML", 7, w.ct, NULL, NOW, &out) < 0);
    assert_int_equal(dmsec_session_feed(s, w.body, w.len, "text/html", NULL, NOW, &out),
                     DMSEC_ERR_CODEC_CONTENT_TYPE);
    make_pkg1(&w, "5", "0", "syncml:auth-md5", "AAAAAAAAAAAAAAAAAAAAAA==");
    assert_int_equal(dmsec_session_feed(s, w.body, w.len, w.ct, NULL, NOW, &out),
                     DMSEC_ERR_SESSION_MSGID);
    make_pkg1(&w, "5", "1", "syncml:auth-md5", "AAAAAAAAAAAAAAAAAAAAAA==");
    assert_int_equal(dmsec_session_feed(s, w.body, w.len, w.ct, NULL, NOW, &out), 0);
    /* another session id in the same session */
    make_pkg1(&w, "6", "2", "syncml:auth-md5", "AAAAAAAAAAAAAAAAAAAAAA==");
    assert_int_equal(dmsec_session_feed(s, w.body, w.len, w.ct, NULL, NOW, &out),
                     DMSEC_ERR_SESSION_ID);
    dmsec_session_free(s);
}

/* ---- x-syncml-hmac ---- */

struct flip {
    int direction; /* 1: client -> server, 0: server -> client */
    int from;      /* first message number to tamper */
    int drop_header;
    int done;
};

/* Changes one byte inside a value the message carries, so that the
 * document still decodes and only the MAC can tell. */
static void flip_byte(int to_server, int n, struct wire *w, void *arg)
{
    struct flip *f = arg;
    if (to_server != f->direction || n < f->from)
        return;
    if (f->drop_header) {
        w->hmac[0] = '\0';
        f->done++;
        return;
    }
    const char *needle = to_server ? "dmsec" : "./DevInfo/Mod";
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= w->len; i++) {
        if (!memcmp(w->body + i, needle, nl)) {
            w->body[i + nl - 1] ^= 0x01;
            f->done++;
            return;
        }
    }
}

static void hmac_sessions_both_forms(void **state)
{
    (void)state;
    for (int integ = DMSEC_INTEGRITY_HMAC_MD5; integ <= DMSEC_INTEGRITY_HMAC_SHA256; integ++) {
        struct party dev, srv;
        pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, (dmsec_integrity_t)integ);
        dmsec_session_t *c = new_client(&dev, NULL, 0);
        dmsec_session_t *s = new_server(&srv);
        assert_int_equal(dmsec_session_queue(s, DMSEC_CMD_GET, "./DevInfo/Mod", NULL, NULL), 0);
        struct run r = converse(c, &dev, s, &srv, NULL, NULL);
        assert_int_equal(dmsec_session_result(s), DMSEC_OK);
        assert_int_equal(dmsec_session_result(c), DMSEC_OK);
        assert_int_equal(srv.results_seen, 1);
        /* every message carried the header, and no Cred was sent */
        for (int i = 0; i < r.n_captured; i++) {
            assert_true(r.captured[i].hmac[0] != '\0');
            dmsec_hmac_header_t h;
            assert_int_equal(
                dmsec_hmac_header_parse(r.captured[i].hmac, strlen(r.captured[i].hmac), &h), 0);
            assert_int_equal(h.alg, integ == DMSEC_INTEGRITY_HMAC_MD5 ? DMSEC_HMAC_MD5
                                                                      : DMSEC_HMAC_SHA256);
            dmsec_msg_t *m = NULL;
            assert_int_equal(
                dmsec_msg_decode(codec, r.captured[i].body, r.captured[i].len, NULL, &m), 0);
            assert_null(m->hdr.cred);
            dmsec_msg_free(m);
        }
        dmsec_session_free(c);
        dmsec_session_free(s);
    }
}

static void hmac_tampered_or_missing_is_rejected(void **state)
{
    (void)state;
    static const struct flip cases[] = {
        {1, 0, 0, 0}, /* client -> server body flipped */
        {0, 1, 0, 0}, /* server -> client body flipped */
        {1, 0, 1, 0}, /* client -> server header dropped */
        {0, 1, 1, 0}, /* server -> client header dropped */
    };
    for (int integ = DMSEC_INTEGRITY_HMAC_MD5; integ <= DMSEC_INTEGRITY_HMAC_SHA256; integ++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            struct party dev, srv;
            pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, (dmsec_integrity_t)integ);
            dmsec_session_t *c = new_client(&dev, NULL, 0);
            dmsec_session_t *s = new_server(&srv);
            assert_int_equal(dmsec_session_queue(s, DMSEC_CMD_GET, "./DevInfo/Mod", NULL, NULL), 0);
            struct flip f = cases[i];
            converse(c, &dev, s, &srv, flip_byte, &f);
            assert_true(f.done > 0);
            /* the tampered direction never authenticates, nothing runs */
            if (cases[i].direction) {
                assert_false(dmsec_session_peer_authenticated(s));
                assert_int_equal(dmsec_session_result(s), cases[i].drop_header
                                                              ? DMSEC_ERR_SESSION_HMAC_MISSING
                                                              : DMSEC_ERR_HMAC_MISMATCH);
            } else {
                assert_false(dmsec_session_peer_authenticated(c));
                assert_int_equal(dev.tree_calls, 0);
                assert_int_equal(dmsec_session_result(c), cases[i].drop_header
                                                              ? DMSEC_ERR_SESSION_HMAC_MISSING
                                                              : DMSEC_ERR_HMAC_MISMATCH);
            }
            assert_int_equal(srv.results_seen, 0);
            dmsec_session_free(c);
            dmsec_session_free(s);
        }
    }
}

/* dmsec_session_feed_msg: a message decoded by the caller goes through
 * the same checks as its bytes (the MAC over the raw body, the MsgID), and
 * is the engine's on every return (ASan sees a leak or a double free). */
static void decoded_message_is_fed_like_bytes(void **state)
{
    (void)state;
    for (int integ = DMSEC_INTEGRITY_NONE; integ <= DMSEC_INTEGRITY_HMAC_SHA256; integ++) {
        struct party dev, srv;
        pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, (dmsec_integrity_t)integ);
        dmsec_session_t *c = new_client(&dev, NULL, 0);
        dmsec_session_t *s = new_server(&srv);
        dmsec_session_out_t out;
        struct wire pkg1;
        assert_int_equal(dmsec_session_start(c, NOW, &out), 0);
        copy_out(&pkg1, &out);
        const char *mac = pkg1.hmac[0] ? pkg1.hmac : NULL;
        assert_int_equal(
            dmsec_session_feed_msg(s, NULL, pkg1.body, pkg1.len, pkg1.ct, mac, NOW, &out),
            DMSEC_ERR_INVALID_ARG);
        dmsec_msg_t *m = NULL;
        if (mac) {
            /* the MAC is checked over the body given, not the message */
            assert_int_equal(dmsec_msg_decode(codec, pkg1.body, pkg1.len, NULL, &m), 0);
            struct wire bad = pkg1;
            bad.body[bad.len - 2] ^= 1;
            assert_int_equal(
                dmsec_session_feed_msg(s, m, bad.body, bad.len, bad.ct, mac, NOW, &out), 0);
            assert_false(dmsec_session_peer_authenticated(s));
            dmsec_session_free(s);
            s = new_server(&srv);
        }
        assert_int_equal(dmsec_msg_decode(codec, pkg1.body, pkg1.len, NULL, &m), 0);
        assert_int_equal(dmsec_session_feed_msg(s, m, pkg1.body, pkg1.len, pkg1.ct, mac, NOW, &out),
                         0);
        assert_true(dmsec_session_peer_authenticated(s));
        persist(s, &srv, 1, NULL);
        /* the same message again: refused, and still taken */
        assert_int_equal(dmsec_msg_decode(codec, pkg1.body, pkg1.len, NULL, &m), 0);
        assert_int_equal(dmsec_session_feed_msg(s, m, pkg1.body, pkg1.len, pkg1.ct, mac, NOW, &out),
                         DMSEC_ERR_SESSION_MSGID);
        assert_int_equal(dmsec_session_events(s), 0);
        dmsec_session_free(c);
        dmsec_session_free(s);
    }
}

static void replayed_messages_are_refused(void **state)
{
    (void)state;
    for (int integ = DMSEC_INTEGRITY_NONE; integ <= DMSEC_INTEGRITY_HMAC_SHA256; integ++) {
        struct party dev, srv;
        pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, (dmsec_integrity_t)integ);
        dmsec_session_t *c = new_client(&dev, NULL, 0);
        dmsec_session_t *s = new_server(&srv);
        assert_int_equal(dmsec_session_queue(s, DMSEC_CMD_GET, "./DevInfo/Mod", NULL, NULL), 0);
        dmsec_session_out_t out;
        struct wire pkg1, w;
        assert_int_equal(dmsec_session_start(c, NOW, &out), 0);
        copy_out(&pkg1, &out);
        assert_int_equal(dmsec_session_feed(s, pkg1.body, pkg1.len, pkg1.ct,
                                            pkg1.hmac[0] ? pkg1.hmac : NULL, NOW, &out),
                         0);
        persist(s, &srv, 1, NULL);
        /* the same message again in the same session: refused, nothing changes */
        assert_int_equal(dmsec_session_feed(s, pkg1.body, pkg1.len, pkg1.ct,
                                            pkg1.hmac[0] ? pkg1.hmac : NULL, NOW, &out),
                         DMSEC_ERR_SESSION_MSGID);
        assert_int_equal(dmsec_session_events(s), 0);
        dmsec_session_free(s);
        /* replayed into a new server session */
        s = new_server(&srv);
        int rc = dmsec_session_feed(s, pkg1.body, pkg1.len, pkg1.ct,
                                    pkg1.hmac[0] ? pkg1.hmac : NULL, NOW + 5, &out);
        if (integ == DMSEC_INTEGRITY_HMAC_SHA256) {
            /* the MAC is remembered across sessions: a replay */
            assert_int_equal(rc, 0);
            assert_false(dmsec_session_peer_authenticated(s));
            assert_int_equal(dmsec_session_event(s, 0)->err, DMSEC_ERR_SESSION_REPLAY);
        } else {
            /* the nonce it was built on has been replaced: 401 */
            assert_int_equal(rc, 0);
            assert_false(dmsec_session_peer_authenticated(s));
            assert_int_equal(first_status(&out), 401);
        }
        (void)w;
        dmsec_session_free(c);
        dmsec_session_free(s);
    }
}

/* ---- nonce resynchronisation (seeds 000-003) ---- */

static void lose_nonces(struct party *dev)
{
    memcpy(dev->mem.acc.out_nonce, dmsec_default_nonce, 4);
    dev->mem.acc.out_nonce_len = 4;
    memcpy(dev->mem.acc.in_nonce, dmsec_default_nonce, 4);
    dev->mem.acc.in_nonce_len = 4;
}

static void resync_with_outstanding_notification(void **state)
{
    (void)state;
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
    lose_nonces(&dev); /* firmware update: the device's nonces are gone */
    srv.resync_outstanding = 1;
    strcpy(srv.resync_session, "A2");
    dmsec_session_t *c = new_client(&dev, "A2", 1);
    dmsec_session_t *s = new_server(&srv);
    struct run r = converse(c, &dev, s, &srv, NULL, NULL);
    assert_int_equal(dmsec_session_result(s), DMSEC_OK);
    assert_int_equal(dmsec_session_result(c), DMSEC_OK);
    /* Replay-proof by default: neither side takes a Cred on the default
     * nonce; each challenges with a fresh one and the other authenticates
     * again on it: one extra round trip each way (6 messages, not 4). */
    assert_int_equal(r.messages, 6);
    assert_int_equal(r.server_resyncs, 1); /* completed, on fresh nonces */
    assert_int_equal(r.client_resyncs, 1);
    assert_int_equal(srv.resync_consumes, 1); /* used up by the authenticated device */
    /* fresh nonces both ways, none of them the default */
    assert_int_equal(dev.mem.acc.out_nonce_len, 16);
    assert_memory_equal(dev.mem.acc.out_nonce, srv.mem.acc.in_nonce, 16);
    assert_memory_equal(srv.mem.acc.out_nonce, dev.mem.acc.in_nonce, 16);
    dmsec_session_free(c);
    dmsec_session_free(s);
    /* and a normal session works again */
    c = new_client(&dev, NULL, 0);
    s = new_server(&srv);
    r = converse(c, &dev, s, &srv, NULL, NULL);
    assert_int_equal(dmsec_session_result(s), DMSEC_OK);
    assert_int_equal(r.server_resyncs + r.client_resyncs, 0);
    dmsec_session_free(c);
    dmsec_session_free(s);
}

/* Both seed 001 cases against the default server, with a client that knows
 * only seed 000: nonce-0 Cred first (challenged, then answered on the fresh
 * nonce); it accepts the server's default-nonce Cred itself. One extra
 * round trip. */
static void resync_with_a_seed000_client(void **state)
{
    (void)state;
    for (int restored = 0; restored < 2; restored++) {
        struct party dev, srv;
        pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
        if (restored) {
            /* case 2: the server's store went back to an older copy */
            memset(srv.mem.acc.in_nonce, 0x5a, 16);
            memset(srv.mem.acc.out_nonce, 0x5b, 16);
        } else {
            lose_nonces(&dev); /* case 1: the device lost its nonces */
        }
        srv.resync_outstanding = 1;
        strcpy(srv.resync_session, "F6");
        client_seed000 = 1;
        dmsec_session_t *c = new_client(&dev, "F6", 1);
        dmsec_session_t *s = new_server(&srv);
        struct run r = converse(c, &dev, s, &srv, NULL, NULL);
        client_seed000 = 0;
        assert_int_equal(dmsec_session_result(s), DMSEC_OK);
        assert_int_equal(dmsec_session_result(c), DMSEC_OK);
        /* two extra exchanges: the server's challenge, and its Cred withheld
         * until the device authenticated */
        assert_int_equal(r.messages, 6);
        assert_int_equal(r.server_resyncs, 1);
        assert_int_equal(srv.resync_consumes, 1);
        dmsec_session_free(c);
        dmsec_session_free(s);
        /* an ordinary session afterwards, with dmsec's own client */
        assert_int_equal(good_session(&dev, &srv), 4);
    }
}

/* The interop option (seed 003 Solution 1 as written): nonce-0 Creds
 * accepted against the outstanding notification, in 4 messages; and the
 * attack it still allows, a recorded package #1 replayed with its
 * SessionID rewritten to the next outstanding notification's. */
static void rewrite_session_id(struct wire *w, const char *sid)
{
    dmsec_msg_t *m = NULL;
    assert_int_equal(dmsec_msg_decode(codec, w->body, w->len, NULL, &m), 0);
    m->hdr.session_id = dmsec_msg_strdup(m, sid);
    encode_into(w, m);
    dmsec_msg_free(m);
}

static void resync_solution1_option_and_its_replay(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        struct party dev, srv;
        pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
        lose_nonces(&dev);
        srv.resync_outstanding = 1;
        strcpy(srv.resync_session, "A2");
        /* the recording is made under the interop option in both rounds */
        resync_mode = DMSEC_RESYNC_ACCEPT_DEFAULT;
        dmsec_session_t *c = new_client(&dev, "A2", 1);
        dmsec_session_t *s = new_server(&srv);
        struct run r = converse(c, &dev, s, &srv, NULL, NULL);
        assert_int_equal(dmsec_session_result(s), DMSEC_OK);
        assert_int_equal(dmsec_session_result(c), DMSEC_OK);
        assert_int_equal(r.messages, 4);
        assert_int_equal(r.server_resyncs, 1);
        assert_int_equal(r.client_resyncs, 1);
        struct wire rec = r.captured[0];
        dmsec_session_free(c);
        dmsec_session_free(s);
        /* later: a new nonce-0 notification is outstanding; the attacker
         * rewrites the recording's SessionID to its id */
        srv.resync_outstanding = 1;
        strcpy(srv.resync_session, "D4");
        rewrite_session_id(&rec, "D4");
        resync_mode = mode ? DMSEC_RESYNC_ACCEPT_DEFAULT : DMSEC_RESYNC_CHALLENGE;
        s = new_server(&srv);
        dmsec_session_out_t out;
        assert_int_equal(dmsec_session_feed(s, rec.body, rec.len, rec.ct, NULL, NOW + 100, &out),
                         0);
        if (mode) {
            /* the option's documented weakness: the attacker is in */
            assert_true(dmsec_session_peer_authenticated(s));
            assert_int_equal(first_status(&out), 212);
            assert_int_equal(dmsec_session_rotate_secret(s), DMSEC_OK);
        } else {
            assert_false(dmsec_session_peer_authenticated(s));
            assert_int_equal(first_status(&out), 401);
            assert_true(has_event(s, DMSEC_EV_NONCE_PENDING));
            assert_false(has_event(s, DMSEC_EV_RESYNC));
            assert_int_equal(srv.resync_outstanding, 1); /* not consumed by a stranger */
        }
        dmsec_session_free(s);
    }
    resync_mode = DMSEC_RESYNC_CHALLENGE;
}

static void resync_without_notification_goes_through_challenge(void **state)
{
    (void)state;
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
    lose_nonces(&dev);
    /* no outstanding notification: nonce-0 credentials are not accepted;
     * the server challenges and the device retries on the new nonce
     * (Solution 2's path) */
    dmsec_session_t *c = new_client(&dev, "A3", 1);
    dmsec_session_t *s = new_server(&srv);
    struct run r = converse(c, &dev, s, &srv, NULL, NULL);
    assert_int_equal(r.server_resyncs, 0);
    assert_int_equal(srv.resync_consumes, 0);
    assert_true(r.messages > 4);
    assert_true(dmsec_session_done(s) && dmsec_session_done(c));
    assert_int_equal(dmsec_session_result(s), DMSEC_OK);
    dmsec_session_free(c);
    dmsec_session_free(s);
}

static void replay_of_nonce0_package1_is_refused(void **state)
{
    (void)state;
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
    lose_nonces(&dev);
    srv.resync_outstanding = 1;
    strcpy(srv.resync_session, "B7");
    dmsec_session_t *c = new_client(&dev, "B7", 1);
    dmsec_session_t *s = new_server(&srv);
    assert_int_equal(dmsec_session_rotate_secret(s), DMSEC_ERR_SESSION_STATE);
    struct run r = converse(c, &dev, s, &srv, NULL, NULL);
    assert_int_equal(dmsec_session_result(s), DMSEC_OK);
    struct wire captured = r.captured[0]; /* the attacker recorded package #1 */
    dmsec_session_free(c);
    dmsec_session_free(s);
    dmsec_account_t before = srv.mem.acc;

    /* Replayed with the same session id, and with another one (seed 003):
     * both refused, and the server's secret stays as it was. */
    for (int variant = 0; variant < 2; variant++) {
        if (variant == 1) {
            /* an outstanding notification for another session id does not help */
            srv.resync_outstanding = 1;
            strcpy(srv.resync_session, "C8");
        }
        s = new_server(&srv);
        dmsec_session_out_t out;
        assert_int_equal(
            dmsec_session_feed(s, captured.body, captured.len, captured.ct, NULL, NOW + 100, &out),
            0);
        assert_false(dmsec_session_peer_authenticated(s));
        assert_int_equal(first_status(&out), 401);
        assert_int_equal(srv.resync_consumes, 1); /* the real device's session only */
        persist(s, &srv, 1, NULL);
        dmsec_session_free(s);
        assert_memory_equal(srv.mem.acc.out_secret, before.out_secret, before.out_secret_len);
        srv.resync_outstanding = 0;
    }
    /* the real device still authenticates afterwards */
    c = new_client(&dev, NULL, 0);
    s = new_server(&srv);
    r = converse(c, &dev, s, &srv, NULL, NULL);
    assert_int_equal(dmsec_session_result(s), DMSEC_OK);
    assert_int_equal(dmsec_session_result(c), DMSEC_OK);
    dmsec_session_free(c);
    dmsec_session_free(s);
}

static void server_with_wrong_password_is_refused(void **state)
{
    (void)state;
    for (int sch = DMSEC_AUTH_BASIC; sch <= DMSEC_AUTH_SHA256; sch++) {
        struct party dev, srv;
        pair(&dev, &srv, DMSEC_AUTH_MD5, (dmsec_auth_scheme_t)sch, DMSEC_INTEGRITY_NONE);
        /* the server holds a wrong secret for itself */
        dmsec_prehash_compute(SERVER_ID, (const uint8_t *)"not-it", 6, &srv.mem.acc.out_prehash);
        memcpy(srv.mem.acc.out_secret, "not-it", 6);
        srv.mem.acc.out_secret_len = 6;
        dmsec_account_t before = dev.mem.acc;
        dmsec_session_t *c = new_client(&dev, NULL, 0);
        dmsec_session_t *s = new_server(&srv);
        assert_int_equal(dmsec_session_queue(s, DMSEC_CMD_GET, "./DevInfo/Mod", NULL, NULL), 0);
        converse(c, &dev, s, &srv, NULL, NULL);
        /* the agent's side of "nothing from strangers": the nonce of its
         * challenge to the server is pending only, the stored one stays */
        assert_int_equal(dev.mem.acc.in_nonce_len, before.in_nonce_len);
        assert_memory_equal(dev.mem.acc.in_nonce, before.in_nonce, before.in_nonce_len);
        if (sch != DMSEC_AUTH_BASIC)
            assert_int_equal(dev.mem.acc.in_nonce_pending_len, DMSEC_NONCE_LEN);
        assert_int_equal(dev.tree_calls, 0); /* its commands were refused */
        assert_int_equal(srv.results_seen, 0);
        assert_false(dmsec_session_peer_authenticated(c));
        assert_true(dmsec_session_done(c));
        assert_int_equal(dmsec_session_result(c), DMSEC_ERR_AUTH_FAILED);
        dmsec_session_free(c);
        dmsec_session_free(s);
    }
}

static void challenge_from_unauthenticated_peer_is_not_stored(void **state)
{
    (void)state;
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
    memset(dev.mem.acc.out_nonce, 0x99, 16); /* stale: the server will challenge */
    /* the server cannot authenticate itself (wrong secret) */
    dmsec_prehash_compute(SERVER_ID, (const uint8_t *)"not-it", 6, &srv.mem.acc.out_prehash);
    dmsec_session_t *c = new_client(&dev, NULL, 0);
    dmsec_session_t *s = new_server(&srv);
    converse(c, &dev, s, &srv, NULL, NULL);
    /* the device answered the challenge on the new nonce (the server took
     * its Cred) but never stored a nonce from the unauthenticated server */
    assert_true(dmsec_session_peer_authenticated(s));
    assert_false(dmsec_session_peer_authenticated(c));
    uint8_t stale[16];
    memset(stale, 0x99, 16);
    assert_memory_equal(dev.mem.acc.out_nonce, stale, 16);
    dmsec_session_free(c);
    dmsec_session_free(s);
}

static void server_refuses_default_nonce_as_ordinary_nonce(void **state)
{
    (void)state;
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
    /* both hold the default nonce, but no resync notification is out */
    lose_nonces(&dev);
    memcpy(srv.mem.acc.in_nonce, dmsec_default_nonce, 4);
    srv.mem.acc.in_nonce_len = 4;
    dmsec_session_t *c = new_client(&dev, NULL, 0);
    dmsec_session_t *s = new_server(&srv);
    dmsec_session_out_t out;
    assert_int_equal(dmsec_session_start(c, NOW, &out), 0);
    assert_int_equal(dmsec_session_feed(s, out.body, out.len, out.content_type, NULL, NOW, &out),
                     0);
    assert_false(dmsec_session_peer_authenticated(s));
    assert_int_equal(first_status(&out), 401);
    dmsec_session_free(c);
    dmsec_session_free(s);
}

static void transport_authenticated_client_and_resp_uri(void **state)
{
    (void)state;
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
    /* the device's application-layer secret is wrong, but TLS vouched for it */
    dmsec_prehash_compute(DEVICE_ID, (const uint8_t *)"wrong", 5, &dev.mem.acc.out_prehash);
    dmsec_session_config_t cfg = {
        .role = DMSEC_ROLE_SERVER,
        .server_id = SERVER_ID,
        .server_uri = SERVER_URI,
        .resp_uri = SERVER_URI "/s/abc123",
        .transport_authenticated = 1,
        .cb = {.get_account = pair_get_account, .on_client_cmd = on_client_cmd},
        .cb_ctx = &srv,
    };
    dmsec_session_t *s = dmsec_session_new(&cfg);
    dmsec_session_t *c = new_client(&dev, NULL, 0);
    assert_int_equal(dmsec_session_queue(s, DMSEC_CMD_GET, "./DevInfo/Mod", NULL, NULL), 0);
    converse(c, &dev, s, &srv, NULL, NULL);
    assert_int_equal(dmsec_session_result(s), DMSEC_OK);
    assert_int_equal(srv.results_seen, 1);
    assert_string_equal(dmsec_session_resp_uri(c), SERVER_URI "/s/abc123");
    dmsec_session_free(c);
    dmsec_session_free(s);
}

/* A tampered server message must not send the device's answer to
 * another host: the RespURI of a message that did not authenticate is
 * followed only on the server's own origin. Untampered, it is followed. */
struct resp_flip {
    const char *needle; /* the part of the RespURI changed */
    int done;
};

static void flip_resp_uri(int to_server, int n, struct wire *w, void *arg)
{
    (void)n;
    struct resp_flip *f = arg;
    size_t nl = strlen(f->needle);
    for (size_t i = 0; !to_server && i + nl <= w->len; i++) {
        if (!memcmp(w->body + i, f->needle, nl)) {
            w->body[i] ^= 0x01;
            f->done++;
            return;
        }
    }
}

static void tampered_resp_uri_stays_on_its_server(void **state)
{
    (void)state;
    /* the host ("dm.dxample.org"), then only the path ("/s/`bc123") */
    static const char *const needles[] = {NULL, "example.org/dm/s/abc123", "abc123"};
    for (int tamper = 0; tamper <= 2; tamper++) {
        struct party dev, srv;
        pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_HMAC_SHA256);
        dmsec_session_config_t cfg = {
            .role = DMSEC_ROLE_SERVER,
            .server_id = SERVER_ID,
            .server_uri = SERVER_URI,
            .resp_uri = SERVER_URI "/s/abc123",
            .cb = {.get_account = pair_get_account, .on_client_cmd = on_client_cmd},
            .cb_ctx = &srv,
        };
        dmsec_session_t *s = dmsec_session_new(&cfg);
        dmsec_session_t *c = new_client(&dev, NULL, 0);
        struct resp_flip f = {needles[tamper], 0};
        converse(c, &dev, s, &srv, tamper ? flip_resp_uri : NULL, &f);
        if (tamper) {
            assert_true(f.done > 0);
            assert_false(dmsec_session_peer_authenticated(c));
            if (tamper == 1)
                assert_null(dmsec_session_resp_uri(c)); /* another host: not followed */
            else
                assert_string_equal(dmsec_session_resp_uri(c), SERVER_URI "/s/`bc123");
        } else {
            assert_int_equal(dmsec_session_result(c), DMSEC_OK);
            assert_string_equal(dmsec_session_resp_uri(c), SERVER_URI "/s/abc123");
        }
        dmsec_session_free(c);
        dmsec_session_free(s);
    }
}

static int pending_events;

static void rotate_after_first(dmsec_session_t *s, int n)
{
    if (n == 0)
        assert_int_equal(dmsec_session_rotate_secret(s), DMSEC_OK);
    if (has_event(s, DMSEC_EV_SECRET_PENDING))
        pending_events++;
}

static void server_rotates_its_secret(void **state)
{
    (void)state;
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
    dmsec_session_t *c = new_client(&dev, NULL, 0);
    dmsec_session_t *s = new_server(&srv);
    pending_events = 0;
    server_hook = rotate_after_first;
    converse(c, &dev, s, &srv, NULL, NULL);
    server_hook = NULL;
    assert_int_equal(dmsec_session_result(s), DMSEC_OK);
    assert_int_equal(dmsec_session_result(c), DMSEC_OK);
    assert_int_equal(pending_events, 1);
    /* both sides hold the new secret, and it is not the old one */
    assert_int_equal(srv.mem.acc.out_secret_len, 32);
    assert_int_equal(dev.mem.acc.in_secret_len, 32);
    assert_memory_equal(srv.mem.acc.out_secret, dev.mem.acc.in_secret, 32);
    assert_memory_not_equal(srv.mem.acc.out_secret, SERVER_SECRET, 24);
    dmsec_session_free(c);
    dmsec_session_free(s);
    /* the next session authenticates the server on the new secret */
    c = new_client(&dev, NULL, 0);
    s = new_server(&srv);
    converse(c, &dev, s, &srv, NULL, NULL);
    assert_int_equal(dmsec_session_result(c), DMSEC_OK);
    assert_true(dmsec_session_peer_authenticated(c));
    dmsec_session_free(c);
    dmsec_session_free(s);
}

/* ---- every message authenticated (DM Security 5.4) ---- */

struct cred_watch {
    int with[2];    /* messages with a Cred: [0] server -> client, [1] client -> server */
    int without[2]; /* and without */
    int strip_from; /* client messages from this number (n) on lose their Cred; 0: none */
    int spoil_at;   /* the client message n whose Cred is made wrong; 0: none */
};

static void watch_cred(int to_server, int n, struct wire *w, void *arg)
{
    struct cred_watch *cw = arg;
    dmsec_msg_t *m = NULL;
    assert_int_equal(dmsec_msg_decode(codec, w->body, w->len, NULL, &m), 0);
    int changed = 0;
    if (to_server && cw->strip_from && n >= cw->strip_from && m->hdr.cred) {
        m->hdr.cred = NULL;
        changed = 1;
    }
    if (to_server && cw->spoil_at && n == cw->spoil_at && m->hdr.cred) {
        m->hdr.cred = dmsec_msg_cred(m, "syncml:auth-md5", "b64", "AAAAAAAAAAAAAAAAAAAAAA==");
        changed = 1;
    }
    if (m->hdr.cred)
        cw->with[to_server]++;
    else
        cw->without[to_server]++;
    if (changed) {
        encode_into(w, m);
    }
    dmsec_msg_free(m);
}

/* A session of three exchanges: the server sends a Get after package #2. */
static struct run get_session(struct party *dev, struct party *srv, struct cred_watch *cw)
{
    dmsec_session_t *c = new_client(dev, NULL, 0);
    dmsec_session_t *s = new_server(srv);
    assert_int_equal(dmsec_session_queue(s, DMSEC_CMD_GET, "./DevInfo/Mod", NULL, NULL), 0);
    struct run r = converse(c, dev, s, srv, watch_cred, cw);
    r.client_rc = dmsec_session_result(c);
    r.server_rc = dmsec_session_result(s);
    dmsec_session_free(c);
    dmsec_session_free(s);
    return r;
}

static void cred_in_every_message_over_plain_http(void **state)
{
    (void)state;
    for (int secure = 0; secure < 2; secure++) {
        transport_secure = secure;
        struct party dev, srv;
        pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_SHA256, DMSEC_INTEGRITY_NONE);
        struct cred_watch cw = {{0}};
        struct run r = get_session(&dev, &srv, &cw);
        assert_int_equal(r.server_rc, DMSEC_OK);
        assert_int_equal(r.client_rc, DMSEC_OK);
        assert_int_equal(srv.results_seen, 1);
        assert_true(r.messages >= 4);
        if (!secure) {
            /* plain: every message of both sides carries a Cred */
            assert_int_equal(cw.without[0] + cw.without[1], 0);
        } else {
            /* TLS: until accepted, then none */
            assert_true(cw.without[0] > 0 && cw.without[1] > 0);
        }
    }
    transport_secure = 0;
}

static void wrong_later_cred_ends_the_session(void **state)
{
    (void)state;
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
    struct cred_watch cw = {.spoil_at = 2}; /* the client's answer to the Get */
    struct run r = get_session(&dev, &srv, &cw);
    assert_int_equal(r.server_rc, DMSEC_ERR_AUTH_FAILED);
    assert_int_equal(srv.results_seen, 0); /* its content was not taken */
}

static void deployed_client_without_later_cred_is_served(void **state)
{
    (void)state;
    for (int strict = 0; strict < 2; strict++) {
        strict_cred = strict;
        struct party dev, srv;
        pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
        struct cred_watch cw = {.strip_from = 2}; /* Cred only until accepted */
        struct run r = get_session(&dev, &srv, &cw);
        if (!strict) {
            assert_int_equal(r.server_rc, DMSEC_OK);
            assert_int_equal(srv.results_seen, 1);
        } else {
            assert_int_equal(r.server_rc, DMSEC_ERR_AUTH_MISSING);
            assert_int_equal(srv.results_seen, 0);
        }
    }
    strict_cred = 0;
}

/* Deployed clients write the SyncHdr's Status with a MsgRef and no CmdRef:
 * it is still the verdict on the SyncHdr, in either direction. */
static void strip_hdr_status_cmdref(int to_server, int n, struct wire *w, void *arg)
{
    (void)n;
    int *stripped = arg;
    dmsec_msg_t *m = NULL;
    assert_int_equal(dmsec_msg_decode(codec, w->body, w->len, NULL, &m), 0);
    int changed = 0;
    for (dmsec_cmd_t *c = m->body.cmds; c; c = c->next) {
        if (c->type == DMSEC_CMD_STATUS && c->cmd && !strcmp(c->cmd, "SyncHdr") && c->msg_ref) {
            c->cmd_ref = NULL;
            changed = 1;
        }
    }
    if (changed) {
        encode_into(w, m);
        stripped[to_server]++;
    }
    dmsec_msg_free(m);
}

static void hdr_status_without_cmdref_is_the_verdict(void **state)
{
    (void)state;
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
    int plain = good_session(&dev, &srv);
    dmsec_session_t *c = new_client(&dev, NULL, 0);
    dmsec_session_t *s = new_server(&srv);
    int stripped[2] = {0, 0};
    struct run r = converse(c, &dev, s, &srv, strip_hdr_status_cmdref, stripped);
    assert_int_equal(r.server_rc, DMSEC_OK);
    assert_int_equal(r.client_rc, DMSEC_OK);
    assert_true(stripped[0] > 0 && stripped[1] > 0);
    assert_int_equal(r.messages, plain);
    assert_int_equal(dmsec_session_result(s), DMSEC_OK);
    assert_int_equal(dmsec_session_result(c), DMSEC_OK);
    assert_true(dmsec_session_self_authenticated(s));
    assert_true(dmsec_session_self_authenticated(c));
    dmsec_session_free(c);
    dmsec_session_free(s);
}

/* A client that numbers two commands of a message alike: each is answered
 * (a Status per command, both with the repeated CmdRef), the session goes
 * on. */
static void repeat_cmd_id(int to_server, int n, struct wire *w, void *arg)
{
    int *repeated = arg;
    if (!to_server || n != 0)
        return;
    dmsec_msg_t *m = NULL;
    assert_int_equal(dmsec_msg_decode(codec, w->body, w->len, NULL, &m), 0);
    assert_non_null(m->body.cmds);
    assert_non_null(m->body.cmds->next);
    m->body.cmds->next->cmd_id = m->body.cmds->cmd_id;
    encode_into(w, m);
    dmsec_msg_free(m);
    (*repeated)++;
}

static void repeated_cmd_id_is_answered(void **state)
{
    (void)state;
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
    int plain = good_session(&dev, &srv);
    dmsec_session_t *c = new_client(&dev, NULL, 0);
    dmsec_session_t *s = new_server(&srv);
    int repeated = 0;
    struct run r = converse(c, &dev, s, &srv, repeat_cmd_id, &repeated);
    assert_int_equal(repeated, 1);
    assert_int_equal(r.server_rc, DMSEC_OK);
    assert_int_equal(r.client_rc, DMSEC_OK);
    assert_int_equal(r.messages, plain);
    assert_int_equal(dmsec_session_result(s), DMSEC_OK);
    assert_int_equal(dmsec_session_result(c), DMSEC_OK);
    dmsec_session_free(c);
    dmsec_session_free(s);
}

/* A 401 or 407 on the SyncHdr gives each command its own status. */
static void refused_commands_get_their_status(void **state)
{
    (void)state;
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
    for (int missing = 0; missing < 2; missing++) {
        dmsec_session_t *s = new_server(&srv);
        struct wire w;
        dmsec_session_out_t out;
        make_pkg1(&w, "5", "1", missing ? NULL : "syncml:auth-md5",
                  missing ? NULL : "AAAAAAAAAAAAAAAAAAAAAA==");
        assert_int_equal(dmsec_session_feed(s, w.body, w.len, w.ct, NULL, NOW, &out), 0);
        dmsec_msg_t *m = NULL;
        assert_int_equal(dmsec_msg_decode(codec, out.body, out.len, NULL, &m), 0);
        int want = missing ? 407 : 401;
        /* the server's own Cred is not handed to whoever names a device */
        assert_null(m->hdr.cred);
        const dmsec_cmd_t *hdr = m->body.cmds;
        assert_int_equal(dmsec_status_code(hdr), want);
        const dmsec_cmd_t *alert = hdr->next;
        assert_non_null(alert);
        assert_int_equal(alert->type, DMSEC_CMD_STATUS);
        assert_string_equal(alert->cmd_ref, "1");
        assert_string_equal(alert->cmd, "Alert");
        assert_int_equal(dmsec_status_code(alert), want);
        dmsec_msg_free(m);
        dmsec_session_free(s);
    }
}

/* A stranger's failed package #1 leaves the stored nonce as it was: the
 * real device's next session takes as many messages as without it; and a
 * device that got the stranger-era challenge's nonce authenticates on the
 * pending nonce, which then gives way to a fresh one. */
static void stranger_changes_no_stored_nonce(void **state)
{
    (void)state;
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
    dmsec_account_t before = srv.mem.acc;
    for (int i = 0; i < 3; i++)
        assert_int_equal(stranger_pkg1(&srv, "7"), 401);
    assert_int_equal(srv.mem.acc.in_nonce_len, before.in_nonce_len);
    assert_memory_equal(srv.mem.acc.in_nonce, before.in_nonce, before.in_nonce_len);
    assert_int_equal(srv.mem.acc.in_nonce_pending_len, DMSEC_NONCE_LEN);
    assert_int_equal(good_session(&dev, &srv), 4);
    assert_int_equal(srv.mem.acc.in_nonce_pending_len, 0); /* a success voids it */
    /* the pending nonce authenticates the peer that got it */
    assert_int_equal(stranger_pkg1(&srv, "8"), 401);
    memcpy(dev.mem.acc.out_nonce, srv.mem.acc.in_nonce_pending, DMSEC_NONCE_LEN);
    dev.mem.acc.out_nonce_len = DMSEC_NONCE_LEN;
    assert_int_equal(good_session(&dev, &srv), 4);
    assert_int_equal(srv.mem.acc.in_nonce_pending_len, 0);
}

/* Two sessions racing on one nonce (a package #1 replayed before the first
 * session's new nonce is stored): the first authenticates, the second is a
 * replay, refused with a fresh challenge. */
static void one_nonce_one_session_even_when_racing(void **state)
{
    (void)state;
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
    dmsec_session_t *c = new_client(&dev, NULL, 0);
    dmsec_session_out_t out;
    assert_int_equal(dmsec_session_start(c, NOW, &out), 0);
    struct wire w;
    copy_out(&w, &out);
    dmsec_session_t *first = new_server(&srv);
    dmsec_session_t *second = new_server(&srv);
    assert_int_equal(dmsec_session_feed(first, w.body, w.len, w.ct, NULL, NOW, &out), 0);
    assert_int_equal(first_status(&out), 212);
    /* nothing persisted yet: the stored nonce is still the one used */
    assert_int_equal(dmsec_session_feed(second, w.body, w.len, w.ct, NULL, NOW, &out), 0);
    assert_int_equal(first_status(&out), 401);
    assert_false(dmsec_session_peer_authenticated(second));
    const dmsec_event_t *e = NULL;
    for (size_t i = 0; i < dmsec_session_events(second); i++) {
        if (dmsec_session_event(second, i)->type == DMSEC_EV_AUTH_FAILED)
            e = dmsec_session_event(second, i);
    }
    assert_non_null(e);
    assert_int_equal(e->err, DMSEC_ERR_SESSION_REPLAY);
    dmsec_session_free(first);
    dmsec_session_free(second);
    dmsec_session_free(c);
}

/* ---- engine defects: a failed call changes nothing; no event is lost ---- */

struct flaky_rng {
    int fail_at; /* the call number that fails (1-based), 0: none */
    int calls;
};

static int flaky_fill(void *ctx, uint8_t *buf, size_t len)
{
    struct flaky_rng *f = ctx;
    if (++f->calls == f->fail_at)
        return DMSEC_ERR_RANDOM;
    return dmsec_rng_os_fill(NULL, buf, len);
}

static void failed_call_leaves_state_unchanged(void **state)
{
    (void)state;
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
    struct flaky_rng f = {.fail_at = 1};
    dmsec_session_config_t cfg = {
        .role = DMSEC_ROLE_SERVER,
        .server_id = SERVER_ID,
        .server_uri = SERVER_URI,
        .rng = {flaky_fill, &f},
        .cb = {.get_account = pair_get_account},
        .cb_ctx = &srv,
    };
    dmsec_session_t *s = dmsec_session_new(&cfg);
    assert_non_null(s);
    struct wire w;
    dmsec_session_out_t out;
    make_pkg1(&w, "9", "1", "syncml:auth-md5", "AAAAAAAAAAAAAAAAAAAAAA==");
    /* the challenge's nonce cannot be drawn: the call fails, and leaves no
     * event and no trace (not the failure count, not the MsgID) */
    assert_int_equal(dmsec_session_feed(s, w.body, w.len, w.ct, NULL, NOW, &out), DMSEC_ERR_RANDOM);
    assert_int_equal(dmsec_session_events(s), 0);
    assert_false(out.has_message);
    /* the same message again: answered as the first failure it is, a
     * challenge with a fresh nonce (not a second failure that ends it) */
    assert_int_equal(dmsec_session_feed(s, w.body, w.len, w.ct, NULL, NOW, &out), DMSEC_OK);
    assert_int_equal(first_status(&out), 401);
    assert_false(dmsec_session_done(s));
    assert_true(has_event(s, DMSEC_EV_NONCE_PENDING));
    dmsec_session_free(s);
}

static void many_events_of_one_call_are_all_kept(void **state)
{
    (void)state;
    /* The client's call on a resync server answer under the interop option
     * records more events than the first capacity: all come out, in order. */
    struct party dev, srv;
    pair(&dev, &srv, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE);
    lose_nonces(&dev);
    srv.resync_outstanding = 1;
    strcpy(srv.resync_session, "E5");
    resync_mode = DMSEC_RESYNC_ACCEPT_DEFAULT;
    dmsec_session_t *c = new_client(&dev, "E5", 1);
    dmsec_session_t *s = new_server(&srv);
    dmsec_session_out_t out;
    assert_int_equal(dmsec_session_start(c, NOW, &out), 0);
    struct wire w;
    copy_out(&w, &out);
    assert_int_equal(dmsec_session_feed(s, w.body, w.len, w.ct, NULL, NOW, &out), 0);
    copy_out(&w, &out);
    assert_int_equal(dmsec_session_feed(c, w.body, w.len, w.ct, NULL, NOW, &out), 0);
    size_t n = dmsec_session_events(c);
    assert_true(n > 4);
    const dmsec_event_type_t want[] = {DMSEC_EV_PEER_AUTHENTICATED, DMSEC_EV_RESYNC,
                                       DMSEC_EV_SELF_AUTHENTICATED, DMSEC_EV_NONCE_ACCEPTED,
                                       DMSEC_EV_NONCE_ISSUED};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
        assert_true(has_event(c, want[k]));
    assert_null(dmsec_session_event(c, n));
    resync_mode = DMSEC_RESYNC_CHALLENGE;
    dmsec_session_free(c);
    dmsec_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(client_initiated_each_scheme),
        cmocka_unit_test(server_initiated_session_id),
        cmocka_unit_test(stale_nonce_then_success),
        cmocka_unit_test(wrong_password_twice_then_stop),
        cmocka_unit_test(missing_credentials_get_407),
        cmocka_unit_test(wrong_scheme_is_challenged_and_switched),
        cmocka_unit_test(challenge_answered_with_another_scheme_ends),
        cmocka_unit_test(unknown_device_and_bad_input),
        cmocka_unit_test(hmac_sessions_both_forms),
        cmocka_unit_test(hmac_tampered_or_missing_is_rejected),
        cmocka_unit_test(tampered_resp_uri_stays_on_its_server),
        cmocka_unit_test(replayed_messages_are_refused),
        cmocka_unit_test(decoded_message_is_fed_like_bytes),
        cmocka_unit_test(resync_with_outstanding_notification),
        cmocka_unit_test(resync_solution1_option_and_its_replay),
        cmocka_unit_test(resync_with_a_seed000_client),
        cmocka_unit_test(cred_in_every_message_over_plain_http),
        cmocka_unit_test(wrong_later_cred_ends_the_session),
        cmocka_unit_test(deployed_client_without_later_cred_is_served),
        cmocka_unit_test(refused_commands_get_their_status),
        cmocka_unit_test(hdr_status_without_cmdref_is_the_verdict),
        cmocka_unit_test(repeated_cmd_id_is_answered),
        cmocka_unit_test(stranger_changes_no_stored_nonce),
        cmocka_unit_test(one_nonce_one_session_even_when_racing),
        cmocka_unit_test(failed_call_leaves_state_unchanged),
        cmocka_unit_test(many_events_of_one_call_are_all_kept),
        cmocka_unit_test(resync_without_notification_goes_through_challenge),
        cmocka_unit_test(replay_of_nonce0_package1_is_refused),
        cmocka_unit_test(server_with_wrong_password_is_refused),
        cmocka_unit_test(server_rotates_its_secret),
        cmocka_unit_test(transport_authenticated_client_and_resp_uri),
        cmocka_unit_test(challenge_from_unauthenticated_peer_is_not_stored),
        cmocka_unit_test(server_refuses_default_nonce_as_ordinary_nonce),
    };
    int failed = 0;
    if (getenv("DMSEC_TEST_FILTER"))
        cmocka_set_test_filter(getenv("DMSEC_TEST_FILTER"));
    codec = DMSEC_CODEC_XML;
    failed += cmocka_run_group_tests_name("session (XML)", tests, NULL, NULL);
    codec = DMSEC_CODEC_WBXML;
    failed += cmocka_run_group_tests_name("session (WBXML)", tests, NULL, NULL);
    return failed;
}
