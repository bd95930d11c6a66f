/* The server's failure limit (server/ratelimit.c, in the server's own
 * library dmsec_server_lib): address blocks, the device guard that
 * never blocks a device, IPv6 counted per /64, and the bounded table that
 * never stops tracking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server.h"

#define MAX 3
#define WINDOW 60
#define BLOCK 100

static void address_blocked_after_the_limit(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(MAX, WINDOW, BLOCK, 1000);
    assert_non_null(rl);
    time_t t = 1000;
    for (int i = 0; i < MAX; i++)
        assert_int_equal(ratelimit_fail(rl, "192.0.2.9", NULL, t), 0);
    assert_int_equal(ratelimit_addr_blocked(rl, "192.0.2.9", t), 0);
    assert_int_equal(ratelimit_fail(rl, "192.0.2.9", NULL, t), RL_ADDR_BLOCKED);
    assert_int_equal(ratelimit_addr_blocked(rl, "192.0.2.9", t + 1), BLOCK - 1);
    assert_int_equal(ratelimit_addr_blocked(rl, "192.0.2.10", t + 1), 0);
    /* one start per block */
    assert_int_equal(ratelimit_fail(rl, "192.0.2.9", NULL, t + 2), 0);
    assert_int_equal(ratelimit_addr_blocked(rl, "192.0.2.9", t + BLOCK), 0);
    ratelimit_free(rl);
}

static void failures_outside_the_window_do_not_add_up(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(MAX, WINDOW, BLOCK, 1000);
    time_t t = 1000;
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < MAX; i++)
            assert_int_equal(ratelimit_fail(rl, "192.0.2.9", NULL, t), 0);
        t += WINDOW;
    }
    assert_int_equal(ratelimit_addr_blocked(rl, "192.0.2.9", t), 0);
    ratelimit_free(rl);
}

static void a_device_is_guarded_never_blocked(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(MAX, WINDOW, BLOCK, 1000);
    time_t t = 1000;
    const char *dev = "IMEI:490154203237518";
    /* MAX failures from MAX addresses: nothing yet */
    char addr[32];
    for (int i = 0; i < MAX; i++) {
        snprintf(addr, sizeof addr, "198.51.100.%d", i + 1);
        assert_int_equal(ratelimit_fail(rl, addr, dev, t), 0);
    }
    assert_false(ratelimit_device_guarded(rl, dev, t));
    /* one more: the device is guarded, and the failing address blocked */
    assert_int_equal(ratelimit_fail(rl, "198.51.100.50", dev, t),
                     RL_DEVICE_GUARDED | RL_ADDR_BLOCKED | RL_BY_GUARD);
    assert_true(ratelimit_device_guarded(rl, dev, t));
    assert_true(ratelimit_addr_blocked(rl, "198.51.100.50", t) > 0);
    /* each further failure blocks its address at once */
    for (int i = 0; i < 20; i++) {
        snprintf(addr, sizeof addr, "203.0.113.%d", i + 1);
        assert_int_equal(ratelimit_addr_blocked(rl, addr, t), 0);
        assert_int_equal(ratelimit_fail(rl, addr, dev, t + i), RL_ADDR_BLOCKED | RL_BY_GUARD);
        assert_true(ratelimit_addr_blocked(rl, addr, t + i) > 0);
    }
    /* the addresses that failed before the guard are not blocked, and no
     * other address is: the real device is refused nowhere */
    assert_int_equal(ratelimit_addr_blocked(rl, "198.51.100.1", t + 20), 0);
    assert_int_equal(ratelimit_addr_blocked(rl, "192.0.2.1", t + 20), 0);
    /* the guard lasts BLOCK seconds after the last failure */
    assert_true(ratelimit_device_guarded(rl, dev, t + 19 + BLOCK - 1));
    assert_false(ratelimit_device_guarded(rl, dev, t + 19 + BLOCK));
    ratelimit_free(rl);
}

