/* The SQLite store (dmsec/store.h) on real files in a temporary directory:
 * every operation, durability across reopen, refusal of foreign and damaged
 * files, and races between processes that each hold their own handle.
 * A second, plain SQLite connection looks at (and damages) the file from
 * outside where a test needs it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dmsec/auth.h"
#include "dmsec/errors.h"
#include "dmsec/session.h"
#include "dmsec/store.h"
#include "store_fixture.h"
#include "store_sqlite.h"

#define SERVER_ID "dm.example.org"
#define RACERS 8

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 7);
}

/* A device with every field set to something recognisable. */
static void make_device(dmsec_device_t *d, const char *id, uint8_t seed)
{
    memset(d, 0, sizeof *d);
    snprintf(d->device_id, sizeof d->device_id, "%s", id);
    snprintf(d->client_name, sizeof d->client_name, "user-%s", id);
    d->client_scheme = DMSEC_AUTH_SHA256;
    d->client_prehash.flags = DMSEC_PREHASH_MD5 | DMSEC_PREHASH_SHA256;
    fill(d->client_prehash.md5, sizeof d->client_prehash.md5, seed);
    fill(d->client_prehash.sha256, sizeof d->client_prehash.sha256, (uint8_t)(seed + 1));
    d->client_secret_len = 20;
    fill(d->client_secret, d->client_secret_len, (uint8_t)(seed + 2));
    d->client_nonce_len = 16;
    fill(d->client_nonce, d->client_nonce_len, (uint8_t)(seed + 3));
    d->client_nonce_pending_len = 8;
    fill(d->client_nonce_pending, d->client_nonce_pending_len, (uint8_t)(seed + 7));
    d->server_scheme = DMSEC_AUTH_MD5;
    d->server_prehash.flags = DMSEC_PREHASH_MD5;
    fill(d->server_prehash.md5, sizeof d->server_prehash.md5, (uint8_t)(seed + 4));
    d->server_secret_len = 0;
    d->server_nonce_len = DMSEC_NONCE_MAX;
    fill(d->server_nonce, d->server_nonce_len, (uint8_t)(seed + 5));
    d->pending_secret_len = DMSEC_SECRET_MAX;
    fill(d->pending_secret, d->pending_secret_len, (uint8_t)(seed + 6));
    d->integrity = DMSEC_INTEGRITY_HMAC_MD5;
    snprintf(d->notify_addr, sizeof d->notify_addr, "udp://127.0.0.1:%u", 2948u + seed);
    snprintf(d->srvcred_path, sizeof d->srvcred_path, "./DMAcc/x%u/AppAuth/SRVCRED", seed);
    d->created = 1700000000 + seed;
}

static void assert_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    assert_int_equal(alen, blen);
    if (alen)
        assert_memory_equal(a, b, alen);
}

static void assert_prehash_equal(const dmsec_prehash_t *a, const dmsec_prehash_t *b)
{
    assert_int_equal(a->flags, b->flags);
    if (a->flags & DMSEC_PREHASH_MD5)
        assert_memory_equal(a->md5, b->md5, sizeof a->md5);
    if (a->flags & DMSEC_PREHASH_SHA256)
        assert_memory_equal(a->sha256, b->sha256, sizeof a->sha256);
}

static void assert_device_equal(const dmsec_device_t *a, const dmsec_device_t *b)
{
    assert_string_equal(a->device_id, b->device_id);
    assert_string_equal(a->client_name, b->client_name);
    assert_int_equal(a->client_scheme, b->client_scheme);
    assert_prehash_equal(&a->client_prehash, &b->client_prehash);
    assert_bytes(a->client_secret, a->client_secret_len, b->client_secret, b->client_secret_len);
    assert_bytes(a->client_nonce, a->client_nonce_len, b->client_nonce, b->client_nonce_len);
    assert_bytes(a->client_nonce_pending, a->client_nonce_pending_len, b->client_nonce_pending,
                 b->client_nonce_pending_len);
    assert_int_equal(a->server_scheme, b->server_scheme);
    assert_prehash_equal(&a->server_prehash, &b->server_prehash);
    assert_bytes(a->server_secret, a->server_secret_len, b->server_secret, b->server_secret_len);
    assert_bytes(a->server_nonce, a->server_nonce_len, b->server_nonce, b->server_nonce_len);
    assert_bytes(a->pending_secret, a->pending_secret_len, b->pending_secret,
                 b->pending_secret_len);
    assert_int_equal(a->integrity, b->integrity);
    assert_string_equal(a->notify_addr, b->notify_addr);
    assert_string_equal(a->srvcred_path, b->srvcred_path);
    assert_string_equal(a->cert_subject, b->cert_subject);
    assert_int_equal(a->created, b->created);
}

static void add_device(dmsec_store_t *st, const char *id, uint8_t seed)
{
    dmsec_device_t d;
    make_device(&d, id, seed);
    assert_int_equal(dmsec_store_device_add(st, &d), DMSEC_OK);
}

/* ---- callbacks collecting what the listings give ---- */

typedef struct {
    int count;
    int stop_after; /* 0: never; >0: return 1 then; <0: return it at once */
    char ids[80][DMSEC_STORE_ID_MAX];
    uint16_t sids[80];
    int64_t times[80];
} seen_t;

static int stop_code(seen_t *s)
{
    if (s->stop_after < 0)
        return s->stop_after;
    return s->stop_after && s->count >= s->stop_after;
}

static int on_device(void *ctx, const dmsec_device_t *d)
{
    seen_t *s = ctx;
    if (s->count < 80)
        memcpy(s->ids[s->count], d->device_id, DMSEC_STORE_ID_MAX);
    s->count++;
    return stop_code(s);
}

static int on_notification(void *ctx, const dmsec_notification_t *n)
{
    seen_t *s = ctx;
    if (s->count < 80) {
        memcpy(s->ids[s->count], n->device_id, DMSEC_STORE_ID_MAX);
        s->sids[s->count] = n->session_id;
    }
    s->count++;
    return stop_code(s);
}

static int on_session(void *ctx, const dmsec_session_rec_t *r)
{
    seen_t *s = ctx;
    if (s->count < 80) {
        memcpy(s->ids[s->count], r->session_id, sizeof r->session_id);
        s->times[s->count] = r->started;
    }
    s->count++;
    return stop_code(s);
}

static int on_audit(void *ctx, const dmsec_audit_rec_t *r)
{
    seen_t *s = ctx;
    if (s->count < 80) {
        snprintf(s->ids[s->count], DMSEC_STORE_ID_MAX, "%s", r->event);
        s->times[s->count] = r->at;
    }
    s->count++;
    return stop_code(s);
}

/* ---- devices ---- */

static void devices_round_trip(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("devices.db");
    dmsec_device_t d1;
    dmsec_device_t got;
    make_device(&d1, "IMEI:493005100592800", 1);
    snprintf(d1.cert_subject, sizeof d1.cert_subject, "CN=device-1");
    assert_int_equal(dmsec_store_device_add(st, &d1), DMSEC_OK);
    assert_int_equal(dmsec_store_device_get(st, d1.device_id, &got), DMSEC_OK);
    assert_device_equal(&got, &d1);

    assert_int_equal(dmsec_store_device_add(st, &d1), DMSEC_ERR_STORE_EXISTS);
    assert_int_equal(dmsec_store_device_get(st, "IMEI:0", &got), DMSEC_ERR_STORE_NOT_FOUND);
    assert_int_equal(dmsec_store_device_remove(st, "IMEI:0"), DMSEC_ERR_STORE_NOT_FOUND);

    add_device(st, "IMEI:3", 3);
    add_device(st, "IMEI:2", 2);
    seen_t seen = {0};
    assert_int_equal(dmsec_store_device_list(st, on_device, &seen), DMSEC_OK);
    assert_int_equal(seen.count, 3);
    assert_string_equal(seen.ids[0], "IMEI:2");
    assert_string_equal(seen.ids[1], "IMEI:3");
    assert_string_equal(seen.ids[2], d1.device_id);

    /* A callback stops the walk with 1, or fails it with an error. */
    seen_t first = {.stop_after = 1};
    assert_int_equal(dmsec_store_device_list(st, on_device, &first), DMSEC_OK);
    assert_int_equal(first.count, 1);
    seen_t failing = {.stop_after = -42};
    assert_int_equal(dmsec_store_device_list(st, on_device, &failing), -42);
    assert_int_equal(failing.count, 1);

    assert_int_equal(dmsec_store_device_remove(st, d1.device_id), DMSEC_OK);
    assert_int_equal(dmsec_store_device_get(st, d1.device_id, &got), DMSEC_ERR_STORE_NOT_FOUND);
    assert_int_equal(dmsec_store_device_remove(st, d1.device_id), DMSEC_ERR_STORE_NOT_FOUND);
    dmsec_store_close(st);

    /* What was committed is there after a reopen. */
    st = store_open("devices.db");
    dmsec_device_t d2;
    make_device(&d2, "IMEI:2", 2);
    assert_int_equal(dmsec_store_device_get(st, "IMEI:2", &got), DMSEC_OK);
    assert_device_equal(&got, &d2);
    dmsec_store_close(st);
}

/* More devices than one read batch, added out of order. */
static void devices_list_in_batches(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("batches.db");
    for (int i = 69; i >= 0; i--) {
        char id[16];
        snprintf(id, sizeof id, "D%03d", i);
        add_device(st, id, (uint8_t)i);
    }
    seen_t seen = {0};
    assert_int_equal(dmsec_store_device_list(st, on_device, &seen), DMSEC_OK);
    assert_int_equal(seen.count, 70);
    for (int i = 0; i < 70; i++) {
        char id[16];
        snprintf(id, sizeof id, "D%03d", i);
        assert_string_equal(seen.ids[i], id);
    }
    dmsec_store_close(st);
}

static void device_by_certificate(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("cert.db");
    dmsec_device_t d;
    dmsec_device_t got;
    make_device(&d, "IMEI:1", 1);
    snprintf(d.cert_subject, sizeof d.cert_subject, "CN=dev1,O=Example");
    assert_int_equal(dmsec_store_device_add(st, &d), DMSEC_OK);
    add_device(st, "IMEI:2", 2); /* no certificate */

    assert_int_equal(dmsec_store_device_by_cert(st, "CN=dev1,O=Example", &got), DMSEC_OK);
    assert_device_equal(&got, &d);
    /* "No certificate" never finds the devices that have none. */
    assert_int_equal(dmsec_store_device_by_cert(st, "", &got), DMSEC_ERR_STORE_NOT_FOUND);
    assert_int_equal(dmsec_store_device_by_cert(st, "CN=dev1", &got), DMSEC_ERR_STORE_NOT_FOUND);

    /* One certificate names one device. */
    dmsec_device_t twin;
    make_device(&twin, "IMEI:3", 3);
    snprintf(twin.cert_subject, sizeof twin.cert_subject, "CN=dev1,O=Example");
    assert_int_equal(dmsec_store_device_add(st, &twin), DMSEC_ERR_STORE_EXISTS);
    dmsec_store_close(st);
}

