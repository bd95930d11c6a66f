/* Options of dmsec-server: defaults, a `key = value` config file with the
 * long option names as keys, then the command line, which wins. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/version.h"
#include "server.h"

enum opt_kind { OPT_STR, OPT_LONG, OPT_FLAG, OPT_ROTATE };

struct opt {
    const char *name;
    enum opt_kind kind;
    size_t off; /* into struct srv_config */
    size_t cap; /* strings */
    long min;   /* numbers */
    long max;
    const char *help;
};

#define STR_OPT(n, f, h)                                                                           \
    {                                                                                              \
        n, OPT_STR, offsetof(struct srv_config, f), sizeof(((struct srv_config *)0)->f), 0, 0, h   \
    }
#define NUM_OPT(n, f, lo, hi, h)                                                                   \
    {                                                                                              \
        n, OPT_LONG, offsetof(struct srv_config, f), 0, lo, hi, h                                  \
    }
#define FLAG_OPT(n, f, h)                                                                          \
    {                                                                                              \
        n, OPT_FLAG, offsetof(struct srv_config, f), 0, 0, 1, h                                    \
    }

static const struct opt opts[] = {
    STR_OPT("listen", listen, "ADDR:PORT to listen on (127.0.0.1:8080; [::1]:8080 for IPv6)"),
    STR_OPT("db", db, "store: PATH or sqlite:PATH (./dmsec.db)"),
    STR_OPT("server-id", server_id, "our ServerID (dmsec)"),
    STR_OPT("tls-cert", tls_cert, "PEM certificate (chain) of the server: serve HTTPS"),
    STR_OPT("tls-key", tls_key, "PEM private key of the server"),
    STR_OPT("client-ca", client_ca, "PEM CA(s) for client certificates: request one"),
    STR_OPT("tls-priorities", tls_priorities,
            "GnuTLS priority string (TLS 1.2/1.3, ECDHE with AES-GCM or ChaCha20-Poly1305)"),
    STR_OPT("public-url", public_url, "scheme://host:port for RespURIs (default: Host header)"),
    FLAG_OPT("require-cred", require_cred, "application credentials even after a client cert"),
    FLAG_OPT("strict-cred", strict_cred,
             "a Cred in every client message (strict DM Security 5.4; off: deployed clients"
             " send it until accepted)"),
    FLAG_OPT("require-protected", require_protected,
             "refuse sessions protected by neither TLS nor HMAC"),
    FLAG_OPT("resync-accept-default", resync_accept_default,
             "interop, seed 003 Solution 1: accept a nonce-0 Cred against an outstanding"
             " resync notification (allows the replay of a recorded resync; off)"),
    FLAG_OPT("resync-session-id-nonce", resync_session_id_nonce,
             "interop, seed 002: the resync nonce is the SessionID text (with"
             " resync-accept-default; a recording replays when the id recurs; off)"),
    FLAG_OPT("debug", debug, "debug log lines (client inventory)"),
    {"rotate-on-resync", OPT_ROTATE, offsetof(struct srv_config, rotate), 0, 0, 0,
     "always|tls|never: replace the server secret after a resync (tls)"},
    NUM_OPT("resync-after", resync_after, 1, 86400L * 30,
            "seconds before an unopened "
            "notification is re-sent on the "
            "default nonce (300)"),
    NUM_OPT("max-auth-failures", max_auth_failures, 1, 1000000,
            "failures of an address before a block, of a device before its guard (10)"),
    NUM_OPT("failure-window", failure_window, 1, 86400, "seconds failures are counted over (60)"),
    NUM_OPT("block-seconds", block_seconds, 1, 86400L * 7, "length of a block (60)"),
    NUM_OPT("max-body", max_body, 1024, 16L * 1024 * 1024, "request body limit, bytes (262144)"),
    NUM_OPT("max-sessions", max_sessions, 1, 1000000, "open sessions at most (10000)"),
    NUM_OPT("max-unauth-sessions", max_unauth_sessions, 1, 1000000,
            "of them, sessions whose device has not authenticated; the oldest makes room (5000)"),
    NUM_OPT("session-idle", session_idle, 5, 86400,
            "idle seconds before a session is "
            "dropped (120)"),
    NUM_OPT("max-connections", max_connections, 1, 100000, "connections at most (512)"),
    NUM_OPT("per-ip-connections", per_ip_connections, 1, 100000,
            "connections per client address, IPv6 per /64 (32)"),
    NUM_OPT("connection-timeout", connection_timeout, 1, 3600,
            "idle seconds before a connection is closed (30)"),
    NUM_OPT("request-timeout", request_timeout, 1, 3600,
            "seconds for a whole request, headers and body, to arrive (10)"),
    NUM_OPT("min-rate", min_rate, 0, 1000000000,
            "bytes/s a request must arrive at, after 2 s; 0: off (128)"),
    NUM_OPT("threads", threads, 0, 1024, "0: a thread per connection (default); N: a pool"),
    NUM_OPT("store-handles", store_handles, 1, 256,
            "store handles used at once by requests (writers queue in-process; fsyncs are shared)"),
    NUM_OPT("policy-interval", policy_interval, 1, 3600, "seconds between resync policy runs (5)"),
    STR_OPT("api-listen", api_listen,
            "ADDR:PORT of the management API (127.0.0.1:8081), on with --api-token-file"),
    STR_OPT("api-token-file", api_token_file,
            "file whose first line is the API's bearer token (mode 600): enables the API"),
    NUM_OPT("api-max-body", api_max_body, 1024, 64L * 1024 * 1024,
            "management API request body limit, bytes (8388608)"),
};

