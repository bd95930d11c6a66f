/*
 * crypto/crypto.h - libdmsec's private window on OpenSSL 3: digests over
 * several parts (no concatenation buffers), HMAC, AES-CBC, constant-time
 * comparison and wiping. Algorithms are fetched once per process.
 */
#ifndef DMSEC_CRYPTO_H
#define DMSEC_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

typedef enum { DM_MD5, DM_SHA1, DM_SHA256 } dm_alg_t;

#define DM_MD5_LEN 16
#define DM_SHA1_LEN 20
#define DM_SHA256_LEN 32
#define DM_MAX_MD_LEN 32

/* One piece of input. */
typedef struct dm_part {
    const void *p;
    size_t n;
} dm_part_t;

/* Output length of alg in bytes. */
size_t dm_md_len(dm_alg_t alg);

/* out = H(parts[0] || ... || parts[n-1]). */
int dm_digest(dm_alg_t alg, const dm_part_t *parts, size_t n, uint8_t *out);

/* out = HMAC-alg(key, parts...). */
int dm_hmac(dm_alg_t alg, const uint8_t *key, size_t key_len, const dm_part_t *parts, size_t n,
            uint8_t *out);

/* MD5(B64(prehash) ":" nonce ":" B64(MD5(data))): the DM 1.2 x-syncml-hmac
 * mac and the package #0 digest are this one formula, with the MD5
 * pre-hash of user ":" password (or server-id ":" password). */
int dm_md5_chained(const uint8_t prehash[16], const uint8_t *nonce, size_t nonce_len,
                   const uint8_t *data, size_t data_len, uint8_t out[16]);

/* 1 when a[0..n) == b[0..n), in time independent of the contents. */
int dm_ct_equal(const void *a, const void *b, size_t n);

/* Zeroes n bytes in a way the compiler keeps. */
void dm_wipe(void *p, size_t n);

/* AES-256-CBC with PKCS#7 padding. out needs len + 16 bytes. */
int dm_aes256_cbc_encrypt(const uint8_t key[32], const uint8_t iv[16], const uint8_t *in,
                          size_t len, uint8_t *out, size_t *out_len);
/* Returns DMSEC_ERR_GBA_PADDING on a bad pad. out needs len bytes. */
int dm_aes256_cbc_decrypt(const uint8_t key[32], const uint8_t iv[16], const uint8_t *in,
                          size_t len, uint8_t *out, size_t *out_len);

#endif
