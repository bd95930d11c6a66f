/* dmsec bootstrap: the transport-neutral MAC of a WBXML bootstrap message,
 * its verification against a Content-Type, and the Content-Type itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/bootstrap.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "tool.h"

static const char usage_text[] =
    "usage: dmsec bootstrap mac --keytype NETWORKID|USERPIN|USERPIN_NETWORKID\n"
    "         [--imsi DIGITS | --network-id RAW] [--pin P | --pin-file F] --wbxml FILE\n"
    "         [--json]   prints the HMAC-SHA1 MAC as 40 uppercase hex digits\n"
    "       dmsec bootstrap verify (--content-type CT | --content-type-hex WSP) --wbxml FILE\n"
    "         [--imsi DIGITS | --network-id RAW] [--pin P | --pin-file F] [--json]\n"
    "         prints ok, or the reason on stderr with exit 1\n"
    "       dmsec bootstrap content-type --keytype K [--mac HEX] [--form seed|sec|wsp]\n"
    "         [--json]   prints the Content-Type value (wsp: the binary form in hex)\n"
    "       dmsec bootstrap make --db PATH --device-id ID --server-id SID --server-url URL\n"
    "         --keytype NETWORKID|USERPIN|USERPIN_NETWORKID [--imsi DIGITS | --network-id RAW]\n"
    "         [--pin P | --pin-file F] [--scheme S] [--notify udp://HOST:PORT]\n"
    "         [--account NAME] --out FILE [--json]\n"
    "       dmsec bootstrap make ... --keytype GBA (--ks-naf-hex K | --ks-naf-file F) ...\n"
    "         registers the device, writes the WBXML bootstrap (GBA: protected with\n"
    "         DMBIK/DMBEK from the 32-byte Ks_NAF), prints its Content-Type; all or\n"
    "         nothing: if the file cannot be written the device is not registered\n";

static int usage(void)
{
    fputs(usage_text, stderr);
    return TOOL_EXIT_USAGE;
}

int boot_secret_from_opts(tool_opts_t *o, dmsec_boot_secret_t *s, char **pin_buf)
{
    memset(s, 0, sizeof *s);
    *pin_buf = NULL;
    const char *imsi = opt_get(o, "imsi");
    const char *raw = opt_get(o, "network-id");
    if (imsi && raw) {
        tool_error("give --imsi or --network-id, not both");
        return TOOL_EXIT_USAGE;
    }
    if (imsi) {
        s->imsi = imsi;
        s->imsi_len = strlen(imsi);
    }
    if (raw) {
        s->network_id = (const uint8_t *)raw;
        s->network_id_len = strlen(raw);
    }
    if (opt_get(o, "pin") || opt_get(o, "pin-file")) {
        *pin_buf = secret_from_opts(o, "pin", "pin-file");
        if (!*pin_buf)
            return TOOL_EXIT_FAIL;
        s->pin = *pin_buf;
        s->pin_len = strlen(*pin_buf);
    }
    return 0;
}

/* The key material of the options (*pin to free with secret_free) and the
 * WBXML message of file (*msg to free): 0, or the exit code with nothing
 * left to free. */
static int key_and_message(tool_opts_t *o, const char *file, dmsec_boot_secret_t *s, char **pin,
                           uint8_t **msg, size_t *len)
{
    int rc = boot_secret_from_opts(o, s, pin);
    if (rc)
        return rc;
    *msg = read_file(file, len);
    if (!*msg) {
        secret_free(*pin);
        *pin = NULL;
        return TOOL_EXIT_FAIL;
    }
    return 0;
}

static int run_mac(int argc, char **argv)
{
    static const char *const known[] = {"keytype",  "imsi",  "network-id", "pin",
                                        "pin-file", "wbxml", NULL};
    static const char *const flags[] = {"json", NULL};
    tool_opts_t o;
    int rc = opts_parse(&o, argc, argv, known, flags);
    if (rc)
        return rc;
    const char *kt = opt_need(&o, "keytype");
    const char *file = opt_need(&o, "wbxml");
    if (!kt || !file)
        return TOOL_EXIT_USAGE;
    dmsec_boot_keytype_t type;
    rc = dmsec_boot_keytype_from_name(kt, strlen(kt), &type);
    if (rc == DMSEC_OK && type != DMSEC_BOOT_KEY_NETWORKID && type != DMSEC_BOOT_KEY_USERPIN &&
        type != DMSEC_BOOT_KEY_USERPIN_NETWORKID)
        rc = DMSEC_ERR_BOOT_KEYTYPE;
    if (rc)
        return tool_fail("--keytype", rc);
    dmsec_boot_secret_t s;
    char *pin = NULL;
    uint8_t *msg = NULL;
    size_t len = 0;
    rc = key_and_message(&o, file, &s, &pin, &msg, &len);
    if (rc)
        return rc;
    uint8_t mac[DMSEC_BOOT_MAC_LEN];
    rc = dmsec_boot_sign(type, &s, msg, len, mac);
    secret_free(pin);
    free(msg);
    if (rc)
        return tool_fail("bootstrap mac", rc);
    char hex[DMSEC_BOOT_MAC_HEX_LEN + 1];
    dmsec_hex_encode_upper(mac, sizeof mac, hex, sizeof hex);
    if (!opt_flag(&o, "json")) {
        printf("%s\n", hex);
        return 0;
    }
    tool_json_begin();
    tool_json_str("keytype", dmsec_boot_keytype_name(type));
    tool_json_str("mac", hex); /* as the content type's MAC parameter carries it */
    return tool_json_end();
}

