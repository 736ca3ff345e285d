/*
 * demo.h — `switchyard dev --demo`: the field-service saga, played end to
 * end against a running host on the embedded stack.
 *
 * The demo is an outside client of the host, like the sales systems, the
 * technicians' app and the e-signature provider it stands in for:
 *   - a Kafka producer sends their events (binary CloudEvents, the
 *     catalog's payloads): Pyxis orders and an update, Tempo requests and a
 *     cancellation, the providers' answers to offers (one of them proposing
 *     another date first), check-ins, check-outs (one incomplete), TV
 *     outcomes YES, YES_BUT and NO, and the customers' signatures;
 *   - a Kafka consumer that assigns itself every partition of every topic
 *     (no consumer group, nothing committed) counts the events per topic and
 *     picks up what comes back out: payments announced to the ERP, status
 *     and TV outcomes sent back to the sales systems, cancellations;
 *   - read-only SQL on the host's database stands for the apps' own views
 *     (the technician's job list, the customer's forms awaiting a
 *     signature, the provider's open offers), decides when each actor
 *     acts, and feeds the progress view: service orders by status,
 *     dead letters.
 * Providers are not seeded: the assignment plugin's `providers` setting is
 * the list of provider teams, and the demo prints it.
 *
 * Ids carry a run tag, so a kept database (dev --data-dir) can run the demo
 * again.  Single-threaded: everything runs on the caller's thread.
 */
#ifndef YARD_DEMO_H
#define YARD_DEMO_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "mock.h"

/* Default bound on the whole demo, from the first order to the last final
 * state. */
#define YARD_DEMO_TIMEOUT_S 120

/*
 * Before the host starts: create on the embedded cluster one topic per
 * event type with a schema in cfg's schema_dir (through [topics]), and
 * every plugin's dead-letter topic, so that the host's consumers find the
 * topics they subscribe to at their first metadata request instead of
 * after a metadata refresh.  Topics that exist are left alone.  Returns 0,
 * or the first failure with a message (the caller may go on: topics are
 * still auto-created when first produced to).
 */
int yard_demo_create_topics(yard_mock *mock, const yard_config *cfg, char *err,
                            size_t errlen);

typedef struct yard_demo_opts {
    /* The running host's configuration (borrowed for the call): [kafka]
     * bootstrap.servers, [postgres] dsn, [topics], and the assignment
     * plugin's providers. */
    const yard_config *cfg;
    int timeout_s;             /* <= 0: YARD_DEMO_TIMEOUT_S */
    FILE *out;                 /* progress and summary; NULL: stdout */
    /* Print the progress view every second (a terminal); false: only when
     * it changed. */
    bool every_second;
    /* Signals the caller blocked, taken with sigtimedwait while the demo
     * waits (NULL: none).  SIGHUP calls on_hup (when set) and the demo goes
     * on; any other signal of the set stops the demo. */
    const sigset_t *signals;
    void (*on_hup)(void *arg);
    void *hup_arg;
} yard_demo_opts;

/*
 * Play the demo against the host that runs on cfg (its plugins loaded);
 * return once every sales order reached its final state, after printing
 * the summary.  Returns 0 when every order is final and nothing was
 * dead-lettered; otherwise a negative yard_err with the reason in err:
 * YARD_ETIMEOUT (what is stuck is printed to out first), YARD_EPLUGIN (dead
 * letters, or a sales adapter failed an order), YARD_ENOENT (a plugin the
 * demo needs is not loaded), YARD_EDB / YARD_EKAFKA (cannot reach the
 * database or the broker), YARD_EIO (stopped by a signal).
 */
int yard_demo_run(const yard_demo_opts *o, char *err, size_t errlen);

#endif
