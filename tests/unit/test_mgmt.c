/*
 * The session engine's management (src/session/mgmt.c): a server engine
 * and a client engine in memory, the client running the server's
 * commands on a real DM tree (dmsec_tree_exec_cb, Atomic through
 * dmsec_tree_snapshot / _restore). Every command kind and Data format,
 * groups, packages over several messages, Large Objects both ways,
 * session ends, Generic Alerts, inventory, Status references, a failed
 * feed and the pending_cmds callback; each in XML and in WBXML.
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
#include "dmsec/session.h"
#include "dmsec/tree.h"
#include "pair_fixture.h"

#define DEVICE_ID "IMEI:493005100592800"
#define SERVER_ID "dm.example.org"
#define SERVER_URI "https://dm.example.org/dm"
#define CLIENT_SECRET "client-secret-0123456789"
#define SERVER_SECRET "server-secret-9876543210"
#define NOW 1795503011
#define BIG 307200 /* 300 KB */

static dmsec_codec_t codec;
static int transport_secure = 1;
static size_t client_max_msg;        /* 0: the engine's default */
static unsigned server_max_messages; /* 0: the engine's default */
static size_t client_max_obj;

/* ---- events, kept past the engine's next call ---- */

struct ev {
    dmsec_event_type_t type;
    int64_t tag;
    int status;
    char uri[128];
    char format[32];
    char mime[128];
    char text[128];
    char correlator[64];
    uint8_t *data;
    size_t data_len;
    int has_data;
    int call; /* which call of its engine made it (0: start / first feed) */
};

struct party {
    dmsec_state_mem_t mem; /* first: the contract's memory ops take the party */
    struct ev *evs;
    size_t n_evs;
    int calls;
    /* client */
    dmsec_tree_t *tree;
    dmsec_tree_t *snap;
    int exec_calls;
    char exec_corr[64];
    char exec_data[64];
    char seen[256][64]; /* the URIs the tree was asked about, in order */
    size_t n_seen;
    uint8_t xml_value[256]; /* the Data of a format "xml" command */
    size_t xml_len;
    /* server */
    int pending_calls;
    int pending_call_at; /* the call in which pending_cmds first ran */
    int pending_queue;   /* what it queues: 0 nothing, 1 one Get */
};

static void copy_s(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s ? s : "");
}

static void record(dmsec_session_t *s, struct party *p)
{
    p->mem.is_server = p->tree == NULL;
    assert_int_equal(dmsec_session_persist(s, &dmsec_state_mem_ops, &p->mem), DMSEC_OK);
    for (size_t i = 0; i < dmsec_session_events(s); i++) {
        const dmsec_event_t *e = dmsec_session_event(s, i);
        p->evs = realloc(p->evs, (p->n_evs + 1) * sizeof *p->evs);
        assert_non_null(p->evs);
        struct ev *v = &p->evs[p->n_evs++];
        memset(v, 0, sizeof *v);
        v->type = e->type;
        v->tag = e->tag;
        v->status = e->status;
        v->call = p->calls;
        copy_s(v->uri, sizeof v->uri, e->uri);
        copy_s(v->format, sizeof v->format, e->format);
        copy_s(v->mime, sizeof v->mime, e->mime);
        copy_s(v->text, sizeof v->text, e->text);
        copy_s(v->correlator, sizeof v->correlator, e->correlator);
        v->has_data = e->has_data;
        if (e->has_data) {
            v->data = malloc(e->data_len + 1);
            assert_non_null(v->data);
            if (e->data_len)
                memcpy(v->data, e->data, e->data_len);
            v->data[e->data_len] = 0;
            v->data_len = e->data_len;
        }
    }
    p->calls++;
}

static void party_free(struct party *p)
{
    for (size_t i = 0; i < p->n_evs; i++)
        free(p->evs[i].data);
    free(p->evs);
    dmsec_tree_free(p->snap);
    dmsec_tree_free(p->tree);
    memset(p, 0, sizeof *p);
}

/* The one event of type with tag (CMD_*), failing when absent or twice. */
static const struct ev *ev_tag(const struct party *p, dmsec_event_type_t type, int64_t tag)
{
    const struct ev *found = NULL;
    for (size_t i = 0; i < p->n_evs; i++) {
        if (p->evs[i].type == type && p->evs[i].tag == tag) {
            assert_null(found);
            found = &p->evs[i];
        }
    }
    if (!found)
        fail_msg("no event %d for tag %lld", (int)type, (long long)tag);
    return found;
}

static size_t ev_count(const struct party *p, dmsec_event_type_t type)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_evs; i++)
        n += p->evs[i].type == type;
    return n;
}

static const struct ev *ev_uri(const struct party *p, dmsec_event_type_t type, const char *uri)
{
    for (size_t i = 0; i < p->n_evs; i++) {
        if (p->evs[i].type == type && !strcmp(p->evs[i].uri, uri))
            return &p->evs[i];
    }
    fail_msg("no event %d for %s", (int)type, uri);
    return NULL;
}

static void assert_done(const struct party *srv, int64_t tag, int status, const char *data)
{
    const struct ev *e = ev_tag(srv, DMSEC_EV_CMD_DONE, tag);
    if (e->status != status)
        fail_msg("tag %lld: status %d, want %d", (long long)tag, e->status, status);
    if (data) {
        assert_true(e->has_data);
        assert_int_equal(e->data_len, strlen(data));
        assert_memory_equal(e->data, data, e->data_len);
    }
}

/* ---- accounts and callbacks ---- */

static int exec_handler(void *ctx, const char *server_id, const char *uri, const uint8_t *data,
                        size_t len, const char *correlator)
{
    struct party *p = ctx;
    assert_string_equal(server_id, SERVER_ID);
    assert_string_equal(uri, "./Vendor/Run");
    p->exec_calls++;
    copy_s(p->exec_corr, sizeof p->exec_corr, correlator);
    snprintf(p->exec_data, sizeof p->exec_data, "%.*s", (int)len, (const char *)data);
    return 0;
}

static void set_leaf(dmsec_tree_t *t, const char *uri, const char *v)
{
    assert_int_equal(pair_leaf(t, uri, v), DMSEC_OK);
}

/* A device and a server that agree; the device's tree lets the server do
 * everything under ./Vendor and read ./DevInfo and ./DevDetail. */
static void pair(struct party *dev, struct party *srv)
{
    memset(dev, 0, sizeof *dev);
    memset(srv, 0, sizeof *srv);
    assert_int_equal(pair_accounts(&dev->mem, &srv->mem, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DEVICE_ID,
                                   CLIENT_SECRET, SERVER_ID, SERVER_SECRET, NULL),
                     DMSEC_OK);
    dev->tree = pair_tree_new(DEVICE_ID, "test-model", "fw-1.0.7", exec_handler, dev);
    assert_non_null(dev->tree);
    dmsec_tree_t *t = dev->tree;
    set_leaf(t, "./DevInfo/DmV", "1.2");
    set_leaf(t, "./DevInfo/Lang", "en");
    set_leaf(t, "./DevDetail/SwV", "sw-2");
    set_leaf(t, "./DevDetail/HwV", "hw-3");
}

