/*
 * The builder: both decoders feed it start/text/end events and it alone
 * decides which element may appear where, so XML and WBXML input are held
 * to exactly the same structure and limits.
 */
#include <stdlib.h>
#include <string.h>

#include "codec_int.h"
#include "dmsec/errors.h"

enum kind {
    F_TOP,
    F_SYNCML,
    F_HDR,
    F_BODY,
    F_LOC,
    F_CRED,
    F_CHAL,
    F_META,
    F_MI,
    F_CMD,
    F_ITEM,
    F_LEAF,
    F_EMPTY
};

enum leaf { L_STR, L_DATA, L_MI, L_TREF, L_SREF };

struct frame {
    int el;
    enum kind kind;
    void *obj;
    uint64_t seen;  /* singleton children already read, by token */
    void *tail;     /* last command / MetInf field appended */
    void *itail;    /* last item appended */
    void *rtail[2]; /* last TargetRef, SourceRef appended */
    enum leaf leaf;
    void *dst;
    int opaque;
};

struct builder {
    dmsec_codec_limits_t lim;
    dmsec_msg_t *msg;
    struct frame *stack;
    size_t cap;
    size_t depth; /* stack[depth] is the innermost open element */
    size_t elements;
    uint8_t *text;
    size_t text_len;
    size_t text_cap;
    int done;
};

#define BIT(el) EL_BIT(el)

static struct arena *ar(struct builder *b)
{
    return b->msg->arena_;
}

struct builder *builder_new(const dmsec_codec_limits_t *limits)
{
    struct builder *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    if (limits)
        b->lim = *limits;
    if (!b->lim.max_size)
        b->lim.max_size = CODEC_DEFAULT_MAX_SIZE;
    if (!b->lim.max_depth)
        b->lim.max_depth = CODEC_DEFAULT_MAX_DEPTH;
    if (!b->lim.max_elements)
        b->lim.max_elements = CODEC_DEFAULT_MAX_ELEMENTS;
    if (!b->lim.max_text)
        b->lim.max_text = CODEC_DEFAULT_MAX_TEXT;
    b->msg = dmsec_msg_new();
    b->cap = 16;
    b->stack = calloc(b->cap, sizeof *b->stack);
    if (!b->msg || !b->stack) {
        builder_free(b);
        return NULL;
    }
    b->stack[0].kind = F_TOP;
    return b;
}

void builder_free(struct builder *b)
{
    if (!b)
        return;
    dmsec_msg_free(b->msg);
    free(b->stack);
    free(b->text);
    free(b);
}

const dmsec_codec_limits_t *builder_limits(const struct builder *b)
{
    return &b->lim;
}

int builder_parent(const struct builder *b)
{
    return b->stack[b->depth].el;
}

static struct frame *push(struct builder *b, int el, enum kind kind, void *obj, int *err)
{
    if (b->depth + 1 >= b->cap) {
        struct frame *s = realloc(b->stack, 2 * b->cap * sizeof *s);
        if (!s) {
            *err = DMSEC_ERR_NO_MEMORY;
            return NULL;
        }
        b->stack = s;
        b->cap *= 2;
    }
    struct frame *f = &b->stack[++b->depth];
    memset(f, 0, sizeof *f);
    f->el = el;
    f->kind = kind;
    f->obj = obj;
    return f;
}

static int push_kind(struct builder *b, int el, enum kind kind, void *obj)
{
    int err = 0;
    if (!obj)
        return DMSEC_ERR_NO_MEMORY;
    push(b, el, kind, obj, &err);
    return err;
}

static int push_leaf(struct builder *b, int el, enum leaf leaf, void *dst)
{
    int err = 0;
    struct frame *f = push(b, el, F_LEAF, NULL, &err);
    if (!f)
        return err;
    f->leaf = leaf;
    f->dst = dst;
    b->text_len = 0;
    return 0;
}

