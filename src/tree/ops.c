/* Server commands on the tree, the ACL rules of tree.h, the SyncML command
 * mapping and the DMAcc helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmsec/errors.h"
#include "tree/tree_int.h"

/* The answer for a node that does not exist: 404 only to a server that
 * could list the nearest existing ancestor. */
static int missing(const tnode_t *nearest, const char *sid)
{
    return tnode_may(nearest, DMSEC_TREE_OP_GET, sid) ? DMSEC_ERR_TREE_NOT_FOUND
                                                      : DMSEC_ERR_TREE_PERMISSION;
}

/* Parses uri and finds its node; NULL with *rc set when there is none,
 * answering for a missing one. */
static tnode_t *lookup(const dmsec_tree_t *t, const char *sid, const char *uri, int allow_prop,
                       tpath_t *p, int *rc)
{
    *rc = DMSEC_ERR_INVALID_ARG;
    if (!t || !sid)
        return NULL;
    *rc = tpath_parse(uri, allow_prop, p);
    if (*rc)
        return NULL;
    size_t matched;
    tnode_t *n = tnode_walk(t, p, &matched);
    if (!n) {
        *rc = DMSEC_ERR_INVALID_ARG;
        return NULL;
    }
    if (matched != p->n) {
        *rc = missing(n, sid);
        return NULL;
    }
    return n;
}

static void result_init(dmsec_tree_result_t *res)
{
    memset(res, 0, sizeof *res);
    res->status = 500;
}

static int result_fill(dmsec_tree_result_t *res, const void *data, size_t len, const char *format,
                       const char *type)
{
    res->data = malloc(len + 1);
    if (!res->data)
        return DMSEC_ERR_NO_MEMORY;
    if (len)
        memcpy(res->data, data, len);
    res->data[len] = '\0';
    res->data_len = len;
    snprintf(res->format, sizeof res->format, "%s", format);
    snprintf(res->type, sizeof res->type, "%s", type ? type : "");
    return DMSEC_OK;
}

static int kid_visible(const tnode_t *k, const char *sid)
{
    return !k->acl || dmsec_tree_acl_allows(k->acl, DMSEC_TREE_OP_GET, sid);
}

static int list_children(const tnode_t *n, const char *sid, dmsec_tree_result_t *res)
{
    size_t total = 0;
    for (size_t i = 0; i < n->nkids; i++)
        total += n->kids[i]->name_len + 1;
    char *buf = malloc(total + 1);
    if (!buf)
        return DMSEC_ERR_NO_MEMORY;
    size_t at = 0;
    for (size_t i = 0; i < n->nkids; i++) {
        const tnode_t *k = n->kids[i];
        if (!kid_visible(k, sid))
            continue;
        if (at)
            buf[at++] = '/';
        memcpy(buf + at, k->name, k->name_len);
        at += k->name_len;
    }
    buf[at] = '\0';
    res->data = buf;
    res->data_len = at;
    snprintf(res->format, sizeof res->format, "node");
    snprintf(res->type, sizeof res->type, "%s", n->type ? n->type : "");
    return DMSEC_OK;
}

static int get_prop(const tnode_t *n, const char *prop, dmsec_tree_result_t *res)
{
    if (!strcmp(prop, "ACL"))
        return result_fill(res, n->acl ? n->acl : "", n->acl ? strlen(n->acl) : 0, "chr", NULL);
    if (!strcmp(prop, "Format")) {
        const char *f = dmsec_tree_format_name(n->format);
        return result_fill(res, f, strlen(f), "chr", NULL);
    }
    if (!strcmp(prop, "Type"))
        return result_fill(res, n->type ? n->type : "", n->type ? strlen(n->type) : 0, "chr", NULL);
    if (!strcmp(prop, "Name"))
        return n->parent ? result_fill(res, n->name, n->name_len, "chr", NULL)
                         : result_fill(res, ".", 1, "chr", NULL);
    if (!strcmp(prop, "Size")) {
        if (n->format == DMSEC_TREE_NODE)
            return DMSEC_ERR_TREE_NOT_ALLOWED; /* interior nodes have no Size */
        char num[24];
        int k = snprintf(num, sizeof num, "%zu", n->len);
        return result_fill(res, num, (size_t)k, "int", NULL);
    }
    return DMSEC_ERR_TREE_UNSUPPORTED;
}

