/* src/model.c - from an INI file to a validated pp_model.
 *
 * Order matters for good errors: the file's form first (config_file.c),
 * its [repeat] groups written out (repeat.c), then [model] (it holds
 * plugin_path, needed to find plugins), then each
 * section against its keys, then the layers' shapes in order. Every problem
 * found is reported, not just the first, but a layer whose plugin is
 * missing stops the shape walk there: the shapes after it are unknown.
 */
#define _GNU_SOURCE /* realpath */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model.h"
#include "plugin_plan.h"

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
    {"inputs", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, NULL,
     "the tensors it takes, comma-separated: earlier layers' names, or "
     "input (default: the previous layer's output)"},
    {"share", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, NULL,
     "parameters it uses from an earlier layer, as PARAM:LAYER.PARAM, "
     "comma-separated (e.g. weight:embed.weight)"},
    {"stage", PP_KEY_INT, 0, 0, 4095, NULL, NULL,
     "the stage this layer belongs to (partition = manual)"},
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
     "a directory: checkpoints (parameters, optimizer state, step) go "
     "here as step-N/, after the last step and every checkpoint_every "
     "steps; pipette train --resume goes on from the newest"},
    {"checkpoint_every", PP_KEY_INT, 0, 0, (double)INT64_MAX, NULL, "0",
     "steps between checkpoints (0: only after the last step, or where a "
     "signal stops the run)"},
    {"keep", PP_KEY_INT, 0, 0, (double)INT_MAX, NULL, "2",
     "the newest checkpoints kept; older ones are removed once a new one is "
     "complete (0: keep all)"},
    {"warmup", PP_KEY_INT, 0, 0, (double)INT64_MAX, NULL, "0",
     "steps over which lr rises linearly to its value"},
    {"lr_decay", PP_KEY_ENUM, 0, PP_NO_RANGE, "constant|cosine", "constant",
     "after warm-up: lr as it is, or a cosine down to min_lr at the last "
     "step"},
    {"min_lr", PP_KEY_FLOAT, 0, 0, HUGE_VAL, NULL, "0",
     "where lr_decay = cosine ends"},
    {"grad_clip", PP_KEY_FLOAT, 0, 0, HUGE_VAL, NULL, "0",
     "scale the gradients down to this global L2 norm when above it "
     "(GPT-2: 1); 0: no clipping"},
    {"on_nonfinite", PP_KEY_ENUM, 0, PP_NO_RANGE, "stop|skip", "stop",
     "a step whose loss or gradient norm is not finite: stop the run "
     "before its update, naming the layer, or skip its update and go on"},
    {"precision", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, "fp32",
     "fp32; tf32 (GEMMs on TF32 tensor cores); or bf16 (bf16 activations "
     "and messages, FP32 weights and optimizer)"},
    {0},
};

static const pp_key data_keys[] = {
    {"source", PP_KEY_STRING, PP_KEY_REQUIRED, PP_NO_RANGE, NULL, NULL,
     "data plugin, e.g. synthetic"},
    {0},
};

void pp_model_free(pp_model *m)
{
    if (!m)
        return;
    pp_graph_free(m);
    for (int i = 0; i < m->nlayers; i++)
        pp_layer_plan_release(&m->layers[i].plan);
    free(m->layers);
    free(m->devices);
    free(m->route);
    free(m->process_of);
    free(m->node_of);
    free(m->recompute);
    pp_plan_free(m->plan);
    pp_registry_free(m->registry);
    pp_config_free(m->cfg);
    free(m);
}

/* [model] plugin_path's directories, each taken from the model file's
 * directory when relative and made real, ':'-joined into *out
 * (malloc'd). One that is not a directory is said at the key, into
 * problems, and left out. */
