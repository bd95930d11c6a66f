/* Bootstrap security: IMSI keys derived by hand, RFC 2202 HMAC-SHA1,
 * bootstrap MACs and GBA keys computed independently with the openssl
 * command line (openssl dgst -sha1|-sha256 -mac HMAC, openssl enc
 * -aes-256-cbc) and written here as data, the Content-Type in its three
 * encodings with every error path, and GBA protect/unprotect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "dmsec/bootstrap.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"

#define ROWS(t) (sizeof(t) / sizeof((t)[0]))

/* The WBXML bytes the bootstrap MAC vectors were computed over. */
static const char wbxml_hex[] = "02a4016a006d6c71c303312e320001725503312e3200015b03310001520361"
                                "62630001010101";

/* HMAC-SHA1 of wbxml_hex under the semi-octet key of 234150999999999. */
#define MAC_NETWORKID "76C93CB197C446324877AEEA3CF06A6D5DA2F57D"
#define MAC_NETWORKID_LOWER "76c93cb197c446324877aeea3cf06a6d5da2f57d"
#define MAC_USERPIN "9F2B91B85C04679901A366AB31C23AF71EA74446"
#define MAC_UPNID "67794BDEF223635C388B60EC1CD09FEE4FE4A0E9"
#define MT DMSEC_BOOT_MEDIA_TYPE

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int rc = dmsec_hex_decode(hex, strlen(hex), out, cap, &n);
    if (rc)
        fail_msg("bad hex in the test table: %s", hex);
    return n;
}

static size_t wbxml(uint8_t *out, size_t cap)
{
    return unhex(wbxml_hex, out, cap);
}

static void check_rc(size_t row, const char *what, int got, int want)
{
    if (got != want)
        fail_msg("row %zu [%s]: got %s, want %s", row, what, dmsec_errname(got),
                 dmsec_errname(want));
}

/* ---- IMSI semi-octets --------------------------------------------------- */

static const struct {
    const char *imsi;
    const char *key; /* hex, or NULL with err */
    int err;
} imsi_rows[] = {
    {"234150999999999", "2943519099999999", 0},            /* the digest's example */
    {"23415099999999", "21435190999999f9", 0},             /* even: 1 first, F filler */
    {"310260", "310162f0", 0},                             /* shortest, even */
    {"1234567", "19325476", 0},                            /* odd */
    {"001010123456789", "0910101032547698", 0},            /* leading zeros kept */
    {"12345", NULL, DMSEC_ERR_BOOT_NETWORK_ID},            /* too short */
    {"1234567890123456", NULL, DMSEC_ERR_BOOT_NETWORK_ID}, /* 16 digits */
    {"", NULL, DMSEC_ERR_BOOT_NETWORK_ID},
    {"23415099999999a", NULL, DMSEC_ERR_BOOT_NETWORK_ID},
    {" 23415099999999", NULL, DMSEC_ERR_BOOT_NETWORK_ID},
    {"2341509999-9999", NULL, DMSEC_ERR_BOOT_NETWORK_ID},
    {"+23415099999999", NULL, DMSEC_ERR_BOOT_NETWORK_ID},
};

static void imsi_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ROWS(imsi_rows); i++) {
        uint8_t key[DMSEC_BOOT_IMSI_KEY_MAX];
        uint8_t want[16];
        size_t n = 99;
        const char *imsi = imsi_rows[i].imsi;
        int rc = dmsec_boot_imsi_key(imsi, strlen(imsi), key, sizeof key, &n);
        check_rc(i, imsi, rc, imsi_rows[i].err);
        if (rc) {
            assert_int_equal(n, 0);
            continue;
        }
        size_t wn = unhex(imsi_rows[i].key, want, sizeof want);
        assert_int_equal(n, wn);
        assert_memory_equal(key, want, wn);
    }
}

static void imsi_bounds(void **state)
{
    (void)state;
    uint8_t key[8];
    size_t n;
    /* The length limits the read: the digits past it are never seen. */
    assert_int_equal(dmsec_boot_imsi_key("234150999999999x", 15, key, sizeof key, &n), 0);
    assert_int_equal(dmsec_boot_imsi_key("234150999999999", 15, key, 7, &n),
                     DMSEC_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(dmsec_boot_imsi_key(NULL, 15, key, sizeof key, &n), DMSEC_ERR_INVALID_ARG);
}

/* ---- keys ---------------------------------------------------------------- */

static const struct {
    dmsec_boot_keytype_t type;
    const char *imsi;
    const char *netid;
    const char *pin;
    const char *key; /* hex */
    int err;
} key_rows[] = {
    {DMSEC_BOOT_KEY_NETWORKID, "234150999999999", NULL, NULL, "2943519099999999", 0},
    {DMSEC_BOOT_KEY_NETWORKID, NULL, "8C3A21F0", NULL, "3843334132314630", 0},
    {DMSEC_BOOT_KEY_USERPIN, NULL, NULL, "1234", "31323334", 0},
    /* the seed's example: PIN abc, network id xyz */
    {DMSEC_BOOT_KEY_USERPIN_NETWORKID, NULL, "xyz", "abc", "6162633a78797a", 0},
    /* with an IMSI: the PIN, ':', then the IMSI's semi-octets */
    {DMSEC_BOOT_KEY_USERPIN_NETWORKID, "234150999999999", NULL, "1234",
     "313233343a2943519099999999", 0},
    /* the PIN is not needed for NETWORKID, nor the id for USERPIN */
    {DMSEC_BOOT_KEY_NETWORKID, "310260", NULL, "9999", "310162f0", 0},
    {DMSEC_BOOT_KEY_USERPIN, "bad imsi", NULL, "0000", "30303030", 0},
    /* errors */
    {DMSEC_BOOT_KEY_NETWORKID, NULL, NULL, "1234", NULL, DMSEC_ERR_BOOT_NETWORK_ID},
    {DMSEC_BOOT_KEY_NETWORKID, NULL, "", NULL, NULL, DMSEC_ERR_BOOT_NETWORK_ID},
    {DMSEC_BOOT_KEY_NETWORKID, "23415", NULL, NULL, NULL, DMSEC_ERR_BOOT_NETWORK_ID},
    {DMSEC_BOOT_KEY_NETWORKID, "23415099999999x", NULL, NULL, NULL, DMSEC_ERR_BOOT_NETWORK_ID},
    {DMSEC_BOOT_KEY_NETWORKID, "234150999999999", "xyz", NULL, NULL, DMSEC_ERR_INVALID_ARG},
    {DMSEC_BOOT_KEY_USERPIN, "234150999999999", NULL, NULL, NULL, DMSEC_ERR_BOOT_PIN},
    {DMSEC_BOOT_KEY_USERPIN, NULL, NULL, "", NULL, DMSEC_ERR_BOOT_PIN},
    {DMSEC_BOOT_KEY_USERPIN_NETWORKID, "234150999999999", NULL, NULL, NULL, DMSEC_ERR_BOOT_PIN},
    {DMSEC_BOOT_KEY_USERPIN_NETWORKID, NULL, NULL, "1234", NULL, DMSEC_ERR_BOOT_NETWORK_ID},
    {DMSEC_BOOT_KEY_USERPIN_NETWORKID, "2341x", NULL, "1234", NULL, DMSEC_ERR_BOOT_NETWORK_ID},
    {DMSEC_BOOT_KEY_USERPINMAC, NULL, NULL, "1234", NULL, DMSEC_ERR_BOOT_KEYTYPE},
    {DMSEC_BOOT_KEY_GBA, "234150999999999", NULL, NULL, NULL, DMSEC_ERR_BOOT_KEYTYPE},
    {DMSEC_BOOT_KEY_OTHER, "234150999999999", NULL, "1", NULL, DMSEC_ERR_BOOT_KEYTYPE},
};

static dmsec_boot_secret_t secret_of(const char *imsi, const char *netid, const char *pin)
{
    dmsec_boot_secret_t s = {0};
    if (imsi) {
        s.imsi = imsi;
        s.imsi_len = strlen(imsi);
    }
    if (netid) {
        s.network_id = (const uint8_t *)netid;
        s.network_id_len = strlen(netid);
    }
    if (pin) {
        s.pin = pin;
        s.pin_len = strlen(pin);
    }
    return s;
}

static void key_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ROWS(key_rows); i++) {
        dmsec_boot_secret_t s = secret_of(key_rows[i].imsi, key_rows[i].netid, key_rows[i].pin);
        uint8_t key[DMSEC_BOOT_KEY_MAX];
        size_t n = 99;
        int rc = dmsec_boot_key(key_rows[i].type, &s, key, sizeof key, &n);
        check_rc(i, "key", rc, key_rows[i].err);
        if (rc) {
            assert_int_equal(n, 0);
            continue;
        }
        uint8_t want[64];
        size_t wn = unhex(key_rows[i].key, want, sizeof want);
        assert_int_equal(n, wn);
        assert_memory_equal(key, want, wn);
    }
}

