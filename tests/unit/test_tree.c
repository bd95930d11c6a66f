/*
 * The DM tree: ACL grammar and evaluation, two servers that must not see
 * each other's DMAcc, command semantics and statuses, the SyncML mapping
 * with real codec messages, serialisation (round trip, every flipped byte,
 * every truncation, hand-made bodies with a valid digest) and the dump.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "dmsec/codec.h"
#include "dmsec/encoding.h"
#include "dmsec/errors.h"
#include "dmsec/tree.h"

#define SRV_A "dm.alpha.example"
#define SRV_B "dm.beta.example"
#define SECRET_A "alpha-secret-0123456789"
#define SECRET_B "beta-secret-9876543210"

enum { ADD = DMSEC_TREE_OP_ADD, DEL = DMSEC_TREE_OP_DELETE, EXE = DMSEC_TREE_OP_EXEC };
enum { GET = DMSEC_TREE_OP_GET, REP = DMSEC_TREE_OP_REPLACE };

/* ---- fixtures ---- */

static void add_acc(dmsec_tree_t *t, const char *acc, const char *sid, const char *secret)
{
    dmsec_tree_account_t a = {0};
    a.server_id = sid;
    a.name = acc;
    a.addr = "https://dm.example/dm";
    a.addr_type = "URI";
    a.aauth_pref = "HMAC";
    a.clcred.type = "HMAC";
    a.clcred.name = "device";
    a.clcred.secret = (const uint8_t *)secret;
    a.clcred.secret_len = strlen(secret);
    a.clcred.data = (const uint8_t *)"\x01\x02\x03";
    a.clcred.data_len = 3;
    a.srvcred.type = "HMAC";
    a.srvcred.name = sid;
    a.srvcred.secret = (const uint8_t *)secret;
    a.srvcred.secret_len = strlen(secret);
    assert_int_equal(dmsec_tree_add_account(t, acc, &a), DMSEC_OK);
}

static void set_chr(dmsec_tree_t *t, const char *uri, const char *v)
{
    assert_int_equal(dmsec_tree_set_local(t, uri, DMSEC_TREE_CHR, NULL, v, strlen(v)), DMSEC_OK);
}

/* Root "Add=*&Get=*", DevInfo readable by all, accounts A and B. */
static dmsec_tree_t *device_tree(void)
{
    dmsec_tree_t *t = dmsec_tree_new("Add=*&Get=*");
    assert_non_null(t);
    set_chr(t, "./DevInfo/DevId", "IMEI:493005100592800");
    set_chr(t, "./DevInfo/Man", "dmsec");
    set_chr(t, "./DevInfo/Mod", "unit");
    set_chr(t, "./DevInfo/DmV", "1.2");
    set_chr(t, "./DevInfo/Lang", "en");
    add_acc(t, "A", SRV_A, SECRET_A);
    add_acc(t, "B", SRV_B, SECRET_B);
    return t;
}

/* ---- ACL grammar and evaluation ---- */

static const struct {
    const char *acl;
    int ok;
} acl_syntax_rows[] = {
    {"", 1},
    {"Get=*", 1},
    {"Add=*&Delete=srv1&Exec=srv1+srv2&Get=*&Replace=srv1", 1},
    {"Add=www.sonera.fi-8765&Replace=www.sonera.fi-8765+321_&Get=*", 1},
    {"Get=*&Get=a", 1},
    {"Get", 0},
    {"Get=", 0},
    {"get=*", 0},
    {"Copy=*", 0},
    {"Get=*&", 0},
    {"&Get=*", 0},
    {"Get=a+", 0},
    {"Get=+a", 0},
    {"Get=a b", 0},
    {"Get=a*", 0},
    {"Get=a=b", 0},
    {"Get=**", 0},
    {"Get=a\tb", 0},
};

static void acl_syntax(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof acl_syntax_rows / sizeof acl_syntax_rows[0]; i++) {
        int rc = dmsec_tree_acl_check(acl_syntax_rows[i].acl);
        if ((rc == DMSEC_OK) != acl_syntax_rows[i].ok)
            fail_msg("row %zu \"%s\": %d", i, acl_syntax_rows[i].acl, rc);
        if (!acl_syntax_rows[i].ok)
            assert_int_equal(rc, DMSEC_ERR_TREE_FORMAT);
    }
}

static const struct {
    const char *acl;
    int op;
    const char *sid;
    int allowed;
} acl_eval_rows[] = {
    {"Get=*", GET, "srv1", 1},
    {"Get=*", REP, "srv1", 0}, /* command missing */
    {"Get=srv1", GET, "srv1", 1},
    {"Get=srv1", GET, "srv2", 0},
    {"Get=srv1", GET, "srv", 0}, /* no prefix match */
    {"Get=srv", GET, "srv1", 0}, /* no prefix match */
    {"Exec=srv1+srv2", EXE, "srv2", 1},
    {"Exec=srv1+srv2", EXE, "srv1", 1},
    {"Exec=srv1+srv2", EXE, "srv3", 0},
    {"Add=*&Delete=srv1&Exec=srv1+srv2&Get=*&Replace=srv1", DEL, "srv2", 0},
    {"Add=*&Delete=srv1&Exec=srv1+srv2&Get=*&Replace=srv1", DEL, "srv1", 1},
    {"Add=*&Delete=srv1&Exec=srv1+srv2&Get=*&Replace=srv1", ADD, "anyone", 1},
    {"Add=*&Delete=srv1&Exec=srv1+srv2&Get=*&Replace=srv1", REP, "srv2", 0},
    {"Get=a&Get=b", GET, "b", 1}, /* repeated command: union */
    {"Get=a+*", GET, "zz", 1},    /* the wildcard overrides */
    {"", GET, "srv1", 0},         /* no ACL grants nothing by itself */
    {"Get=*", GET, "", 0},        /* no identity */
    {"Get=*", GET, "*", 0},       /* '*' is not an identity */
    {"Get=*", GET, "a b", 0},     /* outside the grammar */
    {"Get=a&bogus", GET, "a", 0}, /* malformed ACL grants nothing */
};

static void acl_eval(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof acl_eval_rows / sizeof acl_eval_rows[0]; i++) {
        int got = dmsec_tree_acl_allows(acl_eval_rows[i].acl, (dmsec_tree_op_t)acl_eval_rows[i].op,
                                        acl_eval_rows[i].sid);
        if (got != acl_eval_rows[i].allowed)
            fail_msg("row %zu: \"%s\" %d \"%s\" gave %d", i, acl_eval_rows[i].acl,
                     acl_eval_rows[i].op, acl_eval_rows[i].sid, got);
    }
}

/* Inheritance: the node's own ACL, else the nearest ancestor's, whole. */
static const struct {
    const char *uri;
    int op;
    const char *sid;
    int allowed;
} inherit_rows[] = {
    {".", GET, "x", 1},
    {"./P", GET, "x", 1},        /* inherits the root */
    {"./P/Q/leaf", GET, "x", 1}, /* two levels up */
    {"./P/Q/leaf", ADD, "x", 1},
    {"./P/Own", GET, "x", 0}, /* its own ACL replaces the root's */
    {"./P/Own", GET, "s1", 1},
    {"./P/Own/deep/leaf", GET, "s1", 1}, /* inherits Own */
    {"./P/Own/deep/leaf", GET, "x", 0},
    {"./P/Own/deep/leaf", REP, "s2", 1},
    {"./P/Own/deep/leaf", REP, "s1", 0},
    {"./P/Own/deep/leaf", ADD, "s1", 0}, /* not per command: Own has no Add */
    {"./P/Own/open", GET, "x", 1},       /* reopened below */
    {"./P/Own/open", REP, "s2", 0},
    {"./missing", GET, "x", 0},
    {"../P", GET, "x", 0},
};

static void acl_inheritance(void **state)
{
    (void)state;
    dmsec_tree_t *t = dmsec_tree_new("Add=*&Get=*");
    assert_non_null(t);
    set_chr(t, "./P/Q/leaf", "v");
    set_chr(t, "./P/Own/deep/leaf", "v");
    set_chr(t, "./P/Own/open", "v");
    assert_int_equal(dmsec_tree_set_acl_local(t, "./P/Own", "Get=s1&Replace=s2+s3"), DMSEC_OK);
    assert_int_equal(dmsec_tree_set_acl_local(t, "./P/Own/open", "Get=*"), DMSEC_OK);
    for (size_t i = 0; i < sizeof inherit_rows / sizeof inherit_rows[0]; i++) {
        int got = dmsec_tree_may(t, inherit_rows[i].uri, (dmsec_tree_op_t)inherit_rows[i].op,
                                 inherit_rows[i].sid);
        if (got != inherit_rows[i].allowed)
            fail_msg("row %zu: %s gave %d", i, inherit_rows[i].uri, got);
    }
    /* The root ACL never becomes empty; a bad ACL is refused. */
    assert_int_equal(dmsec_tree_set_acl_local(t, ".", ""), DMSEC_ERR_TREE_FORMAT);
    assert_int_equal(dmsec_tree_set_acl_local(t, "./P", "Get=a b"), DMSEC_ERR_TREE_FORMAT);
    assert_null(dmsec_tree_new(""));
    assert_null(dmsec_tree_new("Read=*"));
    dmsec_tree_free(t);
}

