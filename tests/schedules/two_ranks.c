/* tests/schedules/two_ranks.c - rank 0 runs a task of stage 1, which lives on rank 1. */
#include "fixed.h"

FIXED_SCHEDULE("two_ranks",
               "F0.0 F1.0 F1.1 B0.0 B1.0",
               "F0.1 F1.1 B0.1 B1.1");
