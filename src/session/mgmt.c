/*
 * mgmt.c - what a session carries besides authentication: the server's
 * management commands and the client's Alerts and Results, in order, in
 * messages no larger than the peer takes (a package over several
 * messages, Final on the last, Alert 1222 asking for the next), values
 * larger than a message as Large Objects both ways (MaxObjSize, Size,
 * MoreData, 213 for each chunk), Statuses and Results matched to their
 * command by MsgRef and CmdRef, the device's Alerts and inventory.
 *
 * Sizes: a message is filled against the smaller of the peer's MaxMsgSize
 * and ours, with each command's size estimated for the XML writer at its
 * worst (every byte escaped as an entity costs up to six), which bounds
 * the WBXML writer too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "codec/codec_int.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "session_int.h"

#define CMD_OVERHEAD 256u /* CmdID, Item, Target, Meta tags: generous */
#define MSG_SLACK 400u    /* our Cred (added when encoding), Final, rounding */
#define MIN_CHUNK 256u    /* a Large Object chunk smaller than this waits */

const char *const dmsec_session_inventory_uris[] = {
    "./DevInfo/Man",
    "./DevInfo/Mod",
    "./DevInfo/DevId",
    "./DevInfo/DmV",
    "./DevInfo/Lang",
    "./DevDetail/FwV",
    "./DevDetail/SwV",
    "./DevDetail/HwV",
    "./DevDetail/OEM",
    "./DevDetail/DevTyp",
    NULL,
};

/* ---- the queue ---- */

static char *dup_opt(const char *s, int *fail)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (!d)
        *fail = 1;
    else
        memcpy(d, s, n + 1);
    return d;
}

void dmsec_sess_q_free_entry(struct qcmd *q)
{
    free(q->target);
    free(q->source);
    free(q->format);
    free(q->mime);
    free(q->correlator);
    if (q->data) {
        dm_wipe(q->data, q->data_len);
        free(q->data);
    }
    memset(q, 0, sizeof *q);
}

void dmsec_sess_q_free_all(dmsec_session_t *s)
{
    for (size_t i = 0; i < s->m.n_q; i++)
        dmsec_sess_q_free_entry(&s->q[i]);
    free(s->q);
    s->q = NULL;
    s->cap_q = 0;
    s->m.n_q = 0;
}

void dmsec_sess_q_sweep(dmsec_session_t *s)
{
    size_t w = 0;
    /* The incoming Large Object's command (lo_tag: its index + 1) moves
     * with the entries before it that go. */
    int64_t lo_tag = 0;
    for (size_t i = 0; i < s->m.n_q; i++) {
        if (s->q[i].removed) {
            dmsec_sess_q_free_entry(&s->q[i]);
            continue;
        }
        if (s->m.lo_tag == (int64_t)i + 1)
            lo_tag = (int64_t)w + 1;
        if (w != i)
            s->q[w] = s->q[i];
        w++;
    }
    for (size_t i = w; i < s->m.n_q; i++)
        memset(&s->q[i], 0, sizeof s->q[i]);
    s->m.n_q = w;
    if (s->m.lo_in && s->m.lo_tag > 0) {
        s->m.lo_tag = lo_tag;
        if (!lo_tag)
            s->m.lo_in = 0; /* its command is gone */
    }
}

struct qcmd *dmsec_sess_q_push(dmsec_session_t *s)
{
    if (s->m.n_q >= DMSEC_SESSION_MAX_QUEUE)
        return NULL;
    if (s->m.n_q == s->cap_q) {
        size_t cap = s->cap_q ? 2 * s->cap_q : 16;
        struct qcmd *grown = realloc(s->q, cap * sizeof *grown);
        if (!grown)
            return NULL;
        s->q = grown;
        s->cap_q = cap;
    }
    struct qcmd *q = &s->q[s->m.n_q];
    memset(q, 0, sizeof *q);
    return q;
}

int dmsec_sess_q_unsent(const dmsec_session_t *s)
{
    for (size_t i = 0; i < s->m.n_q; i++) {
        if (!s->q[i].removed && !s->q[i].sent)
            return 1;
    }
    return 0;
}

static int tree_cmd(dmsec_cmd_type_t t)
{
    return t == DMSEC_CMD_GET || t == DMSEC_CMD_REPLACE || t == DMSEC_CMD_ADD ||
           t == DMSEC_CMD_DELETE || t == DMSEC_CMD_EXEC || t == DMSEC_CMD_COPY;
}

/* One entry from a command description (not its members). */
static int q_fill(struct qcmd *q, const dmsec_mgmt_cmd_t *c)
{
    int fail = 0;
    q->tag = c->tag;
    q->type = c->type;
    q->alert_code = c->alert_code;
    q->target = dup_opt(c->target, &fail);
    q->source = dup_opt(c->source, &fail);
    q->format = dup_opt(c->format, &fail);
    q->mime = dup_opt(c->mime, &fail);
    q->correlator = dup_opt(c->correlator, &fail);
    if (c->has_data) {
        q->has_data = 1;
        q->data = malloc(c->data_len + 1);
        if (!q->data) {
            fail = 1;
        } else {
            if (c->data_len)
                memcpy(q->data, c->data, c->data_len);
            q->data[c->data_len] = 0;
            q->data_len = c->data_len;
        }
    }
    return fail ? DMSEC_ERR_NO_MEMORY : DMSEC_OK;
}

static int cmd_valid(const dmsec_mgmt_cmd_t *c, int member)
{
    if (c->type == DMSEC_CMD_ATOMIC || c->type == DMSEC_CMD_SEQUENCE) {
        if (member || !c->n_children || !c->children)
            return 0;
        for (size_t i = 0; i < c->n_children; i++) {
            if (!cmd_valid(&c->children[i], 1))
                return 0;
        }
        return 1;
    }
    if (!tree_cmd(c->type) || !c->target || !c->target[0] ||
        (c->has_data && !c->data && c->data_len))
        return 0;
    if (c->type == DMSEC_CMD_COPY && (!c->source || !c->source[0]))
        return 0;
    return 1;
}

int dmsec_session_queue_cmd(dmsec_session_t *s, const dmsec_mgmt_cmd_t *c)
{
    if (!s || !c || s->role != DMSEC_ROLE_SERVER || !cmd_valid(c, 0))
        return DMSEC_ERR_INVALID_ARG;
    if (s->m.ended)
        return DMSEC_ERR_SESSION_ENDED;
    size_t first = s->m.n_q;
    size_t need = 1 + c->n_children;
    if (s->m.n_q + need > DMSEC_SESSION_MAX_QUEUE)
        return DMSEC_ERR_SESSION_LIMIT;
    int rc = DMSEC_OK;
    for (size_t i = 0; i < need && !rc; i++) {
        struct qcmd *q = dmsec_sess_q_push(s);
        if (!q) {
            rc = DMSEC_ERR_NO_MEMORY;
            break;
        }
        s->m.n_q++;
        if (i == 0) {
            rc = q_fill(q, c);
            q->n_members = c->n_children;
        } else {
            rc = q_fill(q, &c->children[i - 1]);
            q->member = 1;
        }
    }
    if (rc) {
        for (size_t i = first; i < s->m.n_q; i++)
            dmsec_sess_q_free_entry(&s->q[i]);
        s->m.n_q = first;
    }
    return rc;
}

