/* The message model: construction helpers, validation, equality. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec_int.h"
#include "dmsec/errors.h"

static struct arena *ar(dmsec_msg_t *msg)
{
    return msg->arena_;
}

dmsec_msg_t *dmsec_msg_new(void)
{
    dmsec_msg_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->arena_ = arena_new();
    if (!m->arena_) {
        free(m);
        return NULL;
    }
    return m;
}

void dmsec_msg_free(dmsec_msg_t *msg)
{
    if (!msg)
        return;
    arena_free(msg->arena_);
    free(msg);
}

char *dmsec_msg_strdup(dmsec_msg_t *msg, const char *s)
{
    if (!msg || !s)
        return NULL;
    return arena_memdup(ar(msg), s, strlen(s));
}

dmsec_data_t *dmsec_msg_data(dmsec_msg_t *msg, const void *bytes, size_t len, int opaque)
{
    if (!msg || (!bytes && len))
        return NULL;
    dmsec_data_t *d = arena_alloc(ar(msg), sizeof *d);
    if (!d)
        return NULL;
    d->bytes = arena_memdup(ar(msg), bytes, len);
    if (!d->bytes)
        return NULL;
    d->len = len;
    d->opaque = opaque != 0;
    return d;
}

dmsec_loc_t *dmsec_msg_loc(dmsec_msg_t *msg, const char *uri, const char *name)
{
    if (!msg || !uri)
        return NULL;
    dmsec_loc_t *l = arena_alloc(ar(msg), sizeof *l);
    if (!l)
        return NULL;
    l->uri = dmsec_msg_strdup(msg, uri);
    l->name = name ? dmsec_msg_strdup(msg, name) : NULL;
    if (!l->uri || (name && !l->name))
        return NULL;
    return l;
}

int dmsec_msg_set_hdr(dmsec_msg_t *msg, const char *session_id, const char *msg_id,
                      const char *target_uri, const char *source_uri, const char *source_name)
{
    if (!msg || !session_id || !msg_id || !target_uri || !source_uri)
        return DMSEC_ERR_INVALID_ARG;
    dmsec_hdr_t *h = &msg->hdr;
    h->ver_dtd = dmsec_msg_strdup(msg, "1.2");
    h->ver_proto = dmsec_msg_strdup(msg, "DM/1.2");
    h->session_id = dmsec_msg_strdup(msg, session_id);
    h->msg_id = dmsec_msg_strdup(msg, msg_id);
    h->target = dmsec_msg_loc(msg, target_uri, NULL);
    h->source = dmsec_msg_loc(msg, source_uri, source_name);
    if (!h->ver_dtd || !h->ver_proto || !h->session_id || !h->msg_id || !h->target || !h->source)
        return DMSEC_ERR_NO_MEMORY;
    return 0;
}

dmsec_mi_t *dmsec_meta_add(dmsec_msg_t *msg, dmsec_meta_t **meta, dmsec_metinf_t kind,
                           const char *value)
{
    if (!msg || !meta || (unsigned)kind >= DMSEC_MI_COUNT_ || metinf_is_container(kind) || !value)
        return NULL;
    if (!*meta) {
        *meta = arena_alloc(ar(msg), sizeof **meta);
        if (!*meta)
            return NULL;
    }
    dmsec_mi_t *f = arena_alloc(ar(msg), sizeof *f);
    if (!f)
        return NULL;
    f->kind = kind;
    f->value.len = strlen(value);
    f->value.bytes = arena_memdup(ar(msg), value, f->value.len);
    if (!f->value.bytes)
        return NULL;
    dmsec_mi_t **pp = &(*meta)->fields;
    while (*pp)
        pp = &(*pp)->next;
    *pp = f;
    return f;
}

const dmsec_data_t *dmsec_meta_get(const dmsec_meta_t *meta, dmsec_metinf_t kind)
{
    if (!meta || metinf_is_container(kind))
        return NULL;
    for (const dmsec_mi_t *f = meta->fields; f; f = f->next) {
        if (f->kind == kind)
            return &f->value;
    }
    return NULL;
}

const char *dmsec_meta_str(const dmsec_meta_t *meta, dmsec_metinf_t kind)
{
    const dmsec_data_t *d = dmsec_meta_get(meta, kind);
    return d ? d->bytes : NULL;
}

dmsec_cred_t *dmsec_msg_cred(dmsec_msg_t *msg, const char *type, const char *format,
                             const char *data)
{
    if (!msg || !type || !data)
        return NULL;
    dmsec_cred_t *c = arena_alloc(ar(msg), sizeof *c);
    if (!c)
        return NULL;
    if (!dmsec_meta_add(msg, &c->meta, DMSEC_MI_TYPE, type))
        return NULL;
    if (format && !dmsec_meta_add(msg, &c->meta, DMSEC_MI_FORMAT, format))
        return NULL;
    c->data = dmsec_msg_data(msg, data, strlen(data), 0);
    return c->data ? c : NULL;
}

dmsec_cmd_t *dmsec_msg_add_cmd(dmsec_msg_t *msg, dmsec_cmd_t *parent, dmsec_cmd_type_t type)
{
    if (!msg || (unsigned)type >= DMSEC_CMD_COUNT_)
        return NULL;
    if (parent && parent->type != DMSEC_CMD_SEQUENCE && parent->type != DMSEC_CMD_ATOMIC)
        return NULL;
    if (parent && (type == DMSEC_CMD_STATUS || type == DMSEC_CMD_RESULTS))
        return NULL;
    dmsec_cmd_t *c = arena_alloc(ar(msg), sizeof *c);
    if (!c)
        return NULL;
    char id[16];
    snprintf(id, sizeof id, "%u", msg->last_cmd_id + 1);
    c->type = type;
    c->cmd_id = dmsec_msg_strdup(msg, id);
    if (!c->cmd_id)
        return NULL;
    msg->last_cmd_id++;
    dmsec_cmd_t **pp = parent ? &parent->children : &msg->body.cmds;
    while (*pp)
        pp = &(*pp)->next;
    *pp = c;
    return c;
}

dmsec_cmd_t *dmsec_msg_add_status(dmsec_msg_t *msg, const char *msg_ref, const char *cmd_ref,
                                  const char *cmd, int code)
{
    if (!msg || !cmd_ref || !cmd || code < 100 || code > 999)
        return NULL;
    dmsec_cmd_t *c = dmsec_msg_add_cmd(msg, NULL, DMSEC_CMD_STATUS);
    if (!c)
        return NULL;
    char text[8];
    snprintf(text, sizeof text, "%d", code);
    c->msg_ref = msg_ref ? dmsec_msg_strdup(msg, msg_ref) : NULL;
    c->cmd_ref = dmsec_msg_strdup(msg, cmd_ref);
    c->cmd = dmsec_msg_strdup(msg, cmd);
    c->data = dmsec_msg_data(msg, text, strlen(text), 0);
    if ((msg_ref && !c->msg_ref) || !c->cmd_ref || !c->cmd || !c->data)
        return NULL;
    return c;
}

int dmsec_status_set_chal(dmsec_msg_t *msg, dmsec_cmd_t *status, const char *type,
                          const char *format, const char *next_nonce)
{
    if (!msg || !status || status->type != DMSEC_CMD_STATUS || !type)
        return DMSEC_ERR_INVALID_ARG;
    dmsec_chal_t *ch = arena_alloc(ar(msg), sizeof *ch);
    if (!ch || !dmsec_meta_add(msg, &ch->meta, DMSEC_MI_TYPE, type))
        return DMSEC_ERR_NO_MEMORY;
    if (format && !dmsec_meta_add(msg, &ch->meta, DMSEC_MI_FORMAT, format))
        return DMSEC_ERR_NO_MEMORY;
    if (next_nonce && !dmsec_meta_add(msg, &ch->meta, DMSEC_MI_NEXTNONCE, next_nonce))
        return DMSEC_ERR_NO_MEMORY;
    status->chal = ch;
    return 0;
}

static int add_ref(dmsec_msg_t *msg, dmsec_strlist_t **head, const char *ref)
{
    dmsec_strlist_t *n = arena_alloc(ar(msg), sizeof *n);
    if (!n || !(n->s = dmsec_msg_strdup(msg, ref)))
        return DMSEC_ERR_NO_MEMORY;
    while (*head)
        head = &(*head)->next;
    *head = n;
    return 0;
}

int dmsec_cmd_add_target_ref(dmsec_msg_t *msg, dmsec_cmd_t *cmd, const char *ref)
{
    if (!msg || !cmd || !ref)
        return DMSEC_ERR_INVALID_ARG;
    return add_ref(msg, &cmd->target_refs, ref);
}

int dmsec_cmd_add_source_ref(dmsec_msg_t *msg, dmsec_cmd_t *cmd, const char *ref)
{
    if (!msg || !cmd || !ref)
        return DMSEC_ERR_INVALID_ARG;
    return add_ref(msg, &cmd->source_refs, ref);
}

dmsec_item_t *dmsec_cmd_add_item(dmsec_msg_t *msg, dmsec_cmd_t *cmd, const char *target_uri,
                                 const char *source_uri)
{
    if (!msg || !cmd)
        return NULL;
    dmsec_item_t *it = arena_alloc(ar(msg), sizeof *it);
    if (!it)
        return NULL;
    if (target_uri && !(it->target = dmsec_msg_loc(msg, target_uri, NULL)))
        return NULL;
    if (source_uri && !(it->source = dmsec_msg_loc(msg, source_uri, NULL)))
        return NULL;
    dmsec_item_t **pp = &cmd->items;
    while (*pp)
        pp = &(*pp)->next;
    *pp = it;
    return it;
}

int dmsec_status_code(const dmsec_cmd_t *status)
{
    if (!status || status->type != DMSEC_CMD_STATUS || !status->data || status->data->len != 3)
        return -1;
    int code = 0;
    for (size_t i = 0; i < 3; i++) {
        char c = status->data->bytes[i];
        if (c < '0' || c > '9')
            return -1;
        code = code * 10 + (c - '0');
    }
    return code >= 100 ? code : -1;
}

static const int cmd_els[DMSEC_CMD_COUNT_] = {
    [DMSEC_CMD_ADD] = EL_ADD,         [DMSEC_CMD_ALERT] = EL_ALERT,
    [DMSEC_CMD_ATOMIC] = EL_ATOMIC,   [DMSEC_CMD_COPY] = EL_COPY,
    [DMSEC_CMD_DELETE] = EL_DELETE,   [DMSEC_CMD_EXEC] = EL_EXEC,
    [DMSEC_CMD_GET] = EL_GET,         [DMSEC_CMD_REPLACE] = EL_REPLACE,
    [DMSEC_CMD_RESULTS] = EL_RESULTS, [DMSEC_CMD_SEQUENCE] = EL_SEQUENCE,
    [DMSEC_CMD_STATUS] = EL_STATUS,
};

int cmd_type_el(dmsec_cmd_type_t type)
{
    return (unsigned)type < DMSEC_CMD_COUNT_ ? cmd_els[type] : EL_NONE;
}

int el_to_cmd_type(int el, dmsec_cmd_type_t *type)
{
    for (int t = 0; t < DMSEC_CMD_COUNT_; t++) {
        if (cmd_els[t] == el) {
            *type = (dmsec_cmd_type_t)t;
            return 1;
        }
    }
    return 0;
}

const char *dmsec_cmd_name(dmsec_cmd_type_t type)
{
    const char *n = el_name(cmd_type_el(type));
    return n ? n : "?";
}

const char *dmsec_metinf_name(dmsec_metinf_t kind)
{
    if ((unsigned)kind >= DMSEC_MI_COUNT_)
        return "?";
    return el_name(el_from_metinf(kind));
}

/* ---- validation ---- */