static void ipv6_counts_per_64(void **state)
{
    (void)state;
    char key[80];
    assert_int_equal(ratelimit_addr_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", key, sizeof key), 0);
    assert_string_equal(key, "a:2001:db8:1:2::/64");
    assert_int_equal(ratelimit_addr_key("::ffff:192.0.2.7", key, sizeof key), 0);
    assert_string_equal(key, "a:192.0.2.7");
    assert_int_equal(ratelimit_addr_key("192.0.2.7", key, sizeof key), 0);
    assert_string_equal(key, "a:192.0.2.7");

    struct ratelimit *rl = ratelimit_new(MAX, WINDOW, BLOCK, 1000);
    time_t t = 1000;
    char addr[64];
    for (int i = 0; i < MAX; i++) {
        snprintf(addr, sizeof addr, "2001:db8:1:2::%x", i + 1);
        assert_int_equal(ratelimit_fail(rl, addr, NULL, t), 0);
    }
    assert_int_equal(ratelimit_fail(rl, "2001:db8:1:2:ffff::1", NULL, t), RL_ADDR_BLOCKED);
    assert_true(ratelimit_addr_blocked(rl, "2001:db8:1:2:1234::99", t) > 0);
    assert_int_equal(ratelimit_addr_blocked(rl, "2001:db8:1:3::1", t), 0);
    ratelimit_free(rl);
}

static void the_table_is_bounded_and_keeps_tracking(void **state)
{
    (void)state;
    const size_t cap = 64;
    struct ratelimit *rl = ratelimit_new(MAX, WINDOW, BLOCK, cap);
    time_t t = 1000;
    char addr[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(addr, sizeof addr, "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        (void)ratelimit_fail(rl, addr, NULL, t);
        assert_true(ratelimit_size(rl) <= cap);
    }
    assert_int_equal(ratelimit_size(rl), cap);
    /* a new key is still tracked: blocked after the limit */
    for (int i = 0; i < MAX; i++)
        assert_int_equal(ratelimit_fail(rl, "192.0.2.200", NULL, t), 0);
    assert_int_equal(ratelimit_fail(rl, "192.0.2.200", NULL, t), RL_ADDR_BLOCKED);
    assert_true(ratelimit_addr_blocked(rl, "192.0.2.200", t) > 0);
    ratelimit_free(rl);
}

static void eviction_spares_a_running_block(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(MAX, WINDOW, BLOCK, 8);
    time_t t = 1000;
    for (int i = 0; i <= MAX; i++)
        (void)ratelimit_fail(rl, "192.0.2.66", NULL, t);
    assert_true(ratelimit_addr_blocked(rl, "192.0.2.66", t) > 0);
    /* the blocked entry becomes the least recently used; other keys come */
    char addr[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(addr, sizeof addr, "10.0.%d.%d", i >> 8, i & 255);
        (void)ratelimit_fail(rl, addr, NULL, t + 1);
    }
    assert_true(ratelimit_addr_blocked(rl, "192.0.2.66", t + 2) > 0);
    ratelimit_free(rl);
}

static void prune_drops_what_is_over(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(MAX, WINDOW, BLOCK, 1000);
    time_t t = 1000;
    (void)ratelimit_fail(rl, "192.0.2.1", NULL, t);
    for (int i = 0; i <= MAX; i++)
        (void)ratelimit_fail(rl, "192.0.2.2", "dev", t);
    assert_int_equal(ratelimit_size(rl), 3);
    ratelimit_prune(rl, t + WINDOW); /* the window of .1 is over */
    assert_int_equal(ratelimit_size(rl), 2);
    ratelimit_prune(rl, t + BLOCK); /* the block and the guard too */
    assert_int_equal(ratelimit_size(rl), 0);
    assert_int_equal(ratelimit_addr_blocked(rl, "192.0.2.2", t + BLOCK), 0);
    ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(address_blocked_after_the_limit),
        cmocka_unit_test(failures_outside_the_window_do_not_add_up),
        cmocka_unit_test(a_device_is_guarded_never_blocked),
        cmocka_unit_test(ipv6_counts_per_64),
        cmocka_unit_test(the_table_is_bounded_and_keeps_tracking),
        cmocka_unit_test(eviction_spares_a_running_block),
        cmocka_unit_test(prune_drops_what_is_over),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