static int tree_exec(void *ctx, const char *server_id, const dmsec_cmd_t *cmd,
                     const dmsec_item_t *item, dmsec_tree_result_t *res)
{
    struct party *p = ctx;
    const char *uri = item->target && item->target->uri ? item->target->uri : "";
    if (p->n_seen < 256)
        copy_s(p->seen[p->n_seen++], sizeof p->seen[0], uri);
    const char *fmt = item->meta ? dmsec_meta_str(item->meta, DMSEC_MI_FORMAT) : NULL;
    if (fmt && !strcmp(fmt, "xml")) {
        /* The tree has no xml format: taken here, as an agent would. */
        assert_non_null(item->data);
        assert_true(item->data->len <= sizeof p->xml_value);
        memcpy(p->xml_value, item->data->bytes, item->data->len);
        p->xml_len = item->data->len;
        res->status = 200;
        return 0;
    }
    return dmsec_tree_exec_cb(p->tree, server_id, cmd, item, res);
}

static int tree_atomic(void *ctx, int op)
{
    struct party *p = ctx;
    return pair_tree_atomic(p->tree, &p->snap, op);
}

static int pending_cmds(void *ctx, dmsec_session_t *s)
{
    struct party *p = ctx;
    if (!p->pending_calls++)
        p->pending_call_at = p->calls;
    if (p->pending_queue) {
        p->pending_queue = 0;
        dmsec_mgmt_cmd_t c = {.tag = 500, .type = DMSEC_CMD_GET, .target = "./Vendor/A"};
        return dmsec_session_queue_cmd(s, &c);
    }
    return 0;
}

static dmsec_session_t *new_client(struct party *dev)
{
    static const char *const devinfo[] = {
        "./DevInfo/DevId", DEVICE_ID, "./DevInfo/Man", "dmsec", "./DevInfo/Mod",
        "test-model",      NULL};
    dmsec_session_config_t cfg = pair_client_config(codec, SERVER_ID, SERVER_URI, DEVICE_ID, dev);
    cfg.transport_secure = transport_secure;
    cfg.max_msg_size = client_max_msg;
    cfg.max_obj_size = client_max_obj;
    cfg.devinfo = devinfo;
    cfg.cb.tree_exec = tree_exec;
    cfg.cb.tree_atomic = tree_atomic;
    dmsec_session_t *s = dmsec_session_new(&cfg);
    assert_non_null(s);
    return s;
}

static dmsec_session_t *new_server(struct party *srv)
{
    dmsec_session_config_t cfg = pair_server_config(SERVER_ID, SERVER_URI, srv);
    cfg.transport_secure = transport_secure;
    cfg.max_msg_size = 262144;
    cfg.max_messages = server_max_messages;
    cfg.cb.pending_cmds = pending_cmds;
    dmsec_session_t *s = dmsec_session_new(&cfg);
    assert_non_null(s);
    return s;
}

/* A paired device and server (pair), each with its session. */
static void start(struct party *dev, struct party *srv, dmsec_session_t **c, dmsec_session_t **s)
{
    pair(dev, srv);
    *c = new_client(dev);
    *s = new_server(srv);
}

/* ---- conversations ---- */

struct wire {
    uint8_t *body;
    size_t len;
    char ct[64];
    char hmac[512];
    int to_server;
};

#define MAX_WIRES 64

struct run {
    struct wire w[MAX_WIRES]; /* every message, in order */
    int n;
    int client_rc;
    int server_rc;
};

/* May change message n (to_server tells its direction) before it goes. */
typedef void (*tamper_fn)(struct wire *w, int n, void *arg);

static void wire_set(struct wire *w, const uint8_t *body, size_t len, const char *ct,
                     const char *hmac, int to_server)
{
    w->body = malloc(len ? len : 1);
    assert_non_null(w->body);
    memcpy(w->body, body, len);
    w->len = len;
    copy_s(w->ct, sizeof w->ct, ct);
    copy_s(w->hmac, sizeof w->hmac, hmac);
    w->to_server = to_server;
}

static void run_free(struct run *r);

/* Frees what start made and the conversation r. */
static void finish(struct run *r, dmsec_session_t *c, dmsec_session_t *s, struct party *dev,
                   struct party *srv)
{
    run_free(r);
    dmsec_session_free(c);
    dmsec_session_free(s);
    party_free(dev);
    party_free(srv);
}

static void run_free(struct run *r)
{
    for (int i = 0; i < r->n; i++)
        free(r->w[i].body);
    memset(r, 0, sizeof *r);
}

struct conv {
    struct run *r;
    tamper_fn tamper;
    void *arg;
};

/* Keeps message m in the run, after tamper had it. */
static void conv_before(void *arg, pair_msg_t *m)
{
    struct conv *cv = arg;
    assert_true(m->n < MAX_WIRES);
    struct wire *w = &cv->r->w[m->n];
    wire_set(w, m->body, m->len, m->ct, m->hmac, m->to_server);
    cv->r->n = m->n + 1;
    if (cv->tamper)
        cv->tamper(w, m->n, cv->arg);
    assert_int_equal(pair_msg_set(m, w->body, w->len), 0);
    copy_s(m->ct, sizeof m->ct, w->ct);
    copy_s(m->hmac, sizeof m->hmac, w->hmac);
}

static void conv_after(void *arg, const pair_call_t *call)
{
    (void)arg;
    record(call->engine, call->party);
    if (call->n < 0)
        assert_true(call->out->has_message);
}

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
                      .max = MAX_WIRES + 1,
                      .before = conv_before,
                      .after = conv_after,
                      .arg = &cv};
    pair_run_t pr;
    assert_int_equal(pair_drive(&d, &pr), DMSEC_OK);
    r.client_rc = pr.client_rc;
    r.server_rc = pr.server_rc;
    return r;
}

static dmsec_msg_t *decode(const struct wire *w)
{
    dmsec_msg_t *m = NULL;
    assert_int_equal(dmsec_msg_decode(codec, w->body, w->len, NULL, &m), DMSEC_OK);
    return m;
}

/* The first command of type in m (children of groups too), from *after. */
static const dmsec_cmd_t *find_cmd(const dmsec_cmd_t *c, dmsec_cmd_type_t type, const char *cmd)
{
    for (; c; c = c->next) {
        if (c->type == type && (!cmd || (c->cmd && !strcmp(c->cmd, cmd))))
            return c;
        const dmsec_cmd_t *k = find_cmd(c->children, type, cmd);
        if (k)
            return k;
    }
    return NULL;
}

/* How many commands of type (with Alert code / Status cmd when given). */
static int count_cmds(const dmsec_cmd_t *c, dmsec_cmd_type_t type, const char *what)
{
    int n = 0;
    for (; c; c = c->next) {
        if (c->type == type) {
            const char *v = type == DMSEC_CMD_ALERT ? (c->data ? c->data->bytes : NULL) : c->cmd;
            n += !what || (v && !strcmp(v, what));
        }
        n += count_cmds(c->children, type, what);
    }
    return n;
}

static void session_ok(dmsec_session_t *c, dmsec_session_t *s, const struct run *r)
{
    assert_int_equal(r->client_rc, 0);
    assert_int_equal(r->server_rc, 0);
    assert_true(dmsec_session_done(c));
    assert_true(dmsec_session_done(s));
    assert_int_equal(dmsec_session_result(c), DMSEC_OK);
    assert_int_equal(dmsec_session_result(s), DMSEC_OK);
}