static int loc_ok(const dmsec_loc_t *l)
{
    return !l || l->uri;
}

static int item_ok(const dmsec_item_t *it)
{
    return loc_ok(it->target) && loc_ok(it->source) && loc_ok(it->source_parent) &&
           loc_ok(it->target_parent);
}

/* The fields set in c, as the mask cmd_fields() uses. */
static uint64_t fields_set(const dmsec_cmd_t *c)
{
    uint64_t m = 0;
    m |= c->cmd_id ? EL_BIT(EL_CMDID) : 0;
    m |= c->msg_ref ? EL_BIT(EL_MSGREF) : 0;
    m |= c->cmd_ref ? EL_BIT(EL_CMDREF) : 0;
    m |= c->cmd ? EL_BIT(EL_CMD) : 0;
    m |= c->no_resp ? EL_BIT(EL_NORESP) : 0;
    m |= c->lang ? EL_BIT(EL_LANG) : 0;
    m |= c->target_refs ? EL_BIT(EL_TARGETREF) : 0;
    m |= c->source_refs ? EL_BIT(EL_SOURCEREF) : 0;
    m |= c->cred ? EL_BIT(EL_CRED) : 0;
    m |= c->chal ? EL_BIT(EL_CHAL) : 0;
    m |= c->meta ? EL_BIT(EL_META) : 0;
    m |= c->data ? EL_BIT(EL_DATA) : 0;
    m |= c->correlator ? EL_BIT(EL_CORRELATOR) : 0;
    m |= c->items ? EL_BIT(EL_ITEM) : 0;
    return m;
}

