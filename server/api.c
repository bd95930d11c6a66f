/*
 * api.c - the management API of dmsec-server: a second libmicrohttpd
 * listener (--api-listen, 127.0.0.1:8081 by default), enabled by
 * --api-token-file, that speaks JSON (jansson) under /api/v1. Every request
 * carries `Authorization: Bearer <token>`; the token is compared in
 * constant time and never logged. The operations are described by
 * docs/openapi.json; they go through the same store functions as the
 * `dmsec` tool (store.h), with handles from the server's pool.
 *
 * Paths are not unescaped by libmicrohttpd (a device id may hold any
 * byte, '/' included, percent-encoded): each path segment and query value
 * is decoded here, and a bad escape is a 400.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "dmsec/codec.h"
#include "dmsec/dispatch.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "api.h"
#include "server.h"

#define API_PREFIX "/api/v1/"
#define API_TOKEN_MAX 4096
#define API_LIST_DEFAULT 100
#define API_LIST_MAX 1000
#define API_MAX_SEGS 4

static struct MHD_Daemon *api_daemon;
static const struct srv_config *api_cfg;
static unsigned char api_token_hash[32];

struct api_req {
    char *body;
    size_t len;
    size_t cap;
    int too_large;
};

/* ---- responses ---- */

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *j,
                                 const char *allow)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text)
        return MHD_NO;
    size_t n = strlen(text);
    struct MHD_Response *r = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"dmsec\"");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_err(struct MHD_Connection *c, unsigned status, const char *code,
                                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum MHD_Result send_err(struct MHD_Connection *c, unsigned status, const char *code,
                                const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *j = json_pack("{s:s, s:s}", "error", code, "message", msg);
    return send_json(c, status, j, NULL);
}

/* A store error as its HTTP answer. */
static enum MHD_Result send_store_err(struct MHD_Connection *c, int rc, const char *what)
{
    switch (rc) {
    case DMSEC_ERR_STORE_NOT_FOUND:
        return send_err(c, MHD_HTTP_NOT_FOUND, "not_found", "%s not found", what);
    case DMSEC_ERR_INVALID_ARG:
        return send_err(c, MHD_HTTP_BAD_REQUEST, "bad_request", "%s: invalid argument (%s)", what,
                        dmsec_strerror(rc));
    case DMSEC_ERR_TOO_LARGE:
        return send_err(c, MHD_HTTP_BAD_REQUEST, "too_large", "%s: value over %u bytes", what,
                        DMSEC_STORE_VALUE_MAX);
    case DMSEC_ERR_STORE_FULL:
        return send_err(c, MHD_HTTP_TOO_MANY_REQUESTS, "queue_full",
                        "%s: the device's queue is full (%d commands not finished)", what,
                        DMSEC_STORE_CMD_MAX_PENDING);
    case DMSEC_ERR_STORE_STATE:
        return send_err(c, MHD_HTTP_CONFLICT, "conflict", "%s: already finished", what);
    case DMSEC_ERR_STORE_BUSY:
        return send_err(c, MHD_HTTP_SERVICE_UNAVAILABLE, "busy", "%s: the store is busy", what);
    default:
        log_msg(LOG_ERROR, "api: %s: %s", what, dmsec_errname(rc));
        return send_err(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "%s: %s", what,
                        dmsec_errname(rc));
    }
}

/* ---- decoding ---- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes src[0..n) into dst (cap bytes, NUL-terminated); plus is
 * a space in a query value. 0, or -1 for a bad escape, a NUL byte or no
 * room. */
static int pct_decode(const char *src, size_t n, int plus, char *dst, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = src[i];
        if (ch == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexval(src[i + 1]);
            int lo = hexval(src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            ch = (char)(hi * 16 + lo);
            if (!ch)
                return -1;
            i += 2;
        } else if (ch == '+' && plus) {
            ch = ' ';
        }
        if (o + 1 >= cap)
            return -1;
        dst[o++] = ch;
    }
    dst[o] = '\0';
    return 0;
}

static size_t no_unescape(void *cls, struct MHD_Connection *c, char *uri)
{
    (void)cls;
    (void)c;
    return strlen(uri);
}

/* A query value, decoded; *out NULL when absent. -1 when malformed. */
static int query_str(struct MHD_Connection *c, const char *key, char *buf, size_t cap,
                     const char **out)
{
    *out = NULL;
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
    if (!v)
        return 0;
    if (pct_decode(v, strlen(v), 1, buf, cap))
        return -1;
    *out = buf;
    return 0;
}

/* A count from the query (def when absent); -1 when not a number in
 * [0, max]. */
static int query_count(struct MHD_Connection *c, const char *key, size_t def, size_t max,
                       size_t *out)
{
    char buf[32];
    const char *v = NULL;
    if (query_str(c, key, buf, sizeof buf, &v))
        return -1;
    if (!v) {
        *out = def;
        return 0;
    }
    if (!*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 12)
        return -1;
    unsigned long long n = strtoull(v, NULL, 10);
    if (n > max)
        return -1;
    *out = (size_t)n;
    return 0;
}

/* Text for a JSON string: UTF-8 without NUL. */
static int valid_utf8_text(const uint8_t *s, size_t n)
{
    return n == 0 || (!memchr(s, 0, n) && dmsec_utf8_valid(s, n));
}

/* Sets key to the bytes as a string when they are UTF-8 text, else to
 * key_b64 as base64. */
static int set_bytes(json_t *o, const char *key, const char *key_b64, const uint8_t *p, size_t n)
{
    if (valid_utf8_text(p, n))
        return json_object_set_new(o, key, json_stringn((const char *)p, n));
    size_t cap = DMSEC_B64_LEN(n) + 1;
    char *b = malloc(cap);
    if (!b)
        return -1;
    int rc = dmsec_b64_encode(p, n, b, cap, NULL);
    if (!rc)
        rc = json_object_set_new(o, key_b64, json_string(b));
    free(b);
    return rc;
}

/* ---- JSON of store records ---- */

static const char *kind_name(dmsec_cmd_type_t k)
{
    const char *n = dmsec_cmd_kind_name(k);
    return n ? n : "unknown";
}

static const char *state_name(dmsec_cmd_state_t s)
{
    const char *n = dmsec_cmd_state_name(s);
    return n ? n : "unknown";
}

static json_t *cmd_json(const dmsec_store_cmd_t *c)
{
    json_t *o = json_pack(
        "{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:I, "
        "s:i, s:i, s:i, s:I}",
        "id", (json_int_t)c->id, "parent_id", (json_int_t)c->parent_id, "device_id", c->device_id,
        "kind", kind_name(c->kind), "target", c->target, "source", c->source, "format", c->format,
        "type", c->mime, "correlator", c->correlator, "expires", (json_int_t)c->expires,
        "queued_by", c->queued_by, "queued_at", (json_int_t)c->queued_at, "state",
        state_name(c->state), "sent_at", (json_int_t)c->sent_at, "attempts", c->attempts, "status",
        c->status, "outcome", c->outcome, "done_at", (json_int_t)c->done_at);
    if (!o)
        return NULL;
    json_object_set_new(o, "session_id", json_string(c->session_id));
    if (c->has_data && c->data && set_bytes(o, "data", "data_b64", c->data, c->data_len)) {
        json_decref(o);
        return NULL;
    }
    if (c->has_result) {
        if (set_bytes(o, "result", "result_b64", c->result ? c->result : (const uint8_t *)"",
                      c->result ? c->result_len : 0)) {
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, "result_format", json_string(c->result_format));
        json_object_set_new(o, "result_type", json_string(c->result_mime));
    }
    return o;
}

static int count_cb(void *ctx, const dmsec_store_cmd_t *c)
{
    (void)c;
    (*(size_t *)ctx)++;
    return 0;
}

struct resync_scan {
    int64_t now;
    int outstanding;
};

static int resync_cb(void *ctx, const dmsec_notification_t *n)
{
    struct resync_scan *r = ctx;
    if (n->default_nonce && !n->consumed && (n->expires == 0 || n->expires > r->now))
        r->outstanding = 1;
    return 0;
}

static const char *integrity_name(dmsec_integrity_t i)
{
    switch (i) {
    case DMSEC_INTEGRITY_HMAC_MD5:
        return "hmac-md5";
    case DMSEC_INTEGRITY_HMAC_SHA256:
        return "hmac-sha256";
    default:
        return "none";
    }
}

static const char *scheme_name(dmsec_auth_scheme_t s)
{
    const char *n = dmsec_auth_scheme_name(s);
    return n ? n : "unknown";
}

/* A device without its secrets, with its sync state. */
static int device_json(dmsec_store_t *st, const dmsec_device_t *d, int64_t now, json_t **out)
{
    int64_t first = 0;
    int64_t last = 0;
    int rc = dmsec_store_device_seen_get(st, d->device_id, &first, &last);
    if (rc && rc != DMSEC_ERR_STORE_NOT_FOUND)
        return rc;
    size_t pending = 0;
    dmsec_cmd_filter_t f = {.device_id = d->device_id,
                            .states = (1u << DMSEC_CMDST_QUEUED) | (1u << DMSEC_CMDST_SENT) |
                                      (1u << DMSEC_CMDST_ACCEPTED)};
    rc = dmsec_store_cmd_list(st, &f, count_cb, &pending);
    if (rc)
        return rc;
    struct resync_scan rs = {.now = now, .outstanding = 0};
    rc = dmsec_store_notification_list(st, d->device_id, resync_cb, &rs);
    if (rc && rc != DMSEC_ERR_STORE_NOT_FOUND)
        return rc;
    dmsec_rotation_t rot;
    rc = dmsec_store_rotation_get(st, d->device_id, &rot);
    unsigned req = rot.requested;
    unsigned pend = rot.pending;
    dmsec_store_rotation_wipe(&rot);
    if (rc)
        return rc;
    json_t *sync = json_pack(
        "{s:b, s:b, s:I, s:{s:{s:b, s:b}, s:{s:b, s:b}}}", "resync_outstanding", rs.outstanding,
        "rotation_pending", d->pending_secret_len > 0, "pending_commands", (json_int_t)pending,
        "rotation", "client", "requested", (req & DMSEC_ROTATE_CLIENT) != 0, "pending",
        (pend & DMSEC_ROTATE_CLIENT) != 0, "server", "requested", (req & DMSEC_ROTATE_SERVER) != 0,
        "pending", (pend & DMSEC_ROTATE_SERVER) != 0);
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o}", "id", d->device_id,
                  "client_name", d->client_name, "client_scheme", scheme_name(d->client_scheme),
                  "server_scheme", scheme_name(d->server_scheme), "integrity",
                  integrity_name(d->integrity), "notify_addr", d->notify_addr, "cert_subject",
                  d->cert_subject, "created", (json_int_t)d->created, "first_seen",
                  (json_int_t)first, "last_seen", (json_int_t)last, "sync", sync);
    if (!o)
        return DMSEC_ERR_NO_MEMORY;
    *out = o;
    return 0;
}