/* ---- URIs ---- */

static const struct {
    const char *uri;
    int rc;
} uri_rows[] = {
    {".", DMSEC_OK},
    {"./DevInfo", DMSEC_OK},
    {"DevInfo/DevId", DMSEC_OK},
    {"./DevInfo/DevId", DMSEC_OK},
    {"./DevInfo/Nope", DMSEC_ERR_TREE_NOT_FOUND},
    {"", DMSEC_ERR_TREE_PATH},
    {"./", DMSEC_ERR_TREE_PATH},
    {"/DevInfo", DMSEC_ERR_TREE_PATH},
    {"./DevInfo/", DMSEC_ERR_TREE_PATH},
    {"./DevInfo//DevId", DMSEC_ERR_TREE_PATH},
    {"./DevInfo/../DMAcc", DMSEC_ERR_TREE_PATH},
    {"./DevInfo/./DevId", DMSEC_ERR_TREE_PATH},
    {"..", DMSEC_ERR_TREE_PATH},
    {"././DevInfo", DMSEC_ERR_TREE_PATH},
    {"./Dev Info", DMSEC_ERR_TREE_PATH},
    {"./DevInfo\n", DMSEC_ERR_TREE_PATH},
    {"./DevInfo?prop=ACL", DMSEC_ERR_TREE_PATH}, /* local calls take no query */
};

static void uris(void **state)
{
    (void)state;
    dmsec_tree_t *t = device_tree();
    dmsec_tree_info_t info;
    for (size_t i = 0; i < sizeof uri_rows / sizeof uri_rows[0]; i++) {
        int rc = dmsec_tree_get_local(t, uri_rows[i].uri, &info);
        if (rc != uri_rows[i].rc)
            fail_msg("row %zu \"%s\": %s", i, uri_rows[i].uri, dmsec_errname(rc));
    }
    /* 32 levels fit, 33 do not; a URI over the length limit is refused. */
    char deep[33 * 3 + 8] = ".";
    size_t at = 1;
    for (int i = 0; i < 32; i++)
        at += (size_t)snprintf(deep + at, sizeof deep - at, "/aa");
    assert_int_equal(dmsec_tree_set_local(t, deep, DMSEC_TREE_CHR, NULL, "v", 1), DMSEC_OK);
    snprintf(deep + at, sizeof deep - at, "/aa");
    assert_int_equal(dmsec_tree_get_local(t, deep, &info), DMSEC_ERR_TREE_TOO_DEEP);
    char longuri[DMSEC_TREE_MAX_URI + 16];
    memset(longuri, 'x', sizeof longuri - 1);
    longuri[sizeof longuri - 1] = '\0';
    assert_int_equal(dmsec_tree_get_local(t, longuri, &info), DMSEC_ERR_TREE_URI_LONG);
    /* A segment longer than the limit. */
    char longseg[DMSEC_TREE_MAX_SEGMENT + 4] = "./";
    memset(longseg + 2, 'y', DMSEC_TREE_MAX_SEGMENT + 1);
    longseg[DMSEC_TREE_MAX_SEGMENT + 3] = '\0';
    assert_int_equal(dmsec_tree_get_local(t, longseg, &info), DMSEC_ERR_TREE_PATH);
    dmsec_tree_free(t);
}

/* ---- two servers, two accounts ---- */

/* Every node of an account (relative to ./DMAcc/<acc>), "" for the account. */
static const char *const acc_nodes[] = {
    "",
    "/ServerID",
    "/Name",
    "/AppAddr",
    "/AppAddr/1",
    "/AppAddr/1/Addr",
    "/AppAddr/1/AddrType",
    "/AAuthPref",
    "/AppAuth",
    "/AppAuth/CLCRED",
    "/AppAuth/CLCRED/AAuthLevel",
    "/AppAuth/CLCRED/AAuthType",
    "/AppAuth/CLCRED/AAuthName",
    "/AppAuth/CLCRED/AAuthSecret",
    "/AppAuth/CLCRED/AAuthData",
    "/AppAuth/SRVCRED",
    "/AppAuth/SRVCRED/AAuthLevel",
    "/AppAuth/SRVCRED/AAuthType",
    "/AppAuth/SRVCRED/AAuthName",
    "/AppAuth/SRVCRED/AAuthSecret",
    "/AppAuth/SRVCRED/AAuthData",
};

static int is_leaf(const dmsec_tree_t *t, const char *uri)
{
    dmsec_tree_info_t info;
    assert_int_equal(dmsec_tree_get_local(t, uri, &info), DMSEC_OK);
    return info.format != DMSEC_TREE_NODE;
}

/* Server `who` against the account `acc` of the other server: 425 on
 * everything, the tree unchanged. */
static void foreign_account(dmsec_tree_t *t, const char *who, const char *acc)
{
    uint8_t *before;
    size_t before_len;
    assert_int_equal(dmsec_tree_serialize(t, &before, &before_len), DMSEC_OK);
    char uri[256];
    char prop[300];
    for (size_t i = 0; i < sizeof acc_nodes / sizeof acc_nodes[0]; i++) {
        snprintf(uri, sizeof uri, "./DMAcc/%s%s", acc, acc_nodes[i]);
        dmsec_tree_result_t res;
        int rc = dmsec_tree_get(t, who, uri, &res);
        if (rc != DMSEC_ERR_TREE_PERMISSION || res.status != 425 || res.data)
            fail_msg("%s Get %s: %s", who, uri, dmsec_errname(rc));
        snprintf(prop, sizeof prop, "%s?prop=ACL", uri);
        assert_int_equal(dmsec_tree_get(t, who, prop, &res), DMSEC_ERR_TREE_PERMISSION);
        assert_int_equal(dmsec_tree_replace(t, who, prop, DMSEC_TREE_CHR, NULL, "Get=*", 5),
                         DMSEC_ERR_TREE_PERMISSION);
        assert_int_equal(dmsec_tree_replace(t, who, uri, DMSEC_TREE_CHR, NULL, "x", 1),
                         DMSEC_ERR_TREE_PERMISSION);
        assert_int_equal(dmsec_tree_delete(t, who, uri), DMSEC_ERR_TREE_PERMISSION);
        assert_int_equal(dmsec_tree_add(t, who, uri, DMSEC_TREE_CHR, NULL, "x", 1),
                         DMSEC_ERR_TREE_PERMISSION);
        assert_int_equal(dmsec_tree_exec_node(t, who, uri, NULL, 0, NULL),
                         DMSEC_ERR_TREE_PERMISSION);
        snprintf(prop, sizeof prop, "%s/New", uri);
        assert_int_equal(dmsec_tree_add(t, who, prop, DMSEC_TREE_CHR, NULL, "x", 1),
                         DMSEC_ERR_TREE_PERMISSION);
        /* Nodes that do not exist are not told apart from those that do. */
        assert_int_equal(dmsec_tree_get(t, who, prop, &res), DMSEC_ERR_TREE_PERMISSION);
        assert_int_equal(dmsec_tree_delete(t, who, prop), DMSEC_ERR_TREE_PERMISSION);
    }
    /* Copying out of the other account fails too, and so does copying in. */
    snprintf(uri, sizeof uri, "./DMAcc/%s/Name", acc);
    assert_int_equal(dmsec_tree_copy(t, who, uri, "./Stolen"), DMSEC_ERR_TREE_PERMISSION);
    assert_int_equal(dmsec_tree_copy(t, who, "./DevInfo/Man", uri), DMSEC_ERR_TREE_PERMISSION);
    uint8_t *after;
    size_t after_len;
    assert_int_equal(dmsec_tree_serialize(t, &after, &after_len), DMSEC_OK);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    dmsec_tree_wipe_free(before, before_len);
    dmsec_tree_wipe_free(after, after_len);
}

/* Server `who` in its own account: reads everything but the secrets,
 * replaces leaves, adds and deletes. */
static void own_account(dmsec_tree_t *t, const char *who, const char *acc, const char *secret)
{
    char uri[256];
    for (size_t i = 0; i < sizeof acc_nodes / sizeof acc_nodes[0]; i++) {
        snprintf(uri, sizeof uri, "./DMAcc/%s%s", acc, acc_nodes[i]);
        dmsec_tree_result_t res;
        int rc = dmsec_tree_get(t, who, uri, &res);
        if (strstr(uri, "AAuthSecret")) {
            assert_int_equal(rc, DMSEC_ERR_TREE_NOT_ALLOWED);
            assert_int_equal(res.status, 405);
            assert_null(res.data);
        } else {
            if (rc != DMSEC_OK || res.status != 200)
                fail_msg("%s Get %s: %s", who, uri, dmsec_errname(rc));
            free(res.data);
        }
        if (!strcmp(acc_nodes[i], "/ServerID")) {
            continue; /* keeps the account findable */
        } else if (is_leaf(t, uri)) {
            assert_int_equal(dmsec_tree_replace(t, who, uri, DMSEC_TREE_CHR, NULL, "new", 3),
                             DMSEC_OK);
        } else {
            char child[300];
            snprintf(child, sizeof child, "%s/Extra", uri);
            assert_int_equal(dmsec_tree_add(t, who, child, DMSEC_TREE_INT, NULL, "42", 2),
                             DMSEC_OK);
            assert_int_equal(dmsec_tree_add(t, who, child, DMSEC_TREE_INT, NULL, "42", 2),
                             DMSEC_ERR_TREE_EXISTS);
            assert_int_equal(dmsec_tree_delete(t, who, child), DMSEC_OK);
            assert_int_equal(dmsec_tree_delete(t, who, child), DMSEC_ERR_TREE_NOT_FOUND);
        }
    }
    /* The secret was rotated by the Replace above; the agent reads it. */
    dmsec_tree_info_t info;
    snprintf(uri, sizeof uri, "./DMAcc/%s/AppAuth/SRVCRED/AAuthSecret", acc);
    assert_int_equal(dmsec_tree_get_local(t, uri, &info), DMSEC_OK);
    assert_int_equal(info.value_len, 3);
    (void)secret;
}