static int push_flag(struct builder *b, int el, int *flag)
{
    *flag = 1;
    return push_kind(b, el, F_EMPTY, flag);
}

static int push_loc(struct builder *b, int el, dmsec_loc_t **dst)
{
    *dst = arena_alloc(ar(b), sizeof **dst);
    return push_kind(b, el, F_LOC, *dst);
}

static int push_meta(struct builder *b, int el, dmsec_meta_t **dst)
{
    *dst = arena_alloc(ar(b), sizeof **dst);
    return push_kind(b, el, F_META, *dst);
}

static int push_cred(struct builder *b, int el, dmsec_cred_t **dst)
{
    *dst = arena_alloc(ar(b), sizeof **dst);
    return push_kind(b, el, F_CRED, *dst);
}

/* A MetInf element inside Meta or inside an Anchor/Mem container. */
static int start_mi(struct builder *b, struct frame *parent, int el, dmsec_mi_t **head)
{
    dmsec_metinf_t kind;
    if (!el_to_metinf(el, &kind))
        return DMSEC_ERR_CODEC_UNEXPECTED;
    if (parent->kind == F_MI) {
        const dmsec_mi_t *c = parent->obj;
        int ok = c->kind == DMSEC_MI_ANCHOR ? (kind == DMSEC_MI_LAST || kind == DMSEC_MI_NEXT)
                                            : (kind == DMSEC_MI_SHAREDMEM ||
                                               kind == DMSEC_MI_FREEMEM || kind == DMSEC_MI_FREEID);
        if (!ok)
            return DMSEC_ERR_CODEC_UNEXPECTED;
    }
    dmsec_mi_t *mi = arena_alloc(ar(b), sizeof *mi);
    if (!mi)
        return DMSEC_ERR_NO_MEMORY;
    mi->kind = kind;
    if (parent->tail)
        ((dmsec_mi_t *)parent->tail)->next = mi;
    else
        *head = mi;
    parent->tail = mi;
    if (metinf_is_container(kind))
        return push_kind(b, el, F_MI, mi);
    return push_leaf(b, el, L_MI, mi);
}

uint64_t cmd_fields(dmsec_cmd_type_t t)
{
    const uint64_t base =
        BIT(EL_CMDID) | BIT(EL_NORESP) | BIT(EL_CRED) | BIT(EL_META) | BIT(EL_ITEM);
    switch (t) {
    case DMSEC_CMD_STATUS:
        return BIT(EL_CMDID) | BIT(EL_MSGREF) | BIT(EL_CMDREF) | BIT(EL_CMD) | BIT(EL_TARGETREF) |
               BIT(EL_SOURCEREF) | BIT(EL_CRED) | BIT(EL_CHAL) | BIT(EL_DATA) | BIT(EL_ITEM);
    case DMSEC_CMD_RESULTS:
        return BIT(EL_CMDID) | BIT(EL_MSGREF) | BIT(EL_CMDREF) | BIT(EL_META) | BIT(EL_TARGETREF) |
               BIT(EL_SOURCEREF) | BIT(EL_ITEM);
    case DMSEC_CMD_ALERT:
        return BIT(EL_CMDID) | BIT(EL_NORESP) | BIT(EL_CRED) | BIT(EL_DATA) | BIT(EL_CORRELATOR) |
               BIT(EL_ITEM);
    case DMSEC_CMD_GET:
        return base | BIT(EL_LANG);
    case DMSEC_CMD_EXEC:
        return base | BIT(EL_CORRELATOR);
    case DMSEC_CMD_SEQUENCE:
    case DMSEC_CMD_ATOMIC:
        return BIT(EL_CMDID) | BIT(EL_NORESP) | BIT(EL_META);
    default:
        return base;
    }
}

