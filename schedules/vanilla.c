/* schedules/vanilla.c - plain model parallelism, the textbook baseline.
 *
 * One micro-batch at a time: mb 0 goes forward through every stage and
 * back, then mb 1, and so on, so only one rank ever works: bubble (p-1)/p
 * whatever m is. It exists to be compared against and to check the others'
 * arithmetic (every schedule must train to the same parameters); it does
 * not pipeline and does not take v > 1.
 */
#include "common.h"

static pp_status check(int p, int m, int v, pp_error *err)
{
    (void)p;
    (void)m;
    return need_one_stage_per_rank(v, err);
}

static pp_status tasks(int p, int m, int v, int r, pp_task_list *out,
                       pp_error *err)
{
    (void)p;
    (void)v;
    for (int mb = 0; mb < m; mb++) {
        TASK(PP_OP_F, mb, r);
        TASK(PP_OP_B, mb, r);
    }
    return PP_OK;
}

static int bubble(int p, int m, int v, int64_t *num, int64_t *den)
{
    (void)m;
    (void)v;
    return fraction(p - 1, p, num, den);
}

static const pp_schedule_ops ops = {check, looped_rank, tasks, bubble,
                                    "(p-1)/p, for any m"};

PP_PLUGIN(PP_KIND_SCHEDULE, "vanilla",
          "model parallelism without pipelining: one micro-batch at a time",
          NULL, &ops);