static void two_servers(void **state)
{
    (void)state;
    dmsec_tree_t *t = device_tree();
    foreign_account(t, SRV_A, "B");
    foreign_account(t, SRV_B, "A");

    /* ./DMAcc lists each server its own account only. */
    dmsec_tree_result_t res;
    assert_int_equal(dmsec_tree_get(t, SRV_A, "./DMAcc", &res), DMSEC_OK);
    assert_string_equal(res.data, "A");
    assert_string_equal(res.format, "node");
    free(res.data);
    assert_int_equal(dmsec_tree_get(t, SRV_B, "./DMAcc", &res), DMSEC_OK);
    assert_string_equal(res.data, "B");
    free(res.data);
    assert_int_equal(dmsec_tree_get(t, "dm.other", "./DMAcc", &res), DMSEC_OK);
    assert_string_equal(res.data, "");
    free(res.data);

    /* DevInfo: both read, neither writes (root has no Replace). */
    const char *sids[] = {SRV_A, SRV_B};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(dmsec_tree_get(t, sids[i], "./DevInfo/DevId", &res), DMSEC_OK);
        assert_string_equal(res.data, "IMEI:493005100592800");
        assert_string_equal(res.format, "chr");
        free(res.data);
        assert_int_equal(dmsec_tree_get(t, sids[i], "./DevInfo", &res), DMSEC_OK);
        assert_string_equal(res.data, "DevId/DmV/Lang/Man/Mod");
        free(res.data);
        assert_int_equal(
            dmsec_tree_replace(t, sids[i], "./DevInfo/Man", DMSEC_TREE_CHR, NULL, "x", 1),
            DMSEC_ERR_TREE_PERMISSION);
        assert_int_equal(dmsec_tree_delete(t, sids[i], "./DevInfo"), DMSEC_ERR_TREE_PERMISSION);
        /* Neither can take over ./DMAcc through its ACL. */
        assert_int_equal(dmsec_tree_replace(t, sids[i], "./DMAcc?prop=ACL", DMSEC_TREE_CHR, NULL,
                                            "Replace=*&Get=*", 15),
                         DMSEC_ERR_TREE_PERMISSION);
        assert_int_equal(dmsec_tree_delete(t, sids[i], "./DMAcc"), DMSEC_ERR_TREE_PERMISSION);
        assert_int_equal(dmsec_tree_add(t, sids[i], "./DMAcc/C", DMSEC_TREE_NODE, NULL, NULL, 0),
                         DMSEC_ERR_TREE_PERMISSION);
    }

    own_account(t, SRV_A, "A", SECRET_A);
    own_account(t, SRV_B, "B", SECRET_B);

    /* The account ACL is the owner's; a Get of it says so. */
    assert_int_equal(dmsec_tree_get(t, SRV_A, "./DMAcc/A?prop=ACL", &res), DMSEC_OK);
    assert_string_equal(res.data, "Add=" SRV_A "&Delete=" SRV_A "&Get=" SRV_A "&Replace=" SRV_A);
    free(res.data);

    /* Same ServerID or same name twice: refused. */
    dmsec_tree_account_t dup = {0};
    dup.server_id = SRV_A;
    assert_int_equal(dmsec_tree_add_account(t, "A2", &dup), DMSEC_ERR_TREE_EXISTS);
    dup.server_id = "dm.gamma";
    assert_int_equal(dmsec_tree_add_account(t, "A", &dup), DMSEC_ERR_TREE_EXISTS);
    dup.server_id = "dm gamma";
    assert_int_equal(dmsec_tree_add_account(t, "G", &dup), DMSEC_ERR_TREE_FORMAT);
    char name[16];
    assert_int_equal(dmsec_tree_find_account(t, SRV_B, name, sizeof name), DMSEC_OK);
    assert_string_equal(name, "B");
    assert_int_equal(dmsec_tree_find_account(t, "dm.none", name, sizeof name),
                     DMSEC_ERR_TREE_NOT_FOUND);

    /* A deletes its own account; B's stays. */
    assert_int_equal(dmsec_tree_delete(t, SRV_A, "./DMAcc/A"), DMSEC_OK);
    assert_int_equal(dmsec_tree_get(t, SRV_B, "./DMAcc", &res), DMSEC_OK);
    assert_string_equal(res.data, "B");
    free(res.data);
    dmsec_tree_free(t);
}

/* ---- command semantics, one script of rows on one tree ---- */

enum step_op { S_GET, S_ADD, S_REP, S_DEL, S_EXEC, S_COPY };

