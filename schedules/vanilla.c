/* schedules/vanilla.c - plain model parallelism, the textbook baseline.
 *
 * One micro-batch at a time: mb 0 goes forward through every stage and
 * back, then mb 1, and so on, so only one rank ever works: bubble (p-1)/p
 * whatever m is. It exists to be compared against and to check the others'
 * arithmetic (every schedule must train to the same parameters); it does
 * not pipeline and does not take v > 1.
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
    for (int mb = 0; mb < m; mb++) {
        TASK(PP_OP_F, mb, r);
        TASK(PP_OP_B, mb, r);
    }
    return PP_OK;
}

static int bubble(const pp_schedule_call *s, int64_t *num,
                  int64_t *den)
{
    int p = s->p;
    return fraction(p - 1, p, num, den);
}

static const pp_schedule_ops ops = {
    .check = check, .rank_of_stage = looped_rank, .tasks = tasks,
    .bubble_formula = bubble, .formula = "(p-1)/p, for any m"};

PP_PLUGIN(PP_KIND_SCHEDULE, "vanilla",
          "model parallelism without pipelining: one micro-batch at a time",
          NULL, &ops);
