/*
 * dmsec/bootstrap.h - security of the DM bootstrap message (DM Security
 * 1.3, Sec 5.10): the transport-neutral HMAC-SHA1 MAC and its keys, the
 * Content-Type that carries the MAC (three encodings), and the 3GPP_GBA
 * profile (DMBIK/DMBEK key derivation, protect/unprotect).
 *
 * Ownership: every buffer is caller-owned. Inputs are borrowed for the
 * duration of the call only and never kept; outputs are written into the
 * caller's buffers. Nothing is allocated. Inputs need not be
 * NUL-terminated: every length is explicit and nothing is read past it.
 * Functions return 0 or a negative DMSEC_ERR_* (dmsec/errors.h).
 *
 * Keys (decisions, see the digest section 7):
 *  - NETWORKID for a GSM IMSI (6..15 decimal digits) is the IMSI's
 *    semi-octet form: a first nibble 9 for an odd digit count, or 1 and a
 *    trailing filler F for an even count, then the two nibbles of each
 *    byte swapped ("234150999999999" -> 29 43 51 90 99 99 99 99).
 *    Any other network id (CDMA ESN, ...) is given as raw bytes and used
 *    as they are.
 *  - USERPIN is the PIN's bytes.
 *  - USERPIN_NETWORKID is PIN ":" NETWORKID where NETWORKID is written
 *    exactly as the NETWORKID key above: for an IMSI its semi-octet bytes
 *    (not its digits), for a raw network id its raw bytes. So the seed's
 *    example (PIN "abc", raw id "xyz") gives the key "abc:xyz", and PIN
 *    "1234" with IMSI "234150999999999" gives 31 32 33 34 3A 29 43 51 90
 *    99 99 99 99. One rule for both key types keeps NETWORKID meaning
 *    the same shared secret wherever it appears.
 *
 * GBA profile (this project's, the seed fixes neither cipher nor MAC):
 * encrypt-then-MAC. AES-256-CBC with PKCS#7 padding under DMBEK and a
 * random 16-byte IV, then HMAC-SHA256 under DMBIK over IV || ciphertext.
 * Wire form: IV (16) || ciphertext (multiple of 16) || tag (32).
 */
#ifndef DMSEC_BOOTSTRAP_H
#define DMSEC_BOOTSTRAP_H

#include <stddef.h>
#include <stdint.h>

#include "dmsec/random.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Keys and the HMAC-SHA1 MAC --------------------------------------- */

#define DMSEC_BOOT_MAC_LEN 20     /* HMAC-SHA1 output */
#define DMSEC_BOOT_MAC_HEX_LEN 40 /* its hex form, without NUL */
#define DMSEC_BOOT_IMSI_MIN 6
#define DMSEC_BOOT_IMSI_MAX 15
#define DMSEC_BOOT_IMSI_KEY_MAX 8 /* semi-octet bytes of a 15-digit IMSI */
#define DMSEC_BOOT_PIN_MAX 128
#define DMSEC_BOOT_NETWORK_ID_MAX 128
/* Largest key dmsec_boot_key builds: PIN ":" raw network id. */
#define DMSEC_BOOT_KEY_MAX (DMSEC_BOOT_PIN_MAX + 1 + DMSEC_BOOT_NETWORK_ID_MAX)

typedef enum {
    DMSEC_BOOT_KEY_NETWORKID = 1,     /* SEC=NETWPIN, WSP 0x80 */
    DMSEC_BOOT_KEY_USERPIN,           /* SEC=USERPIN, WSP 0x81 */
    DMSEC_BOOT_KEY_USERPIN_NETWORKID, /* SEC=USERNETWPIN, WSP 0x82 */
    DMSEC_BOOT_KEY_USERPINMAC,        /* SEC=USERPINMAC, WSP 0x83: parsed, not verifiable */
    DMSEC_BOOT_KEY_GBA,               /* SEC=3GPP_GBA: no MAC, see dmsec_gba_* */
    DMSEC_BOOT_KEY_OTHER              /* seed form Other_Key: parsed, not verifiable */
} dmsec_boot_keytype_t;

/* The key material a verifier or signer holds. Each field is borrowed for
 * the call; NULL (or length 0) means "not given". Give at most one of imsi
 * and network_id. */
