/*
 * dmsec/encoding.h - strict base64 (RFC 4648, standard alphabet, padded,
 * no line breaks) and hex, as SyncML carries nonces, digests and MACs.
 *
 * Decoders never return an empty or truncated result for bad input: a
 * character outside the alphabet, a bad pad or a bad length is an error.
 * All buffers are caller-owned; nothing is allocated.
 */
#ifndef DMSEC_ENCODING_H
#define DMSEC_ENCODING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Characters needed to base64-encode n bytes, without the terminating NUL. */
#define DMSEC_B64_LEN(n) ((((size_t)(n)) + 2) / 3 * 4)
/* Upper bound of bytes decoded from n base64 characters. */
#define DMSEC_B64_DECODED_MAX(n) (((size_t)(n)) / 4 * 3)

/* Encodes in[0..len) into out (cap bytes, NUL-terminated). *out_len, if
 * not NULL, receives the text length. DMSEC_ERR_BUFFER_TOO_SMALL when
 * cap < DMSEC_B64_LEN(len) + 1. */
int dmsec_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap, size_t *out_len);

/* Decodes exactly len characters of text (no whitespace allowed).
 * Errors: DMSEC_ERR_B64_LENGTH (len % 4 != 0), DMSEC_ERR_B64_CHAR,
 * DMSEC_ERR_B64_PADDING ('=' not at the end, more than two, or non-zero
 * bits under the pad), DMSEC_ERR_BUFFER_TOO_SMALL. */
int dmsec_b64_decode(const char *text, size_t len, uint8_t *out, size_t cap, size_t *out_len);

/* Lowercase hex of in into out (2*len+1 bytes at least), NUL-terminated. */
int dmsec_hex_encode(const uint8_t *in, size_t len, char *out, size_t cap);

/* Uppercase hex, as bootstrap MACs are written. */
int dmsec_hex_encode_upper(const uint8_t *in, size_t len, char *out, size_t cap);

/* Decodes hex digits of either case. Errors: DMSEC_ERR_HEX_LENGTH (odd),
 * DMSEC_ERR_HEX_CHAR, DMSEC_ERR_BUFFER_TOO_SMALL. */
int dmsec_hex_decode(const char *text, size_t len, uint8_t *out, size_t cap, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
