/* Credentials: the public vector, hand-derived vectors, verification from
 * pre-hashes and every error path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dmsec/auth.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "dmsec/random.h"

/* Expected values computed independently (Python hashlib) from the
 * formulas of the digest, section 3. */
static const struct {
    dmsec_auth_scheme_t scheme;
    const char *user;
    const char *secret;
    const char *nonce_hex;
    const char *data;
} vectors[] = {
    /* The public vector: B64(MD5("Bruce2:OhBehave")) = PtEdr8lBQ45IbT1bZIkrOQ== */
    {DMSEC_AUTH_MD5, "Bruce2", "OhBehave", "4e6f6e6365", "Zz6EivR3yeaaENcRN6lpAQ=="},
    {DMSEC_AUTH_SHA256, "Bruce2", "OhBehave", "4e6f6e6365",
     "xjzyGlkt3ohlGLPxKSYkHAOvDen344MH8tMN+TuV5E4="},
    {DMSEC_AUTH_BASIC, "Bruce2", "OhBehave", "", "QnJ1Y2UyOk9oQmVoYXZl"},
    {DMSEC_AUTH_MD5, "IMEI:493005100592800", "s3cr3t", "000102030405060708090a0b0c0d0e0f",
     "iNC6Fc0TzkT0CAgXIjgLIA=="},
    {DMSEC_AUTH_SHA256, "IMEI:493005100592800", "s3cr3t", "000102030405060708090a0b0c0d0e0f",
     "lDD2EedhyK8LCE2aywN0f49b9n+AmtXEAUvM+RkFonc="},
    {DMSEC_AUTH_MD5, "dm.foo.org", "", "00000000", "za0lbCrB0g7zS+XAuvVFqQ=="},
    {DMSEC_AUTH_SHA256, "u", "p", "", "oyMTbWsD1JnjLCDLUcbAs7A6kDMpRp7P0zuq53kbULs="},
};

static void nonce_of(const char *hex, uint8_t *out, size_t *len)
{
    assert_int_equal(dmsec_hex_decode(hex, strlen(hex), out, 64, len), DMSEC_OK);
}

static void prehash_public_vector(void **state)
{
    (void)state;
    dmsec_prehash_t ph;
    assert_int_equal(dmsec_prehash_compute("Bruce2", (const uint8_t *)"OhBehave", 8, &ph),
                     DMSEC_OK);
    char b64[32];
    assert_int_equal(dmsec_b64_encode(ph.md5, 16, b64, sizeof b64, NULL), DMSEC_OK);
    assert_string_equal(b64, "PtEdr8lBQ45IbT1bZIkrOQ==");
    assert_int_equal(ph.flags, DMSEC_PREHASH_MD5 | DMSEC_PREHASH_SHA256);
    dmsec_prehash_wipe(&ph);
    assert_int_equal(ph.flags, 0);
}

static void cred_vectors_build_and_verify(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        uint8_t nonce[64];
        size_t nonce_len = 0;
        nonce_of(vectors[i].nonce_hex, nonce, &nonce_len);
        const char *user = vectors[i].user;
        const uint8_t *secret = (const uint8_t *)vectors[i].secret;
        size_t secret_len = strlen(vectors[i].secret);
        char data[128];
        size_t len = 0;
        assert_int_equal(dmsec_cred_build(vectors[i].scheme, user, secret, secret_len, nonce,
                                          nonce_len, data, sizeof data, &len),
                         DMSEC_OK);
        assert_string_equal(data, vectors[i].data);
        assert_int_equal(len, strlen(data));
        assert_true(len <= dmsec_cred_data_len(vectors[i].scheme, strlen(user), secret_len));

        dmsec_prehash_t ph;
        assert_int_equal(dmsec_prehash_compute(user, secret, secret_len, &ph), DMSEC_OK);
        assert_int_equal(
            dmsec_cred_verify(vectors[i].scheme, user, &ph, nonce, nonce_len, data, len), DMSEC_OK);
        if (vectors[i].scheme != DMSEC_AUTH_BASIC) {
            char again[128];
            assert_int_equal(dmsec_cred_build_prehashed(vectors[i].scheme, &ph, nonce, nonce_len,
                                                        again, sizeof again, NULL),
                             DMSEC_OK);
            assert_string_equal(again, data);
            /* Another nonce must not verify (stale nonce). */
            nonce[0] ^= 1;
            if (nonce_len)
                assert_int_equal(
                    dmsec_cred_verify(vectors[i].scheme, user, &ph, nonce, nonce_len, data, len),
                    DMSEC_ERR_AUTH_FAILED);
        }
    }
}

