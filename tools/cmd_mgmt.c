/* dmsec cmd | results | inventory | events | fumo: the operator's hand on
 * the management queue of the server's store. Every command goes through
 * the same store functions as the server's management API.
 *
 * Queueing for many devices (--devices FILE, --all) runs in transactions
 * of BATCH devices, each device in its own savepoint so that one refusal
 * (an unknown device, a full queue) costs only that device; a progress bar
 * goes to stderr and a summary to stdout. --notify sends package #0 only
 * once the commands are committed and durable (dmsec_store_sync), so a
 * device that opens its session at once finds them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dmsec/dispatch.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "dmsec/store.h"
#include "tool.h"

#define BATCH 200         /* devices per transaction of a bulk queue */
#define PREVIEW 60        /* bytes of a value shown in a text listing */
#define DEFAULT_LIMIT 100 /* rows of a listing unless --limit */
#define MAX_POSITIONAL 4

/* ---- arguments ---- */

static int in_list(const char *const *list, const char *name)
{
    for (; list && *list; list++) {
        if (!strcmp(*list, name))
            return 1;
    }
    return 0;
}

/* Positionals may come before, between or after the options: "--name"
 * takes the next argument as its value unless it is a flag. The options
 * are parsed by opts_parse; the positionals land in pos (at most max). */
struct args {
    tool_opts_t o;
    const char *pos[MAX_POSITIONAL];
    int npos;
};

static int parse_args(struct args *a, int argc, char **argv, const char *const *known,
                      const char *const *flags)
{
    memset(a, 0, sizeof *a);
    char **opts = calloc((size_t)argc + 1, sizeof *opts);
    if (!opts)
        return TOOL_EXIT_FAIL;
    int nopts = 0;
    int rc = 0;
    for (int i = 0; i < argc && !rc; i++) {
        if (!strncmp(argv[i], "--", 2) && argv[i][2] != '\0') {
            opts[nopts++] = argv[i];
            if (!in_list(flags, argv[i] + 2) && i + 1 < argc)
                opts[nopts++] = argv[++i];
        } else if (a->npos == MAX_POSITIONAL) {
            tool_error("unexpected argument '%s'", argv[i]);
            rc = TOOL_EXIT_USAGE;
        } else {
            a->pos[a->npos++] = argv[i];
        }
    }
    if (!rc)
        rc = opts_parse(&a->o, nopts, opts, known, flags);
    free(opts);
    return rc;
}

/* A count or number of seconds: 0 and *out set, or a usage error. */
static int parse_count(const char *opt, const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (!*s || !end || *end || v < min || v > max) {
        tool_error("--%s takes a number from %" PRId64 " to %" PRId64, opt, min, max);
        return TOOL_EXIT_USAGE;
    }
    *out = (int64_t)v;
    return 0;
}

static int parse_limit(tool_opts_t *o, size_t *limit)
{
    *limit = DEFAULT_LIMIT;
    const char *l = opt_get(o, "limit");
    int64_t v = 0;
    if (l) {
        if (parse_count("limit", l, 0, INT32_MAX, &v))
            return TOOL_EXIT_USAGE;
        *limit = (size_t)v;
    }
    return 0;
}

static int parse_id(const char *s, int64_t *id)
{
    char *end = NULL;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || !end || *end || v <= 0) {
        tool_error("a command id is a positive number");
        return TOOL_EXIT_USAGE;
    }
    *id = (int64_t)v;
    return 0;
}

/* 0 when the device is known, else TOOL_EXIT_FAIL after saying why. */
static int device_known(dmsec_store_t *st, const char *device)
{
    dmsec_device_t d;
    int rc = dmsec_store_device_get(st, device, &d);
    memset(&d, 0, sizeof d); /* holds secrets */
    if (rc == DMSEC_ERR_STORE_NOT_FOUND)
        return tool_no_device(device);
    return rc ? tool_fail(device, rc) : 0;
}

/* ---- output ---- */

/* A time as a JSON value: an ISO 8601 string, or null when never. */
static void json_time(int64_t t)
{
    char s[32];
    tool_iso_time(t, s);
    if (t <= 0)
        printf("null");
    else
        printf("\"%s\"", s);
}

/* ,"name":value, value a JSON string. */
static void json_field(const char *name, const char *value)
{
    printf(",\"%s\":", name);
    json_str(value);
}

/* ,"name":time, a time as json_time writes it. */
static void json_field_time(const char *name, int64_t t)
{
    printf(",\"%s\":", name);
    json_time(t);
}

/* Shown as text when every byte is printable ASCII, tab or a line end. */
static int printable(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r') || p[i] >= 0x7f)
            return 0;
    }
    return 1;
}

/* "NAME":value,"NAME_encoding":"text"|"base64" (null when absent), whole. */
static void json_value(const char *name, int has, const uint8_t *p, size_t n)
{
    if (!has) {
        printf("\"%s\":null,\"%s_encoding\":null", name, name);
        return;
    }
    printf("\"%s\":", name);
    if (printable(p, n)) {
        json_bytes(p, n);
        printf(",\"%s_encoding\":\"text\"", name);
        return;
    }
    char *b = tool_b64_alloc(p, n);
    json_str(b ? b : "");
    free(b);
    printf(",\"%s_encoding\":\"base64\"", name);
}

/* A value as text: as is when printable, else "base64:" and its base64;
 * at most max characters of it when max > 0 (then "...", and its size). */
