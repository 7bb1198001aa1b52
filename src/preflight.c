/* src/preflight.c - what a run checks of a model file before step 1,
 * devices aside: shared by `pipette check` and the trainer
 * (preflight.h). Every error found is reported, as the loader does. */
#include <string.h>

#include "plugin_plan.h"
#include "preflight.h"

/* A plugin's errors, made apart in why (a plugin may replace what an
 * error held), added to err line by line. */
static void merge(pp_error *err, const pp_error *why, const char *who)
{
    const char *line = why->msg;
    if (!*line)
        pp_error_add(err, why->code, "%s failed (%s)", who,
                     pp_status_name(why->code));
    while (*line) {
        const char *end = strchr(line, '\n');
        int len = end ? (int)(end - line) : (int)strlen(line);
        pp_error_add(err, why->code, "%.*s", len, line);
        line = end ? end + 1 : line + len;
    }
}

/* Each layer on the kind of device of every rank that holds its stage
 * (a plugin without a CUDA half cannot run on a cuda rank); said once a
 * layer. */
static void check_layer_devices(const pp_model *m, pp_error *err)
{
    for (int i = 0; i < m->nlayers; i++) {
        const pp_model_layer *l = &m->layers[i];
        const pp_layer_ops *ops = l->plugin->ops;
        for (int s = 0; s < m->plan->S; s++) {
            int r = m->plan->rank_of_stage[s];
            if (s % m->stages != l->stage)
                continue;
            int cuda = pp_device_memory(&m->devices[r]) == PP_MEMORY_CUDA;
            const pp_layer_kernels *k = cuda ? ops->cuda : ops->cpu;
            if (k && k->forward)
                continue;
            char dev[96];
            pp_section_error(l->section, "type", err,
                "layer plugin '%s' has no %s kernels: it cannot run on "
                "rank %d (%s), which holds stage %d",
                l->plugin->desc->name, cuda ? "CUDA" : "CPU", r,
                pp_device_text(&m->devices[r], dev, sizeof dev), l->stage);
            break;
        }
    }
}

/* The optimizer's plan of [train]'s keys, and a CUDA update wherever a
 * rank is a GPU. */
static void plan_optimizer(const pp_model *m, pp_preflight *p,
                           pp_error *err)
{
    pp_section *train = pp_config_section(m->cfg, "train");
    const pp_plugin *plugin;
    pp_error why;
    pp_error_clear(&why);
    if (pp_registry_find(m->registry, PP_KIND_OPTIMIZER, m->optimizer,
                         &plugin, &why)) {
        merge(err, &why, m->optimizer);
        return;
    }
    const pp_optimizer_ops *opt = plugin->ops;
    if (opt->plan(train, &p->opt_plan, &why)) {
        merge(err, &why, m->optimizer);
        pp_optimizer_plan_release(&p->opt_plan);
        return;
    }
    p->opt = opt;
    for (int r = 0; r < m->nranks && !opt->step_cuda; r++) {
        if (pp_device_memory(&m->devices[r]) != PP_MEMORY_CUDA)
            continue;
        char dev[96];
        pp_section_error(train, "optimizer", err,
            "optimizer '%s' has no CUDA update: it cannot run on rank %d "
            "(%s)", m->optimizer, r,
            pp_device_text(&m->devices[r], dev, sizeof dev));
        break;
    }
}

