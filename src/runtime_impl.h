/* src/runtime_impl.h - the trainer's insides, shared by runtime.c (memory,
 * parameters, plan) and runtime_run.c (the ranks' threads). */
#ifndef PP_SRC_RUNTIME_IMPL_H
#define PP_SRC_RUNTIME_IMPL_H

#include <pthread.h>

#include <pipette/pipette.h>

#include "data_ring.h"
#include "routes.h"
#include "runtime.h"

typedef struct layer_rt {
    const pp_model_layer *ml;
    const pp_layer_kernels *k;
    int index;                           /* in the model */
    float **param;                       /* [nparams] into the stage's */
    float **grad;                        /* buffers */
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

/* A rank's device: its table, its stream and handles; where data, host
 * transports' messages and the losses pass on their way to or from device
 * memory; and the events that time its tasks. */
typedef struct rank_rt {
    const pp_device_ops *dev;
    pp_device_rank dr;
    int cuda;              /* device memory: host data goes through `ring` */
    int opened;
    unsigned char *staging;   /* a host transport's messages (cuda):
                                 page-locked */
    size_t staging_bytes;
    void *staged;          /* the copy out of staging into device memory
                              has run (recorded when `staged_pending`) */
    int staged_pending;
    pp_data_ring ring;     /* cuda ranks with the first or last stage */
    size_t ring_bytes;
    int prefetch_mb[2];    /* the micro-batch whose inputs and targets
                              (PP_RING_*) the program reads first, or -1 */
    float *loss;           /* [mbs] on the device: each micro-batch's loss */
    float *loss_host;      /* [mbs] page-locked: read after the step */
    void **mark;           /* [program length + 2] timing events: before
                              each instruction, after the last, and (the
                              last) where the step starts, which dates
                              them on the host's clock */
    int nmarks;
} rank_rt;

/* A transport the run uses, and the directions it carries. */
typedef struct transport_rt {
    const char *name;
    const pp_transport_ops *ops;
    void *state;           /* between open and close */
    int used, async;       /* async: the stream-ordered half */
    unsigned char *links;  /* [src * p + dst] */
} transport_rt;

typedef struct stage_rt {
    int s, rank;
    int nl;
    layer_rt *layer;
    float *params, *grads, *opt; /* contiguous: nparams, nparams, state,
                                    in the rank's device memory */
    float *host_params;          /* a host copy of params (the same
                                    buffer on cpu) */
    size_t nparams;
    size_t ndecay;               /* the first ndecay take weight decay */
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
    transport_rt via[PP_VIA_COUNT];
    const unsigned char *route;  /* the model's: an index into via */
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

/* runtime_memory.c: refuses, before anything is allocated, a plan that
 * does not fit a device, with its numbers and what would. */
pp_status pp_check_memory(const pp_trainer *t, pp_error *err);

/* runtime_transport.c */
/* The bytes of a SEND's message: the stage's output (an activation) or
 * the gradient of its input. */
size_t pp_message_bytes(const pp_trainer *t, const pp_ins *send);
pp_status pp_transports_plan(pp_trainer *t, pp_section *pipe, pp_error *err);
pp_status pp_transports_open(pp_trainer *t, pp_error *err);
/* PP_OK, or the first failure a transport met on a device by itself. */
pp_status pp_transports_check(const pp_trainer *t, pp_error *err);
void pp_transports_abort(pp_trainer *t);
void pp_transports_close(pp_trainer *t);
void pp_transports_free(pp_trainer *t);
const transport_rt *pp_route(const pp_trainer *t, int src, int dst);

#endif
