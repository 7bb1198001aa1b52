/* src/model.c - from an INI file to a validated pp_model.
 *
 * Order matters for good errors: the file's form first (config_file.c),
 * then [model] (it holds plugin_path, needed to find plugins), then each
 * section against its keys, then the layers' shapes in order. Every problem
 * found is reported, not just the first, but a layer whose plugin is
 * missing stops the shape walk there: the shapes after it are unknown.
 */
#include <config.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "plugin_plan.h"
#include "routes.h"

static const pp_key model_keys[] = {
    {"name", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, NULL, "the model's name, for logs"},
    {"input", PP_KEY_SHAPE, PP_KEY_REQUIRED, PP_NO_RANGE, NULL, NULL,
     "one sample of the model's input, e.g. 784 or 3x32x32"},
    {"input_type", PP_KEY_ENUM, 0, PP_NO_RANGE, "float|int", "float",
     "float features, or int token ids"},
    {"plugin_path", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, NULL,
     "':'-separated directories searched first for plugins"},
    {0},
};

static const pp_key layer_keys[] = {
    {"type", PP_KEY_STRING, PP_KEY_REQUIRED, PP_NO_RANGE, NULL, NULL,
     "the layer plugin, e.g. linear"},
    {"stage", PP_KEY_INT, 0, 0, 4095, NULL, NULL,
     "the stage this layer belongs to (partition = manual)"},
    {0},
};

static const pp_key pipeline_keys[] = {
    {"schedule", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, "1f1b",
     "schedule plugin name, or file:PATH"},
    {"devices", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, "cpu",
     "one device per rank: cpu or cuda:N, each optionally *K, comma-separated"},
    {"microbatches", PP_KEY_INT, 0, 1, 65536, NULL, "1",
     "micro-batches per step; must divide [train] batch"},
    {"stages_per_rank", PP_KEY_INT, 0, 1, 64, NULL, "1",
     "stages each rank holds (v, for interleaved schedules)"},
    {"layers_per_stage", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, NULL,
     "how many layers each stage takes, in order, e.g. 2,3,1 (partition = "
     "manual)"},
    {"partition", PP_KEY_ENUM, 0, PP_NO_RANGE, "params|flops|manual", NULL,
     "how layers are cut into stages (default: manual when layers say stage =, else params)"},
    {"transport", PP_KEY_ENUM, 0, PP_NO_RANGE, "auto|local|peer|nccl", "auto",
     "how tensors move between ranks"},
    {"recompute", PP_KEY_BOOL, 0, PP_NO_RANGE, NULL, "false",
     "keep only each stage's input per micro-batch; recompute in backward"},
    {0},
};

static const pp_key train_keys[] = {
    {"batch", PP_KEY_INT, PP_KEY_REQUIRED, 1, 1 << 24, NULL, NULL,
     "samples per optimizer step"},
    {"steps", PP_KEY_INT, 0, 1, (double)INT64_MAX, NULL, "100", "optimizer steps to run"},
    {"optimizer", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, "sgd", "optimizer plugin"},
    {"lr", PP_KEY_FLOAT, PP_KEY_MIN_OPEN, 0, HUGE_VAL, NULL, "0.01",
     "learning rate"},
    {"seed", PP_KEY_INT, 0, 0, (double)INT64_MAX, NULL, "1", "seed for initialisation and data"},
    {"log_every", PP_KEY_INT, 0, 1, (double)INT64_MAX, NULL, "10", "steps between log lines"},
    {"log", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, NULL,
     "also write the log lines to this file"},
    {"trace", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, NULL,
     "write the measured timeline here (Chrome trace JSON)"},
    {"checkpoint", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, NULL,
     "write the trained parameters here at the end"},
    {0},
};

static const pp_key data_keys[] = {
    {"source", PP_KEY_STRING, PP_KEY_REQUIRED, PP_NO_RANGE, NULL, NULL,
     "data plugin, e.g. synthetic"},
    {0},
};

const char *pp_partition_name(pp_partition p)
{
    switch (p) {
    case PP_PARTITION_PARAMS: return "params";
    case PP_PARTITION_FLOPS: return "flops";
    case PP_PARTITION_MANUAL: return "manual";
    }
    return "?";
}

void pp_model_free(pp_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nlayers; i++)
        pp_layer_plan_release(&m->layers[i].plan);
    free(m->layers);
    free(m->devices);
    free(m->route);
    pp_plan_free(m->plan);
    pp_registry_free(m->registry);
    pp_config_free(m->cfg);
    free(m);
}

