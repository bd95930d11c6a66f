/* The node store: URIs, sorted children, values and limits. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "dmsec/errors.h"
#include "tree/tree_int.h"

static const char *const format_names[DMSEC_TREE_FORMAT_COUNT_] = {
    "chr", "int", "bool", "b64", "bin", "node", "null", "float", "date", "time",
};

const char *dmsec_tree_format_name(dmsec_tree_format_t f)
{
    if ((unsigned)f >= DMSEC_TREE_FORMAT_COUNT_)
        return NULL;
    return format_names[f];
}

int dmsec_tree_format_parse(const char *name, dmsec_tree_format_t *out)
{
    if (!name || !out)
        return DMSEC_ERR_INVALID_ARG;
    for (unsigned i = 0; i < DMSEC_TREE_FORMAT_COUNT_; i++) {
        if (!strcmp(name, format_names[i])) {
            *out = (dmsec_tree_format_t)i;
            return DMSEC_OK;
        }
    }
    return DMSEC_ERR_TREE_FORMAT;
}

int tname_ok(const char *s, size_t n)
{
    if (n == 0 || n > DMSEC_TREE_MAX_SEGMENT)
        return 0;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '/' || c == '?')
            return 0;
    }
    return 1;
}

int tpath_parse(const char *uri, int allow_prop, tpath_t *p)
{
    if (!uri || !p)
        return DMSEC_ERR_INVALID_ARG;
    size_t total = strlen(uri);
    if (total > DMSEC_TREE_MAX_URI)
        return DMSEC_ERR_TREE_URI_LONG;
    memcpy(p->buf, uri, total + 1);
    p->n = 0;
    p->prop = NULL;
    char *q = strchr(p->buf, '?');
    if (q) {
        if (!allow_prop || strncmp(q + 1, "prop=", 5) != 0 || q[6] == '\0')
            return allow_prop ? DMSEC_ERR_TREE_UNSUPPORTED : DMSEC_ERR_TREE_PATH;
        *q = '\0';
        p->prop = q + 6;
        total = (size_t)(q - p->buf);
    }
    char *s = p->buf;
    if (total == 1 && s[0] == '.')
        return DMSEC_OK;
    if (total >= 2 && s[0] == '.' && s[1] == '/') {
        s += 2;
        total -= 2;
    }
    if (total == 0)
        return DMSEC_ERR_TREE_PATH;
    char *end = s + total;
    while (s <= end) {
        char *slash = memchr(s, '/', (size_t)(end - s));
        char *seg_end = slash ? slash : end;
        size_t n = (size_t)(seg_end - s);
        if (!tname_ok(s, n))
            return DMSEC_ERR_TREE_PATH;
        if (p->n == DMSEC_TREE_MAX_DEPTH)
            return DMSEC_ERR_TREE_TOO_DEEP;
        *seg_end = '\0';
        p->seg[p->n] = s;
        p->len[p->n] = n;
        p->n++;
        s = seg_end + 1;
        if (!slash)
            break;
    }
    return DMSEC_OK;
}

static int name_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c)
        return c;
    return an < bn ? -1 : an > bn;
}

/* Index of name in parent's children, or where it would be inserted. */
static size_t kid_pos(const tnode_t *parent, const char *name, size_t n, int *found)
{
    size_t lo = 0;
    size_t hi = parent->nkids;
    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const tnode_t *k = parent->kids[mid];
        int c = name_cmp(k->name, k->name_len, name, n);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

tnode_t *tnode_child(const tnode_t *parent, const char *name, size_t n)
{
    int found;
    size_t i = kid_pos(parent, name, n, &found);
    return found ? parent->kids[i] : NULL;
}

tnode_t *tnode_walk(const dmsec_tree_t *t, const tpath_t *p, size_t *matched)
{
    tnode_t *n = t->root;
    size_t i = 0;
    for (; i < p->n; i++) {
        tnode_t *k = tnode_child(n, p->seg[i], p->len[i]);
        if (!k)
            break;
        n = k;
    }
    *matched = i;
    return n;
}

int tnode_add(dmsec_tree_t *t, tnode_t *parent, const char *name, size_t n, tnode_t **out)
{
    if (parent->format != DMSEC_TREE_NODE)
        return DMSEC_ERR_TREE_NOT_ALLOWED;
    if (!tname_ok(name, n))
        return DMSEC_ERR_TREE_PATH;
    if (parent->depth + 1 > DMSEC_TREE_MAX_DEPTH)
        return DMSEC_ERR_TREE_TOO_DEEP;
    if (parent->uri_len + 1 + n > DMSEC_TREE_MAX_URI)
        return DMSEC_ERR_TREE_URI_LONG;
    if (t->count >= DMSEC_TREE_MAX_NODES)
        return DMSEC_ERR_TREE_TOO_MANY;
    int found;
    size_t pos = kid_pos(parent, name, n, &found);
    if (found)
        return DMSEC_ERR_TREE_EXISTS;
    if (parent->nkids == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 4;
        tnode_t **kids = realloc(parent->kids, cap * sizeof(tnode_t *));
        if (!kids)
            return DMSEC_ERR_NO_MEMORY;
        parent->kids = kids;
        parent->cap = cap;
    }
    tnode_t *k = calloc(1, sizeof *k);
    char *copy = malloc(n + 1);
    if (!k || !copy) {
        free(k);
        free(copy);
        return DMSEC_ERR_NO_MEMORY;
    }
    memcpy(copy, name, n);
    copy[n] = '\0';
    k->name = copy;
    k->name_len = n;
    k->parent = parent;
    k->format = DMSEC_TREE_NODE;
    k->depth = parent->depth + 1;
    k->uri_len = parent->uri_len + 1 + n;
    memmove(parent->kids + pos + 1, parent->kids + pos, (parent->nkids - pos) * sizeof(tnode_t *));
    parent->kids[pos] = k;
    parent->nkids++;
    t->count++;
    *out = k;
    return DMSEC_OK;
}

static void free_one(dmsec_tree_t *t, tnode_t *n)
{
    if (n->value) {
        dm_wipe(n->value, n->len);
        t->value_bytes -= n->len;
    }
    free(n->value);
    free(n->type);
    free(n->acl);
    free(n->name);
    free(n->kids);
    free(n);
    t->count--;
}

/* Frees n's subtree without recursion: the depth is bounded, but a loop
 * costs nothing either. Children are popped from the end. */
static void free_subtree(dmsec_tree_t *t, tnode_t *top)
{
    tnode_t *n = top;
    for (;;) {
        if (n->nkids) {
            n = n->kids[--n->nkids];
            continue;
        }
        tnode_t *up = n->parent;
        int last = n == top;
        free_one(t, n);
        if (last)
            return;
        n = up;
    }
}

void tnode_remove(dmsec_tree_t *t, tnode_t *n)
{
    tnode_t *parent = n->parent;
    if (!parent)
        return;
    int found;
    size_t pos = kid_pos(parent, n->name, n->name_len, &found);
    if (found) {
        memmove(parent->kids + pos, parent->kids + pos + 1,
                (parent->nkids - pos - 1) * sizeof(tnode_t *));
        parent->nkids--;
    }
    free_subtree(t, n);
}

static int is_digits(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
    }
    return 1;
}

