/*
 * dmsec-client: the OMA DM device agent. The DM tree (DevInfo, DevDetail,
 * DMAcc) lives in one checksummed file; sessions run the libdmsec engine in
 * the client role over libcurl; package #0 arrives over UDP.
 *
 *   dmsec-client init --tree F --device-id ID [--man M --mod M]
 *   dmsec-client add-account --tree F --account NAME --server-id SID --url URL
 *       --client-name N (--client-secret S | --client-secret-file F)
 *       --client-scheme basic|md5|sha256 (--server-secret S | --server-secret-file F)
 *       --server-scheme basic|md5|sha256
 *       --client-nonce-b64 B --server-nonce-b64 B [--integrity none|hmac-md5|hmac-sha256]
 *   dmsec-client session --tree F --server SID [--ca F --cert F --key F] [--codec xml|wbxml]
 *       [--timeout S]
 *   dmsec-client listen --tree F --port P [--once] [--wait S] [--hook CMD] [--bind IP]
 *   dmsec-client show --tree F
 *   dmsec-client set --tree F --uri U (--value V | --value-b64 B) [--acl ACL]   (maintenance)
 *   dmsec-client get --tree F --server SID --uri U   (diagnostic: a Get as that server)
 *   dmsec-client bootstrap --tree F --file F --content-type CT
 *       ([--imsi D | --network-id R] [--pin P] | --ks-naf-hex K | --ks-naf-file F)
 *   dmsec-client fumo-run --tree F [--fumo-hook CMD]   (runs a pending FUMO job)
 *   dmsec-client exec --tree F --server SID --uri U [--data D] [--correlator C]
 *   dmsec-client replace --tree F --server SID --uri U --value V [--format F]
 *       (diagnostics: a server's Exec / Replace on the tree, ACLs applied)
 * session, listen, init, fumo-run, exec take the management options
 * (--exec-handler URI=PROGRAM, repeatable; --exec-timeout S; --fumo-hook CMD;
 * --fumo-timeout S; --fumo-max-size BYTES; --dev-type, --oem, --fw-version,
 * --sw-version, --hw-version, --max-obj-size BYTES): docs/CLIENT.md.
 * Every command but show takes --json: its result lines as JSON objects,
 * one per line (cli_json_line).
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "dmsec/version.h"

void cli_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("dmsec-client: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_json;

void cli_json_line(json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!text) {
        cli_err("a result could not be written as JSON (not UTF-8)");
        return;
    }
    puts(text);
    fflush(stdout);
    free(text);
}

json_t *cli_json_text(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    char *c = strdup(s);
    for (char *p = c; p && *p; p++) {
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    }
    j = c ? json_string(c) : NULL;
    free(c);
    return j ? j : json_null();
}

const char *cli_opt(const cli_opts_t *o, const char *name)
{
    for (size_t i = 0; i < o->n; i++) {
        if (!strcmp(o->name[i], name))
            return o->value[i];
    }
    return NULL;
}

int cli_flag(const cli_opts_t *o, const char *name)
{
    for (size_t i = 0; i < o->n; i++) {
        if (!strcmp(o->name[i], name) && !o->value[i])
            return 1;
    }
    return 0;
}

static const char *const flag_names[] = {"once", "json", NULL};

static int is_flag(const char *name)
{
    for (size_t i = 0; flag_names[i]; i++) {
        if (!strcmp(flag_names[i], name))
            return 1;
    }
    return 0;
}

static int repeatable(const char *name)
{
    return !strcmp(name, "exec-handler");
}

/* Parses "--name value" and flags; allowed (and, when mgmt, the management
 * options) lists the accepted names. */
