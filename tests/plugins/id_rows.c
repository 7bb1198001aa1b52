/* tests/plugins/id_rows.c - a data source with float targets, for
 * training mse (test_train_cuda): input int [length], token ids below
 * vocab; target float [length, width], a fixed row for each id, which an
 * embedding can learn. Sample i is a function of the seed and i alone.
 * Built in a directory of its own (tests/plugins/data), which a test puts
 * on the plugin path. */
#include <math.h>
#include <stdlib.h>

#include <pipette/pipette.h>

static const pp_key keys[] = {
    {"vocab", PP_KEY_INT, 0, 2, 65536, NULL, "16", "ids are 0 .. vocab - 1"},
    {"length", PP_KEY_INT, 0, 1, 4096, NULL, "8", "ids per sample"},
    {"width", PP_KEY_INT, 0, 1, 4096, NULL, "16", "target values per id"},
    {0},
};

typedef struct state {
    uint64_t seed;
    int64_t vocab, length, width;
} state;

/* splitmix64's finaliser */
static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15u;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static pp_status rows_open(const pp_section *cfg, uint64_t seed, void **out,
                           pp_data_info *info, pp_error *err)
{
    state *s = calloc(1, sizeof *s);
    if (!s)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    if (pp_section_int(cfg, "vocab", &s->vocab, err) ||
        pp_section_int(cfg, "length", &s->length, err) ||
        pp_section_int(cfg, "width", &s->width, err)) {
        free(s);
        return err->code;
    }
    s->seed = mix(seed);
    info->input = (pp_tensor_desc){PP_I32, {1, {s->length}}};
    info->target = (pp_tensor_desc){PP_F32, {2, {s->length, s->width}}};
    info->input_ids = s->vocab;
    *out = s;
    return PP_OK;
}

/* id = a hash of (seed, token) below vocab; its row j = sin(0.7 (id + 1)
 * (j + 1)) / 2 */
static pp_status rows_read(const void *handle, int64_t first, int n,
                           void *inputs, void *targets, pp_error *err)
{
    (void)err;
    const state *s = handle;
    for (int64_t t = 0; t < n * s->length; t++) {
        uint64_t token = (uint64_t)(first * s->length + t);
        int32_t id = (int32_t)(mix(s->seed ^ token) % (uint64_t)s->vocab);
        if (inputs)
            ((int32_t *)inputs)[t] = id;
        float *row = targets ? (float *)targets + t * s->width : NULL;
        for (int64_t j = 0; row && j < s->width; j++)
            row[j] = 0.5f * sinf(0.7f * (float)(id + 1) * (float)(j + 1));
    }
    return PP_OK;
}

static void rows_close(void *handle)
{
    free(handle);
}

static const pp_data_ops ops = {rows_open, rows_read, rows_close};

PP_PLUGIN(PP_KIND_DATA, "id_rows",
          "token ids and a float target row per id (tests: mse)", keys,
          &ops);
