/*
 * store_int.h - what every back end of the store contract (dmsec/store.h)
 * shares, private to store/: the argument checks and bounds of the
 * contract, its names of command kinds and states, and the choice of a
 * back end by the URI's scheme (contract.c). Nothing here knows a
 * database: a back end (store/sqlite/, the only one today) calls these
 * before it touches its own, so every back end refuses the same arguments
 * with the same error codes.
 */
#ifndef DMSEC_STORE_INT_H
#define DMSEC_STORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "dmsec/store.h"

#define FIELD_SIZE(type, field) sizeof(((type *)0)->field)

/* The longest MAC the DM 1.3 replay cache accepts (NUL included). */
#define DM_STORE_MAC_MAX 512

/* How many command states there are (dmsec_cmd_state_t). */
#define DM_STORE_CMD_STATES 7

/* str_fits: s is a NUL-terminated string of at most cap - 1 bytes. id_ok:
 * a device id argument, non-empty and storable in dmsec_device_t. */
int dm_store_str_fits(const char *s, size_t cap);
int dm_store_id_ok(const char *id);
/* The length of t (len bytes) cut to fit a field of cap bytes (NUL
 * included), never splitting a UTF-8 sequence. */
size_t dm_store_fit_len(const char *t, size_t len, size_t cap);
/* n as an int64_t, saturated. */
int64_t dm_store_size_i64(size_t n);
/* a - b, saturated at INT64_MIN. */
int64_t dm_store_sub_sat(int64_t a, int64_t b);
/* What a listing callback's answer r means: non-zero stops the walk
 * (*stop), a negative one is its error. */
int dm_store_cb_rc(int r, int *stop);

/* A device record fit to store: ids and texts that fit their fields,
 * known schemes and integrity, pre-hash flags and lengths in range. */
int dm_store_device_valid(const dmsec_device_t *d);
/* A scheme (dmsec_auth_scheme_t) and an integrity (dmsec_integrity_t) as
 * stored: 1 when known. */
int dm_store_scheme_ok(int64_t v);
int dm_store_integrity_ok(int64_t v);

/* Which plaintexts are kept (the rest only as pre-hashes): the server's
 * own secret for basic and for HMAC-SHA256 (its key), the client's only
 * for HMAC-SHA256. 1 when kept. */
int dm_store_keeps_server_secret(int64_t scheme, int64_t integrity);
int dm_store_keeps_client_secret(int64_t integrity);

/* A notification's session id: the ids a device has used, marked in a
 * bitmap of DM_STORE_SESSION_IDS_BYTES (bit v for id v; out of range
 * ignored), and the first free one from the random start rnd (0 skipped),
 * or DMSEC_ERR_STORE_EXISTS when every id is taken. */
#define DM_STORE_SESSION_IDS_BYTES 8192
void dm_store_session_id_mark(uint8_t *used, int64_t v);
int dm_store_session_id_pick(const uint8_t *used, const uint8_t rnd[2], uint16_t *out);

/* The session id as dmsec_pkg0_session_id_text writes it: 1 to 4
 * uppercase hex digits, no leading zero, into *out (1); any other spelling
 * names another SyncML session (0). */
int dm_store_session_id_parse(const char *text, uint16_t *out);

/* Ends a transaction of the caller's own: commits when rc is 0, else rolls
 * back; returns the first error. Through the contract's begin, commit and
 * rollback, so one rule for every back end. */
int dm_store_tx_end(dmsec_store_t *st, int rc);

/* The management half: a group kind (Atomic, Sequence); a TND URI of the
 * contract (printable ASCII, no empty, ".." or inner "." segment); an
 * http(s) URL; the checks of dmsec_store_cmd_queue that need no database
 * (0 or DMSEC_ERR_INVALID_ARG / DMSEC_ERR_TOO_LARGE); an event fit to
 * record. */
int dm_store_is_group(dmsec_cmd_type_t kind);
int dm_store_uri_ok(const char *u);
int dm_store_url_ok(const char *url);
int dm_store_text_ok(const char *s, size_t cap);
int dm_store_cmd_valid(const dmsec_store_cmd_t *c, int64_t now);
int dm_store_event_valid(const dmsec_device_event_t *e);
/* The states a command listing asks for (all when none), into *states;
 * DMSEC_ERR_INVALID_ARG for an unknown state or a device id too long. */
int dm_store_cmd_filter_states(const dmsec_cmd_filter_t *f, unsigned *states);
/* The arguments of dmsec_store_fumo_queue but its handle and what only
 * the database knows: *node defaulted when NULL, the digest in lowercase
 * into hex. 0 or DMSEC_ERR_INVALID_ARG. */
int dm_store_fumo_args(const char *device_id, const char **node, const char *url,
                       const char *sha256, int64_t size, char hex[65]);

/* The back ends dmsec_store_open_flags chooses from by the URI's scheme;
 * flags are checked (EXISTING implied by READ_ONLY) and *out is NULL. */
int dm_sqlite_open(const char *path, unsigned flags, dmsec_store_t **out);

#endif