/* ---- the operations ---- */

struct call {
    struct MHD_Connection *c;
    const char *method;
    dmsec_store_t *st;
    int64_t now;
    const char *body;
    size_t body_len;
    char *seg[API_MAX_SEGS];
    size_t nseg;
};

/* 1 when the device is known, 0 after a 404 or error answer (in *ret). */
static int need_device(struct call *k, const char *id, enum MHD_Result *ret)
{
    dmsec_device_t d;
    int rc = dmsec_store_device_get(k->st, id, &d);
    srv_wipe(&d, sizeof d);
    if (rc) {
        char clean[DMSEC_STORE_ID_MAX];
        log_clean(clean, sizeof clean, id);
        *ret = rc == DMSEC_ERR_STORE_NOT_FOUND
                   ? send_err(k->c, MHD_HTTP_NOT_FOUND, "not_found", "unknown device '%s'", clean)
                   : send_store_err(k->c, rc, "device");
        return 0;
    }
    return 1;
}

struct dev_page {
    dmsec_store_t *st;
    int64_t now;
    json_t *arr;
    size_t want;
    size_t got;
    int more;
    int err;
    char last[DMSEC_STORE_ID_MAX];
};

static int dev_page_cb(void *ctx, const dmsec_device_t *d)
{
    struct dev_page *p = ctx;
    if (p->got == p->want) {
        p->more = 1;
        return 1;
    }
    json_t *o = NULL;
    p->err = device_json(p->st, d, p->now, &o);
    if (p->err)
        return 1;
    json_array_append_new(p->arr, o);
    p->got++;
    snprintf(p->last, sizeof p->last, "%s", d->device_id);
    return 0;
}

