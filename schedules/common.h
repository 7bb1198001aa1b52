/* schedules/common.h - what the schedule plugins share: the refusals they
 * all word alike, the looped placement, and the rank list of the two
 * zero-bubble schedules with one stage per rank (ZB-H1, ZB-H2).
 *
 * Everything is static inline: each plugin is its own shared object and
 * exports nothing but its descriptor.
 */
#ifndef PP_SCHEDULES_COMMON_H
#define PP_SCHEDULES_COMMON_H

#include <pipette/pipette.h>

/* Appends a task to `out`, or returns the failure from the enclosing
 * tasks() function; keeps each schedule's loops as short as its figure. */
#define TASK(op, mb, stage)                                                 \
    do {                                                                    \
        pp_status task_st_ = pp_task_add(out, (op), (mb), (stage), err);   \
        if (task_st_ != PP_OK)                                              \
            return task_st_;                                                \
    } while (0)

/* Stage s on rank s % p: chunk c of rank r is stage c * p + r. */
static inline int looped_rank(const pp_schedule_call *s, int stage)
{
    int p = s->p;
    return stage % p;
}

/* The core puts "schedule NAME: " before a refusal. */
static inline pp_status need_one_stage_per_rank(int v, pp_error *err)
{
    if (v == 1)
        return PP_OK;
    return pp_error_set(err, PP_ERR_CONFIG,
        "needs one stage per rank (v = 1); got v = %d: use v = 1, or "
        "interleaved, looped-bfs or zb-v for several stages per rank", v);
}

static inline int fraction(int64_t n, int64_t d, int64_t *num, int64_t *den)
{
    *num = n;
    *den = d;
    return 1;
}

/* Rank r of a one-stage-per-rank zero-bubble schedule: `warmup` forwards,
 * then each BI(i) is followed by the next forward, if any is left, and by
 * the oldest pending BW while i < early_w or once the forwards have run
 * out; the BWs still pending close the list. Keeping BW out of the steady
 * phase from i = early_w on lets the BI chain of the last micro-batches
 * run back to rank 0 one unit per hop, the BWs filling in behind it. */
static inline pp_status zb_rank(int m, int r, int warmup, int early_w,
                                pp_task_list *out, pp_error *err)
{
    int f = 0, w = 0;
    while (f < warmup && f < m)
        TASK(PP_OP_F, f++, r);
    for (int i = 0; i < m; i++) {
        int forward = f < m;
        TASK(PP_OP_BI, i, r);
        if (forward)
            TASK(PP_OP_F, f++, r);
        if (!forward || i < early_w)
            TASK(PP_OP_BW, w++, r);
    }
    while (w < m)
        TASK(PP_OP_BW, w++, r);
    return PP_OK;
}

#endif
