/* tests/schedules/missing_task.c - rank 1 never runs F1.1. */
#include "fixed.h"

FIXED_SCHEDULE("missing_task",
               "F0.0 F1.0 B0.0 B1.0",
               "F0.1 B0.1 B1.1");
