/*
 * dmsec/random.h - the randomness the core is given.
 *
 * The core never picks its own randomness: callers pass a dmsec_rng_t.
 * dmsec_rng_os is the production source (OpenSSL's DRBG, seeded from the
 * operating system's CSPRNG); tests may pass a deterministic one.
 */
#ifndef DMSEC_RANDOM_H
#define DMSEC_RANDOM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Fills buf with len random bytes; returns 0 or a negative DMSEC_ERR_*. */
typedef int (*dmsec_rng_fn)(void *ctx, uint8_t *buf, size_t len);

typedef struct dmsec_rng {
    dmsec_rng_fn fill;
    void *ctx;
} dmsec_rng_t;

/* The OS-backed generator (ctx unused). */
int dmsec_rng_os_fill(void *ctx, uint8_t *buf, size_t len);
extern const dmsec_rng_t dmsec_rng_os;

/* Nonces are 16 random bytes (128 bits, DM Security 5.4.3). */
#define DMSEC_NONCE_LEN 16

/* Fills nonce[DMSEC_NONCE_LEN] from rng (NULL means dmsec_rng_os). */
int dmsec_nonce_generate(const dmsec_rng_t *rng, uint8_t nonce[DMSEC_NONCE_LEN]);

/* A printable random secret (password) of len characters from the base64
 * alphabet without '+' and '/', len >= 22 (>= 128 bits). out has len+1. */
int dmsec_secret_generate(const dmsec_rng_t *rng, char *out, size_t len);

#ifdef __cplusplus
}
#endif
#endif