static enum MHD_Result op_devices(struct call *k)
{
    char after_buf[DMSEC_STORE_ID_MAX];
    char prefix_buf[DMSEC_STORE_ID_MAX];
    const char *after = NULL;
    const char *prefix = NULL;
    size_t limit = 0;
    if (query_count(k->c, "limit", API_LIST_DEFAULT, API_LIST_MAX, &limit) || limit == 0)
        return send_err(k->c, MHD_HTTP_BAD_REQUEST, "bad_request",
                        "limit: want a number from 1 to %d", API_LIST_MAX);
    if (query_str(k->c, "after", after_buf, sizeof after_buf, &after) ||
        query_str(k->c, "prefix", prefix_buf, sizeof prefix_buf, &prefix))
        return send_err(k->c, MHD_HTTP_BAD_REQUEST, "bad_request", "after, prefix: bad value");
    struct dev_page p = {.st = k->st, .now = k->now, .arr = json_array(), .want = limit};
    int rc = dmsec_store_device_page(k->st, after, prefix, limit + 1, dev_page_cb, &p);
    if (!rc)
        rc = p.err;
    if (rc) {
        json_decref(p.arr);
        return send_store_err(k->c, rc, "devices");
    }
    json_t *o = json_pack("{s:o}", "devices", p.arr);
    if (p.more)
        json_object_set_new(o, "next", json_string(p.last));
    return send_json(k->c, MHD_HTTP_OK, o, NULL);
}

static enum MHD_Result op_device(struct call *k, const char *id)
{
    dmsec_device_t d;
    int rc = dmsec_store_device_get(k->st, id, &d);
    if (rc) {
        srv_wipe(&d, sizeof d);
        if (rc == DMSEC_ERR_STORE_NOT_FOUND) {
            char clean[DMSEC_STORE_ID_MAX];
            log_clean(clean, sizeof clean, id);
            return send_err(k->c, MHD_HTTP_NOT_FOUND, "not_found", "unknown device '%s'", clean);
        }
        return send_store_err(k->c, rc, "device");
    }
    json_t *o = NULL;
    rc = device_json(k->st, &d, k->now, &o);
    srv_wipe(&d, sizeof d);
    if (rc)
        return send_store_err(k->c, rc, "device");
    return send_json(k->c, MHD_HTTP_OK, o, NULL);
}

static int inv_cb(void *ctx, const char *uri, const char *value, int64_t updated)
{
    json_array_append_new(ctx, json_pack("{s:s, s:s, s:I}", "uri", uri, "value", value ? value : "",
                                         "updated", (json_int_t)updated));
    return 0;
}

static enum MHD_Result op_inventory(struct call *k, const char *id)
{
    enum MHD_Result ret = MHD_NO;
    if (!need_device(k, id, &ret))
        return ret;
    int64_t first = 0;
    int64_t last = 0;
    int rc = dmsec_store_device_seen_get(k->st, id, &first, &last);
    if (rc && rc != DMSEC_ERR_STORE_NOT_FOUND)
        return send_store_err(k->c, rc, "inventory");
    json_t *arr = json_array();
    rc = dmsec_store_inventory_list(k->st, id, inv_cb, arr);
    if (rc && rc != DMSEC_ERR_STORE_NOT_FOUND) {
        json_decref(arr);
        return send_store_err(k->c, rc, "inventory");
    }
    return send_json(k->c, MHD_HTTP_OK,
                     json_pack("{s:s, s:I, s:I, s:o}", "device_id", id, "first_seen",
                               (json_int_t)first, "last_seen", (json_int_t)last, "inventory", arr),
                     NULL);
}

struct cmd_list_ctx {
    json_t *arr;
    int results; /* the Result shape instead of the Command one */
};

static json_t *result_json(const dmsec_store_cmd_t *c)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:i, s:i, s:s, s:I}", "command_id",
                          (json_int_t)c->id, "kind", kind_name(c->kind), "target", c->target,
                          "state", state_name(c->state), "status", c->status, "outcome", c->outcome,
                          "session_id", c->session_id, "done_at", (json_int_t)c->done_at);
    if (o && c->has_result) {
        set_bytes(o, "result", "result_b64", c->result ? c->result : (const uint8_t *)"",
                  c->result ? c->result_len : 0);
        json_object_set_new(o, "result_format", json_string(c->result_format));
        json_object_set_new(o, "result_type", json_string(c->result_mime));
    }
    return o;
}

