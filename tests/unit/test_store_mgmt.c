/* The management half of the SQLite store (dmsec/store.h): the command
 * queue (order, at-least-once delivery, exactly-once recording, expiry,
 * cancel, bounds, groups, FUMO), device events, inventory, first/last seen,
 * paged listings, the migration from schema 2, and a process killed while
 * it writes. Real files in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dmsec/errors.h"
#include "dmsec/session.h"
#include "dmsec/store.h"
#include "store_fixture.h"
#include "store_sqlite.h"

#define NOW 1800000000
#define MAX_SEEN 1100

static void add_device(dmsec_store_t *st, const char *id)
{
    dmsec_device_t d;
    memset(&d, 0, sizeof d);
    snprintf(d.device_id, sizeof d.device_id, "%s", id);
    snprintf(d.client_name, sizeof d.client_name, "user-%s", id);
    d.client_scheme = DMSEC_AUTH_MD5;
    d.server_scheme = DMSEC_AUTH_MD5;
    d.integrity = DMSEC_INTEGRITY_NONE;
    d.created = NOW;
    assert_int_equal(dmsec_store_device_add(st, &d), DMSEC_OK);
}

static void cmd_init(dmsec_store_cmd_t *c, const char *dev, dmsec_cmd_type_t kind,
                     const char *target, const char *value)
{
    memset(c, 0, sizeof *c);
    snprintf(c->device_id, sizeof c->device_id, "%s", dev);
    c->kind = kind;
    snprintf(c->target, sizeof c->target, "%s", target ? target : "");
    if (value) {
        c->data = (uint8_t *)value;
        c->data_len = strlen(value);
        c->has_data = 1;
    }
    snprintf(c->queued_by, sizeof c->queued_by, "cli:test");
}

static int64_t queue(dmsec_store_t *st, const char *dev, dmsec_cmd_type_t kind, const char *target,
                     const char *value)
{
    dmsec_store_cmd_t c;
    cmd_init(&c, dev, kind, target, value);
    int64_t id = 0;
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_OK);
    assert_true(id > 0);
    return id;
}

/* What a listing passed: ids, and copies of the first few commands. */
typedef struct {
    size_t n;
    int64_t ids[MAX_SEEN];
    dmsec_store_cmd_t first[8];
    size_t stop_after; /* 0: never */
} seen_t;

static int on_cmd(void *ctx, const dmsec_store_cmd_t *c)
{
    seen_t *s = ctx;
    assert_true(s->n < MAX_SEEN);
    if (s->n < 8) {
        s->first[s->n] = *c;
        /* Own copies of the borrowed buffers. */
        s->first[s->n].data = NULL;
        s->first[s->n].result = NULL;
        if (c->has_data) {
            s->first[s->n].data = malloc(c->data_len + 1);
            assert_non_null(s->first[s->n].data);
            memcpy(s->first[s->n].data, c->data, c->data_len);
            s->first[s->n].data[c->data_len] = 0;
        }
    }
    s->ids[s->n++] = c->id;
    return s->stop_after && s->n >= s->stop_after;
}

static void seen_clear(seen_t *s)
{
    for (size_t i = 0; i < s->n && i < 8; i++)
        dmsec_store_cmd_clear(&s->first[i]);
    memset(s, 0, sizeof *s);
}

static void pending(dmsec_store_t *st, const char *dev, const char *sid, int64_t now, seen_t *s)
{
    memset(s, 0, sizeof *s);
    assert_int_equal(dmsec_store_cmd_pending(st, dev, sid, now, on_cmd, s), DMSEC_OK);
}

static dmsec_cmd_state_t state_of(dmsec_store_t *st, int64_t id)
{
    dmsec_store_cmd_t c;
    assert_int_equal(dmsec_store_cmd_get(st, id, &c), DMSEC_OK);
    dmsec_cmd_state_t s = c.state;
    dmsec_store_cmd_clear(&c);
    return s;
}

/* ---- names ---- */

static void names(void **state)
{
    (void)state;
    static const char *const st_names[] = {"queued", "sent",    "accepted", "done",
                                           "failed", "expired", "cancelled"};
    for (int i = 0; i < 7; i++) {
        assert_string_equal(dmsec_cmd_state_name((dmsec_cmd_state_t)i), st_names[i]);
        dmsec_cmd_state_t got;
        assert_int_equal(dmsec_cmd_state_parse(st_names[i], &got), DMSEC_OK);
        assert_int_equal(got, i);
    }
    assert_null(dmsec_cmd_state_name((dmsec_cmd_state_t)7));
    dmsec_cmd_state_t st;
    assert_int_equal(dmsec_cmd_state_parse("Queued", &st), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_cmd_state_parse("", &st), DMSEC_ERR_INVALID_ARG);

    static const struct {
        const char *name;
        dmsec_cmd_type_t kind;
    } k[] = {{"get", DMSEC_CMD_GET},       {"replace", DMSEC_CMD_REPLACE},
             {"add", DMSEC_CMD_ADD},       {"delete", DMSEC_CMD_DELETE},
             {"exec", DMSEC_CMD_EXEC},     {"copy", DMSEC_CMD_COPY},
             {"atomic", DMSEC_CMD_ATOMIC}, {"sequence", DMSEC_CMD_SEQUENCE}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        dmsec_cmd_type_t got;
        assert_int_equal(dmsec_cmd_kind_parse(k[i].name, &got), DMSEC_OK);
        assert_int_equal(got, k[i].kind);
        assert_string_equal(dmsec_cmd_kind_name(k[i].kind), k[i].name);
    }
    dmsec_cmd_type_t kind;
    assert_int_equal(dmsec_cmd_kind_parse("status", &kind), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_cmd_kind_parse("GET", &kind), DMSEC_ERR_INVALID_ARG);
    assert_null(dmsec_cmd_kind_name(DMSEC_CMD_STATUS));
    assert_null(dmsec_cmd_kind_name(DMSEC_CMD_ALERT));
}

/* ---- the queue ---- */

static void order_and_redelivery(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("order.db");
    add_device(st, "IMEI:1");
    add_device(st, "IMEI:2");
    dmsec_store_cmd_t c;
    cmd_init(&c, "IMEI:1", DMSEC_CMD_REPLACE, "./Vendor/x/Val", "hello");
    snprintf(c.format, sizeof c.format, "chr");
    snprintf(c.mime, sizeof c.mime, "text/plain");
    int64_t a = 0;
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &a), DMSEC_OK);
    int64_t b = queue(st, "IMEI:1", DMSEC_CMD_GET, "./DevInfo/Man", NULL);
    int64_t other = queue(st, "IMEI:2", DMSEC_CMD_GET, "./DevInfo/Mod", NULL);
    int64_t d = queue(st, "IMEI:1", DMSEC_CMD_DELETE, "Vendor/x", NULL);
    assert_true(a < b && b < d);

    seen_t s;
    pending(st, "IMEI:1", "S1", NOW, &s);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.ids[0], a);
    assert_int_equal(s.ids[1], b);
    assert_int_equal(s.ids[2], d);
    const dmsec_store_cmd_t *f = &s.first[0];
    assert_string_equal(f->device_id, "IMEI:1");
    assert_int_equal(f->kind, DMSEC_CMD_REPLACE);
    assert_string_equal(f->target, "./Vendor/x/Val");
    assert_int_equal(f->has_data, 1);
    assert_int_equal(f->data_len, 5);
    assert_memory_equal(f->data, "hello", 5);
    assert_string_equal(f->format, "chr");
    assert_string_equal(f->mime, "text/plain");
    assert_string_equal(f->queued_by, "cli:test");
    assert_int_equal(f->queued_at, NOW);
    assert_int_equal(f->state, DMSEC_CMDST_QUEUED);
    assert_int_equal(f->attempts, 0);
    assert_int_equal(s.first[1].has_data, 0);
    seen_clear(&s);

    /* Sent in S1: not again in S1, again in the next session. */
    assert_int_equal(dmsec_store_cmd_sent(st, a, "S1", NOW + 1), DMSEC_OK);
    pending(st, "IMEI:1", "S1", NOW + 1, &s);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.ids[0], b);
    seen_clear(&s);
    pending(st, "IMEI:1", "S2", NOW + 2, &s);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.ids[0], a);
    assert_int_equal(s.first[0].state, DMSEC_CMDST_SENT);
    assert_string_equal(s.first[0].session_id, "S1");
    assert_int_equal(s.first[0].sent_at, NOW + 1);
    seen_clear(&s);
    assert_int_equal(dmsec_store_cmd_sent(st, a, "S2", NOW + 3), DMSEC_OK);
    assert_int_equal(dmsec_store_cmd_get(st, a, &c), DMSEC_OK);
    assert_int_equal(c.attempts, 2);
    assert_string_equal(c.session_id, "S2");
    dmsec_store_cmd_clear(&c);

    /* A callback that stops. */
    memset(&s, 0, sizeof s);
    s.stop_after = 1;
    assert_int_equal(dmsec_store_cmd_pending(st, "IMEI:1", "S3", NOW, on_cmd, &s), DMSEC_OK);
    assert_int_equal(s.n, 1);
    seen_clear(&s);

    /* The other device's queue is its own. */
    pending(st, "IMEI:2", "S1", NOW, &s);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.ids[0], other);
    seen_clear(&s);
    pending(st, "IMEI:none", "S1", NOW, &s);
    assert_int_equal(s.n, 0);
    assert_int_equal(dmsec_store_cmd_sent(st, 999999, "S1", NOW), DMSEC_ERR_STORE_NOT_FOUND);
    assert_int_equal(dmsec_store_cmd_get(st, 999999, &c), DMSEC_ERR_STORE_NOT_FOUND);
    dmsec_store_close(st);
}

