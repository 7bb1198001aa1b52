/* tests/schedules/needs_even.c - refuses an odd number of micro-batches,
 * as a schedule with a constraint must: naming it and a valid choice. */
#include "fixed.h"

static pp_status check(int p, int m, int v, pp_error *err)
{
    (void)p;
    (void)v;
    if (m % 2)
        return pp_error_set(err, PP_ERR_CONFIG,
                            "needs an even number of micro-batches; got %d: "
                            "use %d or %d", m, m - 1, m + 1);
    return PP_OK;
}

static int rank_of_stage(int p, int v, int stage)
{
    (void)p;
    (void)v;
    return stage;
}

static pp_status tasks(int p, int m, int v, int rank, pp_task_list *out,
                       pp_error *err)
{
    (void)p;
    (void)v;
    for (int mb = 0; mb < m; mb++)
        if (pp_task_add(out, PP_OP_F, mb, rank, err))
            return err->code;
    for (int mb = 0; mb < m; mb++)
        if (pp_task_add(out, PP_OP_B, mb, rank, err))
            return err->code;
    return PP_OK;
}

static const pp_schedule_ops ops = {check, rank_of_stage, tasks, NULL, NULL};

PP_PLUGIN(PP_KIND_SCHEDULE, "needs_even",
          "GPipe order, refuses an odd number of micro-batches", NULL, &ops);
