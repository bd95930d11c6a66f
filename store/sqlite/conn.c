/*
 * conn.c - opening and closing the SQLite store (store_sqlite.h): the file
 * created owner-only, the connection's flags, and the state every handle
 * of this process on one file shares (struct sfile, found by device and
 * inode, counted).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dmsec/errors.h"
#include "dmsec/store.h"
#include "store_sqlite.h"

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sfile *reg;

/* The shared state of the file of db, found or added (refs counted). */
static int sfile_get(sqlite3 *db, struct sfile **out)
{
    const char *file = sqlite3_db_filename(db, "main");
    struct stat sb;
    memset(&sb, 0, sizeof sb);
    int mem = !file || !*file;
    if (!mem && stat(file, &sb) != 0)
        return DMSEC_ERR_STORE_IO;
    pthread_mutex_lock(&reg_mu);
    for (struct sfile *f = reg; f && !mem; f = f->next) {
        if (f->dev == sb.st_dev && f->ino == sb.st_ino) {
            f->refs++;
            pthread_mutex_unlock(&reg_mu);
            *out = f;
            return DMSEC_OK;
        }
    }
    struct sfile *f = calloc(1, sizeof *f);
    int rc = f ? DMSEC_OK : DMSEC_ERR_NO_MEMORY;
    if (!rc && !mem) {
        size_t n = strlen(file);
        f->wal_path = malloc(n + sizeof "-wal");
        f->dir_path = malloc(n + 2);
        if (f->wal_path && f->dir_path) {
            memcpy(f->wal_path, file, n);
            memcpy(f->wal_path + n, "-wal", sizeof "-wal");
            memcpy(f->dir_path, file, n + 1);
            char *slash = strrchr(f->dir_path, '/');
            if (slash == f->dir_path)
                slash[1] = '\0';
            else if (slash)
                *slash = '\0';
            else
                memcpy(f->dir_path, ".", 2);
        } else {
            rc = DMSEC_ERR_NO_MEMORY;
        }
    }
    pthread_condattr_t ca;
    if (!rc && pthread_condattr_init(&ca) != 0)
        rc = DMSEC_ERR_NO_MEMORY;
    if (!rc) {
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_mutex_init(&f->mu, NULL);
        pthread_cond_init(&f->synced_cv, NULL);
        pthread_cond_init(&f->writer_cv, &ca);
        pthread_cond_init(&f->group_cv, NULL);
        pthread_condattr_destroy(&ca);
        f->dev = sb.st_dev;
        f->ino = sb.st_ino;
        f->refs = 1;
        if (!mem) {
            f->next = reg;
            reg = f;
        }
        *out = f;
    } else if (f) {
        free(f->wal_path);
        free(f->dir_path);
        free(f);
    }
    pthread_mutex_unlock(&reg_mu);
    return rc;
}

/* Closes a handle's connection and frees it (not its file's state). */
static void handle_free(dmsec_store_t *st)
{
    dm_sq_tx_abort(st); /* an open transaction is rolled back */
    dm_sq_finalize_all(st);
    sqlite3_close_v2(st->db);
    free(st);
}

static void sfile_put(struct sfile *sf)
{
    if (!sf)
        return;
    pthread_mutex_lock(&reg_mu);
    if (--sf->refs) {
        pthread_mutex_unlock(&reg_mu);
        return;
    }
    for (struct sfile **p = &reg; *p; p = &(*p)->next) {
        if (*p == sf) {
            *p = sf->next;
            break;
        }
    }
    pthread_mutex_unlock(&reg_mu);
    if (sf->group_st)
        handle_free(sf->group_st);
    pthread_mutex_destroy(&sf->mu);
    pthread_cond_destroy(&sf->synced_cv);
    pthread_cond_destroy(&sf->writer_cv);
    pthread_cond_destroy(&sf->group_cv);
    free(sf->wal_path);
    free(sf->dir_path);
    free(sf);
}

/* Creates a missing store file owner-only before SQLite sees it (SQLite
 * gives its -wal and -shm files the mode of the database). An existing file
 * is left alone: close() on any descriptor of a file drops every POSIX lock
 * this process holds on it, SQLite's included, so the new file is made
 * under a temporary name, closed, and only then linked into place. */
