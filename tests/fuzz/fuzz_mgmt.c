/* The session engine's management (src/session/mgmt.c) under fuzzing: a
 * real server engine and a real client engine talk in memory, the client
 * running the server's commands on a real DM tree (dmsec_tree_exec_cb,
 * Atomic through dmsec_tree_snapshot / _restore), and the input decides
 * what the server queues and rewrites the messages in transit.
 *
 * Messages are rewritten in the model, not as bytes: each one is decoded,
 * edited (commands dropped, duplicated, retyped; Status codes, CmdRef,
 * MsgRef, MoreData, Meta Size and Format, Data, Final changed; Alerts
 * 1222/1226, Results and Statuses added) and encoded again. The Cred of a
 * DM 1.2 digest does not cover the body, so the edited message still
 * authenticates and reaches the command paths: queued commands, groups,
 * Large Objects both ways (small MaxMsgSize / MaxObjSize), bin and b64
 * data, Results with MoreData, Statuses matched by (MsgRef, CmdRef),
 * Generic Alerts, inventory, the client's alerts.
 *
 * Input: byte 0 and byte 1 configure (see conf()); then byte 2 holds the
 * number of queued commands (low 3 bits), each 4 bytes (kind, target,
 * data size, format); the rest are edits of 4 bytes (message, op, a, b).
 *
 * Invariants: nothing returns > 0, events are well formed, a tag is done
 * at most once, and an untouched conversation ends well with every queued
 * command answered. DMSEC_TRACE set: the messages and the tags, on stderr.
 *
 * The parties, their tree and the driver of the conversation are the
 * session tests' (tests/unit/pair_fixture.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/codec.h"
#include "dmsec/errors.h"
#include "dmsec/session.h"
#include "dmsec/tree.h"
#include "../unit/pair_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DEV "IMEI:359881030314356"
#define SRV "fuzz.example"
#define SRV_URI "http://fuzz.example/dm"
#define MAX_TAG 64
#define MAX_CMDS 8
#define MAX_WIRE 80

struct party {
    dmsec_state_mem_t mem; /* first: the memory ops take the party */
    dmsec_tree_t *tree;
    dmsec_tree_t *snap;
    int pending_queue;
    int done[MAX_TAG + 1024]; /* CMD_DONE per tag */
    int sent[MAX_TAG + 1024]; /* CMD_SENT per tag */
};

static void fail(const char *why)
{
    fprintf(stderr, "fuzz_mgmt: %s\n", why);
    abort();
}

/* ---- the parties ---- */

static int exec_handler(void *ctx, const char *server_id, const char *uri, const uint8_t *data,
                        size_t len, const char *correlator)
{
    (void)ctx;
    (void)server_id;
    (void)uri;
    (void)correlator;
    if (len && data[0] == 'A')
        return 202; /* accepted, as FUMO does */
    if (len && data[0] == 'F')
        return 500;
    return 0;
}

static void tree_setup(struct party *dev)
{
    dmsec_tree_t *t = pair_tree_new(DEV, "fuzz-model", "fw-1", exec_handler, dev);
    if (!t)
        fail("tree");
    dev->tree = t;
    if (pair_leaf(t, "./Vendor/RO", "read only") ||
        dmsec_tree_set_acl_local(t, "./Vendor/RO", "Get=*") ||
        pair_leaf(t, "./DMAcc/fuzz/AppAuth/SRVCRED/AAuthSecret", "server-secret") ||
        dmsec_tree_set_acl_local(t, "./DMAcc", "Get=*&Replace=*"))
        fail("tree setup");
}

static int tree_exec(void *ctx, const char *server_id, const dmsec_cmd_t *cmd,
                     const dmsec_item_t *item, dmsec_tree_result_t *res)
{
    return dmsec_tree_exec_cb(((struct party *)ctx)->tree, server_id, cmd, item, res);
}

static int tree_atomic(void *ctx, int op)
{
    struct party *p = ctx;
    return pair_tree_atomic(p->tree, &p->snap, op);
}

static int pending_cmds(void *ctx, dmsec_session_t *s)
{
    struct party *p = ctx;
    if (!p->pending_queue)
        return 0;
    p->pending_queue = 0;
    dmsec_mgmt_cmd_t c = {.tag = MAX_TAG - 1, .type = DMSEC_CMD_GET, .target = "./DevInfo/Mod"};
    return dmsec_session_queue_cmd(s, &c);
}

