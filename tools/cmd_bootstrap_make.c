/* dmsec bootstrap make: registers a device in the server's store (as
 * "device add" does, with generated secrets and nonces) and writes the
 * WBXML bootstrap message that creates its DMAcc, MAC'd with the chosen
 * key type. The secrets travel only inside the bootstrap file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dmsec/auth.h"
#include "dmsec/bootstrap.h"
#include "dmsec/codec.h"
#include "dmsec/dispatch.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "dmsec/random.h"
#include "dmsec/store.h"
#include "tool.h"

#define MAKE_SECRET_LEN 32
#define MAKE_ACCOUNT_MAX 64

/* The values the bootstrap message carries. */
struct boot_vals {
    const char *account;
    const char *server_id;
    const char *url;
    const char *aauth_type;
    const char *device_id;
    const char *client_secret;
    const char *server_secret;
    char client_nonce[32];
    char server_nonce[32];
};

static int add_leaf(dmsec_msg_t *msg, dmsec_cmd_t *cmd, const char *acc, const char *rel,
                    const char *format, const char *value)
{
    char uri[256];
    int n = snprintf(uri, sizeof uri, "./DMAcc/%s%s%s", acc, rel[0] ? "/" : "", rel);
    if (n < 0 || (size_t)n >= sizeof uri)
        return DMSEC_ERR_TOO_LARGE;
    dmsec_item_t *it = dmsec_cmd_add_item(msg, cmd, uri, NULL);
    if (!it || !dmsec_meta_add(msg, &it->meta, DMSEC_MI_FORMAT, format))
        return DMSEC_ERR_NO_MEMORY;
    if (value) {
        it->data = dmsec_msg_data(msg, value, strlen(value), 0);
        if (!it->data)
            return DMSEC_ERR_NO_MEMORY;
    }
    return 0;
}

/* The SyncML DM bootstrap message as WBXML in *out (malloc'd). */
static int build_message(const struct boot_vals *v, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    dmsec_msg_t *msg = dmsec_msg_new();
    if (!msg)
        return DMSEC_ERR_NO_MEMORY;
    int rc = dmsec_msg_set_hdr(msg, "1", "1", v->device_id, v->server_id, NULL);
    dmsec_cmd_t *cmd = rc ? NULL : dmsec_msg_add_cmd(msg, NULL, DMSEC_CMD_ADD);
    if (!rc && !cmd)
        rc = DMSEC_ERR_NO_MEMORY;
    const struct {
        const char *rel;
        const char *format;
        const char *value;
    } leaves[] = {
        {"", "node", NULL},
        {"AppID", "chr", "w7"},
        {"ServerID", "chr", v->server_id},
        {"Name", "chr", v->server_id},
        {"AppAddr", "node", NULL},
        {"AppAddr/1", "node", NULL},
        {"AppAddr/1/Addr", "chr", v->url},
        {"AppAddr/1/AddrType", "chr", "URI"},
        {"AAuthPref", "chr", v->aauth_type},
        {"AppAuth", "node", NULL},
        {"AppAuth/CLCRED", "node", NULL},
        {"AppAuth/CLCRED/AAuthLevel", "chr", "CLCRED"},
        {"AppAuth/CLCRED/AAuthType", "chr", v->aauth_type},
        {"AppAuth/CLCRED/AAuthName", "chr", v->device_id},
        {"AppAuth/CLCRED/AAuthSecret", "chr", v->client_secret},
        {"AppAuth/CLCRED/AAuthData", "b64", v->client_nonce},
        {"AppAuth/SRVCRED", "node", NULL},
        {"AppAuth/SRVCRED/AAuthLevel", "chr", "SRVCRED"},
        {"AppAuth/SRVCRED/AAuthType", "chr", v->aauth_type},
        {"AppAuth/SRVCRED/AAuthName", "chr", v->server_id},
        {"AppAuth/SRVCRED/AAuthSecret", "chr", v->server_secret},
        {"AppAuth/SRVCRED/AAuthData", "b64", v->server_nonce},
    };
    for (size_t i = 0; !rc && i < sizeof leaves / sizeof leaves[0]; i++)
        rc = add_leaf(msg, cmd, v->account, leaves[i].rel, leaves[i].format, leaves[i].value);
    if (!rc) {
        msg->body.final = 1;
        rc = dmsec_wbxml_encode(msg, out, out_len);
    }
    dmsec_msg_free(msg);
    return rc;
}