static void key_limits(void **state)
{
    (void)state;
    char pin[DMSEC_BOOT_PIN_MAX + 1];
    memset(pin, '7', sizeof pin);
    uint8_t raw[DMSEC_BOOT_NETWORK_ID_MAX + 1];
    memset(raw, 0xAB, sizeof raw);
    dmsec_boot_secret_t s = {.pin = pin, .pin_len = sizeof pin};
    uint8_t key[DMSEC_BOOT_KEY_MAX];
    size_t n;
    assert_int_equal(dmsec_boot_key(DMSEC_BOOT_KEY_USERPIN, &s, key, sizeof key, &n),
                     DMSEC_ERR_TOO_LARGE);
    s.pin_len = DMSEC_BOOT_PIN_MAX;
    s.network_id = raw;
    s.network_id_len = DMSEC_BOOT_NETWORK_ID_MAX;
    /* The largest key fits DMSEC_BOOT_KEY_MAX exactly. */
    assert_int_equal(dmsec_boot_key(DMSEC_BOOT_KEY_USERPIN_NETWORKID, &s, key, sizeof key, &n), 0);
    assert_int_equal(n, DMSEC_BOOT_KEY_MAX);
    assert_int_equal(key[DMSEC_BOOT_PIN_MAX], ':');
    assert_int_equal(dmsec_boot_key(DMSEC_BOOT_KEY_USERPIN_NETWORKID, &s, key, sizeof key - 1, &n),
                     DMSEC_ERR_BUFFER_TOO_SMALL);
    s.network_id_len++;
    assert_int_equal(dmsec_boot_key(DMSEC_BOOT_KEY_NETWORKID, &s, key, sizeof key, &n),
                     DMSEC_ERR_TOO_LARGE);
    assert_int_equal(dmsec_boot_key(DMSEC_BOOT_KEY_NETWORKID, NULL, key, sizeof key, &n),
                     DMSEC_ERR_INVALID_ARG);
}

/* ---- HMAC-SHA1 ---------------------------------------------------------- */

static const struct {
    const char *key;  /* hex */
    const char *data; /* hex */
    const char *mac;  /* uppercase hex */
} hmac_rows[] = {
    /* RFC 2202 test cases 1, 2, 3, 4 and 6 */
    {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
     "B617318655057264E28BC0B6FB378C8EF146BE00"},
    {"4a656665", "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
     "EFFCDF6AE5EB2FA2D27416D5F184DF9C259A7C79"},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
     "dddddddddddddddd",
     "125D7342B9AC11CD91A39AF48AA17B4F63F175D3"},
    {"0102030405060708090a0b0c0d0e0f10111213141516171819",
     "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
     "cdcdcdcdcdcdcdcd",
     "4C9007F4026250C6BC8414F9BF50C86C2D7235DA"},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a65204b6579202d20486173"
     "68204b6579204669727374",
     "AA4AE5E15272D00E95705637CE8A3B55ED402112"},
    /* bootstrap vectors: the IMSI key, and an empty message */
    {"2943519099999999", wbxml_hex, MAC_NETWORKID},
    {"2943519099999999", "", "537963BD516926F451C4C1798DB54F10CE19826A"},
};

static void hmac_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ROWS(hmac_rows); i++) {
        uint8_t key[128];
        uint8_t data[128];
        size_t kn = unhex(hmac_rows[i].key, key, sizeof key);
        size_t dn = unhex(hmac_rows[i].data, data, sizeof data);
        char hex[DMSEC_BOOT_MAC_HEX_LEN + 1];
        assert_int_equal(dmsec_boot_hmac_hex(key, kn, data, dn, hex), 0);
        if (strcmp(hex, hmac_rows[i].mac) != 0)
            fail_msg("row %zu: got %s, want %s", i, hex, hmac_rows[i].mac);
        assert_int_equal(dmsec_boot_hmac_verify_hex(key, kn, data, dn, hmac_rows[i].mac, 40), 0);
    }
}

static const struct {
    const char *hex;
    int err;
} verify_hex_rows[] = {
    {MAC_NETWORKID, 0},
    {MAC_NETWORKID_LOWER, 0},
    {"76c93cB197C446324877AEEA3CF06A6D5DA2F57d", 0},
    {"76C93CB197C446324877AEEA3CF06A6D5DA2F57E", DMSEC_ERR_BOOT_MAC_MISMATCH},
    {"86C93CB197C446324877AEEA3CF06A6D5DA2F57D", DMSEC_ERR_BOOT_MAC_MISMATCH},
    {"9F2B91B85C04679901A366AB31C23AF71EA74446", DMSEC_ERR_BOOT_MAC_MISMATCH},
    {"76C93CB197C446324877AEEA3CF06A6D5DA2F57", DMSEC_ERR_BOOT_MAC_FORMAT},
    {"76C93CB197C446324877AEEA3CF06A6D5DA2F57D0", DMSEC_ERR_BOOT_MAC_FORMAT},
    {"76C93CB197C446324877AEEA3CF06A6D5DA2F57G", DMSEC_ERR_BOOT_MAC_FORMAT},
    {"76C93CB197C446324877AEEA3CF06A6D5DA2F5 D", DMSEC_ERR_BOOT_MAC_FORMAT},
    {"", DMSEC_ERR_BOOT_MAC_FORMAT},
};

static void verify_hex_table(void **state)
{
    (void)state;
    uint8_t key[8];
    uint8_t data[128];
    size_t kn = unhex("2943519099999999", key, sizeof key);
    size_t dn = wbxml(data, sizeof data);
    for (size_t i = 0; i < ROWS(verify_hex_rows); i++) {
        const char *h = verify_hex_rows[i].hex;
        int rc = dmsec_boot_hmac_verify_hex(key, kn, data, dn, h, strlen(h));
        check_rc(i, h, rc, verify_hex_rows[i].err);
    }
}

static const struct {
    dmsec_boot_keytype_t type;
    const char *imsi;
    const char *netid;
    const char *pin;
    const char *mac;
    int err;
} sign_rows[] = {
    {DMSEC_BOOT_KEY_NETWORKID, "234150999999999", NULL, NULL, MAC_NETWORKID, 0},
    {DMSEC_BOOT_KEY_NETWORKID, "23415099999999", NULL, NULL,
     "A3E01D43B31F9E5A56590A476EE1E7B14C1F79D3", 0},
    {DMSEC_BOOT_KEY_NETWORKID, NULL, "8C3A21F0", NULL, "91B1544DF93A8A66A9C231E60B8B906A98E66B42",
     0},
    {DMSEC_BOOT_KEY_USERPIN, NULL, NULL, "1234", MAC_USERPIN, 0},
    {DMSEC_BOOT_KEY_USERPIN_NETWORKID, "234150999999999", NULL, "1234", MAC_UPNID, 0},
    {DMSEC_BOOT_KEY_USERPIN_NETWORKID, NULL, "xyz", "abc",
     "97328B98260F10488D17D533AB93F0D4F19E01AD", 0},
    {DMSEC_BOOT_KEY_USERPIN, NULL, NULL, NULL, NULL, DMSEC_ERR_BOOT_PIN},
    {DMSEC_BOOT_KEY_NETWORKID, "12", NULL, NULL, NULL, DMSEC_ERR_BOOT_NETWORK_ID},
    {DMSEC_BOOT_KEY_OTHER, NULL, NULL, "1234", NULL, DMSEC_ERR_BOOT_KEYTYPE},
};

static void sign_table(void **state)
{
    (void)state;
    uint8_t data[128];
    size_t dn = wbxml(data, sizeof data);
    for (size_t i = 0; i < ROWS(sign_rows); i++) {
        dmsec_boot_secret_t s = secret_of(sign_rows[i].imsi, sign_rows[i].netid, sign_rows[i].pin);
        uint8_t mac[DMSEC_BOOT_MAC_LEN];
        int rc = dmsec_boot_sign(sign_rows[i].type, &s, data, dn, mac);
        check_rc(i, "sign", rc, sign_rows[i].err);
        if (rc)
            continue;
        char hex[41];
        assert_int_equal(dmsec_hex_encode_upper(mac, sizeof mac, hex, sizeof hex), 0);
        if (strcmp(hex, sign_rows[i].mac) != 0)
            fail_msg("row %zu: got %s, want %s", i, hex, sign_rows[i].mac);
    }
}

