/* src/cmd_gradcheck.c - `pipette gradcheck FILE.ini`: each layer's
 * gradients against central differences, and its GPU half against its CPU
 * half (gradcheck.c). */
#include <config.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "gradcheck.h"
#include "model.h"

static const char usage[] =
    "usage: pipette gradcheck [OPTIONS] FILE.ini\n"
    "\n"
    "Checks the kernels of the model's layers, each on its own, on random\n"
    "numbers of the shapes the model gives it: the CPU half's\n"
    "backward_input and backward_weight against central differences of its\n"
    "forward (in double), its forward on the micro-batch against its\n"
    "samples one at a time, and, where a GPU (or the CUDA emulator) answers,\n"
    "the CUDA half's three kernels against the CPU half's. A layer that runs\n"
    "bf16 is run in bf16 too: its CPU half against FP32, its CUDA half\n"
    "against the CPU's. Prints the worst error of each tensor as a fraction\n"
    "of its bound.\n"
    "\n"
    "  --layer NAME      check this layer (repeatable; default: every layer)\n"
    "  --cpu-only        check the CPU halves alone, even with a GPU there\n"
    "  --samples N       samples in the micro-batch (default 2)\n"
    "  --tolerance K     multiply every bound by K (default 1)\n"
    "  --seed S          seed of the random numbers (default 1)\n"
    "  --allow-model-plugins  search the model file's plugin_path for\n"
    "                    plugins first (they are code: see pipette.ini(5))\n"
    "\n"
    "exit status: 0 every tensor within its bound, 1 a tensor beyond it (or\n"
    "a kernel failed), 2 usage or config error.\n";

static int bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "pipette gradcheck: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see pipette gradcheck --help)\n");
    return PP_EXIT_USAGE;
}

/* A number option's value, or -1 with the usage error printed. */
static int number(const char *opt, const char *text, double lo, double *out)
{
    char *end;
    errno = 0;
    double v = text ? strtod(text, &end) : 0;
    if (!text || errno || end == text || *end || !(v >= lo)) {
        char what[96];
        snprintf(what, sizeof what, "%s needs a number of at least %g", opt,
                 lo);
        bad_usage("%s", what);
        return -1;
    }
    *out = v;
    return 0;
}

typedef struct args {
    const char *path;
    const char **layers;
    int nlayers;
    int cpu_only;
    int allow_plugins;
    pp_gc_options opt;
} args;

static int parse(int argc, char **argv, args *a)
{
    a->opt = (pp_gc_options){.samples = 2, .tolerance = 1, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        if (strcmp(o, "--layer") == 0) {
            if (!v)
                return bad_usage("%s needs a layer's name", o);
            a->layers[a->nlayers++] = v;
        } else if (strcmp(o, "--cpu-only") == 0) {
            a->cpu_only = 1;
            continue;
        } else if (strcmp(o, PP_CMD_ALLOW_PLUGINS) == 0) {
            a->allow_plugins = 1;
            continue;
        } else if (strcmp(o, "--samples") == 0) {
            if (number(o, v, 1, &d))
                return PP_EXIT_USAGE;
            if (d > 1 << 16)
                return bad_usage("%s: at most 65536", o);
            a->opt.samples = (int)d;
        } else if (strcmp(o, "--tolerance") == 0) {
            if (number(o, v, 0, &d))
                return PP_EXIT_USAGE;
            a->opt.tolerance = d;
        } else if (strcmp(o, "--seed") == 0) {
            if (number(o, v, 0, &d))
                return PP_EXIT_USAGE;
            a->opt.seed = (uint64_t)d;
        } else if (o[0] == '-' && o[1]) {
            return bad_usage("unknown option '%s'", o);
        } else if (a->path) {
            return bad_usage("one model file, not '%s' too", o);
        } else {
            a->path = o;
            continue;
        }
        i++;
    }
    return a->path ? PP_EXIT_OK : bad_usage("%s", "no model file given");
}

