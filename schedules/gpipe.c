/* schedules/gpipe.c - GPipe (Huang et al., "GPipe: Efficient Training of
 * Giant Neural Networks using Pipeline Parallelism", 2019).
 *
 * Every rank runs all m forwards, then all m backwards in decreasing
 * micro-batch order, as in the paper's Figure 2(c) (and as autograd would
 * unwind them): bubble (p-1)/(m+p-1), and every rank holds all m
 * micro-batches' activations at its peak. Re-materialisation, which the
 * paper pairs with it to cut that memory, is not a schedule matter.
 */
#include "common.h"

static pp_status check(const pp_schedule_call *s, pp_error *err)
{
    return need_one_stage_per_rank(s->v, err);
}

static pp_status tasks(const pp_schedule_call *s, int r,
                       pp_task_list *out, pp_error *err)
{
    int m = s->m;
    for (int mb = 0; mb < m; mb++)
        TASK(PP_OP_F, mb, r);
    for (int mb = m - 1; mb >= 0; mb--)
        TASK(PP_OP_B, mb, r);
    return PP_OK;
}

static int bubble(const pp_schedule_call *s, int64_t *num,
                  int64_t *den)
{
    int p = s->p, m = s->m;
    return fraction(p - 1, m + p - 1, num, den);
}

static const pp_schedule_ops ops = {
    .check = check, .rank_of_stage = looped_rank, .tasks = tasks,
    .bubble_formula = bubble, .formula = "(p-1)/(m+p-1), for any m"};

PP_PLUGIN(PP_KIND_SCHEDULE, "gpipe",
          "GPipe: all forwards, then all backwards", NULL, &ops);
