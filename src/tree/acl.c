/* ACL strings (TND 7.7.1.5) and their evaluation on the tree. */
#include <string.h>

#include "dmsec/errors.h"
#include "tree/tree_int.h"

static const struct {
    const char *name;
    size_t len;
    dmsec_tree_op_t op;
} commands[] = {
    {"Add", 3, DMSEC_TREE_OP_ADD},         {"Delete", 6, DMSEC_TREE_OP_DELETE},
    {"Exec", 4, DMSEC_TREE_OP_EXEC},       {"Get", 3, DMSEC_TREE_OP_GET},
    {"Replace", 7, DMSEC_TREE_OP_REPLACE},
};

static int command_of(const char *s, size_t n, dmsec_tree_op_t *op)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (commands[i].len == n && !memcmp(commands[i].name, s, n)) {
            *op = commands[i].op;
            return 1;
        }
    }
    return 0;
}

static int id_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '=' && c != '&' && c != '*' && c != '+';
}

int tid_ok(const char *s, size_t n)
{
    if (n == 1 && s[0] == '*')
        return 1;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!id_char((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

/* Calls back for each (command, id) of a valid acl; stops when cb returns
 * non-zero and returns that value. -1 for a malformed acl. */
typedef int (*entry_fn)(void *ctx, dmsec_tree_op_t op, const char *id, size_t n);

static int walk_acl(const char *acl, entry_fn cb, void *ctx)
{
    size_t total = strlen(acl);
    if (total > DMSEC_TREE_MAX_ACL)
        return -1;
    const char *s = acl;
    const char *end = acl + total;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *e_end = amp ? amp : end;
        const char *eq = memchr(s, '=', (size_t)(e_end - s));
        dmsec_tree_op_t op;
        if (!eq || !command_of(s, (size_t)(eq - s), &op))
            return -1;
        const char *id = eq + 1;
        for (;;) {
            const char *plus = memchr(id, '+', (size_t)(e_end - id));
            const char *id_end = plus ? plus : e_end;
            if (!tid_ok(id, (size_t)(id_end - id)))
                return -1;
            if (cb) {
                int r = cb(ctx, op, id, (size_t)(id_end - id));
                if (r)
                    return r;
            }
            if (!plus)
                break;
            id = plus + 1;
        }
        if (!amp)
            break;
        s = amp + 1;
        if (s == end)
            return -1; /* a trailing '&' */
    }
    return 0;
}

int dmsec_tree_acl_check(const char *acl)
{
    if (!acl)
        return DMSEC_ERR_INVALID_ARG;
    return walk_acl(acl, NULL, NULL) == 0 ? DMSEC_OK : DMSEC_ERR_TREE_FORMAT;
}

struct match {
    dmsec_tree_op_t op;
    const char *sid;
    size_t sid_len;
};

static int match_entry(void *ctx, dmsec_tree_op_t op, const char *id, size_t n)
{
    const struct match *m = ctx;
    if (op != m->op)
        return 0;
    if (n == 1 && id[0] == '*')
        return 1;
    return n == m->sid_len && !memcmp(id, m->sid, n);
}

int dmsec_tree_acl_allows(const char *acl, dmsec_tree_op_t op, const char *server_id)
{
    if (!acl || !server_id || !*acl)
        return 0;
    struct match m = {op, server_id, strlen(server_id)};
    /* A server id outside the grammar never matches a named entry, and an
     * empty one is not an identity at all. */
    if (!tid_ok(server_id, m.sid_len) || (m.sid_len == 1 && server_id[0] == '*'))
        return 0;
    if (dmsec_tree_acl_check(acl) != DMSEC_OK)
        return 0;
    return walk_acl(acl, match_entry, &m) == 1;
}

const char *tnode_acl(const tnode_t *n)
{
    while (n && !n->acl)
        n = n->parent;
    return n ? n->acl : "";
}

int tnode_may(const tnode_t *n, dmsec_tree_op_t op, const char *server_id)
{
    return dmsec_tree_acl_allows(tnode_acl(n), op, server_id);
}

int dmsec_tree_may(const dmsec_tree_t *t, const char *uri, dmsec_tree_op_t op,
                   const char *server_id)
{
    tpath_t p;
    if (!t || tpath_parse(uri, 0, &p) != DMSEC_OK)
        return 0;
    size_t matched;
    const tnode_t *n = tnode_walk(t, &p, &matched);
    return matched == p.n && tnode_may(n, op, server_id);
}