/* The layer named `name`, or -1. */
static int layer_index(const pp_model *m, const char *name)
{
    for (int i = 0; i < m->nlayers; i++)
        if (strcmp(m->layers[i].name, name) == 0)
            return i;
    return -1;
}

static int wanted(const args *a, const pp_model *m, int i)
{
    if (a->nlayers == 0)
        return 1;
    for (int k = 0; k < a->nlayers; k++)
        if (strcmp(a->layers[k], m->layers[i].name) == 0)
            return 1;
    return 0;
}

static void print_result(const pp_gc_result *r)
{
    printf("  %-4s %-15s %-22s worst %-8.3g of its bound, %lld check%s, "
           "%lld elements%s\n",
           r->half, r->kernel, r->tensor, r->worst, (long long)r->checked,
           r->checked == 1 ? "" : "s", (long long)r->elements,
           r->worst <= 1 ? "" : "  FAIL");
}

static int run(const args *a, pp_model *m)
{
    for (int k = 0; k < a->nlayers; k++)
        if (layer_index(m, a->layers[k]) < 0) {
            fprintf(stderr, "pipette gradcheck: %s has no layer '%s'\n",
                    a->path, a->layers[k]);
            return PP_EXIT_USAGE;
        }
    pp_gc_gpu gpu = {0};
    pp_error err;
    pp_error_clear(&err);
    if (!a->cpu_only && pp_gc_gpu_open(m, &gpu, &err))
        return pp_cmd_fail(&err);
    if (!a->cpu_only && !gpu.dev)
        printf("%s: CUDA halves not checked: %s\n", a->path, gpu.why);
    int layers = 0, tensors = 0, beyond = 0, status = PP_EXIT_OK;
    for (int i = 0; i < m->nlayers && status == PP_EXIT_OK; i++) {
        if (!wanted(a, m, i))
            continue;
        pp_gc_result *res = NULL;
        int n = 0;
        const pp_model_layer *l = &m->layers[i];
        printf("%s: layer %s (%s), %d sample%s\n", a->path, l->name,
               l->plugin->desc->name, a->opt.samples,
               a->opt.samples == 1 ? "" : "s");
        if (pp_gradcheck_layer(m, i, &a->opt, &gpu, &res, &n, &err))
            status = pp_cmd_fail(&err);
        for (int k = 0; k < n; k++) {
            if (res[k].precision == PP_PRECISION_BF16 &&
                (k == 0 || res[k - 1].precision != PP_PRECISION_BF16))
                printf("  in bf16: the CPU against FP32, the GPU against "
                       "the CPU\n");
            print_result(&res[k]);
            beyond += !(res[k].worst <= 1);
        }
        tensors += n;
        layers++;
        free(res);
    }
    pp_gc_gpu_close(&gpu);
    if (status != PP_EXIT_OK)
        return status;
    if (beyond) {
        printf("gradcheck: %s: %d of %d tensors beyond their bounds\n",
               a->path, beyond, tensors);
        return PP_EXIT_FAILURE;
    }
    printf("gradcheck: %s: %d tensors of %d layer%s within their bounds\n",
           a->path, tensors, layers, layers == 1 ? "" : "s");
    return PP_EXIT_OK;
}

int pp_cmd_gradcheck(int argc, char **argv)
{
    if (pp_cmd_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return PP_EXIT_OK;
    }
    args a = {0};
    a.layers = calloc((size_t)argc, sizeof *a.layers);
    if (!a.layers)
        return PP_EXIT_FAILURE;
    int status = parse(argc, argv, &a);
    pp_model *m;
    if (status == PP_EXIT_OK &&
        (status = pp_cmd_load(a.path, a.allow_plugins, &m)) ==
            PP_EXIT_OK) {
        status = run(&a, m);
        pp_model_free(m);
    }
    free(a.layers);
    return status;
}