/* ---- what the server queues ---- */

static const char *const targets[16] = {
    "./Vendor/A",    "./Vendor/New",    "./Vendor/Del", "./Vendor/Run",
    "./DevInfo/Mod", "./DevDetail/FwV", "./Vendor",     "./Nope/X",
    "./Vendor/RO",   "./Vendor/A/B",    "./Vendor/Src", "./DMAcc/fuzz/AppAuth/SRVCRED/AAuthSecret",
    "./Vendor/Big",  "./Vendor/New/C",  "./Vendor/Bin", ".",
};
static const char *const formats[8] = {NULL, "chr", "b64", "bin", "node", "int", "xml", "bool"};
static const size_t sizes[8] = {0, 1, 3, 40, 700, 1500, 5000, 20000};
static const dmsec_cmd_type_t kinds[8] = {DMSEC_CMD_GET,    DMSEC_CMD_REPLACE, DMSEC_CMD_ADD,
                                          DMSEC_CMD_DELETE, DMSEC_CMD_EXEC,    DMSEC_CMD_COPY,
                                          DMSEC_CMD_ATOMIC, DMSEC_CMD_SEQUENCE};

/* The bytes of a value: text, text with XML's special characters, or any
 * byte (bin, opaque in WBXML, base64 in XML). */
static uint8_t *make_value(size_t n, unsigned style, unsigned seed)
{
    uint8_t *v = malloc(n ? n : 1);
    if (!v)
        fail("no memory");
    static const char special[] = "<&>]]>\"'\r\n";
    for (size_t i = 0; i < n; i++) {
        unsigned x = (unsigned)(i * 2654435761u + seed * 40503u);
        if (style == 0)
            v[i] = (uint8_t)('a' + x % 26);
        else if (style == 1)
            v[i] = (x % 7) ? (uint8_t)('A' + x % 26) : (uint8_t)special[x % (sizeof special - 1)];
        else
            v[i] = (uint8_t)(x >> 13);
    }
    if (n && style == 0 && (seed & 1))
        v[0] = 'A'; /* an Exec of it answers 202 */
    return v;
}

struct plan {
    dmsec_mgmt_cmd_t cmds[MAX_CMDS];
    dmsec_mgmt_cmd_t kids[MAX_CMDS][3];
    uint8_t *values[MAX_CMDS * 4];
    int n_values;
    int n_cmds;
    int tags[MAX_TAG];
    int n_tags;
};

static void plan_value(struct plan *pl, dmsec_mgmt_cmd_t *c, uint8_t sz, uint8_t fmt, unsigned seed)
{
    c->format = formats[fmt & 7];
    c->mime = (fmt & 8) ? "text/plain" : NULL;
    c->correlator = (fmt & 16) ? "corr-1" : NULL;
    size_t n = sizes[sz & 7];
    if (!n && !(sz & 8))
        return;
    unsigned style = (fmt >> 5) % 3;
    if (c->format && (!strcmp(c->format, "bin") || !strcmp(c->format, "b64")))
        style = 2;
    uint8_t *v = make_value(n, style, seed);
    pl->values[pl->n_values++] = v;
    c->data = v;
    c->data_len = n;
    c->has_data = 1;
}

static void plan_cmd(struct plan *pl, dmsec_mgmt_cmd_t *c, const uint8_t *spec, int tag, int member)
{
    memset(c, 0, sizeof *c);
    c->tag = tag;
    c->type = kinds[spec[0] & 7];
    if (member && (c->type == DMSEC_CMD_ATOMIC || c->type == DMSEC_CMD_SEQUENCE))
        c->type = DMSEC_CMD_REPLACE;
    c->target = targets[spec[1] & 15];
    if (c->type == DMSEC_CMD_COPY)
        c->source = targets[(spec[1] >> 4) & 15];
    if (c->type == DMSEC_CMD_REPLACE || c->type == DMSEC_CMD_ADD || c->type == DMSEC_CMD_EXEC)
        plan_value(pl, c, spec[2], spec[3], (unsigned)tag * 7u + spec[2]);
    pl->tags[pl->n_tags++] = tag;
}

static void plan_free(struct plan *pl)
{
    for (int i = 0; i < pl->n_values; i++)
        free(pl->values[i]);
}

/* ---- rewriting a message ---- */