static int do_get(const dmsec_tree_t *t, const char *sid, const char *uri, dmsec_tree_result_t *res)
{
    tpath_t p;
    int rc;
    tnode_t *n = lookup(t, sid, uri, 1, &p, &rc);
    if (!n)
        return rc;
    if (!tnode_may(n, DMSEC_TREE_OP_GET, sid))
        return DMSEC_ERR_TREE_PERMISSION;
    if (p.prop)
        return get_prop(n, p.prop, res);
    if (n->format == DMSEC_TREE_NODE)
        return list_children(n, sid, res);
    if (tnode_secret(n))
        return DMSEC_ERR_TREE_NOT_ALLOWED;
    return result_fill(res, n->value, n->len, dmsec_tree_format_name(n->format), n->type);
}

int dmsec_tree_get(const dmsec_tree_t *t, const char *server_id, const char *uri,
                   dmsec_tree_result_t *res)
{
    if (!res)
        return DMSEC_ERR_INVALID_ARG;
    result_init(res);
    int rc = do_get(t, server_id, uri, res);
    if (rc) {
        free(res->data);
        res->data = NULL;
        res->data_len = 0;
    }
    res->status = dmsec_err_status(rc);
    return rc;
}

/* The ACL a server gets on a node it creates where it could not otherwise
 * read and change it. */
static int owner_acl(const char *sid, char *out, size_t cap)
{
    int k = snprintf(out, cap, "Add=%s&Delete=%s&Get=%s&Replace=%s", sid, sid, sid, sid);
    return k > 0 && (size_t)k < cap ? DMSEC_OK : DMSEC_ERR_TREE_FORMAT;
}

int dmsec_tree_add(dmsec_tree_t *t, const char *server_id, const char *uri,
                   dmsec_tree_format_t format, const char *type, const void *value, size_t len)
{
    tpath_t p;
    if (!t || !server_id)
        return DMSEC_ERR_INVALID_ARG;
    int rc = tpath_parse(uri, 0, &p);
    if (rc)
        return rc;
    size_t matched;
    tnode_t *n = tnode_walk(t, &p, &matched);
    if (!n)
        return DMSEC_ERR_INVALID_ARG;
    if (matched == p.n) {
        if (!n->parent)
            return DMSEC_ERR_TREE_NOT_ALLOWED;
        return tnode_may(n->parent, DMSEC_TREE_OP_ADD, server_id) ? DMSEC_ERR_TREE_EXISTS
                                                                  : DMSEC_ERR_TREE_PERMISSION;
    }
    if (!tnode_may(n, DMSEC_TREE_OP_ADD, server_id))
        return DMSEC_ERR_TREE_PERMISSION;
    if (n->format != DMSEC_TREE_NODE)
        return DMSEC_ERR_TREE_NOT_ALLOWED;
    rc = tvalue_check(format, value, len);
    if (rc)
        return rc;
    if (t->count + (p.n - matched) > DMSEC_TREE_MAX_NODES)
        return DMSEC_ERR_TREE_TOO_MANY;
    const char *inherited = tnode_acl(n);
    int keep = dmsec_tree_acl_allows(inherited, DMSEC_TREE_OP_GET, server_id) &&
               dmsec_tree_acl_allows(inherited, DMSEC_TREE_OP_REPLACE, server_id);
    tnode_t *first = NULL;
    for (size_t i = matched; i < p.n && !rc; i++) {
        tnode_t *k;
        rc = tnode_add(t, n, p.seg[i], p.len[i], &k);
        if (!rc) {
            if (!first)
                first = k;
            n = k;
        }
    }
    if (!rc && format != DMSEC_TREE_NODE)
        rc = tnode_set(t, n, format, type, value, len);
    else if (!rc && type)
        rc = tnode_set(t, n, format, type, NULL, 0);
    if (!rc && !keep) {
        char acl[DMSEC_TREE_MAX_ACL + 1];
        rc = owner_acl(server_id, acl, sizeof acl);
        if (!rc)
            rc = tnode_set_acl(first, acl);
    }
    if (rc && first)
        tnode_remove(t, first);
    return rc;
}

