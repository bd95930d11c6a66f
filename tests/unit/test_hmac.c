/* x-syncml-hmac: header grammar (both forms), mac vectors derived by hand
 * (Python hashlib/hmac from the formulas), verification and timestamps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dmsec/auth.h"
#include "dmsec/errors.h"
#include "dmsec/hmac.h"

static const struct {
    const char *text;
    int err;
    dmsec_hmac_alg_t alg;
    const char *username;
    const char *server_id;
    const char *timestamp;
    const char *mac;
} parse_rows[] = {
    /* what real clients send */
    {"algorithm=MD5, username=\"Bruce2\", mac=urdCeS3JUmjFgi8SX3webw==", 0, DMSEC_HMAC_MD5,
     "Bruce2", "", "", "urdCeS3JUmjFgi8SX3webw=="},
    /* algorithm omitted: MD5 */
    {"username=\"Bruce2\",mac=urdCeS3JUmjFgi8SX3webw==", 0, DMSEC_HMAC_MD5, "Bruce2", "", "",
     "urdCeS3JUmjFgi8SX3webw=="},
    /* ';' separators, bare values, odd spacing and case */
    {"  Algorithm = md5 ;USERNAME=Bruce2 ;  MAC = \"urdCeS3JUmjFgi8SX3webw==\"  ", 0,
     DMSEC_HMAC_MD5, "Bruce2", "", "", "urdCeS3JUmjFgi8SX3webw=="},
    /* the DM 1.3 example, ';' separated */
    {"algorithm=\"HMAC-SHA256\"; ServerId=\"dm.foo.org\"; Timestamp=\"2012-01-01T13:04:20Z\"; "
     "mac=\"Yxo3QXE5M2SBw3IBlTLipearMIGsG8/mRkn4anqrVic=\"",
     0, DMSEC_HMAC_SHA256, "", "dm.foo.org", "2012-01-01T13:04:20Z",
     "Yxo3QXE5M2SBw3IBlTLipearMIGsG8/mRkn4anqrVic="},
    /* the spec's example folds the mac across a line; whitespace inside it is dropped */
    {"algorithm=HMAC-SHA256, serverid=\"dm.foo.org\", timestamp=\"2012-01-01T13:04:20Z\", "
     "mac=\"\r\n "
     "Yxo3QXE5M2SBw3IBlTLipearMIGsG8/mRkn4anqrVic=\"",
     0, DMSEC_HMAC_SHA256, "", "dm.foo.org", "2012-01-01T13:04:20Z",
     "Yxo3QXE5M2SBw3IBlTLipearMIGsG8/mRkn4anqrVic="},
    /* one handset firmware: no separator before algorithm, only a space */
    {"username=\"Bruce2\", mac=urdCeS3JUmjFgi8SX3webw== algorithm=\"MD5\"", 0, DMSEC_HMAC_MD5,
     "Bruce2", "", "", "urdCeS3JUmjFgi8SX3webw=="},
    {"username=\"Bruce2\"\tmac=urdCeS3JUmjFgi8SX3webw==", 0, DMSEC_HMAC_MD5, "Bruce2", "", "",
     "urdCeS3JUmjFgi8SX3webw=="},
    /* escapes in quoted strings; unknown parameters ignored; empty list elements */
    {"username=\"a\\\"b\\\\c\",, foo=bar, mac=urdCeS3JUmjFgi8SX3webw==,", 0, DMSEC_HMAC_MD5,
     "a\"b\\c", "", "", "urdCeS3JUmjFgi8SX3webw=="},
    /* errors */
    {"algorithm=MD5, mac=urdCeS3JUmjFgi8SX3webw==", DMSEC_ERR_HMAC_NO_USERNAME},
    {"algorithm=MD5, username=\"u\"", DMSEC_ERR_HMAC_NO_MAC},
    {"username=\"\", mac=urdCeS3JUmjFgi8SX3webw==", DMSEC_ERR_HMAC_NO_USERNAME},
    {"algorithm=HMAC-SHA256, ServerId=\"\", Timestamp=t, mac=urdCeS3JUmjFgi8SX3webw==",
     DMSEC_ERR_HMAC_NO_SERVERID},
    {"algorithm=HMAC-SHA256, ServerId=s, Timestamp=\"\", mac=urdCeS3JUmjFgi8SX3webw==",
     DMSEC_ERR_HMAC_NO_TIMESTAMP},
    {"username=\"u\", mac=\"\"", DMSEC_ERR_HMAC_NO_MAC},
    {"", DMSEC_ERR_HMAC_NO_MAC},
    {"algorithm=HMAC-SHA256, Timestamp=\"t\", mac=urdCeS3JUmjFgi8SX3webw==",
     DMSEC_ERR_HMAC_NO_SERVERID},
    {"algorithm=HMAC-SHA256, ServerId=\"s\", mac=urdCeS3JUmjFgi8SX3webw==",
     DMSEC_ERR_HMAC_NO_TIMESTAMP},
    {"algorithm=SHA1, username=u, mac=urdCeS3JUmjFgi8SX3webw==", DMSEC_ERR_HMAC_ALGORITHM},
    {"username=u, username=v, mac=urdCeS3JUmjFgi8SX3webw==", DMSEC_ERR_HMAC_DUPLICATE},
    {"username=\"u, mac=urdCeS3JUmjFgi8SX3webw==", DMSEC_ERR_HMAC_SYNTAX}, /* unterminated */
    {"username u, mac=x", DMSEC_ERR_HMAC_SYNTAX},                          /* no '=' */
    {"username=, mac=urdCeS3JUmjFgi8SX3webw==", DMSEC_ERR_HMAC_SYNTAX},    /* empty bare */
    {"=u, mac=urdCeS3JUmjFgi8SX3webw==", DMSEC_ERR_HMAC_SYNTAX},           /* no name */
    {"username=\"u\" x, mac=urdCeS3JUmjFgi8SX3webw==", DMSEC_ERR_HMAC_SYNTAX},
    {"username=\"u\"mac=urdCeS3JUmjFgi8SX3webw==", DMSEC_ERR_HMAC_SYNTAX}, /* nothing between */
    {"username=u, mac=urdCeS3JUmjFgi8SX3webw== algorithm", DMSEC_ERR_HMAC_SYNTAX},
    {"username=u, mac=not*base64", DMSEC_ERR_HMAC_SYNTAX},
    {"username=u, mac=urdCeS3JUmjFgi8SX3webw=", DMSEC_ERR_HMAC_SYNTAX}, /* bad length */
    {"username=\"u\x01\", mac=urdCeS3JUmjFgi8SX3webw==", DMSEC_ERR_HMAC_SYNTAX},
    {"username=\"u\\", DMSEC_ERR_HMAC_SYNTAX},
};

