/* bootstrap.c - dmsec-client bootstrap: a WBXML bootstrap message whose
 * transport-neutral MAC (DM Security 5.10), or whose 3GPP_GBA protection
 * (tag under DMBIK, then AES-256-CBC under DMBEK, keys from Ks_NAF), is
 * checked before anything else is done; its Add items become a DMAcc made
 * by the agent's own add-account path (dmsec_tree_add_account, so the ACLs
 * are the same). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "dmsec/bootstrap.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"

#define BOOT_FILE_MAX ((size_t)1024 * 1024)
#define BOOT_VAL_MAX 512

const char *const cli_bootstrap_opts[] = {
    "tree", "file", "content-type", "imsi", "network-id", "pin", "ks-naf-hex", "ks-naf-file", NULL};

/* The leaves of one account, as the message gives them. */
enum {
    L_APPID,
    L_SERVERID,
    L_NAME,
    L_ADDR,
    L_ADDRTYPE,
    L_PREF,
    L_CL_LEVEL,
    L_CL_TYPE,
    L_CL_NAME,
    L_CL_SECRET,
    L_CL_DATA,
    L_SRV_LEVEL,
    L_SRV_TYPE,
    L_SRV_NAME,
    L_SRV_SECRET,
    L_SRV_DATA,
    L_COUNT
};

static const char *const leaf_names[L_COUNT] = {
    "AppID",
    "ServerID",
    "Name",
    "AppAddr/1/Addr",
    "AppAddr/1/AddrType",
    "AAuthPref",
    "AppAuth/CLCRED/AAuthLevel",
    "AppAuth/CLCRED/AAuthType",
    "AppAuth/CLCRED/AAuthName",
    "AppAuth/CLCRED/AAuthSecret",
    "AppAuth/CLCRED/AAuthData",
    "AppAuth/SRVCRED/AAuthLevel",
    "AppAuth/SRVCRED/AAuthType",
    "AppAuth/SRVCRED/AAuthName",
    "AppAuth/SRVCRED/AAuthSecret",
    "AppAuth/SRVCRED/AAuthData",
};

static const char *const interior_names[] = {"AppAddr",        "AppAddr/1",       "AppAuth",
                                             "AppAuth/CLCRED", "AppAuth/SRVCRED", NULL};

struct boot_acc {
    char name[65];
    int seen[L_COUNT];
    uint8_t val[L_COUNT][BOOT_VAL_MAX + 1]; /* NUL-terminated */
    size_t len[L_COUNT];
};

static void acc_wipe(struct boot_acc *a)
{
    volatile uint8_t *p = (volatile uint8_t *)a;
    for (size_t i = 0; i < sizeof *a; i++)
        p[i] = 0;
}

