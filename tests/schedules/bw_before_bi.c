/* tests/schedules/bw_before_bi.c - rank 1 runs BW0.1 before BI0.1. */
#include "fixed.h"

FIXED_SCHEDULE("bw_before_bi",
               "F0.0 F1.0 B0.0 B1.0",
               "F0.1 BW0.1 BI0.1 F1.1 BI1.1 BW1.1");
