/*
 * peer_util.h - what the scripted peers of the integration tests (attacker,
 * mitm, loadpeer, testdevice) share: whole files, the capture format of
 * testdevice, sockets and HTTP heads, the SyncHdr Status of an answer.
 */
#ifndef DMSEC_PEER_UTIL_H
#define DMSEC_PEER_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "dmsec/codec.h"

/* The whole file at path, malloc'd with a NUL after its *len bytes; NULL
 * when it cannot be read. */
uint8_t *peer_read_file(const char *path, size_t *len);

/* Writes n bytes to path (created or truncated); 0, or -1 on error. */
int peer_write_file(const char *path, const void *p, size_t n);

/* A captured package (testdevice --capture / make-pkg1): a line with its
 * content type, a line with its x-syncml-hmac header (empty without one),
 * then the body. */
struct peer_capture {
    char ct[256];
    char hmac[512];
    uint8_t *body; /* malloc'd */
    size_t len;
};

/* 0, or -1 when path cannot be written. */
int peer_capture_save(const char *path, const char *ct, const char *hmac, const uint8_t *body,
                      size_t len);

/* 0, or -1 when path cannot be read or holds no capture (no two lines). */
int peer_capture_load(const char *path, struct peer_capture *c);

/* Sends all n bytes (no SIGPIPE, EINTR retried); 0, or -1 on error. */
int peer_send_all(int fd, const void *p, size_t n);

/* A TCP connection to host:port; -1 on error. */
int peer_dial(const char *host, const char *port);

/* Splits "HOST:PORT" in place at its last colon; 0, or -1 when malformed. */
int peer_split_hostport(char *s, const char **host, const char **port);

/* A socket listening on 127.0.0.1:port; -1 on error (errno set). */
int peer_listen(const char *port);

/* Accepts connections on lfd forever, each handed to fn on a detached
 * thread (its argument: the connection's fd, as intptr_t). Returns 1 when
 * accept fails for good. */
int peer_accept_loop(int lfd, void *(*fn)(void *));

/* The value of header name in an HTTP head (CRLF lines, NUL-terminated),
 * copied to out (truncated to cap); 0 when found, -1 when not. */
int peer_header(const char *head, const char *name, char *out, size_t cap);

/* The Status a message gives to the SyncHdr (CmdRef 0), or NULL (also for
 * m NULL). */
const dmsec_cmd_t *peer_synchdr_status(const dmsec_msg_t *m);

#endif
