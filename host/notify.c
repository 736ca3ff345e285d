/*
 * notify.c — sd_notify(3) for the host: READY, RELOADING, STOPPING and the
 * watchdog ping thread.  The datagram protocol and WATCHDOG_USEC/PID
 * checks are libsystemd's job; this file only decides when to call it.
 */
#include "notify.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "health.h"
#include "log.h"

#ifdef YARD_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

static void notify(const char *state)
{
#ifdef YARD_HAVE_SYSTEMD
    int rc = sd_notify(0, state);
    if (rc < 0) {
        char eb[128];
        yard_log(YARD_LOG_WARN, "sd_notify failed", "error",
                 strerror_r(-rc, eb, sizeof eb), NULL);
    }
#else
    (void)state;
#endif
}

void yard_notify_ready(const char *status)
{
    char buf[256];
    snprintf(buf, sizeof buf, "READY=1\nSTATUS=%s",
             status ? status : "running");
    notify(buf);
}

void yard_notify_reloading(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char buf[128];
    snprintf(buf, sizeof buf,
             "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull +
                 (unsigned long long)ts.tv_nsec / 1000ull);
    notify(buf);
}

void yard_notify_stopping(void)
{
    notify("STOPPING=1\nSTATUS=stopping");
}

void yard_notify_watchdog(void)
{
    notify("WATCHDOG=1");
}

/* --- the watchdog thread ------------------------------------------------ */

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool running;
    bool stop;
    uint64_t interval_usec;
} wd = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void *watchdog_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "yard-watchdog");
    bool was_live = true;
    pthread_mutex_lock(&wd.lock);
    while (!wd.stop) {
        pthread_mutex_unlock(&wd.lock);
        /* Fed only while live: a stuck handler or loop is what the
         * watchdog is for, and systemd then restarts the host. */
        char why[512];
        bool live = yard_health_live(YARD_HEALTH_STALE_MS, why, sizeof why);
        if (live)
            yard_notify_watchdog();
        else if (was_live)
            yard_log(YARD_LOG_ERROR, "not live: watchdog no longer fed",
                     "why", why, NULL);
        was_live = live;
        pthread_mutex_lock(&wd.lock);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        uint64_t ns = (uint64_t)until.tv_nsec + wd.interval_usec * 1000u;
        until.tv_sec += (time_t)(ns / 1000000000u);
        until.tv_nsec = (long)(ns % 1000000000u);
        while (!wd.stop &&
               pthread_cond_timedwait(&wd.cond, &wd.lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&wd.lock);
    return NULL;
}

bool yard_notify_watchdog_start(void)
{
#ifdef YARD_HAVE_SYSTEMD
    uint64_t usec = 0;
    /* > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID, if any, is us. */
    if (wd.running || sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return wd.running;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_destroy(&wd.cond);
    pthread_cond_init(&wd.cond, &ca);
    pthread_condattr_destroy(&ca);
    /* Ping at half the deadline, as sd_watchdog_enabled(3) advises. */
    wd.interval_usec = usec / 2 ? usec / 2 : 1;
    wd.stop = false;
    if (pthread_create(&wd.thread, NULL, watchdog_main, NULL) != 0) {
        yard_log(YARD_LOG_WARN, "watchdog thread not started", NULL);
        return false;
    }
    wd.running = true;
    char v[32];
    snprintf(v, sizeof v, "%llu", (unsigned long long)(usec / 1000u));
    yard_log(YARD_LOG_INFO, "systemd watchdog enabled", "timeout_ms", v, NULL);
#endif
    return wd.running;
}

void yard_notify_watchdog_stop(void)
{
    if (!wd.running)
        return;
    pthread_mutex_lock(&wd.lock);
    wd.stop = true;
    pthread_cond_signal(&wd.cond);
    pthread_mutex_unlock(&wd.lock);
    pthread_join(wd.thread, NULL);
    wd.running = false;
}