static void header_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof parse_rows / sizeof parse_rows[0]; i++) {
        dmsec_hmac_header_t h;
        const char *t = parse_rows[i].text;
        int rc = dmsec_hmac_header_parse(t, strlen(t), &h);
        if (rc != parse_rows[i].err)
            fail_msg("row %zu [%s]: got %s, want %s", i, t, dmsec_errname(rc),
                     dmsec_errname(parse_rows[i].err));
        if (rc)
            continue;
        assert_int_equal(h.alg, parse_rows[i].alg);
        assert_string_equal(h.username, parse_rows[i].username);
        assert_string_equal(h.server_id, parse_rows[i].server_id);
        assert_string_equal(h.timestamp, parse_rows[i].timestamp);
        assert_string_equal(h.mac, parse_rows[i].mac);

        /* format, parse again: same header */
        char text[1024];
        size_t n = 0;
        assert_int_equal(dmsec_hmac_header_format(&h, text, sizeof text, &n), DMSEC_OK);
        assert_int_equal(n, strlen(text));
        dmsec_hmac_header_t again;
        assert_int_equal(dmsec_hmac_header_parse(text, n, &again), DMSEC_OK);
        assert_memory_equal(&again, &h, sizeof h);
    }
}

static void header_parse_is_length_bounded(void **state)
{
    (void)state;
    /* Not NUL-terminated: the parser must stop at len. */
    const char text[] = "username=u, mac=urdCeS3JUmjFgi8SX3webw==XXXX";
    dmsec_hmac_header_t h;
    assert_int_equal(dmsec_hmac_header_parse(text, strlen(text) - 4, &h), DMSEC_OK);
    assert_string_equal(h.mac, "urdCeS3JUmjFgi8SX3webw==");
    char longer[600];
    memset(longer, 'a', sizeof longer);
    memcpy(longer, "username=", 9);
    assert_int_equal(dmsec_hmac_header_parse(longer, sizeof longer, &h), DMSEC_ERR_HMAC_FIELD_LONG);
}

