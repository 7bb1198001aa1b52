/* schedules/zb-h2.c - ZB-H2 (Qi et al., "Zero Bubble Pipeline
 * Parallelism", ICLR 2024).
 *
 * Like zb-h1, but rank r warms up with 2(p-r)-1 forwards (2p-1 on rank 0,
 * as in the paper), which fill the time before its first BI, and BWs are
 * held back for the last 2p-1 micro-batches. With m >= 2p-1 every rank
 * computes without a gap from its first task to its last: rank r idles r
 * units before and p-1-r after, a parallelogram. The paper's "zero bubble"
 * needs those edges to overlap the next step's (its optimizer
 * post-validation), which is not done here: one step still spans 3m+p-1
 * units, as zb-h1's (no schedule can start rank p-1 sooner), but nothing
 * idles inside it. Rank r holds up to min(2(p-r)-1, m) activations.
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
    return zb_rank(m, r, 2 * (p - r) - 1, m - 2 * p + 1, out, err);
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

PP_PLUGIN(PP_KIND_SCHEDULE, "zb-h2",
          "zero bubble H2: more warm-up forwards, no bubble inside the step",
          NULL, &ops);
