/* src/runtime.h - training a model: ranks as threads of one process, each
 * running its lowered program step after step on its own stages.
 *
 * A trainer owns everything a run allocates, all of it before the first
 * step: per stage one contiguous buffer for parameters, one for their
 * gradients and one for optimizer state; per stage a fixed number of
 * activation slots (the most micro-batches the stage's rank holds at once
 * in its program), each with room for the stage input, every layer's
 * output, saved values and output gradients of one micro-batch. Nothing is
 * allocated in the steady state.
 */
#ifndef PP_SRC_RUNTIME_H
#define PP_SRC_RUNTIME_H

#include <stdio.h>

#include <pipette/transport.h>

#include "job.h"
#include "model.h"

typedef struct pp_train_opts {
    int64_t steps;          /* 0: the model's [train] steps */
    int64_t log_every;      /* 0: the model's [train] log_every */
    int recompute;          /* every stage recomputes ([pipeline] says which
                               otherwise) */
    int recv_timeout_ms;    /* a receive waiting longer fails the run */
    int quiet;              /* no plan, no log lines */
    int progress;           /* a progress bar (stdout is a terminal) */
    const char *trace;      /* Chrome trace of the run, or NULL */
    size_t trace_bytes;     /* the most its spans take: its first steps
                               (0: 64 MiB) */
    FILE *out;              /* plan and log lines */
    const char *init;       /* a checkpoint (directory; for eval also a
                               PPCKPT01 file) whose parameters to start
                               from instead of [train] seed's
                               initialisation, or NULL */
    int resume;             /* init goes on: its optimizer state, step and
                               data position too */
    const pp_job *job;      /* the processes of the run (the model placed
                               on them), or NULL: this one */
    const volatile int *stop; /* set nonzero (by a signal handler): every
                               rank stops after the step it is in, every
                               process after the same one; or NULL */
    int eval;               /* evaluate: each step runs the schedule's
                               forwards in its order (its backwards keep
                               their place, doing nothing), dropout off, no
                               gradients, no update; a step's loss is its
                               batch's */
} pp_train_opts;

typedef struct pp_trainer pp_trainer;

/* Plans memory and refuses a plan that does not fit (the host's available
 * memory, or PIPETTE_MEMORY_LIMIT bytes) with its numbers and what would;
 * then allocates it, initialises parameters from opts->init's checkpoint
 * or from [train] seed (each element a function of the seed, its layer
 * and its index, so every partition starts from the same model) and
 * opens the data source. */
pp_status pp_trainer_create(pp_model *m, const pp_train_opts *opts,
                            pp_trainer **out, pp_error *err);
void pp_trainer_free(pp_trainer *t);

typedef struct pp_memory {
    double params, grads, optimizer, activations; /* bytes */
    double copies;           /* bf16: the parameters' bf16 copy */
    double lean_activations; /* the activations with recompute */
    double transfers;        /* stream-ordered sends' buffers, at most */
    double sums;             /* buffers summing shared gradients */
    double total;
    int slots;
} pp_memory;

/* What rank `rank` holds: its stages' parameters, gradients, optimizer
 * state and activation slots, and the transfer buffers its sends may
 * fill (a stream-ordered transport snapshots each message; at most one
 * step's worth are held, since every receive of a step is queued before
 * the next begins). */
void pp_trainer_memory(const pp_trainer *t, int rank, pp_memory *out);

/* Prints the plan: devices, stages and their layers, parameters per stage,
 * the schedule's simulated bubble, memory per rank. */
void pp_trainer_print_plan(const pp_trainer *t, FILE *out);

/* Runs the steps. The first failure in any rank stops every rank and is
 * returned, naming the rank, the step and the task. */
pp_status pp_trainer_run(pp_trainer *t, pp_error *err);

/* Steps the last run made: all, or fewer when o.stop stopped it. */
int64_t pp_trainer_steps_done(const pp_trainer *t);

/* The loss of step s (0-based) of the last run, for the last
 * PP_LOSSES_KEPT steps made (NaN for others); the mean over the run. */
double pp_trainer_loss(const pp_trainer *t, int64_t step);
double pp_trainer_mean_loss(const pp_trainer *t);

/* The steps made before the run: a resumed checkpoint's step, or 0. */
int64_t pp_trainer_first_step(const pp_trainer *t);

/* The steps the trace holds: its first ones, as many as fit its bound. */
int64_t pp_trainer_traced_steps(const pp_trainer *t);

/* Parameter p of layer l, on the host: n floats. */
const float *pp_trainer_param(const pp_trainer *t, int layer, int param,
                              size_t *n);

/* Steps of the last run whose loss or gradients were not finite, and
 * whose update it skipped ([train] on_nonfinite = skip). */
int64_t pp_trainer_steps_skipped(const pp_trainer *t);

/* Whether the last run's failure was found by every process at once (a
 * step that was not finite): each has the same, and process 0 alone
 * need say it. */
int pp_trainer_failure_agreed(const pp_trainer *t);

#endif
