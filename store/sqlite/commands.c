/*
 * commands.c - the command queue of the store contract (dmsec/store.h)
 * with its results, and FUMO updates, over the SQLite store.
 *
 * Exactly-once recording rests on conditional UPDATEs: a Status is
 * recorded only by the UPDATE that finds its command still "sent", an
 * outcome only by the one that finds it "accepted" (or "sent"), so two
 * callers racing, in one process or several, cannot both record one.
 * Functions of several statements (queueing with its bound, cancelling a
 * group, FUMO) run in one transaction of their own (nested as a savepoint
 * in the caller's).
 */
#include <inttypes.h>
#include <stdio.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/errors.h"
#include "dmsec/store.h"
#include "store_sqlite.h"

#define CMD_BATCH 8 /* commands carry values of up to 4 MiB each */

#define CMD_COLS                                                                                   \
    "id, parent_id, device_id, kind, target, source, data, format, mime, correlator, expires,"     \
    " queued_by, queued_at, state, session_id, sent_at, attempts, status, result,"                 \
    " result_format, result_mime, outcome, done_at"
/* Not finished: what counts towards the bound, and what may be cancelled. */
#define OPEN_STATES "(0, 1, 2)"
/* The key that keeps each group's members right after it, in id order
 * (schema.c's index commands_send holds it: keep the two the same). */
#define GROUP_KEY "(CASE WHEN c.parent_id = 0 THEN c.id ELSE c.parent_id END)"
/* Goes (again) to the device in a session other than ?2. */
#define TO_SEND(t) "(" t ".state = 0 OR (" t ".state = 1 AND " t ".session_id <> ?2))"

static const dm_sq_query_t q_dev_pending = {
    SQ_CMD_DEV_PENDING, "SELECT (SELECT count(*) FROM devices WHERE device_id = ?1),"
                        " (SELECT count(*) FROM commands WHERE device_id = ?1"
                        " AND state IN " OPEN_STATES ")"};
static const dm_sq_query_t q_parent = {SQ_CMD_PARENT,
                                       "SELECT device_id, kind, state FROM commands WHERE id = ?1"};
static const dm_sq_query_t q_insert = {
    SQ_CMD_INSERT, "INSERT INTO commands (device_id, parent_id, kind, target, source, data, format,"
                   " mime, correlator, expires, queued_by, queued_at)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"};
/* Anything to expire or to send: the common answer, an empty queue, in
 * one lookup of commands_queue, with no write and no sort. */
static const dm_sq_query_t q_any = {SQ_CMD_ANY,
                                    "SELECT EXISTS (SELECT 1 FROM commands WHERE device_id = ?1"
                                    " AND state IN (0, 1))"};
/* Never sent and past its expiry, or a member of a group that is. */
static const dm_sq_query_t q_expire = {
    SQ_CMD_EXPIRE, "UPDATE commands SET state = 5, done_at = ?2 WHERE device_id = ?1 AND state = 0"
                   " AND (expires BETWEEN 1 AND ?2 - 1 OR (parent_id <> 0 AND EXISTS (SELECT 1"
                   " FROM commands g WHERE g.id = commands.parent_id AND g.state IN (0, 5)"
                   " AND g.expires BETWEEN 1 AND ?2 - 1)))"};
/* Top-level commands to send, and the unfinished members of the
 * groups among them. */
static const dm_sq_query_t q_pending = {
    SQ_CMD_PENDING,
    "SELECT " CMD_COLS ", " GROUP_KEY " FROM commands c WHERE c.device_id = ?1"
    " AND c.state IN (0, 1) AND ((c.parent_id = 0 AND " TO_SEND(
        "c") ")"
             " OR (c.parent_id <> 0 AND EXISTS (SELECT 1 FROM commands g"
             " WHERE g.id = c.parent_id AND " TO_SEND("g") ")))"
                                                           " AND (" GROUP_KEY
                                                           ", c.id) > (?3, ?4) ORDER BY " GROUP_KEY
                                                           ", c.id LIMIT ?5"};