/* ---- text Content-Type -------------------------------------------------- */

static const struct {
    const char *text;
    size_t len; /* 0: strlen */
    int err;
    dmsec_boot_ct_form_t form;
    dmsec_boot_keytype_t type;
    const char *mac; /* NULL: none */
    const char *other;
} ct_rows[] = {
    /* seed form */
    {MT ";NETWORKID;" MAC_NETWORKID, 0, 0, DMSEC_BOOT_CT_SEED, DMSEC_BOOT_KEY_NETWORKID,
     MAC_NETWORKID, NULL},
    {MT ";USERPIN;" MAC_USERPIN, 0, 0, DMSEC_BOOT_CT_SEED, DMSEC_BOOT_KEY_USERPIN, MAC_USERPIN,
     NULL},
    {MT ";USERPIN_NETWORKID;" MAC_UPNID, 0, 0, DMSEC_BOOT_CT_SEED, DMSEC_BOOT_KEY_USERPIN_NETWORKID,
     MAC_UPNID, NULL},
    {" \tApplication/VND.SyncML.DM+WBXML ; networkid\t;  " MAC_NETWORKID_LOWER " ", 0, 0,
     DMSEC_BOOT_CT_SEED, DMSEC_BOOT_KEY_NETWORKID, MAC_NETWORKID, NULL},
    {MT ";X-Vendor-Key!;" MAC_NETWORKID, 0, 0, DMSEC_BOOT_CT_SEED, DMSEC_BOOT_KEY_OTHER,
     MAC_NETWORKID, "X-Vendor-Key!"},
    /* SEC names are not seed Keytypes: an other key */
    {MT ";NETWPIN;" MAC_NETWORKID, 0, 0, DMSEC_BOOT_CT_SEED, DMSEC_BOOT_KEY_OTHER, MAC_NETWORKID,
     "NETWPIN"},
    {MT ";\"NETWORKID\";" MAC_NETWORKID, 0, 0, DMSEC_BOOT_CT_SEED, DMSEC_BOOT_KEY_OTHER,
     MAC_NETWORKID, "\"NETWORKID\""},
    {MT ";AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA;" MAC_NETWORKID, 0, 0,
     DMSEC_BOOT_CT_SEED, DMSEC_BOOT_KEY_OTHER, MAC_NETWORKID,
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
    {MT ";AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA;" MAC_NETWORKID, 0,
     DMSEC_ERR_BOOT_KEYTYPE},
    {"text/plain;NETWORKID;" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_CT_MEDIA},
    {"application/vnd.syncml.dm+xml;NETWORKID;" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_CT_MEDIA},
    {"text/plain", 0, DMSEC_ERR_BOOT_CT_MEDIA},
    {MT, 0, DMSEC_ERR_BOOT_CT_MISSING},
    {MT " ; ", 0, DMSEC_ERR_BOOT_CT_MISSING},
    {MT ";NETWORKID", 0, DMSEC_ERR_BOOT_CT_MISSING},
    {MT ";NETWORKID;", 0, DMSEC_ERR_BOOT_CT_MISSING},
    {MT ";;" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_CT_MISSING},
    {MT ";NETWORKID;76C93CB197C446324877AEEA3CF06A6D5DA2F57", 0, DMSEC_ERR_BOOT_MAC_FORMAT},
    {MT ";NETWORKID;" MAC_NETWORKID "0", 0, DMSEC_ERR_BOOT_MAC_FORMAT},
    {MT ";NETWORKID;76C93CB197C446324877AEEA3CF06A6D5DA2F57G", 0, DMSEC_ERR_BOOT_MAC_FORMAT},
    {MT ";NETWORKID;MAC=" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_MAC_FORMAT},
    /* the length bounds the read: one digit short */
    {MT ";NETWORKID;" MAC_NETWORKID, sizeof(MT ";NETWORKID;" MAC_NETWORKID) - 2,
     DMSEC_ERR_BOOT_MAC_FORMAT},
    {MT ";NETWORKID;" MAC_NETWORKID ";", 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {MT ";NETWORKID;" MAC_NETWORKID ";x", 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {MT ";NET WORKID;" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {MT ";NETWORKID\x01;" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {MT ";NETWORKID\0;" MAC_NETWORKID, sizeof(MT ";NETWORKID\0;" MAC_NETWORKID) - 1,
     DMSEC_ERR_BOOT_CT_SYNTAX},
    {MT ";NETW\xc3\x96RKID;" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {"", 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {"   ", 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {"application", 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {"application/", 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {"/vnd.syncml.dm+wbxml;NETWORKID;" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {MT " x;NETWORKID;" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {"text/plain;NET WORKID;" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_CT_SYNTAX}, /* syntax wins */
    /* SEC form */
    {MT "; SEC=NETWPIN; MAC=" MAC_NETWORKID, 0, 0, DMSEC_BOOT_CT_SEC, DMSEC_BOOT_KEY_NETWORKID,
     MAC_NETWORKID, NULL},
    {MT ";sec=userpin;mac=" MAC_NETWORKID_LOWER, 0, 0, DMSEC_BOOT_CT_SEC, DMSEC_BOOT_KEY_USERPIN,
     MAC_NETWORKID, NULL},
    {MT " ;\tSEC = USERNETWPIN ;  MAC\t=\t\"" MAC_UPNID "\"  ", 0, 0, DMSEC_BOOT_CT_SEC,
     DMSEC_BOOT_KEY_USERPIN_NETWORKID, MAC_UPNID, NULL},
    {MT "; SEC=UserPinMac; MAC=" MAC_USERPIN, 0, 0, DMSEC_BOOT_CT_SEC, DMSEC_BOOT_KEY_USERPINMAC,
     MAC_USERPIN, NULL},
    {MT "; MAC=" MAC_NETWORKID "; SEC=NETWPIN", 0, 0, DMSEC_BOOT_CT_SEC, DMSEC_BOOT_KEY_NETWORKID,
     MAC_NETWORKID, NULL},
    {MT "; charset=utf-8; SEC=\"NETW\\PIN\"; x-foo=\"a;b=c\"; MAC=" MAC_NETWORKID, 0, 0,
     DMSEC_BOOT_CT_SEC, DMSEC_BOOT_KEY_NETWORKID, MAC_NETWORKID, NULL},
    {MT "; SEC=3GPP_GBA", 0, 0, DMSEC_BOOT_CT_SEC, DMSEC_BOOT_KEY_GBA, NULL, NULL},
    {"APPLICATION/vnd.syncml.dm+wbxml;sec=\"3gpp_gba\" ", 0, 0, DMSEC_BOOT_CT_SEC,
     DMSEC_BOOT_KEY_GBA, NULL, NULL},
    {MT "; SEC=3GPP_GBA; MAC=" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {MT "; SEC=FOO; MAC=" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_KEYTYPE},
    {MT "; SEC=NETWORKID; MAC=" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_KEYTYPE},
    {MT "; SEC=\"\"; MAC=" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_KEYTYPE},
    {MT "; SEC=NETWPIN", 0, DMSEC_ERR_BOOT_CT_MISSING},
    {MT "; MAC=" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_CT_MISSING},
    {MT "; charset=utf-8", 0, DMSEC_ERR_BOOT_CT_MISSING},
    {MT "; SEC=NETWPIN; MAC=76C93CB197C446324877AEEA3CF06A6D5DA2F57", 0, DMSEC_ERR_BOOT_MAC_FORMAT},
    {MT "; SEC=NETWPIN; MAC=\"\"", 0, DMSEC_ERR_BOOT_MAC_FORMAT},
    {MT "; SEC=NETWPIN; MAC=\"" MAC_NETWORKID " \"", 0, DMSEC_ERR_BOOT_MAC_FORMAT},
    {MT "; SEC=NETWPIN; MAC=" MAC_NETWORKID MAC_NETWORKID, 0, DMSEC_ERR_BOOT_MAC_FORMAT},
    {MT "; SEC=NETWPIN; MAC=", 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {MT "; SEC=NETWPIN; SEC=USERPIN; MAC=" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {MT "; SEC=NETWPIN; MAC=" MAC_NETWORKID "; mac=" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {MT "; SEC=NETWPIN; MAC=\"" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {MT "; SEC=NETWPIN; MAC=\"" MAC_NETWORKID "\\", 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {MT "; SEC=NETWPIN;; MAC=" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {MT "; SEC=NETWPIN; MAC=" MAC_NETWORKID ";", 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {MT "; SEC=NETWPIN MAC=" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {MT "; SEC=NETWPIN; " MAC_NETWORKID, 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {MT "; =NETWPIN; MAC=" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {MT "; SEC=\"NETW\x01PIN\"; MAC=" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_CT_SYNTAX},
    {"text/plain; SEC=NETWPIN; MAC=" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_CT_MEDIA},
    {"text/plain; SEC=NETWPIN; MAC=\"" MAC_NETWORKID, 0, DMSEC_ERR_BOOT_CT_SYNTAX},
};

static void expect_mac(size_t row, const dmsec_boot_ct_t *ct, const char *mac)
{
    if (!mac) {
        assert_int_equal(ct->has_mac, 0);
        return;
    }
    uint8_t want[DMSEC_BOOT_MAC_LEN];
    unhex(mac, want, sizeof want);
    if (!ct->has_mac || memcmp(ct->mac, want, sizeof want) != 0)
        fail_msg("row %zu: MAC differs", row);
}

static void ct_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ROWS(ct_rows); i++) {
        dmsec_boot_ct_t ct;
        const char *t = ct_rows[i].text;
        size_t len = ct_rows[i].len ? ct_rows[i].len : strlen(t);
        int rc = dmsec_boot_ct_parse(t, len, &ct);
        check_rc(i, t, rc, ct_rows[i].err);
        if (rc)
            continue;
        assert_int_equal(ct.form, ct_rows[i].form);
        assert_int_equal(ct.keytype, ct_rows[i].type);
        expect_mac(i, &ct, ct_rows[i].mac);
        if (ct_rows[i].other) {
            assert_int_equal(ct.other_len, strlen(ct_rows[i].other));
            assert_string_equal(ct.other, ct_rows[i].other);
        } else {
            assert_int_equal(ct.other_len, 0);
        }
        /* Format and parse again: the same value. */
        char text[DMSEC_BOOT_CT_TEXT_MAX];
        size_t n = 0;
        assert_int_equal(dmsec_boot_ct_format(&ct, text, sizeof text, &n), 0);
        assert_int_equal(n, strlen(text));
        dmsec_boot_ct_t again;
        assert_int_equal(dmsec_boot_ct_parse(text, n, &again), 0);
        assert_int_equal(again.form, ct.form);
        assert_int_equal(again.keytype, ct.keytype);
        assert_int_equal(again.has_mac, ct.has_mac);
        assert_memory_equal(again.mac, ct.mac, sizeof ct.mac);
        assert_int_equal(again.other_len, ct.other_len);
        assert_memory_equal(again.other, ct.other, ct.other_len);
    }
}

/* ---- text formatting ---------------------------------------------------- */

static const struct {
    dmsec_boot_ct_form_t form;
    dmsec_boot_keytype_t type;
    int has_mac;
    const char *other;
    const char *text; /* NULL with err */
    int err;
} fmt_rows[] = {
    {DMSEC_BOOT_CT_SEED, DMSEC_BOOT_KEY_NETWORKID, 1, NULL, MT ";NETWORKID;" MAC_NETWORKID, 0},
    {DMSEC_BOOT_CT_SEED, DMSEC_BOOT_KEY_USERPIN_NETWORKID, 1, NULL,
     MT ";USERPIN_NETWORKID;" MAC_NETWORKID, 0},
    {DMSEC_BOOT_CT_SEED, DMSEC_BOOT_KEY_OTHER, 1, "ESN", MT ";ESN;" MAC_NETWORKID, 0},
    {DMSEC_BOOT_CT_SEC, DMSEC_BOOT_KEY_NETWORKID, 1, NULL, MT "; SEC=NETWPIN; MAC=" MAC_NETWORKID,
     0},
    {DMSEC_BOOT_CT_SEC, DMSEC_BOOT_KEY_USERPIN_NETWORKID, 1, NULL,
     MT "; SEC=USERNETWPIN; MAC=" MAC_NETWORKID, 0},
    {DMSEC_BOOT_CT_SEC, DMSEC_BOOT_KEY_USERPINMAC, 1, NULL,
     MT "; SEC=USERPINMAC; MAC=" MAC_NETWORKID, 0},
    {DMSEC_BOOT_CT_SEC, DMSEC_BOOT_KEY_GBA, 0, NULL, MT "; SEC=3GPP_GBA", 0},
    {DMSEC_BOOT_CT_SEED, DMSEC_BOOT_KEY_GBA, 0, NULL, NULL, DMSEC_ERR_BOOT_KEYTYPE},
    {DMSEC_BOOT_CT_SEED, DMSEC_BOOT_KEY_USERPINMAC, 1, NULL, NULL, DMSEC_ERR_BOOT_KEYTYPE},
    {DMSEC_BOOT_CT_SEC, DMSEC_BOOT_KEY_OTHER, 1, "ESN", NULL, DMSEC_ERR_BOOT_KEYTYPE},
    {DMSEC_BOOT_CT_SEED, DMSEC_BOOT_KEY_OTHER, 1, "", NULL, DMSEC_ERR_BOOT_KEYTYPE},
    {DMSEC_BOOT_CT_SEED, DMSEC_BOOT_KEY_OTHER, 1, "A=B", NULL, DMSEC_ERR_BOOT_KEYTYPE},
    {DMSEC_BOOT_CT_SEED, DMSEC_BOOT_KEY_OTHER, 1, "A B", NULL, DMSEC_ERR_BOOT_KEYTYPE},
    {DMSEC_BOOT_CT_SEED, DMSEC_BOOT_KEY_OTHER, 1, "networkid", NULL, DMSEC_ERR_BOOT_KEYTYPE},
    {DMSEC_BOOT_CT_SEED, DMSEC_BOOT_KEY_NETWORKID, 0, NULL, NULL, DMSEC_ERR_BOOT_CT_MISSING},
    {DMSEC_BOOT_CT_SEC, DMSEC_BOOT_KEY_USERPIN, 0, NULL, NULL, DMSEC_ERR_BOOT_CT_MISSING},
    {DMSEC_BOOT_CT_SEC, DMSEC_BOOT_KEY_GBA, 1, NULL, NULL, DMSEC_ERR_BOOT_CT_SYNTAX},
    {(dmsec_boot_ct_form_t)0, DMSEC_BOOT_KEY_USERPIN, 1, NULL, NULL, DMSEC_ERR_INVALID_ARG},
};

static dmsec_boot_ct_t ct_of(dmsec_boot_ct_form_t form, dmsec_boot_keytype_t type, int has_mac,
                             const char *other)
{
    dmsec_boot_ct_t ct;
    memset(&ct, 0, sizeof ct);
    ct.form = form;
    ct.keytype = type;
    ct.has_mac = has_mac;
    if (has_mac)
        unhex(MAC_NETWORKID, ct.mac, sizeof ct.mac);
    if (other) {
        ct.other_len = strlen(other);
        memcpy(ct.other, other, ct.other_len);
    }
    return ct;
}

static void ct_format_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ROWS(fmt_rows); i++) {
        dmsec_boot_ct_t ct =
            ct_of(fmt_rows[i].form, fmt_rows[i].type, fmt_rows[i].has_mac, fmt_rows[i].other);
        char text[DMSEC_BOOT_CT_TEXT_MAX];
        int rc = dmsec_boot_ct_format(&ct, text, sizeof text, NULL);
        check_rc(i, "format", rc, fmt_rows[i].err);
        if (rc)
            continue;
        assert_string_equal(text, fmt_rows[i].text);
        /* One byte short of the NUL is refused. */
        size_t n = strlen(text);
        assert_int_equal(dmsec_boot_ct_format(&ct, text, n, NULL), DMSEC_ERR_BUFFER_TOO_SMALL);
        assert_int_equal(dmsec_boot_ct_format(&ct, text, n + 1, NULL), 0);
    }
}

/* ---- binary WSP Content-Type -------------------------------------------- */

/* Hex where 'M' stands for the text of MAC_NETWORKID (40 octets). */
static size_t wsp_bytes(const char *pattern, uint8_t *out, size_t cap)
{
    char hex[512];
    size_t k = 0;
    for (const char *p = pattern; *p; p++) {
        if (*p == 'M') {
            for (const char *m = MAC_NETWORKID; *m; m++)
                k += (size_t)snprintf(hex + k, sizeof hex - k, "%02x", (unsigned char)*m);
        } else if (*p != ' ') {
            hex[k++] = *p;
        }
        assert_true(k < sizeof hex);
    }
    hex[k] = '\0';
    return unhex(hex, out, cap);
}

#define EXT_MEDIA "6170706c69636174696f6e2f766e642e73796e636d6c2e646d2b7762786d6c00"

static const struct {
    const char *hex;
    int err;
    dmsec_boot_keytype_t type;
    int has_mac;
    size_t used; /* 0: all */
} wsp_rows[] = {
    /* general form: Value-length 0x1F uintvar 45, 0xC2, SEC short integer, MAC text */
    {"1f2d c2 91 80 92 M 00", 0, DMSEC_BOOT_KEY_NETWORKID, 1, 0},
    {"1f2d c2 91 81 92 M 00", 0, DMSEC_BOOT_KEY_USERPIN, 1, 0},
    {"1f2d c2 91 82 92 M 00", 0, DMSEC_BOOT_KEY_USERPIN_NETWORKID, 1, 0},
    {"1f2d c2 91 83 92 M 00", 0, DMSEC_BOOT_KEY_USERPINMAC, 1, 0},
    {"1f2d c2 92 M 00 91 80", 0, DMSEC_BOOT_KEY_NETWORKID, 1, 0},
    /* MAC with a Quote; SEC as a Long-integer; media as a Long-integer */
    {"1f2e c2 91 80 92 7f M 00", 0, DMSEC_BOOT_KEY_NETWORKID, 1, 0},
    {"1f2e c2 91 0100 92 M 00", 0, DMSEC_BOOT_KEY_NETWORKID, 1, 0},
    {"1f2e 0142 91 80 92 M 00", 0, DMSEC_BOOT_KEY_NETWORKID, 1, 0},
    /* SEC as text; untyped parameters by name; extension media text */
    {"1f34 c2 91 4e45545750494e00 92 M 00", 0, DMSEC_BOOT_KEY_NETWORKID, 1, 0},
    {"1f33 c2 53454300 80 4d414300 M 00", 0, DMSEC_BOOT_KEY_NETWORKID, 1, 0},
    {"1f4c " EXT_MEDIA " 91 80 92 M 00", 0, DMSEC_BOOT_KEY_NETWORKID, 1, 0},
    /* unknown parameters skipped: charset=utf-8, a Q-value-like length-prefixed one */
    {"1f34 c2 81ea 8003 010203 91 80 92 M 00", 0, DMSEC_BOOT_KEY_NETWORKID, 1, 0},
    /* GBA: Short-length, SEC as text, no MAC */
    {"0b c2 91 334750505f47424100", 0, DMSEC_BOOT_KEY_GBA, 0, 0},
    /* what follows the value is the next header's */
    {"1f2d c2 91 80 92 M 00 af 01 02", 0, DMSEC_BOOT_KEY_NETWORKID, 1, 47},
    /* errors */
    {"", DMSEC_ERR_BOOT_CT_SYNTAX},
    {"c2", DMSEC_ERR_BOOT_CT_MISSING},
    {"c2 91 80", DMSEC_ERR_BOOT_CT_MISSING}, /* constrained: the rest is not its */
    {"b6", DMSEC_ERR_BOOT_CT_MEDIA},
    {EXT_MEDIA, DMSEC_ERR_BOOT_CT_MISSING},
    {"746578742f706c61696e00", DMSEC_ERR_BOOT_CT_MEDIA},
    {"746578742f706c61696e", DMSEC_ERR_BOOT_CT_SYNTAX},
    {"1f2d c3 91 80 92 M 00", DMSEC_ERR_BOOT_CT_MEDIA},
    {"1f2e 0143 91 80 92 M 00", DMSEC_ERR_BOOT_CT_MEDIA},
    {"1f2d c2 91 84 92 M 00", DMSEC_ERR_BOOT_KEYTYPE},
    {"1f2d c2 91 00 92 M 00", DMSEC_ERR_BOOT_KEYTYPE},
    {"1f30 c2 91 464f4f00 92 M 00", DMSEC_ERR_BOOT_KEYTYPE},
    {"1f2b c2 92 M 00", DMSEC_ERR_BOOT_CT_MISSING},
    {"03 c2 91 80", DMSEC_ERR_BOOT_CT_MISSING},
    {"01 c2", DMSEC_ERR_BOOT_CT_MISSING},
    {"1f2c c2 91 80 92 M", DMSEC_ERR_BOOT_CT_SYNTAX}, /* MAC without its NUL */
    /* a MAC of 39 digits */
    {"1f2c c2 91 80 92 37364339334342313937433434363332343837374145454133434630364136443544"
     "41324635 3700",
     DMSEC_ERR_BOOT_MAC_FORMAT},
    {"05 c2 91 80 92 85", DMSEC_ERR_BOOT_MAC_FORMAT},
    {"05 c2 91 80 92 00", DMSEC_ERR_BOOT_MAC_FORMAT},
    {"1f2e c2 91 80 92 M 00", DMSEC_ERR_BOOT_CT_SYNTAX}, /* Value-length past the end */
    {"1f", DMSEC_ERR_BOOT_CT_SYNTAX},
    {"1f ff ff ff ff ff", DMSEC_ERR_BOOT_CT_SYNTAX}, /* uintvar over 5 octets */
    {"1f 90 80 80 80 00", DMSEC_ERR_BOOT_CT_SYNTAX}, /* uintvar over 32 bits */
    {"00", DMSEC_ERR_BOOT_CT_SYNTAX},
    {"02 c2 1f", DMSEC_ERR_BOOT_CT_SYNTAX},
    {"02 1f c2", DMSEC_ERR_BOOT_CT_SYNTAX},
    {"03 c2 91 1f", DMSEC_ERR_BOOT_CT_SYNTAX},
    /* 0x1F (Length-quote) cannot start a media type, a parameter or SEC */
    {"02 1f 00", DMSEC_ERR_BOOT_CT_SYNTAX},
    {"04 c2 1f 00 80", DMSEC_ERR_BOOT_CT_SYNTAX},
    {"04 c2 91 1f 00", DMSEC_ERR_BOOT_CT_SYNTAX},
    {"03 c2 91 05", DMSEC_ERR_BOOT_CT_SYNTAX}, /* Long-integer past the end */
    {"03 c2 a0 1f", DMSEC_ERR_BOOT_CT_SYNTAX}, /* unknown parameter, bad length */
    {"04 c2 a0 05 00", DMSEC_ERR_BOOT_CT_SYNTAX},
    {"04 c2 a0 4100", DMSEC_ERR_BOOT_CT_MISSING}, /* an unknown parameter alone */
    {"1f2f c2 91 80 91 81 92 M 00", DMSEC_ERR_BOOT_CT_SYNTAX},
    {"1f57 c2 91 80 92 M 00 92 M 00", DMSEC_ERR_BOOT_CT_SYNTAX},
    {"1f35 c2 91 334750505f47424100 92 M 00", DMSEC_ERR_BOOT_CT_SYNTAX},
};

static void wsp_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ROWS(wsp_rows); i++) {
        uint8_t buf[256];
        size_t n = wsp_bytes(wsp_rows[i].hex, buf, sizeof buf);
        dmsec_boot_ct_t ct;
        size_t used = 99;
        int rc = dmsec_boot_ct_parse_wsp(buf, n, &ct, &used);
        check_rc(i, wsp_rows[i].hex, rc, wsp_rows[i].err);
        if (rc) {
            assert_int_equal(used, 0);
            continue;
        }
        assert_int_equal(used, wsp_rows[i].used ? wsp_rows[i].used : n);
        assert_int_equal(ct.form, DMSEC_BOOT_CT_SEC);
        assert_int_equal(ct.keytype, wsp_rows[i].type);
        expect_mac(i, &ct, wsp_rows[i].has_mac ? MAC_NETWORKID : NULL);
    }
}

static void wsp_format(void **state)
{
    (void)state;
    /* The canonical encoding, byte for byte. */
    uint8_t want[128];
    size_t wn = wsp_bytes("1f2d c2 91 80 92 M 00", want, sizeof want);
    dmsec_boot_ct_t ct = ct_of(DMSEC_BOOT_CT_SEED, DMSEC_BOOT_KEY_NETWORKID, 1, NULL);
    uint8_t out[DMSEC_BOOT_CT_WSP_MAX];
    size_t n = 0;
    assert_int_equal(dmsec_boot_ct_format_wsp(&ct, out, sizeof out, &n), 0);
    assert_int_equal(n, wn);
    assert_memory_equal(out, want, wn);
    assert_int_equal(dmsec_boot_ct_format_wsp(&ct, out, wn - 1, &n), DMSEC_ERR_BUFFER_TOO_SMALL);
    wn = wsp_bytes("0b c2 91 334750505f47424100", want, sizeof want);
    ct = ct_of(DMSEC_BOOT_CT_SEC, DMSEC_BOOT_KEY_GBA, 0, NULL);
    assert_int_equal(dmsec_boot_ct_format_wsp(&ct, out, sizeof out, &n), 0);
    assert_int_equal(n, wn);
    assert_memory_equal(out, want, wn);
    ct = ct_of(DMSEC_BOOT_CT_SEED, DMSEC_BOOT_KEY_OTHER, 1, "ESN");
    assert_int_equal(dmsec_boot_ct_format_wsp(&ct, out, sizeof out, &n), DMSEC_ERR_BOOT_KEYTYPE);
    ct = ct_of(DMSEC_BOOT_CT_SEC, DMSEC_BOOT_KEY_USERPIN, 0, NULL);
    assert_int_equal(dmsec_boot_ct_format_wsp(&ct, out, sizeof out, &n), DMSEC_ERR_BOOT_CT_MISSING);
}

static const dmsec_boot_keytype_t wsp_types[] = {DMSEC_BOOT_KEY_NETWORKID, DMSEC_BOOT_KEY_USERPIN,
                                                 DMSEC_BOOT_KEY_USERPIN_NETWORKID,
                                                 DMSEC_BOOT_KEY_USERPINMAC, DMSEC_BOOT_KEY_GBA};

static void wsp_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < ROWS(wsp_types); i++) {
        int has_mac = wsp_types[i] != DMSEC_BOOT_KEY_GBA;
        dmsec_boot_ct_t ct = ct_of(DMSEC_BOOT_CT_SEC, wsp_types[i], has_mac, NULL);
        if (has_mac)
            ct.mac[19] = (uint8_t)i;
        uint8_t bin[DMSEC_BOOT_CT_WSP_MAX + 3];
        size_t n = 0;
        assert_int_equal(dmsec_boot_ct_format_wsp(&ct, bin, sizeof bin, &n), 0);
        /* Trailing bytes belong to the next header and are left alone. */
        memcpy(bin + n, "\xaf\x01\x02", 3);
        dmsec_boot_ct_t back;
        size_t used = 0;
        assert_int_equal(dmsec_boot_ct_parse_wsp(bin, n + 3, &back, &used), 0);
        assert_int_equal(used, n);
        assert_int_equal(back.form, ct.form);
        assert_int_equal(back.keytype, ct.keytype);
        assert_int_equal(back.has_mac, ct.has_mac);
        assert_memory_equal(back.mac, ct.mac, sizeof ct.mac);
        /* Every shorter prefix is refused, never read past. */
        for (size_t k = 0; k < n; k++) {
            int rc = dmsec_boot_ct_parse_wsp(bin, k, &back, &used);
            if (rc == 0)
                fail_msg("type %zu: prefix of %zu bytes accepted", i, k);
        }
    }
}

/* ---- names --------------------------------------------------------------- */

static const struct {
    const char *name;
    int err;
    dmsec_boot_keytype_t type;
} name_rows[] = {
    {"NETWORKID", 0, DMSEC_BOOT_KEY_NETWORKID},
    {"netwpin", 0, DMSEC_BOOT_KEY_NETWORKID},
    {"UserPin", 0, DMSEC_BOOT_KEY_USERPIN},
    {"USERPIN_NETWORKID", 0, DMSEC_BOOT_KEY_USERPIN_NETWORKID},
    {"USERNETWPIN", 0, DMSEC_BOOT_KEY_USERPIN_NETWORKID},
    {"USERPINMAC", 0, DMSEC_BOOT_KEY_USERPINMAC},
    {"3gpp_gba", 0, DMSEC_BOOT_KEY_GBA},
    {"NETWORKID ", DMSEC_ERR_BOOT_KEYTYPE},
    {"ESN", DMSEC_ERR_BOOT_KEYTYPE},
    {"", DMSEC_ERR_BOOT_KEYTYPE},
};

static void keytype_names(void **state)
{
    (void)state;
    for (size_t i = 0; i < ROWS(name_rows); i++) {
        dmsec_boot_keytype_t t = DMSEC_BOOT_KEY_OTHER;
        const char *nm = name_rows[i].name;
        int rc = dmsec_boot_keytype_from_name(nm, strlen(nm), &t);
        check_rc(i, nm, rc, name_rows[i].err);
        if (rc == 0)
            assert_int_equal(t, name_rows[i].type);
    }
    assert_string_equal(dmsec_boot_keytype_name(DMSEC_BOOT_KEY_USERPIN_NETWORKID),
                        "USERPIN_NETWORKID");
    assert_string_equal(dmsec_boot_keytype_sec_name(DMSEC_BOOT_KEY_USERPIN_NETWORKID),
                        "USERNETWPIN");
    assert_null(dmsec_boot_keytype_name(DMSEC_BOOT_KEY_OTHER));
    assert_null(dmsec_boot_keytype_sec_name((dmsec_boot_keytype_t)99));
}

/* ---- high-level verify ---------------------------------------------------- */

static const struct {
    const char *ct;
    const char *imsi;
    const char *netid;
    const char *pin;
    int tamper; /* flip a bit of the message */
    int err;
} verify_rows[] = {
    {MT ";NETWORKID;" MAC_NETWORKID, "234150999999999", NULL, NULL, 0, 0},
    {MT "; SEC=NETWPIN; MAC=" MAC_NETWORKID_LOWER, "234150999999999", NULL, NULL, 0, 0},
    {MT ";USERPIN;" MAC_USERPIN, NULL, NULL, "1234", 0, 0},
    {MT "; SEC=USERPIN; MAC=" MAC_USERPIN, "234150999999999", NULL, "1234", 0, 0},
    {MT ";USERPIN_NETWORKID;" MAC_UPNID, "234150999999999", NULL, "1234", 0, 0},
    {MT "; SEC=USERNETWPIN; MAC=" MAC_UPNID, "234150999999999", NULL, "1234", 0, 0},
    {MT ";USERPIN_NETWORKID;97328B98260F10488D17D533AB93F0D4F19E01AD", NULL, "xyz", "abc", 0, 0},
    {MT ";NETWORKID;" MAC_NETWORKID, "234150999999999", NULL, NULL, 1, DMSEC_ERR_BOOT_MAC_MISMATCH},
    {MT ";NETWORKID;" MAC_NETWORKID, "234150999999990", NULL, NULL, 0, DMSEC_ERR_BOOT_MAC_MISMATCH},
    {MT ";USERPIN;" MAC_USERPIN, NULL, NULL, "1235", 0, DMSEC_ERR_BOOT_MAC_MISMATCH},
    /* a MAC made with one key type does not pass as another */
    {MT ";USERPIN;" MAC_NETWORKID, "234150999999999", NULL, "1234", 0, DMSEC_ERR_BOOT_MAC_MISMATCH},
    {MT ";USERPIN_NETWORKID;" MAC_UPNID, "234150999999999", NULL, "12345", 0,
     DMSEC_ERR_BOOT_MAC_MISMATCH},
    {MT ";NETWORKID;" MAC_NETWORKID, NULL, NULL, "1234", 0, DMSEC_ERR_BOOT_NETWORK_ID},
    {MT ";NETWORKID;" MAC_NETWORKID, "2341509999999x9", NULL, NULL, 0, DMSEC_ERR_BOOT_NETWORK_ID},
    {MT ";USERPIN;" MAC_USERPIN, "234150999999999", NULL, NULL, 0, DMSEC_ERR_BOOT_PIN},
    {MT ";ESN;" MAC_NETWORKID, NULL, "xyz", "1234", 0, DMSEC_ERR_BOOT_KEYTYPE},
    {MT "; SEC=USERPINMAC; MAC=" MAC_USERPIN, NULL, NULL, "1234", 0, DMSEC_ERR_BOOT_KEYTYPE},
    {MT "; SEC=3GPP_GBA", "234150999999999", NULL, "1234", 0, DMSEC_ERR_BOOT_KEYTYPE},
};

static void verify_table(void **state)
{
    (void)state;
    uint8_t data[128];
    size_t dn = wbxml(data, sizeof data);
    for (size_t i = 0; i < ROWS(verify_rows); i++) {
        dmsec_boot_ct_t ct;
        assert_int_equal(dmsec_boot_ct_parse(verify_rows[i].ct, strlen(verify_rows[i].ct), &ct), 0);
        dmsec_boot_secret_t s =
            secret_of(verify_rows[i].imsi, verify_rows[i].netid, verify_rows[i].pin);
        uint8_t msg[128];
        memcpy(msg, data, dn);
        if (verify_rows[i].tamper)
            msg[dn / 2] ^= 0x01;
        int rc = dmsec_boot_verify(&ct, &s, msg, dn);
        check_rc(i, verify_rows[i].ct, rc, verify_rows[i].err);
    }
    /* A content type without a MAC (built by hand) is refused. */
    dmsec_boot_ct_t ct = ct_of(DMSEC_BOOT_CT_SEED, DMSEC_BOOT_KEY_USERPIN, 0, NULL);
    dmsec_boot_secret_t s = secret_of(NULL, NULL, "1234");
    assert_int_equal(dmsec_boot_verify(&ct, &s, data, dn), DMSEC_ERR_BOOT_CT_MISSING);
    /* Only a trimmed message: the MAC no longer matches. */
    assert_int_equal(
        dmsec_boot_ct_parse(MT ";USERPIN;" MAC_USERPIN, strlen(MT ";USERPIN;" MAC_USERPIN), &ct),
        0);
    assert_int_equal(dmsec_boot_verify(&ct, &s, data, dn), 0);
    assert_int_equal(dmsec_boot_verify(&ct, &s, data, dn - 1), DMSEC_ERR_BOOT_MAC_MISMATCH);
}

/* ---- GBA ------------------------------------------------------------------ */

static const struct {
    const char *ks_naf;
    const char *dmbik;
    const char *dmbek;
} kdf_rows[] = {
    {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "f2b9a4daaabc9888ced1a407eb46639f0d5dc3f0031eab38a7b5d968cbe2bdc3",
     "9db62dd7b46739d61e79677c72f2abff289faf9ce736dc4e837be422571f3e3a"},
    {"dd6673d063dfd7de95c5ded4183daf06a94641ed004d0fa996f04ecda25f0824",
     "3c5010593a798d18ae5929e860a948c198f1691b2eaea20615b2adbee995c509",
     "59105153173c7d46cfc46c2bd06223002a1bd1b632e6cb4b77bcaf1a00bec23b"},
};

static void gba_kdf_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ROWS(kdf_rows); i++) {
        uint8_t ks[32];
        uint8_t bik[32];
        uint8_t bek[32];
        uint8_t out[32];
        assert_int_equal(unhex(kdf_rows[i].ks_naf, ks, sizeof ks), 32);
        unhex(kdf_rows[i].dmbik, bik, sizeof bik);
        unhex(kdf_rows[i].dmbek, bek, sizeof bek);
        assert_int_equal(dmsec_gba_kdf(ks, sizeof ks, DMSEC_GBA_DMBIK, out), 0);
        assert_memory_equal(out, bik, 32);
        assert_int_equal(dmsec_gba_kdf(ks, sizeof ks, DMSEC_GBA_DMBEK, out), 0);
        assert_memory_equal(out, bek, 32);
        dmsec_gba_keys_t keys;
        assert_int_equal(dmsec_gba_derive(ks, sizeof ks, &keys), 0);
        assert_memory_equal(keys.dmbik, bik, 32);
        assert_memory_equal(keys.dmbek, bek, 32);
        dmsec_gba_keys_wipe(&keys);
        static const uint8_t zero[sizeof keys] = {0};
        assert_memory_equal(&keys, zero, sizeof keys);
    }
    uint8_t ks[33] = {0};
    uint8_t out[32];
    assert_int_equal(dmsec_gba_kdf(ks, 31, DMSEC_GBA_DMBIK, out), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_gba_kdf(ks, 33, DMSEC_GBA_DMBIK, out), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_gba_kdf(ks, 32, (dmsec_gba_key_t)7, out), DMSEC_ERR_INVALID_ARG);
    dmsec_gba_keys_wipe(NULL);
}

/* A deterministic rng: bytes counting up from a start value. */
struct count_rng {
    uint8_t next;
    int fail;
};

static int count_fill(void *ctx, uint8_t *buf, size_t len)
{
    struct count_rng *r = ctx;
    if (r->fail)
        return DMSEC_ERR_RANDOM;
    for (size_t i = 0; i < len; i++)
        buf[i] = r->next++;
    return 0;
}

static void keys_from(const char *ks_hex, dmsec_gba_keys_t *keys)
{
    uint8_t ks[32];
    assert_int_equal(unhex(ks_hex, ks, sizeof ks), 32);
    assert_int_equal(dmsec_gba_derive(ks, sizeof ks, keys), 0);
}

static void gba_known_answer(void **state)
{
    (void)state;
    /* openssl enc -aes-256-cbc -K <DMBEK> -iv 000102..0f of "DM bootstrap",
     * then openssl dgst -sha256 -mac HMAC -macopt hexkey:<DMBIK> of IV || C. */
    static const char want_hex[] =
        "000102030405060708090a0b0c0d0e0fe32ac3c4951488e179ef602714850ef7"
        "1b80d154d5299c8c42a65fc6a8eff32c9cf2e70c7ccd8a5920628b44b104c2d0";
    dmsec_gba_keys_t keys;
    keys_from(kdf_rows[0].ks_naf, &keys);
    struct count_rng r = {0, 0};
    dmsec_rng_t rng = {count_fill, &r};
    uint8_t out[DMSEC_GBA_PROTECTED_LEN(12)];
    size_t n = 0;
    assert_int_equal(
        dmsec_gba_protect(&keys, &rng, (const uint8_t *)"DM bootstrap", 12, out, sizeof out, &n),
        0);
    uint8_t want[80];
    assert_int_equal(unhex(want_hex, want, sizeof want), n);
    assert_memory_equal(out, want, n);
    uint8_t plain[32];
    size_t pn = 0;
    assert_int_equal(dmsec_gba_unprotect(&keys, want, n, plain, sizeof plain, &pn), 0);
    assert_int_equal(pn, 12);
    assert_memory_equal(plain, "DM bootstrap", 12);
    dmsec_gba_keys_wipe(&keys);
}

static const size_t rt_lengths[] = {0, 1, 15, 16, 17, 31, 32, 100, 1000};

static void gba_round_trip(void **state)
{
    (void)state;
    dmsec_gba_keys_t keys;
    keys_from(kdf_rows[1].ks_naf, &keys);
    for (size_t i = 0; i < ROWS(rt_lengths); i++) {
        size_t len = rt_lengths[i];
        uint8_t plain[1000];
        for (size_t k = 0; k < len; k++)
            plain[k] = (uint8_t)(k * 7 + i);
        struct count_rng r = {(uint8_t)(i * 16), 0};
        dmsec_rng_t rng = {count_fill, &r};
        uint8_t prot[DMSEC_GBA_PROTECTED_LEN(1000)];
        size_t n = 0;
        assert_int_equal(dmsec_gba_protect(&keys, &rng, plain, len, prot, sizeof prot, &n), 0);
        assert_int_equal(n, DMSEC_GBA_PROTECTED_LEN(len));
        assert_int_equal(prot[0], (uint8_t)(i * 16)); /* the IV came from the rng */
        uint8_t back[1024];
        size_t bn = 0;
        assert_int_equal(dmsec_gba_unprotect(&keys, prot, n, back, sizeof back, &bn), 0);
        assert_int_equal(bn, len);
        if (len)
            assert_memory_equal(back, plain, len);
        assert_int_equal(dmsec_gba_unprotect(&keys, prot, n, back, n - 49, &bn),
                         DMSEC_ERR_BUFFER_TOO_SMALL);
        assert_int_equal(dmsec_gba_protect(&keys, &rng, plain, len, prot, n - 1, &n),
                         DMSEC_ERR_BUFFER_TOO_SMALL);
    }
    /* The default rng (NULL) gives a fresh IV each time. */
    uint8_t a[DMSEC_GBA_PROTECTED_MIN];
    uint8_t b[DMSEC_GBA_PROTECTED_MIN];
    size_t an;
    size_t bn;
    assert_int_equal(dmsec_gba_protect(&keys, NULL, NULL, 0, a, sizeof a, &an), 0);
    assert_int_equal(dmsec_gba_protect(&keys, NULL, NULL, 0, b, sizeof b, &bn), 0);
    assert_memory_not_equal(a, b, DMSEC_GBA_IV_LEN);
    /* An rng failure is reported, and nothing is produced. */
    struct count_rng bad = {0, 1};
    dmsec_rng_t bad_rng = {count_fill, &bad};
    assert_int_equal(dmsec_gba_protect(&keys, &bad_rng, NULL, 0, a, sizeof a, &an),
                     DMSEC_ERR_RANDOM);
    assert_int_equal(an, 0);
    dmsec_gba_keys_wipe(&keys);
}

/* Offsets into a protected 40-byte document: IV 0..15, C 16..63, tag 64..95. */
static const struct {
    const char *what;
    size_t at;
} flip_rows[] = {
    {"IV first", 0}, {"IV last", 15},   {"C first", 16},  {"C middle", 40},
    {"C last", 63},  {"tag first", 64}, {"tag last", 95},
};

static void gba_tamper_table(void **state)
{
    (void)state;
    dmsec_gba_keys_t keys;
    keys_from(kdf_rows[0].ks_naf, &keys);
    uint8_t plain[40];
    memset(plain, 'p', sizeof plain);
    struct count_rng r = {0x40, 0};
    dmsec_rng_t rng = {count_fill, &r};
    uint8_t prot[DMSEC_GBA_PROTECTED_LEN(40)];
    size_t n = 0;
    assert_int_equal(dmsec_gba_protect(&keys, &rng, plain, sizeof plain, prot, sizeof prot, &n), 0);
    assert_int_equal(n, 96);
    for (size_t i = 0; i < ROWS(flip_rows); i++) {
        uint8_t bad[96];
        memcpy(bad, prot, n);
        bad[flip_rows[i].at] ^= 0x80;
        uint8_t out[64];
        size_t on = 99;
        int rc = dmsec_gba_unprotect(&keys, bad, n, out, sizeof out, &on);
        check_rc(i, flip_rows[i].what, rc, DMSEC_ERR_GBA_MAC_MISMATCH);
        assert_int_equal(on, 0);
    }
    dmsec_gba_keys_wipe(&keys);
}

static const struct {
    const char *what;
    size_t len;
    int err;
} trunc_rows[] = {
    {"empty", 0, DMSEC_ERR_GBA_TRUNCATED},
    {"IV only", 16, DMSEC_ERR_GBA_TRUNCATED},
    {"no ciphertext", 48, DMSEC_ERR_GBA_TRUNCATED},
    {"one short of a block", 63, DMSEC_ERR_GBA_TRUNCATED},
    {"one short of the whole", 95, DMSEC_ERR_GBA_TRUNCATED},
    {"a partial block", 70, DMSEC_ERR_GBA_TRUNCATED},
    /* whole blocks but cut: the tag no longer covers it */
    {"last block dropped", 80, DMSEC_ERR_GBA_MAC_MISMATCH},
    {"whole", 96, 0},
};

static void gba_truncated_table(void **state)
{
    (void)state;
    dmsec_gba_keys_t keys;
    keys_from(kdf_rows[0].ks_naf, &keys);
    uint8_t plain[40] = {0};
    struct count_rng r = {0, 0};
    dmsec_rng_t rng = {count_fill, &r};
    uint8_t prot[96];
    size_t n = 0;
    assert_int_equal(dmsec_gba_protect(&keys, &rng, plain, sizeof plain, prot, sizeof prot, &n), 0);
    for (size_t i = 0; i < ROWS(trunc_rows); i++) {
        uint8_t out[64];
        size_t on = 0;
        int rc = dmsec_gba_unprotect(&keys, prot, trunc_rows[i].len, out, sizeof out, &on);
        check_rc(i, trunc_rows[i].what, rc, trunc_rows[i].err);
    }
    dmsec_gba_keys_wipe(&keys);
}

static void gba_wrong_key(void **state)
{
    (void)state;
    dmsec_gba_keys_t keys;
    dmsec_gba_keys_t other;
    keys_from(kdf_rows[0].ks_naf, &keys);
    keys_from(kdf_rows[1].ks_naf, &other);
    struct count_rng r = {0, 0};
    dmsec_rng_t rng = {count_fill, &r};
    uint8_t prot[DMSEC_GBA_PROTECTED_LEN(5)];
    size_t n = 0;
    assert_int_equal(
        dmsec_gba_protect(&keys, &rng, (const uint8_t *)"hello", 5, prot, sizeof prot, &n), 0);
    uint8_t out[64];
    size_t on = 0;
    assert_int_equal(dmsec_gba_unprotect(&other, prot, n, out, sizeof out, &on),
                     DMSEC_ERR_GBA_MAC_MISMATCH);
    /* DMBIK and DMBEK swapped: the tag does not verify either. */
    dmsec_gba_keys_t swapped = keys;
    memcpy(swapped.dmbik, keys.dmbek, 32);
    memcpy(swapped.dmbek, keys.dmbik, 32);
    assert_int_equal(dmsec_gba_unprotect(&swapped, prot, n, out, sizeof out, &on),
                     DMSEC_ERR_GBA_MAC_MISMATCH);
    dmsec_gba_keys_wipe(&keys);
    dmsec_gba_keys_wipe(&other);
    dmsec_gba_keys_wipe(&swapped);
}

/* Last plaintext blocks whose PKCS#7 pad is bad. */
static const struct {
    const char *what;
    const char *block; /* 16 bytes hex */
} pad_rows[] = {
    {"pad byte 0", "000102030405060708090a0b0c0d0e00"},
    {"pad byte 17", "00000000000000000000000000000011"},
    {"pad byte 0xff", "000000000000000000000000000000ff"},
    {"inconsistent pad", "00000000000000000000000000000302"},
    {"pad 16 with one wrong", "10101010101010101010101010100f10"},
};

static void gba_bad_padding_table(void **state)
{
    (void)state;
    dmsec_gba_keys_t keys;
    keys_from(kdf_rows[0].ks_naf, &keys);
    static const uint8_t iv[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};
    for (size_t i = 0; i < ROWS(pad_rows); i++) {
        uint8_t block[16];
        assert_int_equal(unhex(pad_rows[i].block, block, sizeof block), 16);
        /* CBC: the first ciphertext block depends only on the first
         * plaintext block, so it alone decrypts to the bad block. */
        uint8_t doc[16 + 32 + 32];
        size_t cn = 0;
        memcpy(doc, iv, 16);
        assert_int_equal(dm_aes256_cbc_encrypt(keys.dmbek, iv, block, 16, doc + 16, &cn), 0);
        assert_int_equal(cn, 32);
        dm_part_t part = {doc, 32};
        assert_int_equal(dm_hmac(DM_SHA256, keys.dmbik, 32, &part, 1, doc + 32), 0);
        uint8_t out[16];
        memset(out, 0x5a, sizeof out);
        size_t on = 99;
        int rc = dmsec_gba_unprotect(&keys, doc, 64, out, sizeof out, &on);
        check_rc(i, pad_rows[i].what, rc, DMSEC_ERR_GBA_PADDING);
        assert_int_equal(on, 0);
        static const uint8_t zero[16] = {0};
        assert_memory_equal(out, zero, sizeof out); /* nothing of the plaintext left */
        /* The same block with its tag broken: the MAC is checked first. */
        doc[63] ^= 1;
        rc = dmsec_gba_unprotect(&keys, doc, 64, out, sizeof out, &on);
        check_rc(i, pad_rows[i].what, rc, DMSEC_ERR_GBA_MAC_MISMATCH);
    }
    dmsec_gba_keys_wipe(&keys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(imsi_table),
        cmocka_unit_test(imsi_bounds),
        cmocka_unit_test(key_table),
        cmocka_unit_test(key_limits),
        cmocka_unit_test(hmac_table),
        cmocka_unit_test(verify_hex_table),
        cmocka_unit_test(sign_table),
        cmocka_unit_test(ct_parse_table),
        cmocka_unit_test(ct_format_table),
        cmocka_unit_test(wsp_parse_table),
        cmocka_unit_test(wsp_format),
        cmocka_unit_test(wsp_round_trip),
        cmocka_unit_test(keytype_names),
        cmocka_unit_test(verify_table),
        cmocka_unit_test(gba_kdf_table),
        cmocka_unit_test(gba_known_answer),
        cmocka_unit_test(gba_round_trip),
        cmocka_unit_test(gba_tamper_table),
        cmocka_unit_test(gba_truncated_table),
        cmocka_unit_test(gba_wrong_key),
        cmocka_unit_test(gba_bad_padding_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