static const struct {
    dmsec_auth_scheme_t scheme;
    const char *data;
    int err;
} verify_failures[] = {
    {DMSEC_AUTH_MD5, "Zz6EivR3yeaaENcRN6lpAA==", DMSEC_ERR_AUTH_FAILED}, /* one bit off */
    {DMSEC_AUTH_MD5, "Zz6EivR3yeaaENcRN6lpAQ", DMSEC_ERR_AUTH_FORMAT},   /* no pad */
    {DMSEC_AUTH_MD5, "Zz6EivR3yeaaENcRN6lpAQ==AAAA", DMSEC_ERR_AUTH_FORMAT},
    {DMSEC_AUTH_MD5, "xjzyGlkt3ohlGLPxKSYkHAOvDen344MH8tMN+TuV5E4=", DMSEC_ERR_AUTH_FORMAT},
    {DMSEC_AUTH_MD5, "!!!!!!!!!!!!!!!!!!!!!!!!", DMSEC_ERR_AUTH_FORMAT},
    {DMSEC_AUTH_MD5, "", DMSEC_ERR_AUTH_MISSING},
    {DMSEC_AUTH_SHA256, "Zz6EivR3yeaaENcRN6lpAQ==", DMSEC_ERR_AUTH_FORMAT},
    {DMSEC_AUTH_SHA256, "xjzyGlkt3ohlGLPxKSYkHAOvDen344MH8tMN+TuV5E5=", DMSEC_ERR_AUTH_FORMAT},
    {DMSEC_AUTH_SHA256, "xjzyGlkt3ohlGLPxKSYkHAOvDen344MH8tMN+TuV5E0=", DMSEC_ERR_AUTH_FAILED},
    {DMSEC_AUTH_BASIC, "QnJ1Y2UyOk9oQmVoYXZm", DMSEC_ERR_AUTH_FAILED},  /* Bruce2:OhBehavf */
    {DMSEC_AUTH_BASIC, "QnJ1Y2UzOk9oQmVoYXZl", DMSEC_ERR_AUTH_FAILED},  /* Bruce3:OhBehave */
    {DMSEC_AUTH_BASIC, "QnJ1Y2UyT2hCZWhhdmU=", DMSEC_ERR_AUTH_FORMAT},  /* no colon */
    {DMSEC_AUTH_BASIC, "QnJ1Y2UyOk9oQmVoYXZl=", DMSEC_ERR_AUTH_FORMAT}, /* bad length */
    {DMSEC_AUTH_BASIC, "0", DMSEC_ERR_AUTH_FORMAT}, /* a known client's "missing" value */
};

static void cred_verify_failures(void **state)
{
    (void)state;
    dmsec_prehash_t ph;
    assert_int_equal(dmsec_prehash_compute("Bruce2", (const uint8_t *)"OhBehave", 8, &ph),
                     DMSEC_OK);
    for (size_t i = 0; i < sizeof verify_failures / sizeof verify_failures[0]; i++) {
        const char *d = verify_failures[i].data;
        int rc = dmsec_cred_verify(verify_failures[i].scheme, "Bruce2", &ph,
                                   (const uint8_t *)"Nonce", 5, d, strlen(d));
        if (rc != verify_failures[i].err)
            fail_msg("row %zu '%s': got %s, want %s", i, d, dmsec_errname(rc),
                     dmsec_errname(verify_failures[i].err));
    }
}