static const dm_sq_query_t q_sent = {SQ_CMD_SENT,
                                     "UPDATE commands SET state = 1, session_id = ?2, sent_at = ?3,"
                                     " attempts = attempts + 1 WHERE id = ?1 AND state IN (0, 1)"};
static const dm_sq_query_t q_state = {SQ_CMD_STATE, "SELECT state FROM commands WHERE id = ?1"};
/* The once-only rule: only the UPDATE that finds it "sent" records. */
static const dm_sq_query_t q_done = {
    SQ_CMD_DONE, "UPDATE commands SET status = ?2, result = ?3, result_format = ?4,"
                 " result_mime = ?5, state = CASE WHEN kind = 'exec' AND ?2 = 202 THEN 2"
                 " WHEN ?2 BETWEEN 200 AND 299 THEN 3 ELSE 4 END,"
                 " done_at = CASE WHEN kind = 'exec' AND ?2 = 202 THEN 0 ELSE ?6 END"
                 " WHERE id = ?1 AND state = 1"};
static const dm_sq_query_t q_outcome = {
    SQ_CMD_OUTCOME, "UPDATE commands SET outcome = ?3, state = CASE WHEN ?3 BETWEEN 200 AND 299"
                    " THEN 3 ELSE 4 END, done_at = ?4 WHERE id = (SELECT id FROM commands"
                    " WHERE device_id = ?1 AND correlator = ?2 AND state IN (1, 2)"
                    " ORDER BY id LIMIT 1)"};
static const dm_sq_query_t q_cancel = {SQ_CMD_CANCEL,
                                       "UPDATE commands SET state = 6, done_at = ?2 WHERE id = ?1"
                                       " AND state IN " OPEN_STATES};
static const dm_sq_query_t q_cancel_members = {
    SQ_CMD_CANCEL_MEMBERS, "UPDATE commands SET state = 6, done_at = ?2 WHERE parent_id = ?1"
                           " AND state IN " OPEN_STATES};
static const dm_sq_query_t q_get = {SQ_CMD_GET,
                                    "SELECT " CMD_COLS " FROM commands c WHERE id = ?1"};
static const dm_sq_query_t q_list_asc = {
    SQ_CMD_LIST_ASC, "SELECT " CMD_COLS " FROM commands c WHERE (?1 IS NULL OR device_id = ?1)"
                     " AND ((1 << state) & ?2) <> 0 AND id > ?3 ORDER BY id LIMIT ?4 OFFSET ?5"};
static const dm_sq_query_t q_list_desc = {
    SQ_CMD_LIST_DESC, "SELECT " CMD_COLS " FROM commands c WHERE (?1 IS NULL OR device_id = ?1)"
                      " AND ((1 << state) & ?2) <> 0 AND id < ?3 ORDER BY id DESC"
                      " LIMIT ?4 OFFSET ?5"};

/* A blob column into a malloc'd buffer (NUL-terminated for text users);
 * *has 0 for NULL. */
static int col_buf(sqlite3_stmt *s, int i, uint8_t **out, size_t *len, int *has)
{
    *out = NULL;
    *len = 0;
    *has = 0;
    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return DMSEC_OK;
    const void *p = sqlite3_column_blob(s, i);
    int n = sqlite3_column_bytes(s, i);
    if (n > 0 && !p)
        return DMSEC_ERR_NO_MEMORY;
    size_t sz = n > 0 ? (size_t)n : 0;
    uint8_t *b = malloc(sz + 1);
    if (!b)
        return DMSEC_ERR_NO_MEMORY;
    if (sz)
        memcpy(b, p, sz);
    b[sz] = 0;
    *out = b;
    *len = sz;
    *has = 1;
    return DMSEC_OK;
}

