#include <string.h>

#include "crypto/crypto.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "dmsec/notify.h"

const uint8_t dmsec_default_nonce[4] = {0, 0, 0, 0};

size_t dmsec_pkg0_size(const dmsec_pkg0_params_t *params)
{
    if (!params || !params->server_id)
        return 0;
    return DMSEC_PKG0_HEADER_LEN + strlen(params->server_id) + params->vendor_len;
}

/* digest = MD5(B64(prehash) ":" nonce ":" B64(MD5(trigger))) */
static int pkg0_digest(const uint8_t md5_prehash[16], const uint8_t *nonce, size_t nonce_len,
                       const uint8_t *trigger, size_t trigger_len, uint8_t digest[16])
{
    return dm_md5_chained(md5_prehash, nonce, nonce_len, trigger, trigger_len, digest);
}

int dmsec_pkg0_build_prehashed(const dmsec_pkg0_params_t *p, const uint8_t md5_prehash[16],
                               const uint8_t *nonce, size_t nonce_len, uint8_t *out, size_t cap,
                               size_t *out_len)
{
    if (!p || !p->server_id || !md5_prehash || (!nonce && nonce_len) || !out ||
        (!p->vendor && p->vendor_len))
        return DMSEC_ERR_INVALID_ARG;
    size_t sid_len = strlen(p->server_id);
    unsigned version = p->version ? p->version : DMSEC_PKG0_VERSION;
    if (sid_len == 0 || sid_len > 255 || version > 1023 || (unsigned)p->ui > 3 ||
        (unsigned)p->initiator > 1)
        return DMSEC_ERR_PKG0_FIELD;
    if (p->session_id == 0)
        return DMSEC_ERR_PKG0_SESSION_ID;
    if (p->vendor_len > 65536)
        return DMSEC_ERR_TOO_LARGE;
    size_t total = DMSEC_PKG0_HEADER_LEN + sid_len + p->vendor_len;
    if (cap < total)
        return DMSEC_ERR_BUFFER_TOO_SMALL;

    uint64_t hdr = (uint64_t)version << 54 | (uint64_t)p->ui << 52 | (uint64_t)p->initiator << 51 |
                   (uint64_t)p->session_id << 8 | (uint64_t)sid_len;
    for (int i = 0; i < 8; i++)
        out[16 + i] = (uint8_t)(hdr >> (56 - 8 * i));
    memcpy(out + DMSEC_PKG0_HEADER_LEN, p->server_id, sid_len);
    if (p->vendor_len)
        memcpy(out + DMSEC_PKG0_HEADER_LEN + sid_len, p->vendor, p->vendor_len);
    int rc = pkg0_digest(md5_prehash, nonce, nonce_len, out + 16, total - 16, out);
    if (rc)
        return rc;
    if (out_len)
        *out_len = total;
    return DMSEC_OK;
}

int dmsec_pkg0_build(const dmsec_pkg0_params_t *p, const uint8_t *secret, size_t secret_len,
                     const uint8_t *nonce, size_t nonce_len, uint8_t *out, size_t cap,
                     size_t *out_len)
{
    if (!p || !p->server_id || (!secret && secret_len))
        return DMSEC_ERR_INVALID_ARG;
    uint8_t prehash[16];
    dm_part_t parts[3] = {{p->server_id, strlen(p->server_id)}, {":", 1}, {secret, secret_len}};
    int rc = dm_digest(DM_MD5, parts, 3, prehash);
    if (!rc)
        rc = dmsec_pkg0_build_prehashed(p, prehash, nonce, nonce_len, out, cap, out_len);
    dm_wipe(prehash, sizeof prehash);
    return rc;
}

int dmsec_pkg0_parse(const uint8_t *msg, size_t len, dmsec_pkg0_t *out)
{
    if ((!msg && len) || !out)
        return DMSEC_ERR_INVALID_ARG;
    memset(out, 0, sizeof *out);
    if (len < DMSEC_PKG0_HEADER_LEN)
        return DMSEC_ERR_PKG0_TRUNCATED;
    uint64_t hdr = 0;
    for (int i = 0; i < 8; i++)
        hdr = hdr << 8 | msg[16 + i];
    unsigned version = (unsigned)(hdr >> 54) & 0x3ff;
    size_t sid_len = (size_t)(hdr & 0xff);
    if (version != 11 && version != 12)
        return DMSEC_ERR_PKG0_VERSION;
    if (sid_len > len - DMSEC_PKG0_HEADER_LEN)
        return DMSEC_ERR_PKG0_SERVERID_OVERRUN;
    memcpy(out->digest, msg, DMSEC_PKG0_DIGEST_LEN);
    out->version = version;
    out->ui = (dmsec_ui_mode_t)((hdr >> 52) & 3);
    out->initiator = (dmsec_initiator_t)((hdr >> 51) & 1);
    out->future = (uint32_t)((hdr >> 24) & 0x7ffffff);
    out->session_id = (uint16_t)(hdr >> 8);
    out->server_id = msg + DMSEC_PKG0_HEADER_LEN;
    out->server_id_len = sid_len;
    out->vendor = msg + DMSEC_PKG0_HEADER_LEN + sid_len;
    out->vendor_len = len - DMSEC_PKG0_HEADER_LEN - sid_len;
    out->trigger = msg + DMSEC_PKG0_DIGEST_LEN;
    out->trigger_len = len - DMSEC_PKG0_DIGEST_LEN;
    if (out->session_id == 0)
        return DMSEC_ERR_PKG0_SESSION_ID;
    return DMSEC_OK;
}