/* 1: fine, 0: a required element is missing, -1: a field or child the
 * command type does not allow is set. */
static int cmds_ok(const dmsec_cmd_t *c, int nested)
{
    for (; c; c = c->next) {
        if ((unsigned)c->type >= DMSEC_CMD_COUNT_ || (fields_set(c) & ~cmd_fields(c->type)))
            return -1;
        int container = c->type == DMSEC_CMD_SEQUENCE || c->type == DMSEC_CMD_ATOMIC;
        if ((c->children && !container) ||
            (nested && (c->type == DMSEC_CMD_STATUS || c->type == DMSEC_CMD_RESULTS)))
            return -1;
        if (!c->cmd_id)
            return 0;
        if (c->cred && !c->cred->data)
            return 0;
        if (c->chal && !c->chal->meta)
            return 0;
        for (const dmsec_item_t *it = c->items; it; it = it->next) {
            if (!item_ok(it))
                return 0;
        }
        switch (c->type) {
        case DMSEC_CMD_STATUS:
            /* Deployed clients leave CmdRef out of the SyncHdr's Status
             * (which has a MsgRef): the only Status read without one. */
            if (!c->cmd || !c->data ||
                (!c->cmd_ref && (strcmp(c->cmd, "SyncHdr") != 0 || !c->msg_ref)))
                return 0;
            break;
        case DMSEC_CMD_RESULTS:
            if (!c->cmd_ref)
                return 0;
            break;
        case DMSEC_CMD_ADD:
        case DMSEC_CMD_COPY:
        case DMSEC_CMD_DELETE:
        case DMSEC_CMD_EXEC:
        case DMSEC_CMD_GET:
        case DMSEC_CMD_REPLACE:
            if (!c->items)
                return 0;
            break;
        case DMSEC_CMD_ATOMIC:
        case DMSEC_CMD_SEQUENCE: {
            int rc = cmds_ok(c->children, 1);
            if (rc != 1)
                return rc;
            break;
        }
        default:
            break;
        }
    }
    return 1;
}