/* Reads CMD_COLS of the current row; out is cleared on error. */
static int col_cmd(sqlite3_stmt *s, dmsec_store_cmd_t *out)
{
    memset(out, 0, sizeof *out);
    char kind[16];
    sqlite3_int64 state = sqlite3_column_int64(s, 13);
    out->id = sqlite3_column_int64(s, 0);
    out->parent_id = sqlite3_column_int64(s, 1);
    int rc = dm_sq_col_text(s, 2, out->device_id, sizeof out->device_id, 1);
    if (!rc)
        rc = dm_sq_col_text(s, 3, kind, sizeof kind, 1);
    if (!rc)
        rc = dmsec_cmd_kind_parse(kind, &out->kind) ? DMSEC_ERR_STORE_CORRUPT : DMSEC_OK;
    if (!rc && (state < 0 || (size_t)state >= DM_STORE_CMD_STATES))
        rc = DMSEC_ERR_STORE_CORRUPT;
    if (!rc)
        rc = dm_sq_col_text(s, 4, out->target, sizeof out->target, 1);
    if (!rc)
        rc = dm_sq_col_text(s, 5, out->source, sizeof out->source, 1);
    if (!rc)
        rc = col_buf(s, 6, &out->data, &out->data_len, &out->has_data);
    if (!rc)
        rc = dm_sq_col_text(s, 7, out->format, sizeof out->format, 0);
    if (!rc)
        rc = dm_sq_col_text(s, 8, out->mime, sizeof out->mime, 0);
    if (!rc)
        rc = dm_sq_col_text(s, 9, out->correlator, sizeof out->correlator, 1);
    out->expires = sqlite3_column_int64(s, 10);
    if (!rc)
        rc = dm_sq_col_text(s, 11, out->queued_by, sizeof out->queued_by, 0);
    out->queued_at = sqlite3_column_int64(s, 12);
    out->state = (dmsec_cmd_state_t)state;
    if (!rc)
        rc = dm_sq_col_text(s, 14, out->session_id, sizeof out->session_id, 0);
    out->sent_at = sqlite3_column_int64(s, 15);
    out->attempts = (int)sqlite3_column_int(s, 16);
    out->status = (int)sqlite3_column_int(s, 17);
    if (!rc)
        rc = col_buf(s, 18, &out->result, &out->result_len, &out->has_result);
    if (!rc)
        rc = dm_sq_col_text(s, 19, out->result_format, sizeof out->result_format, 0);
    if (!rc)
        rc = dm_sq_col_text(s, 20, out->result_mime, sizeof out->result_mime, 0);
    out->outcome = (int)sqlite3_column_int(s, 21);
    out->done_at = sqlite3_column_int64(s, 22);
    if (rc)
        dmsec_store_cmd_clear(out);
    return rc;
}

/* The device is known and has room; a member's group is the device's and
 * still queued. Inside the caller's transaction. */
static int queue_checks(dmsec_store_t *st, const dmsec_store_cmd_t *c)
{
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, &q_dev_pending, &s);
    if (rc)
        return rc;
    rc = dm_sq_step_row(s, dm_sq_bind_str(s, 1, c->device_id));
    if (!rc) {
        if (sqlite3_column_int64(s, 0) == 0)
            rc = DMSEC_ERR_STORE_NOT_FOUND;
        else if (sqlite3_column_int64(s, 1) >= DMSEC_STORE_CMD_MAX_PENDING)
            rc = DMSEC_ERR_STORE_FULL;
    }
    dm_sq_done(s);
    if (rc || !c->parent_id)
        return rc;
    rc = dm_sq_stmt(st, &q_parent, &s);
    if (rc)
        return rc;
    rc = dm_sq_step_row(s, dm_sq_bind_i64(s, 1, c->parent_id));
    if (rc == DMSEC_ERR_STORE_NOT_FOUND)
        rc = DMSEC_ERR_INVALID_ARG;
    if (!rc) {
        char dev[DMSEC_STORE_ID_MAX];
        char kind[16];
        dmsec_cmd_type_t k;
        rc = dm_sq_col_text(s, 0, dev, sizeof dev, 1);
        if (!rc)
            rc = dm_sq_col_text(s, 1, kind, sizeof kind, 1);
        if (!rc &&
            (strcmp(dev, c->device_id) || dmsec_cmd_kind_parse(kind, &k) || !dm_store_is_group(k)))
            rc = DMSEC_ERR_INVALID_ARG;
        if (!rc && sqlite3_column_int64(s, 2) != DMSEC_CMDST_QUEUED)
            rc = DMSEC_ERR_STORE_STATE;
    }
    dm_sq_done(s);
    return rc;
}