static int parse_opts(int argc, char **argv, const char *const *allowed, int mgmt, cli_opts_t *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || !a[2]) {
            cli_err("unexpected argument '%s'", a);
            return -1;
        }
        const char *name = a + 2;
        int known = 0;
        for (size_t k = 0; allowed[k]; k++)
            known |= !strcmp(allowed[k], name);
        for (size_t k = 0; mgmt && cli_mgmt_opts[k]; k++)
            known |= !strcmp(cli_mgmt_opts[k], name);
        if (!known) {
            cli_err("unknown option '%s'", a);
            return -1;
        }
        if (((cli_opt(o, name) || cli_flag(o, name)) && !repeatable(name)) ||
            o->n >= CLI_MAX_OPTS) {
            cli_err("option '%s' given twice", a);
            return -1;
        }
        o->name[o->n] = name;
        if (!is_flag(name)) {
            if (i + 1 >= argc) {
                cli_err("option '%s' needs a value", a);
                return -1;
            }
            o->value[o->n] = argv[++i];
        }
        o->n++;
    }
    return 0;
}

/* The named options must all be present. */
static int require(const cli_opts_t *o, const char *const *names)
{
    int ok = 1;
    for (size_t i = 0; names[i]; i++) {
        if (!cli_opt(o, names[i])) {
            cli_err("missing --%s", names[i]);
            ok = 0;
        }
    }
    return ok ? 0 : -1;
}

static int set_chr(dmsec_tree_t *t, const char *uri, const char *v)
{
    return dmsec_tree_set_local(t, uri, DMSEC_TREE_CHR, NULL, v, strlen(v));
}

static int cmd_init(const cli_opts_t *o)
{
    static const char *const need[] = {"tree", "device-id", NULL};
    if (require(o, need))
        return CLI_EXIT_USAGE;
    const char *path = cli_opt(o, "tree");
    if (access(path, F_OK) == 0) {
        cli_err("%s exists; refusing to overwrite a tree", path);
        return CLI_EXIT_FAIL;
    }
    dmsec_tree_t *t = dmsec_tree_new(NULL);
    if (!t) {
        cli_err("out of memory");
        return CLI_EXIT_FAIL;
    }
    const char *man = cli_opt(o, "man") ? cli_opt(o, "man") : "dmsec";
    const char *mod = cli_opt(o, "mod") ? cli_opt(o, "mod") : "dmsec-client";
    int rc = dmsec_tree_set_local(t, "./DevInfo", DMSEC_TREE_NODE, NULL, NULL, 0);
    if (!rc)
        rc = set_chr(t, "./DevInfo/DevId", cli_opt(o, "device-id"));
    if (!rc)
        rc = set_chr(t, "./DevInfo/Man", man);
    if (!rc)
        rc = set_chr(t, "./DevInfo/Mod", mod);
    if (!rc)
        rc = set_chr(t, "./DevInfo/DmV", "1.2");
    if (!rc)
        rc = set_chr(t, "./DevInfo/Lang", "en-US");
    if (!rc)
        rc = dmsec_tree_set_local(t, "./DevDetail", DMSEC_TREE_NODE, NULL, NULL, 0);
    if (!rc)
        rc = set_chr(t, "./DevDetail/DevTyp", "device");
    if (!rc)
        rc = set_chr(t, "./DevDetail/SwV", "dmsec-client 0.1");
    if (!rc && cli_devdetail_fill(t))
        rc = DMSEC_ERR_INVALID_ARG;
    if (!rc)
        rc = dmsec_tree_set_local(t, "./DMAcc", DMSEC_TREE_NODE, NULL, NULL, 0);
    if (!rc)
        rc = dmsec_tree_set_acl_local(t, "./DMAcc", "Get=*");
    static const char *const permanent[] = {"./DevInfo", "./DevDetail", "./DMAcc"};
    for (size_t i = 0; !rc && i < sizeof permanent / sizeof permanent[0]; i++)
        rc = dmsec_tree_set_flags_local(t, permanent[i], DMSEC_TREE_PERMANENT);
    if (rc) {
        cli_err("cannot build the tree: %s", dmsec_errname(rc));
        dmsec_tree_free(t);
        return CLI_EXIT_FAIL;
    }
    rc = treefile_save(path, t);
    dmsec_tree_free(t);
    if (rc)
        return CLI_EXIT_FAIL;
    if (cli_json)
        cli_json_line(json_pack("{s:s,s:s,s:s}", "result", "tree_created", "tree", path,
                                "device_id", cli_opt(o, "device-id")));
    else
        printf("tree %s created\n", path);
    return 0;
}

