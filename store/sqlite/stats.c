/* Figures for the server's metrics, read at scrape time: counts of
 * devices, pending notifications and queued commands, and a tally of audit
 * events past a remembered row (store.h). Statements are prepared per
 * call: a scrape is rare beside the DM traffic. */
#include <sqlite3.h>
#include <string.h>

#include "dmsec/errors.h"
#include "dmsec/store.h"
#include "store_sqlite.h"

#define TALLY_MAX_ROWS 100000

/* One COUNT query with up to one integer parameter into *out. */
static int count_of(dmsec_store_t *st, const char *sql, int64_t param, int has_param, uint64_t *out)
{
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_prepare(st, sql, &s);
    if (!rc && has_param)
        rc = dm_sq_bind_i64(s, 1, param);
    if (!rc) {
        int r = sqlite3_step(s);
        if (r == SQLITE_ROW) {
            sqlite3_int64 v = sqlite3_column_int64(s, 0);
            *out = v > 0 ? (uint64_t)v : 0;
        } else
            rc = r == SQLITE_DONE ? DMSEC_ERR_STORE_CORRUPT : dm_sq_err(r);
    }
    sqlite3_finalize(s);
    return rc;
}

int dmsec_store_stats(dmsec_store_t *st, int64_t now, dmsec_store_stats_t *out)
{
    if (!st || !out)
        return DMSEC_ERR_INVALID_ARG;
    memset(out, 0, sizeof *out);
    int rc = count_of(st, "SELECT COUNT(*) FROM devices", 0, 0, &out->devices);
    if (!rc)
        rc = count_of(st, "SELECT COUNT(*) FROM notifications WHERE opened = 0 AND expires > ?1",
                      now, 1, &out->notifications_pending);
    if (!rc)
        rc = count_of(st, "SELECT COUNT(*) FROM commands WHERE state = 0", 0, 0,
                      &out->commands_queued);
    return rc;
}

int dmsec_store_audit_tally(dmsec_store_t *st, int64_t *after_id, const char *const *events,
                            size_t n, uint64_t *counts)
{
    if (!st || !after_id || (n && (!events || !counts)))
        return DMSEC_ERR_INVALID_ARG;
    sqlite3_stmt *s = NULL;
    int rc =
        dm_sq_prepare(st, "SELECT id, event FROM audit WHERE id > ?1 ORDER BY id LIMIT ?2", &s);
    if (!rc)
        rc = dm_sq_bind_i64(s, 1, *after_id);
    if (!rc)
        rc = dm_sq_bind_i64(s, 2, TALLY_MAX_ROWS);
    int64_t last = *after_id;
    while (!rc) {
        int r = sqlite3_step(s);
        if (r == SQLITE_DONE)
            break;
        if (r != SQLITE_ROW) {
            rc = dm_sq_err(r);
            break;
        }
        last = sqlite3_column_int64(s, 0);
        const char *ev = (const char *)sqlite3_column_text(s, 1);
        for (size_t i = 0; ev && i < n; i++) {
            if (events[i] && !strcmp(ev, events[i]))
                counts[i]++;
        }
    }
    sqlite3_finalize(s);
    *after_id = last; /* the rows counted stay counted, also after an error */
    return rc;
}