typedef struct dmsec_boot_secret {
    const char *imsi; /* GSM IMSI digits */
    size_t imsi_len;
    const uint8_t *network_id; /* any other network id, raw */
    size_t network_id_len;
    const char *pin; /* user PIN */
    size_t pin_len;
} dmsec_boot_secret_t;

/* Semi-octet form of an IMSI of 6..15 digits into out (cap >= 8 always
 * suffices); *out_len receives (digits + 2) / 2. DMSEC_ERR_BOOT_NETWORK_ID
 * for a non-digit or a length outside 6..15. */
int dmsec_boot_imsi_key(const char *imsi, size_t len, uint8_t *out, size_t cap, size_t *out_len);

/* Builds the HMAC key of type (NETWORKID, USERPIN or USERPIN_NETWORKID)
 * from secret into key (cap bytes; DMSEC_BOOT_KEY_MAX always suffices).
 * Errors: DMSEC_ERR_BOOT_KEYTYPE (any other type), DMSEC_ERR_BOOT_NETWORK_ID
 * (network id missing, bad IMSI), DMSEC_ERR_BOOT_PIN (PIN missing or
 * empty), DMSEC_ERR_TOO_LARGE (PIN or raw id over its _MAX),
 * DMSEC_ERR_INVALID_ARG (both imsi and network_id given),
 * DMSEC_ERR_BUFFER_TOO_SMALL. The caller wipes key after use. */
int dmsec_boot_key(dmsec_boot_keytype_t type, const dmsec_boot_secret_t *secret, uint8_t *key,
                   size_t cap, size_t *key_len);

/* mac = HMAC-SHA1(key, wbxml). */
int dmsec_boot_hmac(const uint8_t *key, size_t key_len, const uint8_t *wbxml, size_t len,
                    uint8_t mac[DMSEC_BOOT_MAC_LEN]);

/* The MAC as devices expect it: 40 uppercase hex digits and a NUL. */
int dmsec_boot_hmac_hex(const uint8_t *key, size_t key_len, const uint8_t *wbxml, size_t len,
                        char hex[DMSEC_BOOT_MAC_HEX_LEN + 1]);

/* Decodes a MAC written as exactly 40 hex digits of either case;
 * DMSEC_ERR_BOOT_MAC_FORMAT otherwise. */
int dmsec_boot_mac_from_hex(const char *hex, size_t len, uint8_t mac[DMSEC_BOOT_MAC_LEN]);

/* Checks hex (40 hex digits, either case) against HMAC-SHA1(key, wbxml)
 * in constant time. DMSEC_ERR_BOOT_MAC_FORMAT, DMSEC_ERR_BOOT_MAC_MISMATCH. */
int dmsec_boot_hmac_verify_hex(const uint8_t *key, size_t key_len, const uint8_t *wbxml, size_t len,
                               const char *hex, size_t hex_len);

/* Builds the key of type from secret and computes the MAC of wbxml.
 * Errors as dmsec_boot_key. The key never leaves the call. */
int dmsec_boot_sign(dmsec_boot_keytype_t type, const dmsec_boot_secret_t *secret,
                    const uint8_t *wbxml, size_t len, uint8_t mac[DMSEC_BOOT_MAC_LEN]);

/* ---- Content-Type ------------------------------------------------------ */

#define DMSEC_BOOT_MEDIA_TYPE "application/vnd.syncml.dm+wbxml"
#define DMSEC_BOOT_OTHER_MAX 64 /* longest Other_Key kept */
/* Room for any text Content-Type dmsec_boot_ct_format writes, with NUL. */
#define DMSEC_BOOT_CT_TEXT_MAX 160
/* Room for any binary one dmsec_boot_ct_format_wsp writes. */
#define DMSEC_BOOT_CT_WSP_MAX 64
/* WSP codes: well-known media application/vnd.syncml.dm+wbxml and the
 * parameters SEC and MAC (WSP 1.4), each as a short integer. */
#define DMSEC_BOOT_WSP_MEDIA 0xC2
#define DMSEC_BOOT_WSP_PARAM_SEC 0x91
#define DMSEC_BOOT_WSP_PARAM_MAC 0x92