static int read_whole(const char *path, uint8_t **out, size_t *len)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_err("cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = malloc(BOOT_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, BOOT_FILE_MAX + 1, f) : 0;
    int err = ferror(f);
    fclose(f);
    if (!buf || err || n > BOOT_FILE_MAX || n == 0) {
        cli_err("%s: unreadable, empty or over %zu bytes", path, BOOT_FILE_MAX);
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* One Add item into a: "./DMAcc/<acc>[/<rel>]". 0 or an error message. */
static const char *take_item(const dmsec_item_t *it, struct boot_acc *a)
{
    static const char prefix[] = "./DMAcc/";
    const char *uri = it->target ? it->target->uri : NULL;
    if (!uri || strncmp(uri, prefix, sizeof prefix - 1) != 0)
        return "an item outside ./DMAcc";
    const char *acc = uri + sizeof prefix - 1;
    const char *slash = strchr(acc, '/');
    size_t alen = slash ? (size_t)(slash - acc) : strlen(acc);
    if (alen == 0 || alen >= sizeof a->name)
        return "a bad account name";
    if (!a->name[0])
        memcpy(a->name, acc, alen);
    else if (strlen(a->name) != alen || memcmp(a->name, acc, alen) != 0)
        return "items for more than one account";
    const char *fmt = dmsec_meta_str(it->meta, DMSEC_MI_FORMAT);
    if (!slash || !slash[1]) {
        if (!fmt || strcmp(fmt, "node") != 0)
            return "the account node is not of format node";
        return NULL;
    }
    const char *rel = slash + 1;
    for (size_t i = 0; interior_names[i]; i++) {
        if (!strcmp(rel, interior_names[i]))
            return fmt && !strcmp(fmt, "node") ? NULL : "an interior node not of format node";
    }
    int k = -1;
    for (int i = 0; i < L_COUNT; i++) {
        if (!strcmp(rel, leaf_names[i]))
            k = i;
    }
    if (k < 0)
        return "an unsupported DMAcc node";
    if (a->seen[k])
        return "a node given twice";
    if (!it->data)
        return "a leaf without Data";
    size_t n = 0;
    if (fmt && !strcmp(fmt, "b64")) {
        if (dmsec_b64_decode(it->data->bytes, it->data->len, a->val[k], BOOT_VAL_MAX, &n) != 0)
            return "bad base64 data";
    } else {
        if (it->data->len > BOOT_VAL_MAX)
            return "a value too long";
        memcpy(a->val[k], it->data->bytes, it->data->len);
        n = it->data->len;
    }
    a->val[k][n] = 0;
    a->len[k] = n;
    a->seen[k] = 1;
    return NULL;
}

static const char *take_msg(const dmsec_msg_t *msg, struct boot_acc *a)
{
    int adds = 0;
    for (const dmsec_cmd_t *c = msg->body.cmds; c; c = c->next) {
        if (c->type != DMSEC_CMD_ADD)
            return "a command other than Add";
        adds++;
        for (const dmsec_item_t *it = c->items; it; it = it->next) {
            const char *why = take_item(it, a);
            if (why)
                return why;
        }
    }
    if (!adds || !a->name[0])
        return "no DMAcc in the message";
    static const int required[] = {L_SERVERID,  L_ADDR,     L_CL_TYPE,  L_CL_NAME,
                                   L_CL_SECRET, L_SRV_TYPE, L_SRV_NAME, L_SRV_SECRET};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (!a->seen[required[i]] || a->len[required[i]] == 0)
            return "a required DMAcc leaf is missing";
    }
    if ((a->seen[L_CL_LEVEL] && strcmp((char *)a->val[L_CL_LEVEL], "CLCRED") != 0) ||
        (a->seen[L_SRV_LEVEL] && strcmp((char *)a->val[L_SRV_LEVEL], "SRVCRED") != 0))
        return "AAuthLevel does not match its credential";
    if (a->seen[L_APPID] && strcmp((char *)a->val[L_APPID], "w7") != 0)
        return "AppID is not w7";
    if (a->len[L_CL_SECRET] > DMSEC_SECRET_MAX || a->len[L_SRV_SECRET] > DMSEC_SECRET_MAX)
        return "a secret over the limit";
    for (int i = 0; i < L_COUNT; i++) {
        if (i != L_CL_SECRET && i != L_SRV_SECRET && i != L_CL_DATA && i != L_SRV_DATA &&
            strlen((char *)a->val[i]) != a->len[i])
            return "a NUL in a text value";
    }
    return NULL;
}

static const char *opt_str(const struct boot_acc *a, int k)
{
    return a->seen[k] ? (const char *)a->val[k] : NULL;
}

/* Applies a to the tree at path (the device id checked against the
 * message's target) and saves it. */
static int apply(const char *path, const dmsec_msg_t *msg, const struct boot_acc *a)
{
    dmsec_tree_t *t = NULL;
    if (treefile_load(path, &t))
        return CLI_EXIT_FAIL;
    dmsec_tree_info_t info;
    const char *target = msg->hdr.target ? msg->hdr.target->uri : NULL;
    if (dmsec_tree_get_local(t, "./DevInfo/DevId", &info) != 0 || !target ||
        strcmp((const char *)info.value, target) != 0) {
        cli_err("bootstrap refused: the message is for device '%s', not this one",
                target ? target : "");
        dmsec_tree_free(t);
        return CLI_EXIT_FAIL;
    }
    const char *sid = opt_str(a, L_SERVERID);
    dmsec_tree_account_t acc = {
        .server_id = sid,
        .name = a->seen[L_NAME] ? opt_str(a, L_NAME) : sid,
        .addr = opt_str(a, L_ADDR),
        .addr_type = a->seen[L_ADDRTYPE] ? opt_str(a, L_ADDRTYPE) : "URI",
        .aauth_pref = a->seen[L_PREF] ? opt_str(a, L_PREF) : opt_str(a, L_CL_TYPE),
        .clcred = {.type = opt_str(a, L_CL_TYPE),
                   .name = opt_str(a, L_CL_NAME),
                   .secret = a->val[L_CL_SECRET],
                   .secret_len = a->len[L_CL_SECRET],
                   .data = a->val[L_CL_DATA],
                   .data_len = a->len[L_CL_DATA]},
        .srvcred = {.type = opt_str(a, L_SRV_TYPE),
                    .name = opt_str(a, L_SRV_NAME),
                    .secret = a->val[L_SRV_SECRET],
                    .secret_len = a->len[L_SRV_SECRET],
                    .data = a->val[L_SRV_DATA],
                    .data_len = a->len[L_SRV_DATA]},
    };
    int rc = dmsec_tree_add_account(t, a->name, &acc);
    if (!rc && a->seen[L_APPID]) {
        char uri[128];
        snprintf(uri, sizeof uri, "./DMAcc/%s/AppID", a->name);
        rc = dmsec_tree_set_local(t, uri, DMSEC_TREE_CHR, NULL, "w7", 2);
    }
    if (rc) {
        cli_err("bootstrap refused: cannot add the account: %s",
                rc == DMSEC_ERR_TREE_EXISTS ? "this account or server id exists already"
                                            : dmsec_errname(rc));
        dmsec_tree_free(t);
        return CLI_EXIT_FAIL;
    }
    rc = treefile_save(path, t);
    dmsec_tree_free(t);
    if (rc)
        return CLI_EXIT_FAIL;
    printf("bootstrap applied: account %s for server %s\n", a->name, sid);
    return 0;
}

static void wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    for (size_t i = 0; i < n; i++)
        v[i] = 0;
}