static void device_account_mapping(void **state)
{
    (void)state;
    dmsec_device_t d;
    dmsec_account_t acc;
    make_device(&d, "IMEI:1", 9);
    d.server_secret_len = 12;
    fill(d.server_secret, d.server_secret_len, 77);
    assert_int_equal(dmsec_store_device_account(&d, SERVER_ID, &acc), DMSEC_OK);
    assert_int_equal(acc.out_scheme, d.server_scheme);
    assert_string_equal(acc.out_name, SERVER_ID);
    assert_bytes(acc.out_secret, acc.out_secret_len, d.server_secret, d.server_secret_len);
    assert_prehash_equal(&acc.out_prehash, &d.server_prehash);
    assert_bytes(acc.out_nonce, acc.out_nonce_len, d.server_nonce, d.server_nonce_len);
    assert_int_equal(acc.in_scheme, d.client_scheme);
    assert_string_equal(acc.in_name, d.client_name);
    assert_prehash_equal(&acc.in_prehash, &d.client_prehash);
    assert_bytes(acc.in_secret, acc.in_secret_len, d.client_secret, d.client_secret_len);
    assert_bytes(acc.in_nonce, acc.in_nonce_len, d.client_nonce, d.client_nonce_len);
    assert_bytes(acc.in_nonce_pending, acc.in_nonce_pending_len, d.client_nonce_pending,
                 d.client_nonce_pending_len);
    assert_int_equal(acc.integrity, d.integrity);
    assert_string_equal(acc.srvcred_path, d.srvcred_path);

    d.srvcred_path[0] = '\0';
    d.server_secret_len = 0;
    assert_int_equal(dmsec_store_device_account(&d, SERVER_ID, &acc), DMSEC_OK);
    assert_string_equal(acc.srvcred_path, "./DMAcc/dmsec/AppAuth/SRVCRED");
    assert_int_equal(acc.out_secret_len, 0);
    /* No pending nonce: none in the account either. */
    d.client_nonce_pending_len = 0;
    memset(&acc, 0xA5, sizeof acc);
    assert_int_equal(dmsec_store_device_account(&d, SERVER_ID, &acc), DMSEC_OK);
    assert_int_equal(acc.in_nonce_pending_len, 0);
    assert_bytes(acc.in_nonce, acc.in_nonce_len, d.client_nonce, d.client_nonce_len);
    dmsec_account_wipe(&acc);

    char long_id[DMSEC_NAME_MAX + 1];
    memset(long_id, 's', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    assert_int_equal(dmsec_store_device_account(&d, long_id, &acc), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_device_account(&d, "", &acc), DMSEC_ERR_INVALID_ARG);
    d.client_nonce_len = DMSEC_NONCE_MAX + 1;
    assert_int_equal(dmsec_store_device_account(&d, SERVER_ID, &acc), DMSEC_ERR_INVALID_ARG);
    d.client_nonce_len = 0;
    d.client_nonce_pending_len = DMSEC_NONCE_MAX + 1;
    assert_int_equal(dmsec_store_device_account(&d, SERVER_ID, &acc), DMSEC_ERR_INVALID_ARG);
}

/* ---- nonces and secrets ---- */

static void nonces_survive_reopen(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("nonces.db");
    add_device(st, "IMEI:1", 1);
    uint8_t cn[16];
    uint8_t sn[8];
    fill(cn, sizeof cn, 0xC0);
    fill(sn, sizeof sn, 0x50);
    assert_int_equal(dmsec_store_set_client_nonce(st, "IMEI:1", cn, sizeof cn), DMSEC_OK);
    assert_int_equal(dmsec_store_set_server_nonce(st, "IMEI:1", sn, sizeof sn), DMSEC_OK);
    dmsec_store_close(st);

    st = store_open("nonces.db");
    dmsec_device_t got;
    assert_int_equal(dmsec_store_device_get(st, "IMEI:1", &got), DMSEC_OK);
    assert_bytes(got.client_nonce, got.client_nonce_len, cn, sizeof cn);
    assert_bytes(got.server_nonce, got.server_nonce_len, sn, sizeof sn);

    uint8_t big[DMSEC_NONCE_MAX + 1] = {0};
    assert_int_equal(dmsec_store_set_client_nonce(st, "IMEI:1", big, sizeof big),
                     DMSEC_ERR_TOO_LARGE);
    assert_int_equal(dmsec_store_set_server_nonce(st, "IMEI:9", sn, sizeof sn),
                     DMSEC_ERR_STORE_NOT_FOUND);
    assert_int_equal(dmsec_store_set_server_nonce(st, "IMEI:1", NULL, 0), DMSEC_OK);
    assert_int_equal(dmsec_store_device_get(st, "IMEI:1", &got), DMSEC_OK);
    assert_int_equal(got.server_nonce_len, 0);
    assert_bytes(got.client_nonce, got.client_nonce_len, cn, sizeof cn);
    dmsec_store_close(st);
}

/* The client nonce events, in order, on one device that starts with
 * current nonce C0 and pending nonce P0 (make_device, seed 1). Nonces are
 * named by seed; 0 length means none. */
enum nonce_op { SET_PENDING, SET_CURRENT };

static const struct {
    enum nonce_op op;
    uint8_t seed;
    size_t len;
    /* What the device holds afterwards: current and pending (seed, len). */
    uint8_t cur_seed;
    size_t cur_len;
    uint8_t pend_seed;
    size_t pend_len;
} nonce_steps[] = {
    /* An unauthenticated challenge never touches the current nonce. */
    {SET_PENDING, 0x11, 16, 0, 16, 0x11, 16},
    /* A second one replaces the first pending nonce, still not current. */
    {SET_PENDING, 0x22, 12, 0, 16, 0x22, 12},
    /* The peer authenticates on the pending nonce: issued anew, current. */
    {SET_CURRENT, 0x33, 16, 0x33, 16, 0, 0},
    {SET_PENDING, 0x44, DMSEC_NONCE_MAX, 0x33, 16, 0x44, DMSEC_NONCE_MAX},
    /* An empty pending nonce: none pending, the current one stays. */
    {SET_PENDING, 0x55, 0, 0x33, 16, 0, 0},
    {SET_PENDING, 0x66, 8, 0x33, 16, 0x66, 8},
    /* An authenticated peer gets a new current nonce: pending cleared. */
    {SET_CURRENT, 0x77, 8, 0x77, 8, 0, 0},
    {SET_CURRENT, 0x88, 16, 0x88, 16, 0, 0},
};

static void assert_nonce(const uint8_t *got, size_t got_len, uint8_t seed, size_t len)
{
    uint8_t want[DMSEC_NONCE_MAX];
    fill(want, len, seed);
    assert_bytes(got, got_len, want, len);
}

static void client_nonce_pending(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("pending.db");
    dmsec_device_t start;
    make_device(&start, "IMEI:1", 1);
    assert_int_equal(dmsec_store_device_add(st, &start), DMSEC_OK);
    add_device(st, "IMEI:2", 2); /* a bystander, never changed */
    dmsec_device_t got;
    assert_int_equal(dmsec_store_device_get(st, "IMEI:1", &got), DMSEC_OK);
    assert_bytes(got.client_nonce_pending, got.client_nonce_pending_len, start.client_nonce_pending,
                 start.client_nonce_pending_len);

    for (size_t i = 0; i < sizeof nonce_steps / sizeof nonce_steps[0]; i++) {
        uint8_t nonce[DMSEC_NONCE_MAX];
        fill(nonce, nonce_steps[i].len, nonce_steps[i].seed);
        if (nonce_steps[i].op == SET_PENDING)
            assert_int_equal(
                dmsec_store_set_client_nonce_pending(st, "IMEI:1", nonce, nonce_steps[i].len),
                DMSEC_OK);
        else
            assert_int_equal(dmsec_store_set_client_nonce(st, "IMEI:1", nonce, nonce_steps[i].len),
                             DMSEC_OK);
        assert_int_equal(dmsec_store_device_get(st, "IMEI:1", &got), DMSEC_OK);
        if (nonce_steps[i].cur_seed)
            assert_nonce(got.client_nonce, got.client_nonce_len, nonce_steps[i].cur_seed,
                         nonce_steps[i].cur_len);
        else
            assert_bytes(got.client_nonce, got.client_nonce_len, start.client_nonce,
                         start.client_nonce_len);
        assert_nonce(got.client_nonce_pending, got.client_nonce_pending_len,
                     nonce_steps[i].pend_seed, nonce_steps[i].pend_len);
        /* Nothing else of the device moved. */
        assert_bytes(got.server_nonce, got.server_nonce_len, start.server_nonce,
                     start.server_nonce_len);
        assert_bytes(got.pending_secret, got.pending_secret_len, start.pending_secret,
                     start.pending_secret_len);

        /* The engine sees both nonces of the stored device. */
        dmsec_account_t acc;
        assert_int_equal(dmsec_store_device_account(&got, SERVER_ID, &acc), DMSEC_OK);
        assert_bytes(acc.in_nonce, acc.in_nonce_len, got.client_nonce, got.client_nonce_len);
        assert_bytes(acc.in_nonce_pending, acc.in_nonce_pending_len, got.client_nonce_pending,
                     got.client_nonce_pending_len);
        dmsec_account_wipe(&acc);
    }

    /* Both nonces survive a reopen, and the bystander never changed. */
    uint8_t pend[8];
    fill(pend, sizeof pend, 0x99);
    assert_int_equal(dmsec_store_set_client_nonce_pending(st, "IMEI:1", pend, sizeof pend),
                     DMSEC_OK);
    dmsec_store_close(st);
    st = store_open("pending.db");
    assert_int_equal(dmsec_store_device_get(st, "IMEI:1", &got), DMSEC_OK);
    assert_nonce(got.client_nonce, got.client_nonce_len, 0x88, 16);
    assert_bytes(got.client_nonce_pending, got.client_nonce_pending_len, pend, sizeof pend);
    dmsec_device_t other;
    make_device(&other, "IMEI:2", 2);
    assert_int_equal(dmsec_store_device_get(st, "IMEI:2", &got), DMSEC_OK);
    assert_device_equal(&got, &other);
    dmsec_store_close(st);
}

/* Both client nonce setters on devices that are not there, and on
 * arguments that are not acceptable. */
static const struct {
    const char *id;
    int null_nonce;
    size_t len;
    int err;
} nonce_refusals[] = {
    {"IMEI:9", 0, 8, DMSEC_ERR_STORE_NOT_FOUND},
    {"IMEI:9", 1, 0, DMSEC_ERR_STORE_NOT_FOUND},
    {"", 0, 8, DMSEC_ERR_STORE_NOT_FOUND},
    {NULL, 0, 8, DMSEC_ERR_INVALID_ARG},
    {"IMEI:1", 1, 8, DMSEC_ERR_INVALID_ARG},
    {"IMEI:1", 0, DMSEC_NONCE_MAX + 1, DMSEC_ERR_TOO_LARGE},
};

static void client_nonce_refusals(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("nonce-refusals.db");
    dmsec_device_t d;
    make_device(&d, "IMEI:1", 1);
    assert_int_equal(dmsec_store_device_add(st, &d), DMSEC_OK);
    uint8_t nonce[DMSEC_NONCE_MAX + 1];
    fill(nonce, sizeof nonce, 0x42);
    for (size_t i = 0; i < sizeof nonce_refusals / sizeof nonce_refusals[0]; i++) {
        const uint8_t *p = nonce_refusals[i].null_nonce ? NULL : nonce;
        assert_int_equal(
            dmsec_store_set_client_nonce(st, nonce_refusals[i].id, p, nonce_refusals[i].len),
            nonce_refusals[i].err);
        assert_int_equal(dmsec_store_set_client_nonce_pending(st, nonce_refusals[i].id, p,
                                                              nonce_refusals[i].len),
                         nonce_refusals[i].err);
    }
    assert_int_equal(dmsec_store_set_client_nonce_pending(NULL, "IMEI:1", nonce, 8),
                     DMSEC_ERR_INVALID_ARG);
    /* No refusal changed the device that is there. */
    dmsec_device_t got;
    assert_int_equal(dmsec_store_device_get(st, "IMEI:1", &got), DMSEC_OK);
    assert_device_equal(&got, &d);
    /* A device removed has no nonce to set any more. */
    assert_int_equal(dmsec_store_device_remove(st, "IMEI:1"), DMSEC_OK);
    assert_int_equal(dmsec_store_set_client_nonce_pending(st, "IMEI:1", nonce, 8),
                     DMSEC_ERR_STORE_NOT_FOUND);
    assert_int_equal(dmsec_store_set_client_nonce(st, "IMEI:1", nonce, 8),
                     DMSEC_ERR_STORE_NOT_FOUND);
    dmsec_store_close(st);
}

static const struct {
    dmsec_auth_scheme_t scheme;
    dmsec_integrity_t integrity;
    int keeps_plaintext;
} rotations[] = {
    {DMSEC_AUTH_MD5, DMSEC_INTEGRITY_NONE, 0},
    {DMSEC_AUTH_SHA256, DMSEC_INTEGRITY_HMAC_MD5, 0},
    {DMSEC_AUTH_BASIC, DMSEC_INTEGRITY_NONE, 1},
    {DMSEC_AUTH_MD5, DMSEC_INTEGRITY_HMAC_SHA256, 1},
};

static void secret_pending_then_commit(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("secrets.db");
    static const uint8_t fresh[] = "fresh-server-secret-0123456789";
    const size_t fresh_len = sizeof fresh - 1;
    for (size_t i = 0; i < sizeof rotations / sizeof rotations[0]; i++) {
        char id[16];
        snprintf(id, sizeof id, "IMEI:%zu", i);
        dmsec_device_t d;
        make_device(&d, id, (uint8_t)i);
        d.server_scheme = rotations[i].scheme;
        d.integrity = rotations[i].integrity;
        d.server_secret_len = 10;
        fill(d.server_secret, 10, 1);
        d.pending_secret_len = 0;
        assert_int_equal(dmsec_store_device_add(st, &d), DMSEC_OK);
        assert_int_equal(dmsec_store_secret_commit(st, id, SERVER_ID), DMSEC_ERR_STORE_NOT_FOUND);

        assert_int_equal(dmsec_store_secret_pending(st, id, SERVER_ID, fresh, fresh_len), DMSEC_OK);
        dmsec_device_t got;
        assert_int_equal(dmsec_store_device_get(st, id, &got), DMSEC_OK);
        assert_bytes(got.pending_secret, got.pending_secret_len, fresh, fresh_len);
        /* Until confirmed, the current secret is the one in use. */
        assert_prehash_equal(&got.server_prehash, &d.server_prehash);
        assert_bytes(got.server_secret, got.server_secret_len, d.server_secret,
                     d.server_secret_len);

        assert_int_equal(dmsec_store_secret_commit(st, id, SERVER_ID), DMSEC_OK);
        assert_int_equal(dmsec_store_device_get(st, id, &got), DMSEC_OK);
        dmsec_prehash_t want;
        assert_int_equal(dmsec_prehash_compute(SERVER_ID, fresh, fresh_len, &want), DMSEC_OK);
        assert_prehash_equal(&got.server_prehash, &want);
        assert_int_equal(got.pending_secret_len, 0);
        if (rotations[i].keeps_plaintext)
            assert_bytes(got.server_secret, got.server_secret_len, fresh, fresh_len);
        else
            assert_int_equal(got.server_secret_len, 0);
        assert_int_equal(dmsec_store_secret_commit(st, id, SERVER_ID), DMSEC_ERR_STORE_NOT_FOUND);
    }
    assert_int_equal(dmsec_store_secret_pending(st, "IMEI:9", SERVER_ID, fresh, fresh_len),
                     DMSEC_ERR_STORE_NOT_FOUND);
    assert_int_equal(dmsec_store_secret_commit(st, "IMEI:9", SERVER_ID), DMSEC_ERR_STORE_NOT_FOUND);
    assert_int_equal(dmsec_store_secret_pending(st, "IMEI:0", SERVER_ID, fresh, 0),
                     DMSEC_ERR_INVALID_ARG);
    dmsec_store_close(st);
}

/* ---- notifications ---- */

static void put_note(dmsec_store_t *st, const char *dev, uint16_t sid, int default_nonce,
                     int64_t sent, int64_t expires)
{
    dmsec_notification_t n;
    memset(&n, 0, sizeof n);
    snprintf(n.device_id, sizeof n.device_id, "%s", dev);
    n.session_id = sid;
    n.default_nonce = default_nonce;
    n.sent = sent;
    n.expires = expires;
    assert_int_equal(dmsec_store_notification_put(st, &n), DMSEC_OK);
}

static void notifications_lifecycle(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("notes.db");
    add_device(st, "IMEI:1", 1);
    add_device(st, "IMEI:2", 2);
    dmsec_notification_t got;
    assert_int_equal(dmsec_store_notification_pending(st, "IMEI:1", 1000, &got),
                     DMSEC_ERR_STORE_NOT_FOUND);

    put_note(st, "IMEI:1", 0xA1, 0, 1000, 4600);
    put_note(st, "IMEI:1", 0xA1, 0, 1500, 5100); /* re-sent */
    assert_int_equal(dmsec_store_notification_pending(st, "IMEI:1", 2000, &got), DMSEC_OK);
    assert_string_equal(got.device_id, "IMEI:1");
    assert_int_equal(got.session_id, 0xA1);
    assert_int_equal(got.sent, 1500);
    assert_int_equal(got.expires, 5100);
    assert_int_equal(got.attempts, 2);
    assert_int_equal(got.opened, 0);
    assert_int_equal(got.default_nonce, 0);

    put_note(st, "IMEI:1", 0xB2, 0, 1700, 5300);
    put_note(st, "IMEI:1", 0xC3, 1, 1000, 5300); /* already a resync */
    put_note(st, "IMEI:2", 0x11, 0, 1100, 1200); /* expired by now */

    /* Overdue: sent before 1600, not opened, unexpired, not a resync. */
    seen_t due = {0};
    assert_int_equal(dmsec_store_notification_overdue(st, 1600, 2000, on_notification, &due),
                     DMSEC_OK);
    assert_int_equal(due.count, 1);
    assert_int_equal(due.sids[0], 0xA1);

    seen_t all = {0};
    assert_int_equal(dmsec_store_notification_list(st, "IMEI:1", on_notification, &all), DMSEC_OK);
    assert_int_equal(all.count, 3);
    assert_int_equal(all.sids[0], 0xC3); /* by time sent */
    assert_int_equal(all.sids[1], 0xA1);
    assert_int_equal(all.sids[2], 0xB2);

    /* Pending: the most recent unopened one, to reuse on a re-trigger. */
    assert_int_equal(dmsec_store_notification_pending(st, "IMEI:1", 2000, &got), DMSEC_OK);
    assert_int_equal(got.session_id, 0xB2);
    assert_int_equal(dmsec_store_notification_opened(st, "IMEI:1", 0xB2), DMSEC_OK);
    assert_int_equal(dmsec_store_notification_opened(st, "IMEI:1", 0xC3), DMSEC_OK);
    assert_int_equal(dmsec_store_notification_pending(st, "IMEI:1", 2000, &got), DMSEC_OK);
    assert_int_equal(got.session_id, 0xA1);
    assert_int_equal(dmsec_store_notification_opened(st, "IMEI:1", 0xA1), DMSEC_OK);
    assert_int_equal(dmsec_store_notification_pending(st, "IMEI:1", 2000, &got),
                     DMSEC_ERR_STORE_NOT_FOUND);
    assert_int_equal(dmsec_store_notification_pending(st, "IMEI:2", 2000, &got),
                     DMSEC_ERR_STORE_NOT_FOUND);
    assert_int_equal(dmsec_store_notification_opened(st, "IMEI:1", 0xCC),
                     DMSEC_ERR_STORE_NOT_FOUND);
    seen_t none = {0};
    assert_int_equal(dmsec_store_notification_overdue(st, 1600, 2000, on_notification, &none),
                     DMSEC_OK);
    assert_int_equal(none.count, 0);

    /* A re-send keeps opened. */
    put_note(st, "IMEI:1", 0xA1, 0, 1900, 5500);
    seen_t again = {0};
    assert_int_equal(dmsec_store_notification_list(st, "IMEI:1", on_notification, &again),
                     DMSEC_OK);
    assert_int_equal(again.count, 3);
    assert_int_equal(again.sids[2], 0xA1);
    assert_int_equal(dmsec_store_notification_pending(st, "IMEI:1", 2000, &got),
                     DMSEC_ERR_STORE_NOT_FOUND);

    /* Only known devices get notifications; removing one removes them. */
    dmsec_notification_t orphan = {.device_id = "IMEI:9", .session_id = 5, .expires = 9};
    assert_int_equal(dmsec_store_notification_put(st, &orphan), DMSEC_ERR_STORE_NOT_FOUND);
    orphan.session_id = 0;
    assert_int_equal(dmsec_store_notification_put(st, &orphan), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_device_remove(st, "IMEI:1"), DMSEC_OK);
    seen_t gone = {0};
    assert_int_equal(dmsec_store_notification_list(st, "IMEI:1", on_notification, &gone), DMSEC_OK);
    assert_int_equal(gone.count, 0);
    dmsec_store_close(st);
}

/* The overdue walk lets its callback re-send through the same handle, as
 * the resync policy does, and each re-send is committed at once. */
typedef struct {
    dmsec_store_t *st;
    int resent;
} resend_t;

static int resend_on_default_nonce(void *ctx, const dmsec_notification_t *n)
{
    resend_t *r = ctx;
    dmsec_notification_t again = *n;
    again.default_nonce = 1;
    again.sent = 3000;
    again.expires = 9000;
    if (dmsec_store_notification_put(r->st, &again) != DMSEC_OK)
        return -1;
    r->resent++;
    return 0;
}

static void overdue_callback_writes(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("overdue.db");
    add_device(st, "IMEI:1", 1);
    for (uint16_t sid = 1; sid <= 40; sid++)
        put_note(st, "IMEI:1", sid, 0, 1000 + sid, 8000);
    resend_t r = {st, 0};
    assert_int_equal(dmsec_store_notification_overdue(st, 2000, 2500, resend_on_default_nonce, &r),
                     DMSEC_OK);
    assert_int_equal(r.resent, 40);

    /* Another connection sees them all as outstanding resyncs. */
    dmsec_store_t *other = store_open("overdue.db");
    for (uint16_t sid = 1; sid <= 40; sid++) {
        char text[8];
        snprintf(text, sizeof text, "%X", sid);
        assert_int_equal(dmsec_store_resync_outstanding(other, "IMEI:1", text, 4000), 1);
    }
    dmsec_store_close(other);
    dmsec_store_close(st);
}

static void new_session_ids(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("sids.db");
    add_device(st, "IMEI:1", 1);
    add_device(st, "IMEI:2", 2);
    add_device(st, "IMEI:3", 3);
    uint16_t sid = 0;
    const uint8_t r1234[2] = {0x12, 0x34};
    const uint8_t r0000[2] = {0x00, 0x00};
    const uint8_t rffff[2] = {0xFF, 0xFF};
    assert_int_equal(dmsec_store_new_session_id(st, "IMEI:1", r1234, &sid), DMSEC_OK);
    assert_int_equal(sid, 0x1234);
    assert_int_equal(dmsec_store_new_session_id(st, "IMEI:1", r0000, &sid), DMSEC_OK);
    assert_int_equal(sid, 1);

    /* Collisions step to the next free id, wrapping past 0xFFFF to 1. */
    put_note(st, "IMEI:1", 0x1234, 0, 1, 2);
    put_note(st, "IMEI:1", 0x1235, 1, 1, 2);
    assert_int_equal(dmsec_store_new_session_id(st, "IMEI:1", r1234, &sid), DMSEC_OK);
    assert_int_equal(sid, 0x1236);
    put_note(st, "IMEI:1", 0xFFFF, 0, 1, 2);
    put_note(st, "IMEI:1", 1, 0, 1, 2);
    assert_int_equal(dmsec_store_new_session_id(st, "IMEI:1", rffff, &sid), DMSEC_OK);
    assert_int_equal(sid, 2);
    assert_int_equal(dmsec_store_new_session_id(st, "IMEI:1", r0000, &sid), DMSEC_OK);
    assert_int_equal(sid, 2);
    /* Other devices' ids do not count. */
    assert_int_equal(dmsec_store_new_session_id(st, "IMEI:2", r1234, &sid), DMSEC_OK);
    assert_int_equal(sid, 0x1234);

    /* Every id taken (written from outside, in one transaction). */
    sqlite3 *db = raw_open("sids.db");
    raw_exec(db, "BEGIN");
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO notifications (device_id, session_id,"
                                        " default_nonce, sent, expires) VALUES ('IMEI:3', ?1, 0,"
                                        " 1, 2)",
                                        -1, &s, NULL),
                     SQLITE_OK);
    for (int v = 1; v <= 0xFFFF; v++) {
        sqlite3_bind_int(s, 1, v);
        assert_int_equal(sqlite3_step(s), SQLITE_DONE);
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    raw_exec(db, "COMMIT");
    sqlite3_close(db);
    assert_int_equal(dmsec_store_new_session_id(st, "IMEI:3", r1234, &sid), DMSEC_ERR_STORE_EXISTS);
    dmsec_store_close(st);
}

/* ---- resynchronisation (Solution 1) ---- */

static const char *const wrong_sid_texts[] = {"a1", "0A1", "00A1", "",    "12345", "G1",
                                              "0",  "A2",  " A1",  "A1 ", "-A1",   "+A1"};

static void resync_outstanding_and_consume(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("resync.db");
    add_device(st, "IMEI:1", 1);
    add_device(st, "IMEI:2", 2);
    put_note(st, "IMEI:1", 0xA1, 1, 1000, 5000);
    put_note(st, "IMEI:1", 0xB2, 0, 1000, 5000); /* the normal nonce: no resync */

    assert_int_equal(dmsec_store_resync_outstanding(st, "IMEI:1", "A1", 2000), 1);
    for (size_t i = 0; i < sizeof wrong_sid_texts / sizeof wrong_sid_texts[0]; i++) {
        assert_int_equal(dmsec_store_resync_outstanding(st, "IMEI:1", wrong_sid_texts[i], 2000), 0);
        assert_int_equal(dmsec_store_resync_consume(st, "IMEI:1", wrong_sid_texts[i], 2000), 0);
    }
    assert_int_equal(dmsec_store_resync_outstanding(st, "IMEI:2", "A1", 2000), 0);
    assert_int_equal(dmsec_store_resync_outstanding(st, "IMEI:1", "B2", 2000), 0);
    assert_int_equal(dmsec_store_resync_consume(st, "IMEI:1", "B2", 2000), 0);
    /* Expired. */
    assert_int_equal(dmsec_store_resync_outstanding(st, "IMEI:1", "A1", 5000), 0);
    assert_int_equal(dmsec_store_resync_consume(st, "IMEI:1", "A1", 5000), 0);

    assert_int_equal(dmsec_store_resync_consume(st, "IMEI:1", "A1", 2000), 1);
    assert_int_equal(dmsec_store_resync_consume(st, "IMEI:1", "A1", 2000), 0);
    assert_int_equal(dmsec_store_resync_outstanding(st, "IMEI:1", "A1", 2000), 0);

    /* Re-sent on the normal nonce: stays consumed; on the default nonce
     * again: a new outstanding resync. */
    put_note(st, "IMEI:1", 0xA1, 0, 2100, 6000);
    put_note(st, "IMEI:1", 0xA1, 1, 2200, 6000);
    assert_int_equal(dmsec_store_resync_outstanding(st, "IMEI:1", "A1", 3000), 1);
    put_note(st, "IMEI:1", 0xA1, 1, 2300, 6000);
    assert_int_equal(dmsec_store_resync_consume(st, "IMEI:1", "A1", 3000), 1);
    put_note(st, "IMEI:1", 0xA1, 1, 2400, 6000); /* same kind again: still consumed */
    assert_int_equal(dmsec_store_resync_outstanding(st, "IMEI:1", "A1", 3000), 0);

    put_note(st, "IMEI:1", 0xFFFF, 1, 1000, 5000);
    assert_int_equal(dmsec_store_resync_outstanding(st, "IMEI:1", "FFFF", 2000), 1);
    put_note(st, "IMEI:1", 0x1, 1, 1000, 5000);
    assert_int_equal(dmsec_store_resync_consume(st, "IMEI:1", "1", 2000), 1);
    dmsec_store_close(st);
}

enum race_op { RACE_CONSUME, RACE_MAC, RACE_OPEN };

/* Forks RACERS processes that each open their own handle, wait on one pipe
 * and act together when the parent closes it. Returns how many got 1;
 * *failed counts errors. */
static int race(const char *name, enum race_op op, int *failed)
{
    char path[256];
    char uri[300];
    path_of(name, path, sizeof path);
    snprintf(uri, sizeof uri, "sqlite:%s", path);
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t pids[RACERS];
    for (int i = 0; i < RACERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(go[1]);
            dmsec_store_t *st = NULL;
            int rc = op == RACE_OPEN ? 0 : dmsec_store_open(uri, &st);
            char c = 0;
            ssize_t got = read(go[0], &c, 1); /* returns 0 at the start signal */
            if (rc || got != 0)
                _exit(3);
            if (op == RACE_OPEN) {
                rc = dmsec_store_open(uri, &st);
                if (!rc)
                    rc = dmsec_store_audit(st, 1, "IMEI:1", "opened", NULL);
                rc = rc ? rc : 1;
            } else if (op == RACE_CONSUME) {
                rc = dmsec_store_resync_consume(st, "IMEI:1", "A1", 2000);
            } else {
                rc = dmsec_store_mac_seen(st, "bWFjLW9mLW9uZS1tZXNzYWdl", 1000, 1000, 600);
                rc = rc == 0 ? 1 : rc == 1 ? 0 : rc; /* count the one that recorded it */
            }
            dmsec_store_close(st);
            _exit(rc == 1 ? 1 : rc == 0 ? 0 : 2);
        }
    }
    close(go[0]);
    close(go[1]); /* start */
    int ones = 0;
    *failed = 0;
    for (int i = 0; i < RACERS; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 1)
            ones++;
        else if (WEXITSTATUS(status) != 0)
            (*failed)++;
    }
    return ones;
}