static int parse_count(const char *text, long lo, long hi, long *out)
{
    int64_t v;
    if (pp_parse_int(text, &v) || v < lo || v > hi)
        return -1;
    *out = (long)v;
    return 0;
}

int pp_parse_devices(const char *text, pp_device_spec **out, int *n,
                     char *why, size_t why_size)
{
    *out = NULL;
    *n = 0;
    char *copy = strdup(text);
    if (!copy) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    pp_device_spec *list = NULL;
    int count = 0, failed = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item && !failed;
         item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ' || *item == '\t')
            item++;
        char *end = item + strlen(item);
        while (end > item && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        long repeat = 1;
        char *star = strchr(item, '*');
        if (star) {
            *star = '\0';
            if (parse_count(star + 1, 1, 4096, &repeat)) {
                snprintf(why, why_size,
                         "'%s*%s': the repeat count after '*' must be an "
                         "integer from 1 to 4096", item, star + 1);
                failed = 1;
                break;
            }
        }
        pp_device_spec spec;
        long index = 0;
        if (strcmp(item, "cpu") == 0) {
            spec.kind = PP_DEV_CPU;
        } else if (strncmp(item, "cuda:", 5) == 0 &&
                   parse_count(item + 5, 0, 1023, &index) == 0) {
            spec.kind = PP_DEV_CUDA;
        } else {
            snprintf(why, why_size,
                     "'%s' is not a device: expected cpu or cuda:N "
                     "(N a GPU index), optionally followed by *COUNT",
                     item);
            failed = 1;
            break;
        }
        if (count + repeat > 4096) {
            snprintf(why, why_size, "more than 4096 ranks");
            failed = 1;
            break;
        }
        pp_device_spec *grown = realloc(list, (size_t)(count + repeat) *
                                                  sizeof *grown);
        if (!grown) {
            snprintf(why, why_size, "out of memory");
            failed = 1;
            break;
        }
        list = grown;
        for (long k = 0; k < repeat; k++) {
            spec.index = spec.kind == PP_DEV_CUDA ? (int)index : count;
            list[count++] = spec;
        }
    }
    free(copy);
    if (!failed && count == 0) {
        snprintf(why, why_size, "no device listed: expected cpu or cuda:N");
        failed = 1;
    }
    if (failed) {
        free(list);
        return -1;
    }
    *out = list;
    *n = count;
    return 0;
}

/* The config's plugin_path with relative directories taken from the config
 * file's own directory, so a model and its plugins can travel together. */
static char *resolve_plugin_path(const char *cfg_path, const char *list)
{
    const char *slash = strrchr(cfg_path, '/');
    size_t base = slash ? (size_t)(slash - cfg_path) : 1;
    const char *base_text = slash ? cfg_path : ".";
    size_t cap = strlen(list) * 2 + 64, used = 0;
    for (const char *p = list; *p; p++)
        cap += *p == ':' ? base + 1 : 0;
    cap += base + 1;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    out[0] = '\0';
    while (*list) {
        const char *colon = strchr(list, ':');
        size_t len = colon ? (size_t)(colon - list) : strlen(list);
        if (len) {
            int abs = list[0] == '/';
            used += (size_t)snprintf(out + used, cap - used, "%s%.*s%s%.*s",
                                     used ? ":" : "", abs ? 0 : (int)base,
                                     base_text, abs ? "" : "/", (int)len,
                                     list);
        }
        list = colon ? colon + 1 : "";
    }
    return out;
}

/* Resolves the plugin a key names (layer type, optimizer, ...), or its
 * default when the key is not written, and checks the section against core
 * keys plus the plugin's. */
static const pp_plugin *section_plugin(pp_model *m, pp_section *s,
                                       const pp_key *core, const char *key,
                                       const char *def, pp_plugin_kind kind,
                                       pp_error *err)
{
    const pp_entry *e = pp_section_entry(s, key);
    if (!e && !def) {
        pp_section_validate(s, core, NULL, err);
        return NULL;
    }
    const pp_plugin *plugin = NULL;
    pp_error why;
    pp_error_clear(&why);
    if (pp_registry_find(m->registry, kind, e ? e->value : def, &plugin,
                         &why)) {
        /* The section's other keys are the missing plugin's to judge:
         * checking them now would only report them all as unknown. */
        pp_section_error(s, e ? key : NULL, err, "%s", why.msg);
        return NULL;
    }
    if (pp_section_validate(s, core, plugin->desc->keys, err))
        return NULL;
    return plugin;
}

