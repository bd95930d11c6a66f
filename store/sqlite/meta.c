/*
 * meta.c - the server id over the SQLite store (the meta table): set
 * once, read by every later opener.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dmsec/errors.h"
#include "dmsec/store.h"
#include "store_sqlite.h"

int dmsec_store_server_id(dmsec_store_t *st, const char *want, char *out, size_t cap)
{
    if (!st || (want && (!want[0] || !dm_store_str_fits(want, DMSEC_NAME_MAX))) ||
        (out && cap == 0))
        return DMSEC_ERR_INVALID_ARG;
    sqlite3_stmt *s = NULL;
    int rc = DMSEC_OK;
    if (want) {
        /* Set once: a second writer with another id finds the first. */
        rc = dm_sq_prepare(st, "INSERT OR IGNORE INTO meta (key, value) VALUES ('server_id', ?1)",
                           &s);
        if (!rc)
            rc = dm_sq_bind_str(s, 1, want);
        if (!rc)
            rc = dm_sq_write_run(st, s);
        sqlite3_finalize(s);
        s = NULL;
    }
    if (!rc)
        rc = dm_sq_prepare(st, "SELECT value FROM meta WHERE key = 'server_id'", &s);
    if (!rc)
        rc = dm_sq_step_row(s, DMSEC_OK);
    if (!rc) {
        const char *v = (const char *)sqlite3_column_text(s, 0);
        if (!v)
            v = "";
        if (out)
            snprintf(out, cap, "%s", v);
        if (want && strcmp(v, want) != 0)
            rc = DMSEC_ERR_STORE_STATE;
    }
    sqlite3_finalize(s);
    return rc;
}