int dmsec_msg_validate(const dmsec_msg_t *msg)
{
    if (!msg)
        return DMSEC_ERR_INVALID_ARG;
    const dmsec_hdr_t *h = &msg->hdr;
    if (!h->ver_dtd || !h->ver_proto || !h->session_id || !h->msg_id || !h->target || !h->source ||
        !h->target->uri || !h->source->uri)
        return DMSEC_ERR_CODEC_MISSING;
    if (h->cred && !h->cred->data)
        return DMSEC_ERR_CODEC_MISSING;
    int rc = cmds_ok(msg->body.cmds, 0);
    return rc == 1 ? 0 : rc == 0 ? DMSEC_ERR_CODEC_MISSING : DMSEC_ERR_CODEC_UNEXPECTED;
}

/* ---- equality ---- */

static int str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return !strcmp(a, b);
}

static int data_eq(const dmsec_data_t *a, const dmsec_data_t *b, unsigned flags)
{
    if (!a || !b)
        return a == b;
    if (a->len != b->len || (a->len && memcmp(a->bytes, b->bytes, a->len)))
        return 0;
    return !(flags & DMSEC_EQ_OPAQUE) || a->opaque == b->opaque;
}

static int mi_eq(const dmsec_mi_t *a, const dmsec_mi_t *b, unsigned flags)
{
    for (; a && b; a = a->next, b = b->next) {
        if (a->kind != b->kind)
            return 0;
        if (metinf_is_container(a->kind)) {
            if (!mi_eq(a->children, b->children, flags))
                return 0;
        } else if (!data_eq(&a->value, &b->value, flags)) {
            return 0;
        }
    }
    return !a && !b;
}

static int meta_eq(const dmsec_meta_t *a, const dmsec_meta_t *b, unsigned flags)
{
    if (!a || !b)
        return a == b;
    return mi_eq(a->fields, b->fields, flags);
}

static int loc_eq(const dmsec_loc_t *a, const dmsec_loc_t *b)
{
    if (!a || !b)
        return a == b;
    return str_eq(a->uri, b->uri) && str_eq(a->name, b->name);
}

static int cred_eq(const dmsec_cred_t *a, const dmsec_cred_t *b, unsigned flags)
{
    if (!a || !b)
        return a == b;
    return meta_eq(a->meta, b->meta, flags) && data_eq(a->data, b->data, flags);
}

static int chal_eq(const dmsec_chal_t *a, const dmsec_chal_t *b, unsigned flags)
{
    if (!a || !b)
        return a == b;
    return meta_eq(a->meta, b->meta, flags);
}

static int refs_eq(const dmsec_strlist_t *a, const dmsec_strlist_t *b)
{
    for (; a && b; a = a->next, b = b->next) {
        if (!str_eq(a->s, b->s))
            return 0;
    }
    return !a && !b;
}