struct slot {
    dmsec_cmd_t **link; /* where the command hangs */
    dmsec_cmd_t *cmd;
};

static int flatten(dmsec_cmd_t **link, struct slot *out, int n, int cap)
{
    for (; *link && n < cap; link = &(*link)->next) {
        out[n].link = link;
        out[n].cmd = *link;
        n++;
        if ((*link)->children)
            n = flatten(&(*link)->children, out, n, cap);
    }
    return n;
}

static const int codes[16] = {200, 202, 213, 215, 216, 401, 404, 407,
                              413, 424, 500, 507, 212, 406, 418, 600};
static const char *const alerts[8] = {"1222", "1226", "1224", "1201", "1223", "1200", "x", ""};

static char *num(dmsec_msg_t *m, unsigned v)
{
    char t[16];
    snprintf(t, sizeof t, "%u", v);
    return dmsec_msg_strdup(m, t);
}

static dmsec_data_t *pattern(dmsec_msg_t *m, size_t n, unsigned seed, int opaque)
{
    uint8_t *v = make_value(n, opaque ? 2 : seed % 2, seed);
    dmsec_data_t *d = dmsec_msg_data(m, v, n, opaque);
    free(v);
    return d;
}

/* Sets the Meta field kind of it to v, added when it has none: 1, or 0
 * without memory. */
static int meta_set(dmsec_msg_t *m, dmsec_item_t *it, dmsec_metinf_t kind, const char *v)
{
    for (dmsec_mi_t *f = it->meta ? it->meta->fields : NULL; f; f = f->next) {
        if (f->kind == kind) {
            const dmsec_data_t *d = dmsec_msg_data(m, v, strlen(v), 0);
            if (!d)
                return 0;
            f->value = *d;
            return 1;
        }
    }
    return dmsec_meta_add(m, &it->meta, kind, v) != NULL;
}