#define N_OPTS (sizeof opts / sizeof opts[0])

static void defaults(struct srv_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "127.0.0.1:8080");
    snprintf(c->db, sizeof c->db, "./dmsec.db");
    snprintf(c->server_id, sizeof c->server_id, "dmsec");
    c->rotate = ROTATE_TLS;
    c->resync_after = 300;
    c->max_auth_failures = 10;
    c->failure_window = 60;
    c->block_seconds = 60;
    c->max_body = 256L * 1024;
    c->max_sessions = 10000;
    c->max_unauth_sessions = 5000;
    c->session_idle = 120;
    c->max_connections = 512;
    c->per_ip_connections = 32;
    c->connection_timeout = 30;
    c->request_timeout = 10;
    c->min_rate = 128;
    snprintf(c->tls_priorities, sizeof c->tls_priorities, "%s", TLS_DEFAULT_PRIORITIES);
    c->threads = 0;
    c->policy_interval = 5;
    c->store_handles = 32;
    snprintf(c->api_listen, sizeof c->api_listen, "127.0.0.1:8081");
    c->api_max_body = 8L * 1024 * 1024;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: dmsec-server [--config F] [--OPTION VALUE]...\n"
               "       dmsec-server --help | --version\n\n"
               "options (also config file keys, `key = value`):\n");
    for (size_t i = 0; i < N_OPTS; i++)
        fprintf(f, "  --%-20s %s\n", opts[i].name, opts[i].help);
}

static const struct opt *find_opt(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTS; i++) {
        if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len))
            return &opts[i];
    }
    return NULL;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"1", "yes", "true", "on"};
    static const char *const no[] = {"0", "no", "false", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcmp(v, yes[i])) {
            *out = 1;
            return 0;
        }
        if (!strcmp(v, no[i])) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* Sets one option; where names the source for messages. */
static int set_opt(struct srv_config *c, const struct opt *o, const char *v, const char *where)
{
    char *base = (char *)c;
    switch (o->kind) {
    case OPT_STR: {
        size_t n = strlen(v);
        if (n == 0 || n >= o->cap) {
            fprintf(stderr, "dmsec-server: %s: --%s: empty or too long\n", where, o->name);
            return -1;
        }
        memcpy(base + o->off, v, n + 1);
        return 0;
    }
    case OPT_LONG: {
        char *end = NULL;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (errno || end == v || *end || n < o->min || n > o->max) {
            fprintf(stderr, "dmsec-server: %s: --%s: want a number from %ld to %ld, got '%s'\n",
                    where, o->name, o->min, o->max, v);
            return -1;
        }
        memcpy(base + o->off, &n, sizeof n);
        return 0;
    }
    case OPT_FLAG: {
        int b = 0;
        if (parse_bool(v, &b)) {
            fprintf(stderr, "dmsec-server: %s: --%s: want yes or no, got '%s'\n", where, o->name,
                    v);
            return -1;
        }
        memcpy(base + o->off, &b, sizeof b);
        return 0;
    }
    case OPT_ROTATE:
        if (!strcmp(v, "always"))
            c->rotate = ROTATE_ALWAYS;
        else if (!strcmp(v, "tls"))
            c->rotate = ROTATE_TLS;
        else if (!strcmp(v, "never"))
            c->rotate = ROTATE_NEVER;
        else {
            fprintf(stderr, "dmsec-server: %s: --rotate-on-resync: always, tls or never\n", where);
            return -1;
        }
        return 0;
    }
    return -1;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

#define LINE_MAX_LEN 2046     /* bytes of a config line, its newline not counted */
#define CONFIG_MAX (1L << 20) /* bytes of a config file */

int config_parse(struct srv_config *c, const char *text, size_t len, const char *name)
{
    char line[LINE_MAX_LEN + 1];
    int lineno = 0;
    int rc = 0;
    size_t pos = 0;
    while (!rc && pos < len) {
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;
        pos += n + (nl != NULL);
        lineno++;
        char where[SRV_PATH_MAX + 32];
        snprintf(where, sizeof where, "%.*s:%d", SRV_PATH_MAX, name, lineno);
        if (n > LINE_MAX_LEN) {
            fprintf(stderr, "dmsec-server: %s: line too long\n", where);
            rc = -1;
            break;
        }
        if (memchr(start, '\0', n)) {
            fprintf(stderr, "dmsec-server: %s: a NUL byte\n", where);
            rc = -1;
            break;
        }
        memcpy(line, start, n);
        line[n] = '\0';
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (!*s)
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            fprintf(stderr, "dmsec-server: %s: want key = value\n", where);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = trim(s);
        char *val = trim(eq + 1);
        const struct opt *o = find_opt(key, strlen(key));
        if (!o || !strcmp(key, "config")) {
            fprintf(stderr, "dmsec-server: %s: unknown key '%s'\n", where, key);
            rc = -1;
            break;
        }
        rc = set_opt(c, o, val, where);
    }
    return rc;
}

static int load_file(struct srv_config *c, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "dmsec-server: cannot open config %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *text = malloc((size_t)CONFIG_MAX + 1);
    size_t n = text ? fread(text, 1, (size_t)CONFIG_MAX + 1, f) : 0;
    int bad = !text || ferror(f);
    fclose(f);
    if (bad || n > (size_t)CONFIG_MAX) {
        fprintf(stderr, "dmsec-server: cannot read config %s (unreadable or over %ld bytes)\n",
                path, CONFIG_MAX);
        free(text);
        return -1;
    }
    int rc = config_parse(c, text, n, path);
    srv_wipe(text, n); /* it may name key files, not hold keys; wiped all the same */
    free(text);
    return rc;
}

void config_defaults(struct srv_config *cfg)
{
    defaults(cfg);
}

int config_format(const struct srv_config *c, char *out, size_t cap, size_t *len)
{
    const char *base = (const char *)c;
    size_t n = 0;
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct opt *o = &opts[i];
        int w = 0;
        switch (o->kind) {
        case OPT_STR:
            if (!base[o->off])
                continue; /* unset */
            w = snprintf(out + n, cap - n, "%s = %.*s\n", o->name, (int)o->cap, base + o->off);
            break;
        case OPT_LONG: {
            long v = 0;
            memcpy(&v, base + o->off, sizeof v);
            w = snprintf(out + n, cap - n, "%s = %ld\n", o->name, v);
            break;
        }
        case OPT_FLAG: {
            int b = 0;
            memcpy(&b, base + o->off, sizeof b);
            w = snprintf(out + n, cap - n, "%s = %s\n", o->name, b ? "yes" : "no");
            break;
        }
        case OPT_ROTATE:
            w = snprintf(out + n, cap - n, "%s = %s\n", o->name,
                         c->rotate == ROTATE_ALWAYS  ? "always"
                         : c->rotate == ROTATE_NEVER ? "never"
                                                     : "tls");
            break;
        }
        if (w < 0 || (size_t)w >= cap - n)
            return -1;
        n += (size_t)w;
    }
    *len = n;
    return 0;
}