/* The data source and the model must agree on what a sample is. */
static void check_data(const pp_model *m, const pp_data_info *info,
                       pp_error *err)
{
    char a[64], b[64];
    const pp_tensor_desc *in = &info->input;
    if (in->dtype != m->input.dtype ||
        pp_shape_elements(&in->shape) != pp_shape_elements(&m->input.shape))
        pp_section_error(pp_config_section(m->cfg, "model"), "input", err,
            "the data source gives %s samples of shape %s, the model "
            "takes %s of shape %s: make input (and input_type) match",
            in->dtype == PP_I32 ? "int" : "float",
            pp_shape_format(&in->shape, a, sizeof a),
            m->input.dtype == PP_I32 ? "int" : "float",
            pp_shape_format(&m->input.shape, b, sizeof b));
    /* Every layer that takes the input takes its ids. */
    for (int i = 0; i < m->nlayers; i++) {
        const pp_model_layer *l = &m->layers[i];
        int takes = 0;
        for (int k = 0; k < l->nin; k++)
            takes |= l->input[k] == 0;
        if (takes && l->plan.in_ids && info->input_ids > l->plan.in_ids)
            pp_section_error(l->section, NULL, err,
                "the data source's ids go up to %lld, this layer takes ids "
                "below %lld: a larger vocabulary would take them all",
                (long long)info->input_ids - 1, (long long)l->plan.in_ids);
    }
    const pp_model_layer *last = &m->layers[m->nlayers - 1];
    const pp_layer_plan *loss = &last->plan;
    if (loss->target_ids && info->target_ids > loss->target_ids)
        pp_section_error(last->section, NULL, err,
            "the data source's targets go up to %lld, this loss takes "
            "classes below %lld: the layer before it needs %lld outputs",
            (long long)info->target_ids - 1, (long long)loss->target_ids,
            (long long)info->target_ids);
    const pp_tensor_desc *tg = &info->target;
    if (tg->dtype != loss->target.dtype ||
        pp_shape_elements(&tg->shape) !=
            pp_shape_elements(&loss->target.shape))
        pp_section_error(last->section, "type", err,
            "the data source's targets are %s of shape %s, the loss "
            "takes %s of shape %s",
            tg->dtype == PP_I32 ? "int" : "float",
            pp_shape_format(&tg->shape, a, sizeof a),
            loss->target.dtype == PP_I32 ? "int" : "float",
            pp_shape_format(&loss->target.shape, b, sizeof b));
}

/* The data source open on [data] (its keys, its files), and its samples
 * against the model. */
static void open_data(const pp_model *m, pp_preflight *p, pp_error *err)
{
    const pp_plugin *plugin;
    pp_error why;
    pp_error_clear(&why);
    void *state = NULL;
    if (pp_registry_find(m->registry, PP_KIND_DATA, m->source, &plugin,
                         &why) ||
        ((const pp_data_ops *)plugin->ops)
            ->open(pp_config_section(m->cfg, "data"), (uint64_t)m->seed,
                   &state, &p->data_info, &why)) {
        merge(err, &why, m->source);
        return;
    }
    p->data = plugin->ops;
    p->data_state = state;
    /* (Without [train] the last layer need not be a loss.) */
    if (m->layers[m->nlayers - 1].plan.is_loss)
        check_data(m, &p->data_info, err);
}

pp_status pp_preflight_check(const pp_model *m, const pp_outputs *outputs,
                             pp_preflight *out, pp_error *err)
{
    memset(out, 0, sizeof *out);
    if (!m->has_train)
        pp_error_add(err, PP_ERR_CONFIG,
            "%s:1: missing [train] section (how to train: batch = 32 at "
            "least)", m->cfg->path);
    if (!m->has_data)
        pp_error_add(err, PP_ERR_CONFIG,
            "%s:1: missing [data] section (where the samples come from: "
            "source = synthetic, or text or tokens and a path)",
            m->cfg->path);
    check_layer_devices(m, err);
    if (m->has_train)
        plan_optimizer(m, out, err);
    if (m->has_data)
        open_data(m, out, err);
    if (outputs)
        pp_check_outputs(m, outputs, err);
    if (err->code) {
        pp_sort_by_line(err, m->cfg->path);
        pp_preflight_release(out);
        return err->code;
    }
    return PP_OK;
}

void pp_preflight_release(pp_preflight *p)
{
    if (p->data && p->data_state)
        p->data->close(p->data_state);
    pp_optimizer_plan_release(&p->opt_plan);
    memset(p, 0, sizeof *p);
}