/* TND 7.7.1.3: who may change a node's ACL. */
static int may_replace_acl(const tnode_t *n, const char *sid)
{
    if (!n->parent)
        return tnode_may(n, DMSEC_TREE_OP_REPLACE, sid);
    if (tnode_may(n->parent, DMSEC_TREE_OP_REPLACE, sid))
        return 1;
    return n->format == DMSEC_TREE_NODE && tnode_may(n, DMSEC_TREE_OP_REPLACE, sid);
}

int dmsec_tree_replace(dmsec_tree_t *t, const char *server_id, const char *uri,
                       dmsec_tree_format_t format, const char *type, const void *value, size_t len)
{
    tpath_t p;
    int rc;
    tnode_t *n = lookup(t, server_id, uri, 1, &p, &rc);
    if (!n)
        return rc;
    if (p.prop) {
        if (strcmp(p.prop, "ACL") != 0)
            return DMSEC_ERR_TREE_UNSUPPORTED;
        if (!may_replace_acl(n, server_id))
            return DMSEC_ERR_TREE_PERMISSION;
        if (len > DMSEC_TREE_MAX_ACL || (len && (!value || memchr(value, 0, len))))
            return DMSEC_ERR_TREE_FORMAT;
        char acl[DMSEC_TREE_MAX_ACL + 1];
        if (len)
            memcpy(acl, value, len);
        acl[len] = '\0';
        return tnode_set_acl(n, acl);
    }
    if (!tnode_may(n, DMSEC_TREE_OP_REPLACE, server_id))
        return DMSEC_ERR_TREE_PERMISSION;
    if (n->format == DMSEC_TREE_NODE || format == DMSEC_TREE_NODE)
        return DMSEC_ERR_TREE_NOT_ALLOWED;
    return tnode_set(t, n, format, type, value, len);
}

static int delete_check(void *ctx, const tnode_t *n)
{
    const char *sid = ctx;
    if (n->flags & DMSEC_TREE_PERMANENT)
        return DMSEC_ERR_TREE_NOT_ALLOWED;
    if (n->acl && !dmsec_tree_acl_allows(n->acl, DMSEC_TREE_OP_DELETE, sid))
        return DMSEC_ERR_TREE_PERMISSION;
    return 0;
}

int dmsec_tree_delete(dmsec_tree_t *t, const char *server_id, const char *uri)
{
    tpath_t p;
    int rc;
    tnode_t *n = lookup(t, server_id, uri, 0, &p, &rc);
    if (!n)
        return rc;
    if (!n->parent)
        return DMSEC_ERR_TREE_NOT_ALLOWED;
    if (!tnode_may(n, DMSEC_TREE_OP_DELETE, server_id))
        return DMSEC_ERR_TREE_PERMISSION;
    rc = tnode_visit(n, delete_check, (void *)server_id);
    if (rc)
        return rc;
    tnode_remove(t, n);
    return DMSEC_OK;
}

