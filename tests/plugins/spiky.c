/* tests/plugins/spiky.c - a data source with a spike, for a step that is
 * not finite (tests/test_train.c, tests/train-cli.sh): float features
 * and a class per sample, the same batch again and again (sample i is
 * sample i % repeat), but for the samples from `bad` on, `bad_count` of
 * them, whose first feature is infinite. Sample i is a function of i
 * alone. Built in a directory of its own (tests/plugins/data), which a
 * test puts on the plugin path. */
#include <math.h>
#include <stdlib.h>

#include <pipette/pipette.h>

static const pp_key keys[] = {
    {"features", PP_KEY_INT, 0, 1, 4096, NULL, "4", "floats per sample"},
    {"classes", PP_KEY_INT, 0, 2, 4096, NULL, "3", "targets 0 .. classes - 1"},
    {"repeat", PP_KEY_INT, 0, 1, (double)INT64_MAX, NULL, "24",
     "samples before they repeat (a batch: every step sees the same)"},
    {"bad", PP_KEY_INT, 0, 0, (double)INT64_MAX, NULL, "0",
     "the first sample whose first feature is infinite"},
    {"bad_count", PP_KEY_INT, 0, 0, (double)INT64_MAX, NULL, "0",
     "how many from `bad` on (0: none)"},
    {0},
};

typedef struct state {
    int64_t features, classes, repeat, bad, count;
} state;

static pp_status spiky_open(const pp_section *cfg, uint64_t seed,
                            void **out, pp_data_info *info, pp_error *err)
{
    (void)seed;
    state *s = calloc(1, sizeof *s);
    if (!s)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    if (pp_section_int(cfg, "features", &s->features, err) ||
        pp_section_int(cfg, "classes", &s->classes, err) ||
        pp_section_int(cfg, "repeat", &s->repeat, err) ||
        pp_section_int(cfg, "bad", &s->bad, err) ||
        pp_section_int(cfg, "bad_count", &s->count, err)) {
        free(s);
        return err->code;
    }
    info->input = (pp_tensor_desc){PP_F32, {1, {s->features}}};
    info->target = (pp_tensor_desc){PP_I32, {0, {0}}};
    info->target_ids = s->classes;
    *out = s;
    return PP_OK;
}

/* Feature j of sample i: sin(0.7 (i % repeat + 1) (j + 1)); its class
 * (i % repeat) % classes. */
static pp_status spiky_read(const void *handle, int64_t first, int n,
                            void *inputs, void *targets, pp_error *err)
{
    (void)err;
    const state *s = handle;
    for (int k = 0; k < n; k++) {
        int64_t i = first + k, at = i % s->repeat;
        float *x = inputs ? (float *)inputs + k * s->features : NULL;
        for (int64_t j = 0; x && j < s->features; j++)
            x[j] = sinf(0.7f * (float)(at + 1) * (float)(j + 1));
        if (x && i >= s->bad && i < s->bad + s->count)
            x[0] = INFINITY;
        if (targets)
            ((int32_t *)targets)[k] = (int32_t)(at % s->classes);
    }
    return PP_OK;
}

static void spiky_close(void *handle)
{
    free(handle);
}

static const pp_data_ops ops = {spiky_open, spiky_read, spiky_close};

PP_PLUGIN(PP_KIND_DATA, "spiky",
          "the same batch again, with infinite features where asked (tests)",
          keys, &ops);
