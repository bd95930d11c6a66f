/* dmsec bootstrap make: registers a device in the server's store (as
 * "device add" does, with generated secrets and nonces) and writes the
 * WBXML bootstrap message that creates its DMAcc, MAC'd with the chosen
 * key type, or protected with the 3GPP_GBA profile (keys from Ks_NAF).
 * The secrets travel only inside the bootstrap file.
 *
 * All or nothing: the file is written to a temporary file beside --out
 * (mode 0600, fsync'd), the device is registered, then the file is renamed
 * into place; if the rename fails the registration is removed again. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

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

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes p into a new temporary file beside path (same directory, so the
 * final rename is atomic) and fsyncs it; *tmp receives its malloc'd name. */
static int write_tmp(const char *path, const uint8_t *p, size_t n, char **tmp)
{
    static const char suffix[] = ".tmpXXXXXX";
    size_t len = strlen(path);
    *tmp = malloc(len + sizeof suffix);
    if (!*tmp) {
        tool_error("out of memory");
        return TOOL_EXIT_FAIL;
    }
    memcpy(*tmp, path, len);
    memcpy(*tmp + len, suffix, sizeof suffix);
    int fd = mkstemp(*tmp);
    if (fd < 0) {
        tool_error("cannot write %s: %s", path, strerror(errno));
        free(*tmp);
        *tmp = NULL;
        return TOOL_EXIT_FAIL;
    }
    int bad = write_all(fd, p, n) != 0 || fsync(fd) != 0;
    int err = errno;
    bad |= close(fd) != 0;
    if (bad) {
        tool_error("cannot write %s: %s", path, strerror(err ? err : EIO));
        unlink(*tmp);
        free(*tmp);
        *tmp = NULL;
        return TOOL_EXIT_FAIL;
    }
    return 0;
}

/* Makes the rename of path durable: fsync of its directory. */
static void sync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
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

/* Ks_NAF from --ks-naf-hex K or the first line of --ks-naf-file F: 64
 * hex digits. Derives DMBIK/DMBEK into *keys; Ks_NAF itself is wiped here
 * and never printed. */
static int gba_keys_from_opts(tool_opts_t *o, dmsec_gba_keys_t *keys)
{
    char *hex = secret_from_opts(o, "ks-naf-hex", "ks-naf-file");
    if (!hex)
        return TOOL_EXIT_FAIL;
    uint8_t ks[DMSEC_GBA_KS_NAF_LEN];
    size_t n = 0;
    int rc = strlen(hex) == (size_t)2 * DMSEC_GBA_KS_NAF_LEN
                 ? dmsec_hex_decode(hex, strlen(hex), ks, sizeof ks, &n)
                 : DMSEC_ERR_INVALID_ARG;
    secret_free(hex);
    if (rc == DMSEC_OK && n == DMSEC_GBA_KS_NAF_LEN)
        rc = dmsec_gba_derive(ks, n, keys);
    else
        rc = DMSEC_ERR_INVALID_ARG;
    volatile uint8_t *v = ks;
    for (size_t i = 0; i < sizeof ks; i++)
        v[i] = 0;
    if (rc) {
        tool_error("Ks_NAF must be %d hex digits (%d bytes)", 2 * DMSEC_GBA_KS_NAF_LEN,
                   DMSEC_GBA_KS_NAF_LEN);
        return TOOL_EXIT_FAIL;
    }
    return 0;
}

/* The key type of --keytype: the three MAC types, or GBA (also spelt
 * 3GPP_GBA). Checks that the key material fits it. */
