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
#define SERVER_SECRET_LEN 32

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
    const char *server_id = opt_get(&o, "server-id");
    if (!server_id)
        server_id = DEFAULT_SERVER_ID;
    dmsec_device_t d;
    memset(&d, 0, sizeof d);
    if (strlen(id) >= sizeof d.device_id || strlen(name) >= sizeof d.client_name || !id[0] ||
        !name[0]) {
        tool_error("--device-id and --client-name take 1 to %zu characters",
                   sizeof d.device_id - 1);
        return TOOL_EXIT_USAGE;
    }
    if (parse_scheme(scheme, &d.client_scheme, &d.integrity)) {
        tool_error("--scheme must be basic, md5, sha256, hmac-md5 or hmac-sha256");
        return TOOL_EXIT_USAGE;
    }
    d.server_scheme = d.client_scheme;
    const char *ss = opt_get(&o, "server-scheme");
    dmsec_integrity_t ignored;
    if (ss && (parse_scheme(ss, &d.server_scheme, &ignored) || ignored != DMSEC_INTEGRITY_NONE)) {
        tool_error("--server-scheme must be basic, md5 or sha256");
        return TOOL_EXIT_USAGE;
    }
    const char *notify = opt_get(&o, "notify");
    if (notify) {
        if (dmsec_dispatch_check_addr(notify)) {
            tool_error("--notify must be udp://HOST:PORT");
            return TOOL_EXIT_USAGE;
        }
        snprintf(d.notify_addr, sizeof d.notify_addr, "%s", notify);
    }
    const char *cs = opt_get(&o, "cert-subject");
    if (cs && strlen(cs) >= sizeof d.cert_subject) {
        /* Cut, it would name every certificate that starts the same. */
        tool_error("--cert-subject takes at most %zu characters", sizeof d.cert_subject - 1);
        return TOOL_EXIT_USAGE;
    }
    if (cs)
        snprintf(d.cert_subject, sizeof d.cert_subject, "%s", cs);
    const char *sp = opt_get(&o, "srvcred-path");
    snprintf(d.srvcred_path, sizeof d.srvcred_path, "%s",
             sp ? sp : "./DMAcc/dmsec/AppAuth/SRVCRED");
    snprintf(d.device_id, sizeof d.device_id, "%s", id);
    snprintf(d.client_name, sizeof d.client_name, "%s", name);

    char *client_secret = secret_from_opts(&o, "client-secret", "client-secret-file");
    if (!client_secret)
        return TOOL_EXIT_USAGE;
    char generated[SERVER_SECRET_LEN + 1] = "";
    char *server_secret = NULL;
    int rc = 0;
    if (opt_get(&o, "server-secret") || opt_get(&o, "server-secret-file")) {
        server_secret = secret_from_opts(&o, "server-secret", "server-secret-file");
        if (!server_secret)
            rc = TOOL_EXIT_USAGE;
    } else {
        /* DM-SEC-S-001: a server secret unique to this device. */
        rc = dmsec_secret_generate(NULL, generated, SERVER_SECRET_LEN) ? TOOL_EXIT_FAIL : 0;
        server_secret = generated;
    }
    size_t cl = strlen(client_secret);
    size_t sl = server_secret ? strlen(server_secret) : 0;
    if (!rc && (cl == 0 || cl > DMSEC_SECRET_MAX || sl == 0 || sl > DMSEC_SECRET_MAX)) {
        tool_error("secrets take 1 to %d bytes", DMSEC_SECRET_MAX);
        rc = TOOL_EXIT_USAGE;
    }
    if (!rc) {
        dmsec_prehash_compute(name, (const uint8_t *)client_secret, cl, &d.client_prehash);
        dmsec_prehash_compute(server_id, (const uint8_t *)server_secret, sl, &d.server_prehash);
        /* Plaintexts only where the protocol needs them. */
        if (d.integrity == DMSEC_INTEGRITY_HMAC_SHA256) {
            memcpy(d.client_secret, client_secret, cl);
            d.client_secret_len = cl;
        }
        if (d.integrity == DMSEC_INTEGRITY_HMAC_SHA256 || d.server_scheme == DMSEC_AUTH_BASIC) {
            memcpy(d.server_secret, server_secret, sl);
            d.server_secret_len = sl;
        }
        d.created = (int64_t)time(NULL);
        if (dmsec_nonce_generate(NULL, d.client_nonce) ||
            dmsec_nonce_generate(NULL, d.server_nonce))
            rc = TOOL_EXIT_FAIL;
        d.client_nonce_len = d.server_nonce_len = DMSEC_NONCE_LEN;
    }
    dmsec_store_t *st = rc ? NULL : tool_store_open(&o);
    if (!rc && !st)
        rc = TOOL_EXIT_FAIL;
    if (!rc) {
        /* Durable before the secret is shown: the device must never hold
         * a secret the store lost. */
        int err = dmsec_store_device_add(st, &d);
        if (!err)
            err = dmsec_store_sync(st);
        if (err)
            rc = tool_fail("device add", err);
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

struct list_ctx {
    int json;
    int n;
};

static void print_device(const dmsec_device_t *d, int json)
{
    char created[32];
    tool_iso_time(d->created, created);
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
        printf(",\"rotation_pending\":%s,\"created\":\"%s\"}",
               d->pending_secret_len ? "true" : "false", created);
    } else {
        printf("%-28s %-24s %-12s %-8s %-24s %s\n", d->device_id, d->client_name, scheme_label(d),
               dmsec_auth_scheme_name(d->server_scheme), d->notify_addr[0] ? d->notify_addr : "-",
               created);
    }
}

