/*
 * clock.h — the host's monotonic clock in milliseconds, for timeouts,
 * backoffs and durations (never for timestamps others read).
 */
#ifndef YARD_CLOCK_H
#define YARD_CLOCK_H

#include <time.h>

static inline long long yard_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
