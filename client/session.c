/*
 * session.c - one DM session of the agent: the engine (client role) over
 * libcurl, the account read from the DMAcc in the tree, server commands run
 * on the tree under its ACLs, every security event written to the tree file
 * before the next message goes out.
 */
#define _DEFAULT_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <jansson.h>

#include "client.h"
#include "dmsec/auth.h"
#include "dmsec/errors.h"
#include "dmsec/session.h"

#define MAX_MESSAGES 64 /* the engine's own limit per session (max_messages 0) */

int cli_account_of(const dmsec_tree_t *t, const char *server_id, char *acc, size_t cap)
{
    int rc = dmsec_tree_find_account(t, server_id, acc, cap);
    if (rc) {
        cli_err("no DMAcc for server id '%s' (%s)", server_id, dmsec_errname(rc));
        return -1;
    }
    return 0;
}

long cli_acc_leaf(const dmsec_tree_t *t, const char *acc, const char *leaf, uint8_t *out,
                  size_t cap)
{
    char uri[DMSEC_TREE_MAX_URI + 1];
    int k = snprintf(uri, sizeof uri, "./DMAcc/%s/%s", acc, leaf);
    dmsec_tree_info_t info;
    if (k < 0 || (size_t)k >= sizeof uri || dmsec_tree_get_local(t, uri, &info) != 0 ||
        info.format == DMSEC_TREE_NODE || info.value_len > cap)
        return -1;
    if (info.value_len)
        memcpy(out, info.value, info.value_len);
    return (long)info.value_len;
}

/* A leaf as a NUL-terminated string (empty when missing). */
static void acc_str(const dmsec_tree_t *t, const char *acc, const char *leaf, char *out, size_t cap)
{
    long n = cli_acc_leaf(t, acc, leaf, (uint8_t *)out, cap - 1);
    out[n > 0 ? n : 0] = '\0';
}

/* AAuthType -> scheme and integrity. */
static int parse_type(const char *type, dmsec_auth_scheme_t *scheme, dmsec_integrity_t *integ)
{
    *integ = DMSEC_INTEGRITY_NONE;
    if (!strcasecmp(type, "BASIC"))
        *scheme = DMSEC_AUTH_BASIC;
    else if (!strcasecmp(type, "DIGEST"))
        *scheme = DMSEC_AUTH_MD5;
    else if (!strcasecmp(type, "DIGEST-SHA256"))
        *scheme = DMSEC_AUTH_SHA256;
    else if (!strcasecmp(type, "HMAC")) {
        *scheme = DMSEC_AUTH_MD5;
        *integ = DMSEC_INTEGRITY_HMAC_MD5;
    } else if (!strcasecmp(type, "HMAC-SHA256")) {
        *scheme = DMSEC_AUTH_SHA256;
        *integ = DMSEC_INTEGRITY_HMAC_SHA256;
    } else
        return -1;
    return 0;
}

struct ctx {
    dmsec_tree_t *tree;
    char acc[DMSEC_TREE_MAX_SEGMENT + 1];
    dmsec_tree_t *atomic_snap; /* the tree before the running Atomic */
};