static void load_model_section(pp_model *m, pp_error *err)
{
    pp_section *s = pp_config_section(m->cfg, "model");
    if (!s) {
        pp_error_add(err, PP_ERR_CONFIG,
            "%s:1: missing [model] section (it says what one input sample "
            "looks like: input = 784)", m->cfg->path);
        return;
    }
    if (pp_section_validate(s, model_keys, NULL, err))
        return;
    const char *type;
    pp_error ignore;
    if (pp_section_has(s, "name"))
        pp_section_string(s, "name", &m->name, &ignore);
    pp_section_shape(s, "input", &m->input.shape, &ignore);
    pp_section_string(s, "input_type", &type, &ignore);
    m->input.dtype = strcmp(type, "int") == 0 ? PP_I32 : PP_F32;
}

static pp_status make_registry(pp_model *m, pp_error *err)
{
    pp_section *s = pp_config_section(m->cfg, "model");
    const pp_entry *e = s ? pp_section_entry(s, "plugin_path") : NULL;
    char *dirs = NULL;
    if (e && !(dirs = resolve_plugin_path(m->cfg->path, e->value)))
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    pp_status st = pp_registry_create(dirs, &m->registry, err);
    free(dirs);
    return st;
}

static void load_layers(pp_model *m, pp_error *err)
{
    int n = 0;
    for (size_t i = 0; i < m->cfg->nsections; i++)
        n += strcmp(m->cfg->sections[i]->kind, "layer") == 0;
    if (n == 0) {
        pp_error_add(err, PP_ERR_CONFIG,
            "%s:1: no [layer NAME] sections: a model needs at least one "
            "layer", m->cfg->path);
        return;
    }
    m->layers = calloc((size_t)n, sizeof *m->layers);
    if (!m->layers) {
        pp_error_add(err, PP_ERR_NOMEM, "out of memory");
        return;
    }
    pp_tensor_desc in = m->input;
    int shapes_known = m->input.shape.ndim > 0;
    pp_error ignore;
    for (size_t i = 0; i < m->cfg->nsections; i++) {
        pp_section *s = m->cfg->sections[i];
        if (strcmp(s->kind, "layer") != 0)
            continue;
        pp_model_layer *l = &m->layers[m->nlayers++];
        l->section = s;
        l->name = s->name;
        l->stage = -1;
        l->plugin = section_plugin(m, s, layer_keys, "type", NULL,
                                   PP_KIND_LAYER, err);
        if (pp_section_has(s, "stage")) {
            int64_t stage;
            if (pp_section_int(s, "stage", &stage, &ignore) == PP_OK)
                l->stage = (int)stage;
        }
        if (!l->plugin || !shapes_known) {
            shapes_known = 0;
            continue;
        }
        const pp_layer_ops *ops = l->plugin->desc->ops;
        l->in = in;
        if (ops->inputs > 1) {
            pp_section_error(s, "type", err,
                "%s takes %d inputs", l->plugin->desc->name, ops->inputs);
            shapes_known = 0;
            continue;
        }
        if (ops->plan(s, &l->in, 1, &l->plan, err)) {
            shapes_known = 0;
            continue;
        }
        in = l->plan.out;
        /* Nothing may follow a loss (check_loss_placement says so);
         * feeding its scalar on would only add confusing shape errors. */
        shapes_known = !l->plan.is_loss;
    }
}

static void check_loss_placement(pp_model *m, pp_error *err)
{
    for (int i = 0; i < m->nlayers; i++) {
        pp_model_layer *l = &m->layers[i];
        if (!l->plugin)
            return; /* shapes unknown from here: already reported */
        if (l->plan.is_loss && i != m->nlayers - 1)
            pp_section_error(l->section, "type", err,
                "a loss layer must be the model's last layer, but [layer %s] "
                "follows it", m->layers[i + 1].name);
    }
    pp_model_layer *last = &m->layers[m->nlayers - 1];
    if (m->has_train && last->plugin && !last->plan.is_loss)
        pp_section_error(last->section, "type", err,
            "the last layer must be a loss (e.g. softmax_xent or mse) to "
            "train; '%s' is not", last->plugin->desc->name);
}

