/*
 * contract.c - the rules of the store contract (dmsec/store.h) that hold
 * for every back end (store_int.h): argument checks and bounds, the names
 * of command kinds and states, the functions that touch no database (an
 * account from a device record, a rotation's pending credential), and the
 * choice of a back end by the URI's scheme.
 */
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto/crypto.h"
#include "dmsec/errors.h"
#include "dmsec/store.h"
#include "store_int.h"

#define DEFAULT_SRVCRED "./DMAcc/dmsec/AppAuth/SRVCRED"
#define DEFAULT_FUMO_NODE "./FUMO/dmsec"

/* ---- bounds ---- */

int dm_store_str_fits(const char *s, size_t cap)
{
    return strnlen(s, cap) < cap;
}

int dm_store_id_ok(const char *id)
{
    return id && id[0] && dm_store_str_fits(id, DMSEC_STORE_ID_MAX);
}

size_t dm_store_fit_len(const char *text, size_t len, size_t cap)
{
    const unsigned char *t = (const unsigned char *)text;
    if (len < cap)
        return len;
    len = cap - 1;
    while (len > 0 && (t[len] & 0xC0) == 0x80)
        len--;
    return len;
}

int64_t dm_store_size_i64(size_t n)
{
    return n > INT64_MAX ? INT64_MAX : (int64_t)n;
}

int64_t dm_store_sub_sat(int64_t a, int64_t b)
{
    if (b > 0 && a < INT64_MIN + b)
        return INT64_MIN;
    return a - b;
}

int dm_store_cb_rc(int r, int *stop)
{
    *stop = r != 0;
    return r < 0 ? r : DMSEC_OK;
}

int dm_store_tx_end(dmsec_store_t *st, int rc)
{
    if (!rc)
        return dmsec_store_commit(st);
    (void)dmsec_store_rollback(st);
    return rc;
}

/* ---- devices ---- */

int dm_store_scheme_ok(int64_t v)
{
    return v >= DMSEC_AUTH_BASIC && v <= DMSEC_AUTH_SHA256;
}

int dm_store_integrity_ok(int64_t v)
{
    return v >= DMSEC_INTEGRITY_NONE && v <= DMSEC_INTEGRITY_HMAC_SHA256;
}

int dm_store_device_valid(const dmsec_device_t *d)
{
    return d->device_id[0] && dm_store_str_fits(d->device_id, sizeof d->device_id) &&
           dm_store_str_fits(d->client_name, sizeof d->client_name) &&
           dm_store_str_fits(d->notify_addr, sizeof d->notify_addr) &&
           dm_store_str_fits(d->srvcred_path, sizeof d->srvcred_path) &&
           dm_store_str_fits(d->cert_subject, sizeof d->cert_subject) &&
           dm_store_scheme_ok(d->client_scheme) && dm_store_scheme_ok(d->server_scheme) &&
           dm_store_integrity_ok(d->integrity) &&
           !(d->client_prehash.flags & ~(DMSEC_PREHASH_MD5 | DMSEC_PREHASH_SHA256)) &&
           !(d->server_prehash.flags & ~(DMSEC_PREHASH_MD5 | DMSEC_PREHASH_SHA256)) &&
           d->client_secret_len <= sizeof d->client_secret &&
           d->client_nonce_len <= sizeof d->client_nonce &&
           d->client_nonce_pending_len <= sizeof d->client_nonce_pending &&
           d->server_secret_len <= sizeof d->server_secret &&
           d->server_nonce_len <= sizeof d->server_nonce &&
           d->pending_secret_len <= sizeof d->pending_secret;
}

