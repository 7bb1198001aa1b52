/* plugins/synthetic.c - learnable tasks generated from the seed, for
 * trying a model or a schedule without a data set.
 *
 *   mixture:  input float [features], target the class (an int scalar):
 *             one Gaussian of std `spread` per class. In the first two
 *             dimensions the centres sit evenly on a circle whose radius
 *             puts neighbours 3 apart (on a line, 3 apart, when features
 *             is 1); further dimensions add a standard normal offset per
 *             class. At the default spread a linear classifier can reach
 *             a loss near zero.
 *   sequence: input and target int [length]: x[t+1] = (x[t] + k) mod
 *             vocab from a random start, k in 1 .. vocab - 1 fixed by the
 *             seed; target[t] = x[t + 1], the next token.
 *
 * Sample i is a pure function of the keys, the seed and i (counter_rng.h),
 * and the set is endless. Not a benchmark: the tasks are easy on purpose,
 * so that a falling loss shows the training loop works.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pipette/pipette.h>

#include "counter_rng.h"

/* Separate streams, so that changing one key does not reshuffle
 * what another key's numbers are. */
enum { STREAM_CENTRE = 1, STREAM_LABEL, STREAM_NOISE, STREAM_STEP,
       STREAM_START };

enum task { MIXTURE, SEQUENCE };

#define PI 3.14159265358979323846

/* classes x features bounds the centres' table at 1 GiB. */
static const pp_key keys[] = {
    {"task", PP_KEY_ENUM, 0, PP_NO_RANGE, "mixture|sequence", "mixture",
     "which task to generate"},
    {"classes", PP_KEY_INT, 0, 2, 4096, NULL, "4",
     "mixture: number of classes"},
    {"features", PP_KEY_INT, 0, 1, 65536, NULL, "2",
     "mixture: input features"},
    {"spread", PP_KEY_FLOAT, PP_KEY_MIN_OPEN, 0, HUGE_VAL, NULL, "0.5",
     "mixture: std of each class around its centre"},
    {"vocab", PP_KEY_INT, 0, 2, INT32_MAX, NULL, "16",
     "sequence: token ids are 0 .. vocab - 1"},
    {"length", PP_KEY_INT, 0, 2, 1 << 24, NULL, "16",
     "sequence: tokens per sample"},
    {0},
};

typedef struct state {
    enum task task;
    uint64_t seed;
    int64_t classes, features; /* mixture */
    float spread;
    float *centre;             /* (classes, features) */
    int64_t vocab, length;     /* sequence */
    int64_t k;
} state;

/* Keys of the other task are refused rather than silently ignored. */
static pp_status refuse_keys(const pp_section *cfg, const char *const *names,
                             const char *task, pp_error *err)
{
    pp_status st = PP_OK;
    for (; *names; names++)
        if (pp_section_has(cfg, *names))
            st = pp_section_error(cfg, *names, err,
                                  "is not used by task = %s", task);
    return st;
}

static void place_centres(state *s)
{
    int64_t c = s->classes, f = s->features;
    double phase = pp_rng_uniform(s->seed, STREAM_CENTRE, 0, 0);
    /* Neighbours on a circle of radius r are 2 r sin(pi / c) apart. */
    double radius = 1.5 / sin(PI / (double)c);
    for (int64_t i = 0; i < c; i++) {
        float *x = s->centre + i * f;
        if (f == 1) {
            x[0] = (float)(3.0 * ((double)i - (double)(c - 1) / 2));
            continue;
        }
        double angle = 2 * PI * ((double)i + phase) / (double)c;
        x[0] = (float)(radius * cos(angle));
        x[1] = (float)(radius * sin(angle));
        for (int64_t d = 2; d < f; d++)
            x[d] = (float)pp_rng_normal(s->seed, STREAM_CENTRE,
                                        (uint64_t)i + 1, (uint64_t)d);
    }
}