static int list_one(void *ctx, const dmsec_device_t *d)
{
    struct list_ctx *l = ctx;
    if (l->json)
        printf("%s", l->n ? ",\n" : "");
    print_device(d, l->json);
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
    if (l->json)
        printf("%s{\"session_id\":\"%X\",\"default_nonce\":%s,\"sent\":\"%s\",\"expires\":\"%s\","
               "\"opened\":%s,\"consumed\":%s,\"attempts\":%d}",
               l->n ? "," : "", (unsigned)n->session_id, n->default_nonce ? "true" : "false", sent,
               expires, n->opened ? "true" : "false", n->consumed ? "true" : "false", n->attempts);
    else
        printf("  notification %-5X %-8s sent %s expires %s%s%s\n", (unsigned)n->session_id,
               n->default_nonce ? "resync" : "normal", sent, expires, n->opened ? " opened" : "",
               n->consumed ? " consumed" : "");
    l->n++;
    return 0;
}

static int device_cmd(int argc, char **argv, const char *verb)
{
    static const char *const known[] = {"db", "device-id", NULL};
    static const char *const flags[] = {"json", NULL};
    tool_opts_t o;
    if (opts_parse(&o, argc, argv, known, flags))
        return TOOL_EXIT_USAGE;
    int json = opt_flag(&o, "json");
    const char *id = opt_get(&o, "device-id");
    if (strcmp(verb, "list") != 0 && !id) {
        tool_error("missing --device-id");
        return TOOL_EXIT_USAGE;
    }
    dmsec_store_t *st = tool_store_open(&o);
    if (!st)
        return TOOL_EXIT_FAIL;
    int rc = 0;
    int err = 0;
    if (!strcmp(verb, "list")) {
        struct list_ctx l = {json, 0};
        if (json)
            printf("[");
        err = dmsec_store_device_list(st, list_one, &l);
        if (json)
            printf("]\n");
    } else if (!strcmp(verb, "show")) {
        dmsec_device_t d;
        err = dmsec_store_device_get(st, id, &d);
        if (!err) {
            struct list_ctx l = {json, 0};
            if (json) {
                printf("{\"device\":");
                print_device(&d, 1);
                printf(",\"notifications\":[");
                err = dmsec_store_notification_list(st, id, print_notification, &l);
                printf("]}\n");
            } else {
                print_device(&d, 0);
                err = dmsec_store_notification_list(st, id, print_notification, &l);
            }
            memset(&d, 0, sizeof d);
        }
    } else {
        err = dmsec_store_device_remove(st, id);
        if (!err)
            err = dmsec_store_sync(st);
        if (!err)
            printf(json ? "{\"removed\":true}\n" : "removed %s\n", id);
    }
    if (err)
        rc = tool_fail(verb, err);
    dmsec_store_close(st);
    return rc;
}