static void queue(dmsec_session_t *s, int64_t tag, dmsec_cmd_type_t type, const char *target,
                  const char *data, size_t len, const char *format)
{
    dmsec_mgmt_cmd_t c = {.tag = tag,
                          .type = type,
                          .target = target,
                          .data = (const uint8_t *)data,
                          .data_len = len,
                          .has_data = data != NULL,
                          .format = format};
    assert_int_equal(dmsec_session_queue_cmd(s, &c), DMSEC_OK);
}

static void tree_value(const struct party *dev, const char *uri, const void *v, size_t len,
                       dmsec_tree_format_t f)
{
    dmsec_tree_info_t info;
    assert_int_equal(dmsec_tree_get_local(dev->tree, uri, &info), DMSEC_OK);
    assert_int_equal(info.format, f);
    assert_int_equal(info.value_len, len);
    assert_memory_equal(info.value, v, len);
}

static void tree_missing(const struct party *dev, const char *uri)
{
    dmsec_tree_info_t info;
    assert_int_equal(dmsec_tree_get_local(dev->tree, uri, &info), DMSEC_ERR_TREE_NOT_FOUND);
}

static void reset_config(void)
{
    transport_secure = 1;
    client_max_msg = 0;
    server_max_messages = 0;
    client_max_obj = 0;
}

#define EACH_CODEC                                                                                 \
    for (int ci_ = 0;                                                                              \
         ci_ < 2 && ((codec = ci_ ? DMSEC_CODEC_WBXML : DMSEC_CODEC_XML), reset_config(), 1);      \
         ci_++)

/* ---- tests ---- */

static const uint8_t bin_wbxml[] = {0x00, 0x01, 0xff, 'a', 0x00, 0x80, 0xfe};
static const char bin_xml[] = "bin<&]]>data\xc3\xa9";

static void every_command_kind_reaches_the_tree(void **state)
{
    (void)state;
    EACH_CODEC
    {
        struct party dev, srv;
        dmsec_session_t *c, *s;
        start(&dev, &srv, &c, &s);
        const void *bin = codec == DMSEC_CODEC_WBXML ? (const void *)bin_wbxml : bin_xml;
        size_t bin_len = codec == DMSEC_CODEC_WBXML ? sizeof bin_wbxml : strlen(bin_xml);
        queue(s, 1, DMSEC_CMD_GET, "./Vendor/A", NULL, 0, NULL);
        queue(s, 2, DMSEC_CMD_REPLACE, "./Vendor/A", "new", 3, "chr");
        queue(s, 3, DMSEC_CMD_ADD, "./Vendor/Int", "42", 2, "int");
        queue(s, 4, DMSEC_CMD_ADD, "./Vendor/Bool", "true", 4, "bool");
        queue(s, 5, DMSEC_CMD_ADD, "./Vendor/B64", "aGVsbG8=", 8, "b64");
        queue(s, 6, DMSEC_CMD_ADD, "./Vendor/Bin", bin, bin_len, "bin");
        queue(s, 7, DMSEC_CMD_ADD, "./Vendor/Node", NULL, 0, "node");
        queue(s, 8, DMSEC_CMD_REPLACE, "./Vendor/Xml", "<a x=\"1\">t&amp;</a>", 19, "xml");
        queue(s, 9, DMSEC_CMD_DELETE, "./Vendor/Del", NULL, 0, NULL);
        dmsec_mgmt_cmd_t ex = {.tag = 10,
                               .type = DMSEC_CMD_EXEC,
                               .target = "./Vendor/Run",
                               .data = (const uint8_t *)"go",
                               .data_len = 2,
                               .has_data = 1,
                               .correlator = "corr-7"};
        assert_int_equal(dmsec_session_queue_cmd(s, &ex), DMSEC_OK);
        dmsec_mgmt_cmd_t cp = {
            .tag = 11, .type = DMSEC_CMD_COPY, .target = "./Vendor/Dst", .source = "./Vendor/Src"};
        assert_int_equal(dmsec_session_queue_cmd(s, &cp), DMSEC_OK);
        queue(s, 12, DMSEC_CMD_GET, "./Vendor/Bin", NULL, 0, NULL);
        queue(s, 13, DMSEC_CMD_GET, "./Vendor/Missing", NULL, 0, NULL);
        queue(s, 14, DMSEC_CMD_GET, "./Vendor/Int", NULL, 0, NULL);

        struct run r = converse(c, &dev, s, &srv, NULL, NULL);
        session_ok(c, s, &r);
        assert_int_equal(r.n, 4); /* #1, the commands, their answers, the end */

        /* sent in order, in package #2 */
        int64_t want = 1;
        for (size_t i = 0; i < srv.n_evs; i++) {
            if (srv.evs[i].type == DMSEC_EV_CMD_SENT) {
                assert_int_equal(srv.evs[i].tag, want++);
                assert_int_equal(srv.evs[i].call, 0);
            }
        }
        assert_int_equal(want, 15);
        /* the tree saw them in order */
        static const char *const order[] = {
            "./Vendor/A",   "./Vendor/A",    "./Vendor/Int",     "./Vendor/Bool", "./Vendor/B64",
            "./Vendor/Bin", "./Vendor/Node", "./Vendor/Xml",     "./Vendor/Del",  "./Vendor/Run",
            "./Vendor/Dst", "./Vendor/Bin",  "./Vendor/Missing", "./Vendor/Int"};
        assert_int_equal(dev.n_seen, 14);
        for (size_t i = 0; i < 14; i++)
            assert_string_equal(dev.seen[i], order[i]);

        assert_done(&srv, 1, 200, "old"); /* the Get went before the Replace */
        assert_string_equal(ev_tag(&srv, DMSEC_EV_CMD_DONE, 1)->format, "chr");
        assert_string_equal(ev_tag(&srv, DMSEC_EV_CMD_DONE, 1)->uri, "./Vendor/A");
        for (int64_t t = 2; t <= 11; t++)
            assert_done(&srv, t, 200, NULL);
        const struct ev *b = ev_tag(&srv, DMSEC_EV_CMD_DONE, 12);
        assert_int_equal(b->status, 200);
        assert_int_equal(b->data_len, bin_len);
        assert_memory_equal(b->data, bin, bin_len);
        assert_string_equal(b->format, "bin");
        assert_done(&srv, 13, 404, NULL);
        assert_false(ev_tag(&srv, DMSEC_EV_CMD_DONE, 13)->has_data);
        assert_done(&srv, 14, 200, "42");
        assert_string_equal(ev_tag(&srv, DMSEC_EV_CMD_DONE, 14)->format, "int");

        tree_value(&dev, "./Vendor/A", "new", 3, DMSEC_TREE_CHR);
        tree_value(&dev, "./Vendor/Int", "42", 2, DMSEC_TREE_INT);
        tree_value(&dev, "./Vendor/Bool", "true", 4, DMSEC_TREE_BOOL);
        tree_value(&dev, "./Vendor/B64", "aGVsbG8=", 8, DMSEC_TREE_B64);
        tree_value(&dev, "./Vendor/Bin", bin, bin_len, DMSEC_TREE_BIN);
        tree_value(&dev, "./Vendor/Node", "", 0, DMSEC_TREE_NODE);
        tree_value(&dev, "./Vendor/Dst", "copied", 6, DMSEC_TREE_CHR);
        tree_missing(&dev, "./Vendor/Del");
        assert_int_equal(dev.xml_len, 19);
        assert_memory_equal(dev.xml_value, "<a x=\"1\">t&amp;</a>", 19);
        assert_int_equal(dev.exec_calls, 1);
        assert_string_equal(dev.exec_corr, "corr-7");
        assert_string_equal(dev.exec_data, "go");

        /* on the wire: CorrelatorID on the Exec, Source on the Copy, bin
         * as OPAQUE in WBXML (CDATA in XML), Meta Format on each */
        dmsec_msg_t *m = decode(&r.w[1]);
        const dmsec_cmd_t *e = find_cmd(m->body.cmds, DMSEC_CMD_EXEC, NULL);
        assert_non_null(e);
        assert_string_equal(e->correlator, "corr-7");
        const dmsec_cmd_t *k = find_cmd(m->body.cmds, DMSEC_CMD_COPY, NULL);
        assert_string_equal(k->items->source->uri, "./Vendor/Src");
        assert_string_equal(k->items->target->uri, "./Vendor/Dst");
        int bins = 0;
        for (const dmsec_cmd_t *a = m->body.cmds; a; a = a->next) {
            if (a->type != DMSEC_CMD_ADD || strcmp(a->items->target->uri, "./Vendor/Bin"))
                continue;
            bins++;
            assert_string_equal(dmsec_meta_str(a->items->meta, DMSEC_MI_FORMAT), "bin");
            assert_int_equal(a->items->data->opaque, 1);
            assert_int_equal(a->items->data->len, bin_len);
        }
        assert_int_equal(bins, 1);
        assert_true(m->body.final);
        dmsec_msg_free(m);
        finish(&r, c, s, &dev, &srv);
    }
}

