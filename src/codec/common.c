/* Element tables, arena, UTF-8 checks and the output buffer. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "codec_int.h"
#include "dmsec/errors.h"

/* Code page 0 (SyncML 1.2), tokens 0x05..0x3C; 0x30 is reserved. */
static const char *const page0[] = {
    "Add",
    "Alert",
    "Archive",
    "Atomic",
    "Chal",
    "Cmd",
    "CmdID",
    "CmdRef",
    "Copy",
    "Cred",
    "Data",
    "Delete",
    "Exec",
    "Final",
    "Get",
    "Item",
    "Lang",
    "LocName",
    "LocURI",
    "Map",
    "MapItem",
    "Meta",
    "MsgID",
    "MsgRef",
    "NoResp",
    "NoResults",
    "Put",
    "Replace",
    "RespURI",
    "Results",
    "Search",
    "Sequence",
    "SessionID",
    "SftDel",
    "Source",
    "SourceRef",
    "Status",
    "Sync",
    "SyncBody",
    "SyncHdr",
    "SyncML",
    "Target",
    "TargetRef",
    NULL,
    "VerDTD",
    "VerProto",
    "NumberOfChanges",
    "MoreData",
    "Field",
    "Filter",
    "Record",
    "FilterType",
    "SourceParent",
    "TargetParent",
    "Move",
    "Correlator",
};

/* Code page 1 (MetInf 1.2), tokens 0x05..0x16. */
static const char *const page1[] = {
    "Anchor",    "EMI",        "Format", "FreeID",  "FreeMem",    "Last",
    "Mark",      "MaxMsgSize", "Mem",    "MetInf",  "Next",       "NextNonce",
    "SharedMem", "Size",       "Type",   "Version", "MaxObjSize", "FieldLevel",
};

#define PAGE0_N (sizeof page0 / sizeof page0[0])
#define PAGE1_N (sizeof page1 / sizeof page1[0])

const char *el_name(int el)
{
    int tok = EL_TOKEN(el);
    if (el < 0 || tok < 5)
        return NULL;
    size_t i = (size_t)(tok - 5);
    if (EL_PAGE(el) == 0)
        return i < PAGE0_N ? page0[i] : NULL;
    if (EL_PAGE(el) == 1)
        return i < PAGE1_N ? page1[i] : NULL;
    return NULL;
}

int el_known(int el)
{
    return el_name(el) != NULL;
}

/* Name -> element: an open-addressing table per page, filled once from
 * page0 / page1 (a linear scan cost a few hundred instructions per element
 * decoded). A slot holds the token's index + 1, 0 when empty. */
#define NAME_SLOTS 128 /* a power of two, over twice PAGE0_N */
static unsigned char name_slots[2][NAME_SLOTS];
static pthread_once_t name_once = PTHREAD_ONCE_INIT;

static size_t name_hash(const char *name, size_t len)
{
    size_t first = (unsigned char)name[0];
    size_t last = (unsigned char)name[len - 1];
    return (first * 31u + last * 7u + len) & (NAME_SLOTS - 1);
}

static void name_slots_fill(void)
{
    for (int page = 0; page < 2; page++) {
        const char *const *t = page == 0 ? page0 : page1;
        size_t n = page == 0 ? PAGE0_N : PAGE1_N;
        for (size_t i = 0; i < n; i++) {
            if (!t[i])
                continue;
            size_t h = name_hash(t[i], strlen(t[i]));
            while (name_slots[page][h])
                h = (h + 1) & (NAME_SLOTS - 1);
            name_slots[page][h] = (unsigned char)(i + 1);
        }
    }
}

int el_by_name(int page, const char *name)
{
    if ((page != 0 && page != 1) || !name[0])
        return EL_NONE;
    pthread_once(&name_once, name_slots_fill);
    const char *const *t = page == 0 ? page0 : page1;
    size_t len = strlen(name);
    for (size_t h = name_hash(name, len); name_slots[page][h]; h = (h + 1) & (NAME_SLOTS - 1)) {
        size_t i = name_slots[page][h] - 1u;
        if (!strcmp(t[i], name))
            return (page << 8) | (int)(i + 5);
    }
    return EL_NONE;
}

/* dmsec_metinf_t follows the page 1 token order, skipping MetInf (0x0E). */
int el_from_metinf(dmsec_metinf_t kind)
{
    int tok = 0x05 + (int)kind;
    if (tok >= 0x0E)
        tok++;
    return 0x100 | tok;
}

int el_to_metinf(int el, dmsec_metinf_t *kind)
{
    if (EL_PAGE(el) != 1 || el < EL_MI_FIRST || el > EL_MI_LAST || el == EL_MI_METINF)
        return 0;
    int k = EL_TOKEN(el) - 0x05;
    if (el > EL_MI_METINF)
        k--;
    *kind = (dmsec_metinf_t)k;
    return 1;
}

