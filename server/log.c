/* Log lines on stderr: UTC timestamp, level, message. Each line goes out
 * in one write(2), so lines of different threads do not interleave. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

static atomic_int debug_on;

void log_set_debug(int on)
{
    atomic_store(&debug_on, on);
}

int log_debug_enabled(void)
{
    return atomic_load(&debug_on);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if (level == LOG_DEBUG && !log_debug_enabled())
        return;
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, names[level]);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2; /* cut long lines, keep the newline */
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void log_clean(char *dst, size_t cap, const char *src)
{
    if (!cap)
        return;
    size_t j = 0;
    for (const char *p = src ? src : ""; *p && j + 1 < cap; p++) {
        unsigned char ch = (unsigned char)*p;
        int plain = ch > 0x20 && ch < 0x7f && ch != '"' && ch != '\\';
        if (plain)
            dst[j++] = *p;
        else
            dst[j++] = '?';
    }
    dst[j] = '\0';
}
