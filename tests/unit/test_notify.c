/* Package #0 and its WAP Push wrapping. Expected messages were computed
 * independently (Python hashlib) from the formula and bit layout of the
 * digest, section 5. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dmsec/auth.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "dmsec/notify.h"

static const uint8_t nonce16[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static const struct {
    dmsec_pkg0_params_t p;
    const char *secret;
    const uint8_t *nonce;
    size_t nonce_len;
    const char *hex;
} build_rows[] = {
    {{11, DMSEC_UI_BACKGROUND, DMSEC_INITIATOR_SERVER, 0xA1, "dm.foo.org", NULL, 0},
     "srvpw",
     nonce16,
     16,
     "7663957ccd61671ef4988c297503d01202d800000000a10a646d2e666f6f2e6f7267"},
    {{11, DMSEC_UI_INTERACTIVE, DMSEC_INITIATOR_USER, 0xFFFF, "dm.foo.org", NULL, 0},
     "srvpw",
     (const uint8_t *)"\0\0\0\0",
     4,
     "fd862c7ce8ef216b762566df7870341c02f0000000ffff0a646d2e666f6f2e6f7267"},
    {{11, DMSEC_UI_INFORMATIVE, DMSEC_INITIATOR_SERVER, 0xA1, "com.example.dm",
      (const uint8_t *)"\x01\x02\x03", 3},
     "x",
     (const uint8_t *)"A1",
     2,
     "fb866fced51d37864b7f836e17dfc93a02e800000000a10e636f6d2e6578616d706c652e646d010203"},
    {{12, DMSEC_UI_BACKGROUND, DMSEC_INITIATOR_SERVER, 1, "s", NULL, 0},
     "x",
     (const uint8_t *)"n",
     1,
     "133495aa764bd6c87ecac6815ce29616031800000000010173"},
};

static void hex_bytes(const char *hex, uint8_t *out, size_t cap, size_t *len)
{
    assert_int_equal(dmsec_hex_decode(hex, strlen(hex), out, cap, len), DMSEC_OK);
}

static void build_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof build_rows / sizeof build_rows[0]; i++) {
        uint8_t msg[128];
        size_t len = 0;
        const char *secret = build_rows[i].secret;
        assert_int_equal(dmsec_pkg0_build(&build_rows[i].p, (const uint8_t *)secret, strlen(secret),
                                          build_rows[i].nonce, build_rows[i].nonce_len, msg,
                                          sizeof msg, &len),
                         DMSEC_OK);
        assert_int_equal(len, dmsec_pkg0_size(&build_rows[i].p));
        dmsec_prehash_t ph;
        assert_int_equal(dmsec_prehash_compute(build_rows[i].p.server_id, (const uint8_t *)secret,
                                               strlen(secret), &ph),
                         DMSEC_OK);
        uint8_t again[128];
        size_t again_len = 0;
        assert_int_equal(dmsec_pkg0_build_prehashed(&build_rows[i].p, ph.md5, build_rows[i].nonce,
                                                    build_rows[i].nonce_len, again, sizeof again,
                                                    &again_len),
                         DMSEC_OK);
        assert_int_equal(again_len, len);
        assert_memory_equal(again, msg, len);
        char hex[257];
        assert_int_equal(dmsec_hex_encode(msg, len, hex, sizeof hex), DMSEC_OK);
        assert_string_equal(hex, build_rows[i].hex);

        dmsec_pkg0_t pkg;
        assert_int_equal(dmsec_pkg0_parse(msg, len, &pkg), DMSEC_OK);
        assert_int_equal(pkg.version, build_rows[i].p.version);
        assert_int_equal(pkg.ui, build_rows[i].p.ui);
        assert_int_equal(pkg.initiator, build_rows[i].p.initiator);
        assert_int_equal(pkg.session_id, build_rows[i].p.session_id);
        assert_int_equal(pkg.future, 0);
        assert_int_equal(pkg.server_id_len, strlen(build_rows[i].p.server_id));
        assert_memory_equal(pkg.server_id, build_rows[i].p.server_id, pkg.server_id_len);
        assert_int_equal(pkg.vendor_len, build_rows[i].p.vendor_len);
        if (pkg.vendor_len)
            assert_memory_equal(pkg.vendor, build_rows[i].p.vendor, pkg.vendor_len);
        assert_ptr_equal(pkg.trigger, msg + 16);
        assert_int_equal(pkg.trigger_len, len - 16);
    }
}

static void emitted_version_is_11(void **state)
{
    (void)state;
    dmsec_pkg0_params_t p = {.session_id = 7, .server_id = "s"};
    uint8_t msg[64];
    size_t len;
    assert_int_equal(dmsec_pkg0_build(&p, (const uint8_t *)"x", 1, NULL, 0, msg, sizeof msg, &len),
                     DMSEC_OK);
    /* SCR-DM-NOTI-S-003: version bits 0000001011 */
    assert_int_equal(msg[16], 0x02);
    assert_int_equal(msg[17] >> 6, 0x3);
}

