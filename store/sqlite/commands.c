/*
 * mgmt.c - the management half of the store contract (dmsec/store.h): the
 * command queue with its results, the events devices report, their
 * inventory and when they were seen, over the SQLite file of sqlite.c.
 *
 * The rules of sqlite.c hold here too: statements prepared once per handle
 * (dm_store_mstmt), bound parameters only, every statement reset before a
 * function returns, and listings read a batch, reset, and only then call
 * back (a callback may write through the same handle).
 *
 * Exactly-once recording rests on conditional UPDATEs: a Status is
 * recorded only by the UPDATE that finds its command still "sent", an
 * outcome only by the one that finds it "accepted" (or "sent"), so two
 * callers racing, in one process or several, cannot both record one.
 * Functions of several statements (queueing with its bound, cancelling a
 * group, FUMO) run in one transaction of their own (nested as a savepoint
 * in the caller's).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/errors.h"
#include "dmsec/store.h"
#include "store_sqlite.h"

#define CMD_BATCH 8 /* commands carry values of up to 4 MiB each */
#define EVENT_BATCH 32
#define INV_BATCH 16
#define FIELD_SIZE(type, field) sizeof(((type *)0)->field)
#define DEFAULT_FUMO_NODE "./FUMO/dmsec"

enum {
    MQ_DEV_PENDING,
    MQ_PARENT,
    MQ_INSERT,
    MQ_EXPIRE,
    MQ_PENDING,
    MQ_SENT,
    MQ_STATE,
    MQ_DONE,
    MQ_OUTCOME,
    MQ_CANCEL,
    MQ_CANCEL_MEMBERS,
    MQ_GET,
    MQ_LIST_ASC,
    MQ_LIST_DESC,
    MQ_EVENT_ADD,
    MQ_EVENT_LIST,
    MQ_INV_SET,
    MQ_INV_LIST,
    MQ_DEV_EXISTS,
    MQ_SEEN,
    MQ_SEEN_GET,
    MQ_COUNT
};

_Static_assert(MQ_COUNT <= DM_STORE_MGMT_STMTS, "DM_STORE_MGMT_STMTS too small");

#define CMD_COLS                                                                                   \
    "id, parent_id, device_id, kind, target, source, data, format, mime, correlator, expires,"     \
    " queued_by, queued_at, state, session_id, sent_at, attempts, status, result,"                 \
    " result_format, result_mime, outcome, done_at"
#define EV_COLS "id, device_id, at, alert, type, format, source, correlator, data, session_id"
/* Not finished: what counts towards the bound, and what may be cancelled. */
#define OPEN_STATES "(0, 1, 2)"
/* The key that keeps each group's members right after it, in id order. */
#define GROUP_KEY "(CASE WHEN c.parent_id = 0 THEN c.id ELSE c.parent_id END)"
/* Goes (again) to the device in a session other than ?2. */
#define TO_SEND(t) "(" t ".state = 0 OR (" t ".state = 1 AND " t ".session_id <> ?2))"