/* A callback that writes through the same handle: it marks each sent. */
static int mark_sent(void *ctx, const dmsec_store_cmd_t *c)
{
    dmsec_store_t *st = ctx;
    assert_int_equal(dmsec_store_cmd_sent(st, c->id, "SX", NOW), DMSEC_OK);
    return 0;
}

static void pending_callback_writes(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("cbwrite.db");
    add_device(st, "IMEI:1");
    for (int i = 0; i < 20; i++)
        queue(st, "IMEI:1", DMSEC_CMD_GET, "./DevInfo/Man", NULL);
    assert_int_equal(dmsec_store_cmd_pending(st, "IMEI:1", "SX", NOW, mark_sent, st), DMSEC_OK);
    seen_t s;
    pending(st, "IMEI:1", "SX", NOW, &s);
    assert_int_equal(s.n, 0);
    pending(st, "IMEI:1", "SY", NOW, &s);
    assert_int_equal(s.n, 20);
    seen_clear(&s);
    dmsec_store_close(st);
}

static void done_recorded_once(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("done.db");
    add_device(st, "IMEI:1");
    int64_t g = queue(st, "IMEI:1", DMSEC_CMD_GET, "./DevDetail/FwV", NULL);
    /* Not sent yet: a Status changes nothing. */
    assert_int_equal(dmsec_store_cmd_done(st, g, 200, NULL, 0, NULL, NULL, NOW), 0);
    assert_int_equal(state_of(st, g), DMSEC_CMDST_QUEUED);
    assert_int_equal(dmsec_store_cmd_sent(st, g, "S1", NOW), DMSEC_OK);
    static const uint8_t fw[] = "1.2.3";
    assert_int_equal(dmsec_store_cmd_done(st, g, 200, fw, 5, "chr", "text/plain", NOW + 5), 1);
    /* A second Status (a retransmission) is not recorded. */
    assert_int_equal(dmsec_store_cmd_done(st, g, 500, (const uint8_t *)"x", 1, "bin", "", NOW + 9),
                     0);
    dmsec_store_cmd_t c;
    assert_int_equal(dmsec_store_cmd_get(st, g, &c), DMSEC_OK);
    assert_int_equal(c.state, DMSEC_CMDST_DONE);
    assert_int_equal(c.status, 200);
    assert_int_equal(c.has_result, 1);
    assert_int_equal(c.result_len, 5);
    assert_memory_equal(c.result, "1.2.3", 5);
    assert_string_equal(c.result_format, "chr");
    assert_string_equal(c.result_mime, "text/plain");
    assert_int_equal(c.done_at, NOW + 5);
    dmsec_store_cmd_clear(&c);
    /* Finished: no more sending, no cancel. */
    assert_int_equal(dmsec_store_cmd_sent(st, g, "S2", NOW), DMSEC_ERR_STORE_STATE);
    assert_int_equal(dmsec_store_cmd_cancel(st, g, NOW), DMSEC_ERR_STORE_STATE);
    seen_t s;
    pending(st, "IMEI:1", "S2", NOW, &s);
    assert_int_equal(s.n, 0);

    /* Any other status fails it. */
    int64_t r = queue(st, "IMEI:1", DMSEC_CMD_REPLACE, "./x/y", "1");
    assert_int_equal(dmsec_store_cmd_sent(st, r, "S1", NOW), DMSEC_OK);
    assert_int_equal(dmsec_store_cmd_done(st, r, 404, NULL, 0, NULL, NULL, NOW), 1);
    assert_int_equal(state_of(st, r), DMSEC_CMDST_FAILED);
    /* 202 on something else than an Exec is just done. */
    int64_t a = queue(st, "IMEI:1", DMSEC_CMD_ADD, "./x/z", "1");
    assert_int_equal(dmsec_store_cmd_sent(st, a, "S1", NOW), DMSEC_OK);
    assert_int_equal(dmsec_store_cmd_done(st, a, 202, NULL, 0, NULL, NULL, NOW), 1);
    assert_int_equal(state_of(st, a), DMSEC_CMDST_DONE);
    assert_int_equal(dmsec_store_cmd_done(st, 424242, 200, NULL, 0, NULL, NULL, NOW),
                     DMSEC_ERR_STORE_NOT_FOUND);
    assert_int_equal(dmsec_store_cmd_done(st, a, 200, NULL, 5, NULL, NULL, NOW),
                     DMSEC_ERR_INVALID_ARG);

    /* Exec 202: accepted, then its outcome by correlator, once. */
    dmsec_store_cmd_t e;
    cmd_init(&e, "IMEI:1", DMSEC_CMD_EXEC, "./Vendor/Reboot", NULL);
    snprintf(e.correlator, sizeof e.correlator, "corr-1");
    int64_t x = 0;
    assert_int_equal(dmsec_store_cmd_queue(st, &e, NOW, &x), DMSEC_OK);
    assert_int_equal(dmsec_store_cmd_outcome(st, "IMEI:1", "corr-1", 200, NOW), 0); /* queued */
    assert_int_equal(dmsec_store_cmd_sent(st, x, "S1", NOW), DMSEC_OK);
    assert_int_equal(dmsec_store_cmd_done(st, x, 202, NULL, 0, NULL, NULL, NOW), 1);
    assert_int_equal(state_of(st, x), DMSEC_CMDST_ACCEPTED);
    pending(st, "IMEI:1", "S9", NOW, &s);
    assert_int_equal(s.n, 0); /* accepted is not sent again */
    assert_int_equal(dmsec_store_cmd_outcome(st, "IMEI:2", "corr-1", 200, NOW), 0);
    assert_int_equal(dmsec_store_cmd_outcome(st, "IMEI:1", "corr-2", 200, NOW), 0);
    assert_int_equal(dmsec_store_cmd_outcome(st, "IMEI:1", "", 200, NOW), 0);
    assert_int_equal(dmsec_store_cmd_outcome(st, "IMEI:1", "corr-1", 200, NOW + 60), 1);
    assert_int_equal(dmsec_store_cmd_outcome(st, "IMEI:1", "corr-1", 500, NOW + 61), 0);
    assert_int_equal(dmsec_store_cmd_get(st, x, &c), DMSEC_OK);
    assert_int_equal(c.state, DMSEC_CMDST_DONE);
    assert_int_equal(c.status, 202);
    assert_int_equal(c.outcome, 200);
    assert_int_equal(c.done_at, NOW + 60);
    dmsec_store_cmd_clear(&c);

    /* A failed outcome; and an outcome for a command still "sent". */
    snprintf(e.correlator, sizeof e.correlator, "corr-3");
    assert_int_equal(dmsec_store_cmd_queue(st, &e, NOW, &x), DMSEC_OK);
    assert_int_equal(dmsec_store_cmd_sent(st, x, "S1", NOW), DMSEC_OK);
    assert_int_equal(dmsec_store_cmd_outcome(st, "IMEI:1", "corr-3", 410, NOW), 1);
    assert_int_equal(dmsec_store_cmd_get(st, x, &c), DMSEC_OK);
    assert_int_equal(c.state, DMSEC_CMDST_FAILED);
    assert_int_equal(c.outcome, 410);
    dmsec_store_cmd_clear(&c);
    /* Its late Status changes nothing. */
    assert_int_equal(dmsec_store_cmd_done(st, x, 202, NULL, 0, NULL, NULL, NOW), 0);
    assert_int_equal(state_of(st, x), DMSEC_CMDST_FAILED);
    dmsec_store_close(st);
}

/* Several processes answer the same commands at once (a retransmitted
 * Status, a Generic Alert repeated): each outcome is recorded by exactly
 * one of them. */
#define RACERS 4
#define RACE_CMDS 100

