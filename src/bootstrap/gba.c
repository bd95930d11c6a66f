/* 3GPP_GBA bootstrap protection (DM Security 5.10.2.4.1): DMBIK and DMBEK
 * from Ks_NAF with the TS 33.220 Annex B KDF, and this project's
 * encrypt-then-MAC profile (AES-256-CBC, then HMAC-SHA256 over IV || C). */
#include "dmsec/bootstrap.h"

#include "crypto/crypto.h"
#include "dmsec/errors.h"

#include <string.h>

int dmsec_gba_kdf(const uint8_t *ks_naf, size_t ks_naf_len, dmsec_gba_key_t which,
                  uint8_t out[DMSEC_GBA_KEY_LEN])
{
    /* S = FC || P0 || L0. The seed's prose says "dmbik" but its octets and
     * L0 = 6 say "dm-bik"; the octets are what interoperates. */
    static const uint8_t s_bik[] = {0x01, 0x64, 0x6d, 0x2d, 0x62, 0x69, 0x6b, 0x00, 0x06};
    static const uint8_t s_bek[] = {0x01, 0x64, 0x6d, 0x2d, 0x62, 0x65, 0x6b, 0x00, 0x06};
    if (!ks_naf || ks_naf_len != DMSEC_GBA_KS_NAF_LEN || !out)
        return DMSEC_ERR_INVALID_ARG;
    dm_part_t part;
    if (which == DMSEC_GBA_DMBIK)
        part = (dm_part_t){s_bik, sizeof s_bik};
    else if (which == DMSEC_GBA_DMBEK)
        part = (dm_part_t){s_bek, sizeof s_bek};
    else
        return DMSEC_ERR_INVALID_ARG;
    return dm_hmac(DM_SHA256, ks_naf, ks_naf_len, &part, 1, out);
}

int dmsec_gba_derive(const uint8_t *ks_naf, size_t ks_naf_len, dmsec_gba_keys_t *keys)
{
    if (!keys)
        return DMSEC_ERR_INVALID_ARG;
    int rc = dmsec_gba_kdf(ks_naf, ks_naf_len, DMSEC_GBA_DMBIK, keys->dmbik);
    if (rc == DMSEC_OK)
        rc = dmsec_gba_kdf(ks_naf, ks_naf_len, DMSEC_GBA_DMBEK, keys->dmbek);
    if (rc)
        dmsec_gba_keys_wipe(keys);
    return rc;
}

void dmsec_gba_keys_wipe(dmsec_gba_keys_t *keys)
{
    if (keys)
        dm_wipe(keys, sizeof *keys);
}

static int tag_of(const dmsec_gba_keys_t *keys, const uint8_t *iv_ct, size_t n,
                  uint8_t tag[DMSEC_GBA_TAG_LEN])
{
    dm_part_t part = {iv_ct, n};
    return dm_hmac(DM_SHA256, keys->dmbik, sizeof keys->dmbik, &part, 1, tag);
}

int dmsec_gba_protect(const dmsec_gba_keys_t *keys, const dmsec_rng_t *rng, const uint8_t *in,
                      size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    if (!keys || (!in && len) || !out || !out_len)
        return DMSEC_ERR_INVALID_ARG;
    *out_len = 0;
    if (len > SIZE_MAX / 2)
        return DMSEC_ERR_TOO_LARGE;
    size_t need = DMSEC_GBA_PROTECTED_LEN(len);
    if (cap < need)
        return DMSEC_ERR_BUFFER_TOO_SMALL;
    if (!rng)
        rng = &dmsec_rng_os;
    if (!rng->fill)
        return DMSEC_ERR_INVALID_ARG;
    int rc = rng->fill(rng->ctx, out, DMSEC_GBA_IV_LEN);
    if (rc)
        return rc;
    size_t ct_len = 0;
    rc = dm_aes256_cbc_encrypt(keys->dmbek, out, in, len, out + DMSEC_GBA_IV_LEN, &ct_len);
    if (rc == DMSEC_OK && DMSEC_GBA_IV_LEN + ct_len + DMSEC_GBA_TAG_LEN != need)
        rc = DMSEC_ERR_CRYPTO;
    if (rc == DMSEC_OK)
        rc = tag_of(keys, out, DMSEC_GBA_IV_LEN + ct_len, out + DMSEC_GBA_IV_LEN + ct_len);
    if (rc) {
        dm_wipe(out, need);
        return rc;
    }
    *out_len = need;
    return DMSEC_OK;
}

int dmsec_gba_unprotect(const dmsec_gba_keys_t *keys, const uint8_t *in, size_t len, uint8_t *out,
                        size_t cap, size_t *out_len)
{
    if (!keys || (!in && len) || !out || !out_len)
        return DMSEC_ERR_INVALID_ARG;
    *out_len = 0;
    if (len < DMSEC_GBA_PROTECTED_MIN || (len - DMSEC_GBA_IV_LEN - DMSEC_GBA_TAG_LEN) % 16 != 0)
        return DMSEC_ERR_GBA_TRUNCATED;
    size_t ct_len = len - DMSEC_GBA_IV_LEN - DMSEC_GBA_TAG_LEN;
    if (cap < ct_len)
        return DMSEC_ERR_BUFFER_TOO_SMALL;
    /* Integrity first: nothing unauthenticated reaches the cipher, so a
     * padding error can never serve as an oracle. */
    uint8_t tag[DMSEC_GBA_TAG_LEN];
    int rc = tag_of(keys, in, DMSEC_GBA_IV_LEN + ct_len, tag);
    if (rc == DMSEC_OK && !dm_ct_equal(tag, in + DMSEC_GBA_IV_LEN + ct_len, sizeof tag))
        rc = DMSEC_ERR_GBA_MAC_MISMATCH;
    dm_wipe(tag, sizeof tag);
    if (rc)
        return rc;
    size_t n = 0;
    rc = dm_aes256_cbc_decrypt(keys->dmbek, in, in + DMSEC_GBA_IV_LEN, ct_len, out, &n);
    if (rc) {
        dm_wipe(out, ct_len);
        return rc;
    }
    *out_len = n;
    return DMSEC_OK;
}
