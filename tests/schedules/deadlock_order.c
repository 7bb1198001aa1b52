/* tests/schedules/deadlock_order.c - rank 0 waits for B0.1 while rank 1 waits for F1.0. */
#include "fixed.h"

FIXED_SCHEDULE("deadlock_order",
               "F0.0 B0.0 F1.0 B1.0",
               "F1.1 F0.1 B0.1 B1.1");