/* "basic" -> "BASIC", ... with integrity: "HMAC", "HMAC-SHA256". */
static const char *aauth_type(const char *scheme, const char *integrity)
{
    if (!integrity || !strcmp(integrity, "none")) {
        if (!strcmp(scheme, "basic"))
            return "BASIC";
        if (!strcmp(scheme, "md5"))
            return "DIGEST";
        if (!strcmp(scheme, "sha256"))
            return "DIGEST-SHA256";
        return NULL;
    }
    if (!strcmp(integrity, "hmac-md5") && !strcmp(scheme, "md5"))
        return "HMAC";
    if (!strcmp(integrity, "hmac-sha256") && !strcmp(scheme, "sha256"))
        return "HMAC-SHA256";
    return NULL;
}

static int decode_nonce(const char *opt, const char *b64, uint8_t *out, size_t cap, size_t *len)
{
    if (dmsec_b64_decode(b64, strlen(b64), out, cap, len) != 0) {
        cli_err("--%s is not base64 of at most %zu bytes", opt, cap);
        return -1;
    }
    return 0;
}

/* A secret from --NAME or the first line of --NAME-file: 1..128 bytes. */
static int secret_arg(const cli_opts_t *o, const char *name, char *out, size_t cap)
{
    char file_opt[64];
    snprintf(file_opt, sizeof file_opt, "%s-file", name);
    const char *v = cli_opt(o, name);
    const char *f = cli_opt(o, file_opt);
    out[0] = '\0';
    if (!v == !f) {
        cli_err("give exactly one of --%s and --%s", name, file_opt);
        return -1;
    }
    if (v) {
        if (strlen(v) < cap)
            memcpy(out, v, strlen(v) + 1);
    } else {
        FILE *fp = fopen(f, "r");
        if (!fp) {
            cli_err("cannot read --%s %s: %s", file_opt, f, strerror(errno));
            return -1;
        }
        if (!fgets(out, (int)cap, fp))
            out[0] = '\0';
        fclose(fp);
        out[strcspn(out, "\r\n")] = '\0';
    }
    size_t n = strlen(out);
    if (n == 0 || n > DMSEC_SECRET_MAX) {
        cli_err("--%s must be 1..%d bytes", name, DMSEC_SECRET_MAX);
        return -1;
    }
    return 0;
}

static int cmd_add_account(const cli_opts_t *o)
{
    static const char *const need[] = {"tree",
                                       "account",
                                       "server-id",
                                       "url",
                                       "client-name",
                                       "client-scheme",
                                       "server-scheme",
                                       "client-nonce-b64",
                                       "server-nonce-b64",
                                       NULL};
    if (require(o, need))
        return CLI_EXIT_USAGE;
    const char *integ = cli_opt(o, "integrity");
    if (integ && strcmp(integ, "none") != 0 && strcmp(integ, "hmac-md5") != 0 &&
        strcmp(integ, "hmac-sha256") != 0) {
        cli_err("--integrity must be none, hmac-md5 or hmac-sha256");
        return CLI_EXIT_USAGE;
    }
    const char *ctype = aauth_type(cli_opt(o, "client-scheme"), integ);
    const char *stype = aauth_type(cli_opt(o, "server-scheme"), integ);
    if (!ctype || !stype) {
        cli_err("schemes must be basic, md5 or sha256 (md5 with hmac-md5, sha256 with "
                "hmac-sha256)");
        return CLI_EXIT_USAGE;
    }
    uint8_t cn[64];
    uint8_t sn[64];
    size_t cn_len = 0;
    size_t sn_len = 0;
    if (decode_nonce("client-nonce-b64", cli_opt(o, "client-nonce-b64"), cn, sizeof cn, &cn_len) ||
        decode_nonce("server-nonce-b64", cli_opt(o, "server-nonce-b64"), sn, sizeof sn, &sn_len))
        return CLI_EXIT_USAGE;
    char cs[DMSEC_SECRET_MAX + 2];
    char ss[DMSEC_SECRET_MAX + 2];
    if (secret_arg(o, "client-secret", cs, sizeof cs) ||
        secret_arg(o, "server-secret", ss, sizeof ss)) {
        memset(cs, 0, sizeof cs);
        return CLI_EXIT_USAGE;
    }
    const char *path = cli_opt(o, "tree");
    dmsec_tree_t *t = NULL;
    if (treefile_load(path, &t))
        return CLI_EXIT_FAIL;
    const char *sid = cli_opt(o, "server-id");
    dmsec_tree_account_t acc = {
        .server_id = sid,
        .name = sid,
        .addr = cli_opt(o, "url"),
        .addr_type = "URI",
        .aauth_pref = ctype,
        .clcred = {.type = ctype,
                   .name = cli_opt(o, "client-name"),
                   .secret = (const uint8_t *)cs,
                   .secret_len = strlen(cs),
                   .data = cn,
                   .data_len = cn_len},
        .srvcred = {.type = stype,
                    .name = sid,
                    .secret = (const uint8_t *)ss,
                    .secret_len = strlen(ss),
                    .data = sn,
                    .data_len = sn_len},
    };
    int rc = dmsec_tree_add_account(t, cli_opt(o, "account"), &acc);
    memset(cs, 0, sizeof cs);
    memset(ss, 0, sizeof ss);
    if (rc) {
        cli_err("cannot add the account: %s", rc == DMSEC_ERR_TREE_EXISTS
                                                  ? "this account or server id exists already"
                                                  : dmsec_errname(rc));
        dmsec_tree_free(t);
        return CLI_EXIT_FAIL;
    }
    rc = treefile_save(path, t);
    dmsec_tree_free(t);
    if (rc)
        return CLI_EXIT_FAIL;
    if (cli_json)
        cli_json_line(json_pack("{s:s,s:s,s:s}", "result", "account_added", "account",
                                cli_opt(o, "account"), "server_id", sid));
    else
        printf("account %s added for server %s\n", cli_opt(o, "account"), sid);
    return 0;
}

