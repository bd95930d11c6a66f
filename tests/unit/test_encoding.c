/* Base64 (RFC 4648 section 10 vectors and every error path) and hex. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dmsec/encoding.h"
#include "dmsec/errors.h"

static const struct {
    const char *plain;
    const char *b64;
} b64_vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void b64_rfc4648_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof b64_vectors / sizeof b64_vectors[0]; i++) {
        char out[32];
        size_t n = 99;
        const char *plain = b64_vectors[i].plain;
        assert_int_equal(
            dmsec_b64_encode((const uint8_t *)plain, strlen(plain), out, sizeof out, &n), DMSEC_OK);
        assert_string_equal(out, b64_vectors[i].b64);
        assert_int_equal(n, strlen(b64_vectors[i].b64));
        uint8_t dec[32];
        assert_int_equal(
            dmsec_b64_decode(b64_vectors[i].b64, strlen(b64_vectors[i].b64), dec, sizeof dec, &n),
            DMSEC_OK);
        assert_int_equal(n, strlen(plain));
        assert_memory_equal(dec, plain, n);
    }
}

static void b64_binary_round_trip(void **state)
{
    (void)state;
    uint8_t in[256];
    for (int i = 0; i < 256; i++)
        in[i] = (uint8_t)(255 - i);
    for (size_t len = 0; len <= sizeof in; len++) {
        char text[DMSEC_B64_LEN(256) + 1];
        size_t tlen = 0;
        assert_int_equal(dmsec_b64_encode(in, len, text, sizeof text, &tlen), DMSEC_OK);
        assert_int_equal(tlen, DMSEC_B64_LEN(len));
        uint8_t out[256];
        size_t olen = 0;
        assert_int_equal(dmsec_b64_decode(text, tlen, out, sizeof out, &olen), DMSEC_OK);
        assert_int_equal(olen, len);
        assert_memory_equal(out, in, len);
    }
}

static const struct {
    const char *text;
    int err;
} b64_bad[] = {
    {"Zg=", DMSEC_ERR_B64_LENGTH}, /* not a multiple of four */
    {"Zm9", DMSEC_ERR_B64_LENGTH},
    {"Z", DMSEC_ERR_B64_LENGTH},
    {"Zm9v\n", DMSEC_ERR_B64_LENGTH}, /* trailing newline */
    {"Zm 9", DMSEC_ERR_B64_CHAR},     /* whitespace inside */
    {"Zm9v\nZm9", DMSEC_ERR_B64_CHAR},
    {"Zm-v", DMSEC_ERR_B64_CHAR}, /* URL-safe alphabet is not ours */
    {"Zm_v", DMSEC_ERR_B64_CHAR},
    {"Zm9\xc3", DMSEC_ERR_B64_CHAR}, /* non-ASCII */
    {"Z===", DMSEC_ERR_B64_PADDING}, /* three pads */
    {"====", DMSEC_ERR_B64_PADDING},
    {"Zg==Zm9v", DMSEC_ERR_B64_PADDING}, /* pad in the middle */
    {"Z=g=", DMSEC_ERR_B64_PADDING},
    {"Zh==", DMSEC_ERR_B64_PADDING}, /* non-zero bits under the pad */
    {"Zm9=", DMSEC_ERR_B64_PADDING},
    {"AAAAA===", DMSEC_ERR_B64_PADDING},
};

static void b64_rejects_bad_input(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof b64_bad / sizeof b64_bad[0]; i++) {
        uint8_t out[16];
        size_t n = 77;
        int rc = dmsec_b64_decode(b64_bad[i].text, strlen(b64_bad[i].text), out, sizeof out, &n);
        if (rc != b64_bad[i].err)
            fail_msg("'%s': got %s, want %s", b64_bad[i].text, dmsec_errname(rc),
                     dmsec_errname(b64_bad[i].err));
        assert_int_equal(n, 0); /* never a truncated result */
    }
}

static void b64_single_pad_nonce_is_not_empty(void **state)
{
    /* A widely copied client decodes a one-pad NextNonce to nothing. */
    (void)state;
    uint8_t out[16];
    size_t n = 0;
    assert_int_equal(dmsec_b64_decode("AAAAAAA=", 8, out, sizeof out, &n), DMSEC_OK);
    assert_int_equal(n, 5);
}

static void b64_buffer_limits(void **state)
{
    (void)state;
    char text[8];
    assert_int_equal(dmsec_b64_encode((const uint8_t *)"foob", 4, text, 8, NULL),
                     DMSEC_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(dmsec_b64_encode((const uint8_t *)"foo", 3, text, 5, NULL), DMSEC_OK);
    uint8_t out[2];
    size_t n;
    assert_int_equal(dmsec_b64_decode("Zm9v", 4, out, sizeof out, &n), DMSEC_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(dmsec_b64_decode(NULL, 4, out, sizeof out, &n), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_b64_encode(NULL, 1, text, sizeof text, NULL), DMSEC_ERR_INVALID_ARG);
}

static void hex_round_trip_and_errors(void **state)
{
    (void)state;
    const uint8_t in[] = {0x00, 0x01, 0xab, 0xCD, 0xff};
    char lo[11];
    char up[11];
    assert_int_equal(dmsec_hex_encode(in, sizeof in, lo, sizeof lo), DMSEC_OK);
    assert_string_equal(lo, "0001abcdff");
    assert_int_equal(dmsec_hex_encode_upper(in, sizeof in, up, sizeof up), DMSEC_OK);
    assert_string_equal(up, "0001ABCDFF");
    assert_int_equal(dmsec_hex_encode(in, sizeof in, lo, 10), DMSEC_ERR_BUFFER_TOO_SMALL);
    uint8_t out[8];
    size_t n;
    assert_int_equal(dmsec_hex_decode("0001AbCdfF", 10, out, sizeof out, &n), DMSEC_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(out, in, 5);
    assert_int_equal(dmsec_hex_decode("abc", 3, out, sizeof out, &n), DMSEC_ERR_HEX_LENGTH);
    assert_int_equal(dmsec_hex_decode("0g", 2, out, sizeof out, &n), DMSEC_ERR_HEX_CHAR);
    assert_int_equal(dmsec_hex_decode("0x00", 4, out, sizeof out, &n), DMSEC_ERR_HEX_CHAR);
    assert_int_equal(dmsec_hex_decode("001122", 6, out, 2, &n), DMSEC_ERR_BUFFER_TOO_SMALL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(b64_rfc4648_vectors),
        cmocka_unit_test(b64_binary_round_trip),
        cmocka_unit_test(b64_rejects_bad_input),
        cmocka_unit_test(b64_single_pad_nonce_is_not_empty),
        cmocka_unit_test(b64_buffer_limits),
        cmocka_unit_test(hex_round_trip_and_errors),
    };
    return cmocka_run_group_tests_name("encoding", tests, NULL, NULL);
}