static int list_cb(void *ctx, const dmsec_store_cmd_t *c)
{
    struct cmd_list_ctx *l = ctx;
    json_t *o = l->results ? result_json(c) : cmd_json(c);
    if (!o)
        return 1;
    json_array_append_new(l->arr, o);
    return 0;
}

/* "queued,sent" -> a bit set; -1 for an unknown name. */
static int parse_states(const char *s, unsigned *out)
{
    *out = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        char name[16];
        if (n == 0 || n >= sizeof name)
            return -1;
        memcpy(name, s, n);
        name[n] = '\0';
        dmsec_cmd_state_t st;
        if (dmsec_cmd_state_parse(name, &st))
            return -1;
        *out |= 1u << st;
        s += n;
        if (*s == ',')
            s++;
    }
    return 0;
}

static enum MHD_Result op_cmd_list(struct call *k, const char *id, int results)
{
    enum MHD_Result ret = MHD_NO;
    if (!need_device(k, id, &ret))
        return ret;
    size_t limit = 0;
    size_t offset = 0;
    char sbuf[128];
    const char *states = NULL;
    unsigned bits = 0;
    if (query_count(k->c, "limit", API_LIST_DEFAULT, API_LIST_MAX, &limit) ||
        query_count(k->c, "offset", 0, (size_t)1 << 40, &offset))
        return send_err(k->c, MHD_HTTP_BAD_REQUEST, "bad_request",
                        "limit (0 to %d), offset: want numbers", API_LIST_MAX);
    if (query_str(k->c, "state", sbuf, sizeof sbuf, &states) ||
        (states && parse_states(states, &bits)))
        return send_err(k->c, MHD_HTTP_BAD_REQUEST, "bad_request",
                        "state: want names among queued, sent, accepted, done, failed, expired, "
                        "cancelled, separated by commas");
    if (results && !bits)
        bits = (1u << DMSEC_CMDST_DONE) | (1u << DMSEC_CMDST_FAILED) | (1u << DMSEC_CMDST_ACCEPTED);
    dmsec_cmd_filter_t f = {.device_id = id,
                            .states = bits,
                            .newest_first = results,
                            .offset = offset,
                            .limit = limit ? limit : API_LIST_DEFAULT};
    struct cmd_list_ctx l = {.arr = json_array(), .results = results};
    int rc = dmsec_store_cmd_list(k->st, &f, list_cb, &l);
    if (rc) {
        json_decref(l.arr);
        return send_store_err(k->c, rc, "commands");
    }
    return send_json(
        k->c, MHD_HTTP_OK,
        json_pack("{s:s, s:o}", "device_id", id, results ? "results" : "commands", l.arr), NULL);
}

/* ---- queueing ---- */

struct queue_job {
    dmsec_store_cmd_t *cmds; /* [0] the command (or group), then members */
    size_t n;
    int64_t now;
    int64_t ids[API_GROUP_MAX + 1];
};

static int queue_job_fn(dmsec_store_t *st, void *ctx)
{
    struct queue_job *q = ctx;
    int rc = dmsec_store_cmd_queue(st, &q->cmds[0], q->now, &q->ids[0]);
    for (size_t i = 1; !rc && i < q->n; i++) {
        q->cmds[i].parent_id = q->ids[0];
        rc = dmsec_store_cmd_queue(st, &q->cmds[i], q->now, &q->ids[i]);
    }
    return rc;
}

/* Notifies the device after a queueing when asked: sets notified (and
 * notify_session_id or notify_error) in o. */
static void maybe_notify(struct call *k, const char *id, int want, json_t *o)
{
    if (!want)
        return;
    dmsec_notify_opts_t no = {
        .server_id = api_cfg->server_id, .ui = DMSEC_UI_BACKGROUND, .now = k->now};
    uint16_t sid = 0;
    int rc = dmsec_dispatch_notify(k->st, id, &no, &sid);
    json_object_set_new(o, "notified", json_boolean(rc == 0));
    if (rc) {
        json_object_set_new(o, "notify_error", json_string(dmsec_errname(rc)));
    } else {
        char s[8];
        snprintf(s, sizeof s, "%04X", sid);
        json_object_set_new(o, "notify_session_id", json_string(s));
    }
}

/* The parsed JSON body (an object), or NULL after a 400 in *ret. */
static json_t *parse_body(struct call *k, enum MHD_Result *ret, int optional)
{
    if (!k->body_len && optional)
        return json_object();
    json_error_t e;
    json_t *j = json_loadb(k->body ? k->body : "", k->body_len, JSON_REJECT_DUPLICATES, &e);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        *ret = send_err(k->c, MHD_HTTP_BAD_REQUEST, "bad_json",
                        j ? "the body is not a JSON object" : "the body is not JSON: %s (line %d)",
                        e.text, e.line);
        return NULL;
    }
    return j;
}

/* The JSON object the request for a known device id carries; NULL after
 * answering (*ret) when the device is unknown or the body no object. */
static json_t *device_body(struct call *k, const char *id, enum MHD_Result *ret)
{
    if (!need_device(k, id, ret))
        return NULL;
    return parse_body(k, ret, 0);
}