static void done_race_processes(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("race.db");
    add_device(st, "IMEI:1");
    int64_t ids[RACE_CMDS];
    assert_int_equal(dmsec_store_begin(st), DMSEC_OK);
    for (int i = 0; i < RACE_CMDS; i++) {
        dmsec_store_cmd_t c;
        cmd_init(&c, "IMEI:1", DMSEC_CMD_EXEC, "./x", NULL);
        snprintf(c.correlator, sizeof c.correlator, "c-%d", i);
        assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &ids[i]), DMSEC_OK);
        assert_int_equal(dmsec_store_cmd_sent(st, ids[i], "S1", NOW), DMSEC_OK);
    }
    assert_int_equal(dmsec_store_commit(st), DMSEC_OK);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pids[RACERS];
    for (int r = 0; r < RACERS; r++) {
        pids[r] = fork();
        assert_true(pids[r] >= 0);
        if (pids[r] == 0) {
            close(fds[0]);
            char path[256];
            path_of("race.db", path, sizeof path);
            dmsec_store_t *cst = NULL;
            if (dmsec_store_open(path, &cst))
                _exit(2);
            int counts[2] = {0, 0};
            for (int i = 0; i < RACE_CMDS; i++) {
                int rc = dmsec_store_cmd_done(cst, ids[i], 202, NULL, 0, NULL, NULL, NOW + r);
                if (rc < 0)
                    _exit(3);
                counts[0] += rc;
                char corr[16];
                snprintf(corr, sizeof corr, "c-%d", i);
                rc = dmsec_store_cmd_outcome(cst, "IMEI:1", corr, 200, NOW + r);
                if (rc < 0)
                    _exit(4);
                counts[1] += rc;
            }
            dmsec_store_close(cst);
            if (write(fds[1], counts, sizeof counts) != (ssize_t)sizeof counts)
                _exit(5);
            _exit(0);
        }
    }
    close(fds[1]);
    int total[2] = {0, 0};
    for (int r = 0; r < RACERS; r++) {
        int status = 0;
        assert_int_equal(waitpid(pids[r], &status, 0), pids[r]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        int counts[2];
        assert_int_equal(read(fds[0], counts, sizeof counts), (ssize_t)sizeof counts);
        total[0] += counts[0];
        total[1] += counts[1];
    }
    close(fds[0]);
    assert_int_equal(total[0], RACE_CMDS);
    assert_int_equal(total[1], RACE_CMDS);
    for (int i = 0; i < RACE_CMDS; i++) {
        dmsec_store_cmd_t c;
        assert_int_equal(dmsec_store_cmd_get(st, ids[i], &c), DMSEC_OK);
        assert_int_equal(c.state, DMSEC_CMDST_DONE);
        assert_int_equal(c.status, 202);
        assert_int_equal(c.outcome, 200);
        dmsec_store_cmd_clear(&c);
    }
    dmsec_store_close(st);
}

static void expiry(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("expiry.db");
    add_device(st, "IMEI:1");
    dmsec_store_cmd_t c;
    cmd_init(&c, "IMEI:1", DMSEC_CMD_GET, "./DevInfo/Man", NULL);
    int64_t id = 0;
    c.expires = NOW - 1;
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);
    c.expires = -5;
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);
    c.expires = NOW + 10;
    int64_t soon = 0;
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &soon), DMSEC_OK);
    int64_t sent = 0;
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &sent), DMSEC_OK);
    int64_t never = queue(st, "IMEI:1", DMSEC_CMD_GET, "./DevInfo/Mod", NULL);
    assert_int_equal(dmsec_store_cmd_sent(st, sent, "S1", NOW), DMSEC_OK);

    seen_t s;
    pending(st, "IMEI:1", "S2", NOW + 10, &s); /* at its expiry: still valid */
    assert_int_equal(s.n, 3);
    seen_clear(&s);
    pending(st, "IMEI:1", "S2", NOW + 11, &s);
    /* The one never sent expired; the sent one goes again. */
    assert_int_equal(s.n, 2);
    assert_int_equal(s.ids[0], sent);
    assert_int_equal(s.ids[1], never);
    seen_clear(&s);
    dmsec_store_cmd_t got;
    assert_int_equal(dmsec_store_cmd_get(st, soon, &got), DMSEC_OK);
    assert_int_equal(got.state, DMSEC_CMDST_EXPIRED);
    assert_int_equal(got.done_at, NOW + 11);
    dmsec_store_cmd_clear(&got);
    assert_int_equal(dmsec_store_cmd_sent(st, soon, "S2", NOW), DMSEC_ERR_STORE_STATE);

    /* A group's expiry takes its members with it. */
    dmsec_store_cmd_t grp;
    cmd_init(&grp, "IMEI:1", DMSEC_CMD_ATOMIC, NULL, NULL);
    grp.expires = NOW + 100;
    int64_t gid = 0;
    assert_int_equal(dmsec_store_cmd_queue(st, &grp, NOW, &gid), DMSEC_OK);
    cmd_init(&c, "IMEI:1", DMSEC_CMD_REPLACE, "./a/b", "1");
    c.parent_id = gid;
    int64_t mid = 0;
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &mid), DMSEC_OK);
    pending(st, "IMEI:1", "S2", NOW + 101, &s);
    assert_int_equal(s.n, 2);
    seen_clear(&s);
    assert_int_equal(state_of(st, gid), DMSEC_CMDST_EXPIRED);
    assert_int_equal(state_of(st, mid), DMSEC_CMDST_EXPIRED);
    dmsec_store_close(st);
}

static void cancel(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("cancel.db");
    add_device(st, "IMEI:1");
    int64_t q = queue(st, "IMEI:1", DMSEC_CMD_GET, "./a", NULL);
    int64_t sent = queue(st, "IMEI:1", DMSEC_CMD_GET, "./b", NULL);
    int64_t keep = queue(st, "IMEI:1", DMSEC_CMD_GET, "./c", NULL);
    assert_int_equal(dmsec_store_cmd_sent(st, sent, "S1", NOW), DMSEC_OK);
    assert_int_equal(dmsec_store_cmd_cancel(st, q, NOW + 1), DMSEC_OK);
    assert_int_equal(dmsec_store_cmd_cancel(st, sent, NOW + 1), DMSEC_OK);
    assert_int_equal(state_of(st, q), DMSEC_CMDST_CANCELLED);
    assert_int_equal(state_of(st, sent), DMSEC_CMDST_CANCELLED);
    assert_int_equal(dmsec_store_cmd_cancel(st, q, NOW), DMSEC_ERR_STORE_STATE);
    assert_int_equal(dmsec_store_cmd_cancel(st, 777777, NOW), DMSEC_ERR_STORE_NOT_FOUND);
    /* Cancelled meanwhile: the engine cannot mark it sent, its Status is
     * not recorded. */
    assert_int_equal(dmsec_store_cmd_sent(st, q, "S2", NOW), DMSEC_ERR_STORE_STATE);
    assert_int_equal(dmsec_store_cmd_done(st, sent, 200, NULL, 0, NULL, NULL, NOW), 0);
    assert_int_equal(state_of(st, sent), DMSEC_CMDST_CANCELLED);
    seen_t s;
    pending(st, "IMEI:1", "S2", NOW, &s);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.ids[0], keep);
    seen_clear(&s);

    /* An accepted Exec can be cancelled; a group with its members. */
    int64_t x = queue(st, "IMEI:1", DMSEC_CMD_EXEC, "./Reboot", NULL);
    assert_int_equal(dmsec_store_cmd_sent(st, x, "S1", NOW), DMSEC_OK);
    assert_int_equal(dmsec_store_cmd_done(st, x, 202, NULL, 0, NULL, NULL, NOW), 1);
    assert_int_equal(dmsec_store_cmd_cancel(st, x, NOW), DMSEC_OK);
    assert_int_equal(state_of(st, x), DMSEC_CMDST_CANCELLED);
    int64_t g = queue(st, "IMEI:1", DMSEC_CMD_SEQUENCE, NULL, NULL);
    dmsec_store_cmd_t c;
    cmd_init(&c, "IMEI:1", DMSEC_CMD_REPLACE, "./m/1", "1");
    c.parent_id = g;
    int64_t m1 = 0;
    int64_t m2 = 0;
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &m1), DMSEC_OK);
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &m2), DMSEC_OK);
    assert_int_equal(dmsec_store_cmd_cancel(st, g, NOW), DMSEC_OK);
    assert_int_equal(state_of(st, g), DMSEC_CMDST_CANCELLED);
    assert_int_equal(state_of(st, m1), DMSEC_CMDST_CANCELLED);
    assert_int_equal(state_of(st, m2), DMSEC_CMDST_CANCELLED);
    assert_int_equal(state_of(st, keep), DMSEC_CMDST_QUEUED);
    dmsec_store_close(st);
}