static const struct {
    enum step_op op;
    const char *sid;
    const char *uri;
    dmsec_tree_format_t format;
    const char *value; /* Add/Replace: the value; Get: expected data; Copy: source */
    int rc;
    int status;
    const char *format_out; /* Get: expected format */
} steps[] = {
    /* root "Add=*&Get=*": anyone adds, a new node becomes its creator's */
    {S_ADD, "s1", "./App/Cfg/Port", DMSEC_TREE_INT, "8080", DMSEC_OK, 200},
    {S_GET, "s1", "./App/Cfg/Port", 0, "8080", DMSEC_OK, 200, "int"},
    {S_GET, "s1", "./App?prop=ACL", 0, "Add=s1&Delete=s1&Get=s1&Replace=s1", DMSEC_OK, 200, "chr"},
    {S_GET, "s1", "./App/Cfg?prop=ACL", 0, "", DMSEC_OK, 200, "chr"},
    {S_GET, "s2", "./App/Cfg/Port", 0, NULL, DMSEC_ERR_TREE_PERMISSION, 425},
    {S_GET, "s1", "./App/Cfg/Port?prop=Format", 0, "int", DMSEC_OK, 200, "chr"},
    {S_GET, "s1", "./App/Cfg/Port?prop=Size", 0, "4", DMSEC_OK, 200, "int"},
    {S_GET, "s1", "./App/Cfg/Port?prop=Name", 0, "Port", DMSEC_OK, 200, "chr"},
    {S_GET, "s1", "./App/Cfg?prop=Size", 0, NULL, DMSEC_ERR_TREE_NOT_ALLOWED, 405},
    {S_GET, "s1", "./App/Cfg/Port?prop=TStamp", 0, NULL, DMSEC_ERR_TREE_UNSUPPORTED, 406},
    {S_GET, "s1", "./App/Cfg/Port?list=Struct", 0, NULL, DMSEC_ERR_TREE_UNSUPPORTED, 406},
    /* formats are checked */
    {S_ADD, "s1", "./App/Cfg/Bad", DMSEC_TREE_INT, "12x", DMSEC_ERR_TREE_FORMAT, 400},
    {S_ADD, "s1", "./App/Cfg/Big", DMSEC_TREE_INT, "4294967296", DMSEC_ERR_TREE_FORMAT, 400},
    {S_ADD, "s1", "./App/Cfg/Flag", DMSEC_TREE_BOOL, "yes", DMSEC_ERR_TREE_FORMAT, 400},
    {S_ADD, "s1", "./App/Cfg/Flag", DMSEC_TREE_BOOL, "true", DMSEC_OK, 200},
    {S_ADD, "s1", "./App/Cfg/Nil", DMSEC_TREE_NULL, "x", DMSEC_ERR_TREE_FORMAT, 400},
    {S_ADD, "s1", "./App/Cfg/Dir", DMSEC_TREE_NODE, "x", DMSEC_ERR_TREE_FORMAT, 400},
    {S_ADD, "s1", "./App/Cfg/Blob", DMSEC_TREE_B64, "AAEC", DMSEC_OK, 200},
    {S_ADD, "s1", "./App/Cfg/Blob2", DMSEC_TREE_B64, "AA!C", DMSEC_ERR_TREE_FORMAT, 400},
    /* a failed Add leaves nothing behind, not even the parents */
    {S_ADD, "s1", "./App/New/Deep/Bad", DMSEC_TREE_INT, "x", DMSEC_ERR_TREE_FORMAT, 400},
    {S_GET, "s1", "./App/New", 0, NULL, DMSEC_ERR_TREE_NOT_FOUND, 404},
    /* Add on existing: 418; under a leaf: 405; the root: 405 */
    {S_ADD, "s1", "./App/Cfg/Port", DMSEC_TREE_INT, "1", DMSEC_ERR_TREE_EXISTS, 418},
    {S_ADD, "s2", "./App/Cfg/Port", DMSEC_TREE_INT, "1", DMSEC_ERR_TREE_PERMISSION, 425},
    {S_ADD, "s1", "./App/Cfg/Port/Sub", DMSEC_TREE_INT, "1", DMSEC_ERR_TREE_NOT_ALLOWED, 405},
    {S_ADD, "s1", ".", DMSEC_TREE_NODE, "", DMSEC_ERR_TREE_NOT_ALLOWED, 405},
    {S_ADD, "s1", "./App/Cfg/a?prop=ACL", DMSEC_TREE_CHR, "", DMSEC_ERR_TREE_PATH, 400},
    /* listing */
    {S_GET, "s1", "./App/Cfg", 0, "Blob/Flag/Port", DMSEC_OK, 200, "node"},
    /* Replace: value and format; not interior nodes; not to node */
    {S_REP, "s1", "./App/Cfg/Port", DMSEC_TREE_CHR, "eighty", DMSEC_OK, 200},
    {S_GET, "s1", "./App/Cfg/Port", 0, "eighty", DMSEC_OK, 200, "chr"},
    {S_REP, "s1", "./App/Cfg", DMSEC_TREE_CHR, "x", DMSEC_ERR_TREE_NOT_ALLOWED, 405},
    {S_REP, "s1", "./App/Cfg/Port", DMSEC_TREE_NODE, "", DMSEC_ERR_TREE_NOT_ALLOWED, 405},
    {S_REP, "s1", "./App/Cfg/Nope", DMSEC_TREE_CHR, "x", DMSEC_ERR_TREE_NOT_FOUND, 404},
    {S_REP, "s2", "./App/Cfg/Nope", DMSEC_TREE_CHR, "x", DMSEC_ERR_TREE_PERMISSION, 425},
    {S_REP, "s1", "./App/Cfg/Port?prop=Name", DMSEC_TREE_CHR, "x", DMSEC_ERR_TREE_UNSUPPORTED, 406},
    /* ACL of a leaf: only through the parent's Replace (TND 7.7.1.3) */
    {S_REP, "s1", "./App/Cfg/Port?prop=ACL", DMSEC_TREE_CHR, "Get=*&Replace=s3", DMSEC_OK, 200},
    {S_GET, "s2", "./App/Cfg/Port", 0, "eighty", DMSEC_OK, 200, "chr"},
    {S_REP, "s3", "./App/Cfg/Port", DMSEC_TREE_CHR, "x", DMSEC_OK, 200},
    {S_REP, "s3", "./App/Cfg/Port?prop=ACL", DMSEC_TREE_CHR, "Replace=s3",
     DMSEC_ERR_TREE_PERMISSION, 425},
    {S_REP, "s1", "./App/Cfg/Port?prop=ACL", DMSEC_TREE_CHR, "Get=a b", DMSEC_ERR_TREE_FORMAT, 400},
    /* ACL of an interior node: its own Replace is enough */
    {S_REP, "s1", "./App?prop=ACL", DMSEC_TREE_CHR, "Get=s1+s2&Replace=s2", DMSEC_OK, 200},
    {S_REP, "s2", "./App?prop=ACL", DMSEC_TREE_CHR, "Get=s2&Replace=s2&Delete=s2", DMSEC_OK, 200},
    {S_GET, "s1", "./App", 0, NULL, DMSEC_ERR_TREE_PERMISSION, 425},
    /* the root: its own ACL, never empty */
    {S_REP, "s1", ".?prop=ACL", DMSEC_TREE_CHR, "Get=*", DMSEC_ERR_TREE_PERMISSION, 425},
    /* Delete: permission on every own ACL below, never the root or permanent nodes */
    {S_REP, "s2", "./App/Cfg?prop=ACL", DMSEC_TREE_CHR, "Get=s2&Delete=s1", DMSEC_OK, 200},
    {S_DEL, "s2", "./App", 0, NULL, DMSEC_ERR_TREE_PERMISSION, 425},
    {S_GET, "s2", "./App/Cfg", 0, "Blob/Flag/Port", DMSEC_OK, 200, "node"},
    {S_DEL, "s1", ".", 0, NULL, DMSEC_ERR_TREE_NOT_ALLOWED, 405},
    {S_DEL, "s1", "./Perm", 0, NULL, DMSEC_ERR_TREE_NOT_ALLOWED, 405},
    {S_REP, "s2", "./App/Cfg?prop=ACL", DMSEC_TREE_CHR, "", DMSEC_OK, 200},
    {S_DEL, "s2", "./App", 0, NULL, DMSEC_ERR_TREE_PERMISSION, 425}, /* Port's own ACL */
    {S_REP, "s2", "./App/Cfg/Port?prop=ACL", DMSEC_TREE_CHR, "", DMSEC_OK, 200},
    {S_DEL, "s2", "./App", 0, NULL, DMSEC_OK, 200},
    {S_GET, "s2", "./App", 0, NULL, DMSEC_ERR_TREE_NOT_FOUND, 404},
    {S_DEL, "s2", "./App", 0, NULL, DMSEC_ERR_TREE_NOT_FOUND, 404},
    /* Exec: permission first, then the handler (none here: 405) */
    {S_EXEC, "s1", "./Perm", 0, NULL, DMSEC_ERR_TREE_NOT_ALLOWED, 405},
    {S_EXEC, "s2", "./Perm", 0, NULL, DMSEC_ERR_TREE_PERMISSION, 425},
    {S_EXEC, "s1", "./Nope", 0, NULL, DMSEC_ERR_TREE_NOT_FOUND, 404},
    /* Copy: a leaf, Get on the source and Add on the target */
    {S_COPY, "s1", "./Mine/Copy", 0, "./Perm/Leaf", DMSEC_OK, 200},
    {S_GET, "s1", "./Mine/Copy", 0, "hello", DMSEC_OK, 200, "chr"},
    {S_COPY, "s1", "./Mine/Copy", 0, "./Perm/Leaf", DMSEC_OK, 200}, /* onto itself: Replace */
    {S_COPY, "s1", "./Mine/Dir", 0, "./Perm", DMSEC_ERR_TREE_NOT_ALLOWED, 405},
    {S_COPY, "s1", "./Mine/Key", 0, "./Perm/AAuthSecret", DMSEC_ERR_TREE_NOT_ALLOWED, 405},
};

static void command_semantics(void **state)
{
    (void)state;
    dmsec_tree_t *t = dmsec_tree_new("Add=*&Get=*");
    assert_non_null(t);
    set_chr(t, "./Perm/Leaf", "hello");
    set_chr(t, "./Perm/AAuthSecret", "k");
    assert_int_equal(dmsec_tree_set_acl_local(t, "./Perm", "Get=s1&Delete=s1&Exec=s1"), DMSEC_OK);
    assert_int_equal(dmsec_tree_set_flags_local(t, "./Perm", DMSEC_TREE_PERMANENT), DMSEC_OK);
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        dmsec_tree_result_t res;
        memset(&res, 0, sizeof res);
        const char *v = steps[i].value;
        size_t vl = v ? strlen(v) : 0;
        int rc = -12345;
        switch (steps[i].op) {
        case S_GET:
            rc = dmsec_tree_get(t, steps[i].sid, steps[i].uri, &res);
            break;
        case S_ADD:
            rc = dmsec_tree_add(t, steps[i].sid, steps[i].uri, steps[i].format, NULL, v, vl);
            break;
        case S_REP:
            rc = dmsec_tree_replace(t, steps[i].sid, steps[i].uri, steps[i].format, NULL, v, vl);
            break;
        case S_DEL:
            rc = dmsec_tree_delete(t, steps[i].sid, steps[i].uri);
            break;
        case S_EXEC:
            rc = dmsec_tree_exec_node(t, steps[i].sid, steps[i].uri, NULL, 0, NULL);
            break;
        case S_COPY:
            rc = dmsec_tree_copy(t, steps[i].sid, v, steps[i].uri);
            break;
        }
        if (rc != steps[i].rc || dmsec_err_status(rc) != steps[i].status)
            fail_msg("step %zu %s: %s", i, steps[i].uri, dmsec_errname(rc));
        if (steps[i].op == S_GET) {
            assert_int_equal(res.status, steps[i].status);
            if (rc == DMSEC_OK) {
                if (!res.data || !v || strcmp(res.data, v) != 0 ||
                    strcmp(res.format, steps[i].format_out) != 0)
                    fail_msg("step %zu %s: \"%s\" [%s]", i, steps[i].uri, res.data, res.format);
                assert_int_equal(res.data_len, vl);
            } else {
                assert_null(res.data);
            }
            free(res.data);
        }
    }
    dmsec_tree_free(t);
}

/* ---- Exec handler ---- */

struct exec_seen {
    int calls;
    char uri[64];
    char data[16];
    char correlator[16];
};

