/* src/runtime_impl.h - the trainer's insides, shared by runtime.c (memory,
 * parameters, plan) and runtime_run.c (the ranks' threads). */
#ifndef PP_SRC_RUNTIME_IMPL_H
#define PP_SRC_RUNTIME_IMPL_H

#include <pthread.h>

#include <pipette/pipette.h>

#include "data_ring.h"
#include "memplan.h"
#include "routes.h"
#include "runtime.h"

/* Where a tensor (or its gradient, or a layer's saved values) lives in a
 * slot: in the part the slot keeps from forward to backward, or in its
 * work part (the rank's scratch when the stage recomputes). */
typedef struct loc {
    unsigned char work;
    size_t off;
} loc;

#define NO_LOC ((size_t)-1) /* loc.off of what does not exist */

/* bytes at a loc. */
typedef struct region_rt {
    loc at;
    size_t bytes;
} region_rt;

typedef struct layer_rt {
    const pp_model_layer *ml;
    const pp_layer_kernels *k;
    int index;                           /* in the model */
    float **param;                       /* [nparams] into the stages' */
    float **grad;                        /* buffers on this rank */
    const void **param_bf16;             /* their bf16 copies (bf16) */
    void *state;                         /* what k->init made */
    loc *x, *dx;                         /* [nin]: each input and its
                                            gradient (NO_LOC: none) */
    loc y, dy;                           /* the output and its gradient */
    loc saved;
    int wants_dx;                        /* some input has a gradient */
    region_rt *zero;                     /* [nzero]: the input gradients it
                                            is the first to add to, which a
                                            backward zeroes just before */
    int nzero;
    const void **xp;                     /* [nin]: a call's input and */
    void **dxp;                          /* gradient addresses (its rank's
                                            thread alone writes them) */
} layer_rt;

/* A copy within a slot: a tensor passing through the stage, forward (in
 * to out) or backward (its gradient, to the one sent back). */
typedef struct copy_rt {
    loc from, to;
    size_t bytes;
} copy_rt;

/* One micro-batch's memory on a stage: `keep` holds the stage's inputs
 * (the cut entering it), the gradients of its outputs and the targets
 * from forward to backward; `work` holds everything made in between
 * (outputs, local tensors, gradients, saved values), or is the rank's
 * scratch when the stage recomputes. */
typedef struct slot {
    int mb;              /* the micro-batch holding it, or -1 */
    unsigned char *keep, *work;
} slot;

/* A rank's device: its table, its stream and handles; where data, host
 * transports' messages and the losses pass on their way to or from device
 * memory; and the events that time its tasks. */
typedef struct rank_rt {
    const pp_device_ops *dev;
    int local;             /* a thread of this process (the others' ranks
                              are known, never opened) */
    pp_device_rank dr;
    int cuda;              /* its memory is PP_MEMORY_CUDA: host data goes
                              through `ring` */
    int opened;
    unsigned char *staging;   /* a host transport's messages (cuda):
                                 page-locked */
    size_t staging_bytes;
    void *staged;          /* the copy out of staging into device memory
                              has run (recorded when `staged_pending`) */
    int staged_pending;
    pp_data_ring ring;     /* cuda ranks with the first or last stage */
    size_t ring_bytes;
    int prefetch_mb[2];    /* the micro-batch (of the whole batch,
                              pp_batch_mb) whose inputs and targets
                              (PP_RING_*) the program reads first, or -1 */
    float *inputs;         /* a cpu rank's float inputs, before they are
                              rounded into a bf16 slot */
    float *loss;           /* [mbs] on the device: each micro-batch's
                              loss; then (grad_norm) [PP_NORM_PARTS] parts
                              of the squared gradient norm (`norm`) and
                              [mbs] the step's losses (at PP_NORM_LOSS,
                              summed over the replicas) */
    float *loss_host;      /* the same, page-locked: read after the step */
    float *norm;
    float *norm_a, *norm_b; /* after it, as sum_a and sum_b for the sums
                               of the norm and the losses: they need no
                               gradient-sum buffers */
    void **mark;           /* [program length + 2] timing events: before
                              each instruction, after the last, and (the
                              last) where the step starts, which dates
                              them on the host's clock */
    int nmarks;
    unsigned char *scratch; /* the work part of recomputing stages' slots */
    size_t scratch_bytes;
    void *workspace;       /* the layers' per-call workspace */
    size_t workspace_bytes;
    float *sum_a, *sum_b;  /* a sum's running total, and a copy received */
    size_t sum_bytes;      /* each, for the largest sum it is in */
    double live, hwm;      /* slot bytes held now, and at most */
} rank_rt;