static int int_ok(const char *s, size_t n)
{
    if (!s || !n)
        return 0; /* an int needs a digit */
    size_t start = (n > 0 && s[0] == '-') ? 1 : 0;
    if (!is_digits(s + start, n - start) || n > 11)
        return 0;
    char buf[12];
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    long v = strtol(buf, NULL, 10);
    return errno == 0 && v >= INT32_MIN && v <= INT32_MAX;
}

static int b64_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '=' || c == '\r' || c == '\n' || c == ' ' || c == '\t'))
            return 0;
    }
    return 1;
}

int tvalue_check(dmsec_tree_format_t f, const void *value, size_t len)
{
    const char *s = value;
    if (len > DMSEC_TREE_MAX_VALUE)
        return DMSEC_ERR_TOO_LARGE;
    if (len && !value)
        return DMSEC_ERR_INVALID_ARG;
    switch (f) {
    case DMSEC_TREE_NODE:
    case DMSEC_TREE_NULL:
        return len == 0 ? DMSEC_OK : DMSEC_ERR_TREE_FORMAT;
    case DMSEC_TREE_INT:
        return int_ok(s, len) ? DMSEC_OK : DMSEC_ERR_TREE_FORMAT;
    case DMSEC_TREE_BOOL:
        return (len == 4 && !memcmp(s, "true", 4)) || (len == 5 && !memcmp(s, "false", 5))
                   ? DMSEC_OK
                   : DMSEC_ERR_TREE_FORMAT;
    case DMSEC_TREE_B64:
        return b64_ok(s, len) ? DMSEC_OK : DMSEC_ERR_TREE_FORMAT;
    case DMSEC_TREE_CHR:
    case DMSEC_TREE_BIN:
    case DMSEC_TREE_FLOAT:
    case DMSEC_TREE_DATE:
    case DMSEC_TREE_TIME:
        return DMSEC_OK;
    default:
        return DMSEC_ERR_TREE_FORMAT;
    }
}

