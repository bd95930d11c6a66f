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
#include <jansson.h>

#include "bootacc.h"
#include "client.h"
#include "dmsec/bootstrap.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"

#define BOOT_FILE_MAX ((size_t)1024 * 1024)

const char *const cli_bootstrap_opts[] = {"tree",       "file", "content-type", "imsi",
                                          "network-id", "pin",  "ks-naf-hex",   "ks-naf-file",
                                          "json",       NULL};

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

/* Applies a to the tree at path (the device id checked against the
 * message's target) and saves it. */
static int apply(const char *path, const dmsec_msg_t *msg, const cli_boot_acc_t *a)
{
    dmsec_tree_t *t = NULL;
    if (treefile_load(path, &t))
        return CLI_EXIT_FAIL;
    int rc = cli_boot_apply(t, msg, a);
    if (rc == 1) {
        const char *target = msg->hdr.target ? msg->hdr.target->uri : NULL;
        cli_err("bootstrap refused: the message is for device '%s', not this one",
                target ? target : "");
        dmsec_tree_free(t);
        return CLI_EXIT_FAIL;
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
    if (cli_json) {
        json_t *j = json_pack("{s:s}", "result", "bootstrap_applied");
        json_object_set_new(j, "account", cli_json_text(a->name));
        json_object_set_new(j, "server_id", cli_json_text((const char *)a->val[CLI_BOOT_SERVERID]));
        cli_json_line(j);
    } else {
        printf("bootstrap applied: account %s for server %s\n", a->name,
               (const char *)a->val[CLI_BOOT_SERVERID]);
    }
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
    cli_boot_acc_t *a = calloc(1, sizeof *a);
    if (!a) {
        dmsec_msg_free(msg);
        cli_err("out of memory");
        return CLI_EXIT_FAIL;
    }
    const char *why = cli_boot_take(msg, a);
    if (why) {
        cli_err("bootstrap refused: %s", why);
        rc = CLI_EXIT_FAIL;
    } else
        rc = apply(tree, msg, a);
    cli_boot_acc_wipe(a);
    free(a);
    dmsec_msg_free(msg);
    return rc;
}