int dmsec_session_queue(dmsec_session_t *s, dmsec_cmd_type_t type, const char *target_uri,
                        const char *data, const char *format)
{
    dmsec_mgmt_cmd_t c = {
        .type = type,
        .target = target_uri,
        .data = (const uint8_t *)data,
        .data_len = data ? strlen(data) : 0,
        .has_data = data != NULL,
        .format = format,
    };
    return dmsec_session_queue_cmd(s, &c);
}

/* Queues the Replace of a new AAuthSecret for one side (SECRET_SRV: our
 * SRVCRED secret; SECRET_CLIENT: the device's CLCRED secret), once a
 * session, keeping the secret to store when the device confirms it. */
static int rotate_side(dmsec_session_t *s, int side)
{
    if (!s || s->role != DMSEC_ROLE_SERVER || !s->m.have_acc || s->m.phantom)
        return DMSEC_ERR_SESSION_STATE;
    const char *cred = side == SECRET_SRV ? s->m.acc.srvcred_path : s->m.acc.clcred_path;
    uint8_t *keep = side == SECRET_SRV ? s->m.pending_secret : s->m.pending_client_secret;
    int *have = side == SECRET_SRV ? &s->m.have_pending_secret : &s->m.have_pending_client;
    if (!cred[0])
        return DMSEC_ERR_SESSION_STATE;
    if (*have)
        return DMSEC_OK;
    /* An earlier SRVCRED secret unconfirmed: which one the device holds
     * shows only in its verdict on our Cred; a new one now would be
     * confused with it. */
    if (side == SECRET_SRV && s->m.acc.out_secret_pending_len && !s->m.self_authed)
        return DMSEC_ERR_SESSION_STATE;
    char secret[SECRET_LEN + 1];
    int rc = dmsec_secret_generate(s->rng.fill ? &s->rng : NULL, secret, SECRET_LEN);
    if (rc)
        return rc;
    char path[DMSEC_NAME_MAX + 16];
    snprintf(path, sizeof path, "%s/AAuthSecret", cred);
    rc = dmsec_session_queue(s, DMSEC_CMD_REPLACE, path, secret, "chr");
    if (!rc) {
        s->q[s->m.n_q - 1].is_secret = side;
        s->q[s->m.n_q - 1].internal = 1;
        memcpy(keep, secret, sizeof secret);
        *have = 1;
    }
    dm_wipe(secret, sizeof secret);
    return rc;
}

int dmsec_session_rotate_secret(dmsec_session_t *s)
{
    return rotate_side(s, SECRET_SRV);
}

int dmsec_session_rotate_client_secret(dmsec_session_t *s)
{
    return rotate_side(s, SECRET_CLIENT);
}

int dmsec_session_client_alert(dmsec_session_t *s, const dmsec_mgmt_cmd_t *a)
{
    if (!s || !a || s->role != DMSEC_ROLE_CLIENT || a->type != DMSEC_CMD_ALERT ||
        a->alert_code < 1000 || a->alert_code > 9999 || (a->has_data && !a->data && a->data_len))
        return DMSEC_ERR_INVALID_ARG;
    if (s->m.started)
        return DMSEC_ERR_SESSION_STATE;
    struct qcmd *q = dmsec_sess_q_push(s);
    if (!q)
        return DMSEC_ERR_SESSION_LIMIT;
    s->m.n_q++;
    int rc = q_fill(q, a);
    if (rc) {
        dmsec_sess_q_free_entry(q);
        s->m.n_q--;
    }
    return rc;
}

/* ---- limits ---- */

static size_t parse_size(const char *t)
{
    if (!t)
        return 0;
    size_t v = 0;
    const char *p = t;
    while (*p == ' ')
        p++;
    if (*p < '0' || *p > '9')
        return 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (SIZE_MAX - 9) / 10)
            return SIZE_MAX;
        v = v * 10 + (size_t)(*p - '0');
    }
    return v;
}

void dmsec_sess_read_limits(dmsec_session_t *s, const dmsec_msg_t *m)
{
    const dmsec_meta_t *meta = m->hdr.meta;
    if (!meta)
        return;
    size_t msg = parse_size(dmsec_meta_str(meta, DMSEC_MI_MAXMSGSIZE));
    size_t obj = parse_size(dmsec_meta_str(meta, DMSEC_MI_MAXOBJSIZE));
    if (msg)
        s->m.peer_max_msg = msg < MIN_MAX_MSG ? MIN_MAX_MSG : msg;
    if (obj)
        s->m.peer_max_obj = obj;
}

int dmsec_sess_write_limits(dmsec_session_t *s, dmsec_msg_t *r)
{
    char v[24];
    snprintf(v, sizeof v, "%zu", s->max_msg_size);
    if (!dmsec_meta_add(r, &r->hdr.meta, DMSEC_MI_MAXMSGSIZE, v))
        return DMSEC_ERR_NO_MEMORY;
    snprintf(v, sizeof v, "%zu", s->max_obj_size);
    return dmsec_meta_add(r, &r->hdr.meta, DMSEC_MI_MAXOBJSIZE, v) ? DMSEC_OK : DMSEC_ERR_NO_MEMORY;
}

/* The largest message we may send. */
static size_t msg_limit(const dmsec_session_t *s)
{
    size_t lim = s->max_msg_size;
    if (s->m.peer_max_msg && s->m.peer_max_msg < lim)
        lim = s->m.peer_max_msg;
    return lim;
}

/* ---- sizes ---- */

static size_t esc_len(uint8_t b)
{
    switch (b) {
    case '&':
        return 5;
    case '<':
    case '>':
        return 4;
    case '"':
    case '\'':
        return 6;
    default:
        return 1;
    }
}

static size_t str_cost(const char *t)
{
    size_t n = 0;
    for (; t && *t; t++)
        n += esc_len((uint8_t)*t);
    return n;
}

/* A command's size without its Data. */
static size_t head_cost(const struct qcmd *q)
{
    return CMD_OVERHEAD + 2 * str_cost(q->target) + 2 * str_cost(q->source) + str_cost(q->format) +
           str_cost(q->mime) + str_cost(q->correlator) + str_cost(q->msg_ref) +
           str_cost(q->cmd_ref);
}

/* How many bytes of data from off fit in room, stopping short of a UTF-8
 * sequence's middle for text. */
static size_t chunk_fit(const struct qcmd *q, size_t off, size_t room, int b64)
{
    if (b64) {
        size_t n = room / 4 * 3, rest = q->data_len - off;
        return n < rest ? n : rest;
    }
    size_t used = 0, n = 0;
    while (off + n < q->data_len) {
        size_t c = esc_len(q->data[off + n]);
        if (used + c > room)
            break;
        used += c;
        n++;
    }
    int ascii = q->format && !strcmp(q->format, "b64");
    if (!ascii && off + n < q->data_len) {
        while (n && (q->data[off + n] & 0xC0) == 0x80)
            n--;
    }
    return n;
}