static int start_cmd(struct builder *b, struct frame *parent, dmsec_cmd_type_t type,
                     dmsec_cmd_t **head)
{
    dmsec_cmd_t *c = arena_alloc(ar(b), sizeof *c);
    if (!c)
        return DMSEC_ERR_NO_MEMORY;
    c->type = type;
    if (parent->tail)
        ((dmsec_cmd_t *)parent->tail)->next = c;
    else
        *head = c;
    parent->tail = c;
    return push_kind(b, cmd_type_el(type), F_CMD, c);
}

static int start_in_cmd(struct builder *b, struct frame *p, int el)
{
    dmsec_cmd_t *c = p->obj;
    dmsec_cmd_type_t t;
    if (el_to_cmd_type(el, &t)) {
        if ((c->type != DMSEC_CMD_SEQUENCE && c->type != DMSEC_CMD_ATOMIC) ||
            t == DMSEC_CMD_STATUS || t == DMSEC_CMD_RESULTS)
            return DMSEC_ERR_CODEC_UNEXPECTED;
        return start_cmd(b, p, t, &c->children);
    }
    if (EL_PAGE(el) != 0 || !(cmd_fields(c->type) & BIT(el)))
        return DMSEC_ERR_CODEC_UNEXPECTED;
    switch (el) {
    case EL_CMDID:
        return push_leaf(b, el, L_STR, &c->cmd_id);
    case EL_MSGREF:
        return push_leaf(b, el, L_STR, &c->msg_ref);
    case EL_CMDREF:
        return push_leaf(b, el, L_STR, &c->cmd_ref);
    case EL_CMD:
        return push_leaf(b, el, L_STR, &c->cmd);
    case EL_LANG:
        return push_leaf(b, el, L_STR, &c->lang);
    case EL_CORRELATOR:
        return push_leaf(b, el, L_STR, &c->correlator);
    case EL_TARGETREF:
        return push_leaf(b, el, L_TREF, &c->target_refs);
    case EL_SOURCEREF:
        return push_leaf(b, el, L_SREF, &c->source_refs);
    case EL_DATA:
        return push_leaf(b, el, L_DATA, &c->data);
    case EL_NORESP:
        return push_flag(b, el, &c->no_resp);
    case EL_CRED:
        return push_cred(b, el, &c->cred);
    case EL_META:
        return push_meta(b, el, &c->meta);
    case EL_CHAL:
        c->chal = arena_alloc(ar(b), sizeof *c->chal);
        return push_kind(b, el, F_CHAL, c->chal);
    case EL_ITEM: {
        dmsec_item_t *it = arena_alloc(ar(b), sizeof *it);
        if (!it)
            return DMSEC_ERR_NO_MEMORY;
        if (p->itail)
            ((dmsec_item_t *)p->itail)->next = it;
        else
            c->items = it;
        p->itail = it;
        return push_kind(b, el, F_ITEM, it);
    }
    default:
        return DMSEC_ERR_CODEC_UNEXPECTED;
    }
}