int dmsec_store_device_account(const dmsec_device_t *dev, const char *server_id,
                               dmsec_account_t *out)
{
    if (!dev || !server_id || !out || !server_id[0] ||
        !dm_store_str_fits(server_id, DMSEC_NAME_MAX) || !dm_store_device_valid(dev))
        return DMSEC_ERR_INVALID_ARG;
    memset(out, 0, sizeof *out);
    out->out_scheme = dev->server_scheme;
    memcpy(out->out_name, server_id, strlen(server_id) + 1);
    memcpy(out->out_secret, dev->server_secret, dev->server_secret_len);
    out->out_secret_len = dev->server_secret_len;
    out->out_prehash = dev->server_prehash;
    memcpy(out->out_nonce, dev->server_nonce, dev->server_nonce_len);
    out->out_nonce_len = dev->server_nonce_len;
    out->in_scheme = dev->client_scheme;
    memcpy(out->in_name, dev->client_name, strlen(dev->client_name) + 1);
    out->in_prehash = dev->client_prehash;
    memcpy(out->in_secret, dev->client_secret, dev->client_secret_len);
    out->in_secret_len = dev->client_secret_len;
    memcpy(out->in_nonce, dev->client_nonce, dev->client_nonce_len);
    out->in_nonce_len = dev->client_nonce_len;
    memcpy(out->in_nonce_pending, dev->client_nonce_pending, dev->client_nonce_pending_len);
    out->in_nonce_pending_len = dev->client_nonce_pending_len;
    out->integrity = dev->integrity;
    const char *path = dev->srvcred_path[0] ? dev->srvcred_path : DEFAULT_SRVCRED;
    memcpy(out->srvcred_path, path, strlen(path) + 1);
    /* The device's own credential is the sibling CLCRED of the SRVCRED
     * node (the AppAuth names of a dmsec bootstrap and agent); none when
     * the SRVCRED node is not named so. */
    size_t n = strlen(path);
    if (n >= 8 && !strcmp(path + n - 8, "/SRVCRED")) {
        memcpy(out->clcred_path, path, n - 7);
        memcpy(out->clcred_path + n - 7, "CLCRED", 7);
    }
    memcpy(out->out_secret_pending, dev->pending_secret, dev->pending_secret_len);
    out->out_secret_pending_len = dev->pending_secret_len;
    return DMSEC_OK;
}

int dm_store_keeps_server_secret(int64_t scheme, int64_t integrity)
{
    return scheme == DMSEC_AUTH_BASIC || integrity == DMSEC_INTEGRITY_HMAC_SHA256;
}

int dm_store_keeps_client_secret(int64_t integrity)
{
    return integrity == DMSEC_INTEGRITY_HMAC_SHA256;
}

/* ---- rotation ---- */

void dmsec_store_rotation_wipe(dmsec_rotation_t *r)
{
    if (r)
        dm_wipe(r, sizeof *r);
}

void dmsec_store_rotation_account(const dmsec_rotation_t *r, dmsec_account_t *acc)
{
    if (!r || !acc || !(r->pending & DMSEC_ROTATE_CLIENT))
        return;
    acc->in_pending = 1;
    acc->in_prehash_pending = r->client_prehash;
    memcpy(acc->in_secret_pending, r->client_secret, r->client_secret_len);
    acc->in_secret_pending_len = r->client_secret_len;
}

/* ---- notifications ---- */

int dm_store_session_id_parse(const char *text, uint16_t *out)
{
    size_t n = strnlen(text, 5);
    if (n < 1 || n > 4 || text[0] == '0')
        return 0;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = text[i];
        unsigned d = 0;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return 0;
        v = v * 16 + d;
    }
    *out = (uint16_t)v;
    return 1;
}

void dm_store_session_id_mark(uint8_t *used, int64_t v)
{
    if (v >= 1 && v <= 0xFFFF)
        used[v >> 3] |= (uint8_t)(1u << (v & 7));
}

int dm_store_session_id_pick(const uint8_t *used, const uint8_t rnd[2], uint16_t *out)
{
    unsigned id = ((unsigned)rnd[0] << 8) | rnd[1];
    for (unsigned tries = 0; tries < 0xFFFF; tries++) {
        if (id == 0)
            id = 1;
        if (!(used[id >> 3] & (1u << (id & 7)))) {
            *out = (uint16_t)id;
            return DMSEC_OK;
        }
        id = (id + 1) & 0xFFFF;
    }
    return DMSEC_ERR_STORE_EXISTS; /* every id taken */
}

/* ---- the management half ---- */

static const char *const state_names[] = {
    [DMSEC_CMDST_QUEUED] = "queued",       [DMSEC_CMDST_SENT] = "sent",
    [DMSEC_CMDST_ACCEPTED] = "accepted",   [DMSEC_CMDST_DONE] = "done",
    [DMSEC_CMDST_FAILED] = "failed",       [DMSEC_CMDST_EXPIRED] = "expired",
    [DMSEC_CMDST_CANCELLED] = "cancelled",
};
#define N_STATES (sizeof state_names / sizeof state_names[0])
_Static_assert(N_STATES == DM_STORE_CMD_STATES, "DM_STORE_CMD_STATES");

const char *dmsec_cmd_state_name(dmsec_cmd_state_t st)
{
    if ((unsigned)st >= N_STATES)
        return NULL;
    return state_names[st];
}