static int cmd_set(const cli_opts_t *o)
{
    static const char *const need[] = {"tree", "uri", NULL};
    if (require(o, need))
        return CLI_EXIT_USAGE;
    const char *v = cli_opt(o, "value");
    const char *b = cli_opt(o, "value-b64");
    if (!v == !b) {
        cli_err("set needs exactly one of --value and --value-b64");
        return CLI_EXIT_USAGE;
    }
    uint8_t raw[4096];
    size_t len = 0;
    if (b && dmsec_b64_decode(b, strlen(b), raw, sizeof raw, &len) != 0) {
        cli_err("--value-b64 is not base64 (at most %zu bytes)", sizeof raw);
        return CLI_EXIT_USAGE;
    }
    const char *path = cli_opt(o, "tree");
    dmsec_tree_t *t = NULL;
    if (treefile_load(path, &t))
        return CLI_EXIT_FAIL;
    dmsec_tree_info_t info;
    dmsec_tree_format_t f = b ? DMSEC_TREE_BIN : DMSEC_TREE_CHR;
    if (dmsec_tree_get_local(t, cli_opt(o, "uri"), &info) == 0)
        f = info.format;
    int rc = dmsec_tree_set_local(t, cli_opt(o, "uri"), f, NULL, b ? (const void *)raw : v,
                                  b ? len : strlen(v));
    memset(raw, 0, sizeof raw);
    if (!rc && cli_opt(o, "acl"))
        rc = dmsec_tree_set_acl_local(t, cli_opt(o, "uri"), cli_opt(o, "acl"));
    if (rc) {
        cli_err("cannot set %s: %s", cli_opt(o, "uri"), dmsec_errname(rc));
        dmsec_tree_free(t);
        return CLI_EXIT_FAIL;
    }
    rc = treefile_save(path, t);
    dmsec_tree_free(t);
    if (rc)
        return CLI_EXIT_FAIL;
    /* Silent on success, as before; --json says what was written, never
     * the value (set writes secrets too: AAuthSecret). */
    if (cli_json)
        cli_json_line(json_pack("{s:s,s:s,s:s,s:I}", "result", "set", "uri", cli_opt(o, "uri"),
                                "format", dmsec_tree_format_name(f), "length",
                                (json_int_t)(b ? len : strlen(v))));
    return 0;
}