static pp_status open_mixture(const pp_section *cfg, state *s,
                              pp_data_info *info, pp_error *err)
{
    static const char *const other[] = {"vocab", "length", NULL};
    double spread;
    if (refuse_keys(cfg, other, "mixture", err) ||
        pp_section_int(cfg, "classes", &s->classes, err) ||
        pp_section_int(cfg, "features", &s->features, err) ||
        pp_section_float(cfg, "spread", &spread, err))
        return err->code;
    s->spread = (float)spread;
    s->centre = malloc((size_t)(s->classes * s->features) * sizeof(float));
    if (!s->centre)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory for %lld "
                            "class centres", (long long)s->classes);
    place_centres(s);
    info->input = (pp_tensor_desc){PP_F32, {1, {s->features}}};
    info->target = (pp_tensor_desc){PP_I32, {0, {0}}};
    info->target_ids = s->classes;
    return PP_OK;
}

static pp_status open_sequence(const pp_section *cfg, state *s,
                               pp_data_info *info, pp_error *err)
{
    static const char *const other[] = {"classes", "features", "spread",
                                        NULL};
    if (refuse_keys(cfg, other, "sequence", err) ||
        pp_section_int(cfg, "vocab", &s->vocab, err) ||
        pp_section_int(cfg, "length", &s->length, err))
        return err->code;
    s->k = 1 + (int64_t)(pp_rng_u64(s->seed, STREAM_STEP, 0, 0) %
                         (uint64_t)(s->vocab - 1));
    info->input = (pp_tensor_desc){PP_I32, {1, {s->length}}};
    info->target = info->input;
    info->input_ids = info->target_ids = s->vocab;
    return PP_OK;
}

static pp_status data_open(const pp_section *cfg, uint64_t seed, void **out,
                           pp_data_info *info, pp_error *err)
{
    const char *task;
    if (pp_section_string(cfg, "task", &task, err))
        return err->code;
    state *s = calloc(1, sizeof *s);
    if (!s)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    s->seed = seed;
    s->task = strcmp(task, "sequence") == 0 ? SEQUENCE : MIXTURE;
    pp_status st = s->task == MIXTURE ? open_mixture(cfg, s, info, err)
                                      : open_sequence(cfg, s, info, err);
    if (st) {
        free(s->centre);
        free(s);
        return st;
    }
    info->samples = 0;
    *out = s;
    return PP_OK;
}

static void read_mixture(const state *s, uint64_t i, float *input,
                         int32_t *target)
{
    uint64_t c = pp_rng_u64(s->seed, STREAM_LABEL, i, 0) %
                 (uint64_t)s->classes;
    if (target)
        *target = (int32_t)c;
    if (!input)
        return;
    const float *centre = s->centre + (int64_t)c * s->features;
    for (int64_t d = 0; d < s->features; d++)
        input[d] = centre[d] + s->spread * (float)pp_rng_normal(
                                   s->seed, STREAM_NOISE, i, (uint64_t)d);
}

static void read_sequence(const state *s, uint64_t i, int32_t *input,
                          int32_t *target)
{
    int64_t x = (int64_t)(pp_rng_u64(s->seed, STREAM_START, i, 0) %
                          (uint64_t)s->vocab);
    for (int64_t t = 0; t < s->length; t++) {
        int64_t next = (x + s->k) % s->vocab;
        if (input)
            input[t] = (int32_t)x;
        if (target)
            target[t] = (int32_t)next;
        x = next;
    }
}

static pp_status data_read(const void *st, int64_t first, int n,
                           void *inputs, void *targets, pp_error *err)
{
    (void)err;
    const state *s = st;
    float *x = inputs;        /* mixture: (n, features) */
    int32_t *tokens = inputs; /* sequence: (n, length) */
    int32_t *y = targets;     /* mixture: (n); sequence: (n, length) */
    for (int j = 0; j < n; j++) {
        uint64_t i = (uint64_t)(first + j);
        if (s->task == MIXTURE)
            read_mixture(s, i, x ? x + j * s->features : NULL,
                         y ? y + j : NULL);
        else
            read_sequence(s, i, tokens ? tokens + j * s->length : NULL,
                          y ? y + j * s->length : NULL);
    }
    return PP_OK;
}

static void data_close(void *st)
{
    state *s = st;
    if (s)
        free(s->centre);
    free(s);
}

static const pp_data_ops ops = {
    .open = data_open, .read = data_read, .close = data_close};

PP_PLUGIN(PP_KIND_DATA, "synthetic",
          "learnable tasks made from the seed: Gaussian mixture, token rule",
          keys, &ops);
