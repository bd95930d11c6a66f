/* dmsec gba-kdf: DMBIK or DMBEK from Ks_NAF (3GPP_GBA bootstrap). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/bootstrap.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "tool.h"

/* Ks_NAF is a secret: it is wiped, never echoed. */
static void wipe_free(uint8_t *p, size_t n)
{
    if (!p)
        return;
    volatile uint8_t *v = p;
    for (size_t i = 0; i < n; i++)
        v[i] = 0;
    free(p);
}

int cmd_gba_kdf(int argc, char **argv)
{
    static const char *const known[] = {"ks-naf-hex", "key", NULL};
    static const char *const flags[] = {"json", NULL};
    tool_opts_t o;
    int rc = opts_parse(&o, argc - 1, argv + 1, known, flags);
    if (rc)
        return rc;
    const char *ks_hex = opt_need(&o, "ks-naf-hex");
    const char *which_name = opt_need(&o, "key");
    if (!ks_hex || !which_name)
        return TOOL_EXIT_USAGE;
    dmsec_gba_key_t which;
    if (!strcmp(which_name, "dmbik") || !strcmp(which_name, "DMBIK")) {
        which = DMSEC_GBA_DMBIK;
    } else if (!strcmp(which_name, "dmbek") || !strcmp(which_name, "DMBEK")) {
        which = DMSEC_GBA_DMBEK;
    } else {
        tool_error("--key must be dmbik or dmbek");
        return TOOL_EXIT_USAGE;
    }
    size_t n = 0;
    uint8_t *ks = hex_arg("--ks-naf-hex", ks_hex, &n);
    if (!ks)
        return TOOL_EXIT_FAIL;
    if (n != DMSEC_GBA_KS_NAF_LEN) {
        wipe_free(ks, n);
        tool_error("--ks-naf-hex: Ks_NAF must be %d bytes (%d hex digits)", DMSEC_GBA_KS_NAF_LEN,
                   2 * DMSEC_GBA_KS_NAF_LEN);
        return TOOL_EXIT_FAIL;
    }
    uint8_t key[DMSEC_GBA_KEY_LEN];
    rc = dmsec_gba_kdf(ks, n, which, key);
    wipe_free(ks, n);
    if (rc)
        return tool_fail("gba-kdf", rc);
    char hex[2 * DMSEC_GBA_KEY_LEN + 1];
    dmsec_hex_encode(key, sizeof key, hex, sizeof hex);
    volatile uint8_t *v = key;
    for (size_t i = 0; i < sizeof key; i++)
        v[i] = 0;
    /* The key is what was asked for: printed, then its text wiped. */
    if (opt_flag(&o, "json")) {
        tool_json_begin();
        tool_json_str("key", which == DMSEC_GBA_DMBIK ? "DMBIK" : "DMBEK");
        tool_json_str("hex", hex);
        rc = tool_json_end();
    } else {
        printf("%s\n", hex);
    }
    volatile char *h = hex;
    for (size_t i = 0; i < sizeof hex; i++)
        h[i] = 0;
    return rc;
}