int dmsec_pkg0_session_id_text(uint16_t session_id, char out[5])
{
    static const char hex[] = "0123456789ABCDEF";
    if (!out)
        return DMSEC_ERR_INVALID_ARG;
    if (session_id == 0)
        return DMSEC_ERR_PKG0_SESSION_ID;
    char tmp[4];
    int n = 0;
    for (unsigned v = session_id; v; v >>= 4)
        tmp[n++] = hex[v & 15];
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return DMSEC_OK;
}

static int try_nonce(const dmsec_pkg0_t *pkg, const uint8_t md5_prehash[16], const uint8_t *nonce,
                     size_t nonce_len, int *ok)
{
    uint8_t want[16];
    int rc = pkg0_digest(md5_prehash, nonce, nonce_len, pkg->trigger, pkg->trigger_len, want);
    *ok = !rc && dm_ct_equal(want, pkg->digest, 16);
    return rc;
}

int dmsec_pkg0_verify(const dmsec_pkg0_t *pkg, const uint8_t md5_prehash[16], const uint8_t *nonce,
                      size_t nonce_len, unsigned options, dmsec_nonce_used_t *used)
{
    if (!pkg || !pkg->trigger || !md5_prehash || !used)
        return DMSEC_ERR_INVALID_ARG;
    *used = DMSEC_NONCE_NONE;
    char sid_text[5] = "";
    struct {
        dmsec_nonce_used_t kind;
        const uint8_t *nonce;
        size_t len;
        int enabled;
    } tries[] = {
        {DMSEC_NONCE_STORED, nonce, nonce_len, nonce != NULL},
        {DMSEC_NONCE_DEFAULT, dmsec_default_nonce, sizeof dmsec_default_nonce, 1},
        {DMSEC_NONCE_SESSION_ID, (const uint8_t *)sid_text, 0,
         (options & DMSEC_PKG0_TRY_SESSION_ID) != 0},
        {DMSEC_NONCE_FIELD_B64, (const uint8_t *)"AAAAAA==", 8,
         (options & DMSEC_PKG0_TRY_FIELD_READINGS) != 0},
        {DMSEC_NONCE_FIELD_TEXT, (const uint8_t *)"0x00000000", 10,
         (options & DMSEC_PKG0_TRY_FIELD_READINGS) != 0},
    };
    if (dmsec_pkg0_session_id_text(pkg->session_id, sid_text) == DMSEC_OK)
        tries[2].len = strlen(sid_text);
    else
        tries[2].enabled = 0;
    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        if (!tries[i].enabled)
            continue;
        int ok = 0;
        int rc = try_nonce(pkg, md5_prehash, tries[i].nonce, tries[i].len, &ok);
        if (rc)
            return rc;
        if (ok) {
            /* A device whose stored nonce is the default one lost it: that
             * is a resynchronisation, whichever entry matched. */
            int is_default = tries[i].len == sizeof dmsec_default_nonce &&
                             !memcmp(tries[i].nonce, dmsec_default_nonce, tries[i].len);
            *used = is_default ? DMSEC_NONCE_DEFAULT : tries[i].kind;
            return DMSEC_OK;
        }
    }
    return DMSEC_ERR_PKG0_DIGEST;
}

const char *dmsec_nonce_used_name(dmsec_nonce_used_t used)
{
    switch (used) {
    case DMSEC_NONCE_NONE:
        return "none";
    case DMSEC_NONCE_STORED:
        return "stored";
    case DMSEC_NONCE_DEFAULT:
        return "default";
    case DMSEC_NONCE_SESSION_ID:
        return "session_id";
    case DMSEC_NONCE_FIELD_B64:
        return "field_b64_text";
    case DMSEC_NONCE_FIELD_TEXT:
        return "field_hex_text";
    }
    return "none";
}