static void atomic_and_sequence(void **state)
{
    (void)state;
    EACH_CODEC
    {
        struct party dev, srv;
        dmsec_session_t *c, *s;
        start(&dev, &srv, &c, &s);
        dmsec_mgmt_cmd_t seq_m[] = {
            {.tag = 21,
             .type = DMSEC_CMD_REPLACE,
             .target = "./Vendor/A",
             .data = (const uint8_t *)"s1",
             .data_len = 2,
             .has_data = 1},
            {.tag = 22, .type = DMSEC_CMD_GET, .target = "./Vendor/A"},
        };
        dmsec_mgmt_cmd_t seq = {
            .tag = 20, .type = DMSEC_CMD_SEQUENCE, .children = seq_m, .n_children = 2};
        assert_int_equal(dmsec_session_queue_cmd(s, &seq), DMSEC_OK);
        dmsec_mgmt_cmd_t bad_m[] = {
            {.tag = 31,
             .type = DMSEC_CMD_REPLACE,
             .target = "./Vendor/A",
             .data = (const uint8_t *)"a1",
             .data_len = 2,
             .has_data = 1},
            {.tag = 32, .type = DMSEC_CMD_DELETE, .target = "./Vendor/Nope"},
            {.tag = 33, .type = DMSEC_CMD_ADD, .target = "./Vendor/Never", .format = "node"},
        };
        dmsec_mgmt_cmd_t bad = {
            .tag = 30, .type = DMSEC_CMD_ATOMIC, .children = bad_m, .n_children = 3};
        assert_int_equal(dmsec_session_queue_cmd(s, &bad), DMSEC_OK);
        dmsec_mgmt_cmd_t good_m[] = {
            {.tag = 41, .type = DMSEC_CMD_ADD, .target = "./Vendor/X", .format = "node"},
            {.tag = 42,
             .type = DMSEC_CMD_ADD,
             .target = "./Vendor/X/Y",
             .data = (const uint8_t *)"y",
             .data_len = 1,
             .has_data = 1},
        };
        dmsec_mgmt_cmd_t good = {
            .tag = 40, .type = DMSEC_CMD_ATOMIC, .children = good_m, .n_children = 2};
        assert_int_equal(dmsec_session_queue_cmd(s, &good), DMSEC_OK);
        /* a group inside a group, or an empty one, is refused */
        dmsec_mgmt_cmd_t nested = {
            .tag = 50, .type = DMSEC_CMD_ATOMIC, .children = &seq, .n_children = 1};
        assert_int_equal(dmsec_session_queue_cmd(s, &nested), DMSEC_ERR_INVALID_ARG);
        dmsec_mgmt_cmd_t empty = {.tag = 51, .type = DMSEC_CMD_SEQUENCE};
        assert_int_equal(dmsec_session_queue_cmd(s, &empty), DMSEC_ERR_INVALID_ARG);

        struct run r = converse(c, &dev, s, &srv, NULL, NULL);
        session_ok(c, s, &r);
        for (int64_t t = 20; t <= 42; t++) {
            if ((t > 22 && t < 30) || (t > 33 && t < 40))
                continue;
            ev_tag(&srv, DMSEC_EV_CMD_SENT, t);
        }
        assert_done(&srv, 20, 200, NULL);
        assert_done(&srv, 21, 200, NULL);
        assert_done(&srv, 22, 200, "s1");
        assert_done(&srv, 30, 507, NULL);
        assert_done(&srv, 31, 216, NULL);
        assert_done(&srv, 32, 404, NULL);
        assert_done(&srv, 33, 215, NULL);
        assert_done(&srv, 40, 200, NULL);
        assert_done(&srv, 41, 200, NULL);
        assert_done(&srv, 42, 200, NULL);
        tree_value(&dev, "./Vendor/A", "s1", 2, DMSEC_TREE_CHR); /* a1 rolled back */
        tree_missing(&dev, "./Vendor/Never");
        tree_value(&dev, "./Vendor/X/Y", "y", 1, DMSEC_TREE_CHR);
        /* the groups went as groups, members inside */
        dmsec_msg_t *m = decode(&r.w[1]);
        const dmsec_cmd_t *g = find_cmd(m->body.cmds, DMSEC_CMD_SEQUENCE, NULL);
        assert_non_null(g);
        assert_int_equal(g->children->type, DMSEC_CMD_REPLACE);
        assert_int_equal(g->children->next->type, DMSEC_CMD_GET);
        assert_null(g->children->next->next);
        assert_int_equal(count_cmds(m->body.cmds, DMSEC_CMD_ATOMIC, NULL), 2);
        dmsec_msg_free(m);
        finish(&r, c, s, &dev, &srv);
    }
}