int cli_account_load(const dmsec_tree_t *t, const char *acc, dmsec_account_t *a)
{
    memset(a, 0, sizeof *a);
    char type[64];
    dmsec_integrity_t integ = DMSEC_INTEGRITY_NONE;
    dmsec_integrity_t in_integ = DMSEC_INTEGRITY_NONE;
    acc_str(t, acc, "AppAuth/CLCRED/AAuthType", type, sizeof type);
    if (parse_type(type, &a->out_scheme, &integ))
        return DMSEC_ERR_SESSION_UNKNOWN_PEER;
    acc_str(t, acc, "AppAuth/SRVCRED/AAuthType", type, sizeof type);
    if (parse_type(type, &a->in_scheme, &in_integ))
        return DMSEC_ERR_SESSION_UNKNOWN_PEER;
    a->integrity = integ;
    acc_str(t, acc, "AppAuth/CLCRED/AAuthName", a->out_name, sizeof a->out_name);
    acc_str(t, acc, "AppAuth/SRVCRED/AAuthName", a->in_name, sizeof a->in_name);
    long n =
        cli_acc_leaf(t, acc, "AppAuth/CLCRED/AAuthSecret", a->out_secret, sizeof a->out_secret);
    long m = cli_acc_leaf(t, acc, "AppAuth/SRVCRED/AAuthSecret", a->in_secret, sizeof a->in_secret);
    long cn = cli_acc_leaf(t, acc, "AppAuth/CLCRED/AAuthData", a->out_nonce, sizeof a->out_nonce);
    long sn = cli_acc_leaf(t, acc, "AppAuth/SRVCRED/AAuthData", a->in_nonce, sizeof a->in_nonce);
    long pn = cli_acc_leaf(t, acc, CLI_SRV_NONCE_PENDING, a->in_nonce_pending,
                           sizeof a->in_nonce_pending);
    a->in_nonce_pending_len = pn > 0 ? (size_t)pn : 0;
    if (n < 0 || m < 0 || cn < 0 || sn < 0) {
        dmsec_account_wipe(a);
        return DMSEC_ERR_SESSION_UNKNOWN_PEER;
    }
    a->out_secret_len = (size_t)n;
    a->in_secret_len = (size_t)m;
    a->out_nonce_len = (size_t)cn;
    a->in_nonce_len = (size_t)sn;
    int rc = dmsec_prehash_compute(a->out_name, a->out_secret, a->out_secret_len, &a->out_prehash);
    if (!rc)
        rc = dmsec_prehash_compute(a->in_name, a->in_secret, a->in_secret_len, &a->in_prehash);
    char path[DMSEC_TREE_MAX_URI + 1];
    int k = snprintf(path, sizeof path, "./DMAcc/%s/AppAuth/SRVCRED", acc);
    if (!rc && (k < 0 || (size_t)k >= sizeof a->srvcred_path))
        rc = DMSEC_ERR_TREE_URI_LONG;
    if (!rc)
        memcpy(a->srvcred_path, path, (size_t)k + 1);
    /* and our own credential, which the server may rotate as well */
    k = snprintf(path, sizeof path, "./DMAcc/%s/AppAuth/CLCRED", acc);
    if (!rc && (k < 0 || (size_t)k >= sizeof a->clcred_path))
        rc = DMSEC_ERR_TREE_URI_LONG;
    if (!rc)
        memcpy(a->clcred_path, path, (size_t)k + 1);
    if (rc)
        dmsec_account_wipe(a);
    return rc;
}

static int get_account(void *vctx, const char *peer_id, dmsec_account_t *a)
{
    const struct ctx *c = vctx;
    (void)peer_id;
    return cli_account_load(c->tree, c->acc, a);
}

static int tree_exec(void *vctx, const char *server_id, const dmsec_cmd_t *cmd,
                     const dmsec_item_t *item, dmsec_tree_result_t *res)
{
    struct ctx *c = vctx;
    return dmsec_tree_exec_cb(c->tree, server_id, cmd, item, res);
}

/* Atomic: a copy of the tree taken before its members run, put back when
 * one fails. The tree file is saved only after the whole message. */
static int tree_atomic(void *vctx, int op)
{
    struct ctx *c = vctx;
    switch (op) {
    case DMSEC_ATOMIC_BEGIN:
        dmsec_tree_free(c->atomic_snap);
        c->atomic_snap = NULL;
        return dmsec_tree_snapshot(c->tree, &c->atomic_snap);
    case DMSEC_ATOMIC_COMMIT:
        dmsec_tree_free(c->atomic_snap);
        c->atomic_snap = NULL;
        return DMSEC_OK;
    case DMSEC_ATOMIC_ROLLBACK:
        if (!c->atomic_snap)
            return DMSEC_ERR_INVALID_ARG;
        dmsec_tree_restore(c->tree, c->atomic_snap);
        c->atomic_snap = NULL;
        return DMSEC_OK;
    default:
        return DMSEC_ERR_INVALID_ARG;
    }
}

/* The session-state contract over the DMAcc: each write sets one leaf. */
static int tree_write(const struct ctx *c, const char *leaf, const uint8_t *v, size_t len,
                      unsigned flags)
{
    char uri[DMSEC_TREE_MAX_URI + 1];
    int k = snprintf(uri, sizeof uri, "./DMAcc/%s/%s", c->acc, leaf);
    if (k < 0 || (size_t)k >= sizeof uri)
        return DMSEC_ERR_TREE_URI_LONG;
    int rc = dmsec_tree_set_local(c->tree, uri, DMSEC_TREE_BIN, NULL, v, len);
    if (!rc && flags)
        rc = dmsec_tree_set_flags_local(c->tree, uri, flags);
    return rc;
}