static const char *const sql_text[MQ_COUNT] = {
    [MQ_DEV_PENDING] = "SELECT (SELECT count(*) FROM devices WHERE device_id = ?1),"
                       " (SELECT count(*) FROM commands WHERE device_id = ?1"
                       " AND state IN " OPEN_STATES ")",
    [MQ_PARENT] = "SELECT device_id, kind, state FROM commands WHERE id = ?1",
    [MQ_INSERT] = "INSERT INTO commands (device_id, parent_id, kind, target, source, data, format,"
                  " mime, correlator, expires, queued_by, queued_at)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    /* Never sent and past its expiry, or a member of a group that is. */
    [MQ_EXPIRE] = "UPDATE commands SET state = 5, done_at = ?2 WHERE device_id = ?1 AND state = 0"
                  " AND (expires BETWEEN 1 AND ?2 - 1 OR (parent_id <> 0 AND EXISTS (SELECT 1"
                  " FROM commands g WHERE g.id = commands.parent_id AND g.state IN (0, 5)"
                  " AND g.expires BETWEEN 1 AND ?2 - 1)))",
    /* Top-level commands to send, and the unfinished members of the
     * groups among them. */
    [MQ_PENDING] = "SELECT " CMD_COLS ", " GROUP_KEY " FROM commands c WHERE c.device_id = ?1"
                   " AND c.state IN (0, 1) AND ((c.parent_id = 0 AND " TO_SEND(
                       "c") ")"
                            " OR (c.parent_id <> 0 AND EXISTS (SELECT 1 FROM commands g"
                            " WHERE g.id = c.parent_id AND " TO_SEND(
                                "g") ")))"
                                     " AND (" GROUP_KEY ", c.id) > (?3, ?4) ORDER BY " GROUP_KEY
                                     ", c.id LIMIT ?5",
    [MQ_SENT] = "UPDATE commands SET state = 1, session_id = ?2, sent_at = ?3,"
                " attempts = attempts + 1 WHERE id = ?1 AND state IN (0, 1)",
    [MQ_STATE] = "SELECT state FROM commands WHERE id = ?1",
    /* The once-only rule: only the UPDATE that finds it "sent" records. */
    [MQ_DONE] = "UPDATE commands SET status = ?2, result = ?3, result_format = ?4,"
                " result_mime = ?5, state = CASE WHEN kind = 'exec' AND ?2 = 202 THEN 2"
                " WHEN ?2 BETWEEN 200 AND 299 THEN 3 ELSE 4 END,"
                " done_at = CASE WHEN kind = 'exec' AND ?2 = 202 THEN 0 ELSE ?6 END"
                " WHERE id = ?1 AND state = 1",
    [MQ_OUTCOME] = "UPDATE commands SET outcome = ?3, state = CASE WHEN ?3 BETWEEN 200 AND 299"
                   " THEN 3 ELSE 4 END, done_at = ?4 WHERE id = (SELECT id FROM commands"
                   " WHERE device_id = ?1 AND correlator = ?2 AND state IN (1, 2)"
                   " ORDER BY id LIMIT 1)",
    [MQ_CANCEL] = "UPDATE commands SET state = 6, done_at = ?2 WHERE id = ?1"
                  " AND state IN " OPEN_STATES,
    [MQ_CANCEL_MEMBERS] = "UPDATE commands SET state = 6, done_at = ?2 WHERE parent_id = ?1"
                          " AND state IN " OPEN_STATES,
    [MQ_GET] = "SELECT " CMD_COLS " FROM commands c WHERE id = ?1",
    [MQ_LIST_ASC] = "SELECT " CMD_COLS " FROM commands c WHERE (?1 IS NULL OR device_id = ?1)"
                    " AND ((1 << state) & ?2) <> 0 AND id > ?3 ORDER BY id LIMIT ?4 OFFSET ?5",
    [MQ_LIST_DESC] = "SELECT " CMD_COLS " FROM commands c WHERE (?1 IS NULL OR device_id = ?1)"
                     " AND ((1 << state) & ?2) <> 0 AND id < ?3 ORDER BY id DESC"
                     " LIMIT ?4 OFFSET ?5",
    [MQ_EVENT_ADD] = "INSERT INTO device_events (device_id, at, alert, type, format, source,"
                     " correlator, data, session_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [MQ_EVENT_LIST] = "SELECT " EV_COLS " FROM device_events WHERE (at, id) < (?1, ?2)"
                      " AND (?4 IS NULL OR device_id = ?4)"
                      " ORDER BY at DESC, id DESC LIMIT ?3 OFFSET ?5",
    [MQ_INV_SET] = "INSERT INTO inventory (device_id, uri, value, updated) VALUES (?1, ?2, ?3, ?4)"
                   " ON CONFLICT (device_id, uri) DO UPDATE SET value = excluded.value,"
                   " updated = excluded.updated",
    [MQ_INV_LIST] = "SELECT uri, value, updated FROM inventory WHERE device_id = ?1 AND uri > ?2"
                    " ORDER BY uri LIMIT ?3",
    [MQ_DEV_EXISTS] = "SELECT 1 FROM devices WHERE device_id = ?1",
    [MQ_SEEN] = "UPDATE devices SET first_seen = CASE WHEN first_seen = 0 THEN ?2"
                " ELSE first_seen END, last_seen = ?2 WHERE device_id = ?1",
    [MQ_SEEN_GET] = "SELECT first_seen, last_seen FROM devices WHERE device_id = ?1",
};

/* ---- names ---- */

static const char *const state_names[] = {
    [DMSEC_CMDST_QUEUED] = "queued",       [DMSEC_CMDST_SENT] = "sent",
    [DMSEC_CMDST_ACCEPTED] = "accepted",   [DMSEC_CMDST_DONE] = "done",
    [DMSEC_CMDST_FAILED] = "failed",       [DMSEC_CMDST_EXPIRED] = "expired",
    [DMSEC_CMDST_CANCELLED] = "cancelled",
};
#define N_STATES (sizeof state_names / sizeof state_names[0])

const char *dmsec_cmd_state_name(dmsec_cmd_state_t st)
{
    if ((unsigned)st >= N_STATES)
        return NULL;
    return state_names[st];
}

int dmsec_cmd_state_parse(const char *name, dmsec_cmd_state_t *out)
{
    if (!name || !out)
        return DMSEC_ERR_INVALID_ARG;
    for (size_t i = 0; i < N_STATES; i++) {
        if (!strcmp(name, state_names[i])) {
            *out = (dmsec_cmd_state_t)i;
            return DMSEC_OK;
        }
    }
    return DMSEC_ERR_INVALID_ARG;
}

static const struct {
    const char *name;
    dmsec_cmd_type_t kind;
} kinds[] = {
    {"get", DMSEC_CMD_GET},       {"replace", DMSEC_CMD_REPLACE},   {"add", DMSEC_CMD_ADD},
    {"delete", DMSEC_CMD_DELETE}, {"exec", DMSEC_CMD_EXEC},         {"copy", DMSEC_CMD_COPY},
    {"atomic", DMSEC_CMD_ATOMIC}, {"sequence", DMSEC_CMD_SEQUENCE},
};
#define N_KINDS (sizeof kinds / sizeof kinds[0])