static void package_over_several_messages(void **state)
{
    (void)state;
    EACH_CODEC
    {
        client_max_msg = 4096;
        struct party dev, srv;
        dmsec_session_t *c, *s;
        start(&dev, &srv, &c, &s);
        enum { N = 60 };
        char uri[N][40], val[N][16];
        for (int i = 0; i < N; i++) {
            snprintf(uri[i], sizeof uri[i], "./Vendor/K%02d", i);
            snprintf(val[i], sizeof val[i], "value-%d", i);
            queue(s, 100 + i, DMSEC_CMD_ADD, uri[i], val[i], strlen(val[i]), "chr");
        }
        queue(s, 100 + N, DMSEC_CMD_GET, "./Vendor/K07", NULL, 0, NULL);
        struct run r = converse(c, &dev, s, &srv, NULL, NULL);
        session_ok(c, s, &r);
        /* server messages: all but the last of the package not Final, the
         * client asks for each next one with Alert 1222 */
        int server_msgs = 0, finals = 0;
        for (int i = 1; i < r.n; i += 2) {
            dmsec_msg_t *m = decode(&r.w[i]);
            assert_true(r.w[i].len <= 4096);
            int adds = count_cmds(m->body.cmds, DMSEC_CMD_ADD, NULL) +
                       count_cmds(m->body.cmds, DMSEC_CMD_GET, NULL);
            if (adds) {
                server_msgs++;
                finals += m->body.final;
                dmsec_msg_t *a = decode(&r.w[i + 1]);
                assert_true(a->body.final);
                if (!m->body.final)
                    assert_int_equal(count_cmds(a->body.cmds, DMSEC_CMD_ALERT, "1222"), 1);
                else
                    assert_int_equal(count_cmds(a->body.cmds, DMSEC_CMD_ALERT, "1222"), 0);
                assert_int_equal(count_cmds(a->body.cmds, DMSEC_CMD_STATUS, "Add"),
                                 count_cmds(m->body.cmds, DMSEC_CMD_ADD, NULL));
                dmsec_msg_free(a);
            }
            dmsec_msg_free(m);
        }
        assert_true(server_msgs >= 3);
        assert_int_equal(finals, 1);
        assert_int_equal(dev.n_seen, N + 1);
        for (int i = 0; i < N; i++) {
            assert_string_equal(dev.seen[i], uri[i]);
            tree_value(&dev, uri[i], val[i], strlen(val[i]), DMSEC_TREE_CHR);
            assert_done(&srv, 100 + i, 200, NULL);
        }
        assert_done(&srv, 100 + N, 200, "value-7");
        /* CMD_SENT in order */
        int64_t want = 100;
        for (size_t i = 0; i < srv.n_evs; i++) {
            if (srv.evs[i].type == DMSEC_EV_CMD_SENT)
                assert_int_equal(srv.evs[i].tag, want++);
        }
        assert_int_equal(want, 100 + N + 1);
        finish(&r, c, s, &dev, &srv);
    }
}

static char *big_value(size_t n, char seed)
{
    char *v = malloc(n + 1);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        v[i] = i % 97 == 5 ? '&' : (char)(seed + (char)(i % 26));
    v[n] = 0;
    return v;
}

/* Replaces every "307200" in a message with "307201" (Meta Size). */
static void tamper_size(struct wire *w, int n, void *arg)
{
    const int *which = arg; /* 1: the server's chunks, 0: the client's */
    if (w->to_server == *which || n == 0)
        return;
    for (size_t i = 0; i + 6 <= w->len; i++) {
        if (!memcmp(w->body + i, "307200", 6))
            w->body[i + 5] = '1';
    }
}

static void large_objects_both_ways(void **state)
{
    (void)state;
    EACH_CODEC
    {
        struct party dev, srv;
        pair(&dev, &srv);
        char *down = big_value(BIG, 'a');
        char *up = big_value(BIG, 'A');
        assert_int_equal(
            dmsec_tree_set_local(dev.tree, "./Vendor/Up", DMSEC_TREE_CHR, NULL, up, BIG), DMSEC_OK);
        dmsec_session_t *c = new_client(&dev);
        dmsec_session_t *s = new_server(&srv);
        queue(s, 60, DMSEC_CMD_REPLACE, "./Vendor/A", down, BIG, "chr");
        queue(s, 61, DMSEC_CMD_GET, "./Vendor/Up", NULL, 0, NULL);
        struct run r = converse(c, &dev, s, &srv, NULL, NULL);
        session_ok(c, s, &r);
        tree_value(&dev, "./Vendor/A", down, BIG, DMSEC_TREE_CHR);
        assert_done(&srv, 60, 200, NULL);
        const struct ev *g = ev_tag(&srv, DMSEC_EV_CMD_DONE, 61);
        assert_int_equal(g->status, 200);
        assert_int_equal(g->data_len, BIG);
        assert_memory_equal(g->data, up, BIG);
        assert_string_equal(g->uri, "./Vendor/Up");
        assert_string_equal(g->format, "chr");

        /* down: chunks of the Replace, Size on the first, MoreData on all
         * but the last, 213 for each chunk but the last */
        int chunks = 0, results = 0, last_down = 0, last_up = 0;
        size_t got = 0, got_up = 0;
        for (int i = 1; i < r.n; i++) {
            dmsec_msg_t *m = decode(&r.w[i]);
            assert_true(r.w[i].len <= (r.w[i].to_server ? 65536 : 65536));
            if (!r.w[i].to_server) {
                const dmsec_cmd_t *rp = find_cmd(m->body.cmds, DMSEC_CMD_REPLACE, NULL);
                if (rp) {
                    assert_false(last_down);
                    const char *sz = dmsec_meta_str(rp->items->meta, DMSEC_MI_SIZE);
                    if (chunks == 0)
                        assert_string_equal(sz, "307200");
                    else
                        assert_null(sz);
                    chunks++;
                    got += rp->items->data->len;
                    last_down = !rp->items->more_data;
                    assert_int_equal(m->body.final, last_down);
                    dmsec_msg_t *a = decode(&r.w[i + 1]);
                    const dmsec_cmd_t *st = find_cmd(a->body.cmds, DMSEC_CMD_STATUS, "Replace");
                    assert_int_equal(dmsec_status_code(st), last_down ? 200 : 213);
                    dmsec_msg_free(a);
                }
            } else {
                const dmsec_cmd_t *rs = find_cmd(m->body.cmds, DMSEC_CMD_RESULTS, NULL);
                if (rs) {
                    assert_false(last_up);
                    const char *sz = dmsec_meta_str(rs->items->meta, DMSEC_MI_SIZE);
                    if (results == 0)
                        assert_string_equal(sz, "307200");
                    else
                        assert_null(sz);
                    results++;
                    got_up += rs->items->data->len;
                    last_up = !rs->items->more_data;
                    if (!last_up) {
                        dmsec_msg_t *a = decode(&r.w[i + 1]);
                        const dmsec_cmd_t *st = find_cmd(a->body.cmds, DMSEC_CMD_STATUS, "Results");
                        assert_non_null(st);
                        assert_int_equal(dmsec_status_code(st), 213);
                        dmsec_msg_free(a);
                    }
                }
            }
            dmsec_msg_free(m);
        }
        assert_true(chunks >= 5);
        assert_true(last_down);
        assert_int_equal(got, BIG);
        assert_true(results >= 5);
        assert_true(last_up);
        assert_int_equal(got_up, BIG);
        finish(&r, c, s, &dev, &srv);
        free(down);
        free(up);
    }
}