static int tr_set_in_nonce(void *ctx, const char *peer, const uint8_t *n, size_t len)
{
    (void)peer;
    int rc = tree_write(ctx, "AppAuth/SRVCRED/AAuthData", n, len, 0);
    return rc ? rc : tree_write(ctx, CLI_SRV_NONCE_PENDING, NULL, 0, 0);
}

static int tr_set_in_pending(void *ctx, const char *peer, const uint8_t *n, size_t len)
{
    (void)peer;
    return tree_write(ctx, CLI_SRV_NONCE_PENDING, n, len, 0);
}

static int tr_set_out_nonce(void *ctx, const char *peer, const uint8_t *n, size_t len)
{
    (void)peer;
    return tree_write(ctx, "AppAuth/CLCRED/AAuthData", n, len, 0);
}

static int tr_secret_rotated(void *ctx, const char *peer, const uint8_t *secret, size_t len)
{
    (void)peer;
    return tree_write(ctx, "AppAuth/SRVCRED/AAuthSecret", secret, len, DMSEC_TREE_SECRET);
}

/* The server replaced our CLCRED secret: ours from the next session on
 * (this one goes on with the old one, as the server does until it has our
 * Status; the Replace itself already wrote the leaf through the tree,
 * this keeps it marked secret). */
static int tr_client_secret_rotated(void *ctx, const char *peer, const dmsec_event_t *e)
{
    (void)peer;
    return tree_write(ctx, "AppAuth/CLCRED/AAuthSecret", e->bytes, e->len, DMSEC_TREE_SECRET);
}

/* The server's Status for an alert we queued (a FUMO report). */
static int tr_cmd_done(void *ctx, const char *peer, const dmsec_event_t *e)
{
    (void)peer;
    const struct ctx *c = ctx;
    return cli_fumo_alert_done(c->tree, e->tag, e->status);
}

static const dmsec_state_ops_t tree_state_ops = {
    .set_in_nonce = tr_set_in_nonce,
    .set_in_nonce_pending = tr_set_in_pending,
    .set_out_nonce = tr_set_out_nonce,
    .secret_rotated = tr_secret_rotated,
    .client_secret_rotated = tr_client_secret_rotated,
    .cmd_done = tr_cmd_done,
};

/* Applies the events of the last engine call to the DMAcc; 0 or -1. */
static int apply_events(const struct ctx *c, const dmsec_session_t *s)
{
    int rc = dmsec_session_persist(s, &tree_state_ops, (void *)c);
    if (rc) {
        cli_err("cannot store a security event in the tree: %s", dmsec_errname(rc));
        return -1;
    }
    return 0;
}

/* The ./DevInfo leaves the engine reports in package #1. */
static const char *const devinfo_leaves[] = {"./DevInfo/DevId", "./DevInfo/Man", "./DevInfo/Mod",
                                             "./DevInfo/DmV", "./DevInfo/Lang"};
#define N_DEVINFO (sizeof devinfo_leaves / sizeof devinfo_leaves[0])

static void leaf_str(const dmsec_tree_t *t, const char *uri, char *out, size_t cap)
{
    dmsec_tree_info_t info;
    out[0] = '\0';
    if (dmsec_tree_get_local(t, uri, &info) == 0 && info.format != DMSEC_TREE_NODE &&
        info.value_len < cap) {
        memcpy(out, info.value, info.value_len);
        out[info.value_len] = '\0';
    }
}

/* Words for an HTTP status other than 200 from url: "HTTP 404 from URL",
 * and the first line of a short text answer. */
static void http_words(long http, const char *url, const cli_http_resp_t *b, char *why, size_t cap)
{
    char u[400];
    cli_http_url_shown(url, u, sizeof u);
    char text[81] = "";
    if (b->p && !strncasecmp(b->ct, "text/plain", 10)) {
        size_t k = 0;
        for (size_t i = 0; i < b->n && k + 1 < sizeof text; i++) {
            unsigned char ch = b->p[i];
            if (ch == '\n' || ch == '\r')
                break;
            int plain = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\';
            text[k++] = (char)(plain ? ch : '?');
        }
        text[k] = '\0';
    }
    snprintf(why, cap, "HTTP %ld from %s%s%s", http, u, text[0] ? ": " : "", text);
}