/* Ks_NAF from --ks-naf-hex or the first line of --ks-naf-file (64 hex
 * digits), derived into *keys. Ks_NAF is wiped here and never printed. */
static int gba_keys(const cli_opts_t *o, dmsec_gba_keys_t *keys)
{
    const char *hex = cli_opt(o, "ks-naf-hex");
    const char *file = cli_opt(o, "ks-naf-file");
    char line[2 * DMSEC_GBA_KS_NAF_LEN + 3] = "";
    if (file) {
        FILE *f = fopen(file, "r");
        if (!f) {
            cli_err("cannot read --ks-naf-file %s: %s", file, strerror(errno));
            return CLI_EXIT_FAIL;
        }
        if (!fgets(line, sizeof line, f))
            line[0] = '\0';
        fclose(f);
        line[strcspn(line, "\r\n")] = '\0';
        hex = line;
    }
    uint8_t ks[DMSEC_GBA_KS_NAF_LEN];
    size_t n = 0;
    int rc = strlen(hex) == (size_t)2 * DMSEC_GBA_KS_NAF_LEN
                 ? dmsec_hex_decode(hex, strlen(hex), ks, sizeof ks, &n)
                 : DMSEC_ERR_INVALID_ARG;
    if (rc == DMSEC_OK && n == DMSEC_GBA_KS_NAF_LEN)
        rc = dmsec_gba_derive(ks, n, keys);
    else
        rc = DMSEC_ERR_INVALID_ARG;
    wipe(ks, sizeof ks);
    wipe(line, sizeof line);
    if (rc) {
        cli_err("Ks_NAF must be %d hex digits (%d bytes)", 2 * DMSEC_GBA_KS_NAF_LEN,
                DMSEC_GBA_KS_NAF_LEN);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

/* Checks the GBA protection of buf and decrypts it into *plain (malloc'd;
 * the caller wipes it). Nothing is decrypted unless the tag verifies. */
static int gba_open(const cli_opts_t *o, const uint8_t *buf, size_t len, uint8_t **plain,
                    size_t *plen)
{
    *plain = NULL;
    dmsec_gba_keys_t keys;
    int rc = gba_keys(o, &keys);
    if (rc)
        return rc;
    *plain = malloc(len);
    if (!*plain) {
        dmsec_gba_keys_wipe(&keys);
        cli_err("out of memory");
        return CLI_EXIT_FAIL;
    }
    rc = dmsec_gba_unprotect(&keys, buf, len, *plain, len, plen);
    dmsec_gba_keys_wipe(&keys);
    if (rc) {
        const char *why = rc == DMSEC_ERR_GBA_TRUNCATED ? "the protected message is truncated"
                          : rc == DMSEC_ERR_GBA_MAC_MISMATCH
                              ? "the GBA integrity tag does not verify (wrong Ks_NAF or "
                                "altered message)"
                              : dmsec_strerror(rc);
        cli_err("bootstrap refused: %s", why);
        free(*plain);
        *plain = NULL;
        return CLI_EXIT_FAIL;
    }
    wipe(*plain + *plen, len - *plen); /* the padding, wiped like the rest */
    return 0;
}

/* The key material matches the Content-Type: a usage error otherwise. */
static int key_opts_check(const cli_opts_t *o, const dmsec_boot_ct_t *ct)
{
    int has_ks = cli_opt(o, "ks-naf-hex") || cli_opt(o, "ks-naf-file");
    int has_mac_key = cli_opt(o, "imsi") || cli_opt(o, "network-id") || cli_opt(o, "pin");
    if (ct->keytype == DMSEC_BOOT_KEY_GBA) {
        if (has_mac_key) {
            cli_err("a SEC=3GPP_GBA bootstrap takes --ks-naf-hex or --ks-naf-file, not "
                    "--imsi, --network-id or --pin");
            return CLI_EXIT_USAGE;
        }
        if (cli_opt(o, "ks-naf-hex") && cli_opt(o, "ks-naf-file")) {
            cli_err("give --ks-naf-hex or --ks-naf-file, not both");
            return CLI_EXIT_USAGE;
        }
        if (!has_ks) {
            cli_err("a SEC=3GPP_GBA bootstrap needs --ks-naf-hex or --ks-naf-file");
            return CLI_EXIT_USAGE;
        }
    } else if (has_ks) {
        cli_err("--ks-naf-hex and --ks-naf-file go with a SEC=3GPP_GBA content type only; "
                "this bootstrap carries a MAC (give --imsi, --network-id or --pin)");
        return CLI_EXIT_USAGE;
    }
    if (cli_opt(o, "imsi") && cli_opt(o, "network-id")) {
        cli_err("give --imsi or --network-id, not both");
        return CLI_EXIT_USAGE;
    }
    return 0;
}

int cli_bootstrap(const cli_opts_t *o)
{
    const char *tree = cli_opt(o, "tree");
    const char *file = cli_opt(o, "file");
    const char *ctext = cli_opt(o, "content-type");
    if (!tree || !file || !ctext) {
        cli_err("bootstrap needs --tree, --file and --content-type");
        return CLI_EXIT_USAGE;
    }
    dmsec_boot_ct_t ct;
    int rc = dmsec_boot_ct_parse(ctext, strlen(ctext), &ct);
    if (rc) {
        cli_err("bootstrap refused: bad content type: %s", dmsec_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    rc = key_opts_check(o, &ct);
    if (rc)
        return rc;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (read_whole(file, &buf, &len))
        return CLI_EXIT_FAIL;
    /* Authenticate first: nothing of an unauthenticated message is read. */
    if (ct.keytype == DMSEC_BOOT_KEY_GBA) {
        uint8_t *plain = NULL;
        size_t plen = 0;
        rc = gba_open(o, buf, len, &plain, &plen);
        dmsec_tree_wipe_free(buf, len);
        if (rc)
            return rc;
        buf = plain;
        len = plen;
    } else {
        dmsec_boot_secret_t s;
        memset(&s, 0, sizeof s);
        const char *imsi = cli_opt(o, "imsi");
        const char *raw = cli_opt(o, "network-id");
        const char *pin = cli_opt(o, "pin");
        if (imsi) {
            s.imsi = imsi;
            s.imsi_len = strlen(imsi);
        }
        if (raw) {
            s.network_id = (const uint8_t *)raw;
            s.network_id_len = strlen(raw);
        }
        if (pin) {
            s.pin = pin;
            s.pin_len = strlen(pin);
        }
        rc = dmsec_boot_verify(&ct, &s, buf, len);
        if (rc) {
            cli_err("bootstrap refused: %s", dmsec_strerror(rc));
            dmsec_tree_wipe_free(buf, len);
            return CLI_EXIT_FAIL;
        }
    }
    dmsec_msg_t *msg = NULL;
    rc = dmsec_wbxml_decode(buf, len, NULL, &msg);
    dmsec_tree_wipe_free(buf, len);
    if (rc) {
        cli_err("bootstrap refused: cannot decode the message: %s", dmsec_strerror(rc));
        return CLI_EXIT_FAIL;
    }
    struct boot_acc *a = calloc(1, sizeof *a);
    if (!a) {
        dmsec_msg_free(msg);
        cli_err("out of memory");
        return CLI_EXIT_FAIL;
    }
    const char *why = take_msg(msg, a);
    if (why) {
        cli_err("bootstrap refused: %s", why);
        rc = CLI_EXIT_FAIL;
    } else
        rc = apply(tree, msg, a);
    acc_wipe(a);
    free(a);
    dmsec_msg_free(msg);
    return rc;
}
