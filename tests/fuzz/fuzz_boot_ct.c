/* Fuzzes the bootstrap Content-Type parsers, text and binary WSP. Whatever
 * parses is formatted again and parsed again; the two parses must agree,
 * and a text value must also survive the binary encoding when its key type
 * has one. Any disagreement aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/bootstrap.h"
#include "dmsec/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const dmsec_boot_ct_t *a, const dmsec_boot_ct_t *b, int with_form)
{
    if ((with_form && a->form != b->form) || a->keytype != b->keytype || a->has_mac != b->has_mac ||
        memcmp(a->mac, b->mac, sizeof a->mac) != 0 || a->other_len != b->other_len ||
        memcmp(a->other, b->other, a->other_len) != 0)
        abort();
}

static void check_parsed(const dmsec_boot_ct_t *ct)
{
    if (ct->keytype < DMSEC_BOOT_KEY_NETWORKID || ct->keytype > DMSEC_BOOT_KEY_OTHER)
        abort();
    if (ct->has_mac != (ct->keytype != DMSEC_BOOT_KEY_GBA))
        abort();
    if ((ct->keytype == DMSEC_BOOT_KEY_OTHER) != (ct->other_len > 0) ||
        ct->other_len > DMSEC_BOOT_OTHER_MAX)
        abort();
}

/* ct -> text -> ct, and where possible ct -> WSP -> ct. */
static void round_trips(const dmsec_boot_ct_t *ct)
{
    check_parsed(ct);
    char text[DMSEC_BOOT_CT_TEXT_MAX];
    size_t tn = 0;
    if (dmsec_boot_ct_format(ct, text, sizeof text, &tn) != DMSEC_OK)
        abort();
    dmsec_boot_ct_t back;
    if (dmsec_boot_ct_parse(text, tn, &back) != DMSEC_OK)
        abort();
    same(ct, &back, 1);

    uint8_t bin[DMSEC_BOOT_CT_WSP_MAX];
    size_t bn = 0;
    int rc = dmsec_boot_ct_format_wsp(ct, bin, sizeof bin, &bn);
    if (ct->keytype == DMSEC_BOOT_KEY_OTHER) {
        if (rc != DMSEC_ERR_BOOT_KEYTYPE)
            abort();
        return;
    }
    if (rc != DMSEC_OK)
        abort();
    size_t used = 0;
    if (dmsec_boot_ct_parse_wsp(bin, bn, &back, &used) != DMSEC_OK || used != bn)
        abort();
    same(ct, &back, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so that any read past the end is caught even by
     * the corpus replay driver. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    dmsec_boot_ct_t ct;
    if (dmsec_boot_ct_parse((const char *)buf, size, &ct) == DMSEC_OK)
        round_trips(&ct);
    size_t used = 0;
    if (dmsec_boot_ct_parse_wsp(buf, size, &ct, &used) == DMSEC_OK) {
        if (used == 0 || used > size)
            abort();
        round_trips(&ct);
    }
    free(buf);
    return 0;
}
