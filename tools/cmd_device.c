/* dmsec device | notify | sessions | audit: the operator's view of the
 * server's store. Secrets are shown once, when a device is added. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dmsec/dispatch.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "dmsec/random.h"
#include "dmsec/store.h"
#include "tool.h"

#define DEFAULT_SERVER_ID "dmsec"

static const char *scheme_label(const dmsec_device_t *d)
{
    if (d->integrity == DMSEC_INTEGRITY_HMAC_MD5)
        return "hmac-md5";
    if (d->integrity == DMSEC_INTEGRITY_HMAC_SHA256)
        return "hmac-sha256";
    return dmsec_auth_scheme_name(d->client_scheme);
}

static int parse_scheme(const char *s, dmsec_auth_scheme_t *scheme, dmsec_integrity_t *integ)
{
    *integ = DMSEC_INTEGRITY_NONE;
    if (!strcmp(s, "basic"))
        *scheme = DMSEC_AUTH_BASIC;
    else if (!strcmp(s, "md5"))
        *scheme = DMSEC_AUTH_MD5;
    else if (!strcmp(s, "sha256"))
        *scheme = DMSEC_AUTH_SHA256;
    else if (!strcmp(s, "hmac-md5")) {
        *scheme = DMSEC_AUTH_MD5;
        *integ = DMSEC_INTEGRITY_HMAC_MD5;
    } else if (!strcmp(s, "hmac-sha256")) {
        *scheme = DMSEC_AUTH_SHA256;
        *integ = DMSEC_INTEGRITY_HMAC_SHA256;
    } else
        return -1;
    return 0;
}

static void b64_of(const uint8_t *p, size_t n, char *out, size_t cap)
{
    if (dmsec_b64_encode(p, n, out, cap, NULL))
        out[0] = '\0';
}

/* Bytes as lowercase hex, "-" when none. */
static void hex_of(const uint8_t *p, size_t n, char *out, size_t cap)
{
    if (n == 0 || dmsec_hex_encode(p, n, out, cap))
        snprintf(out, cap, "-");
}

/* An audit row for a change an operator made (never a secret in detail). */
int tool_audit_change(dmsec_store_t *st, const char *device_id, const char *event,
                      const char *detail)
{
    char text[256];
    snprintf(text, sizeof text, "by %s%s%s", tool_operator(), detail && detail[0] ? ": " : "",
             detail ? detail : "");
    return dmsec_store_audit(st, (int64_t)time(NULL), device_id, event, text);
}

/* The server id of the store: want (from --server-id, may be NULL) checked
 * against the one the store belongs to, set when it has none (the default
 * when want is NULL). 0, or TOOL_EXIT_FAIL after saying why. */
int tool_server_id(dmsec_store_t *st, const char *want, char *out, size_t cap)
{
    int rc = dmsec_store_server_id(st, NULL, out, cap);
    if (rc == DMSEC_ERR_STORE_NOT_FOUND)
        rc = dmsec_store_server_id(st, want ? want : DEFAULT_SERVER_ID, out, cap);
    if (rc)
        return tool_fail("server id", rc);
    if (want && strcmp(want, out) != 0) {
        tool_error("this store (%s) belongs to server '%s', not '%s'", tool_store_name(), out,
                   want);
        return TOOL_EXIT_FAIL;
    }
    return 0;
}

/* "--name why" for a bad field of device add (the field's name with
 * dashes: client_name is --client-name). */
static void option_error(const char *field, const char *why)
{
    char opt[32];
    snprintf(opt, sizeof opt, "%s", field);
    for (char *c = opt; *c; c++) {
        if (*c == '_')
            *c = '-';
    }
    tool_error("--%s %s", opt, why);
}

/* A device's fields from text, shared by device add and device import:
 * the rules of a device record in one place. */
int tool_device_fields(const tool_device_in_t *in, dmsec_device_t *d, const char **field, char *why,
                       size_t cap)
{
#define BAD(f, ...)                                                                                \
    do {                                                                                           \
        *field = f;                                                                                \
        snprintf(why, cap, __VA_ARGS__);                                                           \
        return TOOL_EXIT_USAGE;                                                                    \
    } while (0)
    if (!in->device_id || !in->device_id[0] || strlen(in->device_id) >= sizeof d->device_id)
        BAD("device_id", "takes 1 to %zu characters", sizeof d->device_id - 1);
    if (!in->client_name || !in->client_name[0] || strlen(in->client_name) >= sizeof d->client_name)
        BAD("client_name", "takes 1 to %zu characters", sizeof d->client_name - 1);
    if (!in->scheme || parse_scheme(in->scheme, &d->client_scheme, &d->integrity))
        BAD("scheme", "must be basic, md5, sha256, hmac-md5 or hmac-sha256");
    d->server_scheme = d->client_scheme;
    dmsec_integrity_t ignored;
    if (in->server_scheme && in->server_scheme[0] &&
        (parse_scheme(in->server_scheme, &d->server_scheme, &ignored) ||
         ignored != DMSEC_INTEGRITY_NONE))
        BAD("server_scheme", "must be basic, md5 or sha256");
    if (in->notify && in->notify[0]) {
        if (dmsec_dispatch_check_addr(in->notify))
            BAD("notify", "must be udp://HOST:PORT");
        snprintf(d->notify_addr, sizeof d->notify_addr, "%s", in->notify);
    }
    /* Never cut: a cut subject would name every certificate that starts
     * the same. */
    if (in->cert_subject && strlen(in->cert_subject) >= sizeof d->cert_subject)
        BAD("cert_subject", "takes at most %zu characters", sizeof d->cert_subject - 1);
    if (in->cert_subject)
        snprintf(d->cert_subject, sizeof d->cert_subject, "%s", in->cert_subject);
    if (in->srvcred_path && strlen(in->srvcred_path) >= sizeof d->srvcred_path)
        BAD("srvcred_path", "takes at most %zu characters", sizeof d->srvcred_path - 1);
    snprintf(d->srvcred_path, sizeof d->srvcred_path, "%s",
             in->srvcred_path && in->srvcred_path[0] ? in->srvcred_path
                                                     : "./DMAcc/dmsec/AppAuth/SRVCRED");
    snprintf(d->device_id, sizeof d->device_id, "%s", in->device_id);
    snprintf(d->client_name, sizeof d->client_name, "%s", in->client_name);
#undef BAD
    return 0;
}

int tool_secret_check(const char *client_secret, const char *server_secret, const char **field)
{
    size_t cl = client_secret ? strlen(client_secret) : 0;
    size_t sl = server_secret ? strlen(server_secret) : 0;
    *field = cl == 0 || cl > DMSEC_SECRET_MAX   ? "client_secret"
             : sl == 0 || sl > DMSEC_SECRET_MAX ? "server_secret"
                                                : NULL;
    return *field ? TOOL_EXIT_USAGE : 0;
}