static const struct {
    dmsec_pkg0_params_t p;
    int err;
} build_errors[] = {
    {{11, 1, 1, 0, "s", NULL, 0}, DMSEC_ERR_PKG0_SESSION_ID},
    {{11, 1, 1, 1, "", NULL, 0}, DMSEC_ERR_PKG0_FIELD},
    {{1024, 1, 1, 1, "s", NULL, 0}, DMSEC_ERR_PKG0_FIELD},
    {{11, 4, 1, 1, "s", NULL, 0}, DMSEC_ERR_PKG0_FIELD},
    {{11, 1, 2, 1, "s", NULL, 0}, DMSEC_ERR_PKG0_FIELD},
    {{11, 1, 1, 1, NULL, NULL, 0}, DMSEC_ERR_INVALID_ARG},
    {{11, 1, 1, 1, "s", NULL, 3}, DMSEC_ERR_INVALID_ARG},
};

static void build_rejects_bad_fields(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof build_errors / sizeof build_errors[0]; i++) {
        uint8_t msg[64];
        assert_int_equal(dmsec_pkg0_build(&build_errors[i].p, (const uint8_t *)"x", 1, NULL, 0, msg,
                                          sizeof msg, NULL),
                         build_errors[i].err);
    }
    char sid[300];
    memset(sid, 'a', 256);
    sid[256] = '\0';
    dmsec_pkg0_params_t p = {.session_id = 1, .server_id = sid};
    uint8_t big[400];
    assert_int_equal(dmsec_pkg0_build(&p, NULL, 0, NULL, 0, big, sizeof big, NULL),
                     DMSEC_ERR_PKG0_FIELD);
    sid[255] = '\0';
    assert_int_equal(dmsec_pkg0_build(&p, NULL, 0, NULL, 0, big, 24 + 254, NULL),
                     DMSEC_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(dmsec_pkg0_build(&p, NULL, 0, NULL, 0, big, 24 + 255, NULL), DMSEC_OK);
}

static void parse_errors(void **state)
{
    (void)state;
    uint8_t msg[64];
    size_t len = 0;
    hex_bytes(build_rows[0].hex, msg, sizeof msg, &len);
    dmsec_pkg0_t pkg;
    for (size_t cut = 0; cut < 24; cut++)
        assert_int_equal(dmsec_pkg0_parse(msg, cut, &pkg), DMSEC_ERR_PKG0_TRUNCATED);
    for (size_t cut = 24; cut < len; cut++)
        assert_int_equal(dmsec_pkg0_parse(msg, cut, &pkg), DMSEC_ERR_PKG0_SERVERID_OVERRUN);
    assert_int_equal(dmsec_pkg0_parse(msg, len, &pkg), DMSEC_OK);

    static const struct {
        unsigned version;
        int err;
    } versions[] = {{10, DMSEC_ERR_PKG0_VERSION},
                    {11, 0},
                    {12, 0},
                    {13, DMSEC_ERR_PKG0_VERSION},
                    {0, DMSEC_ERR_PKG0_VERSION},
                    {1023, DMSEC_ERR_PKG0_VERSION}};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        uint8_t m[64];
        memcpy(m, msg, len);
        m[16] = (uint8_t)(versions[i].version >> 2);
        m[17] = (uint8_t)((m[17] & 0x3f) | (versions[i].version & 3) << 6);
        assert_int_equal(dmsec_pkg0_parse(m, len, &pkg), versions[i].err);
    }
    /* session id 0 */
    uint8_t m[64];
    memcpy(m, msg, len);
    m[21] = 0;
    m[22] = 0;
    assert_int_equal(dmsec_pkg0_parse(m, len, &pkg), DMSEC_ERR_PKG0_SESSION_ID);
    /* a server-id length running past the end */
    memcpy(m, msg, len);
    m[23] = 0xff;
    assert_int_equal(dmsec_pkg0_parse(m, len, &pkg), DMSEC_ERR_PKG0_SERVERID_OVERRUN);
    assert_int_equal(dmsec_pkg0_parse(NULL, 5, &pkg), DMSEC_ERR_INVALID_ARG);
}