/* The tree --tree names, loaded: 0, or the exit code after saying why. */
static int tree_of(const cli_opts_t *o, dmsec_tree_t **t)
{
    static const char *const need[] = {"tree", NULL};
    if (require(o, need))
        return CLI_EXIT_USAGE;
    return treefile_load(cli_opt(o, "tree"), t) ? CLI_EXIT_FAIL : 0;
}

/* Shown as text when every byte is printable ASCII (or a tab). */
static int printable_text(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c < 0x20 && c != '\t') || c >= 0x7f)
            return 0;
    }
    return 1;
}

static char *b64_of(const char *p, size_t n)
{
    size_t cap = DMSEC_B64_LEN(n) + 1;
    char *b = malloc(cap);
    if (b && dmsec_b64_encode((const uint8_t *)p, n, b, cap, NULL) != 0) {
        free(b);
        b = NULL;
    }
    return b;
}

/* One node of show --json: its URI, format, type, ACL and value (text
 * when printable, else base64), a secret only as "secret": true. */
static int show_node_json(void *ctx, const char *uri, const dmsec_tree_info_t *n, int secret)
{
    (void)ctx;
    json_t *j = json_pack("{s:s,s:s}", "uri", uri, "format", dmsec_tree_format_name(n->format));
    if (!j)
        return DMSEC_ERR_NO_MEMORY;
    json_object_set_new(j, "type", n->type[0] ? json_string(n->type) : json_null());
    json_object_set_new(j, "acl", n->acl[0] ? json_string(n->acl) : json_null());
    if (n->format == DMSEC_TREE_NODE) {
        json_object_set_new(j, "children", json_integer((json_int_t)n->children));
    } else if (secret) {
        json_object_set_new(j, "secret", json_true());
    } else {
        const char *v = (const char *)n->value;
        int text = n->format != DMSEC_TREE_BIN && printable_text(v, n->value_len);
        char *b64 = text ? NULL : b64_of(v, n->value_len);
        if (!text && !b64) {
            json_decref(j);
            return DMSEC_ERR_NO_MEMORY;
        }
        json_object_set_new(j, "length", json_integer((json_int_t)n->value_len));
        json_object_set_new(j, "value", text ? json_stringn(v, n->value_len) : json_string(b64));
        json_object_set_new(j, "value_encoding", json_string(text ? "text" : "base64"));
        free(b64);
    }
    cli_json_line(j);
    return 0;
}

/* The tree for people (dmsec_tree_dump: bin values in hex, secrets as
 * ***), or with --json one object per node. */
static int cmd_show(const cli_opts_t *o)
{
    dmsec_tree_t *t = NULL;
    int err = tree_of(o, &t);
    if (err)
        return err;
    char *dump = NULL;
    int rc = cli_json ? dmsec_tree_walk(t, show_node_json, NULL) : dmsec_tree_dump(t, &dump);
    dmsec_tree_free(t);
    if (rc) {
        cli_err("cannot list the tree: %s", dmsec_errname(rc));
        return CLI_EXIT_FAIL;
    }
    if (dump)
        fputs(dump, stdout);
    free(dump);
    return 0;
}

/* Diagnostic: a Get on the tree as a server would do it (ACLs apply);
 * prints the status, then the child list of an interior node or a leaf's
 * format, type and value (as text when printable, else base64). The tree
 * never gives a secret to a Get (AAuthSecret: 405). */