static void large_object_size_mismatch_is_424(void **state)
{
    (void)state;
    EACH_CODEC
    {
        for (int which = 0; which < 2; which++) {
            struct party dev, srv;
            pair(&dev, &srv);
            char *v = big_value(BIG, 'a');
            assert_int_equal(
                dmsec_tree_set_local(dev.tree, "./Vendor/Up", DMSEC_TREE_CHR, NULL, v, BIG),
                DMSEC_OK);
            dmsec_session_t *c = new_client(&dev);
            dmsec_session_t *s = new_server(&srv);
            if (which)
                queue(s, 70, DMSEC_CMD_REPLACE, "./Vendor/A", v, BIG, "chr");
            else
                queue(s, 70, DMSEC_CMD_GET, "./Vendor/Up", NULL, 0, NULL);
            queue(s, 71, DMSEC_CMD_GET, "./Vendor/Src", NULL, 0, NULL);
            struct run r = converse(c, &dev, s, &srv, tamper_size, &which);
            assert_int_equal(r.client_rc, 0);
            assert_int_equal(r.server_rc, 0);
            assert_done(&srv, 70, 424, NULL);
            assert_false(ev_tag(&srv, DMSEC_EV_CMD_DONE, 70)->has_data);
            assert_done(&srv, 71, 200, "copied");
            tree_value(&dev, "./Vendor/A", "old", 3, DMSEC_TREE_CHR);
            finish(&r, c, s, &dev, &srv);
            free(v);
        }
    }
}

static void value_over_max_obj_size_is_413_unsent(void **state)
{
    (void)state;
    EACH_CODEC
    {
        client_max_obj = 100000;
        struct party dev, srv;
        pair(&dev, &srv);
        char *v = big_value(150000, 'a');
        dmsec_session_t *c = new_client(&dev);
        dmsec_session_t *s = new_server(&srv);
        queue(s, 80, DMSEC_CMD_REPLACE, "./Vendor/A", v, 150000, "chr");
        queue(s, 81, DMSEC_CMD_GET, "./Vendor/A", NULL, 0, NULL);
        struct run r = converse(c, &dev, s, &srv, NULL, NULL);
        session_ok(c, s, &r);
        assert_done(&srv, 80, 413, NULL);
        for (size_t i = 0; i < srv.n_evs; i++)
            assert_false(srv.evs[i].type == DMSEC_EV_CMD_SENT && srv.evs[i].tag == 80);
        assert_done(&srv, 81, 200, "old");
        assert_int_equal(dev.n_seen, 1); /* only the Get reached the tree */
        for (int i = 1; i < r.n; i += 2) {
            dmsec_msg_t *m = decode(&r.w[i]);
            assert_int_equal(count_cmds(m->body.cmds, DMSEC_CMD_REPLACE, NULL), 0);
            dmsec_msg_free(m);
        }
        finish(&r, c, s, &dev, &srv);
        free(v);
    }
}

static void empty_session_ends_the_dm_way(void **state)
{
    (void)state;
    EACH_CODEC
    {
        for (int secure = 0; secure < 2; secure++) {
            transport_secure = secure;
            struct party dev, srv;
            dmsec_session_t *c, *s;
            start(&dev, &srv, &c, &s);
            struct run r = converse(c, &dev, s, &srv, NULL, NULL);
            session_ok(c, s, &r);
            assert_true(dmsec_session_peer_authenticated(s));
            assert_true(dmsec_session_peer_authenticated(c));
            /* package #1's DevInfo: inventory */
            assert_string_equal(
                (const char *)ev_uri(&srv, DMSEC_EV_INVENTORY, "./DevInfo/DevId")->data, DEVICE_ID);
            assert_string_equal(
                (const char *)ev_uri(&srv, DMSEC_EV_INVENTORY, "./DevInfo/Mod")->data,
                "test-model");
            assert_int_equal(ev_uri(&srv, DMSEC_EV_INVENTORY, "./DevInfo/Man")->call, 0);
            assert_int_equal(ev_count(&srv, DMSEC_EV_CMD_SENT), 0);
            assert_int_equal(ev_count(&srv, DMSEC_EV_CMD_DONE), 0);
            if (secure) {
                /* TLS: package #2 without a command ends it */
                assert_int_equal(r.n, 2);
                dmsec_msg_t *m = decode(&r.w[1]);
                for (const dmsec_cmd_t *k = m->body.cmds; k; k = k->next)
                    assert_int_equal(k->type, DMSEC_CMD_STATUS);
                assert_true(m->body.final);
                dmsec_msg_free(m);
                assert_int_equal(ev_count(&srv, DMSEC_EV_INVENTORY), 3);
                assert_int_equal(dev.n_seen, 0);
            } else {
                /* plain HTTP: the server needs the device's verdict on its
                 * Cred, so package #2 asks the inventory Get; #4 has no
                 * command and the client does not answer it */
                assert_int_equal(r.n, 4);
                dmsec_msg_t *m = decode(&r.w[1]);
                const dmsec_cmd_t *g = find_cmd(m->body.cmds, DMSEC_CMD_GET, NULL);
                assert_non_null(g);
                size_t items = 0;
                for (const dmsec_item_t *it = g->items; it; it = it->next)
                    assert_string_equal(it->target->uri, dmsec_session_inventory_uris[items++]);
                assert_null(dmsec_session_inventory_uris[items]);
                dmsec_msg_free(m);
                m = decode(&r.w[3]);
                for (const dmsec_cmd_t *k = m->body.cmds; k; k = k->next)
                    assert_int_equal(k->type, DMSEC_CMD_STATUS);
                dmsec_msg_free(m);
                const struct ev *fw = ev_uri(&srv, DMSEC_EV_INVENTORY, "./DevDetail/FwV");
                assert_string_equal((const char *)fw->data, "fw-1.0.7");
                assert_int_equal(fw->call, 1);
                assert_string_equal(
                    (const char *)ev_uri(&srv, DMSEC_EV_INVENTORY, "./DevDetail/HwV")->data,
                    "hw-3");
                assert_true(dmsec_session_self_authenticated(s));
            }
            finish(&r, c, s, &dev, &srv);
        }
    }
}

static void generic_alert_from_the_client(void **state)
{
    (void)state;
    EACH_CODEC
    {
        struct party dev, srv;
        dmsec_session_t *c, *s;
        start(&dev, &srv, &c, &s);
        dmsec_mgmt_cmd_t a = {
            .tag = 77,
            .type = DMSEC_CMD_ALERT,
            .alert_code = 1226,
            .source = "./FUMO/fw",
            .mime = "org.openmobilealliance.dm.firmwareupdate.downloadandupdate",
            .format = "int",
            .correlator = "corr-9",
            .data = (const uint8_t *)"200",
            .data_len = 3,
            .has_data = 1,
        };
        assert_int_equal(dmsec_session_client_alert(c, &a), DMSEC_OK);
        dmsec_mgmt_cmd_t bad = a;
        bad.alert_code = 99;
        assert_int_equal(dmsec_session_client_alert(c, &bad), DMSEC_ERR_INVALID_ARG);
        assert_int_equal(dmsec_session_client_alert(s, &a), DMSEC_ERR_INVALID_ARG);
        struct run r = converse(c, &dev, s, &srv, NULL, NULL);
        session_ok(c, s, &r);
        assert_int_equal(ev_count(&srv, DMSEC_EV_ALERT), 1);
        const struct ev *e = ev_uri(&srv, DMSEC_EV_ALERT, "./FUMO/fw");
        assert_int_equal(e->status, 1226);
        assert_string_equal(e->text, "org.openmobilealliance.dm.firmwareupdate.downloadandupdate");
        assert_string_equal(e->format, "int");
        assert_string_equal(e->correlator, "corr-9");
        assert_true(e->has_data);
        assert_int_equal(e->data_len, 3);
        assert_memory_equal(e->data, "200", 3);
        assert_int_equal(e->call, 0);
        const struct ev *d = ev_tag(&dev, DMSEC_EV_CMD_DONE, 77);
        assert_int_equal(d->status, 200);
        assert_int_equal(d->call, 1);
        /* once started, no more alerts */
        assert_int_equal(dmsec_session_client_alert(c, &a), DMSEC_ERR_SESSION_STATE);
        /* the server's Status on it echoes its Source */
        dmsec_msg_t *m = decode(&r.w[1]);
        const dmsec_cmd_t *st = find_cmd(m->body.cmds, DMSEC_CMD_STATUS, "Alert");
        assert_non_null(st);
        for (; st; st = find_cmd(st->next, DMSEC_CMD_STATUS, "Alert")) {
            if (st->source_refs)
                break;
        }
        assert_non_null(st);
        assert_string_equal(st->source_refs->s, "./FUMO/fw");
        assert_null(st->source_refs->next);
        assert_int_equal(dmsec_status_code(st), 200);
        dmsec_msg_free(m);
        finish(&r, c, s, &dev, &srv);
    }
}

