/* tests/schedules/backward_first.c - rank 1 runs B0.1 before its forward. */
#include "fixed.h"

FIXED_SCHEDULE("backward_first",
               "F0.0 F1.0 B0.0 B1.0",
               "B0.1 F0.1 F1.1 B1.1");
