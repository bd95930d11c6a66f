/*
 * The walker: one traversal of the model in SyncML DTD order, shared by the
 * XML and WBXML writers so that both emit the same element sequence.
 */
#include <string.h>

#include "codec_int.h"
#include "dmsec/errors.h"

#define TRY(x)                                                                                     \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_)                                                                                   \
            return rc_;                                                                            \
    } while (0)

static int leaf(const struct emitter *em, int el, const char *bytes, size_t len, int opaque)
{
    TRY(em->start(em->ctx, el));
    if (len || opaque)
        TRY(em->text(em->ctx, bytes, len, opaque));
    return em->end(em->ctx, el);
}

static int str(const struct emitter *em, int el, const char *s)
{
    return s ? leaf(em, el, s, strlen(s), 0) : 0;
}

static int data(const struct emitter *em, int el, const dmsec_data_t *d)
{
    return d ? leaf(em, el, d->bytes, d->len, d->opaque) : 0;
}

static int flag(const struct emitter *em, int el, int on)
{
    if (!on)
        return 0;
    TRY(em->start(em->ctx, el));
    return em->end(em->ctx, el);
}

static int mis(const struct emitter *em, const dmsec_mi_t *f)
{
    for (; f; f = f->next) {
        int el = el_from_metinf(f->kind);
        if ((unsigned)f->kind >= DMSEC_MI_COUNT_)
            return DMSEC_ERR_INVALID_ARG;
        if (metinf_is_container(f->kind)) {
            TRY(em->start(em->ctx, el));
            TRY(mis(em, f->children));
            TRY(em->end(em->ctx, el));
        } else {
            TRY(data(em, el, &f->value));
        }
    }
    return 0;
}

static int meta(const struct emitter *em, const dmsec_meta_t *m)
{
    if (!m)
        return 0;
    TRY(em->start(em->ctx, EL_META));
    TRY(mis(em, m->fields));
    return em->end(em->ctx, EL_META);
}

static int loc(const struct emitter *em, int el, const dmsec_loc_t *l)
{
    if (!l)
        return 0;
    TRY(em->start(em->ctx, el));
    TRY(str(em, EL_LOCURI, l->uri));
    TRY(str(em, EL_LOCNAME, l->name));
    return em->end(em->ctx, el);
}

static int cred(const struct emitter *em, const dmsec_cred_t *c)
{
    if (!c)
        return 0;
    TRY(em->start(em->ctx, EL_CRED));
    TRY(meta(em, c->meta));
    TRY(data(em, EL_DATA, c->data));
    return em->end(em->ctx, EL_CRED);
}

static int refs(const struct emitter *em, int el, const dmsec_strlist_t *r)
{
    for (; r; r = r->next)
        TRY(str(em, el, r->s));
    return 0;
}

static int items(const struct emitter *em, const dmsec_item_t *it)
{
    for (; it; it = it->next) {
        TRY(em->start(em->ctx, EL_ITEM));
        TRY(loc(em, EL_TARGET, it->target));
        TRY(loc(em, EL_SOURCE, it->source));
        TRY(loc(em, EL_SOURCEPARENT, it->source_parent));
        TRY(loc(em, EL_TARGETPARENT, it->target_parent));
        TRY(meta(em, it->meta));
        TRY(data(em, EL_DATA, it->data));
        TRY(flag(em, EL_MOREDATA, it->more_data));
        TRY(em->end(em->ctx, EL_ITEM));
    }
    return 0;
}

static int cmds(const struct emitter *em, const dmsec_cmd_t *c)
{
    for (; c; c = c->next) {
        int el = cmd_type_el(c->type);
        if (el == EL_NONE)
            return DMSEC_ERR_INVALID_ARG;
        /* Results puts Meta before the refs; every other command after. */
        int results = c->type == DMSEC_CMD_RESULTS;
        TRY(em->start(em->ctx, el));
        TRY(str(em, EL_CMDID, c->cmd_id));
        TRY(str(em, EL_MSGREF, c->msg_ref));
        TRY(str(em, EL_CMDREF, c->cmd_ref));
        TRY(str(em, EL_CMD, c->cmd));
        TRY(flag(em, EL_NORESP, c->no_resp));
        TRY(str(em, EL_LANG, c->lang));
        if (results)
            TRY(meta(em, c->meta));
        TRY(refs(em, EL_TARGETREF, c->target_refs));
        TRY(refs(em, EL_SOURCEREF, c->source_refs));
        TRY(cred(em, c->cred));
        if (c->chal) {
            TRY(em->start(em->ctx, EL_CHAL));
            TRY(meta(em, c->chal->meta));
            TRY(em->end(em->ctx, EL_CHAL));
        }
        if (!results)
            TRY(meta(em, c->meta));
        TRY(data(em, EL_DATA, c->data));
        TRY(str(em, EL_CORRELATOR, c->correlator));
        TRY(items(em, c->items));
        TRY(cmds(em, c->children));
        TRY(em->end(em->ctx, el));
    }
    return 0;
}

int walk_msg(const dmsec_msg_t *msg, const struct emitter *em)
{
    TRY(dmsec_msg_validate(msg));
    const dmsec_hdr_t *h = &msg->hdr;
    TRY(em->start(em->ctx, EL_SYNCML));
    TRY(em->start(em->ctx, EL_SYNCHDR));
    TRY(str(em, EL_VERDTD, h->ver_dtd));
    TRY(str(em, EL_VERPROTO, h->ver_proto));
    TRY(str(em, EL_SESSIONID, h->session_id));
    TRY(str(em, EL_MSGID, h->msg_id));
    TRY(loc(em, EL_TARGET, h->target));
    TRY(loc(em, EL_SOURCE, h->source));
    TRY(str(em, EL_RESPURI, h->resp_uri));
    TRY(flag(em, EL_NORESP, h->no_resp));
    TRY(cred(em, h->cred));
    TRY(meta(em, h->meta));
    TRY(em->end(em->ctx, EL_SYNCHDR));
    TRY(em->start(em->ctx, EL_SYNCBODY));
    TRY(cmds(em, msg->body.cmds));
    TRY(flag(em, EL_FINAL, msg->body.final));
    TRY(em->end(em->ctx, EL_SYNCBODY));
    return em->end(em->ctx, EL_SYNCML);
}
