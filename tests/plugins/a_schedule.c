/* tests/plugins/a_schedule.c - a schedule-kind plugin, for lookups by kind
 * and name. It has one stage per rank and runs nothing: it is only ever
 * loaded, never run. */
#include "broken.h"

static pp_status refuse(const pp_schedule_call *s, pp_error *err)
{
    (void)s;
    return pp_error_set(err, PP_ERR_CONFIG,
                        "a_schedule is a loader test fixture, not a schedule");
}

static int rank_of_stage(const pp_schedule_call *s, int stage)
{
    return stage % s->p;
}

static pp_status no_tasks(const pp_schedule_call *s, int rank,
                          pp_task_list *out, pp_error *err)
{
    (void)rank, (void)out;
    return refuse(s, err);
}

static const pp_schedule_ops a_schedule_ops = {
    .check = refuse, .rank_of_stage = rank_of_stage, .tasks = no_tasks};

BROKEN_PLUGIN(PP_PLUGIN_MAGIC, PP_ABI_MAJOR, PP_ABI_MINOR,
              sizeof(pp_plugin_desc),
              PP_KIND_SCHEDULE, "a_schedule", &a_schedule_ops);
