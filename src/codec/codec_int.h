/*
 * codec_int.h - what the XML and WBXML codecs share: the element table
 * (ids are the WBXML page << 8 | token), the arena, the builder that turns a
 * stream of start/text/end events into a dmsec_msg_t (so both decoders
 * enforce the same structure), the walker that turns a message into the same
 * kind of events for the writers, and a growable output buffer.
 */
#ifndef DMSEC_CODEC_INT_H
#define DMSEC_CODEC_INT_H

#include <stddef.h>
#include <stdint.h>

#include "dmsec/codec.h"

/* Element ids: WBXML code page in the high byte, tag token in the low. */
enum el {
    EL_NONE = 0,
    /* code page 0: SyncML 1.2 */
    EL_ADD = 0x05,
    EL_ALERT = 0x06,
    EL_ARCHIVE = 0x07,
    EL_ATOMIC = 0x08,
    EL_CHAL = 0x09,
    EL_CMD = 0x0A,
    EL_CMDID = 0x0B,
    EL_CMDREF = 0x0C,
    EL_COPY = 0x0D,
    EL_CRED = 0x0E,
    EL_DATA = 0x0F,
    EL_DELETE = 0x10,
    EL_EXEC = 0x11,
    EL_FINAL = 0x12,
    EL_GET = 0x13,
    EL_ITEM = 0x14,
    EL_LANG = 0x15,
    EL_LOCNAME = 0x16,
    EL_LOCURI = 0x17,
    EL_MAP = 0x18,
    EL_MAPITEM = 0x19,
    EL_META = 0x1A,
    EL_MSGID = 0x1B,
    EL_MSGREF = 0x1C,
    EL_NORESP = 0x1D,
    EL_NORESULTS = 0x1E,
    EL_PUT = 0x1F,
    EL_REPLACE = 0x20,
    EL_RESPURI = 0x21,
    EL_RESULTS = 0x22,
    EL_SEARCH = 0x23,
    EL_SEQUENCE = 0x24,
    EL_SESSIONID = 0x25,
    EL_SFTDEL = 0x26,
    EL_SOURCE = 0x27,
    EL_SOURCEREF = 0x28,
    EL_STATUS = 0x29,
    EL_SYNC = 0x2A,
    EL_SYNCBODY = 0x2B,
    EL_SYNCHDR = 0x2C,
    EL_SYNCML = 0x2D,
    EL_TARGET = 0x2E,
    EL_TARGETREF = 0x2F,
    EL_VERDTD = 0x31,
    EL_VERPROTO = 0x32,
    EL_NUMBEROFCHANGES = 0x33,
    EL_MOREDATA = 0x34,
    EL_FIELD = 0x35,
    EL_FILTER = 0x36,
    EL_RECORD = 0x37,
    EL_FILTERTYPE = 0x38,
    EL_SOURCEPARENT = 0x39,
    EL_TARGETPARENT = 0x3A,
    EL_MOVE = 0x3B,
    EL_CORRELATOR = 0x3C,
    /* code page 1: MetInf 1.2; token = 0x105 + dmsec_metinf_t except MetInf */
    EL_MI_FIRST = 0x105,
    EL_MI_METINF = 0x10E,
    EL_MI_LAST = 0x116,
};

#define EL_PAGE(e) ((e) >> 8)
#define EL_TOKEN(e) ((e)&0xFF)

/* The element with this name on page (0 or 1), or EL_NONE. */
int el_by_name(int page, const char *name);
/* Its name, or NULL for an id not in the tables. */
const char *el_name(int el);
/* 1 when (page, token) names an element. */
int el_known(int el);

/* MetInf element <-> dmsec_metinf_t (the MetInf root element has no kind). */
int el_from_metinf(dmsec_metinf_t kind);
int el_to_metinf(int el, dmsec_metinf_t *kind);
int metinf_is_container(dmsec_metinf_t kind);

/* Command type <-> element (EL_NONE / 0 for elements that are no DM command). */
int cmd_type_el(dmsec_cmd_type_t type);
int el_to_cmd_type(int el, dmsec_cmd_type_t *type);
/* The child elements a command type may hold besides nested commands, as a
 * mask of 1 << token (all on code page 0). */
uint64_t cmd_fields(dmsec_cmd_type_t type);
#define EL_BIT(el) (1ull << (EL_TOKEN(el) & 63))

/* ---- arena ---- */
struct arena;
struct arena *arena_new(void);
void arena_free(struct arena *a);
/* Zeroed memory, aligned for any object; NULL when out of memory. */
void *arena_alloc(struct arena *a, size_t n);
/* Arena copy of bytes[0..len) plus a NUL. */
char *arena_memdup(struct arena *a, const void *bytes, size_t len);

/* ---- text checks ---- */
/* 0 when s[0..len) is UTF-8 (shortest forms, no surrogates, <= U+10FFFF);
 * with xml_chars also only characters XML 1.0 allows (no C0 controls other
 * than tab, LF, CR; no U+FFFE/U+FFFF). DMSEC_ERR_CODEC_UTF8 or _BAD_CHAR. */
int utf8_check(const uint8_t *s, size_t len, int xml_chars);

/* ---- builder: events -> model ---- */
struct builder;
struct builder *builder_new(const dmsec_codec_limits_t *limits);
/* Frees the builder and any message still under construction. */
void builder_free(struct builder *b);
int builder_start(struct builder *b, int el);
/* A piece of the current element's text; opaque for WBXML OPAQUE or an XML
 * CDATA section. */
int builder_text(struct builder *b, const void *bytes, size_t len, int opaque);
int builder_end(struct builder *b);
/* The element whose children are being read (EL_NONE at top level). */
int builder_parent(const struct builder *b);
/* After the root has ended: validates and hands over the message. */
int builder_finish(struct builder *b, dmsec_msg_t **out);
/* The effective limits. */
const dmsec_codec_limits_t *builder_limits(const struct builder *b);

/* ---- walker: model -> events ---- */
struct emitter {
    void *ctx;
    int (*start)(void *ctx, int el);
    int (*text)(void *ctx, const char *bytes, size_t len, int opaque);
    int (*end)(void *ctx, int el);
};
int walk_msg(const dmsec_msg_t *msg, const struct emitter *em);

/* ---- output buffer ---- */
struct obuf {
    uint8_t *p;
    size_t len;
    size_t cap;
    int err; /* sticky: first failure */
};
void ob_put(struct obuf *o, const void *bytes, size_t n);
void ob_byte(struct obuf *o, uint8_t c);
void ob_str(struct obuf *o, const char *s);
/* Hands the bytes to the caller (or frees them on error) and returns err. */
int ob_finish(struct obuf *o, uint8_t **out, size_t *out_len);

#define CODEC_DEFAULT_MAX_SIZE ((size_t)4 << 20)
#define CODEC_DEFAULT_MAX_DEPTH 32
#define CODEC_DEFAULT_MAX_ELEMENTS 100000
#define CODEC_DEFAULT_MAX_TEXT ((size_t)1 << 20)

#endif
