/* fuzz/fuzz_model.c - a fuzz target: one model file, taken as `pipette
 * check` takes it, up to the verified plan.
 *
 * Each input is written to model.ini in a directory of its own and
 * loaded with pp_model_load (syntax, [repeat] expansion, every key against
 * the core's and the named plugins' tables, the plugins' shape planning,
 * the graph, the partition, the schedule built and verified, the routes);
 * a model that loads is then summarised as cmd_check.c's print_summary
 * does (into /dev/null) and, when its ranks_per_process splits it,
 * placed on processes as `check --processes N` does.
 *
 * Not fuzzed here, because other tests own them and they can reach
 * outside the input: inputs naming a path through a directory ('/'
 * outside a comment: /dev/zero, FIFOs, ../ plugin names) and plugin_path
 * (code from the model's folder). The plugins are the build tree's (the
 * registry finds them when libpipette is the build tree's), or those on
 * PIPETTE_PLUGIN_PATH.
 *
 * Built two ways (fuzz/local.mk): with libFuzzer (fuzz/fuzz-model,
 * configure --enable-fuzzers) and with fuzz/standalone.c's main
 * (fuzz/regress-model), which make check runs on every file in
 * fuzz/regressions/model.
 */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "model.h"
#include "routes.h"

static pp_fuzz_dir dir;
static char model_path[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    pp_fuzz_setup(&dir, "model");
    snprintf(model_path, sizeof model_path, "%s/model.ini", dir.path);
    return 0;
}

/* Whether the input stays inside what this target fuzzes (see above):
 * no '/' but in a comment (after ';' or '#' on its line: the examples'
 * comments name files), no plugin_path. A value cut at a ';' that is
 * not a comment ("a;b/c") is a path through a directory "a;" that the
 * target's directory does not hold. */
static int wanted(const uint8_t *data, size_t size)
{
    if (size > PP_FUZZ_MAX_INPUT)
        return 0;
    for (size_t i = 0, comment = 0; i < size; i++) {
        if (data[i] == '\n')
            comment = 0;
        else if (data[i] == ';' || data[i] == '#')
            comment = 1;
        else if (data[i] == '/' && !comment)
            return 0;
    }
    static const char key[] = "plugin_path";
    for (size_t i = 0; i + sizeof key - 1 <= size; i++) {
        size_t k = 0;
        while (k < sizeof key - 1 &&
               (data[i + k] | 0x20) == (unsigned char)key[k])
            k++;
        if (k == sizeof key - 1)
            return 0;
    }
    return 1;
}

/* A layer's own parameters, as cmd_check.c counts them. */
static long long own_params(const pp_model_layer *l, int i)
{
    long long n = 0;
    for (int p = 0; p < l->plan.nparams; p++)
        if (l->owner[p].layer == i)
            n += pp_shape_elements(&l->plan.params[p].shape);
    return n;
}

/* What print_summary in cmd_check.c reads and formats. */
static void summarise(const pp_model *m, FILE *out)
{
    char text[96];
    long long total = 0;
    for (int i = 0; i < m->nlayers; i++)
        total += own_params(&m->layers[i], i);
    fprintf(out, "%s %s %lld\n", m->name ? m->name : "(unnamed)",
            pp_shape_format(&m->input.shape, text, sizeof text), total);
    for (int i = 0; i < m->nlayers; i++) {
        const pp_model_layer *l = &m->layers[i];
        fprintf(out, "%s %s %s %lld %d", l->name, l->plugin->desc->name,
                l->plan.is_loss ? "loss"
                                : pp_shape_format(&l->plan.out.shape, text,
                                                  sizeof text),
                own_params(l, i), l->stage);
        for (int k = 0; k < l->nin; k++)
            fprintf(out, " %s", m->tensors[l->input[k]].name);
        for (int p = 0; p < l->plan.nparams; p++) {
            pp_param_ref o = l->owner[p];
            fprintf(out, " %s %s.%s", l->plan.params[p].name,
                    m->layers[o.layer].name,
                    m->layers[o.layer].plan.params[o.param].name);
        }
        fputc('\n', out);
    }
    for (int r = 0; r < m->pipeline_ranks; r++)
        fprintf(out, "%s ",
                pp_device_text(&m->devices[r * m->data], text, sizeof text));
    fprintf(out, "%d %s %d %s\n", m->stages_per_rank, m->schedule,
            m->microbatches, pp_partition_name(m->partition));
    pp_sim *sim;
    pp_error err;
    pp_costs costs = pp_costs_default();
    if (pp_simulate(m->plan, &costs, NULL, &sim, &err) == PP_OK) {
        fprintf(out, "%.1f", 100.0 * sim->bubble);
        for (int r = 0; r < sim->p; r++)
            fprintf(out, " %d", sim->peak_act[r]);
        fputc('\n', out);
        pp_sim_free(sim);
    }
    for (int s = 1; s < m->stages; s++) {
        const pp_cut *c = &m->cut[s];
        for (int k = 0; k < c->n; k++)
            fprintf(out, " %s", m->tensors[c->tensor[k]].name);
        fprintf(out, " %zu %zu\n", c->bytes, c->grad_bytes);
    }
    pp_routes_print(m, out);
    if (m->has_train)
        fprintf(out, "%lld %lld %s %s %lld %s\n", (long long)m->batch,
                (long long)m->steps, m->optimizer,
                pp_model_lr_text(m, text, sizeof text), (long long)m->seed,
                pp_precision_name(m->precision));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!wanted(data, size))
        return -1; /* not kept in the corpus */
    pp_fuzz_write(model_path, data, size);
    pp_model *m;
    pp_error err;
    pp_error_clear(&err);
    if (pp_model_load(model_path, &m, &err) != PP_OK) {
        fputs(err.msg, dir.null);
        return 0;
    }
    summarise(m, dir.null);
    int per = m->ranks_per_process;
    if (per > 0 && per < m->nranks && m->nranks % per == 0) {
        pp_error_clear(&err);
        if (pp_model_place(m, m->nranks / per, NULL, &err) == PP_OK)
            summarise(m, dir.null);
        else
            fputs(err.msg, dir.null);
    }
    pp_model_free(m);
    return 0;
}
