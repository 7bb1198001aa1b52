/* src/model.h - a model file, validated and planned.
 *
 * pp_model_load() parses the INI file, checks every section against the
 * core's keys and the keys of the plugin it names, opens those plugins,
 * resolves each layer's inputs and plans the layers in file order (the
 * graph of named tensors: graph.c), cuts the layers into stages and finds
 * the tensors that cross each cut. What comes back is consistent: the
 * runtime need not re-check the file. It never touches a device.
 */
#ifndef PP_CORE_MODEL_H
#define PP_CORE_MODEL_H

#include <stdint.h>

#include <pipette/layer.h>

#include "config_file.h"
#include "plan.h"
#include "registry.h"

/* A rank's device, as a [pipeline] devices entry NAME or NAME:N names
 * it. */
typedef struct pp_device_spec {
    char name[PP_PLUGIN_NAME_MAX + 1]; /* the device plugin's */
    int index;                /* N; 0 when not written */
    int indexed;              /* written NAME:N */
    const pp_plugin *plugin;  /* once resolved (cpu: the built-in one) */
} pp_device_spec;

struct pp_routes;

typedef enum pp_partition {
    PP_PARTITION_PARAMS = 1,
    PP_PARTITION_FLOPS,
    PP_PARTITION_MANUAL
} pp_partition;

/* A tensor of the model: [model] input, or a layer's output, which is
 * named after the layer. */
typedef struct pp_model_tensor {
    const char *name;     /* "input", or the layer's name */
    pp_tensor_desc desc;  /* one sample (dtype 0 while unknown) */
    int layer;            /* the layer that makes it; -1 for the input */
    int grad;             /* 1: it has a gradient (it depends on a
                             parameter) */
    int stage;            /* the stage that makes it (-1: the input) */
    int last_stage;       /* the last stage that takes it (-1: none) */
} pp_model_tensor;

/* A parameter: layer's parameter number param. */
typedef struct pp_param_ref {
    int layer, param;
} pp_param_ref;

/* A sum that adds the ranks' parts of the squared gradient norm, and
 * the step's loss (to clip, and to check both are finite before the
 * step), where pp_model.summed names a parameter. */
#define PP_NORM_SUM ((pp_param_ref){-1, -1})
/* A sum of a stage's gradients over its replicas (the group's stage says
 * which). */
#define PP_STAGE_SUM ((pp_param_ref){-2, -2})
/* A sum of the replicas' losses over their last stages' ranks, before
 * each replica's norm sum, so that every replica judges the same loss. */
#define PP_LOSS_SUM ((pp_param_ref){-3, -3})

typedef struct pp_model_layer {
    const pp_section *section;
    const char *name;
    const pp_plugin *plugin;
    int nin;
    int *input;           /* [nin] tensor ids: 0 the model's input, i + 1
                             layer i's output */
    pp_tensor_desc *in;   /* [nin] one sample of each */
    pp_layer_plan plan;
    pp_param_ref *owner;  /* [plan.nparams]: whose each parameter is: the
                             layer's own, or another's it shares */
    int stage;            /* -1 unless written (partition = manual), then
                             the stage the partition gives it */
} pp_model_layer;

/* The tensors that enter a stage: those made before it that it, or a
 * later stage, takes. */
typedef struct pp_cut {
    int n;
    int *tensor;          /* [n] tensor ids, ascending */
    size_t bytes;         /* per sample, all of them */
    size_t grad_bytes;    /* per sample, those with a gradient */
} pp_cut;

typedef struct pp_model {
    pp_config *cfg;
    pp_registry *registry;

    const char *name;
    pp_tensor_desc input;
    pp_model_layer *layers;
    int nlayers;
    pp_model_tensor *tensors; /* [nlayers + 1] */
    int *first;              /* [S + 1]: stage s holds layers first[s] to
                                first[s + 1] - 1 */
    pp_cut *cut;             /* [S + 1]: cut[s] enters stage s (cut[0] is
                                the input; cut[S] is empty) */
    pp_param_ref *summed;    /* [plan->ngroups]: the shared parameter each
                                of the plan's sums adds the copies of, or
                                PP_NORM_SUM, PP_STAGE_SUM or
                                PP_LOSS_SUM */

    const char *schedule;
    pp_plan *plan;           /* the schedule for every rank of the job
                                (each replica's pipeline), verified, with
                                its sums */
    pp_device_spec *devices; /* one per rank of the job */
    int nranks;              /* of the job: data * pipeline_ranks */
    int pipeline_ranks;      /* of one pipeline: [pipeline] devices */
    int data;                /* [parallel] data: replicas of the pipeline */
    size_t bucket_bytes;     /* [parallel] bucket_mb: the most of a stage's
                                gradients summed over replicas at once */
    int stages;              /* of one pipeline: first[] and cut[] index
                                them; the job's stage s is stage s % stages
                                of replica s / stages */
    int ranks_per_process;   /* [parallel]: under a launcher, the
                                consecutive ranks each process hosts */
    int processes;           /* of the job (1: every rank a thread of this
                                process), as pp_model_place set it */
    int *process_of;         /* [nranks]: each rank's process */
    int *node_of;            /* [nranks]: each rank's node (its process's) */
    int microbatches;
    int stages_per_rank;
    pp_partition partition;
    const char *transport;
    struct pp_routes *route; /* which transport carries each direction
                                (routes.h); one allocation */
    unsigned char *recompute; /* [S]: keep only the stage's inputs and
                                recompute its forward in the backward */

    int has_train;
    pp_precision precision;  /* [train] precision */
    int64_t batch, steps, seed, log_every;
    const char *optimizer;
    double lr;
    int64_t warmup;          /* steps of linear warm-up */
    int cosine;              /* lr_decay = cosine, to min_lr */
    double min_lr;
    double grad_clip;        /* the global gradient norm's bound; 0: none */
    int skip_nonfinite;      /* [train] on_nonfinite = skip */
    int grad_norm;           /* the programs sum the gradient norm and the
                                loss before each step (0 only on a device
                                built before ABI 2.2, without clipping) */
    const char *log, *trace, *checkpoint;
    int64_t checkpoint_every; /* steps between checkpoints; 0: the end */
    int keep;                /* checkpoints kept; 0: all */

    int has_data;
    const char *source;

    /* What model.c sizes, each at most PP_SIZE_MAX: */
    int64_t sample_bytes;    /* one sample's tensors: the input, and every
                                layer's output, saved values, workspace
                                and targets */
    int64_t param_bytes;     /* the parameters, FP32 */
} pp_model;