static void text_value(int has, const uint8_t *p, size_t n, size_t max)
{
    if (!has) {
        printf("-");
        return;
    }
    char *b = NULL;
    const char *s = (const char *)p;
    size_t len = n;
    const char *tag = "";
    if (!printable(p, n)) {
        b = tool_b64_alloc(p, n);
        s = b ? b : "";
        len = strlen(s);
        tag = "base64:";
    }
    if (max && len > max) {
        printf("%s", tag);
        for (size_t i = 0; i < max; i++)
            putchar(s[i] == '\n' || s[i] == '\r' || s[i] == '\t' ? ' ' : s[i]);
        printf("... (%zu bytes)", n);
    } else {
        printf("%s", tag);
        if (max) {
            for (size_t i = 0; i < len; i++)
                putchar(s[i] == '\n' || s[i] == '\r' || s[i] == '\t' ? ' ' : s[i]);
        } else {
            fwrite(s, 1, len, stdout);
        }
    }
    free(b);
}

static const char *state_name(dmsec_cmd_state_t s)
{
    const char *n = dmsec_cmd_state_name(s);
    return n ? n : "?";
}

static const char *kind_name(dmsec_cmd_type_t k)
{
    const char *n = dmsec_cmd_kind_name(k);
    return n ? n : "?";
}

/* One command as a JSON object: every field, data and result whole. */
static void json_cmd(const dmsec_store_cmd_t *c)
{
    printf("{\"id\":%" PRId64 ",\"parent_id\":", c->id);
    if (c->parent_id)
        printf("%" PRId64, c->parent_id);
    else
        printf("null");
    json_field("device", c->device_id);
    printf(",\"kind\":\"%s\",\"target\":", kind_name(c->kind));
    json_str(c->target);
    json_field("source", c->source);
    printf(",");
    json_value("data", c->has_data, c->data, c->data_len);
    printf(",\"data_len\":%zu,\"format\":", c->has_data ? c->data_len : 0);
    json_str(c->format);
    json_field("type", c->mime);
    json_field("correlator", c->correlator);
    json_field_time("expires", c->expires);
    json_field("queued_by", c->queued_by);
    json_field_time("queued_at", c->queued_at);
    printf(",\"state\":\"%s\",\"session_id\":", state_name(c->state));
    json_str(c->session_id);
    json_field_time("sent_at", c->sent_at);
    printf(",\"attempts\":%d,\"status\":", c->attempts);
    if (c->status)
        printf("%d", c->status);
    else
        printf("null");
    printf(",");
    json_value("result", c->has_result, c->result, c->result_len);
    printf(",\"result_len\":%zu,\"result_format\":", c->has_result ? c->result_len : 0);
    json_str(c->result_format);
    json_field("result_type", c->result_mime);
    printf(",\"outcome\":");
    if (c->outcome)
        printf("%d", c->outcome);
    else
        printf("null");
    json_field_time("done_at", c->done_at);
    printf("}");
}

static void show_field(const char *name, const char *value)
{
    printf("%-14s %s\n", name, value && *value ? value : "-");
}

/* One command as "name value" lines: every field, data and result whole. */
static void text_cmd(const dmsec_store_cmd_t *c)
{
    char t[32];
    char num[32];
    snprintf(num, sizeof num, "%" PRId64, c->id);
    show_field("id", num);
    snprintf(num, sizeof num, "%" PRId64, c->parent_id);
    show_field("parent", c->parent_id ? num : NULL);
    show_field("device", c->device_id);
    show_field("kind", kind_name(c->kind));
    show_field("target", c->target);
    show_field("source", c->source);
    show_field("format", c->format);
    show_field("type", c->mime);
    show_field("correlator", c->correlator);
    tool_iso_time(c->expires, t);
    show_field("expires", t);
    show_field("queued_by", c->queued_by);
    tool_iso_time(c->queued_at, t);
    show_field("queued_at", t);
    show_field("state", state_name(c->state));
    show_field("session", c->session_id);
    tool_iso_time(c->sent_at, t);
    show_field("sent_at", t);
    snprintf(num, sizeof num, "%d", c->attempts);
    show_field("attempts", num);
    snprintf(num, sizeof num, "%d", c->status);
    show_field("status", c->status ? num : NULL);
    snprintf(num, sizeof num, "%d", c->outcome);
    show_field("outcome", c->outcome ? num : NULL);
    tool_iso_time(c->done_at, t);
    show_field("done_at", t);
    printf("%-14s ", "data");
    if (c->has_data)
        printf("(%zu bytes) ", c->data_len);
    text_value(c->has_data, c->data, c->data_len, 0);
    printf("\n%-14s ", "result");
    if (c->has_result)
        printf("(%zu bytes%s%s) ", c->result_len, c->result_format[0] ? ", " : "",
               c->result_format);
    text_value(c->has_result, c->result, c->result_len, 0);
    printf("\n");
}

/* ---- progress of a bulk queue, on stderr ---- */

void tool_progress_start(struct tool_progress *p, const char *label, size_t total)
{
    p->label = label;
    p->total = total;
    p->done = 0;
    p->tty = isatty(STDERR_FILENO);
    p->shown = -1;
}