static int cmd_get(const cli_opts_t *o)
{
    static const char *const need[] = {"tree", "server", "uri", NULL};
    if (require(o, need))
        return CLI_EXIT_USAGE;
    dmsec_tree_t *t = NULL;
    if (treefile_load(cli_opt(o, "tree"), &t))
        return CLI_EXIT_FAIL;
    dmsec_tree_result_t res;
    memset(&res, 0, sizeof res);
    dmsec_tree_get(t, cli_opt(o, "server"), cli_opt(o, "uri"), &res);
    int ok = res.status == 200 && res.data;
    int node = ok && !strcmp(res.format, "node");
    int text = ok && !node && printable_text(res.data, res.data_len);
    char *b64 = ok && !node && !text ? b64_of(res.data, res.data_len) : NULL;
    if (cli_json) {
        json_t *j = json_pack("{s:s,s:s,s:i}", "uri", cli_opt(o, "uri"), "server",
                              cli_opt(o, "server"), "status", res.status);
        if (j && node) {
            /* "a/b/c": the children's names */
            json_t *kids = json_array();
            for (const char *p = res.data; kids && *p;) {
                size_t n = strcspn(p, "/");
                json_array_append_new(kids, json_stringn(p, n));
                p += n + (p[n] == '/');
            }
            json_object_set_new(j, "format", json_string("node"));
            json_object_set_new(j, "children", kids);
        } else if (j && ok) {
            json_object_set_new(j, "format", json_string(res.format));
            json_object_set_new(j, "type", res.type[0] ? json_string(res.type) : json_null());
            json_object_set_new(j, "length", json_integer((json_int_t)res.data_len));
            json_object_set_new(j, "value",
                                text ? json_stringn(res.data, res.data_len)
                                     : json_string(b64 ? b64 : ""));
            json_object_set_new(j, "value_encoding", json_string(text ? "text" : "base64"));
        }
        cli_json_line(j);
    } else {
        printf("status=%d", res.status);
        if (node)
            printf(" children=%s", res.data);
        else if (ok) {
            const char *v = text ? res.data : (b64 ? b64 : "");
            int vn = text ? (int)res.data_len : (int)strlen(v);
            printf(" format=%s type=%s value%s=%.*s", res.format, res.type[0] ? res.type : "-",
                   text ? "" : "_b64", vn, v);
        }
        printf("\n");
    }
    free(b64);
    if (res.data)
        dmsec_tree_wipe_free(res.data, res.data_len);
    dmsec_tree_free(t);
    return res.status == 200 ? 0 : CLI_EXIT_FAIL;
}

static int cmd_session(const cli_opts_t *o)
{
    static const char *const need[] = {"tree", "server", NULL};
    if (require(o, need))
        return CLI_EXIT_USAGE;
    cli_session_req_t req = {
        .tree_path = cli_opt(o, "tree"),
        .server_id = cli_opt(o, "server"),
        .codec = DMSEC_CODEC_XML,
        .http = {.ca = cli_opt(o, "ca"), .cert = cli_opt(o, "cert"), .key = cli_opt(o, "key")}};
    const char *codec = cli_opt(o, "codec");
    if (codec && !strcmp(codec, "wbxml"))
        req.codec = DMSEC_CODEC_WBXML;
    else if (codec && strcmp(codec, "xml") != 0) {
        cli_err("--codec must be xml or wbxml");
        return CLI_EXIT_USAGE;
    }
    if (!req.http.cert != !req.http.key) {
        cli_err("--cert and --key go together");
        return CLI_EXIT_USAGE;
    }
    const char *timeout = cli_opt(o, "timeout");
    if (timeout) {
        char *end = NULL;
        long v = strtol(timeout, &end, 10);
        if (end == timeout || *end || v < 1 || v > 3600) {
            cli_err("--timeout must be 1..3600 seconds");
            return CLI_EXIT_USAGE;
        }
        req.http.timeout_s = v;
    }
    dmsec_tree_t *t = NULL;
    if (treefile_load(req.tree_path, &t))
        return CLI_EXIT_FAIL;
    int rc = cli_session_run(t, &req);
    dmsec_tree_free(t);
    return rc ? CLI_EXIT_FAIL : 0;
}

/* Runs the pending FUMO job of the tree, if any. */
static int cmd_fumo_run(const cli_opts_t *o)
{
    dmsec_tree_t *t = NULL;
    int err = tree_of(o, &t);
    if (err)
        return err;
    int rc = cli_fumo_run(t, cli_opt(o, "tree"));
    if (rc == 0 && cli_json)
        cli_json_line(json_pack("{s:s,s:s}", "event", "fumo", "fumo", "none"));
    else if (rc == 0)
        printf("fumo=none\n");
    dmsec_tree_free(t);
    return rc < 0 ? CLI_EXIT_FAIL : 0;
}

/* Diagnostics: an Exec or Replace as a server would send it (ACLs apply),
 * on the tree prepared as for a session with that server; saved after. */
