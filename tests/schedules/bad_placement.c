/* tests/schedules/bad_placement.c - places a stage on a rank that does not
 * exist. */
#include "fixed.h"

static int rank_of_stage(const pp_schedule_call *s, int stage)
{
    int p = s->p;
    return stage ? p + 3 : 0;
}

static pp_status tasks(const pp_schedule_call *s, int rank,
                       pp_task_list *out, pp_error *err)
{
    (void)s;
    return fixed_tasks(rank ? "F0.1 F1.1 B0.1 B1.1" : "F0.0 F1.0 B0.0 B1.0",
                       out, err);
}

static const pp_schedule_ops ops = {
    .check = fixed_check, .rank_of_stage = rank_of_stage, .tasks = tasks};

PP_PLUGIN(PP_KIND_SCHEDULE, "bad_placement", "places stage 1 on rank 5",
          NULL, &ops);