static int write_out(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        tool_error("cannot write %s", path);
        return TOOL_EXIT_FAIL;
    }
    int bad = fwrite(p, 1, n, f) != n;
    bad |= fclose(f) != 0;
    if (bad) {
        tool_error("cannot write %s", path);
        remove(path);
        return TOOL_EXIT_FAIL;
    }
    return 0;
}

static int scheme_of(const char *s, dmsec_auth_scheme_t *scheme, const char **aauth_type)
{
    if (!strcmp(s, "md5")) {
        *scheme = DMSEC_AUTH_MD5;
        *aauth_type = "DIGEST";
    } else if (!strcmp(s, "sha256")) {
        *scheme = DMSEC_AUTH_SHA256;
        *aauth_type = "DIGEST-SHA256";
    } else if (!strcmp(s, "basic")) {
        *scheme = DMSEC_AUTH_BASIC;
        *aauth_type = "BASIC";
    } else
        return -1;
    return 0;
}

/* Checks the options that need no store; fills d, v, type and secret
 * (*pin_buf: the malloc'd PIN, released by the caller). */
static int make_check(tool_opts_t *o, dmsec_device_t *d, struct boot_vals *v,
                      dmsec_boot_keytype_t *type, dmsec_boot_secret_t *s, char **pin_buf)
{
    const char *id = opt_need(o, "device-id");
    const char *sid = opt_need(o, "server-id");
    const char *url = opt_need(o, "server-url");
    const char *kt = opt_need(o, "keytype");
    if (!opt_need(o, "db") || !opt_need(o, "out") || !id || !sid || !url || !kt)
        return TOOL_EXIT_USAGE;
    if (dmsec_boot_keytype_from_name(kt, strlen(kt), type) ||
        (*type != DMSEC_BOOT_KEY_NETWORKID && *type != DMSEC_BOOT_KEY_USERPIN &&
         *type != DMSEC_BOOT_KEY_USERPIN_NETWORKID)) {
        tool_error("--keytype must be NETWORKID, USERPIN or USERPIN_NETWORKID");
        return TOOL_EXIT_USAGE;
    }
    if (!id[0] || strlen(id) >= sizeof d->device_id || strlen(id) >= sizeof d->client_name ||
        !sid[0] || strlen(sid) >= DMSEC_NAME_MAX || !url[0]) {
        tool_error("--device-id, --server-id and --server-url must be non-empty and short");
        return TOOL_EXIT_USAGE;
    }
    const char *acc = opt_get(o, "account") ? opt_get(o, "account") : "dmsec";
    if (!acc[0] || strlen(acc) > MAKE_ACCOUNT_MAX || strchr(acc, '/')) {
        tool_error("--account takes 1 to %d characters, no '/'", MAKE_ACCOUNT_MAX);
        return TOOL_EXIT_USAGE;
    }
    const char *sch = opt_get(o, "scheme") ? opt_get(o, "scheme") : "md5";
    if (scheme_of(sch, &d->client_scheme, &v->aauth_type)) {
        tool_error("--scheme must be md5, sha256 or basic");
        return TOOL_EXIT_USAGE;
    }
    d->server_scheme = d->client_scheme;
    d->integrity = DMSEC_INTEGRITY_NONE;
    const char *notify = opt_get(o, "notify");
    if (notify) {
        char host[256];
        uint16_t port;
        if (strlen(notify) >= sizeof d->notify_addr ||
            dmsec_dispatch_parse_addr(notify, host, sizeof host, &port)) {
            tool_error("--notify must be udp://HOST:PORT");
            return TOOL_EXIT_USAGE;
        }
        snprintf(d->notify_addr, sizeof d->notify_addr, "%s", notify);
    }
    int rc = boot_secret_from_opts(o, s, pin_buf);
    if (rc)
        return rc;
    /* The key must be buildable before anything is stored. */
    uint8_t key[DMSEC_BOOT_KEY_MAX];
    size_t key_len = 0;
    rc = dmsec_boot_key(*type, s, key, sizeof key, &key_len);
    memset(key, 0, sizeof key);
    if (rc)
        return tool_fail("bootstrap key", rc);
    snprintf(d->device_id, sizeof d->device_id, "%s", id);
    snprintf(d->client_name, sizeof d->client_name, "%s", id);
    snprintf(d->srvcred_path, sizeof d->srvcred_path, "./DMAcc/%s/AppAuth/SRVCRED", acc);
    v->account = acc;
    v->server_id = sid;
    v->url = url;
    v->device_id = d->device_id;
    return 0;
}