int tool_secret_new(char out[TOOL_SECRET_LEN + 1])
{
    if (dmsec_secret_generate(NULL, out, TOOL_SECRET_LEN)) {
        tool_error("no randomness from the OS");
        return TOOL_EXIT_FAIL;
    }
    return 0;
}

/* The secrets of a device whose fields are set (secrets checked by
 * tool_secret_check): pre-hashes for the store's server id, plaintexts
 * only where the protocol needs them, created now, fresh nonces where d
 * has none yet (a device provisioned in advance brings its own). */
int tool_device_keys(dmsec_device_t *d, const char *client_secret, const char *server_secret,
                     const char *server_id)
{
    size_t cl = strlen(client_secret);
    size_t sl = strlen(server_secret);
    dmsec_prehash_compute(d->client_name, (const uint8_t *)client_secret, cl, &d->client_prehash);
    dmsec_prehash_compute(server_id, (const uint8_t *)server_secret, sl, &d->server_prehash);
    if (d->integrity == DMSEC_INTEGRITY_HMAC_SHA256) {
        memcpy(d->client_secret, client_secret, cl);
        d->client_secret_len = cl;
    }
    if (d->integrity == DMSEC_INTEGRITY_HMAC_SHA256 || d->server_scheme == DMSEC_AUTH_BASIC) {
        memcpy(d->server_secret, server_secret, sl);
        d->server_secret_len = sl;
    }
    d->created = (int64_t)time(NULL);
    if (!d->client_nonce_len) {
        if (dmsec_nonce_generate(NULL, d->client_nonce))
            return TOOL_EXIT_FAIL;
        d->client_nonce_len = DMSEC_NONCE_LEN;
    }
    if (!d->server_nonce_len) {
        if (dmsec_nonce_generate(NULL, d->server_nonce))
            return TOOL_EXIT_FAIL;
        d->server_nonce_len = DMSEC_NONCE_LEN;
    }
    return 0;
}

static int device_add(int argc, char **argv)
{
    static const char *const known[] = {"db",
                                        "device-id",
                                        "client-name",
                                        "client-secret",
                                        "client-secret-file",
                                        "scheme",
                                        "server-secret",
                                        "server-secret-file",
                                        "server-scheme",
                                        "notify",
                                        "server-id",
                                        "cert-subject",
                                        "srvcred-path",
                                        NULL};
    static const char *const flags[] = {"json", NULL};
    tool_opts_t o;
    if (opts_parse(&o, argc, argv, known, flags))
        return TOOL_EXIT_USAGE;
    const char *id = opt_need(&o, "device-id");
    const char *name = opt_need(&o, "client-name");
    const char *scheme = opt_need(&o, "scheme");
    if (!id || !name || !scheme)
        return TOOL_EXIT_USAGE;
    const char *want_server_id = opt_get(&o, "server-id");
    if (want_server_id && (!want_server_id[0] || strlen(want_server_id) >= DMSEC_NAME_MAX)) {
        tool_error("--server-id takes 1 to %d characters", DMSEC_NAME_MAX - 1);
        return TOOL_EXIT_USAGE;
    }
    char server_id[DMSEC_NAME_MAX] = "";
    dmsec_device_t d;
    memset(&d, 0, sizeof d);
    const tool_device_in_t in = {id,
                                 name,
                                 scheme,
                                 opt_get(&o, "server-scheme"),
                                 opt_get(&o, "notify"),
                                 opt_get(&o, "cert-subject"),
                                 opt_get(&o, "srvcred-path")};
    const char *field = NULL;
    char why[96];
    if (tool_device_fields(&in, &d, &field, why, sizeof why)) {
        option_error(field, why);
        return TOOL_EXIT_USAGE;
    }

    char *client_secret = secret_from_opts(&o, "client-secret", "client-secret-file");
    if (!client_secret)
        return TOOL_EXIT_USAGE;
    char generated[TOOL_SECRET_LEN + 1] = "";
    char *server_secret = NULL;
    int rc = 0;
    if (opt_get(&o, "server-secret") || opt_get(&o, "server-secret-file")) {
        server_secret = secret_from_opts(&o, "server-secret", "server-secret-file");
        if (!server_secret)
            rc = TOOL_EXIT_USAGE;
    } else {
        /* DM-SEC-S-001: a server secret unique to this device. */
        rc = tool_secret_new(generated);
        server_secret = generated;
    }
    if (!rc && tool_secret_check(client_secret, server_secret, &field)) {
        tool_error("secrets take 1 to %d bytes", DMSEC_SECRET_MAX);
        rc = TOOL_EXIT_USAGE;
    }
    dmsec_store_t *st = rc ? NULL : tool_store_open(&o);
    if (!rc && !st)
        rc = TOOL_EXIT_FAIL;
    /* The server's Cred is computed for the server id the store belongs
     * to: the one given here must be it. */
    if (!rc)
        rc = tool_server_id(st, want_server_id, server_id, sizeof server_id);
    if (!rc)
        rc = tool_device_keys(&d, client_secret, server_secret, server_id);
    if (!rc) {
        /* Durable before the secret is shown: the device must never hold
         * a secret the store lost. */
        int err = dmsec_store_begin(st);
        if (!err) {
            err = dmsec_store_device_add(st, &d);
            if (!err) {
                char detail[128];
                snprintf(detail, sizeof detail, "scheme %s", scheme);
                err = tool_audit_change(st, d.device_id, "device_added", detail);
            }
            err = err ? (dmsec_store_rollback(st), err) : dmsec_store_commit(st);
        }
        if (!err)
            err = dmsec_store_sync(st);
        if (err == DMSEC_ERR_STORE_EXISTS) {
            tool_error("device '%s' is already in %s", d.device_id, tool_store_name());
            rc = TOOL_EXIT_FAIL;
        } else if (err) {
            rc = tool_fail("device add", err);
        }
    }
    if (!rc) {
        char cn[32];
        char sn[32];
        b64_of(d.client_nonce, d.client_nonce_len, cn, sizeof cn);
        b64_of(d.server_nonce, d.server_nonce_len, sn, sizeof sn);
        if (opt_flag(&o, "json")) {
            printf("{\"device_id\":");
            json_str(d.device_id);
            printf(",\"server_id\":");
            json_str(server_id);
            printf(",\"server_secret\":");
            json_str(server_secret);
            printf(",\"client_nonce_b64\":\"%s\",\"server_nonce_b64\":\"%s\"}\n", cn, sn);
        } else {
            printf("device_id      %s\nserver_id      %s\nserver_secret  %s\n"
                   "client_nonce   %s\nserver_nonce   %s\n",
                   d.device_id, server_id, server_secret, cn, sn);
            fprintf(stderr, "dmsec: the server secret is shown this once; give it to the "
                            "device (SRVCRED AAuthSecret)\n");
        }
    }
    dmsec_store_close(st);
    secret_free(client_secret);
    if (server_secret != generated)
        secret_free(server_secret);
    memset(generated, 0, sizeof generated);
    memset(&d, 0, sizeof d);
    return rc;
}

