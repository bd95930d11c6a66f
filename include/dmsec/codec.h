/*
 * dmsec/codec.h - the SyncML DM message model and its two codecs:
 * XML (parsed with libexpat) and WBXML 1.2 (own encoder and decoder,
 * SyncML 1.2 code page 0 and MetInf 1.2 code page 1).
 *
 * Ownership, for every pointer in this header:
 * - A dmsec_msg_t owns every string, Data buffer, list node and nested
 *   struct reachable from it. They live in one arena inside the message and
 *   are released together by dmsec_msg_free(); nothing reachable from a
 *   message is ever freed on its own. Callers read the structs directly.
 * - The dmsec_msg_* / dmsec_cmd_* / dmsec_meta_* helpers copy every string
 *   and byte buffer they are given into the message's arena; the caller keeps
 *   its own arguments. Pointers they return are borrowed from the message and
 *   stay valid until dmsec_msg_free().
 * - A caller that sets a field by hand must point it at memory that outlives
 *   the message (or at a copy made with dmsec_msg_strdup / dmsec_msg_data).
 * - Decoders read the input buffer only during the call (borrowed) and hand
 *   back a new message in *out that the caller frees with dmsec_msg_free().
 *   On error *out is NULL.
 * - Encoders return a malloc'd buffer in *out that the caller frees with
 *   free(); on error *out is NULL.
 * - Strings returned by dmsec_cmd_name, dmsec_metinf_name and
 *   dmsec_codec_content_type are static.
 *
 * Absent optional elements are NULL pointers (strings, Data, Meta, Cred,
 * Target, ...). An element present but empty is an empty string "" or an
 * empty list. Element order within lists (commands, items, MetInf fields,
 * TargetRef/SourceRef) is kept as received; the writers emit the other
 * children of an element in SyncML DTD order.
 */
#ifndef DMSEC_CODEC_H
#define DMSEC_CODEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Data content: text, or opaque bytes (WBXML OPAQUE; written as a CDATA
 * section in XML, and a CDATA section read from XML sets the flag). bytes
 * is always followed by a NUL byte not counted in len, so text Data can be
 * used as a C string. Base64 Data in XML stays base64 text, as given. */
typedef struct dmsec_data {
    char *bytes;
    size_t len;
    int opaque;
} dmsec_data_t;

/* The MetInf elements (OMA SyncML MetaInfo 1.2). ANCHOR and MEM are
 * containers (children: LAST/NEXT; SHAREDMEM/FREEMEM/FREEID); the others
 * hold text. */
typedef enum dmsec_metinf {
    DMSEC_MI_ANCHOR,
    DMSEC_MI_EMI,
    DMSEC_MI_FORMAT,
    DMSEC_MI_FREEID,
    DMSEC_MI_FREEMEM,
    DMSEC_MI_LAST,
    DMSEC_MI_MARK,
    DMSEC_MI_MAXMSGSIZE,
    DMSEC_MI_MEM,
    DMSEC_MI_NEXT,
    DMSEC_MI_NEXTNONCE,
    DMSEC_MI_SHAREDMEM,
    DMSEC_MI_SIZE,
    DMSEC_MI_TYPE,
    DMSEC_MI_VERSION,
    DMSEC_MI_MAXOBJSIZE,
    DMSEC_MI_FIELDLEVEL,
    DMSEC_MI_COUNT_
} dmsec_metinf_t;

/* One MetInf element. value is used by text elements, children by
 * containers (ANCHOR, MEM). */
typedef struct dmsec_mi {
    struct dmsec_mi *next;
    dmsec_metinf_t kind;
    dmsec_data_t value;
    struct dmsec_mi *children;
} dmsec_mi_t;

/* A Meta element: its MetInf fields in order received. */
typedef struct dmsec_meta {
    dmsec_mi_t *fields;
} dmsec_meta_t;