int dmsec_tree_exec_node(dmsec_tree_t *t, const char *server_id, const char *uri, const void *data,
                         size_t len, const char *correlator)
{
    tpath_t p;
    int rc;
    tnode_t *n = lookup(t, server_id, uri, 0, &p, &rc);
    if (!n)
        return rc;
    if (!tnode_may(n, DMSEC_TREE_OP_EXEC, server_id))
        return DMSEC_ERR_TREE_PERMISSION;
    if (!t->exec)
        return DMSEC_ERR_TREE_NOT_ALLOWED;
    rc = t->exec(t->exec_ctx, server_id, uri, data, len, correlator);
    if (rc > 0 && (rc < 200 || rc > 599))
        return DMSEC_ERR_INVALID_ARG;
    return rc == 200 ? DMSEC_OK : rc;
}

int dmsec_tree_copy(dmsec_tree_t *t, const char *server_id, const char *src_uri,
                    const char *dst_uri)
{
    tpath_t p;
    int rc;
    tnode_t *src = lookup(t, server_id, src_uri, 0, &p, &rc);
    if (!src)
        return rc;
    if (!tnode_may(src, DMSEC_TREE_OP_GET, server_id))
        return DMSEC_ERR_TREE_PERMISSION;
    if (src->format == DMSEC_TREE_NODE || tnode_secret(src))
        return DMSEC_ERR_TREE_NOT_ALLOWED;
    /* Copy the source out: Replace on itself frees the old value. */
    dmsec_tree_result_t tmp;
    result_init(&tmp);
    rc = result_fill(&tmp, src->value, src->len, "chr", src->type);
    if (rc)
        return rc;
    dmsec_tree_format_t f = src->format;
    rc = dmsec_tree_add(t, server_id, dst_uri, f, tmp.type, tmp.data, tmp.data_len);
    if (rc == DMSEC_ERR_TREE_EXISTS)
        rc = dmsec_tree_replace(t, server_id, dst_uri, f, tmp.type, tmp.data, tmp.data_len);
    dmsec_tree_wipe_free(tmp.data, tmp.data_len);
    return rc;
}

/* ---- the SyncML command mapping ---- */

static const char *meta_of(const dmsec_cmd_t *cmd, const dmsec_item_t *item, dmsec_metinf_t kind)
{
    const char *v = item->meta ? dmsec_meta_str(item->meta, kind) : NULL;
    if (!v && cmd->meta)
        v = dmsec_meta_str(cmd->meta, kind);
    return v;
}

static int run_item(dmsec_tree_t *t, const char *sid, const dmsec_cmd_t *cmd,
                    const dmsec_item_t *item, dmsec_tree_result_t *res)
{
    const char *uri = item->target ? item->target->uri : NULL;
    const char *fname = meta_of(cmd, item, DMSEC_MI_FORMAT);
    const char *type = meta_of(cmd, item, DMSEC_MI_TYPE);
    const void *data = item->data ? item->data->bytes : NULL;
    size_t len = item->data ? item->data->len : 0;
    dmsec_tree_format_t f = DMSEC_TREE_CHR;
    if (fname && dmsec_tree_format_parse(fname, &f) != DMSEC_OK)
        return DMSEC_ERR_TREE_FORMAT;
    if (cmd->type == DMSEC_CMD_COPY) {
        const char *src = item->source ? item->source->uri : NULL;
        if (!uri || !src)
            return DMSEC_ERR_TREE_PATH;
        return dmsec_tree_copy(t, sid, src, uri);
    }
    if (!uri)
        return DMSEC_ERR_TREE_PATH;
    switch (cmd->type) {
    case DMSEC_CMD_GET:
        return dmsec_tree_get(t, sid, uri, res);
    case DMSEC_CMD_ADD:
        return dmsec_tree_add(t, sid, uri, f, type, data, len);
    case DMSEC_CMD_REPLACE:
        return dmsec_tree_replace(t, sid, uri, f, type, data, len);
    case DMSEC_CMD_DELETE:
        return dmsec_tree_delete(t, sid, uri);
    case DMSEC_CMD_EXEC:
        return dmsec_tree_exec_node(t, sid, uri, data, len, cmd->correlator);
    default:
        return DMSEC_ERR_TREE_NOT_ALLOWED;
    }
}