static void header_format_forms(void **state)
{
    (void)state;
    dmsec_hmac_header_t h = {.alg = DMSEC_HMAC_MD5};
    strcpy(h.username, "Bruce2");
    strcpy(h.mac, "urdCeS3JUmjFgi8SX3webw==");
    char text[256];
    assert_int_equal(dmsec_hmac_header_format(&h, text, sizeof text, NULL), DMSEC_OK);
    assert_string_equal(text, "algorithm=MD5, username=\"Bruce2\", mac=urdCeS3JUmjFgi8SX3webw==");
    assert_int_equal(dmsec_hmac_header_format(&h, text, 20, NULL), DMSEC_ERR_BUFFER_TOO_SMALL);
    h.username[0] = '\0';
    assert_int_equal(dmsec_hmac_header_format(&h, text, sizeof text, NULL),
                     DMSEC_ERR_HMAC_NO_USERNAME);

    dmsec_hmac_header_t s = {.alg = DMSEC_HMAC_SHA256};
    strcpy(s.server_id, "dm.foo.org");
    strcpy(s.timestamp, "2012-01-01T13:04:20Z");
    strcpy(s.mac, "Yxo3QXE5M2SBw3IBlTLipearMIGsG8/mRkn4anqrVic=");
    assert_int_equal(dmsec_hmac_header_format(&s, text, sizeof text, NULL), DMSEC_OK);
    assert_string_equal(text, "algorithm=\"HMAC-SHA256\", ServerId=\"dm.foo.org\", "
                              "Timestamp=\"2012-01-01T13:04:20Z\", "
                              "mac=\"Yxo3QXE5M2SBw3IBlTLipearMIGsG8/mRkn4anqrVic=\"");
    s.timestamp[0] = '\0';
    assert_int_equal(dmsec_hmac_header_format(&s, text, sizeof text, NULL),
                     DMSEC_ERR_HMAC_NO_TIMESTAMP);
}

static const struct {
    const char *user;
    const char *secret;
    const char *nonce;
    size_t nonce_len;
    const char *body;
    const char *mac;
} hmac12_rows[] = {
    {"Bruce2", "OhBehave", "Nonce", 5, "<SyncML/>", "urdCeS3JUmjFgi8SX3webw=="},
    {"IMEI:1", "pw", "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f", 16, "",
     "XfhM9yZ5SWGb0KDJFT6INA=="},
};