static int items_eq(const dmsec_item_t *a, const dmsec_item_t *b, unsigned flags)
{
    for (; a && b; a = a->next, b = b->next) {
        if (!loc_eq(a->target, b->target) || !loc_eq(a->source, b->source) ||
            !loc_eq(a->source_parent, b->source_parent) ||
            !loc_eq(a->target_parent, b->target_parent) || !meta_eq(a->meta, b->meta, flags) ||
            !data_eq(a->data, b->data, flags) || a->more_data != b->more_data)
            return 0;
    }
    return !a && !b;
}

static int cmds_eq(const dmsec_cmd_t *a, const dmsec_cmd_t *b, unsigned flags)
{
    for (; a && b; a = a->next, b = b->next) {
        if (a->type != b->type || !str_eq(a->cmd_id, b->cmd_id) ||
            !str_eq(a->msg_ref, b->msg_ref) || !str_eq(a->cmd_ref, b->cmd_ref) ||
            !str_eq(a->cmd, b->cmd) || a->no_resp != b->no_resp || !str_eq(a->lang, b->lang) ||
            !refs_eq(a->target_refs, b->target_refs) || !refs_eq(a->source_refs, b->source_refs) ||
            !cred_eq(a->cred, b->cred, flags) || !chal_eq(a->chal, b->chal, flags) ||
            !meta_eq(a->meta, b->meta, flags) || !data_eq(a->data, b->data, flags) ||
            !str_eq(a->correlator, b->correlator) || !items_eq(a->items, b->items, flags) ||
            !cmds_eq(a->children, b->children, flags))
            return 0;
    }
    return !a && !b;
}

int dmsec_msg_equal(const dmsec_msg_t *a, const dmsec_msg_t *b, unsigned flags)
{
    if (!a || !b)
        return a == b;
    const dmsec_hdr_t *x = &a->hdr, *y = &b->hdr;
    return str_eq(x->ver_dtd, y->ver_dtd) && str_eq(x->ver_proto, y->ver_proto) &&
           str_eq(x->session_id, y->session_id) && str_eq(x->msg_id, y->msg_id) &&
           loc_eq(x->target, y->target) && loc_eq(x->source, y->source) &&
           str_eq(x->resp_uri, y->resp_uri) && x->no_resp == y->no_resp &&
           cred_eq(x->cred, y->cred, flags) && meta_eq(x->meta, y->meta, flags) &&
           a->body.final == b->body.final && cmds_eq(a->body.cmds, b->body.cmds, flags);
}

/* ---- codec selection ---- */

int dmsec_codec_from_content_type(const char *ct, dmsec_codec_t *codec)
{
    if (!ct || !codec)
        return DMSEC_ERR_INVALID_ARG;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    static const struct {
        const char *type;
        dmsec_codec_t codec;
    } types[] = {
        {"application/vnd.syncml.dm+xml", DMSEC_CODEC_XML},
        {"application/vnd.syncml.dm+wbxml", DMSEC_CODEC_WBXML},
        {"application/vnd.syncml+xml", DMSEC_CODEC_XML},
        {"application/vnd.syncml+wbxml", DMSEC_CODEC_WBXML},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strlen(types[i].type) == n && !strncasecmp(ct, types[i].type, n)) {
            *codec = types[i].codec;
            return 0;
        }
    }
    return DMSEC_ERR_CODEC_CONTENT_TYPE;
}

const char *dmsec_codec_content_type(dmsec_codec_t codec)
{
    return codec == DMSEC_CODEC_WBXML ? "application/vnd.syncml.dm+wbxml"
                                      : "application/vnd.syncml.dm+xml";
}

int dmsec_msg_decode(dmsec_codec_t codec, const uint8_t *buf, size_t len,
                     const dmsec_codec_limits_t *limits, dmsec_msg_t **out)
{
    if (codec == DMSEC_CODEC_WBXML)
        return dmsec_wbxml_decode(buf, len, limits, out);
    if (codec == DMSEC_CODEC_XML)
        return dmsec_xml_decode(buf, len, limits, out);
    if (out)
        *out = NULL;
    return DMSEC_ERR_INVALID_ARG;
}

int dmsec_msg_encode(dmsec_codec_t codec, const dmsec_msg_t *msg, uint8_t **out, size_t *out_len)
{
    if (codec == DMSEC_CODEC_WBXML)
        return dmsec_wbxml_encode(msg, out, out_len);
    if (codec == DMSEC_CODEC_XML)
        return dmsec_xml_encode(msg, out, out_len);
    if (out)
        *out = NULL;
    return DMSEC_ERR_INVALID_ARG;
}