/* ---- list and show ---- */

/* Where a device stands with its nonces: in sync, or an outstanding
 * resynchronisation (a default-nonce notification not yet used), or one
 * that expired unused with no session since. */
typedef enum { SYNC_IN, SYNC_PENDING, SYNC_FAILED } sync_state_t;

static const char *sync_name(sync_state_t s)
{
    return s == SYNC_PENDING ? "resync pending" : s == SYNC_FAILED ? "resync failed" : "in sync";
}

struct sync_scan {
    int64_t now;
    dmsec_notification_t copy; /* the newest default-nonce notification */
    int found;
};

static int sync_one(void *ctx, const dmsec_notification_t *n)
{
    struct sync_scan *s = ctx;
    if (n->default_nonce && (!s->found || n->sent >= s->copy.sent)) {
        s->copy = *n;
        s->found = 1;
    }
    return 0;
}

/* A device's state for the listings. */
struct dev_view {
    int disabled;
    int64_t last_seen;
    sync_state_t sync;
    unsigned rot_requested; /* DMSEC_ROTATE_* asked for by an operator, not confirmed */
    unsigned rot_pending;   /* DMSEC_ROTATE_* sent to the device, not confirmed */
};

static int device_view(dmsec_store_t *st, const dmsec_device_t *d, struct dev_view *v)
{
    memset(v, 0, sizeof *v);
    dmsec_device_t tmp;
    int rc = dmsec_store_device_get_any(st, d->device_id, &tmp, &v->disabled);
    memset(&tmp, 0, sizeof tmp);
    int64_t first = 0;
    if (!rc)
        rc = dmsec_store_device_seen_get(st, d->device_id, &first, &v->last_seen);
    struct sync_scan s = {.now = (int64_t)time(NULL)};
    if (!rc)
        rc = dmsec_store_notification_list(st, d->device_id, sync_one, &s);
    dmsec_rotation_t rot;
    if (!rc && !(rc = dmsec_store_rotation_get(st, d->device_id, &rot))) {
        v->rot_requested = rot.requested;
        v->rot_pending = rot.pending;
    }
    dmsec_store_rotation_wipe(&rot);
    if (!rc && s.found && !s.copy.consumed) {
        if (s.copy.expires > s.now)
            v->sync = SYNC_PENDING;
        else if (v->last_seen < s.copy.sent)
            v->sync = SYNC_FAILED;
    }
    return rc;
}

struct list_ctx {
    int json;
    int n;
    int out_of_sync;
    dmsec_store_t *st;
    int err;
};

static void print_device(const dmsec_device_t *d, const struct dev_view *v, int json, int nonces)
{
    char created[32];
    char seen[32];
    tool_iso_time(d->created, created);
    tool_iso_time(v->last_seen, seen);
    if (json) {
        printf("{\"device_id\":");
        json_str(d->device_id);
        printf(",\"client_name\":");
        json_str(d->client_name);
        printf(",\"scheme\":\"%s\",\"server_scheme\":\"%s\",\"notify\":", scheme_label(d),
               dmsec_auth_scheme_name(d->server_scheme));
        json_str(d->notify_addr);
        printf(",\"cert_subject\":");
        json_str(d->cert_subject);
        printf(",\"srvcred_path\":");
        json_str(d->srvcred_path);
        printf(",\"rotation_pending\":%s,\"created\":\"%s\",\"disabled\":%s,\"last_seen\":",
               d->pending_secret_len ? "true" : "false", created, v->disabled ? "true" : "false");
        if (v->last_seen > 0)
            printf("\"%s\"", seen);
        else
            printf("null");
        printf(",\"sync\":\"%s\"", sync_name(v->sync));
        printf(",\"rotation\":{\"client\":{\"requested\":%s,\"pending\":%s},"
               "\"server\":{\"requested\":%s,\"pending\":%s}}",
               v->rot_requested & DMSEC_ROTATE_CLIENT ? "true" : "false",
               v->rot_pending & DMSEC_ROTATE_CLIENT ? "true" : "false",
               v->rot_requested & DMSEC_ROTATE_SERVER ? "true" : "false",
               v->rot_pending & DMSEC_ROTATE_SERVER ? "true" : "false");
        if (!nonces) {
            printf("}");
            return;
        }
        char cn[2 * DMSEC_NONCE_MAX + 1] = "";
        char cp[2 * DMSEC_NONCE_MAX + 1] = "";
        char sn[2 * DMSEC_NONCE_MAX + 1] = "";
        /* The nonces are not secret: the device's listing shows them. */
        if (d->client_nonce_len)
            hex_of(d->client_nonce, d->client_nonce_len, cn, sizeof cn);
        if (d->client_nonce_pending_len)
            hex_of(d->client_nonce_pending, d->client_nonce_pending_len, cp, sizeof cp);
        if (d->server_nonce_len)
            hex_of(d->server_nonce, d->server_nonce_len, sn, sizeof sn);
        printf(",\"nonces\":{\"client\":\"%s\",\"client_pending\":\"%s\",\"server\":\"%s\"}}", cn,
               cp, sn);
    } else {
        printf("%-28s %-20s %-11s %-10s %-24s %-8s %-20s %s\n", d->device_id, d->client_name,
               scheme_label(d), dmsec_auth_scheme_name(d->server_scheme),
               d->notify_addr[0] ? d->notify_addr : "-", v->disabled ? "disabled" : "enabled",
               v->last_seen > 0 ? seen : "never", sync_name(v->sync));
    }
}

static void list_header(void)
{
    printf("%-28s %-20s %-11s %-10s %-24s %-8s %-20s %s\n", "DEVICE", "CLIENT NAME", "SCHEME",
           "SRV SCHEME", "NOTIFY", "STATE", "LAST SEEN", "SYNC");
}