/* A transport the run uses, and the directions it carries. */
typedef struct transport_rt {
    const char *name;
    const pp_transport_ops *ops;
    void *state;           /* between open and close */
    int async;             /* the stream-ordered half */
    int job;               /* opened across processes (open_job) */
    unsigned char *links;  /* [src * p + dst]: the directions whose
                              messages it carries, set at open */
} transport_rt;

/* Where a parameter lives on a rank: in stage `stage`'s buffer (-1: not
 * on this rank), at element off. */
typedef struct pp_param_home {
    int stage, placed;
    size_t off;
} pp_param_home;

/* The runs a squared gradient norm is summed in: enough for every SM of
 * a GPU to take some (sumsq_async, pipette/device.h). */
#define PP_NORM_PARTS 256
/* Where the step's losses sit in a rank's norm, after its parts. */
#define PP_NORM_LOSS PP_NORM_PARTS

/* A sum: the parameter it sums (or PP_NORM_SUM, PP_STAGE_SUM,
 * PP_LOSS_SUM), its size, the elements one message carries, and its first
 * message's number in a step's tags (one per message). */
typedef struct pp_sum_rt {
    pp_param_ref owner;
    size_t n, bucket;
    uint64_t tag;
} pp_sum_rt;

typedef struct stage_rt {
    int s, rank;
    int ms, replica;     /* the stage of one pipeline it is (the model's
                            first[], cut[]), and of which replica */
    int last;            /* ms is the pipeline's last stage: the loss */
    int nl;
    layer_rt *layer;
    int recompute;       /* keep only the inputs; recompute the forward */
    float *params, *grads, *opt; /* contiguous: nparams, nparams, state,
                                    in the rank's device memory */
    float *host_params;          /* a host copy of params (the same
                                    buffer on cpu) */
    pp_bf16 *params_bf16;        /* bf16: params rounded, for the GEMMs;
                                    the optimizer refreshes it */
    size_t nparams;
    size_t ndecay;               /* the first ndecay take weight decay */
    size_t shared;               /* of nparams, copies of another rank's */
    size_t (*own)[2];            /* [nown] (offset, length): the runs of
                                    the rank's own parameters, which the
                                    gradient norm counts */
    int nown;
    /* The slot's layout, bytes for a whole micro-batch: */
    loc in, out;                 /* the cut entering, the cut leaving */
    loc gin, gout;               /* their gradients: sent back, received */
    loc gwork;                   /* recompute: a working copy of gout */
    loc target, loss;
    size_t in_bytes, out_bytes, gin_bytes, gout_bytes;
    copy_rt *pass, *gpass;       /* tensors passing through: values
                                    forward, gradients backward */
    int npass, ngpass;
    size_t keep_bytes, work_bytes;
    int nslots;
    slot *slots;
    unsigned char *memory;
    size_t slot_bytes;           /* one slot as allocated */
} stage_rt;

/* A barrier that a failure can break, so no rank waits forever. */
typedef struct pp_barrier {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int count, waiting, generation, broken;
} pp_barrier;

/* Losses kept for pp_trainer_loss: memory does not grow with steps. */
#define PP_LOSSES_KEPT 4096
/* The most a trace holds by default, in bytes of spans: its first
 * steps. */
#define PP_TRACE_BYTES ((size_t)64 << 20)

/* Where a step's values first went non-finite, found by running it
 * again with each layer's output and gradients checked: earliest by key
 * (the outputs in forward order, then the gradients in backward order,
 * each by micro-batch). */
typedef struct pp_finding {
    int64_t key;         /* INT64_MAX: nothing found */
    int layer;           /* in the model; -1: the model's input */
    int grad;            /* 1: its gradients, 0: its output */
    int rank;
    pp_task task;        /* the task that made it */
} pp_finding;

typedef struct span_log {
    pp_span *span;
    int n, cap;
} span_log;

