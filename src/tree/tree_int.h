/*
 * tree/tree_int.h - the DM tree's private node model, shared by the node
 * store (node.c), the ACL and server commands (acl.c, ops.c) and the
 * serialisation (serial.c).
 */
#ifndef DMSEC_TREE_INT_H
#define DMSEC_TREE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "dmsec/tree.h"

/* Children are kept sorted by name (byte order): lookups are binary
 * searches, listings and serialisation come out in canonical order, and the
 * parser appends in order at no extra cost. */
typedef struct tnode {
    struct tnode *parent;
    char *name; /* "" for the root */
    size_t name_len;
    struct tnode **kids;
    size_t nkids;
    size_t cap;
    uint8_t *value; /* NULL or len bytes + NUL */
    size_t len;
    char *type; /* NULL when empty */
    char *acl;  /* NULL when empty (inherit) */
    dmsec_tree_format_t format;
    unsigned flags;
    unsigned depth; /* segments below the root */
    size_t uri_len; /* strlen of "./a/b"; 1 for the root "." */
} tnode_t;

struct dmsec_tree {
    tnode_t *root;
    size_t count;       /* nodes, root included */
    size_t value_bytes; /* sum of value lengths */
    dmsec_tree_exec_fn exec;
    void *exec_ctx;
};

/* A split URI: seg[i] points into buf. */
typedef struct tpath {
    char buf[DMSEC_TREE_MAX_URI + 1];
    const char *seg[DMSEC_TREE_MAX_DEPTH];
    size_t len[DMSEC_TREE_MAX_DEPTH];
    size_t n;
    const char *prop; /* the value of "?prop=", or NULL */
} tpath_t;

/* ---- node.c ---- */

/* Splits uri; allow_prop accepts a trailing "?prop=<name>". */
int tpath_parse(const char *uri, int allow_prop, tpath_t *p);
/* 1 when s[0..n) is a valid node name. */
int tname_ok(const char *s, size_t n);
tnode_t *tnode_child(const tnode_t *parent, const char *name, size_t n);
/* The deepest existing node along p: *matched segments matched. */
tnode_t *tnode_walk(const dmsec_tree_t *t, const tpath_t *p, size_t *matched);
/* A new empty interior node under parent, inserted in order. Checks the
 * node limit, depth and URI length. */
int tnode_add(dmsec_tree_t *t, tnode_t *parent, const char *name, size_t n, tnode_t **out);
/* Unlinks and frees n with its subtree (not the root). */
void tnode_remove(dmsec_tree_t *t, tnode_t *n);
/* Sets a node's format, type and value after checking them. */
int tnode_set(dmsec_tree_t *t, tnode_t *n, dmsec_tree_format_t f, const char *type,
              const void *value, size_t len);
int tnode_set_acl(tnode_t *n, const char *acl);
/* Checks value against format. */
int tvalue_check(dmsec_tree_format_t f, const void *value, size_t len);
/* 1 when servers may not read n's value. */
int tnode_secret(const tnode_t *n);
/* Calls fn on top and each node below it, depth first, children in order;
 * stops at the first non-zero return and returns it. No recursion. */
typedef int (*tvisit_fn)(void *ctx, const tnode_t *n);
int tnode_visit(const tnode_t *top, tvisit_fn fn, void *ctx);
/* Writes n's URI ("./a/b") into out (cap >= n->uri_len + 1). */
void tnode_uri(const tnode_t *n, char *out, size_t cap);

/* ---- acl.c ---- */

/* 1 when s[0..n) is '*' or a valid server identifier. */
int tid_ok(const char *s, size_t n);
/* The ACL that governs n: its own or its nearest ancestor's. */
const char *tnode_acl(const tnode_t *n);
int tnode_may(const tnode_t *n, dmsec_tree_op_t op, const char *server_id);

#endif