typedef enum {
    DMSEC_BOOT_CT_SEED = 1, /* application/vnd.syncml.dm+wbxml;<KEYTYPE>;<40 HEX> */
    DMSEC_BOOT_CT_SEC       /* application/vnd.syncml.dm+wbxml; SEC=<name>[; MAC=<hex>] */
} dmsec_boot_ct_form_t;

/* A parsed bootstrap Content-Type; self-contained (copies, no pointers
 * into the input). */
typedef struct dmsec_boot_ct {
    dmsec_boot_ct_form_t form; /* SEC for the binary form too */
    dmsec_boot_keytype_t keytype;
    int has_mac; /* 0 only for DMSEC_BOOT_KEY_GBA */
    uint8_t mac[DMSEC_BOOT_MAC_LEN];
    size_t other_len; /* DMSEC_BOOT_KEY_OTHER: the key type's name */
    char other[DMSEC_BOOT_OTHER_MAX + 1];
} dmsec_boot_ct_t;

/* Parses a text Content-Type value (text[0..len), any bytes) in the seed
 * or the SEC form. Tolerant of case in the media type, key types and
 * parameter names, of spaces and tabs around ';' and '=', of quoted
 * parameter values and of unknown parameters (ignored); strict about the
 * MAC. A Keytype other than the three standard ones is returned as
 * DMSEC_BOOT_KEY_OTHER with its name in ct->other. The form is the SEC
 * form when the first field after the media type holds '='.
 * Errors: DMSEC_ERR_BOOT_CT_SYNTAX, DMSEC_ERR_BOOT_CT_MEDIA (another media
 * type), DMSEC_ERR_BOOT_CT_MISSING (no key type, SEC or MAC),
 * DMSEC_ERR_BOOT_MAC_FORMAT (MAC not 40 hex digits),
 * DMSEC_ERR_BOOT_KEYTYPE (unknown SEC value, Other_Key over
 * DMSEC_BOOT_OTHER_MAX). A syntax error wins over the others. */
int dmsec_boot_ct_parse(const char *text, size_t len, dmsec_boot_ct_t *ct);

/* Parses a binary WSP Content-Type at buf[0..len): the general form
 * (Value-length, media 0xC2 or its text, parameters SEC as an integer 0..3
 * or a text name, MAC as text with an optional quote) or a constrained
 * form (which lacks the MAC). *used, if not NULL, receives the bytes the
 * value takes; what follows is not read. Unknown parameters are skipped.
 * Errors as dmsec_boot_ct_parse (truncation is a syntax error). */
int dmsec_boot_ct_parse_wsp(const uint8_t *buf, size_t len, dmsec_boot_ct_t *ct, size_t *used);

/* Writes ct as text in ct->form into out (cap bytes, NUL-terminated;
 * DMSEC_BOOT_CT_TEXT_MAX suffices). *out_len, if not NULL, receives the
 * length. DMSEC_ERR_BOOT_KEYTYPE when the form cannot carry the key type
 * (seed: no USERPINMAC or GBA; SEC: no OTHER) or an OTHER name is not a
 * valid Other_Key; DMSEC_ERR_BOOT_CT_MISSING when a MAC is needed and
 * absent; DMSEC_ERR_BOOT_CT_SYNTAX for a GBA type with a MAC. */
int dmsec_boot_ct_format(const dmsec_boot_ct_t *ct, char *out, size_t cap, size_t *out_len);

/* Writes ct as a binary WSP Content-Type (general form, SEC as a short
 * integer, or as the text "3GPP_GBA") into out; DMSEC_BOOT_CT_WSP_MAX
 * suffices. Errors as dmsec_boot_ct_format (OTHER cannot be carried). */
int dmsec_boot_ct_format_wsp(const dmsec_boot_ct_t *ct, uint8_t *out, size_t cap, size_t *out_len);

/* Canonical names: the seed's key type names ("NETWORKID", ...,
 * "USERPINMAC", "3GPP_GBA") and the SEC names ("NETWPIN", "USERPIN",
 * "USERNETWPIN", "USERPINMAC", "3GPP_GBA"). Static strings; NULL for
 * OTHER or an unknown value. */
const char *dmsec_boot_keytype_name(dmsec_boot_keytype_t type);
const char *dmsec_boot_keytype_sec_name(dmsec_boot_keytype_t type);