static void hmac12_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof hmac12_rows / sizeof hmac12_rows[0]; i++) {
        const uint8_t *nonce = (const uint8_t *)hmac12_rows[i].nonce;
        size_t nl = hmac12_rows[i].nonce_len;
        const uint8_t *body = (const uint8_t *)hmac12_rows[i].body;
        size_t bl = strlen(hmac12_rows[i].body);
        const char *user = hmac12_rows[i].user;
        char mac[DMSEC_HMAC12_MAC_LEN + 1];
        assert_int_equal(dmsec_hmac12_compute(user, (const uint8_t *)hmac12_rows[i].secret,
                                              strlen(hmac12_rows[i].secret), nonce, nl, body, bl,
                                              mac),
                         DMSEC_OK);
        assert_string_equal(mac, hmac12_rows[i].mac);

        dmsec_prehash_t ph;
        assert_int_equal(dmsec_prehash_compute(user, (const uint8_t *)hmac12_rows[i].secret,
                                               strlen(hmac12_rows[i].secret), &ph),
                         DMSEC_OK);
        dmsec_hmac_header_t h = {.alg = DMSEC_HMAC_MD5};
        strcpy(h.username, user);
        strcpy(h.mac, mac);
        assert_int_equal(dmsec_hmac12_verify(&h, user, ph.md5, nonce, nl, body, bl), DMSEC_OK);
        /* a tampered body, another nonce, another user, a wrong mac */
        uint8_t tampered[64];
        memcpy(tampered, body, bl);
        tampered[bl] = ' ';
        assert_int_equal(dmsec_hmac12_verify(&h, user, ph.md5, nonce, nl, tampered, bl + 1),
                         DMSEC_ERR_HMAC_MISMATCH);
        assert_int_equal(dmsec_hmac12_verify(&h, user, ph.md5, nonce, nl - 1, body, bl),
                         DMSEC_ERR_HMAC_MISMATCH);
        assert_int_equal(dmsec_hmac12_verify(&h, "other", ph.md5, nonce, nl, body, bl),
                         DMSEC_ERR_HMAC_MISMATCH);
        h.mac[3] ^= 1;
        assert_int_equal(dmsec_hmac12_verify(&h, user, ph.md5, nonce, nl, body, bl),
                         DMSEC_ERR_HMAC_MISMATCH);
        h.alg = DMSEC_HMAC_SHA256;
        assert_int_equal(dmsec_hmac12_verify(&h, user, ph.md5, nonce, nl, body, bl),
                         DMSEC_ERR_HMAC_ALGORITHM);
    }
}

static const struct {
    const char *key;
    const char *timestamp;
    const char *body;
    const char *mac;
} hmac13_rows[] = {
    {"dm-secret", "2012-01-01T13:04:20Z", "<SyncML/>",
     "Yxo3QXE5M2SBw3IBlTLipearMIGsG8/mRkn4anqrVic="},
    {"", "2026-11-24T06:50:11Z", "", "dfjOhsA7HCaetBCWRwNrI7v+O7srzs1wuxqI4UV1ftQ="},
};

static void hmac13_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof hmac13_rows / sizeof hmac13_rows[0]; i++) {
        const uint8_t *key = (const uint8_t *)hmac13_rows[i].key;
        size_t kl = strlen(hmac13_rows[i].key);
        const uint8_t *body = (const uint8_t *)hmac13_rows[i].body;
        size_t bl = strlen(hmac13_rows[i].body);
        char mac[DMSEC_HMAC13_MAC_LEN + 1];
        assert_int_equal(dmsec_hmac13_compute(key, kl, hmac13_rows[i].timestamp, body, bl, mac),
                         DMSEC_OK);
        assert_string_equal(mac, hmac13_rows[i].mac);
        dmsec_hmac_header_t h = {.alg = DMSEC_HMAC_SHA256};
        strcpy(h.server_id, "dm.foo.org");
        strcpy(h.timestamp, hmac13_rows[i].timestamp);
        strcpy(h.mac, mac);
        assert_int_equal(dmsec_hmac13_verify(&h, key, kl, body, bl), DMSEC_OK);
        assert_int_equal(dmsec_hmac13_verify(&h, (const uint8_t *)"x", 1, body, bl),
                         DMSEC_ERR_HMAC_MISMATCH);
        h.timestamp[18] ^= 1; /* the timestamp is covered */
        assert_int_equal(dmsec_hmac13_verify(&h, key, kl, body, bl), DMSEC_ERR_HMAC_MISMATCH);
        h.timestamp[18] ^= 1;
        uint8_t longer[64];
        memcpy(longer, body, bl);
        longer[bl] = 0;
        assert_int_equal(dmsec_hmac13_verify(&h, key, kl, longer, bl + 1), DMSEC_ERR_HMAC_MISMATCH);
        strcpy(h.mac, "urdCeS3JUmjFgi8SX3webw=="); /* an MD5-sized mac */
        assert_int_equal(dmsec_hmac13_verify(&h, key, kl, body, bl), DMSEC_ERR_HMAC_MISMATCH);
    }
}

