/* Notification dispatch: addresses, and package #0 sent over a real UDP
 * socket on loopback, recorded in a real SQLite store before it leaves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dmsec/dispatch.h"
#include "dmsec/errors.h"
#include "dmsec/notify.h"
#include "dmsec/store.h"

static const struct {
    const char *addr;
    int err;
    const char *host;
    unsigned port;
} addr_rows[] = {
    {"udp://127.0.0.1:2948", 0, "127.0.0.1", 2948},
    {"udp://127.0.0.1", 0, "127.0.0.1", 2948},
    {"10.1.2.3:9000", 0, "10.1.2.3", 9000},
    {"udp://[::1]:4000", 0, "::1", 4000},
    {"udp://device.example:1", 0, "device.example", 1},
    {"udp://127.0.0.1:0", DMSEC_ERR_DISPATCH_ADDR, NULL, 0},
    {"udp://127.0.0.1:65536", DMSEC_ERR_DISPATCH_ADDR, NULL, 0},
    {"udp://127.0.0.1:12a", DMSEC_ERR_DISPATCH_ADDR, NULL, 0},
    {"udp://127.0.0.1:", DMSEC_ERR_DISPATCH_ADDR, NULL, 0},
    {"udp://:2948", DMSEC_ERR_DISPATCH_ADDR, NULL, 0},
    {"udp://::1:2948", DMSEC_ERR_DISPATCH_ADDR, NULL, 0},
    {"udp://[::1", DMSEC_ERR_DISPATCH_ADDR, NULL, 0},
    {"sms://+4912345", DMSEC_ERR_DISPATCH_ADDR, NULL, 0},
    {"udp://[fe80::1%eth0]:7", 0, "fe80::1%eth0", 7},
    {"udp://host/path:1", DMSEC_ERR_DISPATCH_ADDR, NULL, 0},
    {"udp://a b:1", DMSEC_ERR_DISPATCH_ADDR, NULL, 0},
    {"udp://[1.2.3.4]:1", DMSEC_ERR_DISPATCH_ADDR, NULL, 0},
    {"udp://[::1%]:1", DMSEC_ERR_DISPATCH_ADDR, NULL, 0},
};

static void addresses(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof addr_rows / sizeof addr_rows[0]; i++) {
        char host[64] = "";
        uint16_t port = 0;
        int rc = dmsec_dispatch_parse_addr(addr_rows[i].addr, host, sizeof host, &port);
        if (rc != addr_rows[i].err)
            fail_msg("%s: got %s", addr_rows[i].addr, dmsec_errname(rc));
        if (!rc) {
            assert_string_equal(host, addr_rows[i].host);
            assert_int_equal(port, addr_rows[i].port);
        }
    }
}

struct fixture {
    char dir[64];
    char db[128];
    dmsec_store_t *st;
    int fd;
    uint16_t port;
    dmsec_device_t dev;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/dmsec-dispatch-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof f->db, "%s/s.db", f->dir);
    assert_int_equal(dmsec_store_open(f->db, &f->st), 0);
    f->fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(f->fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(f->fd, (struct sockaddr *)&a, &len);
    f->port = ntohs(a.sin_port);
    dmsec_device_t *d = &f->dev;
    strcpy(d->device_id, "IMEI:490154203237518");
    strcpy(d->client_name, d->device_id);
    d->client_scheme = d->server_scheme = DMSEC_AUTH_MD5;
    dmsec_prehash_compute("srv", (const uint8_t *)"server-secret", 13, &d->server_prehash);
    dmsec_prehash_compute(d->device_id, (const uint8_t *)"x", 1, &d->client_prehash);
    memset(d->server_nonce, 0x42, 16);
    d->server_nonce_len = 16;
    snprintf(d->notify_addr, sizeof d->notify_addr, "udp://127.0.0.1:%u", (unsigned)f->port);
    assert_int_equal(dmsec_store_device_add(f->st, d), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    dmsec_store_close(f->st);
    close(f->fd);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Receives one datagram and checks it as a device would. */
static dmsec_nonce_used_t receive(struct fixture *f, uint16_t want_sid, dmsec_ui_mode_t ui)
{
    struct pollfd p = {f->fd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 3000), 1);
    uint8_t pdu[1024];
    ssize_t n = recv(f->fd, pdu, sizeof pdu, 0);
    assert_true(n > 30);
    assert_int_equal(pdu[1], 0x06); /* a WSP Push PDU */
    assert_int_equal(pdu[3], 0xC4); /* application/vnd.syncml.notification */
    const uint8_t *body;
    size_t len;
    assert_int_equal(dmsec_wsp_push_unwrap(pdu, (size_t)n, &body, &len), 0);
    dmsec_pkg0_t pkg;
    assert_int_equal(dmsec_pkg0_parse(body, len, &pkg), 0);
    assert_int_equal(pkg.session_id, want_sid);
    assert_int_equal(pkg.version, 11);
    assert_int_equal(pkg.ui, ui);
    assert_int_equal(pkg.initiator, DMSEC_INITIATOR_SERVER);
    assert_int_equal(pkg.server_id_len, 3);
    assert_memory_equal(pkg.server_id, "srv", 3);
    dmsec_prehash_t ph;
    dmsec_prehash_compute("srv", (const uint8_t *)"server-secret", 13, &ph);
    dmsec_nonce_used_t used = DMSEC_NONCE_NONE;
    assert_int_equal(dmsec_pkg0_verify(&pkg, ph.md5, f->dev.server_nonce, 16, 0, &used), 0);
    return used;
}