/* The most bytes pipette sizes at once: a micro-batch's tensors together
 * (pp_model.sample_bytes times its samples), and the model's parameters.
 * 2^50 (1 PiB) is past any machine's memory, and far enough inside 64
 * bits that what the core and the layers compute from those sizes
 * (gradients beside values, a few copies, a stage's share, a layer's
 * workspace) cannot overflow. */
#define PP_SIZE_MAX ((int64_t)1 << 50)

/* The learning rate of step `step` (0-based) of a run of `steps`: rising
 * linearly over the warm-up, lr * (step + 1) / warmup, then lr, or a
 * cosine from lr to min_lr over the steps left (as llm.c and nanoGPT). */
double pp_model_lr(const pp_model *m, int64_t step, int64_t steps);

/* "0.1", or "0.1, warm-up 3 steps, cosine to 0.01": lr and its schedule. */
const char *pp_model_lr_text(const pp_model *m, char *buf, size_t size);

/* The most steps of a run: sample i of the run is read by its 64-bit
 * index, so steps x batch must fit one ([train] steps and --steps are
 * refused past it). */
int64_t pp_model_max_steps(const pp_model *m);

/* On PP_ERR_CONFIG err holds every "FILE:LINE: message" found. Every
 * rank is placed in this one process. */
pp_status pp_model_load(const char *path, pp_model **out, pp_error *err);

/* How pp_model_load_opts reads a model file (NULL: as pp_model_load). */
typedef struct pp_model_opts {
    int allow_plugins; /* search its [model] plugin_path first (a command's
                          --allow-model-plugins; PIPETTE_ALLOW_MODEL_PLUGINS=1
                          does the same). Plugins are code, and a model
                          file may come from anyone: by default its
                          plugin_path is not searched, nothing in it is
                          opened, and a directory there that is missing
                          is no error */
    pp_error *note;    /* NULL, or where to say so when plugin_path is
                          ignored: "FILE:LINE: ..." lines, for the command
                          to print; cleared when there is nothing to say */
} pp_model_opts;

pp_status pp_model_load_opts(const char *path, const pp_model_opts *opts,
                             pp_model **out, pp_error *err);

/* Places the job's ranks on `processes` processes started by a launcher,
 * [parallel] ranks_per_process consecutive ranks each; node[q] is process
 * q's node (NULL: all on one). Numbers the unindexed GPU entries per node
 * and routes every direction again (across processes through transports
 * that reach them). A job that needs another number of processes is a
 * config error that says how many. */
pp_status pp_model_place(pp_model *m, int processes, const int *node,
                         pp_error *err);
void pp_model_free(pp_model *model);

/* Orders err's "path:LINE: ..." lines by line, so a user reads the file
 * top down; messages on one line keep the order they were found in. */
void pp_sort_by_line(pp_error *err, const char *path);

/* Parses a [pipeline] devices list ("cpu*2", "cuda:0,cuda:1") into names
 * and indices, resolving none; exposed for tests. On failure returns
 * nonzero with a message in why. */
int pp_parse_devices(const char *text, pp_device_spec **out, int *n,
                     char *why, size_t why_size);

/* "cuda:0", or "cpu": d as its entry wrote it. */
const char *pp_device_text(const pp_device_spec *d, char *buf, size_t size);

/* The PP_MEMORY_* kind of a resolved device's buffers. */
unsigned pp_device_memory(const pp_device_spec *d);

const char *pp_partition_name(pp_partition p);

/* graph.c: the graph of named tensors, used by pp_model_load. */

/* Resolves layer i's inputs (its `inputs` key, or the previous layer's
 * output), reporting names that do not exist or come later. Returns 1
 * when they resolved. */
int pp_graph_inputs(pp_model *m, int i, pp_error *err);
/* Once every layer is planned: one loss, every other output used,
 * shared parameters resolved, which tensors have a gradient. */
void pp_graph_check(pp_model *m, pp_error *err);
/* Once the stages are cut: which stage makes and takes each tensor, and
 * the tensors entering each stage. */
pp_status pp_graph_cut(pp_model *m, pp_error *err);
void pp_graph_free(pp_model *m);

/* pipeline.c: [pipeline], the schedule, the stages and their cuts. */
void pp_pipeline_load(pp_model *m, pp_error *err);

/* partition.c: cuts the model's layers into S stages: stage s holds layers
 * first[s] to first[s + 1] - 1 (first has S + 1 entries). */
pp_status pp_partition_layers(const pp_model *m, int S, int *first,
                              pp_error *err);
/* A layer's FLOPs in a training step, as partition = flops weighs it. */
double pp_layer_step_flops(const pp_model *m, int layer);

#endif