static int queue_insert(dmsec_store_t *st, const dmsec_store_cmd_t *c, int64_t now, int64_t *id)
{
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, &q_insert, &s);
    if (rc)
        return rc;
    rc = dm_sq_bind_str(s, 1, c->device_id);
    if (!rc)
        rc = dm_sq_bind_i64(s, 2, c->parent_id);
    if (!rc)
        rc = dm_sq_bind_str(s, 3, dmsec_cmd_kind_name(c->kind));
    if (!rc)
        rc = dm_sq_bind_str(s, 4, c->target);
    if (!rc)
        rc = dm_sq_bind_str(s, 5, c->source);
    if (!rc && c->has_data)
        rc = dm_sq_bind_blob(s, 6, c->data, c->data_len);
    if (!rc)
        rc = dm_sq_bind_str(s, 7, c->format);
    if (!rc)
        rc = dm_sq_bind_str(s, 8, c->mime);
    if (!rc)
        rc = dm_sq_bind_str(s, 9, c->correlator);
    if (!rc)
        rc = dm_sq_bind_i64(s, 10, c->expires);
    if (!rc)
        rc = dm_sq_bind_str(s, 11, c->queued_by);
    if (!rc)
        rc = dm_sq_bind_i64(s, 12, now);
    rc = dm_sq_write_bound(st, s, rc);
    if (!rc)
        *id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

int dmsec_store_cmd_queue(dmsec_store_t *st, const dmsec_store_cmd_t *cmd, int64_t now, int64_t *id)
{
    if (!st || !cmd || !id)
        return DMSEC_ERR_INVALID_ARG;
    int rc = dm_store_cmd_valid(cmd, now);
    if (rc)
        return rc;
    rc = dmsec_store_begin(st);
    if (rc)
        return rc;
    int64_t got = 0;
    rc = queue_checks(st, cmd);
    if (!rc)
        rc = queue_insert(st, cmd, now, &got);
    rc = dm_store_tx_end(st, rc);
    if (!rc)
        *id = got;
    return rc;
}

/* A batch of commands read by dm_sq_read_rows; the query's extra
 * column key_col (when >= 0) goes to keys. */
typedef struct {
    dmsec_store_cmd_t *batch;
    int key_col;
    int64_t *keys;
} cmd_rows_t;

static int read_cmd(void *ctx, sqlite3_stmt *s, size_t i)
{
    cmd_rows_t *r = ctx;
    int rc = col_cmd(s, &r->batch[i]);
    if (!rc && r->key_col >= 0)
        r->keys[i] = sqlite3_column_int64(s, r->key_col);
    return rc;
}

/* Calls fn for each command of the batch until one stops (*stop) or fails;
 * clears them all. */
static int call_cmds(dmsec_store_cmd_t *batch, size_t n, int rc, int *stop,
                     int (*fn)(void *ctx, const dmsec_store_cmd_t *c), void *ctx)
{
    for (size_t i = 0; i < n; i++) {
        if (!rc && !*stop)
            rc = dm_store_cb_rc(fn(ctx, &batch[i]), stop);
        dmsec_store_cmd_clear(&batch[i]);
    }
    return rc;
}

static int expire_due(dmsec_store_t *st, const char *device_id, int64_t now)
{
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, &q_expire, &s);
    if (rc)
        return rc;
    rc = dm_sq_bind_str(s, 1, device_id);
    if (!rc)
        rc = dm_sq_bind_i64(s, 2, now);
    return dm_sq_write_bound(st, s, rc);
}

/* Whether the device has commands not yet sent or sent and unanswered
 * (states 0 and 1): the only ones expire_due and q_pending touch. */
static int queue_open(dmsec_store_t *st, const char *device_id, int *any)
{
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, &q_any, &s);
    if (rc)
        return rc;
    rc = dm_sq_step_row(s, dm_sq_bind_str(s, 1, device_id));
    if (!rc)
        *any = sqlite3_column_int(s, 0);
    dm_sq_done(s);
    return rc;
}