int dmsec_tree_exec(dmsec_tree_t *t, const char *server_id, const dmsec_cmd_t *cmd,
                    const dmsec_item_t *item, dmsec_tree_result_t *res)
{
    if (!res)
        return DMSEC_ERR_INVALID_ARG;
    result_init(res);
    int rc = t && server_id && cmd && item ? run_item(t, server_id, cmd, item, res)
                                           : DMSEC_ERR_INVALID_ARG;
    if (rc > 0) {
        /* An Exec handler's own status: 202 accepted, or its failure. */
        res->status = rc;
        return rc < 300 ? DMSEC_OK : DMSEC_ERR_INVALID_ARG;
    }
    res->status = dmsec_err_status(rc);
    return rc;
}

int dmsec_tree_exec_cb(void *tree, const char *server_id, const dmsec_cmd_t *cmd,
                       const dmsec_item_t *item, dmsec_tree_result_t *res)
{
    return dmsec_tree_exec(tree, server_id, cmd, item, res);
}

/* ---- DMAcc ---- */

struct acc_leaf {
    const char *path; /* below ./DMAcc/<acc>/ */
    dmsec_tree_format_t format;
    const void *value;
    size_t len;
};

static size_t slen(const char *s)
{
    return s ? strlen(s) : 0;
}

static int build_account(dmsec_tree_t *t, const char *base, const dmsec_tree_account_t *a)
{
    const struct acc_leaf leaves[] = {
        {"ServerID", DMSEC_TREE_CHR, a->server_id, slen(a->server_id)},
        {"Name", DMSEC_TREE_CHR, a->name, slen(a->name)},
        {"AppAddr/1/Addr", DMSEC_TREE_CHR, a->addr, slen(a->addr)},
        {"AppAddr/1/AddrType", DMSEC_TREE_CHR, a->addr_type, slen(a->addr_type)},
        {"AAuthPref", DMSEC_TREE_CHR, a->aauth_pref, slen(a->aauth_pref)},
        {"AppAuth/CLCRED/AAuthLevel", DMSEC_TREE_CHR, "CLCRED", 6},
        {"AppAuth/CLCRED/AAuthType", DMSEC_TREE_CHR, a->clcred.type, slen(a->clcred.type)},
        {"AppAuth/CLCRED/AAuthName", DMSEC_TREE_CHR, a->clcred.name, slen(a->clcred.name)},
        {"AppAuth/CLCRED/AAuthSecret", DMSEC_TREE_BIN, a->clcred.secret, a->clcred.secret_len},
        {"AppAuth/CLCRED/AAuthData", DMSEC_TREE_BIN, a->clcred.data, a->clcred.data_len},
        {"AppAuth/SRVCRED/AAuthLevel", DMSEC_TREE_CHR, "SRVCRED", 7},
        {"AppAuth/SRVCRED/AAuthType", DMSEC_TREE_CHR, a->srvcred.type, slen(a->srvcred.type)},
        {"AppAuth/SRVCRED/AAuthName", DMSEC_TREE_CHR, a->srvcred.name, slen(a->srvcred.name)},
        {"AppAuth/SRVCRED/AAuthSecret", DMSEC_TREE_BIN, a->srvcred.secret, a->srvcred.secret_len},
        {"AppAuth/SRVCRED/AAuthData", DMSEC_TREE_BIN, a->srvcred.data, a->srvcred.data_len},
    };
    char uri[DMSEC_TREE_MAX_URI + 1];
    char acl[DMSEC_TREE_MAX_ACL + 1];
    int rc = dmsec_tree_set_local(t, base, DMSEC_TREE_NODE, NULL, NULL, 0);
    if (!rc)
        rc = owner_acl(a->server_id, acl, sizeof acl);
    if (!rc)
        rc = dmsec_tree_set_acl_local(t, base, acl);
    for (size_t i = 0; !rc && i < sizeof leaves / sizeof leaves[0]; i++) {
        int k = snprintf(uri, sizeof uri, "%s/%s", base, leaves[i].path);
        if (k < 0 || (size_t)k >= sizeof uri)
            return DMSEC_ERR_TREE_URI_LONG;
        rc = dmsec_tree_set_local(t, uri, leaves[i].format, NULL, leaves[i].value, leaves[i].len);
        if (!rc && strstr(leaves[i].path, "AAuthSecret"))
            rc = dmsec_tree_set_flags_local(t, uri, DMSEC_TREE_SECRET);
    }
    return rc;
}