static int on_exec(void *ctx, const char *sid, const char *uri, const uint8_t *data, size_t len,
                   const char *correlator)
{
    struct exec_seen *s = ctx;
    s->calls++;
    assert_string_equal(sid, "s1");
    snprintf(s->uri, sizeof s->uri, "%s", uri);
    snprintf(s->data, sizeof s->data, "%.*s", (int)len, (const char *)data);
    snprintf(s->correlator, sizeof s->correlator, "%s", correlator ? correlator : "");
    if (!strcmp(s->data, "fail"))
        return DMSEC_ERR_TREE_FORMAT;
    if (!strncmp(s->data, "status=", 7))
        return atoi(s->data + 7); /* the handler's own status code */
    return DMSEC_OK;
}

/* ---- the SyncML mapping with real messages ---- */

static const dmsec_item_t *item_of(dmsec_msg_t *m, dmsec_cmd_type_t type, const char *target,
                                   const char *source, const char *format, const char *data,
                                   const dmsec_cmd_t **cmd_out)
{
    dmsec_cmd_t *c = dmsec_msg_add_cmd(m, NULL, type);
    assert_non_null(c);
    dmsec_item_t *it = dmsec_cmd_add_item(m, c, target, source);
    assert_non_null(it);
    if (format)
        assert_non_null(dmsec_meta_add(m, &it->meta, DMSEC_MI_FORMAT, format));
    if (data) {
        it->data = dmsec_msg_data(m, data, strlen(data), 0);
        assert_non_null(it->data);
    }
    *cmd_out = c;
    return it;
}

static const struct {
    dmsec_cmd_type_t type;
    const char *sid;
    const char *target;
    const char *source;
    const char *format;
    const char *data;
    int status;
    const char *result; /* Get: data */
    const char *result_format;
} exec_rows[] = {
    {DMSEC_CMD_GET, SRV_A, "./DevInfo/Mod", NULL, NULL, NULL, 200, "unit", "chr"},
    {DMSEC_CMD_GET, SRV_A, "./DMAcc/A/AppAddr/1/Addr", NULL, NULL, NULL, 200,
     "https://dm.example/dm", "chr"},
    {DMSEC_CMD_GET, SRV_B, "./DMAcc/A/AppAddr/1/Addr", NULL, NULL, NULL, 425},
    {DMSEC_CMD_GET, SRV_A, "./DMAcc/A/AppAuth/SRVCRED/AAuthSecret", NULL, NULL, NULL, 405},
    {DMSEC_CMD_GET, SRV_A, "./DMAcc/A/AppAuth", NULL, NULL, NULL, 200, "CLCRED/SRVCRED", "node"},
    {DMSEC_CMD_GET, SRV_A, NULL, NULL, NULL, NULL, 400}, /* no Target */
    {DMSEC_CMD_ADD, SRV_A, "./DMAcc/A/Ext/Counter", NULL, "int", "7", 200},
    {DMSEC_CMD_GET, SRV_A, "./DMAcc/A/Ext/Counter", NULL, NULL, NULL, 200, "7", "int"},
    {DMSEC_CMD_ADD, SRV_A, "./DMAcc/A/Ext/Dir", NULL, "node", NULL, 200},
    {DMSEC_CMD_GET, SRV_A, "./DMAcc/A/Ext/Dir", NULL, NULL, NULL, 200, "", "node"},
    {DMSEC_CMD_ADD, SRV_A, "./DMAcc/A/Ext/X", NULL, "weird", "1", 400},
    {DMSEC_CMD_ADD, SRV_B, "./DMAcc/A/Ext/X", NULL, NULL, "1", 425},
    {DMSEC_CMD_ADD, SRV_A, "./DMAcc/A/Ext/Counter", NULL, "int", "8", 418},
    {DMSEC_CMD_REPLACE, SRV_A, "./DMAcc/A/AppAuth/SRVCRED/AAuthSecret", NULL, "chr", "rotated",
     200},
    {DMSEC_CMD_REPLACE, SRV_B, "./DMAcc/A/AppAuth/SRVCRED/AAuthSecret", NULL, "chr", "stolen", 425},
    {DMSEC_CMD_REPLACE, SRV_A, "./DMAcc/A/Name?prop=ACL", NULL, NULL, "Get=*", 200},
    {DMSEC_CMD_GET, SRV_B, "./DMAcc/A/Name", NULL, NULL, NULL, 200, "A", "chr"},
    {DMSEC_CMD_COPY, SRV_A, "./DMAcc/A/Ext/Copy", "./DMAcc/A/Name", NULL, NULL, 200},
    {DMSEC_CMD_COPY, SRV_A, "./DMAcc/A/Ext/Copy2", NULL, NULL, NULL, 400},    /* no Source */
    {DMSEC_CMD_EXEC, SRV_A, "./DMAcc/A/Ext/Counter", NULL, NULL, "run", 425}, /* no Exec */
    {DMSEC_CMD_EXEC, SRV_B, "./DMAcc/A/Ext/Counter", NULL, NULL, "run", 425},
    {DMSEC_CMD_DELETE, SRV_B, "./DMAcc/A/Ext", NULL, NULL, NULL, 425},
    {DMSEC_CMD_DELETE, SRV_A, "./DMAcc/A/Ext", NULL, NULL, NULL, 200},
    {DMSEC_CMD_DELETE, SRV_A, "./DMAcc/A/Ext", NULL, NULL, NULL, 404},
    {DMSEC_CMD_ALERT, SRV_A, "./DMAcc/A", NULL, NULL, NULL, 405},
    {DMSEC_CMD_ATOMIC, SRV_A, "./DMAcc/A", NULL, NULL, NULL, 405}, /* the engine runs groups */
    {DMSEC_CMD_SEQUENCE, SRV_A, "./DMAcc/A", NULL, NULL, NULL, 405},
    {DMSEC_CMD_EXEC, SRV_A, "./DMAcc/A/Missing", NULL, NULL, "run", 404},
    {DMSEC_CMD_EXEC, SRV_B, "./DMAcc/A/Missing", NULL, NULL, "run", 425},
    {DMSEC_CMD_REPLACE, SRV_A, "./DMAcc/A/Missing", NULL, "chr", "x", 404},
    {DMSEC_CMD_REPLACE, SRV_A, "./DMAcc/A/AppAuth", NULL, "chr", "x", 405}, /* interior */
    {DMSEC_CMD_GET, SRV_A, "./DMAcc/A/Missing", NULL, NULL, NULL, 404},
    {DMSEC_CMD_DELETE, SRV_A, ".", NULL, NULL, NULL, 405},
    {DMSEC_CMD_GET, SRV_A, "./DMAcc/A/AppAuth", NULL, NULL, NULL, 200, "CLCRED/SRVCRED", "node"},
};

