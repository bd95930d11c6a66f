/*
 * pair_fixture.h - a device and a server in memory, as the session tests
 * (test_session, test_mgmt) and the session fuzz harnesses (fuzz_session,
 * fuzz_mgmt) set them up: the accounts of each side, the get_account
 * callback over the contract in memory, the device's DM tree with an
 * Atomic callback, and the driver that carries a conversation between the
 * two engines to its end. Header-only (each test is a program of its own)
 * and without cmocka: a function answers an error and its caller asserts
 * or aborts, as a test or a harness does.
 */
#ifndef DMSEC_TEST_PAIR_FIXTURE_H
#define DMSEC_TEST_PAIR_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/auth.h"
#include "dmsec/codec.h"
#include "dmsec/errors.h"
#include "dmsec/session.h"
#include "dmsec/tree.h"

/* ---- accounts ---- */

/* An account that authenticates to in_name as out_name with out_secret and
 * expects in_name to use in_secret; nonces 0x11.. out, 0x22.. in. 0, or
 * the error of a prehash. */
static inline int account_set(dmsec_account_t *a, dmsec_auth_scheme_t out_scheme,
                              const char *out_name, const char *out_secret,
                              dmsec_auth_scheme_t in_scheme, const char *in_name,
                              const char *in_secret)
{
    memset(a, 0, sizeof *a);
    a->out_scheme = out_scheme;
    strcpy(a->out_name, out_name);
    a->out_secret_len = strlen(out_secret);
    memcpy(a->out_secret, out_secret, a->out_secret_len);
    a->in_scheme = in_scheme;
    strcpy(a->in_name, in_name);
    a->in_secret_len = strlen(in_secret);
    memcpy(a->in_secret, in_secret, a->in_secret_len);
    memset(a->out_nonce, 0x11, 16);
    a->out_nonce_len = 16;
    memset(a->in_nonce, 0x22, 16);
    a->in_nonce_len = 16;
    int rc = dmsec_prehash_compute(out_name, a->out_secret, a->out_secret_len, &a->out_prehash);
    if (rc)
        return rc;
    return dmsec_prehash_compute(in_name, a->in_secret, a->in_secret_len, &a->in_prehash);
}

/* A device (dev_id, dev_secret) and a server (srv_id, srv_secret) that
 * agree: each knows the other, and the device's client nonce is the
 * server's nonce for the client, and the other way round. c2s is the
 * scheme the device authenticates with, s2c the server's; srvcred, when
 * not NULL, the path of the server's credential in the device's tree. 0,
 * or the error of a prehash. */
static inline int pair_accounts(dmsec_state_mem_t *dev, dmsec_state_mem_t *srv,
                                dmsec_auth_scheme_t c2s, dmsec_auth_scheme_t s2c,
                                const char *dev_id, const char *dev_secret, const char *srv_id,
                                const char *srv_secret, const char *srvcred)
{
    memset(dev, 0, sizeof *dev);
    memset(srv, 0, sizeof *srv);
    int rc = account_set(&dev->acc, c2s, dev_id, dev_secret, s2c, srv_id, srv_secret);
    if (!rc)
        rc = account_set(&srv->acc, s2c, srv_id, srv_secret, c2s, dev_id, dev_secret);
    memcpy(srv->acc.in_nonce, dev->acc.out_nonce, 16);
    memcpy(dev->acc.in_nonce, srv->acc.out_nonce, 16);
    dev->known = srv->known = 1;
    srv->is_server = 1;
    if (srvcred) {
        snprintf(dev->acc.srvcred_path, sizeof dev->acc.srvcred_path, "%s", srvcred);
        snprintf(srv->acc.srvcred_path, sizeof srv->acc.srvcred_path, "%s", srvcred);
    }
    return rc;
}

/* A get_account callback for a party whose first member is its
 * dmsec_state_mem_t: the account, for either name it holds; any other peer
 * is unknown. */