int dmsec_store_cmd_pending(dmsec_store_t *st, const char *device_id, const char *session_id,
                            int64_t now, int (*fn)(void *ctx, const dmsec_store_cmd_t *c),
                            void *ctx)
{
    if (!st || !dm_store_id_ok(device_id) || !session_id || !fn)
        return DMSEC_ERR_INVALID_ARG;
    int any = 0;
    int rc = queue_open(st, device_id, &any);
    if (rc || !any)
        return rc;
    rc = expire_due(st, device_id, now);
    if (rc)
        return rc;
    dmsec_store_cmd_t batch[CMD_BATCH];
    int64_t keys[CMD_BATCH];
    int64_t last_key = 0;
    int64_t last_id = 0;
    int stop = 0;
    while (!rc && !stop) {
        sqlite3_stmt *s = NULL;
        size_t n = 0;
        rc = dm_sq_stmt(st, &q_pending, &s);
        if (rc)
            break;
        rc = dm_sq_bind_str(s, 1, device_id);
        if (!rc)
            rc = dm_sq_bind_str(s, 2, session_id);
        if (!rc)
            rc = dm_sq_bind_i64(s, 3, last_key);
        if (!rc)
            rc = dm_sq_bind_i64(s, 4, last_id);
        if (!rc)
            rc = dm_sq_bind_i64(s, 5, CMD_BATCH);
        cmd_rows_t rows = {batch, 23, keys};
        rc = dm_sq_read_rows(s, rc, CMD_BATCH, &n, read_cmd, &rows);
        if (n) {
            last_key = keys[n - 1];
            last_id = batch[n - 1].id;
        }
        rc = call_cmds(batch, n, rc, &stop, fn, ctx);
        if (n < CMD_BATCH)
            break;
    }
    return rc;
}

/* What a write that changed no row means: the command is missing, or not
 * in a state that allows it. */
static int state_of(dmsec_store_t *st, int64_t id, int *state)
{
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, &q_state, &s);
    if (rc)
        return rc;
    rc = dm_sq_step_row(s, dm_sq_bind_i64(s, 1, id));
    if (!rc)
        *state = sqlite3_column_int(s, 0);
    dm_sq_done(s);
    return rc;
}

int dmsec_store_cmd_sent(dmsec_store_t *st, int64_t id, const char *session_id, int64_t now)
{
    if (!st || !session_id ||
        !dm_store_text_ok(session_id, FIELD_SIZE(dmsec_store_cmd_t, session_id)))
        return DMSEC_ERR_INVALID_ARG;
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, &q_sent, &s);
    if (rc)
        return rc;
    rc = dm_sq_bind_i64(s, 1, id);
    if (!rc)
        rc = dm_sq_bind_str(s, 2, session_id);
    if (!rc)
        rc = dm_sq_bind_i64(s, 3, now);
    rc = dm_sq_write_bound(st, s, rc);
    if (!rc && sqlite3_changes(st->db) == 0) {
        int state = 0;
        rc = state_of(st, id, &state);
        if (!rc)
            rc = DMSEC_ERR_STORE_STATE;
    }
    return rc;
}

int dmsec_store_cmd_done(dmsec_store_t *st, int64_t id, int status, const uint8_t *result,
                         size_t result_len, const char *result_format, const char *result_mime,
                         int64_t now)
{
    if (!st || (result_len && !result))
        return DMSEC_ERR_INVALID_ARG;
    if (result && result_len > DMSEC_STORE_VALUE_MAX)
        return DMSEC_ERR_TOO_LARGE;
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, &q_done, &s);
    if (rc)
        return rc;
    rc = dm_sq_bind_i64(s, 1, id);
    if (!rc)
        rc = dm_sq_bind_i64(s, 2, status);
    if (!rc && result)
        rc = dm_sq_bind_blob(s, 3, result, result_len);
    if (!rc)
        rc = dm_sq_bind_fit(s, 4, result_format, FIELD_SIZE(dmsec_store_cmd_t, result_format));
    if (!rc)
        rc = dm_sq_bind_fit(s, 5, result_mime, FIELD_SIZE(dmsec_store_cmd_t, result_mime));
    if (!rc)
        rc = dm_sq_bind_i64(s, 6, now);
    rc = dm_sq_write_bound(st, s, rc);
    if (rc)
        return rc;
    if (sqlite3_changes(st->db) == 1)
        return 1;
    int state = 0;
    rc = state_of(st, id, &state);
    return rc ? rc : 0;
}

