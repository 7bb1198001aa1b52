/* src/memplan.h - memory as a pass over the lowered program.
 *
 * A stage keeps a micro-batch's activations in a slot from the moment its
 * input arrives (a receive, the previous stage's forward on the same
 * rank, or the stage's own first forward) until its backward is done (B,
 * or BW when the backward is split, and the send of its input gradient
 * right after). One pass over each rank's program gives every (stage,
 * micro-batch) of a step a slot, the lowest one free: the slots a stage
 * needs, the bytes a rank holds at most, and the counts the simulator
 * reports. The runtime looks slots up here; nothing else counts them.
 */
#ifndef PP_SRC_MEMPLAN_H
#define PP_SRC_MEMPLAN_H

#include "plan.h"

typedef struct pp_memplan {
    int p, S, m;
    int *slot;        /* [S * m]: the slot (stage s, micro-batch mb) holds,
                         at [s * m + mb] */
    int *take;        /* [S * m]: the instruction of its rank's program
                         that takes it */
    int *release;     /* [S * m]: the last instruction that needs it */
    int *nslots;      /* [S]: slots of each stage */
    double *slot_bytes; /* [S]: bytes of one slot (1 when counting) */
    double *peak;     /* [p]: most slot bytes a rank holds at once */
    int *peak_act;    /* [p]: most micro-batches between an F and its B or
                         BI at once */
    int *peak_bw;     /* [p]: most between a BI and its BW at once */
} pp_memplan;

/* The pass over plan's lowered programs; slot_bytes[S] gives each
 * stage's slot size, or is NULL to count slots (each 1). */
pp_status pp_memplan_build(const pp_plan *plan, const double *slot_bytes,
                           pp_memplan **out, pp_error *err);

/* Refuses an assignment in which a slot is taken while another
 * micro-batch still needs it, or a micro-batch's slot does not exist,
 * naming the rank, the stage, the slot and both tasks. */
pp_status pp_memplan_verify(const pp_plan *plan, const pp_memplan *mp,
                            pp_error *err);

void pp_memplan_free(pp_memplan *mp);

#endif