static void bounds_and_validation(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("bounds.db");
    add_device(st, "IMEI:1");
    add_device(st, "IMEI:2");
    dmsec_store_cmd_t c;
    int64_t id = 0;

    /* Values: 4 MiB fits, one byte more does not. */
    uint8_t *big = malloc(DMSEC_STORE_VALUE_MAX + 1);
    assert_non_null(big);
    memset(big, 'v', DMSEC_STORE_VALUE_MAX + 1);
    cmd_init(&c, "IMEI:1", DMSEC_CMD_REPLACE, "./Big", NULL);
    c.data = big;
    c.has_data = 1;
    c.data_len = DMSEC_STORE_VALUE_MAX + 1;
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_TOO_LARGE);
    c.data_len = DMSEC_STORE_VALUE_MAX;
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_OK);
    dmsec_store_cmd_t got;
    assert_int_equal(dmsec_store_cmd_get(st, id, &got), DMSEC_OK);
    assert_int_equal(got.data_len, DMSEC_STORE_VALUE_MAX);
    assert_memory_equal(got.data, big, DMSEC_STORE_VALUE_MAX);
    dmsec_store_cmd_clear(&got);
    assert_int_equal(dmsec_store_cmd_sent(st, id, "S", NOW), DMSEC_OK);
    assert_int_equal(
        dmsec_store_cmd_done(st, id, 200, big, DMSEC_STORE_VALUE_MAX + 1, NULL, NULL, NOW),
        DMSEC_ERR_TOO_LARGE);
    free(big);
    assert_int_equal(dmsec_store_cmd_cancel(st, id, NOW), DMSEC_OK);

    /* An empty value is a value. */
    cmd_init(&c, "IMEI:1", DMSEC_CMD_REPLACE, "./Empty", "");
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_OK);
    assert_int_equal(dmsec_store_cmd_get(st, id, &got), DMSEC_OK);
    assert_int_equal(got.has_data, 1);
    assert_int_equal(got.data_len, 0);
    dmsec_store_cmd_clear(&got);
    assert_int_equal(dmsec_store_cmd_cancel(st, id, NOW), DMSEC_OK);

    static const char *const bad_uris[] = {
        "",   "/abs",  "./a/../b", "..",   "a/..",  "./a//b",        "./a/",  ".",
        "./", "a/./b", "a b",      "a\tb", "a\x7f", "./caf\xc3\xa9", "./a/.."};
    for (size_t i = 0; i < sizeof bad_uris / sizeof bad_uris[0]; i++) {
        cmd_init(&c, "IMEI:1", DMSEC_CMD_GET, bad_uris[i], NULL);
        assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);
    }
    static const char *const good_uris[] = {"./a", "a", "./DevInfo/Ext/x.y_z-1", "a/b..c/.d"};
    for (size_t i = 0; i < sizeof good_uris / sizeof good_uris[0]; i++) {
        cmd_init(&c, "IMEI:1", DMSEC_CMD_GET, good_uris[i], NULL);
        assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_OK);
        assert_int_equal(dmsec_store_cmd_cancel(st, id, NOW), DMSEC_OK);
    }
    /* The longest URI: 1023 bytes; one more cannot even be stored. */
    cmd_init(&c, "IMEI:1", DMSEC_CMD_GET, "", NULL);
    memset(c.target, 'u', sizeof c.target - 1);
    c.target[sizeof c.target - 1] = '\0';
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_OK);
    assert_int_equal(dmsec_store_cmd_cancel(st, id, NOW), DMSEC_OK);
    c.target[sizeof c.target - 1] = 'u';
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);

    static const char *const formats[] = {"chr", "int",   "bool", "b64",  "bin",  "node",
                                          "xml", "float", "date", "time", "null", ""};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        cmd_init(&c, "IMEI:1", DMSEC_CMD_REPLACE, "./f", "1");
        snprintf(c.format, sizeof c.format, "%s", formats[i]);
        assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_OK);
        assert_int_equal(dmsec_store_cmd_cancel(st, id, NOW), DMSEC_OK);
    }
    static const char *const bad_formats[] = {"CHR", "string", "chr ", "text/plain"};
    for (size_t i = 0; i < sizeof bad_formats / sizeof bad_formats[0]; i++) {
        cmd_init(&c, "IMEI:1", DMSEC_CMD_REPLACE, "./f", "1");
        snprintf(c.format, sizeof c.format, "%s", bad_formats[i]);
        assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);
    }

    /* Copy needs a source; nothing else takes one. */
    cmd_init(&c, "IMEI:1", DMSEC_CMD_COPY, "./to", NULL);
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);
    snprintf(c.source, sizeof c.source, "./from");
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_OK);
    assert_int_equal(dmsec_store_cmd_get(st, id, &got), DMSEC_OK);
    assert_string_equal(got.source, "./from");
    dmsec_store_cmd_clear(&got);
    assert_int_equal(dmsec_store_cmd_cancel(st, id, NOW), DMSEC_OK);
    snprintf(c.source, sizeof c.source, "../from");
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);
    cmd_init(&c, "IMEI:1", DMSEC_CMD_GET, "./to", NULL);
    snprintf(c.source, sizeof c.source, "./from");
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);

    /* Kinds, groups, strings. */
    cmd_init(&c, "IMEI:1", DMSEC_CMD_STATUS, "./a", NULL);
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);
    cmd_init(&c, "IMEI:1", DMSEC_CMD_ATOMIC, "./a", NULL);
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);
    cmd_init(&c, "IMEI:1", DMSEC_CMD_GET, "", NULL);
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);
    cmd_init(&c, "IMEI:1", DMSEC_CMD_GET, "./a", NULL);
    c.has_data = 1;
    c.data_len = 3; /* and no buffer */
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);
    cmd_init(&c, "IMEI:1", DMSEC_CMD_GET, "./a", NULL);
    memset(c.correlator, 'c', sizeof c.correlator); /* no terminator */
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);
    cmd_init(&c, "IMEI:1", DMSEC_CMD_GET, "./a", NULL);
    memset(c.queued_by, 'q', sizeof c.queued_by);
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);
    cmd_init(&c, "IMEI:1", DMSEC_CMD_GET, "./a", NULL);
    memset(c.mime, 'm', sizeof c.mime);
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);
    cmd_init(&c, "IMEI:1", DMSEC_CMD_GET, "./a", NULL);
    snprintf(c.queued_by, sizeof c.queued_by, "cli:a\nb");
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);
    cmd_init(&c, "", DMSEC_CMD_GET, "./a", NULL);
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);
    cmd_init(&c, "IMEI:unknown", DMSEC_CMD_GET, "./a", NULL);
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_STORE_NOT_FOUND);
    assert_int_equal(dmsec_store_cmd_queue(NULL, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_cmd_queue(st, NULL, NOW, &id), DMSEC_ERR_INVALID_ARG);

    /* Members: of a group of the same device, still queued; never groups. */
    int64_t plain = queue(st, "IMEI:1", DMSEC_CMD_GET, "./p", NULL);
    int64_t g1 = queue(st, "IMEI:1", DMSEC_CMD_ATOMIC, NULL, NULL);
    int64_t g2 = queue(st, "IMEI:2", DMSEC_CMD_SEQUENCE, NULL, NULL);
    cmd_init(&c, "IMEI:1", DMSEC_CMD_GET, "./m", NULL);
    c.parent_id = plain;
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);
    c.parent_id = g2;
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);
    c.parent_id = 999999;
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);
    c.parent_id = -1;
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);
    cmd_init(&c, "IMEI:1", DMSEC_CMD_SEQUENCE, NULL, NULL);
    c.parent_id = g1;
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_cmd_sent(st, g1, "S", NOW), DMSEC_OK);
    cmd_init(&c, "IMEI:1", DMSEC_CMD_GET, "./m", NULL);
    c.parent_id = g1;
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_STORE_STATE);

    /* The pending bound: queued, sent and accepted count; finished not. */
    int open = 0;
    dmsec_cmd_filter_t f = {.device_id = "IMEI:1",
                            .states = (1u << DMSEC_CMDST_QUEUED) | (1u << DMSEC_CMDST_SENT) |
                                      (1u << DMSEC_CMDST_ACCEPTED)};
    seen_t s;
    memset(&s, 0, sizeof s);
    assert_int_equal(dmsec_store_cmd_list(st, &f, on_cmd, &s), DMSEC_OK);
    open = (int)s.n;
    seen_clear(&s);
    assert_int_equal(open, 2); /* plain and g1 */
    assert_int_equal(dmsec_store_begin(st), DMSEC_OK);
    int64_t last = 0;
    for (int i = open; i < DMSEC_STORE_CMD_MAX_PENDING; i++)
        last = queue(st, "IMEI:1", DMSEC_CMD_GET, "./n", NULL);
    assert_int_equal(dmsec_store_commit(st), DMSEC_OK);
    cmd_init(&c, "IMEI:1", DMSEC_CMD_GET, "./n", NULL);
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_STORE_FULL);
    /* Sent still counts; accepted still counts; done frees a place. */
    assert_int_equal(dmsec_store_cmd_sent(st, last, "S", NOW), DMSEC_OK);
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_STORE_FULL);
    /* Another device has its own bound. */
    cmd_init(&c, "IMEI:2", DMSEC_CMD_GET, "./n", NULL);
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_OK);
    assert_int_equal(dmsec_store_cmd_done(st, last, 200, NULL, 0, NULL, NULL, NOW), 1);
    cmd_init(&c, "IMEI:1", DMSEC_CMD_GET, "./n", NULL);
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_OK);
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_ERR_STORE_FULL);
    assert_int_equal(dmsec_store_cmd_cancel(st, plain, NOW), DMSEC_OK);
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &id), DMSEC_OK);
    dmsec_store_close(st);
}

