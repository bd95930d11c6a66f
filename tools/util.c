#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <pwd.h>
#include <unistd.h>

#include "dmsec/codec.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "dmsec/store.h"
#include "tool.h"

void tool_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("dmsec: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int tool_fail(const char *what, int err)
{
    tool_error("%s: %s (%s)", what, dmsec_strerror(err), dmsec_errname(err));
    return TOOL_EXIT_FAIL;
}

static int in_list(const char *const *list, const char *name)
{
    for (; list && *list; list++) {
        if (!strcmp(*list, name))
            return 1;
    }
    return 0;
}

int opts_parse(tool_opts_t *o, int argc, char **argv, const char *const *known,
               const char *const *flags)
{
    memset(o, 0, sizeof *o);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            tool_error("unexpected argument '%s'", a);
            return TOOL_EXIT_USAGE;
        }
        const char *name = a + 2;
        int is_flag = in_list(flags, name);
        if (!is_flag && !in_list(known, name)) {
            tool_error("unknown option '--%s'", name);
            return TOOL_EXIT_USAGE;
        }
        for (int j = 0; j < o->n; j++) {
            if (!strcmp(o->name[j], name)) {
                tool_error("option '--%s' given twice", name);
                return TOOL_EXIT_USAGE;
            }
        }
        if (o->n == 32) {
            tool_error("too many options");
            return TOOL_EXIT_USAGE;
        }
        const char *value = "";
        if (!is_flag) {
            if (i + 1 >= argc) {
                tool_error("option '--%s' needs a value", name);
                return TOOL_EXIT_USAGE;
            }
            value = argv[++i];
        }
        o->name[o->n] = name;
        o->value[o->n] = value;
        o->n++;
    }
    return 0;
}

const char *opt_get(tool_opts_t *o, const char *name)
{
    for (int i = 0; i < o->n; i++) {
        if (!strcmp(o->name[i], name)) {
            o->used[i] = 1;
            return o->value[i];
        }
    }
    return NULL;
}

int opt_flag(tool_opts_t *o, const char *name)
{
    return opt_get(o, name) != NULL;
}

const char *opt_need(tool_opts_t *o, const char *name)
{
    const char *v = opt_get(o, name);
    if (!v)
        tool_error("missing --%s", name);
    return v;
}

uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        tool_error("cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096;
    size_t n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
        if (n == cap) {
            if (cap >= (size_t)64 << 20) {
                tool_error("'%s' is larger than 64 MiB", path);
                free(buf);
                buf = NULL;
                break;
            }
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (buf && ferror(f)) {
        tool_error("cannot read '%s'", path);
        free(buf);
        buf = NULL;
    }
    if (f != stdin)
        fclose(f);
    if (buf)
        *len = n;
    return buf;
}

char *secret_from_opts(tool_opts_t *o, const char *opt_name, const char *file_opt_name)
{
    const char *s = opt_get(o, opt_name);
    const char *file = opt_get(o, file_opt_name);
    if (s && file) {
        tool_error("give --%s or --%s, not both", opt_name, file_opt_name);
        return NULL;
    }
    if (s)
        return strdup(s);
    if (!file) {
        tool_error("missing --%s or --%s", opt_name, file_opt_name);
        return NULL;
    }
    size_t n = 0;
    uint8_t *buf = read_file(file, &n);
    if (!buf)
        return NULL;
    size_t line = 0;
    while (line < n && buf[line] != '\n' && buf[line] != '\r')
        line++;
    char *out = malloc(line + 1);
    if (out) {
        memcpy(out, buf, line);
        out[line] = '\0';
        if (memchr(out, '\0', line))
            tool_error("secret file '%s' holds a NUL byte", file);
    }
    memset(buf, 0, n);
    free(buf);
    if (out && memchr(out, '\0', line)) {
        secret_free(out);
        return NULL;
    }
    return out;
}

void secret_free(char *s)
{
    if (!s)
        return;
    volatile char *p = s;
    while (*p)
        *p++ = '\0';
    free(s);
}

uint8_t *hex_arg(const char *what, const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    uint8_t *out = malloc(n / 2 + 1);
    if (!out)
        return NULL;
    int rc = dmsec_hex_decode(hex, n, out, n / 2 + 1, len);
    if (rc) {
        tool_fail(what, rc);
        free(out);
        return NULL;
    }
    return out;
}

void json_bytes(const uint8_t *p, size_t n)
{
    int utf8 = dmsec_utf8_valid(p, n);
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8))
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

void json_str(const char *s)
{
    json_bytes((const uint8_t *)s, strlen(s));
}

/* Fields written into the open object: a comma before each but the first. */
static int json_fields;