static int keytype_check(tool_opts_t *o, const char *kt, dmsec_boot_keytype_t *type)
{
    if (!strcasecmp(kt, "GBA"))
        *type = DMSEC_BOOT_KEY_GBA;
    else if (dmsec_boot_keytype_from_name(kt, strlen(kt), type) ||
             (*type != DMSEC_BOOT_KEY_NETWORKID && *type != DMSEC_BOOT_KEY_USERPIN &&
              *type != DMSEC_BOOT_KEY_USERPIN_NETWORKID && *type != DMSEC_BOOT_KEY_GBA)) {
        tool_error("--keytype must be NETWORKID, USERPIN, USERPIN_NETWORKID or GBA");
        return TOOL_EXIT_USAGE;
    }
    int has_ks = opt_get(o, "ks-naf-hex") || opt_get(o, "ks-naf-file");
    int has_mac_key = opt_get(o, "imsi") || opt_get(o, "network-id") || opt_get(o, "pin") ||
                      opt_get(o, "pin-file");
    if (*type == DMSEC_BOOT_KEY_GBA && has_mac_key) {
        tool_error("--keytype GBA takes --ks-naf-hex or --ks-naf-file, not --imsi, "
                   "--network-id or --pin");
        return TOOL_EXIT_USAGE;
    }
    if (opt_get(o, "ks-naf-hex") && opt_get(o, "ks-naf-file")) {
        tool_error("give --ks-naf-hex or --ks-naf-file, not both");
        return TOOL_EXIT_USAGE;
    }
    if (*type == DMSEC_BOOT_KEY_GBA && !has_ks) {
        tool_error("--keytype GBA needs --ks-naf-hex or --ks-naf-file");
        return TOOL_EXIT_USAGE;
    }
    if (*type != DMSEC_BOOT_KEY_GBA && has_ks) {
        tool_error("--ks-naf-hex and --ks-naf-file go with --keytype GBA only");
        return TOOL_EXIT_USAGE;
    }
    return 0;
}

/* Checks the options that need no store; fills d, v, type and either
 * secret (*pin_buf: the malloc'd PIN, released by the caller) or, for GBA,
 * gk (wiped by the caller). */
static int make_check(tool_opts_t *o, dmsec_device_t *d, struct boot_vals *v,
                      dmsec_boot_keytype_t *type, dmsec_boot_secret_t *s, char **pin_buf,
                      dmsec_gba_keys_t *gk)
{
    const char *id = opt_need(o, "device-id");
    const char *sid = opt_need(o, "server-id");
    const char *url = opt_need(o, "server-url");
    const char *kt = opt_need(o, "keytype");
    if (!opt_need(o, "db") || !opt_need(o, "out") || !id || !sid || !url || !kt)
        return TOOL_EXIT_USAGE;
    int rc = keytype_check(o, kt, type);
    if (rc)
        return rc;
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
        if (dmsec_dispatch_check_addr(notify)) {
            tool_error("--notify must be udp://HOST:PORT");
            return TOOL_EXIT_USAGE;
        }
        snprintf(d->notify_addr, sizeof d->notify_addr, "%s", notify);
    }
    /* The keys must be buildable before anything is stored. */
    if (*type == DMSEC_BOOT_KEY_GBA) {
        memset(s, 0, sizeof *s);
        rc = gba_keys_from_opts(o, gk);
        if (rc)
            return rc;
    } else {
        rc = boot_secret_from_opts(o, s, pin_buf);
        if (rc)
            return rc;
        uint8_t key[DMSEC_BOOT_KEY_MAX];
        size_t key_len = 0;
        rc = dmsec_boot_key(*type, s, key, sizeof key, &key_len);
        memset(key, 0, sizeof key);
        if (rc)
            return tool_fail("bootstrap key", rc);
    }
    snprintf(d->device_id, sizeof d->device_id, "%s", id);
    snprintf(d->client_name, sizeof d->client_name, "%s", id);
    snprintf(d->srvcred_path, sizeof d->srvcred_path, "./DMAcc/%s/AppAuth/SRVCRED", acc);
    v->account = acc;
    v->server_id = sid;
    v->url = url;
    v->device_id = d->device_id;
    return 0;
}

/* Generated secrets and nonces, prehashes, into d and v. */
static int make_secrets(dmsec_device_t *d, struct boot_vals *v, char *cs, char *ss)
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
    return 0;
}

/* Registers d in the store, synced: durable before the secrets leave in
 * the bootstrap file. */
static int make_register(const char *db, const dmsec_device_t *d)
{
    dmsec_store_t *st = NULL;
    int err = dmsec_store_open(db, &st);
    if (err)
        return tool_fail(db, err);
    err = dmsec_store_device_add(st, d);
    if (!err)
        err = dmsec_store_sync(st);
    dmsec_store_close(st);
    return err ? tool_fail("device add", err) : 0;
}

/* Undoes make_register after a later failure. */
static void make_unregister(const char *db, const char *device_id)
{
    dmsec_store_t *st = NULL;
    int err = dmsec_store_open(db, &st);
    if (!err) {
        err = dmsec_store_device_remove(st, device_id);
        if (!err)
            err = dmsec_store_sync(st);
        dmsec_store_close(st);
    }
    if (err)
        tool_fail("cannot remove the registration again; remove the device by hand", err);
}

/* The message as it goes out (MAC'd: the WBXML itself; GBA: its protected
 * form, malloc'd into *prot) and its Content-Type text. */