/* Target, Source, SourceParent, TargetParent. uri is required. */
typedef struct dmsec_loc {
    char *uri;
    char *name;
} dmsec_loc_t;

/* Cred: Meta (Type, Format) and Data (required). */
typedef struct dmsec_cred {
    dmsec_meta_t *meta;
    dmsec_data_t *data;
} dmsec_cred_t;

/* Chal: Meta (Type, Format, NextNonce). */
typedef struct dmsec_chal {
    dmsec_meta_t *meta;
} dmsec_chal_t;

/* A list of strings (Status/Results TargetRef and SourceRef). */
typedef struct dmsec_strlist {
    struct dmsec_strlist *next;
    char *s;
} dmsec_strlist_t;

typedef struct dmsec_item {
    struct dmsec_item *next;
    dmsec_loc_t *target;
    dmsec_loc_t *source;
    dmsec_loc_t *source_parent;
    dmsec_loc_t *target_parent;
    dmsec_meta_t *meta;
    dmsec_data_t *data;
    int more_data;
} dmsec_item_t;

typedef enum dmsec_cmd_type {
    DMSEC_CMD_ADD,
    DMSEC_CMD_ALERT,
    DMSEC_CMD_ATOMIC,
    DMSEC_CMD_COPY,
    DMSEC_CMD_DELETE,
    DMSEC_CMD_EXEC,
    DMSEC_CMD_GET,
    DMSEC_CMD_REPLACE,
    DMSEC_CMD_RESULTS,
    DMSEC_CMD_SEQUENCE,
    DMSEC_CMD_STATUS,
    DMSEC_CMD_COUNT_
} dmsec_cmd_type_t;

/* One command of SyncBody (or of a Sequence/Atomic). Each type uses the
 * fields its DTD allows; the others stay NULL/0:
 *   Status:  cmd_id msg_ref cmd_ref cmd target_refs source_refs cred chal
 *            data items (cmd, data and cmd_ref required; cmd_ref may be
 *            absent only when cmd is "SyncHdr" and msg_ref is set, as deployed
 *            clients write the SyncHdr's Status)
 *   Results: cmd_id msg_ref cmd_ref meta target_refs source_refs items
 *   Alert:   cmd_id no_resp cred data correlator items
 *   Add, Replace, Delete, Copy: cmd_id no_resp cred meta items
 *   Get:     cmd_id no_resp lang cred meta items
 *   Exec:    cmd_id no_resp cred meta correlator items
 *   Sequence, Atomic: cmd_id no_resp meta children (nested commands)
 */
typedef struct dmsec_cmd {
    struct dmsec_cmd *next;
    dmsec_cmd_type_t type;
    char *cmd_id;
    char *msg_ref;
    char *cmd_ref;
    char *cmd;
    int no_resp;
    char *lang;
    dmsec_strlist_t *target_refs;
    dmsec_strlist_t *source_refs;
    dmsec_cred_t *cred;
    dmsec_chal_t *chal;
    dmsec_meta_t *meta;
    dmsec_data_t *data;
    char *correlator;
    dmsec_item_t *items;
    struct dmsec_cmd *children;
} dmsec_cmd_t;

/* SyncHdr. ver_dtd, ver_proto, session_id, msg_id, target, source are
 * required. */
typedef struct dmsec_hdr {
    char *ver_dtd;
    char *ver_proto;
    char *session_id;
    char *msg_id;
    dmsec_loc_t *target;
    dmsec_loc_t *source;
    char *resp_uri;
    int no_resp;
    dmsec_cred_t *cred;
    dmsec_meta_t *meta;
} dmsec_hdr_t;

typedef struct dmsec_body {
    dmsec_cmd_t *cmds;
    int final;
} dmsec_body_t;

typedef struct dmsec_msg {
    dmsec_hdr_t hdr;
    dmsec_body_t body;
    unsigned last_cmd_id; /* highest CmdID handed out by dmsec_msg_add_cmd */
    void *arena_;         /* private */
} dmsec_msg_t;