int dmsec_store_cmd_outcome(dmsec_store_t *st, const char *device_id, const char *correlator,
                            int code, int64_t now)
{
    if (!st || !device_id || !correlator)
        return DMSEC_ERR_INVALID_ARG;
    /* An empty correlator names no command; neither does one too long. */
    if (!correlator[0] ||
        !dm_store_str_fits(correlator, FIELD_SIZE(dmsec_store_cmd_t, correlator)) ||
        !dm_store_id_ok(device_id))
        return 0;
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, &q_outcome, &s);
    if (rc)
        return rc;
    rc = dm_sq_bind_str(s, 1, device_id);
    if (!rc)
        rc = dm_sq_bind_str(s, 2, correlator);
    if (!rc)
        rc = dm_sq_bind_i64(s, 3, code);
    if (!rc)
        rc = dm_sq_bind_i64(s, 4, now);
    rc = dm_sq_write_bound(st, s, rc);
    return rc ? rc : sqlite3_changes(st->db) == 1;
}

int dmsec_store_cmd_get(dmsec_store_t *st, int64_t id, dmsec_store_cmd_t *out)
{
    if (!st || !out)
        return DMSEC_ERR_INVALID_ARG;
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, &q_get, &s);
    if (rc)
        return rc;
    rc = dm_sq_step_row(s, dm_sq_bind_i64(s, 1, id));
    if (!rc)
        rc = col_cmd(s, out);
    dm_sq_done(s);
    return rc;
}

static int cancel_run(dmsec_store_t *st, const dm_sq_query_t *q, int64_t id, int64_t now)
{
    sqlite3_stmt *s = NULL;
    int rc = dm_sq_stmt(st, q, &s);
    if (rc)
        return rc;
    rc = dm_sq_bind_i64(s, 1, id);
    if (!rc)
        rc = dm_sq_bind_i64(s, 2, now);
    return dm_sq_write_bound(st, s, rc);
}

int dmsec_store_cmd_cancel(dmsec_store_t *st, int64_t id, int64_t now)
{
    if (!st)
        return DMSEC_ERR_INVALID_ARG;
    int rc = dmsec_store_begin(st);
    if (rc)
        return rc;
    rc = cancel_run(st, &q_cancel, id, now);
    if (!rc && sqlite3_changes(st->db) == 0) {
        int state = 0;
        rc = state_of(st, id, &state);
        if (!rc)
            rc = DMSEC_ERR_STORE_STATE;
    }
    if (!rc)
        rc = cancel_run(st, &q_cancel_members, id, now);
    return dm_store_tx_end(st, rc);
}

int dmsec_store_cmd_list(dmsec_store_t *st, const dmsec_cmd_filter_t *f,
                         int (*fn)(void *ctx, const dmsec_store_cmd_t *c), void *ctx)
{
    unsigned states = 0;
    if (!st || !f || !fn || dm_store_cmd_filter_states(f, &states))
        return DMSEC_ERR_INVALID_ARG;
    const dm_sq_query_t *q = f->newest_first ? &q_list_desc : &q_list_asc;
    int64_t last = f->newest_first ? INT64_MAX : 0;
    size_t offset = f->offset;
    size_t left = f->limit ? f->limit : SIZE_MAX;
    dmsec_store_cmd_t batch[CMD_BATCH];
    int rc = DMSEC_OK;
    int stop = 0;
    while (!rc && !stop && left) {
        size_t want = left < CMD_BATCH ? left : CMD_BATCH;
        sqlite3_stmt *s = NULL;
        size_t n = 0;
        rc = dm_sq_stmt(st, q, &s);
        if (rc)
            break;
        if (f->device_id)
            rc = dm_sq_bind_str(s, 1, f->device_id);
        if (!rc)
            rc = dm_sq_bind_i64(s, 2, states);
        if (!rc)
            rc = dm_sq_bind_i64(s, 3, last);
        if (!rc)
            rc = dm_sq_bind_i64(s, 4, (int64_t)want);
        /* The offset skips rows of the first batch; later ones go on from
         * the last id read. */
        if (!rc)
            rc = dm_sq_bind_i64(s, 5, dm_store_size_i64(offset));
        offset = 0;
        cmd_rows_t rows = {batch, -1, NULL};
        rc = dm_sq_read_rows(s, rc, want, &n, read_cmd, &rows);
        if (n)
            last = batch[n - 1].id;
        rc = call_cmds(batch, n, rc, &stop, fn, ctx);
        left -= n;
        if (n < want)
            break;
    }
    return rc;
}