static void future_bits_are_reported(void **state)
{
    (void)state;
    uint8_t m[64];
    size_t len = 0;
    hex_bytes(build_rows[0].hex, m, sizeof m, &len);
    m[17] |= 0x04; /* the highest future-use bit */
    m[20] |= 0x01; /* the lowest */
    dmsec_pkg0_t pkg;
    assert_int_equal(dmsec_pkg0_parse(m, len, &pkg), DMSEC_OK);
    assert_int_equal(pkg.future, 0x4000001);
    assert_int_equal(pkg.ui, DMSEC_UI_BACKGROUND);
    assert_int_equal(pkg.initiator, DMSEC_INITIATOR_SERVER);
    assert_int_equal(pkg.session_id, 0xA1);
}

static void prehash_of(const char *server_id, const char *secret, uint8_t out[16])
{
    dmsec_prehash_t ph;
    assert_int_equal(dmsec_prehash_compute(server_id, (const uint8_t *)secret, strlen(secret), &ph),
                     DMSEC_OK);
    memcpy(out, ph.md5, 16);
}

/* Messages signed with each nonce reading (Python-derived). */
static const struct {
    const char *hex;
    const uint8_t *stored;
    size_t stored_len;
    unsigned options;
    int err;
    dmsec_nonce_used_t used;
} verify_rows[] = {
    /* stored nonce */
    {"7663957ccd61671ef4988c297503d01202d800000000a10a646d2e666f6f2e6f7267", nonce16, 16, 0, 0,
     DMSEC_NONCE_STORED},
    /* signed on the default nonce: found after the stored one fails */
    {"fd862c7ce8ef216b762566df7870341c02f0000000ffff0a646d2e666f6f2e6f7267", nonce16, 16, 0, 0,
     DMSEC_NONCE_DEFAULT},
    {"fd862c7ce8ef216b762566df7870341c02f0000000ffff0a646d2e666f6f2e6f7267", NULL, 0, 0, 0,
     DMSEC_NONCE_DEFAULT},
    /* the stored nonce is the default one (the device lost its nonce) */
    {"fd862c7ce8ef216b762566df7870341c02f0000000ffff0a646d2e666f6f2e6f7267",
     (const uint8_t *)"\0\0\0\0", 4, 0, 0, DMSEC_NONCE_DEFAULT},
    /* signed on the session id text "A1": only when enabled */
    {"fb866fced51d37864b7f836e17dfc93a02e800000000a10e636f6d2e6578616d706c652e646d010203", nonce16,
     16, 0, DMSEC_ERR_PKG0_DIGEST, DMSEC_NONCE_NONE},
    {"fb866fced51d37864b7f836e17dfc93a02e800000000a10e636f6d2e6578616d706c652e646d010203", nonce16,
     16, DMSEC_PKG0_TRY_SESSION_ID, 0, DMSEC_NONCE_SESSION_ID},
    /* signed on the text "AAAAAA==" and on "0x00000000": field readings only when enabled */
    {"066afa56862e3b437e921ec5e4e55a8602c800000012340e636f6d2e6578616d706c652e646d", nonce16, 16,
     DMSEC_PKG0_TRY_SESSION_ID, DMSEC_ERR_PKG0_DIGEST, DMSEC_NONCE_NONE},
    {"066afa56862e3b437e921ec5e4e55a8602c800000012340e636f6d2e6578616d706c652e646d", nonce16, 16,
     DMSEC_PKG0_TRY_FIELD_READINGS, 0, DMSEC_NONCE_FIELD_B64},
    {"beac158b22b3d8ca089a184528a7817102c800000012340e636f6d2e6578616d706c652e646d", nonce16, 16,
     DMSEC_PKG0_TRY_FIELD_READINGS, 0, DMSEC_NONCE_FIELD_TEXT},
    {"beac158b22b3d8ca089a184528a7817102c800000012340e636f6d2e6578616d706c652e646d", nonce16, 16, 0,
     DMSEC_ERR_PKG0_DIGEST, DMSEC_NONCE_NONE},
};