static int start_child(struct builder *b, struct frame *p, int el)
{
    dmsec_msg_t *m = b->msg;
    switch (p->kind) {
    case F_TOP:
        return el == EL_SYNCML ? push_kind(b, el, F_SYNCML, m) : DMSEC_ERR_CODEC_UNEXPECTED;
    case F_SYNCML:
        if (el == EL_SYNCHDR)
            return push_kind(b, el, F_HDR, &m->hdr);
        /* SyncBody only after SyncHdr */
        if (el == EL_SYNCBODY && (p->seen & BIT(EL_SYNCHDR)))
            return push_kind(b, el, F_BODY, &m->body);
        return el == EL_SYNCBODY ? DMSEC_ERR_CODEC_MISSING : DMSEC_ERR_CODEC_UNEXPECTED;
    case F_HDR:
        switch (el) {
        case EL_VERDTD:
            return push_leaf(b, el, L_STR, &m->hdr.ver_dtd);
        case EL_VERPROTO:
            return push_leaf(b, el, L_STR, &m->hdr.ver_proto);
        case EL_SESSIONID:
            return push_leaf(b, el, L_STR, &m->hdr.session_id);
        case EL_MSGID:
            return push_leaf(b, el, L_STR, &m->hdr.msg_id);
        case EL_RESPURI:
            return push_leaf(b, el, L_STR, &m->hdr.resp_uri);
        case EL_TARGET:
            return push_loc(b, el, &m->hdr.target);
        case EL_SOURCE:
            return push_loc(b, el, &m->hdr.source);
        case EL_NORESP:
            return push_flag(b, el, &m->hdr.no_resp);
        case EL_CRED:
            return push_cred(b, el, &m->hdr.cred);
        case EL_META:
            return push_meta(b, el, &m->hdr.meta);
        default:
            return DMSEC_ERR_CODEC_UNEXPECTED;
        }
    case F_LOC: {
        dmsec_loc_t *l = p->obj;
        if (el == EL_LOCURI)
            return push_leaf(b, el, L_STR, &l->uri);
        if (el == EL_LOCNAME)
            return push_leaf(b, el, L_STR, &l->name);
        return DMSEC_ERR_CODEC_UNEXPECTED;
    }
    case F_CRED: {
        dmsec_cred_t *c = p->obj;
        if (el == EL_META)
            return push_meta(b, el, &c->meta);
        if (el == EL_DATA)
            return push_leaf(b, el, L_DATA, &c->data);
        return DMSEC_ERR_CODEC_UNEXPECTED;
    }
    case F_CHAL: {
        dmsec_chal_t *c = p->obj;
        return el == EL_META ? push_meta(b, el, &c->meta) : DMSEC_ERR_CODEC_UNEXPECTED;
    }
    case F_META:
        return start_mi(b, p, el, &((dmsec_meta_t *)p->obj)->fields);
    case F_MI:
        return start_mi(b, p, el, &((dmsec_mi_t *)p->obj)->children);
    case F_BODY: {
        dmsec_cmd_type_t t;
        if (el == EL_FINAL)
            return push_flag(b, el, &m->body.final);
        if (el_to_cmd_type(el, &t))
            return start_cmd(b, p, t, &m->body.cmds);
        return DMSEC_ERR_CODEC_UNEXPECTED;
    }
    case F_CMD:
        return start_in_cmd(b, p, el);
    case F_ITEM: {
        dmsec_item_t *it = p->obj;
        switch (el) {
        case EL_TARGET:
            return push_loc(b, el, &it->target);
        case EL_SOURCE:
            return push_loc(b, el, &it->source);
        case EL_SOURCEPARENT:
            return push_loc(b, el, &it->source_parent);
        case EL_TARGETPARENT:
            return push_loc(b, el, &it->target_parent);
        case EL_META:
            return push_meta(b, el, &it->meta);
        case EL_DATA:
            return push_leaf(b, el, L_DATA, &it->data);
        case EL_MOREDATA:
            return push_flag(b, el, &it->more_data);
        default:
            return DMSEC_ERR_CODEC_UNEXPECTED;
        }
    }
    default:
        /* text leaves and empty elements have no child elements */
        return DMSEC_ERR_CODEC_UNEXPECTED;
    }
}

/* Elements that may repeat within their parent. */
static int repeatable(const struct frame *p, int el)
{
    if (p->kind == F_META || p->kind == F_MI || p->kind == F_BODY)
        return el != EL_FINAL;
    dmsec_cmd_type_t t;
    return el == EL_ITEM || el == EL_TARGETREF || el == EL_SOURCEREF || el_to_cmd_type(el, &t);
}

int builder_start(struct builder *b, int el)
{
    if (b->done)
        return DMSEC_ERR_CODEC_TRAILING;
    if (++b->elements > b->lim.max_elements)
        return DMSEC_ERR_CODEC_TOO_MANY;
    if (b->depth + 1 > b->lim.max_depth)
        return DMSEC_ERR_CODEC_TOO_DEEP;
    struct frame *p = &b->stack[b->depth];
    if (!repeatable(p, el)) {
        if (p->seen & BIT(el))
            return DMSEC_ERR_CODEC_DUPLICATE;
        p->seen |= BIT(el);
    }
    return start_child(b, p, el);
}