static void notify_and_resync(void **state)
{
    struct fixture *f = *state;
    dmsec_notify_opts_t o = {.server_id = "srv", .ui = DMSEC_UI_INFORMATIVE, .now = 1000};
    uint16_t sid = 0;
    assert_int_equal(dmsec_dispatch_notify(f->st, f->dev.device_id, &o, &sid), 0);
    assert_true(sid != 0);
    assert_int_equal(receive(f, sid, DMSEC_UI_INFORMATIVE), DMSEC_NONCE_STORED);
    /* recorded, pending, not a resync */
    dmsec_notification_t n;
    assert_int_equal(dmsec_store_notification_pending(f->st, f->dev.device_id, 1001, &n), 0);
    assert_int_equal(n.session_id, sid);
    assert_int_equal(n.default_nonce, 0);
    char text[5];
    dmsec_pkg0_session_id_text(sid, text);
    assert_int_equal(dmsec_store_resync_outstanding(f->st, f->dev.device_id, text, 1001), 0);

    /* re-triggered: same session id */
    uint16_t again = 0;
    o.now = 1010;
    assert_int_equal(dmsec_dispatch_notify(f->st, f->dev.device_id, &o, &again), 0);
    assert_int_equal(again, sid);
    receive(f, sid, DMSEC_UI_INFORMATIVE);

    /* the policy: not yet overdue, then overdue -> re-sent on the default nonce */
    int count = -1;
    o.now = 1100;
    assert_int_equal(dmsec_dispatch_resync_overdue(f->st, &o, 300, &count), 0);
    assert_int_equal(count, 0);
    o.now = 1400;
    assert_int_equal(dmsec_dispatch_resync_overdue(f->st, &o, 300, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(receive(f, sid, DMSEC_UI_INFORMATIVE), DMSEC_NONCE_DEFAULT);
    assert_int_equal(dmsec_store_resync_outstanding(f->st, f->dev.device_id, text, 1401), 1);
    /* a resync is not re-sent again by the policy */
    o.now = 2000;
    assert_int_equal(dmsec_dispatch_resync_overdue(f->st, &o, 300, &count), 0);
    assert_int_equal(count, 0);

    /* once opened, a new trigger gets a new session id */
    assert_int_equal(dmsec_store_notification_opened(f->st, f->dev.device_id, sid), 0);
    uint16_t fresh = 0;
    assert_int_equal(dmsec_dispatch_notify(f->st, f->dev.device_id, &o, &fresh), 0);
    assert_true(fresh != sid && fresh != 0);
    receive(f, fresh, DMSEC_UI_INFORMATIVE);
}

static void notify_errors(void **state)
{
    struct fixture *f = *state;
    dmsec_notify_opts_t o = {.server_id = "srv", .now = 1000};
    assert_int_equal(dmsec_dispatch_notify(f->st, "IMEI:unknown", &o, NULL),
                     DMSEC_ERR_STORE_NOT_FOUND);
    o.addr = "udp://127.0.0.1:0";
    assert_int_equal(dmsec_dispatch_notify(f->st, f->dev.device_id, &o, NULL),
                     DMSEC_ERR_DISPATCH_ADDR);
    o.addr = "sms://+491701234567";
    assert_int_equal(dmsec_dispatch_notify(f->st, f->dev.device_id, &o, NULL),
                     DMSEC_ERR_DISPATCH_ADDR);
    o.server_id = NULL;
    assert_int_equal(dmsec_dispatch_notify(f->st, f->dev.device_id, &o, NULL),
                     DMSEC_ERR_INVALID_ARG);
}

/* Notifiers racing on one device (each with its own handle, as the
 * server's policy and operators' `dmsec notify` are): they agree on one
 * pending session id, and one notification row exists. */
#define RACERS 4
#define RACER_CALLS 5

struct racer {
    const char *db;
    const char *device_id;
    uint16_t sids[RACER_CALLS];
    int failures;
};

static void *race_notify(void *p)
{
    struct racer *r = p;
    dmsec_store_t *st = NULL;
    if (dmsec_store_open(r->db, &st)) {
        r->failures++;
        return NULL;
    }
    for (int i = 0; i < RACER_CALLS; i++) {
        dmsec_notify_opts_t o = {.server_id = "srv", .now = 5000 + i};
        if (dmsec_dispatch_notify(st, r->device_id, &o, &r->sids[i]))
            r->failures++;
    }
    dmsec_store_close(st);
    return NULL;
}

static int count_rows(void *ctx, const dmsec_notification_t *n)
{
    (void)n;
    (*(int *)ctx)++;
    return 0;
}

static void notify_race_one_id(void **state)
{
    struct fixture *f = *state;
    pthread_t th[RACERS];
    struct racer r[RACERS];
    for (int i = 0; i < RACERS; i++) {
        memset(&r[i], 0, sizeof r[i]);
        r[i].db = f->db;
        r[i].device_id = f->dev.device_id;
        assert_int_equal(pthread_create(&th[i], NULL, race_notify, &r[i]), 0);
    }
    for (int i = 0; i < RACERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(r[i].failures, 0);
    }
    uint16_t sid = r[0].sids[0];
    assert_true(sid != 0);
    for (int i = 0; i < RACERS; i++)
        for (int j = 0; j < RACER_CALLS; j++)
            assert_int_equal(r[i].sids[j], sid);
    int rows = 0;
    assert_int_equal(dmsec_store_notification_list(f->st, f->dev.device_id, count_rows, &rows), 0);
    assert_int_equal(rows, 1);
    for (int i = 0; i < RACERS * RACER_CALLS; i++)
        receive(f, sid, DMSEC_UI_UNSPECIFIED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(addresses),
        cmocka_unit_test_setup_teardown(notify_and_resync, setup, teardown),
        cmocka_unit_test_setup_teardown(notify_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(notify_race_one_id, setup, teardown),
    };
    return cmocka_run_group_tests_name("dispatch", tests, NULL, NULL);
}