static void status_refs_echo_the_items(void **state)
{
    (void)state;
    EACH_CODEC
    {
        struct party dev, srv;
        dmsec_session_t *c, *s;
        start(&dev, &srv, &c, &s);
        queue(s, 1, DMSEC_CMD_REPLACE, "./Vendor/A", "x", 1, NULL);
        dmsec_mgmt_cmd_t cp = {
            .tag = 2, .type = DMSEC_CMD_COPY, .target = "./Vendor/Dst", .source = "./Vendor/Src"};
        assert_int_equal(dmsec_session_queue_cmd(s, &cp), DMSEC_OK);
        queue(s, 3, DMSEC_CMD_DELETE, "./Vendor/Nope", NULL, 0, NULL);
        struct run r = converse(c, &dev, s, &srv, NULL, NULL);
        session_ok(c, s, &r);
        dmsec_msg_t *m = decode(&r.w[2]);
        const dmsec_cmd_t *st = find_cmd(m->body.cmds, DMSEC_CMD_STATUS, "Replace");
        assert_non_null(st);
        assert_string_equal(st->target_refs->s, "./Vendor/A");
        assert_null(st->source_refs);
        st = find_cmd(m->body.cmds, DMSEC_CMD_STATUS, "Copy");
        assert_non_null(st);
        assert_string_equal(st->target_refs->s, "./Vendor/Dst");
        assert_string_equal(st->source_refs->s, "./Vendor/Src");
        st = find_cmd(m->body.cmds, DMSEC_CMD_STATUS, "Delete");
        assert_non_null(st);
        assert_string_equal(st->target_refs->s, "./Vendor/Nope");
        assert_int_equal(dmsec_status_code(st), 404);
        dmsec_msg_free(m);
        assert_done(&srv, 3, 404, NULL);
        finish(&r, c, s, &dev, &srv);
    }
}

/* Re-encodes a message with another MsgID. */
static void set_msg_id(struct wire *w, const char *id)
{
    dmsec_msg_t *m = decode(w);
    m->hdr.msg_id = dmsec_msg_strdup(m, id);
    assert_non_null(m->hdr.msg_id);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(dmsec_msg_encode(codec, m, &buf, &len), DMSEC_OK);
    dmsec_msg_free(m);
    free(w->body);
    w->body = buf;
    w->len = len;
}

static void failed_feed_leaves_the_queue(void **state)
{
    (void)state;
    EACH_CODEC
    {
        struct party dev, srv;
        dmsec_session_t *c, *s;
        start(&dev, &srv, &c, &s);
        queue(s, 1, DMSEC_CMD_GET, "./Vendor/A", NULL, 0, NULL);
        dmsec_session_out_t out;
        struct wire w;
        assert_int_equal(dmsec_session_start(c, NOW, &out), DMSEC_OK);
        record(c, &dev);
        wire_set(&w, out.body, out.len, out.content_type, out.hmac_header, 1);
        assert_int_equal(dmsec_session_feed(s, w.body, w.len, w.ct, NULL, NOW, &out), DMSEC_OK);
        record(s, &srv);
        ev_tag(&srv, DMSEC_EV_CMD_SENT, 1);
        free(w.body);
        wire_set(&w, out.body, out.len, out.content_type, out.hmac_header, 0);
        assert_int_equal(dmsec_session_feed(c, w.body, w.len, w.ct, NULL, NOW + 1, &out), DMSEC_OK);
        record(c, &dev);
        free(w.body);
        wire_set(&w, out.body, out.len, out.content_type, out.hmac_header, 1);
        /* the next command, queued while the device's answer travels */
        queue(s, 2, DMSEC_CMD_GET, "./Vendor/Src", NULL, 0, NULL);
        struct wire bad;
        wire_set(&bad, w.body, w.len, w.ct, w.hmac, 1);
        set_msg_id(&bad, "1");
        size_t before = srv.n_evs;
        assert_true(dmsec_session_feed(s, bad.body, bad.len, bad.ct, NULL, NOW + 2, &out) < 0);
        assert_int_equal(dmsec_session_events(s), 0);
        assert_false(dmsec_session_done(s));
        /* a second refusal: the same */
        assert_true(dmsec_session_feed(s, bad.body, bad.len, bad.ct, NULL, NOW + 2, &out) < 0);
        free(bad.body);
        /* the genuine message: Get 1 answered once, Get 2 goes out next */
        assert_int_equal(dmsec_session_feed(s, w.body, w.len, w.ct, NULL, NOW + 2, &out), DMSEC_OK);
        record(s, &srv);
        assert_true(srv.n_evs > before);
        assert_done(&srv, 1, 200, "old");
        assert_int_equal(ev_tag(&srv, DMSEC_EV_CMD_SENT, 2)->call, 1);
        assert_true(out.has_message);
        free(w.body);
        wire_set(&w, out.body, out.len, out.content_type, out.hmac_header, 0);
        dmsec_msg_t *m = decode(&w);
        const dmsec_cmd_t *g = find_cmd(m->body.cmds, DMSEC_CMD_GET, NULL);
        assert_non_null(g);
        assert_string_equal(g->items->target->uri, "./Vendor/Src");
        assert_int_equal(count_cmds(m->body.cmds, DMSEC_CMD_GET, NULL), 1);
        dmsec_msg_free(m);
        /* and the rest of the session goes as usual */
        assert_int_equal(dmsec_session_feed(c, w.body, w.len, w.ct, NULL, NOW + 3, &out), DMSEC_OK);
        record(c, &dev);
        free(w.body);
        wire_set(&w, out.body, out.len, out.content_type, out.hmac_header, 1);
        assert_int_equal(dmsec_session_feed(s, w.body, w.len, w.ct, NULL, NOW + 4, &out), DMSEC_OK);
        record(s, &srv);
        assert_done(&srv, 2, 200, "copied");
        assert_int_equal(ev_count(&srv, DMSEC_EV_CMD_DONE), 2);
        free(w.body);
        dmsec_session_free(c);
        dmsec_session_free(s);
        party_free(&dev);
        party_free(&srv);
    }
}

