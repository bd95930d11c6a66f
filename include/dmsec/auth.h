/*
 * dmsec/auth.h - SyncML application-layer credentials (SyncHdr/Cred).
 *
 *   syncml:auth-basic   Data = B64(user ":" password)
 *   syncml:auth-md5     Data = B64(MD5(B64(MD5(user ":" password)) ":" nonce))
 *   syncml:auth-sha256  Data = B64(SHA256(B64(SHA256(user ":" password)) ":" nonce))
 *
 * Nonces are raw bytes (the decoded NextNonce), never their base64 text.
 * The verifier works from a stored pre-hash H(user ":" password) and never
 * needs the plaintext; every comparison is constant-time.
 * All buffers are caller-owned; nothing is allocated or retained.
 */
#ifndef DMSEC_AUTH_H
#define DMSEC_AUTH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dmsec_auth_scheme {
    DMSEC_AUTH_BASIC = 0,
    DMSEC_AUTH_MD5 = 1,
    DMSEC_AUTH_SHA256 = 2,
} dmsec_auth_scheme_t;

/* Scheme from its URI ("syncml:auth-md5"), case-insensitive, surrounding
 * whitespace ignored. DMSEC_ERR_AUTH_SCHEME for anything else. */
int dmsec_auth_scheme_parse(const char *uri, size_t len, dmsec_auth_scheme_t *out);
/* The canonical URI ("syncml:auth-basic", ...); static, or NULL. */
const char *dmsec_auth_scheme_uri(dmsec_auth_scheme_t scheme);
/* The short name ("basic", "md5", "sha256"); static, or NULL. */
const char *dmsec_auth_scheme_name(dmsec_auth_scheme_t scheme);

/* The stored verifier of one user id: H(user ":" password) under MD5 and
 * SHA-256. A store may hold either or both (flags). */
#define DMSEC_PREHASH_MD5 1u
#define DMSEC_PREHASH_SHA256 2u
typedef struct dmsec_prehash {
    unsigned flags;
    uint8_t md5[16];
    uint8_t sha256[32];
} dmsec_prehash_t;

/* Computes both pre-hashes of user ":" secret[0..secret_len). */
int dmsec_prehash_compute(const char *user, const uint8_t *secret, size_t secret_len,
                          dmsec_prehash_t *out);
/* Wipes a pre-hash. */
void dmsec_prehash_wipe(dmsec_prehash_t *ph);

/* Longest Data value: B64 of a SHA-256 digest is 44; basic grows with the
 * user and secret, so callers size out with dmsec_cred_data_len. */
size_t dmsec_cred_data_len(dmsec_auth_scheme_t scheme, size_t user_len, size_t secret_len);

/* Builds the Cred Data value (base64 text, NUL-terminated) into out. The
 * nonce is ignored for basic. DMSEC_ERR_BUFFER_TOO_SMALL when cap is short. */
int dmsec_cred_build(dmsec_auth_scheme_t scheme, const char *user, const uint8_t *secret,
                     size_t secret_len, const uint8_t *nonce, size_t nonce_len, char *out,
                     size_t cap, size_t *out_len);

/* Builds a digest Cred from a stored pre-hash (md5 or sha256 only; basic
 * needs the plaintext: DMSEC_ERR_AUTH_NEEDS_SECRET). */
int dmsec_cred_build_prehashed(dmsec_auth_scheme_t scheme, const dmsec_prehash_t *ph,
                               const uint8_t *nonce, size_t nonce_len, char *out, size_t cap,
                               size_t *out_len);

/* Verifies the received Data (data[0..len), base64 text) against the stored
 * pre-hash. Basic: Data must decode to user ":" password with user equal
 * to the expected user (matched as a prefix: user ids may hold ':'), and its hash must equal the
 * pre-hash (SHA-256 when present, else MD5). Returns 0, DMSEC_ERR_AUTH_FAILED,
 * DMSEC_ERR_AUTH_FORMAT (not base64, no ':' for basic, wrong length),
 * DMSEC_ERR_AUTH_NO_PREHASH (the store lacks this scheme's pre-hash). */
int dmsec_cred_verify(dmsec_auth_scheme_t scheme, const char *user, const dmsec_prehash_t *ph,
                      const uint8_t *nonce, size_t nonce_len, const char *data, size_t len);

/* The text before the first ':' of a basic Data value, copied into out
 * (NUL-terminated). Device ids may hold ':' themselves ("IMEI:..."), so a
 * server should find the account from Source/LocURI or LocName and use
 * this only as a hint. */
int dmsec_cred_basic_user(const char *data, size_t len, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