static inline int pair_get_account(void *ctx, const char *peer_id, dmsec_account_t *out)
{
    const dmsec_state_mem_t *m = ctx;
    if (strcmp(peer_id, m->acc.out_name) != 0 && strcmp(peer_id, m->acc.in_name) != 0)
        return DMSEC_ERR_SESSION_UNKNOWN_PEER;
    return dmsec_state_mem_get_account(ctx, peer_id, out);
}

/* The config of the pair's client engine: codec, the server's id and URI,
 * the device's id, and its accounts through pair_get_account on ctx (the
 * device's party); the caller sets the rest. */
static inline dmsec_session_config_t pair_client_config(dmsec_codec_t codec, const char *server_id,
                                                        const char *server_uri,
                                                        const char *device_id, void *ctx)
{
    dmsec_session_config_t cfg = {.role = DMSEC_ROLE_CLIENT,
                                  .codec = codec,
                                  .server_id = server_id,
                                  .server_uri = server_uri,
                                  .device_id = device_id,
                                  .cb = {.get_account = pair_get_account},
                                  .cb_ctx = ctx};
    return cfg;
}

/* The config of the pair's server engine, as pair_client_config. */
static inline dmsec_session_config_t pair_server_config(const char *server_id,
                                                        const char *server_uri, void *ctx)
{
    dmsec_session_config_t cfg = {.role = DMSEC_ROLE_SERVER,
                                  .codec = DMSEC_CODEC_XML,
                                  .server_id = server_id,
                                  .server_uri = server_uri,
                                  .cb = {.get_account = pair_get_account},
                                  .cb_ctx = ctx};
    return cfg;
}

/* ---- the device's tree ---- */

static inline int pair_leaf(dmsec_tree_t *t, const char *uri, const char *v)
{
    return dmsec_tree_set_local(t, uri, DMSEC_TREE_CHR, NULL, v, strlen(v));
}

/* The device's tree (NULL when it cannot be built): the server may do
 * everything under ./Vendor (leaves A "old", Del "bye", Src "copied" and
 * Run, run by exec with exec_ctx) and read the rest: ./DevInfo (Man
 * "dmsec", Mod model, DevId device_id) and ./DevDetail/FwV fw. */
static inline dmsec_tree_t *pair_tree_new(const char *device_id, const char *model, const char *fw,
                                          dmsec_tree_exec_fn exec, void *exec_ctx)
{
    dmsec_tree_t *t = dmsec_tree_new("Get=*");
    if (!t)
        return NULL;
    int rc = dmsec_tree_set_local(t, "./Vendor", DMSEC_TREE_NODE, NULL, "", 0);
    if (!rc)
        rc = dmsec_tree_set_acl_local(t, "./Vendor", "Add=*&Delete=*&Exec=*&Get=*&Replace=*");
    const char *const leaves[] = {"./Vendor/A",      "old",     "./Vendor/Del",    "bye",
                                  "./Vendor/Src",    "copied",  "./Vendor/Run",    "",
                                  "./DevInfo/Man",   "dmsec",   "./DevInfo/Mod",   model,
                                  "./DevInfo/DevId", device_id, "./DevDetail/FwV", fw};
    for (size_t i = 0; !rc && i < sizeof leaves / sizeof *leaves; i += 2)
        rc = pair_leaf(t, leaves[i], leaves[i + 1]);
    if (rc) {
        dmsec_tree_free(t);
        return NULL;
    }
    dmsec_tree_set_exec(t, exec, exec_ctx);
    return t;
}

/* A tree_atomic callback's work on tree, its snapshot in *snap: begin
 * takes one, rollback restores it, commit drops it. An Atomic begun twice
 * or ended without a begin is the engine's bug: it aborts. */
