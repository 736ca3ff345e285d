/*
 * pgtmp.h — a throwaway PostgreSQL server for `switchyard dev` and tests.
 *
 * initdb into a directory, start postgres on a private Unix socket in that
 * directory and a free loopback port, hand back a libpq DSN; stop it and
 * remove the directory.  PostgreSQL refuses to run as root: when the
 * process is root, initdb and postgres run as the `postgres` system user
 * (Debian's package creates it) and the directory is handed to that user.
 * The server binaries are found through $SWITCHYARD_PG_BINDIR, then
 * pg_config --bindir, then /usr/lib/postgresql/<newest>/bin.
 *
 * initdb and postgres are direct children (fork/exec, not pg_ctl); the
 * server log is <dir>/postgres.log.  Each child gets a parent-death signal,
 * so a caller killed with SIGKILL leaves no server running (its directory
 * does stay behind).  Linux delivers that signal when the *thread* that
 * forked exits, so call yard_pgtmp_start() and yard_pgtmp_restart() from a
 * thread that outlives the server — normally the main thread.  The other
 * functions may be called from any thread, but not concurrently on one pg.
 * A SIGCHLD handler that reaps every child (waitpid(-1)) would steal the
 * postmaster's exit status; the process must not install one.
 *
 * Durability: with fsync off the server also skips full_page_writes, which
 * only matter when the OS crashes.  synchronous_commit stays on: a commit
 * reaches the kernel before it returns, so committed data survives an
 * immediate restart (a crash of postgres, which is what fault tests do).
 */
#ifndef YARD_PGTMP_H
#define YARD_PGTMP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct yard_pgtmp yard_pgtmp;

typedef struct yard_pgtmp_opts {
    /* NULL: a new /tmp/yardpg-XXXXXX, removed on stop unless `keep`.
     * Given: created if missing and never removed; as root its ancestors
     * must be searchable by the postgres user.  Either way the path must
     * leave room for the Unix socket name (about 90 bytes at most). */
    const char *data_dir;
    bool keep;            /* keep the mkdtemp() dir on stop (for debugging) */
    bool fsync;           /* false (default) trades durability for speed */
    const char *const *extra_settings; /* NULL-terminated "name=value" */
} yard_pgtmp_opts;

/* Start a server (initdb first if the directory holds no cluster).  Waits
 * until it accepts connections.  *out owned by the caller: yard_pgtmp_stop(). */
int yard_pgtmp_start(const yard_pgtmp_opts *opts, yard_pgtmp **out,
                     char *err, size_t errlen);

/* "host=<dir> port=<port> dbname=postgres user=postgres"; owned by pg. */
const char *yard_pgtmp_dsn(const yard_pgtmp *pg);
const char *yard_pgtmp_dir(const yard_pgtmp *pg);
int yard_pgtmp_port(const yard_pgtmp *pg);
pid_t yard_pgtmp_pid(const yard_pgtmp *pg);

/* Restart like pg_ctl restart -m fast|immediate (SIGINT or SIGQUIT to the
 * postmaster; NULL means "fast"), on the same directory and port, waiting
 * until it accepts connections again.  For fault tests: connections break
 * and must be re-established. */
int yard_pgtmp_restart(yard_pgtmp *pg, const char *mode, char *err,
                       size_t errlen);

/* Stop the server (fast shutdown; after 10 s immediate, then SIGKILL),
 * reap it, remove the directory unless kept, free.  Accepts NULL. */
void yard_pgtmp_stop(yard_pgtmp *pg);

#endif