static void groups_with_members(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("groups.db");
    add_device(st, "IMEI:1");
    int64_t before = queue(st, "IMEI:1", DMSEC_CMD_GET, "./before", NULL);
    int64_t g = queue(st, "IMEI:1", DMSEC_CMD_ATOMIC, NULL, NULL);
    dmsec_store_cmd_t c;
    cmd_init(&c, "IMEI:1", DMSEC_CMD_REPLACE, "./m/1", "a");
    c.parent_id = g;
    int64_t m1 = 0;
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &m1), DMSEC_OK);
    /* Something else queued before the group's second member. */
    int64_t between = queue(st, "IMEI:1", DMSEC_CMD_GET, "./between", NULL);
    snprintf(c.target, sizeof c.target, "./m/2");
    int64_t m2 = 0;
    assert_int_equal(dmsec_store_cmd_queue(st, &c, NOW, &m2), DMSEC_OK);
    seen_t s;
    pending(st, "IMEI:1", "S1", NOW, &s);
    assert_int_equal(s.n, 5);
    int64_t want[] = {before, g, m1, m2, between};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(s.ids[i], want[i]);
    assert_int_equal(s.first[1].kind, DMSEC_CMD_ATOMIC);
    assert_string_equal(s.first[1].target, "");
    assert_int_equal(s.first[2].parent_id, g);
    assert_int_equal(s.first[3].parent_id, g);
    seen_clear(&s);

    /* The group sent with its members in S1: nothing of it again in S1,
     * all of it in the next session when no Status came. */
    for (size_t i = 1; i < 4; i++)
        assert_int_equal(dmsec_store_cmd_sent(st, want[i], "S1", NOW), DMSEC_OK);
    pending(st, "IMEI:1", "S1", NOW, &s);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.ids[0], before);
    assert_int_equal(s.ids[1], between);
    seen_clear(&s);
    pending(st, "IMEI:1", "S2", NOW, &s);
    assert_int_equal(s.n, 5);
    seen_clear(&s);
    /* Each keeps its own state. */
    assert_int_equal(dmsec_store_cmd_done(st, m1, 200, NULL, 0, NULL, NULL, NOW), 1);
    assert_int_equal(dmsec_store_cmd_done(st, m2, 500, NULL, 0, NULL, NULL, NOW), 1);
    assert_int_equal(dmsec_store_cmd_done(st, g, 507, NULL, 0, NULL, NULL, NOW), 1);
    assert_int_equal(state_of(st, m1), DMSEC_CMDST_DONE);
    assert_int_equal(state_of(st, m2), DMSEC_CMDST_FAILED);
    assert_int_equal(state_of(st, g), DMSEC_CMDST_FAILED);
    pending(st, "IMEI:1", "S3", NOW, &s);
    assert_int_equal(s.n, 2);
    seen_clear(&s);
    dmsec_store_close(st);
}

static void fumo_sequence(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("fumo.db");
    add_device(st, "IMEI:1");
    const char *sha = "0123456789ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef";
    int64_t exec_id = 0;
    assert_int_equal(dmsec_store_fumo_queue(st, "IMEI:1", NULL, "https://fw.example.org/p.bin", sha,
                                            123456, "api:ops", NOW + 3600, NOW, &exec_id),
                     DMSEC_OK);
    seen_t s;
    pending(st, "IMEI:1", "S1", NOW, &s);
    assert_int_equal(s.n, 5);
    const dmsec_store_cmd_t *c = s.first;
    int64_t seq = c[0].id;
    assert_int_equal(c[0].kind, DMSEC_CMD_SEQUENCE);
    assert_int_equal(c[0].expires, NOW + 3600);
    assert_string_equal(c[0].queued_by, "api:ops");
    assert_int_equal(c[1].kind, DMSEC_CMD_REPLACE);
    assert_int_equal(c[1].parent_id, seq);
    assert_string_equal(c[1].target, "./FUMO/dmsec/Ext/dmsec/SHA256");
    assert_string_equal(c[1].format, "chr");
    assert_string_equal((const char *)c[1].data,
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    assert_string_equal(c[2].target, "./FUMO/dmsec/Ext/dmsec/Size");
    assert_string_equal(c[2].format, "int");
    assert_string_equal((const char *)c[2].data, "123456");
    assert_string_equal(c[3].target, "./FUMO/dmsec/DownloadAndUpdate/PkgURL");
    assert_string_equal(c[3].format, "chr");
    assert_string_equal((const char *)c[3].data, "https://fw.example.org/p.bin");
    assert_int_equal(c[4].kind, DMSEC_CMD_EXEC);
    assert_int_equal(c[4].id, exec_id);
    assert_int_equal(c[4].parent_id, seq);
    assert_string_equal(c[4].target, "./FUMO/dmsec/DownloadAndUpdate");
    assert_int_equal(c[4].has_data, 0);
    char corr[64];
    snprintf(corr, sizeof corr, "fumo-%lld", (long long)seq);
    assert_string_equal(c[4].correlator, corr);
    for (size_t i = 1; i < 5; i++)
        assert_int_equal(c[i].expires, NOW + 3600);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(dmsec_store_cmd_sent(st, s.ids[i], "S1", NOW), DMSEC_OK);
    for (size_t i = 1; i < 4; i++)
        assert_int_equal(dmsec_store_cmd_done(st, s.ids[i], 200, NULL, 0, NULL, NULL, NOW), 1);
    seen_clear(&s);
    assert_int_equal(dmsec_store_cmd_done(st, exec_id, 202, NULL, 0, NULL, NULL, NOW), 1);
    assert_int_equal(dmsec_store_cmd_done(st, seq, 200, NULL, 0, NULL, NULL, NOW), 1);
    assert_int_equal(state_of(st, exec_id), DMSEC_CMDST_ACCEPTED);
    assert_int_equal(dmsec_store_cmd_outcome(st, "IMEI:1", corr, 200, NOW + 600), 1);
    assert_int_equal(state_of(st, exec_id), DMSEC_CMDST_DONE);

    /* Another node, no size: three members. */
    assert_int_equal(dmsec_store_fumo_queue(st, "IMEI:1", "./FwUpdate/x", "http://h/p", sha, 0,
                                            NULL, 0, NOW, &exec_id),
                     DMSEC_OK);
    pending(st, "IMEI:1", "S2", NOW, &s);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.first[1].target, "./FwUpdate/x/Ext/dmsec/SHA256");
    assert_string_equal(s.first[2].target, "./FwUpdate/x/DownloadAndUpdate/PkgURL");
    assert_string_equal(s.first[3].target, "./FwUpdate/x/DownloadAndUpdate");
    assert_int_equal(s.first[3].id, exec_id);
    seen_clear(&s);

    /* Refusals queue nothing. */
    static const char *const bad_urls[] = {"ftp://h/p",     "https://",           "http:///p",
                                           "https://h/a b", "file:///etc/passwd", ""};
    for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++)
        assert_int_equal(
            dmsec_store_fumo_queue(st, "IMEI:1", NULL, bad_urls[i], sha, 1, NULL, 0, NOW, &exec_id),
            DMSEC_ERR_INVALID_ARG);
    static const char *const bad_sha[] = {
        "0123", "g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0"};
    for (size_t i = 0; i < sizeof bad_sha / sizeof bad_sha[0]; i++)
        assert_int_equal(dmsec_store_fumo_queue(st, "IMEI:1", NULL, "https://h/p", bad_sha[i], 1,
                                                NULL, 0, NOW, &exec_id),
                         DMSEC_ERR_INVALID_ARG);
    assert_int_equal(
        dmsec_store_fumo_queue(st, "IMEI:1", "../x", "https://h/p", sha, 1, NULL, 0, NOW, &exec_id),
        DMSEC_ERR_INVALID_ARG);
    assert_int_equal(
        dmsec_store_fumo_queue(st, "IMEI:1", NULL, "https://h/p", sha, -1, NULL, 0, NOW, &exec_id),
        DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_fumo_queue(st, "IMEI:1", NULL, "https://h/p", sha, 1, NULL,
                                            NOW - 1, NOW, &exec_id),
                     DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_fumo_queue(st, "IMEI:none", NULL, "https://h/p", sha, 1, NULL, 0,
                                            NOW, &exec_id),
                     DMSEC_ERR_STORE_NOT_FOUND);
    pending(st, "IMEI:1", "S2", NOW, &s);
    assert_int_equal(s.n, 4);
    seen_clear(&s);

    /* No room for the whole Sequence: nothing of it is queued. */
    assert_int_equal(dmsec_store_begin(st), DMSEC_OK);
    for (int i = 4; i < DMSEC_STORE_CMD_MAX_PENDING - 3; i++)
        queue(st, "IMEI:1", DMSEC_CMD_GET, "./n", NULL);
    assert_int_equal(dmsec_store_commit(st), DMSEC_OK);
    assert_int_equal(
        dmsec_store_fumo_queue(st, "IMEI:1", NULL, "https://h/p", sha, 1, NULL, 0, NOW, &exec_id),
        DMSEC_ERR_STORE_FULL);
    pending(st, "IMEI:1", "S2", NOW, &s);
    assert_int_equal(s.n, DMSEC_STORE_CMD_MAX_PENDING - 3);
    seen_clear(&s);
    dmsec_store_close(st);
}

