/* tests/schedules/duplicate_task.c - rank 0 runs F0.0 twice. */
#include "fixed.h"

FIXED_SCHEDULE("duplicate_task",
               "F0.0 F0.0 F1.0 B0.0 B1.0",
               "F0.1 F1.1 B0.1 B1.1");
