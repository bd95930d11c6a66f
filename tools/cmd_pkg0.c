/* dmsec pkg0 build | decode: package #0 of a server-alerted session. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/auth.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "dmsec/notify.h"
#include "tool.h"

static const char *const ui_names[] = {"unspecified", "background", "informative", "interactive"};

static int parse_ui(const char *s, dmsec_ui_mode_t *ui)
{
    for (int i = 0; i < 4; i++) {
        if (!strcmp(s, ui_names[i])) {
            *ui = (dmsec_ui_mode_t)i;
            return 0;
        }
    }
    tool_error("--ui must be unspecified, background, informative or interactive");
    return -1;
}

/* A number within [min, max]: in base (10 or 16), or 0x-hex either way. */
static int parse_number(const char *what, const char *s, int base, unsigned long min,
                        unsigned long max, unsigned long *out)
{
    char *end = NULL;
    errno = 0;
    int prefixed = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    if (prefixed)
        base = 16;
    if (s[0] == '-' || s[0] == '+' || s[0] == ' ' || s[0] == '\0') {
        tool_error("%s: '%s' is not a number", what, s);
        return -1;
    }
    unsigned long v = strtoul(s, &end, base);
    if (errno || !end || *end || end == s + (prefixed ? 2 : 0)) {
        tool_error("%s: '%s' is not a number", what, s);
        return -1;
    }
    if (v < min || v > max) {
        tool_error("%s: %lu is outside %lu..%lu", what, v, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int pkg0_build(int argc, char **argv)
{
    static const char *const known[] = {"server-id",  "secret", "secret-file", "nonce-hex",
                                        "session-id", "ui",     "initiator",   "version",
                                        "vendor-hex", NULL};
    static const char *const flags[] = {"json", NULL};
    tool_opts_t o;
    if (opts_parse(&o, argc, argv, known, flags))
        return TOOL_EXIT_USAGE;
    const char *server_id = opt_need(&o, "server-id");
    const char *nonce_hex = opt_need(&o, "nonce-hex");
    const char *sid = opt_need(&o, "session-id");
    if (!server_id || !nonce_hex || !sid)
        return TOOL_EXIT_USAGE;
    dmsec_pkg0_params_t p = {.version = DMSEC_PKG0_VERSION,
                             .ui = DMSEC_UI_BACKGROUND,
                             .initiator = DMSEC_INITIATOR_SERVER,
                             .server_id = server_id};
    unsigned long v = 0;
    /* In hex, as dmsec notify and pkg0 decode print it. */
    if (parse_number("--session-id", sid, 16, 1, 0xFFFF, &v))
        return TOOL_EXIT_USAGE;
    p.session_id = (uint16_t)v;
    const char *s;
    if ((s = opt_get(&o, "ui")) && parse_ui(s, &p.ui))
        return TOOL_EXIT_USAGE;
    if ((s = opt_get(&o, "initiator"))) {
        if (!strcmp(s, "server"))
            p.initiator = DMSEC_INITIATOR_SERVER;
        else if (!strcmp(s, "user"))
            p.initiator = DMSEC_INITIATOR_USER;
        else {
            tool_error("--initiator must be server or user");
            return TOOL_EXIT_USAGE;
        }
    }
    if ((s = opt_get(&o, "version"))) {
        if (parse_number("--version", s, 10, 0, 1023, &v))
            return TOOL_EXIT_USAGE;
        p.version = (unsigned)v;
        if (v == 0) {
            tool_error("--version: 0 is not a version");
            return TOOL_EXIT_USAGE;
        }
    }
    size_t nonce_len = 0;
    uint8_t *nonce = hex_arg("--nonce-hex", nonce_hex, &nonce_len);
    if (!nonce)
        return TOOL_EXIT_FAIL;
    uint8_t *vendor = NULL;
    if ((s = opt_get(&o, "vendor-hex")) && !(vendor = hex_arg("--vendor-hex", s, &p.vendor_len))) {
        free(nonce);
        return TOOL_EXIT_FAIL;
    }
    p.vendor = vendor;
    char *secret = secret_from_opts(&o, "secret", "secret-file");
    int rc = TOOL_EXIT_USAGE;
    if (secret) {
        size_t cap = dmsec_pkg0_size(&p);
        uint8_t *msg = malloc(cap ? cap : 1);
        char *hex = malloc(2 * cap + 1);
        size_t len = 0;
        int err = msg && hex ? dmsec_pkg0_build(&p, (const uint8_t *)secret, strlen(secret), nonce,
                                                nonce_len, msg, cap, &len)
                             : DMSEC_ERR_NO_MEMORY;
        if (!err)
            err = dmsec_hex_encode(msg, len, hex, 2 * cap + 1);
        if (err) {
            rc = tool_fail("pkg0 build", err);
        } else if (opt_flag(&o, "json")) {
            char sid_text[5] = "";
            dmsec_pkg0_session_id_text(p.session_id, sid_text);
            tool_json_begin();
            tool_json_str("hex", hex);
            tool_json_base64("base64", msg, len);
            tool_json_int("length", (long long)len);
            tool_json_int("session_id", p.session_id);
            tool_json_str("session_id_text", sid_text);
            tool_json_str("server_id", server_id);
            rc = tool_json_end();
        } else {
            puts(hex);
            rc = 0;
        }
        free(msg);
        free(hex);
    }
    secret_free(secret);
    free(vendor);
    free(nonce);
    return rc;
}

static int pkg0_decode(int argc, char **argv)
{
    static const char *const known[] = {"hex", "secret", "secret-file", "nonce-hex", NULL};
    static const char *const flags[] = {"try-session-id", "try-field-readings", "json", NULL};
    tool_opts_t o;
    if (opts_parse(&o, argc, argv, known, flags))
        return TOOL_EXIT_USAGE;
    const char *hex = opt_need(&o, "hex");
    if (!hex)
        return TOOL_EXIT_USAGE;
    int want_verify = opt_get(&o, "secret") || opt_get(&o, "secret-file");
    const char *nonce_hex = opt_get(&o, "nonce-hex");
    if (nonce_hex && !want_verify) {
        tool_error("--nonce-hex needs --secret or --secret-file");
        return TOOL_EXIT_USAGE;
    }
    size_t len = 0;
    uint8_t *msg = hex_arg("--hex", hex, &len);
    if (!msg)
        return TOOL_EXIT_FAIL;
    dmsec_pkg0_t pkg;
    int err = dmsec_pkg0_parse(msg, len, &pkg);
    if (err) {
        free(msg);
        return tool_fail("pkg0 decode", err);
    }
    int rc = 0;
    int digest_ok = 0;
    dmsec_nonce_used_t used = DMSEC_NONCE_NONE;
    if (want_verify) {
        uint8_t *nonce = NULL;
        size_t nonce_len = 0;
        char *secret = NULL;
        char *server_id = malloc(pkg.server_id_len + 1);
        if (nonce_hex && !(nonce = hex_arg("--nonce-hex", nonce_hex, &nonce_len)))
            rc = TOOL_EXIT_FAIL;
        else if (!(secret = secret_from_opts(&o, "secret", "secret-file")) || !server_id)
            rc = TOOL_EXIT_USAGE;
        else if (memchr(pkg.server_id, 0, pkg.server_id_len)) {
            /* A NUL cannot be in a server id we hold a secret for. */
            used = DMSEC_NONCE_NONE;
        } else {
            memcpy(server_id, pkg.server_id, pkg.server_id_len);
            server_id[pkg.server_id_len] = '\0';
            dmsec_prehash_t ph;
            unsigned options =
                (opt_flag(&o, "try-session-id") ? DMSEC_PKG0_TRY_SESSION_ID : 0) |
                (opt_flag(&o, "try-field-readings") ? DMSEC_PKG0_TRY_FIELD_READINGS : 0);
            err = dmsec_prehash_compute(server_id, (const uint8_t *)secret, strlen(secret), &ph);
            if (!err)
                err = dmsec_pkg0_verify(&pkg, ph.md5, nonce ? nonce : (const uint8_t *)"",
                                        nonce_len, options, &used);
            dmsec_prehash_wipe(&ph);
            if (!err)
                digest_ok = 1;
            else if (err != DMSEC_ERR_PKG0_DIGEST)
                rc = tool_fail("pkg0 verify", err);
        }
        free(server_id);
        secret_free(secret);
        free(nonce);
    }
    if (rc) {
        free(msg);
        return rc;
    }
    char sid_text[5] = "";
    dmsec_pkg0_session_id_text(pkg.session_id, sid_text);
    if (pkg.future)
        tool_error("warning: future-use bits are not zero (0x%07x)", (unsigned)pkg.future);
    /* Always JSON (--json is accepted for symmetry with every command). */
    tool_json_begin();
    tool_json_int("version", pkg.version);
    tool_json_str("ui", ui_names[pkg.ui]);
    tool_json_str("initiator", pkg.initiator ? "server" : "user");
    tool_json_int("future_bits", (long long)pkg.future);
    tool_json_int("session_id", pkg.session_id);
    tool_json_str("session_id_text", sid_text);
    tool_json_key("server_id");
    json_bytes(pkg.server_id, pkg.server_id_len);
    tool_json_hex("server_id_hex", pkg.server_id, pkg.server_id_len);
    tool_json_hex("vendor_hex", pkg.vendor, pkg.vendor_len);
    if (want_verify) {
        tool_json_bool("digest_ok", digest_ok);
        tool_json_str("nonce_used", digest_ok ? dmsec_nonce_used_name(used) : NULL);
    }
    free(msg);
    return tool_json_end();
}

int cmd_pkg0(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "build"))
        return pkg0_build(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "decode"))
        return pkg0_decode(argc - 2, argv + 2);
    tool_error("usage: dmsec pkg0 build|decode [OPTIONS] (see dmsec --help)");
    return TOOL_EXIT_USAGE;
}