static size_t data_cost(const struct qcmd *q, int b64)
{
    if (b64)
        return (q->data_len + 2) / 3 * 4;
    size_t n = 0;
    for (size_t i = 0; i < q->data_len; i++)
        n += esc_len(q->data[i]);
    return n;
}

static int msg_len(const dmsec_session_t *s, const dmsec_msg_t *r, size_t *len)
{
    uint8_t *buf = NULL;
    int rc = dmsec_msg_encode(s->m.codec, r, &buf, len);
    free(buf);
    return rc;
}

/* ---- building our commands ---- */

static int is_opaque_format(const char *f)
{
    return f && !strcmp(f, "bin");
}

/* A binary value in XML that is not XML text goes as base64 text with
 * Format b64 (a CDATA section holds text only); in chunks of whole 3-byte groups, so the chunks'
 * base64 texts join into the whole value's. */
static int as_b64(const dmsec_session_t *s, const struct qcmd *q)
{
    return s->m.codec == DMSEC_CODEC_XML && q->has_data &&
           (is_opaque_format(q->format) || q->type == DMSEC_CMD_RESULTS) &&
           (memchr(q->data, 0, q->data_len) || utf8_check(q->data, q->data_len, 1));
}

/* OPAQUE (CDATA in XML) for bin, and in WBXML for a value read from the
 * tree that holds bytes an inline string cannot (a NUL). */
static int as_opaque(const dmsec_session_t *s, const struct qcmd *q)
{
    return q->has_data && (is_opaque_format(q->format) ||
                           (s->m.codec == DMSEC_CODEC_WBXML && q->type == DMSEC_CMD_RESULTS &&
                            memchr(q->data, 0, q->data_len)));
}

/* Text Data the codec can write: no NUL, and in XML only XML text. A
 * value that is neither (a chr value of raw bytes) cannot be sent at all. */
static int unsendable(const dmsec_session_t *s, const struct qcmd *q)
{
    if (!q->has_data || !q->data_len || is_opaque_format(q->format) || q->type == DMSEC_CMD_RESULTS)
        return 0;
    return memchr(q->data, 0, q->data_len) != NULL ||
           (s->m.codec == DMSEC_CODEC_XML && utf8_check(q->data, q->data_len, 1) != 0);
}

static size_t b64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Adds the Item of q (with data[off, off+n), MoreData when more follows)
 * to c. */
static int add_item(dmsec_msg_t *r, dmsec_cmd_t *c, struct qcmd *q, size_t off, size_t n, int more,
                    int results, int b64, int opaque)
{
    dmsec_item_t *it =
        results ? dmsec_cmd_add_item(r, c, NULL, q->source)
                : dmsec_cmd_add_item(r, c, q->target, q->type == DMSEC_CMD_COPY ? q->source : NULL);
    if (!it)
        return DMSEC_ERR_NO_MEMORY;
    if (q->type == DMSEC_CMD_ALERT) {
        /* A Generic Alert: Source names the management object, Target the
         * optional recipient. */
        it->target = q->target ? dmsec_msg_loc(r, q->target, NULL) : NULL;
        it->source = q->source ? dmsec_msg_loc(r, q->source, NULL) : NULL;
        if ((q->target && !it->target) || (q->source && !it->source))
            return DMSEC_ERR_NO_MEMORY;
    }
    const char *format = b64 ? "b64" : q->format;
    if (format && format[0] && !dmsec_meta_add(r, &it->meta, DMSEC_MI_FORMAT, format))
        return DMSEC_ERR_NO_MEMORY;
    if (q->mime && q->mime[0] && !dmsec_meta_add(r, &it->meta, DMSEC_MI_TYPE, q->mime))
        return DMSEC_ERR_NO_MEMORY;
    if (q->has_data) {
        if (off == 0 && (more || n < q->data_len)) {
            char size[24];
            snprintf(size, sizeof size, "%zu", b64 ? b64_len(q->data_len) : q->data_len);
            if (!dmsec_meta_add(r, &it->meta, DMSEC_MI_SIZE, size))
                return DMSEC_ERR_NO_MEMORY;
        }
        if (b64) {
            size_t cap = b64_len(n) + 1, len = 0;
            char *text = malloc(cap);
            if (!text)
                return DMSEC_ERR_NO_MEMORY;
            int rc = dmsec_b64_encode(q->data + off, n, text, cap, &len);
            it->data = rc ? NULL : dmsec_msg_data(r, text, len, 0);
            free(text);
        } else {
            it->data = dmsec_msg_data(r, n ? (const char *)q->data + off : "", n, opaque);
        }
        if (!it->data)
            return DMSEC_ERR_NO_MEMORY;
    }
    it->more_data = more;
    return DMSEC_OK;
}

/* Adds one entry (not a group) as a command of r (under parent). */
static dmsec_cmd_t *add_entry(dmsec_session_t *s, dmsec_msg_t *r, dmsec_cmd_t *parent,
                              struct qcmd *q, size_t n, int more)
{
    int results = q->type == DMSEC_CMD_RESULTS;
    dmsec_cmd_t *c = dmsec_msg_add_cmd(r, parent, q->type);
    if (!c)
        return NULL;
    if (results) {
        c->msg_ref = dmsec_msg_strdup(r, q->msg_ref);
        c->cmd_ref = dmsec_msg_strdup(r, q->cmd_ref);
        if (!c->msg_ref || !c->cmd_ref)
            return NULL;
    }
    if (q->type == DMSEC_CMD_ALERT) {
        char code[8];
        snprintf(code, sizeof code, "%d", q->alert_code);
        if (!(c->data = dmsec_msg_data(r, code, strlen(code), 0)))
            return NULL;
    }
    if (q->correlator && q->correlator[0] &&
        (q->type == DMSEC_CMD_EXEC || q->type == DMSEC_CMD_ALERT) &&
        !(c->correlator = dmsec_msg_strdup(r, q->correlator)))
        return NULL;
    if (add_item(r, c, q, q->lo_off, n, more, results, as_b64(s, q), as_opaque(s, q)))
        return NULL;
    dmsec_sess_copy_str(q->cmd_id, sizeof q->cmd_id, c->cmd_id);
    snprintf(q->msg_id, sizeof q->msg_id, "%u", s->m.out_msg_id);
    return c;
}

static void sent_event(dmsec_session_t *s, const struct qcmd *q)
{
    if (q->is_secret == SECRET_SRV && s->m.have_pending_secret)
        dmsec_sess_event(s, DMSEC_EV_SECRET_PENDING, 0, s->m.pending_secret,
                         strlen((const char *)s->m.pending_secret));
    if (q->is_secret == SECRET_CLIENT && s->m.have_pending_client)
        dmsec_sess_event(s, DMSEC_EV_CLIENT_SECRET_PENDING, 0, s->m.pending_client_secret,
                         strlen((const char *)s->m.pending_client_secret));
    if (s->role != DMSEC_ROLE_SERVER || q->internal)
        return;
    dmsec_event_t *e = dmsec_sess_event(s, DMSEC_EV_CMD_SENT, 0, NULL, 0);
    if (e)
        e->tag = q->tag;
}