void tool_progress_step(struct tool_progress *p)
{
    p->done++;
    size_t total = p->total ? p->total : 1;
    if (p->tty) {
        int pct = (int)(p->done * 100 / total);
        if (pct == p->shown && p->done != p->total)
            return;
        p->shown = pct;
        char bar[41];
        size_t fill = p->done * 40 / total;
        for (size_t i = 0; i < 40; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[40] = '\0';
        fprintf(stderr, "\r%-6s [%s] %3d%% %zu/%zu", p->label, bar, pct, p->done, p->total);
        if (p->done == p->total)
            fputc('\n', stderr);
        fflush(stderr);
        return;
    }
    int tenth = (int)(p->done * 10 / total);
    if (tenth > p->shown && tenth > 0) {
        p->shown = tenth;
        fprintf(stderr, "dmsec: %s %zu/%zu %d%%\n", p->label, p->done, p->total,
                (int)(p->done * 100 / total));
    }
}

/* ---- many devices ---- */

struct target {
    char *device; /* owned */
    int64_t id;   /* the command queued, 0 when it failed */
    int err;      /* why it failed */
    int notify_err;
    uint16_t session_id;
    int notified;
};

struct targets {
    struct target *t;
    size_t n;
    size_t cap;
};

static int targets_add(struct targets *l, const char *device, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        void *grown = realloc(l->t, cap * sizeof *l->t);
        if (!grown)
            return DMSEC_ERR_NO_MEMORY;
        l->t = grown;
        l->cap = cap;
    }
    char *d = malloc(len + 1);
    if (!d)
        return DMSEC_ERR_NO_MEMORY;
    memcpy(d, device, len);
    d[len] = '\0';
    memset(&l->t[l->n], 0, sizeof l->t[l->n]);
    l->t[l->n++].device = d;
    return 0;
}

static void targets_free(struct targets *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->t[i].device);
    free(l->t);
    memset(l, 0, sizeof *l);
}

static int collect_device(void *ctx, const dmsec_device_t *dev)
{
    return targets_add(ctx, dev->device_id, strlen(dev->device_id));
}

/* One device id per line; blank lines and lines starting with '#' are
 * skipped, spaces around an id ignored. */
static int targets_from_file(struct targets *l, const char *path)
{
    size_t n = 0;
    uint8_t *buf = read_file(path, &n);
    if (!buf)
        return TOOL_EXIT_FAIL;
    int rc = 0;
    size_t line = 1;
    for (size_t i = 0; i < n && !rc; line++) {
        size_t end = i;
        while (end < n && buf[end] != '\n')
            end++;
        size_t a = i;
        size_t b = end;
        while (a < b && (buf[a] == ' ' || buf[a] == '\t' || buf[a] == '\r'))
            a++;
        while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t' || buf[b - 1] == '\r'))
            b--;
        if (b > a && buf[a] != '#') {
            if (memchr(buf + a, '\0', b - a)) {
                tool_error("%s:%zu: a NUL byte in a device id", path, line);
                rc = TOOL_EXIT_FAIL;
            } else if (targets_add(l, (const char *)buf + a, b - a)) {
                rc = tool_fail(path, DMSEC_ERR_NO_MEMORY);
            }
        }
        i = end + 1;
    }
    free(buf);
    return rc;
}

/* Queues one device's command (through st, inside the caller's
 * transaction); its id in *id. */
typedef int (*queue_fn)(dmsec_store_t *st, const char *device, void *ctx, int64_t *id);

static const char *reason(int err)
{
    return err == DMSEC_ERR_STORE_NOT_FOUND ? "no such device" : dmsec_strerror(err);
}

/* The bulk queue: BATCH devices per transaction, each in a savepoint. */
static void queue_many(dmsec_store_t *st, struct targets *l, queue_fn fn, void *ctx)
{
    struct tool_progress p;
    tool_progress_start(&p, "queue", l->n);
    for (size_t b = 0; b < l->n; b += BATCH) {
        size_t e = b + BATCH < l->n ? b + BATCH : l->n;
        int rc = dmsec_store_begin(st);
        for (size_t i = b; i < e; i++) {
            struct target *t = &l->t[i];
            if (rc) {
                t->err = rc;
            } else if ((t->err = dmsec_store_begin(st)) == 0) {
                t->err = fn(st, t->device, ctx, &t->id);
                if (t->err) {
                    t->id = 0;
                    dmsec_store_rollback(st);
                } else if ((t->err = dmsec_store_commit(st)) != 0) {
                    t->id = 0;
                }
            }
            tool_progress_step(&p);
        }
        if (!rc && (rc = dmsec_store_commit(st)) != 0) {
            /* A failed commit rolled the whole batch back. */
            for (size_t i = b; i < e; i++) {
                if (!l->t[i].err) {
                    l->t[i].err = rc;
                    l->t[i].id = 0;
                }
            }
        }
    }
}

/* Package #0 to every device whose command was queued, once it is durable. */
static void notify_many(dmsec_store_t *st, struct targets *l, const dmsec_notify_opts_t *no)
{
    size_t queued = 0;
    for (size_t i = 0; i < l->n; i++)
        queued += l->t[i].id != 0;
    if (!queued)
        return;
    int rc = dmsec_store_sync(st);
    struct tool_progress p;
    tool_progress_start(&p, "notify", queued);
    for (size_t i = 0; i < l->n; i++) {
        struct target *t = &l->t[i];
        if (!t->id)
            continue;
        t->notify_err = rc ? rc : dmsec_dispatch_notify(st, t->device, no, &t->session_id);
        t->notified = !t->notify_err;
        tool_progress_step(&p);
    }
}