static enum MHD_Result respond_cmds(struct call *k, const int64_t *ids, size_t n, json_t *req,
                                    const char *device)
{
    dmsec_store_cmd_t c;
    memset(&c, 0, sizeof c);
    int rc = dmsec_store_cmd_get(k->st, ids[0], &c);
    if (rc) {
        dmsec_store_cmd_clear(&c);
        return send_store_err(k->c, rc, "command");
    }
    json_t *o = cmd_json(&c);
    dmsec_store_cmd_clear(&c);
    if (!o)
        return send_err(k->c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    if (n > 1) {
        json_t *members = json_array();
        for (size_t i = 1; i < n; i++) {
            memset(&c, 0, sizeof c);
            if (!dmsec_store_cmd_get(k->st, ids[i], &c))
                json_array_append_new(members, cmd_json(&c));
            dmsec_store_cmd_clear(&c);
        }
        json_object_set_new(o, "members", members);
    }
    json_t *nv = json_object_get(req, "notify");
    maybe_notify(k, device, json_is_true(nv), o);
    return send_json(k->c, MHD_HTTP_CREATED, o, NULL);
}

static enum MHD_Result op_cmd_queue(struct call *k, const char *id)
{
    enum MHD_Result ret = MHD_NO;
    json_t *req = device_body(k, id, &ret);
    if (!req)
        return ret;
    json_t *nv = json_object_get(req, "notify");
    if (nv && !json_is_boolean(nv)) {
        json_decref(req);
        return send_err(k->c, MHD_HTTP_BAD_REQUEST, "bad_request", "notify: want true or false");
    }
    char err[256] = "";
    struct queue_job q = {.now = k->now};
    int rc = api_cmds_from_json(req, id, &q.cmds, &q.n, err, sizeof err);
    if (!rc) {
        for (size_t i = 0; i < q.n; i++)
            q.cmds[i].expires = q.cmds[i].expires ? k->now + q.cmds[i].expires : 0;
        rc = dmsec_store_durable(k->st, queue_job_fn, &q);
        if (rc)
            ret = send_store_err(k->c, rc, "queue");
        else
            ret = respond_cmds(k, q.ids, q.n, req, id);
    } else {
        ret = send_err(k->c, MHD_HTTP_BAD_REQUEST, rc == -2 ? "too_large" : "bad_request", "%s",
                       err[0] ? err : "out of memory");
    }
    api_cmds_free(q.cmds, q.n);
    json_decref(req);
    return ret;
}

static int parse_cmd_id(const char *s, int64_t *out)
{
    if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 18)
        return -1;
    *out = (int64_t)strtoll(s, NULL, 10);
    return *out > 0 ? 0 : -1;
}

static enum MHD_Result op_cmd_show(struct call *k, int64_t id)
{
    dmsec_store_cmd_t c;
    memset(&c, 0, sizeof c);
    int rc = dmsec_store_cmd_get(k->st, id, &c);
    if (rc) {
        dmsec_store_cmd_clear(&c);
        if (rc == DMSEC_ERR_STORE_NOT_FOUND)
            return send_err(k->c, MHD_HTTP_NOT_FOUND, "not_found", "no command %lld",
                            (long long)id);
        return send_store_err(k->c, rc, "command");
    }
    json_t *o = cmd_json(&c);
    dmsec_store_cmd_clear(&c);
    if (!o)
        return send_err(k->c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    return send_json(k->c, MHD_HTTP_OK, o, NULL);
}

struct cancel_job {
    int64_t id;
    int64_t now;
};

static int cancel_fn(dmsec_store_t *st, void *ctx)
{
    struct cancel_job *j = ctx;
    return dmsec_store_cmd_cancel(st, j->id, j->now);
}

static enum MHD_Result op_cmd_cancel(struct call *k, int64_t id)
{
    struct cancel_job j = {.id = id, .now = k->now};
    int rc = dmsec_store_durable(k->st, cancel_fn, &j);
    if (rc == DMSEC_ERR_STORE_NOT_FOUND)
        return send_err(k->c, MHD_HTTP_NOT_FOUND, "not_found", "no command %lld", (long long)id);
    if (rc == DMSEC_ERR_STORE_STATE)
        return send_err(k->c, MHD_HTTP_CONFLICT, "conflict",
                        "command %lld is finished: it cannot be cancelled", (long long)id);
    if (rc)
        return send_store_err(k->c, rc, "cancel");
    return op_cmd_show(k, id);
}

static int event_cb(void *ctx, const dmsec_device_event_t *e)
{
    json_array_append_new(
        ctx, json_pack("{s:I, s:s, s:I, s:i, s:s, s:s, s:s, s:s, s:s, s:s}", "id",
                       (json_int_t)e->id, "device_id", e->device_id, "at", (json_int_t)e->at,
                       "alert", e->alert, "type", e->type, "format", e->format, "source", e->source,
                       "correlator", e->correlator, "data", e->data, "session_id", e->session_id));
    return 0;
}

static int session_cb(void *ctx, const dmsec_session_rec_t *r)
{
    json_array_append_new(
        ctx, json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:b, s:s, s:i}", "id", (json_int_t)r->id,
                       "device_id", r->device_id, "session_id", r->session_id, "peer", r->peer,
                       "started", (json_int_t)r->started, "ended", (json_int_t)r->ended, "ok",
                       r->ended && r->result == 0, "result",
                       r->result ? dmsec_errname(r->result) : "DMSEC_OK", "messages", r->messages));
    return 0;
}

static int audit_cb(void *ctx, const dmsec_audit_rec_t *r)
{
    json_array_append_new(ctx, json_pack("{s:I, s:I, s:s, s:s, s:s}", "id", (json_int_t)r->id, "at",
                                         (json_int_t)r->at, "device_id", r->device_id, "event",
                                         r->event, "detail", r->detail));
    return 0;
}

enum listing { L_EVENTS, L_SESSIONS, L_AUDIT };

