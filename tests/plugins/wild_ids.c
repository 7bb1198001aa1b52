/* tests/plugins/wild_ids.c - a data source that does not say what ids it
 * makes (as a plugin built before ABI 1.2 cannot): ids 0 to 299, so a
 * layer taking fewer must refuse them while training. */
#include <stdlib.h>

#include <pipette/pipette.h>

static const pp_key keys[] = {
    {"length", PP_KEY_INT, 0, 1, 4096, NULL, "32", "ids per sample"},
    {0},
};

typedef struct state {
    int64_t length;
} state;

static pp_status wild_open(const pp_section *cfg, uint64_t seed, void **out,
                           pp_data_info *info, pp_error *err)
{
    (void)seed;
    state *s = calloc(1, sizeof *s);
    if (!s)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    if (pp_section_int(cfg, "length", &s->length, err)) {
        free(s);
        return err->code;
    }
    info->input = (pp_tensor_desc){PP_I32, {1, {s->length}}};
    info->target = info->input;
    *out = s;
    return PP_OK;
}

static pp_status wild_read(const void *handle, int64_t first, int n,
                           void *inputs, void *targets, pp_error *err)
{
    (void)err;
    const state *s = handle;
    for (int64_t i = 0; i < n * s->length; i++) {
        int32_t id = (int32_t)((first * s->length + i) * 37 % 300);
        if (inputs)
            ((int32_t *)inputs)[i] = id;
        if (targets)
            ((int32_t *)targets)[i] = id;
    }
    return PP_OK;
}

static void wild_close(void *handle)
{
    free(handle);
}

static const pp_data_ops ops = {wild_open, wild_read, wild_close};

PP_PLUGIN(PP_KIND_DATA, "wild_ids", "ids 0 to 299, undeclared (tests)",
          keys, &ops);