/* --devices FILE / --all: queue, notify, report. */
static int run_many(dmsec_store_t *st, tool_opts_t *o, queue_fn fn, void *ctx,
                    const dmsec_notify_opts_t *no)
{
    const char *file = opt_get(o, "devices");
    struct targets l = {0};
    int rc = 0;
    if (file) {
        rc = targets_from_file(&l, file);
    } else {
        int err = dmsec_store_device_list(st, collect_device, &l);
        if (err)
            rc = tool_fail("device list", err);
    }
    if (!rc && l.n == 0) {
        tool_error("no devices to queue for");
        rc = TOOL_EXIT_FAIL;
    }
    if (rc) {
        targets_free(&l);
        return rc;
    }
    queue_many(st, &l, fn, ctx);
    int sync_err = 0;
    if (no) {
        notify_many(st, &l, no);
    } else if ((sync_err = dmsec_store_sync(st)) != 0) {
        /* Committed, but not known durable: said, and the exit says so. */
        tool_fail("sync", sync_err);
    }
    size_t queued = 0;
    size_t failed = 0;
    size_t notified = 0;
    size_t notify_failed = 0;
    for (size_t i = 0; i < l.n; i++) {
        struct target *t = &l.t[i];
        if (t->id) {
            queued++;
        } else {
            failed++;
            tool_error("%s: %s", t->device, reason(t->err));
        }
        if (t->notified)
            notified++;
        else if (t->notify_err) {
            notify_failed++;
            tool_error("%s: notify: %s", t->device, dmsec_strerror(t->notify_err));
        }
    }
    if (opt_flag(o, "json")) {
        printf("{\"queued\":%zu,\"failed\":%zu", queued, failed);
        if (no)
            printf(",\"notified\":%zu,\"notify_failed\":%zu", notified, notify_failed);
        printf(",\"commands\":[");
        size_t k = 0;
        for (size_t i = 0; i < l.n; i++) {
            struct target *t = &l.t[i];
            if (!t->id)
                continue;
            printf("%s{\"id\":%" PRId64 ",\"device\":", k++ ? "," : "", t->id);
            json_str(t->device);
            if (t->notified)
                printf(",\"session_id\":\"%X\"", (unsigned)t->session_id);
            printf("}");
        }
        printf("],\"failures\":[");
        k = 0;
        for (size_t i = 0; i < l.n; i++) {
            struct target *t = &l.t[i];
            if (t->id && !t->notify_err)
                continue;
            printf("%s{\"device\":", k++ ? "," : "");
            json_str(t->device);
            printf(",\"error\":");
            char why[160];
            snprintf(why, sizeof why, "notify: %s", dmsec_strerror(t->notify_err));
            json_str(t->id ? why : reason(t->err));
            json_field("code", dmsec_errname(t->id ? t->notify_err : t->err));
            printf("}");
        }
        printf("]}\n");
    } else {
        printf("queued %zu, failed %zu", queued, failed);
        if (no)
            printf(", notified %zu, notify failed %zu", notified, notify_failed);
        printf("\n");
    }
    targets_free(&l);
    return failed || notify_failed || sync_err ? TOOL_EXIT_FAIL : 0;
}

/* One device: queue (committed), sync, notify; prints the id. */
static int run_one(dmsec_store_t *st, const char *device, const char *what, tool_opts_t *o,
                   queue_fn fn, void *ctx, const dmsec_notify_opts_t *no)
{
    int64_t id = 0;
    int err = fn(st, device, ctx, &id);
    if (err == DMSEC_ERR_STORE_NOT_FOUND)
        return tool_no_device(device);
    if (!err)
        err = dmsec_store_sync(st);
    if (err)
        return tool_fail(what, err);
    uint16_t sid = 0;
    int nerr = no ? dmsec_dispatch_notify(st, device, no, &sid) : 0;
    if (opt_flag(o, "json")) {
        printf("{\"id\":%" PRId64 ",\"device\":", id);
        json_str(device);
        if (no && !nerr)
            printf(",\"session_id\":\"%X\"", (unsigned)sid);
        printf("}\n");
    } else {
        printf("%" PRId64 "\n", id);
        if (no && !nerr)
            printf("session %X\n", (unsigned)sid);
    }
    /* The command stays queued when the notification failed: its id is
     * printed all the same, and the failure reported. */
    return nerr ? tool_fail("notify", nerr) : 0;
}

/* ---- dmsec cmd KIND ---- */

static int queue_cmd(dmsec_store_t *st, const char *device, void *ctx, int64_t *id)
{
    dmsec_store_cmd_t *c = ctx;
    size_t n = strlen(device);
    if (n >= sizeof c->device_id)
        return DMSEC_ERR_INVALID_ARG;
    memcpy(c->device_id, device, n + 1);
    return dmsec_store_cmd_queue(st, c, (int64_t)time(NULL), id);
}

/* Copies an option into a field; 0, or TOOL_EXIT_FAIL when it does not fit. */
static int field(char *dst, size_t cap, const char *what, const char *v)
{
    if (!v)
        return 0;
    size_t n = strlen(v);
    if (n >= cap) {
        tool_error("%s: %s (at most %zu bytes)", what, dmsec_strerror(DMSEC_ERR_INVALID_ARG),
                   cap - 1);
        return TOOL_EXIT_FAIL;
    }
    memcpy(dst, v, n + 1);
    return 0;
}

