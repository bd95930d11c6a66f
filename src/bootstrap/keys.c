/* Bootstrap keys (NETWORKID, USERPIN, USERPIN_NETWORKID) and the
 * HMAC-SHA1 MAC over the WBXML bootstrap message (DM Security 5.10.2.3). */
#include "dmsec/bootstrap.h"

#include "crypto/crypto.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"

#include <string.h>

int dmsec_boot_imsi_key(const char *imsi, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    if ((!imsi && len) || !out || !out_len)
        return DMSEC_ERR_INVALID_ARG;
    *out_len = 0;
    if (len < DMSEC_BOOT_IMSI_MIN || len > DMSEC_BOOT_IMSI_MAX)
        return DMSEC_ERR_BOOT_NETWORK_ID;
    for (size_t i = 0; i < len; i++) {
        if (imsi[i] < '0' || imsi[i] > '9')
            return DMSEC_ERR_BOOT_NETWORK_ID;
    }
    /* Nibble stream: a parity nibble, the digits, and an F filler when that
     * leaves an odd count; odd digit counts already fill whole bytes. */
    size_t n = (len + 2) / 2;
    if (cap < n)
        return DMSEC_ERR_BUFFER_TOO_SMALL;
    uint8_t nib[2 * DMSEC_BOOT_IMSI_KEY_MAX];
    size_t k = 0;
    nib[k++] = (len % 2) ? 0x9 : 0x1;
    for (size_t i = 0; i < len; i++)
        nib[k++] = (uint8_t)(imsi[i] - '0');
    if (k % 2)
        nib[k++] = 0xF;
    /* Semi-octets: the first nibble of each pair goes low. */
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(nib[2 * i + 1] << 4 | nib[2 * i]);
    *out_len = n;
    return DMSEC_OK;
}

/* Writes the NETWORKID part (IMSI semi-octets or raw bytes) at key. */
static int network_id_part(const dmsec_boot_secret_t *s, uint8_t *key, size_t cap, size_t *n)
{
    int has_imsi = s->imsi != NULL || s->imsi_len != 0;
    int has_raw = s->network_id != NULL || s->network_id_len != 0;
    if (has_imsi && has_raw)
        return DMSEC_ERR_INVALID_ARG;
    if (has_imsi) {
        if (!s->imsi)
            return DMSEC_ERR_INVALID_ARG;
        return dmsec_boot_imsi_key(s->imsi, s->imsi_len, key, cap, n);
    }
    if (!s->network_id || s->network_id_len == 0)
        return DMSEC_ERR_BOOT_NETWORK_ID;
    if (s->network_id_len > DMSEC_BOOT_NETWORK_ID_MAX)
        return DMSEC_ERR_TOO_LARGE;
    if (cap < s->network_id_len)
        return DMSEC_ERR_BUFFER_TOO_SMALL;
    memcpy(key, s->network_id, s->network_id_len);
    *n = s->network_id_len;
    return DMSEC_OK;
}

static int pin_part(const dmsec_boot_secret_t *s, uint8_t *key, size_t cap, size_t *n)
{
    if (!s->pin || s->pin_len == 0)
        return DMSEC_ERR_BOOT_PIN;
    if (s->pin_len > DMSEC_BOOT_PIN_MAX)
        return DMSEC_ERR_TOO_LARGE;
    if (cap < s->pin_len)
        return DMSEC_ERR_BUFFER_TOO_SMALL;
    memcpy(key, s->pin, s->pin_len);
    *n = s->pin_len;
    return DMSEC_OK;
}

int dmsec_boot_key(dmsec_boot_keytype_t type, const dmsec_boot_secret_t *secret, uint8_t *key,
                   size_t cap, size_t *key_len)
{
    if (!secret || !key || !key_len)
        return DMSEC_ERR_INVALID_ARG;
    *key_len = 0;
    size_t n = 0;
    size_t m = 0;
    int rc;
    switch (type) {
    case DMSEC_BOOT_KEY_NETWORKID:
        rc = network_id_part(secret, key, cap, &n);
        break;
    case DMSEC_BOOT_KEY_USERPIN:
        rc = pin_part(secret, key, cap, &n);
        break;
    case DMSEC_BOOT_KEY_USERPIN_NETWORKID:
        rc = pin_part(secret, key, cap, &n);
        if (rc)
            break;
        if (cap - n < 1) {
            rc = DMSEC_ERR_BUFFER_TOO_SMALL;
            break;
        }
        key[n++] = ':';
        rc = network_id_part(secret, key + n, cap - n, &m);
        n += m;
        break;
    default:
        return DMSEC_ERR_BOOT_KEYTYPE;
    }
    if (rc) {
        dm_wipe(key, n < cap ? n : cap);
        return rc;
    }
    *key_len = n;
    return DMSEC_OK;
}