static void exec_commands(void **state)
{
    (void)state;
    dmsec_tree_t *t = device_tree();
    struct exec_seen seen = {0};
    dmsec_tree_set_exec(t, on_exec, &seen);
    dmsec_msg_t *m = dmsec_msg_new();
    assert_non_null(m);
    for (size_t i = 0; i < sizeof exec_rows / sizeof exec_rows[0]; i++) {
        const dmsec_cmd_t *c;
        const dmsec_item_t *it =
            item_of(m, exec_rows[i].type, exec_rows[i].target, exec_rows[i].source,
                    exec_rows[i].format, exec_rows[i].data, &c);
        if (!exec_rows[i].target)
            ((dmsec_item_t *)it)->target = NULL;
        dmsec_tree_result_t res;
        int rc = dmsec_tree_exec(t, exec_rows[i].sid, c, it, &res);
        if (res.status != exec_rows[i].status || dmsec_err_status(rc) != res.status)
            fail_msg("row %zu %s: %d %s", i, dmsec_cmd_name(exec_rows[i].type), res.status,
                     dmsec_errname(rc));
        if (exec_rows[i].result) {
            assert_non_null(res.data);
            assert_string_equal(res.data, exec_rows[i].result);
            assert_string_equal(res.format, exec_rows[i].result_format);
        } else {
            assert_null(res.data);
        }
        free(res.data);
    }
    assert_int_equal(seen.calls, 0); /* refused Execs never reach the handler */

    /* Format and Type from the command's Meta when the Item has none;
     * Exec passes the Correlator; the handler's success is 200. */
    dmsec_cmd_t *c = dmsec_msg_add_cmd(m, NULL, DMSEC_CMD_ADD);
    assert_non_null(dmsec_meta_add(m, &c->meta, DMSEC_MI_FORMAT, "bool"));
    assert_non_null(dmsec_meta_add(m, &c->meta, DMSEC_MI_TYPE, "text/plain"));
    dmsec_item_t *it = dmsec_cmd_add_item(m, c, "./DMAcc/A/Flag", NULL);
    it->data = dmsec_msg_data(m, "false", 5, 0);
    dmsec_tree_result_t res;
    assert_int_equal(dmsec_tree_exec_cb(t, SRV_A, c, it, &res), DMSEC_OK);
    assert_int_equal(res.status, 200);
    assert_int_equal(dmsec_tree_get(t, SRV_A, "./DMAcc/A/Flag", &res), DMSEC_OK);
    assert_string_equal(res.format, "bool");
    assert_string_equal(res.type, "text/plain");
    free(res.data);
    c = dmsec_msg_add_cmd(m, NULL, DMSEC_CMD_EXEC);
    c->correlator = dmsec_msg_strdup(m, "corr-1");
    it = dmsec_cmd_add_item(m, c, "./DMAcc/A/Flag", NULL);
    it->data = dmsec_msg_data(m, "go", 2, 0);
    assert_int_equal(dmsec_tree_exec(t, SRV_A, c, it, &res), DMSEC_ERR_TREE_PERMISSION);
    assert_int_equal(dmsec_tree_set_acl_local(t, "./DMAcc/A/Flag", "Exec=s1"), DMSEC_OK);
    assert_int_equal(dmsec_tree_exec(t, "s1", c, it, &res), DMSEC_OK);
    assert_int_equal(res.status, 200);
    assert_string_equal(seen.correlator, "corr-1");
    assert_string_equal(seen.uri, "./DMAcc/A/Flag");
    assert_string_equal(seen.data, "go");
    it->data = dmsec_msg_data(m, "fail", 4, 0);
    assert_int_equal(dmsec_tree_exec(t, "s1", c, it, &res), DMSEC_ERR_TREE_FORMAT);
    assert_int_equal(res.status, 400);
    assert_int_equal(seen.calls, 2);
    /* A handler's own status: 202 (accepted, outcome later) is a success,
     * 4xx/5xx a failure with that status; out of range is 500. */
    it->data = dmsec_msg_data(m, "status=202", 10, 0);
    assert_int_equal(dmsec_tree_exec(t, "s1", c, it, &res), DMSEC_OK);
    assert_int_equal(res.status, 202);
    assert_int_equal(dmsec_tree_exec_node(t, "s1", "./DMAcc/A/Flag", "status=202", 10, NULL), 202);
    it->data = dmsec_msg_data(m, "status=406", 10, 0);
    assert_int_not_equal(dmsec_tree_exec(t, "s1", c, it, &res), DMSEC_OK);
    assert_int_equal(res.status, 406);
    it->data = dmsec_msg_data(m, "status=200", 10, 0);
    assert_int_equal(dmsec_tree_exec(t, "s1", c, it, &res), DMSEC_OK);
    assert_int_equal(res.status, 200);
    it->data = dmsec_msg_data(m, "status=7", 8, 0);
    assert_int_equal(dmsec_tree_exec(t, "s1", c, it, &res), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(res.status, 500);
    it->data = dmsec_msg_data(m, "fail", 4, 0);
    assert_int_equal(seen.calls, 7);
    dmsec_tree_set_exec(t, NULL, NULL);
    assert_int_equal(dmsec_tree_exec(t, "s1", c, it, &res), DMSEC_ERR_TREE_NOT_ALLOWED);
    assert_int_equal(dmsec_tree_exec(t, SRV_A, NULL, it, &res), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(res.status, 500);

    /* The secret Replace above reached the tree. */
    dmsec_tree_info_t info;
    assert_int_equal(dmsec_tree_get_local(t, "./DMAcc/A/AppAuth/SRVCRED/AAuthSecret", &info),
                     DMSEC_OK);
    assert_int_equal(info.value_len, 7);
    assert_memory_equal(info.value, "rotated", 7);
    assert_int_equal(dmsec_tree_get_local(t, "./DMAcc/B/AppAuth/SRVCRED/AAuthSecret", &info),
                     DMSEC_OK);
    assert_memory_equal(info.value, SECRET_B, strlen(SECRET_B));
    dmsec_msg_free(m);
    dmsec_tree_free(t);
}

/* ---- serialisation ---- */

static void round_trip(void **state)
{
    (void)state;
    dmsec_tree_t *t = device_tree();
    /* Binary values, types, flags and an interior Type survive. */
    static const uint8_t bin[] = {0, 1, 2, '\n', ' ', 0xff, ':'};
    assert_int_equal(
        dmsec_tree_set_local(t, "./Vendor/Blob", DMSEC_TREE_BIN, "application/x-b", bin, 7),
        DMSEC_OK);
    assert_int_equal(dmsec_tree_set_local(t, "./Vendor", DMSEC_TREE_NODE, NULL, NULL, 0), DMSEC_OK);
    assert_int_equal(dmsec_tree_set_flags_local(t, "./Vendor/Blob", DMSEC_TREE_SECRET), DMSEC_OK);
    /* a format name with a digit in it */
    assert_int_equal(dmsec_tree_set_local(t, "./Vendor/Pic", DMSEC_TREE_B64, NULL, "aGk=", 4),
                     DMSEC_OK);
    assert_int_equal(dmsec_tree_add(t, "s9", "./Vendor2/Empty", DMSEC_TREE_NULL, NULL, NULL, 0),
                     DMSEC_OK);
    uint8_t *buf;
    size_t len;
    assert_int_equal(dmsec_tree_serialize(t, &buf, &len), DMSEC_OK);
    assert_memory_equal(buf, "DMSECTREE 1\n", 12);
    dmsec_tree_t *u;
    assert_int_equal(dmsec_tree_parse(buf, len, &u), DMSEC_OK);
    assert_true(dmsec_tree_equal(t, u));
    assert_int_equal(dmsec_tree_count(t), dmsec_tree_count(u));
    uint8_t *buf2;
    size_t len2;
    assert_int_equal(dmsec_tree_serialize(u, &buf2, &len2), DMSEC_OK);
    assert_int_equal(len, len2);
    assert_memory_equal(buf, buf2, len);
    /* equal notices a change */
    assert_int_equal(dmsec_tree_set_local(u, "./DevInfo/Lang", DMSEC_TREE_CHR, NULL, "fr", 2),
                     DMSEC_OK);
    assert_false(dmsec_tree_equal(t, u));
    dmsec_tree_t *fresh = dmsec_tree_new(NULL);
    assert_false(dmsec_tree_equal(t, fresh));
    dmsec_tree_free(fresh);
    dmsec_tree_wipe_free(buf, len);
    dmsec_tree_wipe_free(buf2, len2);
    dmsec_tree_free(u);
    dmsec_tree_free(t);
}

static void corruption(void **state)
{
    (void)state;
    dmsec_tree_t *t = dmsec_tree_new("Add=*&Get=*");
    set_chr(t, "./DevInfo/DevId", "IMEI:1");
    add_acc(t, "A", SRV_A, "k");
    uint8_t *buf;
    size_t len;
    assert_int_equal(dmsec_tree_serialize(t, &buf, &len), DMSEC_OK);
    dmsec_tree_t *u = NULL;
    for (size_t i = 0; i < len; i++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            buf[i] ^= (uint8_t)(1u << bit);
            int rc = dmsec_tree_parse(buf, len, &u);
            if (rc != DMSEC_ERR_TREE_PARSE || u)
                fail_msg("flip of byte %zu bit %u: %s", i, bit, dmsec_errname(rc));
            buf[i] ^= (uint8_t)(1u << bit);
        }
    }
    for (size_t n = 0; n < len; n++) {
        int rc = dmsec_tree_parse(buf, n, &u);
        if (rc != DMSEC_ERR_TREE_PARSE || u)
            fail_msg("truncated at %zu: %s", n, dmsec_errname(rc));
    }
    /* A byte more is no better. */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = '\n';
    assert_int_equal(dmsec_tree_parse(longer, len + 1, &u), DMSEC_ERR_TREE_PARSE);
    free(longer);
    assert_int_equal(dmsec_tree_parse(buf, len, &u), DMSEC_OK);
    assert_true(dmsec_tree_equal(t, u));
    dmsec_tree_free(u);
    dmsec_tree_wipe_free(buf, len);
    dmsec_tree_free(t);
}

/* Bodies given a correct digest: only the record checks stand between
 * them and the tree. */
static int parse_body(const char *body, dmsec_tree_t **out)
{
    size_t n = strlen(body);
    uint8_t md[DM_SHA256_LEN];
    dm_part_t part = {body, n};
    assert_int_equal(dm_digest(DM_SHA256, &part, 1, md), 0);
    char hex[2 * DM_SHA256_LEN + 1];
    assert_int_equal(dmsec_hex_encode(md, sizeof md, hex, sizeof hex), DMSEC_OK);
    char *buf = malloc(n + 80);
    assert_non_null(buf);
    int k = snprintf(buf, n + 80, "%sSHA256 %s\n", body, hex);
    int rc = dmsec_tree_parse((const uint8_t *)buf, (size_t)k, out);
    free(buf);
    return rc;
}

#define ROOT "0 node 1 0: 0: 5:Get=* 0:\n"

static const struct {
    const char *body;
    int ok;
} body_rows[] = {
    {"DMSECTREE 1\n1\n" ROOT, 1},
    {"DMSECTREE 1\n3\n" ROOT "1 node 0 1:a 0: 0: 0:\n2 chr 0 1:b 0: 0: 2:hi\n", 1},
    {"DMSECTREE 1\n3\n" ROOT "1 chr 0 1:a 0: 0: 1:x\n1 chr 0 1:b 0: 0: 1:y\n", 1},
    {"DMSECTREE 2\n1\n" ROOT, 0},                               /* version */
    {"DMSECTREE 1\n2\n" ROOT, 0},                               /* count */
    {"DMSECTREE 1\n01\n" ROOT, 0},                              /* leading zero */
    {"DMSECTREE 1\n0\n", 0},                                    /* no root */
    {"DMSECTREE 1\n1\n0 node 1 0: 0: 0: 0:\n", 0},              /* root without ACL */
    {"DMSECTREE 1\n1\n0 chr 1 0: 0: 5:Get=* 0:\n", 0},          /* root a leaf */
    {"DMSECTREE 1\n1\n0 node 1 1:r 0: 5:Get=* 0:\n", 0},        /* root named */
    {"DMSECTREE 1\n1\n0 node 1 0: 0: 5:Get=* 1:x\n", 0},        /* root value */
    {"DMSECTREE 1\n2\n" ROOT "0 node 0 0: 0: 5:Get=* 0:\n", 0}, /* two roots */
    {"DMSECTREE 1\n2\n" ROOT "2 chr 0 1:a 0: 0: 0:\n", 0},      /* depth jump */
    {"DMSECTREE 1\n3\n" ROOT "1 chr 0 1:a 0: 0: 0:\n1 chr 0 1:a 0: 0: 0:\n", 0}, /* duplicate */
    {"DMSECTREE 1\n3\n" ROOT "1 chr 0 1:b 0: 0: 0:\n1 chr 0 1:a 0: 0: 0:\n", 0}, /* order */
    {"DMSECTREE 1\n3\n" ROOT "1 chr 0 1:a 0: 0: 0:\n2 chr 0 1:b 0: 0: 0:\n", 0}, /* under leaf */
    {"DMSECTREE 1\n2\n" ROOT "1 node 0 1:a 0: 0: 1:x\n", 0},        /* interior value */
    {"DMSECTREE 1\n2\n" ROOT "1 int 0 1:a 0: 0: 1:x\n", 0},         /* bad int */
    {"DMSECTREE 1\n2\n" ROOT "1 str 0 1:a 0: 0: 0:\n", 0},          /* format */
    {"DMSECTREE 1\n2\n" ROOT "1 chr 4 1:a 0: 0: 0:\n", 0},          /* flags */
    {"DMSECTREE 1\n2\n" ROOT "1 chr 0 2:.. 0: 0: 0:\n", 0},         /* name */
    {"DMSECTREE 1\n2\n" ROOT "1 chr 0 3:a/b 0: 0: 0:\n", 0},        /* name */
    {"DMSECTREE 1\n2\n" ROOT "1 chr 0 0: 0: 0: 0:\n", 0},           /* empty name */
    {"DMSECTREE 1\n2\n" ROOT "1 chr 0 1:a 0: 3:Get 0:\n", 0},       /* ACL */
    {"DMSECTREE 1\n2\n" ROOT "1 chr 0 1:a 2:\x01x 0: 0:\n", 0},     /* type */
    {"DMSECTREE 1\n2\n" ROOT "1 chr 0 1:a 0: 0: 9:x\n", 0},         /* overrun */
    {"DMSECTREE 1\n2\n" ROOT "1 chr 0 1:a 0: 0: 01:x\n", 0},        /* leading zero */
    {"DMSECTREE 1\n2\n" ROOT "1 chr 0 1:a 0: 0: 1:x", 0},           /* no newline */
    {"DMSECTREE 1\n2\n" ROOT "1 chr 0 1:a 0: 0: 1:x\n\n", 0},       /* trailing */
    {"DMSECTREE 1\n2\n" ROOT "1  chr 0 1:a 0: 0: 1:x\n", 0},        /* spacing */
    {"DMSECTREE 1\n2\n" ROOT "1 chr 0 1:a 0: 0: 999999999:x\n", 0}, /* huge length */
};

static void crafted_bodies(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof body_rows / sizeof body_rows[0]; i++) {
        dmsec_tree_t *u = NULL;
        int rc = parse_body(body_rows[i].body, &u);
        if (body_rows[i].ok) {
            if (rc != DMSEC_OK)
                fail_msg("row %zu: %s", i, dmsec_errname(rc));
            /* Canonical: serialising gives the same body back. */
            uint8_t *buf;
            size_t len;
            assert_int_equal(dmsec_tree_serialize(u, &buf, &len), DMSEC_OK);
            size_t n = strlen(body_rows[i].body);
            assert_int_equal(len, n + 72);
            assert_memory_equal(buf, body_rows[i].body, n);
            dmsec_tree_wipe_free(buf, len);
        } else if (rc != DMSEC_ERR_TREE_PARSE || u) {
            fail_msg("row %zu: %s", i, dmsec_errname(rc));
        }
        dmsec_tree_free(u);
    }
}