/* The value of --data / --data-file into c (with --format b64 a file is
 * base64-encoded; otherwise its bytes go as they are). */
static int cmd_data(tool_opts_t *o, dmsec_store_cmd_t *c)
{
    const char *data = opt_get(o, "data");
    const char *file = opt_get(o, "data-file");
    if (data && file) {
        tool_error("give --data or --data-file, not both");
        return TOOL_EXIT_USAGE;
    }
    if (data) {
        size_t n = strlen(data);
        c->data = malloc(n + 1);
        if (!c->data)
            return tool_fail("--data", DMSEC_ERR_NO_MEMORY);
        memcpy(c->data, data, n + 1);
        c->data_len = n;
        c->has_data = 1;
    } else if (file) {
        size_t n = 0;
        uint8_t *buf = read_file(file, &n);
        if (!buf)
            return TOOL_EXIT_FAIL;
        if (!strcmp(c->format, "b64")) {
            char *b = tool_b64_alloc(buf, n);
            free(buf);
            if (!b)
                return tool_fail(file, DMSEC_ERR_NO_MEMORY);
            c->data = (uint8_t *)b;
            c->data_len = strlen(b);
        } else {
            c->data = buf;
            c->data_len = n;
        }
        c->has_data = 1;
    }
    return 0;
}

/* --expires SECONDS into an absolute time (0: never). */
static int parse_expires(tool_opts_t *o, int64_t *expires)
{
    *expires = 0;
    const char *e = opt_get(o, "expires");
    int64_t s = 0;
    if (!e)
        return 0;
    if (parse_count("expires", e, 1, 86400LL * 3650, &s))
        return TOOL_EXIT_USAGE;
    *expires = (int64_t)time(NULL) + s;
    return 0;
}

/* The options of a queueing command that many devices share. */
static int many_or_one(struct args *a, int want_pos, int *many)
{
    int file = opt_get(&a->o, "devices") != NULL;
    int all = opt_flag(&a->o, "all");
    *many = file || all;
    if (file && all) {
        tool_error("give --devices or --all, not both");
        return TOOL_EXIT_USAGE;
    }
    int want = want_pos - (*many ? 1 : 0);
    if (a->npos != want) {
        tool_error(*many ? "with --devices or --all, no DEVICE argument"
                         : "usage: DEVICE (or --devices FILE, --all) expected");
        return TOOL_EXIT_USAGE;
    }
    return 0;
}

static int notify_setup(tool_opts_t *o, dmsec_notify_opts_t *no, const dmsec_notify_opts_t **use)
{
    *use = NULL;
    if (!opt_flag(o, "notify")) {
        if (opt_get(o, "addr") || opt_get(o, "server-id") || opt_get(o, "ui") ||
            opt_get(o, "ttl")) {
            tool_error("--addr, --server-id, --ui and --ttl go with --notify");
            return TOOL_EXIT_USAGE;
        }
        return 0;
    }
    if (notify_opts_from(o, no))
        return TOOL_EXIT_USAGE;
    *use = no;
    return 0;
}

static int cmd_queue(const char *kind_name_arg, int argc, char **argv)
{
    static const char *const known[] = {"db",         "data",   "data-file", "format",  "type",
                                        "correlator", "source", "expires",   "devices", "server-id",
                                        "addr",       "ui",     "ttl",       NULL};
    static const char *const flags[] = {"notify", "json", "all", NULL};
    dmsec_cmd_type_t kind;
    if (dmsec_cmd_kind_parse(kind_name_arg, &kind) || kind == DMSEC_CMD_ATOMIC ||
        kind == DMSEC_CMD_SEQUENCE) {
        tool_error("cmd: unknown command kind '%s' (get, replace, add, delete, exec, copy, list, "
                   "show, cancel)",
                   kind_name_arg);
        return TOOL_EXIT_USAGE;
    }
    struct args a;
    int many = 0;
    if (parse_args(&a, argc, argv, known, flags) || many_or_one(&a, 2, &many))
        return TOOL_EXIT_USAGE;
    tool_opts_t *o = &a.o;
    const char *device = many ? NULL : a.pos[0];
    const char *uri = a.pos[many ? 0 : 1];
    const char *source = opt_get(o, "source");
    if ((kind == DMSEC_CMD_COPY) != (source != NULL)) {
        tool_error(source ? "--source goes with copy only" : "copy needs --source URI");
        return TOOL_EXIT_USAGE;
    }
    dmsec_notify_opts_t nopts;
    const dmsec_notify_opts_t *no = NULL;
    dmsec_store_cmd_t c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    int rc = notify_setup(o, &nopts, &no);
    if (!rc)
        rc = parse_expires(o, &c.expires);
    if (!rc)
        rc = field(c.target, sizeof c.target, "URI", uri);
    if (!rc)
        rc = field(c.source, sizeof c.source, "--source", source);
    if (!rc)
        rc = field(c.format, sizeof c.format, "--format", opt_get(o, "format"));
    if (!rc)
        rc = field(c.mime, sizeof c.mime, "--type", opt_get(o, "type"));
    if (!rc)
        rc = field(c.correlator, sizeof c.correlator, "--correlator", opt_get(o, "correlator"));
    if (!rc)
        rc = cmd_data(o, &c);
    snprintf(c.queued_by, sizeof c.queued_by, "%s", tool_operator());
    dmsec_store_t *st = NULL;
    if (!rc && (st = tool_store_open_mode(o, TOOL_STORE_WRITE)) == NULL)
        rc = TOOL_EXIT_FAIL;
    char server_id[DMSEC_NAME_MAX] = "";
    if (!rc && no &&
        !(rc = tool_server_id(st, opt_get(o, "server-id"), server_id, sizeof server_id)))
        nopts.server_id = server_id; /* package #0 in the store's name */
    if (!rc) {
        char what[64 + DMSEC_STORE_URI_MAX];
        snprintf(what, sizeof what, "cmd %s %s", kind_name(kind), c.target);
        rc = many ? run_many(st, o, queue_cmd, &c, no)
                  : run_one(st, device, what, o, queue_cmd, &c, no);
    }
    dmsec_store_close(st);
    dmsec_store_cmd_clear(&c);
    return rc;
}