static void done_event(dmsec_session_t *s, const struct qcmd *q, int status,
                       const dmsec_item_t *res, const uint8_t *lo, size_t lo_len)
{
    if (q->internal && s->role == DMSEC_ROLE_SERVER)
        return;
    if (q->type == DMSEC_CMD_RESULTS)
        return;
    dmsec_event_t *e = dmsec_sess_event(s, DMSEC_EV_CMD_DONE, 0, NULL, 0);
    if (!e)
        return;
    e->tag = q->tag;
    e->status = status;
    if (res) {
        e->uri = res->source && res->source->uri ? res->source->uri : NULL;
        e->format = res->meta ? dmsec_meta_str(res->meta, DMSEC_MI_FORMAT) : NULL;
        e->mime = res->meta ? dmsec_meta_str(res->meta, DMSEC_MI_TYPE) : NULL;
        if (lo) {
            e->data = lo;
            e->data_len = lo_len;
            e->has_data = 1;
        } else if (res->data) {
            e->data = (const uint8_t *)res->data->bytes;
            e->data_len = res->data->len;
            e->has_data = 1;
        }
    }
}

int dmsec_sess_fill(dmsec_session_t *s, dmsec_msg_t *r, int *sent)
{
    *sent = 0;
    size_t base = 0;
    int rc = msg_len(s, r, &base);
    if (rc)
        return rc;
    size_t limit = msg_limit(s);
    size_t used = base + MSG_SLACK;
    /* What a later message leaves for our commands: its header and the
     * two Statuses it carries at least (SyncHdr, an Alert 1222). A
     * command that does not fit this message but fits there waits; only
     * one that fits no message is refused (413). */
    size_t bare = 0;
    dmsec_cmd_t *body = r->body.cmds;
    r->body.cmds = NULL;
    rc = msg_len(s, r, &bare);
    r->body.cmds = body;
    if (rc)
        return rc;
    bare += MSG_SLACK + 2 * CMD_OVERHEAD;
    size_t cap = bare < limit ? limit - bare : 0;
    for (size_t i = 0; i < s->m.n_q; i++) {
        struct qcmd *q = &s->q[i];
        if (q->removed || q->sent || q->member)
            continue;
        size_t room = used < limit ? limit - used : 0;
        if (q->n_members) {
            /* A group goes whole, in one message. */
            int bad = 0;
            for (size_t k = 1; k <= q->n_members && i + k < s->m.n_q; k++)
                bad |= unsendable(s, &s->q[i + k]);
            if (bad) {
                for (size_t k = 0; k <= q->n_members && i + k < s->m.n_q; k++) {
                    done_event(s, &s->q[i + k], 415, NULL, NULL, 0);
                    s->q[i + k].removed = 1;
                }
                continue;
            }
            size_t cost = CMD_OVERHEAD;
            for (size_t k = 1; k <= q->n_members && i + k < s->m.n_q; k++)
                cost += head_cost(&s->q[i + k]) + data_cost(&s->q[i + k], as_b64(s, &s->q[i + k]));
            if (cost > cap && cost > room) {
                /* It will never fit: reported, not sent. */
                done_event(s, q, 413, NULL, NULL, 0);
                for (size_t k = 0; k <= q->n_members && i + k < s->m.n_q; k++) {
                    if (k)
                        done_event(s, &s->q[i + k], 413, NULL, NULL, 0);
                    s->q[i + k].removed = 1;
                }
                continue;
            }
            if (cost > room)
                break; /* the next message */
            dmsec_cmd_t *g = dmsec_msg_add_cmd(r, NULL, q->type);
            if (!g)
                return DMSEC_ERR_NO_MEMORY;
            dmsec_sess_copy_str(q->cmd_id, sizeof q->cmd_id, g->cmd_id);
            snprintf(q->msg_id, sizeof q->msg_id, "%u", s->m.out_msg_id);
            q->sent = 1;
            sent_event(s, q);
            for (size_t k = 1; k <= q->n_members && i + k < s->m.n_q; k++) {
                struct qcmd *mq = &s->q[i + k];
                if (!add_entry(s, r, g, mq, mq->data_len, 0))
                    return DMSEC_ERR_NO_MEMORY;
                mq->sent = 1;
                sent_event(s, mq);
            }
            used += cost;
            (*sent)++;
            continue;
        }
        if (q->lo_off == 0 && unsendable(s, q)) {
            /* Bytes the codec cannot write as this Format: refused, not
             * sent (the message would fail, and with it the session). */
            done_event(s, q, 415, NULL, NULL, 0);
            q->removed = 1;
            continue;
        }
        if (q->has_data && s->m.peer_max_obj && q->data_len > s->m.peer_max_obj &&
            q->type != DMSEC_CMD_RESULTS && q->lo_off == 0) {
            /* Larger than the peer takes at all. */
            done_event(s, q, 413, NULL, NULL, 0);
            q->removed = 1;
            continue;
        }
        size_t head = head_cost(q) + 64; /* Size, MoreData */
        size_t rest = q->has_data ? q->data_len - q->lo_off : 0;
        size_t rest_cost = 0, k = q->lo_off;
        int b64 = as_b64(s, q);
        if (b64) {
            rest_cost = b64_len(rest);
            k = q->data_len;
        }
        for (; k < q->data_len && head + rest_cost <= room; k++)
            rest_cost += esc_len(q->data[k]);
        if (k == q->data_len && head + rest_cost <= room) {
            /* The whole (rest of the) command fits. */
            if (q->lo_off == 0)
                sent_event(s, q);
            if (!add_entry(s, r, NULL, q, rest, 0))
                return DMSEC_ERR_NO_MEMORY;
            q->lo_off = q->data_len;
            q->sent = 1;
            if (q->type == DMSEC_CMD_RESULTS)
                q->removed = 1; /* nothing answers Results */
            used += head + rest_cost;
            (*sent)++;
            continue;
        }
        if (!q->has_data || room < head + MIN_CHUNK) {
            size_t need = head;
            if (q->has_data) {
                size_t d = data_cost(q, b64);
                need += d < MIN_CHUNK ? d : MIN_CHUNK;
            }
            if (room >= head + MIN_CHUNK || need <= cap)
                break;
            /* Not even a message with nothing else has room: the peer's
             * limit is too small for this command. */
            done_event(s, q, 413, NULL, NULL, 0);
            q->removed = 1;
            continue;
        }
        /* A Large Object: this message carries one chunk, and ends. */
        size_t n = chunk_fit(q, q->lo_off, room - head, b64);
        if (!n)
            break;
        if (q->lo_off == 0)
            sent_event(s, q);
        if (!add_entry(s, r, NULL, q, n, 1))
            return DMSEC_ERR_NO_MEMORY;
        q->lo_off += n;
        (*sent)++;
        break;
    }
    s->m.out_final = !dmsec_sess_q_unsent(s);
    return DMSEC_OK;
}