static int list_one(void *ctx, const dmsec_device_t *d)
{
    struct list_ctx *l = ctx;
    struct dev_view v;
    l->err = device_view(l->st, d, &v);
    if (l->err)
        return 1;
    if (l->out_of_sync && v.sync == SYNC_IN)
        return 0;
    if (l->json)
        printf("%s", l->n ? ",\n" : "");
    else if (l->n == 0)
        list_header();
    print_device(d, &v, l->json, 0);
    l->n++;
    return 0;
}

static int print_notification(void *ctx, const dmsec_notification_t *n)
{
    struct list_ctx *l = ctx;
    char sent[32];
    char expires[32];
    tool_iso_time(n->sent, sent);
    tool_iso_time(n->expires, expires);
    if (l->json) {
        printf("%s{\"session_id\":\"%X\",\"default_nonce\":%s,\"sent\":\"%s\",\"expires\":\"%s\","
               "\"opened\":%s,\"consumed\":%s,\"attempts\":%d}",
               l->n ? "," : "", (unsigned)n->session_id, n->default_nonce ? "true" : "false", sent,
               expires, n->opened ? "true" : "false", n->consumed ? "true" : "false", n->attempts);
    } else {
        if (l->n == 0)
            printf("\nNOTIFICATIONS\n  %-7s %-8s %-20s %-20s %-8s %s\n", "SESSION", "KIND", "SENT",
                   "EXPIRES", "ATTEMPTS", "STATE");
        printf("  %-7X %-8s %-20s %-20s %-8d %s\n", (unsigned)n->session_id,
               n->default_nonce ? "resync" : "normal", sent, expires, n->attempts,
               n->consumed ? "consumed"
               : n->opened ? "opened"
                           : "sent");
    }
    l->n++;
    return 0;
}

static void show_device(const dmsec_device_t *d, const struct dev_view *v, int json)
{
    if (json) {
        print_device(d, v, 1, 1);
        return;
    }
    char created[32];
    char seen[32];
    tool_iso_time(d->created, created);
    tool_iso_time(v->last_seen, seen);
    printf("device          %s\n", d->device_id);
    printf("state           %s\n", v->disabled ? "disabled" : "enabled");
    printf("client name     %s\n", d->client_name);
    printf("scheme          %s\n", scheme_label(d));
    printf("server scheme   %s\n", dmsec_auth_scheme_name(d->server_scheme));
    printf("notify          %s\n", d->notify_addr[0] ? d->notify_addr : "-");
    printf("srvcred path    %s\n", d->srvcred_path);
    printf("cert subject    %s\n", d->cert_subject[0] ? d->cert_subject : "-");
    printf("created         %s\n", created);
    printf("last seen       %s\n", v->last_seen > 0 ? seen : "never");
    printf("sync            %s\n", sync_name(v->sync));
    for (int side = 0; side < 2; side++) {
        unsigned bit = side ? DMSEC_ROTATE_SERVER : DMSEC_ROTATE_CLIENT;
        int req = (v->rot_requested & bit) != 0;
        int pend = (v->rot_pending & bit) != 0;
        printf("rotation %s  %s%s%s\n", side ? "server" : "client", req ? "requested" : "",
               req && pend ? ", " : "",
               pend  ? "pending (sent, not confirmed)"
               : req ? ""
                     : "-");
    }
    char cn[2 * DMSEC_NONCE_MAX + 1];
    char cp[2 * DMSEC_NONCE_MAX + 1];
    char sn[2 * DMSEC_NONCE_MAX + 1];
    hex_of(d->client_nonce, d->client_nonce_len, cn, sizeof cn);
    hex_of(d->client_nonce_pending, d->client_nonce_pending_len, cp, sizeof cp);
    hex_of(d->server_nonce, d->server_nonce_len, sn, sizeof sn);
    printf("client nonce    %s (hex)\n", cn);
    printf("pending nonce   %s\n", cp);
    printf("server nonce    %s (hex)\n", sn);
}

/* The device named by the first argument (DEVICE) or by --device-id. */
static int device_arg(int *argc, char ***argv, const char **id)
{
    *id = NULL;
    if (*argc >= 1 && strncmp((*argv)[0], "--", 2) != 0) {
        *id = (*argv)[0];
        (*argc)--;
        (*argv)++;
    }
    return 0;
}

static const char *device_id_of(tool_opts_t *o, const char *pos)
{
    const char *opt = opt_get(o, "device-id");
    if (pos && opt) {
        tool_error("give the device once: DEVICE or --device-id");
        return NULL;
    }
    if (!pos && !opt)
        tool_error("missing DEVICE (or --device-id)");
    return pos ? pos : opt;
}

static int device_list(int argc, char **argv)
{
    static const char *const known[] = {"db", NULL};
    static const char *const flags[] = {"json", "out-of-sync", NULL};
    tool_opts_t o;
    if (opts_parse(&o, argc, argv, known, flags))
        return TOOL_EXIT_USAGE;
    dmsec_store_t *st = tool_store_open_mode(&o, TOOL_STORE_READ);
    if (!st)
        return TOOL_EXIT_FAIL;
    struct list_ctx l = {opt_flag(&o, "json"), 0, opt_flag(&o, "out-of-sync"), st, 0};
    if (l.json)
        printf("[");
    int err = dmsec_store_device_list(st, list_one, &l);
    if (!err)
        err = l.err;
    if (l.json)
        printf("]\n");
    else if (!err && l.n == 0)
        fprintf(stderr, "dmsec: no devices%s in %s\n", l.out_of_sync ? " out of sync" : "",
                tool_store_name());
    dmsec_store_close(st);
    return err ? tool_fail("device list", err) : 0;
}

/* The one-device commands (show, remove, disable, enable): DEVICE or
 * --device-id, --db, --json; the store opened in mode. NULL with *rc the
 * exit code after a usage or open error. */
static dmsec_store_t *one_device(int argc, char **argv, int mode, tool_opts_t *o, const char **id,
                                 int *json, int *rc)
{
    static const char *const known[] = {"db", "device-id", NULL};
    static const char *const flags[] = {"json", NULL};
    const char *pos = NULL;
    device_arg(&argc, &argv, &pos);
    *rc = TOOL_EXIT_USAGE;
    if (opts_parse(o, argc, argv, known, flags) || !(*id = device_id_of(o, pos)))
        return NULL;
    *json = opt_flag(o, "json");
    dmsec_store_t *st = tool_store_open_mode(o, mode);
    *rc = st ? 0 : TOOL_EXIT_FAIL;
    return st;
}