struct pp_trainer {
    pp_model *m;
    pp_train_opts o;
    pp_job alone;                /* o.job when none was given */
    int me, nlocal;              /* this process; its ranks */
    int p, mbs, S, n;            /* ranks, micro-batches, stages (of the
                                    job: every replica's), samples per
                                    micro-batch */
    uint64_t sum_tags;           /* the sums' messages in a step */
    int64_t steps, log_every;
    int *ref_base;               /* [nlayers + 1]: layer l's parameters
                                    are refs ref_base[l] on */
    int nrefs;
    pp_param_home *home;         /* [p * nrefs]: rank r's copy of each
                                    (owner's) parameter */
    pp_sum_rt *sum;              /* [plan's ngroups] */
    int *sum_via;                /* [ngroups]: the transport (into via)
                                    whose own sum adds group g up, or -1:
                                    messages (pp_transports_plan) */
    int *sum_id;                 /* [ngroups]: its group_open's id */
    rank_rt *rank;               /* [p] */
    stage_rt *stage;             /* [S] */
    const pp_optimizer_ops *opt;
    pp_optimizer_plan opt_plan;
    const pp_data_ops *data;
    void *data_state;
    pp_data_info data_info;
    transport_rt *via;           /* [nvia]: the model's route->via */
    int nvia;
    const unsigned char *route;  /* the model's route->pair: an index
                                    into via */
    pp_memplan *mem;             /* the memory pass: slots by micro-batch */
    pp_sim *planned;             /* the schedule simulated, default costs */
    double loss_scale;

    double loss[PP_LOSSES_KEPT]; /* the last steps' losses, step s's at
                                    s % PP_LOSSES_KEPT */
    double loss_sum;             /* every step's of this run */
    int saving_failed;           /* the run failed writing a checkpoint */
    int64_t trace_until;         /* steps before it are traced */
    double *replica_loss;        /* [data]: this step's, each replica's */
    int stopping;                /* o.stop was seen at this step's end */
    double *swap;                /* across processes: what each step's end
                                    exchanges, this process's and all */
    int64_t done;                /* steps made */
    double *busy;                /* [p][2]: this step's compute seconds,
                                    by parity of the step */
    double norm[2];              /* the gradient norm, clipping: by parity
                                    of the step */
    float *from;                 /* opts.init's parameters, each layer's
                                    own in model order (from_total) */
    float *from_state;           /* resuming: their optimizer state, plane
                                    j of each at j * from_total + its
                                    from_at */
    size_t from_total;
    char *resumed;               /* the checkpoint resumed, or NULL */
    int64_t first_step;          /* steps made before this run (resumed) */
    int64_t first_sample;        /* the data's position then */
    int64_t first_skipped;       /* steps skipped before this run */
    size_t *from_at;             /* [nrefs]: where each (layer, param)
                                    starts in `from` (its owner's for a
                                    shared one) */
    double t0;                   /* run start, seconds */
    span_log *trace;             /* [p] when tracing */
    FILE *log;                   /* [train] log, or NULL */
    pp_barrier barrier;
    pthread_mutex_t fail_lock;
    int failed;
    pp_error failure;
    int agreed;                  /* every process failed so, at once */
    int64_t skipped;             /* steps whose update was skipped */
    unsigned char skip[2];       /* this step's was: by parity */
    pp_finding *found;           /* [p]: each rank's, once diagnosed */
    pp_finding first;            /* the job's earliest */
};

/* runtime_params.c: each parameter's home on each rank (copies of shared
 * ones where their users are) and the stages' parameter counts; then,
 * stage by stage once allocated, the layers' pointers and first values. */
pp_status pp_place_params(pp_trainer *t, pp_error *err);
pp_status pp_init_params(pp_trainer *t, int s, pp_error *err);
pp_status pp_plan_sums(pp_trainer *t, pp_error *err);
pp_param_home *pp_param_home_of(const pp_trainer *t, int rank,
                                pp_param_ref o);
/* The micro-batch of the whole batch that stage st's mb is: replica k
 * takes micro-batches k * mbs to (k + 1) * mbs - 1, so the D replicas
 * read the samples one rank would. */
int pp_batch_mb(const pp_trainer *t, const stage_rt *st, int mb);
/* Rank r's copy of the gradient that sum g adds up. */
float *pp_sum_grad(const pp_trainer *t, int g, int r);
/* Stage s's parameters on the host, copied from its device (on cuda). */
const float *pp_stage_host_params(const pp_trainer *t, int s);
/* Layer's parameter param as its rank holds it, from the host copy made
 * last (fetch 0) or from a fresh one (fetch 1). */
const float *pp_param_host(const pp_trainer *t, int layer, int param,
                           size_t *n, int fetch);

/* runtime_checkpoint.c: writes the checkpoint of `step` steps made
 * (every process, at once, at a step's end; *where its directory,
 * malloc'd, and *bytes its size); reads opts.init's into
 * t->from and, resuming, t->from_state, first_step and first_sample;
 * puts the optimizer state read into stage s, once allocated. */
