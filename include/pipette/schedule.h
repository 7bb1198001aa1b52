/* pipette/schedule.h - the table a schedule plugin fills.
 *
 * A schedule is a pure function of three numbers: p ranks, m micro-batches
 * per step, v stages per rank (S = p * v stages, numbered 0 to S-1 from the
 * model's input to its loss). It says where each stage lives and, for each
 * rank, the ordered list of compute tasks that rank runs in one training
 * step. It writes no communication: the core adds the receives and sends
 * between ranks, the hand-offs between stages of one rank and the optimizer
 * step at the flush, then verifies the result (every task present once,
 * dependencies respected, no deadlock) before anything runs.
 *
 * Tasks, written in pipette's schedule notation as OPmb.stage:
 *   F   forward of micro-batch mb on stage s               F3.1
 *   B   whole backward (input and weight gradients)        B3.1
 *   BI  backward to the input only (activation gradient)   BI3.1
 *   BW  backward to the weights only                       BW3.1
 * Each (mb, stage) needs one F and either one B, or one BI and one BW.
 * Dependencies: F(mb, s) after F(mb, s-1); B or BI(mb, s) after F(mb, s)
 * and after B or BI(mb, s+1); BW(mb, s) after BI(mb, s).
 *
 * Costs: the simulator's defaults are F = 1, B = 2, BI = 1, BW = 1 per
 * stage (so B = BI + BW), transfers free. A schedule's bubble_formula is
 * the published bubble fraction under those defaults.
 *
 * Everything here is called with the same (p, m, v) for which check()
 * returned PP_OK; a schedule keeps no state between calls, and may be
 * called from any thread. Required: check, rank_of_stage and tasks.
 */
#ifndef PIPETTE_SCHEDULE_H
#define PIPETTE_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include <pipette/config.h>
#include <pipette/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pp_op {
    PP_OP_F = 1,
    PP_OP_B,
    PP_OP_BI,
    PP_OP_BW
} pp_op;

/* Where a schedule appends a rank's tasks. Owned by the core. */
typedef struct pp_task_list pp_task_list;

/* Appends one task; fails only when memory runs out. */
pp_status pp_task_add(pp_task_list *list, pp_op op, int mb, int stage,
                      pp_error *err);

/* What every call of a schedule gets: the numbers it runs for, and its
 * own keys' values as its plan read them (NULL for a schedule without
 * keys). */
typedef struct pp_schedule_call {
    int p, m, v;        /* ranks, micro-batches a step, stages per rank */
    const void *args;   /* pp_schedule_args()'s copy, or NULL */
} pp_schedule_call;

/* What plan() fills. */
typedef struct pp_schedule_plan {
    const void *args;   /* pp_schedule_args()'s copy, or NULL */
    size_t args_size;
    void *store_;       /* the core's: leave it alone */
} pp_schedule_plan;

/* Copies `size` bytes (a struct of the plugin's) into plan->args, where
 * every call of the schedule finds them (pp_schedule_call.args). */
pp_status pp_schedule_args(pp_schedule_plan *plan, const void *args,
                           size_t size, pp_error *err);

typedef struct pp_schedule_ops {
    /* Refuses (p, m, v) this schedule cannot run, with PP_ERR_CONFIG and a
     * message that names the constraint and a valid choice, e.g.
     * "interleaved needs microbatches to be a multiple of the ranks (4);
     * got 6: use 4 or 8". p, m, v are each at least 1 when called. */
    pp_status (*check)(const pp_schedule_call *s, pp_error *err);

    /* The rank that holds stage `stage`, for 0 <= stage < p * v. */
    int (*rank_of_stage)(const pp_schedule_call *s, int stage);

    /* Appends rank r's compute tasks for one step, in order. */
    pp_status (*tasks)(const pp_schedule_call *s, int rank,
                       pp_task_list *out, pp_error *err);

    /* The published bubble fraction num/den for the default costs, where
     * one exists for these numbers: returns 1 and fills num and den, or
     * returns 0. NULL when the schedule has no formula at all. */
    int (*bubble_formula)(const pp_schedule_call *s, int64_t *num,
                          int64_t *den);

    /* That formula as a reader would write it, e.g. "(p-1)/(m+p-1)", with
     * the condition it holds under, if any; NULL when there is none. */
    const char *formula;

    /* Optional: reads the schedule's own keys (its descriptor declares
     * them; a model file writes them in [pipeline], `pipette schedule`
     * takes them as --set KEY=VALUE) into plan with pp_schedule_args(), or
     * refuses them with pp_section_error(). Called once, before check;
     * NULL for a schedule without keys. */
    pp_status (*plan)(const pp_section *pipeline, pp_schedule_plan *plan,
                      pp_error *err);
} pp_schedule_ops;

/* "F", "B", "BI", "BW". */
const char *pp_op_name(pp_op op);

#ifdef __cplusplus
}
#endif

#endif