static inline int pair_tree_atomic(dmsec_tree_t *tree, dmsec_tree_t **snap, int op)
{
    if ((op == DMSEC_ATOMIC_BEGIN) == (*snap != NULL)) {
        fprintf(stderr, "pair_tree_atomic: %s\n",
                *snap ? "Atomic begun twice" : "Atomic ended without a begin");
        abort();
    }
    if (op == DMSEC_ATOMIC_BEGIN)
        return dmsec_tree_snapshot(tree, snap);
    if (op == DMSEC_ATOMIC_ROLLBACK)
        dmsec_tree_restore(tree, *snap);
    else
        dmsec_tree_free(*snap);
    *snap = NULL;
    return 0;
}

/* ---- a conversation ---- */

/* One message in transit, in a buffer of the driver's that a hook may
 * change (pair_msg_set replaces the bytes). */
typedef struct {
    uint8_t *body;
    size_t len;
    char ct[64];
    char hmac[512]; /* empty when none */
    int n;          /* 0: the client's package #1 */
    int to_server;
    int lost; /* set by the before hook: the message never arrives, the
               * conversation ends there (its receiver's session left open) */
} pair_msg_t;

/* Sets m's bytes to a copy of body: 0, or -1 without memory. */
static inline int pair_msg_set(pair_msg_t *m, const uint8_t *body, size_t len)
{
    uint8_t *b = realloc(m->body, len ? len : 1);
    if (!b)
        return -1;
    if (len)
        memcpy(b, body, len);
    m->body = b;
    m->len = len;
    return 0;
}

/* One line per command of a message (its children too), or the message
 * as XML when DMSEC_TRACE is "xml". */
static inline void pair_trace(dmsec_codec_t codec, const pair_msg_t *w)
{
    dmsec_msg_t *m = NULL;
    if (dmsec_msg_decode(codec, w->body, w->len, NULL, &m))
        return;
    const char *dir = w->to_server ? "C->S" : "S->C";
    const char *how = getenv("DMSEC_TRACE");
    uint8_t *xml = NULL;
    size_t xl = 0;
    if (how && !strcmp(how, "xml")) {
        if (!dmsec_xml_encode(m, &xml, &xl))
            fprintf(stderr, "%s %s\n%.*s\n\n", dir, w->hmac, (int)xl, (const char *)xml);
        free(xml);
        dmsec_msg_free(m);
        return;
    }
    fprintf(stderr, "%s msg %s len %zu final %d\n", dir, m->hdr.msg_id, w->len, m->body.final);
    const dmsec_cmd_t *stack[16];
    int depth = 0;
    for (const dmsec_cmd_t *c = m->body.cmds; c || depth;) {
        if (!c) {
            c = stack[--depth];
            continue;
        }
        fprintf(stderr, "  %*s%s id=%s ref=%s/%s cmd=%s data=%.8s", 2 * depth, "",
                dmsec_cmd_name(c->type), c->cmd_id ? c->cmd_id : "-", c->msg_ref ? c->msg_ref : "-",
                c->cmd_ref ? c->cmd_ref : "-", c->cmd ? c->cmd : "-",
                c->data ? c->data->bytes : "-");
        for (const dmsec_item_t *it = c->items; it; it = it->next) {
            const char *size = it->meta ? dmsec_meta_str(it->meta, DMSEC_MI_SIZE) : NULL;
            fprintf(stderr, " [%s len=%zu more=%d size=%s]",
                    it->target   ? it->target->uri
                    : it->source ? it->source->uri
                                 : "-",
                    it->data ? it->data->len : 0, it->more_data, size ? size : "-");
        }
        fprintf(stderr, "\n");
        if (c->children && depth < 16) {
            stack[depth++] = c->next;
            c = c->children;
        } else {
            c = c->next;
        }
    }
    dmsec_msg_free(m);
}