static void resync_consume_race(void **state)
{
    (void)state;
    for (int round = 0; round < 5; round++) {
        char name[32];
        snprintf(name, sizeof name, "race-%d.db", round);
        dmsec_store_t *st = store_open(name);
        add_device(st, "IMEI:1", 1);
        put_note(st, "IMEI:1", 0xA1, 1, 1000, 5000);
        dmsec_store_close(st); /* no handle crosses a fork */
        int failed = 0;
        assert_int_equal(race(name, RACE_CONSUME, &failed), 1);
        assert_int_equal(failed, 0);
        st = store_open(name);
        assert_int_equal(dmsec_store_resync_outstanding(st, "IMEI:1", "A1", 2000), 0);
        dmsec_store_close(st);
    }
}

static void mac_seen_race(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("mac-race.db");
    dmsec_store_close(st);
    int failed = 0;
    assert_int_equal(race("mac-race.db", RACE_MAC, &failed), 1);
    assert_int_equal(failed, 0);
}

/* Several processes creating one new store at once: all succeed. */
static void concurrent_first_open(void **state)
{
    (void)state;
    int failed = 0;
    assert_int_equal(race("first-open.db", RACE_OPEN, &failed), RACERS);
    assert_int_equal(failed, 0);
    dmsec_store_t *st = store_open("first-open.db");
    seen_t seen = {0};
    assert_int_equal(dmsec_store_audit_list(st, 0, on_audit, &seen), DMSEC_OK);
    assert_int_equal(seen.count, RACERS);
    dmsec_store_close(st);
}

