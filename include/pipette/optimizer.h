/* pipette/optimizer.h - the table an optimizer plugin fills.
 *
 * The core keeps a stage's parameters, gradients and optimizer state in
 * contiguous buffers, so an optimizer is one loop over n floats, called
 * once per stage at the flush, after every micro-batch's gradient has been
 * accumulated (and summed with the other copies of a shared parameter).
 * The parameters that take weight decay come first, those that do not
 * (declared PP_PARAM_NO_DECAY: biases, norm gains) after them, so one
 * pass serves both groups. Its keys live in [train] beside optimizer =
 * NAME.
 *
 * Required: plan and step_cpu; step_cuda where GPU ranks use it (the
 * trainer refuses a GPU rank without it). The core zeroes the state
 * before the first step and nothing after. Each rank steps its own
 * stages from its own thread, at once with the other ranks: steps keep no
 * mutable global state. step_cuda queues its work on c->stream and
 * returns, never synchronising the device.
 */
#ifndef PIPETTE_OPTIMIZER_H
#define PIPETTE_OPTIMIZER_H

#include <stddef.h>
#include <stdint.h>

#include <pipette/config.h>
#include <pipette/error.h>
#include <pipette/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pp_optimizer_plan {
    int state_per_param;   /* floats of state per parameter, zeroed before
                              the first step (or, resuming, read from the
                              checkpoint). The state is state_per_param
                              planes of n floats, plane j of parameter i
                              at state[j * n + i]: checkpoints save and
                              reshard it by that layout, by name */
    const void *args;      /* the plugin's hyper-parameters, copied in by
                              pp_optimizer_args(), or NULL */
    size_t args_size;
    void *store_;          /* the core's: leave it alone */
} pp_optimizer_plan;

/* Copies `size` bytes (a struct of the plugin's) into plan->args. */
pp_status pp_optimizer_args(pp_optimizer_plan *plan, const void *args,
                            size_t size, pp_error *err);

typedef struct pp_optimizer_call {
    const pp_optimizer_plan *plan;
    float *param;       /* n parameters */
    const float *grad;  /* their gradients for this step */
    float *state;       /* n * plan->state_per_param floats */
    size_t n;
    size_t ndecay;      /* param[0] to param[ndecay - 1] take weight decay;
                           the rest none */
    int64_t step;       /* 1 for the first step; steps skipped as not
                           finite ([train] on_nonfinite) not counted */
    double lr;          /* [train] lr */
    void *stream;       /* cuda: the stage's stream; NULL on cpu */
    void *param_bf16;   /* bf16: n pp_bf16 (pipette/bf16.h), where the
                           step writes each updated parameter rounded to
                           bf16, in the same pass; NULL otherwise (2.1) */
} pp_optimizer_call;

typedef struct pp_optimizer_ops {
    /* Reads the optimizer's keys from [train]. */
    pp_status (*plan)(const pp_section *train, pp_optimizer_plan *plan,
                      pp_error *err);
    /* One update of every parameter, on the host. */
    pp_status (*step_cpu)(const pp_optimizer_call *c, pp_error *err);
    /* The same on the device (a fused kernel), or NULL. */
    pp_status (*step_cuda)(const pp_optimizer_call *c, pp_error *err);
    /* The precisions it steps, PP_PRECISION_BIT()s (pipette/tensor.h): in
     * bf16 a step writes param_bf16. 0 means fp32 and tf32 (2.1). */
    unsigned precisions;
} pp_optimizer_ops;

#ifdef __cplusplus
}
#endif

#endif