/* Events, sessions or audit rows of one device (id) or all (NULL). */
static enum MHD_Result op_listing(struct call *k, const char *id, enum listing what)
{
    enum MHD_Result ret = MHD_NO;
    char dbuf[DMSEC_STORE_ID_MAX];
    if (what == L_AUDIT && !id) {
        if (query_str(k->c, "device", dbuf, sizeof dbuf, &id))
            return send_err(k->c, MHD_HTTP_BAD_REQUEST, "bad_request", "device: bad value");
    }
    if (id && !need_device(k, id, &ret))
        return ret;
    size_t limit = 0;
    size_t offset = 0;
    if (query_count(k->c, "limit", API_LIST_DEFAULT, API_LIST_MAX, &limit) ||
        query_count(k->c, "offset", 0, (size_t)1 << 40, &offset))
        return send_err(k->c, MHD_HTTP_BAD_REQUEST, "bad_request",
                        "limit (0 to %d), offset: want numbers", API_LIST_MAX);
    if (!limit)
        limit = API_LIST_DEFAULT;
    json_t *arr = json_array();
    int rc;
    const char *key;
    if (what == L_EVENTS) {
        rc = dmsec_store_event_list(k->st, id, offset, limit, event_cb, arr);
        key = "events";
    } else if (what == L_SESSIONS) {
        rc = dmsec_store_session_list_device(k->st, id, offset, limit, session_cb, arr);
        key = "sessions";
    } else {
        rc = dmsec_store_audit_list_device(k->st, id, offset, limit, audit_cb, arr);
        key = "audit";
    }
    if (rc) {
        json_decref(arr);
        return send_store_err(k->c, rc, key);
    }
    return send_json(k->c, MHD_HTTP_OK, json_pack("{s:o}", key, arr), NULL);
}

static enum MHD_Result op_notify(struct call *k, const char *id)
{
    enum MHD_Result ret = MHD_NO;
    if (!need_device(k, id, &ret))
        return ret;
    dmsec_notify_opts_t no = {
        .server_id = api_cfg->server_id, .ui = DMSEC_UI_BACKGROUND, .now = k->now};
    uint16_t sid = 0;
    int rc = dmsec_dispatch_notify(k->st, id, &no, &sid);
    if (rc == DMSEC_ERR_DISPATCH_ADDR)
        return send_err(k->c, MHD_HTTP_CONFLICT, "no_notify_address",
                        "the device has no usable notification address");
    if (rc == DMSEC_ERR_DISPATCH_SEND)
        return send_err(k->c, MHD_HTTP_BAD_GATEWAY, "notify_failed",
                        "the notification could not be sent");
    if (rc)
        return send_store_err(k->c, rc, "notify");
    char s[8];
    snprintf(s, sizeof s, "%04X", sid);
    return send_json(k->c, MHD_HTTP_OK, json_pack("{s:s, s:s}", "device_id", id, "session_id", s),
                     NULL);
}

/* POST /devices/{id}/rotate {"client": bool, "server": bool}: an
 * operator's rotation request (dmsec device rotate), audited as by "api". */
struct rotate_job {
    const char *device;
    unsigned sides;
    int64_t now;
};

static int rotate_fn(dmsec_store_t *st, void *ctx)
{
    const struct rotate_job *r = ctx;
    int rc = dmsec_store_rotation_request(st, r->device, r->sides);
    if (!rc)
        rc = dmsec_store_audit(st, r->now, r->device, "rotation_requested",
                               r->sides == (DMSEC_ROTATE_CLIENT | DMSEC_ROTATE_SERVER)
                                   ? "by api: side=client,server"
                               : r->sides == DMSEC_ROTATE_CLIENT ? "by api: side=client"
                                                                 : "by api: side=server");
    return rc;
}

static enum MHD_Result op_rotate(struct call *k, const char *id)
{
    enum MHD_Result ret = MHD_NO;
    json_t *req = device_body(k, id, &ret);
    if (!req)
        return ret;
    json_t *c = json_object_get(req, "client");
    json_t *sv = json_object_get(req, "server");
    size_t known = (c ? 1u : 0u) + (sv ? 1u : 0u);
    int bad = !json_is_object(req) || json_object_size(req) != known ||
              (c && !json_is_boolean(c)) || (sv && !json_is_boolean(sv));
    unsigned sides = (json_is_true(c) ? DMSEC_ROTATE_CLIENT : 0u) |
                     (json_is_true(sv) ? DMSEC_ROTATE_SERVER : 0u);
    json_decref(req);
    if (bad || !sides)
        return send_err(k->c, MHD_HTTP_BAD_REQUEST, "bad_request",
                        "want {\"client\": bool, \"server\": bool}, at least one true");
    struct rotate_job r = {.device = id, .sides = sides, .now = k->now};
    int rc = dmsec_store_durable(k->st, rotate_fn, &r);
    if (rc)
        return send_store_err(k->c, rc, "rotate");
    return send_json(k->c, MHD_HTTP_OK,
                     json_pack("{s:s, s:{s:b, s:b}}", "device_id", id, "rotation_requested",
                               "client", (sides & DMSEC_ROTATE_CLIENT) != 0, "server",
                               (sides & DMSEC_ROTATE_SERVER) != 0),
                     NULL);
}

struct fumo_job {
    const char *device, *node, *url, *sha256;
    int64_t size, expires, now, exec_id;
};

static int fumo_fn(dmsec_store_t *st, void *ctx)
{
    struct fumo_job *f = ctx;
    return dmsec_store_fumo_queue(st, f->device, f->node, f->url, f->sha256, f->size, "api",
                                  f->expires, f->now, &f->exec_id);
}