static pp_status plugin_dirs(const pp_section *s, const pp_entry *e,
                             char **out, pp_error *problems)
{
    char *list = strdup(e->value);
    size_t cap = strlen(e->value) + 1, used = 0;
    char *dirs = malloc(cap);
    if (!list || !dirs) {
        free(list);
        free(dirs);
        return PP_ERR_NOMEM;
    }
    dirs[0] = '\0';
    for (char *save = NULL, *item = strtok_r(list, ":", &save); item;
         item = strtok_r(NULL, ":", &save)) {
        char joined[PATH_MAX];
        pp_section_resolve(s, item, joined, sizeof joined);
        struct stat sb;
        char *real = realpath(joined, NULL);
        if (!real || stat(real, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            pp_section_error(s, "plugin_path", problems,
                "'%s' is not a directory (%s: %s)", item, joined,
                real ? "not a directory" : strerror(errno));
            free(real);
            continue;
        }
        size_t len = strlen(real);
        char *grown = used + len + 2 > cap ? realloc(dirs, cap = 2 * (used +
                                                     len + 2))
                                           : dirs;
        if (!grown) {
            free(real);
            free(list);
            free(dirs);
            return PP_ERR_NOMEM;
        }
        dirs = grown;
        used += (size_t)sprintf(dirs + used, "%s%s", used ? ":" : "", real);
        free(real);
    }
    free(list);
    *out = dirs;
    return PP_OK;
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

/* Bytes of one sample of d, or -1 past 64 bits. */
static int64_t desc_bytes(const pp_tensor_desc *d)
{
    int64_t n = 1;
    for (int i = 0; i < d->shape.ndim; i++)
        if (__builtin_mul_overflow(n, d->shape.dim[i], &n))
            return -1;
    if (__builtin_mul_overflow(n, (int64_t)pp_dtype_size(d->dtype), &n))
        return -1;
    return n;
}

/* A plugin's size_t as such a size. */
static int64_t plugin_bytes(size_t bytes)
{
    return bytes > (size_t)INT64_MAX ? -1 : (int64_t)bytes;
}

#define OVER_SIZE "more than 2^50 bytes (1 PiB), the most pipette sizes"

/* Adds bytes (-1: past 64 bits) of `what` (one thing, or several) to
 * *total, which `whose` names; each is at most PP_SIZE_MAX, so the sum
 * cannot overflow. 0 after saying, at s's key, which passes it. */
static int add_size(int64_t *total, int64_t bytes, const pp_section *s,
                    const char *key, const char *what, int several,
                    const char *whose, pp_error *err)
{
    if (bytes >= 0 && bytes <= PP_SIZE_MAX &&
        *total <= PP_SIZE_MAX - bytes) {
        *total += bytes;
        return 1;
    }
    if (bytes >= 0 && bytes <= PP_SIZE_MAX)
        pp_section_error(s, key, err, "with %s %s are " OVER_SIZE, what,
                         whose);
    else
        pp_section_error(s, key, err, "%s %s " OVER_SIZE, what,
                         several ? "are" : "is");
    return 0;
}

/* A layer's sizes, added to the model's: its output, targets, saved
 * values and workspace to a sample's bytes, its parameters to the
 * model's. 0 after saying which passes PP_SIZE_MAX. */
static int add_layer_sizes(pp_model *m, const pp_model_layer *l,
                           pp_error *err)
{
    static const char sample[] = "a sample's tensors";
    const pp_layer_plan *p = &l->plan;
    const pp_tensor_desc *t = p->is_loss ? &p->target : &p->out;
    char dims[128], what[256];
    snprintf(what, sizeof what, "its %s, %s %s,",
             p->is_loss ? "targets" : "output",
             pp_shape_format(&t->shape, dims, sizeof dims),
             pp_dtype_name(t->dtype));
    if (!add_size(&m->sample_bytes, desc_bytes(t), l->section, NULL, what,
                  p->is_loss, sample, err))
        return 0;
    int64_t saved = plugin_bytes(p->saved_bytes);
    int64_t work = plugin_bytes(p->workspace_bytes);
    snprintf(what, sizeof what, "its saved values and workspace, %zu and %zu "
             "bytes a sample,", p->saved_bytes, p->workspace_bytes);
    if (!add_size(&m->sample_bytes,
                  saved < 0 || work < 0 || saved > PP_SIZE_MAX ||
                          work > PP_SIZE_MAX ? -1 : saved + work,
                  l->section, NULL, what, 1, sample, err))
        return 0;
    for (int i = 0; i < p->nparams; i++) {
        pp_tensor_desc d = {PP_F32, p->params[i].shape};
        snprintf(what, sizeof what, "its parameter %s, %s f32,",
                 p->params[i].name,
                 pp_shape_format(&d.shape, dims, sizeof dims));
        if (!add_size(&m->param_bytes, desc_bytes(&d), l->section, NULL,
                      what, 0, "the model's parameters", err))
            return 0;
    }
    return 1;
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
    char dims[128], what[160];
    snprintf(what, sizeof what, "%s %s",
             pp_shape_format(&m->input.shape, dims, sizeof dims), type);
    if (!add_size(&m->sample_bytes, desc_bytes(&m->input), s, "input", what,
                  0, "", err))
        m->input.dtype = 0; /* what takes it is not planned */
}

/* [train] precision, read before the layers plan (their outputs' dtype
 * depends on it). fp16 is not offered: it needs loss scaling. */
static void read_precision(pp_model *m, pp_error *err)
{
    pp_section *s = pp_config_section(m->cfg, "train");
    const pp_entry *e = s ? pp_section_entry(s, "precision") : NULL;
    if (!e)
        return;
    const char *names[PP_PRECISION_BF16 + 1];
    for (int p = PP_PRECISION_FP32; p <= PP_PRECISION_BF16; p++) {
        names[p] = pp_precision_name((pp_precision)p);
        if (strcmp(e->value, names[p]) == 0) {
            m->precision = (pp_precision)p;
            return;
        }
    }
    int half = strcmp(e->value, "fp16") == 0;
    const char *hint = half ? "bf16"
                            : pp_did_you_mean(e->value, names, 1 + (size_t)
                                              PP_PRECISION_BF16);
    pp_section_error(s, "precision", err,
        "expected fp32, tf32 or bf16, got '%s'%s%s%s%s", e->value,
        half ? " (fp16 needs loss scaling, which pipette does not do; bf16 "
               "has FP32's range)" : "",
        hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "");
}

/* Whether a plugin runs the model's precision; says why not, at key. */
static int runs_precision(const pp_model *m, const pp_plugin *plugin,
                          const pp_section *s, const char *key,
                          pp_error *err)
{
    unsigned set = pp_plugin_precisions(plugin);
    if (set & PP_PRECISION_BIT(m->precision))
        return 1;
    char list[64];
    pp_section_error(s, key, err,
        "%s %s does not run [train] precision = %s (it runs %s): pick one "
        "of those, or a %s that runs %s", pp_plugin_kind_name(
            plugin->desc->kind), plugin->desc->name,
        pp_precision_name(m->precision),
        pp_precisions_text(set, list, sizeof list),
        pp_plugin_kind_name(plugin->desc->kind),
        pp_precision_name(m->precision));
    return 0;
}

/* The registry: [model] plugin_path first where plugins from it are
 * allowed (its directories that are not are errors at the key); where
 * not, a note at the key says it is ignored (and names those that are
 * not directories), and a plugin found only there is named in the
 * not-found message. */
static pp_status make_registry(pp_model *m, int allow, pp_error *note,
                               pp_error *err)
{
    pp_section *s = pp_config_section(m->cfg, "model");
    const pp_entry *e = s ? pp_section_entry(s, "plugin_path") : NULL;
    if (!e)
        return pp_registry_create(NULL, &m->registry, err);
    pp_error quiet;
    pp_error_clear(&quiet);
    if (!allow && note)
        pp_error_add(note, PP_ERR_CONFIG, "%s:%d: [model] plugin_path "
                     "ignored: plugins are code, and a model file's own run "
                     "only if you allow them; pass --allow-model-plugins to "
                     "load plugins it names", s->file, e->line);
    char *dirs;
    if (plugin_dirs(s, e, &dirs, allow ? err : note ? note : &quiet))
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    pp_status st = pp_registry_create(allow ? dirs : NULL, &m->registry,
                                      err);
    if (!st && !allow)
        st = pp_registry_ignore(m->registry, dirs, "[model] plugin_path, "
                                "ignored without --allow-model-plugins", err);
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
    m->tensors = calloc((size_t)n + 1, sizeof *m->tensors);
    if (!m->layers || !m->tensors) {
        pp_error_add(err, PP_ERR_NOMEM, "out of memory");
        return;
    }
    /* Float samples enter as the precision's activations. */
    m->tensors[0] = (pp_model_tensor){.name = "input", .desc = m->input,
                                      .layer = -1};
    if (m->input.dtype == PP_F32)
        m->tensors[0].desc.dtype = pp_precision_dtype(m->precision);
    for (size_t i = 0; i < m->cfg->nsections; i++) {
        pp_section *s = m->cfg->sections[i];
        if (strcmp(s->kind, "layer") != 0)
            continue;
        pp_model_layer *l = &m->layers[m->nlayers];
        l->section = s;
        l->name = s->name;
        l->stage = -1;
        m->tensors[++m->nlayers] = (pp_model_tensor){.name = s->name,
                                                     .layer = m->nlayers - 1};
    }
    pp_error ignore;
    for (int i = 0; i < m->nlayers; i++) {
        pp_model_layer *l = &m->layers[i];
        pp_section *s = (pp_section *)l->section;
        l->plugin = section_plugin(m, s, layer_keys, "type", NULL,
                                   PP_KIND_LAYER, err);
        if (pp_section_has(s, "stage")) {
            int64_t stage;
            if (pp_section_int(s, "stage", &stage, &ignore) == PP_OK)
                l->stage = (int)stage;
        }
        if (strcmp(l->name, "input") == 0) {
            pp_section_error(s, NULL, err,
                "a layer cannot be named 'input': that name is the model's "
                "input");
            continue;
        }
        /* A shape is known once its layer planned; what depends on an
         * unknown one is not planned, so one mistake gives one error. */
        int known = pp_graph_inputs(m, i, err) && l->plugin;
        for (int k = 0; known && k < l->nin; k++) {
            l->in[k] = m->tensors[l->input[k]].desc;
            known = l->in[k].dtype != 0;
        }
        if (!known)
            continue;
        const pp_layer_ops *ops = l->plugin->ops;
        int want = ops->inputs > 1 || ops->inputs == PP_INPUTS_ANY
                       ? ops->inputs : 1;
        if (want != PP_INPUTS_ANY && l->nin != want) {
            pp_section_error(s, pp_section_has(s, "inputs") ? "inputs"
                                                            : "type", err,
                "%s takes %d input%s, not %d", l->plugin->desc->name, want,
                want == 1 ? "" : "s", l->nin);
            continue;
        }
        if (!runs_precision(m, l->plugin, s, "type", err))
            continue;
        l->plan.precision = m->precision;
        if (ops->plan(s, l->in, l->nin, &l->plan, err))
            continue;
        pp_dtype want_out = l->plan.is_loss ? PP_F32
                                            : pp_precision_dtype(m->precision);
        if (l->plan.out.dtype != PP_I32 && l->plan.out.dtype != want_out) {
            pp_section_error(s, "type", err,
                "%s planned a %s output, but in precision %s a float output "
                "is %s (a bug in the plugin)", l->plugin->desc->name,
                pp_dtype_name(l->plan.out.dtype),
                pp_precision_name(m->precision), pp_dtype_name(want_out));
            continue;
        }
        if (!add_layer_sizes(m, l, err))
            continue;
        /* The loss's scalar is nobody's input (check_loss_placement). */
        if (!l->plan.is_loss)
            m->tensors[i + 1].desc = l->plan.out;
    }
}

static void check_loss_placement(pp_model *m, pp_error *err)
{
    for (int i = 0; i < m->nlayers; i++) {
        pp_model_layer *l = &m->layers[i];
        if (!l->plugin)
            return; /* shapes unknown from here: already reported */
        if (l->plan.is_loss && i != m->nlayers - 1 &&
            !m->layers[i + 1].plan.is_loss)
            pp_section_error(l->section, "type", err,
                "a loss layer must be the model's last layer, but [layer %s] "
                "follows it", m->layers[i + 1].name);
    }
    /* (A last layer that did not plan, its inputs' errors reported, says
     * nothing about being a loss.) */
    pp_model_layer *last = &m->layers[m->nlayers - 1];
    if (m->has_train && last->plugin && !last->plan.is_loss &&
        m->tensors[m->nlayers].desc.dtype != 0)
        pp_section_error(last->section, "type", err,
            "the last layer must be a loss (e.g. softmax_xent or mse) to "
            "train; '%s' is not", last->plugin->desc->name);
}

static void load_train(pp_model *m, pp_error *err)
{
    pp_section *s = pp_config_section(m->cfg, "train");
    if (!s)
        return;
    const pp_plugin *opt = section_plugin(m, s, train_keys, "optimizer",
                                          "sgd", PP_KIND_OPTIMIZER, err);
    if (!opt)
        return;
    runs_precision(m, opt, s, pp_section_has(s, "optimizer") ? "optimizer"
                                                              : "precision",
                   err);
    pp_error ignore;
    pp_section_int(s, "batch", &m->batch, &ignore);
    pp_section_int(s, "steps", &m->steps, &ignore);
    if (m->steps > pp_model_max_steps(m))
        pp_section_error(s, "steps", err,
            "%lld steps of batch %lld overflow the 64-bit index of a "
            "sample: at most %lld steps", (long long)m->steps,
            (long long)m->batch, (long long)pp_model_max_steps(m));
    pp_section_int(s, "seed", &m->seed, &ignore);
    pp_section_int(s, "log_every", &m->log_every, &ignore);
    pp_section_float(s, "lr", &m->lr, &ignore);
    pp_section_int(s, "warmup", &m->warmup, &ignore);
    pp_section_float(s, "min_lr", &m->min_lr, &ignore);
    pp_section_float(s, "grad_clip", &m->grad_clip, &ignore);
    const char *decay, *nonfinite;
    pp_section_string(s, "lr_decay", &decay, &ignore);
    m->cosine = strcmp(decay, "cosine") == 0;
    pp_section_string(s, "on_nonfinite", &nonfinite, &ignore);
    m->skip_nonfinite = strcmp(nonfinite, "skip") == 0;
    if (m->min_lr > m->lr)
        pp_section_error(s, "min_lr", err,
            "%g is above lr = %g: the cosine decays from lr down to min_lr",
            m->min_lr, m->lr);
    else if (pp_section_has(s, "min_lr") && !m->cosine)
        pp_section_error(s, "min_lr", err,
            "has no use: it is where lr_decay = cosine ends, and lr_decay "
            "is constant");
    pp_section_string(s, "optimizer", &m->optimizer, &ignore);
    if (pp_section_has(s, "log"))
        pp_section_string(s, "log", &m->log, &ignore);
    if (pp_section_has(s, "trace"))
        pp_section_string(s, "trace", &m->trace, &ignore);
    if (pp_section_has(s, "checkpoint"))
        pp_section_string(s, "checkpoint", &m->checkpoint, &ignore);
    int64_t keep;
    pp_section_int(s, "checkpoint_every", &m->checkpoint_every, &ignore);
    pp_section_int(s, "keep", &keep, &ignore);
    m->keep = (int)keep;
    for (int i = 0; !m->checkpoint && i < 2; i++)
        if (pp_section_has(s, i ? "keep" : "checkpoint_every"))
            pp_section_error(s, i ? "keep" : "checkpoint_every", err,
                             "has no use without [train] checkpoint, the "
                             "directory the checkpoints go to");
}

/* What [train] asks of [pipeline] and [parallel]: micro-batches (of
 * every replica) that divide the batch. */
static void check_batch(pp_model *m, pp_error *err)
{
    pp_section *pipe = pp_config_section(m->cfg, "pipeline");
    pp_section *par = pp_config_section(m->cfg, "parallel");
    int64_t parts = (int64_t)m->microbatches * m->data, bytes;
    if (m->microbatches > 0 && m->batch % parts == 0 &&
        (__builtin_mul_overflow(m->sample_bytes, m->batch / parts, &bytes) ||
         bytes > PP_SIZE_MAX))
        pp_section_error(pp_config_section(m->cfg, "train"), "batch", err,
            "a micro-batch of %lld samples of %lld bytes each (the input, "
            "and every layer's output, saved values, workspace and targets) "
            "is " OVER_SIZE ": more micro-batches, or a smaller batch",
            (long long)(m->batch / parts), (long long)m->sample_bytes);
    if (m->microbatches <= 0 || m->batch % parts == 0)
        return;
    if (m->data > 1)
        pp_section_error(par, "data", err,
            "%d replicas x %d micro-batches = %lld parts do not divide "
            "[train] batch = %lld: each replica takes batch / data samples "
            "in its micro-batches; pick a batch that %lld divides",
            m->data, m->microbatches, (long long)parts, (long long)m->batch,
            (long long)parts);
    else if (pipe)
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

static long message_line(const char *msg, const char *path)
{
    size_t len = strlen(path);
    if (strncmp(msg, path, len) != 0 || msg[len] != ':')
        return LONG_MAX;
    char *end;
    long line = strtol(msg + len + 1, &end, 10);
    return *end == ':' ? line : LONG_MAX;
}

void pp_sort_by_line(pp_error *err, const char *path)
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

double pp_model_lr(const pp_model *m, int64_t step, int64_t steps)
{
    if (step < m->warmup)
        return m->lr * (double)(step + 1) / (double)m->warmup;
    if (!m->cosine || steps <= m->warmup + 1)
        return m->lr;
    double done = (double)(step - m->warmup) / (double)(steps - m->warmup - 1);
    return m->min_lr + 0.5 * (1.0 + cos(3.14159265358979323846 * done)) * (m->lr - m->min_lr);
}

int64_t pp_model_max_steps(const pp_model *m)
{
    return INT64_MAX / (m->batch > 0 ? m->batch : 1);
}

const char *pp_model_lr_text(const pp_model *m, char *buf, size_t size)
{
    int used = snprintf(buf, size, "%g", m->lr);
    if (m->warmup && used >= 0 && (size_t)used < size)
        used += snprintf(buf + used, size - (size_t)used,
                         ", warm-up %lld steps", (long long)m->warmup);
    if (m->cosine && used >= 0 && (size_t)used < size)
        snprintf(buf + used, size - (size_t)used, ", cosine to %g",
                 m->min_lr);
    return buf;
}

/* Whether plugins from a model's plugin_path load: opts says so, or
 * PIPETTE_ALLOW_MODEL_PLUGINS=1. */
static pp_status allows_plugins(const pp_model_opts *opts, int *allow,
                                pp_error *err)
{
    const char *env = getenv("PIPETTE_ALLOW_MODEL_PLUGINS");
    *allow = opts && opts->allow_plugins;
    if (!env || !env[0] || strcmp(env, "0") == 0)
        return PP_OK;
    if (strcmp(env, "1") == 0) {
        *allow = 1;
        return PP_OK;
    }
    return pp_error_set(err, PP_ERR_USAGE,
        "PIPETTE_ALLOW_MODEL_PLUGINS=%s: expected 1 (load the plugins a "
        "model file's plugin_path names) or 0", env);
}

pp_status pp_model_load(const char *path, pp_model **out, pp_error *err)
{
    return pp_model_load_opts(path, NULL, out, err);
}

pp_status pp_model_load_opts(const char *path, const pp_model_opts *opts,
                             pp_model **out, pp_error *err)
{
    *out = NULL;
    pp_error *note = opts ? opts->note : NULL;
    if (note)
        pp_error_clear(note);
    int allow;
    if (allows_plugins(opts, &allow, err))
        return err->code;
    pp_model *m = calloc(1, sizeof *m);
    if (!m)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    pp_status st = pp_config_load(path, &m->cfg, err);
    if (st == PP_OK)
        st = pp_config_expand(m->cfg, err);
    if (st) {
        pp_model_free(m);
        return st;
    }
    pp_error_clear(err);
    st = make_registry(m, allow, note, err);
    if (st) {
        pp_model_free(m);
        return st;
    }
    load_model_section(m, err);
    read_precision(m, err);
    load_layers(m, err);
    m->has_train = pp_config_section(m->cfg, "train") != NULL;
    if (m->nlayers > 0) {
        check_loss_placement(m, err);
        pp_graph_check(m, err);
    }
    /* The pipeline's programs sum the gradient norm when it trains. */
    load_train(m, err);
    pp_pipeline_load(m, err);
    if (m->has_train)
        check_batch(m, err);
    load_data(m, err);
    if (err->code != PP_OK) {
        st = err->code;
        pp_sort_by_line(err, m->cfg->path);
        pp_model_free(m);
        return st;
    }
    *out = m;
    return PP_OK;
}
