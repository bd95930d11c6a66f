/*
 * store_fixture.h - what the store tests (test_store, test_store_mgmt)
 * share: a temporary directory for their files (the group's setup and
 * teardown), paths in it, a store opened on a file there, and a plain
 * SQLite connection to look at (or damage) a store file from outside.
 * Header-only: each test is a program of its own. Include after cmocka.h.
 */
#ifndef DMSEC_TEST_STORE_FIXTURE_H
#define DMSEC_TEST_STORE_FIXTURE_H

#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dmsec/errors.h"
#include "dmsec/store.h"
#include "store_sqlite.h"

static char tmp_dir[64];

/* A cmocka group setup: makes tmp_dir, /tmp/dmsec-store-XXXXXX. */
static inline int make_dir(void **state)
{
    (void)state;
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/dmsec-store-XXXXXX");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

/* A cmocka group teardown: removes tmp_dir and the files in it. */
static inline int remove_dir(void **state)
{
    (void)state;
    DIR *d = opendir(tmp_dir);
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", tmp_dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    return rmdir(tmp_dir);
}

static inline void path_of(const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", tmp_dir, name);
    assert_true(n > 0 && (size_t)n < cap);
}

/* The store in the file name of tmp_dir (made when it is not there), by
 * its sqlite: URI. */
static inline dmsec_store_t *store_open(const char *name)
{
    char path[256];
    char uri[300];
    path_of(name, path, sizeof path);
    snprintf(uri, sizeof uri, "sqlite:%s", path);
    dmsec_store_t *st = NULL;
    assert_int_equal(dmsec_store_open(uri, &st), DMSEC_OK);
    assert_non_null(st);
    return st;
}

/* A plain SQLite connection on a store file, to look from outside. */
static inline sqlite3 *raw_open(const char *name)
{
    char path[256];
    path_of(name, path, sizeof path);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                     SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static inline void raw_exec(sqlite3 *db, const char *sql)
{
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
}

/* The first column of the first row of sql, as text. */
static inline void raw_text(sqlite3 *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    snprintf(out, cap, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
}

/* A store file name in tmp_dir at schema version version, as the store's
 * own first migrations (dm_store_migrations) made it, holding rows (SQL
 * statements, NULL-terminated): its plain SQLite connection, for the
 * caller to close. */
static inline sqlite3 *old_store(const char *name, int version, const char *const *rows)
{
    sqlite3 *db = raw_open(name);
    raw_exec(db, "BEGIN");
    for (int i = 0; i < version; i++)
        raw_exec(db, dm_store_migrations[i]);
    for (; rows && *rows; rows++)
        raw_exec(db, *rows);
    raw_exec(db, "COMMIT");
    char text[16];
    raw_text(db, "PRAGMA user_version", text, sizeof text);
    assert_int_equal(atoi(text), version);
    return db;
}

/* Asserts that raw_text of sql is want. */
static inline void raw_is(sqlite3 *db, const char *sql, const char *want)
{
    char text[256];
    raw_text(db, sql, text, sizeof text);
    assert_string_equal(text, want);
}

#endif