static int device_show(int argc, char **argv)
{
    tool_opts_t o;
    const char *id = NULL;
    int json = 0, open_rc = 0;
    dmsec_store_t *st = one_device(argc, argv, TOOL_STORE_READ, &o, &id, &json, &open_rc);
    if (!st)
        return open_rc;
    dmsec_device_t d;
    struct dev_view v;
    int rc = 0;
    int err = dmsec_store_device_get_any(st, id, &d, NULL);
    if (err == DMSEC_ERR_STORE_NOT_FOUND)
        rc = tool_no_device(id);
    else if (!err)
        err = device_view(st, &d, &v);
    if (!rc && !err) {
        struct list_ctx l = {json, 0, 0, st, 0};
        if (json) {
            printf("{\"device\":");
            show_device(&d, &v, 1);
            printf(",\"notifications\":[");
            err = dmsec_store_notification_list(st, id, print_notification, &l);
            printf("]}\n");
        } else {
            show_device(&d, &v, 0);
            err = dmsec_store_notification_list(st, id, print_notification, &l);
        }
    }
    memset(&d, 0, sizeof d);
    if (!rc && err)
        rc = tool_fail("device show", err);
    dmsec_store_close(st);
    return rc;
}

/* remove, disable, enable: one change of one device, audited. */
static int device_change(int argc, char **argv, const char *verb)
{
    tool_opts_t o;
    const char *id = NULL;
    int json = 0, open_rc = 0;
    dmsec_store_t *st = one_device(argc, argv, TOOL_STORE_WRITE, &o, &id, &json, &open_rc);
    if (!st)
        return open_rc;
    int remove = !strcmp(verb, "remove");
    int disable = !strcmp(verb, "disable");
    char event[32];
    snprintf(event, sizeof event, "device_%s",
             remove    ? "removed"
             : disable ? "disabled"
                       : "enabled");
    int err = dmsec_store_begin(st);
    if (!err) {
        err = remove ? dmsec_store_device_remove(st, id)
                     : dmsec_store_device_set_disabled(st, id, disable);
        if (!err)
            err = tool_audit_change(st, id, event, NULL);
        err = err ? (dmsec_store_rollback(st), err) : dmsec_store_commit(st);
    }
    if (!err)
        err = dmsec_store_sync(st);
    int rc = 0;
    if (err == DMSEC_ERR_STORE_NOT_FOUND)
        rc = tool_no_device(id);
    else if (err)
        rc = tool_fail(verb, err);
    else if (json)
        printf("{\"device_id\":\"%s\",\"%s\":true}\n", id,
               remove    ? "removed"
               : disable ? "disabled"
                         : "enabled");
    else
        printf("%s %s\n", remove ? "removed" : disable ? "disabled" : "enabled", id);
    dmsec_store_close(st);
    return rc;
}

/* The changes of device update into d (read from the store). changed
 * lists the fields changed; 0 or a TOOL_EXIT_* after saying why. */
static int update_apply(tool_opts_t *o, dmsec_device_t *d, const char *server_id, char *changed,
                        size_t cap)
{
    changed[0] = '\0';
#define CHANGED(name)                                                                              \
    snprintf(changed + strlen(changed), cap - strlen(changed), "%s%s", changed[0] ? ", " : "", name)
    const char *notify = opt_get(o, "notify");
    if (notify && opt_flag(o, "no-notify")) {
        tool_error("give --notify or --no-notify, not both");
        return TOOL_EXIT_USAGE;
    }
    if (notify) {
        if (dmsec_dispatch_check_addr(notify) || strlen(notify) >= sizeof d->notify_addr) {
            tool_error("--notify must be udp://HOST:PORT");
            return TOOL_EXIT_USAGE;
        }
        snprintf(d->notify_addr, sizeof d->notify_addr, "%s", notify);
        CHANGED("notify");
    } else if (opt_flag(o, "no-notify")) {
        d->notify_addr[0] = '\0';
        CHANGED("notify");
    }
    const char *cs = opt_get(o, "cert-subject");
    if (cs) {
        if (strlen(cs) >= sizeof d->cert_subject) {
            tool_error("--cert-subject takes at most %zu characters", sizeof d->cert_subject - 1);
            return TOOL_EXIT_USAGE;
        }
        snprintf(d->cert_subject, sizeof d->cert_subject, "%s", cs);
        CHANGED("cert_subject");
    }
    const char *sp = opt_get(o, "srvcred-path");
    if (sp) {
        if (!sp[0] || strlen(sp) >= sizeof d->srvcred_path) {
            tool_error("--srvcred-path takes 1 to %zu characters", sizeof d->srvcred_path - 1);
            return TOOL_EXIT_USAGE;
        }
        snprintf(d->srvcred_path, sizeof d->srvcred_path, "%s", sp);
        CHANGED("srvcred_path");
    }
    /* The client's secret is kept as H(name:secret) (and as plaintext only
     * for hmac-sha256): a new name or a scheme that needs the plaintext
     * takes the secret the device already has. */
    char *client_secret = NULL;
    if (opt_get(o, "client-secret") || opt_get(o, "client-secret-file")) {
        client_secret = secret_from_opts(o, "client-secret", "client-secret-file");
        if (!client_secret)
            return TOOL_EXIT_USAGE;
        if (!client_secret[0] || strlen(client_secret) > DMSEC_SECRET_MAX) {
            secret_free(client_secret);
            tool_error("secrets take 1 to %d bytes", DMSEC_SECRET_MAX);
            return TOOL_EXIT_USAGE;
        }
    } else if (d->client_secret_len) {
        client_secret = calloc(1, d->client_secret_len + 1);
        if (!client_secret)
            return TOOL_EXIT_FAIL;
        memcpy(client_secret, d->client_secret, d->client_secret_len);
    }
    int rc = 0;
    const char *name = opt_get(o, "client-name");
    if (name && (!name[0] || strlen(name) >= sizeof d->client_name)) {
        tool_error("--client-name takes 1 to %zu characters", sizeof d->client_name - 1);
        rc = TOOL_EXIT_USAGE;
    }
    const char *scheme = opt_get(o, "scheme");
    if (!rc && scheme) {
        if (parse_scheme(scheme, &d->client_scheme, &d->integrity)) {
            tool_error("--scheme must be basic, md5, sha256, hmac-md5 or hmac-sha256");
            rc = TOOL_EXIT_USAGE;
        } else {
            CHANGED("scheme");
        }
    }
    const char *ss = opt_get(o, "server-scheme");
    dmsec_integrity_t ignored;
    if (!rc && ss) {
        if (parse_scheme(ss, &d->server_scheme, &ignored) || ignored != DMSEC_INTEGRITY_NONE) {
            tool_error("--server-scheme must be basic, md5 or sha256");
            rc = TOOL_EXIT_USAGE;
        } else {
            CHANGED("server_scheme");
        }
    }
    int need_client_plain = (name && strcmp(name, d->client_name) != 0) ||
                            (d->integrity == DMSEC_INTEGRITY_HMAC_SHA256);
    if (!rc && need_client_plain && !client_secret) {
        tool_error("%s needs the device's client secret, which %s keeps only hashed: give "
                   "--client-secret or --client-secret-file (the one the device has)",
                   name ? "a new client name" : "hmac-sha256", tool_store_name());
        rc = TOOL_EXIT_FAIL;
    }
    if (!rc && name && strcmp(name, d->client_name) != 0) {
        snprintf(d->client_name, sizeof d->client_name, "%s", name);
        CHANGED("client_name");
    }
    if (!rc && client_secret) {
        size_t cl = strlen(client_secret);
        dmsec_prehash_compute(d->client_name, (const uint8_t *)client_secret, cl,
                              &d->client_prehash);
        memset(d->client_secret, 0, sizeof d->client_secret);
        d->client_secret_len = 0;
        if (d->integrity == DMSEC_INTEGRITY_HMAC_SHA256) {
            memcpy(d->client_secret, client_secret, cl);
            d->client_secret_len = cl;
        }
    } else if (!rc && d->integrity != DMSEC_INTEGRITY_HMAC_SHA256) {
        memset(d->client_secret, 0, sizeof d->client_secret);
        d->client_secret_len = 0;
    }
    secret_free(client_secret);
    /* The server's plaintext: needed for basic and for hmac-sha256, kept
     * only where needed; it cannot be recovered from its hashes. */
    int need_server_plain =
        d->integrity == DMSEC_INTEGRITY_HMAC_SHA256 || d->server_scheme == DMSEC_AUTH_BASIC;
    if (!rc && need_server_plain && d->server_secret_len == 0) {
        tool_error("%s needs the server's secret towards the device as plaintext, which %s does "
                   "not keep for this device: that change needs a new server secret (remove and "
                   "add the device)",
                   d->integrity == DMSEC_INTEGRITY_HMAC_SHA256 ? "hmac-sha256"
                                                               : "the basic server scheme",
                   tool_store_name());
        rc = TOOL_EXIT_FAIL;
    }
    if (!rc && !need_server_plain) {
        memset(d->server_secret, 0, sizeof d->server_secret);
        d->server_secret_len = 0;
    }
    (void)server_id;
#undef CHANGED
    return rc;
}