static void verify_nonce_readings(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof verify_rows / sizeof verify_rows[0]; i++) {
        uint8_t msg[128];
        size_t len = 0;
        hex_bytes(verify_rows[i].hex, msg, sizeof msg, &len);
        dmsec_pkg0_t pkg;
        assert_int_equal(dmsec_pkg0_parse(msg, len, &pkg), DMSEC_OK);
        char sid[64] = "";
        memcpy(sid, pkg.server_id, pkg.server_id_len);
        uint8_t ph[16];
        prehash_of(sid, !strcmp(sid, "dm.foo.org") ? "srvpw" : "x", ph);
        dmsec_nonce_used_t used = 99;
        int rc = dmsec_pkg0_verify(&pkg, ph, verify_rows[i].stored, verify_rows[i].stored_len,
                                   verify_rows[i].options, &used);
        if (rc != verify_rows[i].err)
            fail_msg("row %zu: got %s", i, dmsec_errname(rc));
        assert_int_equal(used, verify_rows[i].used);
    }
}

static void verify_rejects_any_flipped_bit(void **state)
{
    (void)state;
    uint8_t msg[128];
    size_t len = 0;
    hex_bytes(build_rows[0].hex, msg, sizeof msg, &len);
    uint8_t ph[16];
    prehash_of("dm.foo.org", "srvpw", ph);
    for (size_t bit = 0; bit < len * 8; bit++) {
        uint8_t m[128];
        memcpy(m, msg, len);
        m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        dmsec_pkg0_t pkg;
        if (dmsec_pkg0_parse(m, len, &pkg) != DMSEC_OK)
            continue; /* a flipped version or length is already refused */
        dmsec_nonce_used_t used;
        int rc =
            dmsec_pkg0_verify(&pkg, ph, nonce16, 16,
                              DMSEC_PKG0_TRY_SESSION_ID | DMSEC_PKG0_TRY_FIELD_READINGS, &used);
        if (rc != DMSEC_ERR_PKG0_DIGEST)
            fail_msg("bit %zu flipped and still verified", bit);
        assert_int_equal(used, DMSEC_NONCE_NONE);
    }
    /* wrong secret */
    prehash_of("dm.foo.org", "srvpW", ph);
    dmsec_pkg0_t pkg;
    dmsec_nonce_used_t used;
    assert_int_equal(dmsec_pkg0_parse(msg, len, &pkg), DMSEC_OK);
    assert_int_equal(dmsec_pkg0_verify(&pkg, ph, nonce16, 16, 0, &used), DMSEC_ERR_PKG0_DIGEST);
}

static const struct {
    uint16_t id;
    const char *text;
} sid_rows[] = {{0x00A1, "A1"}, {1, "1"}, {0xFFFF, "FFFF"}, {0x1000, "1000"}, {0x0abc, "ABC"}};

static void session_id_text(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof sid_rows / sizeof sid_rows[0]; i++) {
        char out[5];
        assert_int_equal(dmsec_pkg0_session_id_text(sid_rows[i].id, out), DMSEC_OK);
        assert_string_equal(out, sid_rows[i].text);
    }
    char out[5];
    assert_int_equal(dmsec_pkg0_session_id_text(0, out), DMSEC_ERR_PKG0_SESSION_ID);
    assert_string_equal(dmsec_nonce_used_name(DMSEC_NONCE_DEFAULT), "default");
    assert_string_equal(dmsec_nonce_used_name(DMSEC_NONCE_STORED), "stored");
}

static void wsp_wrap_layout(void **state)
{
    (void)state;
    uint8_t body[3] = {0xAA, 0xBB, 0xCC};
    uint8_t pdu[16];
    size_t n = 0;
    assert_int_equal(dmsec_wsp_push_wrap(0x01, body, 3, pdu, sizeof pdu, &n), DMSEC_OK);
    static const uint8_t want[] = {0x01, 0x06, 0x03, 0xC4, 0xAF, 0x87, 0xAA, 0xBB, 0xCC};
    assert_int_equal(n, sizeof want);
    assert_memory_equal(pdu, want, n);
    assert_int_equal(dmsec_wsp_push_wrap(0x01, body, 3, pdu, 8, &n), DMSEC_ERR_BUFFER_TOO_SMALL);
}

