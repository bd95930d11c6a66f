/*
 * store_sqlite.h - private to the SQLite back end of the store contract.
 */
#ifndef DMSEC_STORE_SQLITE_H
#define DMSEC_STORE_SQLITE_H

#include <sqlite3.h>

/* The schema this code writes and reads (PRAGMA user_version). */
#define DM_STORE_SCHEMA_VERSION 2

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

#endif
