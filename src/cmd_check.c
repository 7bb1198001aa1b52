/* src/cmd_check.c - `pipette check FILE.ini`: load a model file and every
 * plugin it names, walk the shapes, check what train checks before step 1
 * (preflight.h), and report OK with a summary, or every error as
 * FILE:LINE: message (exit 2, nothing on stdout). */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "model.h"
#include "preflight.h"
#include "routes.h"

static const char usage[] =
    "usage: pipette check [-q] [--processes N] [--allow-model-plugins]\n"
    "                     FILE.ini...\n"
    "\n"
    "Checks model files as pipette train does before step 1: their syntax,\n"
    "every key against what the core and the named plugins accept, the\n"
    "plugins themselves, that each layer's output shape fits the next\n"
    "layer, the pipeline, the optimizer's values, the data source (its\n"
    "keys, its files, its samples against the model), that each layer runs\n"
    "on its rank's kind of device, and that the outputs can be written.\n"
    "Only what this machine decides is left to train: whether the devices\n"
    "answer and have the memory. Prints a summary of each valid file, or\n"
    "every error found as FILE:LINE: message.\n"
    "\n"
    "  -q, --quiet   print nothing for valid files\n"
    "  --processes N  check the job as mpirun -np N would start it (on one\n"
    "                node): N processes of [parallel] ranks_per_process\n"
    "                ranks, and the transports between them\n"
    "  --allow-model-plugins  search each file's plugin_path for plugins\n"
    "                first; without it, nothing there is opened (plugins\n"
    "                are code: see pipette.ini(5))\n"
    "\n"
    "exit status: 0 all files valid, 2 a file has errors, 1 failure.\n";

/* A layer's own parameters: those it shares are its owner's. */
static long long own_params(const pp_model_layer *l, int i)
{
    long long n = 0;
    for (int p = 0; p < l->plan.nparams; p++)
        if (l->owner[p].layer == i)
            n += pp_shape_elements(&l->plan.params[p].shape);
    return n;
}

/* "fc1, act2" and "; weight from embed.weight" for each shared one. */
static void print_inputs(const pp_model *m, const pp_model_layer *l)
{
    for (int k = 0; k < l->nin; k++)
        printf("%s%s", k ? ", " : "", m->tensors[l->input[k]].name);
    for (int p = 0; p < l->plan.nparams; p++) {
        pp_param_ref o = l->owner[p];
        if (o.layer != l - m->layers)
            printf("; %s from %s.%s", l->plan.params[p].name,
                   m->layers[o.layer].name,
                   m->layers[o.layer].plan.params[o.param].name);
    }
}

/* "int 64 (below 256)": a sample's input or target. */
static const char *sample_text(const pp_tensor_desc *d, int64_t ids,
                               char *buf, size_t size)
{
    char shape[64];
    int n = snprintf(buf, size, "%s %s", d->dtype == PP_I32 ? "int" : "float",
                     pp_shape_format(&d->shape, shape, sizeof shape));
    if (ids && n >= 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, " (below %lld)", (long long)ids);
    return buf;
}

