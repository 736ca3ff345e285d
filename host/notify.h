/*
 * notify.h — readiness, reload, stop and watchdog notifications to the
 * service manager (systemd's sd_notify protocol, Type=notify units).
 *
 * Every function is a no-op when the host was not started by a service
 * manager (no NOTIFY_SOCKET) or was built without libsystemd
 * (SWITCHYARD_SYSTEMD=OFF), so callers never test for either.
 *
 * Where they belong:
 *   yard_notify_ready()      after yard_host_start() succeeded, and again
 *                            when a reload finished (whatever its result:
 *                            the old generation keeps serving on failure)
 *   yard_notify_reloading()  when a reload starts (SIGHUP or `switchyard
 *                            reload`), before anything is re-read
 *   yard_notify_stopping()   when shutdown starts
 *   yard_notify_watchdog_start()/_stop()  around the running host: a
 *                            thread pings WATCHDOG=1 every half of
 *                            WATCHDOG_USEC when the unit sets WatchdogSec=
 * Any thread; the notifications are single datagrams.
 */
#ifndef YARD_NOTIFY_H
#define YARD_NOTIFY_H

#include <stdbool.h>

/* READY=1 with STATUS=status (NULL: "running"). */
void yard_notify_ready(const char *status);
/* RELOADING=1 with MONOTONIC_USEC=now, as Type=notify-reload expects. */
void yard_notify_reloading(void);
/* STOPPING=1. */
void yard_notify_stopping(void);
/* One WATCHDOG=1 ping. */
void yard_notify_watchdog(void);

/* Start the watchdog thread (named "yard-watchdog") if the service manager
 * asked for pings for this process.  Returns true when it runs.  Call
 * once, from the thread that later calls _stop(). */
bool yard_notify_watchdog_start(void);
/* Stop and join it; safe when it was never started. */
void yard_notify_watchdog_stop(void);

#endif