/* Maps either kind of name (case-insensitive) to a key type;
 * DMSEC_ERR_BOOT_KEYTYPE for anything else. */
int dmsec_boot_keytype_from_name(const char *name, size_t len, dmsec_boot_keytype_t *type);

/* Verifies a bootstrap message: builds the key ct->keytype names from
 * secret and checks ct->mac against HMAC-SHA1(key, wbxml) in constant
 * time. DMSEC_ERR_BOOT_KEYTYPE for USERPINMAC, GBA and OTHER,
 * DMSEC_ERR_BOOT_CT_MISSING without a MAC, DMSEC_ERR_BOOT_MAC_MISMATCH,
 * and the errors of dmsec_boot_key. */
int dmsec_boot_verify(const dmsec_boot_ct_t *ct, const dmsec_boot_secret_t *secret,
                      const uint8_t *wbxml, size_t len);

/* ---- 3GPP_GBA ---------------------------------------------------------- */

#define DMSEC_GBA_KS_NAF_LEN 32 /* Ks_(ext/int)_NAF is 256 bits */
#define DMSEC_GBA_KEY_LEN 32
#define DMSEC_GBA_IV_LEN 16
#define DMSEC_GBA_TAG_LEN 32
/* Length of the protected form of n plaintext bytes. */
#define DMSEC_GBA_PROTECTED_LEN(n) (DMSEC_GBA_IV_LEN + ((n) / 16 + 1) * 16 + DMSEC_GBA_TAG_LEN)
/* Shortest protected form: one cipher block. */
#define DMSEC_GBA_PROTECTED_MIN DMSEC_GBA_PROTECTED_LEN(0)

typedef enum { DMSEC_GBA_DMBIK = 1, DMSEC_GBA_DMBEK } dmsec_gba_key_t;

/* Both derived keys; wipe with dmsec_gba_keys_wipe. */
typedef struct dmsec_gba_keys {
    uint8_t dmbik[DMSEC_GBA_KEY_LEN];
    uint8_t dmbek[DMSEC_GBA_KEY_LEN];
} dmsec_gba_keys_t;

/* out = HMAC-SHA256(Ks_NAF, 0x01 || P0 || 0x00 0x06), P0 the octets
 * "dm-bik" (DMBIK) or "dm-bek" (DMBEK), as TS 33.220 Annex B with the
 * seed's octets. ks_naf_len must be DMSEC_GBA_KS_NAF_LEN
 * (DMSEC_ERR_INVALID_ARG otherwise). */
int dmsec_gba_kdf(const uint8_t *ks_naf, size_t ks_naf_len, dmsec_gba_key_t which,
                  uint8_t out[DMSEC_GBA_KEY_LEN]);

/* Derives both keys into *keys. */
int dmsec_gba_derive(const uint8_t *ks_naf, size_t ks_naf_len, dmsec_gba_keys_t *keys);

/* Zeroes *keys; NULL is accepted. */
void dmsec_gba_keys_wipe(dmsec_gba_keys_t *keys);

/* Protects in[0..len) into out (cap >= DMSEC_GBA_PROTECTED_LEN(len)),
 * drawing the IV from rng (NULL means dmsec_rng_os). in and out must not
 * overlap. */
int dmsec_gba_protect(const dmsec_gba_keys_t *keys, const dmsec_rng_t *rng, const uint8_t *in,
                      size_t len, uint8_t *out, size_t cap, size_t *out_len);

/* Checks and decrypts a protected document into out (cap >= len -
 * DMSEC_GBA_IV_LEN - DMSEC_GBA_TAG_LEN). The tag is checked in constant
 * time before anything is decrypted. Errors: DMSEC_ERR_GBA_TRUNCATED (len
 * < DMSEC_GBA_PROTECTED_MIN or ciphertext not whole blocks),
 * DMSEC_ERR_GBA_MAC_MISMATCH, DMSEC_ERR_GBA_PADDING,
 * DMSEC_ERR_BUFFER_TOO_SMALL. On error out holds nothing of the plaintext.
 * in and out must not overlap. */
int dmsec_gba_unprotect(const dmsec_gba_keys_t *keys, const uint8_t *in, size_t len, uint8_t *out,
                        size_t cap, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