/* ---- dmsec cmd list | show | cancel ---- */

/* A listing: a JSON array (--json) or text rows; a command listing's text
 * row is text_row's. */
struct listing {
    int json;
    int all; /* a device column */
    size_t n;
    void (*text_row)(const struct listing *l, const dmsec_store_cmd_t *c);
};

/* "[" before the rows of a JSON listing. */
static void listing_open(const struct listing *l)
{
    if (l->json)
        printf("[");
}

/* "]" after them; the exit code, err said as what's failure. */
static int listing_close(const struct listing *l, int err, const char *what)
{
    if (l->json)
        printf("]\n");
    return err ? tool_fail(what, err) : 0;
}

/* The callback of a command listing. */
static int cmd_row(void *ctx, const dmsec_store_cmd_t *c)
{
    struct listing *l = ctx;
    if (l->json) {
        printf("%s", l->n ? ",\n" : "");
        json_cmd(c);
    } else {
        l->text_row(l, c);
    }
    l->n++;
    return 0;
}

/* The commands f selects as a listing: the exit code. */
static int list_cmds(dmsec_store_t *st, const dmsec_cmd_filter_t *f, struct listing *l,
                     const char *what)
{
    listing_open(l);
    return listing_close(l, dmsec_store_cmd_list(st, f, cmd_row, l), what);
}

static void queued_row(const struct listing *l, const dmsec_store_cmd_t *c)
{
    char t[32];
    tool_iso_time(c->queued_at, t);
    printf("%-8" PRId64 " ", c->id);
    if (l->all)
        printf("%-28s ", c->device_id);
    char status[16];
    snprintf(status, sizeof status, "%d", c->status);
    printf("%-9s %-8s %-40s %4s %s\n", state_name(c->state), kind_name(c->kind),
           c->target[0] ? c->target : "-", c->status ? status : "-", t);
}

static int parse_states(const char *s, unsigned *bits)
{
    *bits = 0;
    if (!s)
        return 0;
    char buf[128];
    size_t n = strlen(s);
    if (n >= sizeof buf) {
        tool_error("--state: too long");
        return TOOL_EXIT_USAGE;
    }
    memcpy(buf, s, n + 1);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        dmsec_cmd_state_t v;
        if (dmsec_cmd_state_parse(tok, &v)) {
            tool_error("--state: '%s' is none of queued, sent, accepted, done, failed, expired, "
                       "cancelled",
                       tok);
            return TOOL_EXIT_USAGE;
        }
        *bits |= 1u << v;
    }
    if (!*bits) {
        tool_error("--state: no state given");
        return TOOL_EXIT_USAGE;
    }
    return 0;
}

static int cmd_list(int argc, char **argv)
{
    static const char *const known[] = {"db", "state", "limit", NULL};
    static const char *const flags[] = {"json", "all", NULL};
    struct args a;
    if (parse_args(&a, argc, argv, known, flags))
        return TOOL_EXIT_USAGE;
    int all = opt_flag(&a.o, "all");
    if (a.npos != (all ? 0 : 1)) {
        tool_error("usage: dmsec cmd list (DEVICE | --all) --db PATH [--state S] [--limit N]");
        return TOOL_EXIT_USAGE;
    }
    dmsec_cmd_filter_t f = {.device_id = all ? NULL : a.pos[0]};
    if (parse_states(opt_get(&a.o, "state"), &f.states) || parse_limit(&a.o, &f.limit))
        return TOOL_EXIT_USAGE;
    dmsec_store_t *st = tool_store_open_mode(&a.o, TOOL_STORE_READ);
    if (!st)
        return TOOL_EXIT_FAIL;
    int rc = all ? 0 : device_known(st, f.device_id);
    if (!rc) {
        struct listing l = {opt_flag(&a.o, "json"), all, 0, queued_row};
        rc = list_cmds(st, &f, &l, "cmd list");
    }
    dmsec_store_close(st);
    return rc;
}