/* ---- limits ---- */

static void limits(void **state)
{
    (void)state;
    dmsec_tree_t *t = dmsec_tree_new("Add=*&Get=*&Replace=*&Delete=*");
    assert_non_null(t);
    char uri[64];
    /* 9999 children of one node, added in reverse order (worst case for a
     * sorted array: every insert at the front). */
    for (int i = DMSEC_TREE_MAX_NODES - 3; i >= 0; i--) {
        snprintf(uri, sizeof uri, "./Big/n%05d", i);
        assert_int_equal(dmsec_tree_add(t, "s", uri, DMSEC_TREE_INT, NULL, "1", 1), DMSEC_OK);
    }
    assert_int_equal(dmsec_tree_count(t), DMSEC_TREE_MAX_NODES - 0);
    assert_int_equal(dmsec_tree_add(t, "s", "./Big/x", DMSEC_TREE_CHR, NULL, "", 0),
                     DMSEC_ERR_TREE_TOO_MANY);
    assert_int_equal(dmsec_tree_set_local(t, "./Other/a", DMSEC_TREE_CHR, NULL, "", 0),
                     DMSEC_ERR_TREE_TOO_MANY);
    dmsec_tree_result_t res;
    assert_int_equal(dmsec_tree_get(t, "s", "./Big", &res), DMSEC_OK);
    assert_int_equal(res.data_len, (size_t)(DMSEC_TREE_MAX_NODES - 2) * 7 - 1);
    assert_memory_equal(res.data, "n00000/n00001/", 14);
    free(res.data);
    uint8_t *buf;
    size_t len;
    assert_int_equal(dmsec_tree_serialize(t, &buf, &len), DMSEC_OK);
    dmsec_tree_t *u;
    assert_int_equal(dmsec_tree_parse(buf, len, &u), DMSEC_OK);
    assert_true(dmsec_tree_equal(t, u));
    dmsec_tree_wipe_free(buf, len);
    dmsec_tree_free(u);
    /* Value size limit. */
    assert_int_equal(dmsec_tree_delete(t, "s", "./Big"), DMSEC_OK);
    assert_int_equal(dmsec_tree_count(t), 1);
    uint8_t *big = calloc(1, DMSEC_TREE_MAX_VALUE + 1);
    assert_non_null(big);
    assert_int_equal(
        dmsec_tree_add(t, "s", "./V", DMSEC_TREE_BIN, NULL, big, DMSEC_TREE_MAX_VALUE + 1),
        DMSEC_ERR_TOO_LARGE);
    assert_int_equal(dmsec_err_status(DMSEC_ERR_TOO_LARGE), 413);
    free(big);
    dmsec_tree_free(t);
}

/* ---- dump ---- */

static void dump_hides_secrets(void **state)
{
    (void)state;
    dmsec_tree_t *t = device_tree();
    set_chr(t, "./Vendor/Token", "tok\x01\"en");
    assert_int_equal(dmsec_tree_set_flags_local(t, "./Vendor/Token", DMSEC_TREE_SECRET), DMSEC_OK);
    set_chr(t, "./Vendor/Plain", "a\\b\n");
    char *text;
    assert_int_equal(dmsec_tree_dump(t, &text), DMSEC_OK);
    assert_null(strstr(text, SECRET_A));
    assert_null(strstr(text, SECRET_B));
    assert_null(strstr(text, "tok"));
    assert_non_null(strstr(text, "./DMAcc/A/AppAuth/CLCRED/AAuthSecret [bin] = ***\n"));
    assert_non_null(strstr(text, "./Vendor/Token [chr] = ***\n"));
    assert_non_null(strstr(text, "./Vendor/Plain [chr] = \"a\\\\b\\x0a\"\n"));
    assert_non_null(strstr(text, "./DevInfo/DevId [chr] = \"IMEI:493005100592800\"\n"));
    assert_non_null(strstr(text, ". [node] acl=\"Add=*&Get=*\"\n"));
    assert_non_null(strstr(text, "./DMAcc/A [node] acl=\"Add=" SRV_A));
    /* The nonce is not a secret: bin values are shown in hex. */
    assert_non_null(strstr(text, "CLCRED/AAuthData [bin] = hex:010203\n"));
    free(text);
    dmsec_tree_free(t);
}

struct walked {
    int nodes, secrets, stop_after;
    size_t nonce_len;
};