static void load_pipeline(pp_model *m, pp_error *err)
{
    pp_section *s = pp_config_section(m->cfg, "pipeline");
    pp_error ignore;
    int64_t v;
    const char *text;
    if (s && pp_section_validate(s, pipeline_keys, NULL, err))
        return;
    if (!s) {
        /* An absent [pipeline] means one rank on the CPU. */
        m->schedule = "1f1b";
        m->transport = "auto";
        m->microbatches = m->stages_per_rank = 1;
        m->nranks = 1;
        m->devices = calloc(1, sizeof *m->devices);
        if (m->devices)
            m->devices[0].kind = PP_DEV_CPU;
        m->partition = PP_PARTITION_PARAMS;
        for (int i = 0; i < m->nlayers; i++)
            if (m->layers[i].stage >= 0)
                m->partition = PP_PARTITION_MANUAL;
        return;
    }
    pp_section_string(s, "schedule", &m->schedule, &ignore);
    pp_section_string(s, "transport", &m->transport, &ignore);
    bool recompute;
    pp_section_bool(s, "recompute", &recompute, &ignore);
    m->recompute = recompute;
    pp_section_int(s, "microbatches", &v, &ignore);
    m->microbatches = (int)v;
    pp_section_int(s, "stages_per_rank", &v, &ignore);
    m->stages_per_rank = (int)v;
    pp_section_string(s, "devices", &text, &ignore);
    char why[256];
    if (pp_parse_devices(text, &m->devices, &m->nranks, why, sizeof why))
        pp_section_error(s, "devices", err, "%s", why);
    for (int r = 0; r < m->nranks; r++) {
        if (m->devices[r].kind != PP_DEV_CUDA)
            continue;
        /* The plugin must load; whether the GPU answers is a question for
         * run time, so that a file can be checked on any machine. */
        const pp_plugin *cuda;
        pp_error fail;
        pp_error_clear(&fail);
        if (pp_registry_find(m->registry, PP_KIND_DEVICE, "cuda", &cuda,
                             &fail))
            pp_section_error(s, "devices", err,
                "cuda:%d needs the cuda device plugin: %s",
                m->devices[r].index, fail.msg);
        break;
    }
    if (pp_section_has(s, "partition")) {
        pp_section_string(s, "partition", &text, &ignore);
        m->partition = strcmp(text, "manual") == 0 ? PP_PARTITION_MANUAL
                     : strcmp(text, "flops") == 0  ? PP_PARTITION_FLOPS
                                                   : PP_PARTITION_PARAMS;
    } else if (pp_section_has(s, "layers_per_stage")) {
        m->partition = PP_PARTITION_MANUAL;
    } else {
        m->partition = PP_PARTITION_PARAMS;
        for (int i = 0; i < m->nlayers; i++)
            if (m->layers[i].stage >= 0)
                m->partition = PP_PARTITION_MANUAL;
    }
}

/* [pipeline] layers_per_stage = 2,3,1: the list gives each layer its
 * stage, as stage keys on the layers would; the list itself is checked
 * here, so its errors point at it. Returns 0 after reporting one. */
static int apply_layer_counts(pp_model *m, pp_section *s, int stages,
                              pp_error *err)
{
    const char *text;
    pp_error ignore;
    pp_section_string(s, "layers_per_stage", &text, &ignore);
    if (m->partition != PP_PARTITION_MANUAL) {
        pp_section_error(s, "layers_per_stage", err,
            "a list of layers per stage is a manual partition, but partition "
            "= %s: remove one of them", pp_partition_name(m->partition));
        return 0;
    }
    for (int i = 0; i < m->nlayers; i++)
        if (m->layers[i].stage >= 0) {
            pp_section_error(m->layers[i].section, "stage", err,
                "[pipeline] layers_per_stage already places the layers: "
                "remove this key or that list");
            return 0;
        }
    /* Parsed twice over the same text: once to check and add up, once to
     * place the layers. */
    int listed = 0;
    long total = 0;
    for (const char *p = text; *p; listed++) {
        char *end;
        long n = strtol(p, &end, 10);
        while (*end == ' ' || *end == '\t')
            end++;
        if (end == p || n < 1 || (*end && *end != ',')) {
            pp_section_error(s, "layers_per_stage", err,
                "expected whole numbers of at least 1 separated by commas, "
                "one per stage, got '%s'", text);
            return 0;
        }
        total += n;
        p = *end ? end + 1 : end;
    }
    if (listed != stages || total != m->nlayers) {
        pp_section_error(s, "layers_per_stage", err,
            "%d number%s adding up to %ld, but the pipeline has %d stage%s "
            "and the model %d layer%s: give one count per stage, adding up "
            "to the layers", listed, listed == 1 ? "" : "s", total, stages,
            stages == 1 ? "" : "s", m->nlayers, m->nlayers == 1 ? "" : "s");
        return 0;
    }
    int layer = 0, stage = 0;
    for (const char *p = text; *p; stage++) {
        char *end;
        long n = strtol(p, &end, 10);
        for (long k = 0; k < n; k++)
            m->layers[layer++].stage = stage;
        while (*end == ' ' || *end == '\t')
            end++;
        p = *end ? end + 1 : end;
    }
    return 1;
}