int metinf_is_container(dmsec_metinf_t kind)
{
    return kind == DMSEC_MI_ANCHOR || kind == DMSEC_MI_MEM;
}

/* ---- arena: a list of chunks, freed together ---- */

struct chunk {
    struct chunk *next;
    size_t used;
    size_t cap;
    _Alignas(max_align_t) unsigned char mem[];
};

struct arena {
    struct chunk *head;
};

#define CHUNK_SIZE 8192u

struct arena *arena_new(void)
{
    return calloc(1, sizeof(struct arena));
}

void arena_free(struct arena *a)
{
    if (!a)
        return;
    struct chunk *c = a->head;
    while (c) {
        struct chunk *n = c->next;
        free(c);
        c = n;
    }
    free(a);
}

void *arena_alloc(struct arena *a, size_t n)
{
    const size_t align = _Alignof(max_align_t);
    if (n > SIZE_MAX / 2)
        return NULL;
    n = (n + align - 1) & ~(align - 1);
    if (n == 0)
        n = align;
    struct chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > CHUNK_SIZE ? n : CHUNK_SIZE;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->used = 0;
        c->cap = cap;
        /* A big block gets its own chunk behind the head, so the head's
         * free space stays usable. */
        if (a->head && n > CHUNK_SIZE) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = c->mem + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *arena_memdup(struct arena *a, const void *bytes, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *p = arena_alloc(a, len + 1);
    if (p && len)
        memcpy(p, bytes, len);
    return p;
}

/* ---- UTF-8 ---- */

static int xml_char_ok(uint32_t cp)
{
    if (cp < 0x20)
        return cp == 0x09 || cp == 0x0A || cp == 0x0D;
    return cp != 0xFFFE && cp != 0xFFFF;
}

int utf8_check(const uint8_t *s, size_t len, int xml_chars)
{
    size_t i = 0;
    while (i < len) {
        /* Runs of printable ASCII, most of any SyncML message, skip the
         * general case (a quarter of decoding's own instructions). */
        if (!xml_chars) {
            while (len - i >= sizeof(uint64_t)) {
                uint64_t w;
                memcpy(&w, s + i, sizeof w);
                if (w & 0x8080808080808080u)
                    break;
                i += sizeof w;
            }
            while (i < len && s[i] < 0x80)
                i++;
        } else {
            while (i < len && s[i] >= 0x20 && s[i] < 0x80)
                i++;
        }
        if (i == len)
            break;
        uint8_t c = s[i];
        uint32_t cp;
        size_t n;
        if (c < 0x80) {
            cp = c;
            n = 1;
        } else if (c >= 0xC2 && c <= 0xDF) {
            cp = c & 0x1Fu;
            n = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            cp = c & 0x0Fu;
            n = 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            cp = c & 0x07u;
            n = 4;
        } else {
            return DMSEC_ERR_CODEC_UTF8;
        }
        if (len - i < n)
            return DMSEC_ERR_CODEC_UTF8;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return DMSEC_ERR_CODEC_UTF8;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return DMSEC_ERR_CODEC_UTF8;
        if (xml_chars && !xml_char_ok(cp))
            return DMSEC_ERR_CODEC_BAD_CHAR;
        i += n;
    }
    return 0;
}

int dmsec_utf8_valid(const uint8_t *buf, size_t len)
{
    return (buf || !len) && utf8_check(buf, len, 0) == 0;
}

/* ---- output buffer ---- */

void ob_put(struct obuf *o, const void *bytes, size_t n)
{
    if (o->err || n == 0)
        return;
    if (o->cap - o->len < n) {
        size_t cap = o->cap ? o->cap : 4096; /* one allocation for most messages */
        while (cap - o->len < n) {
            if (cap > SIZE_MAX / 2) {
                o->err = DMSEC_ERR_NO_MEMORY;
                return;
            }
            cap *= 2;
        }
        uint8_t *p = realloc(o->p, cap);
        if (!p) {
            o->err = DMSEC_ERR_NO_MEMORY;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, bytes, n);
    o->len += n;
}

void ob_byte(struct obuf *o, uint8_t c)
{
    if (!o->err && o->len < o->cap)
        o->p[o->len++] = c;
    else
        ob_put(o, &c, 1);
}

void ob_str(struct obuf *o, const char *s)
{
    ob_put(o, s, strlen(s));
}

int ob_finish(struct obuf *o, uint8_t **out, size_t *out_len)
{
    if (o->err) {
        free(o->p);
        *out = NULL;
        if (out_len)
            *out_len = 0;
        return o->err;
    }
    *out = o->p;
    if (out_len)
        *out_len = o->len;
    return 0;
}
