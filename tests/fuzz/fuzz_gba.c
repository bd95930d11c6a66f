/* Fuzzes the 3GPP_GBA bootstrap protection (dmsec_gba_unprotect, what
 * dmsec-client runs on an untrusted file). The input is used three ways:
 * as a protected document itself (it must be refused: nobody forged the
 * tag); as a plaintext, protected and opened again (it must come back
 * byte for byte); and, protected, with one byte flipped where the input's
 * first bytes say (it must be refused). Any other outcome aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/bootstrap.h"
#include "dmsec/errors.h"
#include "dmsec/random.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fixed "random" source: the harness must be deterministic. */
static int fixed_fill(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(0xA5 ^ i);
    return 0;
}

#define MAX_DOC 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t ks_naf[DMSEC_GBA_KS_NAF_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
    dmsec_gba_keys_t keys;
    if (dmsec_gba_derive(ks_naf, sizeof ks_naf, &keys) != DMSEC_OK)
        abort();
    static uint8_t plain[MAX_DOC + DMSEC_GBA_PROTECTED_MIN];
    size_t plen = 0;

    /* 1: the input as a protected document: refused, never opened. */
    if (dmsec_gba_unprotect(&keys, data, size, plain, sizeof plain, &plen) == DMSEC_OK)
        abort();

    if (size > MAX_DOC)
        return 0;
    /* 2: protect, open, compare. */
    static uint8_t prot[DMSEC_GBA_PROTECTED_LEN(MAX_DOC)];
    size_t n = 0;
    const dmsec_rng_t rng = {.fill = fixed_fill};
    if (dmsec_gba_protect(&keys, &rng, data, size, prot, sizeof prot, &n) != DMSEC_OK ||
        n != DMSEC_GBA_PROTECTED_LEN(size))
        abort();
    if (dmsec_gba_unprotect(&keys, prot, n, plain, sizeof plain, &plen) != DMSEC_OK ||
        plen != size || (size && memcmp(plain, data, size) != 0))
        abort();

    /* 3: one flipped byte anywhere is caught. */
    size_t at = size >= 2 ? ((size_t)data[0] << 8 | data[1]) % n : 0;
    prot[at] ^= (uint8_t)(size ? data[size - 1] | 1 : 1);
    if (dmsec_gba_unprotect(&keys, prot, n, plain, sizeof plain, &plen) == DMSEC_OK)
        abort();
    dmsec_gba_keys_wipe(&keys);
    return 0;
}
