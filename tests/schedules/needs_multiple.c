/* tests/schedules/needs_multiple.c - GPipe order, refusing micro-batches
 * that are not a multiple of its own key, `multiple` (default 2), as a
 * schedule with a constraint must: naming it and a valid choice. The key
 * reaches check through the schedule's plan (tests/schedule-refusals.sh,
 * tests/check/schedule_key*.ini). */
#include "fixed.h"

static const pp_key keys[] = {
    {"multiple", PP_KEY_INT, 0, 1, 64, NULL, "2",
     "micro-batches come in multiples of this"},
    {0},
};

static pp_status plan(const pp_section *pipeline, pp_schedule_plan *plan,
                      pp_error *err)
{
    int64_t k;
    if (pp_section_int(pipeline, "multiple", &k, err))
        return err->code;
    int multiple = (int)k;
    return pp_schedule_args(plan, &multiple, sizeof multiple, err);
}

static pp_status check(const pp_schedule_call *s, pp_error *err)
{
    int k = *(const int *)s->args;
    if (s->m % k)
        return pp_error_set(err, PP_ERR_CONFIG,
                            "needs micro-batches in multiples of %d; got %d: "
                            "use %d", k, s->m, s->m + k - s->m % k);
    return PP_OK;
}

static int rank_of_stage(const pp_schedule_call *s, int stage)
{
    (void)s;
    return stage;
}

static pp_status tasks(const pp_schedule_call *s, int rank,
                       pp_task_list *out, pp_error *err)
{
    for (int mb = 0; mb < s->m; mb++)
        if (pp_task_add(out, PP_OP_F, mb, rank, err))
            return err->code;
    for (int mb = 0; mb < s->m; mb++)
        if (pp_task_add(out, PP_OP_B, mb, rank, err))
            return err->code;
    return PP_OK;
}

static const pp_schedule_ops ops = {.check = check,
                                    .rank_of_stage = rank_of_stage,
                                    .tasks = tasks,
                                    .plan = plan};

PP_PLUGIN(PP_KIND_SCHEDULE, "needs_multiple",
          "GPipe order, micro-batches in multiples of its key", keys, &ops);