static int device_update(int argc, char **argv)
{
    static const char *const known[] = {"db",           "device-id",     "notify",
                                        "client-name",  "client-secret", "client-secret-file",
                                        "scheme",       "server-scheme", "cert-subject",
                                        "srvcred-path", "server-id",     NULL};
    static const char *const flags[] = {"json", "no-notify", NULL};
    const char *pos = NULL;
    device_arg(&argc, &argv, &pos);
    tool_opts_t o;
    if (opts_parse(&o, argc, argv, known, flags))
        return TOOL_EXIT_USAGE;
    const char *id = device_id_of(&o, pos);
    if (!id)
        return TOOL_EXIT_USAGE;
    dmsec_store_t *st = tool_store_open_mode(&o, TOOL_STORE_WRITE);
    if (!st)
        return TOOL_EXIT_FAIL;
    char server_id[DMSEC_NAME_MAX] = "";
    int rc = tool_server_id(st, opt_get(&o, "server-id"), server_id, sizeof server_id);
    dmsec_device_t d;
    memset(&d, 0, sizeof d);
    char changed[160] = "";
    int err = rc ? 0 : dmsec_store_begin(st);
    if (!rc && !err) {
        err = dmsec_store_device_get_any(st, id, &d, NULL);
        if (!err) {
            rc = update_apply(&o, &d, server_id, changed, sizeof changed);
            if (!rc && !changed[0]) {
                tool_error("nothing to change: give --notify, --no-notify, --client-name, "
                           "--scheme, --server-scheme, --cert-subject or --srvcred-path");
                rc = TOOL_EXIT_USAGE;
            }
        }
        if (!rc && !err)
            err = dmsec_store_device_update(st, &d);
        if (!rc && !err)
            err = tool_audit_change(st, id, "device_updated", changed);
        err = err || rc ? (dmsec_store_rollback(st), err) : dmsec_store_commit(st);
    }
    if (!rc && !err)
        err = dmsec_store_sync(st);
    if (!rc && err == DMSEC_ERR_STORE_NOT_FOUND)
        rc = tool_no_device(id);
    else if (!rc && err == DMSEC_ERR_STORE_EXISTS) {
        tool_error("another device in %s has that certificate subject", tool_store_name());
        rc = TOOL_EXIT_FAIL;
    } else if (!rc && err)
        rc = tool_fail("device update", err);
    if (!rc) {
        if (opt_flag(&o, "json")) {
            printf("{\"device_id\":");
            json_str(id);
            printf(",\"updated\":");
            json_str(changed);
            printf("}\n");
        } else {
            printf("updated %s: %s\n", id, changed);
        }
    }
    memset(&d, 0, sizeof d);
    dmsec_store_close(st);
    return rc;
}

/* rotate: an operator's request for a new secret of the device (--client,
 * its CLCRED) and/or of the server towards it (--server, SRVCRED),
 * delivered in the device's next authenticated session and kept until the
 * device confirms it. A disabled device may be asked too: it gets the new
 * secrets in its first session once enabled (disable, rotate, enable is
 * the way to retire secrets thought to be known to someone else). */