/* ---- matching answers to our commands ---- */

static struct qcmd *find_sent(dmsec_session_t *s, const dmsec_cmd_t *c, size_t *idx)
{
    if (!c->cmd_ref)
        return NULL;
    for (size_t i = 0; i < s->m.n_q; i++) {
        struct qcmd *q = &s->q[i];
        if (q->removed || (!q->sent && !q->lo_off) || strcmp(q->cmd_id, c->cmd_ref) != 0)
            continue;
        if (c->msg_ref && strcmp(q->msg_id, c->msg_ref) != 0)
            continue;
        *idx = i;
        return q;
    }
    return NULL;
}

static int has_prefix(const char *s, const char *p)
{
    return s && !strncmp(s, p, strlen(p));
}

static void inventory_event(dmsec_session_t *s, const dmsec_item_t *it, const char *uri)
{
    if (!uri || !it->data || it->more_data ||
        !(has_prefix(uri, "./DevInfo/") || has_prefix(uri, "./DevDetail/")))
        return;
    const char *fmt = it->meta ? dmsec_meta_str(it->meta, DMSEC_MI_FORMAT) : NULL;
    if (fmt && !strcmp(fmt, "node"))
        return;
    dmsec_event_t *e = dmsec_sess_event(s, DMSEC_EV_INVENTORY, 0, NULL, 0);
    if (!e)
        return;
    e->uri = uri;
    e->format = fmt;
    e->data = (const uint8_t *)it->data->bytes;
    e->data_len = it->data->len;
    e->has_data = 1;
}

/* Appends one chunk of an incoming Large Object; 0, or the Status code
 * that refuses it (413 too large, 424 size mismatch). *whole is set when
 * this was the last chunk. */
static int lo_take(dmsec_session_t *s, const dmsec_item_t *it, const char *uri, int64_t tag,
                   int *whole)
{
    *whole = 0;
    const dmsec_data_t *d = it->data;
    size_t n = d ? d->len : 0;
    if (!s->m.lo_in) {
        const char *sz = it->meta ? dmsec_meta_str(it->meta, DMSEC_MI_SIZE) : NULL;
        s->m.lo_in = 1;
        s->m.lo_len = 0;
        s->m.lo_size = parse_size(sz);
        s->m.lo_tag = tag;
        dmsec_sess_copy_str(s->m.lo_uri, sizeof s->m.lo_uri, uri);
        const char *f = it->meta ? dmsec_meta_str(it->meta, DMSEC_MI_FORMAT) : NULL;
        const char *t = it->meta ? dmsec_meta_str(it->meta, DMSEC_MI_TYPE) : NULL;
        dmsec_sess_copy_str(s->m.lo_format, sizeof s->m.lo_format, f);
        dmsec_sess_copy_str(s->m.lo_mime, sizeof s->m.lo_mime, t);
        if (s->m.lo_size > s->max_obj_size) {
            s->m.lo_in = 0;
            return 413;
        }
    }
    if (s->m.lo_len + n > s->max_obj_size || (s->m.lo_size && s->m.lo_len + n > s->m.lo_size)) {
        s->m.lo_in = 0;
        return s->m.lo_len + n > s->max_obj_size ? 413 : 424;
    }
    if (s->m.lo_len + n + 1 > s->lo_cap) {
        size_t cap = s->lo_cap ? s->lo_cap : 65536;
        while (cap < s->m.lo_len + n + 1)
            cap *= 2;
        uint8_t *grown = malloc(cap);
        if (!grown)
            return 500;
        if (s->lo_buf) {
            memcpy(grown, s->lo_buf, s->lo_cap);
            dm_wipe(s->lo_buf, s->lo_cap);
            free(s->lo_buf);
        }
        s->lo_buf = grown;
        s->lo_cap = cap;
    }
    if (n)
        memcpy(s->lo_buf + s->m.lo_len, d->bytes, n);
    s->m.lo_len += n;
    s->lo_buf[s->m.lo_len] = 0;
    if (it->more_data)
        return 0;
    s->m.lo_in = 0;
    if (s->m.lo_size && s->m.lo_len != s->m.lo_size)
        return 424;
    *whole = 1;
    return 0;
}

static int add_alert(dmsec_msg_t *r, const char *code)
{
    dmsec_cmd_t *a = dmsec_msg_add_cmd(r, NULL, DMSEC_CMD_ALERT);
    return a && (a->data = dmsec_msg_data(r, code, strlen(code), 0)) ? DMSEC_OK
                                                                     : DMSEC_ERR_NO_MEMORY;
}

static int is_hdr_status(const dmsec_cmd_t *c)
{
    return c->type == DMSEC_CMD_STATUS && c->cmd && !strcmp(c->cmd, "SyncHdr") &&
           (c->cmd_ref ? !strcmp(c->cmd_ref, "0") : c->msg_ref != NULL);
}

static int alert_code(const dmsec_cmd_t *c)
{
    return c->data ? (int)strtol(c->data->bytes, NULL, 10) : 0;
}

/* Server: a Status on one of our commands. */
static void take_status(dmsec_session_t *s, const dmsec_cmd_t *c, const dmsec_item_t **res)
{
    size_t i = 0;
    struct qcmd *q = find_sent(s, c, &i);
    if (!q)
        return;
    int code = dmsec_status_code(c);
    if (code == 213)
        return; /* a chunk of ours taken: the next one follows */
    if (code == 401 || code == 407) {
        /* refused while we were not authenticated: it goes again */
        q->sent = 0;
        q->lo_off = 0;
        return;
    }
    if (q->is_secret == SECRET_SRV && code >= 200 && code < 300 && s->m.have_pending_secret) {
        size_t n = strlen((const char *)s->m.pending_secret);
        memcpy(s->m.acc.out_secret, s->m.pending_secret, n);
        s->m.acc.out_secret_len = n;
        dmsec_prehash_t ph;
        if (!dmsec_prehash_compute(s->m.acc.out_name, s->m.acc.out_secret, n, &ph))
            s->m.acc.out_prehash = ph;
        dmsec_prehash_wipe(&ph);
        dmsec_event_t *e = dmsec_sess_event(s, DMSEC_EV_SECRET_ROTATED, 0, s->m.pending_secret, n);
        if (e)
            e->status = code;
        dm_wipe(s->m.pending_secret, sizeof s->m.pending_secret);
        s->m.have_pending_secret = 0;
    }
    if (q->is_secret == SECRET_CLIENT && code >= 200 && code < 300 && s->m.have_pending_client) {
        /* Stored for the device's next session; this one goes on with the
         * credential the device still uses in it. */
        dmsec_event_t *e =
            dmsec_sess_event(s, DMSEC_EV_CLIENT_SECRET_ROTATED, 0, s->m.pending_client_secret,
                             strlen((const char *)s->m.pending_client_secret));
        if (e)
            e->status = code;
        dm_wipe(s->m.pending_client_secret, sizeof s->m.pending_client_secret);
        s->m.have_pending_client = 0;
    }
    if (s->m.lo_in && s->m.lo_tag == (int64_t)i + 1) {
        q->done_status = code; /* its Results are still coming */
        return;
    }
    if (q->type == DMSEC_CMD_GET && code >= 200 && code < 300 && code != 215 && code != 216 &&
        !(res && res[i]) && !q->internal) {
        /* Its Results come in a later message (queued behind a Large
         * Object of the device); none come for a Get not executed (215)
         * or rolled back (216) in an Atomic. */
        q->done_status = code;
        return;
    }
    done_event(s, q, code, res ? res[i] : NULL, NULL, 0);
    q->removed = 1;
    if (q->n_members && code >= 300) {
        /* Members the device did not answer were not executed. */
        for (size_t k = 1; k <= q->n_members && i + k < s->m.n_q; k++) {
            struct qcmd *mq = &s->q[i + k];
            int answered = 0;
            for (const dmsec_cmd_t *o = c->next; o && !answered; o = o->next)
                answered =
                    o->type == DMSEC_CMD_STATUS && o->cmd_ref && !strcmp(o->cmd_ref, mq->cmd_id);
            if (!answered && !mq->removed) {
                done_event(s, mq, 215, NULL, NULL, 0);
                mq->removed = 1;
            }
        }
    }
}

