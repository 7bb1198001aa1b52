/* plugins/tokens.c - a file of token ids, as a tokeniser wrote them.
 *
 * The file (all integers little-endian):
 *
 *   offset 0   8 bytes   magic "PPTOKEN1"
 *   offset 8   uint32    vocab: every id is below it (at most 2^31, so
 *                        that ids fit the int32 targets)
 *   offset 12  uint32    count: the number of ids
 *   offset 16  uint32    the ids, count of them, and nothing after
 *
 * The header makes a truncated or foreign file an error at open rather
 * than nonsense in training; every id is checked against vocab once, at
 * open, so reads need no checks. Windows as in text.c (corpus.h). Not a
 * tokeniser, and no other id width: 16-bit ids would halve the file, at
 * the cost of a second format.
 */
#include <stdlib.h>
#include <string.h>

#include <pipette/pipette.h>

#include "corpus.h"

#define MAGIC "PPTOKEN1"
#define HEADER 16

static const pp_key keys[] = {
    {"path", PP_KEY_STRING, PP_KEY_REQUIRED, PP_NO_RANGE, NULL, NULL,
     "the token file, relative to the current directory"},
    {"length", PP_KEY_INT, 0, 1, 1 << 24, NULL, "64", "tokens per sample"},
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

/* Checks the file in b (size bytes) and decodes its ids into s. */
static pp_status decode(const pp_section *cfg, const char *path,
                        const unsigned char *b, size_t size, state *s,
                        pp_error *err)
{
    if (size < HEADER)
        return pp_section_error(cfg, "path", err,
            "'%s' is too short for a token file: %zu bytes, the header "
            "alone is %d", path, size, HEADER);
    if (memcmp(b, MAGIC, 8) != 0)
        return pp_section_error(cfg, "path", err,
            "'%s' is not a token file: it does not begin with %s", path,
            MAGIC);
    uint32_t vocab = le32(b + 8), count = le32(b + 12);
    if (vocab == 0 || vocab > 1u << 31)
        return pp_section_error(cfg, "path", err,
            "'%s': the header's vocab size %u is not from 1 to 2147483648",
            path, vocab);
    if (size - HEADER != (uint64_t)count * 4)
        return pp_section_error(cfg, "path", err,
            "'%s': the header says %u ids (%llu bytes after it), the file "
            "has %zu bytes after it", path, count,
            (unsigned long long)count * 4, size - HEADER);
    s->ids = malloc((size_t)count * sizeof *s->ids);
    if (!s->ids)
        return pp_error_set(err, PP_ERR_NOMEM,
                            "out of memory for %u token ids", count);
    for (uint32_t i = 0; i < count; i++) {
        uint32_t id = le32(b + HEADER + 4 * (size_t)i);
        if (id >= vocab)
            return pp_section_error(cfg, "path", err,
                "'%s': id %u (at byte %llu) is %u, not below the vocab "
                "size %u", path, i, HEADER + 4 * (unsigned long long)i,
                id, vocab);
        s->ids[i] = (int32_t)id;
    }
    if (count < s->length + 1)
        return pp_section_error(cfg, "path", err,
            "'%s' has %u ids; length = %lld needs at least %lld", path,
            count, (long long)s->length, (long long)s->length + 1);
    s->count = count;
    s->vocab = vocab;
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
    pp_status st = pp_section_int(cfg, "length", &s->length, err);
    if (!st)
        st = pp_section_string(cfg, "path", &path, err);
    if (!st)
        st = corpus_load(cfg, "path", &bytes, &size, err);
    if (!st)
        st = decode(cfg, path, bytes, size, s, err);
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
          "a file of token ids (PPTOKEN1 header, uint32 ids)", keys, &ops);
