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
 * returned PP_OK; a schedule keeps no state between calls.
 */
#ifndef PIPETTE_SCHEDULE_H
#define PIPETTE_SCHEDULE_H

#include <stdint.h>

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

typedef struct pp_schedule_ops {
    /* Refuses (p, m, v) this schedule cannot run, with PP_ERR_CONFIG and a
     * message that names the constraint and a valid choice, e.g.
     * "interleaved needs microbatches to be a multiple of the ranks (4);
     * got 6: use 4 or 8". p, m, v are each at least 1 when called. */
    pp_status (*check)(int p, int m, int v, pp_error *err);

    /* The rank that holds stage s, for 0 <= s < p * v. */
    int (*rank_of_stage)(int p, int v, int stage);

    /* Appends rank r's compute tasks for one step, in order. */
    pp_status (*tasks)(int p, int m, int v, int rank, pp_task_list *out,
                       pp_error *err);

    /* The published bubble fraction num/den for the default costs, where
     * one exists for this (p, m, v): returns 1 and fills num and den, or
     * returns 0. NULL when the schedule has no formula at all. */
    int (*bubble_formula)(int p, int m, int v, int64_t *num, int64_t *den);

    /* That formula as a reader would write it, e.g. "(p-1)/(m+p-1)", with
     * the condition it holds under, if any; NULL when there is none. */
    const char *formula;
} pp_schedule_ops;

/* "F", "B", "BI", "BW". */
const char *pp_op_name(pp_op op);

#ifdef __cplusplus
}
#endif

#endif