static int type_ok(const char *type)
{
    size_t n = strlen(type);
    if (n > DMSEC_TREE_MAX_TYPE)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)type[i];
        if (c < 0x20 || c >= 0x7f)
            return 0;
    }
    return 1;
}

static int dup_opt(const char *s, char **out)
{
    *out = NULL;
    if (!s || !*s)
        return DMSEC_OK;
    size_t n = strlen(s);
    *out = malloc(n + 1);
    if (!*out)
        return DMSEC_ERR_NO_MEMORY;
    memcpy(*out, s, n + 1);
    return DMSEC_OK;
}

int tnode_set(dmsec_tree_t *t, tnode_t *n, dmsec_tree_format_t f, const char *type,
              const void *value, size_t len)
{
    if (f != DMSEC_TREE_NODE && (!n->parent || n->nkids))
        return DMSEC_ERR_TREE_NOT_ALLOWED;
    int rc = tvalue_check(f, value, len);
    if (rc)
        return rc;
    if (type && !type_ok(type))
        return DMSEC_ERR_TREE_FORMAT;
    if (t->value_bytes - n->len + len > DMSEC_TREE_MAX_TOTAL)
        return DMSEC_ERR_TREE_TOO_MANY;
    uint8_t *v = NULL;
    if (len) {
        v = malloc(len + 1);
        if (!v)
            return DMSEC_ERR_NO_MEMORY;
        memcpy(v, value, len);
        v[len] = '\0';
    }
    char *ty;
    rc = dup_opt(type, &ty);
    if (rc) {
        free(v);
        return rc;
    }
    if (n->value) {
        dm_wipe(n->value, n->len);
        free(n->value);
    }
    t->value_bytes = t->value_bytes - n->len + len;
    n->value = v;
    n->len = len;
    free(n->type);
    n->type = ty;
    n->format = f;
    return DMSEC_OK;
}

int tnode_set_acl(tnode_t *n, const char *acl)
{
    if (!acl)
        acl = "";
    int rc = dmsec_tree_acl_check(acl);
    if (rc)
        return rc;
    if (!n->parent && !*acl)
        return DMSEC_ERR_TREE_FORMAT;
    char *copy;
    rc = dup_opt(acl, &copy);
    if (rc)
        return rc;
    free(n->acl);
    n->acl = copy;
    return DMSEC_OK;
}