static int transport_error(int fail)
{
    switch (fail) {
    case CLI_HTTP_FAIL_CONNECT:
        return DMSEC_ERR_TRANSPORT_CONNECT;
    case CLI_HTTP_FAIL_TLS:
        return DMSEC_ERR_TRANSPORT_TLS;
    case CLI_HTTP_FAIL_TIMEOUT:
        return DMSEC_ERR_TRANSPORT_TIMEOUT;
    default:
        return DMSEC_ERR_TRANSPORT_IO;
    }
}

/* A failure of the engine in words. */
static const char *engine_words(int err)
{
    switch (err) {
    case DMSEC_ERR_SESSION_PEER_REFUSED:
        return "the server does not know this device, or refused its credentials (401 twice)";
    case DMSEC_ERR_SESSION_UNAUTHENTICATED:
        return "the server did not authenticate itself";
    case DMSEC_ERR_AUTH_FAILED:
    case DMSEC_ERR_HMAC_MISMATCH:
        return "the server's credentials did not verify";
    case DMSEC_ERR_AUTH_MISSING:
    case DMSEC_ERR_SESSION_HMAC_MISSING:
        return "the server sent no credentials";
    case DMSEC_ERR_SESSION_REPLAY:
        return "the server's answer was a replay";
    case DMSEC_ERR_SESSION_LIMIT:
        return "the session did not end within its message limit";
    default:
        return dmsec_strerror(err);
    }
}

/* The session's outcome: 0 when it ended with both sides authenticated,
 * else the error that ended it, with why in words (cap bytes). why holds
 * the transport's words when transport_err is set. */
static int outcome(const dmsec_session_t *s, int rc, int saved, int transport_err, int messages,
                   const char *tree_path, char *why, size_t cap)
{
    if (transport_err)
        return transport_err;
    int err = rc;
    if (!err && !saved) {
        snprintf(why, cap, "cannot save the tree file %s", tree_path);
        return DMSEC_ERR_STORE_IO;
    }
    if (!err && !dmsec_session_done(s)) {
        if (messages >= MAX_MESSAGES) {
            snprintf(why, cap, "the session did not end within %d messages", MAX_MESSAGES);
            return DMSEC_ERR_SESSION_LIMIT;
        }
        snprintf(why, cap, "the server stopped answering before the session ended");
        return DMSEC_ERR_SESSION_PROTOCOL;
    }
    if (!err)
        err = dmsec_session_result(s);
    if (!err && !dmsec_session_peer_authenticated(s)) {
        snprintf(why, cap, "the server did not authenticate itself");
        return DMSEC_ERR_SESSION_UNAUTHENTICATED;
    }
    if (!err && !dmsec_session_self_authenticated(s)) {
        snprintf(why, cap, "the server did not accept the device's credentials");
        return DMSEC_ERR_SESSION_PEER_REFUSED;
    }
    if (err)
        snprintf(why, cap, "%s", engine_words(err));
    return err;
}