static void verify_needs_the_schemes_prehash(void **state)
{
    (void)state;
    dmsec_prehash_t ph;
    assert_int_equal(dmsec_prehash_compute("Bruce2", (const uint8_t *)"OhBehave", 8, &ph),
                     DMSEC_OK);
    ph.flags = DMSEC_PREHASH_SHA256;
    assert_int_equal(dmsec_cred_verify(DMSEC_AUTH_MD5, "Bruce2", &ph, (const uint8_t *)"Nonce", 5,
                                       "Zz6EivR3yeaaENcRN6lpAQ==", 24),
                     DMSEC_ERR_AUTH_NO_PREHASH);
    /* Basic falls back to whichever pre-hash is stored. */
    ph.flags = DMSEC_PREHASH_MD5;
    memset(ph.sha256, 0, sizeof ph.sha256);
    assert_int_equal(
        dmsec_cred_verify(DMSEC_AUTH_BASIC, "Bruce2", &ph, NULL, 0, "QnJ1Y2UyOk9oQmVoYXZl", 20),
        DMSEC_OK);
    ph.flags = 0;
    assert_int_equal(
        dmsec_cred_verify(DMSEC_AUTH_BASIC, "Bruce2", &ph, NULL, 0, "QnJ1Y2UyOk9oQmVoYXZl", 20),
        DMSEC_ERR_AUTH_NO_PREHASH);
    char out[64];
    assert_int_equal(
        dmsec_cred_build_prehashed(DMSEC_AUTH_BASIC, &ph, NULL, 0, out, sizeof out, NULL),
        DMSEC_ERR_AUTH_NEEDS_SECRET);
}

static const struct {
    const char *uri;
    int err;
    dmsec_auth_scheme_t scheme;
} scheme_rows[] = {
    {"syncml:auth-basic", DMSEC_OK, DMSEC_AUTH_BASIC},
    {"syncml:auth-md5", DMSEC_OK, DMSEC_AUTH_MD5},
    {"syncml:auth-sha256", DMSEC_OK, DMSEC_AUTH_SHA256},
    {"syncml:auth-SHA256", DMSEC_OK, DMSEC_AUTH_SHA256}, /* seen in the field */
    {"SYNCML:AUTH-MD5", DMSEC_OK, DMSEC_AUTH_MD5},
    {"  syncml:auth-md5\n", DMSEC_OK, DMSEC_AUTH_MD5},
    {"syncml:auth-md", DMSEC_ERR_AUTH_SCHEME, 0},
    {"syncml:auth-MAC", DMSEC_ERR_AUTH_SCHEME, 0},
    {"syncml:auth-md5x", DMSEC_ERR_AUTH_SCHEME, 0},
    {"", DMSEC_ERR_AUTH_SCHEME, 0},
};

static void scheme_names(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof scheme_rows / sizeof scheme_rows[0]; i++) {
        dmsec_auth_scheme_t s = 99;
        const char *u = scheme_rows[i].uri;
        assert_int_equal(dmsec_auth_scheme_parse(u, strlen(u), &s), scheme_rows[i].err);
        if (!scheme_rows[i].err)
            assert_int_equal(s, scheme_rows[i].scheme);
    }
    assert_string_equal(dmsec_auth_scheme_uri(DMSEC_AUTH_SHA256), "syncml:auth-sha256");
    assert_string_equal(dmsec_auth_scheme_name(DMSEC_AUTH_MD5), "md5");
    assert_null(dmsec_auth_scheme_uri((dmsec_auth_scheme_t)7));
}

static void build_errors(void **state)
{
    (void)state;
    char out[8];
    assert_int_equal(dmsec_cred_build(DMSEC_AUTH_MD5, "u", (const uint8_t *)"p", 1,
                                      (const uint8_t *)"n", 1, out, sizeof out, NULL),
                     DMSEC_ERR_BUFFER_TOO_SMALL);
    /* A user id holding ':' (IMEI:...) works with basic: the verifier
     * matches the user as a prefix. */
    char big[64];
    dmsec_prehash_t ph;
    assert_int_equal(dmsec_cred_build(DMSEC_AUTH_BASIC, "IMEI:1", (const uint8_t *)"p:q", 3, NULL,
                                      0, big, sizeof big, NULL),
                     DMSEC_OK);
    assert_string_equal(big, "SU1FSToxOnA6cQ==");
    assert_int_equal(dmsec_prehash_compute("IMEI:1", (const uint8_t *)"p:q", 3, &ph), DMSEC_OK);
    assert_int_equal(dmsec_cred_verify(DMSEC_AUTH_BASIC, "IMEI:1", &ph, NULL, 0, big, strlen(big)),
                     DMSEC_OK);
    dmsec_prehash_t other;
    assert_int_equal(dmsec_prehash_compute("IMEI", (const uint8_t *)"p:q", 3, &other), DMSEC_OK);
    assert_int_equal(dmsec_cred_verify(DMSEC_AUTH_BASIC, "IMEI", &other, NULL, 0, big, strlen(big)),
                     DMSEC_ERR_AUTH_FAILED);
    assert_int_equal(dmsec_cred_build((dmsec_auth_scheme_t)9, "u", (const uint8_t *)"p", 1, NULL, 0,
                                      big, sizeof big, NULL),
                     DMSEC_ERR_AUTH_SCHEME);
    assert_int_equal(
        dmsec_cred_build(DMSEC_AUTH_MD5, NULL, NULL, 0, NULL, 0, big, sizeof big, NULL),
        DMSEC_ERR_INVALID_ARG);
}