static int make_protect(dmsec_boot_keytype_t type, const dmsec_boot_secret_t *s,
                        const dmsec_gba_keys_t *gk, const uint8_t *wbxml, size_t wlen,
                        uint8_t **prot, size_t *plen, char text[DMSEC_BOOT_CT_TEXT_MAX])
{
    dmsec_boot_ct_t ct;
    memset(&ct, 0, sizeof ct);
    ct.keytype = type;
    int err;
    if (type == DMSEC_BOOT_KEY_GBA) {
        ct.form = DMSEC_BOOT_CT_SEC;
        size_t cap = DMSEC_GBA_PROTECTED_LEN(wlen);
        *prot = malloc(cap);
        if (!*prot)
            return tool_fail("bootstrap protection", DMSEC_ERR_NO_MEMORY);
        err = dmsec_gba_protect(gk, NULL, wbxml, wlen, *prot, cap, plen);
        if (err)
            return tool_fail("bootstrap protection", err);
    } else {
        ct.form = DMSEC_BOOT_CT_SEED;
        ct.has_mac = 1;
        err = dmsec_boot_sign(type, s, wbxml, wlen, ct.mac);
        if (err)
            return tool_fail("bootstrap MAC", err);
    }
    err = dmsec_boot_ct_format(&ct, text, DMSEC_BOOT_CT_TEXT_MAX, NULL);
    return err ? tool_fail("bootstrap content type", err) : 0;
}

int run_make(int argc, char **argv)
{
    static const char *const known[] = {"db",       "device-id",  "server-id",   "server-url",
                                        "keytype",  "imsi",       "network-id",  "pin",
                                        "pin-file", "ks-naf-hex", "ks-naf-file", "scheme",
                                        "notify",   "account",    "out",         NULL};
    static const char *const flags[] = {"json", NULL};
    tool_opts_t o;
    if (opts_parse(&o, argc, argv, known, flags))
        return TOOL_EXIT_USAGE;
    dmsec_device_t d;
    struct boot_vals v;
    dmsec_boot_secret_t s;
    dmsec_gba_keys_t gk;
    dmsec_boot_keytype_t type = DMSEC_BOOT_KEY_NETWORKID;
    memset(&d, 0, sizeof d);
    memset(&v, 0, sizeof v);
    memset(&s, 0, sizeof s);
    memset(&gk, 0, sizeof gk);
    char cs[MAKE_SECRET_LEN + 1] = "";
    char ss[MAKE_SECRET_LEN + 1] = "";
    uint8_t *wbxml = NULL;
    size_t wlen = 0;
    uint8_t *prot = NULL;
    size_t plen = 0;
    char *pin = NULL;
    char *tmp = NULL;
    char text[DMSEC_BOOT_CT_TEXT_MAX] = "";
    int rc = make_check(&o, &d, &v, &type, &s, &pin, &gk);
    if (!rc)
        rc = make_secrets(&d, &v, cs, ss);
    if (!rc) {
        int err = build_message(&v, &wbxml, &wlen);
        if (err)
            rc = tool_fail("bootstrap message", err);
    }
    if (!rc)
        rc = make_protect(type, &s, &gk, wbxml, wlen, &prot, &plen, text);
    /* File first (not yet in place), then the store, then the rename. */
    const char *out = opt_get(&o, "out");
    if (!rc)
        rc = prot ? write_tmp(out, prot, plen, &tmp) : write_tmp(out, wbxml, wlen, &tmp);
    if (!rc) {
        rc = make_register(opt_get(&o, "db"), &d);
        if (rc)
            unlink(tmp);
    }
    if (!rc) {
        if (rename(tmp, out) != 0) {
            tool_error("cannot write %s: %s", out, strerror(errno));
            unlink(tmp);
            make_unregister(opt_get(&o, "db"), d.device_id);
            rc = TOOL_EXIT_FAIL;
        } else
            sync_dir_of(out);
    }
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
    free(tmp);
    if (wbxml) {
        memset(wbxml, 0, wlen);
        free(wbxml);
    }
    if (prot) {
        memset(prot, 0, DMSEC_GBA_PROTECTED_LEN(wlen));
        free(prot);
    }
    secret_free(pin);
    dmsec_gba_keys_wipe(&gk);
    memset(cs, 0, sizeof cs);
    memset(ss, 0, sizeof ss);
    memset(&v, 0, sizeof v);
    memset(&d, 0, sizeof d);
    return rc;
}