int cmd_device(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "add"))
        return device_add(argc - 2, argv + 2);
    if (argc >= 2 &&
        (!strcmp(argv[1], "list") || !strcmp(argv[1], "show") || !strcmp(argv[1], "remove")))
        return device_cmd(argc - 2, argv + 2, argv[1]);
    tool_error("usage: dmsec device add|list|show|remove --db PATH ... (see dmsec --help)");
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
    dmsec_store_t *st = tool_store_open(&o);
    if (!st)
        return TOOL_EXIT_FAIL;
    uint16_t sid = 0;
    int err = dmsec_dispatch_notify(st, device, &no, &sid);
    dmsec_store_close(st);
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
        printf(",\"started\":\"%s\",\"ended\":\"%s\",\"messages\":%d,\"result\":\"%s\"}", started,
               ended, r->messages, result);
    } else {
        printf("%s  %-28s %-6s %-22s %3d msgs  %s\n", started, r->device_id, r->session_id, r->peer,
               r->messages, result);
    }
    l->n++;
    return 0;
}

static int list_sessions(dmsec_store_t *st, size_t limit, struct list_ctx *l)
{
    return dmsec_store_session_list(st, limit, print_session, l);
}

/* sessions and audit: options, the store, a JSON array or text lines. */
static int run_listing(int argc, char **argv, const char *what,
                       int (*list)(dmsec_store_t *st, size_t limit, struct list_ctx *l))
{
    tool_opts_t o;
    size_t limit;
    if (list_opts(argc, argv, &o, &limit))
        return TOOL_EXIT_USAGE;
    dmsec_store_t *st = tool_store_open(&o);
    if (!st)
        return TOOL_EXIT_FAIL;
    struct list_ctx l = {opt_flag(&o, "json"), 0};
    if (l.json)
        printf("[");
    int err = list(st, limit, &l);
    if (l.json)
        printf("]\n");
    dmsec_store_close(st);
    return err ? tool_fail(what, err) : 0;
}

int cmd_sessions(int argc, char **argv)
{
    return run_listing(argc, argv, "sessions", list_sessions);
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
        printf("%s  %-28s %-18s %s\n", at, r->device_id[0] ? r->device_id : "-", r->event,
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
    return run_listing(argc, argv, "audit", list_audit);
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
    static const char *const flags[] = {NULL};
    tool_opts_t o;
    if (opts_parse(&o, argc, argv, known, flags))
        return TOOL_EXIT_USAGE;
    const char *db = opt_get(&o, "db");
    const char *path = db && !strncmp(db, "sqlite:", 7) ? db + 7 : db;
    if (path && access(path, F_OK) != 0) {
        tool_error("no store at %s: restore the backup there first", path);
        return TOOL_EXIT_FAIL;
    }
    dmsec_store_t *st = tool_store_open(&o);
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
    printf("%zu devices: client nonces replaced (credentials recorded since the backup no longer "
           "authenticate; each device is challenged once)\n",
           done);
    return 0;
}

int cmd_store(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "restored"))
        return store_restored(argc - 2, argv + 2);
    tool_error("usage: dmsec store restored --db PATH");
    return TOOL_EXIT_USAGE;
}