int tnode_secret(const tnode_t *n)
{
    return (n->flags & DMSEC_TREE_SECRET) || !strcmp(n->name, "AAuthSecret");
}

int tnode_visit(const tnode_t *top, tvisit_fn fn, void *ctx)
{
    /* Relative depth never exceeds DMSEC_TREE_MAX_DEPTH: tnode_add bounds it. */
    const tnode_t *stack[DMSEC_TREE_MAX_DEPTH + 1];
    size_t next[DMSEC_TREE_MAX_DEPTH + 1];
    size_t sp = 0;
    int rc = fn(ctx, top);
    if (rc)
        return rc;
    stack[0] = top;
    next[0] = 0;
    for (;;) {
        const tnode_t *n = stack[sp];
        if (next[sp] < n->nkids) {
            const tnode_t *k = n->kids[next[sp]++];
            rc = fn(ctx, k);
            if (rc)
                return rc;
            if (k->nkids && sp + 1 <= DMSEC_TREE_MAX_DEPTH) {
                sp++;
                stack[sp] = k;
                next[sp] = 0;
            }
        } else if (sp == 0) {
            return 0;
        } else {
            sp--;
        }
    }
}

void tnode_uri(const tnode_t *n, char *out, size_t cap)
{
    if (cap < n->uri_len + 1)
        return;
    out[n->uri_len] = '\0';
    for (const tnode_t *k = n; k->parent; k = k->parent) {
        size_t at = k->uri_len - k->name_len;
        memcpy(out + at, k->name, k->name_len);
        out[at - 1] = '/';
    }
    out[0] = '.';
}

/* ---- public life cycle and local access ---- */

dmsec_tree_t *dmsec_tree_new(const char *root_acl)
{
    if (!root_acl)
        root_acl = DMSEC_TREE_ROOT_ACL;
    dmsec_tree_t *t = calloc(1, sizeof *t);
    tnode_t *r = calloc(1, sizeof *r);
    char *name = calloc(1, 1);
    if (!t || !r || !name) {
        free(t);
        free(r);
        free(name);
        return NULL;
    }
    r->name = name;
    r->format = DMSEC_TREE_NODE;
    r->uri_len = 1;
    r->flags = DMSEC_TREE_PERMANENT;
    t->root = r;
    t->count = 1;
    if (tnode_set_acl(r, root_acl) != DMSEC_OK) {
        dmsec_tree_free(t);
        return NULL;
    }
    return t;
}

void dmsec_tree_free(dmsec_tree_t *t)
{
    if (!t)
        return;
    if (t->root)
        free_subtree(t, t->root);
    free(t);
}

size_t dmsec_tree_count(const dmsec_tree_t *t)
{
    return t ? t->count : 0;
}

void dmsec_tree_set_exec(dmsec_tree_t *t, dmsec_tree_exec_fn fn, void *ctx)
{
    if (!t)
        return;
    t->exec = fn;
    t->exec_ctx = ctx;
}

static int find_local(const dmsec_tree_t *t, const char *uri, tnode_t **out)
{
    tpath_t p;
    if (!t)
        return DMSEC_ERR_INVALID_ARG;
    int rc = tpath_parse(uri, 0, &p);
    if (rc)
        return rc;
    size_t matched;
    tnode_t *n = tnode_walk(t, &p, &matched);
    if (matched != p.n)
        return DMSEC_ERR_TREE_NOT_FOUND;
    *out = n;
    return DMSEC_OK;
}

static void node_info(const tnode_t *n, dmsec_tree_info_t *out)
{
    out->format = n->format;
    out->value = n->value ? n->value : (const uint8_t *)"";
    out->value_len = n->len;
    out->type = n->type ? n->type : "";
    out->acl = n->acl ? n->acl : "";
    out->flags = n->flags;
    out->children = n->nkids;
}