int dmsec_cmd_state_parse(const char *name, dmsec_cmd_state_t *out)
{
    if (!name || !out)
        return DMSEC_ERR_INVALID_ARG;
    for (size_t i = 0; i < N_STATES; i++) {
        if (!strcmp(name, state_names[i])) {
            *out = (dmsec_cmd_state_t)i;
            return DMSEC_OK;
        }
    }
    return DMSEC_ERR_INVALID_ARG;
}

static const struct {
    const char *name;
    dmsec_cmd_type_t kind;
} kinds[] = {
    {"get", DMSEC_CMD_GET},       {"replace", DMSEC_CMD_REPLACE},   {"add", DMSEC_CMD_ADD},
    {"delete", DMSEC_CMD_DELETE}, {"exec", DMSEC_CMD_EXEC},         {"copy", DMSEC_CMD_COPY},
    {"atomic", DMSEC_CMD_ATOMIC}, {"sequence", DMSEC_CMD_SEQUENCE},
};
#define N_KINDS (sizeof kinds / sizeof kinds[0])

int dmsec_cmd_kind_parse(const char *name, dmsec_cmd_type_t *out)
{
    if (!name || !out)
        return DMSEC_ERR_INVALID_ARG;
    for (size_t i = 0; i < N_KINDS; i++) {
        if (!strcmp(name, kinds[i].name)) {
            *out = kinds[i].kind;
            return DMSEC_OK;
        }
    }
    return DMSEC_ERR_INVALID_ARG;
}

const char *dmsec_cmd_kind_name(dmsec_cmd_type_t kind)
{
    for (size_t i = 0; i < N_KINDS; i++)
        if (kinds[i].kind == kind)
            return kinds[i].name;
    return NULL;
}

int dm_store_is_group(dmsec_cmd_type_t kind)
{
    return kind == DMSEC_CMD_ATOMIC || kind == DMSEC_CMD_SEQUENCE;
}