static void listing(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("list.db");
    add_device(st, "IMEI:1");
    add_device(st, "IMEI:2");
    int64_t ids[30];
    for (int i = 0; i < 30; i++)
        ids[i] = queue(st, i % 3 ? "IMEI:1" : "IMEI:2", DMSEC_CMD_GET, "./a", NULL);
    assert_int_equal(dmsec_store_cmd_sent(st, ids[1], "S", NOW), DMSEC_OK);
    assert_int_equal(dmsec_store_cmd_cancel(st, ids[2], NOW), DMSEC_OK);

    seen_t s;
    dmsec_cmd_filter_t f = {0};
    memset(&s, 0, sizeof s);
    assert_int_equal(dmsec_store_cmd_list(st, &f, on_cmd, &s), DMSEC_OK);
    assert_int_equal(s.n, 30);
    for (int i = 0; i < 30; i++)
        assert_int_equal(s.ids[i], ids[i]);
    seen_clear(&s);

    f.device_id = "IMEI:1";
    f.newest_first = 1;
    f.offset = 2;
    f.limit = 11;
    assert_int_equal(dmsec_store_cmd_list(st, &f, on_cmd, &s), DMSEC_OK);
    assert_int_equal(s.n, 11);
    /* IMEI:1 has ids[i] for i % 3 != 0: 29, 28, 26, 25, 23, ... skip two */
    int want = 29;
    int skipped = 0;
    size_t k = 0;
    for (; want >= 0 && k < 11; want--) {
        if (want % 3 == 0)
            continue;
        if (skipped < 2) {
            skipped++;
            continue;
        }
        assert_int_equal(s.ids[k++], ids[want]);
    }
    seen_clear(&s);

    f = (dmsec_cmd_filter_t){.states = 1u << DMSEC_CMDST_SENT | 1u << DMSEC_CMDST_CANCELLED};
    assert_int_equal(dmsec_store_cmd_list(st, &f, on_cmd, &s), DMSEC_OK);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.ids[0], ids[1]);
    assert_int_equal(s.ids[1], ids[2]);
    seen_clear(&s);
    f.states = 1u << 9;
    assert_int_equal(dmsec_store_cmd_list(st, &f, on_cmd, &s), DMSEC_ERR_INVALID_ARG);
    f = (dmsec_cmd_filter_t){.offset = 28};
    assert_int_equal(dmsec_store_cmd_list(st, &f, on_cmd, &s), DMSEC_OK);
    assert_int_equal(s.n, 2);
    seen_clear(&s);
    f = (dmsec_cmd_filter_t){.device_id = "IMEI:none"};
    assert_int_equal(dmsec_store_cmd_list(st, &f, on_cmd, &s), DMSEC_OK);
    assert_int_equal(s.n, 0);

    /* Removing a device removes its queue. */
    assert_int_equal(dmsec_store_device_remove(st, "IMEI:2"), DMSEC_OK);
    f = (dmsec_cmd_filter_t){0};
    assert_int_equal(dmsec_store_cmd_list(st, &f, on_cmd, &s), DMSEC_OK);
    assert_int_equal(s.n, 20);
    seen_clear(&s);
    dmsec_store_cmd_t gone;
    assert_int_equal(dmsec_store_cmd_get(st, ids[0], &gone), DMSEC_ERR_STORE_NOT_FOUND);
    dmsec_store_close(st);
}

/* ---- events, inventory, seen, paging ---- */

typedef struct {
    size_t n;
    dmsec_device_event_t ev[40];
} events_t;

static int on_event(void *ctx, const dmsec_device_event_t *e)
{
    events_t *s = ctx;
    assert_true(s->n < 40);
    s->ev[s->n++] = *e;
    return 0;
}

static void events_round_trip(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("events.db");
    add_device(st, "IMEI:1");
    add_device(st, "IMEI:2");
    dmsec_device_event_t e;
    memset(&e, 0, sizeof e);
    snprintf(e.device_id, sizeof e.device_id, "IMEI:1");
    e.alert = 1226;
    snprintf(e.type, sizeof e.type, "org.openmobilealliance.dm.firmwareupdate.download");
    snprintf(e.format, sizeof e.format, "int");
    snprintf(e.source, sizeof e.source, "./FUMO/dmsec/DownloadAndUpdate");
    snprintf(e.correlator, sizeof e.correlator, "fumo-7");
    snprintf(e.data, sizeof e.data, "200");
    snprintf(e.session_id, sizeof e.session_id, "1A2B");
    int64_t first = 0;
    for (int i = 0; i < 35; i++) {
        e.at = NOW + i;
        snprintf(e.device_id, sizeof e.device_id, "%s", i % 5 ? "IMEI:1" : "IMEI:2");
        int64_t id = 0;
        assert_int_equal(dmsec_store_event_add(st, &e, &id), DMSEC_OK);
        assert_true(id > first);
        first = id;
    }
    events_t s;
    memset(&s, 0, sizeof s);
    assert_int_equal(dmsec_store_event_list(st, NULL, 0, 0, on_event, &s), DMSEC_OK);
    assert_int_equal(s.n, 35);
    assert_int_equal(s.ev[0].at, NOW + 34);
    assert_int_equal(s.ev[34].at, NOW);
    assert_string_equal(s.ev[0].type, "org.openmobilealliance.dm.firmwareupdate.download");
    assert_string_equal(s.ev[0].format, "int");
    assert_string_equal(s.ev[0].source, "./FUMO/dmsec/DownloadAndUpdate");
    assert_string_equal(s.ev[0].correlator, "fumo-7");
    assert_string_equal(s.ev[0].data, "200");
    assert_string_equal(s.ev[0].session_id, "1A2B");
    assert_int_equal(s.ev[0].alert, 1226);
    memset(&s, 0, sizeof s);
    assert_int_equal(dmsec_store_event_list(st, "IMEI:1", 3, 5, on_event, &s), DMSEC_OK);
    assert_int_equal(s.n, 5);
    /* IMEI:1: at NOW + 34, 33, 32, 31, 29, 28, ... less the first three */
    assert_int_equal(s.ev[0].at, NOW + 31);
    assert_int_equal(s.ev[1].at, NOW + 29);
    for (size_t i = 0; i < s.n; i++)
        assert_string_equal(s.ev[i].device_id, "IMEI:1");
    memset(&s, 0, sizeof s);
    assert_int_equal(dmsec_store_event_list(st, "IMEI:2", 0, 0, on_event, &s), DMSEC_OK);
    assert_int_equal(s.n, 7);

    /* Data filling its whole field is cut, never read past. */
    memset(e.data, 'd', sizeof e.data);
    snprintf(e.device_id, sizeof e.device_id, "IMEI:2");
    e.at = NOW + 100;
    assert_int_equal(dmsec_store_event_add(st, &e, NULL), DMSEC_OK);
    memset(&s, 0, sizeof s);
    assert_int_equal(dmsec_store_event_list(st, "IMEI:2", 0, 1, on_event, &s), DMSEC_OK);
    assert_int_equal(strlen(s.ev[0].data), sizeof e.data - 1);
    snprintf(e.device_id, sizeof e.device_id, "IMEI:none");
    assert_int_equal(dmsec_store_event_add(st, &e, NULL), DMSEC_ERR_STORE_NOT_FOUND);
    memset(e.type, 't', sizeof e.type);
    assert_int_equal(dmsec_store_event_add(st, &e, NULL), DMSEC_ERR_INVALID_ARG);
    dmsec_store_close(st);
}

typedef struct {
    size_t n;
    char uri[40][64];
    char value[40][64];
    int64_t updated[40];
    size_t big_len;
} inv_t;

static int on_inv(void *ctx, const char *uri, const char *value, int64_t updated)
{
    inv_t *s = ctx;
    assert_true(s->n < 40);
    snprintf(s->uri[s->n], sizeof s->uri[0], "%s", uri);
    snprintf(s->value[s->n], sizeof s->value[0], "%s", value);
    if (strlen(value) > s->big_len)
        s->big_len = strlen(value);
    s->updated[s->n++] = updated;
    return 0;
}