int dmsec_tree_get_local(const dmsec_tree_t *t, const char *uri, dmsec_tree_info_t *out)
{
    tnode_t *n;
    if (!out)
        return DMSEC_ERR_INVALID_ARG;
    int rc = find_local(t, uri, &n);
    if (rc)
        return rc;
    node_info(n, out);
    return DMSEC_OK;
}

struct walk {
    dmsec_tree_walk_fn fn;
    void *ctx;
    int rc;
};

static int walk_node(void *ctx, const tnode_t *n)
{
    struct walk *w = ctx;
    char uri[DMSEC_TREE_MAX_URI + 1];
    dmsec_tree_info_t info;
    tnode_uri(n, uri, sizeof uri);
    node_info(n, &info);
    w->rc = w->fn(w->ctx, uri, &info, tnode_secret(n));
    return w->rc != 0;
}

int dmsec_tree_walk(const dmsec_tree_t *t, dmsec_tree_walk_fn fn, void *ctx)
{
    if (!t || !fn)
        return DMSEC_ERR_INVALID_ARG;
    struct walk w = {fn, ctx, 0};
    tnode_visit(t->root, walk_node, &w);
    return w.rc;
}

int dmsec_tree_set_local(dmsec_tree_t *t, const char *uri, dmsec_tree_format_t format,
                         const char *type, const void *value, size_t len)
{
    tpath_t p;
    if (!t)
        return DMSEC_ERR_INVALID_ARG;
    int rc = tpath_parse(uri, 0, &p);
    if (rc)
        return rc;
    rc = tvalue_check(format, value, len);
    if (rc)
        return rc;
    size_t matched;
    tnode_t *n = tnode_walk(t, &p, &matched);
    if (matched == p.n) {
        /* Never turns a leaf into an interior node or back. */
        if (format == DMSEC_TREE_NODE || n->format == DMSEC_TREE_NODE)
            return format == n->format ? DMSEC_OK : DMSEC_ERR_TREE_NOT_ALLOWED;
        return tnode_set(t, n, format, type, value, len);
    }
    if (n->format != DMSEC_TREE_NODE)
        return DMSEC_ERR_TREE_NOT_ALLOWED;
    if (t->count + (p.n - matched) > DMSEC_TREE_MAX_NODES)
        return DMSEC_ERR_TREE_TOO_MANY;
    tnode_t *first = NULL;
    for (size_t i = matched; i < p.n; i++) {
        tnode_t *k;
        rc = tnode_add(t, n, p.seg[i], p.len[i], &k);
        if (rc)
            break;
        if (!first)
            first = k;
        n = k;
    }
    if (!rc && format != DMSEC_TREE_NODE)
        rc = tnode_set(t, n, format, type, value, len);
    if (rc && first)
        tnode_remove(t, first);
    return rc;
}

int dmsec_tree_set_acl_local(dmsec_tree_t *t, const char *uri, const char *acl)
{
    tnode_t *n;
    int rc = find_local(t, uri, &n);
    return rc ? rc : tnode_set_acl(n, acl);
}

int dmsec_tree_set_flags_local(dmsec_tree_t *t, const char *uri, unsigned flags)
{
    tnode_t *n;
    if (flags & ~(DMSEC_TREE_PERMANENT | DMSEC_TREE_SECRET))
        return DMSEC_ERR_INVALID_ARG;
    int rc = find_local(t, uri, &n);
    if (rc)
        return rc;
    n->flags = flags;
    return DMSEC_OK;
}

int dmsec_tree_delete_local(dmsec_tree_t *t, const char *uri)
{
    tnode_t *n;
    int rc = find_local(t, uri, &n);
    if (rc)
        return rc;
    if (!n->parent)
        return DMSEC_ERR_TREE_NOT_ALLOWED;
    tnode_remove(t, n);
    return DMSEC_OK;
}

void dmsec_tree_wipe_free(void *p, size_t len)
{
    if (!p)
        return;
    dm_wipe(p, len);
    free(p);
}