int dmsec_boot_hmac(const uint8_t *key, size_t key_len, const uint8_t *wbxml, size_t len,
                    uint8_t mac[DMSEC_BOOT_MAC_LEN])
{
    if ((!key && key_len) || (!wbxml && len) || !mac)
        return DMSEC_ERR_INVALID_ARG;
    dm_part_t part = {wbxml, len};
    return dm_hmac(DM_SHA1, key, key_len, &part, 1, mac);
}

int dmsec_boot_hmac_hex(const uint8_t *key, size_t key_len, const uint8_t *wbxml, size_t len,
                        char hex[DMSEC_BOOT_MAC_HEX_LEN + 1])
{
    if (!hex)
        return DMSEC_ERR_INVALID_ARG;
    uint8_t mac[DMSEC_BOOT_MAC_LEN];
    int rc = dmsec_boot_hmac(key, key_len, wbxml, len, mac);
    if (rc == DMSEC_OK)
        rc = dmsec_hex_encode_upper(mac, sizeof mac, hex, DMSEC_BOOT_MAC_HEX_LEN + 1);
    dm_wipe(mac, sizeof mac);
    return rc;
}

int dmsec_boot_mac_from_hex(const char *hex, size_t len, uint8_t mac[DMSEC_BOOT_MAC_LEN])
{
    if ((!hex && len) || !mac)
        return DMSEC_ERR_INVALID_ARG;
    if (len != DMSEC_BOOT_MAC_HEX_LEN)
        return DMSEC_ERR_BOOT_MAC_FORMAT;
    size_t n = 0;
    if (dmsec_hex_decode(hex, len, mac, DMSEC_BOOT_MAC_LEN, &n) != DMSEC_OK ||
        n != DMSEC_BOOT_MAC_LEN)
        return DMSEC_ERR_BOOT_MAC_FORMAT;
    return DMSEC_OK;
}

/* Compares a received MAC with the one computed from key; both wiped. */
static int check_mac(const uint8_t *key, size_t key_len, const uint8_t *wbxml, size_t len,
                     const uint8_t got[DMSEC_BOOT_MAC_LEN])
{
    uint8_t want[DMSEC_BOOT_MAC_LEN];
    int rc = dmsec_boot_hmac(key, key_len, wbxml, len, want);
    if (rc == DMSEC_OK && !dm_ct_equal(want, got, sizeof want))
        rc = DMSEC_ERR_BOOT_MAC_MISMATCH;
    dm_wipe(want, sizeof want);
    return rc;
}

int dmsec_boot_hmac_verify_hex(const uint8_t *key, size_t key_len, const uint8_t *wbxml, size_t len,
                               const char *hex, size_t hex_len)
{
    uint8_t got[DMSEC_BOOT_MAC_LEN];
    int rc = dmsec_boot_mac_from_hex(hex, hex_len, got);
    if (rc == DMSEC_OK)
        rc = check_mac(key, key_len, wbxml, len, got);
    dm_wipe(got, sizeof got);
    return rc;
}

int dmsec_boot_sign(dmsec_boot_keytype_t type, const dmsec_boot_secret_t *secret,
                    const uint8_t *wbxml, size_t len, uint8_t mac[DMSEC_BOOT_MAC_LEN])
{
    if (!mac)
        return DMSEC_ERR_INVALID_ARG;
    uint8_t key[DMSEC_BOOT_KEY_MAX];
    size_t key_len = 0;
    int rc = dmsec_boot_key(type, secret, key, sizeof key, &key_len);
    if (rc == DMSEC_OK)
        rc = dmsec_boot_hmac(key, key_len, wbxml, len, mac);
    dm_wipe(key, sizeof key);
    return rc;
}

int dmsec_boot_verify(const dmsec_boot_ct_t *ct, const dmsec_boot_secret_t *secret,
                      const uint8_t *wbxml, size_t len)
{
    if (!ct || !secret || (!wbxml && len))
        return DMSEC_ERR_INVALID_ARG;
    switch (ct->keytype) {
    case DMSEC_BOOT_KEY_NETWORKID:
    case DMSEC_BOOT_KEY_USERPIN:
    case DMSEC_BOOT_KEY_USERPIN_NETWORKID:
        break;
    default:
        return DMSEC_ERR_BOOT_KEYTYPE;
    }
    if (!ct->has_mac)
        return DMSEC_ERR_BOOT_CT_MISSING;
    uint8_t key[DMSEC_BOOT_KEY_MAX];
    size_t key_len = 0;
    int rc = dmsec_boot_key(ct->keytype, secret, key, sizeof key, &key_len);
    if (rc == DMSEC_OK)
        rc = check_mac(key, key_len, wbxml, len, ct->mac);
    dm_wipe(key, sizeof key);
    return rc;
}