/* Returns 1 when the stages can be cut: enough layers, and manual stage
 * keys (if any) complete and in order. */
static int check_partition(pp_model *m, pp_error *err)
{
    if (m->nranks == 0)
        return 0; /* devices did not parse: already reported */
    size_t before = err->count;
    int stages = m->nranks * m->stages_per_rank;
    pp_section *pipe = pp_config_section(m->cfg, "pipeline");
    if (pipe && pp_section_has(pipe, "layers_per_stage") &&
        !apply_layer_counts(m, pipe, stages, err))
        return 0;
    if (stages > m->nlayers) {
        if (pipe)
            pp_section_error(pipe, pp_section_has(pipe, "stages_per_rank") ?
                                 "stages_per_rank" : "devices", err,
                "%d rank%s x %d stage%s per rank = %d stages, but the "
                "model has only %d layer%s: use fewer ranks or stages",
                m->nranks, m->nranks == 1 ? "" : "s", m->stages_per_rank,
                m->stages_per_rank == 1 ? "" : "s", stages, m->nlayers,
                m->nlayers == 1 ? "" : "s");
        return 0;
    }
    if (m->partition != PP_PARTITION_MANUAL) {
        for (int i = 0; i < m->nlayers; i++)
            if (m->layers[i].stage >= 0)
                pp_section_error(m->layers[i].section, "stage", err,
                    "stage is set but [pipeline] partition = %s: remove the "
                    "stage keys or use partition = manual",
                    pp_partition_name(m->partition));
        return err->count == before;
    }
    int prev = 0;
    for (int i = 0; i < m->nlayers; i++) {
        pp_model_layer *l = &m->layers[i];
        if (l->stage < 0) {
            pp_section_error(l->section, NULL, err,
                "partition is manual but this layer has no 'stage' key");
            continue;
        }
        if (l->stage >= stages)
            pp_section_error(l->section, "stage", err,
                "stage %d does not exist: there are %d stages (0 to %d)",
                l->stage, stages, stages - 1);
        else if (i == 0 && l->stage != 0)
            pp_section_error(l->section, "stage", err,
                "the first layer must be in stage 0, not %d", l->stage);
        else if (l->stage < prev || l->stage > prev + 1)
            pp_section_error(l->section, "stage", err,
                "stage %d after stage %d: stages must follow the layer "
                "order, each one the same as or one more than the previous",
                l->stage, prev);
        prev = l->stage;
    }
    if (prev != stages - 1 && prev < stages)
        pp_section_error(m->layers[m->nlayers - 1].section, "stage", err,
            "the last layer is in stage %d, so stages %d to %d would be "
            "empty", prev, prev + 1, stages - 1);
    return err->count == before;
}

static void load_train(pp_model *m, pp_error *err)
{
    pp_section *s = pp_config_section(m->cfg, "train");
    if (!s)
        return;
    if (!section_plugin(m, s, train_keys, "optimizer", "sgd",
                        PP_KIND_OPTIMIZER, err))
        return;
    pp_error ignore;
    pp_section_int(s, "batch", &m->batch, &ignore);
    pp_section_int(s, "steps", &m->steps, &ignore);
    pp_section_int(s, "seed", &m->seed, &ignore);
    pp_section_int(s, "log_every", &m->log_every, &ignore);
    pp_section_float(s, "lr", &m->lr, &ignore);
    pp_section_string(s, "optimizer", &m->optimizer, &ignore);
    if (pp_section_has(s, "log"))
        pp_section_string(s, "log", &m->log, &ignore);
    if (pp_section_has(s, "trace"))
        pp_section_string(s, "trace", &m->trace, &ignore);
    if (pp_section_has(s, "checkpoint"))
        pp_section_string(s, "checkpoint", &m->checkpoint, &ignore);
    pp_section *pipe = pp_config_section(m->cfg, "pipeline");
    if (pipe && m->microbatches > 0 && m->batch % m->microbatches != 0)
        pp_section_error(pipe, "microbatches", err,
            "%d micro-batches do not divide [train] batch = %lld: pick a "
            "divisor of the batch",
            m->microbatches, (long long)m->batch);
}

