/*
 * crashrec.h — the crash record: which events were inside a handler when
 * the process died, so that a plugin that crashes the host on one event
 * does not crash it forever.
 *
 * The event is redelivered after every restart, so a handler that
 * segfaults on it would take the host down again and again.  Each worker
 * writes the event it is about to hand to a handler into its own slot of a
 * small file in state_dir, mapped MAP_SHARED, and clears the slot when the
 * handler returns.  The kernel keeps a shared mapping's pages when the
 * process dies (only a machine crash loses them), so after a crash the
 * file names the events that were in handlers; the cost is a memcpy per
 * handler call.  At start-up the host adds them to yard_crash_record in
 * PostgreSQL (shared by every host of the database, since the event may
 * move to another host) and loads that table: an event counted
 * `max_crashes` times is dead-lettered as PLUGIN_CRASHED instead of being
 * handed to its plugin again, and one that is finished normally leaves the
 * table, so only consecutive crashes count.
 *
 * Several hosts may share a state_dir: each takes the first file
 * crash-record.N that no running host holds (flock), so a restarted host
 * reads a file whose owner is gone.
 */
#ifndef YARD_CRASHREC_H
#define YARD_CRASHREC_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

typedef struct yard_crashrec yard_crashrec;

/* Open a record in `dir` with one slot per worker, then settle what the
 * previous owner of the file left: count its events in yard_crash_record
 * through `conn` (after the host's migrations) and load that table.  The
 * file is then empty.  *out is owned by the caller (yard_crashrec_close).
 * Returns 0 or an error class with err filled (dir missing or not
 * writable, database error). */
int yard_crashrec_open(const char *dir, unsigned slots, PGconn *conn,
                       yard_crashrec **out, char *err, size_t errlen);

/* Unlock and unmap; slots left set stay in the file (a stop that gave up
 * on a stuck handler counts as a crash).  NULL ok. */
void yard_crashrec_close(yard_crashrec *r);

/* Worker `slot` is about to call plugin's handler for (group, id): note it
 * (all strings copied; an entry too long for a slot is not noted).  Then
 * clear it when the handler returns.  Each slot has one writer: no lock.
 * NULL r: no-ops. */
void yard_crashrec_enter(yard_crashrec *r, unsigned slot, const char *group,
                         const char *id, const char *plugin);
void yard_crashrec_leave(yard_crashrec *r, unsigned slot);

/* Crashes counted for (group, id) in the table as loaded at open, 0 if
 * none.  Thread-safe (the loaded set does not change).  NULL r: 0. */
unsigned yard_crashrec_crashes(const yard_crashrec *r, const char *group,
                               const char *id);

/* Whether any event was loaded at all: lets the hot path skip lookups. */
bool yard_crashrec_any(const yard_crashrec *r);

#endif