/* No control characters (UTF-8 beyond ASCII is kept as is). */
int dm_store_text_ok(const char *s, size_t cap)
{
    if (!dm_store_str_fits(s, cap))
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

/* A TND URI: printable ASCII without spaces, at most
 * DMSEC_STORE_URI_MAX - 1 bytes, "./" or a segment first, no empty, "."
 * (but the first) or ".." segment. */
int dm_store_uri_ok(const char *u)
{
    if (!u || !u[0] || !dm_store_str_fits(u, DMSEC_STORE_URI_MAX))
        return 0;
    for (const char *p = u; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return 0;
    const char *seg = u;
    for (int first = 1;; first = 0) {
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        if (n == 0)
            return 0; /* leading, doubled or trailing '/' */
        if (n == 2 && seg[0] == '.' && seg[1] == '.')
            return 0;
        if (n == 1 && seg[0] == '.' && (!first || !end))
            return 0; /* "." alone, or inside */
        if (!end)
            return 1;
        seg = end + 1;
    }
}

static int format_ok(const char *f)
{
    static const char *const formats[] = {"chr", "int",   "bool", "b64",  "bin", "node",
                                          "xml", "float", "date", "time", "null"};
    if (!f[0])
        return 1;
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (!strcmp(f, formats[i]))
            return 1;
    return 0;
}

void dmsec_store_cmd_clear(dmsec_store_cmd_t *c)
{
    if (!c)
        return;
    free(c->data);
    free(c->result);
    memset(c, 0, sizeof *c);
}

/* The checks of dmsec_store_cmd_queue that need no database. */
int dm_store_cmd_valid(const dmsec_store_cmd_t *c, int64_t now)
{
    if (!c->device_id[0] || !dm_store_str_fits(c->device_id, sizeof c->device_id))
        return DMSEC_ERR_INVALID_ARG;
    if (!dmsec_cmd_kind_name(c->kind))
        return DMSEC_ERR_INVALID_ARG;
    if (!dm_store_str_fits(c->target, sizeof c->target) ||
        !dm_store_str_fits(c->source, sizeof c->source))
        return DMSEC_ERR_INVALID_ARG;
    if (dm_store_is_group(c->kind)) {
        if (c->target[0] || c->source[0] || c->has_data || c->parent_id)
            return DMSEC_ERR_INVALID_ARG; /* a group names nothing, nests in nothing */
    } else {
        if (!dm_store_uri_ok(c->target))
            return DMSEC_ERR_INVALID_ARG;
        if (c->kind == DMSEC_CMD_COPY ? !dm_store_uri_ok(c->source) : c->source[0] != '\0')
            return DMSEC_ERR_INVALID_ARG;
    }
    if (c->has_data) {
        if (c->data_len > DMSEC_STORE_VALUE_MAX)
            return DMSEC_ERR_TOO_LARGE;
        if (c->data_len && !c->data)
            return DMSEC_ERR_INVALID_ARG;
    }
    if (!dm_store_str_fits(c->format, sizeof c->format) || !format_ok(c->format))
        return DMSEC_ERR_INVALID_ARG;
    if (!dm_store_text_ok(c->mime, sizeof c->mime) ||
        !dm_store_text_ok(c->correlator, sizeof c->correlator) ||
        !dm_store_text_ok(c->queued_by, sizeof c->queued_by))
        return DMSEC_ERR_INVALID_ARG;
    if (c->expires < 0 || (c->expires && c->expires < now) || c->parent_id < 0)
        return DMSEC_ERR_INVALID_ARG;
    return DMSEC_OK;
}

int dm_store_cmd_filter_states(const dmsec_cmd_filter_t *f, unsigned *states)
{
    if (f->device_id && !dm_store_str_fits(f->device_id, DMSEC_STORE_ID_MAX))
        return DMSEC_ERR_INVALID_ARG;
    unsigned all = (1u << N_STATES) - 1;
    if (f->states & ~all)
        return DMSEC_ERR_INVALID_ARG;
    *states = f->states ? f->states : all;
    return DMSEC_OK;
}

int dm_store_url_ok(const char *url)
{
    size_t skip = 0;
    if (!strncmp(url, "http://", 7))
        skip = 7;
    else if (!strncmp(url, "https://", 8))
        skip = 8;
    if (!skip || !url[skip] || url[skip] == '/' || !dm_store_str_fits(url, DMSEC_STORE_URI_MAX))
        return 0;
    for (const char *p = url; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return 0;
    return 1;
}

int dm_store_fumo_args(const char *device_id, const char **node, const char *url,
                       const char *sha256, int64_t size, char hex[65])
{
    if (!dm_store_id_ok(device_id) || !url || !sha256 || size < 0)
        return DMSEC_ERR_INVALID_ARG;
    if (!*node)
        *node = DEFAULT_FUMO_NODE;
    if (!dm_store_uri_ok(*node) || !dm_store_url_ok(url) || strlen(sha256) != 64)
        return DMSEC_ERR_INVALID_ARG;
    for (size_t i = 0; i < 64; i++) {
        if (!isxdigit((unsigned char)sha256[i]))
            return DMSEC_ERR_INVALID_ARG;
        hex[i] = (char)tolower((unsigned char)sha256[i]);
    }
    hex[64] = '\0';
    return DMSEC_OK;
}

int dm_store_event_valid(const dmsec_device_event_t *e)
{
    return dm_store_id_ok(e->device_id) && dm_store_str_fits(e->type, sizeof e->type) &&
           dm_store_str_fits(e->format, sizeof e->format) &&
           dm_store_str_fits(e->source, sizeof e->source) &&
           dm_store_str_fits(e->correlator, sizeof e->correlator) &&
           dm_store_str_fits(e->session_id, sizeof e->session_id);
}

/* ---- choosing a back end ---- */

static int scheme_char(char c, int first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return !first && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.');
}

/* The file path of uri: "sqlite:PATH" or a PATH without any "scheme:"
 * prefix. Anything else names a back end this build does not have. */
static int uri_path(const char *uri, const char **path)
{
    size_t i = 0;
    while (uri[i] && scheme_char(uri[i], i == 0))
        i++;
    if (i > 0 && uri[i] == ':') {
        if (i != 6 || strncasecmp(uri, "sqlite", 6) != 0)
            return DMSEC_ERR_STORE_URI; /* postgres:, memory:, file:, ... */
        uri += i + 1;
    }
    if (!uri[0])
        return DMSEC_ERR_STORE_URI;
    *path = uri;
    return DMSEC_OK;
}

int dmsec_store_open(const char *uri, dmsec_store_t **out)
{
    return dmsec_store_open_flags(uri, 0, out);
}

int dmsec_store_open_flags(const char *uri, unsigned flags, dmsec_store_t **out)
{
    if (!uri || !out || (flags & ~(DMSEC_STORE_OPEN_EXISTING | DMSEC_STORE_OPEN_READ_ONLY)))
        return DMSEC_ERR_INVALID_ARG;
    /* Read only implies existing: nothing may be created. */
    if (flags & DMSEC_STORE_OPEN_READ_ONLY)
        flags |= DMSEC_STORE_OPEN_EXISTING;
    *out = NULL;
    const char *path = NULL;
    int rc = uri_path(uri, &path);
    return rc ? rc : dm_sqlite_open(path, flags, out);
}