/* One call of an engine, as the driver's after hook sees it. */
typedef struct {
    dmsec_session_t *engine;
    void *party; /* pair_drive_t's dev or srv, as engine */
    int server;  /* 1: the server engine */
    int n;       /* the message fed; -1: the client's start */
    int rc;
    const dmsec_session_out_t *out; /* the answer (when rc is 0) */
} pair_call_t;

/* What drives a conversation between a client and a server engine. */
typedef struct {
    dmsec_session_t *client;
    dmsec_session_t *server;
    void *dev; /* the parties, handed to after with their engine */
    void *srv;
    dmsec_codec_t codec; /* the client's, for the trace */
    time_t now;          /* the client starts then; message n is fed at now + n */
    int max;             /* messages at the most */
    /* Before message m goes (NULL: none): may change it. */
    void (*before)(void *arg, pair_msg_t *m);
    /* After each call of an engine (NULL: none): the client's start and
     * the feed of each message. */
    void (*after)(void *arg, const pair_call_t *call);
    void *arg;
} pair_drive_t;

typedef struct {
    int messages;  /* fed */
    int client_rc; /* the error the client engine returned, which ended it */
    int server_rc;
    int cut;  /* 1: max messages went and there was another */
    int lost; /* 1: the before hook lost a message (not fed) */
} pair_run_t;

/* Drives a whole conversation: the client starts, then each message goes
 * (with the trace when DMSEC_TRACE is set) to the other side, until one
 * side has nothing to send, an engine answers an error (the other messages
 * are not sent), the before hook loses a message or max messages went. 0, or the error of the
 * client's start (or -1 without memory): the conversation did not happen. */
static inline int pair_drive(const pair_drive_t *d, pair_run_t *r)
{
    memset(r, 0, sizeof *r);
    dmsec_session_out_t out;
    int rc = dmsec_session_start(d->client, d->now, &out);
    if (rc)
        return rc;
    pair_call_t call = {d->client, d->dev, 0, -1, 0, &out};
    if (d->after)
        d->after(d->arg, &call);
    pair_msg_t m;
    memset(&m, 0, sizeof m);
    for (int n = 0; out.has_message; n++) {
        if (n == d->max) {
            r->cut = 1;
            break;
        }
        m.n = n;
        m.to_server = n % 2 == 0;
        if (pair_msg_set(&m, out.body, out.len)) {
            free(m.body);
            return -1;
        }
        snprintf(m.ct, sizeof m.ct, "%s", out.content_type ? out.content_type : "");
        snprintf(m.hmac, sizeof m.hmac, "%s", out.hmac_header);
        if (d->before)
            d->before(d->arg, &m);
        if (m.lost) {
            r->lost = 1;
            break;
        }
        if (getenv("DMSEC_TRACE"))
            pair_trace(d->codec, &m);
        call.engine = m.to_server ? d->server : d->client;
        call.party = m.to_server ? d->srv : d->dev;
        call.server = m.to_server;
        call.n = n;
        rc = dmsec_session_feed(call.engine, m.body, m.len, m.ct, m.hmac[0] ? m.hmac : NULL,
                                d->now + n, &out);
        call.rc = rc;
        r->messages++;
        if (d->after)
            d->after(d->arg, &call);
        if (rc) {
            *(m.to_server ? &r->server_rc : &r->client_rc) = rc;
            break;
        }
    }
    free(m.body);
    return 0;
}

/* 1 when the last call of s kept the engine's promises: no positive
 * result, a message to send has bytes, a failed call has no events, and
 * every event is there up to the count and none past it. */
static inline int pair_call_ok(const dmsec_session_t *s, int rc, const dmsec_session_out_t *out)
{
    if (rc > 0 || (rc == 0 && out->has_message && (!out->body || !out->len)))
        return 0;
    size_t n = dmsec_session_events(s);
    if (rc && n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const dmsec_event_t *e = dmsec_session_event(s, i);
        if (!e || (e->has_data && e->data_len && !e->data))
            return 0;
    }
    return dmsec_session_event(s, n) == NULL;
}

#endif