/* Applies one edit to m; 1 when it changed something. */
static int edit(dmsec_msg_t *m, uint8_t op, uint8_t a, uint8_t b, int wbxml)
{
    struct slot sl[128];
    int n = flatten(&m->body.cmds, sl, 0, 128);
    dmsec_cmd_t *c = n ? sl[a % n].cmd : NULL;
    dmsec_item_t *it = c ? c->items : NULL;
    switch (op % 16) {
    case 0: /* drop a command */
        if (!c)
            return 0;
        *sl[a % n].link = c->next;
        return 1;
    case 1: /* a Status code */
        if (!c || c->type != DMSEC_CMD_STATUS)
            return 0;
        {
            char t[8];
            snprintf(t, sizeof t, "%d", codes[b % 16]);
            c->data = dmsec_msg_data(m, t, strlen(t), 0);
        }
        return 1;
    case 2: /* CmdRef */
        if (!c || (c->type != DMSEC_CMD_STATUS && c->type != DMSEC_CMD_RESULTS))
            return 0;
        c->cmd_ref = num(m, b % 16);
        return 1;
    case 3: /* MsgRef */
        if (!c || (c->type != DMSEC_CMD_STATUS && c->type != DMSEC_CMD_RESULTS))
            return 0;
        c->msg_ref = b % 5 ? num(m, b % 5) : NULL;
        return 1;
    case 4: /* MoreData */
        if (!it)
            return 0;
        it->more_data = !it->more_data;
        return 1;
    case 5: /* Data cut */
        if (!it || !it->data)
            return 0;
        it->data = dmsec_msg_data(m, it->data->bytes,
                                  it->data->len < (size_t)b * 8 ? it->data->len : (size_t)b * 8,
                                  it->data->opaque);
        return 1;
    case 6: /* Meta Size */
        if (!it)
            return 0;
        {
            size_t len = it->data ? it->data->len : 0;
            size_t v = b & 0x80 ? (size_t)b * 997u : len + (b & 0x7f) - 64;
            char t[32];
            snprintf(t, sizeof t, "%zu", v);
            if (b == 0x7f)
                snprintf(t, sizeof t, "99999999999999999999");
            if (b == 0x7e)
                snprintf(t, sizeof t, "-1");
            return meta_set(m, it, DMSEC_MI_SIZE, t);
        }
    case 7: /* a command twice */
        if (!c || c->type == DMSEC_CMD_ATOMIC || c->type == DMSEC_CMD_SEQUENCE)
            return 0;
        {
            dmsec_cmd_t *d = dmsec_msg_add_cmd(m, NULL, c->type);
            if (!d)
                return 0;
            char *id = d->cmd_id;
            *d = *c;
            d->next = NULL;
            if (b & 1)
                d->cmd_id = id;
        }
        return 1;
    case 8: /* Target */
        if (!it || !it->target)
            return 0;
        it->target = dmsec_msg_loc(m, targets[b % 16], NULL);
        return 1;
    case 9: /* Final */
        m->body.final = !m->body.final;
        return 1;
    case 10: /* an Alert */
    {
        dmsec_cmd_t *al = dmsec_msg_add_cmd(m, NULL, DMSEC_CMD_ALERT);
        if (!al)
            return 0;
        const char *code = alerts[b % 8];
        al->data = dmsec_msg_data(m, code, strlen(code), 0);
        if (b & 8)
            al->correlator = dmsec_msg_strdup(m, "corr-1");
        if (b & 16) {
            dmsec_item_t *ai = dmsec_cmd_add_item(m, al, NULL, "./FUMO/Pkg");
            if (ai) {
                dmsec_meta_add(m, &ai->meta, DMSEC_MI_TYPE,
                               "org.openmobilealliance.dm.firmwareupdate.download");
                if (b & 32)
                    dmsec_meta_add(m, &ai->meta, DMSEC_MI_FORMAT, "int");
                ai->data = pattern(m, a % 8, a, 0);
            }
        }
    }
        return 1;
    case 11: /* Results */
    {
        dmsec_cmd_t *r = dmsec_msg_add_cmd(m, NULL, DMSEC_CMD_RESULTS);
        if (!r)
            return 0;
        r->cmd_ref = num(m, b % 16);
        r->msg_ref = a & 3 ? num(m, a & 3) : NULL;
        dmsec_item_t *ri = dmsec_cmd_add_item(m, r, NULL, targets[(a >> 2) % 16]);
        if (!ri)
            return 0;
        ri->data = pattern(m, (size_t)(b >> 4) * 97u, a, wbxml && (a & 64));
        ri->more_data = (a & 128) != 0;
        if (a & 64)
            dmsec_meta_add(m, &ri->meta, DMSEC_MI_SIZE, "3000");
    }
        return 1;
    case 12: /* a Status */
    {
        static const char *const names[4] = {"Get", "Replace", "Atomic", "Alert"};
        char *mref = a & 3 ? num(m, a & 3) : NULL;
        dmsec_cmd_t *st = dmsec_msg_add_status(m, mref, num(m, b % 16), names[(a >> 2) & 3],
                                               codes[(a >> 4) % 16]);
        return st != NULL;
    }
    case 13: /* Meta Format */
        if (!it)
            return 0;
        {
            const char *f = formats[b % 8] ? formats[b % 8] : "weird";
            return meta_set(m, it, DMSEC_MI_FORMAT, f);
        }
    case 14: /* other Data */
        if (!it)
            return 0;
        it->data = pattern(m, (size_t)b * 29u, a, wbxml && (a & 1));
        return 1;
    default: /* another tree command */
        if (!c || c->type == DMSEC_CMD_STATUS || c->type == DMSEC_CMD_RESULTS ||
            c->type == DMSEC_CMD_ALERT || c->type == DMSEC_CMD_ATOMIC ||
            c->type == DMSEC_CMD_SEQUENCE)
            return 0;
        c->type = kinds[b % 6];
        return 1;
    }
}

/* Rewrites message n when an edit names it; *body then owns the new bytes. */
static int rewrite(dmsec_codec_t codec, const uint8_t *edits, size_t n_edits, int n,
                   const uint8_t *in, size_t in_len, uint8_t **body, size_t *len)
{
    int any = 0;
    for (size_t e = 0; e < n_edits && !any; e++)
        any = edits[4 * e] % MAX_WIRE == n;
    if (!any)
        return 0;
    dmsec_msg_t *m = NULL;
    if (dmsec_msg_decode(codec, in, in_len, NULL, &m))
        fail("the engine wrote a message it cannot read");
    int changed = 0;
    for (size_t e = 0; e < n_edits; e++) {
        const uint8_t *ed = edits + 4 * e;
        if (ed[0] % MAX_WIRE == n)
            changed |= edit(m, ed[1], ed[2], ed[3], codec == DMSEC_CODEC_WBXML);
    }
    int ok = changed && !dmsec_msg_validate(m) && !dmsec_msg_encode(codec, m, body, len);
    dmsec_msg_free(m);
    return ok;
}

