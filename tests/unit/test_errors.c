/* The error space: every code has its own name, text and status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dmsec/errors.h"

static void codes_are_distinct_and_named(void **state)
{
    (void)state;
    int seen = 0;
    const char *names[1000] = {0};
    for (int code = 0; code > -1000; code--) {
        const char *name = dmsec_errname(code);
        if (!strcmp(name, "DMSEC_ERR_UNKNOWN"))
            continue;
        seen++;
        assert_string_not_equal(dmsec_strerror(code), "unknown error");
        for (int j = 0; j < 1000; j++) {
            if (names[j])
                assert_string_not_equal(names[j], name);
        }
        names[-code] = name;
    }
    assert_true(seen > 40);
    assert_string_equal(dmsec_errname(-999), "DMSEC_ERR_UNKNOWN");
    assert_string_equal(dmsec_strerror(12345), "unknown error");
}

static const struct {
    int err;
    int status;
} statuses[] = {
    {DMSEC_OK, 200},
    {DMSEC_ERR_AUTH_FAILED, 401},
    {DMSEC_ERR_AUTH_MISSING, 407},
    {DMSEC_ERR_HMAC_MISMATCH, 401},
    {DMSEC_ERR_B64_CHAR, 400},
    {DMSEC_ERR_NO_MEMORY, 500},
    {-999, 500},
};

static void errors_map_to_syncml_status(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        assert_int_equal(dmsec_err_status(statuses[i].err), statuses[i].status);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(codes_are_distinct_and_named),
        cmocka_unit_test(errors_map_to_syncml_status),
    };
    return cmocka_run_group_tests_name("errors", tests, NULL, NULL);
}
