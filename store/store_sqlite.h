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

/* Maps an (extended) SQLite result code to DMSEC_OK or a DMSEC_ERR_*. */
int dm_store_err(int rc);

/* Sets the connection up (busy timeout, WAL, synchronous NORMAL, foreign
 * keys) and creates or migrates the schema. DMSEC_ERR_STORE_CORRUPT for a
 * file that is not a dmsec store or has a newer schema. */
int dm_store_schema_setup(sqlite3 *db);

#endif