/* ---- sessions, audit, replay cache ---- */

static void sessions_newest_first(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("sessions.db");
    int64_t id1 = 0;
    int64_t id2 = 0;
    int64_t id3 = 0;
    assert_int_equal(dmsec_store_session_begin(st, "IMEI:1", "A1", "10.0.0.1", 100, &id1),
                     DMSEC_OK);
    assert_int_equal(dmsec_store_session_begin(st, "IMEI:2", "B2", NULL, 300, &id2), DMSEC_OK);
    assert_int_equal(dmsec_store_session_begin(st, "IMEI:1", "C3", "10.0.0.1", 200, &id3),
                     DMSEC_OK);
    assert_true(id1 != id2 && id2 != id3 && id1 != id3);
    assert_int_equal(dmsec_store_session_end(st, id1, DMSEC_ERR_AUTH_FAILED, 4, 150), DMSEC_OK);
    assert_int_equal(dmsec_store_session_end(st, id3 + 100, 0, 1, 150), DMSEC_ERR_STORE_NOT_FOUND);

    seen_t seen = {0};
    assert_int_equal(dmsec_store_session_list(st, 0, on_session, &seen), DMSEC_OK);
    assert_int_equal(seen.count, 3);
    assert_string_equal(seen.ids[0], "B2");
    assert_string_equal(seen.ids[1], "C3");
    assert_string_equal(seen.ids[2], "A1");
    seen_t two = {0};
    assert_int_equal(dmsec_store_session_list(st, 2, on_session, &two), DMSEC_OK);
    assert_int_equal(two.count, 2);
    assert_int_equal(two.times[1], 200);
    dmsec_store_close(st);

    /* Every field, from a new handle. */
    sqlite3 *db = raw_open("sessions.db");
    raw_is(db,
           "SELECT device_id || '|' || ended || '|' || result || '|' || messages"
           " FROM sessions WHERE session_id = 'A1'",
           "IMEI:1|150|-201|4");
    raw_is(db, "SELECT peer FROM sessions WHERE session_id = 'B2'", "");
    sqlite3_close(db);
}