static void inventory_and_seen(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("inv.db");
    add_device(st, "IMEI:1");
    add_device(st, "IMEI:2");
    assert_int_equal(dmsec_store_inventory_set(st, "IMEI:1", "./DevInfo/Man", "Acme", NOW),
                     DMSEC_OK);
    assert_int_equal(dmsec_store_inventory_set(st, "IMEI:1", "./DevDetail/FwV", "1.0", NOW),
                     DMSEC_OK);
    assert_int_equal(dmsec_store_inventory_set(st, "IMEI:1", "./DevDetail/FwV", "1.1", NOW + 5),
                     DMSEC_OK);
    assert_int_equal(dmsec_store_inventory_set(st, "IMEI:2", "./DevInfo/Man", "Other", NOW),
                     DMSEC_OK);
    char uri[32];
    for (int i = 0; i < 20; i++) {
        snprintf(uri, sizeof uri, "./DevDetail/Ext/k%02d", i);
        assert_int_equal(dmsec_store_inventory_set(st, "IMEI:1", uri, "", NOW), DMSEC_OK);
    }
    inv_t s;
    memset(&s, 0, sizeof s);
    assert_int_equal(dmsec_store_inventory_list(st, "IMEI:1", on_inv, &s), DMSEC_OK);
    assert_int_equal(s.n, 22);
    assert_string_equal(s.uri[0], "./DevDetail/Ext/k00");
    assert_string_equal(s.uri[20], "./DevDetail/FwV");
    assert_string_equal(s.value[20], "1.1");
    assert_int_equal(s.updated[20], NOW + 5);
    assert_string_equal(s.uri[21], "./DevInfo/Man");
    assert_string_equal(s.value[21], "Acme");
    assert_int_equal(dmsec_store_inventory_set(st, "IMEI:none", "./DevInfo/Man", "x", NOW),
                     DMSEC_ERR_STORE_NOT_FOUND);
    assert_int_equal(dmsec_store_inventory_set(st, "IMEI:1", "../x", "x", NOW),
                     DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_inventory_set(st, "IMEI:1", "./x", NULL, NOW),
                     DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_inventory_list(st, "IMEI:none", on_inv, &s),
                     DMSEC_ERR_STORE_NOT_FOUND);
    char *big = malloc(DMSEC_STORE_VALUE_MAX + 2);
    assert_non_null(big);
    memset(big, 'b', DMSEC_STORE_VALUE_MAX + 1);
    big[DMSEC_STORE_VALUE_MAX + 1] = '\0';
    assert_int_equal(dmsec_store_inventory_set(st, "IMEI:2", "./Big", big, NOW),
                     DMSEC_ERR_TOO_LARGE);
    big[DMSEC_STORE_VALUE_MAX] = '\0';
    assert_int_equal(dmsec_store_inventory_set(st, "IMEI:2", "./Big", big, NOW), DMSEC_OK);
    free(big);
    memset(&s, 0, sizeof s);
    assert_int_equal(dmsec_store_inventory_list(st, "IMEI:2", on_inv, &s), DMSEC_OK);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.big_len, DMSEC_STORE_VALUE_MAX);

    /* First and last seen. */
    int64_t first = -1;
    int64_t last = -1;
    assert_int_equal(dmsec_store_device_seen_get(st, "IMEI:1", &first, &last), DMSEC_OK);
    assert_int_equal(first, 0);
    assert_int_equal(last, 0);
    assert_int_equal(dmsec_store_device_seen(st, "IMEI:1", NOW + 10), DMSEC_OK);
    assert_int_equal(dmsec_store_device_seen(st, "IMEI:1", NOW + 20), DMSEC_OK);
    assert_int_equal(dmsec_store_device_seen_get(st, "IMEI:1", &first, &last), DMSEC_OK);
    assert_int_equal(first, NOW + 10);
    assert_int_equal(last, NOW + 20);
    assert_int_equal(dmsec_store_device_seen(st, "IMEI:none", NOW), DMSEC_ERR_STORE_NOT_FOUND);
    assert_int_equal(dmsec_store_device_seen_get(st, "IMEI:none", &first, &last),
                     DMSEC_ERR_STORE_NOT_FOUND);
    /* Seen survives a device update of its nonces. */
    static const uint8_t nonce[4] = {1, 2, 3, 4};
    assert_int_equal(dmsec_store_set_client_nonce(st, "IMEI:1", nonce, sizeof nonce), DMSEC_OK);
    assert_int_equal(dmsec_store_device_seen_get(st, "IMEI:1", &first, &last), DMSEC_OK);
    assert_int_equal(first, NOW + 10);
    dmsec_store_close(st);
}

typedef struct {
    size_t n;
    char ids[64][DMSEC_STORE_ID_MAX];
} devs_t;

static int on_dev(void *ctx, const dmsec_device_t *d)
{
    devs_t *s = ctx;
    assert_true(s->n < 64);
    snprintf(s->ids[s->n++], DMSEC_STORE_ID_MAX, "%s", d->device_id);
    return 0;
}

static void device_paging(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("page.db");
    char id[32];
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof id, "IMEI:%02d", i);
        add_device(st, id);
    }
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "MAC:%02d", i);
        add_device(st, id);
    }
    devs_t s;
    memset(&s, 0, sizeof s);
    assert_int_equal(dmsec_store_device_page(st, NULL, NULL, 0, on_dev, &s), DMSEC_OK);
    assert_int_equal(s.n, 45);
    memset(&s, 0, sizeof s);
    assert_int_equal(dmsec_store_device_page(st, "IMEI:09", "IMEI:", 35, on_dev, &s), DMSEC_OK);
    assert_int_equal(s.n, 30);
    assert_string_equal(s.ids[0], "IMEI:10");
    assert_string_equal(s.ids[29], "IMEI:39");
    memset(&s, 0, sizeof s);
    assert_int_equal(dmsec_store_device_page(st, "", NULL, 3, on_dev, &s), DMSEC_OK);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.ids[2], "IMEI:02");
    memset(&s, 0, sizeof s);
    assert_int_equal(dmsec_store_device_page(st, s.ids[0], "MAC:", 0, on_dev, &s), DMSEC_OK);
    assert_int_equal(s.n, 5);
    assert_string_equal(s.ids[0], "MAC:00");
    memset(&s, 0, sizeof s);
    assert_int_equal(dmsec_store_device_page(st, "MAC:03", NULL, 10, on_dev, &s), DMSEC_OK);
    assert_int_equal(s.n, 1);
    memset(&s, 0, sizeof s);
    /* A prefix with LIKE's wildcards is taken literally. */
    assert_int_equal(dmsec_store_device_page(st, NULL, "IMEI:_%", 0, on_dev, &s), DMSEC_OK);
    assert_int_equal(s.n, 0);
    assert_int_equal(dmsec_store_device_page(st, NULL, "IMEI:3", 0, on_dev, &s), DMSEC_OK);
    assert_int_equal(s.n, 10);
    dmsec_store_close(st);
}

typedef struct {
    size_t n;
    int64_t ids[64];
} recs_t;

static int on_session(void *ctx, const dmsec_session_rec_t *r)
{
    recs_t *s = ctx;
    assert_true(s->n < 64);
    s->ids[s->n++] = r->id;
    return 0;
}

static int on_audit(void *ctx, const dmsec_audit_rec_t *r)
{
    recs_t *s = ctx;
    assert_true(s->n < 64);
    s->ids[s->n++] = r->id;
    return 0;
}

static void sessions_and_audit_per_device(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("perdev.db");
    int64_t sess[50];
    for (int i = 0; i < 50; i++) {
        assert_int_equal(dmsec_store_session_begin(st, i % 2 ? "IMEI:1" : "IMEI:2", "S", "peer",
                                                   NOW + i, &sess[i]),
                         DMSEC_OK);
        assert_int_equal(dmsec_store_audit(st, NOW + i, i % 2 ? "IMEI:1" : "IMEI:2", "ev", "d"),
                         DMSEC_OK);
    }
    recs_t s;
    memset(&s, 0, sizeof s);
    assert_int_equal(dmsec_store_session_list_device(st, "IMEI:1", 2, 20, on_session, &s),
                     DMSEC_OK);
    assert_int_equal(s.n, 20);
    /* IMEI:1: 49, 47, 45, ... skip two */
    for (size_t i = 0; i < 20; i++)
        assert_int_equal(s.ids[i], sess[45 - 2 * (int)i]);
    memset(&s, 0, sizeof s);
    assert_int_equal(dmsec_store_session_list_device(st, NULL, 45, 0, on_session, &s), DMSEC_OK);
    assert_int_equal(s.n, 5);
    assert_int_equal(s.ids[0], sess[4]);
    memset(&s, 0, sizeof s);
    assert_int_equal(dmsec_store_audit_list_device(st, "IMEI:2", 0, 0, on_audit, &s), DMSEC_OK);
    assert_int_equal(s.n, 25);
    memset(&s, 0, sizeof s);
    assert_int_equal(dmsec_store_audit_list_device(st, "IMEI:2", 24, 10, on_audit, &s), DMSEC_OK);
    assert_int_equal(s.n, 1);
    memset(&s, 0, sizeof s);
    assert_int_equal(dmsec_store_audit_list_device(st, "IMEI:9", 0, 0, on_audit, &s), DMSEC_OK);
    assert_int_equal(s.n, 0);
    /* The old listings are unchanged. */
    assert_int_equal(dmsec_store_session_list(st, 0, on_session, &s), DMSEC_OK);
    assert_int_equal(s.n, 50);
    dmsec_store_close(st);
}

/* ---- durability, migration, kill -9 ---- */

