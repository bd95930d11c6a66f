/*
 * store_sqlite.h - private to the SQLite back end of the store contract.
 */
#ifndef DMSEC_STORE_SQLITE_H
#define DMSEC_STORE_SQLITE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* The schema this code writes and reads (PRAGMA user_version). */
#define DM_STORE_SCHEMA_VERSION 5

/* PRAGMA application_id of a dmsec store ("DMSC"): tells our file from any
 * other SQLite database. */
#define DM_STORE_APP_ID 0x444D5343

/* dm_store_migrations[v] takes the schema from version v to v + 1 and
 * records it (PRAGMA user_version = v + 1); constant SQL, run in one
 * transaction by dm_store_schema_setup. The unit tests build a store of an
 * older version with the first of them. */
extern const char *const dm_store_migrations[DM_STORE_SCHEMA_VERSION];

/* Maps an (extended) SQLite result code to DMSEC_OK or a DMSEC_ERR_*. */
int dm_store_err(int rc);

/* Sets the connection up (busy timeout, WAL, synchronous NORMAL, foreign
 * keys) and creates or migrates the schema. DMSEC_ERR_STORE_CORRUPT for a
 * file that is not a dmsec store or has a newer schema. */
int dm_store_schema_setup(sqlite3 *db);
/* For a read-only handle: the connection's settings that change nothing,
 * and the file identified without changing it. DMSEC_ERR_STORE_CORRUPT for
 * a file that is not a dmsec store (an empty one included) or has a newer
 * schema, DMSEC_ERR_STORE_STATE for an older one (reading it needs the
 * migration, a write). */
int dm_store_schema_check(sqlite3 *db);

/* For the management half of the contract (mgmt.c), which keeps its own
 * statements in the handle: DM_STORE_MGMT_STMTS of them, prepared from sql
 * on the first dm_store_mstmt of index q and finalized by
 * dmsec_store_close. The rest are sqlite.c's helpers, one home for both
 * halves:
 * - write_run steps a write under the writer lock (its own transaction
 *   outside a dmsec_store_begin); stmt_done resets and clears; tx_end
 *   commits when rc is 0, else rolls back and returns rc.
 * - bind_text, bind_str and bind_blob bind SQLITE_STATIC; bind_fit binds
 *   text cut to fit a field of cap bytes (NULL as ""); size_i64 saturates.
 * - col_text reads a text column into a field (cut to fit, or
 *   DMSEC_ERR_STORE_CORRUPT when key and too long); fit_len is the length
 *   of t (len bytes) cut to fit cap bytes without splitting a UTF-8
 *   sequence.
 * - str_fits: s is at most cap - 1 bytes; id_ok: a non-empty device id
 *   that fits.
 * - step_row steps a query of one row (rc: the binds' result):
 *   DMSEC_ERR_STORE_NOT_FOUND when it has none; the caller resets.
 * - read_rows steps a bound query for at most max rows, read storing row
 *   i, *n the rows read, and resets it; cb_rc maps a listing callback's
 *   answer r (non-zero stops: *stop; negative: its error). */
#define DM_STORE_MGMT_STMTS 40
struct dmsec_store;
int dm_store_mstmt(struct dmsec_store *st, int q, const char *sql, sqlite3_stmt **out);
sqlite3 *dm_store_db(struct dmsec_store *st);
int dm_store_write_run(struct dmsec_store *st, sqlite3_stmt *s);
void dm_store_stmt_done(sqlite3_stmt *s);
int dm_store_tx_end(struct dmsec_store *st, int rc);
int dm_store_bind_text(sqlite3_stmt *s, int i, const char *t, size_t len);
int dm_store_bind_str(sqlite3_stmt *s, int i, const char *t);
int dm_store_bind_blob(sqlite3_stmt *s, int i, const uint8_t *p, size_t len);
int dm_store_bind_i64(sqlite3_stmt *s, int i, int64_t v);
int dm_store_bind_fit(sqlite3_stmt *s, int i, const char *t, size_t cap);
int64_t dm_store_size_i64(size_t n);
int dm_store_col_text(sqlite3_stmt *s, int i, char *dst, size_t cap, int key);
size_t dm_store_fit_len(const char *t, size_t len, size_t cap);
int dm_store_str_fits(const char *s, size_t cap);
int dm_store_id_ok(const char *id);
int dm_store_step_row(sqlite3_stmt *s, int rc);
int dm_store_read_rows(sqlite3_stmt *s, int rc, size_t max, size_t *n,
                       int (*read)(void *ctx, sqlite3_stmt *s, size_t i), void *ctx);
int dm_store_cb_rc(int r, int *stop);

#endif