static void basic_user_extraction(void **state)
{
    (void)state;
    char user[32];
    assert_int_equal(dmsec_cred_basic_user("QnJ1Y2UyOk9oQmVoYXZl", 20, user, sizeof user),
                     DMSEC_OK);
    assert_string_equal(user, "Bruce2");
    assert_int_equal(dmsec_cred_basic_user("QnJ1Y2UyOk9oQmVoYXZl", 20, user, 4),
                     DMSEC_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(dmsec_cred_basic_user("QnJ1Y2UyT2hCZWhhdmU=", 20, user, sizeof user),
                     DMSEC_ERR_AUTH_FORMAT);
    assert_int_equal(dmsec_cred_basic_user("@@@@", 4, user, sizeof user), DMSEC_ERR_AUTH_FORMAT);
}

/* A deterministic generator, to see that nonces come from the rng given. */
static int counting_rng(void *ctx, uint8_t *buf, size_t len)
{
    uint8_t *next = ctx;
    for (size_t i = 0; i < len; i++)
        buf[i] = (*next)++;
    return 0;
}

static int failing_rng(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    (void)len;
    return DMSEC_ERR_RANDOM;
}

static void nonces_and_secrets(void **state)
{
    (void)state;
    uint8_t a[DMSEC_NONCE_LEN];
    uint8_t b[DMSEC_NONCE_LEN];
    assert_int_equal(DMSEC_NONCE_LEN, 16);
    assert_int_equal(dmsec_nonce_generate(NULL, a), DMSEC_OK);
    assert_int_equal(dmsec_nonce_generate(&dmsec_rng_os, b), DMSEC_OK);
    assert_memory_not_equal(a, b, sizeof a);
    uint8_t counter = 0;
    dmsec_rng_t det = {counting_rng, &counter};
    assert_int_equal(dmsec_nonce_generate(&det, a), DMSEC_OK);
    for (int i = 0; i < 16; i++)
        assert_int_equal(a[i], i);
    dmsec_rng_t bad = {failing_rng, NULL};
    assert_int_equal(dmsec_nonce_generate(&bad, a), DMSEC_ERR_RANDOM);

    char s1[33];
    char s2[33];
    assert_int_equal(dmsec_secret_generate(NULL, s1, 32), DMSEC_OK);
    assert_int_equal(dmsec_secret_generate(NULL, s2, 32), DMSEC_OK);
    assert_int_equal(strlen(s1), 32);
    assert_string_not_equal(s1, s2);
    for (int i = 0; i < 32; i++)
        assert_true((s1[i] >= 'a' && s1[i] <= 'z') || (s1[i] >= 'A' && s1[i] <= 'Z') ||
                    (s1[i] >= '0' && s1[i] <= '9'));
    assert_int_equal(dmsec_secret_generate(NULL, s1, 21), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_secret_generate(&bad, s1, 32), DMSEC_ERR_RANDOM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(prehash_public_vector), cmocka_unit_test(cred_vectors_build_and_verify),
        cmocka_unit_test(cred_verify_failures),  cmocka_unit_test(verify_needs_the_schemes_prehash),
        cmocka_unit_test(scheme_names),          cmocka_unit_test(build_errors),
        cmocka_unit_test(basic_user_extraction), cmocka_unit_test(nonces_and_secrets),
    };
    return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