static int as_server(const cli_opts_t *o, int exec)
{
    static const char *const need[] = {"tree", "server", "uri", NULL};
    if (require(o, need))
        return CLI_EXIT_USAGE;
    const char *path = cli_opt(o, "tree");
    const char *sid = cli_opt(o, "server");
    const char *uri = cli_opt(o, "uri");
    dmsec_tree_t *t = NULL;
    if (treefile_load(path, &t))
        return CLI_EXIT_FAIL;
    if (cli_mgmt_prepare(t, sid)) {
        dmsec_tree_free(t);
        return CLI_EXIT_FAIL;
    }
    int rc;
    int status;
    if (exec) {
        const char *d = cli_opt(o, "data");
        rc = dmsec_tree_exec_node(t, sid, uri, d, d ? strlen(d) : 0, cli_opt(o, "correlator"));
        status = rc > 0 ? rc : dmsec_err_status(rc);
    } else {
        const char *v = cli_opt(o, "value");
        dmsec_tree_format_t f = DMSEC_TREE_CHR;
        if (!v || (cli_opt(o, "format") && dmsec_tree_format_parse(cli_opt(o, "format"), &f))) {
            cli_err("replace needs --value (and a known --format)");
            dmsec_tree_free(t);
            return CLI_EXIT_USAGE;
        }
        rc = dmsec_tree_replace(t, sid, uri, f, NULL, v, strlen(v));
        status = dmsec_err_status(rc);
    }
    if (cli_json)
        cli_json_line(json_pack("{s:s,s:s,s:s,s:i}", "command", exec ? "exec" : "replace", "uri",
                                uri, "server", sid, "status", status));
    else
        printf("status=%d\n", status);
    int saved = treefile_save(path, t);
    dmsec_tree_free(t);
    return saved || status >= 300 ? CLI_EXIT_FAIL : 0;
}

static int cmd_exec(const cli_opts_t *o)
{
    return as_server(o, 1);
}

static int cmd_replace(const cli_opts_t *o)
{
    return as_server(o, 0);
}

struct command {
    const char *name;
    int (*run)(const cli_opts_t *o);
    const char *const *allowed;
    int mgmt; /* takes the management options */
};

static const char *const o_init[] = {"tree", "device-id", "man", "mod", "json", NULL};
static const char *const o_add[] = {"tree",
                                    "account",
                                    "server-id",
                                    "url",
                                    "client-name",
                                    "client-secret",
                                    "client-secret-file",
                                    "server-secret-file",
                                    "client-scheme",
                                    "server-secret",
                                    "server-scheme",
                                    "integrity",
                                    "client-nonce-b64",
                                    "server-nonce-b64",
                                    "json",
                                    NULL};
static const char *const o_session[] = {"tree",  "server",  "ca",   "cert", "key",
                                        "codec", "timeout", "json", NULL};
static const char *const o_listen[] = {"tree",
                                       "port",
                                       "once",
                                       "wait",
                                       "hook",
                                       "bind",
                                       "ca",
                                       "cert",
                                       "key",
                                       "codec",
                                       "resync-accept-default",
                                       "json",
                                       NULL};
static const char *const o_show[] = {"tree", "json", NULL};
static const char *const o_set[] = {"tree", "uri", "value", "value-b64", "acl", "json", NULL};
static const char *const o_get[] = {"tree", "server", "uri", "json", NULL};
static const char *const o_fumo_run[] = {"tree", "ca", "json", NULL};
static const char *const o_exec[] = {"tree", "server", "uri", "data", "correlator", "json", NULL};
static const char *const o_replace[] = {"tree", "server", "uri", "value", "format", "json", NULL};

static const struct command commands[] = {
    {"init", cmd_init, o_init, 1},
    {"add-account", cmd_add_account, o_add, 0},
    {"session", cmd_session, o_session, 1},
    {"listen", cli_listen, o_listen, 1},
    {"show", cmd_show, o_show, 0},
    {"set", cmd_set, o_set, 0},
    {"get", cmd_get, o_get, 0},
    {"bootstrap", cli_bootstrap, cli_bootstrap_opts, 0},
    {"fumo-run", cmd_fumo_run, o_fumo_run, 1},
    {"exec", cmd_exec, o_exec, 1},
    {"replace", cmd_replace, o_replace, 1},
};