/* Queues one member of the FUMO Sequence (inside its transaction). */
static int fumo_member(dmsec_store_t *st, dmsec_store_cmd_t *c, const char *node,
                       const char *suffix, const char *value, int64_t now, int64_t *id)
{
    int n = snprintf(c->target, sizeof c->target, "%s/%s", node, suffix);
    if (n < 0 || (size_t)n >= sizeof c->target)
        return DMSEC_ERR_INVALID_ARG;
    c->data = (uint8_t *)value;
    c->data_len = value ? strlen(value) : 0;
    c->has_data = value != NULL;
    int rc = dm_store_cmd_valid(c, now);
    if (!rc)
        rc = queue_checks(st, c);
    if (!rc)
        rc = queue_insert(st, c, now, id);
    return rc;
}

int dmsec_store_fumo_queue(dmsec_store_t *st, const char *device_id, const char *node,
                           const char *url, const char *sha256, int64_t size, const char *queued_by,
                           int64_t expires, int64_t now, int64_t *exec_id)
{
    char hex[65];
    if (!st || !exec_id || dm_store_fumo_args(device_id, &node, url, sha256, size, hex))
        return DMSEC_ERR_INVALID_ARG;
    char size_text[24];
    snprintf(size_text, sizeof size_text, "%" PRId64, size);

    dmsec_store_cmd_t *c = calloc(1, sizeof *c);
    if (!c)
        return DMSEC_ERR_NO_MEMORY;
    memcpy(c->device_id, device_id, strlen(device_id) + 1);
    if (queued_by && !dm_store_str_fits(queued_by, sizeof c->queued_by)) {
        free(c);
        return DMSEC_ERR_INVALID_ARG;
    }
    if (queued_by)
        memcpy(c->queued_by, queued_by, strlen(queued_by) + 1);
    c->expires = expires;
    c->kind = DMSEC_CMD_SEQUENCE;
    int rc = dm_store_cmd_valid(c, now);
    if (!rc)
        rc = dmsec_store_begin(st);
    if (rc) {
        free(c);
        return rc;
    }
    int64_t seq = 0;
    int64_t id = 0;
    rc = queue_checks(st, c);
    if (!rc)
        rc = queue_insert(st, c, now, &seq);
    c->parent_id = seq;
    c->kind = DMSEC_CMD_REPLACE;
    memcpy(c->format, "chr", 4);
    if (!rc)
        rc = fumo_member(st, c, node, "Ext/dmsec/SHA256", hex, now, &id);
    if (!rc && size > 0) {
        memcpy(c->format, "int", 4);
        rc = fumo_member(st, c, node, "Ext/dmsec/Size", size_text, now, &id);
    }
    memcpy(c->format, "chr", 4);
    if (!rc)
        rc = fumo_member(st, c, node, "DownloadAndUpdate/PkgURL", url, now, &id);
    c->kind = DMSEC_CMD_EXEC;
    c->format[0] = '\0';
    snprintf(c->correlator, sizeof c->correlator, "fumo-%" PRId64, seq);
    if (!rc)
        rc = fumo_member(st, c, node, "DownloadAndUpdate", NULL, now, &id);
    free(c); /* its data pointed at the caller's strings and ours */
    rc = dm_store_tx_end(st, rc);
    if (!rc)
        *exec_id = id;
    return rc;
}
