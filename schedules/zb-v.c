/* schedules/zb-v.c - ZB-V (Qi et al., "Pipeline Parallelism with
 * Controllable Memory", 2024; the V schedule of the zero-bubble work).
 *
 * Two chunks per rank, placed as a V: stage s on rank s for s < p and on
 * rank 2p-1-s after, so rank 0 holds both the first and the last stage and
 * a micro-batch turns round on rank p-1 without a transfer. Backward is
 * split into BI and BW. Rank r warms up with 2(p-r)-1 forwards of chunk 0,
 * r pairs of chunk 1 and chunk 0 forwards, and p-r rounds of chunk 1
 * F, BI, BW; then each round does one F, BI, BW on each chunk; the
 * cool-down runs the BIs first and the BWs after. Rank r holds at most 2p
 * chunk activations, the memory of 1F1B's rank 0, on every rank. With
 * m >= 2p-1 nothing idles inside the step: rank r idles r units before and
 * p-1-r after, and the step spans 6m+p-1 units (from 2m >= 3p-1 on); like
 * zb-h2 it does not overlap steps. For fewer micro-batches the list is
 * that of 2p-1 with the extra ones left out. The order is the handcrafted
 * one PyTorch's ScheduleZBVZeroBubble also follows.
 */
#include "common.h"

static pp_status check(const pp_schedule_call *s, pp_error *err)
{
    int v = s->v;
    if (v != 2)
        return pp_error_set(err, PP_ERR_CONFIG,
            "needs exactly 2 stages per rank (v = 2); got v = %d: use "
            "v = 2, or interleaved for other v", v);
    return PP_OK;
}

static int rank_of_stage(const pp_schedule_call *s, int stage)
{
    int p = s->p;
    return stage < p ? stage : 2 * p - 1 - stage;
}

/* pp_task_add, but dropping the micro-batches beyond m. */
static pp_status add(pp_task_list *out, int m, pp_op op, int mb, int stage,
                     pp_error *err)
{
    return mb < m ? pp_task_add(out, op, mb, stage, err) : PP_OK;
}

#define VTASK(op, mb, stage)                                                \
    do {                                                                    \
        pp_status vtask_st_ = add(out, m, (op), (mb), (stage), err);        \
        if (vtask_st_ != PP_OK)                                             \
            return vtask_st_;                                               \
    } while (0)

static pp_status tasks(const pp_schedule_call *s, int r,
                       pp_task_list *out, pp_error *err)
{
    int p = s->p, m = s->m;
    int n = m > 2 * p - 1 ? m : 2 * p - 1;
    int s0 = r, s1 = 2 * p - 1 - r;
    int f0 = 0, f1 = 0, b0 = 0, b1 = 0;
    for (int i = 0; i < 2 * (p - r) - 1; i++)
        VTASK(PP_OP_F, f0++, s0);
    for (int i = 0; i < r; i++) {
        VTASK(PP_OP_F, f1++, s1);
        VTASK(PP_OP_F, f0++, s0);
    }
    for (int i = 0; i < p - r; i++, b1++) {
        VTASK(PP_OP_F, f1++, s1);
        VTASK(PP_OP_BI, b1, s1);
        VTASK(PP_OP_BW, b1, s1);
    }
    while (f1 < n) {
        if (f0 < n)
            VTASK(PP_OP_F, f0++, s0);
        VTASK(PP_OP_BI, b0, s0);
        VTASK(PP_OP_BW, b0, s0);
        b0++;
        VTASK(PP_OP_F, f1++, s1);
        VTASK(PP_OP_BI, b1, s1);
        VTASK(PP_OP_BW, b1, s1);
        b1++;
    }
    int w0 = b0, w1 = b1;
    for (int i = 0; i < r; i++) {
        VTASK(PP_OP_BI, b0++, s0);
        VTASK(PP_OP_BI, b1++, s1);
    }
    for (int i = 0; i < p - r; i++) {
        VTASK(PP_OP_BI, b0++, s0);
        VTASK(PP_OP_BW, w0++, s0);
    }
    for (; w1 < n; w1++)
        VTASK(PP_OP_BW, w1, s1);
    for (; w0 < n; w0++)
        VTASK(PP_OP_BW, w0, s0);
    return PP_OK;
}

static int bubble(const pp_schedule_call *s, int64_t *num,
                  int64_t *den)
{
    int p = s->p, m = s->m;
    if (2 * m < 3 * p - 1)
        return 0;
    return fraction(p - 1, 6 * (int64_t)m + p - 1, num, den);
}

static const pp_schedule_ops ops = {
    .check = check, .rank_of_stage = rank_of_stage, .tasks = tasks,
    .bubble_formula = bubble, .formula = "(p-1)/(6m+p-1), for 2m >= 3p-1"};

PP_PLUGIN(PP_KIND_SCHEDULE, "zb-v",
          "zero bubble V: two chunks per rank in a V, split backward, "
          "1F1B's memory", NULL, &ops);