static void usage(FILE *f)
{
    fputs(
        "usage: dmsec-client COMMAND [OPTIONS] | --help | --version\n"
        "  init --tree F --device-id ID [--man M --mod M] [--json]\n"
        "  add-account --tree F --account NAME --server-id SID --url URL\n"
        "      --client-name N (--client-secret S | --client-secret-file F)\n"
        "      --client-scheme basic|md5|sha256 (--server-secret S | --server-secret-file F)\n"
        "      --server-scheme basic|md5|sha256\n"
        "      --client-nonce-b64 B --server-nonce-b64 B [--integrity none|hmac-md5|hmac-sha256]\n"
        "      [--json]\n"
        "  session --tree F --server SID [--ca F --cert F --key F] [--codec xml|wbxml]\n"
        "      [--timeout S]   seconds for each exchange with the server (30)\n"
        "      [--json]   the result line as JSON: session, server, http, ok, result, why, ...\n"
        "  listen --tree F --port P [--once] [--wait S] [--hook CMD] [--bind IPV4]\n"
        "      [--ca F --cert F --key F] [--codec xml|wbxml]   for the sessions it runs\n"
        "      [--json]   each notification and session as one JSON object per line\n"
        "      [--resync-accept-default]   interop (seed 003 Solution 1): accept the server's\n"
        "      Cred on the default nonce after a nonce-0 package #0, instead of challenging it;\n"
        "      a recorded server answer then replays\n"
        "  show --tree F [--json]   the tree: bin values in hex, secrets as ***; --json: one\n"
        "      object per node (uri, format, type, acl, value as text or base64; a secret\n"
        "      as \"secret\": true)\n"
        "  set --tree F --uri U (--value V | --value-b64 B) [--acl ACL] [--json]   writes a\n"
        "      node (maintenance, without a session); --json: uri, format, length\n"
        "  get --tree F --server SID --uri U [--json]   (diagnostic) a Get as that server:\n"
        "      status=CODE, then children=A/B of an interior node, or a leaf's format=,\n"
        "      type= and value= (value_b64= when not printable text); never a secret\n"
        "  bootstrap --tree F --file WBXML --content-type CT [--imsi D | --network-id R]\n"
        "      [--pin P] [--json]   applies a DM bootstrap only when its MAC verifies\n"
        "  bootstrap --tree F --file F --content-type \"...; SEC=3GPP_GBA\"\n"
        "      (--ks-naf-hex K | --ks-naf-file F)   the same for a GBA-protected bootstrap\n"
        "  fumo-run --tree F [--ca F] [--fumo-hook CMD] [--json]   runs a pending FUMO job\n"
        "      (after a crash); --ca: the CA(s) for an https download\n"
        "  exec --tree F --server SID --uri U [--data D] [--correlator C] [--json]\n"
        "      (diagnostic)\n"
        "  replace --tree F --server SID --uri U --value V [--format F] [--json]\n"
        "      (diagnostic)\n"
        "  --json: results as one JSON object per line (errors stay text on stderr)\n"
        "  management options of session, listen, init, fumo-run, exec, replace:\n"
        "      --exec-handler URI=PROGRAM (repeatable) --exec-timeout S --fumo-hook PROGRAM\n"
        "      --fumo-timeout S --fumo-max-size BYTES --dev-type T --oem O --fw-version V\n"
        "      --sw-version V --hw-version V --max-obj-size BYTES (the MaxObjSize announced)\n",
        f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("dmsec-client %s\n", DMSEC_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        cli_opts_t o;
        if (parse_opts(argc - 2, argv + 2, commands[i].allowed, commands[i].mgmt, &o) ||
            cli_mgmt_configure(&o)) {
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            cli_err("cannot initialise libcurl");
            return CLI_EXIT_FAIL;
        }
        cli_json = cli_flag(&o, "json");
        int rc = commands[i].run(&o);
        curl_global_cleanup();
        return rc;
    }
    cli_err("unknown command '%s'", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