/* ---- the conversation ---- */

/* Counts the CMD_SENT and CMD_DONE of the last call of s per tag. */
static void count_tags(const dmsec_session_t *s, struct party *p, int server)
{
    for (size_t i = 0; i < dmsec_session_events(s); i++) {
        const dmsec_event_t *e = dmsec_session_event(s, i);
        if (e->type != DMSEC_EV_CMD_SENT && e->type != DMSEC_EV_CMD_DONE)
            continue;
        if (e->tag < 0 || e->tag >= MAX_TAG + 1024)
            fail("unknown tag");
        if (e->type == DMSEC_EV_CMD_SENT) {
            if (!server)
                fail("client CMD_SENT");
            p->sent[e->tag]++;
        } else {
            if (getenv("DMSEC_TRACE"))
                fprintf(stderr, "done tag %lld status %d\n", (long long)e->tag, e->status);
            if (++p->done[e->tag] > 1)
                fail("a command done twice");
            if (e->status < 100 || e->status > 999)
                fail("status out of range");
        }
    }
}

struct conv {
    dmsec_codec_t codec;
    const uint8_t *edits;
    size_t n_edits;
    int touched;
};

/* Applies the edits that name message m. */
static void conv_before(void *arg, pair_msg_t *m)
{
    struct conv *cv = arg;
    uint8_t *edited = NULL;
    size_t elen = 0;
    if (rewrite(cv->codec, cv->edits, cv->n_edits, m->n, m->body, m->len, &edited, &elen)) {
        if (pair_msg_set(m, edited, elen))
            fail("no memory");
        cv->touched = 1;
    }
    free(edited);
}

/* Checks the engine's call, counts its tags and persists its events. */
static void conv_after(void *arg, const pair_call_t *call)
{
    (void)arg;
    struct party *p = call->party;
    if (!pair_call_ok(call->engine, call->rc, call->out))
        fail("a call broke the engine's promises");
    if (call->rc)
        return;
    count_tags(call->engine, p, call->server);
    if (dmsec_session_persist(call->engine, &dmsec_state_mem_ops, &p->mem))
        fail("persist");
}