/* Server: Results on one of our Gets: kept for its Status, or a chunk of
 * a Large Object. *status gets a refusal of the chunk (0, 213, 413, 424). */
static int take_results(dmsec_session_t *s, const dmsec_cmd_t *c, const dmsec_item_t **res,
                        int *status)
{
    *status = 0;
    size_t i = 0;
    struct qcmd *q = find_sent(s, c, &i);
    for (const dmsec_item_t *it = c->items; it; it = it->next) {
        const char *uri = it->source && it->source->uri ? it->source->uri : NULL;
        int lo_mine = s->m.lo_in && q && s->m.lo_tag == (int64_t)i + 1;
        if (!q || (!it->more_data && !lo_mine)) {
            inventory_event(s, it, uri);
            if (q && q->done_status > 0 && !q->removed) {
                /* its Status came before */
                done_event(s, q, q->done_status, it, NULL, 0);
                q->removed = 1;
            } else if (q && res && !res[i]) {
                res[i] = it;
            }
            continue;
        }
        int whole = 0;
        int code = lo_take(s, it, uri, (int64_t)i + 1, &whole);
        if (code) {
            *status = code;
            if (q->done_status || !it->more_data) {
                done_event(s, q, code, NULL, NULL, 0);
                q->removed = 1;
            } else {
                q->done_status = code; /* its Status records the refusal */
            }
            continue;
        }
        if (it->more_data) {
            *status = 213;
            continue;
        }
        if (whole) {
            /* The whole object: its command is answered when its Status
             * came already, else when it comes (res keeps the item). */
            if (q->done_status) {
                done_event(s, q, q->done_status, it, s->lo_buf, s->m.lo_len);
                q->removed = 1;
            } else if (res) {
                res[i] = it;
                q->done_status = -1; /* marks: the data is in lo_buf */
            }
        }
    }
    return DMSEC_OK;
}

int dmsec_sess_server_take(dmsec_session_t *s, const dmsec_msg_t *m, dmsec_msg_t *r)
{
    const dmsec_item_t **res = NULL;
    if (s->m.n_q && !(res = calloc(s->m.n_q, sizeof(const dmsec_item_t *))))
        return DMSEC_ERR_NO_MEMORY;
    int rc = DMSEC_OK;
    /* Results first: a Status may precede the Results it goes with. */
    for (const dmsec_cmd_t *c = m->body.cmds; c && !rc; c = c->next) {
        if (c->type != DMSEC_CMD_RESULTS)
            continue;
        int st = 0;
        rc = take_results(s, c, res, &st);
        if (!rc && st && !dmsec_sess_status_for(s, r, c, st))
            rc = DMSEC_ERR_NO_MEMORY;
        if (s->cb.on_client_cmd)
            s->cb.on_client_cmd(s->cb_ctx, c);
    }
    for (const dmsec_cmd_t *c = m->body.cmds; c && !rc; c = c->next) {
        if (c->type == DMSEC_CMD_RESULTS || is_hdr_status(c))
            continue;
        if (c->type == DMSEC_CMD_STATUS) {
            size_t i = 0;
            struct qcmd *q = find_sent(s, c, &i);
            if (q && q->done_status == -1 && res && res[i]) {
                /* its Large Object came whole before */
                done_event(s, q, dmsec_status_code(c), res[i], s->lo_buf, s->m.lo_len);
                q->removed = 1;
            } else {
                take_status(s, c, res);
            }
        } else {
            int code = 200;
            if (c->type == DMSEC_CMD_ALERT) {
                int a = alert_code(c);
                if (a == 1226 || a == 1224) {
                    for (const dmsec_item_t *it = c->items; it; it = it->next) {
                        dmsec_event_t *e = dmsec_sess_event(s, DMSEC_EV_ALERT, 0, NULL, 0);
                        if (!e)
                            break;
                        e->status = a;
                        e->uri = it->source && it->source->uri ? it->source->uri : NULL;
                        e->text = it->meta ? dmsec_meta_str(it->meta, DMSEC_MI_TYPE) : NULL;
                        e->format = it->meta ? dmsec_meta_str(it->meta, DMSEC_MI_FORMAT) : NULL;
                        e->correlator = c->correlator;
                        if (it->data) {
                            e->data = (const uint8_t *)it->data->bytes;
                            e->data_len = it->data->len;
                            e->has_data = 1;
                        }
                    }
                }
            } else if (c->type == DMSEC_CMD_REPLACE || c->type == DMSEC_CMD_ADD) {
                /* DevInfo in package #1 */
                for (const dmsec_item_t *it = c->items; it; it = it->next) {
                    const char *uri = it->target && it->target->uri   ? it->target->uri
                                      : it->source && it->source->uri ? it->source->uri
                                                                      : NULL;
                    inventory_event(s, it, uri);
                }
            }
            if (!dmsec_sess_status_for(s, r, c, code))
                rc = DMSEC_ERR_NO_MEMORY;
        }
        if (s->cb.on_client_cmd)
            s->cb.on_client_cmd(s->cb_ctx, c);
    }
    free(res);
    if (!rc && !m->body.final) {
        /* The client's package goes on: ask for its next message. */
        rc = add_alert(r, "1222");
        s->m.peer_more = 1;
    } else {
        s->m.peer_more = 0;
    }
    return rc;
}

/* The server needs the device's answer: its verdict on our Cred (with
 * the nonce for our next one), which a device sends only with answers to
 * commands. */
static int needs_answer(const dmsec_session_t *s)
{
    /* (or which of two secrets the device holds: a rotation of ours is
     * unconfirmed) */
    return !s->m.self_authed &&
           (!s->transport_secure || s->m.resync || s->m.acc.out_secret_pending_len);
}