void tool_json_begin(void)
{
    json_fields = 0;
    putchar('{');
}

void tool_json_key(const char *name)
{
    printf("%s\"%s\":", json_fields++ ? "," : "", name);
}

void tool_json_str(const char *name, const char *value)
{
    tool_json_key(name);
    if (value)
        json_str(value);
    else
        fputs("null", stdout);
}

void tool_json_int(const char *name, long long value)
{
    tool_json_key(name);
    printf("%lld", value);
}

void tool_json_bool(const char *name, int value)
{
    tool_json_key(name);
    fputs(value ? "true" : "false", stdout);
}

void tool_json_hex(const char *name, const uint8_t *p, size_t n)
{
    tool_json_key(name);
    putchar('"');
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
    putchar('"');
}

char *tool_b64_alloc(const uint8_t *p, size_t n)
{
    size_t cap = DMSEC_B64_LEN(n) + 1;
    char *b = malloc(cap);
    if (b && dmsec_b64_encode(p, n, b, cap, NULL) != 0) {
        free(b);
        b = NULL;
    }
    return b;
}

void tool_json_base64(const char *name, const uint8_t *p, size_t n)
{
    char *b = tool_b64_alloc(p, n);
    /* Out of memory: null, so the object stays valid JSON. */
    tool_json_str(name, b);
    free(b);
}

int tool_json_end(void)
{
    fputs("}\n", stdout);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        tool_error("cannot write to stdout");
        return TOOL_EXIT_FAIL;
    }
    return 0;
}

/* The --db of the store opened last: messages name it. */
static const char *opened_db = "the store";

/* The file name of a --db value ("sqlite:PATH" or PATH). */
static const char *db_path(const char *db)
{
    return strncmp(db, "sqlite:", 7) ? db : db + 7;
}

dmsec_store_t *tool_store_open_mode(tool_opts_t *o, int mode)
{
    const char *db = opt_need(o, "db");
    if (!db)
        return NULL;
    opened_db = db;
    const char *path = db_path(db);
    unsigned flags = mode == TOOL_STORE_READ    ? DMSEC_STORE_OPEN_READ_ONLY
                     : mode == TOOL_STORE_WRITE ? DMSEC_STORE_OPEN_EXISTING
                                                : 0;
    dmsec_store_t *st = NULL;
    int rc = dmsec_store_open_flags(db, flags, &st);
    if (!rc)
        return st;
    struct stat sb;
    if (rc == DMSEC_ERR_STORE_NOT_FOUND) {
        tool_error("no database at '%s'", path);
    } else if (rc == DMSEC_ERR_STORE_CORRUPT) {
        tool_error("'%s' is not a dmsec store", path);
    } else if (rc == DMSEC_ERR_STORE_STATE) {
        tool_error("'%s' has an older schema: a command that changes it (or dmsec-server) "
                   "upgrades it first",
                   path);
    } else if (rc == DMSEC_ERR_STORE_IO || rc == DMSEC_ERR_STORE_BUSY) {
        /* Say which part is missing or refused. */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash == dir)
            slash[1] = '\0';
        else if (slash)
            *slash = '\0';
        else
            snprintf(dir, sizeof dir, ".");
        if (stat(dir, &sb) != 0)
            tool_error("cannot open the database '%s': no directory '%s'", path, dir);
        else if (access(dir, W_OK) != 0 && stat(path, &sb) != 0)
            tool_error("cannot create the database '%s': directory '%s' is not writable", path,
                       dir);
        else
            tool_error("cannot open the database '%s': %s", path, dmsec_strerror(rc));
    } else {
        tool_fail(path, rc);
    }
    return NULL;
}

dmsec_store_t *tool_store_open(tool_opts_t *o)
{
    return tool_store_open_mode(o, TOOL_STORE_CREATE);
}

const char *tool_store_name(void)
{
    return db_path(opened_db);
}

int tool_no_device(const char *device_id)
{
    tool_error("no device '%s' in %s", device_id, tool_store_name());
    return TOOL_EXIT_FAIL;
}

void tool_iso_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (t <= 0 || !gmtime_r(&tt, &tm))
        snprintf(out, 32, "-");
    else
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

const char *tool_operator(void)
{
    static char who[96];
    if (who[0])
        return who; /* once per process: an import audits every row */
    const char *user = getenv("USER");
    if (!user || !*user)
        user = getenv("LOGNAME");
    struct passwd *pw = NULL;
    if ((!user || !*user) && (pw = getpwuid(getuid())) != NULL)
        user = pw->pw_name;
    if (user && *user)
        snprintf(who, sizeof who, "cli:%s", user);
    else
        snprintf(who, sizeof who, "cli:uid %u", (unsigned)getuid());
    return who;
}