/* Decoder limits; 0 in a field means its default (shown). */
typedef struct dmsec_codec_limits {
    size_t max_size;     /* input bytes: 4 MiB */
    size_t max_depth;    /* element nesting: 32 */
    size_t max_elements; /* elements in the document: 100000 */
    size_t max_text;     /* bytes of one element's text or Data: 1 MiB */
} dmsec_codec_limits_t;

typedef enum dmsec_codec { DMSEC_CODEC_XML, DMSEC_CODEC_WBXML } dmsec_codec_t;

/* ---- decoding and encoding ---- */

/* Decodes a SyncML document. limits may be NULL for the defaults. Errors:
 * DMSEC_ERR_CODEC_* (each bad-input kind has its own code), DMSEC_ERR_NO_MEMORY,
 * DMSEC_ERR_INVALID_ARG. The XML decoder accepts the SyncML 1.2 and 1.1
 * namespaces and no namespace; a DOCTYPE is tolerated but never loaded, and
 * an internal subset or an entity declaration is refused. The WBXML decoder
 * accepts WBXML 1.1-1.3 with the SyncML 1.2 or 1.1 public id (as a number or
 * a string-table reference) and charset UTF-8. */
int dmsec_xml_decode(const uint8_t *buf, size_t len, const dmsec_codec_limits_t *limits,
                     dmsec_msg_t **out);
int dmsec_wbxml_decode(const uint8_t *buf, size_t len, const dmsec_codec_limits_t *limits,
                       dmsec_msg_t **out);
int dmsec_msg_decode(dmsec_codec_t codec, const uint8_t *buf, size_t len,
                     const dmsec_codec_limits_t *limits, dmsec_msg_t **out);

/* 1 when buf[0..len) is UTF-8 as the codecs read it (shortest forms, no
 * surrogates, at most U+10FFFF; NUL and other controls allowed), else 0.
 * For tools that show bytes as text when they are text. */
int dmsec_utf8_valid(const uint8_t *buf, size_t len);

/* Encodes msg (which must pass dmsec_msg_validate). XML: compact, UTF-8,
 * no whitespace between elements. WBXML: version 1.2, public id 0x1201 (0x0FD3
 * when VerDTD is "1.1"), UTF-8, no string table, inline strings, OPAQUE for
 * opaque Data. DMSEC_ERR_CODEC_BINARY when text cannot be written (a NUL in
 * text Data, or opaque bytes that are not XML text in the XML writer). */
int dmsec_xml_encode(const dmsec_msg_t *msg, uint8_t **out, size_t *out_len);
int dmsec_wbxml_encode(const dmsec_msg_t *msg, uint8_t **out, size_t *out_len);
int dmsec_msg_encode(dmsec_codec_t codec, const dmsec_msg_t *msg, uint8_t **out, size_t *out_len);

/* The codec for an HTTP Content-Type (parameters ignored, case-insensitive):
 * application/vnd.syncml.dm+xml or +wbxml, also the DS types
 * application/vnd.syncml+xml / +wbxml. DMSEC_ERR_CODEC_CONTENT_TYPE otherwise. */
int dmsec_codec_from_content_type(const char *content_type, dmsec_codec_t *codec);
/* "application/vnd.syncml.dm+xml" or "application/vnd.syncml.dm+wbxml". */
const char *dmsec_codec_content_type(dmsec_codec_t codec);

/* ---- the model ---- */

/* A new empty message (no header fields, no commands), or NULL. */
dmsec_msg_t *dmsec_msg_new(void);
/* Frees msg and everything it owns. NULL is accepted. */
void dmsec_msg_free(dmsec_msg_t *msg);

/* 0 when msg has every required element (see the struct comments) and no
 * command holds a field or child its type does not allow.
 * DMSEC_ERR_CODEC_MISSING or DMSEC_ERR_CODEC_UNEXPECTED otherwise. The
 * encoders check this first; the decoders guarantee it. */
