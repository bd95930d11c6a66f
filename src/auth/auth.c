#include "dmsec/auth.h"

#include <string.h>

#include "crypto/crypto.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"

static const struct {
    const char *uri;
    const char *name;
} schemes[] = {
    [DMSEC_AUTH_BASIC] = {"syncml:auth-basic", "basic"},
    [DMSEC_AUTH_MD5] = {"syncml:auth-md5", "md5"},
    [DMSEC_AUTH_SHA256] = {"syncml:auth-sha256", "sha256"},
};
#define N_SCHEMES (sizeof schemes / sizeof schemes[0])

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int dmsec_auth_scheme_parse(const char *uri, size_t len, dmsec_auth_scheme_t *out)
{
    if (!uri || !out)
        return DMSEC_ERR_INVALID_ARG;
    while (len && is_space(uri[0])) {
        uri++;
        len--;
    }
    while (len && is_space(uri[len - 1]))
        len--;
    for (size_t s = 0; s < N_SCHEMES; s++) {
        const char *want = schemes[s].uri;
        if (strlen(want) != len)
            continue;
        size_t i = 0;
        while (i < len && lower((unsigned char)uri[i]) == want[i])
            i++;
        if (i == len) {
            *out = (dmsec_auth_scheme_t)s;
            return DMSEC_OK;
        }
    }
    return DMSEC_ERR_AUTH_SCHEME;
}

const char *dmsec_auth_scheme_uri(dmsec_auth_scheme_t scheme)
{
    return (unsigned)scheme < N_SCHEMES ? schemes[scheme].uri : NULL;
}

const char *dmsec_auth_scheme_name(dmsec_auth_scheme_t scheme)
{
    return (unsigned)scheme < N_SCHEMES ? schemes[scheme].name : NULL;
}

int dmsec_prehash_compute(const char *user, const uint8_t *secret, size_t secret_len,
                          dmsec_prehash_t *out)
{
    if (!user || (!secret && secret_len) || !out)
        return DMSEC_ERR_INVALID_ARG;
    dm_part_t parts[3] = {{user, strlen(user)}, {":", 1}, {secret, secret_len}};
    int rc = dm_digest(DM_MD5, parts, 3, out->md5);
    if (!rc)
        rc = dm_digest(DM_SHA256, parts, 3, out->sha256);
    if (rc) {
        dmsec_prehash_wipe(out);
        return rc;
    }
    out->flags = DMSEC_PREHASH_MD5 | DMSEC_PREHASH_SHA256;
    return DMSEC_OK;
}

void dmsec_prehash_wipe(dmsec_prehash_t *ph)
{
    if (ph)
        dm_wipe(ph, sizeof *ph);
}

size_t dmsec_cred_data_len(dmsec_auth_scheme_t scheme, size_t user_len, size_t secret_len)
{
    switch (scheme) {
    case DMSEC_AUTH_BASIC:
        return DMSEC_B64_LEN(user_len + 1 + secret_len);
    case DMSEC_AUTH_MD5:
        return DMSEC_B64_LEN(16);
    case DMSEC_AUTH_SHA256:
        return DMSEC_B64_LEN(32);
    }
    return 0;
}

/* B64(H(B64(prehash) ":" nonce)) into out. */
static int digest_cred(dm_alg_t alg, const uint8_t *prehash, const uint8_t *nonce, size_t nonce_len,
                       uint8_t *digest)
{
    char ph_b64[DMSEC_B64_LEN(32) + 1];
    size_t ph_len = 0;
    int rc = dmsec_b64_encode(prehash, dm_md_len(alg), ph_b64, sizeof ph_b64, &ph_len);
    if (rc)
        return rc;
    dm_part_t parts[3] = {{ph_b64, ph_len}, {":", 1}, {nonce, nonce_len}};
    rc = dm_digest(alg, parts, 3, digest);
    dm_wipe(ph_b64, sizeof ph_b64);
    return rc;
}