static const struct {
    const char *ts;
    int err;
    long long t;
} ts_rows[] = {
    {"1970-01-01T00:00:00Z", 0, 0},
    {"2012-01-01T13:04:20Z", 0, 1325423060},
    {"2000-02-29T23:59:59Z", 0, 951868799},
    {"2026-11-24T06:50:11Z", 0, 1795503011},
    {"1900-02-29T00:00:00Z", DMSEC_ERR_HMAC_TIMESTAMP, 0}, /* not a leap year */
    {"2012-13-01T00:00:00Z", DMSEC_ERR_HMAC_TIMESTAMP, 0},
    {"2012-01-32T00:00:00Z", DMSEC_ERR_HMAC_TIMESTAMP, 0},
    {"2012-01-01T24:00:00Z", DMSEC_ERR_HMAC_TIMESTAMP, 0},
    {"2012-01-01 13:04:20Z", DMSEC_ERR_HMAC_TIMESTAMP, 0},
    {"2012-01-01T13:04:20", DMSEC_ERR_HMAC_TIMESTAMP, 0},
    {"2012-01-01T13:04:20+01:00", DMSEC_ERR_HMAC_TIMESTAMP, 0},
    {"2O12-01-01T13:04:20Z", DMSEC_ERR_HMAC_TIMESTAMP, 0},
    {"", DMSEC_ERR_HMAC_TIMESTAMP, 0},
};

static void timestamps(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ts_rows / sizeof ts_rows[0]; i++) {
        time_t t = 0;
        int rc = dmsec_hmac13_timestamp_parse(ts_rows[i].ts, &t);
        if (rc != ts_rows[i].err)
            fail_msg("'%s': got %s", ts_rows[i].ts, dmsec_errname(rc));
        if (rc)
            continue;
        assert_int_equal((long long)t, ts_rows[i].t);
        char back[21];
        assert_int_equal(dmsec_hmac13_timestamp_format(t, back), DMSEC_OK);
        assert_string_equal(back, ts_rows[i].ts);
    }
    assert_int_equal(dmsec_hmac13_check_fresh("2012-01-01T13:04:20Z", 1325423060 + 300, 300),
                     DMSEC_OK);
    assert_int_equal(dmsec_hmac13_check_fresh("2012-01-01T13:04:20Z", 1325423060 - 300, 300),
                     DMSEC_OK);
    assert_int_equal(dmsec_hmac13_check_fresh("2012-01-01T13:04:20Z", 1325423060 + 301, 300),
                     DMSEC_ERR_HMAC_STALE);
    assert_int_equal(dmsec_hmac13_check_fresh("2012-01-01T13:04:20Z", 1325423060 - 301, 300),
                     DMSEC_ERR_HMAC_STALE);
    assert_int_equal(dmsec_hmac13_check_fresh("junk", 0, 300), DMSEC_ERR_HMAC_TIMESTAMP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_parse_table),  cmocka_unit_test(header_parse_is_length_bounded),
        cmocka_unit_test(header_format_forms), cmocka_unit_test(hmac12_vectors),
        cmocka_unit_test(hmac13_vectors),      cmocka_unit_test(timestamps),
    };
    return cmocka_run_group_tests_name("hmac", tests, NULL, NULL);
}
