/* plugins/deadline.h - the absolute time timeout_ms from now, for
 * pthread_cond_timedwait (CLOCK_REALTIME, its default clock): the
 * transports' receives wait that long at most. */
#ifndef PP_PLUGINS_DEADLINE_H
#define PP_PLUGINS_DEADLINE_H

#include <time.h>

static inline struct timespec pp_deadline_after(int timeout_ms)
{
    struct timespec at;
    clock_gettime(CLOCK_REALTIME, &at);
    at.tv_sec += timeout_ms / 1000;
    at.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (at.tv_nsec >= 1000000000L) {
        at.tv_sec++;
        at.tv_nsec -= 1000000000L;
    }
    return at;
}

#endif
