/*
 * health.h — liveness and readiness of the host, for /healthz and /readyz.
 *
 * Liveness: every long-running thread (workers, consumers, relay) holds a
 * beat slot and beats each time round its loop; a thread that waits for
 * work marks itself idle, which counts as alive.  The host is live when no
 * busy thread's last beat is older than the stale limit.
 *
 * Readiness: named conditions ("postgres", "kafka producer", "kafka
 * consumer <group>", "plugin <name>") that their owners set true or false
 * with a reason; the host is ready when every condition is true.  The
 * monitor thread here owns "postgres": it connects with its own session,
 * checks it every interval and samples the outbox backlog for metrics.
 *
 * Everything is thread-safe; the tables are fixed-size and static.
 */
#ifndef YARD_HEALTH_H
#define YARD_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Give the calling thread a beat slot named `what` (copied); the slot is
 * the thread's own (thread-local), so the calls below need no handle.  A
 * full table (1024 threads) leaves the thread unwatched. */
void yard_health_thread_start(const char *what);
void yard_health_tick(void);         /* busy, and alive now */
void yard_health_idle(void);         /* about to wait for work */
void yard_health_thread_end(void);   /* thread is leaving */

/* A thread is about to call into a plugin's handler / is back.  A call
 * running longer than the handler limit makes the host not live, so the
 * supervisor restarts it (and the crash record then counts the event). */
void yard_health_handler_begin(void);
void yard_health_handler_end(void);
void yard_health_set_handler_limit(uint32_t ms); /* 0: no limit */

/* The stale limit of /healthz and of the systemd watchdog: above the
 * relay's 60 s flush bound. */
#define YARD_HEALTH_STALE_MS 120000

/* Live when no busy slot is older than stale_ms and no handler call has
 * run past the handler limit.  Otherwise false, and why lists the
 * threads. */
bool yard_health_live(uint32_t stale_ms, char *why, size_t whylen);

/* Set (or create) readiness condition `name`; `reason` says what is wrong
 * when ok is false (both copied, truncated to fit). */
void yard_health_set(const char *name, bool ok, const char *reason);
/* Remove a condition (a consumer that stopped, a plugin unloaded). */
void yard_health_forget(const char *name);
/* Ready when every condition holds and there is at least one.  why gets
 * one "name: reason" line per failing condition. */
bool yard_health_ready(char *why, size_t whylen);

/* A condition computed when asked (one per process; NULL fn removes it):
 * fn returns false and fills why when not ready.  Called from the HTTP
 * thread under no lock of ours. */
void yard_health_set_probe(bool (*fn)(void *arg, char *why, size_t whylen),
                           void *arg);

/* The monitor: checks PostgreSQL every interval_ms with its own
 * connection (reconnecting with backoff), sets "postgres" and the outbox
 * gauges.  One per process; *out owned by the caller. */
typedef struct yard_monitor yard_monitor;
int yard_monitor_start(const char *dsn, uint32_t interval_ms,
                       yard_monitor **out, char *err, size_t errlen);
void yard_monitor_stop(yard_monitor *m); /* NULL ok */

#endif