int dmsec_sess_server_send(dmsec_session_t *s, dmsec_msg_t *r, int *sent)
{
    *sent = 0;
    if (s->m.peer_more) {
        *sent = 1; /* the Alert 1222 */
        return DMSEC_OK;
    }
    /* The session's last message: its commands wait for the next session
     * (they were not sent; a Large Object begun goes again whole), and
     * this one ends as a success instead of at the message limit. */
    if (s->m.in_count + 1 >= s->max_messages)
        return DMSEC_OK;
    int rc;
    if (!dmsec_sess_q_unsent(s) && s->cb.pending_cmds && (rc = s->cb.pending_cmds(s->cb_ctx, s)))
        return rc;
    if ((rc = dmsec_sess_fill(s, r, sent)))
        return rc;
    if (*sent || s->m.asked_answer || !needs_answer(s) || !s->answer_gets[0])
        return DMSEC_OK;
    dmsec_cmd_t *g = dmsec_msg_add_cmd(r, NULL, DMSEC_CMD_GET);
    if (!g)
        return DMSEC_ERR_NO_MEMORY;
    for (size_t i = 0; s->answer_gets[i]; i++) {
        if (!dmsec_cmd_add_item(r, g, s->answer_gets[i], NULL))
            return DMSEC_ERR_NO_MEMORY;
    }
    s->m.asked_answer = 1;
    *sent = 1;
    return DMSEC_OK;
}

/* ---- the client ---- */

/* Client: a Replace of our CLCRED AAuthSecret gives us our next secret.
 * Not used in this session: the server checks it on the old one until it
 * has our Status. */
static void maybe_rotate_out_secret(dmsec_session_t *s, const dmsec_cmd_t *c,
                                    const dmsec_item_t *it)
{
    if (c->type != DMSEC_CMD_REPLACE || !s->m.acc.clcred_path[0] || !it->target ||
        !it->target->uri || !it->data || !it->data->len)
        return;
    char path[DMSEC_NAME_MAX + 16];
    snprintf(path, sizeof path, "%s/AAuthSecret", s->m.acc.clcred_path);
    if (strcmp(it->target->uri, path) != 0 || it->data->len > DMSEC_SECRET_MAX)
        return;
    dmsec_sess_event(s, DMSEC_EV_CLIENT_SECRET_ROTATED, 0, (const uint8_t *)it->data->bytes,
                     it->data->len);
}

/* Client: a Replace of our SRVCRED AAuthSecret rotates the server's secret. */
static void maybe_rotate_in_secret(dmsec_session_t *s, const dmsec_cmd_t *c, const dmsec_item_t *it)
{
    maybe_rotate_out_secret(s, c, it);
    if (c->type != DMSEC_CMD_REPLACE || !s->m.acc.srvcred_path[0] || !it->target ||
        !it->target->uri || !it->data)
        return;
    char path[DMSEC_NAME_MAX + 16];
    snprintf(path, sizeof path, "%s/AAuthSecret", s->m.acc.srvcred_path);
    if (strcmp(it->target->uri, path) != 0 || it->data->len > DMSEC_SECRET_MAX)
        return;
    memcpy(s->m.acc.in_secret, it->data->bytes, it->data->len);
    s->m.acc.in_secret_len = it->data->len;
    dmsec_prehash_t ph;
    if (dmsec_prehash_compute(s->m.acc.in_name, s->m.acc.in_secret, s->m.acc.in_secret_len, &ph) ==
        0)
        s->m.acc.in_prehash = ph;
    dmsec_prehash_wipe(&ph);
    dmsec_sess_event(s, DMSEC_EV_SECRET_ROTATED, 0, s->m.acc.in_secret, s->m.acc.in_secret_len);
}

/* Queues the Results of a Get item (taking res->data). */
static int queue_results(dmsec_session_t *s, const dmsec_cmd_t *c, const char *uri,
                         dmsec_tree_result_t *res)
{
    struct qcmd *q = dmsec_sess_q_push(s);
    if (!q)
        return DMSEC_ERR_SESSION_LIMIT;
    s->m.n_q++;
    int fail = 0;
    q->type = DMSEC_CMD_RESULTS;
    q->internal = 1;
    q->source = dup_opt(uri, &fail);
    q->format = res->format[0] ? dup_opt(res->format, &fail) : NULL;
    q->mime = res->type[0] ? dup_opt(res->type, &fail) : NULL;
    dmsec_sess_copy_str(q->msg_ref, sizeof q->msg_ref, s->m.peer_msg_id);
    dmsec_sess_copy_str(q->cmd_ref, sizeof q->cmd_ref, c->cmd_id ? c->cmd_id : "0");
    q->has_data = 1;
    if (res->data) {
        q->data = (uint8_t *)res->data;
        q->data_len = res->data_len;
        res->data = NULL;
    } else {
        q->data = calloc(1, 1);
        fail |= !q->data;
    }
    return fail ? DMSEC_ERR_NO_MEMORY : DMSEC_OK;
}

/* One Item of a tree command; its Status code. */
static int run_item(dmsec_session_t *s, const dmsec_cmd_t *c, const dmsec_item_t *it, int *code)
{
    dmsec_tree_result_t res;
    memset(&res, 0, sizeof res);
    res.status = 500;
    int rc = s->cb.tree_exec ? s->cb.tree_exec(s->cb_ctx, s->server_id, c, it, &res)
                             : DMSEC_ERR_INVALID_ARG;
    if (rc && res.status < 300)
        res.status = 500;
    if (!s->cb.tree_exec)
        res.status = 406;
    /* A failure wins; a success other than 200 (an Exec handler's 202
     * accepted) is kept over 200. */
    if ((res.status >= 300 && *code < 300) || (res.status > 200 && *code == 200))
        *code = res.status;
    if (res.status < 300)
        maybe_rotate_in_secret(s, c, it);
    int qrc = DMSEC_OK;
    if (c->type == DMSEC_CMD_GET && res.status < 300) {
        const char *uri = it->target && it->target->uri ? it->target->uri : "";
        qrc = queue_results(s, c, uri, &res);
    }
    free(res.data);
    return qrc;
}

static int run_server_cmd(dmsec_session_t *s, dmsec_msg_t *r, const dmsec_cmd_t *c, int depth);

/* Sequence: its Status, then its members' in order. */
static int run_group(dmsec_session_t *s, dmsec_msg_t *r, const dmsec_cmd_t *c, int depth)
{
    if (!dmsec_sess_status_for(s, r, c, depth < 1 ? 200 : 500))
        return DMSEC_ERR_NO_MEMORY;
    for (const dmsec_cmd_t *k = c->children; depth < 1 && k; k = k->next) {
        int rc = run_server_cmd(s, r, k, depth + 1);
        if (rc)
            return rc;
    }
    return DMSEC_OK;
}