pp_status pp_checkpoint_save(pp_trainer *t, int64_t step, char **where,
                             uint64_t *bytes, pp_error *err);
pp_status pp_checkpoint_load(pp_trainer *t, const char *path, int resume,
                             pp_error *err);
pp_status pp_init_state(pp_trainer *t, int s, pp_error *err);
/* The first sample of step `step` (counted from the run's start). */
int64_t pp_step_sample(const pp_trainer *t, int64_t step);

/* runtime_layout.c: where stage st's tensors live in a slot (its locs and
 * its layers'), from the model's cuts; and a loc's address in a slot
 * (NULL for NO_LOC). */
pp_status pp_layout_stage(pp_trainer *t, stage_rt *st, pp_error *err);
void *pp_slot_at(const slot *sl, loc l);

/* What a rank's thread works with. */
typedef struct rank_ctx {
    pp_trainer *t;
    int r;
    int64_t step;
    double begin_ms;     /* host clock, since t0, at the step's first mark */
    pp_task diverged;    /* the forward whose loss was not finite */
    pp_error err;
    int judged;          /* this step's gradient norm and loss are read */
    int nonfinite;       /* and one is not: its update is not applied */
    double norm2, loss;  /* the two, as every rank reads them */
    int64_t skipped;     /* steps skipped (on_nonfinite = skip), */
    int64_t in_row;      /* of them the last ones in a row */
    int checking;        /* running the step again to find where it
                            went non-finite (pp_forward, pp_backward) */
    pp_finding found;    /* the earliest place, on this rank */
} rank_ctx;

/* runtime_tasks.c: the slot the memory plan gives (stage, mb), taken now
 * if it was free, or found where it must be held; a stage's forward or
 * backward task on micro-batch mb, *out the message it makes (the cut
 * leaving it, or the gradients sent back); the next step's first data
 * made ahead on a GPU rank. Errors go to x->err. */
pp_status pp_take_slot(rank_ctx *x, stage_rt *st, int mb, slot **out);
pp_status pp_find_slot(rank_ctx *x, stage_rt *st, int mb, slot **out);
pp_status pp_forward(rank_ctx *x, stage_rt *st, int mb, const void **out);
pp_status pp_backward(rank_ctx *x, stage_rt *st, const pp_task *task,
                      const void **out);
/* Evaluating: a backward task that only lets go of its slot where the
 * backward would have (B, BW), so the memory plan holds. */
pp_status pp_pass_backward(rank_ctx *x, stage_rt *st, const pp_task *task);
pp_status pp_prefetch(rank_ctx *x);

double pp_now(void);
pp_status pp_run_ranks(pp_trainer *t, pp_error *err);

/* runtime_memory.c: refuses, before anything is allocated, a plan that
 * does not fit a device, with its numbers and what would. */
pp_status pp_check_memory(const pp_trainer *t, pp_error *err);

/* runtime_transport.c */
/* The bytes of a SEND's message: the cut leaving the stage (activations)
 * or the gradients of the cut entering it (0: nothing is sent). */
size_t pp_message_bytes(const pp_trainer *t, const pp_ins *send);
/* A message a rank sends each step, and to whom. */
typedef struct pp_send_rt {
    int to;
    size_t bytes;
} pp_send_rt;
/* Rank r's messages of one step ([*n], malloc'd; NULL when memory ran
 * out): its non-empty sends and its sums' copies to the other members
 * (but for sums a transport does itself). */
pp_send_rt *pp_step_sends(const pp_trainer *t, int r, int *n);
/* The transports of the model's routes, and which replicas' sums one of
 * them does itself (sum_via): one that has sum_async and carries every
 * pair of the group. */
pp_status pp_transports_plan(pp_trainer *t, pp_error *err);
/* Opens them and their sums' groups (every process at once, in one
 * order) and reserves their buffers. */
pp_status pp_transports_open(pp_trainer *t, pp_error *err);
/* PP_OK, or the first failure a transport met on a device by itself. */
pp_status pp_transports_check(const pp_trainer *t, pp_error *err);
void pp_transports_abort(pp_trainer *t);
void pp_transports_close(pp_trainer *t);
void pp_transports_free(pp_trainer *t);
/* The transport of a direction that carries messages. */
const transport_rt *pp_route(const pp_trainer *t, int src, int dst);
/* Whether src -> dst carries messages through a host half. */
int pp_route_on_host(const pp_trainer *t, int src, int dst);

#endif