int dmsec_tree_add_account(dmsec_tree_t *t, const char *acc_name, const dmsec_tree_account_t *acc)
{
    if (!t || !acc_name || !acc || !acc->server_id)
        return DMSEC_ERR_INVALID_ARG;
    size_t sid_len = strlen(acc->server_id);
    if (!tname_ok(acc_name, strlen(acc_name)) || !tid_ok(acc->server_id, sid_len) ||
        (sid_len == 1 && acc->server_id[0] == '*'))
        return DMSEC_ERR_TREE_FORMAT;
    char base[DMSEC_TREE_MAX_URI + 1];
    int k = snprintf(base, sizeof base, "./DMAcc/%s", acc_name);
    if (k < 0 || (size_t)k >= sizeof base)
        return DMSEC_ERR_TREE_URI_LONG;
    dmsec_tree_info_t info;
    char other[DMSEC_TREE_MAX_SEGMENT + 1];
    if (dmsec_tree_get_local(t, base, &info) == DMSEC_OK ||
        dmsec_tree_find_account(t, acc->server_id, other, sizeof other) != DMSEC_ERR_TREE_NOT_FOUND)
        return DMSEC_ERR_TREE_EXISTS;
    int created = dmsec_tree_get_local(t, "./DMAcc", &info) != DMSEC_OK;
    int rc = DMSEC_OK;
    if (created) {
        rc = dmsec_tree_set_local(t, "./DMAcc", DMSEC_TREE_NODE, NULL, NULL, 0);
        if (!rc)
            rc = dmsec_tree_set_acl_local(t, "./DMAcc", "Get=*");
        if (!rc)
            rc = dmsec_tree_set_flags_local(t, "./DMAcc", DMSEC_TREE_PERMANENT);
    }
    if (!rc)
        rc = build_account(t, base, acc);
    if (rc)
        dmsec_tree_delete_local(t, created ? "./DMAcc" : base);
    return rc;
}

int dmsec_tree_find_account(const dmsec_tree_t *t, const char *server_id, char *out, size_t cap)
{
    dmsec_tree_info_t info;
    if (!t || !server_id || !out)
        return DMSEC_ERR_INVALID_ARG;
    if (dmsec_tree_get_local(t, "./DMAcc", &info) != DMSEC_OK)
        return DMSEC_ERR_TREE_NOT_FOUND;
    const tnode_t *dmacc = tnode_child(t->root, "DMAcc", 5);
    size_t sid_len = strlen(server_id);
    for (size_t i = 0; dmacc && i < dmacc->nkids; i++) {
        const tnode_t *acc = dmacc->kids[i];
        const tnode_t *s = tnode_child(acc, "ServerID", 8);
        if (!s || s->format == DMSEC_TREE_NODE || s->len != sid_len ||
            (sid_len && memcmp(s->value, server_id, sid_len) != 0))
            continue;
        if (acc->name_len + 1 > cap)
            return DMSEC_ERR_BUFFER_TOO_SMALL;
        memcpy(out, acc->name, acc->name_len + 1);
        return DMSEC_OK;
    }
    return DMSEC_ERR_TREE_NOT_FOUND;
}