static void pending_cmds_fills_an_empty_queue(void **state)
{
    (void)state;
    EACH_CODEC
    {
        for (int prequeued = 0; prequeued < 2; prequeued++) {
            struct party dev, srv;
            pair(&dev, &srv);
            srv.pending_queue = 1;
            dmsec_session_t *c = new_client(&dev);
            dmsec_session_t *s = new_server(&srv);
            if (prequeued)
                queue(s, 499, DMSEC_CMD_GET, "./Vendor/Src", NULL, 0, NULL);
            struct run r = converse(c, &dev, s, &srv, NULL, NULL);
            session_ok(c, s, &r);
            /* called only once the engine's own queue had gone out; what
             * it queued went in the message then built */
            assert_int_equal(srv.pending_call_at, prequeued ? 1 : 0);
            assert_int_equal(ev_tag(&srv, DMSEC_EV_CMD_SENT, 500)->call, prequeued ? 1 : 0);
            assert_done(&srv, 500, 200, "old");
            if (prequeued) {
                assert_int_equal(ev_tag(&srv, DMSEC_EV_CMD_SENT, 499)->call, 0);
                assert_done(&srv, 499, 200, "copied");
            }
            dmsec_msg_t *m = decode(&r.w[prequeued ? 3 : 1]);
            const dmsec_cmd_t *g = find_cmd(m->body.cmds, DMSEC_CMD_GET, NULL);
            assert_non_null(g);
            assert_string_equal(g->items->target->uri, "./Vendor/A");
            dmsec_msg_free(m);
            assert_true(srv.pending_calls >= 2); /* asked again once 500 was out */
            finish(&r, c, s, &dev, &srv);
        }
    }
}

/* Binary that is not XML text goes over XML as base64 text with Format
 * b64 (chunked on whole 3-byte groups when large); over WBXML as OPAQUE. */
static void binary_over_xml_goes_as_b64(void **state)
{
    (void)state;
    EACH_CODEC
    {
        static uint8_t big[200000];
        for (size_t i = 0; i < sizeof big; i++)
            big[i] = (uint8_t)(i * 7 + (i >> 8));
        struct party dev, srv;
        dmsec_session_t *c, *s;
        start(&dev, &srv, &c, &s);
        queue(s, 1, DMSEC_CMD_ADD, "./Vendor/Raw", (const char *)bin_wbxml, sizeof bin_wbxml,
              "bin");
        queue(s, 2, DMSEC_CMD_ADD, "./Vendor/Big", (const char *)big, sizeof big, "bin");
        struct run r = converse(c, &dev, s, &srv, NULL, NULL);
        session_ok(c, s, &r);
        assert_done(&srv, 1, 200, NULL);
        assert_done(&srv, 2, 200, NULL);
        if (codec == DMSEC_CODEC_WBXML) {
            tree_value(&dev, "./Vendor/Raw", bin_wbxml, sizeof bin_wbxml, DMSEC_TREE_BIN);
            tree_value(&dev, "./Vendor/Big", big, sizeof big, DMSEC_TREE_BIN);
        } else {
            char b64[DMSEC_B64_LEN(sizeof big) + 1];
            size_t n = 0;
            assert_int_equal(dmsec_b64_encode(bin_wbxml, sizeof bin_wbxml, b64, sizeof b64, &n),
                             DMSEC_OK);
            tree_value(&dev, "./Vendor/Raw", b64, n, DMSEC_TREE_B64);
            static char big64[DMSEC_B64_LEN(sizeof big) + 1];
            assert_int_equal(dmsec_b64_encode(big, sizeof big, big64, sizeof big64, &n), DMSEC_OK);
            tree_value(&dev, "./Vendor/Big", big64, n, DMSEC_TREE_B64);
        }
        finish(&r, c, s, &dev, &srv);
    }
}

/* At the session's last message the server sends no more: the session
 * ends as a success, and what was not sent (a Large Object begun
 * included) has no CMD_DONE, to go again in the next session. */
static void message_limit_ends_the_session_cleanly(void **state)
{
    (void)state;
    EACH_CODEC
    {
        server_max_messages = 4;
        client_max_msg = 8192;
        struct party dev, srv;
        dmsec_session_t *c, *s;
        start(&dev, &srv, &c, &s);
        char *v = big_value(100000, 'a');
        queue(s, 1, DMSEC_CMD_REPLACE, "./Vendor/A", "first", 5, "chr");
        queue(s, 2, DMSEC_CMD_REPLACE, "./Vendor/Big", v, 100000, "chr");
        struct run r = converse(c, &dev, s, &srv, NULL, NULL);
        assert_int_equal(r.server_rc, 0);
        assert_int_equal(r.client_rc, 0);
        assert_true(dmsec_session_done(s));
        assert_int_equal(dmsec_session_result(s), DMSEC_OK);
        assert_int_equal(dmsec_session_result(c), DMSEC_OK);
        assert_done(&srv, 1, 200, NULL);
        for (size_t i = 0; i < srv.n_evs; i++)
            assert_false(srv.evs[i].type == DMSEC_EV_CMD_DONE && srv.evs[i].tag == 2);
        assert_non_null(ev_tag(&srv, DMSEC_EV_CMD_SENT, 2));
        tree_value(&dev, "./Vendor/A", "first", 5, DMSEC_TREE_CHR);
        tree_missing(&dev, "./Vendor/Big");
        free(v);
        finish(&r, c, s, &dev, &srv);
    }
}

/* A text value the codec cannot write (raw bytes as chr in XML, a NUL in
 * WBXML text) is answered 415 without being sent; the session and the
 * commands after it go on. */
static void unsendable_text_is_415(void **state)
{
    (void)state;
    EACH_CODEC
    {
        struct party dev, srv;
        dmsec_session_t *c, *s;
        start(&dev, &srv, &c, &s);
        static const char raw[] = {'a', 0, (char)0xff, 'b'};
        queue(s, 1, DMSEC_CMD_REPLACE, "./Vendor/A", raw, sizeof raw, "chr");
        queue(s, 2, DMSEC_CMD_ADD, "./Vendor/B", "fine", 4, "chr");
        struct run r = converse(c, &dev, s, &srv, NULL, NULL);
        session_ok(c, s, &r);
        assert_done(&srv, 1, 415, NULL);
        assert_done(&srv, 2, 200, NULL);
        tree_value(&dev, "./Vendor/B", "fine", 4, DMSEC_TREE_CHR);
        finish(&r, c, s, &dev, &srv);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_command_kind_reaches_the_tree),
        cmocka_unit_test(atomic_and_sequence),
        cmocka_unit_test(package_over_several_messages),
        cmocka_unit_test(large_objects_both_ways),
        cmocka_unit_test(large_object_size_mismatch_is_424),
        cmocka_unit_test(value_over_max_obj_size_is_413_unsent),
        cmocka_unit_test(empty_session_ends_the_dm_way),
        cmocka_unit_test(generic_alert_from_the_client),
        cmocka_unit_test(status_refs_echo_the_items),
        cmocka_unit_test(failed_feed_leaves_the_queue),
        cmocka_unit_test(pending_cmds_fills_an_empty_queue),
        cmocka_unit_test(binary_over_xml_goes_as_b64),
        cmocka_unit_test(message_limit_ends_the_session_cleanly),
        cmocka_unit_test(unsendable_text_is_415),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
