/* plugins/tokens.c - a file of token ids, as a tokeniser wrote them.
 *
 * Two formats, told apart by their first bytes (all integers
 * little-endian):
 *
 * llm.c's (karpathy/llm.c, dev/data/data_common.py), so its prepared
 * data sets (tinyshakespeare, fineweb, ...) load as they are:
 *
 *   offset 0     256 int32   header: [0] magic, [1] version, [2] count,
 *                            the rest unused
 *   offset 1024  the ids, count of them, and nothing after: uint16 for
 *                magic 20240520 version 1 (GPT-2), uint32 for magic
 *                20240801 version 7 (Llama 3)
 *
 * pipette's own, PPTOKEN1, which carries its vocab:
 *
 *   offset 0   8 bytes   magic "PPTOKEN1"
 *   offset 8   uint32    vocab: every id is below it (at most 2^31, so
 *                        that ids fit the int32 targets)
 *   offset 12  uint32    count: the number of ids
 *   offset 16  uint32    the ids, count of them, and nothing after
 *
 * llm.c's files say nothing of the vocabulary: the `vocab` key bounds the
 * ids where it is given, otherwise the largest id + 1 does, and the
 * trainer then checks it against the model's embedding and loss.
 *
 * A header makes a truncated or foreign file an error at open rather than
 * nonsense in training; every id is checked once, at open, so reads need
 * no checks. Windows as in text.c (corpus.h). Not a tokeniser, and one
 * file, not llm.c's shards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pipette/pipette.h>

#include "corpus.h"

#define PP_MAGIC "PPTOKEN1"
#define PP_HEADER 16
#define LLMC_HEADER 1024 /* 256 int32 */

/* llm.c's formats: a magic, the one version it comes with, the bytes of
 * an id. */
static const struct llmc_format {
    uint32_t magic, version;
    int width;
    const char *what;
} llmc_formats[] = {
    {20240520, 1, 2, "uint16 ids, GPT-2"},
    {20240801, 7, 4, "uint32 ids, Llama 3"},
};
#define NLLMC ((int)(sizeof llmc_formats / sizeof *llmc_formats))

static const pp_key keys[] = {
    {"path", PP_KEY_STRING, PP_KEY_REQUIRED, PP_NO_RANGE, NULL, NULL,
     "the token file (llm.c's or PPTOKEN1), relative to the model file's "
     "directory"},
    {"length", PP_KEY_INT, 0, 1, 1 << 24, NULL, "64", "tokens per sample"},
    {"vocab", PP_KEY_INT, 0, 1, 2147483648.0, NULL, NULL,
     "every id is below it (default: a PPTOKEN1 file's own, the largest "
     "id + 1 of an llm.c file)"},
    {0},
};

typedef struct state {
    int32_t *ids; /* (count) */
    int64_t count, length, vocab;
    uint64_t seed;
} state;

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint32_t le16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

/* Where the ids are and what bounds them, from a file's header. */
typedef struct layout {
    size_t header;   /* bytes before the ids */
    int width;       /* bytes an id */
    int64_t count;
    int64_t vocab;   /* ids are below it; 0: the file does not say */
} layout;

static pp_status read_pptoken(const pp_section *cfg, const char *path,
                              const unsigned char *b, size_t size,
                              layout *l, pp_error *err)
{
    if (size < PP_HEADER)
        return pp_section_error(cfg, "path", err,
            "'%s' is too short for a token file: %zu bytes, the header "
            "alone is %d", path, size, PP_HEADER);
    uint32_t vocab = le32(b + 8);
    if (vocab == 0 || vocab > 1u << 31)
        return pp_section_error(cfg, "path", err,
            "'%s': the header's vocab size %u is not from 1 to 2147483648",
            path, vocab);
    *l = (layout){PP_HEADER, 4, le32(b + 12), vocab};
    return PP_OK;
}

static pp_status read_llmc(const pp_section *cfg, const char *path,
                           const unsigned char *b, size_t size,
                           const struct llmc_format *f, layout *l,
                           pp_error *err)
{
    if (size < LLMC_HEADER)
        return pp_section_error(cfg, "path", err,
            "'%s' is too short for llm.c's token file: %zu bytes, the "
            "header alone is %d", path, size, LLMC_HEADER);
    uint32_t version = le32(b + 4);
    int32_t count = (int32_t)le32(b + 8);
    if (version != f->version)
        return pp_section_error(cfg, "path", err,
            "'%s': llm.c's magic %u comes with version %u (%s), the header "
            "says version %u", path, f->magic, f->version, f->what,
            version);
    if (count < 0)
        return pp_section_error(cfg, "path", err,
            "'%s': the header's count of ids is negative (%d)", path,
            count);
    *l = (layout){LLMC_HEADER, f->width, count, 0};
    return PP_OK;
}

/* Checks the file in b (size bytes) and decodes its ids into s; vocab is
 * the key's, or 0. */