static int scheme_alg(dmsec_auth_scheme_t scheme, dm_alg_t *alg, const uint8_t **prehash,
                      const dmsec_prehash_t *ph)
{
    if (scheme == DMSEC_AUTH_MD5) {
        *alg = DM_MD5;
        if (ph && !(ph->flags & DMSEC_PREHASH_MD5))
            return DMSEC_ERR_AUTH_NO_PREHASH;
        *prehash = ph ? ph->md5 : NULL;
        return DMSEC_OK;
    }
    if (scheme == DMSEC_AUTH_SHA256) {
        *alg = DM_SHA256;
        if (ph && !(ph->flags & DMSEC_PREHASH_SHA256))
            return DMSEC_ERR_AUTH_NO_PREHASH;
        *prehash = ph ? ph->sha256 : NULL;
        return DMSEC_OK;
    }
    return DMSEC_ERR_AUTH_SCHEME;
}

int dmsec_cred_build_prehashed(dmsec_auth_scheme_t scheme, const dmsec_prehash_t *ph,
                               const uint8_t *nonce, size_t nonce_len, char *out, size_t cap,
                               size_t *out_len)
{
    if (!ph || (!nonce && nonce_len) || !out)
        return DMSEC_ERR_INVALID_ARG;
    if (scheme == DMSEC_AUTH_BASIC)
        return DMSEC_ERR_AUTH_NEEDS_SECRET;
    dm_alg_t alg;
    const uint8_t *prehash = NULL;
    int rc = scheme_alg(scheme, &alg, &prehash, ph);
    if (rc)
        return rc;
    uint8_t digest[DM_MAX_MD_LEN];
    rc = digest_cred(alg, prehash, nonce, nonce_len, digest);
    if (!rc)
        rc = dmsec_b64_encode(digest, dm_md_len(alg), out, cap, out_len);
    dm_wipe(digest, sizeof digest);
    return rc;
}

int dmsec_cred_build(dmsec_auth_scheme_t scheme, const char *user, const uint8_t *secret,
                     size_t secret_len, const uint8_t *nonce, size_t nonce_len, char *out,
                     size_t cap, size_t *out_len)
{
    if (!user || (!secret && secret_len) || (!nonce && nonce_len) || !out)
        return DMSEC_ERR_INVALID_ARG;
    if (scheme == DMSEC_AUTH_BASIC) {
        size_t ulen = strlen(user);
        if (ulen > 4096 || secret_len > 4096)
            return DMSEC_ERR_TOO_LARGE;
        if (cap < DMSEC_B64_LEN(ulen + 1 + secret_len) + 1)
            return DMSEC_ERR_BUFFER_TOO_SMALL;
        uint8_t plain[4096 * 2 + 1];
        memcpy(plain, user, ulen);
        plain[ulen] = ':';
        if (secret_len)
            memcpy(plain + ulen + 1, secret, secret_len);
        int rc = dmsec_b64_encode(plain, ulen + 1 + secret_len, out, cap, out_len);
        dm_wipe(plain, ulen + 1 + secret_len);
        return rc;
    }
    if (scheme != DMSEC_AUTH_MD5 && scheme != DMSEC_AUTH_SHA256)
        return DMSEC_ERR_AUTH_SCHEME;
    dmsec_prehash_t ph;
    int rc = dmsec_prehash_compute(user, secret, secret_len, &ph);
    if (!rc)
        rc = dmsec_cred_build_prehashed(scheme, &ph, nonce, nonce_len, out, cap, out_len);
    dmsec_prehash_wipe(&ph);
    return rc;
}