int dmsec_cmd_kind_parse(const char *name, dmsec_cmd_type_t *out)
{
    if (!name || !out)
        return DMSEC_ERR_INVALID_ARG;
    for (size_t i = 0; i < N_KINDS; i++) {
        if (!strcmp(name, kinds[i].name)) {
            *out = kinds[i].kind;
            return DMSEC_OK;
        }
    }
    return DMSEC_ERR_INVALID_ARG;
}

const char *dmsec_cmd_kind_name(dmsec_cmd_type_t kind)
{
    for (size_t i = 0; i < N_KINDS; i++)
        if (kinds[i].kind == kind)
            return kinds[i].name;
    return NULL;
}

static int is_group(dmsec_cmd_type_t kind)
{
    return kind == DMSEC_CMD_ATOMIC || kind == DMSEC_CMD_SEQUENCE;
}

/* ---- small helpers ---- */

/* No control characters (UTF-8 beyond ASCII is kept as is). */
static int text_ok(const char *s, size_t cap)
{
    if (!dm_store_str_fits(s, cap))
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

/* A TND URI: printable ASCII without spaces, at most
 * DMSEC_STORE_URI_MAX - 1 bytes, "./" or a segment first, no empty, "."
 * (but the first) or ".." segment. */
static int uri_ok(const char *u)
{
    if (!u || !u[0] || !dm_store_str_fits(u, DMSEC_STORE_URI_MAX))
        return 0;
    for (const char *p = u; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return 0;
    const char *seg = u;
    for (int first = 1;; first = 0) {
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        if (n == 0)
            return 0; /* leading, doubled or trailing '/' */
        if (n == 2 && seg[0] == '.' && seg[1] == '.')
            return 0;
        if (n == 1 && seg[0] == '.' && (!first || !end))
            return 0; /* "." alone, or inside */
        if (!end)
            return 1;
        seg = end + 1;
    }
}

static int format_ok(const char *f)
{
    static const char *const formats[] = {"chr", "int",   "bool", "b64",  "bin", "node",
                                          "xml", "float", "date", "time", "null"};
    if (!f[0])
        return 1;
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (!strcmp(f, formats[i]))
            return 1;
    return 0;
}

static int get(dmsec_store_t *st, int q, sqlite3_stmt **s)
{
    return dm_store_mstmt(st, q, sql_text[q], s);
}

/* Runs a bound write (rc: the binds' result) and resets it. */
static int write_bound(dmsec_store_t *st, sqlite3_stmt *s, int rc)
{
    if (rc) {
        dm_store_stmt_done(s);
        return rc;
    }
    return dm_store_write_run(st, s);
}

static int changes(dmsec_store_t *st)
{
    return sqlite3_changes(dm_store_db(st));
}

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

/* ---- commands ---- */

void dmsec_store_cmd_clear(dmsec_store_cmd_t *c)
{
    if (!c)
        return;
    free(c->data);
    free(c->result);
    memset(c, 0, sizeof *c);
}

/* Reads CMD_COLS of the current row; out is cleared on error. */
static int col_cmd(sqlite3_stmt *s, dmsec_store_cmd_t *out)
{
    memset(out, 0, sizeof *out);
    char kind[16];
    sqlite3_int64 state = sqlite3_column_int64(s, 13);
    out->id = sqlite3_column_int64(s, 0);
    out->parent_id = sqlite3_column_int64(s, 1);
    int rc = dm_store_col_text(s, 2, out->device_id, sizeof out->device_id, 1);
    if (!rc)
        rc = dm_store_col_text(s, 3, kind, sizeof kind, 1);
    if (!rc)
        rc = dmsec_cmd_kind_parse(kind, &out->kind) ? DMSEC_ERR_STORE_CORRUPT : DMSEC_OK;
    if (!rc && (state < 0 || (size_t)state >= N_STATES))
        rc = DMSEC_ERR_STORE_CORRUPT;
    if (!rc)
        rc = dm_store_col_text(s, 4, out->target, sizeof out->target, 1);
    if (!rc)
        rc = dm_store_col_text(s, 5, out->source, sizeof out->source, 1);
    if (!rc)
        rc = col_buf(s, 6, &out->data, &out->data_len, &out->has_data);
    if (!rc)
        rc = dm_store_col_text(s, 7, out->format, sizeof out->format, 0);
    if (!rc)
        rc = dm_store_col_text(s, 8, out->mime, sizeof out->mime, 0);
    if (!rc)
        rc = dm_store_col_text(s, 9, out->correlator, sizeof out->correlator, 1);
    out->expires = sqlite3_column_int64(s, 10);
    if (!rc)
        rc = dm_store_col_text(s, 11, out->queued_by, sizeof out->queued_by, 0);
    out->queued_at = sqlite3_column_int64(s, 12);
    out->state = (dmsec_cmd_state_t)state;
    if (!rc)
        rc = dm_store_col_text(s, 14, out->session_id, sizeof out->session_id, 0);
    out->sent_at = sqlite3_column_int64(s, 15);
    out->attempts = (int)sqlite3_column_int(s, 16);
    out->status = (int)sqlite3_column_int(s, 17);
    if (!rc)
        rc = col_buf(s, 18, &out->result, &out->result_len, &out->has_result);
    if (!rc)
        rc = dm_store_col_text(s, 19, out->result_format, sizeof out->result_format, 0);
    if (!rc)
        rc = dm_store_col_text(s, 20, out->result_mime, sizeof out->result_mime, 0);
    out->outcome = (int)sqlite3_column_int(s, 21);
    out->done_at = sqlite3_column_int64(s, 22);
    if (rc)
        dmsec_store_cmd_clear(out);
    return rc;
}

/* The checks of dmsec_store_cmd_queue that need no database. */
static int cmd_valid(const dmsec_store_cmd_t *c, int64_t now)
{
    if (!c->device_id[0] || !dm_store_str_fits(c->device_id, sizeof c->device_id))
        return DMSEC_ERR_INVALID_ARG;
    if (!dmsec_cmd_kind_name(c->kind))
        return DMSEC_ERR_INVALID_ARG;
    if (!dm_store_str_fits(c->target, sizeof c->target) ||
        !dm_store_str_fits(c->source, sizeof c->source))
        return DMSEC_ERR_INVALID_ARG;
    if (is_group(c->kind)) {
        if (c->target[0] || c->source[0] || c->has_data || c->parent_id)
            return DMSEC_ERR_INVALID_ARG; /* a group names nothing, nests in nothing */
    } else {
        if (!uri_ok(c->target))
            return DMSEC_ERR_INVALID_ARG;
        if (c->kind == DMSEC_CMD_COPY ? !uri_ok(c->source) : c->source[0] != '\0')
            return DMSEC_ERR_INVALID_ARG;
    }
    if (c->has_data) {
        if (c->data_len > DMSEC_STORE_VALUE_MAX)
            return DMSEC_ERR_TOO_LARGE;
        if (c->data_len && !c->data)
            return DMSEC_ERR_INVALID_ARG;
    }
    if (!dm_store_str_fits(c->format, sizeof c->format) || !format_ok(c->format))
        return DMSEC_ERR_INVALID_ARG;
    if (!text_ok(c->mime, sizeof c->mime) || !text_ok(c->correlator, sizeof c->correlator) ||
        !text_ok(c->queued_by, sizeof c->queued_by))
        return DMSEC_ERR_INVALID_ARG;
    if (c->expires < 0 || (c->expires && c->expires < now) || c->parent_id < 0)
        return DMSEC_ERR_INVALID_ARG;
    return DMSEC_OK;
}

/* The device is known and has room; a member's group is the device's and
 * still queued. Inside the caller's transaction. */
static int queue_checks(dmsec_store_t *st, const dmsec_store_cmd_t *c)
{
    sqlite3_stmt *s = NULL;
    int rc = get(st, MQ_DEV_PENDING, &s);
    if (rc)
        return rc;
    rc = dm_store_step_row(s, dm_store_bind_str(s, 1, c->device_id));
    if (!rc) {
        if (sqlite3_column_int64(s, 0) == 0)
            rc = DMSEC_ERR_STORE_NOT_FOUND;
        else if (sqlite3_column_int64(s, 1) >= DMSEC_STORE_CMD_MAX_PENDING)
            rc = DMSEC_ERR_STORE_FULL;
    }
    dm_store_stmt_done(s);
    if (rc || !c->parent_id)
        return rc;
    rc = get(st, MQ_PARENT, &s);
    if (rc)
        return rc;
    rc = dm_store_step_row(s, dm_store_bind_i64(s, 1, c->parent_id));
    if (rc == DMSEC_ERR_STORE_NOT_FOUND)
        rc = DMSEC_ERR_INVALID_ARG;
    if (!rc) {
        char dev[DMSEC_STORE_ID_MAX];
        char kind[16];
        dmsec_cmd_type_t k;
        rc = dm_store_col_text(s, 0, dev, sizeof dev, 1);
        if (!rc)
            rc = dm_store_col_text(s, 1, kind, sizeof kind, 1);
        if (!rc && (strcmp(dev, c->device_id) || dmsec_cmd_kind_parse(kind, &k) || !is_group(k)))
            rc = DMSEC_ERR_INVALID_ARG;
        if (!rc && sqlite3_column_int64(s, 2) != DMSEC_CMDST_QUEUED)
            rc = DMSEC_ERR_STORE_STATE;
    }
    dm_store_stmt_done(s);
    return rc;
}

static int queue_insert(dmsec_store_t *st, const dmsec_store_cmd_t *c, int64_t now, int64_t *id)
{
    sqlite3_stmt *s = NULL;
    int rc = get(st, MQ_INSERT, &s);
    if (rc)
        return rc;
    rc = dm_store_bind_str(s, 1, c->device_id);
    if (!rc)
        rc = dm_store_bind_i64(s, 2, c->parent_id);
    if (!rc)
        rc = dm_store_bind_str(s, 3, dmsec_cmd_kind_name(c->kind));
    if (!rc)
        rc = dm_store_bind_str(s, 4, c->target);
    if (!rc)
        rc = dm_store_bind_str(s, 5, c->source);
    if (!rc && c->has_data)
        rc = dm_store_bind_blob(s, 6, c->data, c->data_len);
    if (!rc)
        rc = dm_store_bind_str(s, 7, c->format);
    if (!rc)
        rc = dm_store_bind_str(s, 8, c->mime);
    if (!rc)
        rc = dm_store_bind_str(s, 9, c->correlator);
    if (!rc)
        rc = dm_store_bind_i64(s, 10, c->expires);
    if (!rc)
        rc = dm_store_bind_str(s, 11, c->queued_by);
    if (!rc)
        rc = dm_store_bind_i64(s, 12, now);
    rc = write_bound(st, s, rc);
    if (!rc)
        *id = sqlite3_last_insert_rowid(dm_store_db(st));
    return rc;
}

int dmsec_store_cmd_queue(dmsec_store_t *st, const dmsec_store_cmd_t *cmd, int64_t now, int64_t *id)
{
    if (!st || !cmd || !id)
        return DMSEC_ERR_INVALID_ARG;
    int rc = cmd_valid(cmd, now);
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

/* A batch of commands read by dm_store_read_rows; the query's extra
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
    int rc = get(st, MQ_EXPIRE, &s);
    if (rc)
        return rc;
    rc = dm_store_bind_str(s, 1, device_id);
    if (!rc)
        rc = dm_store_bind_i64(s, 2, now);
    return write_bound(st, s, rc);
}

int dmsec_store_cmd_pending(dmsec_store_t *st, const char *device_id, const char *session_id,
                            int64_t now, int (*fn)(void *ctx, const dmsec_store_cmd_t *c),
                            void *ctx)
{
    if (!st || !dm_store_id_ok(device_id) || !session_id || !fn)
        return DMSEC_ERR_INVALID_ARG;
    int rc = expire_due(st, device_id, now);
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
        rc = get(st, MQ_PENDING, &s);
        if (rc)
            break;
        rc = dm_store_bind_str(s, 1, device_id);
        if (!rc)
            rc = dm_store_bind_str(s, 2, session_id);
        if (!rc)
            rc = dm_store_bind_i64(s, 3, last_key);
        if (!rc)
            rc = dm_store_bind_i64(s, 4, last_id);
        if (!rc)
            rc = dm_store_bind_i64(s, 5, CMD_BATCH);
        cmd_rows_t rows = {batch, 23, keys};
        rc = dm_store_read_rows(s, rc, CMD_BATCH, &n, read_cmd, &rows);
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
    int rc = get(st, MQ_STATE, &s);
    if (rc)
        return rc;
    rc = dm_store_step_row(s, dm_store_bind_i64(s, 1, id));
    if (!rc)
        *state = sqlite3_column_int(s, 0);
    dm_store_stmt_done(s);
    return rc;
}

int dmsec_store_cmd_sent(dmsec_store_t *st, int64_t id, const char *session_id, int64_t now)
{
    if (!st || !session_id || !text_ok(session_id, FIELD_SIZE(dmsec_store_cmd_t, session_id)))
        return DMSEC_ERR_INVALID_ARG;
    sqlite3_stmt *s = NULL;
    int rc = get(st, MQ_SENT, &s);
    if (rc)
        return rc;
    rc = dm_store_bind_i64(s, 1, id);
    if (!rc)
        rc = dm_store_bind_str(s, 2, session_id);
    if (!rc)
        rc = dm_store_bind_i64(s, 3, now);
    rc = write_bound(st, s, rc);
    if (!rc && changes(st) == 0) {
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
    int rc = get(st, MQ_DONE, &s);
    if (rc)
        return rc;
    rc = dm_store_bind_i64(s, 1, id);
    if (!rc)
        rc = dm_store_bind_i64(s, 2, status);
    if (!rc && result)
        rc = dm_store_bind_blob(s, 3, result, result_len);
    if (!rc)
        rc = dm_store_bind_fit(s, 4, result_format, FIELD_SIZE(dmsec_store_cmd_t, result_format));
    if (!rc)
        rc = dm_store_bind_fit(s, 5, result_mime, FIELD_SIZE(dmsec_store_cmd_t, result_mime));
    if (!rc)
        rc = dm_store_bind_i64(s, 6, now);
    rc = write_bound(st, s, rc);
    if (rc)
        return rc;
    if (changes(st) == 1)
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
    int rc = get(st, MQ_OUTCOME, &s);
    if (rc)
        return rc;
    rc = dm_store_bind_str(s, 1, device_id);
    if (!rc)
        rc = dm_store_bind_str(s, 2, correlator);
    if (!rc)
        rc = dm_store_bind_i64(s, 3, code);
    if (!rc)
        rc = dm_store_bind_i64(s, 4, now);
    rc = write_bound(st, s, rc);
    return rc ? rc : changes(st) == 1;
}

int dmsec_store_cmd_get(dmsec_store_t *st, int64_t id, dmsec_store_cmd_t *out)
{
    if (!st || !out)
        return DMSEC_ERR_INVALID_ARG;
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = NULL;
    int rc = get(st, MQ_GET, &s);
    if (rc)
        return rc;
    rc = dm_store_step_row(s, dm_store_bind_i64(s, 1, id));
    if (!rc)
        rc = col_cmd(s, out);
    dm_store_stmt_done(s);
    return rc;
}

static int cancel_run(dmsec_store_t *st, int q, int64_t id, int64_t now)
{
    sqlite3_stmt *s = NULL;
    int rc = get(st, q, &s);
    if (rc)
        return rc;
    rc = dm_store_bind_i64(s, 1, id);
    if (!rc)
        rc = dm_store_bind_i64(s, 2, now);
    return write_bound(st, s, rc);
}

int dmsec_store_cmd_cancel(dmsec_store_t *st, int64_t id, int64_t now)
{
    if (!st)
        return DMSEC_ERR_INVALID_ARG;
    int rc = dmsec_store_begin(st);
    if (rc)
        return rc;
    rc = cancel_run(st, MQ_CANCEL, id, now);
    if (!rc && changes(st) == 0) {
        int state = 0;
        rc = state_of(st, id, &state);
        if (!rc)
            rc = DMSEC_ERR_STORE_STATE;
    }
    if (!rc)
        rc = cancel_run(st, MQ_CANCEL_MEMBERS, id, now);
    return dm_store_tx_end(st, rc);
}

int dmsec_store_cmd_list(dmsec_store_t *st, const dmsec_cmd_filter_t *f,
                         int (*fn)(void *ctx, const dmsec_store_cmd_t *c), void *ctx)
{
    if (!st || !f || !fn || (f->device_id && !dm_store_str_fits(f->device_id, DMSEC_STORE_ID_MAX)))
        return DMSEC_ERR_INVALID_ARG;
    unsigned all = (1u << N_STATES) - 1;
    if (f->states & ~all)
        return DMSEC_ERR_INVALID_ARG;
    unsigned states = f->states ? f->states : all;
    int q = f->newest_first ? MQ_LIST_DESC : MQ_LIST_ASC;
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
        rc = get(st, q, &s);
        if (rc)
            break;
        if (f->device_id)
            rc = dm_store_bind_str(s, 1, f->device_id);
        if (!rc)
            rc = dm_store_bind_i64(s, 2, states);
        if (!rc)
            rc = dm_store_bind_i64(s, 3, last);
        if (!rc)
            rc = dm_store_bind_i64(s, 4, (int64_t)want);
        /* The offset skips rows of the first batch; later ones go on from
         * the last id read. */
        if (!rc)
            rc = dm_store_bind_i64(s, 5, dm_store_size_i64(offset));
        offset = 0;
        cmd_rows_t rows = {batch, -1, NULL};
        rc = dm_store_read_rows(s, rc, want, &n, read_cmd, &rows);
        if (n)
            last = batch[n - 1].id;
        rc = call_cmds(batch, n, rc, &stop, fn, ctx);
        left -= n;
        if (n < want)
            break;
    }
    return rc;
}

/* ---- FUMO ---- */

static int url_ok(const char *url)
{
    size_t skip = 0;
    if (!strncmp(url, "http://", 7))
        skip = 7;
    else if (!strncmp(url, "https://", 8))
        skip = 8;
    if (!skip || !url[skip] || url[skip] == '/' || !dm_store_str_fits(url, DMSEC_STORE_URI_MAX))
        return 0;
    for (const char *p = url; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return 0;
    return 1;
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
    int rc = cmd_valid(c, now);
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
    if (!st || !dm_store_id_ok(device_id) || !url || !sha256 || !exec_id || size < 0)
        return DMSEC_ERR_INVALID_ARG;
    if (!node)
        node = DEFAULT_FUMO_NODE;
    if (!uri_ok(node) || !url_ok(url) || strlen(sha256) != 64)
        return DMSEC_ERR_INVALID_ARG;
    char hex[65];
    for (size_t i = 0; i < 64; i++) {
        if (!isxdigit((unsigned char)sha256[i]))
            return DMSEC_ERR_INVALID_ARG;
        hex[i] = (char)tolower((unsigned char)sha256[i]);
    }
    hex[64] = '\0';
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
    int rc = cmd_valid(c, now);
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

/* ---- device events ---- */

static int event_valid(const dmsec_device_event_t *e)
{
    return dm_store_id_ok(e->device_id) && dm_store_str_fits(e->type, sizeof e->type) &&
           dm_store_str_fits(e->format, sizeof e->format) &&
           dm_store_str_fits(e->source, sizeof e->source) &&
           dm_store_str_fits(e->correlator, sizeof e->correlator) &&
           dm_store_str_fits(e->session_id, sizeof e->session_id);
}

int dmsec_store_event_add(dmsec_store_t *st, const dmsec_device_event_t *e, int64_t *id)
{
    if (!st || !e || !event_valid(e))
        return DMSEC_ERR_INVALID_ARG;
    sqlite3_stmt *s = NULL;
    int rc = get(st, MQ_EVENT_ADD, &s);
    if (rc)
        return rc;
    /* The data may fill its field without a terminator: cut to fit. */
    size_t dlen = dm_store_fit_len(e->data, strnlen(e->data, sizeof e->data), sizeof e->data);
    rc = dm_store_bind_str(s, 1, e->device_id);
    if (!rc)
        rc = dm_store_bind_i64(s, 2, e->at);
    if (!rc)
        rc = dm_store_bind_i64(s, 3, e->alert);
    if (!rc)
        rc = dm_store_bind_str(s, 4, e->type);
    if (!rc)
        rc = dm_store_bind_str(s, 5, e->format);
    if (!rc)
        rc = dm_store_bind_str(s, 6, e->source);
    if (!rc)
        rc = dm_store_bind_str(s, 7, e->correlator);
    if (!rc)
        rc = dm_store_bind_text(s, 8, e->data, dlen);
    if (!rc)
        rc = dm_store_bind_str(s, 9, e->session_id);
    rc = write_bound(st, s, rc);
    if (!rc && id)
        *id = sqlite3_last_insert_rowid(dm_store_db(st));
    return rc;
}

static int col_event(sqlite3_stmt *s, dmsec_device_event_t *e)
{
    memset(e, 0, sizeof *e);
    e->id = sqlite3_column_int64(s, 0);
    int rc = dm_store_col_text(s, 1, e->device_id, sizeof e->device_id, 0);
    e->at = sqlite3_column_int64(s, 2);
    e->alert = sqlite3_column_int(s, 3);
    if (!rc)
        rc = dm_store_col_text(s, 4, e->type, sizeof e->type, 0);
    if (!rc)
        rc = dm_store_col_text(s, 5, e->format, sizeof e->format, 0);
    if (!rc)
        rc = dm_store_col_text(s, 6, e->source, sizeof e->source, 0);
    if (!rc)
        rc = dm_store_col_text(s, 7, e->correlator, sizeof e->correlator, 0);
    if (!rc)
        rc = dm_store_col_text(s, 8, e->data, sizeof e->data, 0);
    if (!rc)
        rc = dm_store_col_text(s, 9, e->session_id, sizeof e->session_id, 0);
    return rc;
}

static int read_event(void *batch, sqlite3_stmt *s, size_t i)
{
    return col_event(s, (dmsec_device_event_t *)batch + i);
}

int dmsec_store_event_list(dmsec_store_t *st, const char *device_id, size_t offset, size_t limit,
                           int (*fn)(void *ctx, const dmsec_device_event_t *e), void *ctx)
{
    if (!st || !fn)
        return DMSEC_ERR_INVALID_ARG;
    dmsec_device_event_t *batch = calloc(EVENT_BATCH, sizeof *batch);
    if (!batch)
        return DMSEC_ERR_NO_MEMORY;
    int64_t last_at = INT64_MAX;
    int64_t last_id = INT64_MAX;
    size_t left = limit ? limit : SIZE_MAX;
    int rc = DMSEC_OK;
    int stop = 0;
    while (!rc && !stop && left) {
        size_t want = left < EVENT_BATCH ? left : EVENT_BATCH;
        sqlite3_stmt *s = NULL;
        size_t n = 0;
        rc = get(st, MQ_EVENT_LIST, &s);
        if (rc)
            break;
        rc = dm_store_bind_i64(s, 1, last_at);
        if (!rc)
            rc = dm_store_bind_i64(s, 2, last_id);
        if (!rc)
            rc = dm_store_bind_i64(s, 3, (int64_t)want);
        if (!rc && device_id)
            rc = dm_store_bind_str(s, 4, device_id);
        if (!rc)
            rc = dm_store_bind_i64(s, 5, dm_store_size_i64(offset));
        offset = 0;
        rc = dm_store_read_rows(s, rc, want, &n, read_event, batch);
        if (n) {
            last_at = batch[n - 1].at;
            last_id = batch[n - 1].id;
        }
        for (size_t i = 0; !rc && !stop && i < n; i++)
            rc = dm_store_cb_rc(fn(ctx, &batch[i]), &stop);
        left -= n;
        if (n < want)
            break;
    }
    free(batch);
    return rc;
}

/* ---- inventory ---- */

int dmsec_store_inventory_set(dmsec_store_t *st, const char *device_id, const char *uri,
                              const char *value, int64_t now)
{
    if (!st || !dm_store_id_ok(device_id) || !uri_ok(uri) || !value)
        return DMSEC_ERR_INVALID_ARG;
    if (strnlen(value, (size_t)DMSEC_STORE_VALUE_MAX + 1) > DMSEC_STORE_VALUE_MAX)
        return DMSEC_ERR_TOO_LARGE;
    sqlite3_stmt *s = NULL;
    int rc = get(st, MQ_INV_SET, &s);
    if (rc)
        return rc;
    rc = dm_store_bind_str(s, 1, device_id);
    if (!rc)
        rc = dm_store_bind_str(s, 2, uri);
    if (!rc)
        rc = dm_store_bind_str(s, 3, value);
    if (!rc)
        rc = dm_store_bind_i64(s, 4, now);
    return write_bound(st, s, rc);
}

static int device_exists(dmsec_store_t *st, const char *device_id)
{
    sqlite3_stmt *s = NULL;
    int rc = get(st, MQ_DEV_EXISTS, &s);
    if (rc)
        return rc;
    rc = dm_store_step_row(s, dm_store_bind_str(s, 1, device_id));
    dm_store_stmt_done(s);
    return rc;
}

typedef struct {
    char uri[DMSEC_STORE_URI_MAX];
    char *value;
    int64_t updated;
} inv_row_t;

static int read_inv(void *batch, sqlite3_stmt *s, size_t i)
{
    inv_row_t *r = (inv_row_t *)batch + i;
    int rc = dm_store_col_text(s, 0, r->uri, sizeof r->uri, 1);
    const unsigned char *v = sqlite3_column_text(s, 1);
    int vlen = sqlite3_column_bytes(s, 1);
    if (!rc && !v)
        rc = DMSEC_ERR_NO_MEMORY;
    if (!rc) {
        r->value = malloc((size_t)vlen + 1);
        if (!r->value)
            rc = DMSEC_ERR_NO_MEMORY;
    }
    if (!rc) {
        memcpy(r->value, v, (size_t)vlen);
        r->value[vlen] = '\0';
        r->updated = sqlite3_column_int64(s, 2);
    }
    return rc;
}

int dmsec_store_inventory_list(dmsec_store_t *st, const char *device_id,
                               int (*fn)(void *ctx, const char *uri, const char *value,
                                         int64_t updated),
                               void *ctx)
{
    if (!st || !device_id || !fn)
        return DMSEC_ERR_INVALID_ARG;
    if (!dm_store_id_ok(device_id))
        return DMSEC_ERR_STORE_NOT_FOUND;
    int rc = device_exists(st, device_id);
    if (rc)
        return rc;
    inv_row_t *batch = calloc(INV_BATCH, sizeof *batch);
    if (!batch)
        return DMSEC_ERR_NO_MEMORY;
    char last[DMSEC_STORE_URI_MAX] = "";
    int stop = 0;
    while (!rc && !stop) {
        sqlite3_stmt *s = NULL;
        size_t n = 0;
        rc = get(st, MQ_INV_LIST, &s);
        if (rc)
            break;
        rc = dm_store_bind_str(s, 1, device_id);
        if (!rc)
            rc = dm_store_bind_str(s, 2, last);
        if (!rc)
            rc = dm_store_bind_i64(s, 3, INV_BATCH);
        rc = dm_store_read_rows(s, rc, INV_BATCH, &n, read_inv, batch);
        if (n)
            memcpy(last, batch[n - 1].uri, sizeof last);
        for (size_t i = 0; i < n; i++) {
            if (!rc && !stop)
                rc = dm_store_cb_rc(fn(ctx, batch[i].uri, batch[i].value, batch[i].updated), &stop);
            free(batch[i].value);
            batch[i].value = NULL;
        }
        if (n < INV_BATCH)
            break;
    }
    free(batch);
    return rc;
}

/* ---- first and last seen ---- */

int dmsec_store_device_seen(dmsec_store_t *st, const char *device_id, int64_t now)
{
    if (!st || !device_id)
        return DMSEC_ERR_INVALID_ARG;
    if (!dm_store_id_ok(device_id))
        return DMSEC_ERR_STORE_NOT_FOUND;
    sqlite3_stmt *s = NULL;
    int rc = get(st, MQ_SEEN, &s);
    if (rc)
        return rc;
    rc = dm_store_bind_str(s, 1, device_id);
    if (!rc)
        rc = dm_store_bind_i64(s, 2, now);
    rc = write_bound(st, s, rc);
    if (!rc && changes(st) == 0)
        rc = DMSEC_ERR_STORE_NOT_FOUND;
    return rc;
}

int dmsec_store_device_seen_get(dmsec_store_t *st, const char *device_id, int64_t *first,
                                int64_t *last)
{
    if (!st || !device_id || !first || !last)
        return DMSEC_ERR_INVALID_ARG;
    if (!dm_store_id_ok(device_id))
        return DMSEC_ERR_STORE_NOT_FOUND;
    sqlite3_stmt *s = NULL;
    int rc = get(st, MQ_SEEN_GET, &s);
    if (rc)
        return rc;
    rc = dm_store_step_row(s, dm_store_bind_str(s, 1, device_id));
    if (!rc) {
        *first = sqlite3_column_int64(s, 0);
        *last = sqlite3_column_int64(s, 1);
    }
    dm_store_stmt_done(s);
    return rc;
}
