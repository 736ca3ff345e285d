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
 */
#ifndef YARD_PGTMP_H
#define YARD_PGTMP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct yard_pgtmp yard_pgtmp;

typedef struct yard_pgtmp_opts {
    const char *data_dir; /* NULL: a new mkdtemp() dir, removed on stop */
    bool keep;            /* keep data_dir on stop (true when data_dir given) */
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

/* pg_ctl restart (mode "fast" or "immediate"), waiting until it accepts
 * connections again.  For fault tests. */
int yard_pgtmp_restart(yard_pgtmp *pg, const char *mode, char *err,
                       size_t errlen);

/* Stop the server (fast shutdown), remove the directory unless kept, free.
 * Accepts NULL. */
void yard_pgtmp_stop(yard_pgtmp *pg);

#endif
