#include "crypto/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>

#include "dmsec/encoding.h"
#include "dmsec/errors.h"

/* Implicit fetches on every call cost more than an MD5 of a short input
 * under OpenSSL 3, so the algorithms are fetched once. */
static EVP_MD *md_md5;
static EVP_MD *md_sha1;
static EVP_MD *md_sha256;
static EVP_MAC *mac_hmac;
static EVP_CIPHER *cipher_aes256cbc;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static pthread_key_t md_ctx_key;

static void free_md_ctx(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void fetch_all(void)
{
    (void)pthread_key_create(&md_ctx_key, free_md_ctx);
    md_md5 = EVP_MD_fetch(NULL, "MD5", NULL);
    md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    mac_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    cipher_aes256cbc = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
}

static const EVP_MD *md_of(dm_alg_t alg)
{
    pthread_once(&fetch_once, fetch_all);
    switch (alg) {
    case DM_MD5:
        return md_md5;
    case DM_SHA1:
        return md_sha1;
    case DM_SHA256:
        return md_sha256;
    }
    return NULL;
}

static const char *md_name(dm_alg_t alg)
{
    switch (alg) {
    case DM_MD5:
        return "MD5";
    case DM_SHA1:
        return "SHA1";
    case DM_SHA256:
        return "SHA256";
    }
    return NULL;
}

size_t dm_md_len(dm_alg_t alg)
{
    switch (alg) {
    case DM_MD5:
        return DM_MD5_LEN;
    case DM_SHA1:
        return DM_SHA1_LEN;
    case DM_SHA256:
        return DM_SHA256_LEN;
    }
    return 0;
}

int dm_digest(dm_alg_t alg, const dm_part_t *parts, size_t n, uint8_t *out)
{
    const EVP_MD *md = md_of(alg);
    if (!md || !out || (!parts && n))
        return DMSEC_ERR_CRYPTO;
    /* One context per thread, reused: its allocation would otherwise
     * dominate the short inputs of this protocol. */
    EVP_MD_CTX *ctx = pthread_getspecific(md_ctx_key);
    if (!ctx) {
        if (!(ctx = EVP_MD_CTX_new()))
            return DMSEC_ERR_NO_MEMORY;
        if (pthread_setspecific(md_ctx_key, ctx) != 0) {
            EVP_MD_CTX_free(ctx);
            return DMSEC_ERR_NO_MEMORY;
        }
    }
    if (EVP_DigestInit_ex2(ctx, md, NULL) != 1)
        return DMSEC_ERR_CRYPTO;
    for (size_t i = 0; i < n; i++) {
        if (parts[i].n && EVP_DigestUpdate(ctx, parts[i].p, parts[i].n) != 1)
            return DMSEC_ERR_CRYPTO;
    }
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx, out, &len) != 1)
        return DMSEC_ERR_CRYPTO;
    return DMSEC_OK;
}

int dm_hmac(dm_alg_t alg, const uint8_t *key, size_t key_len, const dm_part_t *parts, size_t n,
            uint8_t *out)
{
    if (!md_of(alg) || !mac_hmac || !out || (!key && key_len) || (!parts && n))
        return DMSEC_ERR_CRYPTO;
    /* OpenSSL refuses a NULL key even when empty. */
    static const uint8_t empty[1];
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac_hmac);
    if (!ctx)
        return DMSEC_ERR_NO_MEMORY;
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)md_name(alg), 0);
    params[1] = OSSL_PARAM_construct_end();
    int rc = DMSEC_ERR_CRYPTO;
    if (EVP_MAC_init(ctx, key_len ? key : empty, key_len, params) != 1)
        goto done;
    for (size_t i = 0; i < n; i++) {
        if (parts[i].n && EVP_MAC_update(ctx, parts[i].p, parts[i].n) != 1)
            goto done;
    }
    size_t len = 0;
    if (EVP_MAC_final(ctx, out, &len, DM_MAX_MD_LEN) != 1)
        goto done;
    rc = DMSEC_OK;
done:
    EVP_MAC_CTX_free(ctx);
    return rc;
}

int dm_md5_chained(const uint8_t prehash[16], const uint8_t *nonce, size_t nonce_len,
                   const uint8_t *data, size_t data_len, uint8_t out[16])
{
    char ph_b64[DMSEC_B64_LEN(16) + 1];
    char data_b64[DMSEC_B64_LEN(16) + 1];
    uint8_t data_md5[16];
    dm_part_t part = {data, data_len};
    int rc = dm_digest(DM_MD5, &part, 1, data_md5);
    if (!rc)
        rc = dmsec_b64_encode(data_md5, 16, data_b64, sizeof data_b64, NULL);
    if (!rc)
        rc = dmsec_b64_encode(prehash, 16, ph_b64, sizeof ph_b64, NULL);
    if (!rc) {
        dm_part_t parts[5] = {{ph_b64, 24}, {":", 1}, {nonce, nonce_len}, {":", 1}, {data_b64, 24}};
        rc = dm_digest(DM_MD5, parts, 5, out);
    }
    dm_wipe(ph_b64, sizeof ph_b64);
    return rc;
}

int dm_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

void dm_wipe(void *p, size_t n)
{
    if (p && n)
        OPENSSL_cleanse(p, n);
}

static int aes_cbc(int enc, const uint8_t key[32], const uint8_t iv[16], const uint8_t *in,
                   size_t len, uint8_t *out, size_t *out_len)
{
    pthread_once(&fetch_once, fetch_all);
    if (!cipher_aes256cbc || len > 0x7fffff00)
        return DMSEC_ERR_CRYPTO;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        return DMSEC_ERR_NO_MEMORY;
    int rc = DMSEC_ERR_CRYPTO;
    int n1 = 0;
    int n2 = 0;
    if (EVP_CipherInit_ex2(ctx, cipher_aes256cbc, key, iv, enc, NULL) != 1)
        goto done;
    if (EVP_CipherUpdate(ctx, out, &n1, in, (int)len) != 1)
        goto done;
    if (EVP_CipherFinal_ex(ctx, out + n1, &n2) != 1) {
        rc = enc ? DMSEC_ERR_CRYPTO : DMSEC_ERR_GBA_PADDING;
        goto done;
    }
    *out_len = (size_t)n1 + (size_t)n2;
    rc = DMSEC_OK;
done:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int dm_aes256_cbc_encrypt(const uint8_t key[32], const uint8_t iv[16], const uint8_t *in,
                          size_t len, uint8_t *out, size_t *out_len)
{
    return aes_cbc(1, key, iv, in, len, out, out_len);
}

int dm_aes256_cbc_decrypt(const uint8_t key[32], const uint8_t iv[16], const uint8_t *in,
                          size_t len, uint8_t *out, size_t *out_len)
{
    return aes_cbc(0, key, iv, in, len, out, out_len);
}