static int count_node(void *ctx, const char *uri, const dmsec_tree_info_t *n, int secret)
{
    struct walked *w = ctx;
    /* the root first */
    assert_true(w->nodes > 0 || !strcmp(uri, "."));
    w->nodes++;
    w->secrets += secret;
    if (secret)
        assert_true(strstr(uri, "/AAuthSecret") || !strcmp(uri, "./Vendor/Token"));
    if (!strcmp(uri, "./DMAcc/A/AppAuth/CLCRED/AAuthData")) {
        assert_int_equal(n->format, DMSEC_TREE_BIN);
        assert_memory_equal(n->value, "\x01\x02\x03", 3);
        w->nonce_len = n->value_len;
    }
    return w->stop_after && w->nodes == w->stop_after ? 42 : 0;
}

/* dmsec_tree_walk: every node once with its URI and view, secrets marked;
 * fn's non-zero stops the walk and is returned. */
static void walk_nodes(void **state)
{
    (void)state;
    dmsec_tree_t *t = device_tree();
    set_chr(t, "./Vendor/Token", "tok");
    assert_int_equal(dmsec_tree_set_flags_local(t, "./Vendor/Token", DMSEC_TREE_SECRET), DMSEC_OK);
    struct walked w = {0};
    assert_int_equal(dmsec_tree_walk(t, count_node, &w), 0);
    assert_int_equal((size_t)w.nodes, dmsec_tree_count(t));
    assert_true(w.secrets >= 3); /* two AAuthSecrets of account A, and Token */
    assert_int_equal(w.nonce_len, 3);
    struct walked stop = {.stop_after = 2};
    assert_int_equal(dmsec_tree_walk(t, count_node, &stop), 42);
    assert_int_equal(stop.nodes, 2);
    assert_int_equal(dmsec_tree_walk(NULL, count_node, &w), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_tree_walk(t, NULL, &w), DMSEC_ERR_INVALID_ARG);
    dmsec_tree_free(t);
}

/* ---- local calls ---- */

static void local_access(void **state)
{
    (void)state;
    dmsec_tree_t *t = dmsec_tree_new(NULL);
    assert_non_null(t);
    dmsec_tree_info_t info;
    assert_int_equal(dmsec_tree_get_local(t, ".", &info), DMSEC_OK);
    assert_string_equal(info.acl, DMSEC_TREE_ROOT_ACL);
    /* Default root: servers read, nothing more. */
    assert_int_equal(dmsec_tree_add(t, "s", "./X", DMSEC_TREE_CHR, NULL, "v", 1),
                     DMSEC_ERR_TREE_PERMISSION);
    set_chr(t, "./X/Y", "v");
    assert_int_equal(dmsec_tree_set_local(t, "./X", DMSEC_TREE_CHR, NULL, "v", 1),
                     DMSEC_ERR_TREE_NOT_ALLOWED);
    assert_int_equal(dmsec_tree_set_local(t, "./X/Y/Z", DMSEC_TREE_CHR, NULL, "v", 1),
                     DMSEC_ERR_TREE_NOT_ALLOWED);
    assert_int_equal(dmsec_tree_set_local(t, ".", DMSEC_TREE_CHR, NULL, "v", 1),
                     DMSEC_ERR_TREE_NOT_ALLOWED);
    assert_int_equal(dmsec_tree_set_local(t, "./X/Y", DMSEC_TREE_NODE, NULL, NULL, 0),
                     DMSEC_ERR_TREE_NOT_ALLOWED);
    assert_int_equal(dmsec_tree_set_local(t, "./X", DMSEC_TREE_NODE, NULL, NULL, 0), DMSEC_OK);
    assert_int_equal(dmsec_tree_set_local(t, "./X/Y", DMSEC_TREE_INT, "text/plain", "-5", 2),
                     DMSEC_OK);
    assert_int_equal(dmsec_tree_get_local(t, "X/Y", &info), DMSEC_OK);
    assert_int_equal(info.format, DMSEC_TREE_INT);
    assert_string_equal(info.type, "text/plain");
    assert_string_equal((const char *)info.value, "-5");
    assert_int_equal(dmsec_tree_set_local(t, "./X/T", DMSEC_TREE_CHR, "bad\ttype", "", 0),
                     DMSEC_ERR_TREE_FORMAT);
    assert_int_equal(dmsec_tree_set_flags_local(t, "./X", 8), DMSEC_ERR_INVALID_ARG);
    assert_int_equal(dmsec_tree_delete_local(t, "."), DMSEC_ERR_TREE_NOT_ALLOWED);
    assert_int_equal(dmsec_tree_delete_local(t, "./X"), DMSEC_OK);
    assert_int_equal(dmsec_tree_count(t), 1);
    dmsec_tree_format_t f;
    assert_int_equal(dmsec_tree_format_parse("b64", &f), DMSEC_OK);
    assert_int_equal(f, DMSEC_TREE_B64);
    assert_int_equal(dmsec_tree_format_parse("B64", &f), DMSEC_ERR_TREE_FORMAT);
    assert_null(dmsec_tree_format_name(DMSEC_TREE_FORMAT_COUNT_));
    dmsec_tree_free(t);
    dmsec_tree_free(NULL);
}

static const struct {
    int err;
    int status;
} status_rows[] = {
    {DMSEC_ERR_TREE_NOT_FOUND, 404},  {DMSEC_ERR_TREE_EXISTS, 418},
    {DMSEC_ERR_TREE_PERMISSION, 425}, {DMSEC_ERR_TREE_NOT_ALLOWED, 405},
    {DMSEC_ERR_TREE_FORMAT, 400},     {DMSEC_ERR_TREE_TOO_DEEP, 413},
    {DMSEC_ERR_TREE_TOO_MANY, 413},   {DMSEC_ERR_TREE_PATH, 400},
    {DMSEC_ERR_TREE_URI_LONG, 414},   {DMSEC_ERR_TREE_UNSUPPORTED, 406},
    {DMSEC_ERR_TREE_PARSE, 500},
};

static void statuses(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof status_rows / sizeof status_rows[0]; i++) {
        assert_int_equal(dmsec_err_status(status_rows[i].err), status_rows[i].status);
        assert_string_not_equal(dmsec_errname(status_rows[i].err), "DMSEC_ERR_UNKNOWN");
    }
}

/* Atomic's undo: a snapshot restores every node, value and count, and
 * the restored tree keeps working. */
static void snapshot_restore(void **state)
{
    (void)state;
    dmsec_tree_t *t = dmsec_tree_new("Get=*&Add=*&Replace=*&Delete=*");
    assert_non_null(t);
    assert_int_equal(dmsec_tree_set_local(t, "./A/x", DMSEC_TREE_CHR, NULL, "one", 3), DMSEC_OK);
    size_t count = dmsec_tree_count(t);
    dmsec_tree_t *snap = NULL;
    assert_int_equal(dmsec_tree_snapshot(t, &snap), DMSEC_OK);
    assert_true(dmsec_tree_equal(t, snap));
    assert_int_equal(dmsec_tree_set_local(t, "./A/x", DMSEC_TREE_CHR, NULL, "two", 3), DMSEC_OK);
    assert_int_equal(dmsec_tree_set_local(t, "./B/y", DMSEC_TREE_CHR, NULL, "new", 3), DMSEC_OK);
    assert_int_equal(dmsec_tree_delete_local(t, "./A"), DMSEC_OK);
    assert_false(dmsec_tree_equal(t, snap));
    dmsec_tree_restore(t, snap);
    assert_int_equal(dmsec_tree_count(t), count);
    dmsec_tree_info_t info;
    assert_int_equal(dmsec_tree_get_local(t, "./A/x", &info), DMSEC_OK);
    assert_int_equal(info.value_len, 3);
    assert_memory_equal(info.value, "one", 3);
    assert_int_equal(dmsec_tree_get_local(t, "./B/y", &info), DMSEC_ERR_TREE_NOT_FOUND);
    assert_int_equal(dmsec_tree_set_local(t, "./C", DMSEC_TREE_CHR, NULL, "c", 1), DMSEC_OK);
    /* an int, bool or b64 without a value is a format error, not a crash
     * (found by fuzz_mgmt: an Add with Format int and no Data) */
    assert_int_equal(dmsec_tree_set_local(t, "./I", DMSEC_TREE_INT, NULL, NULL, 0),
                     DMSEC_ERR_TREE_FORMAT);
    assert_int_equal(dmsec_tree_set_local(t, "./J", DMSEC_TREE_BOOL, NULL, NULL, 0),
                     DMSEC_ERR_TREE_FORMAT);
    dmsec_tree_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(acl_syntax),      cmocka_unit_test(acl_eval),
        cmocka_unit_test(acl_inheritance), cmocka_unit_test(uris),
        cmocka_unit_test(two_servers),     cmocka_unit_test(command_semantics),
        cmocka_unit_test(exec_commands),   cmocka_unit_test(round_trip),
        cmocka_unit_test(corruption),      cmocka_unit_test(crafted_bodies),
        cmocka_unit_test(limits),          cmocka_unit_test(dump_hides_secrets),
        cmocka_unit_test(walk_nodes),      cmocka_unit_test(local_access),
        cmocka_unit_test(statuses),        cmocka_unit_test(snapshot_restore),
    };
    return cmocka_run_group_tests_name("tree", tests, NULL, NULL);
}