/* Walks the command line; apply 0 only looks for --config and --help. */
static int walk_args(int argc, char **argv, struct srv_config *c, int apply, const char **config)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            if (!apply) {
                usage(stdout);
                return 1;
            }
            continue;
        }
        if (!strcmp(a, "--version")) {
            if (!apply) {
                printf("dmsec-server %s\n", DMSEC_VERSION_STRING);
                return 1;
            }
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "dmsec-server: unexpected argument '%s' (see --help)\n", a);
            return -1;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const char *val = eq ? eq + 1 : NULL;
        if (nlen == 6 && !strncmp(name, "config", 6)) {
            if (!val && i + 1 < argc)
                val = argv[++i];
            if (!val || !*val) {
                fprintf(stderr, "dmsec-server: --config needs a file\n");
                return -1;
            }
            *config = val;
            continue;
        }
        const struct opt *o = find_opt(name, nlen);
        if (!o) {
            fprintf(stderr, "dmsec-server: unknown option '%s' (see --help)\n", a);
            return -1;
        }
        if (!val && o->kind == OPT_FLAG)
            val = "1";
        if (!val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "dmsec-server: --%s needs a value\n", o->name);
                return -1;
            }
            val = argv[++i];
        }
        if (apply && set_opt(c, o, val, "command line"))
            return -1;
    }
    return 0;
}

int config_load(int argc, char **argv, struct srv_config *cfg)
{
    defaults(cfg);
    const char *config = NULL;
    int rc = walk_args(argc, argv, cfg, 0, &config);
    if (rc)
        return rc;
    if (config && load_file(cfg, config))
        return -1;
    if (walk_args(argc, argv, cfg, 1, &config))
        return -1;
    if (!cfg->tls_cert[0] != !cfg->tls_key[0]) {
        fprintf(stderr, "dmsec-server: --tls-cert and --tls-key go together\n");
        return -1;
    }
    if (cfg->client_ca[0] && !cfg->tls_cert[0]) {
        fprintf(stderr, "dmsec-server: --client-ca needs --tls-cert and --tls-key\n");
        return -1;
    }
    if (tls_check_priorities(cfg->tls_priorities))
        return -1;
    if (cfg->public_url[0] && strncmp(cfg->public_url, "http://", 7) != 0 &&
        strncmp(cfg->public_url, "https://", 8) != 0) {
        fprintf(stderr, "dmsec-server: --public-url: want http://HOST[:PORT] or https://...\n");
        return -1;
    }
    return 0;
}
