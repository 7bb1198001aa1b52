/* plugins/text.c - any file's bytes as a character-level corpus.
 *
 * The vocabulary is the 256 byte values: no tokeniser, no encoding, so
 * UTF-8 text is learnt a byte at a time. Sample i is the `length` bytes at
 * a start hashed from (seed, i) and its target the next byte at each
 * position (corpus.h). The file is read whole at open and never touched
 * again, so reader threads share it freely.
 */
#include <stdlib.h>

#include <pipette/pipette.h>

#include "corpus.h"

static const pp_key keys[] = {
    {"path", PP_KEY_STRING, PP_KEY_REQUIRED, PP_NO_RANGE, NULL, NULL,
     "the file, relative to the model file's directory"},
    {"length", PP_KEY_INT, 0, 1, 1 << 24, NULL, "64",
     "characters per sample"},
    {0},
};

typedef struct state {
    unsigned char *bytes; /* (size) the whole file */
    int64_t size, length;
    uint64_t seed;
} state;

static pp_status data_open(const pp_section *cfg, uint64_t seed, void **out,
                           pp_data_info *info, pp_error *err)
{
    state *s = calloc(1, sizeof *s);
    if (!s)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    size_t size;
    const char *path;
    if (pp_section_int(cfg, "length", &s->length, err) ||
        pp_section_string(cfg, "path", &path, err) ||
        corpus_load(cfg, "path", &s->bytes, &size, err)) {
        free(s);
        return err->code;
    }
    s->size = (int64_t)size;
    s->seed = seed;
    if (s->size < s->length + 1) {
        pp_section_error(cfg, "path", err,
                         "'%s' has %lld bytes; length = %lld needs at least "
                         "%lld", path, (long long)s->size,
                         (long long)s->length, (long long)s->length + 1);
        free(s->bytes);
        free(s);
        return PP_ERR_CONFIG;
    }
    info->input = (pp_tensor_desc){PP_I32, {1, {s->length}}};
    info->target = info->input;
    info->input_ids = info->target_ids = 256; /* bytes */
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
        const unsigned char *w =
            s->bytes + corpus_window(s->seed, first + j, s->size, len);
        int32_t *in = inputs ? (int32_t *)inputs + j * len : NULL;
        int32_t *tg = targets ? (int32_t *)targets + j * len : NULL;
        for (int64_t t = 0; t < len; t++) {
            if (in)
                in[t] = w[t];
            if (tg)
                tg[t] = w[t + 1];
        }
    }
    return PP_OK;
}

static void data_close(void *st)
{
    state *s = st;
    if (s)
        free(s->bytes);
    free(s);
}

static const pp_data_ops ops = {
    .open = data_open, .read = data_read, .close = data_close};

PP_PLUGIN(PP_KIND_DATA, "text",
          "a file's bytes as a character-level corpus (vocab 256)", keys,
          &ops);