static const struct {
    const char *hex;
    int err;
    size_t body_off; /* where the body starts */
} wsp_rows[] = {
    {"010603c4af87aabbcc", 0, 6},
    /* content type as text, application id as text, extra header */
    {"0a0629"
     "6170706c69636174696f6e2f766e642e73796e636d6c2e6e6f74696669636174696f6e00"
     "af780080c0"
     "aabb",
     0, 44},
    /* general form: Value-length 1, media 0xC4 */
    {"00060401c4af87aa", 0, 7},
    /* general form with a parameter after the media (skipped) */
    {"00060603c48180af87aa", 0, 9},
    /* headers length as a two-byte uintvar (3) */
    {"01068003c4af87aa", 0, 7},
    {"010703c4af87aa", DMSEC_ERR_WSP_PDU_TYPE, 0},
    {"010603c2af87aa", DMSEC_ERR_WSP_CONTENT_TYPE, 0}, /* 0x42: a bootstrap, not ours */
    {"01060ac4af87", DMSEC_ERR_WSP_TRUNCATED, 0},      /* headers run past the end */
    {"0106", DMSEC_ERR_WSP_TRUNCATED, 0},
    {"0106ffffffffff7f", DMSEC_ERR_WSP_UINTVAR, 0}, /* six-byte uintvar */
    {"01068f", DMSEC_ERR_WSP_TRUNCATED, 0},
    {"010600aa", DMSEC_ERR_WSP_CONTENT_TYPE, 0},       /* no headers at all */
    {"010603616263", DMSEC_ERR_WSP_TRUNCATED, 0},      /* unterminated text type */
    {"0106040a616263", DMSEC_ERR_WSP_TRUNCATED, 0},    /* general form too long */
    {"01060361620000", DMSEC_ERR_WSP_CONTENT_TYPE, 0}, /* text of another type */
};

static void wsp_unwrap_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof wsp_rows / sizeof wsp_rows[0]; i++) {
        uint8_t pdu[128];
        size_t len = 0;
        hex_bytes(wsp_rows[i].hex, pdu, sizeof pdu, &len);
        const uint8_t *body = NULL;
        size_t body_len = 0;
        int rc = dmsec_wsp_push_unwrap(pdu, len, &body, &body_len);
        if (rc != wsp_rows[i].err)
            fail_msg("row %zu: got %s", i, dmsec_errname(rc));
        if (!rc) {
            assert_ptr_equal(body, pdu + wsp_rows[i].body_off);
            assert_int_equal(body_len, len - wsp_rows[i].body_off);
        }
    }
}

static void wsp_round_trip_of_a_package(void **state)
{
    (void)state;
    uint8_t msg[64];
    size_t len = 0;
    hex_bytes(build_rows[0].hex, msg, sizeof msg, &len);
    uint8_t pdu[128];
    size_t n = 0;
    assert_int_equal(dmsec_wsp_push_wrap(0x42, msg, len, pdu, sizeof pdu, &n), DMSEC_OK);
    const uint8_t *body;
    size_t body_len;
    assert_int_equal(dmsec_wsp_push_unwrap(pdu, n, &body, &body_len), DMSEC_OK);
    assert_int_equal(body_len, len);
    assert_memory_equal(body, msg, len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(build_vectors),
        cmocka_unit_test(emitted_version_is_11),
        cmocka_unit_test(build_rejects_bad_fields),
        cmocka_unit_test(parse_errors),
        cmocka_unit_test(future_bits_are_reported),
        cmocka_unit_test(verify_nonce_readings),
        cmocka_unit_test(verify_rejects_any_flipped_bit),
        cmocka_unit_test(session_id_text),
        cmocka_unit_test(wsp_wrap_layout),
        cmocka_unit_test(wsp_unwrap_table),
        cmocka_unit_test(wsp_round_trip_of_a_package),
    };
    return cmocka_run_group_tests_name("notify", tests, NULL, NULL);
}