static enum MHD_Result op_fumo(struct call *k, const char *id)
{
    enum MHD_Result ret = MHD_NO;
    json_t *req = device_body(k, id, &ret);
    if (!req)
        return ret;
    struct api_fumo in;
    if (api_fumo_from_json(req, &in)) {
        json_decref(req);
        return send_err(k->c, MHD_HTTP_BAD_REQUEST, "bad_request",
                        "want {\"url\": http(s) URL, \"sha256\": 64 hex digits, \"size\": bytes, "
                        "\"node\": FUMO node URI, \"expires\": seconds, \"notify\": bool}");
    }
    struct fumo_job f = {.device = id,
                         .node = in.node,
                         .url = in.url,
                         .sha256 = in.sha256,
                         .size = in.size,
                         .expires = in.expires ? k->now + in.expires : 0,
                         .now = k->now};
    int rc = dmsec_store_durable(k->st, fumo_fn, &f);
    if (rc)
        ret = send_store_err(k->c, rc, "fumo");
    else
        ret = respond_cmds(k, &f.exec_id, 1, req, id);
    json_decref(req);
    return ret;
}

/* ---- routing ---- */

static enum MHD_Result not_allowed(struct call *k, const char *allow)
{
    json_t *j = json_pack("{s:s, s:s}", "error", "method_not_allowed", "message", "allowed:");
    json_object_set_new(j, "message",
                        json_sprintf("method %s not allowed here (allowed: %s)", k->method, allow));
    return send_json(k->c, MHD_HTTP_METHOD_NOT_ALLOWED, j, allow);
}

static int is(const struct call *k, const char *m)
{
    return !strcmp(k->method, m);
}

static enum MHD_Result route(struct call *k)
{
    char **s = k->seg;
    size_t n = k->nseg;
    if (!strcmp(s[0], "devices")) {
        if (n == 1)
            return is(k, "GET") ? op_devices(k) : not_allowed(k, "GET");
        const char *id = s[1];
        if (n == 2)
            return is(k, "GET") ? op_device(k, id) : not_allowed(k, "GET");
        if (n == 3) {
            const char *sub = s[2];
            if (!strcmp(sub, "inventory"))
                return is(k, "GET") ? op_inventory(k, id) : not_allowed(k, "GET");
            if (!strcmp(sub, "commands")) {
                if (is(k, "GET"))
                    return op_cmd_list(k, id, 0);
                return is(k, "POST") ? op_cmd_queue(k, id) : not_allowed(k, "GET, POST");
            }
            if (!strcmp(sub, "results"))
                return is(k, "GET") ? op_cmd_list(k, id, 1) : not_allowed(k, "GET");
            if (!strcmp(sub, "events"))
                return is(k, "GET") ? op_listing(k, id, L_EVENTS) : not_allowed(k, "GET");
            if (!strcmp(sub, "sessions"))
                return is(k, "GET") ? op_listing(k, id, L_SESSIONS) : not_allowed(k, "GET");
            if (!strcmp(sub, "notify"))
                return is(k, "POST") ? op_notify(k, id) : not_allowed(k, "POST");
            if (!strcmp(sub, "fumo"))
                return is(k, "POST") ? op_fumo(k, id) : not_allowed(k, "POST");
            if (!strcmp(sub, "rotate"))
                return is(k, "POST") ? op_rotate(k, id) : not_allowed(k, "POST");
        }
    } else if (!strcmp(s[0], "commands") && (n == 2 || n == 3)) {
        int64_t id = 0;
        if (parse_cmd_id(s[1], &id))
            return send_err(k->c, MHD_HTTP_NOT_FOUND, "not_found",
                            "a command id is a positive number");
        if (n == 2) {
            if (is(k, "GET"))
                return op_cmd_show(k, id);
            return is(k, "DELETE") ? op_cmd_cancel(k, id) : not_allowed(k, "GET, DELETE");
        }
        if (!strcmp(s[2], "cancel"))
            return is(k, "POST") ? op_cmd_cancel(k, id) : not_allowed(k, "POST");
    } else if (!strcmp(s[0], "sessions") && n == 1) {
        return is(k, "GET") ? op_listing(k, NULL, L_SESSIONS) : not_allowed(k, "GET");
    } else if (!strcmp(s[0], "audit") && n == 1) {
        return is(k, "GET") ? op_listing(k, NULL, L_AUDIT) : not_allowed(k, "GET");
    }
    return send_err(k->c, MHD_HTTP_NOT_FOUND, "not_found", "no such path");
}

/* ---- authentication ---- */

static void token_hash(const char *tok, size_t n, unsigned char out[32])
{
    unsigned int len = 32;
    if (!EVP_Digest(tok, n, out, &len, EVP_sha256(), NULL))
        memset(out, 0, 32);
}

/* 1 when the request carries the bearer token (compared in constant time
 * as SHA-256 digests, so neither its length nor its bytes leak). */
static int authorized(struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    const char *t = h + 7;
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
        n--;
    if (!n || n > API_TOKEN_MAX)
        return 0;
    unsigned char got[32];
    token_hash(t, n, got);
    int ok = CRYPTO_memcmp(got, api_token_hash, sizeof got) == 0;
    srv_wipe(got, sizeof got);
    return ok;
}

/* ---- the handler ---- */