static int all_space(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return 0;
    }
    return 1;
}

int builder_text(struct builder *b, const void *bytes, size_t len, int opaque)
{
    struct frame *f = &b->stack[b->depth];
    if (f->kind != F_LEAF) {
        /* whitespace between elements (XML indentation) is not content */
        if (len == 0 || (!opaque && all_space(bytes, len)))
            return 0;
        return DMSEC_ERR_CODEC_UNEXPECTED;
    }
    f->opaque |= opaque;
    if (len > b->lim.max_text - b->text_len)
        return DMSEC_ERR_CODEC_TEXT_LONG;
    if (b->text_cap - b->text_len < len) {
        size_t cap = b->text_cap ? b->text_cap : 256;
        while (cap - b->text_len < len)
            cap *= 2;
        uint8_t *t = realloc(b->text, cap);
        if (!t)
            return DMSEC_ERR_NO_MEMORY;
        b->text = t;
        b->text_cap = cap;
    }
    if (len)
        memcpy(b->text + b->text_len, bytes, len);
    b->text_len += len;
    return 0;
}

static int commit_leaf(struct builder *b, struct frame *f)
{
    const uint8_t *t = b->text ? b->text : (const uint8_t *)"";
    size_t n = b->text_len;
    if (f->leaf == L_DATA || f->leaf == L_MI) {
        dmsec_data_t *d =
            f->leaf == L_MI ? &((dmsec_mi_t *)f->dst)->value : arena_alloc(ar(b), sizeof *d);
        if (!d || !(d->bytes = arena_memdup(ar(b), t, n)))
            return DMSEC_ERR_NO_MEMORY;
        d->len = n;
        d->opaque = f->opaque;
        if (f->leaf == L_DATA)
            *(dmsec_data_t **)f->dst = d;
        return 0;
    }
    /* Other elements are C strings: opaque content must be clean text. */
    if (f->opaque && (memchr(t, 0, n) || utf8_check(t, n, 1)))
        return DMSEC_ERR_CODEC_OPAQUE;
    char *s = arena_memdup(ar(b), t, n);
    if (!s)
        return DMSEC_ERR_NO_MEMORY;
    if (f->leaf == L_STR) {
        *(char **)f->dst = s;
        return 0;
    }
    dmsec_strlist_t *node = arena_alloc(ar(b), sizeof *node);
    if (!node)
        return DMSEC_ERR_NO_MEMORY;
    node->s = s;
    struct frame *p = f - 1;
    void **tail = &p->rtail[f->leaf == L_SREF];
    if (*tail)
        ((dmsec_strlist_t *)*tail)->next = node;
    else
        *(dmsec_strlist_t **)f->dst = node;
    *tail = node;
    return 0;
}

int builder_end(struct builder *b)
{
    if (b->depth == 0)
        return DMSEC_ERR_CODEC_UNEXPECTED;
    struct frame *f = &b->stack[b->depth];
    int rc = 0;
    if (f->kind == F_LEAF)
        rc = commit_leaf(b, f);
    else if (f->kind == F_SYNCML && !(f->seen & BIT(EL_SYNCBODY)))
        rc = DMSEC_ERR_CODEC_MISSING;
    if (rc)
        return rc;
    b->depth--;
    if (b->depth == 0)
        b->done = 1;
    return 0;
}

int builder_finish(struct builder *b, dmsec_msg_t **out)
{
    if (!b->done)
        return DMSEC_ERR_CODEC_TRUNCATED;
    int rc = dmsec_msg_validate(b->msg);
    if (rc)
        return rc;
    *out = b->msg;
    b->msg = NULL;
    return 0;
}
