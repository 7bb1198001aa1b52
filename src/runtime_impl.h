/* src/runtime_impl.h - the trainer's insides, shared by runtime.c (memory,
 * parameters, plan) and runtime_run.c (the ranks' threads). */
#ifndef PP_SRC_RUNTIME_IMPL_H
#define PP_SRC_RUNTIME_IMPL_H

#include <pthread.h>

#include <pipette/pipette.h>

#include "runtime.h"

typedef struct layer_rt {
    const pp_model_layer *ml;
    const pp_layer_kernels *k;
    int index;                           /* in the model */
    float *param[PP_LAYER_MAX_PARAMS];   /* into the stage's buffers */
    float *grad[PP_LAYER_MAX_PARAMS];
    size_t in_bytes, out_bytes;          /* per sample */
} layer_rt;

/* One micro-batch in flight on a stage. act[k] is layer k's input (act[0]
 * the stage input, act[nl] its output), grad[k] the gradient with respect
 * to act[k]. With recompute a slot keeps only act[0], the target and
 * grad[nl]; the rest lives in the stage's scratch slot. */
typedef struct slot {
    int mb;              /* -1 when free */
    unsigned char **act; /* [nl + 1] */
    float **grad;        /* [nl + 1] */
    void **saved;        /* [nl] */
    void *target;        /* last stage: n samples of targets */
} slot;

/* A rank's device: its table, its stream and handles, and a host buffer
 * that data, messages and the loss pass through on their way to or from
 * device memory. */
typedef struct rank_rt {
    const pp_device_ops *dev;
    pp_device_rank dr;
    int cuda;              /* device memory: copies go through staging */
    int opened;
    unsigned char *staging;
    size_t staging_bytes;
} rank_rt;

typedef struct stage_rt {
    int s, rank;
    int nl;
    layer_rt *layer;
    float *params, *grads, *opt; /* contiguous: nparams, nparams, state,
                                    in the rank's device memory */
    float *host_params;          /* a host copy of params (the same
                                    buffer on cpu) */
    size_t nparams;
    int nslots;
    slot *slots;
    slot scratch;        /* recompute: where a forward is rebuilt */
    unsigned char *memory;
    size_t slot_bytes;   /* one slot as allocated */
    size_t full_slot_bytes, lean_slot_bytes; /* without and with recompute */
    size_t scratch_bytes;
} stage_rt;

/* A barrier that a failure can break, so no rank waits forever. */
typedef struct pp_barrier {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int count, waiting, generation, broken;
} pp_barrier;

typedef struct span_log {
    pp_span *span;
    int n, cap;
} span_log;

struct pp_trainer {
    pp_model *m;
    pp_train_opts o;
    int p, mbs, S, n;            /* ranks, micro-batches, stages, samples
                                    per micro-batch */
    int64_t steps, log_every;
    int *first;                  /* [S + 1] partition */
    rank_rt *rank;               /* [p] */
    stage_rt *stage;             /* [S] */
    const pp_optimizer_ops *opt;
    pp_optimizer_plan opt_plan;
    const pp_data_ops *data;
    void *data_state;
    pp_data_info data_info;
    const pp_transport_ops *tr;
    void *tr_state;
    pp_sim *planned;             /* the schedule simulated, default costs */
    double loss_scale;

    double *loss;                /* [steps] */
    double *busy;                /* [p][2]: this step's compute seconds,
                                    by parity of the step */
    double t0;                   /* run start, seconds */
    span_log *trace;             /* [p] when tracing */
    FILE *log;                   /* [train] log, or NULL */
    pp_barrier barrier;
    pthread_mutex_t fail_lock;
    int failed;
    pp_error failure;
};

double pp_now(void);
pp_status pp_run_ranks(pp_trainer *t, pp_error *err);

#endif
