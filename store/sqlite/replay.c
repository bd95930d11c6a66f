/*
 * replay.c - the DM 1.3 MAC replay cache over the SQLite store: a MAC is
 * new once (INSERT OR IGNORE on its key), and old ones are pruned now and
 * then.
 */
#include <sqlite3.h>
#include <stdint.h>

#include "dmsec/errors.h"
#include "dmsec/store.h"
#include "store_sqlite.h"

/* Prune the replay cache on the first call of a handle and every 256th. */
#define MAC_PRUNE_EVERY 256u

static const dm_sq_query_t q_mac_prune = {SQ_MAC_PRUNE,
                                          "DELETE FROM macs WHERE ts < ?1 AND seen_at < ?1"};
static const dm_sq_query_t q_mac_add = {
    SQ_MAC_ADD, "INSERT OR IGNORE INTO macs (mac, ts, seen_at) VALUES (?1, ?2, ?3)"};

int dmsec_store_mac_seen(dmsec_store_t *st, const char *mac, int64_t timestamp, int64_t now,
                         int64_t keep)
{
    if (!st || !mac || !mac[0] || !dm_store_str_fits(mac, DM_STORE_MAC_MAX) || keep <= 0)
        return DMSEC_ERR_INVALID_ARG;
    sqlite3_stmt *s = NULL;
    int rc = DMSEC_OK;
    if (st->mac_calls++ % MAC_PRUNE_EVERY == 0) {
        /* Best effort: a failed prune is retried later and does not stop
         * the replay check, which is what matters. */
        if (!dm_sq_stmt(st, &q_mac_prune, &s)) {
            if (!dm_sq_bind_i64(s, 1, dm_store_sub_sat(now, keep)))
                (void)dm_sq_write_run(st, s);
            else
                dm_sq_done(s);
        }
    }
    rc = dm_sq_stmt(st, &q_mac_add, &s);
    if (rc)
        return rc;
    rc = dm_sq_bind_str(s, 1, mac);
    if (!rc)
        rc = dm_sq_bind_i64(s, 2, timestamp);
    if (!rc)
        rc = dm_sq_bind_i64(s, 3, now);
    rc = dm_sq_write_bound(st, s, rc);
    if (rc)
        return rc;
    return sqlite3_changes(st->db) == 0 ? 1 : 0;
}