static enum MHD_Result api_access(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    struct api_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        *con_cls = r;
        const char *cl =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > (unsigned long long)api_cfg->api_max_body)
            r->too_large = 1;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->too_large)
            return MHD_YES;
        if (r->len + n > (size_t)api_cfg->api_max_body) {
            r->too_large = 1;
            free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
            return MHD_YES;
        }
        if (r->len + n + 1 > r->cap) {
            size_t cap = r->cap ? r->cap : 4096;
            while (cap < r->len + n + 1)
                cap *= 2;
            char *b = realloc(r->body, cap);
            if (!b)
                return MHD_NO;
            r->body = b;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload, n);
        r->len += n;
        r->body[r->len] = '\0';
        return MHD_YES;
    }
    if (!authorized(c))
        return send_err(c, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                        "a valid bearer token is required (Authorization: Bearer TOKEN)");
    if (r->too_large)
        return send_err(c, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large",
                        "the request body is over %ld bytes", api_cfg->api_max_body);
    if (strncmp(url, API_PREFIX, strlen(API_PREFIX)) != 0)
        return send_err(c, MHD_HTTP_NOT_FOUND, "not_found", "no such path (the API is under %s)",
                        API_PREFIX);
    /* The segments after the prefix, each percent-decoded. */
    struct call k = {
        .c = c, .method = method, .now = (int64_t)time(NULL), .body = r->body, .body_len = r->len};
    char segbuf[API_MAX_SEGS][DMSEC_STORE_URI_MAX];
    const char *p = url + strlen(API_PREFIX);
    while (1) {
        size_t len = strcspn(p, "/");
        if (k.nseg == API_MAX_SEGS || len == 0)
            return send_err(c, MHD_HTTP_NOT_FOUND, "not_found", "no such path");
        if (pct_decode(p, len, 0, segbuf[k.nseg], sizeof segbuf[k.nseg]))
            return send_err(c, MHD_HTTP_BAD_REQUEST, "bad_uri",
                            "the path holds a bad percent escape, a NUL or a segment too long");
        k.seg[k.nseg] = segbuf[k.nseg];
        k.nseg++;
        p += len;
        if (!*p)
            break;
        p++;
    }
    k.st = storepool_get();
    if (!k.st)
        return send_err(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
                        "the store cannot be opened");
    enum MHD_Result ret = route(&k);
    storepool_put(k.st);
    return ret;
}

static void api_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct api_req *r = *con_cls;
    if (r) {
        free(r->body);
        free(r);
        *con_cls = NULL;
    }
}

/* ---- start and stop ---- */

/* Reads the token (its first line) into the digest kept. 0, or -1 after
 * a message. */
static int load_token(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        log_msg(LOG_ERROR, "api: cannot read the token file %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & (S_IRGRP | S_IROTH | S_IWGRP | S_IWOTH))) {
        if (sb.st_mode & (S_IROTH | S_IWOTH)) {
            log_msg(LOG_ERROR,
                    "api: the token file %s is readable or writable by others: chmod 600 it", path);
            fclose(f);
            return -1;
        }
        log_msg(LOG_WARN, "api: the token file %s is group-accessible; chmod 600 is advised", path);
    }
    char buf[API_TOKEN_MAX + 2];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    size_t len = strcspn(buf, "\r\n");
    while (len && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
        len--;
    const char *t = buf;
    while (len && (*t == ' ' || *t == '\t')) {
        t++;
        len--;
    }
    int rc = 0;
    if (!len || len > API_TOKEN_MAX) {
        log_msg(LOG_ERROR, "api: the token file %s holds no token on its first line%s", path,
                len ? " (or one over 4096 bytes)" : "");
        rc = -1;
    } else {
        if (len < 16)
            log_msg(LOG_WARN,
                    "api: the token in %s is short (%zu characters); 32 or more "
                    "random characters are advised",
                    path, len);
        token_hash(t, len, api_token_hash);
    }
    srv_wipe(buf, sizeof buf);
    return rc;
}

int api_start(const struct srv_config *cfg)
{
    api_cfg = cfg;
    if (load_token(cfg->api_token_file))
        return -1;
    /* HOST:PORT or [V6]:PORT, numeric (or localhost). */
    char host[128];
    const char *port = NULL;
    const char *l = cfg->api_listen;
    if (l[0] == '[') {
        const char *close = strchr(l, ']');
        if (close && close[1] == ':' && (size_t)(close - l - 1) < sizeof host) {
            memcpy(host, l + 1, (size_t)(close - l - 1));
            host[close - l - 1] = '\0';
            port = close + 2;
        }
    } else {
        const char *colon = strrchr(l, ':');
        if (colon && (size_t)(colon - l) < sizeof host) {
            memcpy(host, l, (size_t)(colon - l));
            host[colon - l] = '\0';
            port = colon + 1;
        }
    }
    if (port && !strcmp(host, "localhost"))
        snprintf(host, sizeof host, "127.0.0.1");
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    if (!port || !*port || strspn(port, "0123456789") != strlen(port) ||
        getaddrinfo(host, port, &hints, &ai) != 0 || !ai) {
        log_msg(LOG_ERROR, "api: --api-listen: want ADDR:PORT or [V6ADDR]:PORT, got '%s'", l);
        return -1;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    api_daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, api_access, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_NOTIFY_COMPLETED, api_completed, NULL, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape,
        NULL, MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!api_daemon) {
        log_msg(LOG_ERROR, "api: cannot listen on %s", l);
        return -1;
    }
    unsigned bound = 0;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(api_daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (info)
        bound = info->port;
    printf("dmsec-server: management API on %s%s%s:%u\n", strchr(host, ':') ? "[" : "", host,
           strchr(host, ':') ? "]" : "", bound);
    fflush(stdout);
    return 0;
}

void api_stop(void)
{
    if (api_daemon) {
        MHD_stop_daemon(api_daemon);
        api_daemon = NULL;
    }
    memset(api_token_hash, 0, sizeof api_token_hash);
}
