/* tests/schedules/fixed.h - deliberately broken schedule plugins, each a
 * fixed task list for 2 ranks and 2 micro-batches written in the schedule
 * notation, wrong in exactly one way. */
#ifndef PP_TESTS_FIXED_H
#define PP_TESTS_FIXED_H

#include <stdio.h>
#include <string.h>

#include <pipette/pipette.h>

static inline pp_status fixed_check(const pp_schedule_call *s, pp_error *err)
{
    int p = s->p, m = s->m, v = s->v;
    if (p != 2 || m != 2 || v != 1)
        return pp_error_set(err, PP_ERR_CONFIG,
                            "written for -p 2 -m 2 -v 1 only");
    return PP_OK;
}

static inline int fixed_rank_of_stage(const pp_schedule_call *s, int stage)
{
    (void)s;
    return stage;
}

/* Appends the tasks of one line such as "F0.0 F1.0 B0.0 B1.0". */
static inline pp_status fixed_tasks(const char *line, pp_task_list *out,
                             pp_error *err)
{
    char op[3];
    int mb, stage, used;
    while (sscanf(line, " %2[BFIW]%d.%d%n", op, &mb, &stage, &used) == 3) {
        pp_op o = strcmp(op, "F") == 0    ? PP_OP_F
                : strcmp(op, "B") == 0    ? PP_OP_B
                : strcmp(op, "BI") == 0   ? PP_OP_BI
                                          : PP_OP_BW;
        if (pp_task_add(out, o, mb, stage, err))
            return err->code;
        line += used;
    }
    return PP_OK;
}

#define FIXED_SCHEDULE(name_, rank0, rank1)                                 \
    static pp_status tasks(const pp_schedule_call *s, int rank,             \
                           pp_task_list *out, pp_error *err)                \
    {                                                                       \
        (void)s;                                                            \
        return fixed_tasks(rank ? (rank1) : (rank0), out, err);             \
    }                                                                       \
    static const pp_schedule_ops ops = {                                    \
        .check = fixed_check, .rank_of_stage = fixed_rank_of_stage,         \
        .tasks = tasks};                                                    \
    PP_PLUGIN(PP_KIND_SCHEDULE, name_, "deliberately broken schedule",      \
              NULL, &ops)

#endif