int dmsec_cred_basic_user(const char *data, size_t len, char *out, size_t cap)
{
    if (!data || !out || !cap)
        return DMSEC_ERR_INVALID_ARG;
    if (len > 16384)
        return DMSEC_ERR_AUTH_FORMAT;
    uint8_t plain[DMSEC_B64_DECODED_MAX(16384)];
    size_t n = 0;
    int rc = dmsec_b64_decode(data, len, plain, sizeof plain, &n);
    if (rc) {
        dm_wipe(plain, sizeof plain);
        return DMSEC_ERR_AUTH_FORMAT;
    }
    const uint8_t *colon = memchr(plain, ':', n);
    size_t ulen = colon ? (size_t)(colon - plain) : 0;
    if (!colon || memchr(plain, '\0', ulen))
        rc = DMSEC_ERR_AUTH_FORMAT;
    else if (ulen + 1 > cap)
        rc = DMSEC_ERR_BUFFER_TOO_SMALL;
    else {
        memcpy(out, plain, ulen);
        out[ulen] = '\0';
    }
    dm_wipe(plain, n);
    return rc;
}

static int verify_basic(const char *user, const dmsec_prehash_t *ph, const char *data, size_t len)
{
    if (!(ph->flags & (DMSEC_PREHASH_MD5 | DMSEC_PREHASH_SHA256)))
        return DMSEC_ERR_AUTH_NO_PREHASH;
    if (len > 16384)
        return DMSEC_ERR_AUTH_FORMAT;
    uint8_t plain[DMSEC_B64_DECODED_MAX(16384)];
    size_t n = 0;
    if (dmsec_b64_decode(data, len, plain, sizeof plain, &n))
        return DMSEC_ERR_AUTH_FORMAT;
    int rc = DMSEC_OK;
    size_t ulen = strlen(user);
    if (!memchr(plain, ':', n)) {
        rc = DMSEC_ERR_AUTH_FORMAT;
        goto done;
    }
    /* Device ids hold colons ("IMEI:..."), so the user is matched as a
     * prefix rather than split at the first ':'. The pre-hash binds the
     * user too; the explicit check keeps a wrong user from passing. */
    int user_ok = n > ulen && plain[ulen] == ':' && dm_ct_equal(plain, user, ulen);
    uint8_t h[DM_MAX_MD_LEN];
    dm_part_t part = {plain, n};
    int use_sha = (ph->flags & DMSEC_PREHASH_SHA256) != 0;
    rc = dm_digest(use_sha ? DM_SHA256 : DM_MD5, &part, 1, h);
    if (!rc) {
        int hash_ok = use_sha ? dm_ct_equal(h, ph->sha256, 32) : dm_ct_equal(h, ph->md5, 16);
        rc = (user_ok & hash_ok) ? DMSEC_OK : DMSEC_ERR_AUTH_FAILED;
    }
    dm_wipe(h, sizeof h);
done:
    dm_wipe(plain, n);
    return rc;
}

int dmsec_cred_verify(dmsec_auth_scheme_t scheme, const char *user, const dmsec_prehash_t *ph,
                      const uint8_t *nonce, size_t nonce_len, const char *data, size_t len)
{
    if (!user || !ph || (!nonce && nonce_len) || (!data && len))
        return DMSEC_ERR_INVALID_ARG;
    if (len == 0)
        return DMSEC_ERR_AUTH_MISSING;
    if (scheme == DMSEC_AUTH_BASIC)
        return verify_basic(user, ph, data, len);
    dm_alg_t alg;
    const uint8_t *prehash = NULL;
    int rc = scheme_alg(scheme, &alg, &prehash, ph);
    if (rc)
        return rc;
    uint8_t got[DM_MAX_MD_LEN];
    size_t got_len = 0;
    if (len != DMSEC_B64_LEN(dm_md_len(alg)) ||
        dmsec_b64_decode(data, len, got, sizeof got, &got_len) || got_len != dm_md_len(alg))
        return DMSEC_ERR_AUTH_FORMAT;
    uint8_t want[DM_MAX_MD_LEN];
    rc = digest_cred(alg, prehash, nonce, nonce_len, want);
    if (!rc)
        rc = dm_ct_equal(got, want, got_len) ? DMSEC_OK : DMSEC_ERR_AUTH_FAILED;
    dm_wipe(want, sizeof want);
    return rc;
}
