/* dmsec cred | hmac12 | hmac13: credentials and x-syncml-hmac values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/auth.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "dmsec/hmac.h"
#include "tool.h"

/* The nonce from --nonce-hex or --nonce-b64 (malloc'd), or NULL when
 * neither was given (*given = 0) or on error (*given = 1, message printed). */
static uint8_t *nonce_from_opts(tool_opts_t *o, size_t *len, int *given)
{
    const char *hex = opt_get(o, "nonce-hex");
    const char *b64 = opt_get(o, "nonce-b64");
    *given = hex || b64;
    if (hex && b64) {
        tool_error("give --nonce-hex or --nonce-b64, not both");
        return NULL;
    }
    if (hex)
        return hex_arg("--nonce-hex", hex, len);
    if (!b64)
        return NULL;
    size_t n = strlen(b64);
    uint8_t *out = malloc(n + 1);
    if (!out)
        return NULL;
    int rc = dmsec_b64_decode(b64, n, out, n + 1, len);
    if (rc) {
        tool_fail("--nonce-b64", rc);
        free(out);
        return NULL;
    }
    return out;
}

/* An x-syncml-hmac mac (base64): alone on a line, or with --json an object
 * with the algorithm and the user or timestamp it was computed with. */
static int print_mac(tool_opts_t *o, const char *algorithm, const char *user, const char *timestamp,
                     const char *mac)
{
    if (!opt_flag(o, "json")) {
        puts(mac);
        return 0;
    }
    tool_json_begin();
    tool_json_str("algorithm", algorithm);
    if (user)
        tool_json_str("user", user);
    if (timestamp)
        tool_json_str("timestamp", timestamp);
    tool_json_str("mac", mac);
    return tool_json_end();
}

int cmd_cred(int argc, char **argv)
{
    static const char *const known[] = {"scheme",    "user",      "secret", "secret-file",
                                        "nonce-hex", "nonce-b64", NULL};
    static const char *const flags[] = {"json", NULL};
    tool_opts_t o;
    if (opts_parse(&o, argc - 1, argv + 1, known, flags))
        return TOOL_EXIT_USAGE;
    const char *scheme_name = opt_need(&o, "scheme");
    const char *user = opt_need(&o, "user");
    if (!scheme_name || !user)
        return TOOL_EXIT_USAGE;
    dmsec_auth_scheme_t scheme;
    if (!strcmp(scheme_name, "basic"))
        scheme = DMSEC_AUTH_BASIC;
    else if (!strcmp(scheme_name, "md5"))
        scheme = DMSEC_AUTH_MD5;
    else if (!strcmp(scheme_name, "sha256"))
        scheme = DMSEC_AUTH_SHA256;
    else if (dmsec_auth_scheme_parse(scheme_name, strlen(scheme_name), &scheme)) {
        tool_error("unknown scheme '%s' (basic, md5 or sha256)", scheme_name);
        return TOOL_EXIT_USAGE;
    }
    size_t nonce_len = 0;
    int given = 0;
    uint8_t *nonce = nonce_from_opts(&o, &nonce_len, &given);
    if (given && !nonce)
        return TOOL_EXIT_FAIL;
    if (!given && scheme != DMSEC_AUTH_BASIC) {
        tool_error("scheme %s needs --nonce-hex or --nonce-b64", scheme_name);
        return TOOL_EXIT_USAGE;
    }
    char *secret = secret_from_opts(&o, "secret", "secret-file");
    if (!secret) {
        free(nonce);
        return TOOL_EXIT_USAGE;
    }
    size_t cap = dmsec_cred_data_len(scheme, strlen(user), strlen(secret)) + 1;
    char *out = malloc(cap);
    int rc = out ? dmsec_cred_build(scheme, user, (const uint8_t *)secret, strlen(secret), nonce,
                                    nonce_len, out, cap, NULL)
                 : DMSEC_ERR_NO_MEMORY;
    secret_free(secret);
    free(nonce);
    if (rc) {
        free(out);
        return tool_fail("cred", rc);
    }
    if (opt_flag(&o, "json")) {
        tool_json_begin();
        tool_json_str("scheme", scheme_name);
        tool_json_str("user", user);
        tool_json_str("data", out); /* the Cred's Data, base64 (b64 Meta Format) */
        rc = tool_json_end();
    } else {
        puts(out);
    }
    free(out);
    return rc;
}

int cmd_hmac12(int argc, char **argv)
{
    static const char *const known[] = {"user", "secret", "secret-file", "nonce-hex", "body", NULL};
    static const char *const flags[] = {"json", NULL};
    tool_opts_t o;
    if (opts_parse(&o, argc - 1, argv + 1, known, flags))
        return TOOL_EXIT_USAGE;
    const char *user = opt_need(&o, "user");
    const char *nonce_hex = opt_need(&o, "nonce-hex");
    const char *body_path = opt_need(&o, "body");
    if (!user || !nonce_hex || !body_path)
        return TOOL_EXIT_USAGE;
    size_t nonce_len = 0;
    uint8_t *nonce = hex_arg("--nonce-hex", nonce_hex, &nonce_len);
    if (!nonce)
        return TOOL_EXIT_FAIL;
    size_t body_len = 0;
    uint8_t *body = read_file(body_path, &body_len);
    char *secret = body ? secret_from_opts(&o, "secret", "secret-file") : NULL;
    int rc = TOOL_EXIT_FAIL;
    if (body && secret) {
        char mac[DMSEC_HMAC12_MAC_LEN + 1];
        int err = dmsec_hmac12_compute(user, (const uint8_t *)secret, strlen(secret), nonce,
                                       nonce_len, body, body_len, mac);
        rc = err ? tool_fail("hmac12", err) : print_mac(&o, "MD5", user, NULL, mac);
    }
    secret_free(secret);
    free(body);
    free(nonce);
    return rc;
}

int cmd_hmac13(int argc, char **argv)
{
    static const char *const known[] = {"secret", "secret-file", "timestamp", "body", NULL};
    static const char *const flags[] = {"json", NULL};
    tool_opts_t o;
    if (opts_parse(&o, argc - 1, argv + 1, known, flags))
        return TOOL_EXIT_USAGE;
    const char *timestamp = opt_need(&o, "timestamp");
    const char *body_path = opt_need(&o, "body");
    if (!timestamp || !body_path)
        return TOOL_EXIT_USAGE;
    size_t body_len = 0;
    uint8_t *body = read_file(body_path, &body_len);
    char *secret = body ? secret_from_opts(&o, "secret", "secret-file") : NULL;
    int rc = TOOL_EXIT_FAIL;
    if (body && secret) {
        char mac[DMSEC_HMAC13_MAC_LEN + 1];
        int err = dmsec_hmac13_compute((const uint8_t *)secret, strlen(secret), timestamp, body,
                                       body_len, mac);
        rc = err ? tool_fail("hmac13", err) : print_mac(&o, "HMAC-SHA256", NULL, timestamp, mac);
    }
    secret_free(secret);
    free(body);
    return rc;
}