static int device_rotate(int argc, char **argv)
{
    static const char *const known[] = {"db", "device-id", NULL};
    static const char *const flags[] = {"client", "server", "json", NULL};
    tool_opts_t o;
    const char *pos = NULL;
    const char *id = NULL;
    device_arg(&argc, &argv, &pos);
    if (opts_parse(&o, argc, argv, known, flags) || !(id = device_id_of(&o, pos)))
        return TOOL_EXIT_USAGE;
    unsigned sides = (opt_flag(&o, "client") ? DMSEC_ROTATE_CLIENT : 0u) |
                     (opt_flag(&o, "server") ? DMSEC_ROTATE_SERVER : 0u);
    if (!sides) {
        tool_error("device rotate: say which secret: --client (the device's), --server (the "
                   "server's towards it), or both");
        return TOOL_EXIT_USAGE;
    }
    dmsec_store_t *st = tool_store_open_mode(&o, TOOL_STORE_WRITE);
    if (!st)
        return TOOL_EXIT_FAIL;
    const char *what = sides == (DMSEC_ROTATE_CLIENT | DMSEC_ROTATE_SERVER)
                           ? "client and server secrets"
                       : sides == DMSEC_ROTATE_CLIENT ? "client secret"
                                                      : "server secret";
    char detail[64];
    snprintf(detail, sizeof detail, "side=%s",
             sides == (DMSEC_ROTATE_CLIENT | DMSEC_ROTATE_SERVER) ? "client,server"
             : sides == DMSEC_ROTATE_CLIENT                       ? "client"
                                                                  : "server");
    dmsec_device_t d;
    int disabled = 0;
    int err = dmsec_store_begin(st);
    if (!err) {
        err = dmsec_store_device_get_any(st, id, &d, &disabled);
        memset(&d, 0, sizeof d);
        if (!err)
            err = dmsec_store_rotation_request(st, id, sides);
        if (!err)
            err = tool_audit_change(st, id, "rotation_requested", detail);
        err = err ? (dmsec_store_rollback(st), err) : dmsec_store_commit(st);
    }
    if (!err)
        err = dmsec_store_sync(st);
    int rc = 0;
    if (err == DMSEC_ERR_STORE_NOT_FOUND) {
        rc = tool_no_device(id);
    } else if (err) {
        rc = tool_fail("device rotate", err);
    } else if (opt_flag(&o, "json")) {
        printf("{\"device_id\":");
        json_str(id);
        printf(",\"rotation_requested\":{\"client\":%s,\"server\":%s},\"disabled\":%s}\n",
               sides & DMSEC_ROTATE_CLIENT ? "true" : "false",
               sides & DMSEC_ROTATE_SERVER ? "true" : "false", disabled ? "true" : "false");
    } else {
        printf("rotation of the %s of %s requested: delivered in its next session%s\n", what, id,
               disabled ? " (the device is disabled: once it is enabled)" : "");
    }
    dmsec_store_close(st);
    return rc;
}

int cmd_device(int argc, char **argv)
{
    const char *verb = argc >= 2 ? argv[1] : "";
    if (!strcmp(verb, "add"))
        return device_add(argc - 2, argv + 2);
    if (!strcmp(verb, "import"))
        return cmd_device_import(argc - 2, argv + 2);
    if (!strcmp(verb, "list"))
        return device_list(argc - 2, argv + 2);
    if (!strcmp(verb, "show"))
        return device_show(argc - 2, argv + 2);
    if (!strcmp(verb, "update"))
        return device_update(argc - 2, argv + 2);
    if (!strcmp(verb, "rotate"))
        return device_rotate(argc - 2, argv + 2);
    if (!strcmp(verb, "remove") || !strcmp(verb, "disable") || !strcmp(verb, "enable"))
        return device_change(argc - 2, argv + 2, verb);
    tool_error("usage: dmsec device add|import|list|show|update|rotate|disable|enable|remove --db "
               "PATH ... "
               "(see dmsec --help)");
    return TOOL_EXIT_USAGE;
}

/* The notification options of the command line (--server-id, --ui, --addr,
 * --ttl; --resync when the command lists it) into no; no->now is now.
 * Shared by notify and the management commands' --notify. */
int notify_opts_from(tool_opts_t *o, dmsec_notify_opts_t *no)
{
    memset(no, 0, sizeof *no);
    no->server_id = opt_get(o, "server-id");
    no->ui = DMSEC_UI_BACKGROUND;
    no->resync = opt_flag(o, "resync");
    no->now = (int64_t)time(NULL);
    no->addr = opt_get(o, "addr");
    if (!no->server_id)
        no->server_id = DEFAULT_SERVER_ID;
    const char *ui = opt_get(o, "ui");
    if (ui) {
        static const char *const names[] = {"unspecified", "background", "informative",
                                            "interactive"};
        int found = -1;
        for (int i = 0; i < 4; i++) {
            if (!strcmp(ui, names[i]))
                found = i;
        }
        if (found < 0) {
            tool_error("--ui must be unspecified, background, informative or interactive");
            return TOOL_EXIT_USAGE;
        }
        no->ui = (dmsec_ui_mode_t)found;
    }
    const char *ttl = opt_get(o, "ttl");
    if (ttl) {
        char *end = NULL;
        long v = strtol(ttl, &end, 10);
        if (!end || *end || v <= 0 || v > 86400L * 30) {
            tool_error("--ttl takes seconds, 1 to 2592000");
            return TOOL_EXIT_USAGE;
        }
        no->ttl = v;
    }
    return 0;
}

int cmd_notify(int argc, char **argv)
{
    static const char *const known[] = {"db", "server-id", "ui", "addr", "ttl", NULL};
    static const char *const flags[] = {"resync", "json", NULL};
    if (argc < 2 || !strncmp(argv[1], "--", 2)) {
        tool_error("usage: dmsec notify DEVICE --db PATH [--resync] [--ui MODE]");
        return TOOL_EXIT_USAGE;
    }
    const char *device = argv[1];
    tool_opts_t o;
    if (opts_parse(&o, argc - 2, argv + 2, known, flags))
        return TOOL_EXIT_USAGE;
    dmsec_notify_opts_t no;
    if (notify_opts_from(&o, &no))
        return TOOL_EXIT_USAGE;
    dmsec_store_t *st = tool_store_open_mode(&o, TOOL_STORE_WRITE);
    if (!st)
        return TOOL_EXIT_FAIL;
    /* The server id is the store's: the one given must be it. */
    char server_id[DMSEC_NAME_MAX] = "";
    if (tool_server_id(st, opt_get(&o, "server-id"), server_id, sizeof server_id)) {
        dmsec_store_close(st);
        return TOOL_EXIT_FAIL;
    }
    no.server_id = server_id;
    uint16_t sid = 0;
    int err = dmsec_dispatch_notify(st, device, &no, &sid);
    dmsec_store_close(st);
    if (err == DMSEC_ERR_STORE_NOT_FOUND)
        return tool_no_device(device);
    if (err)
        return tool_fail("notify", err);
    if (opt_flag(&o, "json"))
        printf("{\"device_id\":\"%s\",\"session_id\":\"%X\",\"resync\":%s}\n", device,
               (unsigned)sid, no.resync ? "true" : "false");
    else
        printf("%X\n", (unsigned)sid);
    return 0;
}

static int list_opts(int argc, char **argv, tool_opts_t *o, size_t *limit)
{
    static const char *const known[] = {"db", "limit", NULL};
    static const char *const flags[] = {"json", NULL};
    if (opts_parse(o, argc - 1, argv + 1, known, flags))
        return TOOL_EXIT_USAGE;
    *limit = 100;
    const char *l = opt_get(o, "limit");
    if (l) {
        char *end = NULL;
        long v = strtol(l, &end, 10);
        if (!end || *end || v < 0) {
            tool_error("--limit takes a count (0 for all)");
            return TOOL_EXIT_USAGE;
        }
        *limit = (size_t)v;
    }
    return 0;
}