static int create_private(const char *path)
{
    struct stat sb;
    if (!strcmp(path, ":memory:") || stat(path, &sb) == 0)
        return DMSEC_OK;
    size_t n = strlen(path);
    char *tmp = malloc(n + sizeof ".XXXXXX");
    if (!tmp)
        return DMSEC_ERR_NO_MEMORY;
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".XXXXXX", sizeof ".XXXXXX");
    int rc = DMSEC_OK;
    int fd = mkstemp(tmp); /* mode 0600 */
    if (fd < 0) {
        rc = DMSEC_ERR_STORE_IO;
    } else {
        close(fd);
        if (link(tmp, path) != 0 && errno != EEXIST) {
            /* No hard links here: create in place instead. */
            fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
            if (fd >= 0)
                close(fd);
            else if (errno != EEXIST)
                rc = DMSEC_ERR_STORE_IO;
        }
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

/* SQLite counts its allocations under one global mutex unless told not
 * to: with many request threads that mutex is the busiest lock of the
 * server. Only possible before SQLite initialises (else a harmless no-op). */
static pthread_once_t sqlite_config_once = PTHREAD_ONCE_INIT;

static void sqlite_config(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
/* path: a file name, or ":memory:"; flags checked by the contract. */
int dm_sqlite_open(const char *path, unsigned flags, dmsec_store_t **out)
{
    pthread_once(&sqlite_config_once, sqlite_config);
    int rc = DMSEC_OK;
    /* This SQLite may read "file:..." names as URIs with options of their
     * own; "./" keeps such a relative name a plain file name. */
    char *fixed = NULL;
    if (!strncmp(path, "file:", 5)) {
        size_t n = strlen(path);
        fixed = malloc(n + 3);
        if (!fixed)
            return DMSEC_ERR_NO_MEMORY;
        memcpy(fixed, "./", 2);
        memcpy(fixed + 2, path, n + 1);
        path = fixed;
    }
    dmsec_store_t *st = calloc(1, sizeof *st);
    if (!st) {
        free(fixed);
        return DMSEC_ERR_NO_MEMORY;
    }
    int existing = (flags & DMSEC_STORE_OPEN_EXISTING) != 0;
    int read_only = (flags & DMSEC_STORE_OPEN_READ_ONLY) != 0;
    struct stat sb;
    if (existing && (!strcmp(path, ":memory:") || stat(path, &sb) != 0))
        rc = DMSEC_ERR_STORE_NOT_FOUND;
    else if (existing && (!S_ISREG(sb.st_mode) || sb.st_size == 0))
        rc = DMSEC_ERR_STORE_CORRUPT; /* a directory, a pipe, an empty file */
    else if (!existing)
        rc = create_private(path);
    if (!rc) {
        int oflags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
        oflags |= read_only ? SQLITE_OPEN_READONLY
                            : SQLITE_OPEN_READWRITE | (existing ? 0 : SQLITE_OPEN_CREATE);
        rc = dm_sq_err(sqlite3_open_v2(path, &st->db, oflags, NULL));
    }
    free(fixed);
    if (!rc)
        rc = read_only ? dm_store_schema_check(st->db) : dm_store_schema_setup(st->db);
    if (!rc)
        rc = sfile_get(st->db, &st->sf);
    if (rc) {
        dmsec_store_close(st);
        return rc;
    }
    *out = st;
    return DMSEC_OK;
}

int dm_sq_group_open(dmsec_store_t *st, dmsec_store_t **out)
{
    const char *file = sqlite3_db_filename(st->db, "main"); /* a full path */
    if (!file || !*file)
        return DMSEC_ERR_INVALID_ARG;
    dmsec_store_t *g = calloc(1, sizeof *g);
    if (!g)
        return DMSEC_ERR_NO_MEMORY;
    int rc = dm_sq_err(sqlite3_open_v2(
        file, &g->db, SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE | SQLITE_OPEN_READWRITE, NULL));
    if (!rc)
        rc = dm_store_schema_setup(g->db);
    if (rc) {
        handle_free(g);
        return rc;
    }
    g->sf = st->sf;
    *out = g;
    return DMSEC_OK;
}

void dmsec_store_close(dmsec_store_t *st)
{
    if (!st)
        return;
    struct sfile *sf = st->sf;
    handle_free(st);
    sfile_put(sf);
}