static pp_status decode(const pp_section *cfg, const char *path,
                        const unsigned char *b, size_t size, int64_t vocab,
                        state *s, pp_error *err)
{
    layout l = {0};
    const struct llmc_format *f = NULL;
    for (int k = 0; size >= 4 && k < NLLMC; k++)
        if (le32(b) == llmc_formats[k].magic)
            f = &llmc_formats[k];
    pp_status st;
    if (f)
        st = read_llmc(cfg, path, b, size, f, &l, err);
    else if (size >= 8 && memcmp(b, PP_MAGIC, 8) == 0)
        st = read_pptoken(cfg, path, b, size, &l, err);
    else if (size < PP_HEADER)
        return pp_section_error(cfg, "path", err,
            "'%s' is too short for a token file: %zu bytes", path, size);
    else
        return pp_section_error(cfg, "path", err,
            "'%s' is not a token file: it begins with neither llm.c's "
            "magic (20240520 or 20240801, int32) nor %s", path, PP_MAGIC);
    if (st)
        return st;
    uint64_t bytes = (uint64_t)l.count * (uint64_t)l.width;
    if (size - l.header != bytes)
        return pp_section_error(cfg, "path", err,
            "'%s': the header says %lld ids (%llu bytes after it), the file "
            "has %zu bytes after it", path, (long long)l.count,
            (unsigned long long)bytes, size - l.header);
    /* The key, the file's own vocab and the int32 targets all bound the
     * ids: the tightest is checked, and named. */
    int64_t bound = (int64_t)1 << 31;
    char bound_is[64] = "2147483648 (ids are int32)";
    if (l.vocab && l.vocab <= bound) {
        bound = l.vocab;
        snprintf(bound_is, sizeof bound_is, "the header's vocab size %lld",
                 (long long)bound);
    }
    if (vocab && vocab <= bound) {
        bound = vocab;
        snprintf(bound_is, sizeof bound_is, "vocab = %lld", (long long)bound);
    }
    s->ids = malloc((size_t)(l.count ? l.count : 1) * sizeof *s->ids);
    if (!s->ids)
        return pp_error_set(err, PP_ERR_NOMEM,
                            "out of memory for %lld token ids",
                            (long long)l.count);
    int64_t top = -1;
    for (int64_t i = 0; i < l.count; i++) {
        const unsigned char *p = b + l.header + (size_t)i * (size_t)l.width;
        uint32_t id = l.width == 2 ? le16(p) : le32(p);
        if (id >= bound)
            return pp_section_error(cfg, "path", err,
                "'%s': id %lld (at byte %llu) is %u, not below %s", path,
                (long long)i, (unsigned long long)(p - b), id, bound_is);
        s->ids[i] = (int32_t)id;
        top = id > top ? id : top;
    }
    if (l.count < s->length + 1)
        return pp_section_error(cfg, "path", err,
            "'%s' has %lld ids; length = %lld needs at least %lld", path,
            (long long)l.count, (long long)s->length,
            (long long)s->length + 1);
    s->count = l.count;
    s->vocab = vocab ? vocab : l.vocab ? l.vocab : top + 1;
    return PP_OK;
}

static pp_status data_open(const pp_section *cfg, uint64_t seed, void **out,
                           pp_data_info *info, pp_error *err)
{
    state *s = calloc(1, sizeof *s);
    if (!s)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    unsigned char *bytes = NULL;
    size_t size;
    const char *path;
    int64_t vocab = 0;
    pp_status st = pp_section_int(cfg, "length", &s->length, err);
    if (!st && pp_section_has(cfg, "vocab"))
        st = pp_section_int(cfg, "vocab", &vocab, err);
    if (!st)
        st = pp_section_string(cfg, "path", &path, err);
    if (!st)
        st = corpus_load(cfg, "path", &bytes, &size, err);
    if (!st)
        st = decode(cfg, path, bytes, size, vocab, s, err);
    free(bytes);
    if (st) {
        free(s->ids);
        free(s);
        return st;
    }
    s->seed = seed;
    info->input = (pp_tensor_desc){PP_I32, {1, {s->length}}};
    info->target = info->input;
    info->input_ids = info->target_ids = s->vocab;
    info->samples = 0;
    *out = s;
    return PP_OK;
}

static pp_status data_read(const void *st, int64_t first, int n,
                           void *inputs, void *targets, pp_error *err)
{
    (void)err;
    const state *s = st;
    int64_t len = s->length;
    for (int j = 0; j < n; j++) {
        const int32_t *w =
            s->ids + corpus_window(s->seed, first + j, s->count, len);
        if (inputs)
            memcpy((int32_t *)inputs + j * len, w, (size_t)len * 4);
        if (targets)
            memcpy((int32_t *)targets + j * len, w + 1, (size_t)len * 4);
    }
    return PP_OK;
}

static void data_close(void *st)
{
    state *s = st;
    if (s)
        free(s->ids);
    free(s);
}

static const pp_data_ops ops = {
    .open = data_open, .read = data_read, .close = data_close};

PP_PLUGIN(PP_KIND_DATA, "tokens",
          "a file of token ids (llm.c's .bin, or PPTOKEN1)", keys, &ops);
