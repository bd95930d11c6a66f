/*
 * dmsec/hmac.h - transport-neutral integrity: the x-syncml-hmac header.
 *
 * DM 1.2 (syncml:auth-MAC):
 *   x-syncml-hmac: algorithm=MD5, username="<LocName>", mac=<b64>
 *   mac = B64(MD5(B64(MD5(username ":" password)) ":" nonce ":" B64(MD5(body))))
 * DM 1.3 (syncml:auth-hmac-sha256):
 *   x-syncml-hmac: algorithm="HMAC-SHA256", ServerId="..", Timestamp="..", mac="<b64>"
 *   mac = B64(HMAC-SHA256(key = AAuthSecret bytes, Timestamp ":" body))
 *
 * The MAC covers the exact HTTP body bytes. The parser accepts ',' or ';'
 * between parameters, quoted or bare values, any spacing and any case of
 * parameter names; the formatter emits ','. Parsed headers are copied into
 * the fixed fields of dmsec_hmac_header_t; nothing is allocated.
 */
#ifndef DMSEC_HMAC_H
#define DMSEC_HMAC_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dmsec/auth.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dmsec_hmac_alg {
    DMSEC_HMAC_MD5 = 0,    /* DM 1.2 */
    DMSEC_HMAC_SHA256 = 1, /* DM 1.3 */
} dmsec_hmac_alg_t;

#define DMSEC_HMAC_FIELD_MAX 256 /* longest value kept, NUL included */
#define DMSEC_HMAC_MAC_MAX 128

typedef struct dmsec_hmac_header {
    dmsec_hmac_alg_t alg;
    char username[DMSEC_HMAC_FIELD_MAX];  /* DM 1.2, required there */
    char server_id[DMSEC_HMAC_FIELD_MAX]; /* DM 1.3, required there */
    char timestamp[64];                   /* DM 1.3, required there */
    char mac[DMSEC_HMAC_MAC_MAX];         /* base64 text, required */
} dmsec_hmac_header_t;

/* Parses a header value (text[0..len), not NUL-terminated, untrusted).
 * The algorithm decides the form: absent or "MD5" is DM 1.2,
 * "HMAC-SHA256" DM 1.3. Errors: DMSEC_ERR_HMAC_SYNTAX,
 * DMSEC_ERR_HMAC_ALGORITHM, DMSEC_ERR_HMAC_DUPLICATE,
 * DMSEC_ERR_HMAC_FIELD_LONG, and for a missing required parameter
 * DMSEC_ERR_HMAC_NO_MAC, _NO_USERNAME (1.2), _NO_SERVERID, _NO_TIMESTAMP (1.3).
 * Unknown parameters are ignored. Parameters are separated by ',' or ';',
 * or by whitespace alone as one handset firmware writes it
 * (`username="U", mac=M algorithm="MD5"`). */
int dmsec_hmac_header_parse(const char *text, size_t len, dmsec_hmac_header_t *out);

/* Formats the header value (without "x-syncml-hmac: ") into out. Values
 * holding '"' or '\\' are escaped. */
int dmsec_hmac_header_format(const dmsec_hmac_header_t *h, char *out, size_t cap, size_t *out_len);

/* Length of a mac in base64: 24 (MD5) or 44 (SHA-256); mac buffers need +1. */
#define DMSEC_HMAC12_MAC_LEN 24
#define DMSEC_HMAC13_MAC_LEN 44

/* DM 1.2 mac from the plaintext secret or from the MD5 pre-hash. */
int dmsec_hmac12_compute(const char *user, const uint8_t *secret, size_t secret_len,
                         const uint8_t *nonce, size_t nonce_len, const uint8_t *body,
                         size_t body_len, char mac[DMSEC_HMAC12_MAC_LEN + 1]);
int dmsec_hmac12_compute_prehashed(const uint8_t md5_prehash[16], const uint8_t *nonce,
                                   size_t nonce_len, const uint8_t *body, size_t body_len,
                                   char mac[DMSEC_HMAC12_MAC_LEN + 1]);

/* DM 1.3 mac; key is the AAuthSecret bytes, timestamp the header text. */
int dmsec_hmac13_compute(const uint8_t *key, size_t key_len, const char *timestamp,
                         const uint8_t *body, size_t body_len, char mac[DMSEC_HMAC13_MAC_LEN + 1]);

/* Verifies a parsed DM 1.2 header against the body. The username in the
 * header must be the expected one (DMSEC_ERR_HMAC_MISMATCH otherwise). */
int dmsec_hmac12_verify(const dmsec_hmac_header_t *h, const char *user,
                        const uint8_t md5_prehash[16], const uint8_t *nonce, size_t nonce_len,
                        const uint8_t *body, size_t body_len);

/* Verifies a parsed DM 1.3 header against the body. */
int dmsec_hmac13_verify(const dmsec_hmac_header_t *h, const uint8_t *key, size_t key_len,
                        const uint8_t *body, size_t body_len);

/* Timestamps: "YYYY-MM-DDThh:mm:ssZ" (UTC). */
int dmsec_hmac13_timestamp_parse(const char *ts, time_t *out);
int dmsec_hmac13_timestamp_format(time_t t, char out[21]);
/* 0 when |ts - now| <= window seconds; DMSEC_ERR_HMAC_STALE otherwise,
 * DMSEC_ERR_HMAC_TIMESTAMP when ts is malformed. */
int dmsec_hmac13_check_fresh(const char *ts, time_t now, unsigned window);

#ifdef __cplusplus
}
#endif
#endif