static void audit_trail(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("audit.db");
    for (int i = 0; i < 40; i++) {
        char event[16];
        snprintf(event, sizeof event, "ev%02d", i);
        assert_int_equal(dmsec_store_audit(st, 1000 + i, i % 2 ? "IMEI:1" : NULL, event, "x"),
                         DMSEC_OK);
    }
    seen_t all = {0};
    assert_int_equal(dmsec_store_audit_list(st, 0, on_audit, &all), DMSEC_OK);
    assert_int_equal(all.count, 40);
    for (int i = 0; i < 40; i++) {
        char event[16];
        snprintf(event, sizeof event, "ev%02d", 39 - i);
        assert_string_equal(all.ids[i], event);
        assert_int_equal(all.times[i], 1039 - i);
    }
    seen_t five = {0};
    assert_int_equal(dmsec_store_audit_list(st, 5, on_audit, &five), DMSEC_OK);
    assert_int_equal(five.count, 5);

    /* Long text is cut to the record, never split inside a UTF-8 character. */
    char detail[600];
    memset(detail, 0, sizeof detail);
    for (size_t i = 0; i + 2 < 599; i += 2)
        memcpy(detail + i, "\xC3\xA9", 2);
    assert_int_equal(dmsec_store_audit(st, 5000, "IMEI:1", "long", detail), DMSEC_OK);
    assert_int_equal(dmsec_store_audit(st, 5000, "IMEI:1", "", "x"), DMSEC_ERR_INVALID_ARG);
    dmsec_store_close(st);
    sqlite3 *db = raw_open("audit.db");
    raw_is(db, "SELECT length(CAST(detail AS BLOB)) FROM audit WHERE event = 'long'", "254");
    sqlite3_close(db);
}

static void mac_replay_cache(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("macs.db");
    assert_int_equal(dmsec_store_mac_seen(st, "old-mac", 1000, 1000, 600), 0);
    assert_int_equal(dmsec_store_mac_seen(st, "old-mac", 1000, 1010, 600), 1);
    assert_int_equal(dmsec_store_mac_seen(st, "new-mac", 1000, 1010, 600), 0);
    assert_int_equal(dmsec_store_mac_seen(st, "x", 1000, 1010, 0), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_mac_seen(st, "", 1000, 1010, 600), DMSEC_ERR_INVALID_ARG);
    dmsec_store_close(st);

    /* A new handle prunes on its first call: both macs are long stale. */
    st = store_open("macs.db");
    assert_int_equal(dmsec_store_mac_seen(st, "third-mac", 9000, 9000, 600), 0);
    dmsec_store_close(st);
    sqlite3 *db = raw_open("macs.db");
    raw_is(db, "SELECT count(*) FROM macs", "1");
    sqlite3_close(db);
}

/* ---- opening ---- */

static void open_refuses_foreign_files(void **state)
{
    (void)state;
    char path[256];
    path_of("junk.db", path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    uint8_t junk[4096];
    fill(junk, sizeof junk, 0x5A);
    assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);
    dmsec_store_t *st = NULL;
    assert_int_equal(dmsec_store_open(path, &st), DMSEC_ERR_STORE_CORRUPT);
    assert_null(st);

    /* A sound SQLite database that is someone else's: refused, untouched. */
    sqlite3 *db = raw_open("foreign.db");
    raw_exec(db, "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)");
    sqlite3_close(db);
    path_of("foreign.db", path, sizeof path);
    assert_int_equal(dmsec_store_open(path, &st), DMSEC_ERR_STORE_CORRUPT);
    db = raw_open("foreign.db");
    raw_is(db, "PRAGMA journal_mode", "delete");
    sqlite3_close(db);

    /* A store from a newer dmsec. */
    st = store_open("newer.db");
    dmsec_store_close(st);
    db = raw_open("newer.db");
    raw_exec(db, "PRAGMA user_version = 99");
    sqlite3_close(db);
    path_of("newer.db", path, sizeof path);
    assert_int_equal(dmsec_store_open(path, &st), DMSEC_ERR_STORE_CORRUPT);
}

static const struct {
    const char *uri;
    int err;
} bad_uris[] = {
    {"postgres://dmsec@localhost/dmsec", DMSEC_ERR_STORE_URI},
    {"postgresql:dbname=dmsec", DMSEC_ERR_STORE_URI},
    {"mysql:x", DMSEC_ERR_STORE_URI},
    {"file:x.db", DMSEC_ERR_STORE_URI},
    {"", DMSEC_ERR_STORE_URI},
    {"sqlite:", DMSEC_ERR_STORE_URI},
    {"sqlite:/nonexistent-dir-dmsec/x.db", DMSEC_ERR_STORE_IO},
    {"/nonexistent-dir-dmsec/x.db", DMSEC_ERR_STORE_IO},
};

static void open_uris(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_uris / sizeof bad_uris[0]; i++) {
        dmsec_store_t *st = NULL;
        assert_int_equal(dmsec_store_open(bad_uris[i].uri, &st), bad_uris[i].err);
        assert_null(st);
    }
    assert_string_not_equal(dmsec_strerror(DMSEC_ERR_STORE_URI), "unknown error");

    /* A bare path and "sqlite:PATH" name the same store. */
    char path[256];
    char uri[300];
    path_of("bare.db", path, sizeof path);
    snprintf(uri, sizeof uri, "sqlite:%s", path);
    dmsec_store_t *st = NULL;
    assert_int_equal(dmsec_store_open(path, &st), DMSEC_OK);
    add_device(st, "IMEI:1", 1);
    dmsec_store_close(st);
    assert_int_equal(dmsec_store_open(uri, &st), DMSEC_OK);
    dmsec_device_t got;
    assert_int_equal(dmsec_store_device_get(st, "IMEI:1", &got), DMSEC_OK);
    dmsec_store_close(st);

    /* The in-memory database works too (no WAL there). */
    assert_int_equal(dmsec_store_open(":memory:", &st), DMSEC_OK);
    add_device(st, "IMEI:1", 1);
    assert_int_equal(dmsec_store_device_get(st, "IMEI:1", &got), DMSEC_OK);
    dmsec_store_close(st);
}