/* Generated secrets and nonces, prehashes; then the store, synced. */
static int make_register(tool_opts_t *o, dmsec_device_t *d, struct boot_vals *v, char *cs, char *ss)
{
    if (dmsec_secret_generate(NULL, cs, MAKE_SECRET_LEN) ||
        dmsec_secret_generate(NULL, ss, MAKE_SECRET_LEN) ||
        dmsec_nonce_generate(NULL, d->client_nonce) ||
        dmsec_nonce_generate(NULL, d->server_nonce)) {
        tool_error("cannot draw random secrets");
        return TOOL_EXIT_FAIL;
    }
    d->client_nonce_len = d->server_nonce_len = DMSEC_NONCE_LEN;
    dmsec_prehash_compute(d->client_name, (const uint8_t *)cs, MAKE_SECRET_LEN, &d->client_prehash);
    dmsec_prehash_compute(v->server_id, (const uint8_t *)ss, MAKE_SECRET_LEN, &d->server_prehash);
    if (d->server_scheme == DMSEC_AUTH_BASIC) {
        memcpy(d->server_secret, ss, MAKE_SECRET_LEN);
        d->server_secret_len = MAKE_SECRET_LEN;
    }
    d->created = (int64_t)time(NULL);
    if (dmsec_b64_encode(d->client_nonce, d->client_nonce_len, v->client_nonce,
                         sizeof v->client_nonce, NULL) ||
        dmsec_b64_encode(d->server_nonce, d->server_nonce_len, v->server_nonce,
                         sizeof v->server_nonce, NULL)) {
        tool_error("cannot encode the nonces");
        return TOOL_EXIT_FAIL;
    }
    v->client_secret = cs;
    v->server_secret = ss;
    const char *db = opt_get(o, "db");
    dmsec_store_t *st = NULL;
    int err = dmsec_store_open(db, &st);
    if (err)
        return tool_fail(db, err);
    /* Durable before the secrets leave in the bootstrap file. */
    err = dmsec_store_device_add(st, d);
    if (!err)
        err = dmsec_store_sync(st);
    dmsec_store_close(st);
    return err ? tool_fail("device add", err) : 0;
}

int run_make(int argc, char **argv)
{
    static const char *const known[] = {
        "db",  "device-id", "server-id", "server-url", "keytype", "imsi", "network-id",
        "pin", "pin-file",  "scheme",    "notify",     "account", "out",  NULL};
    static const char *const flags[] = {"json", NULL};
    tool_opts_t o;
    if (opts_parse(&o, argc, argv, known, flags))
        return TOOL_EXIT_USAGE;
    dmsec_device_t d;
    struct boot_vals v;
    dmsec_boot_secret_t s;
    dmsec_boot_keytype_t type = DMSEC_BOOT_KEY_NETWORKID;
    memset(&d, 0, sizeof d);
    memset(&v, 0, sizeof v);
    char cs[MAKE_SECRET_LEN + 1] = "";
    char ss[MAKE_SECRET_LEN + 1] = "";
    uint8_t *wbxml = NULL;
    size_t wlen = 0;
    char *pin = NULL;
    int rc = make_check(&o, &d, &v, &type, &s, &pin);
    if (!rc)
        rc = make_register(&o, &d, &v, cs, ss);
    if (!rc) {
        int err = build_message(&v, &wbxml, &wlen);
        if (err)
            rc = tool_fail("bootstrap message", err);
    }
    dmsec_boot_ct_t ct;
    memset(&ct, 0, sizeof ct);
    char text[DMSEC_BOOT_CT_TEXT_MAX];
    if (!rc) {
        ct.form = DMSEC_BOOT_CT_SEED;
        ct.keytype = type;
        ct.has_mac = 1;
        int err = dmsec_boot_sign(type, &s, wbxml, wlen, ct.mac);
        if (!err)
            err = dmsec_boot_ct_format(&ct, text, sizeof text, NULL);
        if (err)
            rc = tool_fail("bootstrap MAC", err);
    }
    if (!rc)
        rc = write_out(opt_get(&o, "out"), wbxml, wlen);
    if (!rc) {
        if (opt_flag(&o, "json")) {
            printf("{\"content_type\":");
            json_str(text);
            printf(",\"device_id\":");
            json_str(d.device_id);
            printf("}\n");
        } else
            printf("%s\n", text);
    }
    if (wbxml) {
        memset(wbxml, 0, wlen);
        free(wbxml);
    }
    secret_free(pin);
    memset(cs, 0, sizeof cs);
    memset(ss, 0, sizeof ss);
    memset(&v, 0, sizeof v);
    memset(&d, 0, sizeof d);
    return rc;
}