/* show and cancel: one command by its id. */
static int cmd_by_id(int argc, char **argv, int cancel)
{
    static const char *const known[] = {"db", NULL};
    static const char *const flags[] = {"json", NULL};
    struct args a;
    int64_t id = 0;
    if (parse_args(&a, argc, argv, known, flags))
        return TOOL_EXIT_USAGE;
    if (a.npos != 1) {
        tool_error("usage: dmsec cmd %s ID --db PATH [--json]", cancel ? "cancel" : "show");
        return TOOL_EXIT_USAGE;
    }
    if (parse_id(a.pos[0], &id))
        return TOOL_EXIT_USAGE;
    dmsec_store_t *st = tool_store_open_mode(&a.o, cancel ? TOOL_STORE_WRITE : TOOL_STORE_READ);
    if (!st)
        return TOOL_EXIT_FAIL;
    int json = opt_flag(&a.o, "json");
    dmsec_store_cmd_t c;
    memset(&c, 0, sizeof c);
    int rc = 0;
    int err = dmsec_store_cmd_get(st, id, &c);
    if (err == DMSEC_ERR_STORE_NOT_FOUND) {
        tool_error("no such command: %" PRId64, id);
        rc = TOOL_EXIT_FAIL;
    } else if (err) {
        rc = tool_fail("cmd", err);
    } else if (!cancel) {
        if (json) {
            json_cmd(&c);
            printf("\n");
        } else {
            text_cmd(&c);
        }
    } else {
        err = dmsec_store_cmd_cancel(st, id, (int64_t)time(NULL));
        if (!err)
            err = dmsec_store_sync(st);
        if (err == DMSEC_ERR_STORE_STATE) {
            /* Read again: it may have finished since. */
            dmsec_store_cmd_clear(&c);
            if (!dmsec_store_cmd_get(st, id, &c))
                tool_error("cmd cancel: command %" PRId64 " is %s already; only a queued, sent "
                           "or accepted command can be cancelled",
                           id, state_name(c.state));
            else
                tool_fail("cmd cancel", err);
            rc = TOOL_EXIT_FAIL;
        } else if (err) {
            rc = tool_fail("cmd cancel", err);
        } else if (json) {
            printf("{\"id\":%" PRId64 ",\"cancelled\":true}\n", id);
        } else {
            printf("cancelled %" PRId64 "\n", id);
        }
    }
    dmsec_store_cmd_clear(&c);
    dmsec_store_close(st);
    return rc;
}

int cmd_cmd(int argc, char **argv)
{
    if (argc < 2) {
        tool_error("usage: dmsec cmd get|replace|add|delete|exec|copy|list|show|cancel ... "
                   "(see dmsec --help)");
        return TOOL_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "list"))
        return cmd_list(argc - 2, argv + 2);
    if (!strcmp(argv[1], "show"))
        return cmd_by_id(argc - 2, argv + 2, 0);
    if (!strcmp(argv[1], "cancel"))
        return cmd_by_id(argc - 2, argv + 2, 1);
    return cmd_queue(argv[1], argc - 2, argv + 2);
}

/* ---- dmsec results | inventory | events DEVICE ---- */

/* Options, the store, the device known: 0 or an exit code. */
static int device_view(struct args *a, int argc, char **argv, const char *const *known,
                       const char *usage, dmsec_store_t **st)
{
    static const char *const flags[] = {"json", NULL};
    *st = NULL;
    if (parse_args(a, argc - 1, argv + 1, known, flags))
        return TOOL_EXIT_USAGE;
    if (a->npos != 1) {
        tool_error("usage: %s", usage);
        return TOOL_EXIT_USAGE;
    }
    *st = tool_store_open_mode(&a->o, TOOL_STORE_READ);
    if (!*st)
        return TOOL_EXIT_FAIL;
    return device_known(*st, a->pos[0]);
}

static void result_row(const struct listing *l, const dmsec_store_cmd_t *c)
{
    (void)l;
    char t[32];
    tool_iso_time(c->done_at, t);
    printf("%-8" PRId64 " %-6s %-8s %-36s %4d %s ", c->id, state_name(c->state), kind_name(c->kind),
           c->target, c->outcome ? c->outcome : c->status, t);
    text_value(c->has_result, c->result, c->result_len, PREVIEW);
    printf("\n");
}

int cmd_results(int argc, char **argv)
{
    static const char *const known[] = {"db", "limit", NULL};
    struct args a;
    dmsec_store_t *st = NULL;
    int rc = device_view(&a, argc, argv, known, "dmsec results DEVICE --db PATH [--limit N]", &st);
    dmsec_cmd_filter_t f = {.states = (1u << DMSEC_CMDST_DONE) | (1u << DMSEC_CMDST_FAILED),
                            .newest_first = 1};
    if (!rc && parse_limit(&a.o, &f.limit))
        rc = TOOL_EXIT_USAGE;
    if (!rc) {
        f.device_id = a.pos[0];
        struct listing l = {opt_flag(&a.o, "json"), 0, 0, result_row};
        rc = list_cmds(st, &f, &l, "results");
    }
    dmsec_store_close(st);
    return rc;
}

static int inventory_one(void *ctx, const char *uri, const char *value, int64_t updated)
{
    struct listing *l = ctx;
    char t[32];
    tool_iso_time(updated, t);
    if (l->json) {
        printf("%s{\"uri\":", l->n ? "," : "");
        json_str(uri);
        json_field("value", value ? value : "");
        json_field_time("updated", updated);
        printf("}");
    } else {
        printf("%-28s %-36s %s\n", uri, value ? value : "", t);
    }
    l->n++;
    return 0;
}