static int print_session(void *ctx, const dmsec_session_rec_t *r)
{
    struct list_ctx *l = ctx;
    char started[32];
    char ended[32];
    tool_iso_time(r->started, started);
    tool_iso_time(r->ended, ended);
    const char *result = r->ended ? (r->result ? dmsec_errname(r->result) : "ok") : "open";
    if (l->json) {
        printf("%s{\"device_id\":", l->n ? ",\n" : "");
        json_str(r->device_id);
        printf(",\"session_id\":");
        json_str(r->session_id);
        printf(",\"peer\":");
        json_str(r->peer);
        printf(",\"started\":\"%s\",\"ended\":", started);
        if (r->ended)
            printf("\"%s\"", ended); /* null while the session is open */
        else
            printf("null");
        printf(",\"messages\":%d,\"result\":\"%s\"}", r->messages, result);
    } else {
        printf("%-20s  %-28s %-6s %-22s %8d  %s\n", started, r->device_id, r->session_id, r->peer,
               r->messages, result);
    }
    l->n++;
    return 0;
}

static int list_sessions(dmsec_store_t *st, size_t limit, struct list_ctx *l)
{
    return dmsec_store_session_list(st, limit, print_session, l);
}

/* sessions and audit: options, the store, a JSON array or text lines
 * under a header (header: the column names). */
static int run_listing(int argc, char **argv, const char *what, const char *header,
                       int (*list)(dmsec_store_t *st, size_t limit, struct list_ctx *l))
{
    tool_opts_t o;
    size_t limit;
    if (list_opts(argc, argv, &o, &limit))
        return TOOL_EXIT_USAGE;
    dmsec_store_t *st = tool_store_open_mode(&o, TOOL_STORE_READ);
    if (!st)
        return TOOL_EXIT_FAIL;
    struct list_ctx l = {opt_flag(&o, "json"), 0, 0, st, 0};
    if (l.json)
        printf("[");
    else
        puts(header);
    int err = list(st, limit, &l);
    if (l.json)
        printf("]\n");
    dmsec_store_close(st);
    return err ? tool_fail(what, err) : 0;
}

int cmd_sessions(int argc, char **argv)
{
    char header[160];
    snprintf(header, sizeof header, "%-20s  %-28s %-6s %-22s %8s  %s", "STARTED", "DEVICE", "SID",
             "PEER", "MESSAGES", "RESULT");
    return run_listing(argc, argv, "sessions", header, list_sessions);
}

static int print_audit(void *ctx, const dmsec_audit_rec_t *r)
{
    struct list_ctx *l = ctx;
    char at[32];
    tool_iso_time(r->at, at);
    if (l->json) {
        printf("%s{\"at\":\"%s\",\"device_id\":", l->n ? ",\n" : "", at);
        json_str(r->device_id);
        printf(",\"event\":");
        json_str(r->event);
        printf(",\"detail\":");
        json_str(r->detail);
        printf("}");
    } else {
        printf("%-20s  %-28s %-18s %s\n", at, r->device_id[0] ? r->device_id : "-", r->event,
               r->detail);
    }
    l->n++;
    return 0;
}

static int list_audit(dmsec_store_t *st, size_t limit, struct list_ctx *l)
{
    return dmsec_store_audit_list(st, limit, print_audit, l);
}

int cmd_audit(int argc, char **argv)
{
    char header[96];
    snprintf(header, sizeof header, "%-20s  %-28s %-18s %s", "AT", "DEVICE", "EVENT", "DETAIL");
    return run_listing(argc, argv, "audit", header, list_audit);
}

/* ---- store restored ---- */

struct id_list {
    char (*ids)[DMSEC_STORE_ID_MAX];
    size_t n;
    size_t cap;
};

static int collect_id(void *ctx, const dmsec_device_t *dev)
{
    struct id_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        void *grown = realloc(l->ids, cap * sizeof *l->ids);
        if (!grown)
            return DMSEC_ERR_NO_MEMORY;
        l->ids = grown;
        l->cap = cap;
    }
    memcpy(l->ids[l->n++], dev->device_id, sizeof dev->device_id);
    return 0;
}

/* After a backup is restored: every device's client nonce is replaced by a
 * fresh one nobody holds (its pending one voided), so that no credential
 * recorded since the backup was taken authenticates again; each device is
 * challenged once in its next session and carries on. */
static int store_restored(int argc, char **argv)
{
    static const char *const known[] = {"db", NULL};
    static const char *const flags[] = {"json", NULL};
    tool_opts_t o;
    if (opts_parse(&o, argc, argv, known, flags))
        return TOOL_EXIT_USAGE;
    const char *db = opt_get(&o, "db");
    const char *path = db && !strncmp(db, "sqlite:", 7) ? db + 7 : db;
    if (path && access(path, F_OK) != 0) {
        tool_error("no store at %s: restore the backup there first", path);
        return TOOL_EXIT_FAIL;
    }
    dmsec_store_t *st = tool_store_open_mode(&o, TOOL_STORE_WRITE);
    if (!st)
        return TOOL_EXIT_FAIL;
    struct id_list l = {0};
    int rc = dmsec_store_device_list(st, collect_id, &l);
    size_t done = 0;
    for (size_t i = 0; !rc && i < l.n; i++) {
        uint8_t nonce[DMSEC_NONCE_LEN];
        rc = dmsec_rng_os_fill(NULL, nonce, sizeof nonce);
        if (!rc)
            rc = dmsec_store_set_client_nonce(st, l.ids[i], nonce, sizeof nonce);
        if (!rc)
            done++;
        else if (rc == DMSEC_ERR_STORE_NOT_FOUND)
            rc = 0; /* removed meanwhile */
    }
    if (!rc)
        rc = dmsec_store_audit(st, (int64_t)time(NULL), "", "store_restored",
                               "client nonces of every device replaced");
    free(l.ids);
    dmsec_store_close(st);
    if (rc) {
        tool_fail("store restored", rc);
        return TOOL_EXIT_FAIL;
    }
    if (opt_flag(&o, "json")) {
        tool_json_begin();
        tool_json_int("client_nonces_replaced", (long long)done);
        return tool_json_end();
    }
    printf("%zu devices: client nonces replaced (credentials recorded since the backup no longer "
           "authenticate; each device is challenged once)\n",
           done);
    return 0;
}

int cmd_store(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "restored"))
        return store_restored(argc - 2, argv + 2);
    tool_error("usage: dmsec store restored --db PATH [--json]");
    return TOOL_EXIT_USAGE;
}