static int session_once(dmsec_tree_t *t, const cli_session_req_t *req)
{
    struct ctx c = {.tree = t};
    if (cli_account_of(t, req->server_id, c.acc, sizeof c.acc))
        return 1;
    char url[1024];
    char dev_id[DMSEC_NAME_MAX];
    char vals[N_DEVINFO][DMSEC_NAME_MAX];
    const char *devinfo[2 * N_DEVINFO + 1];
    size_t nd = 0;
    acc_str(t, c.acc, "AppAddr/1/Addr", url, sizeof url);
    leaf_str(t, "./DevInfo/DevId", dev_id, sizeof dev_id);
    if (!url[0] || !dev_id[0]) {
        cli_err("the tree lacks %s", !url[0] ? "the server address (AppAddr)" : "./DevInfo/DevId");
        return 1;
    }
    for (size_t i = 0; i < N_DEVINFO; i++) {
        leaf_str(t, devinfo_leaves[i], vals[i], sizeof vals[i]);
        if (vals[i][0]) {
            devinfo[nd++] = devinfo_leaves[i];
            devinfo[nd++] = vals[i];
        }
    }
    devinfo[nd] = NULL;
    dmsec_session_config_t cfg = {
        .role = DMSEC_ROLE_CLIENT,
        .codec = req->codec,
        .server_id = req->server_id,
        .server_uri = url,
        .device_id = dev_id,
        .session_id = req->session_id,
        .server_initiated = req->session_id != NULL,
        .resync = req->resync,
        .resync_mode =
            req->resync_accept_default ? DMSEC_RESYNC_ACCEPT_DEFAULT : DMSEC_RESYNC_CHALLENGE,
        .transport_secure = !strncasecmp(url, "https://", 8),
        .devinfo = devinfo,
        .max_obj_size = cli_mgmt.max_obj_size,
        .cb = {.get_account = get_account, .tree_exec = tree_exec, .tree_atomic = tree_atomic},
        .cb_ctx = &c,
    };
    dmsec_session_t *s = dmsec_session_new(&cfg);
    if (!s) {
        cli_err("cannot start a session with '%s' (bad account or configuration)", req->server_id);
        return 1;
    }
    dmsec_session_out_t out;
    int rc = cli_fumo_queue_alert(t, s, req->server_id) ? DMSEC_ERR_NO_MEMORY : 0;
    if (!rc)
        rc = dmsec_session_start(s, time(NULL), &out);
    int saved = 0;
    if (!rc)
        saved = apply_events(&c, s) == 0 && treefile_save(req->tree_path, t) == 0;
    long http = 0;
    int messages = 0;
    int transport_err = 0;
    char why[512] = "";
    while (!rc && saved && out.has_message && messages < MAX_MESSAGES) {
        const char *to = dmsec_session_resp_uri(s) ? dmsec_session_resp_uri(s) : url;
        cli_http_resp_t b;
        http = cli_http_post(&req->http, to, out.content_type, out.hmac_header, out.body, out.len,
                             &b, why, sizeof why);
        messages++;
        if (http != 200) {
            transport_err = http ? DMSEC_ERR_TRANSPORT_HTTP : transport_error(b.fail);
            if (http)
                http_words(http, to, &b, why, sizeof why);
            cli_err("%s", why);
            free(b.p);
            break;
        }
        rc = dmsec_session_feed(s, b.p ? b.p : (const uint8_t *)"", b.n, b.ct[0] ? b.ct : NULL,
                                b.hmac, time(NULL), &out);
        free(b.p);
        /* Persisted before anything else is sent. */
        saved = apply_events(&c, s) == 0 && treefile_save(req->tree_path, t) == 0;
    }
    int err = outcome(s, rc, saved, transport_err, messages, req->tree_path, why, sizeof why);
    if (cli_json) {
        json_t *j = json_object();
        json_object_set_new(j, "event", json_string("session"));
        json_object_set_new(j, "session", cli_json_text(dmsec_session_id(s)));
        json_object_set_new(j, "server", cli_json_text(req->server_id));
        json_object_set_new(j, "http", json_integer(http));
        json_object_set_new(j, "ok", json_boolean(!err));
        json_object_set_new(j, "result", json_string(dmsec_errname(err)));
        json_object_set_new(j, "server_authenticated",
                            json_boolean(dmsec_session_peer_authenticated(s)));
        json_object_set_new(j, "device_authenticated",
                            json_boolean(dmsec_session_self_authenticated(s)));
        json_object_set_new(j, "messages", json_integer(messages));
        json_object_set_new(j, "resync", json_boolean(req->resync));
        json_object_set_new(j, "why", err ? cli_json_text(why) : json_null());
        cli_json_line(j);
    } else {
        printf("session=%s server=%s http=%ld result=%s server_authenticated=%d "
               "device_authenticated=%d messages=%d%s",
               dmsec_session_id(s) ? dmsec_session_id(s) : "-", req->server_id, http,
               dmsec_errname(err), dmsec_session_peer_authenticated(s),
               dmsec_session_self_authenticated(s), messages, req->resync ? " resync=1" : "");
        if (err)
            printf(" why=\"%s\"", why);
        printf("\n");
        fflush(stdout);
    }
    dmsec_session_free(s);
    dmsec_tree_free(c.atomic_snap);
    return err ? 1 : 0;
}

/* A session, then the FUMO job it may have accepted, and its report sent
 * in a client-initiated session (at most a few rounds). */
int cli_session_run(dmsec_tree_t *t, const cli_session_req_t *req)
{
    if (cli_mgmt_prepare(t, req->server_id))
        return 1;
    int rc = session_once(t, req);
    for (int round = 0; round < 3; round++) {
        if (cli_fumo_run(t, req->tree_path) <= 0)
            break;
        char sid[DMSEC_TREE_MAX_SEGMENT + 1];
        if (!cli_fumo_report_pending(t, sid, sizeof sid))
            break;
        cli_session_req_t r = *req;
        r.server_id = sid;
        r.session_id = NULL;
        r.resync = 0;
        if (cli_mgmt_prepare(t, sid))
            break;
        session_once(t, &r);
    }
    return rc;
}
