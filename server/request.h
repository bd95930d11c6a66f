/*
 * request.h - the pure string steps of the server's request path, apart
 * from libmicrohttpd so that they can be tested (and fuzzed) alone:
 * the declared Content-Length, the Host header that RespURIs are built
 * from, and the routing of /dm/s/<token> URLs to open sessions. The
 * Content-Type to codec mapping is dmsec_codec_from_content_type.
 */
#ifndef DMSEC_SERVER_REQUEST_H
#define DMSEC_SERVER_REQUEST_H

#include <stddef.h>

/* The path of a session's RespURI: REQ_SESSION_PREFIX then its token,
 * REQ_TOKEN_LEN lowercase hex digits. */
#define REQ_SESSION_PREFIX "/dm/s/"
#define REQ_TOKEN_LEN 32

/* A Content-Length value: digits only (1*DIGIT, as RFC 9110 has it; no
 * sign, no spaces). 0 with *out (ULLONG_MAX for a value beyond it), or -1
 * when it is not a number. */
int req_content_length(const char *value, unsigned long long *out);

/* 1 when a Host header value may go into a RespURI: a name or IPv4
 * address (letters, digits, '.', '-', '_') or a bracketed IPv6 address,
 * then optionally ':' and a port from 1 to 65535; under 200 bytes. */
int req_host_ok(const char *host);

/* The RespURI of a session: public_url (its trailing '/'s dropped) when
 * non-empty, else http(s)://HOST with HOST the Host header when
 * req_host_ok, or fallback_host:port; then REQ_SESSION_PREFIX and token.
 * 0, or -1 when it does not fit cap bytes (out is then empty). */
int req_resp_uri(char *out, size_t cap, const char *public_url, int tls, const char *host,
                 const char *fallback_host, unsigned port, const char *token);

/* Routes a request URL: 1 for a session URL with a well-formed token
 * (copied into token, REQ_TOKEN_LEN + 1 bytes), 0 for any other URL (a new
 * session), -1 for a session URL whose token is malformed. */
int req_session_token(const char *url, char *token);

#endif