int dmsec_msg_validate(const dmsec_msg_t *msg);

#define DMSEC_EQ_OPAQUE 1u /* also compare the opaque flag of Data and MetInf */
/* 1 when a and b hold the same document, else 0. By default Data compares by
 * bytes only, so text Data from XML equals opaque Data from WBXML. */
int dmsec_msg_equal(const dmsec_msg_t *a, const dmsec_msg_t *b, unsigned flags);

/* Copies into msg's arena (NULL on NULL input or no memory). */
char *dmsec_msg_strdup(dmsec_msg_t *msg, const char *s);
dmsec_data_t *dmsec_msg_data(dmsec_msg_t *msg, const void *bytes, size_t len, int opaque);

/* Fills SyncHdr: VerDTD 1.2, VerProto DM/1.2 and the given values
 * (source_name may be NULL). */
int dmsec_msg_set_hdr(dmsec_msg_t *msg, const char *session_id, const char *msg_id,
                      const char *target_uri, const char *source_uri, const char *source_name);

/* A new Target/Source (name may be NULL). */
dmsec_loc_t *dmsec_msg_loc(dmsec_msg_t *msg, const char *uri, const char *name);

/* Appends a MetInf text field to *meta (creating the Meta when NULL).
 * Returns the field or NULL. */
dmsec_mi_t *dmsec_meta_add(dmsec_msg_t *msg, dmsec_meta_t **meta, dmsec_metinf_t kind,
                           const char *value);
/* The first text field of kind (not searching containers), or NULL. */
const dmsec_data_t *dmsec_meta_get(const dmsec_meta_t *meta, dmsec_metinf_t kind);
/* Its value as a C string, or NULL. */
const char *dmsec_meta_str(const dmsec_meta_t *meta, dmsec_metinf_t kind);

/* A new Cred with Meta Type (and Format when not NULL) and text Data. */
dmsec_cred_t *dmsec_msg_cred(dmsec_msg_t *msg, const char *type, const char *format,
                             const char *data);

/* Appends a command of type to the body (parent NULL) or to a Sequence or
 * Atomic, with the next CmdID (msg->last_cmd_id + 1, in decimal). */
dmsec_cmd_t *dmsec_msg_add_cmd(dmsec_msg_t *msg, dmsec_cmd_t *parent, dmsec_cmd_type_t type);
/* Appends a Status with MsgRef, CmdRef, Cmd and the code as Data. */
dmsec_cmd_t *dmsec_msg_add_status(dmsec_msg_t *msg, const char *msg_ref, const char *cmd_ref,
                                  const char *cmd, int code);
/* Sets a Chal on a Status: Meta Type, Format (may be NULL), NextNonce (may be
 * NULL). */
int dmsec_status_set_chal(dmsec_msg_t *msg, dmsec_cmd_t *status, const char *type,
                          const char *format, const char *next_nonce);
/* Appends a TargetRef / SourceRef. */
int dmsec_cmd_add_target_ref(dmsec_msg_t *msg, dmsec_cmd_t *cmd, const char *ref);
int dmsec_cmd_add_source_ref(dmsec_msg_t *msg, dmsec_cmd_t *cmd, const char *ref);
/* Appends an Item with Target and/or Source LocURI (either may be NULL). */
dmsec_item_t *dmsec_cmd_add_item(dmsec_msg_t *msg, dmsec_cmd_t *cmd, const char *target_uri,
                                 const char *source_uri);

/* The status code in a Status's Data (100..999), or -1. */
int dmsec_status_code(const dmsec_cmd_t *status);
/* The element name of a command ("Status", ...) or of a MetInf field. */
const char *dmsec_cmd_name(dmsec_cmd_type_t type);
const char *dmsec_metinf_name(dmsec_metinf_t kind);

#ifdef __cplusplus
}
#endif
#endif
