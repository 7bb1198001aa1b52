/* schedules/zb-h1.c - ZB-H1 (Qi et al., "Zero Bubble Pipeline
 * Parallelism", ICLR 2024).
 *
 * 1F1B with the backward split into BI (input gradient, on the critical
 * path) and BW (weight gradient, which nothing waits for). The F and BI
 * order is 1F1B's, so rank r still holds at most min(p-r, m) activations;
 * BW follows its BI in the steady phase, but for the last p micro-batches
 * it is held back, so the BI chain runs back to rank 0 one unit per hop
 * and the held BWs fill what was 1F1B's cool-down. Under F = BI = BW = 1
 * and m >= p every rank idles p-1 units, a third of 1F1B's 3(p-1). The
 * held BWs (up to r+1 on rank r) keep only what weight gradients need.
 */
#include "common.h"

static pp_status check(const pp_schedule_call *s, pp_error *err)
{
    return need_one_stage_per_rank(s->v, err);
}

static pp_status tasks(const pp_schedule_call *s, int r,
                       pp_task_list *out, pp_error *err)
{
    int p = s->p, m = s->m;
    return zb_rank(m, r, p - r, m - p, out, err);
}

static int bubble(const pp_schedule_call *s, int64_t *num,
                  int64_t *den)
{
    int p = s->p, m = s->m;
    if (m < p)
        return 0;
    return fraction(p - 1, 3 * (int64_t)m + p - 1, num, den);
}

static const pp_schedule_ops ops = {
    .check = check, .rank_of_stage = looped_rank, .tasks = tasks,
    .bubble_formula = bubble, .formula = "(p-1)/(3m+p-1), for m >= p"};

PP_PLUGIN(PP_KIND_SCHEDULE, "zb-h1",
          "zero bubble H1: 1F1B with split backward, 1F1B's memory", NULL,
          &ops);