static void set_code(dmsec_msg_t *r, dmsec_cmd_t *st, int code)
{
    char t[8];
    snprintf(t, sizeof t, "%d", code);
    dmsec_data_t *d = dmsec_msg_data(r, t, strlen(t), 0);
    if (d)
        st->data = d;
}

/* Atomic: every member or none. The members run on the tree between
 * DMSEC_ATOMIC_BEGIN and COMMIT; the first failure rolls them all back:
 * the Atomic answers 507 and each member that had succeeded 216. */
static int run_atomic(dmsec_session_t *s, dmsec_msg_t *r, const dmsec_cmd_t *c, int depth)
{
    if (depth >= 1 || !s->cb.tree_atomic)
        return dmsec_sess_status_for(s, r, c, depth >= 1 ? 500 : 406) ? DMSEC_OK
                                                                      : DMSEC_ERR_NO_MEMORY;
    dmsec_cmd_t *st = dmsec_sess_status_for(s, r, c, 200);
    if (!st)
        return DMSEC_ERR_NO_MEMORY;
    if (s->cb.tree_atomic(s->cb_ctx, DMSEC_ATOMIC_BEGIN)) {
        set_code(r, st, 500);
        return DMSEC_OK;
    }
    size_t q_before = s->m.n_q;
    int failed = 0;
    for (const dmsec_cmd_t *k = c->children; k; k = k->next) {
        dmsec_cmd_t *last = st;
        while (last->next)
            last = last->next;
        int rc = run_server_cmd(s, r, k, depth + 1);
        if (rc)
            return rc;
        if (last->next && last->next->type == DMSEC_CMD_STATUS) {
            int code = dmsec_status_code(last->next);
            failed |= code >= 300;
        }
        if (failed)
            break;
    }
    if (!failed) {
        if (s->cb.tree_atomic(s->cb_ctx, DMSEC_ATOMIC_COMMIT))
            set_code(r, st, 500);
        return DMSEC_OK;
    }
    int undone = s->cb.tree_atomic(s->cb_ctx, DMSEC_ATOMIC_ROLLBACK) == 0;
    set_code(r, st, undone ? 507 : 516);
    /* The members' Statuses: those that had succeeded were rolled back,
     * those not reached were not executed; their Results are void. */
    for (dmsec_cmd_t *k = st->next; k; k = k->next) {
        if (k->type == DMSEC_CMD_STATUS && dmsec_status_code(k) < 300)
            set_code(r, k, undone ? 216 : 500);
    }
    for (const dmsec_cmd_t *k = c->children; k; k = k->next) {
        int answered = 0;
        for (dmsec_cmd_t *x = st->next; x && !answered; x = x->next)
            answered = x->type == DMSEC_CMD_STATUS && x->cmd_ref && k->cmd_id &&
                       !strcmp(x->cmd_ref, k->cmd_id);
        if (!answered && !dmsec_sess_status_for(s, r, k, 215))
            return DMSEC_ERR_NO_MEMORY;
    }
    for (size_t i = q_before; i < s->m.n_q; i++)
        s->q[i].removed = 1;
    return DMSEC_OK;
}

/* Client: runs one server command on the tree; its Status (Results are
 * queued and go after the Statuses). */
static int run_server_cmd(dmsec_session_t *s, dmsec_msg_t *r, const dmsec_cmd_t *c, int depth)
{
    if (!s->m.peer_authed)
        return dmsec_sess_status_for(s, r, c, 401) ? DMSEC_OK : DMSEC_ERR_NO_MEMORY;
    if (c->type == DMSEC_CMD_SEQUENCE)
        return run_group(s, r, c, depth);
    if (c->type == DMSEC_CMD_ATOMIC)
        return run_atomic(s, r, c, depth);
    if (c->type == DMSEC_CMD_ALERT)
        return dmsec_sess_status_for(s, r, c, 200) ? DMSEC_OK : DMSEC_ERR_NO_MEMORY;
    int code = 200;
    if (!c->items)
        code = 400; /* a tree command without an Item */
    for (const dmsec_item_t *it = c->items; it; it = it->next) {
        const char *uri = it->target && it->target->uri ? it->target->uri : "";
        int lo_here = s->m.lo_in && !strcmp(s->m.lo_uri, uri);
        if (!it->more_data && !lo_here) {
            int rc = run_item(s, c, it, &code);
            if (rc)
                return rc;
            continue;
        }
        /* A chunk of a Large Object: 213 until the last, which runs the
         * command on the whole value. */
        if (s->m.lo_in && !lo_here) {
            s->m.lo_in = 0; /* another object started: the first is dropped */
            code = 412;
        }
        int whole = 0;
        int st = lo_take(s, it, uri, 0, &whole);
        if (st) {
            code = st;
            continue;
        }
        if (it->more_data) {
            code = 213;
            continue;
        }
        if (whole) {
            dmsec_item_t full = *it;
            dmsec_data_t d = {.bytes = (char *)s->lo_buf,
                              .len = s->m.lo_len,
                              .opaque = it->data ? it->data->opaque : 0};
            full.data = &d;
            full.more_data = 0;
            full.meta = NULL; /* the Format and Type came with the first chunk */
            if ((s->m.lo_format[0] &&
                 !dmsec_meta_add(r, &full.meta, DMSEC_MI_FORMAT, s->m.lo_format)) ||
                (s->m.lo_mime[0] && !dmsec_meta_add(r, &full.meta, DMSEC_MI_TYPE, s->m.lo_mime)))
                return DMSEC_ERR_NO_MEMORY;
            int rc = run_item(s, c, &full, &code);
            if (rc)
                return rc;
        }
    }
    return dmsec_sess_status_for(s, r, c, code) ? DMSEC_OK : DMSEC_ERR_NO_MEMORY;
}

int dmsec_sess_client_run(dmsec_session_t *s, const dmsec_msg_t *m, dmsec_msg_t *r)
{
    int rc = DMSEC_OK;
    for (const dmsec_cmd_t *c = m->body.cmds; c && !rc; c = c->next) {
        if (c->type != DMSEC_CMD_STATUS && c->type != DMSEC_CMD_RESULTS)
            rc = run_server_cmd(s, r, c, 0);
    }
    int sent = 0;
    if (!rc)
        rc = dmsec_sess_fill(s, r, &sent);
    if (!rc && !m->body.final && !sent)
        rc = add_alert(r, "1222"); /* the server's package goes on */
    return rc;
}

int dmsec_sess_client_take(dmsec_session_t *s, const dmsec_msg_t *m)
{
    for (const dmsec_cmd_t *c = m->body.cmds; c; c = c->next) {
        if (c->type != DMSEC_CMD_STATUS || is_hdr_status(c))
            continue;
        size_t i = 0;
        struct qcmd *q = find_sent(s, c, &i);
        if (!q || q->type != DMSEC_CMD_ALERT)
            continue;
        int code = dmsec_status_code(c);
        if (code == 401 || code == 407) {
            q->sent = 0; /* with package #1 again */
            continue;
        }
        done_event(s, q, code, NULL, NULL, 0);
        q->removed = 1;
    }
    return DMSEC_OK;
}
