/*
 * bench_fixed.h - the fixed-body HTTP backend the benchmarks measure their
 * ceilings with: libmicrohttpd with a thread per connection (as
 * dmsec-server runs it) answering every request, whatever its method and
 * path, with the same 1,024 bytes as a SyncML DM answer; a request's body
 * is read and dropped. A hook may run before each answer (a durable write,
 * for a floor). Header-only (static functions), as bench_client.h.
 *
 * bench_server (its ceiling, and its floor with a durable write as the
 * hook) and bench_lb use it.
 */
#ifndef DMSEC_BENCH_FIXED_H
#define DMSEC_BENCH_FIXED_H

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

/* What runs before each answer: before(url) returns 0 to answer, anything
 * else to drop the connection. */
struct bench_fixed_hook {
    int (*before)(const char *url);
};

static char bench_fixed_body[1024];

/* The MHD handler; cls is the hook or NULL. */
static enum MHD_Result bench_fixed_answer(void *cls, struct MHD_Connection *c, const char *url,
                                          const char *method, const char *version,
                                          const char *upload, size_t *upload_size, void **con_cls)
{
    const struct bench_fixed_hook *hook = cls;
    (void)method;
    (void)version;
    (void)upload;
    if (*con_cls == NULL) {
        *con_cls = c; /* first call: headers only */
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0; /* the request body is read and dropped */
        return MHD_YES;
    }
    if (hook && hook->before(url))
        return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(
        sizeof bench_fixed_body, bench_fixed_body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/vnd.syncml.dm+xml");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* The backend on 127.0.0.1:port (hook NULL: none), or NULL when it cannot
 * listen. Stop it with MHD_stop_daemon. */
static struct MHD_Daemon *bench_fixed_start(uint16_t port, const struct bench_fixed_hook *hook)
{
    memset(bench_fixed_body, 'x', sizeof bench_fixed_body);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, port,
                            NULL, NULL, bench_fixed_answer, (void *)hook, MHD_OPTION_SOCK_ADDR,
                            (const struct sockaddr *)&sa, MHD_OPTION_END);
}

#endif