static void print_summary(const char *path, const pp_model *m,
                          const pp_data_info *data)
{
    char shape[64];
    long long total = 0;
    for (int i = 0; i < m->nlayers; i++)
        total += own_params(&m->layers[i], i);
    printf("%s: OK\n", path);
    printf("  model %s: input %s (%s), %d layer%s, %lld parameters\n",
           m->name ? m->name : "(unnamed)",
           pp_shape_format(&m->input.shape, shape, sizeof shape),
           m->input.dtype == PP_I32 ? "int" : "float", m->nlayers,
           m->nlayers == 1 ? "" : "s", total);
    /* The name column fits the longest name ([repeat] copies have long
     * ones: h.11.attn_proj). */
    int w = 16;
    for (int i = 0; i < m->nlayers; i++)
        if ((int)strlen(m->layers[i].name) > w)
            w = (int)strlen(m->layers[i].name);
    printf("  %-*s %-14s %-12s %12s %6s  %s\n", w, "layer", "type",
           "output", "params", "stage", "inputs");
    for (int i = 0; i < m->nlayers; i++) {
        const pp_model_layer *l = &m->layers[i];
        printf("  %-*s %-14s %-12s %12lld %6d  ", w, l->name,
               l->plugin->desc->name,
               l->plan.is_loss ? "loss"
                               : pp_shape_format(&l->plan.out.shape, shape,
                                                 sizeof shape),
               own_params(l, i), l->stage);
        print_inputs(m, l);
        printf("\n");
    }
    /* One pipeline's ranks: rank r's replicas are ranks r * data + k. */
    int p = m->pipeline_ranks;
    printf("  pipeline: %d rank%s (", p, p == 1 ? "" : "s");
    char dev[96];
    for (int r = 0; r < p; r++)
        printf("%s%s", r ? ", " : "",
               pp_device_text(&m->devices[r * m->data], dev, sizeof dev));
    printf("), %d stage%s per rank, schedule %s, %d micro-batch%s, "
           "partition %s\n",
           m->stages_per_rank, m->stages_per_rank == 1 ? "" : "s",
           m->schedule, m->microbatches, m->microbatches == 1 ? "" : "es",
           pp_partition_name(m->partition));
    if (m->data > 1)
        printf("  data parallel: %d replicas, %d ranks (rank r of replica "
               "k is rank r x %d + k), gradients summed over the replicas "
               "in buckets of at most %g MiB\n",
               m->data, m->nranks, m->data,
               (double)m->bucket_bytes / 1048576.0);
    if (m->processes > 1)
        printf("  processes: %d of %d rank%s each (rank r in process r / "
               "%d)\n", m->processes, m->ranks_per_process,
               m->ranks_per_process == 1 ? "" : "s", m->ranks_per_process);
    pp_sim *sim;
    pp_error err;
    pp_costs costs = pp_costs_default();
    if (pp_simulate(m->plan, &costs, NULL, &sim, &err) == PP_OK) {
        printf("  schedule %s: verified; bubble %.1f%% and peak activations "
               "(", m->schedule, 100.0 * sim->bubble);
        for (int r = 0; r < sim->p; r++)
            printf("%s%d", r ? ", " : "", sim->peak_act[r]);
        printf(") per rank, simulated with F=1, B=2\n");
        pp_sim_free(sim);
    }
    /* What crosses each cut: the residual stream beside the activation. */
    for (int s = 1; s < m->stages; s++) {
        const pp_cut *c = &m->cut[s];
        printf("  into stage %d:", s);
        for (int k = 0; k < c->n; k++)
            printf("%s %s", k ? "," : "", m->tensors[c->tensor[k]].name);
        printf(" (%zu bytes a sample, gradients %zu)\n", c->bytes,
               c->grad_bytes);
    }
    pp_routes_print(m, stdout);
    if (m->has_train) {
        char lr[96], clip[80] = "";
        if (m->grad_clip)
            snprintf(clip, sizeof clip, ", grad clip %g", m->grad_clip);
        if (m->skip_nonfinite)
            snprintf(clip + strlen(clip), sizeof clip - strlen(clip),
                     ", on_nonfinite skip");
        printf("  train: batch %lld, %lld steps, optimizer %s, lr %s%s, "
               "seed %lld, precision %s\n",
               (long long)m->batch, (long long)m->steps, m->optimizer,
               pp_model_lr_text(m, lr, sizeof lr), clip, (long long)m->seed,
               pp_precision_name(m->precision));
    }
    char in[96], tg[96];
    printf("  data: %s, samples %s, targets %s\n", m->source,
           sample_text(&data->input, data->input_ids, in, sizeof in),
           sample_text(&data->target, data->target_ids, tg, sizeof tg));
}

int pp_cmd_check(int argc, char **argv)
{
    if (pp_cmd_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return PP_EXIT_OK;
    }
    int quiet = 0, first = 1, allow = 0;
    long long processes = 0;
    for (; first < argc && argv[first][0] == '-' && argv[first][1]; first++) {
        if (strcmp(argv[first], "--") == 0) {
            first++;
            break;
        }
        if (strcmp(argv[first], "-q") == 0 ||
            strcmp(argv[first], "--quiet") == 0) {
            quiet = 1;
            continue;
        }
        if (strcmp(argv[first], PP_CMD_ALLOW_PLUGINS) == 0) {
            allow = 1;
            continue;
        }
        if (strcmp(argv[first], "--processes") == 0) {
            if (first + 1 >= argc ||
                pp_cmd_count(argv[first + 1], 4096, &processes))
                return pp_cmd_usage_error("check", usage, "--processes "
                                          "needs a whole number, 1 to 4096");
            first++;
            continue;
        }
        fprintf(stderr, "pipette check: unknown option '%s'\n%s",
                argv[first], usage);
        return PP_EXIT_USAGE;
    }
    if (first >= argc) {
        fprintf(stderr, "pipette check: no file given\n%s", usage);
        return PP_EXIT_USAGE;
    }
    int status = PP_EXIT_OK;
    for (int i = first; i < argc; i++) {
        pp_model *m;
        int s = pp_cmd_load(argv[i], allow, &m);
        pp_error err;
        pp_error_clear(&err);
        if (s == PP_EXIT_OK && processes &&
            pp_model_place(m, (int)processes, NULL, &err)) {
            pp_model_free(m);
            s = pp_cmd_fail(&err);
        }
        /* What train checks before step 1, devices aside. */
        pp_preflight pre;
        if (s == PP_EXIT_OK &&
            pp_preflight_check(m, &(pp_outputs){m->trace, 0}, &pre, &err)) {
            pp_model_free(m);
            s = pp_cmd_fail(&err);
        }
        if (s != PP_EXIT_OK) {
            if (s > status || status == PP_EXIT_OK)
                status = s;
            continue;
        }
        if (!quiet)
            print_summary(argv[i], m, &pre.data_info);
        pp_preflight_release(&pre);
        pp_model_free(m);
    }
    return status;
}