static void load_data(pp_model *m, pp_error *err)
{
    pp_section *s = pp_config_section(m->cfg, "data");
    if (!s)
        return;
    m->has_data = 1;
    if (section_plugin(m, s, data_keys, "source", NULL, PP_KIND_DATA, err))
        pp_section_string(s, "source", &m->source, &(pp_error){0});
}

/* The schedule, built for this pipeline's ranks, micro-batches and stages
 * per rank, and verified: a schedule that cannot run them is a config
 * error at the schedule key. A file schedule's path is taken from the
 * model file's directory. */
static void load_schedule(pp_model *m, pp_error *err)
{
    pp_section *s = pp_config_section(m->cfg, "pipeline");
    char dir[4096];
    const char *slash = strrchr(m->cfg->path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - m->cfg->path) : 1,
             slash ? m->cfg->path : ".");
    pp_error why;
    pp_error_clear(&why);
    if (pp_plan_load(m->registry, m->schedule, dir, m->nranks,
                     m->microbatches, m->stages_per_rank, &m->plan, &why) ==
        PP_OK)
        return;
    if (s)
        pp_section_error(s, pp_section_has(s, "schedule") ? "schedule" : NULL,
                         err, "%s", why.msg);
    else
        pp_error_add(err, PP_ERR_CONFIG, "%s:1: %s", m->cfg->path, why.msg);
}

/* The line number of a "FILE:LINE: message" about this config, or
 * INT_MAX for any other message (kept after, in order). */
static long message_line(const char *msg, const char *path)
{
    size_t len = strlen(path);
    if (strncmp(msg, path, len) != 0 || msg[len] != ':')
        return LONG_MAX;
    char *end;
    long line = strtol(msg + len + 1, &end, 10);
    return *end == ':' ? line : LONG_MAX;
}

/* Orders the collected errors by line, so a user reads the file top down;
 * messages on one line keep the order they were found in. */
static void sort_by_line(pp_error *err, const char *path)
{
    char copy[PP_ERROR_MAX];
    memcpy(copy, err->msg, sizeof copy);
    const char *lines[PP_ERROR_MAX / 2];
    size_t n = 0;
    for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l;
         l = strtok_r(NULL, "\n", &save))
        lines[n++] = l;
    for (size_t i = 1; i < n; i++) {
        const char *cur = lines[i];
        long key = message_line(cur, path);
        size_t j = i;
        for (; j > 0 && message_line(lines[j - 1], path) > key; j--)
            lines[j] = lines[j - 1];
        lines[j] = cur;
    }
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(err->msg + used, sizeof err->msg - used,
                                 "%s%s", i ? "\n" : "", lines[i]);
}

pp_status pp_model_load(const char *path, pp_model **out, pp_error *err)
{
    *out = NULL;
    pp_model *m = calloc(1, sizeof *m);
    if (!m)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    pp_status st = pp_config_load(path, &m->cfg, err);
    if (st) {
        pp_model_free(m);
        return st;
    }
    st = make_registry(m, err);
    if (st) {
        pp_model_free(m);
        return st;
    }
    pp_error_clear(err);
    load_model_section(m, err);
    load_layers(m, err);
    m->has_train = pp_config_section(m->cfg, "train") != NULL;
    if (m->nlayers > 0)
        check_loss_placement(m, err);
    load_pipeline(m, err);
    if (m->nlayers > 0 && check_partition(m, err))
        load_schedule(m, err);
    if (m->plan) {
        m->route = malloc((size_t)m->nranks * (size_t)m->nranks);
        if (!m->route)
            pp_error_add(err, PP_ERR_NOMEM, "out of memory");
        else
            pp_routes_plan(m, m->route, err);
    }
    load_train(m, err);
    load_data(m, err);
    if (err->code != PP_OK) {
        st = err->code;
        sort_by_line(err, m->cfg->path);
        pp_model_free(m);
        return st;
    }
    *out = m;
    return PP_OK;
}