static void conversation(const uint8_t *data, size_t size)
{
    uint8_t c0 = data[0], c1 = data[1];
    int n_specs = data[2] & 7;
    const uint8_t *specs = data + 3;
    if (size < 3 + (size_t)n_specs * 4)
        return;
    const uint8_t *edits = specs + n_specs * 4;
    size_t n_edits = (size - 3 - (size_t)n_specs * 4) / 4;

    dmsec_codec_t codec = (c0 & 1) ? DMSEC_CODEC_WBXML : DMSEC_CODEC_XML;
    static const size_t msg_sizes[4] = {0, 1024, 2048, 4096};
    static const size_t obj_sizes[4] = {0, 3000, 25000, 1000};

    static struct party dev, srv;
    memset(&dev, 0, sizeof dev);
    memset(&srv, 0, sizeof srv);
    if (pair_accounts(&dev.mem, &srv.mem, DMSEC_AUTH_MD5, DMSEC_AUTH_MD5, DEV, "client-secret", SRV,
                      "server-secret", "./DMAcc/fuzz/AppAuth/SRVCRED"))
        fail("accounts");
    tree_setup(&dev);
    srv.pending_queue = (c1 & 0x40) != 0;

    static const char *const devinfo[] = {
        "./DevInfo/DevId", DEV, "./DevInfo/Man", "dmsec", "./DevInfo/Mod", "fuzz-model", NULL};
    dmsec_session_config_t ccfg = pair_client_config(codec, SRV, SRV_URI, DEV, &dev);
    ccfg.transport_secure = (c0 & 2) != 0;
    ccfg.max_msg_size = msg_sizes[(c0 >> 2) & 3];
    ccfg.max_obj_size = obj_sizes[(c0 >> 4) & 3];
    ccfg.devinfo = (c0 & 0x40) ? devinfo : NULL;
    ccfg.cb.tree_exec = tree_exec;
    ccfg.cb.tree_atomic = (c0 & 0x80) ? NULL : tree_atomic;
    dmsec_session_config_t scfg = pair_server_config(SRV, SRV_URI, &srv);
    scfg.transport_secure = (c0 & 2) != 0;
    scfg.transport_authenticated = (c1 & 0x80) != 0;
    scfg.max_msg_size = msg_sizes[c1 & 3] ? msg_sizes[c1 & 3] : 262144;
    scfg.cb.pending_cmds = pending_cmds;
    dmsec_session_t *c = dmsec_session_new(&ccfg);
    dmsec_session_t *s = dmsec_session_new(&scfg);
    if (!c || !s)
        fail("engine");

    /* The server's queue. */
    static struct plan pl;
    memset(&pl, 0, sizeof pl);
    int tag = 1;
    for (int i = 0; i < n_specs; i++) {
        const uint8_t *sp = specs + 4 * i;
        dmsec_mgmt_cmd_t *q = &pl.cmds[pl.n_cmds++];
        plan_cmd(&pl, q, sp, tag++, 0);
        if (q->type == DMSEC_CMD_ATOMIC || q->type == DMSEC_CMD_SEQUENCE) {
            size_t k = 1 + (sp[2] >> 6);
            for (size_t j = 0; j < k; j++) {
                uint8_t kid[4] = {(uint8_t)(sp[3] >> (2 * j)), (uint8_t)(sp[1] + 5 * j),
                                  (uint8_t)(sp[2] + j), (uint8_t)(sp[3] + j)};
                plan_cmd(&pl, &pl.kids[i][j], kid, tag++, 1);
            }
            q->children = pl.kids[i];
            q->n_children = k;
        }
        int rc = dmsec_session_queue_cmd(s, q);
        if (rc == DMSEC_ERR_INVALID_ARG) {
            /* A malformed command (a member of a group without its
             * data, ...): none of its tags will be answered. */
            pl.n_tags -= 1 + (int)q->n_children;
            continue;
        }
        if (rc)
            fail("queue_cmd");
    }
    if (c1 & 0x20) {
        uint8_t st[] = "200";
        dmsec_mgmt_cmd_t al = {.tag = 900,
                               .type = DMSEC_CMD_ALERT,
                               .alert_code = 1226,
                               .source = "./FUMO/Pkg",
                               .mime = "org.openmobilealliance.dm.firmwareupdate.download",
                               .format = "int",
                               .correlator = (c1 & 0x10) ? "corr-1" : NULL,
                               .data = st,
                               .data_len = 3,
                               .has_data = 1};
        if (dmsec_session_client_alert(c, &al))
            fail("client_alert");
    }
    if (c1 & 0x08)
        dmsec_session_rotate_secret(s);

    struct conv cv = {codec, edits, n_edits, 0};
    pair_drive_t d = {.client = c,
                      .server = s,
                      .dev = &dev,
                      .srv = &srv,
                      .codec = codec,
                      .now = 1000,
                      .max = MAX_WIRE,
                      .before = conv_before,
                      .after = conv_after,
                      .arg = &cv};
    pair_run_t r;
    if (pair_drive(&d, &r))
        fail("start");
    int rc = r.client_rc ? r.client_rc : r.server_rc;
    if (getenv("DMSEC_TRACE")) {
        fprintf(stderr, "messages %d rc %d touched %d results %d/%d done", r.messages, rc,
                cv.touched, dmsec_session_result(s), dmsec_session_result(c));
        for (int i = 0; i < pl.n_tags; i++)
            fprintf(stderr, " %d:%d/%d", pl.tags[i], srv.sent[pl.tags[i]], srv.done[pl.tags[i]]);
        fprintf(stderr, "\n");
    }
    if (dev.snap)
        fail("an Atomic left open");
    if (!cv.touched && !rc && !r.cut && !(c1 & 0x80)) {
        if (dmsec_session_result(s) != DMSEC_OK || dmsec_session_result(c) != DMSEC_OK)
            fail("an untouched conversation failed");
        if (dmsec_session_done(s) && dmsec_session_done(c)) {
            for (int i = 0; i < pl.n_tags; i++) {
                if (!srv.done[pl.tags[i]])
                    fail("an untouched conversation left a command unanswered");
            }
            if ((c1 & 0x20) && !dev.done[900])
                fail("the client's alert unanswered");
        }
    }
    dmsec_session_free(c);
    dmsec_session_free(s);
    dmsec_tree_free(dev.snap);
    dmsec_tree_free(dev.tree);
    plan_free(&pl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    conversation(data, size);
    return 0;
}
