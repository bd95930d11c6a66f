/*
 * account_fixture.h - the account the session tests (test_session,
 * test_mgmt) give each side of a device-server pair. Header-only: each
 * test is a program of its own. Include after cmocka.h.
 */
#ifndef DMSEC_TEST_ACCOUNT_FIXTURE_H
#define DMSEC_TEST_ACCOUNT_FIXTURE_H

#include <string.h>

#include "dmsec/auth.h"
#include "dmsec/errors.h"
#include "dmsec/session.h"

/* An account that authenticates to in_name as out_name with out_secret and
 * expects in_name to use in_secret; nonces 0x11.. out, 0x22.. in. */
static inline void account_set(dmsec_account_t *a, dmsec_auth_scheme_t out_scheme,
                               const char *out_name, const char *out_secret,
                               dmsec_auth_scheme_t in_scheme, const char *in_name,
                               const char *in_secret)
{
    memset(a, 0, sizeof *a);
    a->out_scheme = out_scheme;
    strcpy(a->out_name, out_name);
    a->out_secret_len = strlen(out_secret);
    memcpy(a->out_secret, out_secret, a->out_secret_len);
    assert_int_equal(dmsec_prehash_compute(out_name, (const uint8_t *)out_secret,
                                           strlen(out_secret), &a->out_prehash),
                     DMSEC_OK);
    a->in_scheme = in_scheme;
    strcpy(a->in_name, in_name);
    assert_int_equal(dmsec_prehash_compute(in_name, (const uint8_t *)in_secret, strlen(in_secret),
                                           &a->in_prehash),
                     DMSEC_OK);
    a->in_secret_len = strlen(in_secret);
    memcpy(a->in_secret, in_secret, a->in_secret_len);
    memset(a->out_nonce, 0x11, 16);
    a->out_nonce_len = 16;
    memset(a->in_nonce, 0x22, 16);
    a->in_nonce_len = 16;
}

#endif
