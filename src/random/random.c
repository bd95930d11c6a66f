#include "dmsec/random.h"

#include <openssl/rand.h>

#include "crypto/crypto.h"
#include "dmsec/errors.h"

int dmsec_rng_os_fill(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    if (!buf && len)
        return DMSEC_ERR_INVALID_ARG;
    if (len > 0x7fffffff)
        return DMSEC_ERR_TOO_LARGE;
    return RAND_priv_bytes(buf, (int)len) == 1 ? DMSEC_OK : DMSEC_ERR_RANDOM;
}

const dmsec_rng_t dmsec_rng_os = {dmsec_rng_os_fill, NULL};

static int fill(const dmsec_rng_t *rng, uint8_t *buf, size_t len)
{
    if (!rng)
        rng = &dmsec_rng_os;
    if (!rng->fill)
        return DMSEC_ERR_INVALID_ARG;
    return rng->fill(rng->ctx, buf, len);
}

int dmsec_nonce_generate(const dmsec_rng_t *rng, uint8_t nonce[DMSEC_NONCE_LEN])
{
    if (!nonce)
        return DMSEC_ERR_INVALID_ARG;
    return fill(rng, nonce, DMSEC_NONCE_LEN);
}

int dmsec_secret_generate(const dmsec_rng_t *rng, char *out, size_t len)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    if (!out || len < 22 || len > 1024)
        return DMSEC_ERR_INVALID_ARG;
    size_t i = 0;
    while (i < len) {
        uint8_t buf[64];
        int rc = fill(rng, buf, sizeof buf);
        if (rc)
            return rc;
        /* Rejection sampling keeps every character equally likely. */
        for (size_t j = 0; j < sizeof buf && i < len; j++) {
            if (buf[j] < 248)
                out[i++] = alphabet[buf[j] % 62];
        }
        dm_wipe(buf, sizeof buf);
    }
    out[len] = '\0';
    return DMSEC_OK;
}