int cmd_inventory(int argc, char **argv)
{
    static const char *const known[] = {"db", NULL};
    struct args a;
    dmsec_store_t *st = NULL;
    int rc = device_view(&a, argc, argv, known, "dmsec inventory DEVICE --db PATH [--json]", &st);
    int64_t first = 0;
    int64_t last = 0;
    int err = rc ? 0 : dmsec_store_device_seen_get(st, a.pos[0], &first, &last);
    if (err)
        rc = tool_fail("inventory", err);
    if (!rc) {
        struct listing l = {opt_flag(&a.o, "json"), 0, 0, NULL};
        if (l.json) {
            printf("{\"device\":");
            json_str(a.pos[0]);
            json_field_time("first_seen", first);
            json_field_time("last_seen", last);
            printf(",\"values\":[");
        } else {
            char f[32];
            char s[32];
            tool_iso_time(first, f);
            tool_iso_time(last, s);
            printf("device      %s\nfirst_seen  %s\nlast_seen   %s\n", a.pos[0], f, s);
        }
        err = dmsec_store_inventory_list(st, a.pos[0], inventory_one, &l);
        if (l.json)
            printf("]}\n");
        if (err)
            rc = tool_fail("inventory", err);
    }
    dmsec_store_close(st);
    return rc;
}

static int event_one(void *ctx, const dmsec_device_event_t *e)
{
    struct listing *l = ctx;
    char t[32];
    tool_iso_time(e->at, t);
    if (l->json) {
        printf("%s{\"id\":%" PRId64 ",\"at\":", l->n ? ",\n" : "", e->id);
        json_time(e->at);
        printf(",\"alert\":%d,\"type\":", e->alert);
        json_str(e->type);
        json_field("format", e->format);
        json_field("source", e->source);
        json_field("correlator", e->correlator);
        json_field("data", e->data);
        json_field("session_id", e->session_id);
        printf("}");
    } else {
        printf("%s %d %-40s %-24s %-12s ", t, e->alert, e->type[0] ? e->type : "-",
               e->source[0] ? e->source : "-", e->correlator[0] ? e->correlator : "-");
        text_value(1, (const uint8_t *)e->data, strlen(e->data), PREVIEW);
        printf("\n");
    }
    l->n++;
    return 0;
}

int cmd_events(int argc, char **argv)
{
    static const char *const known[] = {"db", "limit", NULL};
    struct args a;
    dmsec_store_t *st = NULL;
    int rc = device_view(&a, argc, argv, known, "dmsec events DEVICE --db PATH [--limit N]", &st);
    size_t limit = 0;
    if (!rc && parse_limit(&a.o, &limit))
        rc = TOOL_EXIT_USAGE;
    if (!rc) {
        struct listing l = {opt_flag(&a.o, "json"), 0, 0, NULL};
        listing_open(&l);
        rc = listing_close(&l, dmsec_store_event_list(st, a.pos[0], 0, limit, event_one, &l),
                           "events");
    }
    dmsec_store_close(st);
    return rc;
}

/* ---- dmsec fumo ---- */

struct fumo {
    const char *node;
    const char *url;
    const char *sha256;
    int64_t size;
    int64_t expires;
    char queued_by[64];
};

static int queue_fumo(dmsec_store_t *st, const char *device, void *ctx, int64_t *id)
{
    const struct fumo *f = ctx;
    return dmsec_store_fumo_queue(st, device, f->node, f->url, f->sha256, f->size, f->queued_by,
                                  f->expires, (int64_t)time(NULL), id);
}

int cmd_fumo(int argc, char **argv)
{
    static const char *const known[] = {"db",      "url",       "sha256", "size", "node", "expires",
                                        "devices", "server-id", "addr",   "ui",   "ttl",  NULL};
    static const char *const flags[] = {"notify", "json", "all", NULL};
    struct args a;
    int many = 0;
    if (parse_args(&a, argc - 1, argv + 1, known, flags) || many_or_one(&a, 1, &many))
        return TOOL_EXIT_USAGE;
    tool_opts_t *o = &a.o;
    struct fumo f = {.node = opt_get(o, "node")};
    f.url = opt_need(o, "url");
    f.sha256 = opt_need(o, "sha256");
    if (!f.url || !f.sha256)
        return TOOL_EXIT_USAGE;
    const char *size = opt_get(o, "size");
    if (size && parse_count("size", size, 1, INT64_MAX, &f.size))
        return TOOL_EXIT_USAGE;
    dmsec_notify_opts_t nopts;
    const dmsec_notify_opts_t *no = NULL;
    if (parse_expires(o, &f.expires) || notify_setup(o, &nopts, &no))
        return TOOL_EXIT_USAGE;
    snprintf(f.queued_by, sizeof f.queued_by, "%s", tool_operator());
    dmsec_store_t *st = tool_store_open_mode(o, TOOL_STORE_WRITE);
    if (!st)
        return TOOL_EXIT_FAIL;
    char server_id[DMSEC_NAME_MAX] = "";
    if (no) {
        int sr = tool_server_id(st, opt_get(o, "server-id"), server_id, sizeof server_id);
        if (sr) {
            dmsec_store_close(st);
            return sr;
        }
        nopts.server_id = server_id; /* package #0 in the store's name */
    }
    int rc = many ? run_many(st, o, queue_fumo, &f, no)
                  : run_one(st, a.pos[0], "fumo", o, queue_fumo, &f, no);
    dmsec_store_close(st);
    return rc;
}
