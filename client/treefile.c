/* treefile.c - the DM tree file: checked load, atomic replace. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "dmsec/errors.h"

/* Larger than any valid tree file (values are capped at 16 MiB in all). */
#define TREEFILE_MAX ((uint64_t)67108864)

int treefile_load(const char *path, dmsec_tree_t **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cli_err("cannot open the tree file %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > TREEFILE_MAX) {
        cli_err("%s: not a regular tree file of a sane size", path);
        close(fd);
        return -1;
    }
    size_t len = (size_t)sb.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        cli_err("out of memory");
        close(fd);
        return -1;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    int rc = got == len ? dmsec_tree_parse(buf, len, out) : DMSEC_ERR_TREE_PARSE;
    dmsec_tree_wipe_free(buf, len);
    if (rc) {
        cli_err("%s: corrupt or unreadable tree file (%s); refusing to run", path,
                dmsec_errname(rc));
        return -1;
    }
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int sync_dir(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int treefile_save(const char *path, const dmsec_tree_t *t)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = dmsec_tree_serialize(t, &buf, &len);
    if (rc) {
        cli_err("cannot serialise the tree: %s", dmsec_errname(rc));
        return -1;
    }
    char tmp[PATH_MAX];
    int k = snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (k < 0 || (size_t)k >= sizeof tmp) {
        dmsec_tree_wipe_free(buf, len);
        cli_err("tree file path too long");
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        dmsec_tree_wipe_free(buf, len);
        cli_err("cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    int bad = write_all(fd, buf, len) != 0 || fsync(fd) != 0;
    bad |= close(fd) != 0;
    dmsec_tree_wipe_free(buf, len);
    if (bad || rename(tmp, path) != 0) {
        cli_err("cannot replace %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (sync_dir(path) != 0) {
        cli_err("cannot sync the directory of %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