static void file_is_private_and_wal(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("mode.db");
    add_device(st, "IMEI:1", 1);
    char path[256];
    path_of("mode.db", path, sizeof path);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    /* SQLite's companions of the file while it is open. */
    static const char *const companions[] = {"-wal", "-shm"};
    for (size_t i = 0; i < 2; i++) {
        char other[300];
        snprintf(other, sizeof other, "%s%s", path, companions[i]);
        assert_int_equal(stat(other, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
    }

    sqlite3 *db = raw_open("mode.db");
    raw_is(db, "PRAGMA journal_mode", "wal");
    raw_is(db, "PRAGMA user_version", "6");
    raw_is(db, "PRAGMA application_id", "1145918275"); /* "DMSC" */
    sqlite3_close(db);
    dmsec_store_close(st);
}

/* A store as dmsec wrote it at version 1 (the first migration only, before
 * the pending client nonce) must open. */
static void migrates_from_v1(void **state)
{
    (void)state;
    static const uint8_t old_nonce[] = {1, 2, 3, 4, 5, 6, 7, 8};
    static const char *const rows[] = {
        "INSERT INTO devices (device_id, client_name, client_scheme, client_ph_flags,"
        " client_nonce, server_scheme, server_ph_flags, integrity, notify_addr,"
        " srvcred_path, cert_subject, created) VALUES ('IMEI:old', 'old', 1, 0,"
        " x'0102030405060708', 1, 0, 0, 'udp://127.0.0.1:2948', '', 'CN=old',"
        " 1600000000)",
        "INSERT INTO notifications (device_id, session_id, default_nonce, sent, expires)"
        " VALUES ('IMEI:old', 7, 0, 100, 200)",
        NULL};
    sqlite3 *db = old_store("v1.db", 1, rows);
    raw_is(db,
           "SELECT count(*) FROM pragma_table_info('devices')"
           " WHERE name = 'client_nonce_pending'",
           "0");
    sqlite3_close(db);

    /* Opening migrates, keeping every row. */
    dmsec_store_t *st = store_open("v1.db");
    db = raw_open("v1.db");
    raw_is(db, "PRAGMA user_version", "6");
    raw_is(db,
           "SELECT count(*) FROM pragma_table_info('devices')"
           " WHERE name = 'client_nonce_pending'",
           "1");
    raw_is(db, "SELECT quote(client_nonce_pending) FROM devices", "NULL");
    sqlite3_close(db);
    dmsec_device_t got;
    assert_int_equal(dmsec_store_device_get(st, "IMEI:old", &got), DMSEC_OK);
    assert_string_equal(got.client_name, "old");
    assert_string_equal(got.notify_addr, "udp://127.0.0.1:2948");
    assert_int_equal(got.created, 1600000000);
    assert_bytes(got.client_nonce, got.client_nonce_len, old_nonce, sizeof old_nonce);
    assert_int_equal(got.client_nonce_pending_len, 0);
    assert_int_equal(dmsec_store_device_by_cert(st, "CN=old", &got), DMSEC_OK);
    seen_t seen = {0};
    assert_int_equal(dmsec_store_notification_list(st, "IMEI:old", on_notification, &seen),
                     DMSEC_OK);
    assert_int_equal(seen.count, 1);
    assert_int_equal(seen.sids[0], 7);

    /* The migrated device takes a pending nonce beside its current one. */
    uint8_t pend[12];
    fill(pend, sizeof pend, 0x3C);
    assert_int_equal(dmsec_store_set_client_nonce_pending(st, "IMEI:old", pend, sizeof pend),
                     DMSEC_OK);
    dmsec_store_close(st);

    /* Reopening a migrated store changes nothing. */
    st = store_open("v1.db");
    assert_int_equal(dmsec_store_device_get(st, "IMEI:old", &got), DMSEC_OK);
    assert_bytes(got.client_nonce, got.client_nonce_len, old_nonce, sizeof old_nonce);
    assert_bytes(got.client_nonce_pending, got.client_nonce_pending_len, pend, sizeof pend);
    dmsec_store_close(st);
    db = raw_open("v1.db");
    raw_is(db, "PRAGMA user_version", "6");
    sqlite3_close(db);
}

/* ---- damaged rows, bad arguments ---- */

static void damaged_rows(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("damaged.db");
    add_device(st, "IMEI:nonce", 1);
    add_device(st, "IMEI:scheme", 2);
    add_device(st, "IMEI:hash", 3);
    add_device(st, "IMEI:text", 4);
    add_device(st, "IMEI:utf8", 5);
    add_device(st, "IMEI:pending", 6);
    sqlite3 *db = raw_open("damaged.db");
    raw_exec(db, "UPDATE devices SET client_nonce = zeroblob(65) WHERE device_id = 'IMEI:nonce'");
    raw_exec(db, "UPDATE devices SET server_scheme = 7 WHERE device_id = 'IMEI:scheme'");
    raw_exec(db, "UPDATE devices SET client_ph_md5 = zeroblob(15) WHERE device_id = 'IMEI:hash'");
    raw_exec(db, "UPDATE devices SET notify_addr = printf('%.300c', 'a')"
                 " WHERE device_id = 'IMEI:text'");
    raw_exec(db, "UPDATE devices SET client_name = 'n' || printf('%.100c', char(233))"
                 " WHERE device_id = 'IMEI:utf8'");
    raw_exec(db, "UPDATE devices SET client_nonce_pending = zeroblob(65)"
                 " WHERE device_id = 'IMEI:pending'");
    sqlite3_close(db);

    dmsec_device_t got;
    assert_int_equal(dmsec_store_device_get(st, "IMEI:nonce", &got), DMSEC_ERR_STORE_CORRUPT);
    assert_int_equal(dmsec_store_device_get(st, "IMEI:scheme", &got), DMSEC_ERR_STORE_CORRUPT);
    assert_int_equal(dmsec_store_device_get(st, "IMEI:hash", &got), DMSEC_ERR_STORE_CORRUPT);
    assert_int_equal(dmsec_store_device_get(st, "IMEI:pending", &got), DMSEC_ERR_STORE_CORRUPT);
    assert_int_equal(dmsec_store_device_get(st, "IMEI:text", &got), DMSEC_OK);
    assert_int_equal(strlen(got.notify_addr), DMSEC_STORE_ADDR_MAX - 1);
    assert_int_equal(dmsec_store_device_get(st, "IMEI:utf8", &got), DMSEC_OK);
    /* 'n' then whole 2-byte characters: 1 + 2 * 63 bytes. */
    assert_int_equal(strlen(got.client_name), 127);
    seen_t seen = {0};
    assert_int_equal(dmsec_store_device_list(st, on_device, &seen), DMSEC_ERR_STORE_CORRUPT);
    dmsec_store_close(st);
}

static int count_device(void *ctx, const dmsec_device_t *d)
{
    (void)d;
    (*(int *)ctx)++;
    return 0;
}

static void bad_arguments(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("args.db");
    dmsec_device_t d;
    dmsec_notification_t n;
    memset(&n, 0, sizeof n);
    int64_t rec = 0;
    uint16_t sid = 0;
    const uint8_t rnd[2] = {1, 2};
    const uint8_t b[4] = {0};
    int count = 0;
    dmsec_store_t *none = NULL;
    assert_int_equal(dmsec_store_open(NULL, &none), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_open("x.db", NULL), DMSEC_ERR_INVALID_ARG);
    dmsec_store_close(NULL);
    assert_int_equal(dmsec_store_device_add(NULL, &d), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_device_add(st, NULL), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_device_get(st, NULL, &d), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_device_get(st, "x", NULL), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_device_list(st, NULL, NULL), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_device_remove(st, NULL), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_device_by_cert(st, NULL, &d), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_device_account(NULL, SERVER_ID, NULL), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_set_client_nonce(st, NULL, b, 4), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_set_client_nonce_pending(st, "x", NULL, 4), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_set_server_nonce(st, "x", NULL, 4), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_secret_pending(st, "x", NULL, b, 4), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_secret_commit(st, "x", NULL), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_notification_put(st, NULL), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_notification_pending(st, "x", 0, NULL), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_new_session_id(st, "x", NULL, &sid), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_new_session_id(st, "x", rnd, NULL), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_notification_opened(NULL, "x", 1), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_notification_overdue(st, 0, 0, NULL, NULL), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_notification_list(st, NULL, on_notification, NULL),
                     DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_resync_outstanding(st, NULL, "A1", 0), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_resync_consume(st, "x", NULL, 0), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_session_begin(st, "x", "A1", NULL, 0, NULL),
                     DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_session_begin(st, NULL, "A1", NULL, 0, &rec),
                     DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_session_end(NULL, 1, 0, 0, 0), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_session_list(st, 0, NULL, NULL), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_audit(st, 0, "x", NULL, NULL), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_audit_list(NULL, 0, on_audit, NULL), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_mac_seen(st, NULL, 0, 0, 600), DMSEC_ERR_INVALID_ARG);

    /* Malformed devices are refused before any SQL runs. */
    make_device(&d, "IMEI:1", 1);
    d.client_scheme = (dmsec_auth_scheme_t)9;
    assert_int_equal(dmsec_store_device_add(st, &d), DMSEC_ERR_INVALID_ARG);
    make_device(&d, "IMEI:1", 1);
    d.pending_secret_len = DMSEC_SECRET_MAX + 1;
    assert_int_equal(dmsec_store_device_add(st, &d), DMSEC_ERR_INVALID_ARG);
    make_device(&d, "IMEI:1", 1);
    d.client_nonce_pending_len = DMSEC_NONCE_MAX + 1;
    assert_int_equal(dmsec_store_device_add(st, &d), DMSEC_ERR_INVALID_ARG);
    make_device(&d, "IMEI:1", 1);
    memset(d.notify_addr, 'a', sizeof d.notify_addr); /* not terminated */
    assert_int_equal(dmsec_store_device_add(st, &d), DMSEC_ERR_INVALID_ARG);
    make_device(&d, "", 1);
    assert_int_equal(dmsec_store_device_add(st, &d), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_device_list(st, count_device, &count), DMSEC_OK);
    assert_int_equal(count, 0);
    dmsec_store_close(st);
}

/* ---- the temporary directory ---- */

/* ---- transactions, sync and group commit ---- */

static void sync_with_and_without_wal(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("sync.db");
    add_device(st, "IMEI:1", 1);
    char path[256];
    char wal[300];
    path_of("sync.db", path, sizeof path);
    snprintf(wal, sizeof wal, "%s-wal", path);
    struct stat sb;
    assert_int_equal(stat(wal, &sb), 0); /* the WAL is there */
    assert_int_equal(dmsec_store_sync(st), DMSEC_OK);
    assert_int_equal(dmsec_store_sync(st), DMSEC_OK); /* nothing new: no fsync */
    /* Checkpointed and truncated from outside: still fine. */
    sqlite3 *raw = raw_open("sync.db");
    raw_exec(raw, "PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close(raw);
    uint8_t cn[16];
    fill(cn, sizeof cn, 9);
    assert_int_equal(dmsec_store_set_client_nonce(st, "IMEI:1", cn, sizeof cn), DMSEC_OK);
    assert_int_equal(dmsec_store_sync(st), DMSEC_OK);
    dmsec_store_close(st);
    /* No file at all. */
    dmsec_store_t *mem = NULL;
    assert_int_equal(dmsec_store_open("sqlite::memory:", &mem), DMSEC_OK);
    add_device(mem, "IMEI:2", 2);
    assert_int_equal(dmsec_store_sync(mem), DMSEC_OK);
    dmsec_store_close(mem);
    assert_int_equal(dmsec_store_sync(NULL), DMSEC_ERR_INVALID_ARG);
}

static void begin_commit_rollback(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("tx.db");
    add_device(st, "IMEI:1", 1);
    assert_int_equal(dmsec_store_commit(st), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_rollback(st), DMSEC_ERR_INVALID_ARG);
    uint8_t a[16];
    uint8_t b[16];
    uint8_t c[16];
    fill(a, sizeof a, 0x10);
    fill(b, sizeof b, 0x20);
    fill(c, sizeof c, 0x30);
    dmsec_device_t got;

    /* Rolled back: gone. */
    assert_int_equal(dmsec_store_begin(st), DMSEC_OK);
    assert_int_equal(dmsec_store_set_client_nonce(st, "IMEI:1", a, sizeof a), DMSEC_OK);
    assert_int_equal(dmsec_store_audit(st, 1, "IMEI:1", "x", "rolled back"), DMSEC_OK);
    assert_int_equal(dmsec_store_sync(st), DMSEC_ERR_INVALID_ARG); /* not committed yet */
    assert_int_equal(dmsec_store_rollback(st), DMSEC_OK);
    assert_int_equal(dmsec_store_device_get(st, "IMEI:1", &got), DMSEC_OK);
    assert_false(got.client_nonce_len == sizeof a && !memcmp(got.client_nonce, a, sizeof a));

    /* Nested: the inner rollback drops only its own writes. */
    assert_int_equal(dmsec_store_begin(st), DMSEC_OK);
    assert_int_equal(dmsec_store_set_client_nonce(st, "IMEI:1", b, sizeof b), DMSEC_OK);
    assert_int_equal(dmsec_store_begin(st), DMSEC_OK);
    assert_int_equal(dmsec_store_set_server_nonce(st, "IMEI:1", c, sizeof c), DMSEC_OK);
    assert_int_equal(dmsec_store_rollback(st), DMSEC_OK);
    assert_int_equal(dmsec_store_begin(st), DMSEC_OK);
    assert_int_equal(dmsec_store_secret_pending(st, "IMEI:1", SERVER_ID, c, 8), DMSEC_OK);
    assert_int_equal(dmsec_store_secret_commit(st, "IMEI:1", SERVER_ID), DMSEC_OK);
    assert_int_equal(dmsec_store_commit(st), DMSEC_OK);
    /* Not visible to another handle before the outer commit. */
    dmsec_store_t *other = store_open("tx.db");
    assert_int_equal(dmsec_store_device_get(other, "IMEI:1", &got), DMSEC_OK);
    assert_false(got.client_nonce_len == sizeof b && !memcmp(got.client_nonce, b, sizeof b));
    assert_int_equal(dmsec_store_commit(st), DMSEC_OK);
    assert_int_equal(dmsec_store_sync(st), DMSEC_OK);
    assert_int_equal(dmsec_store_device_get(other, "IMEI:1", &got), DMSEC_OK);
    assert_bytes(got.client_nonce, got.client_nonce_len, b, sizeof b);
    assert_false(got.server_nonce_len == sizeof c && !memcmp(got.server_nonce, c, sizeof c));
    assert_int_equal(got.pending_secret_len, 0); /* the rotation committed */
    dmsec_store_close(other);

    /* A transaction left open is rolled back by close. */
    assert_int_equal(dmsec_store_begin(st), DMSEC_OK);
    assert_int_equal(dmsec_store_set_client_nonce(st, "IMEI:1", c, sizeof c), DMSEC_OK);
    dmsec_store_close(st);

    st = store_open("tx.db"); /* durable after close and reopen */
    assert_int_equal(dmsec_store_device_get(st, "IMEI:1", &got), DMSEC_OK);
    assert_bytes(got.client_nonce, got.client_nonce_len, b, sizeof b);
    /* The writer lock was released: writes go on. */
    assert_int_equal(dmsec_store_set_client_nonce(st, "IMEI:1", a, sizeof a), DMSEC_OK);
    dmsec_store_close(st);
}

#define SYNC_THREADS 8
#define SYNC_WRITES 25

struct sync_arg {
    int index;
    int failures;
};

/* A worker's own handle on the test file name (NULL: counted a failure). */
static dmsec_store_t *worker_open(const char *name, struct sync_arg *a)
{
    char path[256];
    char uri[300];
    path_of(name, path, sizeof path);
    snprintf(uri, sizeof uri, "sqlite:%s", path);
    dmsec_store_t *st = NULL;
    if (dmsec_store_open(uri, &st)) {
        a->failures++;
        return NULL;
    }
    return st;
}

static void *sync_worker(void *p)
{
    struct sync_arg *a = p;
    dmsec_store_t *st = worker_open("group.db", a);
    if (!st)
        return NULL;
    char id[32];
    snprintf(id, sizeof id, "IMEI:%d", a->index);
    for (int i = 0; i < SYNC_WRITES; i++) {
        uint8_t nonce[4] = {(uint8_t)a->index, (uint8_t)i, 0xAB, 0xCD};
        int tx = i % 2 == 0;
        if (tx && dmsec_store_begin(st))
            a->failures++;
        if (dmsec_store_set_client_nonce(st, id, nonce, sizeof nonce))
            a->failures++;
        if (dmsec_store_audit(st, i, id, "group", "commit"))
            a->failures++;
        if (tx && dmsec_store_commit(st))
            a->failures++;
        if (dmsec_store_sync(st))
            a->failures++;
    }
    dmsec_store_close(st);
    return NULL;
}

/* Runs SYNC_THREADS workers (index 0..n-1) to the end; none failed. */
static void run_workers(void *(*worker)(void *))
{
    pthread_t th[SYNC_THREADS];
    struct sync_arg args[SYNC_THREADS];
    for (int i = 0; i < SYNC_THREADS; i++) {
        args[i].index = i;
        args[i].failures = 0;
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < SYNC_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(args[i].failures, 0);
    }
}

/* Each worker's device holds the nonce of its last write:
 * {index, SYNC_WRITES - 1, b2, b3}. */
static void check_last_nonces(dmsec_store_t *st, uint8_t b2, uint8_t b3)
{
    char id[32];
    for (int i = 0; i < SYNC_THREADS; i++) {
        dmsec_device_t got;
        snprintf(id, sizeof id, "IMEI:%d", i);
        assert_int_equal(dmsec_store_device_get(st, id, &got), DMSEC_OK);
        uint8_t want[4] = {(uint8_t)i, SYNC_WRITES - 1, b2, b3};
        assert_bytes(got.client_nonce, got.client_nonce_len, want, sizeof want);
    }
}

static int count_audit(void *ctx, const dmsec_audit_rec_t *r)
{
    (void)r;
    (*(int *)ctx)++;
    return 0;
}

static void group_commit_threads(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("group.db");
    char id[32];
    for (int i = 0; i < SYNC_THREADS; i++) {
        snprintf(id, sizeof id, "IMEI:%d", i);
        add_device(st, id, (uint8_t)i);
    }
    dmsec_store_close(st);
    run_workers(sync_worker);
    st = store_open("group.db");
    check_last_nonces(st, 0xAB, 0xCD);
    int rows = 0;
    assert_int_equal(dmsec_store_audit_list(st, 0, count_audit, &rows), DMSEC_OK);
    assert_int_equal(rows, SYNC_THREADS * SYNC_WRITES);
    dmsec_store_close(st);
}

/* dmsec_store_durable from many threads: every job's writes land, in
 * one of the groups, except those of jobs that fail, which are discarded
 * alone. */
struct durable_job {
    const char *id;
    int index;
    int write;
    int fail; /* returns an error after writing */
};

static int durable_job_fn(dmsec_store_t *st, void *ctx)
{
    struct durable_job *j = ctx;
    uint8_t nonce[4] = {(uint8_t)j->index, (uint8_t)j->write, 0xD0, 0x0D};
    int rc = dmsec_store_set_client_nonce(st, j->id, nonce, sizeof nonce);
    if (!rc)
        rc = dmsec_store_audit(st, j->write, j->id, j->fail ? "failed" : "durable", "job");
    return rc ? rc : j->fail ? DMSEC_ERR_STORE_EXISTS : DMSEC_OK;
}

static void *durable_worker(void *p)
{
    struct sync_arg *a = p;
    dmsec_store_t *st = worker_open("durable.db", a);
    if (!st)
        return NULL;
    char id[32];
    snprintf(id, sizeof id, "IMEI:%d", a->index);
    for (int i = 0; i < SYNC_WRITES; i++) {
        /* Every third job fails, but never the last one. */
        struct durable_job j = {id, a->index, i, i % 3 == 1 && i != SYNC_WRITES - 1};
        int rc = dmsec_store_durable(st, durable_job_fn, &j);
        if (rc != (j.fail ? DMSEC_ERR_STORE_EXISTS : DMSEC_OK))
            a->failures++;
    }
    dmsec_store_close(st);
    return NULL;
}

static int count_event(void *ctx, const dmsec_audit_rec_t *r)
{
    int *counts = ctx;
    if (!strcmp(r->event, "durable"))
        counts[0]++;
    else
        counts[1]++;
    return 0;
}

static void durable_groups_threads(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("durable.db");
    char id[32];
    for (int i = 0; i < SYNC_THREADS; i++) {
        snprintf(id, sizeof id, "IMEI:%d", i);
        add_device(st, id, (uint8_t)i);
    }
    /* Inside a transaction of the caller: refused, nothing run. */
    struct durable_job j = {"IMEI:0", 0, 99, 0};
    assert_int_equal(dmsec_store_begin(st), DMSEC_OK);
    assert_int_equal(dmsec_store_durable(st, durable_job_fn, &j), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_rollback(st), DMSEC_OK);
    assert_int_equal(dmsec_store_durable(NULL, durable_job_fn, &j), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_store_durable(st, NULL, &j), DMSEC_ERR_INVALID_ARG);
    dmsec_store_close(st);

    run_workers(durable_worker);
    st = store_open("durable.db");
    check_last_nonces(st, 0xD0, 0x0D);
    int counts[2] = {0, 0};
    assert_int_equal(dmsec_store_audit_list(st, 0, count_event, counts), DMSEC_OK);
    int failing = 0;
    for (int i = 0; i < SYNC_WRITES; i++)
        failing += i % 3 == 1 && i != SYNC_WRITES - 1;
    assert_int_equal(counts[0], SYNC_THREADS * (SYNC_WRITES - failing));
    assert_int_equal(counts[1], 0); /* failed jobs left nothing */
    dmsec_store_close(st);
}

/* Every group of a file runs on one handle of the file's own (its page
 * cache stays valid between groups), whichever handle the caller holds;
 * it lives as long as any handle on the file, and its writes are seen by
 * all of them. */
static int record_handle_fn(dmsec_store_t *st, void *ctx)
{
    dmsec_store_t **seen = ctx;
    *seen = st;
    return dmsec_store_audit(st, 1, "IMEI:1", "durable", "job");
}

static void durable_one_group_handle(void **state)
{
    (void)state;
    dmsec_store_t *a = store_open("onehandle.db");
    dmsec_store_t *b = store_open("onehandle.db");
    dmsec_store_t *seen_a = NULL;
    dmsec_store_t *seen_b = NULL;
    assert_int_equal(dmsec_store_durable(a, record_handle_fn, &seen_a), DMSEC_OK);
    assert_int_equal(dmsec_store_durable(b, record_handle_fn, &seen_b), DMSEC_OK);
    assert_non_null(seen_a);
    assert_ptr_equal(seen_a, seen_b);
    assert_ptr_not_equal(seen_a, a);
    assert_ptr_not_equal(seen_a, b);
    dmsec_store_close(a);
    assert_int_equal(dmsec_store_durable(b, record_handle_fn, &seen_b), DMSEC_OK);
    assert_ptr_equal(seen_a, seen_b);
    int counts[2] = {0, 0};
    assert_int_equal(dmsec_store_audit_list(b, 0, count_event, counts), DMSEC_OK);
    assert_int_equal(counts[0], 3);
    dmsec_store_close(b);
    /* All closed: the file's state is gone; a new handle starts again. */
    a = store_open("onehandle.db");
    assert_int_equal(dmsec_store_durable(a, record_handle_fn, &seen_a), DMSEC_OK);
    counts[0] = 0;
    assert_int_equal(dmsec_store_audit_list(a, 0, count_event, counts), DMSEC_OK);
    assert_int_equal(counts[0], 4);
    dmsec_store_close(a);
}

/* In memory there is no group: the job runs alone, with the same result. */
static void durable_in_memory(void **state)
{
    (void)state;
    dmsec_store_t *st = NULL;
    assert_int_equal(dmsec_store_open("sqlite::memory:", &st), DMSEC_OK);
    add_device(st, "IMEI:7", 7);
    struct durable_job ok = {"IMEI:7", 7, 1, 0};
    struct durable_job bad = {"IMEI:7", 7, 2, 1};
    assert_int_equal(dmsec_store_durable(st, durable_job_fn, &ok), DMSEC_OK);
    assert_int_equal(dmsec_store_durable(st, durable_job_fn, &bad), DMSEC_ERR_STORE_EXISTS);
    dmsec_device_t got;
    assert_int_equal(dmsec_store_device_get(st, "IMEI:7", &got), DMSEC_OK);
    uint8_t want[4] = {7, 1, 0xD0, 0x0D};
    assert_bytes(got.client_nonce, got.client_nonce_len, want, sizeof want);
    dmsec_store_close(st);
}

/* ---- the device lifecycle: opening without creating, disabled devices,
 * update, the store's server id ---- */

static void open_existing_and_read_only(void **state)
{
    (void)state;
    char path[256];
    struct stat sb;
    dmsec_store_t *st = NULL;
    const unsigned modes[] = {DMSEC_STORE_OPEN_EXISTING, DMSEC_STORE_OPEN_READ_ONLY};
    for (size_t i = 0; i < 2; i++) {
        /* Missing: refused, and nothing is created. */
        path_of("absent.db", path, sizeof path);
        assert_int_equal(dmsec_store_open_flags(path, modes[i], &st), DMSEC_ERR_STORE_NOT_FOUND);
        assert_null(st);
        assert_int_not_equal(stat(path, &sb), 0);
        assert_int_equal(dmsec_store_open_flags(":memory:", modes[i], &st),
                         DMSEC_ERR_STORE_NOT_FOUND);
        /* Empty, foreign text, a directory: not a store, left as they were. */
        path_of("empty.db", path, sizeof path);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(dmsec_store_open_flags(path, modes[i], &st), DMSEC_ERR_STORE_CORRUPT);
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(sb.st_size, 0);
        path_of("text.db", path, sizeof path);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "# README\n", 9), 9);
        close(fd);
        assert_int_equal(dmsec_store_open_flags(path, modes[i], &st), DMSEC_ERR_STORE_CORRUPT);
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(sb.st_size, 9);
        assert_int_equal(dmsec_store_open_flags(tmp_dir, modes[i], &st), DMSEC_ERR_STORE_CORRUPT);
    }
    assert_int_equal(dmsec_store_open_flags(tmp_dir, 0x80, &st), DMSEC_ERR_INVALID_ARG);

    /* A store: read only reads, and refuses every write. */
    st = store_open("ro.db");
    add_device(st, "IMEI:1", 1);
    dmsec_store_close(st);
    path_of("ro.db", path, sizeof path);
    assert_int_equal(dmsec_store_open_flags(path, DMSEC_STORE_OPEN_READ_ONLY, &st), DMSEC_OK);
    dmsec_device_t got;
    assert_int_equal(dmsec_store_device_get(st, "IMEI:1", &got), DMSEC_OK);
    assert_int_not_equal(dmsec_store_audit(st, 1, "IMEI:1", "x", "y"), DMSEC_OK);
    assert_int_not_equal(dmsec_store_device_remove(st, "IMEI:1"), DMSEC_OK);
    dmsec_store_close(st);
    assert_int_equal(dmsec_store_open_flags(path, DMSEC_STORE_OPEN_EXISTING, &st), DMSEC_OK);
    assert_int_equal(dmsec_store_device_get(st, "IMEI:1", &got), DMSEC_OK);
    dmsec_store_close(st);

    /* An older schema is not migrated by a read-only open. */
    st = store_open("older.db");
    dmsec_store_close(st);
    sqlite3 *db = raw_open("older.db");
    raw_exec(db, "PRAGMA user_version = 3");
    sqlite3_close(db);
    path_of("older.db", path, sizeof path);
    assert_int_equal(dmsec_store_open_flags(path, DMSEC_STORE_OPEN_READ_ONLY, &st),
                     DMSEC_ERR_STORE_STATE);
    assert_null(st);
    db = raw_open("older.db");
    raw_is(db, "PRAGMA user_version", "3");
    sqlite3_close(db);
}

static void disabled_device_is_unknown(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("disabled.db");
    dmsec_device_t d;
    dmsec_device_t got;
    make_device(&d, "IMEI:1", 1);
    snprintf(d.cert_subject, sizeof d.cert_subject, "CN=one");
    assert_int_equal(dmsec_store_device_add(st, &d), DMSEC_OK);
    int disabled = -1;
    assert_int_equal(dmsec_store_device_get_any(st, "IMEI:1", &got, &disabled), DMSEC_OK);
    assert_int_equal(disabled, 0);

    assert_int_equal(dmsec_store_device_set_disabled(st, "IMEI:1", 1), DMSEC_OK);
    assert_int_equal(dmsec_store_device_get(st, "IMEI:1", &got), DMSEC_ERR_STORE_NOT_FOUND);
    assert_int_equal(dmsec_store_device_by_cert(st, "CN=one", &got), DMSEC_ERR_STORE_NOT_FOUND);
    assert_int_equal(dmsec_store_device_get_any(st, "IMEI:1", &got, &disabled), DMSEC_OK);
    assert_int_equal(disabled, 1);
    assert_device_equal(&got, &d);
    seen_t seen = {0};
    assert_int_equal(dmsec_store_device_list(st, on_device, &seen), DMSEC_OK);
    assert_int_equal(seen.count, 1); /* listings still show it */

    assert_int_equal(dmsec_store_device_set_disabled(st, "IMEI:1", 0), DMSEC_OK);
    assert_int_equal(dmsec_store_device_get(st, "IMEI:1", &got), DMSEC_OK);
    assert_int_equal(dmsec_store_device_by_cert(st, "CN=one", &got), DMSEC_OK);
    assert_int_equal(dmsec_store_device_set_disabled(st, "IMEI:9", 1), DMSEC_ERR_STORE_NOT_FOUND);
    assert_int_equal(dmsec_store_device_get_any(st, "IMEI:9", &got, NULL),
                     DMSEC_ERR_STORE_NOT_FOUND);
    dmsec_store_close(st);
}

static void device_update_keeps_nonces(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("update.db");
    dmsec_device_t d;
    dmsec_device_t got;
    make_device(&d, "IMEI:1", 1);
    assert_int_equal(dmsec_store_device_add(st, &d), DMSEC_OK);
    dmsec_device_t other;
    make_device(&other, "IMEI:2", 2);
    snprintf(other.cert_subject, sizeof other.cert_subject, "CN=two");
    assert_int_equal(dmsec_store_device_add(st, &other), DMSEC_OK);

    dmsec_device_t u = d;
    snprintf(u.notify_addr, sizeof u.notify_addr, "udp://127.0.0.1:5000");
    snprintf(u.client_name, sizeof u.client_name, "renamed");
    u.server_scheme = DMSEC_AUTH_MD5;
    /* What update must not touch. */
    fill(u.client_nonce, sizeof u.client_nonce, 0x77);
    u.created = 42;
    assert_int_equal(dmsec_store_device_update(st, &u), DMSEC_OK);
    assert_int_equal(dmsec_store_device_get(st, "IMEI:1", &got), DMSEC_OK);
    assert_string_equal(got.notify_addr, "udp://127.0.0.1:5000");
    assert_string_equal(got.client_name, "renamed");
    assert_int_equal(got.server_scheme, DMSEC_AUTH_MD5);
    assert_bytes(got.client_nonce, got.client_nonce_len, d.client_nonce, d.client_nonce_len);
    assert_bytes(got.server_nonce, got.server_nonce_len, d.server_nonce, d.server_nonce_len);
    assert_int_equal(got.created, d.created);

    snprintf(u.cert_subject, sizeof u.cert_subject, "CN=two");
    assert_int_equal(dmsec_store_device_update(st, &u), DMSEC_ERR_STORE_EXISTS);
    make_device(&u, "IMEI:9", 9);
    assert_int_equal(dmsec_store_device_update(st, &u), DMSEC_ERR_STORE_NOT_FOUND);
    u.client_scheme = (dmsec_auth_scheme_t)99;
    assert_int_equal(dmsec_store_device_update(st, &u), DMSEC_ERR_INVALID_ARG);
    dmsec_store_close(st);
}

static void server_id_set_once(void **state)
{
    (void)state;
    dmsec_store_t *st = store_open("sid.db");
    char out[DMSEC_NAME_MAX] = "x";
    assert_int_equal(dmsec_store_server_id(st, NULL, out, sizeof out), DMSEC_ERR_STORE_NOT_FOUND);
    assert_int_equal(dmsec_store_server_id(st, "dmsec", out, sizeof out), DMSEC_OK);
    assert_string_equal(out, "dmsec");
    assert_int_equal(dmsec_store_server_id(st, "dmsec", NULL, 0), DMSEC_OK);
    assert_int_equal(dmsec_store_server_id(st, "funambol", out, sizeof out), DMSEC_ERR_STORE_STATE);
    assert_string_equal(out, "dmsec");
    assert_int_equal(dmsec_store_server_id(st, "", out, sizeof out), DMSEC_ERR_INVALID_ARG);
    dmsec_store_close(st);
    /* Kept in the file. */
    st = store_open("sid.db");
    assert_int_equal(dmsec_store_server_id(st, NULL, out, sizeof out), DMSEC_OK);
    assert_string_equal(out, "dmsec");
    dmsec_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(devices_round_trip),
        cmocka_unit_test(open_existing_and_read_only),
        cmocka_unit_test(disabled_device_is_unknown),
        cmocka_unit_test(device_update_keeps_nonces),
        cmocka_unit_test(server_id_set_once),
        cmocka_unit_test(devices_list_in_batches),
        cmocka_unit_test(device_by_certificate),
        cmocka_unit_test(device_account_mapping),
        cmocka_unit_test(nonces_survive_reopen),
        cmocka_unit_test(client_nonce_pending),
        cmocka_unit_test(client_nonce_refusals),
        cmocka_unit_test(secret_pending_then_commit),
        cmocka_unit_test(notifications_lifecycle),
        cmocka_unit_test(overdue_callback_writes),
        cmocka_unit_test(new_session_ids),
        cmocka_unit_test(resync_outstanding_and_consume),
        cmocka_unit_test(resync_consume_race),
        cmocka_unit_test(mac_seen_race),
        cmocka_unit_test(concurrent_first_open),
        cmocka_unit_test(sessions_newest_first),
        cmocka_unit_test(audit_trail),
        cmocka_unit_test(mac_replay_cache),
        cmocka_unit_test(open_refuses_foreign_files),
        cmocka_unit_test(open_uris),
        cmocka_unit_test(file_is_private_and_wal),
        cmocka_unit_test(migrates_from_v1),
        cmocka_unit_test(damaged_rows),
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(sync_with_and_without_wal),
        cmocka_unit_test(begin_commit_rollback),
        cmocka_unit_test(group_commit_threads),
        cmocka_unit_test(durable_groups_threads),
        cmocka_unit_test(durable_one_group_handle),
        cmocka_unit_test(durable_in_memory),
    };
    return cmocka_run_group_tests_name("store", tests, make_dir, remove_dir);
}