static void survives_reopen(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("reopen.db");
    add_device(st, "IMEI:1");
    int64_t a = queue(st, "IMEI:1", DMSEC_CMD_REPLACE, "./a", "value-a");
    int64_t b = queue(st, "IMEI:1", DMSEC_CMD_GET, "./b", NULL);
    assert_int_equal(dmsec_store_cmd_sent(st, a, "S1", NOW), DMSEC_OK);
    assert_int_equal(dmsec_store_cmd_sent(st, b, "S1", NOW), DMSEC_OK);
    assert_int_equal(dmsec_store_cmd_done(st, b, 200, (const uint8_t *)"r", 1, "chr", "", NOW), 1);
    assert_int_equal(dmsec_store_inventory_set(st, "IMEI:1", "./DevInfo/Mod", "m1", NOW), DMSEC_OK);
    assert_int_equal(dmsec_store_device_seen(st, "IMEI:1", NOW), DMSEC_OK);
    assert_int_equal(dmsec_store_sync(st), DMSEC_OK);
    dmsec_store_close(st);

    st = store_open("reopen.db");
    seen_t s;
    pending(st, "IMEI:1", "S2", NOW, &s);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.ids[0], a);
    assert_string_equal((const char *)s.first[0].data, "value-a");
    assert_int_equal(s.first[0].attempts, 1);
    seen_clear(&s);
    dmsec_store_cmd_t c;
    assert_int_equal(dmsec_store_cmd_get(st, b, &c), DMSEC_OK);
    assert_int_equal(c.state, DMSEC_CMDST_DONE);
    assert_memory_equal(c.result, "r", 1);
    dmsec_store_cmd_clear(&c);
    inv_t inv;
    memset(&inv, 0, sizeof inv);
    assert_int_equal(dmsec_store_inventory_list(st, "IMEI:1", on_inv, &inv), DMSEC_OK);
    assert_int_equal(inv.n, 1);
    int64_t first = 0;
    int64_t last = 0;
    assert_int_equal(dmsec_store_device_seen_get(st, "IMEI:1", &first, &last), DMSEC_OK);
    assert_int_equal(first, NOW);
    /* Ids are never reused, even after their command's device is gone. */
    assert_int_equal(dmsec_store_device_remove(st, "IMEI:1"), DMSEC_OK);
    add_device(st, "IMEI:1");
    assert_true(queue(st, "IMEI:1", DMSEC_CMD_GET, "./c", NULL) > b);
    dmsec_store_close(st);
}

static void migrates_from_v2(void **state)
{
    (void)state;
    static const char *const rows[] = {
        "INSERT INTO devices (device_id, client_name, client_scheme, client_ph_flags,"
        " server_scheme, server_ph_flags, integrity, notify_addr, srvcred_path,"
        " cert_subject, created) VALUES ('IMEI:old', 'old', 1, 0, 1, 0, 0, '', '', '',"
        " 1600000000)",
        "INSERT INTO sessions (device_id, session_id, peer, started)"
        " VALUES ('IMEI:old', '1', 'p', 5)",
        NULL};
    sqlite3_close(old_store("v2.db", 2, rows));

    dmsec_store_t *st = store_open("v2.db");
    sqlite3 *db = raw_open("v2.db");
    raw_is(db, "PRAGMA user_version", "6");
    raw_is(db,
           "SELECT count(*) FROM sqlite_master WHERE name IN ('commands', 'device_events',"
           " 'inventory', 'commands_queue', 'commands_correlator', 'commands_send')",
           "6");
    raw_is(db, "SELECT count(*) FROM pragma_foreign_key_check", "0");
    sqlite3_close(db);
    dmsec_device_t d;
    assert_int_equal(dmsec_store_device_get(st, "IMEI:old", &d), DMSEC_OK);
    assert_string_equal(d.client_name, "old");
    int64_t first = -1;
    int64_t last = -1;
    assert_int_equal(dmsec_store_device_seen_get(st, "IMEI:old", &first, &last), DMSEC_OK);
    assert_int_equal(first, 0);
    assert_int_equal(last, 0);
    int64_t id = queue(st, "IMEI:old", DMSEC_CMD_GET, "./DevInfo/Man", NULL);
    recs_t r;
    memset(&r, 0, sizeof r);
    assert_int_equal(dmsec_store_session_list_device(st, "IMEI:old", 0, 0, on_session, &r),
                     DMSEC_OK);
    assert_int_equal(r.n, 1);
    dmsec_store_close(st);

    /* Reopening a migrated store changes nothing. */
    st = store_open("v2.db");
    assert_int_equal(state_of(st, id), DMSEC_CMDST_QUEUED);
    dmsec_store_close(st);
}

/* A child queues and marks sent in a loop, reporting each commit through a
 * pipe, and is killed (SIGKILL) in the middle. The store reopens intact:
 * every command the child saw committed is there, each in a state it
 * could have reached, and the queue goes on. */
static void killed_writer(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("kill.db");
    add_device(st, "IMEI:1");
    dmsec_store_close(st);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        char path[256];
        path_of("kill.db", path, sizeof path);
        dmsec_store_t *cst = NULL;
        if (dmsec_store_open(path, &cst))
            _exit(2);
        for (int i = 0;; i++) {
            dmsec_store_cmd_t c;
            cmd_init(&c, "IMEI:1", DMSEC_CMD_REPLACE, "./k", "some value of a few bytes");
            int64_t id = 0;
            int rc = dmsec_store_cmd_queue(cst, &c, NOW, &id);
            if (rc == DMSEC_ERR_STORE_FULL) {
                /* Finish the oldest to make room. */
                dmsec_cmd_filter_t f = {.states = 1u << DMSEC_CMDST_SENT, .limit = 1};
                seen_t s;
                memset(&s, 0, sizeof s);
                if (dmsec_store_cmd_list(cst, &f, on_cmd, &s) || s.n != 1)
                    _exit(3);
                int64_t oldest = s.ids[0];
                seen_clear(&s);
                if (dmsec_store_cmd_done(cst, oldest, 200, NULL, 0, NULL, NULL, NOW) != 1)
                    _exit(4);
                continue;
            }
            if (rc || dmsec_store_cmd_sent(cst, id, "S1", NOW))
                _exit(5);
            if (write(fds[1], &id, sizeof id) != (ssize_t)sizeof id)
                _exit(6);
        }
    }
    close(fds[1]);
    int64_t got = 0;
    int64_t last = 0;
    size_t reports = 0;
    /* Wait for real progress, then kill it mid-loop. */
    while (reports < 1500 && read(fds[0], &got, sizeof got) == (ssize_t)sizeof got) {
        last = got;
        reports++;
    }
    assert_int_equal(reports, 1500);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    close(fds[0]);

    st = store_open("kill.db");
    dmsec_store_cmd_t c;
    assert_int_equal(dmsec_store_cmd_get(st, last, &c), DMSEC_OK);
    assert_true(c.state == DMSEC_CMDST_SENT || c.state == DMSEC_CMDST_DONE);
    assert_int_equal(c.attempts, 1);
    dmsec_store_cmd_clear(&c);
    /* No command half-written: each is queued (at most the last one),
     * sent once, or done; never more than the bound unfinished. */
    dmsec_cmd_filter_t f = {.states = 1u << DMSEC_CMDST_QUEUED};
    seen_t s;
    memset(&s, 0, sizeof s);
    assert_int_equal(dmsec_store_cmd_list(st, &f, on_cmd, &s), DMSEC_OK);
    assert_true(s.n <= 1);
    seen_clear(&s);
    f.states = 1u << DMSEC_CMDST_SENT;
    assert_int_equal(dmsec_store_cmd_list(st, &f, on_cmd, &s), DMSEC_OK);
    assert_true(s.n <= DMSEC_STORE_CMD_MAX_PENDING && s.n >= DMSEC_STORE_CMD_MAX_PENDING - 1);
    for (size_t i = 0; i < s.n && i < 8; i++) {
        assert_int_equal(s.first[i].attempts, 1);
        assert_string_equal(s.first[i].session_id, "S1");
        assert_string_equal((const char *)s.first[i].data, "some value of a few bytes");
    }
    seen_clear(&s);
    sqlite3 *db = raw_open("kill.db");
    raw_is(db, "PRAGMA integrity_check", "ok");
    sqlite3_close(db);
    /* The queue goes on where it was. */
    pending(st, "IMEI:1", "S2", NOW, &s);
    assert_true(s.n >= DMSEC_STORE_CMD_MAX_PENDING - 1);
    seen_clear(&s);
    dmsec_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names),
        cmocka_unit_test(order_and_redelivery),
        cmocka_unit_test(pending_callback_writes),
        cmocka_unit_test(done_recorded_once),
        cmocka_unit_test(done_race_processes),
        cmocka_unit_test(expiry),
        cmocka_unit_test(cancel),
        cmocka_unit_test(bounds_and_validation),
        cmocka_unit_test(groups_with_members),
        cmocka_unit_test(fumo_sequence),
        cmocka_unit_test(listing),
        cmocka_unit_test(events_round_trip),
        cmocka_unit_test(inventory_and_seen),
        cmocka_unit_test(device_paging),
        cmocka_unit_test(sessions_and_audit_per_device),
        cmocka_unit_test(survives_reopen),
        cmocka_unit_test(migrates_from_v2),
        cmocka_unit_test(killed_writer),
    };
    return cmocka_run_group_tests_name("store_mgmt", tests, make_dir, remove_dir);
}