static int run_verify(int argc, char **argv)
{
    static const char *const known[] = {
        "content-type", "content-type-hex", "wbxml", "imsi", "network-id", "pin", "pin-file", NULL};
    static const char *const flags[] = {"json", NULL};
    tool_opts_t o;
    int rc = opts_parse(&o, argc, argv, known, flags);
    if (rc)
        return rc;
    const char *text = opt_get(&o, "content-type");
    const char *hex = opt_get(&o, "content-type-hex");
    const char *file = opt_need(&o, "wbxml");
    if (!file)
        return TOOL_EXIT_USAGE;
    if (!text == !hex) {
        tool_error("give one of --content-type or --content-type-hex");
        return TOOL_EXIT_USAGE;
    }
    dmsec_boot_ct_t ct;
    if (text) {
        rc = dmsec_boot_ct_parse(text, strlen(text), &ct);
    } else {
        size_t n = 0;
        uint8_t *bin = hex_arg("--content-type-hex", hex, &n);
        if (!bin)
            return TOOL_EXIT_FAIL;
        size_t used = 0;
        rc = dmsec_boot_ct_parse_wsp(bin, n, &ct, &used);
        free(bin);
        if (rc == DMSEC_OK && used != n) {
            tool_error("--content-type-hex: %zu bytes follow the content type", n - used);
            return TOOL_EXIT_FAIL;
        }
    }
    if (rc)
        return tool_fail(text ? "--content-type" : "--content-type-hex", rc);
    dmsec_boot_secret_t s;
    char *pin = NULL;
    uint8_t *msg = NULL;
    size_t len = 0;
    rc = key_and_message(&o, file, &s, &pin, &msg, &len);
    if (rc)
        return rc;
    rc = dmsec_boot_verify(&ct, &s, msg, len);
    secret_free(pin);
    free(msg);
    if (rc)
        return tool_fail("bootstrap verify", rc);
    if (!opt_flag(&o, "json")) {
        printf("ok\n");
        return 0;
    }
    tool_json_begin();
    tool_json_bool("verified", 1);
    tool_json_str("keytype", dmsec_boot_keytype_name(ct.keytype));
    return tool_json_end();
}

static int run_content_type(int argc, char **argv)
{
    static const char *const known[] = {"keytype", "mac", "form", NULL};
    static const char *const flags[] = {"json", NULL};
    tool_opts_t o;
    int rc = opts_parse(&o, argc, argv, known, flags);
    if (rc)
        return rc;
    const char *kt = opt_need(&o, "keytype");
    if (!kt)
        return TOOL_EXIT_USAGE;
    const char *mac = opt_get(&o, "mac");
    const char *form = opt_get(&o, "form");
    if (!form)
        form = "seed";
    if (strcmp(form, "seed") && strcmp(form, "sec") && strcmp(form, "wsp")) {
        tool_error("--form must be seed, sec or wsp");
        return TOOL_EXIT_USAGE;
    }
    dmsec_boot_ct_t ct;
    memset(&ct, 0, sizeof ct);
    ct.form = strcmp(form, "seed") ? DMSEC_BOOT_CT_SEC : DMSEC_BOOT_CT_SEED;
    if (dmsec_boot_keytype_from_name(kt, strlen(kt), &ct.keytype) != DMSEC_OK) {
        /* The seed form carries any other key type by name; the format
         * check below refuses what it cannot carry. */
        size_t n = strlen(kt);
        if (n > DMSEC_BOOT_OTHER_MAX)
            return tool_fail("--keytype", DMSEC_ERR_BOOT_KEYTYPE);
        ct.keytype = DMSEC_BOOT_KEY_OTHER;
        memcpy(ct.other, kt, n);
        ct.other_len = n;
    }
    if (ct.keytype == DMSEC_BOOT_KEY_GBA) {
        if (mac) {
            tool_error("3GPP_GBA takes no --mac");
            return TOOL_EXIT_USAGE;
        }
    } else {
        if (!mac) {
            tool_error("missing --mac");
            return TOOL_EXIT_USAGE;
        }
        rc = dmsec_boot_mac_from_hex(mac, strlen(mac), ct.mac);
        if (rc)
            return tool_fail("--mac", rc);
        ct.has_mac = 1;
    }
    if (strcmp(form, "wsp") == 0) {
        uint8_t bin[DMSEC_BOOT_CT_WSP_MAX];
        size_t n = 0;
        rc = dmsec_boot_ct_format_wsp(&ct, bin, sizeof bin, &n);
        if (rc)
            return tool_fail("--keytype", rc);
        char out[2 * DMSEC_BOOT_CT_WSP_MAX + 1];
        dmsec_hex_encode(bin, n, out, sizeof out);
        if (!opt_flag(&o, "json")) {
            printf("%s\n", out);
            return 0;
        }
        tool_json_begin();
        tool_json_str("form", form);
        tool_json_str("hex", out); /* the WSP-encoded content type */
        tool_json_base64("base64", bin, n);
        return tool_json_end();
    }
    char out[DMSEC_BOOT_CT_TEXT_MAX];
    rc = dmsec_boot_ct_format(&ct, out, sizeof out, NULL);
    if (rc)
        return tool_fail("--keytype", rc);
    if (!opt_flag(&o, "json")) {
        printf("%s\n", out);
        return 0;
    }
    tool_json_begin();
    tool_json_str("form", form);
    tool_json_str("content_type", out);
    return tool_json_end();
}

int cmd_bootstrap(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "help")) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (!strcmp(sub, "mac"))
        return run_mac(argc - 2, argv + 2);
    if (!strcmp(sub, "verify"))
        return run_verify(argc - 2, argv + 2);
    if (!strcmp(sub, "make"))
        return run_make(argc - 2, argv + 2);
    if (!strcmp(sub, "content-type"))
        return run_content_type(argc - 2, argv + 2);
    tool_error("bootstrap: unknown subcommand '%s'", sub);
    return usage();
}
